"""The index of open items by due date holds the customer, currency and balance: the aging
reads the items crossing a bucket limit from the index alone (relance.ledger.summaries),
not row by row in the invoice table. No table is rebuilt: the triggers stay."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("ledger", "0018_balance_day_only")]

    operations = [
        migrations.RemoveIndex(model_name="invoice", name="invoice_open_by_due"),
        migrations.AddIndex(
            model_name="invoice",
            index=models.Index(
                condition=models.Q(("balance__gt", 0)),
                fields=["organisation", "due_date", "customer", "currency", "balance"],
                name="invoice_open_by_due",
            ),
        ),
    ]
