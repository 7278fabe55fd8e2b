"""Every page carries a Content-Security-Policy without inline scripts or styles and the
usual security headers, in a production-settings process as in the default install."""

from __future__ import annotations

import datetime as dt
import http.client
import os
import re
import secrets
import signal
import subprocess
import sys
import time
import urllib.parse

import factories as f
import pytest
from commands import ready

POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "frame-ancestors": "'none'",
    "form-action": "'self'",
    "base-uri": "'none'",
    "object-src": "'none'",
}
DENIED_FEATURES = ("camera", "microphone", "geolocation", "payment", "usb")


def directives(header: str) -> dict[str, str]:
    parts = (part.strip().partition(" ") for part in header.split(";") if part.strip())
    return {name: value for name, _, value in parts}


def assert_secure_headers(headers: dict[str, str], page: str) -> None:
    assert directives(headers["Content-Security-Policy"]) == POLICY, page
    permissions = headers["Permissions-Policy"]
    for feature in DENIED_FEATURES:
        assert f"{feature}=()" in permissions, (page, feature)
    assert headers["Cross-Origin-Opener-Policy"] == "same-origin", page
    assert headers["Referrer-Policy"] == "same-origin", page
    assert headers["X-Content-Type-Options"] == "nosniff", page
    assert headers["X-Frame-Options"] == "DENY", page


# A production-settings process: gunicorn behind a TLS proxy (X-Forwarded-Proto).


class Client:
    """Requests as a browser behind the TLS proxy sends them, keeping the (secure) cookies
    by hand since they are never sent over plain HTTP otherwise."""

    def __init__(self, port: int):
        self.port = port
        self.cookies: dict[str, str] = {}

    def request(
        self, method: str, path: str, form: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], str]:
        origin = f"https://127.0.0.1:{self.port}"
        headers = {"X-Forwarded-Proto": "https", "Host": f"127.0.0.1:{self.port}"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers |= {"Content-Type": "application/x-www-form-urlencoded",
                        "Origin": origin, "Referer": origin + path}  # fmt: skip
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            for value in response.headers.get_all("Set-Cookie") or []:
                name, _, rest = value.partition("=")
                self.cookies[name] = rest.split(";", 1)[0]
            return response.status, dict(response.headers), response.read().decode()
        finally:
            connection.close()


@pytest.fixture(scope="module")
def production(tmp_path_factory):
    """`relance serve` with the settings of docs/deployment.md, and a member to sign in."""
    from test_serve import free_port

    tmp = tmp_path_factory.mktemp("production")
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "RELANCE_DATA_DIR": str(ready(tmp / "data")),
        "DATABASE_URL": "",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "RELANCE_HTTPS": "1",
        "ALLOWED_HOSTS": "127.0.0.1",
        "RELANCE_PASSWORD": "correct-horse-battery",
    }
    relance = [sys.executable, "-m", "relance"]
    for command in (["createorg", "acme", "--name", "Acme SAS"],
                    ["createuser", "alice@acme.test", "--org", "acme"]):  # fmt: skip
        subprocess.run([*relance, *command], env=env, check=True, capture_output=True)
    log = (tmp / "server.log").open("w+")
    process = subprocess.Popen(
        [*relance, "serve", "--port", str(port), "--workers", "1"],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, "the server exited"
            try:
                Client(port).request("GET", "/login/")
                break
            except OSError:
                assert time.monotonic() < deadline, "the server did not answer"
                time.sleep(0.3)
        yield port
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        log.close()


@pytest.mark.slow
@pytest.mark.once("sqlite")
def test_it_sends_the_policy_and_headers_on_every_page_in_production(production):
    client = Client(production)
    for page in ("/login/", "/admin/login/"):
        status, headers, body = client.request("GET", page)
        assert status == 200, page
        assert_secure_headers(headers, page)
        assert headers["Strict-Transport-Security"].startswith("max-age=31536000")
        assert "<script>" not in body and " style=" not in body, page

    status, headers, _ = client.request("GET", "/login/")
    token = client.cookies["csrftoken"]
    status, headers, _ = client.request(
        "POST", "/login/", {"csrfmiddlewaretoken": token, "username": "alice@acme.test",
                            "password": "correct-horse-battery", "next": "/"},
    )  # fmt: skip
    assert status == 302 and headers["Location"] == "/"
    for page in ("/", "/account/two-factor/"):
        status, headers, body = client.request("GET", page)
        assert status == 200, page
        assert_secure_headers(headers, page)
        # What a member sees is never kept by a browser's or a proxy's cache.
        assert "no-store" in headers["Cache-Control"], page
        assert " style=" not in body, page


# The default install, through Django's test client.


def test_it_draws_the_aged_balance_without_inline_styles(client, org, owner):
    today = dt.date.today()
    customer = f.customer(org)
    f.invoice(customer, due=today + dt.timedelta(days=10), amount="400.00")
    f.invoice(customer, due=today - dt.timedelta(days=40), amount="100.00")
    client.force_login(owner)
    response = client.get("/dashboard/")
    page = response.content.decode()
    assert response.status_code == 200
    assert " style=" not in page
    assert "Content-Security-Policy" in response.headers
    widths = re.findall(r'<rect class="aging-bar aging-(\d)" width="(\d+)%"', page)
    # Each bucket's bar as a share of the largest: 400 not due, 100 at 31-60 days.
    assert widths == [("1", "100"), ("2", "0"), ("3", "25"), ("4", "0"), ("5", "0")]


def test_it_sends_the_headers_on_the_admin_pages_of_a_signed_in_superuser(client, db):
    from django.contrib.auth import get_user_model

    admin = get_user_model().objects.create_superuser("root", "root@acme.test", "pw-long-enough")
    client.force_login(admin)
    for page in ("/admin/", "/admin/auth/user/", f"/admin/auth/user/{admin.pk}/change/"):
        response = client.get(page)
        assert response.status_code == 200, page
        assert_secure_headers(response.headers, page)
        assert "no-store" in response.headers["Cache-Control"], page


def test_it_leaves_caching_alone_for_visitors_not_signed_in(client, db):
    response = client.get("/favicon.ico")
    assert response.headers["Cache-Control"] == "max-age=86400"
    assert "Permissions-Policy" in response.headers
