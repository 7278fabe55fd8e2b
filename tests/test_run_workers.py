"""Two real `relance worker` processes share a run on the queue (`relance run --enqueue`)
and plan exactly what one process plans on an identical ledger: two organisations import
the same receivables file (bench/generate.py's); one is run in one process, the other on
the queue in four parts taken by two workers. On a SQLite file (one machine) and, when
DATABASE_URL names a PostgreSQL cluster (scripts/pg-cluster), on a database of its own."""

from __future__ import annotations

import json
import signal

import pytest
from test_concurrency import AS_OF, D, Install, finish

pytestmark = pytest.mark.slow


@pytest.fixture(
    params=[
        pytest.param("sqlite", marks=pytest.mark.once("postgresql")),
        pytest.param(
            "postgresql",
            marks=pytest.mark.skipif(
                not __import__("os").environ.get("DATABASE_URL"),
                reason="DATABASE_URL: a PostgreSQL cluster",
            ),
        ),
    ]
)
def install(request, tmp_path):
    install = Install(tmp_path, request.param, fresh=False)
    yield install
    install.drop()


def plan(install: Install, slug: str) -> dict[str, list[tuple[object, ...]]]:
    """What the run of D wrote for organisation ``slug``, by references."""
    org = f"(SELECT id FROM accounts_organisation WHERE slug = '{slug}')"
    return {
        "communications": sorted(install.sql(
            "SELECT cu.reference, c.channel, c.purpose, c.template, c.status, c.pre_due"
            " FROM dunning_communication c JOIN ledger_customer cu ON cu.id = c.customer_id"
            f" WHERE c.organisation_id = {org} AND c.run_date = '{D}'"
        )),
        "items": sorted(install.sql(
            "SELECT cu.reference, c.channel, c.purpose, i.number, ci.step_position,"
            " ci.days_overdue, ci.balance, ci.previous_level FROM dunning_communicationitem ci"
            " JOIN dunning_communication c ON c.id = ci.communication_id"
            " JOIN ledger_customer cu ON cu.id = c.customer_id"
            " JOIN ledger_invoice i ON i.id = ci.invoice_id"
            f" WHERE c.organisation_id = {org} AND c.run_date = '{D}'"
        )),
        "levels": sorted(install.sql(
            "SELECT i.number, s.level, s.level_date, s.thanked FROM dunning_itemstate s"
            f" JOIN ledger_invoice i ON i.id = s.invoice_id WHERE i.organisation_id = {org}"
        )),
    }  # fmt: skip


def test_it_shares_a_run_between_two_worker_processes(install):
    ledger = install.ledger(customers=1000, invoices=8000)
    for slug in ("one", "many"):
        install.relance("createorg", slug, "--name", f"{slug.title()} SAS")
        install.relance("org", "set", "--org", slug, "--email", f"compta@{slug}.test")
    for slug in ("one", "many"):
        install.relance(*install.import_args(ledger)[:-4], "--org", slug, "--as-of", AS_OF)
    alone = json.loads(install.relance("run", "--org", "one", "--date", D, "--jobs", "1",
                                       "--json"))["runs"][0]  # fmt: skip

    # Five tasks (the beginning, four parts) and three at most each: both workers take parts,
    # however fast the first one is.
    workers = [install.start("worker", "--runs-only", "--sleep", "0.2", "--max-run-tasks", "3")
               for _ in range(2)]  # fmt: skip
    try:
        for worker in workers:  # both ready before the run is enqueued
            assert "started: taking runs' parts" in worker.stdout.readline()
        out = install.relance("run", "--org", "many", "--date", D, "--enqueue", "--parts", "4",
                              "--wait", "--json")  # fmt: skip
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        ended = finish(*workers)
    for code, said, err in ended:
        # A worker that took its last task may be in the interpreter's shutdown when the
        # signal comes, and the shutdown gives SIGTERM back its default action.
        done = code == 0 or (code == -signal.SIGTERM and "tasks of runs, exits" in said)
        assert done and "Traceback" not in err, (code, said, err)

    assert plan(install, "many") == plan(install, "one")
    assert len(plan(install, "one")["communications"]) > 300
    # The same figures (a run in one process with --json also lists its decisions).
    shared = json.loads(out)["runs"][0]
    assert {**shared, "organisation": "one", "decisions": alone["decisions"],
            "plans": alone["plans"]} == alone  # fmt: skip
    parts = install.sql(
        "SELECT p.status, p.worker FROM dunning_runpart p JOIN dunning_queuedrun r"
        " ON r.id = p.run_id WHERE r.status = 'done'"
    )
    assert [status for status, _ in parts] == ["done"] * 4
    # Both workers took parts (each names itself by machine and process).
    pids = {worker.pid for worker in workers}
    assert {int(name.rsplit(":", 1)[1]) for _, name in parts} == pids
