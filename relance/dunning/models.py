"""Dunning: scenarios and their steps, the state of each item, pauses (promises, plans),
the outbox of communications, tasks for people, and the late-payment rate tables."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


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
