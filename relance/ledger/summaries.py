"""What each customer owes, aged as of a day: the rows the console's lists and figures read
(``CustomerBalance``) instead of summing a million invoices per page.

``balances(organisation, as_of)`` is the one way to read them: it answers rows that hold the
current open balances aged as of ``as_of``. The rows are kept up to date as invoices change
rather than recomputed on each read:

- When invoices change (``balances.refresh`` after allocations, an import, the demo's
  replay, an invoice saved or deleted), ``customers_changed`` recomputes the rows of those
  customers only, set-based: a DELETE and an INSERT ... SELECT per chunk of customers.
- The rows of an organisation are all aged as of one day, stored in ``BalanceDay``. Reading
  them as of another day re-ages them once (the first reader of the day, or the daily run):
  an item changes bucket only when its days overdue cross 1, 31, 61 or 91, so only the
  amounts of the open items whose due date crossed one of those limits between the two
  days move, from their old bucket to their new one, in the rows of their customers (one
  UPDATE, in whole cents); the day is the organisation's, in ``BalanceDay`` alone (the
  rows do not repeat it, so that the others are not written). A gap longer than
  ``REBUILD_AFTER`` days, or rows never built, rebuilds the organisation in one statement.
- Every writer first takes the organisation's ``BalanceDay`` row (``SELECT ... FOR UPDATE``
  on PostgreSQL; on SQLite every transaction takes the database's write lock when it
  begins, ``transaction_mode = IMMEDIATE``). The second of two requests re-aging at once
  waits for the first, then finds the rows aged and does nothing.

A reader on an unchanged day costs one query on the primary key of ``BalanceDay``.

Amounts add up in whole cents (``relance.ledger.balances``), and an item counts when its
balance is at least a cent, as in ``relance.insights.aging``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.db.models import F, QuerySet
from django.db.models.signals import post_delete, post_save, pre_delete, pre_save
from django.utils import timezone

from relance.accounts.models import Organisation
from relance.ledger.models import BalanceDay, CustomerBalance, Invoice
from relance.lib import bulk

ZERO = Decimal("0.00")
CHUNK = 5000  # customers per DELETE / INSERT ... SELECT
REBUILD_AFTER = 45  # days between two agings beyond which rebuilding costs less

# The aged buckets, as (column, lowest, highest days overdue) with None unbounded; the same
# limits as relance.insights.aging.BUCKETS.
BUCKET_COLUMNS: tuple[tuple[str, int | None, int | None], ...] = (
    ("not_due", None, 0),
    ("days_1_30", 1, 30),
    ("days_31_60", 31, 60),
    ("days_61_90", 61, 90),
    ("over_90", 91, None),
)
# Open items, said as the partial indexes of open items say it (Django wrote their condition
# with the literal '0'), so that SQLite uses them: the sums read the index by customer alone.
OPEN = "balance > '0'"
# The days overdue at which an item enters another bucket (and becomes overdue, at 1).
LIMITS: tuple[int, ...] = tuple(low for _, low, _ in BUCKET_COLUMNS if low is not None)


def balances(organisation: Organisation, as_of: date) -> QuerySet[CustomerBalance]:
    """The organisation's customer balances, current and aged as of ``as_of``."""
    age(organisation.pk, as_of)
    return CustomerBalance.objects.filter(organisation=organisation)


def age(organisation_id: int, as_of: date) -> None:
    """Make the organisation's rows aged as of ``as_of``: one query when they already are."""
    day = _day(organisation_id)
    if day == (as_of,):
        return
    with transaction.atomic():
        if day is None:  # the row is never deleted but with its organisation
            BalanceDay.objects.bulk_create(
                [BalanceDay(organisation_id=organisation_id, as_of=None)], ignore_conflicts=True
            )
        previous = _locked_day(organisation_id)
        if previous == as_of:
            return  # another request aged them while this one waited
        if previous is None or abs((as_of - previous).days) > REBUILD_AFTER:
            _rebuild(organisation_id, as_of)
        else:
            _reage(organisation_id, previous, as_of)
        BalanceDay.objects.filter(pk=organisation_id).update(as_of=as_of)


