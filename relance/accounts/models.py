"""Organisations (the creditor companies, i.e. tenants) and their members."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    ADMIN = "admin", _("Administrator")
    MANAGER = "manager", _("Credit manager")
    COLLECTOR = "collector", _("Collector")
    VIEWER = "viewer", _("Viewer")


class Organisation(models.Model):
    """A creditor company. Every tenant table points here and every query filters on it."""

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=200)
    legal_name = models.CharField(_("legal name"), max_length=200, blank=True)
    siren = models.CharField("SIREN", max_length=9, blank=True)
    vat_number = models.CharField(_("VAT number"), max_length=20, blank=True)
    country = models.CharField(_("country"), max_length=2, default="FR")
    currency = models.CharField(_("currency"), max_length=3, default="EUR")
    language = models.CharField(_("language"), max_length=8, default="fr")
    timezone = models.CharField(_("time zone"), max_length=64, default="Europe/Paris")
    # An item whose balance is at or under this amount is not dunned (rounding leftovers).
    min_balance = models.DecimalField(
        _("minimum balance"), max_digits=18, decimal_places=2, default=Decimal("1.00")
    )
    # The reply address of every reminder; a run queues no e-mail without it.
    email = models.EmailField(_("e-mail"), blank=True)
    phone = models.CharField(_("phone"), max_length=32, blank=True)
    address = models.TextField(_("address"), blank=True)
    signature = models.TextField(_("signature"), blank=True)
    iban = models.CharField("IBAN", max_length=34, blank=True)
    bic = models.CharField("BIC", max_length=11, blank=True)
    # No reminder on a channel within this many days of the previous one on it.
    contact_gap = models.PositiveSmallIntegerField(_("contact gap (days)"), default=3)
    # The name e-mails are sent under and where replies go (the e-mail above when empty).
    sender_name = models.CharField(_("sender name"), max_length=200, blank=True)
    reply_to = models.EmailField(_("reply-to address"), blank=True)
    # Printed at the top of letters; the logo is an uploaded PNG or JPEG (never SVG:
    # relance/accounts/logo.py).
    letterhead = models.TextField(_("letterhead"), blank=True)
    logo = models.FileField(_("logo"), upload_to="logos/", blank=True)
    # Days after a promised date before the promise counts as broken (the default of new
    # promises).
    promise_grace_days = models.PositiveSmallIntegerField(_("promise grace (days)"), default=2)
    # Days the company is closed beyond weekends and public holidays (ISO dates): no run
    # sends on them.
    closed_days = models.JSONField(_("closed days"), default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="memberships"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organisation", "user"], name="membership_unique")
        ]

    def __str__(self) -> str:
        return f"{self.user} @ {self.organisation} ({self.role})"


class AgentKind(models.TextChoices):
    AGENCY = "agency", _("Collection agency")
    INSURER = "insurer", _("Credit insurer")


class Agent(models.Model):
    """A collection agency or credit insurer sending the organisation's letters in its own
    name, for the organisation (white label). Active: every letter is written by it."""

    organisation = models.OneToOneField(
        Organisation, on_delete=models.CASCADE, related_name="agent"
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
