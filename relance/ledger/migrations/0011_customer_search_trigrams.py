"""On PostgreSQL, a trigram index for the customer search (``LIKE '%...%'`` on the names and
the reference, in any case), so that it does not read every customer. It needs the
``pg_trgm`` extension (shipped with PostgreSQL, trusted since version 13): when the database
user may not create it, the search works without the index (docs/deployment.md)."""

from django.db import DatabaseError, migrations, transaction

INDEX = (
    "CREATE INDEX IF NOT EXISTS customer_search_trigrams ON ledger_customer USING gin ("
    "UPPER(legal_name::text) gin_trgm_ops, UPPER(trade_name::text) gin_trgm_ops, "
    "UPPER(reference::text) gin_trgm_ops)"
)


def forwards(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")
        if cursor.fetchone() is None:
            try:
                with transaction.atomic(using=connection.alias):
                    cursor.execute("CREATE EXTENSION pg_trgm")
            except DatabaseError:
                return
        cursor.execute(INDEX)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS customer_search_trigrams")


class Migration(migrations.Migration):
    dependencies = [("ledger", "0010_ledger_version")]
    operations = [migrations.RunPython(forwards, backwards)]
