"""An organisation's own wording of its messages, edited in the console."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class TemplatePart(models.TextChoices):
    SUBJECT = "subject.txt", _("Subject")
    TEXT = "txt", _("Text")
    HTML = "html", _("HTML")


class MessageTemplate(models.Model):
    """One part of one template, overriding the shipped wording for one organisation:
    served to the template engine as ``org-<slug>/channels/<channel>/<lang>/<slug>.<part>``
    (see relance.channels.templates)."""

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    channel = models.CharField(max_length=24)
    language = models.CharField(max_length=8)
    slug = models.SlugField(max_length=64)
    part = models.CharField(max_length=16, choices=TemplatePart.choices)
    body = models.TextField()
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "channel", "language", "slug", "part"],
                name="message_template_unique",
            )
        ]

    def __str__(self) -> str:
        return f"{self.channel}/{self.language}/{self.slug}.{self.part}"
