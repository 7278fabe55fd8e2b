"""The items to thank, kept by triggers (``ItemToThank``, dunning 0017_items_to_thank): the run
reads the items paid since they were reminded instead of every state not thanked. Each
writer of a balance, of a state and of the organisation's minimum keeps them; what the run
finds is what the scan of every state found (``scanned`` below, the run's former query)."""

from __future__ import annotations

import datetime as dt
import importlib
from decimal import Decimal

import factories as make
import pytest
from django.db import connection
from django.db.models import Exists, OuterRef
from factories import days, pay

from relance.accounts.models import Organisation
from relance.dunning import loading
from relance.dunning.engine import run
from relance.dunning.models import (
    CommPurpose,
    CommStatus,
    Communication,
    CommunicationItem,
    ItemState,
    ItemToThank,
)
from relance.ledger import balances
from relance.ledger.models import Invoice
from relance.lib import bulk

pytestmark = pytest.mark.django_db

D = dt.date(2026, 11, 24)  # a Tuesday
FRIDAY, SATURDAY, MONDAY = dt.date(2026, 11, 27), dt.date(2026, 11, 28), dt.date(2026, 11, 30)


def scanned(org: Organisation) -> list[tuple[int, int, str, int]]:
    """The items to thank found by scanning every state not thanked (the run's query before
    the triggers), as (customer, invoice, number, level)."""
    reminded = CommunicationItem.objects.filter(
        organisation=org, invoice_id=OuterRef("invoice_id"),
        communication__customer_id=OuterRef("invoice__customer_id"),
        communication__purpose=CommPurpose.REMINDER, communication__status=CommStatus.SENT,
        dropped="",
    )  # fmt: skip
    return sorted(
        ItemState.objects.filter(
            Exists(reminded), organisation=org, thanked=False, level__gte=1,
            invoice__balance__lte=org.min_balance,
        ).values_list("invoice__customer_id", "invoice_id", "invoice__number", "level")
    )  # fmt: skip


def found(org: Organisation) -> list[tuple[int, int, str, int]]:
    org.refresh_from_db()
    return sorted(
        (customer, s.invoice_id, s.number, s.level)
        for customer, items in loading._settled(org).items()
        for s in items
    )


def to_thank(org: Organisation) -> set[str]:
    return set(
        Invoice.objects.filter(
            pk__in=ItemToThank.objects.filter(organisation=org).values("invoice_id")
        ).values_list("number", flat=True)
    )


def thanks(org: Organisation) -> list[tuple[dt.date, list[str]]]:
    return [
        (c.run_date, c.explanation["thanks_for"])
        for c in Communication.objects.filter(organisation=org, purpose="thanks").order_by("id")
    ]


@pytest.fixture
def reminded(org):
    """Two invoices of a customer, reminded on D, the reminder sent."""
    make.scenario(org)
    customer = make.customer(org, "C1")
    first = make.invoice(customer, "F1", due=D - days(5))
    second = make.invoice(customer, "F2", due=D - days(5), amount="250.00")
    run(org, D)
    Communication.objects.update(status="sent")  # the worker sent the reminder
    assert to_thank(org) == set()
    return first, second


def _orm(inv: Invoice) -> None:
    inv.balance = Decimal("0.00")
    inv.save()


def _bulk(inv: Invoice) -> None:  # PostgreSQL: COPY into a temporary table, then UPDATE
    bulk.update(Invoice._meta.db_table, ["balance"], ["id"], [("0.00", inv.pk)])


def _sql(inv: Invoice) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {Invoice._meta.db_table} SET balance = 0 WHERE id = %s", [inv.pk])


def _payment(inv: Invoice) -> None:  # an allocation, the balances recomputed
    pay(inv, on=D)


@pytest.mark.parametrize("writer", [_orm, _bulk, _sql, _payment])
def test_an_item_paid_since_the_last_run_is_thanked_whoever_writes_the_balance(
    org, reminded, writer
):
    first, _ = reminded
    writer(first)
    assert to_thank(org) == {"F1"}
    assert found(org) == scanned(org) != []
    run(org, D + days(1))
    assert thanks(org) == [(D + days(1), ["F1"])]
    assert to_thank(org) == set()  # thanked: forgotten
    run(org, D + days(2))
    assert len(thanks(org)) == 1


def test_an_item_settled_by_an_import_is_thanked(org, tmp_path):
    make.scenario(org)
    customer = make.customer(org, "C1")
    first = make.invoice(customer, "F1", due=D - days(5))
    second = make.invoice(customer, "F2", due=D - days(5))
    make.import_ledger(org, tmp_path, [first, second], on=D)
    run(org, D)
    Communication.objects.update(status="sent")
    first.amount = Decimal("0.00")  # paid in the source: listed at nothing
    make.import_ledger(org, tmp_path, [first, second], on=D + days(1))
    assert Invoice.objects.get(number="F1").balance == 0
    assert to_thank(org) == {"F1"}
    run(org, D + days(1))
    assert thanks(org) == [(D + days(1), ["F1"])]


