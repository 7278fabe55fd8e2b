"""An event recorded once reads in its reader's language: on the audit page (Settings →
Audit trail) and on the customer's timeline, in French to a French reader and in English to
an English one, its values (a number, a date, a label) each the reader's way; the audit
trail's stored summary stays in English."""

from __future__ import annotations

import datetime as dt
import html
import re

import factories as f
import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import translation
from test_console_french import plain

from relance.audit.models import AuditEvent
from relance.dunning import pauses

pytestmark = pytest.mark.django_db

ON = dt.date(2026, 11, 24)


@pytest.fixture
def disputed():
    """A French organisation whose admin opened a dispute on an invoice of a customer."""
    org = f.organisation("zorglub", name="Zorglub SAS")
    admin = f.member(org, "admin@zorglub.test")
    customer = f.customer(org, "ZORG-1", legal_name="Zorglub Client SARL")
    invoice = f.invoice(customer, "ZORG-F004", due=ON - dt.timedelta(days=10), amount="1200.00")
    pauses.open_dispute(invoice, reason="quality", on=ON, user_id=admin.pk)
    return org, admin, customer


def page(admin, language: str, path: str) -> str:
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    client.force_login(admin)
    with translation.override(language):  # the request's language, not left to the next test
        response = client.get(path)
    assert response.status_code == 200
    # Its text, tags left out (a number or a date kept on one line is a span of its own).
    return plain(html.unescape(re.sub(r"<[^>]*>", "", response.content.decode())))


@pytest.mark.parametrize(
    ("language", "audit", "timeline", "not_said"),
    [
        ("fr", "litige sur ZORG-F004 (Qualité des biens ou du service) à partir du 24/11/2026",
         "Litige sur ZORG-F004 : Qualité des biens ou du service",
         ["dispute on", "Quality of the goods", "24 Nov 2026"]),
        ("en", "dispute on ZORG-F004 (Quality of the goods or service) from 24 Nov 2026",
         "Dispute on ZORG-F004: Quality of the goods or service",
         ["litige sur", "Qualité des biens", "24/11/2026"]),
    ],
)  # fmt: skip
def test_a_recorded_event_reads_in_the_readers_language(
    disputed, language, audit, timeline, not_said
):
    org, admin, customer = disputed
    trail = page(admin, language, reverse("console:settings_audit"))
    file = page(admin, language, f"/customers/{customer.pk}/")
    assert audit in trail
    assert timeline in file
    assert [s for s in not_said if s in trail + file] == []
    # Written once, in English, for exports and the command line, whoever reads it later.
    stored = AuditEvent.objects.get(organisation=org, action="dispute.opened")
    assert stored.summary == (
        "dispute on ZORG-F004 (Quality of the goods or service) from 24 Nov 2026"
    )
