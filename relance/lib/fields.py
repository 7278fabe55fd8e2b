"""Model fields for the high-volume tables, where SQLite's storage choices cost time.

SQLite keeps every table as a b-tree keyed by its rowid. A column declared exactly
``integer primary key`` *is* the rowid: no second b-tree for the primary key. Django declares
auto keys ``integer ... AUTOINCREMENT``, which also rewrites ``sqlite_sequence`` on every
insert and doubles the cost of a bulk insert (docs/performance.md); and it declares keys that
point to big auto keys ``bigint``, which is not the rowid. PostgreSQL is left as Django has it.
"""

from __future__ import annotations

from typing import Any

from django.db import models


class RowIdAutoField(models.BigAutoField):
    """An auto primary key without AUTOINCREMENT on SQLite. SQLite may then reuse the id of
    the last row once it is deleted: use it only for rows nothing outside the database
    names by id (not for invoices, customers or communications)."""

    def db_type_suffix(self, connection: Any) -> str | None:
        if connection.vendor == "sqlite":
            return None
        return connection.data_types_suffix.get(self.get_internal_type())  # Django's own


class RowIdOneToOneField(models.OneToOneField):
    """A one-to-one primary key that SQLite stores as the rowid: one b-tree per row, not a
    table plus a unique index on the key."""

    def db_type(self, connection: Any) -> str | None:
        if connection.vendor == "sqlite":
            return "integer"
        return super().db_type(connection)
