"""Bulk writes with the database driver, for hot paths where building model instances and
Django's per-field preparation cost more than the database itself (see docs/performance.md).

Dates and decimals may go to the drivers as they are (Django registers SQLite adapters for
them), but on hot paths pass them through ``plain``: SQLite's adapters for dates, decimals
and booleans cost about a microsecond per value, as much as inserting the row. Pass
datetimes through ``db_datetime`` and JSON as ``json.dumps`` text.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import json
import operator
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from decimal import Context, Decimal
from typing import Any

from django.db import connection

CHUNK = 5000


def among(column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
    """The SQL condition that ``column`` is one of ``values``, and its parameters: on
    PostgreSQL one array (``= ANY(%s)``), where a placeholder per value would cost psycopg's
    client-side binding its parsing of the query, placeholder by placeholder, in Python;
    elsewhere ``IN (%s, ...)``."""
    if connection.vendor == "postgresql":
        return f"{column} = ANY(%s)", [list(values)]
    return f"{column} IN ({', '.join(['%s'] * len(values))})", list(values)


def db_datetime(value: dt.datetime) -> Any:
    """An aware datetime as the backend stores it (naive UTC text on SQLite)."""
    return connection.ops.adapt_datetimefield_value(value)


def plain(value: Any) -> Any:
    """A date, decimal or boolean as text or integer, which both drivers take as they are
    (PostgreSQL's COPY reads the same text); other values unchanged."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, dt.date | Decimal):
        return str(value)
    return value


def insert(
    table: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    conflict: Sequence[str] = (),
    update: Sequence[str] | Mapping[str, str] = (),
) -> None:
    """INSERT many rows; with ``conflict``, update the ``update`` columns of existing rows
    to the new row's values, or to the SQL expressions ``update`` maps them to (the new
    row as ``excluded``, the stored one by the table's name); without, do nothing.
    ON CONFLICT works the same on SQLite (3.24+) and PostgreSQL; as in one statement, a key
    given twice is an error on PostgreSQL, the last row wins on SQLite."""
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})"
    if conflict:
        sets = update if isinstance(update, Mapping) else {c: f"excluded.{c}" for c in update}
        action = (
            "DO UPDATE SET " + ", ".join(f"{c} = {value}" for c, value in sets.items())
            if sets
            else "DO NOTHING"
        )
        sql += f" ON CONFLICT ({', '.join(conflict)}) {action}"
    if connection.vendor == "postgresql":
        _copy(table, columns, rows, sql if conflict else None)
        return
    if conflict:
        # One statement from a staging table, as ``update`` does (its docstring says why).
        # "WHERE true": without it SQLite would read ON CONFLICT as a join's ON.
        names = ", ".join(columns)
        with _sqlite_staging("insert", table, columns, rows) as (cursor, staging):
            cursor.execute(
                f"INSERT INTO {table} ({names}) SELECT {names} FROM {staging}"
                f" WHERE true ORDER BY rowid{sql[sql.index(' ON CONFLICT') :]}"
            )
        return
    # SQLite runs executemany in C over one prepared statement: nothing is faster.
    rows = iter(rows)
    with connection.cursor() as cursor:
        while batch := list(itertools.islice(rows, CHUNK)):
            cursor.executemany(sql, batch)


