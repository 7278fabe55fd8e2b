"""A Stripe on loopback: ``POST /v1/checkout/sessions`` as Stripe's API reference documents
it, in memory, with the standard library; and the webhook events Stripe sends, signed as
Stripe signs them.

It checks what a client must send: the secret key as a bearer token (one of the accounts it
knows, 401 otherwise), a form-encoded body, ``mode=payment``, the URLs, each line item's
``price_data`` (a lower-case currency, an integer ``unit_amount`` in minor units, a product
name) and quantity, no parameter Stripe would not know (400 ``parameter_unknown``), and an
``Idempotency-Key``: the same key with the same body answers the first session again; with
another body, 400 ``idempotency_error``. It answers the Checkout Session object (id ``cs_test_...``,
``url``, ``amount_total``, ``expires_at``...). A test may make the next calls fail
(``fail_next``)."""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from relance.checkout import stripe

# What the client may send (``line_items[N][...]``, ``metadata[...]`` and
# ``payment_intent_data[metadata][...]`` with any index or key).
ALLOWED = re.compile(
    r"^(mode|success_url|cancel_url|client_reference_id|customer_email|locale"
    r"|line_items\[\d+\]\[(quantity|price_data\]\[(currency|unit_amount"
    r"|product_data\]\[name))\]"
    r"|metadata\[[^\[\]]{1,40}\]"
    r"|payment_intent_data\[(description|metadata\]\[[^\[\]]{1,40})\])$"
)
LOCALES = {"auto", "fr", "en", "de", "es", "it", "nl"}


