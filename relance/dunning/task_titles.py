"""The title of a task handed to a person for a message (a letter to post, a call, a text),
in the reader's language.

It is built from codes (the channel, the template, the items the message kept) when it is
shown, not read from ``Task.title``: that one was written in the organisation's language
when the task was opened, and, before the template had a label, with its code ("Imprimer
et poster le courrier formal_notice"). The outbox writes the same words with ``handed_over``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from django.utils.functional import lazy
from django.utils.translation import gettext_noop

from relance.channels.formatting import money
from relance.dunning.labels import lazy_template_label
from relance.dunning.models import CommunicationItem, StepChannel, Task
from relance.ledger.timeline import Text, render, shown


def _amounts(totals: Sequence[tuple[Decimal, str]]) -> str:
    return ", ".join(money(amount, currency) for amount, currency in totals)


# Rendered in the language of the text that holds them.
lazy_amounts = lazy(_amounts, str)


def handed_over(
    channel: str, template: str, customer: str, count: int, totals: Sequence[tuple[Decimal, str]]
) -> Text:
    """What a person is asked to do with a message of ``channel``: ``totals`` one
    (amount, currency) per currency of the ``count`` invoices it is about."""
    values = {"template": lazy_template_label(template), "customer": customer,
              "count": count, "total": lazy_amounts(list(totals))}  # fmt: skip
    if channel in {StepChannel.LETTER, StepChannel.REGISTERED_LETTER}:
        message = gettext_noop(
            "Print and post the letter “%(template)s” to %(customer)s (%(total)s)"
        )
    elif channel == StepChannel.SMS and count == 1:
        message = gettext_noop("Text %(customer)s about one invoice, %(total)s")
    elif channel == StepChannel.SMS:
        message = gettext_noop("Text %(customer)s about %(count)s invoices, %(total)s")
    elif channel == StepChannel.CALL and count == 1:
        message = gettext_noop("Call %(customer)s about one invoice, %(total)s")
    elif channel == StepChannel.CALL:
        message = gettext_noop("Call %(customer)s about %(count)s invoices, %(total)s")
    elif channel == StepChannel.HANDOVER:
        message = gettext_noop("Hand %(customer)s's file over (%(total)s)")
    else:
        message = gettext_noop("%(template)s: %(customer)s, %(total)s")
    return Text(message, values)


def message_key(communication_id: int) -> str:
    """The key of the task a message handed to a person became."""
    return f"comm:{communication_id}"


def titles(tasks: Iterable[Task]) -> dict[int, str]:
    """Each task's title in the active language, by task id: a message's task rebuilt from
    its communication (``select_related("customer", "communication")``) and the items it
    kept, read in one query; any other task from the text its data keeps, else as it was
    written."""
    tasks = list(tasks)
    handed = [t for t in tasks if _handed_over(t)]
    totals = _totals([t.communication_id for t in handed if t.communication_id is not None])
    found = {t.pk: shown(t.title, t.data) for t in tasks}
    for task in handed:
        comm: Any = task.communication
        count, sums = totals.get(comm.pk, (0, []))
        text = handed_over(comm.channel, comm.template, task.customer.legal_name, count, sums)
        found[task.pk] = render(text)
    return found


def title(task: Task) -> str:
    return titles([task])[task.pk]


def _handed_over(task: Task) -> bool:
    return task.communication_id is not None and task.key == message_key(task.communication_id)


def _totals(comm_ids: Sequence[int]) -> dict[int, tuple[int, list[tuple[Decimal, str]]]]:
    """Per communication, how many items it kept and their balances (what the message
    asked, as the outbox left them when it handed it over) per currency."""
    counts: dict[int, int] = defaultdict(int)
    sums: dict[int, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    rows = CommunicationItem.objects.filter(communication_id__in=comm_ids, dropped="").values_list(
        "communication_id", "balance", "invoice__currency"
    )
    for comm_id, balance, currency in rows:
        counts[comm_id] += 1
        sums[comm_id][currency] += balance
    return {
        comm_id: (counts[comm_id], [(sums[comm_id][c], c) for c in sorted(sums[comm_id])])
        for comm_id in counts
    }
