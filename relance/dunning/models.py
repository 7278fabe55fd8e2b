"""Dunning: scenarios and their steps, the state of each item, pauses (promises, plans),
the outbox of communications, tasks for people, and the late-payment rate tables."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from relance.lib.fields import RowIdAutoField, RowIdOneToOneField
from relance.lib.tenancy import FromParent


class RateSeries(models.TextChoices):
    ECB_MRO = "ecb_mro", _("ECB main refinancing rate")
    FR_PENALTY_DEFAULT = "fr_late_penalty_default", _("France: default late-payment rate")
    FR_PENALTY_FLOOR = "fr_late_penalty_floor", _("France: lowest contractual rate")
    FR_LEGAL_PROFESSIONALS = "fr_legal_professionals", _("France: legal rate, professionals")
    FR_LEGAL_INDIVIDUALS = "fr_legal_individuals", _("France: legal rate, individuals")
    UK_BOE_REFERENCE = "uk_boe_reference", _("UK: Bank of England rate on reference dates")


class Rate(models.Model):
    """A rate an administrator added or refreshed; it overrides the tables shipped with
    Relance for the same series and date (see relance.dunning.rates)."""

    series = models.CharField(max_length=32, choices=RateSeries.choices)
    date = models.DateField()
    percent = models.DecimalField(max_digits=7, decimal_places=4)
    source = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["series", "date"]
        constraints = [models.UniqueConstraint(fields=["series", "date"], name="rate_unique")]

    def __str__(self) -> str:
        return f"{self.series} {self.date}: {self.percent}%"


# -- scenarios ---------------------------------------------------------------------------


class StepChannel(models.TextChoices):
    EMAIL = "email", _("E-mail")
    SMS = "sms", _("Text message")
    LETTER = "letter", _("Letter")
    REGISTERED_LETTER = "registered_letter", _("Registered letter")
    CALL = "call", _("Phone call")
    TASK = "task", _("Task for a person")
    HANDOVER = "handover", _("Hand-over to an insurer or agency")


# Channels a person carries out: the outbox turns them into tasks rather than messages.
PERSON_CHANNELS = frozenset({StepChannel.CALL, StepChannel.TASK, StepChannel.HANDOVER})


class StepMode(models.TextChoices):
    AUTO = "auto", _("Automatic")
    APPROVAL = "approval", _("After approval")


class Scenario(models.Model):
    """An ordered list of steps a customer's items follow (*scénario de relance*)."""

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.CASCADE, related_name="+"
    )
    slug = models.SlugField(max_length=64)
    name = models.CharField(_("name"), max_length=100)
    description = models.TextField(_("description"), blank=True)
    # The scenario of customers no rule matches.
    is_default = models.BooleanField(_("default scenario"), default=False)
    thank_on_payment = models.BooleanField(_("thank on payment"), default=True)
    thank_template = models.CharField(max_length=64, default="thanks")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["organisation", "slug"], name="scenario_slug_unique")
        ]

    def __str__(self) -> str:
        return self.name


class Step(models.Model):
    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.CASCADE, related_name="+"
    )
    scenario = models.ForeignKey(Scenario, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField()  # 1, 2, ...: an item's level names one
    name = models.CharField(_("name"), max_length=100)
    # Earliest days overdue at which the step may happen; negative before the due date.
    offset = models.SmallIntegerField(_("offset (days)"))
    # Minimum days since the item's previous step.
    min_gap = models.PositiveSmallIntegerField(_("minimum gap (days)"), default=0)
    channel = models.CharField(max_length=24, choices=StepChannel.choices)
    template = models.CharField(_("template"), max_length=64)
    mode = models.CharField(max_length=16, choices=StepMode.choices, default=StepMode.AUTO)
    min_amount = models.DecimalField(
        _("minimum amount"), max_digits=18, decimal_places=2, null=True, blank=True
    )
    # Only for items owing at most this much (a write-off review below a threshold).
    max_amount = models.DecimalField(
        _("maximum amount"), max_digits=18, decimal_places=2, null=True, blank=True
    )

    class Meta:
        ordering = ["scenario", "position"]
        constraints = [
            models.UniqueConstraint(fields=["scenario", "position"], name="step_position_unique")
        ]

    def __str__(self) -> str:
        return f"{self.scenario}: {self.position}. {self.name}"


class SegmentRule(models.Model):
    """Chooses the scenario of customers that match it; the first matching rule wins.
    Empty conditions match everything."""

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.CASCADE, related_name="+"
    )
    position = models.PositiveSmallIntegerField()
    name = models.CharField(_("name"), max_length=100)
    scenario = models.ForeignKey(Scenario, on_delete=models.CASCADE, related_name="rules")
    risk_class = models.CharField(_("risk class"), max_length=8, blank=True)
    # Any open item at least this large (personal follow-up for large invoices).
    min_invoice_amount = models.DecimalField(max_digits=18, decimal_places=2, null=True, blank=True)
    # Seniority: customer for at least / less than so many years.
    min_years = models.PositiveSmallIntegerField(null=True, blank=True)
    max_years = models.PositiveSmallIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "position"], name="segment_rule_position_unique"
            )
        ]

    def __str__(self) -> str:
        return self.name


