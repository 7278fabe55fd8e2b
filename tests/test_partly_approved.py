"""A partly approved e-invoice (platform status 206, design/law.md: "remind only the approved
amount") is dunned for the approved part only: the run, the e-mail received, the send-time
re-check, the penalties, the letters, the console's customer page and the portal all state
it. An ordinary dispute, with or without an amount, still suspends its invoice."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import factories as f
import pytest

from relance.documents import letters
from relance.dunning import outbox, owed, pauses, policy
from relance.dunning.customer_view import customer_view
from relance.dunning.engine import run
from relance.dunning.models import CommunicationItem, Rate
from relance.dunning.penalty_service import penalties_of
from relance.ledger.imports import import_file
from relance.ledger.models import Dispute, DisputeOutcome, Invoice

pytestmark = pytest.mark.django_db

D = dt.date(2026, 11, 23)  # a Monday
DUE = D - dt.timedelta(days=10)  # the first reminder (J+5) is due today


@pytest.fixture(autouse=True)
def clock(time_machine):
    time_machine.move_to(dt.datetime(2026, 11, 23, 9, 30, tzinfo=dt.UTC), tick=True)


@pytest.fixture
def ledger(db):
    org = f.organisation("acme")
    f.scenario(org)
    customer = f.customer(org, "C-0042", language="en", email="factures@durand.test")
    invoice = f.invoice(customer, "FA-1", due=DUE, amount="1000.00")
    return org, customer, invoice


def statuses(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "statuts.csv"
    path.write_text("facture;statut;date;montant;code_motif;motif\n" + "\n".join(lines) + "\n")
    return path


def planned(org) -> list[CommunicationItem]:
    return list(CommunicationItem.objects.filter(communication__organisation=org).order_by("pk"))


def text_of(received) -> str:
    for part in received.message.walk():
        if part.get_content_type() == "text/plain":
            return part.get_payload(decode=True).decode()
    raise AssertionError("no text part")


def test_it_duns_a_partly_approved_invoice_for_the_approved_amount(mail, ledger, tmp_path):
    org, _, invoice = ledger
    import_file(org, statuses(tmp_path, f"FA-1;206;{D - f.days(3)};600,00;PRIX;Remise"))
    run(org, D)
    [item] = planned(org)
    assert (item.invoice_id, item.balance) == (invoice.pk, Decimal("600.00"))
    assert outbox.send_due(today=D).counts["sent"] == 1
    text = text_of(mail.received[0])
    assert "outstanding on the approved amount €600.00" in text
    assert "Total outstanding: €600.00" in text
    assert "outstanding €1,000.00" not in text and "Total outstanding: €1,000.00" not in text
    item.refresh_from_db()
    assert item.balance == Decimal("600.00")  # what the message said


def test_it_does_not_dun_an_invoice_approved_for_nothing(ledger, tmp_path):
    org, customer, invoice = ledger
    other = f.invoice(customer, "FA-2", due=DUE, amount="250.00")
    import_file(org, statuses(tmp_path, f"FA-1;206;{D - f.days(3)};0;;"))
    [dispute] = Dispute.objects.filter(invoice=invoice, resolved_on=None)
    assert (dispute.reason, dispute.amount) == ("not_approved", Decimal("1000.00"))
    run(org, D)
    assert [i.invoice_id for i in planned(org)] == [other.pk]  # the other invoice goes on
    view = customer_view(org, customer, D)
    [fa1] = [i for i in view.open_items if i.number == "FA-1"]
    assert (fa1.paused, fa1.asked) == ("not_approved", Decimal("0.00"))


def test_it_does_not_dun_an_approved_part_below_the_minimum_balance(ledger, tmp_path):
    org, customer, _ = ledger
    import_file(org, statuses(tmp_path, f"FA-1;206;{D - f.days(3)};0,80;;"))
    run(org, D)
    assert planned(org) == []
    [fa1] = customer_view(org, customer, D).open_items
    assert (fa1.paused, fa1.asked) == ("not_approved", Decimal("0.00"))


@pytest.mark.parametrize("amount", [None, Decimal("300.00")])
def test_an_ordinary_dispute_still_suspends_its_invoice(ledger, amount):
    org, customer, invoice = ledger
    f.dispute(invoice, on=D - f.days(2), reason="price", amount=amount)
    run(org, D)
    assert planned(org) == []
    [fa1] = customer_view(org, customer, D).open_items
    assert fa1.paused == "dispute"


def test_an_ordinary_dispute_beside_a_partial_approval_suspends(ledger, tmp_path):
    org, _, invoice = ledger
    import_file(org, statuses(tmp_path, f"FA-1;206;{D - f.days(3)};600,00;;"))
    f.dispute(invoice, on=D - f.days(2), reason="quality")
    run(org, D)
    assert planned(org) == []


def test_it_rechecks_at_send_time_what_the_buyer_approved(mail, ledger, tmp_path):
    org, customer, _ = ledger
    f.invoice(customer, "FA-2", due=DUE, amount="400.00")
    run(org, D)  # planned for the full amounts
    assert sorted(i.balance for i in planned(org)) == [Decimal("400.00"), Decimal("1000.00")]
    import_file(org, statuses(tmp_path, f"FA-1;206;{D};700,00;;", f"FA-2;206;{D};0;;"))
    assert outbox.send_due(today=D).counts["sent"] == 1
    text = text_of(mail.received[0])
    assert "€700.00" in text and "FA-2" not in text
    items = {i.invoice.number: i for i in planned(org)}
    assert (items["FA-1"].balance, items["FA-1"].dropped) == (Decimal("700.00"), "")
    assert items["FA-2"].dropped == "not_approved"


def test_a_later_approval_or_payment_ends_the_partial_approval(ledger, tmp_path):
    org, customer, invoice = ledger
    f.invoice(customer, "FA-2", due=DUE, amount="1000.00")
    import_file(org, statuses(
        tmp_path, f"FA-1;206;{D - f.days(9)};600,00;;", f"FA-2;206;{D - f.days(9)};600,00;;",
        # 205: approved in full after all; 212: the approved part cashed.
        f"FA-1;205;{D - f.days(2)};;;", f"FA-2;212;{D - f.days(2)};600,00;;",
    ))  # fmt: skip
    lifted = Dispute.objects.get(invoice=invoice)
    assert (lifted.resolved_on, lifted.outcome) == (D - f.days(2), DisputeOutcome.REJECTED)
    run(org, D)
    # FA-1 is due in full; FA-2 owes only the part not approved: nothing to ask.
    assert [(i.invoice.number, i.balance) for i in planned(org)] == [("FA-1", Decimal("1000.00"))]


def test_a_second_partial_approval_replaces_the_first(ledger, tmp_path):
    org, _, invoice = ledger
    import_file(org, statuses(tmp_path, f"FA-1;206;{D - f.days(5)};300,00;;",
                              f"FA-1;206;{D - f.days(3)};800,00;;"))  # fmt: skip
    [still] = Dispute.objects.filter(invoice=invoice, resolved_on=None)
    assert still.amount == Decimal("200.00")
    run(org, D)
    assert [i.balance for i in planned(org)] == [Decimal("800.00")]


def test_a_credit_note_for_the_part_not_approved_resolves_it_as_ever(ledger, tmp_path):
    org, _, invoice = ledger
    import_file(org, statuses(tmp_path, f"FA-1;206;{D - f.days(5)};600,00;;"))
    dispute = Dispute.objects.get(invoice=invoice)
    pauses.resolve_dispute(dispute, on=D - f.days(1), resolution="avoir",
                           outcome=DisputeOutcome.CREDIT_NOTE,
                           credit_note=pauses.CreditNote("AV-1", Decimal("400.00")))  # fmt: skip
    run(org, D)
    assert [i.balance for i in planned(org)] == [Decimal("600.00")]
    assert Invoice.objects.get(pk=invoice.pk).balance == Decimal("600.00")


def test_the_approved_part_still_unpaid_is_what_is_asked(ledger, tmp_path):
    org, _, invoice = ledger
    import_file(org, statuses(tmp_path, f"FA-1;206;{D - f.days(5)};600,00;;"))
    f.pay(invoice, "250.00", on=D - f.days(2))
    run(org, D)
    # 600 approved, 250 paid: 350 asked (never the 400 not approved).
    assert [i.balance for i in planned(org)] == [Decimal("350.00")]
    assert policy.amount_asked(Decimal("750.00"), Decimal("400.00"), Decimal("1.00")) == (
        Decimal("350.00")
    )


def test_penalties_and_the_formal_notice_are_on_the_approved_amount(ledger, tmp_path):
    org, customer, invoice = ledger
    f.address(customer, "4 avenue des Tilleuls", postcode="69003", city="Lyon")
    Rate.objects.create(series="fr_late_penalty_default", date=dt.date(2026, 7, 1),
                        percent="12.15")  # fmt: skip
    twin = f.invoice(f.customer(org, "C-2"), "FB-1", due=DUE, amount="600.00")
    import_file(org, statuses(tmp_path, f"FA-1;206;{D - f.days(5)};600,00;;"))
    found = penalties_of(org, [invoice, twin], D)
    assert found[invoice.pk].interest == found[twin.pk].interest > 0
    request = letters.Request(org, customer, "formal_notice", D, [invoice], registered=True,
                              reference="R-1")  # fmt: skip
    letter, _ = letters.write(request)
    [claimed] = letters.claimed_amounts(letter)
    penalty = found[twin.pk]
    assert Decimal(claimed["total"]) == Decimal("600.00") + penalty.interest + penalty.indemnity


def test_the_hand_over_file_claims_the_approved_amount(ledger, tmp_path):
    from relance.documents import handover

    org, customer, _ = ledger
    f.address(customer, "4 avenue des Tilleuls", postcode="69003", city="Lyon")
    Rate.objects.create(series="fr_late_penalty_default", date=dt.date(2026, 7, 1),
                        percent="12.15")  # fmt: skip
    import_file(org, statuses(tmp_path, f"FA-1;206;{D - f.days(5)};600,00;;"))
    _, claimed, _, _ = handover.build(org, customer, "lawyer", D)
    assert claimed[0]["principal"] == Decimal("600.00")


def test_the_console_and_the_portal_state_the_approved_amount(client, ledger, tmp_path):
    from relance.portal import links

    org, customer, _ = ledger
    import_file(org, statuses(tmp_path, f"FA-1;206;{D - f.days(5)};600,00;;"))
    [fa1] = customer_view(org, customer, D).open_items
    assert (fa1.balance, fa1.asked, fa1.paused) == (Decimal("1000.00"), Decimal("600.00"), None)
    assert fa1.next_step is not None and fa1.next_step.on == D
    client.force_login(f.member(org, "claire@acme.test", "viewer"))
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    console = client.get(f"/customers/{customer.pk}/").content.decode()
    assert 'data-asked="600.00"' in console and "approved: €600.00 dunned" in console
    client.logout()
    path = links.url_for(customer).removeprefix(links.base_url())
    page = client.get(path).content.decode()
    assert "partly approved" in page
    assert "600.00" in page and "1,000.00" not in page


def test_the_one_reading_tells_disputes_apart():
    rows = [(1, "price", None), (2, "not_approved", Decimal("5")), (3, "not_approved", None),
            (4, "quality", Decimal("2")), (4, "not_approved", Decimal("1"))]  # fmt: skip
    found = owed.split(rows)
    assert found.suspending == {1, 3, 4}
    assert found.unapproved == {2: Decimal("5"), 4: Decimal("1")}


def test_paying_online_from_the_portal_asks_the_approved_amount(settings, ledger, tmp_path):
    from fake_stripe import FakeStripe

    from relance.checkout import service
    from relance.checkout.models import CheckoutInvoice

    org, customer, invoice = ledger
    nothing = f.invoice(customer, "FA-2", due=DUE, amount="300.00")
    server = FakeStripe({"sk_test_acme": "acme"}).start()
    settings.RELANCE_STRIPE = {
        "ORGANISATIONS": ["acme"], "API_BASE": server.base, "TIMEOUT": 5,
        "ACCOUNTS": {"ACME": {"SECRET_KEY": "sk_test_acme", "WEBHOOK_SECRETS": ["whsec_acme"]}},
    }  # fmt: skip
    try:
        import_file(org, statuses(tmp_path, f"FA-1;206;{D - f.days(5)};600,00;;",
                                  f"FA-2;206;{D - f.days(5)};0;;"))  # fmt: skip
        service.start(org, customer, [invoice.pk, nothing.pk], success_url="https://x.test/",
                      cancel_url="https://x.test/")  # fmt: skip
    finally:
        server.stop()
    [link] = CheckoutInvoice.objects.all()
    assert (link.invoice_id, link.amount, link.session.amount) == (
        invoice.pk, Decimal("600.00"), Decimal("600.00"))  # fmt: skip


def test_only_a_partial_approval_may_give_an_amount_of_zero(ledger, tmp_path):
    from django.utils import translation

    from relance.ledger.imports import ImportFailed

    org, _, _ = ledger
    translation.activate("en")  # the problems read in English (conftest resets it)
    with pytest.raises(ImportFailed) as refused:
        import_file(org, statuses(tmp_path, f"FA-1;212;{D};0;;", f"FA-1;206;{D};1000;;"))
    assert [str(p) for p in refused.value.problems] == [
        "statuts.csv, row 2, field 'amount': '0' is not a positive amount",
    ]
    with pytest.raises(ImportFailed) as refused:
        import_file(org, statuses(tmp_path, f"FA-1;206;{D};1000;;"))
    assert "from 0 to less than 1000.00" in str(refused.value)
    assert not Dispute.objects.exists()
