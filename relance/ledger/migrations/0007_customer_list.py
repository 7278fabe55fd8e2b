# The console's customer list: sorted by name a page at a time, and the currencies owed.

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0003_console'),
        ('ledger', '0006_balance_days'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddIndex(
            model_name='customer',
            index=models.Index(fields=['organisation', 'legal_name'], name='customer_by_name'),
        ),
        migrations.AddIndex(
            model_name='customerbalance',
            index=models.Index(fields=['organisation', 'currency'], name='balance_currencies'),
        ),
    ]
