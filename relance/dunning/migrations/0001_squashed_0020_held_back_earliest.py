"""The dunning app's migrations 0001_initial to 0020_held_back_earliest in one, for new
installs (docs/performance.md, "The test suite ... (2026-12-02)"): the models' state as
makemigrations writes it today (a few CreateModel, where the replaced migrations took about
three times as many operations, each re-rendering the related models), then the raw SQL
steps of 0016 (scenario dates), 0017 (items to thank) and 0019 (reminders withdrawn):
triggers and functions, run from the replaced migrations themselves (``replaced``) so that
their SQL and its documentation stay in one place. Not copied: 0013 filled the organisation
of rows already there (elidable).

An install that has applied some of the replaced migrations goes on with those (Django uses
a squashed migration only when all or none of what it replaces is applied): keep them until
every install has passed 0020_held_back_earliest. Checked on 2026-12-02: a fresh install's
schema is the same as with the replaced migrations (SQLite ``PRAGMA`` tables, columns,
foreign keys, indexes and triggers; PostgreSQL ``pg_dump -s``), but for the order of some
columns.
"""

import django.db.models.deletion
import relance.lib.fields
from django.conf import settings
from django.db import migrations, models
from relance.lib.migrating import replaced


class Migration(migrations.Migration):

    replaces = [('dunning', '0001_initial'), ('dunning', '0002_paymentplan_instalment_scenario_customerscenario_and_more'), ('dunning', '0003_communication_pre_due'), ('dunning', '0004_leaner_indexes'), ('dunning', '0005_outbox_indexes'), ('dunning', '0006_leaner_writes'), ('dunning', '0007_instalment_reminders'), ('dunning', '0008_shared_fields'), ('dunning', '0009_days_overdue_integer'), ('dunning', '0010_console'), ('dunning', '0011_comm_by_run'), ('dunning', '0012_plan_proposed'), ('dunning', '0013_tenant'), ('dunning', '0014_scaleout'), ('dunning', '0015_nextday'), ('dunning', '0016_scenario_dates'), ('dunning', '0017_items_to_thank'), ('dunning', '0018_held_back'), ('dunning', '0019_reminder_withdrawn'), ('dunning', '0020_held_back_earliest')]

    initial = True

    dependencies = [
        ('accounts', '0004_agent'),
        ('ledger', '0019_odd_numbers'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='MoveBounds',
            fields=[
                ('organisation', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='+', serialize=False, to='accounts.organisation')),
                ('bounds', models.TextField()),
            ],
        ),
        migrations.CreateModel(
            name='Instalment',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('due_date', models.DateField()),
                ('amount', models.DecimalField(decimal_places=2, max_digits=18)),
                ('paid_on', models.DateField(blank=True, null=True)),
                ('reminded_on', models.DateField(blank=True, null=True)),
                ('organisation', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='accounts.organisation')),
            ],
            options={
                'ordering': ['due_date'],
            },
        ),
        migrations.CreateModel(
            name='Communication',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('channel', models.CharField(choices=[('email', 'E-mail'), ('sms', 'Text message'), ('letter', 'Letter'), ('registered_letter', 'Registered letter'), ('call', 'Phone call'), ('task', 'Task for a person'), ('handover', 'Hand-over to an insurer or agency')], max_length=24)),
                ('run_date', models.DateField()),
                ('purpose', models.CharField(choices=[('reminder', 'Reminder'), ('thanks', 'Thank-you'), ('instalment', 'Instalment reminder'), ('plan_confirmation', 'Payment plan confirmation')], default='reminder', max_length=24)),
                ('pre_due', models.BooleanField(default=False)),
                ('send_on', models.DateField()),
                ('template', models.CharField(max_length=64)),
                ('language', models.CharField(default='fr', max_length=8)),
                ('status', models.CharField(choices=[('planned', 'Planned'), ('awaiting_approval', 'Awaiting approval'), ('queued', 'Queued'), ('sending', 'Sending'), ('sent', 'Sent'), ('failed', 'Failed'), ('cancelled', 'Cancelled'), ('ambiguous', 'Ambiguous: check before resending')], max_length=24)),
                ('explanation', models.JSONField(default=dict)),
                ('recipient', models.CharField(blank=True, max_length=254)),
                ('subject', models.CharField(blank=True, max_length=300)),
                ('message_id', models.CharField(blank=True, max_length=254)),
                ('attempts', models.PositiveSmallIntegerField(default=0)),
                ('next_attempt_at', models.DateTimeField(blank=True, null=True)),
                ('claimed_at', models.DateTimeField(blank=True, null=True)),
                ('sent_at', models.DateTimeField(blank=True, null=True)),
                ('last_error', models.TextField(blank=True)),
                ('edited_subject', models.CharField(blank=True, db_default='', max_length=300)),
                ('edited_text', models.TextField(blank=True, db_default='')),
                ('sent_text', models.TextField(blank=True, db_default='')),
                ('sent_html', models.TextField(blank=True, db_default='')),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('customer', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='communications', to='ledger.customer')),
                ('edited_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('organisation', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='accounts.organisation')),
                ('instalment', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='dunning.instalment')),
            ],
            options={
                'ordering': ['-run_date', 'customer_id'],
                'indexes': [models.Index(fields=['organisation', 'status', 'send_on'], name='dunning_com_organis_6bb625_idx'), models.Index(fields=['status', 'send_on'], name='comm_due'), models.Index(fields=['status', 'claimed_at'], name='comm_claimed'), models.Index(fields=['message_id'], name='comm_message_id'), models.Index(fields=['organisation', 'run_date', 'status'], name='comm_by_run')],
                'constraints': [models.UniqueConstraint(fields=('organisation', 'customer', 'channel', 'run_date', 'purpose'), name='communication_unique_per_run')],
            },
        ),
        migrations.CreateModel(
            name='ItemState',
            fields=[
                ('invoice', relance.lib.fields.RowIdOneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='dunning', serialize=False, to='ledger.invoice')),
                ('level', models.PositiveSmallIntegerField(default=0)),
                ('level_date', models.DateField(null=True)),
                ('thanked', models.BooleanField(default=False)),
                ('organisation', models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='accounts.organisation')),
            ],
            options={
                'abstract': False,
            },
        ),
        migrations.CreateModel(
            name='ItemToThank',
            fields=[
                ('invoice', relance.lib.fields.RowIdOneToOneField(db_constraint=False, on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='+', serialize=False, to='ledger.invoice')),
                ('organisation', models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='accounts.organisation')),
            ],
            options={
                'abstract': False,
            },
        ),
        migrations.CreateModel(
            name='PaymentPlan',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('status', models.CharField(choices=[('active', 'Active'), ('completed', 'Completed'), ('defaulted', 'Defaulted'), ('cancelled', 'Cancelled'), ('proposed', 'Proposed'), ('refused', 'Refused')], default='active', max_length=16)),
                ('agreed_on', models.DateField()),
                ('note', models.TextField(blank=True)),
                ('confirmed_at', models.DateTimeField(blank=True, null=True)),
                ('confirmation', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='dunning.communication')),
                ('customer', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='ledger.customer')),
                ('organisation', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='accounts.organisation')),
            ],
        ),
        migrations.AddField(
            model_name='instalment',
            name='plan',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='instalments', to='dunning.paymentplan'),
        ),
        migrations.CreateModel(
            name='PlanInvoice',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('invoice', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, to='ledger.invoice')),
                ('organisation', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='accounts.organisation')),
                ('paymentplan', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, to='dunning.paymentplan')),
            ],
            options={
                'db_table': 'dunning_paymentplan_invoices',
                'unique_together': {('paymentplan', 'invoice')},
            },
        ),
        migrations.AddField(
            model_name='paymentplan',
            name='invoices',
            field=models.ManyToManyField(related_name='payment_plans', through='dunning.PlanInvoice', to='ledger.invoice'),
        ),
        migrations.CreateModel(
            name='QueuedRun',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('run_date', models.DateField()),
                ('status', models.CharField(choices=[('queued', 'Queued'), ('running', 'Running'), ('done', 'Done'), ('failed', 'Failed')], default='queued', max_length=16)),
                ('parts_wanted', models.PositiveIntegerField(default=0)),
                ('parts_total', models.PositiveIntegerField(default=0)),
                ('parts_done', models.PositiveIntegerField(default=0)),
                ('data', models.JSONField(blank=True, default=dict)),
                ('error', models.TextField(blank=True)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('finished_at', models.DateTimeField(blank=True, null=True)),
                ('organisation', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='accounts.organisation')),
            ],
            options={
                'ordering': ['-id'],
                'indexes': [models.Index(fields=['organisation', 'status'], name='queued_run_status')],
            },
        ),
        migrations.CreateModel(
            name='Rate',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('series', models.CharField(choices=[('ecb_mro', 'ECB main refinancing rate'), ('fr_late_penalty_default', 'France: default late-payment rate'), ('fr_late_penalty_floor', 'France: lowest contractual rate'), ('fr_legal_professionals', 'France: legal rate, professionals'), ('fr_legal_individuals', 'France: legal rate, individuals'), ('uk_boe_reference', 'UK: Bank of England rate on reference dates')], max_length=32)),
                ('date', models.DateField()),
                ('percent', models.DecimalField(decimal_places=4, max_digits=7)),
                ('source', models.TextField(blank=True)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
            ],
            options={
                'ordering': ['series', 'date'],
                'constraints': [models.UniqueConstraint(fields=('series', 'date'), name='rate_unique')],
            },
        ),
        migrations.CreateModel(
            name='RunPart',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('share', models.PositiveIntegerField()),
                ('status', models.CharField(choices=[('queued', 'Queued'), ('running', 'Running'), ('done', 'Done'), ('failed', 'Failed')], default='queued', max_length=16)),
                ('attempts', models.PositiveIntegerField(default=0)),
                ('worker', models.CharField(blank=True, max_length=64)),
                ('result', models.JSONField(blank=True, default=dict)),
                ('error', models.TextField(blank=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('organisation', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='accounts.organisation')),
                ('run', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='parts', to='dunning.queuedrun')),
            ],
            options={
                'ordering': ['run', 'share'],
                'constraints': [models.UniqueConstraint(fields=('run', 'share'), name='run_part_unique')],
            },
        ),
        migrations.CreateModel(
            name='Scenario',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('slug', models.SlugField(max_length=64)),
                ('name', models.CharField(max_length=100, verbose_name='name')),
                ('description', models.TextField(blank=True, verbose_name='description')),
                ('is_default', models.BooleanField(default=False, verbose_name='default scenario')),
                ('thank_on_payment', models.BooleanField(default=True, verbose_name='thank on payment')),
                ('thank_template', models.CharField(default='thanks', max_length=64)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('organisation', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='accounts.organisation')),
            ],
            options={
                'ordering': ['name'],
                'constraints': [models.UniqueConstraint(fields=('organisation', 'slug'), name='scenario_slug_unique')],
            },
        ),
        migrations.CreateModel(
            name='CustomerScenario',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('customer', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='scenario_choice', to='ledger.customer')),
                ('organisation', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='accounts.organisation')),
                ('scenario', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='dunning.scenario')),
            ],
        ),
        migrations.AddField(
            model_name='communication',
            name='scenario',
            field=models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='dunning.scenario'),
        ),
        migrations.CreateModel(
            name='SegmentRule',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('position', models.PositiveSmallIntegerField()),
                ('name', models.CharField(max_length=100, verbose_name='name')),
                ('risk_class', models.CharField(blank=True, max_length=8, verbose_name='risk class')),
                ('min_invoice_amount', models.DecimalField(blank=True, decimal_places=2, max_digits=18, null=True)),
                ('min_years', models.PositiveSmallIntegerField(blank=True, null=True)),
                ('max_years', models.PositiveSmallIntegerField(blank=True, null=True)),
                ('organisation', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='accounts.organisation')),
                ('scenario', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='rules', to='dunning.scenario')),
            ],
            options={
                'ordering': ['position'],
                'constraints': [models.UniqueConstraint(fields=('organisation', 'position'), name='segment_rule_position_unique')],
            },
        ),
        migrations.CreateModel(
            name='Step',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('position', models.PositiveSmallIntegerField()),
                ('name', models.CharField(max_length=100, verbose_name='name')),
                ('offset', models.SmallIntegerField(verbose_name='offset (days)')),
                ('min_gap', models.PositiveSmallIntegerField(default=0, verbose_name='minimum gap (days)')),
                ('channel', models.CharField(choices=[('email', 'E-mail'), ('sms', 'Text message'), ('letter', 'Letter'), ('registered_letter', 'Registered letter'), ('call', 'Phone call'), ('task', 'Task for a person'), ('handover', 'Hand-over to an insurer or agency')], max_length=24)),
                ('template', models.CharField(max_length=64, verbose_name='template')),
                ('mode', models.CharField(choices=[('auto', 'Automatic'), ('approval', 'After approval')], default='auto', max_length=16)),
                ('min_amount', models.DecimalField(blank=True, decimal_places=2, max_digits=18, null=True, verbose_name='minimum amount')),
                ('max_amount', models.DecimalField(blank=True, decimal_places=2, max_digits=18, null=True, verbose_name='maximum amount')),
                ('organisation', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='accounts.organisation')),
                ('scenario', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='steps', to='dunning.scenario')),
            ],
            options={
                'ordering': ['scenario', 'position'],
                'constraints': [models.UniqueConstraint(fields=('scenario', 'position'), name='step_position_unique')],
            },
        ),
        migrations.AddField(
            model_name='communication',
            name='step',
            field=models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='dunning.step'),
        ),
        migrations.CreateModel(
            name='Task',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(max_length=32)),
                ('title', models.CharField(max_length=300)),
                ('due_on', models.DateField()),
                ('status', models.CharField(choices=[('open', 'Open'), ('done', 'Done'), ('cancelled', 'Cancelled')], default='open', max_length=16)),
                ('key', models.CharField(max_length=128)),
                ('data', models.JSONField(blank=True, default=dict)),
                ('outcome', models.CharField(blank=True, max_length=32)),
                ('closed_at', models.DateTimeField(blank=True, null=True)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('assignee', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('closed_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('communication', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='tasks', to='dunning.communication')),
                ('customer', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='ledger.customer')),
                ('organisation', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='accounts.organisation')),
            ],
            options={
                'ordering': ['due_on', 'id'],
                'indexes': [models.Index(fields=['organisation', 'status', 'due_on'], name='task_open')],
                'constraints': [models.UniqueConstraint(fields=('organisation', 'key'), name='task_key_unique')],
            },
        ),
        migrations.CreateModel(
            name='CommunicationItem',
            fields=[
                ('id', relance.lib.fields.RowIdAutoField(primary_key=True, serialize=False)),
                ('step_position', models.PositiveSmallIntegerField()),
                ('days_overdue', models.IntegerField()),
                ('balance', models.DecimalField(decimal_places=2, max_digits=18)),
                ('dropped', models.CharField(blank=True, max_length=32)),
                ('previous_level', models.PositiveSmallIntegerField(blank=True, null=True)),
                ('previous_level_date', models.DateField(blank=True, null=True)),
                ('communication', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='items', to='dunning.communication')),
                ('invoice', models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='ledger.invoice')),
                ('organisation', models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='accounts.organisation')),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('communication', 'invoice'), name='communication_item_unique')],
            },
        ),
        migrations.CreateModel(
            name='HeldBack',
            fields=[
                ('customer', relance.lib.fields.RowIdOneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='+', serialize=False, to='ledger.customer')),
                ('until', models.DateField()),
                ('earliest', models.DateField(null=True)),
                ('organisation', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='accounts.organisation')),
            ],
            options={
                'indexes': [models.Index(fields=['organisation', 'until'], name='held_back_by_day')],
            },
        ),
        migrations.CreateModel(
            name='Promise',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('promised_on', models.DateField(verbose_name='promised for')),
                ('amount', models.DecimalField(blank=True, decimal_places=2, max_digits=18, null=True)),
                ('grace_days', models.PositiveSmallIntegerField(default=2)),
                ('status', models.CharField(choices=[('open', 'Open'), ('kept', 'Kept'), ('broken', 'Broken'), ('cancelled', 'Cancelled')], default='open', max_length=16)),
                ('broken_on', models.DateField(blank=True, null=True)),
                ('note', models.TextField(blank=True)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('customer', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='ledger.customer')),
                ('invoice', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='ledger.invoice')),
                ('organisation', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='accounts.organisation')),
            ],
            options={
                'indexes': [models.Index(fields=['organisation', 'status'], name='dunning_pro_organis_5c8f9e_idx')],
            },
        ),
        replaced('relance.dunning.migrations.0016_scenario_dates', 0),
        replaced('relance.dunning.migrations.0017_items_to_thank', 1),
        replaced('relance.dunning.migrations.0019_reminder_withdrawn', 0),
    ]
