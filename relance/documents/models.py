"""Letters made for posting, the daily print batches, and the agency or insurer an
organisation may let write in its name (white label)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class AgentKind(models.TextChoices):
    AGENCY = "agency", _("Collection agency")
    INSURER = "insurer", _("Credit insurer")


class Agent(models.Model):
    """A collection agency or credit insurer sending the organisation's letters in its own
    name, for the organisation (white label). Active: every letter is written by it."""

    organisation = models.OneToOneField(
        "accounts.Organisation", on_delete=models.CASCADE, related_name="agent"
    )
    kind = models.CharField(_("kind"), max_length=16, choices=AgentKind.choices)
    name = models.CharField(_("name"), max_length=200)
    legal_name = models.CharField(_("legal name"), max_length=200, blank=True)
    address = models.TextField(_("address"))
    siren = models.CharField("SIREN", max_length=9, blank=True)
    phone = models.CharField(_("phone"), max_length=32, blank=True)
    email = models.EmailField(_("e-mail"), blank=True)
    letterhead = models.TextField(_("letterhead"), blank=True)
    logo = models.FileField(_("logo"), upload_to="logos/", blank=True)
    # Payments to the agent's account when it collects the funds (passed on within a
    # month, R124-6 CPCE); the organisation's account otherwise.
    iban = models.CharField("IBAN", max_length=34, blank=True)
    bic = models.CharField("BIC", max_length=11, blank=True)
    active = models.BooleanField(_("active"), default=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.name


class Route(models.TextChoices):
    PRINT = "print", _("Printed and posted by the organisation")
    PROVIDER = "provider", _("Posted by an online mail service")


class PrintBatch(models.Model):
    """One PDF of the letters to post, in postal order, and its list."""

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.CASCADE, related_name="+"
    )
    day = models.DateField()
    file = models.FileField(upload_to="letters/batches/")
    count = models.PositiveIntegerField()
    registered = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"print batch of {self.day} ({self.count} letters)"


class Letter(models.Model):
    """A letter made by a send (or by hand), waiting for its print batch or sent on by an
    online mail service. ``data`` is what its template received: the batch typesets the
    same letter again, with the others, in one document."""

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    customer = models.ForeignKey("ledger.Customer", on_delete=models.CASCADE, related_name="+")
    communication = models.OneToOneField(
        "dunning.Communication", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    template = models.CharField(max_length=64)
    module = models.CharField(max_length=80)  # the template module it was typeset with
    language = models.CharField(max_length=8)
    day = models.DateField()
    registered = models.BooleanField(default=False)
    route = models.CharField(max_length=16, choices=Route.choices, default=Route.PRINT)
    recipient = models.JSONField()  # {"name": ..., "lines": [...]} as in the window
    country = models.CharField(max_length=2)
    postcode = models.CharField(max_length=16, blank=True)
    data = models.JSONField()
    pdf = models.FileField(upload_to="letters/%Y/%m/")
    batch = models.ForeignKey(
        PrintBatch, null=True, blank=True, on_delete=models.SET_NULL, related_name="letters"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(fields=["organisation", "route", "batch", "day"], name="letter_to_print"),
        ]

    def __str__(self) -> str:
        return f"{self.template} letter to {self.recipient.get('name', '')}"


class Terms(models.Model):
    """The organisation's terms of sale (conditions générales de vente), the file the
    hand-over attaches: a court, an insurer or a lawyer reads the penalty clause there."""

    organisation = models.OneToOneField(
        "accounts.Organisation", on_delete=models.CASCADE, related_name="terms_of_sale"
    )
    file = models.FileField(upload_to="terms/")
    name = models.CharField(max_length=200)  # the file's name as given
    sha256 = models.CharField(max_length=64)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.name
