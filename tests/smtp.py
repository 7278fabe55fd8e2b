"""A real SMTP server on loopback for tests (aiosmtpd in a thread), recording what it
receives and answering what a test tells it to: refusals, temporary errors, a connection
dropped right after the message was taken."""

from __future__ import annotations

import email
import email.policy
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from functools import cached_property
from typing import Any

from aiosmtpd.controller import Controller


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    at: float = field(default_factory=time.monotonic)

    @cached_property
    def message(self) -> EmailMessage:
        return email.message_from_bytes(self.data, policy=email.policy.default)  # type: ignore[return-value]

    @cached_property
    def message_id(self) -> str:
        headers = BytesHeaderParser(policy=email.policy.compat32).parsebytes(self.data)
        return str(headers["Message-ID"]).strip()

    @property
    def subject(self) -> str:
        # Django 5.2 folds an encoded subject onto a continuation line: unfold it.
        # (Its no-break spaces, French typography's, stay.)
        return re.sub(r"[^\S\u00a0\u202f]+", " ", str(self.message["Subject"])).strip()

    def text(self) -> str:
        part = self.message.get_body(preferencelist=("plain",))
        assert part is not None
        return part.get_content()

    def html(self) -> str:
        part = self.message.get_body(preferencelist=("html",))
        assert part is not None
        return part.get_content()


@dataclass
class Recorder:
    """The server's handler. Replies are SMTP lines such as "421 4.3.2 Try later"."""

    received: list[Received] = field(default_factory=list)
    connections: int = 0
    mail_reply: str | None = None  # answer to MAIL FROM instead of 250
    refuse: dict[str, str] = field(default_factory=dict)  # address -> answer to RCPT TO
    data_reply: str | None = None  # answer after the data instead of 250 (message not kept)
    drop_after_data: bool = False  # keep the message, then hang up without answering
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        with self.lock:
            self.connections += 1
        return responses

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if self.mail_reply:
            return self.mail_reply
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        reply = self.refuse.get(address.lower())
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.data_reply:
            return self.data_reply
        with self.lock:
            self.received.append(
                Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content)
            )
        if self.drop_after_data:
            server.transport.abort()  # the message is in; the client never hears so
        return "250 OK"

    def message_ids(self) -> list[str]:
        with self.lock:
            return [r.message_id for r in self.received]

    def count(self) -> int:
        with self.lock:
            return len(self.received)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class SMTPServer:
    """``start()``/``stop()`` can be repeated on the same port (a server going away and
    coming back)."""

    def __init__(self, port: int | None = None) -> None:
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.recorder = Recorder()
        self.controller: Controller | None = None

    def start(self) -> SMTPServer:
        self.controller = Controller(self.recorder, hostname=self.host, port=self.port)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    @property
    def received(self) -> list[Received]:
        return self.recorder.received
