"""The Vonage SMS API (formerly Nexmo): sending, and checking what it posts back.

Sending is one form-encoded ``POST {base}/sms/json`` per recipient with ``api_key`` and
``api_secret`` (or, signed, ``timestamp`` and ``sig`` in place of the secret), ``from``,
``to`` (E.164 without its +), ``text``, ``type=unicode`` when the text is not GSM-7,
``client-ref`` (ours, echoed in the receipts) and ``callback`` (where receipts go). The
answer is always JSON, HTTP 200 even for errors::

    {"message-count": "1", "messages": [{"to": "33612345678", "message-id": "0A00...",
      "status": "0", "remaining-balance": "3.14", "message-price": "0.05", "network": "20801"}]}

one entry per segment; a non-zero ``status`` (with ``error-text``) means that segment was
not accepted. Delivery receipts and inbound messages come to our webhooks as form or query
parameters, signed when the account has signed webhooks: ``sig`` over every other
parameter (see ``signature``), with a ``timestamp`` we require to be fresh.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import requests
from django.conf import settings
from django.utils.translation import gettext_noop
from urllib3.exceptions import MaxRetryError, NewConnectionError

from relance.channels.base import TransportError

DEFAULT_BASE_URL = "https://rest.nexmo.com"

# The API's ``status`` codes (developer.vonage.com/messaging/sms/guides/troubleshooting-sms).
# Worth another try later: throttled, the platform's own errors, credit to top up, and our
# account's configuration (credentials, signature, sender), which a person fixes, as an
# SMTP server refusing our own sender address.
TRANSIENT = {
    "1": "throttled",
    "4": "invalid credentials",
    "5": "internal error",
    "8": "account barred",
    "9": "quota exceeded: top up the account",
    "10": "too many existing binds",
    "11": "account not enabled for HTTP",
    "14": "invalid signature",
    "15": "invalid sender address",
    "23": "invalid callback URL",
    "32": "signature and API secret both given",
}
# Never as it is: this message or this number.
PERMANENT = {
    "2": "missing parameters",
    "3": "invalid parameters",
    "6": "invalid message (unknown number prefix)",
    "7": "number barred",
    "12": "message too long",
    "22": "invalid network code",
    "29": "destination not whitelisted (demo account)",
    "33": "number de-activated",
}
# Of those, the ones that say the number itself cannot receive texts.
NUMBER_REFUSED = frozenset({"6", "7", "33"})

# Signature methods as the dashboard names them, to the hash they use; "md5hash" is the
# default: MD5 over the parameters followed by the secret, not an HMAC.
METHODS = {"md5hash": None, "md5": "md5", "sha1": "sha1", "sha256": "sha256", "sha512": "sha512"}


@dataclass(frozen=True)
class Config:
    api_key: str
    api_secret: str
    signature_secret: str
    signature_method: str
    sign_requests: bool
    base_url: str
    callback_url: str
    timeout: float

    @property
    def can_send(self) -> bool:
        if not self.api_key:
            return False
        return bool(self.signature_secret if self.sign_requests else self.api_secret)


def config() -> Config:
    return Config(
        api_key=getattr(settings, "VONAGE_API_KEY", ""),
        api_secret=getattr(settings, "VONAGE_API_SECRET", ""),
        signature_secret=getattr(settings, "VONAGE_SIGNATURE_SECRET", ""),
        signature_method=getattr(settings, "VONAGE_SIGNATURE_METHOD", "md5hash").lower(),
        sign_requests=getattr(settings, "VONAGE_SIGN_REQUESTS", False),
        base_url=(getattr(settings, "VONAGE_BASE_URL", "") or DEFAULT_BASE_URL).rstrip("/"),
        callback_url=getattr(settings, "RELANCE_SMS_CALLBACK_URL", ""),
        timeout=float(getattr(settings, "RELANCE_SMS_TIMEOUT", 10)),
    )


# -- signatures ---------------------------------------------------------------------------


def signature(params: Mapping[str, str], secret: str, method: str = "md5hash") -> str:
    """Vonage's signature of ``params`` (``sig`` itself left out), lower-case hex: each
    parameter sorted by name as ``&name=value``, ``&`` and ``=`` in values written ``_``;
    then MD5 of that followed by the secret ("md5hash"), or its HMAC keyed by the secret."""
    if method not in METHODS:
        raise ValueError(f"unknown signature method {method!r}: one of {', '.join(METHODS)}")
    signed = "".join(
        f"&{name}={str(params[name]).replace('&', '_').replace('=', '_')}"
        for name in sorted(params)
        if name != "sig"
    ).encode()
    digest = METHODS[method]
    if digest is None:
        return hashlib.md5(signed + secret.encode(), usedforsecurity=True).hexdigest()
    return hmac.new(secret.encode(), signed, digest).hexdigest()


def check_signature(
    params: Mapping[str, str],
    secret: str,
    method: str = "md5hash",
    *,
    now: float | None = None,
    max_age: int = 300,
) -> str:
    """ "" when ``params`` carry a valid ``sig`` and a ``timestamp`` within ``max_age``
    seconds of ``now``; else what is wrong (a replayed or forged request), a message marked
    for translation (the audit trail says it in its reader's language)."""
    given = str(params.get("sig", ""))
    if not given:
        return gettext_noop("no signature")
    try:
        stamp = int(str(params.get("timestamp", "")))
    except ValueError:
        return gettext_noop("no timestamp")
    current = time.time() if now is None else now
    if abs(current - stamp) > max_age:
        return gettext_noop("timestamp too old or in the future")
    expected = signature(params, secret, method)
    if not hmac.compare_digest(given.lower().encode(), expected.encode()):
        return gettext_noop("bad signature")
    return ""


# -- sending ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Accepted:
    number: str
    message_ids: tuple[str, ...]
    price: str = ""
    balance: str = ""


def form(
    cfg: Config, *, sender: str, number: str, text: str, unicode: bool, ref: str
) -> dict[str, str]:
    """The form of one send to ``number`` (E.164 with its +)."""
    fields = {
        "api_key": cfg.api_key,
        "from": sender,
        "to": number.removeprefix("+"),
        "text": text,
        "type": "unicode" if unicode else "text",
        "client-ref": ref,
    }
    if cfg.callback_url:
        fields["callback"] = cfg.callback_url
        fields["status-report-req"] = "1"
    if cfg.sign_requests:
        fields["timestamp"] = str(int(time.time()))
        fields["sig"] = signature(fields, cfg.signature_secret, cfg.signature_method)
    else:
        fields["api_secret"] = cfg.api_secret
    return fields


def send_one(session: requests.Session, cfg: Config, fields: dict[str, str]) -> Accepted:
    """One request; raises ``TransportError`` saying whether it may have left."""
    number = "+" + fields["to"]
    try:
        response = session.post(
            f"{cfg.base_url}/sms/json",
            data=fields,
            timeout=(min(cfg.timeout, 5.0), cfg.timeout),
            headers={"Accept": "application/json"},
        )
    except (requests.ConnectionError, requests.ConnectTimeout) as error:
        if isinstance(error, requests.ConnectTimeout) or _before_sending(error):
            raise TransportError(f"cannot reach Vonage: {_describe(error)}") from error
        raise TransportError(
            f"connection to Vonage lost: {_describe(error)}", ambiguous=True
        ) from error
    except requests.RequestException as error:  # read time-out and the like: it may have left
        raise TransportError(
            f"no answer from Vonage: {_describe(error)}", ambiguous=True
        ) from error
    return read_answer(response.status_code, response.text, number)


def _before_sending(error: Exception) -> bool:
    """Whether a connection error happened before the request left: no connection was
    made (refused, no route, unknown name: urllib3's ``NewConnectionError``)."""
    reason = error.args[0] if error.args else None
    if isinstance(reason, MaxRetryError):
        reason = reason.reason
    return isinstance(reason, NewConnectionError)


def read_answer(status: int, body: str, number: str) -> Accepted:
    """The outcome of one request from its HTTP status and JSON body."""
    if status == 429 or status == 503:
        raise TransportError(f"Vonage answered HTTP {status}")
    if status >= 500:
        raise TransportError(f"Vonage answered HTTP {status}", ambiguous=True)
    if status >= 400:
        raise TransportError(f"Vonage refused the request: HTTP {status}", permanent=True)
    try:
        answer = json.loads(body)
        messages = list(answer["messages"])
    except (ValueError, KeyError, TypeError) as error:
        raise TransportError(
            f"unreadable answer from Vonage: {body[:200]!r}", ambiguous=True
        ) from error
    accepted = [m for m in messages if str(m.get("status")) == "0"]
    if accepted:
        # Some segments taken, others not: it left, in part; the receipts tell the rest.
        return Accepted(
            number,
            tuple(str(m.get("message-id", "")) for m in accepted),
            price=str(accepted[0].get("message-price", "")),
            balance=str(accepted[-1].get("remaining-balance", "")),
        )
    return _refusal(messages, number)


def _refusal(messages: list[dict[str, Any]], number: str) -> Accepted:
    codes = [str(m.get("status", "")) for m in messages] or ["?"]
    texts = [str(m.get("error-text", "")) for m in messages]
    described = (
        "; ".join(
            f"{code} {TRANSIENT.get(code) or PERMANENT.get(code) or 'unknown'}"
            + (f" ({text})" if text else "")
            for code, text in zip(codes, texts, strict=False)
        )
        or "no message in the answer"
    )
    if all(code in PERMANENT for code in codes):
        refused = [number] if any(code in NUMBER_REFUSED for code in codes) else []
        raise TransportError(
            f"Vonage refused {number}: {described}", permanent=True, refused=refused
        )
    if all(code in TRANSIENT for code in codes):
        raise TransportError(f"Vonage deferred {number}: {described}")
    # A code we do not know: the message was not accepted; a person looks at it.
    raise TransportError(f"Vonage did not accept {number}: {described}", permanent=True)


def _describe(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"[:500]
