"""A communication's and a held-back mark's organisation is their customer's: on PostgreSQL
their foreign key to the organisation loses its database constraint (the customer's row
keeps its own). Checked at each commit, row by row, it cost the next day's run at a million
items a twentieth of its time (docs/performance.md). Nothing changes on SQLite (see
``relance.lib.migrating.without_foreign_key``)."""

import django.db.models.deletion
from django.db import migrations, models

from relance.lib.migrating import without_foreign_key


def _field() -> models.ForeignKey:
    return models.ForeignKey(
        db_constraint=False, db_index=False,
        on_delete=django.db.models.deletion.CASCADE, related_name="+",
        to="accounts.organisation",
    )  # fmt: skip


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("dunning", "0020_held_back_earliest"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField("communication", "organisation", _field()),
                migrations.AlterField("heldback", "organisation", _field()),
            ],
            database_operations=[
                without_foreign_key("dunning_communication", "organisation_id",
                                    "accounts_organisation"),
                without_foreign_key("dunning_heldback", "organisation_id",
                                    "accounts_organisation"),
            ],  # fmt: skip
        ),
    ]
