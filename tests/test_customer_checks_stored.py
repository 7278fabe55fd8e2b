"""A customer's identifiers are checked when they change, not again while the ledger holds
them: a re-import names every customer, and their check digits were most of its checks."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import factories
import pytest

from relance.ledger.imports import ImportFailed, import_file
from relance.ledger.imports.mapping import load_mapping
from relance.ledger.models import Customer
from relance.ledger.validation import check_customer_fields

VALID_SIREN = "552008443"
MAPPING = """
name: erp
record: invoice
encoding: utf-8
delimiter: ";"
columns:
  customer.reference: Compte
  customer.legal_name: Nom
  customer.siren: SIREN
  invoice.number: Facture
  invoice.issue_date: Date
  invoice.due_date: Échéance
  invoice.amount: TTC
"""


def problems(fields, stored=None):
    return [name for name, _ in check_customer_fields(dict(fields), stored)]


def test_a_value_the_ledger_holds_is_not_checked_again():
    assert problems({"siren": "123456789"}) == ["siren"]
    assert problems({"siren": "123456789"}, {"siren": "123456789"}) == []
    assert problems({"siren": "123456789"}, {"siren": VALID_SIREN}) == ["siren"]
    assert problems({"email": "nope"}, {"email": "nope"}) == []
    assert problems({"email": "nope"}, {"email": "a@b.fr"}) == ["email"]


def test_a_new_siret_is_checked_against_the_siren_held():
    stored = {"siren": VALID_SIREN, "siret": VALID_SIREN + "00011"}
    assert problems({"siren": VALID_SIREN, "siret": "73282932000074"}, stored) == ["siret"]


@pytest.mark.django_db
def test_an_import_refuses_a_changed_identifier_and_keeps_a_held_one(org, tmp_path: Path):
    mapping = load_mapping(factories.mapping_file(tmp_path / "mapping.yaml", MAPPING))
    held = factories.customer(org, "C1", siren="123456789")  # stored before any check
    factories.customer(org, "C2", siren=VALID_SIREN)
    ar = tmp_path / "ar.csv"

    def write(siren_c2: str) -> Path:
        ar.write_text(
            "Compte;Nom;SIREN;Facture;Date;Échéance;TTC\n"
            "C1;Un;123456789;FA-1;01/10/2026;31/10/2026;100,00\n"
            f"C2;Deux;{siren_c2};FA-2;01/10/2026;31/10/2026;200,00\n",
            encoding="utf-8",
        )
        return ar

    with pytest.raises(ImportFailed) as failure:
        import_file(org, write("552008444"), mapping=mapping, as_of=dt.date(2026, 11, 2))
    assert [(p.row, p.field) for p in failure.value.problems] == [(3, "SIREN")]

    import_file(org, write(VALID_SIREN), mapping=mapping, as_of=dt.date(2026, 11, 2))
    assert Customer.objects.get(pk=held.pk).siren == "123456789"