def customers_changed(organisation_id: int, customer_ids: Iterable[int]) -> None:
    """Recompute the rows of these customers, whose invoices changed, as of the day the
    organisation's rows are aged for. Nothing to do while they were never built: the first
    reader builds them all."""
    ids = sorted(set(customer_ids))
    if not ids:
        return
    with transaction.atomic():
        # The update takes the row (the lock every writer takes) when there is one.
        if not BalanceDay.objects.filter(pk=organisation_id).update(version=F("version") + 1):
            BalanceDay.objects.bulk_create(
                [BalanceDay(organisation_id=organisation_id, as_of=None, version=1)],
                ignore_conflicts=True,
            )
        as_of = _locked_day(organisation_id)
        if as_of is None:
            return
        _recompute_customers(organisation_id, as_of, ids)


def version(organisation_id: int) -> int:
    """How many times the organisation's ledger has changed (``customers_changed``): what is
    computed from the whole ledger is kept under it, and computed again once it moves."""
    found = BalanceDay.objects.filter(pk=organisation_id).values_list("version", flat=True)
    return found.first() or 0


def invoices_changed(
    organisation_id: int, invoice_ids: Iterable[int], customer_ids: Iterable[int] = ()
) -> None:
    """Recompute the rows of the customers of these invoices (and of ``customer_ids``:
    those an invoice moved away from, or that got new invoices)."""
    customers = set(customer_ids)
    ids = sorted(set(invoice_ids))
    for start in range(0, len(ids), CHUNK):
        customers.update(
            Invoice.objects.filter(
                organisation_id=organisation_id, pk__in=ids[start : start + CHUNK]
            )
            .order_by()
            .values_list("customer_id", flat=True)
            .distinct()
        )
    customers_changed(organisation_id, customers)


def rebuild(organisation_id: int, as_of: date | None = None) -> None:
    """Recompute every row of the organisation (the data migration; a repair)."""
    as_of = as_of or timezone.localdate()
    with transaction.atomic():
        BalanceDay.objects.bulk_create(
            [BalanceDay(organisation_id=organisation_id, as_of=None)], ignore_conflicts=True
        )
        _locked_day(organisation_id)
        _rebuild(organisation_id, as_of)
        BalanceDay.objects.filter(pk=organisation_id).update(as_of=as_of, version=F("version") + 1)


# -- the set-based work -------------------------------------------------------------------


def _day(organisation_id: int) -> tuple[date | None] | None:
    """(the day the rows are aged for,), or None without a BalanceDay row."""
    return BalanceDay.objects.filter(pk=organisation_id).values_list("as_of").first()


def _locked_day(organisation_id: int) -> date | None:
    """Take the organisation's BalanceDay row until the transaction ends; its day."""
    day: date | None = (
        BalanceDay.objects.select_for_update()
        .filter(pk=organisation_id)
        .values_list("as_of", flat=True)
        .first()
    )
    return day


def _rebuild(organisation_id: int, as_of: date) -> None:
    _recompute(organisation_id, as_of, "", [])


