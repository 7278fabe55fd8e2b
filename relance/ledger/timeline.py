"""The one writer of customers' timelines.

Every event goes through ``record`` (one event), ``record_many`` (a few, one statement) or,
for the daily run's hot path, ``insert_rows`` (rows already rendered by ``summaries``).
Summaries are written in the organisation's language, whoever triggers them: a summary is
a ``Text``, a message id marked with ``gettext_noop`` and its parameters, rendered here
under ``translation.override(organisation.language)``, once per call (activating a language
costs more than writing the row). A plain ``str`` is written as it is (a person's note).

``record`` and ``record_many`` also keep the text's message and values in the event's data
(``kept``, under ``KEPT``), as a task keeps its title's: a page says it again in its
reader's language (``shown``), and so do the run's and an import's rows (``KeptJson``, the
same JSON at a few µs a row); a row without them (older ones) reads as written.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from json.encoder import encode_basestring_ascii as _string  # json.dumps's
from typing import TYPE_CHECKING, Any, NamedTuple

from django.db import connection, models
from django.utils import timezone, translation
from django.utils.functional import Promise, lazy
from django.utils.module_loading import import_string
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


def listed(*items: Any) -> str:
    """Items (labels, lazily) one after the other, as a summary lists them."""
    return ", ".join(map(str, items))


# A list whose items are rendered in the text's language (its labels), kept as such.
lazy_listed = lazy(listed, str)


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


# Where an event's (a task's) data keeps the message and values of its text.
KEPT = "_text"
# The lazy values a kept text may hold, by the function that renders them: a label, an
# amount, a date, a list of labels, in the language of the text.
LAZY = frozenset({
    "django.utils.translation.gettext", "django.utils.translation.pgettext",
    "relance.channels.formatting.money", "relance.channels.formatting.short_date",
    "relance.dunning.labels.template_label", "relance.dunning.task_titles._amounts",
    "relance.ledger.timeline.listed", "relance.dunning.defaults.name_for_reader",
})  # fmt: skip


class _NotKept(ValueError):
    """A value a kept text cannot hold: the text is written, not kept."""


def kept(text: Text | str) -> dict[str, Any] | None:
    """``text`` as JSON that ``shown`` renders again in another language; None for a plain
    string, or a text whose values cannot be kept (it reads as written)."""
    if isinstance(text, str):
        return None
    try:
        values = {key: _keep(value) for key, value in (text.params or {}).items()}
    except _NotKept:
        return None
    return {"message": text.message, "values": values}


class KeptJson:
    """``json.dumps(kept(text))`` for many texts of a few messages and labels (the run's
    rows, an import's): each message, key and lazy value encoded once, a text's own values
    (the invoice numbers, a count) per text. None for a text that cannot be kept."""

    def __init__(self) -> None:
        self.heads: dict[str, str] = {}
        self.keys: dict[str, str] = {}
        self.lazies: dict[int, tuple[Any, str | None]] = {}  # by id, the value kept alive

    def __call__(self, text: Text) -> str | None:
        head = self.heads.get(text.message)
        if head is None:
            head = self.heads[text.message] = (
                f'{{"message": {json.dumps(text.message)}, "values": {{'
            )
        parts = []
        for key, value in (text.params or {}).items():
            name = self.keys.get(key)
            if name is None:
                name = self.keys[key] = f"{json.dumps(key)}: "
            if type(value) is str:
                encoded: str | None = _string(value)
            elif type(value) is int:
                encoded = str(value)
            elif isinstance(value, Promise):
                known = self.lazies.get(id(value))
                if known is None:
                    known = self.lazies[id(value)] = (value, self._encoded(value))
                encoded = known[1]
            else:
                encoded = self._encoded(value)
            if encoded is None:
                return None
            parts.append(name + encoded)
        return f"{head}{', '.join(parts)}}}}}"

    @staticmethod
    def _encoded(value: Any) -> str | None:
        try:
            return json.dumps(_keep(value))
        except _NotKept:
            return None


def shown(written: str, data: Mapping[str, Any] | None) -> str:
    """A summary (a title) in the active language when its data keeps its text, else as
    it was written."""
    found = data.get(KEPT) if isinstance(data, Mapping) else None
    if not isinstance(found, dict):
        return written
    try:
        text = Text(str(found["message"]),
                    {key: _unkeep(value) for key, value in found["values"].items()})  # fmt: skip
        return render(text)
    except (KeyError, TypeError, ValueError, ImportError, ArithmeticError):
        return written


def _keep(value: Any) -> Any:
    if isinstance(value, Promise):
        # A lazy value pickles as (unpickle, (its function, args, kwargs, result classes)).
        reduced: Any = value.__reduce__()
        func, args, kwargs = reduced[1][:3]
        name = f"{func.__module__}.{func.__qualname__}"
        if name not in LAZY or kwargs:
            raise _NotKept(name)
        return {"lazy": name, "args": [_keep(arg) for arg in args]}
    if isinstance(value, Decimal):
        return {"decimal": str(value)}
    if isinstance(value, dt.datetime):
        raise _NotKept("datetime")
    if isinstance(value, dt.date):
        return {"date": value.isoformat()}
    if isinstance(value, list | tuple):
        return {"list": [_keep(item) for item in value]}
    if value is None or isinstance(value, str | int | float):
        return value
    raise _NotKept(type(value).__name__)


def _unkeep(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    if "lazy" in value:
        if value["lazy"] not in LAZY:
            raise ValueError(value["lazy"])
        return str(import_string(value["lazy"])(*(_unkeep(arg) for arg in value["args"])))
    if "decimal" in value:
        return Decimal(value["decimal"])
    if "date" in value:
        return dt.date.fromisoformat(value["date"])
    return [_unkeep(item) for item in value["list"]]


def with_kept(data: Mapping[str, Any] | None, text: Text | str) -> dict[str, Any]:
    """``data`` and, when it can be kept, ``text`` (under ``KEPT``)."""
    found = kept(text)
    return {**(data or {}), KEPT: found} if found is not None else dict(data or {})


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
        "data": with_kept(_plain(data), summary),
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
             json.dumps(with_kept(_plain(event.data), event.summary)), event.invoice_id,
             actor_id)
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
