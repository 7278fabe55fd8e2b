"""`relance serve` as a user runs it: a real gunicorn process on a free port."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from commands import ready

pytestmark = [pytest.mark.slow, pytest.mark.once("sqlite")]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get(url: str) -> tuple[int, dict[str, str], bytes]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, dict(response.headers), response.read()


def wait_until_up(url: str, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server exited with status {process.returncode}")
        try:
            get(url)
            return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.3)
    raise AssertionError(f"nothing answered on {url} within {timeout} s")


@pytest.fixture
def server(tmp_path):
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "RELANCE_DATA_DIR": str(ready(tmp_path / "data")),
        "DATABASE_URL": "",
    }
    log = (tmp_path / "server.log").open("w+")
    process = subprocess.Popen(
        [sys.executable, "-m", "relance", "serve", "--port", str(port), "--workers", "1"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{base}/login/", process)
        yield base, process, log
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()


def test_it_serves_the_login_page_and_its_stylesheet(server):
    base, _, _ = server
    status, _, body = get(f"{base}/login/")
    page = body.decode()
    assert status == 200
    assert 'name="password"' in page
    # The manifest storage gives the stylesheet a hashed name that WhiteNoise serves.
    match = re.search(r'href="(/static/console/relance\.[0-9a-f]{12}\.css)"', page)
    assert match, "no hashed stylesheet link on the login page"
    status, headers, css = get(base + match[1])
    assert status == 200
    assert headers["Content-Type"].startswith("text/css")
    assert "immutable" in headers.get("Cache-Control", "")
    assert b".topbar" in css


def test_it_prints_its_address_and_stops_on_sigterm(server):
    base, process, log = server
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    log.seek(0)
    assert f"listening on {base}/" in log.read()


def test_it_says_in_one_line_that_the_port_is_busy(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "DATABASE_URL": "",
               "RELANCE_DATA_DIR": str(ready(tmp_path))}  # fmt: skip
        started = time.monotonic()
        out = subprocess.run(
            [sys.executable, "-m", "relance", "serve", "--port", str(port)],
            env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert out.returncode == 1
    lines = [ln for ln in out.stderr.splitlines() if not ln.startswith("Preparing the database")]
    assert len(lines) == 1, out.stderr
    assert f"port {port} is busy" in lines[0] and "--port" in lines[0]
    assert "listening" not in out.stdout
    assert time.monotonic() - started < 60  # no retrying in a loop
