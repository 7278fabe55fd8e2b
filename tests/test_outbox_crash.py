"""The acceptance test of the outbox: a worker killed in the middle of sending, restarted
until done, never sends a message twice; and the sending rate of one worker.

Real parts only: ``relance worker`` as a subprocess on a SQLite file, an SMTP server on
loopback (``smtp.SMTPServer``), SIGKILL.
"""

from __future__ import annotations

import math
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from commands import ready
from smtp import SMTPServer

pytestmark = [pytest.mark.slow, pytest.mark.once("sqlite")]

# The worker's settings: the project's, with this app and the loopback server. (Kept even
# once settings.py lists the app: it only adds what is missing.)
WORKER_SETTINGS = """
import os
from relance.settings import *  # noqa: F403

if "relance.channels" not in INSTALLED_APPS:  # noqa: F405
    INSTALLED_APPS = [*INSTALLED_APPS, "relance.channels"]  # noqa: F405
EMAIL_BACKEND = "relance.channels.smtp.EmailBackend"
EMAIL_HOST = os.environ["EMAIL_HOST"]
EMAIL_PORT = int(os.environ["EMAIL_PORT"])
EMAIL_TIMEOUT = 10
DEFAULT_FROM_EMAIL = "Relance <relance@relance.test>"
"""

# Plans COUNT queued e-mails directly: three per customer (three run dates), one invoice
# each, a dunning contact for two customers in three, the billing address for the others.
# Bulk rows, not tests/factories.py: thousands of them, written in a subprocess of its own
# (the factories live with the test suite, not in the installed worker), all unpaid.
POPULATE = """
import datetime as dt
import os
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from relance.accounts.models import Organisation
from relance.dunning.models import Communication, CommunicationItem
from relance.ledger.models import Contact, Customer, Invoice

count = int(os.environ["COUNT"])
today = timezone.localdate()
with transaction.atomic():
    org = Organisation.objects.create(slug="crash", name="Crash SAS", email="compta@crash.test")
    customers = Customer.objects.bulk_create(
        Customer(
            organisation=org,
            reference=f"C{i:05d}",
            legal_name=f"Client {i}",
            email=f"billing{i}@customers.test",
            language="en" if i % 4 == 0 else "fr",
        )
        for i in range(math.ceil(count / 3))
    )
    Contact.objects.bulk_create(
        Contact(organisation=org, customer=c, name=f"Contact {c.reference}",
                email=f"{c.reference.lower()}@customers.test", is_primary=True)
        for n, c in enumerate(customers) if n % 3
    )
    invoices, comms = [], []
    for n in range(count):
        customer = customers[n // 3]
        run_date = today - dt.timedelta(days=n % 3)
        invoices.append(Invoice(
            organisation=org, customer=customer, number=f"F{n:06d}",
            issue_date=run_date - dt.timedelta(days=60), due_date=run_date - dt.timedelta(days=20),
            currency="EUR", amount=Decimal("1200.00") - n % 7, balance=Decimal("1200.00") - n % 7,
        ))
        comms.append(Communication(
            organisation=org, customer=customer, channel="email", run_date=run_date,
            send_on=run_date, template=("first_reminder", "firm_reminder", "courtesy")[n % 3],
            language=customer.language, status="queued",
        ))
    Invoice.objects.bulk_create(invoices, batch_size=500)
    Communication.objects.bulk_create(comms, batch_size=500)
    CommunicationItem.objects.bulk_create(
        (CommunicationItem(communication=c, invoice=i, step_position=1, days_overdue=20,
                           balance=i.balance) for c, i in zip(comms, invoices)),
        batch_size=500,
    )
print(Communication.objects.filter(status="queued").count())
""".replace("import datetime as dt", "import datetime as dt\nimport math")


class Install:
    """A data directory with its SQLite file, and the environment to run `relance` in it."""

    def __init__(self, tmp_path: Path, smtp: SMTPServer) -> None:
        self.dir = tmp_path
        (tmp_path / "worker_settings.py").write_text(WORKER_SETTINGS)
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(tmp_path),
            "RELANCE_DATA_DIR": str(ready(tmp_path / "data")),
            "DATABASE_URL": "",
            "DJANGO_SETTINGS_MODULE": "worker_settings",
            "PYTHONPATH": str(tmp_path),
            "EMAIL_HOST": smtp.host,
            "EMAIL_PORT": str(smtp.port),
        }

    def relance(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "relance", *args],
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=300,
        )

    def populate(self, count: int) -> None:
        out = self.relance("shell", "-c", POPULATE, COUNT=str(count))
        assert out.returncode == 0, out.stderr
        assert int(out.stdout.split()[-1]) == count

    def worker(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "relance", "worker", *args],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def communications(self) -> list[tuple[int, str, str]]:
        with sqlite3.connect(self.dir / "data" / "relance.sqlite3") as db:
            return db.execute(
                "SELECT id, status, message_id FROM dunning_communication ORDER BY id"
            ).fetchall()


