"""Bulk writes with the database driver, for hot paths where building model instances and
Django's per-field preparation cost more than the database itself (see docs/performance.md).

Dates and decimals go to the drivers as they are (Django registers SQLite adapters for
them); pass datetimes through ``db_datetime`` and JSON as ``json.dumps`` text.
"""

from __future__ import annotations

import datetime as dt
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
    sql = (
        f"INSERT INTO {table} ({', '.join(columns)}) "
        f"VALUES ({', '.join(['%s'] * len(columns))})"
    )
    if conflict:
        action = (
            "DO UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in update)
            if update
            else "DO NOTHING"
        )
        sql += f" ON CONFLICT ({', '.join(conflict)}) {action}"
    batch: list[Sequence[Any]] = []
    with connection.cursor() as cursor:
        for row in rows:
            batch.append(row)
            if len(batch) >= CHUNK:
                cursor.executemany(sql, batch)
                batch = []
        if batch:
            cursor.executemany(sql, batch)
