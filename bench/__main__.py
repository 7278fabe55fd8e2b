"""``make bench``: time Relance on realistic volumes and print Markdown for docs/performance.md.

    .venv/bin/python -m bench                       # 1M invoices, SQLite and PostgreSQL
    .venv/bin/python -m bench --invoices 100000 --customers 10000 --db sqlite

Imports: a receivables file (bench/generate.py) into an empty database, the same file again
(nothing changes), then the file of a few days later (1% of invoices paid since, 1% new).
Each import is ``relance import`` in a fresh process; its wall time, CPU time and peak memory
are measured from outside (``os.wait4``). Beside them, the floor (bench/floor.py): the first
file parsed and the same rows inserted by the database driver alone. Each database starts
empty: a SQLite file in a temporary RELANCE_DATA_DIR, or a throw-away PostgreSQL cluster
(scripts/pg-cluster).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.generate import generate

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent  # .venv/bin: `relance` is installed beside python
MAPPING = ROOT / "bench" / "mapping.yaml"


@dataclass
class Result:
    database: str
    run: str
    rows: int
    seconds: float
    peak_rss_mib: float
    db_mib: float
    counts: dict[str, int] = field(default_factory=dict)
    cpu: float = 0.0  # user + system seconds of the process

    @property
    def rate(self) -> float:
        return self.rows / self.seconds


@dataclass
class Database:
    name: str  # sqlite | postgres
    env: dict[str, str]  # RELANCE_DATA_DIR and DATABASE_URL
    size_mib: Callable[[], float]
    version: str


# -- the machine --------------------------------------------------------------------------


def machine(databases: list[Database]) -> list[tuple[str, str]]:
    cpu = "unknown"
    with open("/proc/cpuinfo", encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_kib = 0
    with open("/proc/meminfo", encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    facts = [
        ("CPU", cpu),
        ("Cores", str(os.cpu_count())),
        ("RAM", f"{mem_kib / 1024**2:.1f} GiB"),
        ("OS", f"{platform.system()} {platform.release()}"),
        ("Python", platform.python_version()),
    ]
    labels = {"sqlite": "SQLite", "postgres": "PostgreSQL"}
    facts += [(labels[db.name], db.version) for db in databases]
    return facts


# -- databases ----------------------------------------------------------------------------


@contextmanager
def sqlite_database() -> Iterator[Database]:
    with tempfile.TemporaryDirectory(prefix="relance-bench-") as data_dir:
        path = Path(data_dir) / "relance.sqlite3"

        def size() -> float:
            return sum(p.stat().st_size for p in path.parent.glob(path.name + "*")) / 2**20

        env = {"RELANCE_DATA_DIR": data_dir, "DATABASE_URL": ""}
        yield Database("sqlite", env, size, sqlite3.sqlite_version)


@contextmanager
def postgres_database() -> Iterator[Database]:
    import psycopg

    cluster = tempfile.mkdtemp(prefix="relance-bench-pg-")
    script = str(ROOT / "scripts" / "pg-cluster")
    try:
        url = subprocess.run(
            [script, "start", cluster], check=True, capture_output=True, text=True
        ).stdout.strip()
        admin = url.rsplit("/", 1)[0] + "/postgres"
        with psycopg.connect(admin, autocommit=True) as conn:  # pg-cluster made `relance`
            version = str(conn.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]

        def size() -> float:
            with psycopg.connect(url) as conn:
                row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
            return int(row[0]) / 2**20  # type: ignore[index]

        with tempfile.TemporaryDirectory(prefix="relance-bench-") as data_dir:
            env = {"RELANCE_DATA_DIR": data_dir, "DATABASE_URL": url}
            yield Database("postgres", env, size, version.split()[0])
    finally:
        subprocess.run([script, "stop", cluster], check=False)


DATABASES = {"sqlite": sqlite_database, "postgres": postgres_database}


# -- runs ---------------------------------------------------------------------------------


LAST_CPU = [0.0]  # user + system seconds of the last process run


def relance(db: Database, *args: str, command: list[str] | None = None) -> tuple[float, float, str]:
    """Run ``relance ARGS`` in a fresh process: (seconds, peak RSS in MiB, stdout)."""
    env = {**os.environ, **db.env, "DJANGO_SETTINGS_MODULE": "relance.settings"}
    with tempfile.TemporaryFile("w+", encoding="utf-8") as out:
        start = time.perf_counter()
        argv = [*(command or [str(BIN / "relance")]), *args]
        proc = subprocess.Popen(argv, env=env, stdout=out, cwd=ROOT)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        LAST_CPU[0] = usage.ru_utime + usage.ru_stime
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read()
    if proc.returncode:
        raise SystemExit(f"relance {' '.join(args)} failed ({proc.returncode}):\n{text[-5000:]}")
    return seconds, usage.ru_maxrss / 1024, text  # ru_maxrss is in KiB on Linux


def bench_imports(args: argparse.Namespace, db: Database, files: dict[str, Path]) -> list[Result]:
    relance(db, "migrate", "--verbosity", "0")  # not timed: a fresh install does it once
    results = []
    for run, path in files.items():
        seconds, rss, out = relance(
            db,
            "import",
            str(path),
            "--mapping",
            str(MAPPING),
            "--org",
            "bench",
            "--create-org",
            "--json",
        )
        report = json.loads(out)
        result = Result(db.name, run, report["rows"], seconds, rss, db.size_mib(),
                        report["counts"], LAST_CPU[0])  # fmt: skip
        show(result)
        results.append(result)
    # The floor, side by side: the first file parsed and its rows inserted by the driver
    # alone (bench/floor.py), into another organisation of the same database.
    first = next(iter(files.values()))
    seconds, rss, out = relance(
        db, str(first), "floor", command=[sys.executable, "-m", "bench.floor"]
    )
    report = json.loads(out)
    floor = Result(db.name, FLOOR, report["rows"], seconds, rss, db.size_mib(),
                   {}, LAST_CPU[0])  # fmt: skip
    show(floor)
    print(f"  {db.name:8} first import / floor: {results[0].seconds / seconds:.1f}x wall, "
          f"{results[0].cpu / floor.cpu:.1f}x CPU", flush=True)  # fmt: skip
    results.append(floor)
    return results


FLOOR = "floor: parse + driver inserts"


def show(result: Result) -> None:
    what = "the first file's rows" if result.run == FLOOR else changes(result.counts)
    print(f"  {result.database:8} {result.run:34} {result.seconds:8.1f} s "
          f"{result.cpu:8.1f} s CPU {result.rate:9,.0f} rows/s {result.peak_rss_mib:7,.0f} MiB  "
          f"{what}", flush=True)  # fmt: skip


def import_files(args: argparse.Namespace) -> dict[str, Path]:
    """The base file and its variant, written once per size into --workdir."""
    stem = f"receivables-{args.customers}-{args.invoices}-{args.seed}"
    base, later = args.workdir / f"{stem}.csv", args.workdir / f"{stem}-later.csv"
    for path, extra in ((base, {}), (later, {"changed": 0.01, "new": 0.01})):
        start = time.perf_counter()
        rows = generate(args.customers, args.invoices, path, seed=args.seed, **extra)
        print(f"  generated {path.name}: {rows:,} rows in {time.perf_counter() - start:.1f} s")
    return {
        "first import (empty database)": base,
        "same file again (no change)": base,
        "1% paid since, 1% new": later,
    }


# -- report -------------------------------------------------------------------------------


def changes(counts: dict[str, int]) -> str:
    signs = {"created": "+", "updated": "~", "deleted": "-", "settled": "="}
    parts = []
    for key, n in counts.items():
        what, _, action = key.rpartition("_")
        if action in signs and n:
            parts.append(f"{signs[action]}{n:,} {what}")
    if not parts:
        return f"nothing ({counts.get('invoices_unchanged', 0):,} invoices unchanged)"
    return ", ".join(parts)


def markdown(results: list[Result], facts: list[tuple[str, str]]) -> str:
    lines = [
        "| Database | Run | Invoice rows | Wall time | CPU time | Rows/s | Peak RSS "
        "| Database size | What changed |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in results:
        what = "the first import's rows, nothing else" if r.run == FLOOR else changes(r.counts)
        size = "" if r.run == FLOOR else f"{r.db_mib:,.0f} MiB"
        lines.append(
            f"| {r.database} | {r.run} | {r.rows:,} | {r.seconds:,.1f} s | {r.cpu:,.1f} s "
            f"| {r.rate:,.0f} | {r.peak_rss_mib:,.0f} MiB | {size} | {what} |"
        )
    lines += ["", "| Machine | |", "| --- | --- |"]
    lines += [f"| {name} | {value} |" for name, value in facts]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    parser.add_argument("--invoices", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, help="default: a tenth of the invoices")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--only", choices=["import"], help="one benchmark (default: all)")
    parser.add_argument("--workdir", type=Path, default=ROOT / "bench" / "out",
                        help="where the generated files go (default: bench/out)")  # fmt: skip
    args = parser.parse_args(argv)
    args.customers = args.customers or max(1, args.invoices // 10)
    benchmarks = {"import": (import_files, bench_imports)}
    chosen = [args.only] if args.only else list(benchmarks)
    names = ["sqlite", "postgres"] if args.db == "both" else [args.db]

    results: list[Result] = []
    facts_dbs: list[Database] = []
    for bench_name in chosen:
        prepare, run = benchmarks[bench_name]
        print(f"== {bench_name}: {args.invoices:,} invoices, {args.customers:,} customers")
        inputs: Any = prepare(args)
        for name in names:
            with DATABASES[name]() as db:
                results += run(args, db, inputs)
                if all(d.name != db.name for d in facts_dbs):
                    facts_dbs.append(db)
    print()
    print(markdown(results, machine(facts_dbs)))


if __name__ == "__main__":
    main()
