"""The seam between the outbox and a way of delivering messages.

A transport sends one prepared message at a time over a connection it keeps open for a
whole batch (``open`` once, ``send`` many, ``close``). One at a time, rather than
``send(batch)``, because the outbox claims each communication just before handing it over:
a process killed mid-batch then leaves at most one message in doubt, not the batch.

Every failure is a ``TransportError`` saying what the outbox may do next:

- transient: certainly not delivered, worth another try later (connection refused, 4xx);
- permanent: certainly not delivered and never will be as it is (5xx: recipient refused);
- ambiguous: maybe delivered (the connection died after the message left): never retried
  automatically, a person checks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol


class NoRecipient(Exception):
    """The customer has no usable address on the channel: nothing can be sent."""


class Held(Exception):
    """The message may not leave yet and a person must act first (a rate a formal notice
    must state is unknown): it stays queued, tried again later, with a task saying why."""

    def __init__(self, reason: str, *, key: str = "held") -> None:
        super().__init__(reason)
        self.reason = reason
        self.key = key


class TransportError(Exception):
    def __init__(
        self,
        message: str,
        *,
        permanent: bool = False,
        ambiguous: bool = False,
        refused: Sequence[str] = (),
    ) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.ambiguous = ambiguous
        # Addresses the receiving side refused for good: they get marked invalid.
        self.refused = tuple(refused)

    @property
    def kind(self) -> str:
        if self.ambiguous:
            return "ambiguous"
        return "permanent" if self.permanent else "transient"


@dataclass(frozen=True)
class Outgoing:
    """A message ready to go, and what the outbox records before sending it."""

    payload: Any  # what the transport sends: an EmailMessage for e-mail
    message_id: str  # our identifier, recorded before sending: the claim's token
    recipients: tuple[str, ...]
    subject: str = ""
    # What the reader sees, kept with the communication once sent (``sent_text``,
    # ``sent_html``): the text part, and the HTML part if there is one.
    text: str = ""
    html: str = ""


@dataclass(frozen=True)
class Delivery:
    """A message the transport handed over successfully."""

    # Some recipients refused for good while others accepted (SMTP gives this per address).
    refused: tuple[str, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)
    # What the transport keeps of the message (a letter filed for printing), written by the
    # outbox in the transaction that records it sent, in its own thread; returns details.
    record: Callable[[], dict[str, Any]] | None = None


class Transport(Protocol):
    channel: str

    def open(self) -> None:
        """Connect; raises a transient ``TransportError`` when the far end is unreachable."""

    def send(self, message: Any) -> Delivery:
        """Hand over one message; raises ``TransportError``."""

    def close(self) -> None:
        """Disconnect, quietly: the outcome of every message is already known."""
