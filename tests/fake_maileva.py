"""A Maileva on loopback: the sign-in server and the ``registered_mail/v2`` API as Maileva's
OpenAPI specification (version 2.5) documents them, in memory, with the standard library.

It checks what a client must send (HTTP Basic client credentials and the password grant on
the token URL, a bearer token on every call, the JSON bodies' fields, the multipart upload
of a PDF with its metadata, a DRAFT before submit) and answers with the documented shapes.
A test moves a sending through La Poste's statuses (``post``, ``event``) and may make the
next calls fail (``fail_next``) or every token expire (``expire_tokens``)."""

from __future__ import annotations

import base64
import email.parser
import email.policy
import itertools
import json
import re
import threading
import urllib.parse
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CLIENT_ID, CLIENT_SECRET = "relance-client", "s3cret"
USERNAME, PASSWORD = "acme-api", "p4ssword"
API = "/registered_mail/v2"
TOKEN_PATH = "/auth/realms/services/protocol/openid-connect/token"

SENDING_FIELDS = {
    "name", "custom_id", "custom_data", "acknowledgement_of_receipt",
    "acknowledgement_of_receipt_scanning", "color_printing", "duplex_printing",
    "optional_address_sheet", "notification_email", "sender_address_line_1",
    "sender_address_line_2", "sender_address_line_3", "sender_address_line_4",
    "sender_address_line_5", "sender_address_line_6", "sender_country_code",
    "archiving_duration", "return_envelope",
}  # fmt: skip
RECIPIENT_FIELDS = {
    "custom_id", "custom_data", "address_line_1", "address_line_2", "address_line_3",
    "address_line_4", "address_line_5", "address_line_6", "country_code", "documents_override",
}  # fmt: skip
COUNTRIES = {"FR", "MC", "AD", "RE", "YT", "MQ", "GP", "MF", "BL", "GF", "PM"}


@dataclass
class Sending:
    id: str
    body: dict[str, Any]
    status: str = "DRAFT"
    documents: list[dict[str, Any]] = field(default_factory=list)
    recipients: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, str]] = field(default_factory=list)
    deposit_proof_date: str = ""


