"""`relance` run as a person runs it: a child process on its own SQLite data directory.

A fresh directory costs the first use's migrations (about ten seconds); the helpers start
from a copy of one directory migrated once per test process, unless a test is about that
first use (``fresh=True``)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

_migrated: Path | None = None


def environment(data_dir: Path) -> dict[str, str]:
    return {"RELANCE_DATA_DIR": str(data_dir), "PATH": "/usr/bin:/bin", "DATABASE_URL": ""}


def ready(data_dir: Path) -> Path:
    """``data_dir`` with a migrated database, unless it has one already."""
    global _migrated
    if (data_dir / "relance.sqlite3").exists():
        return data_dir
    if _migrated is None:
        folder = Path(tempfile.mkdtemp(prefix="relance-migrated-"))
        subprocess.run([sys.executable, "-m", "relance", "migrate", "--verbosity", "0"],
                       env=environment(folder), check=True, capture_output=True)  # fmt: skip
        _migrated = folder
    shutil.copytree(_migrated, data_dir, dirs_exist_ok=True)
    return data_dir


def relance(
    data_dir: Path, *args: str, stdin: str = "", fresh: bool = False
) -> subprocess.CompletedProcess[str]:
    if not fresh:
        ready(data_dir)
    return subprocess.run(
        [sys.executable, "-m", "relance", *args],
        env=environment(data_dir),
        capture_output=True,
        text=True,
        input=stdin,
    )
