"""Benchmark of the dunning run: one organisation with N customers and M open invoices.

    .venv/bin/python -m bench.engine_run --customers 100000 --invoices 1000000 [--db sqlite]

Three processes per database: the set-up (not timed), the first run over the whole backlog
at D, and the next day's run at D+1. Each run is timed from inside (wall clock around
``engine.run``) and its peak memory read from outside (``os.wait4``). Next to each run, in
the same process, the floor: reading the same open items and inserting the same number of
rows into scratch tables of the same shape with the database driver alone
(``cursor.executemany``), in a transaction rolled back afterwards.

Each run also reports its CPU split (user and system), what it read from and wrote to the
disk (``getrusage``'s blocks: pages read cold, pages dirtied in the WAL and the database)
and its wall clock beyond its CPU (on SQLite the fsyncs of its checkpoints and the reads
from disk; on PostgreSQL the server's work besides). ``--statements N`` adds, under each run,
the N statements of the run that took longest in all (the wall clock of each ``execute``
and ``executemany`` through Django's connection, grouped by the statement's first words,
and of each commit), and their sum: what of the run is SQL and what is Python.
PostgreSQL runs with the settings docs/deployment.md recommends (examples/postgresql.conf;
``--pg-conf ''`` for its own defaults), on a throw-away cluster without durability
(scripts/pg-cluster). ``--cold`` evicts the SQLite database from the system's page cache
before the next day's run, as after a day of other work (``posix_fadvise``; PostgreSQL's own
cache is not touched). A database just copied should be synced before it is timed: the run's first
checkpoint syncs the database file, and with it every page the copy left to write.

``--workers 1 2`` adds the first run through the task queue (``relance run --enqueue``):
for each N, on a copy of the set-up database, N ``relance worker --runs-only`` processes
take its parts (``--parts``, default ``sharing.parts``); timed from the enqueueing to the
run's record done, as its ``relance run --enqueue --wait`` would see it.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
D = dt.date(2026, 11, 24)  # a Tuesday, so that D+1 is a business day too


def setup(customers: int, invoices: int, seed: int = 7) -> None:
    from django.core.management import call_command
    from django.db import connection, transaction

    from relance.accounts.services import create_organisation

    call_command("migrate", verbosity=0)
    org = create_organisation("bench", name="Bench SAS")
    org.email = "compta@bench.test"  # a run needs a reply address
    org.save(update_fields=["email"])
    rnd = random.Random(seed)
    now = dt.datetime.now(dt.UTC)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO ledger_customer (organisation_id, reference, legal_name, trade_name,"
            " siren, siret, vat_number, email, phone, language, country, currency,"
            " payment_terms_days, risk_class, customer_since, notes, source, created_at,"
            " updated_at, iban) VALUES (%s, %s, %s, '', '', '', '', '', '', 'fr', 'FR', 'EUR', 30,"
            " %s, %s, '', 'bench', %s, %s, '')",
            [
                (org.pk, f"C{n:06d}", f"Client {n} SAS",
                 rnd.choices(["low", "medium", "high"], [3, 6, 1])[0],
                 D - dt.timedelta(days=rnd.randint(30, 4000)), now, now)
                for n in range(customers)
            ],
        )  # fmt: skip
        cursor.execute(
            "SELECT id FROM ledger_customer WHERE organisation_id = %s ORDER BY id", [org.pk]
        )
        ids = [row[0] for row in cursor.fetchall()]
        rows = []
        for n in range(invoices):
            due = D + dt.timedelta(days=rnd.randint(-200, 30))
            amount = Decimal(rnd.randint(5000, 500000)) / 100
            rows.append((org.pk, ids[n % len(ids)], f"FA-{n:07d}", due - dt.timedelta(days=30),
                         due, amount, amount, now, now))  # fmt: skip
        cursor.executemany(
            "INSERT INTO ledger_invoice (organisation_id, customer_id, kind, number, issue_date,"
            " due_date, due_date_derived, currency, amount, balance, po_reference, source,"
            " created_at, updated_at) VALUES (%s, %s, 'invoice', %s, %s, %s, FALSE, 'EUR', %s,"
            " %s, '', 'bench', %s, %s)",
            rows,
        )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")


def timed_run(day: dt.date, statements: int = 0) -> dict[str, Any]:
    from relance.accounts.models import Organisation
    from relance.dunning import engine

    org = Organisation.objects.get(slug="bench")
    before = written_rows(org)
    timings = StatementTimes() if statements else None
    usage = resource.getrusage(resource.RUSAGE_SELF)
    start, cpu = time.perf_counter(), time.process_time()
    with timings or contextlib.nullcontext():
        result = engine.run(org, day)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    io = io_since(usage)
    after = written_rows(org)
    floor = measure_floor(org, {k: after[k] - before[k] for k in after})
    return {"seconds": seconds, "cpu": cpu, "io": io, "floor": floor,
            "counts": dict(result.counts), "items_considered": result.items_considered,
            "customers": result.customers,
            "statements": timings.top(statements) if timings else None}  # fmt: skip


class StatementTimes:
    """The wall clock of the run's statements on Django's connection (``execute_wrapper``)
    and of its commits, by the statement's first words. The checkpoints' thread has a
    connection of its own: its work shows only where the run waits for it."""

    WORDS = 9

    def __init__(self) -> None:
        self.seconds: dict[str, list[float]] = {}

    def __enter__(self) -> StatementTimes:
        from django.db import connection

        self._connection = connection
        self._commit = connection._commit
        connection.execute_wrappers.append(self._execute)
        connection._commit = self._timed_commit  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        self._connection.execute_wrappers.remove(self._execute)
        del self._connection._commit  # the class's method again

    def _add(self, key: str, start: float) -> None:
        count_seconds = self.seconds.setdefault(key, [0, 0.0])
        count_seconds[0] += 1
        count_seconds[1] += time.perf_counter() - start

    def _execute(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        start = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self._add(" ".join(sql.split()[: self.WORDS])[:100], start)

    def _timed_commit(self) -> None:
        start = time.perf_counter()
        try:
            self._commit()
        finally:
            self._add("COMMIT", start)

    def top(self, n: int) -> dict[str, Any]:
        ranked = sorted(self.seconds.items(), key=lambda kv: -kv[1][1])
        return {"total": sum(s for _, s in self.seconds.values()),
                "top": [(key, count, s) for key, (count, s) in ranked[:n]]}  # fmt: skip


def io_since(before: resource.struct_rusage) -> dict[str, float]:
    """CPU by kind and the disk's blocks (512 bytes) read and dirtied since ``before``."""
    now = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "user": now.ru_utime - before.ru_utime,
        "sys": now.ru_stime - before.ru_stime,
        "read_mib": (now.ru_inblock - before.ru_inblock) / 2048,
        "written_mib": (now.ru_oublock - before.ru_oublock) / 2048,
    }


