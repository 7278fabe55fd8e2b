"""The demo's mail backend: messages are written to a file, byte for byte as they would go
to the SMTP server, and never sent.

Like ``relance.channels.smtp.EmailBackend`` it writes each message ahead of sending
(``prepare``, in the thread that builds messages, with its faster writer): the demo sends a
thousand messages while it loads. Messages are separated as Django's file backend does
(a line of 79 dashes); ``EMAIL_FILE_PATH`` names the file, appended to.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage
from django.core.mail.backends.base import BaseEmailBackend

from relance.channels.smtp import WIRE, Wire
from relance.channels.smtp import EmailBackend as SMTPBackend

SEPARATOR = b"\n" + b"-" * 79 + b"\n"


class EmailBackend(BaseEmailBackend):
    prepare = staticmethod(SMTPBackend.prepare)

    def __init__(self, file_path: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.path = Path(file_path or settings.EMAIL_FILE_PATH)  # type: ignore[misc]

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        sent = 0
        with self.path.open("ab") as stream:
            for message in email_messages:
                wire = getattr(message, WIRE, None) or Wire.of(message)
                if wire is not None:
                    stream.write(wire.data + SEPARATOR)
                    sent += 1
        return sent
