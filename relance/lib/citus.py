"""The SQL that distributes Relance's PostgreSQL database by organisation with Citus
(``relance db citus-layout``; docs/deployment.md, "Distributing by organisation").

Everything is derived from the models, never from a list kept by hand:

- a table of the relance apps whose organisation is required is *distributed* on
  ``organisation_id``, every one colocated with the first, so that one organisation's rows
  of every table live on the same node;
- a table whose organisation may be empty (rows of no organisation: the audit of a failed
  sign-in, an SMS opt-out for everyone) stays on the *coordinator*: Citus refuses a NULL
  distribution value;
- the global tables of ``relance.lib.tenancy.GLOBAL`` go where it says, and Django's and
  third-party tables become *reference* tables (copied to every node) when a distributed
  or reference table points to them by a foreign key (users, the organisations), else stay
  on the coordinator (sessions, the task queue, the migrations' record).

Citus requires every primary key and unique constraint of a distributed table to include the
distribution column, and every foreign key between two distributed tables too: the layout
drops those keys, distributes, then adds them back with ``organisation_id`` first. The names
are those Django gives on PostgreSQL; a constraint named otherwise makes its statement fail,
never pass silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.db import connection, models

from relance.lib import tenancy
from relance.lib.tenancy import COORDINATOR, REFERENCE

DISTRIBUTED = "distributed"
COLUMN = "organisation_id"
FK_SUFFIX = "_fk_%(to_table)s_%(to_column)s"


class LayoutError(Exception):
    """The models cannot be laid out (a table of the relance apps without an organisation and
    not listed as global; a key Citus cannot keep)."""


@dataclass
class Layout:
    distributed: list[str] = field(default_factory=list)  # the first is the colocation anchor
    reference: list[str] = field(default_factory=list)  # referenced ones first
    coordinator: list[str] = field(default_factory=list)
    reasons: dict[str, str] = field(default_factory=dict)  # why a table is not distributed
    # The statements, in the order they run.
    drop_keys: list[str] = field(default_factory=list)
    fix_keys: list[str] = field(default_factory=list)
    create_reference: list[str] = field(default_factory=list)
    distribute: list[str] = field(default_factory=list)
    add_keys: list[str] = field(default_factory=list)

    def statements(self) -> list[str]:
        return [
            *self.drop_keys, *self.fix_keys, *self.create_reference, *self.distribute,
            *self.add_keys,
        ]  # fmt: skip

    def as_json(self) -> dict[str, Any]:
        return {
            "distribution_column": COLUMN,
            "colocate_with": self.distributed[0] if self.distributed else None,
            "distributed": self.distributed,
            "reference": self.reference,
            "coordinator": self.coordinator,
            "reasons": self.reasons,
            "statements": {
                "drop_keys": self.drop_keys,
                "fix_keys": self.fix_keys,
                "create_reference": self.create_reference,
                "distribute": self.distribute,
                "add_keys": self.add_keys,
            },
        }

    def sql(self) -> str:
        def block(title: str, statements: list[str]) -> list[str]:
            return [f"-- {title}", *statements, ""] if statements else []

        coordinator = ", ".join(self.coordinator)
        lines = [
            "-- Relance distributed by organisation with Citus (relance db citus-layout).",
            "-- Run on the coordinator, in a maintenance window, after `relance migrate` and a"
            " backup.",
            f"-- Distributed on {COLUMN}: {len(self.distributed)} tables,"
            f" colocated with {self.distributed[0]}.",
            f"-- Reference (copied to every node): {', '.join(self.reference)}.",
            f"-- Left on the coordinator: {coordinator}.",
            "",
            *block("1. Foreign keys between distributed tables, added back in 5", self.drop_keys),
            *block("2. Primary keys and unique constraints with the organisation", self.fix_keys),
            *block("3. Reference tables", self.create_reference),
            *block("4. Distributed tables, colocated", self.distribute),
            *block("5. Foreign keys with the organisation", self.add_keys),
        ]
        return "\n".join(lines) + "\n"


def placements() -> tuple[dict[type[models.Model], str], dict[str, str]]:
    """Where each model's table goes, and why the tables that are not distributed are not."""
    where: dict[type[models.Model], str] = {}
    reasons: dict[str, str] = {}
    relance = [m for m in _models() if _is_relance(m)]
    for model in relance:
        label = model._meta.label
        if label in tenancy.GLOBAL:
            where[model] = tenancy.GLOBAL[label].placement
            reasons[model._meta.db_table] = tenancy.GLOBAL[label].reason
            continue
        org = tenancy.organisation_field(model)
        if org is None:
            raise LayoutError(
                f"{label} has no organisation: add one, or list it in relance.lib.tenancy.GLOBAL"
            )
        if org.null:
            where[model] = COORDINATOR
            reasons[model._meta.db_table] = "its organisation may be empty"
        else:
            where[model] = DISTRIBUTED
    # Django's and third-party tables: reference when a distributed or reference table points
    # to them, until nothing more is reached.
    others = [m for m in _models() if not _is_relance(m)]
    changed = True
    while changed:
        changed = False
        for model in others:
            if model in where:
                continue
            if any(
                where.get(source) in (DISTRIBUTED, REFERENCE)
                for source, _ in _incoming(model, [*where])
            ):
                where[model] = REFERENCE
                reasons[model._meta.db_table] = "read with tenant rows by a foreign key"
                changed = True
    for model in others:
        if model not in where:
            where[model] = COORDINATOR
            reasons[model._meta.db_table] = "no distributed or reference table points to it"
    return where, reasons


