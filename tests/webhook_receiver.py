"""A webhook receiver on loopback (http.server in a thread), as a customer's integration
would run one: it checks every request's signature with Relance's documented
``verify`` and answers what the test scripts (a status, headers, a delay)."""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from relance.hooks.signing import VerificationError, verify


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    verified: bool
    problem: str = ""

    @property
    def payload(self) -> dict[str, Any]:
        return json.loads(self.body)


@dataclass
class Receiver:
    server: ThreadingHTTPServer
    secret: str = ""
    answers: deque[tuple[int, dict[str, str], float]] = field(default_factory=deque)
    received: list[Received] = field(default_factory=list)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/hooks"

    def answer(self, status: int, headers: dict[str, str] | None = None, delay: float = 0) -> None:
        """The next request gets this answer (then 200, once the script is used up)."""
        self.answers.append((status, headers or {}, delay))


def start() -> Receiver:
    receiver: Receiver

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                verify(receiver.secret, headers, body)
                got = Received(headers, body, True)
            except VerificationError as exc:
                got = Received(headers, body, False, str(exc))
            receiver.received.append(got)
            status, extra, delay = receiver.answers.popleft() if receiver.answers else (200, {}, 0)
            if delay:
                time.sleep(delay)
            try:
                self.send_response(status)
                for name, value in extra.items():
                    self.send_header(name, value)
                self.send_header("content-type", "text/plain")
                self.end_headers()
                self.wfile.write(b"ok" if status < 300 else f"status {status}".encode())
            except OSError:
                pass  # the sender gave up waiting

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver = Receiver(server)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return receiver
