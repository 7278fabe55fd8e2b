"""E-mail: building the message of a communication, and the transport that sends it over
one reused connection of Django's e-mail backend (SMTP by default, a provider through
django-anymail by settings alone)."""

from __future__ import annotations

import functools
import logging
import smtplib
from collections.abc import Callable, Sequence
from datetime import date
from email.header import decode_header, make_header
from email.message import Message
from email.mime.base import MIMEBase
from email.mime.image import MIMEImage
from email.utils import formataddr, make_msgid
from email.utils import parseaddr as _parseaddr
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.message import SafeMIMEMultipart
from django.core.mail.utils import DNS_NAME
from django.utils.module_loading import import_string

from relance.accounts.identity import sender_of
from relance.channels import registry, templates
from relance.channels.base import Delivery, NoRecipient, Outgoing, TransportError
from relance.channels.context import message_context
from relance.channels.paying import Payment
from relance.channels.smtp import TrackingMixin
from relance.dunning.batch import THREAD_DEPTH, Facts
from relance.dunning.models import Communication, CommunicationItem, StepChannel
from relance.ledger.models import Contact, Customer

log = logging.getLogger(__name__)

# Attachments stop being added past this size: a reminder that bounces for its size helps
# nobody (most servers refuse 20 to 25 MB, base64 adds a third).
MAX_ATTACHMENTS_BYTES = 10 * 1024 * 1024


# -- addresses ----------------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def parseaddr(address: str) -> tuple[str, str]:
    """``email.utils.parseaddr``, kept: 10 to 20 µs a call, several calls a message, on
    the same few addresses (the sender's on every message)."""
    return _parseaddr(address)


def recipients_for(customer: Customer, contacts: Sequence[Contact]) -> list[str]:
    """The customer's dunning contacts with a valid e-mail; else its billing e-mail; else
    any contact with a valid e-mail. Formatted ``Name <address>``."""
    usable = [c for c in contacts if c.email and c.email_valid]
    primary = [c for c in usable if c.is_primary]
    if primary:
        return _unique([formataddr((c.name, c.email)) for c in primary])
    if customer.email:
        return [formataddr((customer.legal_name, customer.email))]
    if usable:
        return [formataddr((usable[0].name, usable[0].email))]
    raise NoRecipient(f"no valid e-mail address for {customer.legal_name}")


def _unique(addresses: list[str]) -> list[str]:
    seen: set[str] = set()
    kept = []
    for address in addresses:
        bare = parseaddr(address)[1].lower()
        if bare not in seen:
            seen.add(bare)
            kept.append(address)
    return kept


def sender_for(comm: Communication, agent: Any = None) -> tuple[str, list[str]]:
    """From and Reply-To. From is our own address under the organisation's sender name
    (or its ``agent``'s name, white label) unless ``RELANCE_EMAIL_FROM_ORGANISATION`` is set
    (the organisation's domain must then authorise our servers: SPF, DKIM); replies go to
    its reply-to address, or the agent's (``identity.sender_of``)."""
    org = comm.organisation
    name, reply_address = sender_of(org)
    if agent is not None:
        name, reply_address = agent.name, agent.email or reply_address
    own = parseaddr(settings.DEFAULT_FROM_EMAIL)[1] or settings.DEFAULT_FROM_EMAIL
    if getattr(settings, "RELANCE_EMAIL_FROM_ORGANISATION", False) and org.email:
        own = org.email
    reply_to = [formataddr((name, reply_address))] if reply_address else []
    return formataddr((name, own)), reply_to


def message_id_domain() -> str:
    configured = getattr(settings, "RELANCE_MESSAGE_ID_DOMAIN", "")
    if configured:
        return str(configured)
    address = parseaddr(settings.DEFAULT_FROM_EMAIL)[1]
    return address.rpartition("@")[2] or str(DNS_NAME)


def bare_address(address: str) -> str:
    return parseaddr(address)[1].lower()


# -- building -----------------------------------------------------------------------------


def thread_headers(earlier: Sequence[str]) -> dict[str, str]:
    """In-Reply-To and References to the earlier e-mails to this customer (oldest first),
    so that the reader's mail client shows one conversation."""
    if not earlier:
        return {}
    recent = list(earlier[-THREAD_DEPTH:])
    return {"In-Reply-To": recent[-1], "References": " ".join(recent)}


def invoice_pdfs(items: Sequence[CommunicationItem], facts: Facts) -> list[tuple[str, bytes]]:
    files: list[tuple[str, bytes]] = []
    size = 0
    for item in items:
        for attachment in facts.attachments.get(item.invoice_id, []):
            try:
                with attachment.file.open("rb") as fh:
                    content = fh.read()
            except OSError as error:  # a missing file must not stop the reminder
                log.warning("attachment %s unreadable: %s", attachment.pk, error)
                continue
            size += len(content)
            if size > MAX_ATTACHMENTS_BYTES:
                log.warning("attachments over %s bytes: the rest left out", MAX_ATTACHMENTS_BYTES)
                return files
            files.append((attachment.name, content))
    return files


