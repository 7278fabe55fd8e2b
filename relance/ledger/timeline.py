"""The one writer of customers' timelines.

Every event goes through ``record`` (one event), ``record_many`` (a few, one statement) or,
for the daily run's hot path, ``insert_rows`` (rows already rendered by ``summaries``).
Summaries are written in the organisation's language, whoever triggers them: a summary is
a ``Text``, a message id marked with ``gettext_noop`` and its parameters, rendered here
under ``translation.override(organisation.language)``, once per call (activating a language
costs more than writing the row). A plain ``str`` is written as it is (a person's note).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, NamedTuple

from django.db import connection, models
from django.utils import timezone, translation
from django.utils.functional import Promise
from django.utils.translation import gettext

from relance.ledger.models import TimelineEvent
from relance.lib import bulk

if TYPE_CHECKING:
    from relance.accounts.models import Organisation

SUMMARY_LENGTH = 300
# The columns of ``insert_rows``: ``data`` as JSON text.
COLUMNS = ("organisation_id", "customer_id", "at", "kind", "summary", "data")


class Text(NamedTuple):
    """A translatable message (marked with ``gettext_noop``) and its parameters, rendered
    in the organisation's language when written. Parameters that are themselves lazy
    (a choice's label) are rendered in that language too."""

    message: str
    params: Mapping[str, Any] | None = None


class Event(NamedTuple):
    customer_id: int
    kind: str
    summary: Text | str
    data: Mapping[str, Any] | None = None
    invoice_id: int | None = None


def label(choices: type[models.Choices], value: str) -> Any:
    """A choice's label, lazily (rendered in the text's language); an unknown value as it is."""
    return _labels(choices).get(value, value)


@functools.cache
def _labels(choices: type[models.Choices]) -> dict[str, Any]:
    return dict(choices.choices)


def render(text: Text | str) -> str:
    """``text`` in the active language (see ``summaries`` for an organisation's)."""
    return _Renderer()(text)


def summaries(organisation: Organisation, texts: Iterable[Text | str]) -> list[str]:
    """``texts`` rendered in the organisation's language, under one activation."""
    with translation.override(organisation.language):
        renderer = _Renderer()
        return [renderer(text) for text in texts]


class _Renderer:
    """Renders texts in the active language, translating each message and each lazy value
    once: a run writes thousands of summaries from a handful of messages and labels, and a
    translation costs microseconds (the active language is a context-local)."""

    def __init__(self) -> None:
        self.messages: dict[str, str] = {}
        self.values: dict[int, tuple[Any, str]] = {}  # by id, with the value kept alive

    def __call__(self, text: Text | str) -> str:
        if isinstance(text, str):
            return text[:SUMMARY_LENGTH]
        message = self.messages.get(text.message)
        if message is None:
            message = self.messages[text.message] = gettext(text.message)
        if text.params:
            message = message % {key: self.value(value) for key, value in text.params.items()}
        return message[:SUMMARY_LENGTH]

    def value(self, value: Any) -> Any:
        if not isinstance(value, Promise):
            return value
        known = self.values.get(id(value))
        if known is None:
            known = self.values[id(value)] = (value, str(value))
        return known[1]


def record(
    organisation: Organisation,
    customer_id: int,
    kind: str,
    summary: Text | str,
    *,
    data: Mapping[str, Any] | None = None,
    invoice_id: int | None = None,
    actor_id: int | None = None,
    at: dt.datetime | None = None,
) -> None:
    """One event on a customer's timeline; without the ORM's per-call query building (it
    runs once per message sent), each value prepared by its own field."""
    [text] = summaries(organisation, [summary])
    values: dict[str, Any] = {
        "organisation": organisation.pk,
        "customer": customer_id,
        "at": at or timezone.now(),
        "kind": kind,
        "summary": text,
        "data": _plain(data),
    }
    if invoice_id is not None:
        values["invoice"] = invoice_id
    if actor_id is not None:
        values["actor"] = actor_id
    meta: Any = TimelineEvent._meta
    fields = [meta.get_field(name) for name in values]
    ops = connection.ops
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {ops.quote_name(meta.db_table)}"
            f" ({', '.join(ops.quote_name(field.column) for field in fields)})"
            f" VALUES ({', '.join(['%s'] * len(fields))})",
            [
                field.get_db_prep_save(value, connection)
                for field, value in zip(fields, values.values(), strict=True)
            ],
        )


def record_many(
    organisation: Organisation,
    events: Sequence[Event],
    *,
    actor_id: int | None = None,
    at: dt.datetime | None = None,
) -> None:
    """Several events of one organisation, written as plain rows by the driver
    (``bulk.insert``): an import or a bank statement settles tens of thousands of invoices
    at once, and model instances cost more than the rows."""
    if not events:
        return
    when = bulk.db_datetime(at or timezone.now())
    texts = summaries(organisation, [event.summary for event in events])
    bulk.insert(
        TimelineEvent._meta.db_table,
        (*COLUMNS, "invoice_id", "actor_id"),
        (
            (organisation.pk, event.customer_id, when, event.kind, text,
             json.dumps(_plain(event.data)), event.invoice_id, actor_id)
            for event, text in zip(events, texts, strict=True)
        ),
    )  # fmt: skip


def insert_rows(rows: Iterable[Sequence[Any]]) -> None:
    """The run's events, many at a time, as tuples in ``COLUMNS`` order: the datetime as
    ``bulk.db_datetime``, the summary rendered by ``summaries``, the data as JSON text."""
    bulk.insert(TimelineEvent._meta.db_table, COLUMNS, rows)


def _plain(data: Mapping[str, Any] | None) -> dict[str, Any]:
    """Dates and amounts as ISO and exact decimal strings, as everywhere in JSON."""
    return {key: _json_value(value) for key, value in (data or {}).items()}


def _json_value(value: Any) -> Any:
    if isinstance(value, dt.date):  # datetimes too
        return value.isoformat()
    return str(value) if isinstance(value, Decimal) else value
