"""One writer of timeline events (``ledger.timeline``) and one of tasks (``dunning.tasks``),
their texts in the organisation's language whoever writes them: the run, the outbox, the
pauses, approvals."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from factories import communication, customer, hold, invoice, organisation, promise, scenario

from relance.dunning import outbox, tasks
from relance.dunning.approval import decide
from relance.dunning.engine import run
from relance.dunning.models import CommStatus, Task
from relance.ledger.models import TimelineEvent
from relance.ledger.timeline import Text

D = dt.date(2026, 11, 24)  # a Tuesday
RELANCE = Path(__file__).resolve().parents[1] / "relance"
pytestmark = pytest.mark.django_db

FRENCH = {
    "queued": "first_reminder prévu par E-mail pour F1",
    "hold": "Procédure collective à partir du 14/11/2026",
    "claim": ("Déclarer la créance sur ", " au mandataire judiciaire avant le 14/01/2027"),
    "promise": "Promesse de payer toutes les factures ouvertes d'ici le 29/11/2026",
    "call": "Appeler Client C4 SAS au sujet d'une facture, 1\xa0234,50\xa0€",
    "approved": "Mise en demeure par Courrier approuvé\u00a0: signed",
}
ENGLISH = {
    "queued": "first_reminder planned by E-mail for F1",
    "hold": "Collective proceedings from 14 Nov 2026",
    "claim": ("Declare the claim on ", " to the court-appointed representative before 14 Jan 2027"),
    "promise": "Promise to pay all open invoices by 29 Nov 2026",
    "call": "Call Client C4 SAS about one invoice, €1,234.50",
    "approved": "Formal notice by Letter approved: signed",
}


@pytest.mark.parametrize(
    ("language", "other", "expected"), [("fr", "en", FRENCH), ("en", "fr", ENGLISH)]
)
def test_it_writes_events_and_tasks_in_the_organisations_language(language, other, expected):
    org = organisation(f"org-{language}", language=language)
    scenario(org)
    # Customers who read the other language: the history is the organisation's.
    reminded, insolvent, promised, called, noticed = (
        customer(org, f"C{n}", language=other) for n in range(1, 6)
    )
    invoice(reminded, "F1", due=D - dt.timedelta(days=6))
    hold(insolvent, start=D - dt.timedelta(days=10), kind="insolvency",
         published_on=D - dt.timedelta(days=10))  # fmt: skip
    promise(promised, promised_on=D + dt.timedelta(days=5))
    communication(called, [invoice(called, "F4", due=D - dt.timedelta(days=9), amount="1234.50")],
                  on=D, channel="call", template="call")  # fmt: skip
    notice = communication(noticed, [invoice(noticed, "F5", due=D - dt.timedelta(days=40))], on=D,
                           channel="letter", template="formal_notice",
                           status=CommStatus.AWAITING_APPROVAL)  # fmt: skip

    run(org, D)
    decide(org, [notice.pk], approve=True, note="signed")
    outbox.send_due(org.pk, today=D)

    def summary(customer, kind):
        return TimelineEvent.objects.get(customer=customer, kind=kind).summary

    assert summary(reminded, "communication_queued") == expected["queued"]
    assert summary(insolvent, "hold_placed") == expected["hold"]
    assert summary(promised, "promise_recorded") == expected["promise"]
    assert summary(noticed, "communication_approved") == expected["approved"]
    call = Task.objects.get(customer=called, kind="call")
    assert call.title == expected["call"]
    assert summary(called, "communication_sent") == expected["call"]
    claim = Task.objects.get(customer=insolvent, kind="declare_claim")
    start, end = expected["claim"]
    assert claim.title.startswith(start) and claim.title.endswith(end)


def test_it_opens_a_task_once_per_key(org):
    debtor = customer(org, "C1")
    title = Text("Call about the defaulted payment plan (%(numbers)s)", {"numbers": "F1"})
    opened = [
        tasks.open_task(
            org,
            key="plan-defaulted:1",
            customer_id=debtor.pk,
            kind="call",
            title=title,
            due_on=D + dt.timedelta(days=n),
        )
        for n in range(2)
    ]
    tasks.open_many(org, [tasks.NewTask("plan-defaulted:1", debtor.pk, "call", title, D)])

    assert opened == [True, False]
    [task] = Task.objects.all()
    assert (task.due_on, task.title) == (D, "Appeler au sujet de l'échéancier rompu (F1)")


# The models' own modules, and the two writers.
WRITERS = {"ledger/timeline.py", "dunning/tasks.py", "ledger/models.py", "dunning/models.py"}
DIRECT = re.compile(
    r"\b(?:TimelineEvent|Task)\s*\((?!models\.)"  # an instance built by hand
    r"|\b(?:TimelineEvent|Task)\.objects\.(?:create|get_or_create|update_or_create|bulk_create)"
    r"|\bTimelineEvent\._meta\.db_table"  # a bulk insert into its table
    r"|\binsert\(\s*(?:TimelineEvent|Task)\b"  # a row inserted by hand
)


def test_it_leaves_events_and_tasks_to_their_one_writer_each():
    offenders = [
        f"{path.relative_to(RELANCE)}:{number}: {line.strip()}"
        for path in sorted(RELANCE.rglob("*.py"))
        if "migrations" not in path.parts and str(path.relative_to(RELANCE)) not in WRITERS
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if DIRECT.search(line)
    ]
    assert offenders == []


def test_it_names_the_step_as_the_scenario_calls_it():
    from relance.dunning.models import Step

    org = organisation("named")
    scenario(org)
    Step.objects.filter(organisation=org, template="first_reminder").update(name="Rappel amical")
    invoice(customer(org, email="a@client.test"), "F1", due=D - dt.timedelta(days=6))
    run(org, D)
    summary = TimelineEvent.objects.get(kind="communication_queued").summary
    assert summary == "Rappel amical prévu par E-mail pour F1"


def test_the_runs_rows_read_again_in_their_readers_language():
    """The run writes its rows in bulk, in the organisation's language, and keeps their text
    as every other writer does: a page says them again in its reader's."""
    from django.utils import translation

    from relance.ledger.timeline import KEPT, shown

    org = organisation("kept-fr", language="fr")
    scenario(org)
    reminded = customer(org, "C1")
    invoice(reminded, "F1", due=D - dt.timedelta(days=6))
    run(org, D)
    event = TimelineEvent.objects.get(customer=reminded, kind="communication_queued")
    assert event.summary == FRENCH["queued"]
    assert {k: v for k, v in event.data.items() if k != KEPT} == {
        "communication": event.data["communication"], "template": "first_reminder",
    }  # fmt: skip
    with translation.override("en"):
        assert shown(event.summary, event.data) == ENGLISH["queued"]
    with translation.override("fr"):
        assert shown(event.summary, event.data) == FRENCH["queued"]