class FakeStripe:
    def __init__(self, keys: dict[str, str]):
        self.keys = keys  # secret key -> account name
        self.sessions: dict[str, dict[str, Any]] = {}
        self.accounts: dict[str, str] = {}  # session id -> account name
        self.requests: list[dict[str, Any]] = []  # every call: headers and form
        self.by_key: dict[tuple[str, str], tuple[list[tuple[str, str]], dict[str, Any]]] = {}
        self.failures: list[tuple[int, bool]] = []  # (status, after doing the work)
        self.lock = threading.Lock()
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        server.daemon_threads = True
        self.server = server
        self.thread = threading.Thread(target=server.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeStripe:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def fail_next(self, status: int, *, after: bool = False) -> None:
        """The next call answers ``status``; ``after``: once it did its work (an answer
        lost on the way: the session exists)."""
        self.failures.append((status, after))

    # -- events, as Stripe sends them -----------------------------------------------------

    def event(
        self, session_id: str, type: str = "checkout.session.completed", *, paid: bool = True,
        amount_total: int | None = None, created: int | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """The event Stripe sends when the debtor finished (or their payment settled)."""
        session = dict(self.sessions[session_id])
        if type != "checkout.session.expired":
            session["status"] = "complete"
            session["payment_intent"] = session["payment_intent"] or "pi_" + _token(24)
            self.sessions[session_id]["payment_intent"] = session["payment_intent"]
        else:
            session["status"] = "expired"
        session["payment_status"] = "paid" if paid else "unpaid"
        if amount_total is not None:
            session["amount_total"] = amount_total
        return {
            "id": "evt_" + _token(24),
            "object": "event",
            "api_version": "2024-06-20",
            "created": created or int(time.time()),
            "data": {"object": session},
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": type,
        }


def sign(event: dict[str, Any] | bytes, *secrets_: str, at: int | None = None) -> tuple[bytes, str]:
    """The body and the ``Stripe-Signature`` header Stripe sends, signed with each secret."""
    body = event if isinstance(event, bytes) else json.dumps(event, indent=2).encode()
    timestamp = int(time.time()) if at is None else at
    parts = [f"t={timestamp}"] + [f"v1={stripe.signature(s, timestamp, body)}" for s in secrets_]
    # Stripe also sends a v0 signature in test mode, which clients ignore.
    parts.append("v0=" + "0" * 64)
    return body, ",".join(parts)


def _token(n: int) -> str:
    return secrets.token_hex(n)[:n]


def _error(kind: str, message: str, param: str = "", code: str = "") -> dict[str, Any]:
    error = {"type": kind, "message": message}
    if param:
        error["param"] = param
    if code:
        error["code"] = code
    return {"error": error}


def _create_session(
    fake: FakeStripe, account: str, form: list[tuple[str, str]]
) -> tuple[int, dict[str, Any]]:
    fields = dict(form)
    for name, _ in form:
        if not ALLOWED.match(name):
            return 400, _error("invalid_request_error", f"Received unknown parameter: {name}",
                               name, "parameter_unknown")  # fmt: skip
    if fields.get("mode") != "payment":
        return 400, _error("invalid_request_error", "mode must be payment here", "mode")
    for url in ("success_url", "cancel_url"):
        if not fields.get(url, "").startswith(("http://", "https://")):
            return 400, _error(
                "invalid_request_error", f"Not a valid URL: {url}", url, "url_invalid"
            )
    if fields.get("locale", "auto") not in LOCALES:
        return 400, _error("invalid_request_error", "Invalid locale", "locale")
    if len(fields.get("client_reference_id", "")) > 200:
        return 400, _error("invalid_request_error", "Too long", "client_reference_id")
    items: dict[int, dict[str, str]] = {}
    for name, value in form:
        match = re.match(r"line_items\[(\d+)\]\[(.*)\]$", name)
        if match:
            items.setdefault(int(match.group(1)), {})[match.group(2)] = value
    if not items or sorted(items) != list(range(len(items))) or len(items) > 100:
        return 400, _error("invalid_request_error", "line_items is required", "line_items")
    currencies = set()
    total = 0
    for index, item in items.items():
        currency = item.get("price_data][currency", "")
        amount = item.get("price_data][unit_amount", "")
        if not re.fullmatch(r"[a-z]{3}", currency):
            return 400, _error("invalid_request_error", "Invalid currency",
                               f"line_items[{index}][price_data][currency]")  # fmt: skip
        if not amount.isdigit() or int(amount) <= 0:
            return 400, _error("invalid_request_error", "Invalid integer",
                               f"line_items[{index}][price_data][unit_amount]")  # fmt: skip
        if not item.get("price_data][product_data][name"):
            return 400, _error("invalid_request_error", "Missing product name",
                               f"line_items[{index}][price_data][product_data][name]")  # fmt: skip
        if item.get("quantity") != "1":
            return 400, _error("invalid_request_error", "Invalid quantity",
                               f"line_items[{index}][quantity]")  # fmt: skip
        currencies.add(currency)
        total += int(amount)
    if len(currencies) != 1:
        return 400, _error("invalid_request_error", "Line items must share one currency")
    session_id = "cs_test_" + _token(58)
    created = int(time.time())
    session = {
        "id": session_id,
        "object": "checkout.session",
        "amount_subtotal": total,
        "amount_total": total,
        "cancel_url": fields["cancel_url"],
        "client_reference_id": fields.get("client_reference_id"),
        "created": created,
        "currency": currencies.pop(),
        "customer": None,
        "customer_email": fields.get("customer_email"),
        "expires_at": created + 24 * 3600,
        "livemode": False,
        "locale": fields.get("locale"),
        "metadata": {k[9:-1]: v for k, v in form if k.startswith("metadata[")},
        "mode": "payment",
        "payment_intent": None,
        "payment_method_types": ["card", "sepa_debit"],
        "payment_status": "unpaid",
        "status": "open",
        "success_url": fields["success_url"],
        "url": f"https://checkout.stripe.com/c/pay/{session_id}#fidkdWxOYHwnPyd1blpxYHZxWjA0",
    }
    fake.sessions[session_id] = session
    fake.accounts[session_id] = account
    return 200, session


def _handler(fake: FakeStripe) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode()
            form = urllib.parse.parse_qsl(raw, keep_blank_values=True)
            with fake.lock:
                fake.requests.append(
                    {"path": self.path, "headers": dict(self.headers.items()), "form": form}
                )
                status, body = self.answer(form)
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Request-Id", "req_" + _token(14))
            self.end_headers()
            self.wfile.write(data)

        def answer(self, form: list[tuple[str, str]]) -> tuple[int, dict[str, Any]]:
            failure = fake.failures.pop(0) if fake.failures else None
            if failure and not failure[1]:
                return failure[0], _error("api_error", "Something went wrong")
            auth = self.headers.get("Authorization", "")
            key = auth.removeprefix("Bearer ")
            if not auth.startswith("Bearer ") or key not in fake.keys:
                return 401, _error("invalid_request_error", "Invalid API Key provided")
            if self.headers.get("Content-Type", "").split(";")[0] != (
                "application/x-www-form-urlencoded"
            ):
                return 400, _error("invalid_request_error", "Form-encoded bodies only")
            if self.path != stripe.SESSIONS:
                return 404, _error("invalid_request_error", f"Unrecognized request URL {self.path}")
            idempotency = self.headers.get("Idempotency-Key", "")
            if idempotency:
                seen = fake.by_key.get((key, idempotency))
                if seen is not None:
                    if seen[0] != form:
                        return 400, _error("idempotency_error", "Keys for idempotent requests "
                                           "can only be used with the same parameters")  # fmt: skip
                    return 200, seen[1]
            status, body = _create_session(fake, fake.keys[key], form)
            if idempotency and status == 200:
                fake.by_key[(key, idempotency)] = (form, body)
            if failure:
                return failure[0], _error("api_error", "Something went wrong")
            return status, body

    return Handler