# The metadata key naming the communication, read back by ``dunning.bounces``.
COMMUNICATION_METADATA = "relance_communication"


def build_email(
    comm: Communication, items: Sequence[CommunicationItem], today: date, facts: Facts
) -> Outgoing:
    """The message for ``comm`` listing ``items``; raises ``NoRecipient``."""
    to = recipients_for(comm.customer, facts.contacts.get(comm.customer_id, []))
    context = message_context(comm, items, today, facts)
    payment, code = context.get("payment"), None
    if isinstance(payment, Payment) and payment.code is not None:
        code = payment.code
        context["payment"] = payment.shown_at(f"cid:{code.content_id}")
    rendered = templates.render(
        organisation_slug=comm.organisation.slug,
        channel=StepChannel.EMAIL,
        language=comm.language,
        slug=comm.template,
        context=context,
    )
    if comm.edited_text:
        rendered = templates.with_edits(
            rendered, channel=StepChannel.EMAIL, subject=comm.edited_subject,
            text=comm.edited_text, context=context,
        )  # fmt: skip
    from_email, reply_to = sender_for(comm, facts.agents.get(comm.organisation_id))
    message_id = make_msgid(idstring=f"relance.{comm.pk}", domain=message_id_domain())
    headers = {
        "Message-ID": message_id,
        **thread_headers(facts.thread.get(comm.customer_id, [])),
        "X-Relance-Communication": str(comm.pk),
    }
    message = InlineImagesEmail(
        subject=rendered.subject,
        body=rendered.text,
        from_email=from_email,
        to=to,
        reply_to=reply_to,
        headers=headers,
    )
    # Providers (django-anymail) echo it in their bounce webhooks, with their own message IDs.
    message.metadata = {COMMUNICATION_METADATA: str(comm.pk)}  # type: ignore[attr-defined]
    if rendered.html is not None:
        message.attach_alternative(rendered.html, "text/html")
        # The payment code, when the HTML shows it (an organisation's own wording may not).
        if code is not None and f"cid:{code.content_id}" in rendered.html:
            message.attach(inline_image(code.png(), code.content_id))
    for name, content in invoice_pdfs(items, facts):
        message.attach(name, content, "application/pdf")
    return Outgoing(
        payload=prepared(message),
        message_id=message_id,
        recipients=tuple(bare_address(a) for a in to),
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html or "",
    )


def inline_image(png: bytes, content_id: str) -> MIMEImage:
    """An image the HTML part shows (``<img src="cid:...">``), not an attachment to open:
    a Content-ID and ``Content-Disposition: inline``, without a file name. Providers
    (django-anymail) take such a part from ``attachments`` as an inline image."""
    image = MIMEImage(png, "png")
    image.add_header("Content-ID", f"<{content_id}>")
    image.add_header("Content-Disposition", "inline")
    return image


def _inline(attachment: Any) -> bool:
    return isinstance(attachment, MIMEBase) and attachment["Content-ID"] is not None


class InlineImagesEmail(EmailMultiAlternatives):
    """A message whose inline images (``inline_image``) travel with its HTML part in a
    ``multipart/related`` part (RFC 2387), as mail programs expect to find them: Django
    would put them among the attachments (``multipart/mixed``), where some list them as
    files and leave the HTML's image blank. The attachments proper stay where they were::

        multipart/mixed
            multipart/alternative
                text/plain
                multipart/related
                    text/html
                    image/png (Content-ID)
            application/pdf ...
    """

    def _create_alternatives(self, msg: Any) -> Any:
        msg = super()._create_alternatives(msg)  # type: ignore[misc]
        inline = [attachment for attachment in self.attachments if _inline(attachment)]
        if inline and msg.is_multipart():
            parts = msg.get_payload()
            html = parts[-1]  # the last alternative is the HTML, the one the reader sees
            related = SafeMIMEMultipart(
                _subtype="related", encoding=self.encoding or settings.DEFAULT_CHARSET
            )
            related.set_param("type", "text/html")
            related.attach(html)
            for image in inline:
                related.attach(image)
            parts[-1] = related
        return msg

    def _create_attachments(self, msg: Any) -> Any:
        every = self.attachments
        self.attachments = [attachment for attachment in every if not _inline(attachment)]
        try:
            return super()._create_attachments(msg)  # type: ignore[misc]
        finally:
            self.attachments = every


def prepared(message: EmailMultiAlternatives) -> EmailMultiAlternatives:
    """The message, written already if the e-mail backend can (``smtp.EmailBackend``): in
    the thread that builds messages, not in the one that talks to the server."""
    prepare = _preparer(settings.EMAIL_BACKEND)
    if prepare is not None:
        prepare(message)
    return message


@functools.lru_cache(maxsize=8)
def _preparer(backend: str) -> Callable[[EmailMultiAlternatives], None] | None:
    try:
        return getattr(import_string(backend), "prepare", None)
    except ImportError:  # the transport reports it, as for any backend
        return None


