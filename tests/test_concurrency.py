"""Commands that meet each other: two runs of one day, a run and an import, commands
started together on a fresh database. The second waits for the first and both end well;
never a traceback, never "database is locked".

Real processes (``python -m relance``) on a SQLite file and, when DATABASE_URL names a
PostgreSQL cluster (scripts/pg-cluster), on a database of their own created in it. The
ledger is bench/generate.py's, imported with bench/mapping.yaml.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import commands
import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
AS_OF, D = "2026-03-31", "2026-04-02"  # the ledger's date; a business day after it
PG_URL = os.environ.get("DATABASE_URL", "")


BACKENDS = [
    pytest.param("sqlite", marks=pytest.mark.once("sqlite")),  # the side: balance (conftest)
    pytest.param(
        "postgresql",
        marks=pytest.mark.skipif(not PG_URL, reason="DATABASE_URL: a PostgreSQL cluster"),
    ),
]


@pytest.fixture(params=BACKENDS)
def install(request, tmp_path):
    """An install whose SQLite file starts migrated (a copy, tests/commands.py)."""
    install = Install(tmp_path, request.param, fresh=False)
    yield install
    install.drop()


@pytest.fixture(params=BACKENDS)
def fresh_install(request, tmp_path):
    """An install whose database was never migrated."""
    install = Install(tmp_path, request.param)
    yield install
    install.drop()


class Install:
    """A data directory and a database of its own (a SQLite file, or a fresh database in the
    PostgreSQL cluster), and the environment to run `relance` in them."""

    def __init__(self, tmp_path: Path, backend: str, *, fresh: bool = True) -> None:
        self.dir, self.backend = tmp_path, backend
        if backend == "sqlite" and not fresh:
            commands.ready(tmp_path / "data")
        self.url = ""
        if backend == "postgresql":
            self.name = f"relance_meet_{uuid.uuid4().hex[:12]}"
            self.admin(f"CREATE DATABASE {self.name}")
            self.url = PG_URL.rsplit("/", 1)[0] + "/" + self.name
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(tmp_path),
            "RELANCE_DATA_DIR": str(tmp_path / "data"),
            "DATABASE_URL": self.url,
        }

    def admin(self, statement: str) -> None:
        import psycopg

        with psycopg.connect(PG_URL, autocommit=True) as db:
            db.execute(statement)

    def drop(self) -> None:
        if self.backend == "postgresql":
            self.admin(f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)")

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "relance", *args],
            env=self.env,
            cwd=self.dir,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def relance(self, *args: str) -> str:
        proc = self.start(*args)
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
        return out

    def ledger(self, customers: int = 1000, invoices: int = 8000, **variant: str) -> Path:
        """bench/generate.py's receivables file (``variant``: --changed, --new)."""
        out = self.dir / f"ledger-{customers}-{invoices}-{len(variant)}.csv"
        extra = [a for k, v in variant.items() for a in (f"--{k}", v)]
        subprocess.run(
            [sys.executable, "-m", "bench.generate", "--customers", str(customers),
             "--invoices", str(invoices), "--out", str(out), *extra],
            cwd=ROOT, check=True, capture_output=True,
        )  # fmt: skip
        return out

    def import_args(self, path: Path) -> tuple[str, ...]:
        mapping = str(ROOT / "bench" / "mapping.yaml")
        return ("import", str(path), "--mapping", mapping, "--org", "bench", "--as-of", AS_OF)

    def organisation(self) -> None:
        """The organisation `bench` with its ledger, ready to run."""
        self.relance("createorg", "bench", "--name", "Bench SAS")
        self.relance("org", "set", "--org", "bench", "--email", "compta@bench.test")
        self.relance(*self.import_args(self.ledger()))

    def sql(self, query: str) -> list[tuple[Any, ...]]:
        if self.backend == "sqlite":
            with sqlite3.connect(self.dir / "data" / "relance.sqlite3") as db:
                return db.execute(query).fetchall()
        import psycopg

        with psycopg.connect(self.url) as db:
            return db.execute(query).fetchall()

    def writer_blocked(self) -> Any:
        """A connection holding the database's writers back (until it commits) while they
        may still read: SQLite's write lock, or on PostgreSQL the lock that every insert
        into the communications takes."""
        if self.backend == "sqlite":
            db = sqlite3.connect(self.dir / "data" / "relance.sqlite3", isolation_level=None)
            db.execute("BEGIN IMMEDIATE")
            return db
        import psycopg

        db = psycopg.connect(self.url)
        db.execute("LOCK TABLE dunning_communication IN EXCLUSIVE MODE")
        return db

    def waiting(self) -> int:
        """PostgreSQL sessions of this database waiting for a lock."""
        return self.sql(
            "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
            f" WHERE NOT l.granted AND a.datname = '{self.name}'"
        )[0][0]


