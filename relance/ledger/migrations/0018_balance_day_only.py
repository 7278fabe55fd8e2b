"""The customer balances' day kept once per organisation (``BalanceDay``), not on every row:
aging by a day then writes the rows whose amounts move only (relance.ledger.summaries).
SQLite rebuilds ``ledger_customerbalance``, which carries no trigger."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("ledger", "0017_fastimport")]

    operations = [migrations.RemoveField(model_name="customerbalance", name="as_of")]