class CustomerScenario(models.Model):
    """An explicit choice of scenario for one customer; it overrides the rules."""

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.CASCADE, related_name="+"
    )
    customer = models.OneToOneField(
        "ledger.Customer", on_delete=models.CASCADE, related_name="scenario_choice"
    )
    scenario = models.ForeignKey(Scenario, on_delete=models.CASCADE, related_name="+")

    def __str__(self) -> str:
        return f"{self.customer_id} → {self.scenario}"


# -- the state of each item ---------------------------------------------------------------


class ItemState(FromParent):
    """Where an open item stands in its scenario. No row means level 0.

    One row per item the run has moved, written for most open items on a first run: kept to
    the key and a few small columns (the customer is the invoice's)."""

    organisation_parent = "invoice"
    invoice = RowIdOneToOneField(
        "ledger.Invoice", on_delete=models.CASCADE, primary_key=True, related_name="dunning"
    )
    # The invoice's, carried for distribution by organisation (docs/deployment.md). Found
    # through the invoice, so without an index of its own; and without a database constraint:
    # a copy of the invoice's (which has one), whose check would cost the run's first write
    # several per cent (docs/performance.md).
    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.CASCADE, related_name="+", db_index=False,
        db_constraint=False,
    )  # fmt: skip
    level = models.PositiveSmallIntegerField(default=0)  # the last step executed
    level_date = models.DateField(null=True)  # the run date of that step
    thanked = models.BooleanField(default=False)

    def __str__(self) -> str:
        return f"{self.invoice_id}: level {self.level}"


class ItemToThank(FromParent):
    """An item that may be thanked: its invoice's balance at or under the organisation's
    minimum while its state is not thanked, at a level of 1 or more. Kept by triggers in
    the database, whoever writes (relance/dunning/migrations/0017_items_to_thank.py), so that the
    run reads the items paid since it last thanked rather than every state not thanked
    (``loading._settled``, which checks each row: a superset does no harm)."""

    organisation_parent = "invoice"
    # Without database constraints: the triggers write these rows, and a raw delete of
    # invoices leaves rows that the run's join to the invoice skips.
    invoice = RowIdOneToOneField(
        "ledger.Invoice", on_delete=models.CASCADE, primary_key=True, related_name="+",
        db_constraint=False,
    )  # fmt: skip
    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.CASCADE, related_name="+", db_constraint=False
    )

    def __str__(self) -> str:
        return f"{self.invoice_id} to thank"


class MoveBounds(models.Model):
    """The reading bounds under which the organisation's ``Invoice.moves_on`` dates were
    computed (per level, days after the due date and after the last step: see
    relance.dunning.loading.Bounds). When the scenarios change them, the run forgets every
    date and reads every open item once."""

    organisation = models.OneToOneField(
        "accounts.Organisation", on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    bounds = models.TextField()

    def __str__(self) -> str:
        return f"{self.organisation_id}: {self.bounds}"


class HeldBack(FromParent):
    """A customer some of whose items the contact gap holds back past their date, and until
    when: the run dates those items the day the gap lets them go and does not read them
    before (relance.dunning.loading, ``Bounds.after_contacts``); on a day it reads such a
    customer for another item, it reads all of its items (``loading._held_together``).
    Written by the run, and deleted by the run that reads its customer after its day
    (``writing._forget_marks``); one whose items were read again since only makes a run
    read a customer in full. A mark written again keeps the later ``until`` and the earlier
    ``earliest`` of the two (``loading.moves``): the items of the old one not read since
    are still held back."""

    organisation_parent = "customer"
    customer = RowIdOneToOneField(
        "ledger.Customer", on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    # The customer's, without a database constraint of its own (as a communication's).
    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.CASCADE, related_name="+", db_index=False,
        db_constraint=False,
    )  # fmt: skip
    until = models.DateField()
    # The first day one of the items held back may move but for the gap (the date it would
    # have had): before it, none of them can join a courtesy reminder, and the customer is
    # read as any other. NULL (a mark written before this column): read in full.
    earliest = models.DateField(null=True)

    class Meta:
        indexes = [models.Index(fields=["organisation", "until"], name="held_back_by_day")]

    def __str__(self) -> str:
        return f"{self.customer_id} held back until {self.until}"


# -- pauses -------------------------------------------------------------------------------


class Promise(models.Model):
    """A promise to pay, on one invoice or on the whole customer."""

    class Status(models.TextChoices):
        OPEN = "open", pgettext_lazy("promise", "Open")
        KEPT = "kept", pgettext_lazy("promise", "Kept")
        BROKEN = "broken", pgettext_lazy("promise", "Broken")
        CANCELLED = "cancelled", pgettext_lazy("promise", "Cancelled")

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.CASCADE, related_name="+"
    )
    customer = models.ForeignKey("ledger.Customer", on_delete=models.CASCADE, related_name="+")
    invoice = models.ForeignKey(
        "ledger.Invoice", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    promised_on = models.DateField(_("promised for"))
    amount = models.DecimalField(max_digits=18, decimal_places=2, null=True, blank=True)
    grace_days = models.PositiveSmallIntegerField(default=2)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    broken_on = models.DateField(null=True, blank=True)
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["organisation", "status"])]

    def __str__(self) -> str:
        return f"promise for {self.promised_on}"


