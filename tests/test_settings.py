"""Production settings pass Django's deployment checks; the embedded default needs nothing."""

from __future__ import annotations

import secrets
import subprocess
import sys


def test_it_passes_the_deployment_checks_in_production_settings(tmp_path):
    env = {
        "PATH": "/usr/bin:/bin",
        "RELANCE_DATA_DIR": str(tmp_path),
        "SECRET_KEY": secrets.token_urlsafe(64),
        "RELANCE_HTTPS": "1",
        "ALLOWED_HOSTS": "relance.example.com",
    }
    out = subprocess.run(
        [sys.executable, "-m", "relance", "check", "--deploy", "--fail-level", "WARNING"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr + out.stdout
    assert "no issues" in out.stdout


def test_it_generates_one_secret_key_per_installation_and_keeps_it(tmp_path):
    from relance.lib.env import secret_key

    first = secret_key(tmp_path)
    assert len(first) >= 50
    assert secret_key(tmp_path) == first
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0
    other = tmp_path / "other-installation"
    other.mkdir()
    assert secret_key(other) != first
