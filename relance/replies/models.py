"""A customer's reply to a reminder, as received (by a provider's inbound webhook or an
IMAP mailbox), read (``reading``) and acted on by a person (``service``)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class ReplyKind(models.TextChoices):
    PAID = "paid", _("Says it has paid")
    PROMISE = "promise", _("Promises to pay")
    DISPUTE = "dispute", _("Disputes")
    COPY = "copy", _("Asks for a copy of the invoice")
    ABSENCE = "absence", _("Out of office")
    OTHER = "other", _("Other")


class ReplyStatus(models.TextChoices):
    NEW = "new", pgettext_lazy("reply", "New")
    READ = "read", pgettext_lazy("reply", "Read")
    APPLIED = "applied", pgettext_lazy("reply", "Applied")
    DISMISSED = "dismissed", pgettext_lazy("reply", "Dismissed")


class Reply(models.Model):
    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    # None: nobody in the organisation has the sender's address (a person attaches it).
    customer = models.ForeignKey(
        "ledger.Customer", null=True, blank=True, on_delete=models.CASCADE, related_name="replies"
    )
    # The reminder it answers (its In-Reply-To or References name that message).
    communication = models.ForeignKey(
        "dunning.Communication", null=True, blank=True, on_delete=models.SET_NULL,
        related_name="replies",
    )  # fmt: skip
    message_id = models.CharField(max_length=254, blank=True)
    sender = models.CharField(_("from"), max_length=254)
    recipient = models.CharField(_("to"), max_length=254, blank=True)
    subject = models.CharField(_("subject"), max_length=300, blank=True)
    text = models.TextField(_("text"), blank=True)  # its own words, the quote cut
    received_at = models.DateTimeField(_("received"))
    source = models.CharField(max_length=24)  # "anymail:<provider>" or "imap"
    kind = models.CharField(_("kind"), max_length=16, choices=ReplyKind.choices)
    details = models.JSONField(default=dict, blank=True)
    status = models.CharField(
        _("status"), max_length=16, choices=ReplyStatus.choices, default=ReplyStatus.NEW
    )
    # The hold pausing the customer's reminders until a person reads it (shared by the
    # customer's replies not read yet).
    hold = models.ForeignKey(
        "ledger.Hold", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    read_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )  # fmt: skip
    read_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-received_at", "-pk"]
        constraints = [
            # A message delivered twice (a webhook retried, a mailbox polled again) is one.
            models.UniqueConstraint(
                fields=["organisation", "message_id"],
                condition=~models.Q(message_id=""),
                name="reply_once_per_message",
            )
        ]
        indexes = [models.Index(fields=["organisation", "status", "received_at"])]

    def __str__(self) -> str:
        return f"{self.sender}: {self.subject}"


class MailboxSeen(models.Model):
    """The messages of an IMAP mailbox already processed (by UIDVALIDITY and UID), so that
    a message is read once even where it cannot be moved or flagged."""

    mailbox = models.CharField(max_length=300)  # user@host/folder
    uidvalidity = models.BigIntegerField()
    uid = models.BigIntegerField()
    message_id = models.CharField(max_length=254, blank=True)
    outcome = models.CharField(max_length=24)
    seen_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["mailbox", "uidvalidity", "uid"], name="mailbox_seen_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.mailbox} {self.uidvalidity}/{self.uid}: {self.outcome}"