def layout() -> Layout:
    where, reasons = placements()
    editor = _schema_editor()
    out = Layout(reasons=reasons)
    distributed = sorted(
        (m for m, p in where.items() if p == DISTRIBUTED), key=lambda m: m._meta.db_table
    )
    # The customers anchor the colocation group: every tenant's table follows them.
    distributed.sort(key=lambda m: m._meta.label != "ledger.Customer")
    out.distributed = [m._meta.db_table for m in distributed]
    out.coordinator = sorted(m._meta.db_table for m, p in where.items() if p == COORDINATOR)
    out.reference = [m._meta.db_table for m in _referenced_first(where)]
    for model in where:
        for fk in _foreign_keys(model):
            target = where[fk.related_model]
            if where[model] in (REFERENCE, COORDINATOR) and target == DISTRIBUTED:
                raise LayoutError(
                    f"{model._meta.label}.{fk.name}: a {where[model]} table cannot point to a"
                    " distributed one"
                )
    for model in distributed:
        _keys(model, where, editor, out)
    out.create_reference = [f"SELECT create_reference_table('{t}');" for t in out.reference]
    anchor = out.distributed[0]
    out.distribute = [f"SELECT create_distributed_table('{anchor}', '{COLUMN}');"] + [
        f"SELECT create_distributed_table('{t}', '{COLUMN}', colocate_with => '{anchor}');"
        for t in out.distributed[1:]
    ]
    return out


