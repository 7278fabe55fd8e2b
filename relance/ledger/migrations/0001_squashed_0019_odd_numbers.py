"""The ledger app's migrations 0001_initial to 0019_odd_numbers in one, for new installs
(docs/performance.md, "The test suite ... (2026-12-02)"): the models' state as
makemigrations writes it today (a few CreateModel, where the replaced migrations took about
three times as many operations, each re-rendering the related models), then the raw SQL
steps of 0011 (the customer search's trigram index) and 0015 (the trigger that forgets
``moves_on`` when a due date moves), run from the replaced migrations themselves
(``replaced``) so that their SQL and its documentation stay in one place. Not copied: 0004
and 0006 filled rows of ledgers already there (elidable).

An install that has applied some of the replaced migrations goes on with those (Django uses
a squashed migration only when all or none of what it replaces is applied): keep them until
every install has passed 0019_odd_numbers. Checked on 2026-12-02: a fresh install's schema
is the same as with the replaced migrations (SQLite ``PRAGMA`` tables, columns, foreign
keys, indexes and triggers; PostgreSQL ``pg_dump -s``), but for the order of some columns.
"""

import django.db.models.deletion
import relance.ledger.models
import relance.lib.fields
from django.conf import settings
from django.db import migrations, models
from relance.lib.migrating import replaced


