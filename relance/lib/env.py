"""Typed readers for configuration taken from the environment."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import platformdirs


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if not value:
        return default
    return [part.strip() for part in value.split(",") if part.strip()]


def data_dir() -> Path:
    """Where the embedded default keeps its database, secret key and uploads."""
    path = Path(env_str("RELANCE_DATA_DIR") or platformdirs.user_data_dir("relance"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def secret_key(directory: Path) -> str:
    """The secret key from the environment, else one generated once and kept beside the data.

    The embedded default must start with no configuration, yet never share a key between
    installations.
    """
    key = env_str("SECRET_KEY")
    if key:
        return key
    path = directory / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(64))
        path.chmod(0o600)
    return path.read_text().strip()
