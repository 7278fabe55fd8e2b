"""Hostile bank statements: what a CAMT.053 or a bank CSV may hold that no bank writes,
refused naming the file, the row and the field, with nothing written; and what already held
(another organisation's IBAN, a reference twice, debits only, another currency, zero)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import factories as f
import pytest
from test_bank import camt, write

from relance.bank import services
from relance.bank.models import BankLine, BankStatement
from relance.ledger.imports import ImportFailed
from relance.ledger.models import ImportRun, Invoice, Payment

# Their messages are read in English (the default language is French).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("in_english")]
D = dt.date(2026, 11, 23)
CUSTOMER_IBAN = "FR7612345000010000000000112"


@pytest.fixture
def org():
    org = f.organisation()
    customer = f.customer(org, "C1", iban=CUSTOMER_IBAN)
    f.invoice(customer, "FA-1", due=D - f.days(10), amount=Decimal("120.00"))
    return org


def refused(org, path: Path, fmt: str = "camt053") -> list[tuple[str, int | None, str, str]]:
    """The problems of a refused statement, having checked that nothing was written."""
    with pytest.raises(ImportFailed) as failure:
        services.import_statement(org, path, format=fmt, as_of=D)
    assert not BankLine.objects.exists() and not BankStatement.objects.exists()
    assert not Payment.objects.exists()
    return [(p.file, p.row, p.field, p.message) for p in failure.value.problems]


def entry(**fields: object) -> dict[str, object]:
    return {"ref": "BQ1", "amount": "120.00", "ustrd": "FA-1", **fields}


@pytest.mark.parametrize(
    ("fields", "field", "said"),
    [
        # Rounding 1E+999999 to cents raised decimal.InvalidOperation: a server error.
        ({"amount": "1e999999"}, "Amt", "'1e999999' is not an amount"),
        ({"amount": "1_20.00"}, "Amt", "'1_20.00' is not an amount"),
        ({"amount": "NaN"}, "Amt", "'NaN' is not an amount"),
        ({"amount": "12345678901234567890"}, "Amt", "is not an amount"),
        # Dates a payment cannot have were kept, matched and allocated.
        ({"date": "0001-01-01"}, "BookgDt", "0001-01-01 is outside the dates Relance handles"),
        ({"date": "9999-12-31"}, "BookgDt", "9999-12-31 is outside the dates Relance handles"),
        ({"date": "2026-02-30"}, "BookgDt", "'2026-02-30' is not a date"),
    ],
    ids=["1e999999", "underscore", "NaN", "20 digits", "year 1", "year 9999", "30 February"],
)
def test_a_camt_entry_no_bank_writes_is_refused_naming_its_field(
    org, tmp_path, fields, field, said
):
    path = write(tmp_path, "statement.xml", camt([entry(**fields)]))
    [(file, row, named, message)] = refused(org, path)
    assert (file, row, named) == ("statement.xml", 2, field) and said in message


def test_a_currency_that_is_no_code_is_refused_before_the_database_sees_it(org, tmp_path):
    # '<B>X' went into a column of 3 characters: kept by SQLite, an error on PostgreSQL.
    text = camt([entry()]).replace('Ccy="EUR"', 'Ccy="&lt;b&gt;x"')
    [(_file, _row, field, message)] = refused(org, write(tmp_path, "s.xml", text))
    assert (
        field == "Amt/@Ccy"
        and message == "currency '<B>X' is not an ISO 4217 currency code such as EUR"
    )


def test_a_negative_transaction_of_a_debit_is_not_taken_for_a_credit(org, tmp_path):
    # A debit batch whose transactions say -120.00 and -5.00: the sign times the amount made
    # them credits of 120.00 and 5.00, and the first paid FA-1.
    text = camt([entry(debit=True)])
    text = text.replace("<NtryDtls><TxDtls><Refs>",
                        '<NtryDtls><TxDtls><Amt Ccy="EUR">-120.00</Amt><Refs>')  # fmt: skip
    text = text.replace("</TxDtls></NtryDtls>", '</TxDtls><TxDtls><Amt Ccy="EUR">-5.00</Amt>'
                        "<RmtInf><Ustrd>x</Ustrd></RmtInf></TxDtls></NtryDtls>")  # fmt: skip
    problems = refused(org, write(tmp_path, "s.xml", text))
    assert [(p[2], p[3]) for p in problems] == [
        ("TxDtls/Amt", "'-120.00' is not an amount"), ("TxDtls/Amt", "'-5.00' is not an amount")
    ]  # fmt: skip
    assert Invoice.objects.get(number="FA-1").balance == Decimal("120.00")


def test_one_reference_for_two_movements_of_one_file_is_refused(org, tmp_path):
    # The second was counted as a copy of the first and dropped: 100.00 lost.
    text = camt([entry(amount="20.00"), entry(amount="100.00")])
    [(_file, _row, field, message)] = refused(org, write(tmp_path, "s.xml", text))
    assert field == "reference"
    assert message.startswith("the bank reference 'BQ1' is also that of row 2, of 20.00 on")


def test_the_same_reference_of_a_zip_member_is_refused_naming_the_member(org, tmp_path):
    import zipfile

    path = tmp_path / "statements.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("a.xml", camt([entry(amount="20.00"), entry(amount="100.00")]))
    [(file, _row, field, _message)] = refused(org, path)
    assert (file, field) == ("statements.zip/a.xml", "reference")


@pytest.mark.parametrize(
    ("line", "field", "said"),
    [
        # 20 digits went into a decimal of 18: unreadable on SQLite, an error on PostgreSQL.
        ("23/11/2026;VIR FA-1;12345678901234567890;R1",
         "Crédit", "is too large an amount: at most 16 digits before the decimal point"),
        ("23/11/2026;VIR FA-1;1e9999;R1", "Crédit", "'1e9999' is not an amount"),
        ("01/01/0001;VIR FA-1;120,00;R1", "Date", "0001-01-01 is outside the dates"),
        ("30/02/2026;VIR FA-1;120,00;R1", "Date", "'30/02/2026' is not a date"),
    ],
    ids=["20 digits", "1e9999", "year 1", "30 February"],
)  # fmt: skip
def test_a_bank_csv_line_no_bank_writes_is_refused_naming_row_and_column(
    org, tmp_path, line, field, said
):
    path = write(tmp_path, "releve.csv", f"Date;Libellé;Crédit;Réf.\n{line}\n")
    [(file, row, named, message)] = refused(org, path, "csv")
    assert (file, row, named) == ("releve.csv", 2, field) and said in message


def test_a_bank_csv_currency_that_is_no_code_is_refused(org, tmp_path):
    path = write(tmp_path, "releve.csv", "Date;Libellé;Crédit;Devise\n23/11/2026;VIR;1,00;<b>\n")
    assert refused(org, path, "csv") == [
        ("releve.csv", 2, "Devise", "currency '<B>' is not an ISO 4217 currency code such as EUR")
    ]


# -- what held ------------------------------------------------------------------------------


def test_another_organisations_customer_iban_matches_nothing_and_tells_nothing(org, tmp_path):
    other = f.organisation("other")
    stranger = f.customer(other, "O1", iban="FR7699999000010000000000190")
    f.invoice(stranger, "OFA-1", due=D - f.days(10), amount=Decimal("77.00"))
    text = camt([entry(amount="77.00", iban="FR7699999000010000000000190", ustrd="OFA-1")])
    result = services.import_statement(org, write(tmp_path, "s.xml", text), as_of=D)
    assert (result.matched, result.proposed, result.unmatched) == (0, 0, 1)
    line = BankLine.objects.get()
    assert line.customer_id is None and line.organisation == org
    assert not Payment.objects.exists()
    assert Invoice.objects.get(number="OFA-1").balance == Decimal("77.00")


def test_the_same_movement_twice_in_a_file_and_again_in_another_is_one_payment(org, tmp_path):
    first = write(tmp_path, "a.xml", camt([entry(), entry()]))
    result = services.import_statement(org, first, as_of=D)
    assert (result.credits, result.duplicates, result.matched) == (1, 1, 1)
    again = services.import_statement(org, write(tmp_path, "b.xml", camt([entry()])), as_of=D)
    assert (again.credits, again.duplicates) == (0, 1)
    assert Payment.objects.count() == 1


@pytest.mark.parametrize(
    ("fields", "counts"),
    [({"debit": True}, (0, 1)), ({"amount": "0.00"}, (0, 0))],
    ids=["debits only", "zero"],
)
def test_debits_and_zero_are_no_credits(org, tmp_path, fields, counts):
    result = services.import_statement(
        org, write(tmp_path, "s.xml", camt([entry(**fields)])), as_of=D
    )
    assert (result.credits, result.debits) == counts
    assert not BankLine.objects.exists() and not Payment.objects.exists()


def test_a_credit_in_another_currency_is_matched_to_no_invoice(org, tmp_path):
    text = camt([entry()]).replace('Ccy="EUR"', 'Ccy="USD"')
    result = services.import_statement(org, write(tmp_path, "s.xml", text), as_of=D)
    assert (result.matched, result.proposed, result.unmatched) == (0, 0, 1)
    assert Invoice.objects.get(number="FA-1").balance == Decimal("120.00")


def test_a_reference_an_earlier_statement_gave_another_movement_is_refused(org, tmp_path):
    # Counted as "already imported" and left out: 100.00 received, never seen.
    services.import_statement(org, write(tmp_path, "a.xml", camt([entry(amount="20.00")])), as_of=D)
    later = write(tmp_path, "b.xml", camt([entry(amount="100.00"), entry(ref="BQ2")]))
    with pytest.raises(ImportFailed) as failure:
        services.import_statement(org, later, as_of=D)
    [problem] = failure.value.problems
    assert (problem.file, problem.row, problem.field) == ("b.xml", 2, "reference")
    assert problem.message == (
        f"the bank reference 'BQ1' was imported before for 20.00 on {D}: two movements cannot "
        "have one reference"
    )
    assert BankStatement.objects.count() == 1 and BankLine.objects.count() == 1
    assert ImportRun.objects.filter(status=ImportRun.Status.FAILED, file_name="b.xml").exists()
