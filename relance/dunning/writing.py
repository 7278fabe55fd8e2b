"""What a run writes: a chunk of customers' communications, their items, the levels and the
timeline, in one transaction, with the driver's bulk inserts (a million items are written
in seconds, not minutes).

Idempotence does not rest on this code being careful: the database keeps communications
unique per (organisation, customer, channel, D, purpose). Only that key's violation means
another run of the same date wrote the chunk first; any other integrity error is raised.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext_noop

from relance.accounts.models import Organisation
from relance.dunning import loading, policy
from relance.dunning.labels import lazy_step_name
from relance.dunning.loading import Context
from relance.dunning.models import (
    CommPurpose,
    CommStatus,
    Communication,
    CommunicationItem,
    HeldBack,
    ItemState,
    Promise,
    StepChannel,
)
from relance.ledger import timeline
from relance.ledger.models import Invoice
from relance.ledger.timeline import Event, Text, label
from relance.lib import bulk

RUN_KEY = "communication_unique_per_run"

COMMUNICATION_COLUMNS = [
    "organisation_id", "customer_id", "channel", "run_date", "purpose", "pre_due", "send_on",
    "scenario_id", "step_id", "template", "language", "status", "explanation", "recipient",
    "subject", "message_id", "attempts", "last_error", "created_at", "updated_at",
]  # fmt: skip
ITEM_COLUMNS = ["communication_id", "invoice_id", "step_position", "days_overdue", "balance",
                "dropped", "previous_level", "previous_level_date", "organisation_id"]  # fmt: skip
LEVEL_COLUMNS = ["invoice_id", "level", "level_date", "thanked", "organisation_id"]
EVENT_COLUMNS = timeline.COLUMNS
HELD_COLUMNS = ["customer_id", "organisation_id", "until", "earliest"]


def is_run_key(error: IntegrityError) -> bool:
    """Whether ``error`` is the violation of the run's key (another run of the same date
    wrote these communications), on PostgreSQL by the constraint's name, on SQLite (which
    names the columns, not the constraint) by its columns."""
    cause = error.__cause__
    diag = getattr(cause, "diag", None)
    if diag is not None:
        return getattr(diag, "constraint_name", None) == RUN_KEY
    meta = Communication._meta
    (constraint,) = [c for c in meta.constraints if c.name == RUN_KEY]
    fields = {f.name: f.column for f in meta.concrete_fields}
    columns = ", ".join(
        f"{meta.db_table}.{fields[name]}"
        for name in constraint.fields  # type: ignore[attr-defined]
    )
    return str(error) == f"UNIQUE constraint failed: {columns}"


def write(
    context: Context,
    day: dt.date,
    decisions: list[policy.Decision],
    chunk: loading.Chunk | None = None,
) -> bool:
    """Write a chunk's decisions (and, given the ``chunk`` decided, the items' dates that
    change: ``loading.moves``); False when another run of the same date got there first
    (its decisions stand)."""
    # Rows are built before the transaction: on SQLite its write lock is the one thing
    # processes sharing a run wait for, so it is held for the inserts alone.
    rows = Rows.of(context, day, decisions)
    if chunk is not None:
        moves = loading.moves(context, day, chunk, decisions)
        rows.moves = [
            (bulk.plain(on), invoice, bulk.plain(due)) for on, invoice, due in moves.dates
        ]
        org = context.organisation.pk
        rows.held = [(customer, org, bulk.plain(mark.until), bulk.plain(mark.earliest))
                     for customer, mark in moves.held]  # fmt: skip
        passed = context.held_passed
        rows.unheld = [one.customer_id for one in chunk if one.customer_id in passed]
    try:
        with transaction.atomic():
            _write_chunk(context, day, decisions, rows)
    except IntegrityError as error:
        if is_run_key(error):
            return False
        raise
    return True


@dataclass
class Rows:
    """A chunk's rows for the driver, as far as they can be built before the communications
    have their keys. Values go as text and integers (``bulk.plain``): SQLite's adapters for
    dates, decimals and booleans cost about a microsecond a value, as much as the insert."""

    communications: list[tuple[Any, ...]]
    keys: list[tuple[int, str, str]]  # (customer, channel, purpose) of each communication
    items: list[tuple[Any, ...]]  # key index first, in place of the communication's id
    # The template (as JSON) and the summary's text kept (``timeline.KeptJson``) last, in
    # place of the data.
    events: list[tuple[Any, ...]]
    # The levels that change: those of the items stepped today, with today's date, and of
    # those passed over, without a date (the stored one stays), in the invoices' order.
    levels: list[tuple[Any, ...]]
    # (date, invoice, due date) of the items whose date to move changes.
    moves: list[tuple[Any, ...]] = field(default_factory=list)
    # (customer, organisation, until, earliest) of the customers whose items the contact gap
    # holds back (``loading.Mark``).
    held: list[tuple[Any, ...]] = field(default_factory=list)
    # The customers read whose mark's day has passed (``Context.held_passed``).
    unheld: list[int] = field(default_factory=list)

    @classmethod
    def of(cls, context: Context, day: dt.date, decisions: list[policy.Decision]) -> Rows:
        org, customers = context.organisation, context.customers
        now = bulk.db_datetime(timezone.now())
        today = bulk.plain(day)
        planned = [c for d in decisions for c in d.communications]
        names: dict[str, Any] = {}  # each step's name, lazily, once per chunk
        texts = [_summary(c, names) for c in planned]
        summaries = timeline.summaries(org, texts)
        # Kept so that a page says it again in its reader's language (timeline.shown).
        kept = timeline.KeptJson()
        rows = cls([], [], [], [], [])
        as_json = _Json()
        dates: dict[Any, Any] = {None: None}
        stepped: dict[int, int] = {}
        for n, c in enumerate(planned):
            status = CommStatus.AWAITING_APPROVAL if c.approval else CommStatus.QUEUED
            rows.communications.append(
                (org.pk, c.customer_id, c.channel, today, c.purpose, int(c.pre_due), today,
                 c.scenario_id, c.step_id, c.template, customers[c.customer_id][2], status,
                 as_json.explanation(c.explanation), "", "", "", 0, "", now, now)
            )  # fmt: skip
            rows.keys.append((c.customer_id, c.channel, c.purpose))
            # A thank-you lists paid items: it steps none, so it has no level to give back.
            steps = c.purpose != CommPurpose.THANKS
            for i in c.items:
                before = i.previous_level_date if steps else None
                if before not in dates:
                    dates[before] = str(before)
                rows.items.append((n, i.invoice_id, i.step_position, i.days_overdue,
                                   str(i.balance), "", i.previous_level if steps else None,
                                   dates[before], org.pk))  # fmt: skip
                if steps:
                    stepped[i.invoice_id] = i.step_position
            kind = "communication_awaiting_approval" if c.approval else "communication_queued"
            rows.events.append((org.pk, c.customer_id, now, kind, summaries[n],
                                as_json.text(c.template), kept(texts[n])))  # fmt: skip
        # A step taken today sets the level and its date; a step passed over, the level.
        # In key order: the table is a b-tree on the invoice id.
        rows.levels = sorted(
            [(invoice, position, today, 0, org.pk) for invoice, position in stepped.items()]
            + [(invoice, level, None, 0, org.pk) for d in decisions
               for invoice, level in d.levels.items() if invoice not in stepped]
        )  # fmt: skip
        return rows


class _Json:
    """A chunk's JSON, built from the parts its communications share: a run's thousands of
    explanations differ by their notes alone (the scenario, its rule and the step are those of
    a few), and its events name a handful of templates. The same text as ``json.dumps``."""

    SHARED = ("scenario", "scenario_rule", "template_from_step")
    NOTES = "postponed_or_suspended"

    def __init__(self) -> None:
        self.heads: dict[Any, str] = {}
        self.texts: dict[str, str] = {}

    def explanation(self, explanation: dict[str, Any]) -> str:
        if tuple(explanation) != (*self.SHARED, self.NOTES):  # a call's window, a thank-you
            return json.dumps(explanation, default=str)
        step = explanation["template_from_step"]
        key = (explanation["scenario"], explanation["scenario_rule"], *step.items())
        head = self.heads.get(key)
        if head is None:
            shared = json.dumps({k: explanation[k] for k in self.SHARED}, default=str)
            head = self.heads[key] = f"{shared[:-1]}, {json.dumps(self.NOTES)}: "
        notes = explanation[self.NOTES]
        return f"{head}{json.dumps(notes, default=str) if notes else '[]'}}}"

    def text(self, text: str) -> str:
        known = self.texts.get(text)
        if known is None:
            known = self.texts[text] = json.dumps(text)
        return known


def _write_chunk(
    context: Context, day: dt.date, decisions: list[policy.Decision], rows: Rows
) -> None:
    """Communications, their items, the levels and the timeline of a chunk of customers."""
    org = context.organisation
    if rows.communications:
        before = _last_communication_id()
        bulk.insert(Communication._meta.db_table, COMMUNICATION_COLUMNS, rows.communications)
        by_key = _communication_ids(org.pk, day, before)
        ids = [by_key[key] for key in rows.keys]
        bulk.insert(CommunicationItem._meta.db_table, ITEM_COLUMNS,
                    [(ids[n], *rest) for n, *rest in rows.items])  # fmt: skip
        events = [(*event[:-2], _event_data(ids[n], event[-2], event[-1]))
                  for n, event in enumerate(rows.events)]  # fmt: skip
        timeline.insert_rows(events)
    table = ItemState._meta.db_table
    kept_date = f"COALESCE(excluded.level_date, {table}.level_date)"
    bulk.insert(table, LEVEL_COLUMNS, rows.levels, conflict=["invoice_id"],
                update={"level": "excluded.level", "level_date": kept_date})  # fmt: skip
    # Set only while the due date is the one it was computed from (a changed due date
    # forgets it: relance/ledger/migrations/0015_nextday.py).
    bulk.update(Invoice._meta.db_table, ["moves_on"], ["id", "due_date"], rows.moves)
    if rows.unheld:
        _forget_marks(org.pk, day, rows.unheld)
    if rows.held:
        bulk.insert(HeldBack._meta.db_table, HELD_COLUMNS, rows.held, conflict=["customer_id"],
                    update=["until", "earliest"])  # fmt: skip
    _write_side_effects(org, day, decisions, timezone.now())


# The event's data as json.dumps writes it: its communication, its template (as JSON) and
# the summary's text kept (timeline.KEPT), when it can be.
_KEPT = f", {json.dumps(timeline.KEPT)}: "


def _event_data(communication: int, template: str, kept: str | None) -> str:
    text = f"{_KEPT}{kept}" if kept is not None else ""
    return f'{{"communication": {communication}, "template": {template}{text}}}'


def _forget_marks(org_id: int, day: dt.date, customer_ids: list[int]) -> None:
    """Delete the marks of these customers if their day has passed (no run reads them
    again; those the chunk marks anew are written after)."""
    customers, params = bulk.among("customer_id", customer_ids)
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {HeldBack._meta.db_table} WHERE organisation_id = %s"
            f" AND until <= %s AND {customers}",
            [org_id, day, *params],
        )


def _last_communication_id() -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT MAX(id) FROM {Communication._meta.db_table}")
        return int(cursor.fetchone()[0] or 0)


def _communication_ids(org_id: int, day: dt.date, before: int) -> dict[tuple[int, str, str], int]:
    """The keys of the communications just written: those of the run above ``before`` (a
    range of the primary key, not a search by customer)."""
    # "+": the organisation checked on each row of the range, not searched by an index
    # starting with it, which SQLite, without statistics, would take: every communication
    # the organisation ever had, once per chunk.
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT customer_id, channel, purpose, id FROM {Communication._meta.db_table}"
            " WHERE id > %s AND +organisation_id = %s AND run_date = %s",
            [before, org_id, day],
        )
        return {(customer, channel, purpose): pk for customer, channel, purpose, pk in cursor}


def _write_side_effects(
    org: Organisation, day: dt.date, decisions: list[policy.Decision], now: dt.datetime
) -> None:
    thanked = [i for d in decisions for i in d.thanked]
    if thanked:
        ItemState.objects.filter(invoice_id__in=thanked).update(thanked=True)
    broken = {p: d.customer_id for d in decisions for p in d.broken_promises}
    if broken:
        Promise.objects.filter(pk__in=list(broken), status=Promise.Status.OPEN).update(
            status=Promise.Status.BROKEN, broken_on=day
        )
        timeline.record_many(
            org,
            [Event(customer, "promise_broken", Text(gettext_noop("Promise to pay broken")),
                   {"promise": pk, "run_date": day.isoformat()})
             for pk, customer in sorted(broken.items())],
            at=now,
        )  # fmt: skip


def _summary(comm: policy.PlannedCommunication, steps: dict[str, Any]) -> Text:
    channel = label(StepChannel, comm.channel)
    if comm.purpose == CommPurpose.THANKS:
        return Text(gettext_noop("Thank-you message planned (%(channel)s)"), {"channel": channel})
    # The step's name, as the scenario's author wrote it, rather than the template's slug.
    # A shipped one in the language of the text (stored in French), kept as such.
    name = comm.explanation.get("template_from_step", {}).get("name") or comm.template
    step = steps.get(name)
    if step is None:
        step = steps[name] = lazy_step_name(name)
    params = {"template": step, "channel": channel, "more": len(comm.items) - 5,
              "numbers": ", ".join(i.number for i in comm.items[:5])}  # fmt: skip
    if len(comm.items) > 5:
        return Text(gettext_noop("%(template)s planned by %(channel)s for %(numbers)s and "
                                 "%(more)s more"), params)  # fmt: skip
    return Text(gettext_noop("%(template)s planned by %(channel)s for %(numbers)s"), params)