def _reage(organisation_id: int, previous: date, as_of: date) -> None:
    """Move the amounts of the open items whose days overdue crossed a limit between
    ``previous`` and ``as_of`` from their bucket to the next one (the one before when going
    back), in the rows of their customers: their moves summed from the index of open items
    by due date, then an UPDATE of the rows concerned.
    The caller dates them all, in ``BalanceDay``."""
    low, high = sorted((previous, as_of))
    sign = 1 if as_of > previous else -1
    columns = [column for column, _, _ in BUCKET_COLUMNS]
    # The days overdue at D are D - due: they cross the limit L between low and high when
    # low - L < due <= high - L, one range of the index per limit. An item leaves the
    # bucket below the limit for the one above, once per limit it crosses (several when
    # the days between are more than a bucket's width): its cents in that limit's column.
    # Summed per customer, that is each bucket's move without computing an item's buckets.
    crossing = [f"cross_{n}" for n in range(len(LIMITS))]
    branches: list[str] = []
    crossed: list[Any] = []
    for n, limit in enumerate(LIMITS):
        into = ", ".join(f"{'cents' if k == n else 0} AS {name}" for k, name in enumerate(crossing))
        branches.append(
            f"SELECT customer_id, currency, {into} FROM ("
            " SELECT customer_id, currency, CAST(ROUND(balance * 100) AS BIGINT) AS cents"
            f" FROM {Invoice._meta.db_table} WHERE organisation_id = %s AND {OPEN}"
            f" AND due_date > %s AND due_date <= %s) AS open_items{n} WHERE cents > 0"
        )
        crossed += [organisation_id, low - timedelta(days=limit), high - timedelta(days=limit)]
    gained = ["0", *(f"SUM({name})" for name in crossing)]
    lost = [*(f"SUM({name})" for name in crossing), "0"]
    deltas = [f"{sign} * ({gain} - {loss})" for gain, loss in zip(gained, lost, strict=True)]
    overdue_from = crossing[LIMITS.index(1)]  # crossing 1 day: overdue
    deltas += [
        f"{sign} * SUM({overdue_from})",
        f"{sign} * SUM(CASE WHEN {overdue_from} > 0 THEN 1 ELSE 0 END)",
    ]
    table = CustomerBalance._meta.db_table
    buckets = [f"{c} = (ROUND({c} * 100) + d.d_{c}) / 100.0" for c in columns]
    overdue = ["overdue_amount = (ROUND(overdue_amount * 100) + d.d_overdue) / 100.0",
               "overdue_items = overdue_items + d.d_items"]  # fmt: skip
    moves = _AGING_MOVES
    names = ["customer_id", "currency", *(f"d_{c}" for c in [*columns, "overdue", "items"])]
    summed = (
        f"SELECT customer_id, currency, {', '.join(deltas)}"
        f" FROM ({' UNION ALL '.join(branches)}) AS crossings"
        " GROUP BY customer_id, currency"
    )
    if connection.vendor == "postgresql":
        # One statement: the moves as a WITH, one UPDATE. A temporary table costs
        # PostgreSQL catalog writes (its CREATE and DROP were half the re-aging of a small
        # organisation's run); PostgreSQL keeps an index entry of a row whose indexed
        # columns keep their value (a HOT update), so SQLite's second UPDATE is not needed.
        with connection.cursor() as cursor:
            cursor.execute(
                f"WITH {moves} ({', '.join(names)}) AS ({summed})"
                f" UPDATE {table} SET {', '.join(buckets + overdue)} FROM {moves} AS d"
                f" WHERE {table}.organisation_id = %s AND {table}.customer_id = d.customer_id"
                f" AND {table}.currency = d.currency",
                [*crossed, organisation_id],
            )
        return
    with connection.cursor() as cursor:
        # Left behind only by a statement failed outside a transaction.
        cursor.execute(f"DROP TABLE IF EXISTS {moves}")
        cursor.execute(
            f"CREATE TEMPORARY TABLE {moves} (customer_id bigint, currency varchar(3),"
            f" {', '.join(f'{n} bigint' for n in names[2:])})"
        )
        cursor.execute(f"INSERT INTO {moves} ({', '.join(names)}) {summed}", crossed)
        # Two UPDATEs: SQLite rewrites the entries of an index whose column is assigned, even
        # to the same value; only the rows of the items crossing 1 day (a quarter of them)
        # change their overdue amount, which the console's index by overdue amount holds.
        for changed, sets in (("<>", buckets + overdue), ("=", buckets)):
            joined = " OR " if changed == "<>" else " AND "
            cursor.execute(
                f"UPDATE {table} SET {', '.join(sets)} FROM {moves} AS d"
                f" WHERE {table}.organisation_id = %s AND {table}.customer_id = d.customer_id"
                f" AND {table}.currency = d.currency"
                f" AND (d.d_overdue {changed} 0{joined}d.d_items {changed} 0)",
                [organisation_id],
            )
        cursor.execute(f"DROP TABLE {moves}")


# The moves of a re-aging, per customer and currency: SQLite's temporary table for its two
# UPDATEs (dropped after), PostgreSQL's WITH.
_AGING_MOVES = "aging_moves"