def flock_waiters(pids: set[int]) -> int:
    """Processes among ``pids`` blocked in ``flock`` (the kernel lists them in /proc/locks,
    their line marked ``->``)."""
    lines = Path("/proc/locks").read_text().splitlines()
    return sum(1 for line in lines if " -> " in line and int(line.split()[5]) in pids)


def wait_for(condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def finish(*procs: subprocess.Popen[str]) -> list[tuple[int, str, str]]:
    ended = [(p, *p.communicate(timeout=600)) for p in procs]
    return [(p.returncode, out, err) for p, out, err in ended]


def planned(counts: dict[str, int]) -> int:
    return counts.get("queued", 0) + counts.get("awaiting_approval", 0)


def communications(install: Install) -> int:
    return install.sql(f"SELECT count(*) FROM dunning_communication WHERE run_date = '{D}'")[0][0]


def test_it_makes_a_second_run_of_the_day_wait_for_the_first(install):
    install.organisation()
    # Both runs start while the writers are held back, so that today both would read the
    # same open items before either writes.
    blocker = install.writer_blocked()
    runs = [install.start("run", "--org", "bench", "--date", D, "--json") for _ in range(2)]
    if install.backend == "postgresql":
        wait_for(lambda: install.waiting() == 2, 120)  # one at the table, one at the other
    else:  # one holds the organisation's file lock, the other waits in flock
        wait_for(lambda: flock_waiters({run.pid for run in runs}) == 1, 120)
    blocker.commit()
    blocker.close()
    ended = finish(*runs)

    for code, _, err in ended:
        assert code == 0 and "Traceback" not in err, err
    first, second = sorted(
        (json.loads(out)["runs"][0]["counts"] for _, out, _ in ended), key=planned, reverse=True
    )
    # The second waited, then read what the first wrote: it had nothing left to plan.
    assert planned(first) > 300
    assert "chunks_already_done" not in first and "chunks_already_done" not in second
    assert planned(second) == 0 and second.get("levels", 0) == 0
    assert communications(install) == planned(first)
    # And it said so. (On SQLite, today's runs also take turns at SQLite's write lock, but
    # the second may read before the first has written, then find a chunk written.)
    assert sum("waiting for" in err for _, _, err in ended) == 1
    # And a third run of the day adds nothing.
    again = json.loads(install.relance("run", "--org", "bench", "--date", D, "--json"))
    assert planned(again["runs"][0]["counts"]) == 0
    assert communications(install) == planned(first)


@pytest.mark.once("sqlite")  # its processes on a SQLite file of their own
def test_it_lets_an_import_and_a_run_take_turns_on_sqlite(tmp_path):
    """A run and an import started together while a third connection holds SQLite's write
    lock for 20 s (both wait for it more than 10 s, the most a web request waits): both
    commands wait their turn and finish."""
    install = Install(tmp_path, "sqlite", fresh=False)
    install.organisation()
    later = install.ledger(changed="0.01", new="0.01")
    blocker = install.writer_blocked()
    run = install.start("run", "--org", "bench", "--date", D, "--json")
    imported = install.start(*install.import_args(later), "--json")
    time.sleep(20)
    blocker.commit()
    blocker.close()
    (run_code, run_out, run_err), (import_code, import_out, import_err) = finish(run, imported)

    assert run_code == 0, run_err
    assert import_code == 0, import_err
    assert "locked" not in run_err + import_err
    assert json.loads(import_out)["ok"] is True
    rows = install.sql("SELECT count(*) FROM ledger_invoice")[0][0]
    assert rows == len(later.read_text(encoding="utf-8").splitlines()) - 1  # the header
    assert communications(install) == planned(json.loads(run_out)["runs"][0]["counts"]) > 0


def test_it_migrates_a_fresh_database_once_for_commands_started_together(fresh_install):
    install = fresh_install
    slugs = ["alpha", "beta", "gamma", "delta"]
    ended = finish(*[install.start("createorg", slug, "--name", slug.title()) for slug in slugs])

    for code, _, err in ended:
        assert code == 0 and "Traceback" not in err, err
    prepared = [err for _, _, err in ended if "Preparing the database" in err]
    assert len(prepared) == 1  # one migrated, the others waited for it
    assert sorted(s for (s,) in install.sql("SELECT slug FROM accounts_organisation")) == sorted(
        slugs
    )
    shown = json.loads(install.relance("org", "show", "--org", "beta", "--json"))
    assert shown
