"""Benchmark of the console's pages at the server, on one million invoices of 100,000 customers.

    .venv/bin/python -m bench.console                         # both databases, throw-away
    .venv/bin/python -m bench.console --invoices 100000 --db sqlite
    .venv/bin/python -m bench.console --db sqlite --data-dir /tmp/console-sqlite   # kept
    DATABASE_URL=postgres://... .venv/bin/python -m bench.console --db postgres   # kept

The set-up (not timed, skipped when the database already holds the ``bench``
organisation): the receivables file of ``bench/generate.py`` imported by ``relance import``
(the bulk path), a member of each role, the dunning run of the day after the export (so
that Today, approvals and tasks have their work), and a few disputes and promises.

Then, in one process, with the clock on that day: each page is requested through Django's
test ``Client`` signed in as the admin (the whole stack, middleware and templates, without a
browser or a network), once to warm up and then ``--repeat`` times; we report the median, the
number of SQL queries, and beside it the floor: the same SQL statements, captured with
``CaptureQueriesContext``, replayed by the database driver alone (the raw DB-API cursor,
fetching every row), median of as many repeats. Also timed: building the customer balances
from nothing and re-aging them when the day changes (``relance.ledger.summaries``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
MAPPING = ROOT / "bench" / "mapping.yaml"
ORG = "bench"
ADMIN = "admin@bench.test"
TARGET_MS = 200.0


def the_day() -> dt.date:
    from bench.generate import AS_OF

    return AS_OF + dt.timedelta(days=1)


# -- set-up -------------------------------------------------------------------------------


def prepare(args: argparse.Namespace, env: dict[str, str]) -> None:
    """Generate and import the file, then the rest of the set-up, unless already there."""
    if child_json("ready", env, args).get("ready"):
        print("  database already set up", flush=True)
        return
    from bench.generate import generate

    path = args.workdir / f"receivables-{args.customers}-{args.invoices}-{args.seed}.csv"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        generate(args.customers, args.invoices, path, seed=args.seed)
    run_env = {**env, "DJANGO_SETTINGS_MODULE": "relance.settings"}
    subprocess.run([str(BIN / "relance"), "migrate", "--verbosity", "0"], env=run_env,
                   check=True, cwd=ROOT)  # fmt: skip
    start = time.perf_counter()
    subprocess.run([str(BIN / "relance"), "import", str(path), "--mapping", str(MAPPING),
                    "--org", ORG, "--create-org", "--json"], env=run_env, check=True,
                   cwd=ROOT, stdout=subprocess.DEVNULL)  # fmt: skip
    print(f"  imported {path.name} in {time.perf_counter() - start:.0f} s", flush=True)
    start = time.perf_counter()
    child_json("setup", env, args)
    print(f"  members, run, disputes in {time.perf_counter() - start:.0f} s", flush=True)


def setup() -> dict[str, Any]:
    """Members of each role, the run of the day, a few disputes and promises."""
    import time_machine
    from django.db import connection

    from relance.accounts.models import Organisation
    from relance.accounts.services import add_member
    from relance.dunning import engine
    from relance.dunning.models import Promise
    from relance.ledger.models import Dispute, Invoice

    org = Organisation.objects.get(slug=ORG)
    org.email = "compta@bench.test"
    org.save(update_fields=["email"])
    for role in ("admin", "manager", "collector", "viewer"):
        add_member(org, ADMIN if role == "admin" else f"{role}@bench.test", role,
                   password="correct-horse-battery")  # fmt: skip
    assign_book(org)
    day = the_day()
    rnd = random.Random(3)
    open_items = list(
        Invoice.objects.filter(organisation=org, balance__gt=0, due_date__lt=day)
        .order_by("pk")
        .values_list("pk", "customer_id", "balance")[:20000]
    )
    chosen = rnd.sample(open_items, min(400, len(open_items)))
    reasons = ["price", "quality", "delivery", "purchase_order", "other"]
    Dispute.objects.bulk_create(
        Dispute(organisation=org, invoice_id=pk, reason=rnd.choice(reasons),
                opened_on=day - dt.timedelta(days=rnd.randint(0, 120)))
        for pk, _, _ in chosen[:200]
    )  # fmt: skip
    Promise.objects.bulk_create(
        Promise(organisation=org, customer_id=customer, amount=balance,
                promised_on=day + dt.timedelta(days=rnd.randint(-5, 10)))
        for _, customer, balance in chosen[200:]
    )  # fmt: skip
    with time_machine.travel(dt.datetime.combine(day, dt.time(7)), tick=True):
        start = time.perf_counter()
        result = engine.run(org, day)
        seconds = time.perf_counter() - start
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    return {"run_seconds": seconds, "counts": dict(result.counts)}


def assign_book(org: Any) -> None:
    """Risk classes and a collector as a credit team sets them: one customer in twenty
    high risk, one in four low; a third of the book with the collector."""
    from django.contrib.auth import get_user_model
    from django.db.models import F

    from relance.ledger.models import Customer

    customers = Customer.objects.filter(organisation=org)
    customers.alias(m=F("pk") % 20).filter(m=0).update(risk_class="high")
    customers.alias(m=F("pk") % 4).filter(m=1).update(risk_class="low")
    collector = get_user_model().objects.get(email="collector@bench.test")
    customers.alias(m=F("pk") % 3).filter(m=2).update(collector=collector)


# -- measures -----------------------------------------------------------------------------


def pages() -> list[tuple[str, str]]:
    """(label, URL) of the pages measured; the searched name and the customer are the
    ledger's own (a customer with many overdue items)."""
    from relance.accounts.models import Organisation
    from relance.ledger.models import Customer, CustomerBalance

    org = Organisation.objects.get(slug=ORG)
    busiest = (
        CustomerBalance.objects.filter(organisation=org)
        .order_by("-overdue_items", "customer_id")
        .values_list("customer_id", flat=True)
        .first()
    )
    name = (
        Customer.objects.filter(organisation=org)
        .order_by("pk")
        .values_list("legal_name", flat=True)[500]
    )
    part = max(name.split(), key=len)[:6]
    return [
        ("Today", "/"),
        ("Dashboard", "/dashboard/"),
        ("Dashboard, DSO over twelve months (loaded in place)", "/dashboard/dso/"),
        ("Customers", "/customers/"),
        ("Customers, bucket 31-60", "/customers/?bucket=31-60"),
        ("Customers, high risk by overdue", "/customers/?risk=high&sort=-overdue"),
        (f"Customers, search \u201c{part}\u201d", f"/customers/?q={part}"),
        ("Customer page", f"/customers/{busiest}/"),
        ("Approvals", "/approvals/"),
        ("Tasks", "/tasks/"),
        ("Calls", "/calls/"),
        ("Disputes", "/disputes/"),
        ("Promises", "/promises/"),
    ]


