"""What a reminder says, as received by a real SMTP server: who writes and where to reply,
how to pay, what has fallen due and what has not, and by when to pay."""

from __future__ import annotations

import datetime as dt
import re
from email.utils import parseaddr

import factories as f
import pytest
from stdnum import iso11649
from test_translations import misspaced

from relance.accounts.identity import payment_reference, update_identity
from relance.dunning import outbox
from relance.dunning.engine import run

pytestmark = pytest.mark.django_db

D = dt.date(2026, 11, 23)  # a Monday
IDENTITY = {
    "legal_name": "Acme Industrie SAS",
    "email": "recouvrement@acme.test",
    "phone": "04 72 00 00 00",
    "address": "12 rue des Forges\n69007 Lyon",
    "signature": "Marie Martin\nResponsable crédit clients",
    "siren": "732829320",
    "vat_number": "FR44732829320",
    "iban": "FR7630006000011234567890189",
    "bic": "BNPAFRPPXXX",
}


@pytest.fixture(autouse=True)
def clock(time_machine):
    time_machine.move_to(dt.datetime(2026, 11, 23, 9, 30, tzinfo=dt.UTC), tick=True)


def parts(received):
    message = received.message
    text = html = ""
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            text = part.get_payload(decode=True).decode()
        elif part.get_content_type() == "text/html":
            html = part.get_payload(decode=True).decode()
    return message, text, html


def reminded(org, *, language="fr", due=(D - dt.timedelta(days=5),)):
    """A customer with invoices due on ``due``, today's run and the e-mail it sends."""
    customer = f.customer(org, "C-0042", language=language, email="factures@durand.test")
    invoices = [f.invoice(customer, f"F-{i}", due=day) for i, day in enumerate(due, start=1)]
    f.scenario(org)
    run(org, D)
    report = outbox.send_due(today=D)
    assert report.counts["sent"] == 1, report.counts
    return invoices


@pytest.mark.parametrize(
    ("language", "words"),
    [
        ("fr", ("Pour régler par virement", "titulaire du compte\xa0: Acme Industrie SAS",
                "TVA intracommunautaire FR44732829320", "référence à indiquer")),
        ("en", ("To pay by bank transfer", "account holder: Acme Industrie SAS",
                "VAT number FR44732829320", "reference to quote")),
    ],
)  # fmt: skip
def test_it_writes_with_the_identity_and_tells_how_to_pay(mail, language, words):
    org = f.organisation("acme")
    update_identity(org, IDENTITY)
    reminded(org, language=language)
    message, text, html = parts(mail.received[0])
    assert parseaddr(message["Reply-To"])[1] == "recouvrement@acme.test"
    for body in (text, html):
        assert "Marie Martin" in body and "Responsable crédit clients" in body
        assert "69007 Lyon" in body and "04 72 00 00 00" in body
        assert "SIREN 732829320" in body
        assert "FR76 3000 6000 0112 3456 7890 189" in body  # as printed on an invoice
        assert "BNPAFRPPXXX" in body
        assert "RF28 C004 2" in body  # the customer's ISO 11649 reference
    for word in words:
        assert word in text
    assert "Le service comptabilité clients" not in text  # the organisation's own signature


def test_it_never_invents_bank_details(mail):
    org = f.organisation("acme", bic="BNPAFRPPXXX")  # a BIC alone is no account to pay into
    customer = reminded(org)[0].customer
    reference = payment_reference(customer)  # RF28C0042: what a transfer would quote
    _, text, html = parts(mail.received[0])
    for body in (text, html):
        assert "IBAN" not in body and "virement" not in body
        # Not the bare letters RF: the signed portal link may hold them by chance.
        assert reference not in body and iso11649.format(reference) not in body
        assert "référence à indiquer" not in body


def test_it_asks_for_nothing_in_a_thank_you(mail):
    org = f.organisation("acme")
    update_identity(org, IDENTITY)
    customer = f.customer(org, "C-0042", email="factures@durand.test")
    paid = f.invoice(customer, "F-1", due=D - f.days(20))
    f.pay(paid, on=D - f.days(1))
    # Planned as the run plans a thank-you (the run's own planning is the engine's tests').
    f.communication(customer, [paid], on=D, template="thanks", purpose="thanks")
    assert outbox.send_due(today=D).counts["sent"] == 1
    message, text, html = parts(mail.received[0])
    assert "Merci pour votre règlement" in message["Subject"]
    assert "IBAN" not in text and "IBAN" not in html
    assert "Marie Martin" in text  # signed all the same


@pytest.mark.parametrize(
    ("language", "heading", "due_words", "due_total"),
    [
        ("fr", "Pas encore échue, pour information", "arrivée à échéance", "dont échu\xa0: 100,00"),
        ("en", "Not yet due, for your information", "which is now due", "of which due: €100.00"),
    ],
)
def test_it_lists_not_yet_due_invoices_under_their_own_heading(
    mail, language, heading, due_words, due_total
):
    org = f.organisation("acme")
    # F-1 has been due five days (first reminder); F-2 falls due in five (courtesy): one
    # e-mail for both.
    reminded(org, language=language, due=(D - f.days(5), D + f.days(5)))
    message, text, html = parts(mail.received[0])
    assert due_words in text  # one invoice has fallen due: the singular
    before, _, after = text.partition(heading)
    assert after, text
    assert "F-1" in before and "F-2" not in before
    assert "F-2" in after and "F-1" not in after
    assert due_total in after  # the total outstanding, and what of it has fallen due
    html_before, _, html_after = html.partition(heading)
    assert "F-1" in html_before and "F-2" in html_after and "F-2" not in html_before
    assert "F-1" in message["Subject"]  # the subject names what has fallen due


def test_it_lists_a_courtesy_reminder_without_the_heading(mail):
    org = f.organisation("acme")
    reminded(org, due=(D + f.days(5),))
    _, text, _ = parts(mail.received[0])
    assert "F-1" in text and "Pas encore échue" not in text


@pytest.mark.parametrize(
    ("language", "words"),
    [("fr", "sous 5 jours, soit au plus tard le 28 novembre 2026"),
     ("en", "within 5 days, that is by 28 November 2026")],
)  # fmt: skip
def test_it_gives_five_days_in_the_first_reminder(mail, language, words):
    org = f.organisation("acme")
    reminded(org, language=language)
    _, text, html = parts(mail.received[0])
    assert words in text and words in html


def test_it_writes_apostrophes_as_such_in_the_text_and_escapes_them_in_the_html(mail):
    org = f.organisation("acme")
    update_identity(org, {**IDENTITY, "address": "12 rue de l'Industrie\n69007 Lyon"})
    reminded(org)
    _, text, html = parts(mail.received[0])
    assert "12 rue de l'Industrie" in text and "&#x27;" not in text
    assert "12 rue de l&#x27;Industrie" in html


def test_a_french_reminder_spaces_its_signs_as_french_typography_does(mail):
    """A no-break space before ":" and inside « », a narrow one before ";", "!" and "?", in
    the subject, the text and the HTML (whose markup is left out)."""
    org = f.organisation("acme")
    update_identity(org, IDENTITY)  # the payment block: a colon after each of its labels
    reminded(org, due=(D - f.days(5), D + f.days(5)))
    _, text, html = parts(mail.received[0])
    shown = re.sub(r"<style.*?</style>|<[^>]*>", " ", html, flags=re.S)
    subject = mail.received[0].subject
    assert "\u00a0:" in text
    assert [misspaced(subject), misspaced(text), misspaced(shown)] == [[], [], []]
