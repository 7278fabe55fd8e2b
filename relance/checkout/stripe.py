"""Stripe, through its HTTP API with ``requests`` (no SDK): a Checkout Session to pay an
amount, and the verification of the webhooks' ``Stripe-Signature``.

Stripe's API takes form-encoded bodies (nested fields written ``a[b][c]``), answers JSON,
and authenticates with the secret key (``Authorization: Bearer sk_...``). A POST carries an
``Idempotency-Key``: retried with the same key, Stripe answers the first result rather than
creating a second session. Amounts are integers in the currency's minor unit: cents for the
euro, whole yen for the yen (``ZERO_DECIMAL``), thousandths for the dinars
(``THREE_DECIMAL``, where Stripe wants the last digit 0).

A webhook's ``Stripe-Signature`` header is ``t=<unix time>,v1=<hex>[,v1=<hex>...]``: each
``v1`` is the HMAC-SHA256, keyed with the endpoint's signing secret, of ``"<t>.<raw body>"``.
While a secret is rolled Stripe signs with both, hence several ``v1``; other schemes (``v0``)
are ignored. A timestamp more than ``TOLERANCE`` seconds from now is refused: a captured
request cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import requests

from relance.checkout.config import Account

TOLERANCE = 300  # seconds, as Stripe's own libraries
SESSIONS = "/v1/checkout/sessions"
ZERO_DECIMAL = frozenset({
    "BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV",
    "XAF", "XOF", "XPF",
})  # fmt: skip
THREE_DECIMAL = frozenset({"BHD", "JOD", "KWD", "OMR", "TND"})
METADATA_VALUE = 500  # characters, Stripe's limit on a metadata value
ATTEMPTS = 2  # a lost answer or a 5xx is tried once more, under the same Idempotency-Key


class StripeError(Exception):
    """Stripe refused the request or could not be reached."""


class SignatureError(ValueError):
    """A webhook whose signature, timestamp or body is not what Stripe sends."""


# -- amounts ------------------------------------------------------------------------------


def exponent(currency: str) -> int:
    code = currency.upper()
    return 0 if code in ZERO_DECIMAL else 3 if code in THREE_DECIMAL else 2


def minor_units(amount: Decimal, currency: str) -> int:
    """``amount`` as Stripe's integer in the currency's minor unit; ValueError when it has
    more decimals than the currency (cents of a yen)."""
    units = amount.scaleb(exponent(currency))
    if units != units.to_integral_value():
        raise ValueError(f"{amount} {currency} has more decimals than {currency} allows")
    return int(units)


def from_minor_units(units: int, currency: str) -> Decimal:
    """Stripe's integer back to an amount with two decimals, as the ledger keeps money."""
    return Decimal(int(units)).scaleb(-exponent(currency)).quantize(Decimal("0.01"))


# -- the Checkout Session -------------------------------------------------------------------


@dataclass(frozen=True)
class LineItem:
    name: str
    amount: Decimal


@dataclass(frozen=True)
class SessionRequest:
    """What Relance asks Stripe for: one payment of the items, in one currency."""

    currency: str
    items: Sequence[LineItem]
    success_url: str
    cancel_url: str
    reference: str  # client_reference_id: Relance's session
    metadata: dict[str, str]
    customer_email: str = ""
    locale: str = "auto"
    description: str = ""


def session_form(request: SessionRequest) -> list[tuple[str, str]]:
    """The form fields of ``POST /v1/checkout/sessions`` (payment mode, one-off prices)."""
    currency = request.currency.lower()
    form: list[tuple[str, str]] = [
        ("mode", "payment"),
        ("success_url", request.success_url),
        ("cancel_url", request.cancel_url),
        ("client_reference_id", request.reference),
        ("locale", request.locale),
    ]
    for index, item in enumerate(request.items):
        prefix = f"line_items[{index}]"
        form += [
            (f"{prefix}[price_data][currency]", currency),
            (f"{prefix}[price_data][unit_amount]", str(minor_units(item.amount, currency))),
            (f"{prefix}[price_data][product_data][name]", item.name),
            (f"{prefix}[quantity]", "1"),
        ]
    if request.customer_email:
        form.append(("customer_email", request.customer_email))
    # On the session (read back by the webhook) and on its payment (seen in Stripe's
    # dashboard and its payout reports, where the accountant reconciles).
    for key, value in request.metadata.items():
        form.append((f"metadata[{key}]", value[:METADATA_VALUE]))
        form.append((f"payment_intent_data[metadata][{key}]", value[:METADATA_VALUE]))
    if request.description:
        form.append(("payment_intent_data[description]", request.description[:1000]))
    return form