def measure(repeat: int) -> dict[str, Any]:
    import time_machine
    from django.conf import settings
    from django.core.cache import cache
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext, override_settings

    from relance.accounts.models import Organisation
    from relance.ledger import summaries
    from relance.ledger.models import BalanceDay

    # Not ``setup_test_environment``: it instruments every template rendered (a signal and
    # a copy of the context per template), which a server does not pay. The test Client
    # only needs its host allowed. Pages render without `collectstatic` (a production
    # server has the manifest).
    plain = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
    override_settings(
        STORAGES={**settings.STORAGES, "staticfiles": plain},
        ALLOWED_HOSTS=[*settings.ALLOWED_HOSTS, "testserver"],
    ).enable()
    day = the_day()
    org = Organisation.objects.get(slug=ORG)
    figures: dict[str, Any] = {"pages": []}

    # The customer balances: built from nothing, then re-aged a day later and back.
    BalanceDay.objects.filter(pk=org.pk).delete()
    start = time.perf_counter()
    summaries.age(org.pk, day)
    figures["build"] = time.perf_counter() - start
    start = time.perf_counter()
    summaries.age(org.pk, day + dt.timedelta(days=1))
    figures["reage"] = time.perf_counter() - start
    summaries.age(org.pk, day)

    from django.contrib.auth import get_user_model

    client = Client()
    client.force_login(get_user_model().objects.get(email=ADMIN))
    with time_machine.travel(dt.datetime.combine(day, dt.time(9)), tick=True):
        # The figures of the whole ledger, computed once after a change (then cached).
        for name, url in (("dso_cold", "/dashboard/dso/"), ("dashboard_cold", "/dashboard/")):
            cache.clear()
            start = time.perf_counter()
            client.get(url)
            figures[name] = time.perf_counter() - start
        for label, url in pages():
            response = client.get(url)  # warm-up (and a 404 tells the page is not there)
            if response.status_code != 200:
                figures["pages"].append({"label": label, "url": url,
                                         "status": response.status_code})  # fmt: skip
                continue
            times = []
            for _ in range(repeat):
                with CaptureQueriesContext(connection) as queries:
                    start = time.perf_counter()
                    client.get(url)
                    times.append(time.perf_counter() - start)
            statements = [q["sql"] for q in queries.captured_queries]
            floors = []
            raw = connection.connection.cursor()  # the driver's own cursor
            for _ in range(repeat):
                start = time.perf_counter()
                for sql in statements:
                    raw.execute(sql)
                    if raw.description is not None:
                        raw.fetchall()
                floors.append(time.perf_counter() - start)
            raw.close()
            slowest = max(
                queries.captured_queries, key=lambda q: float(q["time"]), default={"sql": ""}
            )
            figures["pages"].append({
                "label": label, "url": url, "status": 200,
                "ms": statistics.median(times) * 1000,
                "floor_ms": statistics.median(floors) * 1000,
                "queries": len(statements),
                "bytes": len(response.content),
                "slowest_sql": slowest["sql"][:300],
                "slowest_ms": float(slowest.get("time", 0)) * 1000,
            })  # fmt: skip
    return figures


