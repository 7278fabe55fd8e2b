"""Django's SMTP backend, with a connection that knows how far the last message went.

When the connection dies while sending, the question that matters for at-most-once is
whether the end of the message's data (the final ``CRLF.CRLF``) had left: before it, no
server can have accepted the message and it may be retried; after it, the server may
have accepted it before the connection died, and the message is ambiguous. Stock
``smtplib`` does not tell; these few lines do. Partial refusals (some recipients refused,
others accepted), which Django's backend drops, are kept too.

Configure with ``EMAIL_BACKEND = "relance.channels.smtp.EmailBackend"``; any other
backend works as well, with lost connections then treated as ambiguous.

It also writes messages more cheaply than Django's backend, byte for byte the same (most
of that work went into folding headers that fit on their line, compiling a regular
expression to check each new MIME boundary, and parsing the sender's address again for
every message), and can write them ahead of sending (``EmailBackend.prepare``).
"""

from __future__ import annotations

import functools
import random
import smtplib
import socket
import sys
from dataclasses import dataclass
from email.generator import BytesGenerator
from email.message import Message
from email.policy import Compat32
from io import BytesIO
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage
from django.core.mail.backends.smtp import EmailBackend as DjangoSMTPBackend
from django.core.mail.message import sanitize_address


class TrackingMixin:
    data_sent = False  # the final CRLF.CRLF of the current message has left
    last_refused: dict[str, tuple[int, bytes]] = {}

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        sock: socket.socket = super()._get_socket(host, port, timeout)  # type: ignore[misc]
        # SMTP is a dialogue of small writes; with Nagle's algorithm against the server's
        # delayed ACK, each message waited about 40 ms for nothing.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def reset_tracking(self) -> None:
        self.data_sent = False
        self.last_refused = {}

    def send(self, s: Any) -> None:
        super().send(s)  # type: ignore[misc]
        # data() sends the whole quoted message, ending in CRLF.CRLF, as one bytes call;
        # commands are str. Set only once sendall() returned: every byte was handed over.
        if isinstance(s, bytes) and s.endswith(b"\r\n.\r\n"):
            self.data_sent = True

    def sendmail(self, *args: Any, **kwargs: Any) -> dict[str, tuple[int, bytes]]:
        self.reset_tracking()
        refused: dict[str, tuple[int, bytes]] = super().sendmail(*args, **kwargs)  # type: ignore[misc]
        self.last_refused = refused
        return refused


class TrackingSMTP(TrackingMixin, smtplib.SMTP):
    pass


class TrackingSMTPSSL(TrackingMixin, smtplib.SMTP_SSL):
    pass


@dataclass(frozen=True)
class Wire:
    """A message as it goes to the server: envelope and bytes."""

    sender: str
    recipients: list[str]
    data: bytes

    @classmethod
    def of(cls, email_message: EmailMessage) -> Wire | None:
        """What Django's ``_send`` (5.2) hands to ``sendmail``; None without recipients."""
        if not email_message.recipients():
            return None
        encoding = email_message.encoding or settings.DEFAULT_CHARSET
        return cls(
            _sanitize(email_message.from_email, encoding),
            [_sanitize(address, encoding) for address in email_message.recipients()],
            as_bytes(email_message.message()),
        )


class EmailBackend(DjangoSMTPBackend):
    @property
    def connection_class(self) -> type[smtplib.SMTP]:
        return TrackingSMTPSSL if self.use_ssl else TrackingSMTP

    @staticmethod
    def prepare(email_message: EmailMessage) -> None:
        """Write the message now rather than when it is sent: the outbox builds the next
        message while a thread of its own talks to the server, and that thread is then
        left with the dialogue alone. The message must not change afterwards."""
        setattr(email_message, WIRE, Wire.of(email_message))

    def _send(self, email_message: EmailMessage) -> bool:
        wire = getattr(email_message, WIRE, None) or Wire.of(email_message)
        if wire is None or self.connection is None:  # send_messages() opened it
            return False
        try:
            self.connection.sendmail(wire.sender, wire.recipients, wire.data)
        except smtplib.SMTPException:
            if not self.fail_silently:
                raise
            return False
        return True


WIRE = "relance_wire"


@functools.lru_cache(maxsize=1024)
def _sanitize(address: str, encoding: str) -> str:
    # A pure function of its arguments, and 0.1 ms a call: the sender's address is the
    # same for every message of a batch.
    return str(sanitize_address(address, encoding))


class FastFolding(Compat32):
    """Django's policy (compat32), with a short cut for the usual header: printable ASCII
    that fits on its line, which compat32's folding returns unchanged (checked against it
    in the tests), after 20 µs of work per header."""

    def _fold(self, name: str, value: Any, sanitize: bool) -> str:
        limit = self.max_line_length or sys.maxsize
        if (
            isinstance(value, str)
            and value.isascii()
            and value.isprintable()
            and not value.endswith(" ")  # folding drops trailing blanks
            and len(name) + 2 + len(value) <= limit
        ):
            return f"{name}: {value}{self.linesep}"
        return str(super()._fold(name, value, sanitize))  # type: ignore[misc]


class Writer(BytesGenerator):
    @classmethod
    def _make_boundary(cls, text: Any = None) -> str:
        # The stock check compiles a regular expression for each new boundary (to look
        # for it at the start of a line); absent from the text, it is absent from its lines.
        while True:
            boundary = f"{'=' * 15}{random.randrange(sys.maxsize):019d}=="
            marker = f"--{boundary}"
            if text is None or (marker.encode() if isinstance(text, bytes) else marker) not in text:
                return boundary


FAST_FOLDING = FastFolding()


def as_bytes(message: Message) -> bytes:
    """What Django's ``message.as_bytes(linesep="\\r\\n")`` writes."""
    out = BytesIO()
    Writer(out, mangle_from_=False, policy=FAST_FOLDING).flatten(message, linesep="\r\n")
    return out.getvalue()
