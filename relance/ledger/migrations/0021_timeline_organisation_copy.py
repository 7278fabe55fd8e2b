"""A timeline event's organisation is its customer's: on PostgreSQL its foreign key to the
organisation loses its database constraint (the customer's row keeps its own), as a
communication's (dunning 0021_organisation_copies says why)."""

import django.db.models.deletion
from django.db import migrations, models

from relance.lib.migrating import without_foreign_key


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("ledger", "0020_balance_fillfactor"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    "timelineevent",
                    "organisation",
                    models.ForeignKey(
                        db_constraint=False, db_index=False,
                        on_delete=django.db.models.deletion.CASCADE, related_name="+",
                        to="accounts.organisation",
                    ),  # fmt: skip
                ),
            ],
            database_operations=[
                without_foreign_key("ledger_timelineevent", "organisation_id",
                                    "accounts_organisation"),
            ],  # fmt: skip
        ),
    ]
