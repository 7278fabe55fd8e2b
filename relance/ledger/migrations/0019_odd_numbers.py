"""The invoice numbers holding more than printable ASCII without spaces, in a partial index
(``number__odd``, a GLOB on SQLite, a regular expression on PostgreSQL): an import looks up
the look-alikes of its new numbers there and by their spellings in case, rather than reading
every number of the ledger. A new index only: no table is rebuilt."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("ledger", "0018_balance_day_only")]

    operations = [
        migrations.AddIndex(
            model_name="invoice",
            index=models.Index(
                condition=models.Q(("number__odd", True)),
                fields=["organisation", "number"],
                name="invoice_odd_number",
            ),
        ),
    ]