def _keys(model: type[models.Model], where: dict[Any, str], editor: Any, out: Layout) -> None:
    """The key changes of one distributed table."""
    meta = model._meta
    table = meta.db_table
    q = editor.quote_name
    for fk in _foreign_keys(model):
        if where[fk.related_model] != DISTRIBUTED or fk.column == COLUMN:
            continue
        name = str(editor._fk_constraint_name(model, fk, FK_SUFFIX))
        target = fk.target_field
        if target.column == COLUMN:  # a table keyed by the organisation: the key is enough
            continue
        out.drop_keys.append(f"ALTER TABLE {q(table)} DROP CONSTRAINT {name};")
        out.add_keys.append(
            f"ALTER TABLE {q(table)} ADD CONSTRAINT {name} FOREIGN KEY ({COLUMN}, {q(fk.column)})"
            f" REFERENCES {q(target.model._meta.db_table)} ({COLUMN}, {q(target.column)})"
            " DEFERRABLE INITIALLY DEFERRED;"
        )
    pk = meta.pk
    assert pk is not None
    if pk.column != COLUMN:
        name = q(f"{table}_pkey")
        out.fix_keys += [
            f"ALTER TABLE {q(table)} DROP CONSTRAINT {name};",
            f"ALTER TABLE {q(table)} ADD CONSTRAINT {name} PRIMARY KEY ({COLUMN}, {q(pk.column)});",
        ]
    for f in meta.local_concrete_fields:
        if f.unique and not f.primary_key and f.column != COLUMN:
            name = q(f"{table}_{f.column}_key")
            out.fix_keys += [
                f"ALTER TABLE {q(table)} DROP CONSTRAINT {name};",
                f"ALTER TABLE {q(table)} ADD CONSTRAINT {name} UNIQUE ({COLUMN}, {q(f.column)});",
            ]
    for fields in meta.unique_together:
        columns = [_column(model, n) for n in fields]
        if COLUMN in columns:
            continue
        name = q(editor._create_index_name(table, columns, suffix="_uniq"))
        listed = ", ".join(q(c) for c in columns)
        out.fix_keys += [
            f"ALTER TABLE {q(table)} DROP CONSTRAINT {name};",
            f"ALTER TABLE {q(table)} ADD CONSTRAINT {name} UNIQUE ({COLUMN}, {listed});",
        ]
    for constraint in meta.constraints:
        if not isinstance(constraint, models.UniqueConstraint) or not constraint.fields:
            continue
        columns = [_column(model, n) for n in constraint.fields]
        if COLUMN in columns:
            continue
        wider = models.UniqueConstraint(
            fields=["organisation", *constraint.fields], condition=constraint.condition,
            name=constraint.name,
        )  # fmt: skip
        out.fix_keys += [
            str(constraint.remove_sql(model, editor)) + ";",
            str(wider.create_sql(model, editor)) + ";",
        ]


def _schema_editor() -> Any:
    """A PostgreSQL schema editor for the names and SQL Django gives there, whatever the
    database at hand (it connects to nothing)."""
    if connection.vendor == "postgresql":
        pg: Any = connection
    else:
        from django.db.backends.postgresql.base import DatabaseWrapper

        pg = DatabaseWrapper({**connection.settings_dict, "NAME": "citus"}, alias="citus")
    return pg.SchemaEditorClass(pg, collect_sql=True, atomic=False)


def _models() -> list[type[models.Model]]:
    return [
        m
        for m in apps.get_models(include_auto_created=True)
        if m._meta.managed and not m._meta.proxy and not m._meta.swapped
    ]


def _is_relance(model: type[models.Model]) -> bool:
    return model._meta.app_config is not None and model._meta.app_config.name.startswith("relance.")


def _foreign_keys(model: type[models.Model]) -> list[Any]:
    """The foreign keys the database holds (``db_constraint``)."""
    return [
        f
        for f in model._meta.local_concrete_fields
        if isinstance(f, models.ForeignKey) and getattr(f, "db_constraint", True)
    ]


def _column(model: type[models.Model], name: str) -> str:
    return str(getattr(model._meta.get_field(name), "column", name))


def _incoming(
    model: type[models.Model], sources: list[type[models.Model]]
) -> list[tuple[type[models.Model], Any]]:
    return [(s, fk) for s in sources for fk in _foreign_keys(s) if fk.related_model is model]


def _referenced_first(where: dict[Any, str]) -> list[type[models.Model]]:
    """The reference tables, each after the reference tables it points to."""
    pending = sorted((m for m, p in where.items() if p == REFERENCE), key=lambda m: m._meta.label)
    done: list[type[models.Model]] = []
    while pending:
        ready = [
            m
            for m in pending
            if all(
                fk.related_model in done
                or fk.related_model is m
                or where[fk.related_model] != REFERENCE
                for fk in _foreign_keys(m)
            )
        ]
        if not ready:  # a cycle: Citus creates them one by one all the same
            ready = pending[:1]
        done += ready
        pending = [m for m in pending if m not in ready]
    return done