# -- processes ----------------------------------------------------------------------------


def child(args: argparse.Namespace) -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "relance.settings")
    django.setup()
    if args.phase == "ready":
        from django.db import connection

        from relance.accounts.models import Organisation

        tables = connection.introspection.table_names()
        ready = (
            "accounts_organisation" in tables
            and Organisation.objects.filter(slug=ORG, email="compta@bench.test").exists()
        )
        print(json.dumps({"ready": ready}))
    elif args.phase == "setup":
        print(json.dumps(setup()))
    else:
        print(json.dumps(measure(args.repeat)))


def child_json(phase: str, env: dict[str, str], args: argparse.Namespace) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "bench.console", "--phase", phase, "--repeat", str(args.repeat)]
    out = subprocess.run(cmd, env=env, cwd=ROOT, check=True, stdout=subprocess.PIPE, text=True)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def report(name: str, figures: dict[str, Any]) -> str:
    lines = [
        f"Customer balances on {name}: built from nothing in {figures['build']:.2f} s, "
        f"re-aged to the next day in {figures['reage'] * 1000:.0f} ms. After a change of the "
        f"ledger, the dashboard's first view takes {figures['dashboard_cold'] * 1000:.0f} ms "
        f"and its DSO chart {figures['dso_cold'] * 1000:.0f} ms (computed, then kept).",
        "",
        "| Database | Page | Median | Queries | Floor (same SQL, driver alone) | Ratio |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for p in figures["pages"]:
        if p["status"] != 200:
            lines.append(f"| {name} | {p['label']} (`{p['url']}`) | answers {p['status']} | | | |")
            continue
        # The floor is the SQL alone: a ratio above 2 matters once the SQL weighs (20 ms).
        slow = p["ms"] >= TARGET_MS or (p["floor_ms"] >= 20 and p["ms"] > 2 * p["floor_ms"])
        flag = " ⚠" if slow else ""
        lines.append(
            f"| {name} | {p['label']} (`{p['url']}`) | {p['ms']:.1f} ms{flag} | {p['queries']} "
            f"| {p['floor_ms']:.1f} ms | {p['ms'] / max(p['floor_ms'], 0.1):.1f} |"
        )
    return "\n".join(lines)


def slowest(figures: dict[str, Any]) -> str:
    return "\n".join(
        f"  {p['label']}: slowest query {p['slowest_ms']:.1f} ms: {p['slowest_sql']}"
        for p in figures["pages"]
        if p["status"] == 200
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.console", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    parser.add_argument("--invoices", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, help="default: a tenth of the invoices")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--data-dir", type=Path, help="SQLite: keep the database there")
    parser.add_argument("--workdir", type=Path, default=ROOT / "bench" / "out")
    parser.add_argument("--phase", choices=["ready", "setup", "measure"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        child(args)
        return
    args.customers = args.customers or max(1, args.invoices // 10)
    outputs = []
    for db in ["sqlite", "postgres"] if args.db == "both" else [args.db]:
        with tempfile.TemporaryDirectory(prefix=f"relance-console-{db}-") as tmp:
            env = {**os.environ, "RELANCE_DATA_DIR": tmp, "DATABASE_URL": ""}
            cluster = None
            if db == "sqlite" and args.data_dir:
                args.data_dir.mkdir(parents=True, exist_ok=True)
                env["RELANCE_DATA_DIR"] = str(args.data_dir)
            if db == "postgres":
                if os.environ.get("DATABASE_URL"):
                    env["DATABASE_URL"] = os.environ["DATABASE_URL"]
                else:
                    os.chmod(tmp, 0o755)  # the server runs as `postgres` under root
                    cluster = f"{tmp}/pg"
                    env["DATABASE_URL"] = subprocess.check_output(
                        [ROOT / "scripts" / "pg-cluster", "start", cluster], text=True
                    ).strip()
            try:
                print(f"== {db}: {args.invoices:,} invoices, {args.customers:,} customers",
                      flush=True)  # fmt: skip
                prepare(args, env)
                figures = child_json("measure", env, args)
                name = {"sqlite": "SQLite", "postgres": "PostgreSQL"}[db]
                outputs.append(report(name, figures))
                print(outputs[-1], flush=True)
                print(slowest(figures), flush=True)
            finally:
                if cluster:
                    subprocess.run([ROOT / "scripts" / "pg-cluster", "stop", cluster], check=False)
    print()
    print("\n\n".join(outputs))


if __name__ == "__main__":
    main()