class PaymentPlan(models.Model):
    """An agreed schedule: its items are suspended, its instalments are followed instead."""

    class Status(models.TextChoices):
        ACTIVE = "active", pgettext_lazy("payment plan", "Active")
        COMPLETED = "completed", pgettext_lazy("payment plan", "Completed")
        DEFAULTED = "defaulted", pgettext_lazy("payment plan", "Defaulted")
        CANCELLED = "cancelled", pgettext_lazy("payment plan", "Cancelled")
        # Proposed by the customer (the portal), until a manager accepts or refuses it.
        PROPOSED = "proposed", pgettext_lazy("payment plan", "Proposed")
        REFUSED = "refused", pgettext_lazy("payment plan", "Refused")

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.CASCADE, related_name="+"
    )
    customer = models.ForeignKey("ledger.Customer", on_delete=models.CASCADE, related_name="+")
    invoices: models.ManyToManyField[Any, PlanInvoice] = models.ManyToManyField(
        "ledger.Invoice", related_name="payment_plans", through="PlanInvoice"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    agreed_on = models.DateField()
    note = models.TextField(blank=True)
    # When the schedule was confirmed to the customer in writing, and by which message.
    confirmed_at = models.DateTimeField(null=True, blank=True)
    confirmation = models.ForeignKey(
        "Communication", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self) -> str:
        return f"plan of {self.agreed_on}"


class PlanInvoice(FromParent):
    """An invoice of a payment plan (the table Django made for ``PaymentPlan.invoices``,
    with the organisation)."""

    organisation_parent = "paymentplan"
    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    paymentplan = models.ForeignKey(PaymentPlan, on_delete=models.CASCADE)
    invoice = models.ForeignKey("ledger.Invoice", on_delete=models.CASCADE)

    class Meta:
        db_table = "dunning_paymentplan_invoices"
        unique_together = [("paymentplan", "invoice")]

    def __str__(self) -> str:
        return f"{self.invoice_id} in plan {self.paymentplan_id}"


class Instalment(FromParent):
    organisation_parent = "plan"
    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    plan = models.ForeignKey(PaymentPlan, on_delete=models.CASCADE, related_name="instalments")
    due_date = models.DateField()
    amount = models.DecimalField(max_digits=18, decimal_places=2)
    # Set by the run: when payments on the plan's invoices covered it (see instalments.py).
    paid_on = models.DateField(null=True, blank=True)
    reminded_on = models.DateField(null=True, blank=True)  # its one reminder, if any

    class Meta:
        ordering = ["due_date"]

    def __str__(self) -> str:
        return f"{self.amount} on {self.due_date}"


# -- the outbox ---------------------------------------------------------------------------


class CommStatus(models.TextChoices):
    PLANNED = "planned", pgettext_lazy("reminder", "Planned")
    AWAITING_APPROVAL = "awaiting_approval", pgettext_lazy("reminder", "Awaiting approval")
    QUEUED = "queued", pgettext_lazy("reminder", "Queued")
    SENDING = "sending", pgettext_lazy("reminder", "Sending")
    SENT = "sent", pgettext_lazy("reminder", "Sent")
    FAILED = "failed", pgettext_lazy("reminder", "Failed")
    CANCELLED = "cancelled", pgettext_lazy("reminder", "Cancelled")
    # Killed while sending: maybe sent, maybe not. A person decides; never retried blindly.
    AMBIGUOUS = "ambiguous", pgettext_lazy("reminder", "Ambiguous: check before resending")


class CommPurpose(models.TextChoices):
    """Why a communication exists; part of its key with the channel and the run date."""

    REMINDER = "reminder", _("Reminder")
    THANKS = "thanks", _("Thank-you")
    INSTALMENT = "instalment", _("Instalment reminder")
    PLAN_CONFIRMATION = "plan_confirmation", _("Payment plan confirmation")


class Communication(models.Model):
    """One message or task towards one customer, covering one or more invoices."""

    # The customer's, carried for distribution by organisation: without a database
    # constraint of its own, which the customer's row has (its check at each commit cost the
    # next day's run a twentieth: docs/performance.md).
    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.CASCADE, related_name="+", db_index=False,
        db_constraint=False,
    )  # fmt: skip
    customer = models.ForeignKey(
        "ledger.Customer", on_delete=models.CASCADE, related_name="communications"
    )
    channel = models.CharField(max_length=24, choices=StepChannel.choices)
    run_date = models.DateField()  # the run that planned it
    # Thank-you messages are keyed apart from reminders of the same day and channel.
    purpose = models.CharField(
        max_length=24, choices=CommPurpose.choices, default=CommPurpose.REMINDER
    )
    # Courtesy reminders before the due date do not count against the contact gap.
    pre_due = models.BooleanField(default=False)
    send_on = models.DateField()  # the next business day on or after run_date
    scenario = models.ForeignKey(Scenario, null=True, on_delete=models.SET_NULL, related_name="+")
    step = models.ForeignKey(Step, null=True, on_delete=models.SET_NULL, related_name="+")
    template = models.CharField(max_length=64)
    language = models.CharField(max_length=8, default="fr")
    status = models.CharField(max_length=24, choices=CommStatus.choices)
    explanation = models.JSONField(default=dict)
    recipient = models.CharField(max_length=254, blank=True)
    subject = models.CharField(max_length=300, blank=True)
    message_id = models.CharField(max_length=254, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    # The instalment an instalment reminder is about.
    instalment = models.ForeignKey(
        Instalment, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # A person's wording for this one message, set while it awaits approval; sent instead
    # of the template's.
    # (Defaults in the database too: the run writes communications with its own INSERT.)
    edited_subject = models.CharField(max_length=300, blank=True, db_default="")
    edited_text = models.TextField(blank=True, db_default="")
    edited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Exactly what went out (kept when sent: templates change, the record must not).
    sent_text = models.TextField(blank=True, db_default="")
    sent_html = models.TextField(blank=True, db_default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-run_date", "customer_id"]
        constraints = [
            # Planning is idempotent by construction: one per customer, channel and run.
            models.UniqueConstraint(
                fields=["organisation", "customer", "channel", "run_date", "purpose"],
                name="communication_unique_per_run",
            )
        ]
        indexes = [
            models.Index(fields=["organisation", "status", "send_on"]),
            # The sender's queue and its sweep of stale claims, across organisations.
            models.Index(fields=["status", "send_on"], name="comm_due"),
            models.Index(fields=["status", "claimed_at"], name="comm_claimed"),
            models.Index(fields=["message_id"], name="comm_message_id"),
            # Today's counts of what the day's run planned, by status, from the index alone.
            models.Index(fields=["organisation", "run_date", "status"], name="comm_by_run"),
        ]

    def __str__(self) -> str:
        return f"{self.channel} to {self.customer_id} on {self.run_date} ({self.status})"


class CommunicationItem(FromParent):
    organisation_parent = "communication"
    id = RowIdAutoField(primary_key=True)
    # The communication's, carried for distribution by organisation (docs/deployment.md):
    # found through the communication, so without an index of its own, nor a constraint (as
    # the item state's).
    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.CASCADE, related_name="+", db_index=False,
        db_constraint=False,
    )  # fmt: skip
    # Looked up through the unique constraint below, which starts with it.
    communication = models.ForeignKey(
        Communication, on_delete=models.CASCADE, related_name="items", db_index=False
    )
    # Without a database constraint or index of its own: the run writes one row per item it
    # reminds (a million on a first run) and both would cost a third of that write. The
    # invoice was read in the same transaction; an invoice's reminders are found through its
    # customer's communications (see ``for_invoice``).
    invoice = models.ForeignKey(
        "ledger.Invoice", on_delete=models.CASCADE, related_name="+", db_constraint=False,
        db_index=False,
    )  # fmt: skip
    step_position = models.PositiveSmallIntegerField()
    # An integer, not a small one: an invoice of 1900 reminded today is 46,000 days overdue,
    # beyond a smallint (32,767), and every date from 1900 to 2999 is accepted
    # (relance.lib.dates).
    days_overdue = models.IntegerField()
    balance = models.DecimalField(max_digits=18, decimal_places=2)
    # Dropped at send time: paid, disputed or promised meanwhile.
    dropped = models.CharField(max_length=32, blank=True)
    # The item's level and its date before this step: given back, by compare-and-swap,
    # when the item is dropped before it is sent (see docs/dunning.md).
    previous_level = models.PositiveSmallIntegerField(null=True, blank=True)
    previous_level_date = models.DateField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["communication", "invoice"], name="communication_item_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.invoice_id} in {self.communication_id}"

    @classmethod
    def for_invoice(cls, invoice: Any) -> models.QuerySet[CommunicationItem]:
        """The reminders that listed ``invoice``: its customer's communications (indexed),
        then the unique (communication, invoice) key."""
        return cls.objects.filter(
            communication__customer_id=invoice.customer_id, invoice_id=invoice.pk
        ).select_related("communication")


class Task(models.Model):
    """Work for a person: a call, a formal notice to sign, a claim to declare, a send to
    check."""

    class Status(models.TextChoices):
        OPEN = "open", pgettext_lazy("task", "Open")
        DONE = "done", pgettext_lazy("task", "Done")
        CANCELLED = "cancelled", pgettext_lazy("task", "Cancelled")

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.CASCADE, related_name="+"
    )
    customer = models.ForeignKey("ledger.Customer", on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=32)
    title = models.CharField(max_length=300)
    due_on = models.DateField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    communication = models.ForeignKey(
        Communication, null=True, blank=True, on_delete=models.SET_NULL, related_name="tasks"
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Makes task creation idempotent: e.g. "insolvency:<hold id>".
    key = models.CharField(max_length=128)
    data = models.JSONField(default=dict, blank=True)
    # What came of it (a call's outcome: reached, promise, dispute, no_answer, ...).
    outcome = models.CharField(max_length=32, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["due_on", "id"]
        constraints = [
            models.UniqueConstraint(fields=["organisation", "key"], name="task_key_unique")
        ]
        indexes = [models.Index(fields=["organisation", "status", "due_on"], name="task_open")]

    def __str__(self) -> str:
        return self.title


class QueuedRun(models.Model):
    """A run of one organisation on the task queue (``relance run --enqueue``), cut into
    parts that any ``relance worker`` takes: its progress and its outcome
    (relance.dunning.run_tasks)."""

    class Status(models.TextChoices):
        QUEUED = "queued", pgettext_lazy("run", "Queued")
        RUNNING = "running", pgettext_lazy("run", "Running")
        DONE = "done", pgettext_lazy("run", "Done")
        FAILED = "failed", pgettext_lazy("run", "Failed")

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.CASCADE, related_name="+"
    )
    run_date = models.DateField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    # Asked for at enqueueing (0: decided by the size of the ledger when the run begins).
    parts_wanted = models.PositiveIntegerField(default=0)
    parts_total = models.PositiveIntegerField(default=0)
    parts_done = models.PositiveIntegerField(default=0)
    # What the beginning decided for the parts (payment plans' invoices) and, at the end,
    # the run's result: customers, items, counts.
    data = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["organisation", "status"], name="queued_run_status")]

    def __str__(self) -> str:
        return f"run of {self.run_date} ({self.status}, {self.parts_done}/{self.parts_total})"


class RunPart(models.Model):
    """One share of a queued run's customers (those whose id is ``share`` modulo the run's
    ``parts_total``): written once, its counts kept for the run's total."""

    class Status(models.TextChoices):
        QUEUED = "queued", pgettext_lazy("run", "Queued")
        RUNNING = "running", pgettext_lazy("run", "Running")
        DONE = "done", pgettext_lazy("run", "Done")
        FAILED = "failed", pgettext_lazy("run", "Failed")

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.CASCADE, related_name="+"
    )
    run = models.ForeignKey(QueuedRun, on_delete=models.CASCADE, related_name="parts")
    share = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveIntegerField(default=0)
    worker = models.CharField(max_length=64, blank=True)
    result = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["run", "share"]
        constraints = [
            models.UniqueConstraint(fields=["run", "share"], name="run_part_unique"),
        ]

    def __str__(self) -> str:
        return f"part {self.share} of run {self.run_id} ({self.status})"