class FakeMaileva:
    def __init__(self, ar_pdf: bytes, deposit_pdf: bytes):
        self.ar_pdf, self.deposit_pdf = ar_pdf, deposit_pdf
        self.sendings: dict[str, Sending] = {}
        self.tokens: set[str] = set()
        self.token_requests: list[dict[str, Any]] = []
        self.requests: list[tuple[str, str]] = []  # (method, path) of the API's calls
        self.failures: list[tuple[str, int, dict[str, Any]]] = []  # (path part, status, body)
        self.numbers = itertools.count(1)
        self.lock = threading.Lock()
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        server.daemon_threads = True
        self.server = server
        self.thread = threading.Thread(target=server.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def settings(self, **overrides: Any) -> dict[str, Any]:
        return {
            "CLIENT_ID": CLIENT_ID, "CLIENT_SECRET": CLIENT_SECRET, "USERNAME": USERNAME,
            "PASSWORD": PASSWORD, "SANDBOX": True, "API_URL": self.base + API,
            "AUTH_URL": self.base + TOKEN_PATH, "NOTIFICATION_EMAIL": "compta@acme.test",
            "TIMEOUT": 5, **overrides,
        }  # fmt: skip

    def start(self) -> FakeMaileva:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -- what a test does ----------------------------------------------------------------

    def expire_tokens(self) -> None:
        self.tokens.clear()

    def fail_next(self, path_part: str, status: int, body: dict[str, Any] | None = None) -> None:
        """The next call whose path contains ``path_part`` answers ``status``."""
        self.failures.append((path_part, status, body or {}))

    def post(self, sending_id: str, on: str) -> str:
        """Maileva printed it and La Poste took it in charge (A01): PROCESSED, a number."""
        sending = self.sendings[sending_id]
        assert sending.status == "PENDING", sending.status
        sending.status = "PROCESSED"
        sending.deposit_proof_date = f"{on}T16:00:00.000Z"
        number = f"1A{next(self.numbers):011d}"
        for recipient in sending.recipients:
            recipient["status"], recipient["registered_number"] = "PROCESSED", number
        self.event(sending_id, "A01", "Pris en charge", f"{on}T17:00:00.000Z")
        return number

    def event(self, sending_id: str, code: str, label: str, at: str) -> None:
        sending = self.sendings[sending_id]
        sending.events.append({"status": code, "label": label, "date": at})
        recipient = sending.recipients[0]
        recipient["last_delivery_status"], recipient["last_delivery_status_date"] = label, at
        if code == "N01":
            path = f"/sendings/{sending_id}/recipients/{recipient['id']}"
            recipient["acknowledgement_of_receipt_url"] = (
                f"{path}/download_acknowledgement_of_receipt"
            )

    # -- the API -------------------------------------------------------------------------

    def answer(self, handler: BaseHTTPRequestHandler) -> tuple[int, Any, str]:
        """(status, JSON document or bytes, content type) for one request."""
        url = urllib.parse.urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        if url.path == TOKEN_PATH:
            return self.token(handler, raw)
        if not url.path.startswith(API):
            return 404, {"code": "NOT_FOUND", "message": url.path}, ""
        path = url.path[len(API) :]
        self.requests.append((handler.command, path))
        if handler.headers.get("Authorization", "").removeprefix("Bearer ") not in self.tokens:
            return 401, {"code": "UNAUTHORIZED", "message": "invalid or expired token"}, ""
        for n, (part, status, body) in enumerate(self.failures):
            if part in path:
                del self.failures[n]
                return status, body or {"code": "ERROR", "message": "failure asked by the test"}, ""
        with self.lock:
            return self.route(handler.command, path, raw, handler.headers.get("Content-Type", ""))

    def token(self, handler: BaseHTTPRequestHandler, raw: bytes) -> tuple[int, Any, str]:
        basic = handler.headers.get("Authorization", "")
        form = dict(urllib.parse.parse_qsl(raw.decode()))
        content_type = handler.headers.get("Content-Type")
        self.token_requests.append(
            {"authorization": basic, "form": form, "content_type": content_type}
        )
        expected = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if basic != expected:
            return 401, {"error": "unauthorized_client"}, ""
        good = form == {"grant_type": "password", "username": USERNAME, "password": PASSWORD}
        if not good:
            return 401, {"error": "invalid_grant"}, ""
        token = uuid.uuid4().hex
        self.tokens.add(token)
        return 200, {"access_token": token, "expires_in": 3600, "token_type": "Bearer"}, ""

    def route(self, method: str, path: str, raw: bytes, content_type: str) -> tuple[int, Any, str]:
        parts = path.strip("/").split("/")
        if parts == ["sendings"] and method == "POST":
            body = json.loads(raw)
            unknown = set(body) - SENDING_FIELDS
            if unknown or not body.get("name") or not body.get("notification_email"):
                return 400, errors("METADATA_WRONG_FORMAT", f"fields {sorted(unknown)}"), ""
            for key in ("acknowledgement_of_receipt", "acknowledgement_of_receipt_scanning",
                        "color_printing", "duplex_printing", "optional_address_sheet"):  # fmt: skip
                if key in body and not isinstance(body[key], bool):
                    return 400, errors("METADATA_WRONG_FORMAT", key), ""
            if problem := address_problem(body, "sender_"):
                return 400, errors(*problem), ""
            sending = Sending(str(uuid.uuid4()), body)
            self.sendings[sending.id] = sending
            return 201, self.sending_json(sending), ""
        if len(parts) < 2 or parts[1] not in self.sendings:
            return (
                404,
                {"code": "SENDING_NOT_FOUND", "message": "Ressource SENDING introuvable"},
                "",
            )
        sending = self.sendings[parts[1]]
        rest = parts[2:]
        if rest == [] and method == "GET":
            return 200, self.sending_json(sending), ""
        if rest == ["documents"] and method == "POST":
            if sending.status != "DRAFT":
                return 400, errors("SENDING_STATUS_IS_NOT_DRAFT", "not a draft"), ""
            document, metadata = multipart(raw, content_type)
            if document is None or not document.startswith(b"%PDF-"):
                return 400, errors("DOCUMENT_TYPE_NOT_ACCEPTED", "not a PDF"), ""
            if not isinstance(metadata, dict) or set(metadata) - {"priority", "name"}:
                return 400, errors("METADATA_WRONG_FORMAT", repr(metadata)), ""
            if not isinstance(metadata.get("priority"), int):
                return 400, errors("EMPTY_PRIORITY", "priority"), ""
            found = {"id": str(uuid.uuid4()), "priority": metadata["priority"],
                     "name": metadata.get("name", ""), "type": "application/pdf",
                     "size": len(document), "content": document}  # fmt: skip
            sending.documents.append(found)
            return 201, {k: v for k, v in found.items() if k != "content"}, ""
        if rest == ["recipients"] and method == "POST":
            if sending.status != "DRAFT":
                return 400, errors("SENDING_STATUS_IS_NOT_DRAFT", "not a draft"), ""
            body = json.loads(raw)
            if set(body) - RECIPIENT_FIELDS:
                return 400, errors("METADATA_WRONG_FORMAT", f"fields {sorted(body)}"), ""
            if problem := address_problem(body, ""):
                return 400, errors(*problem), ""
            recipient = {"id": str(uuid.uuid4()), **body, "status": "DRAFT"}
            sending.recipients.append(recipient)
            return 201, recipient, ""
        if rest == ["submit"] and method == "POST":
            if sending.status != "DRAFT":
                return 400, errors("SENDING_STATUS_IS_NOT_DRAFT", "already submitted"), ""
            if not sending.documents or not sending.recipients:
                return 400, errors("DOCUMENT_NOT_FOUND", "nothing to send"), ""
            sending.status = "PENDING"
            for recipient in sending.recipients:
                recipient["status"] = "PENDING"
            return 200, None, ""
        if rest == ["download_deposit_proof"] and method == "GET":
            if not sending.deposit_proof_date:
                return 404, {"code": "NOT_FOUND", "message": "no deposit proof yet"}, ""
            return 200, self.deposit_pdf, "application/pdf"
        if len(rest) >= 2 and rest[0] == "recipients" and method == "GET":
            recipient = next((r for r in sending.recipients if r["id"] == rest[1]), None)
            if recipient is None:
                return 404, {"code": "RECIPIENT_NOT_FOUND", "message": rest[1]}, ""
            if rest[2:] == []:
                return 200, recipient, ""
            if rest[2:] == ["delivery_statuses"]:
                return 200, {"delivery_statuses": sending.events,
                             "paging": {"total_results": len(sending.events)}}, ""  # fmt: skip
            if rest[2:] == ["download_acknowledgement_of_receipt"]:
                if "acknowledgement_of_receipt_url" not in recipient:
                    return 404, {"code": "NOT_FOUND", "message": "no AR yet"}, ""
                return 200, self.ar_pdf, "application/pdf"
        return 404, {"code": "NOT_FOUND", "message": path}, ""

    def sending_json(self, sending: Sending) -> dict[str, Any]:
        body = {k: v for k, v in sending.body.items() if k != "return_envelope"}
        found = {
            "id": sending.id, **body, "status": sending.status,
            "creation_date": "2026-11-23T08:30:00.000Z", "documents_count": len(sending.documents),
            "recipients_counts": {"total": len(sending.recipients)},
        }  # fmt: skip
        if sending.deposit_proof_date:
            found["deposit_proof_date"] = sending.deposit_proof_date
            found["deposit_proof_url"] = f"/sendings/{sending.id}/download_deposit_proof"
        return found


def errors(code: str, message: str) -> dict[str, Any]:
    return {"errors": [{"code": code, "message": message}]}


def address_problem(body: dict[str, Any], prefix: str) -> tuple[str, str] | None:
    """The specification's rules for the six address lines."""
    for n in range(1, 7):
        if len(body.get(f"{prefix}address_line_{n}", "")) > 38:
            return f"ADDRESS_LINE_{n}_TOO_LONG", f"line {n}"
    if not prefix:
        if not (body.get("address_line_1") or body.get("address_line_2")):
            return "EMPTY_ADDRESS_LINE_1_OR_ADDRESS_LINE_2", "line 1 or 2"
        if not body.get("address_line_6"):
            return "EMPTY_ADDRESS_LINE_6", "line 6"
    country = body.get(f"{prefix}country_code", "FR")
    if country not in COUNTRIES:
        return "INVALID_COUNTRY_CODE", country
    line6 = body.get(f"{prefix}address_line_6", "")
    if country == "FR" and line6 and not re.fullmatch(r"\d{5} .+", line6):
        return "ADDRESS_LINE_6_WRONG_FORMAT", line6
    return None


def multipart(raw: bytes, content_type: str) -> tuple[bytes | None, Any]:
    """The ``document`` and ``metadata`` parts of a multipart/form-data body."""
    if not content_type.startswith("multipart/form-data"):
        return None, None
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + raw
    )
    document = metadata = None
    for part in message.iter_parts():  # type: ignore[attr-defined]
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if name == "document":
            document = payload
        elif name == "metadata":
            try:
                metadata = json.loads(payload)
            except ValueError:
                metadata = payload
    return document, metadata


def _handler(fake: FakeMaileva) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def respond(self) -> None:
            status, body, content_type = fake.answer(self)
            if isinstance(body, bytes):
                data, content_type = body, content_type or "application/octet-stream"
            elif body is None:
                data, content_type = b"", "application/json"
            else:
                data, content_type = json.dumps(body).encode(), "application/json"
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = do_DELETE = respond

    return Handler
