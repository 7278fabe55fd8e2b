"""A rate Relance does not know: ``RateUnknown`` carries its parts (``MissingRate``), the
command line says them with the command that adds it, the console in its reader's words
(which rate, which period, what is known), with the command for an administrator only."""

from __future__ import annotations

import datetime as dt
import html
from datetime import date
from decimal import Decimal

import factories as make
import pytest
from django.utils import translation

from relance.dunning.rates import MissingRate, RateRow, RateTable, RateUnknown, shipped_table


def unknown(table: RateTable, day: date) -> MissingRate:
    with pytest.raises(RateUnknown) as caught:
        table.rate_on(day)
    return caught.value.missing


def plain(text: str) -> str:
    return html.unescape(text).replace("\u00a0", " ").replace("\u202f", " ")


def test_it_carries_the_parts_and_says_them_for_the_command_line():
    missing = unknown(shipped_table("fr_late_penalty_default"), date(2026, 7, 10))
    assert missing == MissingRate(
        "fr_late_penalty_default", date(2026, 7, 10), date(2026, 7, 1), date(2013, 1, 1),
        date(2026, 1, 1),
    )  # fmt: skip
    assert (missing.period, missing.fetch) == ("2026-H2", "relance rates fetch --ecb")
    command = str(missing.for_command())
    assert "relance rates add fr_late_penalty_default 2026-07-01 PERCENT" in command
    assert "up to 2026-H1" in command


def test_it_says_a_half_year_missing_in_the_readers_words():
    missing = unknown(shipped_table("fr_late_penalty_default"), date(2026, 7, 10))
    with translation.override("fr"):
        said = plain(missing.for_reader().shown())
    assert said == (
        "Aucun taux des pénalités de retard par défaut n'est connu pour le second semestre 2026"
        " (du 01/07/2026 au 31/12/2026) : Relance le connaît jusqu'au premier semestre 2026 et"
        " ne reporte jamais un taux sur le semestre suivant."
    )
    with translation.override("en"):
        said = plain(missing.for_reader().shown())
    assert said == (
        "No default late-payment penalty rate is known for the second half of 2026 (1 Jul 2026"
        " to 31 Dec 2026): Relance knows it up to the first half of 2026 and never carries a"
        " rate over to the next half-year."
    )


def test_each_kind_and_each_known_range_reads_as_words():
    floor = unknown(shipped_table("fr_late_penalty_floor"), date(2014, 12, 31))
    ecb = unknown(shipped_table("ecb_mro"), date(2007, 6, 12))
    boe = unknown(shipped_table("uk_boe_reference"), date(2023, 7, 5))
    empty = unknown(RateTable("fr_legal_individuals", ()), date(2026, 3, 1))
    rows = (RateRow(date(2025, 1, 1), Decimal(1)), RateRow(date(2026, 1, 1), Decimal(1)))
    gap = unknown(RateTable("fr_legal_professionals", rows), date(2025, 8, 1))
    with translation.override("fr"):
        cases = {"floor": floor, "ecb": ecb, "boe": boe, "empty": empty, "gap": gap}
        said = {name: plain(m.for_reader().shown()) for name, m in cases.items()}
    assert said["floor"].endswith("Relance ne le connaît qu'à partir du premier semestre 2015.")
    assert said["ecb"] == (
        "Aucun taux de refinancement principal de la BCE n'est connu au 12/06/2007 : Relance ne"
        " le connaît qu'à partir du 13/06/2007."
    )
    assert said["boe"].startswith(
        "Aucun taux directeur de la Banque d'Angleterre du 30/06/2023 n'est connu pour le second"
        " semestre 2023"
    )
    assert said["empty"].startswith("Aucun taux de l'intérêt légal (créanciers particuliers)")
    assert said["empty"].endswith("Relance n'en connaît aucune valeur.")
    assert said["gap"].endswith("Relance ne le connaît pas pour ce semestre.")
    for text in said.values():
        assert "relance rates" not in text and "_" not in text and "-H" not in text, text


@pytest.fixture
def late_in_the_unknown_half_year(org, time_machine):
    """The shipped tables stop at the first half of 2026: an invoice late since October."""
    time_machine.move_to(dt.datetime(2026, 12, 2, 10, tzinfo=dt.UTC))
    make.scenario(org)
    customer = make.customer(org, "C001", legal_name="Durand SARL")
    make.invoice(customer, "F-1", due=date(2026, 10, 1), amount="1000.00")
    return customer


@pytest.mark.parametrize(("role", "command"), [("admin", True), ("collector", False)])
def test_the_customer_page_says_which_rate_is_missing_and_who_adds_it(
    client, org, late_in_the_unknown_half_year, role, command
):
    client.force_login(make.member(org, f"{role}@acme.test", role))
    page = plain(client.get(f"/customers/{late_in_the_unknown_half_year.pk}/").content.decode())
    start = page.index('data-testid="missing-rate"')
    note = page[start : page.index("</div>", start)]
    assert "Pénalités non calculées : Aucun taux des pénalités de retard par défaut" in note
    assert "pour le second semestre 2026 (du 01/07/2026 au 31/12/2026)" in note
    assert "la personne qui administre le serveur l'ajoute" in note
    assert "fr_late_penalty_default" not in page and "relance rates add" not in page
    assert ("<code>relance rates fetch --ecb</code>" in note) is command


def test_a_series_of_one_row_is_known_from_it_or_up_to_it():
    row = (RateRow(date(2025, 7, 1), Decimal(1)),)
    before = unknown(RateTable("fr_legal_individuals", row), date(2025, 3, 1))
    after = unknown(RateTable("fr_legal_individuals", row), date(2026, 3, 1))
    with translation.override("en"):
        assert plain(before.for_reader().shown()).endswith(
            "Relance knows it from the second half of 2025 only."
        )
        assert "Relance knows it up to the second half of 2025" in plain(after.for_reader().shown())
    assert "from 2025-H2 only" in str(before.for_command())
