"""Texts written when something happened (a timeline summary, a task's title) are stored in
the organisation's language, with their message and values kept beside them: a page says
them in its reader's language; a row written before (without them) reads as written."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import factories as f
import pytest
from django.test import Client
from django.utils import translation

from relance.dunning import tasks
from relance.dunning.models import StepChannel, Task
from relance.dunning.task_titles import handed_over, title
from relance.ledger import timeline
from relance.ledger.models import TimelineEvent

D = dt.date(2026, 11, 24)


@pytest.fixture
def french_org(db):
    org = f.organisation("fr-org", name="Zorglub Holding SAS", language="fr")
    customer = f.customer(org, "Z-1", legal_name="Zorglub Industrie")
    invoice = f.invoice(customer, "ZORG-F004", due=D - f.days(30), amount="6601.43")
    f.dispute(invoice, on=D, reason="quality")
    text = handed_over(StepChannel.CALL, "call", customer.legal_name, 1,
                       [(Decimal("6601.43"), "EUR")])  # fmt: skip
    tasks.open_task(org, key="call:1", customer_id=customer.pk, kind="call", title=text,
                    due_on=D)  # fmt: skip
    return org, customer


def test_it_keeps_a_texts_message_and_values_and_says_it_in_any_language(french_org):
    _, customer = french_org
    event = TimelineEvent.objects.get(customer=customer, kind="dispute_opened")
    task = Task.objects.get(key="call:1")
    assert event.summary == "Litige sur ZORG-F004\u00a0: Qualité des biens ou du service"
    assert task.title.startswith("Appeler Zorglub Industrie")  # as written, in French
    with translation.override("en"):
        assert timeline.shown(event.summary, event.data) == (
            "Dispute on ZORG-F004: Quality of the goods or service"
        )
        assert title(task) == "Call Zorglub Industrie about one invoice, €6,601.43"
    with translation.override("fr"):
        assert timeline.shown(event.summary, event.data) == event.summary
        assert (
            title(task) == "Appeler Zorglub Industrie au sujet d'une facture, 6\u00a0601,43\u00a0€"
        )


def test_a_text_that_cannot_be_kept_and_an_older_row_read_as_written(french_org):
    org, customer = french_org
    assert timeline.kept("a person's note") is None
    assert timeline.kept(timeline.Text("%(x)s", {"x": object()})) is None
    older = TimelineEvent.objects.create(organisation=org, customer=customer, kind="note",
                                         at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
                                         summary="Écrit en français", data={})  # fmt: skip
    forged = {timeline.KEPT: {"message": "%(x)s", "values": {"x": {"lazy": "os.system",
                                                                  "args": ["true"]}}}}  # fmt: skip
    with translation.override("en"):
        assert timeline.shown(older.summary, older.data) == "Écrit en français"
        assert timeline.shown("as written", forged) == "as written"  # only known functions


@pytest.mark.parametrize(
    ("language", "said", "not_said"),
    [("en", ["Dispute on ZORG-F004: Quality of the goods", "Call Zorglub Industrie about"],
      ["Litige sur", "Appeler"]),
     ("fr", ["Litige sur ZORG-F004", "Appeler Zorglub Industrie"], ["Dispute on", "Call Zorg"])],
)  # fmt: skip
def test_the_console_says_them_in_its_readers_language(french_org, language, said, not_said):
    org, customer = french_org
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    client.cookies["django_language"] = language
    client.force_login(f.member(org, "boss@fr-org.test", "admin"))
    with translation.override(language):
        pages = "".join(
            client.get(path).content.decode()
            for path in (f"/customers/{customer.pk}/", "/calls/", "/tasks/")
        )
    assert f'<span lang="{language}">' in pages
    text = re.sub(r"<[^>]*>", "", pages)
    assert [s for s in said if s not in text] == []
    assert [s for s in not_said if s in text] == []