def evict_database() -> None:
    """The SQLite database's pages out of the system's page cache (synced first: only clean
    pages leave it)."""
    from django.db import connection

    if connection.vendor != "sqlite":
        return
    name = str(connection.settings_dict["NAME"])
    for path in (name, f"{name}-wal"):
        if not os.path.exists(path):
            continue
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def written_rows(org: Any) -> dict[str, int]:
    from relance.dunning.models import Communication, CommunicationItem, ItemState
    from relance.ledger.models import TimelineEvent

    return {
        "communications": Communication.objects.filter(organisation=org).count(),
        "items": CommunicationItem.objects.filter(communication__organisation=org).count(),
        "states": ItemState.objects.filter(invoice__organisation=org).count(),
        "events": TimelineEvent.objects.filter(organisation=org).count(),
    }


def measure_floor(org: Any, written: dict[str, int]) -> dict[str, float]:
    """Read the open items, then write as many rows as the run wrote into the same tables
    (same indexes and constraints) with the driver alone, in a transaction rolled back.
    Communications get another date so as not to collide with the run's own; item states
    are upserted as the run does."""
    from django.db import connection, transaction

    start = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT i.id, i.number, i.customer_id, i.due_date, i.balance, i.currency, s.level,"
            " s.level_date FROM ledger_invoice i LEFT JOIN dunning_itemstate s"
            " ON s.invoice_id = i.id WHERE i.organisation_id = %s AND i.balance > %s"
            " ORDER BY i.customer_id, i.id",
            [org.pk, org.min_balance],
        )
        items = cursor.fetchall()
    read = time.perf_counter() - start
    customers = sorted({row[2] for row in items})
    other_day = D + dt.timedelta(days=3650)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(" ")
    start = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO dunning_communication (organisation_id, customer_id, channel, run_date,"
            " purpose, pre_due, send_on, template, language, status, explanation, recipient,"
            " subject, message_id, attempts, last_error, created_at, updated_at) VALUES"
            " (%s, %s, 'email', %s, 'reminder', FALSE, %s, 'first_reminder', 'fr', 'queued',"
            " %s, '', '', '', 0, '', %s, %s)",
            [(org.pk, customers[n % len(customers)], other_day, other_day, '{"items": []}',
              now, now) for n in range(written["communications"])],
        )  # fmt: skip
        cursor.execute(
            "SELECT id FROM dunning_communication WHERE organisation_id = %s AND run_date = %s",
            [org.pk, other_day],
        )
        comms = [row[0] for row in cursor.fetchall()] or [0]
        cursor.executemany(
            "INSERT INTO dunning_communicationitem (communication_id, invoice_id, step_position,"
            " days_overdue, balance, dropped, organisation_id) VALUES (%s, %s, 2, 5, %s, '', %s)",
            [(comms[n % len(comms)], items[n][0], items[n][4], org.pk)
             for n in range(min(written["items"], len(items)))],
        )  # fmt: skip
        cursor.executemany(
            "INSERT INTO dunning_itemstate (invoice_id, level, level_date, thanked,"
            " organisation_id) VALUES (%s, 2, %s, FALSE, %s) ON CONFLICT (invoice_id) DO UPDATE"
            " SET level = excluded.level, level_date = excluded.level_date",
            [(items[n][0], D, org.pk) for n in range(min(written["states"], len(items)))],
        )  # fmt: skip
        cursor.executemany(
            "INSERT INTO ledger_timelineevent (organisation_id, customer_id, at, kind, summary,"
            " data) VALUES (%s, %s, %s, 'communication_queued', 'planned', %s)",
            [(org.pk, customers[n % len(customers)], now, '{"communication": 1}')
             for n in range(written["events"])],
        )  # fmt: skip
        transaction.set_rollback(True)
    return {"read": read, "write": time.perf_counter() - start, "open_items": len(items),
            **written}  # fmt: skip


