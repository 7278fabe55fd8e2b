"""Every tenant table carries the organisation (docs/deployment.md, "Distributing by
organisation"): item states, instalments, communication items and the invoices of payment
plans (the table Django made for ``PaymentPlan.invoices``, now a model of its own on the
same table) get the organisation of their parent, filled in one UPDATE per table."""

from typing import Any

import django.db.models.deletion
from django.db import migrations, models

# (table, parent table, the column naming the parent)
CHILDREN = [
    ("dunning_itemstate", "ledger_invoice", "invoice_id"),
    ("dunning_instalment", "dunning_paymentplan", "plan_id"),
    ("dunning_communicationitem", "dunning_communication", "communication_id"),
    ("dunning_paymentplan_invoices", "dunning_paymentplan", "paymentplan_id"),
]
MODELS = ["itemstate", "instalment", "communicationitem", "planinvoice"]
HOT = {"itemstate", "communicationitem"}


def organisation(name: str, null: bool) -> models.ForeignKey:
    # The two tables a first run fills hold a copy without a constraint (see the models).
    return models.ForeignKey(
        db_constraint=name not in HOT,
        null=null, db_index=False, on_delete=django.db.models.deletion.CASCADE,
        related_name="+", to="accounts.organisation",
    )  # fmt: skip


def fill(apps: object, schema_editor: Any) -> None:
    """One UPDATE per table, the same SQL on SQLite and PostgreSQL. PostgreSQL checks the new
    foreign keys at once: checks left pending to the commit would forbid the ALTER TABLE
    that follows in the same transaction."""
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        for table, parent, column in CHILDREN:
            cursor.execute(
                f"UPDATE {table} SET organisation_id = (SELECT p.organisation_id FROM {parent} p"
                f" WHERE p.id = {table}.{column})"
            )
        if connection.vendor == "postgresql":
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0004_agent"),
        ("dunning", "0012_plan_proposed"),
        ("ledger", "0014_bank"),
    ]

    operations = [
        # The many-to-many table as it is, now described by a model.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="PlanInvoice",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        (
                            "invoice",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE, to="ledger.invoice"
                            ),
                        ),
                        (
                            "paymentplan",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                to="dunning.paymentplan",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "dunning_paymentplan_invoices",
                        "unique_together": {("paymentplan", "invoice")},
                    },
                ),
                migrations.AlterField(
                    model_name="paymentplan",
                    name="invoices",
                    field=models.ManyToManyField(
                        related_name="payment_plans",
                        through="dunning.PlanInvoice",
                        to="ledger.invoice",
                    ),
                ),
            ]
        ),
        *[
            migrations.AddField(model_name=name, name="organisation", field=organisation(name, True))
            for name in MODELS
        ],
        # Only rows already there: nothing on a new install (elided when squashed).
        migrations.RunPython(fill, migrations.RunPython.noop, elidable=True),
        *[
            migrations.AlterField(model_name=name, name="organisation", field=organisation(name, False))
            for name in MODELS
        ],
    ]