class Client:
    """Stripe's API for one account."""

    def __init__(self, account: Account, session: requests.Session | None = None):
        self.account = account
        self.http = session or requests.Session()

    def create_session(
        self, form: Sequence[tuple[str, str]], idempotency_key: str
    ) -> dict[str, Any]:
        """A new Checkout Session; its JSON (``id``, ``url``, ``expires_at``, ...)."""
        answer = self._post(SESSIONS, form, idempotency_key)
        if not isinstance(answer.get("id"), str) or not str(answer.get("url", "")).startswith(
            "https://"
        ):
            raise StripeError("Stripe answered a Checkout Session without an id or an https url")
        return answer

    def _post(self, path: str, form: Sequence[tuple[str, str]], key: str) -> dict[str, Any]:
        url = self.account.api_base + path
        headers = {
            "Authorization": f"Bearer {self.account.secret_key}",
            "Idempotency-Key": key,
            "Accept": "application/json",
        }
        problem = ""
        for _attempt in range(ATTEMPTS):
            try:
                answer = self.http.post(
                    url, data=list(form), headers=headers, timeout=self.account.timeout
                )
            except requests.RequestException as error:
                problem = f"Stripe unreachable: {type(error).__name__}"
                continue
            if answer.status_code >= 500 or answer.status_code == 429:
                problem = f"Stripe: HTTP {answer.status_code} {_error(answer)}"
                continue
            if answer.status_code >= 400:
                raise StripeError(f"Stripe refused: HTTP {answer.status_code} {_error(answer)}")
            try:
                data = answer.json()
            except ValueError:
                raise StripeError("Stripe answered something that is not JSON") from None
            if not isinstance(data, dict):
                raise StripeError("Stripe answered something that is not a JSON object")
            return data
        raise StripeError(problem)


def _error(answer: requests.Response) -> str:
    """Stripe's ``{"error": {"type", "code", "message", "param"}}``, briefly."""
    try:
        error = answer.json().get("error") or {}
    except (ValueError, AttributeError):
        return ""
    parts = [str(error.get(key)) for key in ("type", "code", "param", "message") if error.get(key)]
    return ": ".join(parts)[:300]


# -- webhooks -----------------------------------------------------------------------------


def signature(secret: str, timestamp: int | str, payload: bytes) -> str:
    """The ``v1`` signature Stripe computes for ``payload`` sent at ``timestamp``."""
    signed = str(timestamp).encode("ascii") + b"." + payload
    return hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def verify(
    payload: bytes,
    header: str,
    secrets: Iterable[str],
    *,
    now: float,
    tolerance: int = TOLERANCE,
) -> dict[str, Any]:
    """The event of a webhook request, once its ``Stripe-Signature`` is checked against
    ``secrets`` (any of them, any ``v1`` of the header, compared in constant time) and its
    timestamp is within ``tolerance`` seconds of ``now``. SignatureError otherwise."""
    timestamp = ""
    signatures: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            timestamp = value
        elif key == "v1" and value:
            signatures.append(value)
    if not timestamp.isdigit() or len(timestamp) > 12:
        raise SignatureError("no timestamp in the Stripe-Signature header")
    if not signatures:
        raise SignatureError("no v1 signature in the Stripe-Signature header")
    expected = [signature(secret, timestamp, payload) for secret in secrets if secret]
    # Every pair compared, whichever matches, so that the time taken tells nothing.
    matched = False
    for given in signatures:
        for wanted in expected:
            matched |= hmac.compare_digest(given.encode("ascii", "replace"), wanted.encode())
    if not matched:
        raise SignatureError("no signature matches the endpoint's signing secret")
    if abs(now - int(timestamp)) > tolerance:
        raise SignatureError(f"the timestamp is more than {tolerance} seconds from now")
    try:
        event = json.loads(payload)
    except ValueError:
        raise SignatureError("the body is not JSON") from None
    if not (
        isinstance(event, dict)
        and isinstance(event.get("id"), str)
        and isinstance(event.get("type"), str)
        and isinstance((event.get("data") or {}).get("object"), dict)
    ):
        raise SignatureError("the body is not a Stripe event")
    return event
