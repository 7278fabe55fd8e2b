"""The console's bank page: the credits to review, applied by a manager through the same
service as `relance bank apply`."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import factories as f
import pytest
from django.urls import reverse
from test_bank import camt, write

from relance.bank import services
from relance.bank.models import BankLine, LineStatus
from relance.ledger.models import Invoice

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("in_english")]
D = dt.date(2026, 11, 23)


def signed_in(client, org, role="manager"):
    client.force_login(f.member(org, f"{role}@{org.slug}.test", role))


@pytest.fixture
def queued(org, tmp_path: Path) -> BankLine:
    customer = f.customer(org, "C1")
    f.invoice(customer, "F-1", due=D, amount="100.00")
    f.invoice(customer, "F-2", due=D, amount="200.00")
    path = write(tmp_path, "s.xml", camt([{"ref": "Q1", "amount": "150.00", "ustrd": "F-2"}]))
    services.import_statement(org, path, as_of=D)
    return BankLine.objects.get()


def test_it_lists_the_credits_to_review_with_their_proposal(client, org, queued) -> None:
    signed_in(client, org, "viewer")

    page = client.get(reverse("console:bank")).content.decode()

    assert f'data-line="{queued.pk}" data-confidence="probable"' in page
    assert '<span class="nowrap">F-2</span> €150.00' in page  # the amount, its currency
    assert 'Invoice number: <span class="nowrap">F-2</span>' in page  # a rule by its name
    assert "Probable" in page
    assert "Leave unapplied" not in page  # a viewer decides nothing


def test_it_splits_a_credit_across_invoices(client, org, queued) -> None:
    signed_in(client, org)

    response = client.post(reverse("console:bank_apply", args=[queued.pk]),
                           {"action": "split", "invoices": "F-2=120,00 F-1"})  # fmt: skip

    assert response.status_code == 302
    balances = dict(Invoice.objects.values_list("number", "balance"))
    assert balances == {"F-1": Decimal("70.00"), "F-2": Decimal("80.00")}
    queued.refresh_from_db()
    assert queued.status == LineStatus.APPLIED
    assert "No credit to review." in client.get(reverse("console:bank")).content.decode()


def test_it_shows_a_refused_decision(client, org, queued) -> None:
    signed_in(client, org)

    response = client.post(reverse("console:bank_apply", args=[queued.pk]),
                           {"action": "split", "invoices": "F-9"}, follow=True)  # fmt: skip

    assert "no invoice &#x27;F-9&#x27;" in response.content.decode()
    queued.refresh_from_db()
    assert queued.status == LineStatus.PROPOSED


def test_it_lets_no_viewer_apply_and_no_other_organisation_see_a_line(client, org, queued) -> None:
    signed_in(client, org, "viewer")
    assert client.post(reverse("console:bank_apply", args=[queued.pk]),
                       {"action": "accept"}).status_code == 403  # fmt: skip
    other = f.organisation("other")
    client.force_login(f.member(other, "manager@other.test", "manager"))
    assert client.post(reverse("console:bank_apply", args=[queued.pk]),
                       {"action": "accept"}).status_code == 404  # fmt: skip
    queued.refresh_from_db()
    assert queued.status == LineStatus.PROPOSED
