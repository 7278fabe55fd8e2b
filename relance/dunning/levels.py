"""Giving a step back: an item planned at a step whose message never left it.

The run moves an item's level when it plans the step (so that a second run of the same
date does nothing), and keeps the level before with the communication's item. When the
step does not happen after all (the item dropped at send time, the message cancelled, or
skipped by a person at approval) the level goes back, so that the step is proposed again
rather than skipped. By compare-and-swap: only if the item is still at the level and date
this step set, so that a later run's step is never undone. An item given back forgets the
date the run may next move it (``Invoice.moves_on``): the next run reads it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from django.db import connection

from relance.dunning.models import Communication, CommunicationItem, ItemState
from relance.ledger.models import Invoice


def give_back(items: Iterable[CommunicationItem], run_date: date) -> int:
    """Restore the level each item had before the step planned on ``run_date``; returns
    how many items went back. Items written before levels were kept are left as they are."""
    rows = [
        (
            item.previous_level,
            ops_date(item.previous_level_date),
            item.invoice_id,
            item.step_position,
            ops_date(run_date),
        )
        for item in items
        if item.previous_level is not None
    ]
    if not rows:
        return 0
    meta = ItemState._meta
    quote = connection.ops.quote_name
    given = 0
    with connection.cursor() as cursor:
        for row in rows:
            cursor.execute(
                f"UPDATE {quote(meta.db_table)} SET level = %s, level_date = %s"
                " WHERE invoice_id = %s AND level = %s AND level_date = %s",
                row,
            )
            if cursor.rowcount:
                given += cursor.rowcount
                cursor.execute(
                    f"UPDATE {quote(Invoice._meta.db_table)} SET moves_on = NULL WHERE id = %s",
                    [row[2]],
                )
    return given


def give_back_all(comms: Iterable[Communication]) -> int:
    """``give_back`` for every item of whole communications (skipped at approval)."""
    run_dates = {comm.pk: comm.run_date for comm in comms}
    items = CommunicationItem.objects.filter(communication_id__in=sorted(run_dates))
    by_comm: dict[int, list[CommunicationItem]] = {}
    for item in items.order_by("communication_id", "invoice_id"):
        by_comm.setdefault(item.communication_id, []).append(item)
    return sum(give_back(found, run_dates[pk]) for pk, found in by_comm.items())


def ops_date(value: date | None) -> str | None:
    return connection.ops.adapt_datefield_value(value)
