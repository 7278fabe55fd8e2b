"""Signatures as the Standard Webhooks specification defines them (standardwebhooks.com).

The sender adds three headers: ``webhook-id`` (the message's id, the same on every retry
and replay), ``webhook-timestamp`` (Unix seconds of this attempt) and ``webhook-signature``:
``v1,`` and the base64 HMAC-SHA256 of ``{id}.{timestamp}.{body}`` keyed with the secret's
decoded bytes (the secret is ``whsec_`` + base64), several space-separated during a
secret's rotation. ``verify`` is what a receiver runs; docs/webhooks.md shows it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Iterable, Mapping

PREFIX = "whsec_"
TOLERANCE = 5 * 60  # seconds a timestamp may differ from the receiver's clock


class VerificationError(ValueError):
    pass


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(PREFIX))


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """One ``v1,<base64>`` signature of ``body`` sent as ``message_id`` at ``timestamp``."""
    content = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(
    secrets_: Iterable[str], message_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """The three headers of a message, signed with each secret (current one first)."""
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(sign(s, message_id, timestamp, body) for s in secrets_),
    }


def verify(
    secret: str, headers: Mapping[str, str], body: bytes, *, now: float | None = None
) -> None:
    """Raises ``VerificationError`` unless ``body`` was signed with ``secret`` within
    ``TOLERANCE`` seconds of ``now``. ``headers`` with lower-case names (or any mapping
    whose ``get`` ignores case, as most frameworks' do)."""
    message_id = headers.get("webhook-id")
    stamp = headers.get("webhook-timestamp")
    signatures = headers.get("webhook-signature")
    if not message_id or not stamp or not signatures:
        raise VerificationError("missing webhook-id, webhook-timestamp or webhook-signature")
    try:
        timestamp = int(stamp)
    except ValueError:
        raise VerificationError("webhook-timestamp is not a number of seconds") from None
    if abs((time.time() if now is None else now) - timestamp) > TOLERANCE:
        raise VerificationError("webhook-timestamp too old or too new")
    expected = sign(secret, message_id, timestamp, body)
    for signature in signatures.split():
        if hmac.compare_digest(signature.encode(), expected.encode()):
            return
    raise VerificationError("no matching signature")