def test_paid_on_a_saturday_thanked_on_monday(org):
    make.scenario(org)
    customer = make.customer(org, "C1")
    inv = make.invoice(customer, "F1", due=FRIDAY - days(5))
    run(org, FRIDAY)
    Communication.objects.update(status="sent")
    pay(inv, on=SATURDAY)
    run(org, SATURDAY)
    run(org, SATURDAY + days(1))
    assert thanks(org) == [] and to_thank(org) == {"F1"}  # no thanks planned on a weekend
    run(org, MONDAY)
    assert thanks(org) == [(MONDAY, ["F1"])]


def test_a_reopened_item_is_no_longer_to_thank(org, reminded):
    first, _ = reminded
    _sql(first)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Invoice._meta.db_table} SET balance = 40 WHERE id = %s", [first.pk]
        )
    assert to_thank(org) == set()
    run(org, D + days(1))
    assert thanks(org) == []


def test_a_state_written_after_the_payment_makes_the_item_to_thank(org, reminded):
    """The level or the thanks of a paid item change after its balance did: a thank-you
    given back, a level given back then reached again."""
    first, second = reminded
    pay(first, on=D)
    pay(second, on=D)
    ItemState.objects.filter(invoice=first).update(thanked=True)
    ItemState.objects.filter(invoice=second).update(level=0)
    assert to_thank(org) == set() and found(org) == scanned(org) == []
    ItemState.objects.filter(invoice=first).update(thanked=False)
    ItemState.objects.filter(invoice=second).update(level=1)
    assert to_thank(org) == {"F1", "F2"}
    assert found(org) == scanned(org) != []
    # A new state (its row deleted and written again, as the demo does).
    ItemState.objects.filter(invoice=second).delete()
    ItemToThank.objects.filter(invoice=second).delete()
    ItemState.objects.create(invoice=second, level=1, organisation=org)
    assert to_thank(org) == {"F1", "F2"}
    assert found(org) == scanned(org)


def test_the_minimum_balance_moved_changes_the_items_to_thank(org, reminded):
    _, second = reminded
    pay(second, "200.00", on=D)  # 50.00 left, over the minimum of 1.00
    assert to_thank(org) == set()
    Organisation.objects.filter(pk=org.pk).update(min_balance=Decimal("60.00"))
    assert to_thank(org) == {"F2"}
    assert found(org) == scanned(Organisation.objects.get(pk=org.pk)) != []
    org.min_balance = Decimal("10.00")
    org.save()
    assert to_thank(org) == set()
    Organisation.objects.filter(pk=org.pk).update(min_balance=Decimal("50.00"))
    org.refresh_from_db()
    run(org, D + days(1))
    assert thanks(org) == [(D + days(1), ["F2"])]


def test_the_migration_finds_the_items_to_thank_already_there(org, reminded):
    first, second = reminded
    pay(first, on=D)
    pay(second, "249.50", on=D)
    ItemToThank.objects.all().delete()
    migration = importlib.import_module("relance.dunning.migrations.0017_items_to_thank")
    with connection.cursor() as cursor:
        cursor.execute(migration.FILL)
    assert to_thank(org) == {"F1", "F2"}
    assert found(org) == scanned(org) != []


def test_the_run_finds_what_the_scan_found(org):
    """Items reminded or not, paid in full, in part or not, thanked or not, over several
    customers and runs: the items found are the scan's every day."""
    make.scenario(org)
    customers = [make.customer(org, f"C{n}") for n in range(3)]
    invoices = [
        make.invoice(customers[n % 3], f"F{n}", due=D - days(5 + n)) for n in range(9)
    ]  # fmt: skip
    run(org, D)
    Communication.objects.filter(customer=customers[0]).update(status="sent")
    Communication.objects.filter(customer=customers[1]).update(status="cancelled")
    for n, inv in enumerate(invoices):
        if n % 3 == 0:
            pay(inv, on=D)
        elif n % 3 == 1:
            pay(inv, "99.50", on=D)  # 0.50 left: under the minimum
    later = make.invoice(customers[2], "F9", due=D - days(40))
    balances.refresh(org.pk, [later.pk])
    for day in (D + days(1), D + days(2)):
        assert found(org) == scanned(org)
        run(org, day)
        Communication.objects.filter(purpose="reminder").update(status="sent")
        if day == D + days(1):
            pay(later, on=day)
    assert found(org) == scanned(org)
    # C0's reminder sent: thanked on D+1; C1's cancelled, then sent on D+1: thanked on D+2;
    # F9, new, paid before any reminder of its own (the contact gap): never.
    assert thanks(org) == [(D + days(1), ["F0", "F3", "F6"]), (D + days(2), ["F1", "F4", "F7"])]
