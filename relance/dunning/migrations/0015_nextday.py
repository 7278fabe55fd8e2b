import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("accounts", "0004_agent"), ("dunning", "0014_scaleout")]

    operations = [
        migrations.CreateModel(
            name="MoveBounds",
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
                ("bounds", models.TextField()),
            ],
        ),
    ]
