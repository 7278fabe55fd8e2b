"""Django's SMTP backend, with a connection that knows how far the last message went.

When the connection dies while sending, the question that matters for at-most-once is
whether the end of the message's data (the final ``CRLF.CRLF``) had left: before it, no
server can have accepted the message and it may be retried; after it, the server may
have accepted it before the connection died, and the message is ambiguous. Stock
``smtplib`` does not tell; these few lines do. Partial refusals (some recipients refused,
others accepted), which Django's backend drops, are kept too.

Configure with ``EMAIL_BACKEND = "relance.channels.smtp.EmailBackend"``; any other
backend works as well, with lost connections then treated as ambiguous.
"""

from __future__ import annotations

import smtplib
import socket
from typing import Any

from django.core.mail.backends.smtp import EmailBackend as DjangoSMTPBackend


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


class EmailBackend(DjangoSMTPBackend):
    @property
    def connection_class(self) -> type[smtplib.SMTP]:
        return TrackingSMTPSSL if self.use_ssl else TrackingSMTP