def queued_run(parts: int | None) -> dict[str, Any]:
    """The first run through the queue, taken by the workers the parent started."""
    from relance.accounts.models import Organisation
    from relance.dunning import run_tasks
    from relance.dunning.models import QueuedRun

    org = Organisation.objects.get(slug="bench")
    start = time.perf_counter()
    run = run_tasks.enqueue(org, D, parts)
    while run.status in run_tasks.ACTIVE:
        time.sleep(0.05)
        run = QueuedRun.objects.get(pk=run.pk)
    seconds = time.perf_counter() - start
    if run.status != QueuedRun.Status.DONE:
        raise SystemExit(f"the queued run failed: {run.error}")
    parts_seconds = [
        (p.updated_at - run.created_at).total_seconds() for p in run.parts.all()
    ]  # fmt: skip
    figures = run.data["result"]
    return {"seconds": seconds, "parts": run.parts_total, "last_part_s": max(parts_seconds),
            "workers": sorted({p.worker for p in run.parts.all()}), **figures}  # fmt: skip


def child(args: argparse.Namespace) -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "relance.settings")
    django.setup()
    if args.phase == "setup":
        setup(args.customers, args.invoices)
        return
    if args.phase == "queued":
        print(json.dumps(queued_run(args.parts)))
        return
    day = D if args.phase == "first" else D + dt.timedelta(days=1)
    if args.phase == "next":
        # The day between: PostgreSQL's autovacuum vacuums and analyses the tables the first
        # run wrote (a fifth of a table's rows changed or added sets it off): the invoices'
        # dates (planned on statistics where every date is NULL, the next run's query would
        # scan them), their states, the communications and their items.
        from django.db import connection

        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("VACUUM ANALYZE")
        if args.cold:
            evict_database()
    print(json.dumps(timed_run(day, args.statements)))


