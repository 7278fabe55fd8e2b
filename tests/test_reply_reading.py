"""Reading replies: each rule on its own (its kind, its date, its evidence kept), the quote
cut, and the corpus of written replies (tests/data/replies.yaml) measured: precision and
recall per kind must stay above floors set just under what the rules do today."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

from relance.ledger.models import DisputeReason
from relance.replies import reading, scoring
from relance.replies.reading import read

WEDNESDAY = dt.date(2026, 11, 25)
CORPUS = Path(__file__).parent / "data" / "replies.yaml"

# Floors per kind (precision, recall) on the whole corpus, and of the kinds read right on
# the replies held out while the rules were written and on those written after they were
# frozen (fewer, and the fairer estimate, so looser).
FLOORS = {
    "paid": (0.95, 0.90),
    "promise": (0.95, 0.90),
    "dispute": (0.95, 0.90),
    "copy": (0.90, 0.90),
    "absence": (0.95, 0.95),
    "other": (0.75, 0.90),
}
HELD_OUT_ACCURACY = 0.88
FRESH_ACCURACY = 0.75  # replies written after the rules were last changed
DATES_RIGHT = 0.95


def test_it_reads_a_payment_with_its_date_and_reference():
    r = read(
        "Bonjour,\nLe virement a été effectué hier, référence VIR-2026-8841.\nCordialement",
        received=WEDNESDAY,
    )
    assert (r.kind, r.date, r.reference) == ("paid", dt.date(2026, 11, 24), "VIR-2026-8841")
    assert "virement a été effectué" in " ".join(r.evidence)
    assert r.details()["date"] == "2026-11-24"


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("Nous réglerons fin du mois.", dt.date(2026, 11, 30)),
        ("Le paiement sera effectué le 15 décembre.", dt.date(2026, 12, 15)),
        ("We will pay next Friday.", dt.date(2026, 11, 27)),
        ("Nous allons vous régler d'ici vendredi.", dt.date(2026, 11, 27)),
        ("Nous allons procéder au règlement sous huitaine.", dt.date(2026, 12, 3)),
        ("We will pay on the 15th.", dt.date(2026, 12, 15)),
        ("Nous paierons le 15 janvier 2027.", dt.date(2027, 1, 15)),
        ("Payment will go out on Monday 7 December.", dt.date(2026, 12, 7)),
        ("Nous règlerons dans deux semaines.", dt.date(2026, 12, 9)),
        ("je fais le virement demain", dt.date(2026, 11, 26)),
    ],
)
def test_it_reads_a_promise_and_its_date(text, day):
    r = read(text, received=WEDNESDAY)
    assert r.kind == "promise"
    assert r.date == day, r
    assert r.evidence


def test_it_reads_a_date_relative_to_the_day_the_reply_came():
    later = read("Nous réglerons fin du mois.", received=dt.date(2027, 2, 3))
    assert later.date == dt.date(2027, 2, 28)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("Nous contestons le prix, il ne correspond pas au devis.", "price"),
        ("We only received 40 units, invoiced 50: we won't pay until a credit note.", "quantity"),
        ("Le matériel est défectueux, nous refusons de payer.", "quality"),
        ("Nous n'avons jamais reçu la marchandise.", "not_received"),
        ("Half the order arrived damaged, invoice disputed.", "delivery"),
        ("Invoice rejected: no purchase order number, please reissue.", "purchase_order"),
        ("Merci de refaire la facture, l'adresse de facturation est fausse.", "address"),
        ("Cette facture est un doublon de la F-12.", "duplicate"),
        ("Nous contestons cette facture.", "other"),
    ],
)
def test_it_reads_a_dispute_and_its_reason(text, reason):
    r = read(text, received=WEDNESDAY)
    assert (r.kind, r.reason) == ("dispute", reason)
    assert reason in DisputeReason.values


def test_it_reads_a_request_for_a_copy():
    assert read("Pourriez-vous nous renvoyer la facture ?", received=WEDNESDAY).kind == "copy"
    assert read("Could you send a copy of the invoice?", received=WEDNESDAY).kind == "copy"


def test_it_reads_an_out_of_office_and_its_return_date():
    r = read(
        "I am out of the office until Friday 27 November.",
        received=WEDNESDAY,
        subject="Automatic reply: Overdue invoice",
    )
    # Away until a Friday: back on the Monday.
    assert (r.kind, r.return_date) == ("absence", dt.date(2026, 11, 30))
    back = read("Je serai de retour le 3 décembre.", received=WEDNESDAY, automatic=True)
    assert (back.kind, back.return_date) == ("absence", dt.date(2026, 12, 3))


def test_it_reads_nothing_in_the_quoted_reminder():
    text = (
        "Bien reçu, merci.\n\n"
        "Le mar. 24 nov. 2026 à 09:12, Acme <r@acme.fr> a écrit :\n"
        "> Merci de régler sous huitaine. Si vous avez déjà réglé, ignorez ce message.\n"
    )
    assert reading.strip_quoted(text) == "Bien reçu, merci."
    assert read(text, received=WEDNESDAY).kind == "other"


def test_it_does_not_take_a_payment_not_made_for_one():
    r = read("Nous n'avons pas encore réglé, nous paierons le 4 décembre.", received=WEDNESDAY)
    assert (r.kind, r.date) == ("promise", dt.date(2026, 12, 4))


def test_it_finds_the_invoices_a_reply_names():
    numbers = ["F-1", "F-12", "F-2026-0142"]
    assert reading.mentioned("le F-12 et la f-2026-0142, pas la F-1234", numbers) == [
        "F-12",
        "F-2026-0142",
    ]


@pytest.fixture(scope="module")
def corpus():
    return scoring.cases(yaml.safe_load(CORPUS.read_text(encoding="utf-8")))


def test_it_has_a_corpus_of_at_least_200_replies_in_both_languages(corpus):
    assert len(corpus) >= 200
    kinds = {case.kind for case in corpus}
    assert kinds == set(reading.KINDS)
    assert sum("Bonjour" in c.text or "bonjour" in c.text for c in corpus) >= 60
    assert sum(c.text.lstrip().lower().startswith(("hi", "hello", "dear")) for c in corpus) >= 40


def test_it_reads_the_corpus_above_its_floors(corpus):
    report = scoring.score(corpus)
    print("\n" + scoring.table(report))
    for kind, (precision, recall) in FLOORS.items():
        score = report.scores[kind]
        assert score.precision >= precision, (kind, "precision", score, report.misread)
        assert score.recall >= recall, (kind, "recall", score, report.misread)
    assert report.dates_right / report.dates_expected >= DATES_RIGHT, report.wrong_dates
    held_out = scoring.score(scoring.held_out(corpus))
    assert held_out.accuracy >= HELD_OUT_ACCURACY, held_out.misread
    fresh = scoring.score(scoring.fresh(corpus))
    assert fresh.cases >= 30 and fresh.accuracy >= FRESH_ACCURACY, fresh.misread