def _recompute_customers(organisation_id: int, as_of: date, customer_ids: Iterable[int]) -> None:
    """Recompute the rows of these customers of the organisation, a chunk at a time."""
    ids = sorted(set(customer_ids))
    for start in range(0, len(ids), CHUNK):
        customers, params = bulk.among("customer_id", ids[start : start + CHUNK])
        _recompute(organisation_id, as_of, customers, params)


def _recompute(
    organisation_id: int, as_of: date, customers: str, params: list[Any], delete: bool = True
) -> None:
    """Replace the rows of the customers matching the SQL condition ``customers`` (all the
    organisation's when empty) by their open items' sums: one DELETE, one INSERT ... SELECT."""
    table = CustomerBalance._meta.db_table
    which = "organisation_id = %s" + (f" AND {customers}" if customers else "")
    which_params = [organisation_id, *params]
    sums, sum_params = _sums(as_of)
    with connection.cursor() as cursor:
        if delete:
            cursor.execute(f"DELETE FROM {table} WHERE {which}", which_params)
        cursor.execute(
            f"INSERT INTO {table} (organisation_id, customer_id, currency,"
            " open_amount, overdue_amount, not_due, days_1_30, days_31_60, days_61_90,"
            " over_90, open_items, overdue_items, oldest_due)"
            f" SELECT organisation_id, customer_id, currency, {sums}"
            " FROM (SELECT organisation_id, customer_id, currency, due_date,"
            " CAST(ROUND(balance * 100) AS BIGINT) AS cents"
            f" FROM {Invoice._meta.db_table} WHERE {which} AND {OPEN}"
            ") AS open_items WHERE cents > 0"
            " GROUP BY organisation_id, customer_id, currency",
            [*sum_params, *which_params],
        )


def _sums(as_of: date) -> tuple[str, list[Any]]:
    """The aggregate columns after ``as_of``, from ``open_amount`` to ``oldest_due``.
    Days overdue are said on the due date itself (portable, no date arithmetic in SQL)."""
    columns = ["SUM(cents) / 100.0", "SUM(CASE WHEN due_date < %s THEN cents ELSE 0 END) / 100.0"]
    params: list[Any] = [as_of]
    for _, lowest, highest in BUCKET_COLUMNS:
        conditions = []
        if lowest is not None:
            conditions.append("due_date <= %s")
            params.append(as_of - timedelta(days=lowest))
        if highest is not None:
            conditions.append("due_date >= %s")
            params.append(as_of - timedelta(days=highest))
        columns.append(f"SUM(CASE WHEN {' AND '.join(conditions)} THEN cents ELSE 0 END) / 100.0")
    columns += ["COUNT(*)", "SUM(CASE WHEN due_date < %s THEN 1 ELSE 0 END)", "MIN(due_date)"]
    params.append(as_of)
    return ", ".join(columns), params


# -- invoices saved one by one ------------------------------------------------------------


def _remember_stored_customer(
    sender: Any, instance: Invoice, raw: bool = False, **kwargs: Any
) -> None:
    """The customer the row has in the database before it is written or deleted: an
    instance loaded earlier may name another (an import has moved the invoice since)."""
    if raw or instance.pk is None:
        return
    instance._stored_customer_id = (  # type: ignore[attr-defined]
        Invoice.objects.filter(pk=instance.pk).values_list("customer_id", flat=True).first()
    )


def _invoice_saved(sender: Any, instance: Invoice, raw: bool = False, **kwargs: Any) -> None:
    """An invoice saved or deleted through the ORM one at a time (a form, a test's builder):
    the rows of its customer, and of the one it had in the database, follow. Bulk writers
    call ``invoices_changed`` themselves."""
    if not raw:
        stored = getattr(instance, "_stored_customer_id", None)
        customers = {instance.customer_id} | ({stored} if stored is not None else set())
        customers_changed(instance.organisation_id, customers)


pre_save.connect(_remember_stored_customer, sender=Invoice, dispatch_uid="summaries-invoice-saving")
pre_delete.connect(
    _remember_stored_customer, sender=Invoice, dispatch_uid="summaries-invoice-deleting"
)
post_save.connect(_invoice_saved, sender=Invoice, dispatch_uid="summaries-invoice-saved")
post_delete.connect(_invoice_saved, sender=Invoice, dispatch_uid="summaries-invoice-deleted")