def measure(phase: str, env: dict[str, str], args: argparse.Namespace) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "bench.engine_run", "--phase", phase,
           "--customers", str(args.customers), "--invoices", str(args.invoices)]  # fmt: skip
    if args.parts:
        cmd += ["--parts", str(args.parts)]
    if args.cold:
        cmd.append("--cold")
    if args.statements:
        cmd += ["--statements", str(args.statements)]
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    out = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    if status:
        raise SystemExit(f"{phase} failed ({status})")
    result = json.loads(out) if out.strip() else {}
    result["peak_rss_mib"] = usage.ru_maxrss / 1024
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--invoices", type=int, default=1_000_000)
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--phase", choices=["setup", "first", "next", "queued"])
    parser.add_argument(
        "--workers",
        type=int,
        nargs="*",
        default=[],
        help="also the first run through the queue with N worker processes",
    )
    parser.add_argument("--parts", type=int, default=None, help="parts of the queued run")
    parser.add_argument(
        "--cold", action="store_true", help="the next day's run with SQLite's file not cached"
    )
    parser.add_argument(
        "--statements",
        type=int,
        default=0,
        metavar="N",
        help="under each run, the N statements that took longest in all, and the SQL's sum",
    )
    parser.add_argument(
        "--skip-in-process", action="store_true", help="with --workers: the queued runs alone"
    )
    parser.add_argument(
        "--pg-conf",
        default=str(ROOT / "examples" / "postgresql.conf"),
        metavar="FILE",
        help="PostgreSQL's settings (default: those docs/deployment.md recommends; '' for"
        " PostgreSQL's own defaults)",
    )
    args = parser.parse_args()
    if args.phase:
        child(args)
        return
    for db in ["sqlite", "postgres"] if args.db == "both" else [args.db]:
        with tempfile.TemporaryDirectory(prefix=f"relance-bench-{db}-") as tmp:
            env = {**os.environ, "RELANCE_DATA_DIR": tmp, "DATABASE_URL": ""}
            if db == "postgres":
                os.chmod(tmp, 0o755)  # the server runs as `postgres` under a root session
                settings = {"PG_CONF": args.pg_conf} if args.pg_conf else {}
                url = subprocess.check_output([ROOT / "scripts" / "pg-cluster", "start",
                                               f"{tmp}/pg"], text=True,
                                              env={**os.environ, **settings}).strip()  # fmt: skip
                env["DATABASE_URL"] = url
            try:
                start = time.perf_counter()
                measure("setup", env, args)
                print(f"{db}: set-up of {args.customers:,} customers and {args.invoices:,} "
                      f"invoices in {time.perf_counter() - start:.0f} s", flush=True)  # fmt: skip
                if args.workers:
                    queued(db, env, args)
                for phase in () if args.skip_in_process else ("first", "next"):
                    r = measure(phase, env, args)
                    floor = r["floor"]["read"] + r["floor"]["write"]
                    print(f"| {db} | {phase} | {r['floor']['open_items']:,} | "
                          f"{r['items_considered']:,} | {r['seconds']:.1f} s | "
                          f"{floor:.1f} s (read {r['floor']['read']:.1f} + write "
                          f"{r['floor']['write']:.1f}) | {r['seconds'] / floor:.2f} | "
                          f"{r['peak_rss_mib']:,.0f} MiB | {r['floor']['communications']:,} "
                          f"comms, {r['floor']['items']:,} items |", flush=True)  # fmt: skip
                    io = r["io"]
                    print(f"  CPU {r['cpu']:.2f} s (user {io['user']:.2f} + system "
                          f"{io['sys']:.2f}), wall beyond CPU {r['seconds'] - r['cpu']:.2f} s, "
                          f"read {io['read_mib']:.0f} MiB, written {io['written_mib']:.0f} MiB",
                          flush=True)  # fmt: skip
                    if r.get("statements"):
                        print_statements(r["statements"], r["seconds"])
            finally:
                if db == "postgres":
                    subprocess.run([ROOT / "scripts" / "pg-cluster", "stop", f"{tmp}/pg"])


def print_statements(statements: dict[str, Any], seconds: float) -> None:
    total = statements["total"]
    print(
        f"  SQL {total:.2f} s of {seconds:.2f} s (the rest Python, and waits outside a statement):",
        flush=True,
    )
    for key, count, spent in statements["top"]:
        print(f"    {spent:7.3f} s  {count:5d} x  {key}", flush=True)


def queued(db: str, env: dict[str, str], args: argparse.Namespace) -> None:
    """The first run through the queue with each number of workers, each on a copy of the
    set-up database (the run writes)."""
    for n in args.workers:
        copy = dict(env)
        data = Path(env["RELANCE_DATA_DIR"]) / f"workers-{n}"
        if db == "postgres":
            name = f"bench_workers_{n}"
            _admin(env["DATABASE_URL"], f"CREATE DATABASE {name} TEMPLATE "
                                        f"{env['DATABASE_URL'].rsplit('/', 1)[1]}")  # fmt: skip
            copy["DATABASE_URL"] = env["DATABASE_URL"].rsplit("/", 1)[0] + "/" + name
            data.mkdir()
        else:
            shutil.copytree(env["RELANCE_DATA_DIR"], data,
                            ignore=shutil.ignore_patterns("pg", "workers-*"))  # fmt: skip
        copy["RELANCE_DATA_DIR"] = str(data)
        workers = [
            subprocess.Popen(
                [sys.executable, "-m", "relance", "worker", "--runs-only", "--sleep", "0.1"],
                env=copy,
                cwd=ROOT,
                stdout=subprocess.PIPE,
                text=True,
            )
            for _ in range(n)
        ]
        try:
            for worker in workers:  # each ready before the run is enqueued
                assert worker.stdout and "started" in worker.stdout.readline()
            r = measure("queued", copy, args)
        finally:
            for worker in workers:
                worker.terminate()
                worker.wait()
            if db == "postgres":
                _admin(env["DATABASE_URL"], f"DROP DATABASE {name} WITH (FORCE)")
        print(f"| {db} | first, queued | {n} worker(s) | {r['parts']} parts | "
              f"{r['items_considered']:,} | {r['seconds']:.1f} s | "
              f"{r['peak_rss_mib']:,.0f} MiB (enqueuer) | {r['counts'].get('queued', 0):,} "
              f"comms | {len(r['workers'])} worker(s) took parts |", flush=True)  # fmt: skip


def _admin(url: str, statement: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as db:
        db.execute(statement)


if __name__ == "__main__":
    main()
