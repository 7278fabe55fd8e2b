"""Balances recomputed exactly on SQLite: they were summed as binary floats there, which
left some invoices paid in full owing a trace (0.0000000000001), open at "0.00" and never
settled. PostgreSQL's numeric sums were exact: nothing to do there."""

from django.db import migrations
from django.db.models import F, Max, OuterRef, Subquery, Sum
from django.db.models.functions import Coalesce

from relance.ledger.balances import CENTS, NO_CENTS, Cents, MoneyFromCents


def exact_balances(apps, schema_editor):
    if schema_editor.connection.vendor != "sqlite":
        return
    Invoice = apps.get_model("ledger", "Invoice")
    Allocation = apps.get_model("ledger", "Allocation")
    allocations = Allocation.objects.filter(invoice=OuterRef("pk")).order_by().values("invoice")
    allocated = Subquery(
        allocations.annotate(total=Sum(Cents(F("amount")), output_field=CENTS)).values("total"),
        output_field=CENTS,
    )
    last_date = Subquery(allocations.annotate(last=Max("date")).values("last"))
    Invoice.objects.update(
        balance=MoneyFromCents(Cents(F("amount")) - Coalesce(allocated, NO_CENTS))
    )
    Invoice.objects.filter(balance__lte=0, settled_on__isnull=True).update(settled_on=last_date)


class Migration(migrations.Migration):
    dependencies = [("ledger", "0003_leaner_writes")]

    operations = [migrations.RunPython(exact_balances, migrations.RunPython.noop, elidable=True)]
