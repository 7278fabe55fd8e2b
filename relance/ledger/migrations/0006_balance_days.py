"""The day each organisation's customer balances are aged for, and the rows filled for the
ledgers that exist already (the console reads them; without this the first page of each
organisation would build them)."""

import django.db.models.deletion
from django.db import migrations, models


def fill(apps, schema_editor):
    from relance.ledger import summaries

    Invoice = apps.get_model("ledger", "Invoice")
    organisations = Invoice.objects.order_by().values_list("organisation_id", flat=True)
    for organisation_id in organisations.distinct():
        summaries.rebuild(organisation_id)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_console"),
        ("ledger", "0005_console"),
    ]

    operations = [
        migrations.CreateModel(
            name="BalanceDay",
            fields=[
                (
                    "organisation",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="+",
                        serialize=False,
                        to="accounts.organisation",
                    ),
                ),
                ("as_of", models.DateField(null=True)),
            ],
        ),
        migrations.AddIndex(
            model_name="invoice",
            index=models.Index(
                condition=models.Q(("balance__gt", 0)),
                fields=["organisation", "customer", "currency", "due_date", "balance"],
                name="invoice_open_by_customer",
            ),
        ),
        # Only rows of ledgers already there: nothing on a new install (elided when squashed).
        migrations.RunPython(fill, migrations.RunPython.noop, elidable=True),
    ]
