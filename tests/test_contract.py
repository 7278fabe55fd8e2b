"""The engine against its contract, day after day: disputes flagged and cleared by imports,
overlapping promises, holds starting and ending, payments, messages dropped at send time
(sent through a real SMTP server) and skips at approval. After every run the contract's
invariants hold: no step skipped, at most one step per item per run, a second run of the
same date creates nothing, one thank-you per payment of a reminded item and none for the
others. The decisions are summed up in a digest that does not depend on the database: on
PostgreSQL, the same days driven on SQLite (in a process of its own) give the same digest.

Run as a script (``python tests/test_contract.py SEED``) it drives the days of ``SEED`` on
the database of the environment and prints the digest.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import os
import random
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

START = dt.date(2026, 11, 23)  # a Monday
_drives = itertools.count(1)
STEPS = (
    (-5, 0, "email", "courtesy"),
    (5, 3, "email", "first_reminder"),
    (8, 3, "call", "call"),
    (15, 5, "email", "firm_reminder"),
    (30, 10, "registered_letter", "formal_notice", "approval"),
)


# -- what happens, day by day -------------------------------------------------------------


@dataclass
class Plan:
    """Customers and their invoices (due dates relative to START), and per day what
    happens before the run ("before") and between the run and sending ("after")."""

    invoices: dict[str, list[tuple[str, int]]]  # customer reference -> (number, due offset)
    days: list[dict[str, list[Any]]] = field(default_factory=list)


def make_plan(rnd: random.Random, n_days: int = 12) -> Plan:
    invoices: dict[str, list[tuple[str, int]]] = {}
    for c in range(rnd.randint(1, 3)):
        invoices[f"C{c}"] = [(f"F{c}{k}", rnd.randint(-45, 8)) for k in range(rnd.randint(1, 3))]
    numbers = sorted(n for items in invoices.values() for n, _ in items)
    customers = sorted(invoices)
    plan = Plan(invoices)
    for _ in range(n_days):
        before: list[Any] = []
        if rnd.random() < 0.3:  # an import, with the dispute column of the day
            before.append(["import", sorted(n for n in numbers if rnd.random() < 0.35)])
        if rnd.random() < 0.25:  # a promise on an invoice or on its customer
            on_invoice = rnd.random() < 0.5
            before.append(["promise", rnd.choice(customers),
                           rnd.choice(numbers) if on_invoice else None,
                           rnd.randint(0, 4), rnd.randint(0, 2)])  # fmt: skip
        if rnd.random() < 0.15:
            before.append(["hold", rnd.choice(customers)])
        if rnd.random() < 0.2:
            before.append(["release", rnd.choice(customers)])
        if rnd.random() < 0.12:
            before.append(["pay", rnd.choice(numbers)])
        after: list[Any] = []
        if rnd.random() < 0.25:  # after planning, before sending: dropped at send time
            after.append([rnd.choice(["pay", "late_promise", "dispute"]), rnd.choice(numbers)])
        after.append(["approve" if rnd.random() < 0.5 else "skip"])
        plan.days.append({"before": before, "after": after})
    return plan


# -- driving the product ------------------------------------------------------------------


class Driver:
    def __init__(self, folder: Path) -> None:
        import factories as f

        self.folder = folder
        slug = f"contract-{next(_drives)}"  # one organisation per drive within a test
        self.org = f.organisation(slug, email="compta@contract.test")
        f.scenario(self.org, STEPS)
        self.customers: dict[str, Any] = {}
        self.invoices: dict[str, Any] = {}

    def setup(self, plan: Plan) -> None:
        import factories as f

        for ref, items in sorted(plan.invoices.items()):
            cust = f.customer(self.org, ref, email=f"{ref.lower()}@debtor.test")
            self.customers[ref] = cust
            for number, due in items:
                self.invoices[number] = f.invoice(cust, number, due=START + f.days(due))

    def do(self, action: list[Any], day: dt.date) -> None:
        import factories as f

        from relance.dunning import approval, pauses
        from relance.dunning.models import CommStatus, Communication
        from relance.ledger.models import Hold

        kind, *args = action
        if kind == "import":
            f.import_ledger(self.org, self.folder, self._all(), disputed=args[0], on=day)
        elif kind == "promise":
            ref, number, ahead, grace = args
            invoice = self.invoices[number] if number else None
            cust = invoice.customer if invoice else self.customers[ref]
            f.promise(cust, invoice=invoice, promised_on=day + f.days(ahead), grace_days=grace)
        elif kind == "late_promise":  # recorded after planning, before sending
            invoice = self.invoices[args[0]]
            f.promise(invoice.customer, invoice=invoice, promised_on=day + f.days(3))
        elif kind == "hold":
            cust = self.customers[args[0]]
            if not self._active_holds(cust, day):
                f.hold(cust, start=day)
        elif kind == "release":
            for hold in self._active_holds(self.customers[args[0]], day):
                pauses.release_hold(Hold.objects.get(pk=hold), on=day)
        elif kind == "pay":
            invoice = self.invoices[args[0]]
            invoice.refresh_from_db()
            if invoice.balance > 0:
                f.pay(invoice, on=day)
        elif kind == "dispute":
            invoice = self.invoices[args[0]]
            if not invoice.disputes.filter(resolved_on=None).exists():
                f.dispute(invoice, on=day)
        elif kind in ("approve", "skip"):
            waiting = Communication.objects.filter(
                organisation=self.org, status=CommStatus.AWAITING_APPROVAL
            ).values_list("pk", flat=True)
            if waiting:
                approval.decide(self.org, sorted(waiting), approve=kind == "approve")

    def _all(self) -> list[Any]:
        return [self.invoices[n] for n in sorted(self.invoices)]

    def _active_holds(self, cust: Any, day: dt.date) -> list[int]:
        from relance.dunning.policy import hold_active

        return [
            pk
            for pk, start, end in cust.holds.values_list("pk", "start_date", "end_date")
            if hold_active(start, end, day)
        ]

    def snapshot(self) -> Any:
        """Everything a run may write."""
        from relance.dunning.models import Communication, CommunicationItem, ItemState, Promise
        from relance.ledger.models import TimelineEvent

        org = self.org
        return (
            Communication.objects.filter(organisation=org).count(),
            CommunicationItem.objects.filter(communication__organisation=org).count(),
            TimelineEvent.objects.filter(organisation=org).count(),
            Promise.objects.filter(organisation=org, status="broken").count(),
            sorted(ItemState.objects.filter(invoice__organisation=org).values_list(
                "invoice_id", "level", "level_date", "thanked")),
        )  # fmt: skip

    def digest_rows(self) -> list[Any]:
        from relance.dunning.models import Communication, ItemState, Promise
        from relance.ledger.models import Dispute

        org = self.org
        rows: list[Any] = []
        for c in Communication.objects.filter(organisation=self.org).select_related("customer"):
            items = sorted(c.items.values_list("invoice__number", "step_position", "dropped"))
            rows.append(["comm", c.run_date.isoformat(), c.customer.reference, c.channel,
                         c.purpose, c.template, c.status, items,
                         c.explanation.get("thanks_for")])  # fmt: skip
        for p in Promise.objects.filter(organisation=self.org).select_related("customer"):
            rows.append(["promise", p.customer.reference, p.invoice.number if p.invoice else None,
                         p.promised_on.isoformat(), p.status,
                         p.broken_on.isoformat() if p.broken_on else None])  # fmt: skip
        for number, level, level_date, thanked in ItemState.objects.filter(
            invoice__organisation=org
        ).values_list("invoice__number", "level", "level_date", "thanked"):
            rows.append(["level", number, level, str(level_date), thanked])
        for number, opened, resolved in Dispute.objects.filter(organisation=org).values_list(
            "invoice__number", "opened_on", "resolved_on"
        ):
            rows.append(["dispute", number, opened.isoformat(), str(resolved)])
        return sorted(rows, key=json.dumps)


def check_run(driver: Driver, day: dt.date) -> None:
    """The invariants of one run of ``day``, just written."""
    from relance.dunning.models import CommunicationItem

    items = CommunicationItem.objects.filter(
        communication__organisation=driver.org, communication__run_date=day,
        communication__purpose="reminder",
    ).values_list("invoice__number", "step_position", "previous_level", "days_overdue")  # fmt: skip
    numbers = [number for number, *_ in items]
    assert len(numbers) == len(set(numbers)), f"{day}: an item took two steps: {numbers}"
    for number, step, previous, d in items:
        assert step > previous, (day, number, step, previous)
        for passed in range(previous + 1, step):  # only expired courtesy steps are passed
            offset = STEPS[passed - 1][0]
            assert offset < 0 <= d, f"{day}: {number} skipped step {passed} for {step}"


def check_thanks(driver: Driver) -> None:
    """One thank-you for each paid item a reminder was sent about, none for the others."""
    from relance.dunning.models import Communication, CommunicationItem

    thanked: list[str] = []
    for numbers in Communication.objects.filter(
        organisation=driver.org, purpose="thanks"
    ).values_list("explanation", flat=True):
        thanked += numbers["thanks_for"]
    assert len(thanked) == len(set(thanked)), f"thanked twice: {thanked}"
    reminded = set(
        CommunicationItem.objects.filter(
            communication__organisation=driver.org, communication__purpose="reminder",
            communication__status="sent", dropped="",
        ).values_list("invoice__number", flat=True)
    )  # fmt: skip
    paid = set()
    for number, invoice in driver.invoices.items():
        invoice.refresh_from_db()
        if invoice.balance <= driver.org.min_balance:
            paid.add(number)
    assert sorted(thanked) == sorted(paid & reminded)


def drive(plan: Plan, folder: Path) -> str:
    """Drive the plan's days on the current database, checking the invariants; the digest
    of every decision."""
    from relance.dunning import outbox
    from relance.dunning.engine import run

    driver = Driver(folder)
    driver.setup(plan)
    day = START
    for events in plan.days:
        for action in events["before"]:
            driver.do(action, day)
        run(driver.org, day)
        check_run(driver, day)
        written = driver.snapshot()
        run(driver.org, day)
        assert driver.snapshot() == written, f"{day}: a second run wrote more"
        for action in events["after"]:
            driver.do(action, day)
        outbox.send_due(organisation_id=driver.org.pk, today=day)
        day += dt.timedelta(days=1)
    # Until a business day has passed: thanks for the last payments are planned on one.
    for _ in range(3):
        run(driver.org, day)
        outbox.send_due(organisation_id=driver.org.pk, today=day)
        day += dt.timedelta(days=1)
    check_thanks(driver)
    text = json.dumps(driver.digest_rows(), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


# -- the tests ----------------------------------------------------------------------------


@pytest.fixture
def contract(db, mail, tmp_path):
    return tmp_path


# Without shrinking: an example takes seconds and shrinking random days takes long; a
# failure names its seed, and ``make_plan`` replays it.
@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)
@given(st.randoms(use_true_random=False))
def test_it_keeps_the_contract_day_after_day(contract, rnd):
    drive(make_plan(rnd), contract)


SEEDS = (3, 11)


@pytest.mark.skipif(not os.environ.get("DATABASE_URL"), reason="compares PostgreSQL with SQLite")
@pytest.mark.parametrize("seed", SEEDS)
def test_it_decides_on_postgresql_as_on_sqlite(contract, seed):
    here = Path(__file__).resolve()
    env = {**os.environ, "DATABASE_URL": "", "RELANCE_DATA_DIR": str(contract / "sqlite")}
    out = subprocess.run([sys.executable, str(here), str(seed)], env=env, cwd=here.parent.parent,
                         capture_output=True, text=True, timeout=600)  # fmt: skip
    assert out.returncode == 0, out.stderr
    on_sqlite = out.stdout.strip().splitlines()[-1]
    assert drive(make_plan(random.Random(seed)), contract) == on_sqlite


def _main(seed: int) -> None:
    """The digest of ``seed`` on the environment's database (a fresh one), for the test
    above."""
    import tempfile

    import django

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "relance.settings")
    django.setup()
    from django.conf import settings as django_settings
    from django.core.management import call_command
    from smtp import SMTPServer

    call_command("migrate", verbosity=0)
    server = SMTPServer().start()
    try:
        django_settings.EMAIL_BACKEND = "relance.channels.smtp.EmailBackend"
        django_settings.EMAIL_HOST, django_settings.EMAIL_PORT = server.host, server.port
        django_settings.EMAIL_TIMEOUT = 5
        django_settings.DEFAULT_FROM_EMAIL = "Relance <relance@relance.test>"
        django_settings.MEDIA_ROOT = tempfile.mkdtemp()
        print(drive(make_plan(random.Random(seed)), Path(tempfile.mkdtemp())))
    finally:
        server.stop()


if __name__ == "__main__":
    _main(int(sys.argv[1]))
