"""Bulk writes with the database driver, for hot paths where building model instances and
Django's per-field preparation cost more than the database itself (see docs/performance.md).

Dates and decimals go to the drivers as they are (Django registers SQLite adapters for
them); pass datetimes through ``db_datetime`` and JSON as ``json.dumps`` text.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from typing import Any

from django.db import connection

CHUNK = 5000


def db_datetime(value: dt.datetime) -> Any:
    """An aware datetime as the backend stores it (naive UTC text on SQLite)."""
    return connection.ops.adapt_datetimefield_value(value)


def insert(
    table: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    conflict: Sequence[str] = (),
    update: Sequence[str] = (),
) -> None:
    """INSERT many rows; with ``conflict``, update ``update`` columns of existing rows (or do
    nothing). ON CONFLICT works the same on SQLite (3.24+) and PostgreSQL."""
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})"
    if conflict:
        action = (
            "DO UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in update)
            if update
            else "DO NOTHING"
        )
        sql += f" ON CONFLICT ({', '.join(conflict)}) {action}"
    if connection.vendor == "postgresql":
        _insert_values(sql, len(columns), rows)
        return
    # SQLite runs executemany in C over one prepared statement: nothing is faster.
    batch: list[Sequence[Any]] = []
    with connection.cursor() as cursor:
        for row in rows:
            batch.append(row)
            if len(batch) >= CHUNK:
                cursor.executemany(sql, batch)
                batch = []
        if batch:
            cursor.executemany(sql, batch)


def _insert_values(sql: str, width: int, rows: Iterable[Sequence[Any]]) -> None:
    """PostgreSQL: many rows per statement (one round trip each), within its 65,535
    parameters, rather than one round trip per row."""
    head, placeholders, tail = _split(sql)
    per_statement = max(1, min(1000, 60000 // width))
    batch: list[Any] = []
    count = 0
    with connection.cursor() as cursor:
        for row in rows:
            batch.extend(row)
            count += 1
            if count == per_statement:
                cursor.execute(head + ", ".join([placeholders] * count) + tail, batch)
                batch, count = [], 0
        if count:
            cursor.execute(head + ", ".join([placeholders] * count) + tail, batch)


def _split(sql: str) -> tuple[str, str, str]:
    """'INSERT ... VALUES (%s, %s) ON CONFLICT ...' -> head, the row's placeholders, tail."""
    start = sql.index("VALUES (") + len("VALUES ")
    end = sql.index(")", start) + 1
    return sql[:start], sql[start:end], sql[end:]


def create(model: Any, rows: Iterable[dict[str, Any]]) -> int:
    """Insert plain dicts as rows of ``model`` (attnames, e.g. ``customer_id``), with the
    fields' defaults for missing keys and ``auto_now`` timestamps: ``bulk_create`` without
    building model instances. Returns the largest primary key before the insert, so that
    the caller can read the new keys back (``pk > it``) within its transaction."""
    from django.db.models import JSONField, Max

    before = model.objects.aggregate(m=Max("pk"))["m"] or 0
    now = db_datetime(dt.datetime.now(dt.UTC))
    fields = [f for f in model._meta.concrete_fields if not f.primary_key or f.attname != "id"]
    defaults: dict[str, Any] = {}
    for f in fields:
        if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
            defaults[f.attname] = now
        else:  # the field's default, or "" for text fields and None for the others
            defaults[f.attname] = f.get_default()
    names = [f.attname for f in fields]
    json_names = {f.attname for f in fields if isinstance(f, JSONField)}

    def values(row: dict[str, Any]) -> tuple[Any, ...]:
        merged = {**defaults, **row}
        for name in json_names:
            merged[name] = json.dumps(merged[name], default=str)
        return tuple(merged[name] for name in names)

    insert(model._meta.db_table, [f.column for f in fields], (values(r) for r in rows))
    return before