@pytest.fixture
def smtp():
    server = SMTPServer().start()
    yield server
    server.stop()


def wait_for(condition, timeout: float, proc: subprocess.Popen[str] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"worker exited early: {proc.communicate()[1][-2000:]}")
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.01)


def test_it_sends_each_message_at_most_once_through_crashes(tmp_path, smtp):
    count = 3000
    install = Install(tmp_path, smtp)
    install.populate(count)
    kills = 0
    # Killed three times while sending, mid-batch (a batch boundary would find nothing
    # in flight): after 537, 1,271 and 1,949 messages have arrived.
    for arrived in (537, 1271, 1949):
        proc = install.worker("--batch", "200", "--sleep", "0.1", "--stale-after", "1")
        wait_for(lambda n=arrived: smtp.recorder.count() >= n, 120, proc)
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        kills += 1
        assert proc.returncode == -signal.SIGKILL
        time.sleep(1.2)  # the dead worker's claim is now older than --stale-after
    done = install.worker("--once", "--batch", "200", "--stale-after", "1")
    _, err = done.communicate(timeout=300)
    assert done.returncode == 0, err

    rows = install.communications()
    statuses = Counter(status for _, status, _ in rows)
    received = Counter(smtp.recorder.message_ids())
    assert len(rows) == count
    assert set(statuses) <= {"sent", "ambiguous"}, statuses
    # At most the one message in flight per crash; and the kills did land mid-send.
    assert 1 <= statuses["ambiguous"] <= kills
    assert [mid for mid, n in received.items() if n > 1] == []  # nothing received twice
    for _, status, message_id in rows:
        if status == "sent":
            assert received[message_id] == 1, message_id
        else:
            assert received[message_id] <= 1, message_id
    # Record, then send: nothing arrived that the database does not know about.
    assert set(received) <= {message_id for _, _, message_id in rows}
    print(
        f"\ncrash test: {statuses['sent']} sent, {statuses['ambiguous']} ambiguous, {kills} kills"
    )


def test_it_sends_hundreds_of_messages_a_second_over_few_connections(tmp_path, smtp, capsys):
    count, batch = 2000, 200
    install = Install(tmp_path, smtp)
    install.populate(count)

    started = time.monotonic()
    out = install.relance("worker", "--once", "--batch", str(batch))
    wall = time.monotonic() - started

    assert out.returncode == 0, out.stderr
    assert smtp.recorder.count() == count
    assert len(set(smtp.recorder.message_ids())) == count
    assert smtp.recorder.connections == math.ceil(count / batch)  # one per batch, reused
    times = [r.at for r in smtp.received]
    rate = (count - 1) / (times[-1] - times[0])
    with capsys.disabled():
        print(
            f"\nsending rate: {rate:.0f} e-mails/s over {smtp.recorder.connections} connections"
            f" (whole run with start-up: {count / wall:.0f}/s)"
        )


def test_it_lets_two_workers_share_the_outbox_without_sending_twice(tmp_path, smtp, capsys):
    count = 2000
    install = Install(tmp_path, smtp)
    install.populate(count)

    started = time.monotonic()
    workers = [install.worker("--once", "--batch", "100") for _ in range(2)]
    errors = [proc.communicate(timeout=300)[1] for proc in workers]
    wall = time.monotonic() - started

    assert [proc.returncode for proc in workers] == [0, 0], errors
    received = Counter(smtp.recorder.message_ids())
    assert len(received) == count and set(received.values()) == {1}
    rows = install.communications()
    assert {status for _, status, _ in rows} == {"sent"}
    assert set(received) == {message_id for _, _, message_id in rows}
    times = [r.at for r in smtp.received]
    with capsys.disabled():
        print(
            f"\ntwo workers: {(count - 1) / (times[-1] - times[0]):.0f} e-mails/s"
            f" (whole run with start-up: {count / wall:.0f}/s)"
        )