class Migration(migrations.Migration):

    replaces = [('ledger', '0001_initial'), ('ledger', '0002_leaner_indexes'), ('ledger', '0003_leaner_writes'), ('ledger', '0004_exact_balances'), ('ledger', '0005_console'), ('ledger', '0006_balance_days'), ('ledger', '0007_customer_list'), ('ledger', '0008_payments_by_date'), ('ledger', '0009_customer_by_risk'), ('ledger', '0010_ledger_version'), ('ledger', '0011_customer_search_trigrams'), ('ledger', '0012_payment_by_customer'), ('ledger', '0013_hold_reply'), ('ledger', '0014_bank'), ('ledger', '0015_nextday'), ('ledger', '0016_partial'), ('ledger', '0017_fastimport'), ('ledger', '0018_balance_day_only'), ('ledger', '0019_odd_numbers')]

    initial = True

    dependencies = [
        ('accounts', '0004_agent'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='BalanceDay',
            fields=[
                ('organisation', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='+', serialize=False, to='accounts.organisation')),
                ('as_of', models.DateField(null=True)),
                ('version', models.PositiveBigIntegerField(default=0)),
            ],
        ),
        migrations.CreateModel(
            name='Customer',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('reference', models.CharField(max_length=64, verbose_name='account')),
                ('legal_name', models.CharField(max_length=200, verbose_name='legal name')),
                ('trade_name', models.CharField(blank=True, max_length=200, verbose_name='trade name')),
                ('siren', models.CharField(blank=True, max_length=9, verbose_name='SIREN')),
                ('siret', models.CharField(blank=True, max_length=14, verbose_name='SIRET')),
                ('vat_number', models.CharField(blank=True, max_length=20, verbose_name='VAT number')),
                ('email', models.EmailField(blank=True, max_length=254, verbose_name='billing e-mail')),
                ('phone', models.CharField(blank=True, max_length=32, verbose_name='phone')),
                ('language', models.CharField(choices=[('fr', 'Français'), ('en', 'English')], default='fr', max_length=8, verbose_name='language')),
                ('country', models.CharField(default='FR', max_length=2, verbose_name='country')),
                ('currency', models.CharField(default='EUR', max_length=3, verbose_name='currency')),
                ('payment_terms_days', models.PositiveSmallIntegerField(default=30, verbose_name='payment terms (days)')),
                ('credit_limit', models.DecimalField(blank=True, decimal_places=2, max_digits=18, null=True, verbose_name='credit limit')),
                ('risk_class', models.CharField(choices=[('low', 'Low'), ('medium', 'Medium'), ('high', 'High')], default='medium', max_length=8, verbose_name='risk class')),
                ('customer_since', models.DateField(blank=True, null=True, verbose_name='customer since')),
                ('notes', models.TextField(blank=True, verbose_name='notes')),
                ('iban', models.CharField(blank=True, max_length=34, verbose_name='IBAN')),
                ('source', models.CharField(blank=True, max_length=64)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('collector', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='collector')),
                ('organisation', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='accounts.organisation')),
            ],
            options={
                'ordering': ['legal_name'],
                'indexes': [models.Index(fields=['organisation', 'collector'], name='customer_collector'), models.Index(fields=['organisation', 'legal_name'], name='customer_by_name'), models.Index(fields=['organisation', 'risk_class'], name='customer_by_risk')],
                'constraints': [models.UniqueConstraint(fields=('organisation', 'reference'), name='customer_reference_unique')],
            },
        ),
        migrations.CreateModel(
            name='Contact',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.CharField(max_length=200, verbose_name='name')),
                ('role', models.CharField(blank=True, max_length=100, verbose_name='role')),
                ('email', models.EmailField(blank=True, max_length=254, verbose_name='e-mail')),
                ('phone', models.CharField(blank=True, max_length=32, verbose_name='phone')),
                ('preferred_channel', models.CharField(choices=[('email', 'E-mail'), ('sms', 'Text message'), ('letter', 'Letter'), ('phone', 'Phone')], default='email', max_length=8, verbose_name='preferred channel')),
                ('is_primary', models.BooleanField(default=False, verbose_name='dunning contact')),
                ('email_valid', models.BooleanField(default=True)),
                ('phone_valid', models.BooleanField(default=True)),
                ('organisation', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='accounts.organisation')),
                ('customer', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='contacts', to='ledger.customer')),
            ],
            options={
                'ordering': ['-is_primary', 'name'],
            },
        ),
        migrations.CreateModel(
            name='Address',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(choices=[('billing', 'Billing'), ('dunning', 'Dunning (letters)'), ('delivery', 'Delivery')], max_length=16)),
                ('line1', models.CharField(max_length=200, verbose_name='address')),
                ('line2', models.CharField(blank=True, max_length=200, verbose_name='address (continued)')),
                ('postcode', models.CharField(blank=True, max_length=16, verbose_name='postcode')),
                ('city', models.CharField(blank=True, max_length=100, verbose_name='city')),
                ('country', models.CharField(default='FR', max_length=2, verbose_name='country')),
                ('valid', models.BooleanField(default=True)),
                ('organisation', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='accounts.organisation')),
                ('customer', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='addresses', to='ledger.customer')),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('customer', 'kind'), name='address_kind_unique')],
            },
        ),
        migrations.CreateModel(
            name='CustomerBalance',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('currency', models.CharField(max_length=3)),
                ('open_amount', models.DecimalField(decimal_places=2, max_digits=18)),
                ('overdue_amount', models.DecimalField(decimal_places=2, max_digits=18)),
                ('not_due', models.DecimalField(decimal_places=2, max_digits=18)),
                ('days_1_30', models.DecimalField(decimal_places=2, max_digits=18)),
                ('days_31_60', models.DecimalField(decimal_places=2, max_digits=18)),
                ('days_61_90', models.DecimalField(decimal_places=2, max_digits=18)),
                ('over_90', models.DecimalField(decimal_places=2, max_digits=18)),
                ('open_items', models.PositiveIntegerField()),
                ('overdue_items', models.PositiveIntegerField()),
                ('oldest_due', models.DateField(null=True)),
                ('customer', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='balances', to='ledger.customer')),
                ('organisation', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='accounts.organisation')),
            ],
            options={
                'indexes': [models.Index(fields=['organisation', 'oldest_due'], name='balance_by_oldest'), models.Index(fields=['organisation', 'currency'], name='balance_currencies')],
                'constraints': [models.UniqueConstraint(fields=('customer', 'currency'), name='customer_balance_unique')],
            },
        ),
        migrations.CreateModel(
            name='Hold',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(choices=[('manual', 'Manual hold'), ('negotiation', 'Under negotiation'), ('insolvency', 'Collective proceedings'), ('reply', 'Reply to read'), ('unapplied', 'Unapplied cash')], max_length=16)),
                ('reason', models.TextField(blank=True, verbose_name='reason')),
                ('start_date', models.DateField(verbose_name='from')),
                ('end_date', models.DateField(blank=True, null=True, verbose_name='until')),
                ('published_on', models.DateField(blank=True, null=True, verbose_name='published on')),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('created_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, to=settings.AUTH_USER_MODEL)),
                ('customer', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='holds', to='ledger.customer')),
                ('organisation', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='accounts.organisation')),
            ],
            options={
                'indexes': [models.Index(fields=['organisation', 'customer'], name='ledger_hold_organis_11817b_idx')],
            },
        ),
        migrations.CreateModel(
            name='ImportMapping',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.SlugField(max_length=64)),
                ('spec', models.JSONField()),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('organisation', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='accounts.organisation')),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('organisation', 'name'), name='mapping_name_unique')],
            },
        ),
        migrations.CreateModel(
            name='ImportRun',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('file_name', models.CharField(max_length=300)),
                ('format', models.CharField(max_length=16)),
                ('sha256', models.CharField(max_length=64)),
                ('status', models.CharField(choices=[('done', 'Done'), ('failed', 'Failed')], max_length=16)),
                ('counts', models.JSONField(default=dict)),
                ('error', models.TextField(blank=True)),
                ('started_at', models.DateTimeField()),
                ('finished_at', models.DateTimeField()),
                ('organisation', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='accounts.organisation')),
                ('user', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'ordering': ['-started_at'],
            },
        ),
        migrations.CreateModel(
            name='Invoice',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(choices=[('invoice', 'Invoice'), ('debit_note', 'Debit note')], default='invoice', max_length=16)),
                ('number', models.CharField(max_length=64, verbose_name='number')),
                ('issue_date', models.DateField(verbose_name='issue date')),
                ('due_date', models.DateField(verbose_name='due date')),
                ('due_date_derived', models.BooleanField(default=False)),
                ('currency', models.CharField(max_length=3, verbose_name='currency')),
                ('amount_excl_tax', models.DecimalField(blank=True, decimal_places=2, max_digits=18, null=True, verbose_name='amount excl. tax')),
                ('tax_amount', models.DecimalField(blank=True, decimal_places=2, max_digits=18, null=True, verbose_name='tax')),
                ('amount', models.DecimalField(decimal_places=2, max_digits=18, verbose_name='amount incl. tax')),
                ('balance', models.DecimalField(decimal_places=2, max_digits=18, verbose_name='balance')),
                ('settled_on', models.DateField(blank=True, null=True, verbose_name='settled on')),
                ('po_reference', models.CharField(blank=True, max_length=64, verbose_name='purchase order')),
                ('source', models.CharField(blank=True, max_length=64)),
                ('import_fingerprint', models.BigIntegerField(blank=True, editable=False, null=True)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('moves_on', models.DateField(blank=True, editable=False, null=True)),
                ('customer', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='invoices', to='ledger.customer')),
                ('organisation', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='accounts.organisation')),
            ],
            options={
                'ordering': ['due_date', 'number'],
                'indexes': [models.Index(condition=models.Q(('balance__gt', 0)), fields=['organisation', 'due_date'], name='invoice_open_by_due'), models.Index(condition=models.Q(('balance__gt', 0)), fields=['organisation', 'customer', 'currency', 'due_date', 'balance'], name='invoice_open_by_customer'), models.Index(condition=models.Q(('balance__gt', 0)), fields=['organisation', 'moves_on'], name='invoice_open_by_move'), models.Index(condition=models.Q(('number__odd', True)), fields=['organisation', 'number'], name='invoice_odd_number')],
                'constraints': [models.UniqueConstraint(fields=('organisation', 'number'), name='invoice_number_unique'), models.CheckConstraint(condition=models.Q(('amount__gte', 0)), name='invoice_amount_positive')],
            },
        ),
        migrations.CreateModel(
            name='Dispute',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('reason', models.CharField(choices=[('price', 'Price or amount'), ('quantity', 'Quantity'), ('quality', 'Quality of the goods or service'), ('not_received', 'Not received'), ('delivery', 'Delivery (late, incomplete, damaged)'), ('administrative', 'Administrative (PO, address, ...)'), ('purchase_order', 'Administrative: purchase order'), ('address', 'Administrative: billing address'), ('duplicate', 'Administrative: duplicate invoice'), ('other', 'Other'), ('not_approved', 'Not approved by the buyer (partly approved)')], default='other', max_length=16)),
                ('amount', models.DecimalField(blank=True, decimal_places=2, max_digits=18, null=True, verbose_name='disputed amount')),
                ('note', models.TextField(blank=True)),
                ('opened_on', models.DateField(verbose_name='opened on')),
                ('resolved_on', models.DateField(blank=True, null=True, verbose_name='resolved on')),
                ('resolution', models.TextField(blank=True)),
                ('outcome', models.CharField(blank=True, choices=[('credit_note', 'Credit note'), ('rejected', 'Rejected: the invoice is due'), ('settled', 'Settled')], max_length=16, verbose_name='outcome')),
                ('group', models.CharField(blank=True, max_length=32)),
                ('source', models.CharField(blank=True, max_length=64)),
                ('assignee', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='assigned to')),
                ('organisation', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='accounts.organisation')),
                ('invoice', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='disputes', to='ledger.invoice')),
            ],
            options={
                'indexes': [models.Index(fields=['organisation', 'invoice'], name='ledger_disp_organis_66dbbb_idx')],
            },
        ),
        migrations.CreateModel(
            name='Attachment',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(choices=[('invoice_pdf', 'Invoice PDF'), ('proof_of_delivery', 'Proof of delivery'), ('contract', 'Contract or terms of sale'), ('other', 'Other')], max_length=24)),
                ('file', models.FileField(upload_to=relance.ledger.models.attachment_path)),
                ('name', models.CharField(max_length=200)),
                ('sha256', models.CharField(max_length=64)),
                ('uploaded_at', models.DateTimeField(auto_now_add=True)),
                ('organisation', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='accounts.organisation')),
                ('invoice', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='attachments', to='ledger.invoice')),
            ],
        ),
        migrations.CreateModel(
            name='Payment',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(choices=[('payment', 'Payment'), ('credit_note', 'Credit note'), ('settlement', 'Settled in the source system'), ('write_off', 'Write-off')], default='payment', max_length=16)),
                ('reference', models.CharField(max_length=96, verbose_name='reference')),
                ('date', models.DateField(verbose_name='date')),
                ('currency', models.CharField(max_length=3, verbose_name='currency')),
                ('amount', models.DecimalField(decimal_places=2, max_digits=18, verbose_name='amount')),
                ('method', models.CharField(blank=True, max_length=32, verbose_name='method')),
                ('memo', models.CharField(blank=True, max_length=200, verbose_name='memo')),
                ('source', models.CharField(blank=True, max_length=64)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('customer', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='payments', to='ledger.customer')),
                ('organisation', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='accounts.organisation')),
            ],
            options={
                'ordering': ['date', 'reference'],
                'indexes': [models.Index(fields=['organisation', 'date'], name='payment_by_date')],
                'constraints': [models.UniqueConstraint(fields=('organisation', 'reference'), name='payment_reference_unique'), models.CheckConstraint(condition=models.Q(('amount__gt', 0)), name='payment_amount_positive')],
            },
        ),
        migrations.CreateModel(
            name='Allocation',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('amount', models.DecimalField(decimal_places=2, max_digits=18)),
                ('date', models.DateField()),
                ('organisation', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='accounts.organisation')),
                ('invoice', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='allocations', to='ledger.invoice')),
                ('payment', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='allocations', to='ledger.payment')),
            ],
            options={
                'indexes': [models.Index(fields=['organisation', 'invoice'], name='ledger_allo_organis_78c17a_idx')],
                'constraints': [models.UniqueConstraint(fields=('payment', 'invoice'), name='allocation_unique'), models.CheckConstraint(condition=models.Q(('amount__gt', 0)), name='allocation_positive')],
            },
        ),
        migrations.CreateModel(
            name='TimelineEvent',
            fields=[
                ('id', relance.lib.fields.RowIdAutoField(primary_key=True, serialize=False)),
                ('at', models.DateTimeField()),
                ('kind', models.CharField(max_length=48)),
                ('summary', models.CharField(max_length=300)),
                ('data', models.JSONField(blank=True, default=dict)),
                ('actor', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, to=settings.AUTH_USER_MODEL)),
                ('customer', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='events', to='ledger.customer')),
                ('invoice', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, to='ledger.invoice')),
                ('organisation', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='accounts.organisation')),
            ],
            options={
                'ordering': ['-at', '-id'],
                'indexes': [models.Index(fields=['customer', 'at'], name='timeline_by_customer')],
            },
        ),
        migrations.AddIndex(
            model_name='customerbalance',
            index=models.Index(fields=['organisation', '-overdue_amount'], name='balance_by_overdue'),
        ),
        migrations.AddIndex(
            model_name='payment',
            index=models.Index(fields=['customer', '-date', '-id'], name='payment_by_customer'),
        ),
        replaced('relance.ledger.migrations.0011_customer_search_trigrams', 0),
        replaced('relance.ledger.migrations.0015_nextday', 2),
    ]