def _copy(
    table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]], upsert: str | None
) -> None:
    """PostgreSQL: COPY, its fastest way in (psycopg parses every statement's placeholders
    in Python, so big multi-row INSERTs are slow). An upsert copies into a temporary table,
    then inserts from it with the ON CONFLICT clause."""
    names = ", ".join(columns)
    target = table
    # psycopg's own cursor, for copy(); its errors raised as Django's (an IntegrityError is
    # one, whatever the statement), as every other query's are.
    with connection.cursor() as wrapper, connection.wrap_database_errors:
        cursor = wrapper.cursor
        if upsert:
            target = f"bulk_{table}"
            cursor.execute(f"DROP TABLE IF EXISTS {target}")
            cursor.execute(
                f"CREATE TEMPORARY TABLE {target} AS SELECT {names} FROM {table} LIMIT 0"
            )
        with cursor.copy(f"COPY {target} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        if upsert:
            conflict = upsert[upsert.index(" ON CONFLICT") :]
            cursor.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM {target}{conflict}")
            cursor.execute(f"DROP TABLE {target}")


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

    pick = operator.itemgetter(*names)  # one call in C per row, not a generator

    def values(row: dict[str, Any]) -> tuple[Any, ...]:
        merged = {**defaults, **row}
        for name in json_names:
            merged[name] = json.dumps(merged[name], default=str)
        picked = pick(merged)
        return picked if len(names) > 1 else (picked,)

    insert(model._meta.db_table, [f.column for f in fields], (values(r) for r in rows))
    return before


def create_tuples(model: Any, names: Sequence[str], rows: Iterable[tuple[Any, ...]]) -> int:
    """``create`` for rows held as tuples of ``names`` (attnames), the other fields taking
    their defaults: a million rows held as dicts until their insert cost a gigabyte, as
    tuples a sixth of it, and each row is completed in C (no dict merged per row). JSON
    fields take their default. Returns the largest primary key before the insert."""
    from django.db.models import Max

    before = model.objects.aggregate(m=Max("pk"))["m"] or 0
    now = db_datetime(dt.datetime.now(dt.UTC))
    fields = [f for f in model._meta.concrete_fields if not f.primary_key or f.attname != "id"]
    by_name = {f.attname: f for f in fields}
    unknown = set(names) - set(by_name)
    if unknown:
        raise ValueError(f"{model.__name__} has no field {', '.join(sorted(unknown))}")
    # The row's columns, then the defaults of the others: no column picked per row.
    tail = [f for f in fields if f.attname not in set(names)]
    rest: list[Any] = []
    for f in tail:
        if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
            default = now
        else:
            default = f.get_default()
            if f.get_internal_type() == "JSONField":
                default = json.dumps(default, default=str)
        rest.append(default)
    columns = [by_name[name].column for name in names] + [f.column for f in tail]
    # Each row completed in C (map over tuple concatenation): no Python call per row.
    insert(model._meta.db_table, columns, map(operator.add, rows, itertools.repeat(tuple(rest))))
    return before


def select(
    model: Any, names: Sequence[str], where: str, params: Sequence[Any]
) -> Iterator[tuple[Any, ...]]:
    """The rows of ``model`` matching the SQL condition ``where``, as tuples of the fields
    ``names`` (attnames) holding what the ORM would give, read by the driver CHUNK at a time:
    no ORM row, no converter call per value but the decimals' on SQLite. Dates and booleans
    come converted by the drivers (Django declares SQLite's converters for their column
    types); SQLite gives a decimal as a float, read back as Django reads it (15 significant
    digits, then the field's places). Other fields than text, numbers, dates and booleans
    are refused: their values would differ from the ORM's."""
    meta = model._meta
    fields = [meta.get_field(name) for name in names]
    odd = [f.name for f in fields if f.get_internal_type() in _NOT_SELECTED]
    if odd:
        raise ValueError(f"bulk.select reads no {', '.join(odd)} of {model.__name__}")
    decimals = [
        (i, _sqlite_decimal(f))
        for i, f in enumerate(fields)
        if f.get_internal_type() == "DecimalField" and connection.vendor == "sqlite"
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {', '.join(f.column for f in fields)} FROM {meta.db_table} WHERE {where}",
            params,
        )
        while rows := cursor.fetchmany(CHUNK):
            if not decimals:
                yield from rows
                continue
            for row in rows:
                values = list(row)
                for i, convert in decimals:
                    if values[i] is not None:
                        values[i] = convert(values[i])
                yield tuple(values)


_NOT_SELECTED = {"DateTimeField", "TimeField", "DurationField", "JSONField", "UUIDField",
                 "BinaryField"}  # fmt: skip


def _sqlite_decimal(field: Any) -> Callable[[Any], Decimal]:
    """SQLite's float of a decimal field as the ORM reads it (its converter for a column)."""
    exact = Context(prec=15).create_decimal_from_float
    places = Decimal(1).scaleb(-field.decimal_places)
    context = field.context
    return lambda value: exact(value).quantize(places, context=context)


def update(table: str, columns: Sequence[str], keys: Sequence[str], rows: Sequence[Any]) -> None:
    """UPDATE many rows: each row gives ``columns`` then ``keys`` (the rows matched on all
    keys: a key may also be a compare-and-set condition), through a temporary table and one
    UPDATE ... FROM it (COPY into it on PostgreSQL)."""
    if not rows:
        return
    if connection.vendor != "postgresql":
        _sqlite_update(table, columns, keys, rows)
        return
    names = ", ".join([*columns, *keys])
    target = f"bulk_update_{table}"
    with connection.cursor() as wrapper, connection.wrap_database_errors:
        cursor = wrapper.cursor
        cursor.execute(f"DROP TABLE IF EXISTS {target}")
        cursor.execute(f"CREATE TEMPORARY TABLE {target} AS SELECT {names} FROM {table} LIMIT 0")
        with cursor.copy(f"COPY {target} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        sets = ", ".join(f"{c} = b.{c}" for c in columns)
        where = " AND ".join(f"t.{k} = b.{k}" for k in keys)
        cursor.execute(f"UPDATE {table} t SET {sets} FROM {target} b WHERE {where}")
        cursor.execute(f"DROP TABLE {target}")


def _sqlite_update(
    table: str, columns: Sequence[str], keys: Sequence[str], rows: Sequence[Any]
) -> None:
    sets = ", ".join(f"{c} = b.{c}" for c in columns)
    where = " AND ".join(f"{table}.{k} = b.{k}" for k in keys)
    with _sqlite_staging("update", table, [*columns, *keys], rows) as (cursor, staging):
        cursor.execute(f"UPDATE {table} SET {sets} FROM {staging} b WHERE {where}")


@contextlib.contextmanager
def _sqlite_staging(
    kind: str, table: str, names: Sequence[str], rows: Iterable[Sequence[Any]]
) -> Iterator[tuple[Any, str]]:
    """SQLite: ``rows`` in a staging table, given with a cursor, for one statement that
    writes them all rather than one per row: SQLite gives each statement that fires triggers
    a statement journal, whose cost inside a savepoint grows with what the transaction has
    already written (an import's balances took minutes). The staging table has no types
    (the target's columns apply their own on the way in) and no key, so that the statement
    reads it in order and finds each target row by its key. It is kept for the connection
    and emptied, not dropped: SQLite refuses to drop a table while a read is pending;
    emptied first too, in case a failed statement left rows in it."""
    staging = f"bulk_{kind}_{table}__{'__'.join(names)}"
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMP TABLE IF NOT EXISTS {staging} ({', '.join(names)})")
        cursor.execute(f"DELETE FROM {staging}")
        insert(staging, names, rows)
        yield cursor, staging
        cursor.execute(f"DELETE FROM {staging}")
