"""Letters made for posting and the daily print batches."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models.fields.json import KT
from django.db.models.functions import Cast
from django.utils.translation import gettext_lazy as _


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


class LetterQuerySet(models.QuerySet["Letter"]):
    def with_pages(self) -> LetterQuerySet:
        """Each letter's number of pages (``letter.pages``) without loading its data."""
        pages = Cast(KT("data__pages"), models.IntegerField())
        return self.defer("data").annotate(pages=pages)


class Letter(models.Model):
    """A letter made by a send (or by hand), waiting for its print batch or sent on by an
    online mail service. ``pdf`` is the letter as sent, which the print batch prints;
    ``data`` is what its template received, with its number of ``pages``."""

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

    objects = LetterQuerySet.as_manager()

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
