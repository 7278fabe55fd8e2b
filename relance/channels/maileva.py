"""Maileva (Docaposte, La Poste group): registered letters printed and posted for us.

The API "Envoi et Suivi de Lettres Recommandées En Ligne distribuées par le facteur"
(``registered_mail/v2``, OpenAPI 2.5), as its specification documents it:

1. ``POST /sendings`` (JSON: name, custom_id, acknowledgement_of_receipt, colour, duplex,
   notification_email, sender_address_line_1..6, sender_country_code) makes a DRAFT;
2. ``POST /sendings/{id}/documents``, multipart ``document`` + ``metadata``
   (``{"priority": 1, "name": ...}``), adds the PDF;
3. ``POST /sendings/{id}/recipients`` (address_line_1..6, country_code, custom_id);
4. ``POST /sendings/{id}/submit`` sends it to production (it cannot be cancelled);
5. ``GET /sendings/{id}``, ``GET /sendings/{id}/recipients/{rid}`` (registered_number,
   acknowledgement_of_receipt_url) and ``.../delivery_statuses`` (La Poste's and Maileva's
   codes: A01 taken in charge, D01 delivered, N01 AR signed, ...) follow it;
6. ``GET .../download_acknowledgement_of_receipt`` is the AR scan (with
   ``acknowledgement_of_receipt_scanning``: Maileva receives and scans the paper AR),
   ``GET /sendings/{id}/download_deposit_proof`` the proof of deposit.

Every call carries a bearer token from Maileva's OpenID Connect server
(``connexion.maileva.com``): the client's id and secret in HTTP Basic, and the account's
user name and password (``grant_type=password``, as Maileva documents); without a user
name, the client-credentials grant. A 401 fetches a new token once and tries again. Set-up:
docs/registered-mail.md.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.utils import timezone

from relance.channels.models import ReturnReason
from relance.channels.registered_mail import (
    Options,
    PostalAddress,
    Proof,
    ProviderError,
    Status,
    Submission,
    Tracking,
    TrackingEvent,
)

SANDBOX = {
    "API_URL": "https://api.sandbox.maileva.net/registered_mail/v2",
    "AUTH_URL": "https://connexion.sandbox.maileva.net/auth/realms/services/protocol/openid-connect/token",
}
PRODUCTION = {
    "API_URL": "https://api.maileva.com/registered_mail/v2",
    "AUTH_URL": "https://connexion.maileva.com/auth/realms/services/protocol/openid-connect/token",
}
# The countries the API takes (its ``country_code`` enumeration).
COUNTRIES = {"FR", "MC", "AD", "RE", "YT", "MQ", "GP", "MF", "BL", "GF", "PM"}
LINE_LENGTH = 38

# delivery_statuses codes, as the specification lists them.
POSTED = {"A01"}  # Pris en charge
PRESENTED = {"A02", "A05", "P01", "P02"}  # Avisé, tentative infructueuse, au guichet, ...
DELIVERED = {"D01"}
ACKNOWLEDGED = {"N01"}  # AR signé : RAR distribué
RETURNS = {
    "N03": ReturnReason.NOT_COLLECTED, "P03": ReturnReason.NOT_COLLECTED,
    "A14": ReturnReason.NOT_COLLECTED, "A17": ReturnReason.NOT_COLLECTED,
    "N05": ReturnReason.REFUSED, "N08": ReturnReason.REFUSED, "A16": ReturnReason.REFUSED,
    "A18": ReturnReason.REFUSED, "P04": ReturnReason.REFUSED, "P05": ReturnReason.REFUSED,
    "P06": ReturnReason.REFUSED,
    "N02": ReturnReason.UNDELIVERABLE, "N04": ReturnReason.UNDELIVERABLE,
    "N07": ReturnReason.UNDELIVERABLE, "N10": ReturnReason.UNDELIVERABLE,
    "A19": ReturnReason.UNDELIVERABLE, "A21": ReturnReason.UNDELIVERABLE,
    "A22": ReturnReason.UNDELIVERABLE, "A23": ReturnReason.UNDELIVERABLE,
    "A24": ReturnReason.UNDELIVERABLE, "A26": ReturnReason.UNDELIVERABLE,
    "A25": ReturnReason.OTHER, "N06": ReturnReason.OTHER, "N09": ReturnReason.OTHER,
}  # fmt: skip

# Tokens per (token URL, client, user), shared by the providers of one process.
_tokens: dict[tuple[str, str, str], tuple[str, float]] = {}
_tokens_lock = threading.Lock()


def config() -> dict[str, Any]:
    """settings.RELANCE_MAILEVA, its URLs defaulting to the sandbox or production."""
    given: dict[str, Any] = dict(settings.RELANCE_MAILEVA)
    defaults = SANDBOX if given.get("SANDBOX", True) else PRODUCTION
    for key, url in defaults.items():
        given[key] = (given.get(key) or url).rstrip("/")
    return given


class Maileva:
    name = "maileva"

    def __init__(self, settings_: Mapping[str, Any] | None = None):
        self.config = dict(settings_) if settings_ is not None else config()
        self.api = self.config["API_URL"].rstrip("/")
        self.timeout = float(self.config.get("TIMEOUT") or 30)
        self.session = requests.Session()

    # -- the Provider protocol ---------------------------------------------------------

    def submit(
        self, pdf: bytes, recipient: PostalAddress, sender: PostalAddress, options: Options,
        state: dict[str, Any],
    ) -> Submission:  # fmt: skip
        to = _lines(recipient, "recipient")
        if "sending_id" not in state:
            body: dict[str, Any] = {
                "name": options.name or options.reference or "Relance",
                "custom_id": options.reference[:38],
                "acknowledgement_of_receipt": options.acknowledgement,
                # Maileva receives the paper AR, scans it and serves it (the proof).
                "acknowledgement_of_receipt_scanning": options.acknowledgement,
                "color_printing": options.colour,
                "duplex_printing": options.duplex,
                "optional_address_sheet": False,
                "notification_email": self.config.get("NOTIFICATION_EMAIL") or "",
                **{f"sender_{key}": value for key, value in _lines(sender, "sender").items()},
            }
            if not body["notification_email"]:
                raise ProviderError("MAILEVA_NOTIFICATION_EMAIL is not set", temporary=True)
            sending = self._call("POST", "/sendings", json=body).json()
            state["sending_id"] = sending["id"]
        sending_id = state["sending_id"]
        if "document_id" not in state:
            metadata = json.dumps({"priority": 1, "name": "letter.pdf"})
            files = {
                "document": ("letter.pdf", pdf, "application/pdf"),
                "metadata": (None, metadata, "application/json"),
            }
            document = self._call("POST", f"/sendings/{sending_id}/documents", files=files)
            state["document_id"] = document.json()["id"]
        if "recipient_id" not in state:
            body = {"custom_id": options.reference[:32], **to}
            answer = self._call("POST", f"/sendings/{sending_id}/recipients", json=body)
            state["recipient_id"] = answer.json()["id"]
        if not state.get("submitted"):
            try:
                self._call("POST", f"/sendings/{sending_id}/submit")
            except ProviderError as error:
                # Submitted already (an answer lost on the way): it is in production.
                if "SENDING_STATUS_IS_NOT_DRAFT" not in str(error):
                    raise
            state["submitted"] = True
        return Submission(provider_id=sending_id)

    def track(self, provider_id: str, state: Mapping[str, Any]) -> Tracking:
        if not state.get("recipient_id"):
            raise ProviderError("Maileva: no recipient id kept for this sending", temporary=False)
        base = f"/sendings/{provider_id}"
        sending = self._call("GET", base).json()
        recipient_path = f"{base}/recipients/{state['recipient_id']}"
        recipient = self._call("GET", recipient_path).json()
        statuses = self._call(
            "GET", f"{recipient_path}/delivery_statuses", params={"start_index": 1, "count": 500}
        ).json()
        return interpret(sending, recipient, statuses.get("delivery_statuses") or [])

    def proof(self, provider_id: str, state: Mapping[str, Any], status: str) -> Proof | None:
        if status == Status.ACKNOWLEDGED:
            path = f"/sendings/{provider_id}/recipients/{state['recipient_id']}"
            url = self._call("GET", path).json().get("acknowledgement_of_receipt_url")
        else:
            url = self._call("GET", f"/sendings/{provider_id}").json().get("deposit_proof_url")
        if not url:
            return None
        # Documented as application/zip, described as a PDF: either is kept as it comes.
        answer = self._call("GET", url, accept="application/pdf, application/zip, */*")
        return Proof(answer.content, answer.headers.get("Content-Type", ""))

    # -- HTTP ----------------------------------------------------------------------------

    def _url(self, path: str) -> str:
        """An address of the API; the provider's own links (``/sendings/...``) are relative
        to it, and the token never goes to another host."""
        if path.startswith(("http://", "https://")):
            if urlsplit(path).netloc != urlsplit(self.api).netloc:
                raise ProviderError(f"Maileva linked to another host: {path}", temporary=False)
            return path
        return self.api + path

    def _call(
        self, method: str, path: str, *, accept: str = "application/json", **kw: Any
    ) -> requests.Response:
        url = self._url(path)
        for attempt in (1, 2):
            headers = {"Authorization": f"Bearer {self._token(refresh=attempt == 2)}",
                       "Accept": accept}  # fmt: skip
            try:
                answer = self.session.request(
                    method, url, headers=headers, timeout=self.timeout, **kw
                )
            except requests.RequestException as error:
                raise ProviderError(f"Maileva unreachable: {error}", temporary=True) from None
            if answer.status_code == 401 and attempt == 1:
                continue  # the token expired: a new one, once
            if (
                answer.status_code == 429
                or answer.status_code >= 500
                or (answer.status_code == 401)
            ):
                raise ProviderError(
                    f"Maileva {method} {path}: HTTP {answer.status_code} {_errors(answer)}",
                    temporary=True,
                )
            if answer.status_code >= 400:
                raise ProviderError(
                    f"Maileva {method} {path}: HTTP {answer.status_code} {_errors(answer)}",
                    temporary=False,
                )
            return answer
        raise AssertionError("unreachable")

    def _token(self, refresh: bool = False) -> str:
        cfg = self.config
        key = (cfg["AUTH_URL"], cfg.get("CLIENT_ID", ""), cfg.get("USERNAME", ""))
        with _tokens_lock:
            token, expires = _tokens.get(key, ("", 0.0))
            if token and not refresh and time.monotonic() < expires:
                return token
            form = (
                {"grant_type": "password", "username": cfg["USERNAME"],
                 "password": cfg.get("PASSWORD", "")}
                if cfg.get("USERNAME") else {"grant_type": "client_credentials"}
            )  # fmt: skip
            try:
                answer = self.session.post(
                    cfg["AUTH_URL"], data=form, timeout=self.timeout,
                    auth=(cfg.get("CLIENT_ID", ""), cfg.get("CLIENT_SECRET", "")),
                )  # fmt: skip
            except requests.RequestException as error:
                raise ProviderError(
                    f"Maileva sign-in unreachable: {error}", temporary=True
                ) from None
            if answer.status_code != 200:
                # Wrong or revoked credentials are the installation's to fix: letters wait.
                raise ProviderError(
                    f"Maileva refused the sign-in: HTTP {answer.status_code} {answer.text[:200]}",
                    temporary=True,
                )
            data = answer.json()
            token = data["access_token"]
            # Renewed a minute before it expires.
            _tokens[key] = (token, time.monotonic() + max(0, int(data.get("expires_in", 300)) - 60))
            return str(token)


def _errors(answer: requests.Response) -> str:
    """Maileva's error codes and messages (``{"errors": [{"code", "message"}]}`` or one
    ``{"code", "message"}``)."""
    try:
        data = answer.json()
    except ValueError:
        return answer.text[:200]
    found = data.get("errors", [data]) if isinstance(data, dict) else []
    return "; ".join(f"{e.get('code', '')}: {e.get('message', '')}" for e in found
                     if isinstance(e, dict))[:1000]  # fmt: skip


def _lines(address: PostalAddress, who: str) -> dict[str, str]:
    """The six lines of a French address (AFNOR NF Z10-011) as Maileva names them: 1 the
    company, 2 a person, 3 building, 4 number and street, 5 locality or PO box, 6 postcode
    and city. Too long a line is refused here, never cut: the address is the proof's."""
    if address.country not in COUNTRIES:
        raise ProviderError(f"Maileva does not post to {address.country} ({who})",
                            temporary=False)  # fmt: skip
    street = list(address.lines[:4])
    slots = ["address_line_4", "address_line_5", "address_line_3", "address_line_2"]
    lines = {"address_line_1": address.name}
    for slot, text in zip(slots, street, strict=False):
        lines[slot] = text
    lines["address_line_6"] = f"{address.postcode} {address.city}".strip()
    for key, text in lines.items():
        if len(text) > LINE_LENGTH:
            raise ProviderError(
                f"{who} {key}: {text!r} is longer than {LINE_LENGTH} characters", temporary=False
            )
    return {**dict(sorted(lines.items())), "country_code": address.country}