def shown_message(message: Message) -> dict[str, Any]:
    """Headers (decoded, as the reader's mail program shows them), text and HTML parts and
    attachments of a message as it goes on the wire."""
    headers = {name: str(make_header(decode_header(value))) for name, value in message.items()}
    parts: dict[str, Any] = {"headers": headers, "text": "", "html": "", "attachments": []}
    for part in message.walk():
        if part.is_multipart():
            continue
        filename = part.get_filename()
        if filename:
            parts["attachments"].append(filename)
        elif part.get_content_type() in ("text/plain", "text/html"):
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)  # a leaf part decodes to bytes
            charset = part.get_content_charset() or "utf-8"
            text = payload.decode(charset).replace("\r\n", "\n")
            parts["text" if part.get_content_type() == "text/plain" else "html"] = text
    return parts


# -- sending ------------------------------------------------------------------------------


class EmailTransport:
    """Django's e-mail backend, opened once per batch."""

    channel: str = StepChannel.EMAIL

    def __init__(self) -> None:
        self.backend = get_connection(fail_silently=False)

    def open(self) -> None:
        try:
            self.backend.open()
        except Exception as error:
            self.close()
            raise TransportError(f"cannot connect: {describe(error)}") from error

    def send(self, message: Any) -> Delivery:
        # Opened here too: after an error the connection is closed, and Django's
        # send_messages() would otherwise open and close one for this message alone.
        self.open()
        connection = getattr(self.backend, "connection", None)
        if isinstance(connection, TrackingMixin):
            connection.reset_tracking()
        try:
            sent = self.backend.send_messages([message])
        except Exception as error:
            data_sent = getattr(connection, "data_sent", None)
            self.close()  # whatever happened, the next message starts on a clean connection
            raise classify(error, data_sent) from error
        if sent != 1:
            raise TransportError("the e-mail backend did not send the message", permanent=True)
        # Refused by some recipients, accepted by others: sent, and the refusals noted.
        codes = {
            bare_address(addr): code
            for addr, (code, _) in (getattr(connection, "last_refused", None) or {}).items()
        }
        return Delivery(
            refused=tuple(addr for addr, code in codes.items() if code >= 500),
            details={"refused": codes} if codes else {},
        )

    def close(self) -> None:
        try:
            self.backend.close()
        except Exception as error:  # the outcome of every message is known already
            log.info("closing the e-mail connection: %s", error)


def classify(error: Exception, data_sent: bool | None) -> TransportError:
    """What a sending error means for the message (see ``base``).

    ``data_sent`` is whether the end of the message had left when the error happened
    (None: the backend cannot tell).
    """
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = {bare_address(addr): code for addr, (code, _) in error.recipients.items()}
        refused = [addr for addr, code in codes.items() if code >= 500]
        permanent = len(refused) == len(codes)
        return TransportError(
            f"recipients refused: {codes}",
            permanent=permanent,
            refused=refused if permanent else (),
        )
    if isinstance(error, smtplib.SMTPSenderRefused):
        # Our own address refused: a configuration matter, not this message's. Retried,
        # then a person looks at it.
        return TransportError(f"sender refused: {describe(error)}")
    if isinstance(error, smtplib.SMTPResponseException):
        # The server answered with a code: it did not take the message.
        return TransportError(describe(error), permanent=error.smtp_code >= 500)
    if isinstance(error, OSError):  # smtplib's errors, lost connections, time-outs
        if data_sent is False:
            return TransportError(f"connection lost before the message left: {describe(error)}")
        return TransportError(
            f"connection lost after the message left: {describe(error)}", ambiguous=True
        )
    anymail = _classify_anymail(error)
    if anymail is not None:
        return anymail
    # Unknown: the message may have left. A person checks rather than a blind retry.
    return TransportError(f"unexpected error: {describe(error)}", ambiguous=True)


def _classify_anymail(error: Exception) -> TransportError | None:
    try:
        from anymail.exceptions import AnymailAPIError, AnymailRecipientsRefused
    except ImportError:
        return None
    if isinstance(error, AnymailRecipientsRefused):
        message = getattr(error, "email_message", None)
        refused = [bare_address(a) for a in message.recipients()] if message else []
        return TransportError(describe(error), permanent=True, refused=refused)
    if isinstance(error, AnymailAPIError):
        status = getattr(error, "status_code", None)
        if status is None:  # no answer from the provider: maybe sent
            return TransportError(describe(error), ambiguous=True)
        # The provider answered: 429 and 5xx are worth another try, other 4xx are not.
        return TransportError(describe(error), permanent=status < 500 and status != 429)
    return None


def describe(error: Exception) -> str:
    if isinstance(error, smtplib.SMTPResponseException):
        text = (
            error.smtp_error.decode(errors="replace")
            if isinstance(error.smtp_error, bytes)
            else str(error.smtp_error)
        )
        return f"{error.smtp_code} {text}"
    return f"{type(error).__name__}: {error}"[:1000]


registry.register(StepChannel.EMAIL, build=build_email, transport=EmailTransport)