def _day(text: str | None) -> dt.date | None:
    if not text:
        return None
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if timezone.is_naive(moment):
        return moment.date()
    return timezone.localtime(moment).date()


def interpret(
    sending: Mapping[str, Any], recipient: Mapping[str, Any], statuses: Sequence[Mapping[str, Any]]
) -> Tracking:
    """Maileva's sending, recipient and delivery statuses in Relance's terms (pure)."""
    number = str(recipient.get("registered_number") or "")
    if sending.get("status") == "REJECTED" or recipient.get("status") == "REJECTED":
        detail = recipient.get("status_detail") or sending.get("status_detail") or "REJECTED"
        return Tracking(Status.FAILED, number, detail=f"Maileva: {detail}")
    events = tuple(
        TrackingEvent(str(s.get("status", "")), str(s.get("label", "")), str(s.get("date", "")))
        for s in sorted(statuses, key=lambda s: str(s.get("date", "")))
    )
    posted = _day(sending.get("deposit_proof_date"))
    presented = delivered = signed = returned = None
    reason = ""
    for event in events:
        day = _day(event.at)
        if day is None:
            continue
        if event.code in POSTED:
            posted = posted or day
        elif event.code in PRESENTED:
            presented = presented or day
        elif event.code in DELIVERED:
            delivered = delivered or day
            presented = presented or day
        elif event.code in ACKNOWLEDGED:
            signed = signed or day
        elif event.code in RETURNS and not returned:
            returned, reason = day, RETURNS[event.code]
            if reason == ReturnReason.REFUSED:
                presented = presented or day
    if signed:
        # The AR's date is the day it was signed, the delivery; N01 is the day of the scan.
        return Tracking(Status.ACKNOWLEDGED, number, posted, presented, delivered or signed,
                        delivered or signed, events=events)  # fmt: skip
    if returned:
        return Tracking(Status.RETURNED, number, posted, presented, returned_on=returned,
                        return_reason=reason, events=events)  # fmt: skip
    if delivered:
        return Tracking(Status.DELIVERED, number, posted, presented, delivered, events=events)
    if posted:
        return Tracking(Status.POSTED, number, posted, presented, events=events)
    return Tracking(Status.SUBMITTED, number, events=events)
