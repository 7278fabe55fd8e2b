"""Reading the customer sub-ledger of a FEC: files are written here, line by line."""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from relance.ledger.imports.fec import read_fec
from relance.ledger.imports.parsing import parse_money
from relance.ledger.imports.records import ImportFailed, LedgerBatch

# Their messages are read in English (the default language is French).
pytestmark = pytest.mark.usefixtures("in_english")

COLUMNS = (
    "JournalCode", "JournalLib", "EcritureNum", "EcritureDate", "CompteNum", "CompteLib",
    "CompAuxNum", "CompAuxLib", "PieceRef", "PieceDate", "EcritureLib", "Debit", "Credit",
    "EcritureLet", "DateLet", "ValidDate", "Montantdevise", "Idevise",
)  # fmt: skip
# The permitted variant: Montant and Sens instead of Debit and Credit.
SIGNED_COLUMNS = (*(c for c in COLUMNS if c not in ("Debit", "Credit")), "Montant", "Sens")
ACME = ("C001", "ACME Industrie")
SGE = ("C002", "Société Générale d'Équipement")

Row = dict[str, str]


def line(
    journal: str,
    number: str,
    date: str,
    account: str,
    *,
    debit: str = "0,00",
    credit: str = "0,00",
    customer: tuple[str, str] = ("", ""),
    account_name: str = "",
    piece: str = "",
    piece_date: str = "",
    label: str = "",
    letter: str = "",
    date_let: str = "",
    fx: tuple[str, str] = ("", ""),
) -> Row:
    return {
        "JournalCode": journal, "JournalLib": journal, "EcritureNum": number,
        "EcritureDate": date, "CompteNum": account, "CompteLib": account_name or account,
        "CompAuxNum": customer[0], "CompAuxLib": customer[1], "PieceRef": piece,
        "PieceDate": piece_date, "EcritureLib": label, "Debit": debit, "Credit": credit,
        "EcritureLet": letter, "DateLet": date_let, "ValidDate": date,
        "Montantdevise": fx[0], "Idevise": fx[1],
    }  # fmt: skip


def sale(
    number: str, date: str, customer: tuple[str, str], piece: str, total: str, vat: str,
    letter: str = "", date_let: str = "",
) -> list[Row]:  # fmt: skip
    """An invoice entry: the customer owes the total, revenue and VAT are credited."""
    excl = str(Decimal(total.replace(",", ".")) - Decimal(vat.replace(",", "."))).replace(".", ",")
    common: dict[str, Any] = {"piece": piece, "piece_date": date, "label": f"Facture {piece}"}
    return [
        line("VE", number, date, "411000", debit=total, customer=customer, letter=letter,
             date_let=date_let, **common),
        line("VE", number, date, "706000", credit=excl, **common),
        line("VE", number, date, "445710", credit=vat, **common),
    ]  # fmt: skip


def receipt(
    number: str, date: str, customer: tuple[str, str], amount: str, letter: str = "",
    date_let: str = "",
) -> list[Row]:  # fmt: skip
    """Money received on the bank account from the customer."""
    label = f"VIR {customer[1]}"
    return [
        line("BQ", number, date, "411000", credit=amount, customer=customer, letter=letter,
             date_let=date_let, piece=f"REL{number}", label=label),
        line("BQ", number, date, "512000", debit=amount, piece=f"REL{number}", label=label),
    ]  # fmt: skip


def balanced(rows: list[Row]) -> list[Row]:
    """The rows, and after them a suspense-account (471) line for each entry that does not
    balance, as books would: tests that only write the customer's side of an entry stay
    legal FEC files. Entries with amounts that cannot be read are left as they are."""
    if not rows or "JournalCode" not in rows[0]:
        return rows  # written with other column names: the test balances them itself
    nets: dict[tuple[str, str], Decimal] = {}
    dates: dict[tuple[str, str], str] = {}
    for row in rows:
        entry = (row["JournalCode"], row["EcritureNum"])
        try:
            if "Montant" in row:
                sign = -1 if row["Sens"].strip().upper() in ("C", "-1") else 1
                net = sign * parse_money(row["Montant"] or "0")
            else:
                net = parse_money(row["Debit"] or "0") - parse_money(row["Credit"] or "0")
        except ValueError:
            nets[entry] = Decimal("NaN")
            continue
        nets[entry] = nets.get(entry, Decimal(0)) + net
        dates.setdefault(entry, row["EcritureDate"])
    extra = []
    for (journal, number), net in nets.items():
        if net.is_nan() or not net:
            continue
        side = {"credit": str(net)} if net > 0 else {"debit": str(-net)}
        counterpart = line(journal, number, dates[(journal, number)], "471000", **side)
        if "Montant" in rows[0]:
            counterpart |= {"Montant": str(abs(net)), "Sens": "C" if net > 0 else "D"}
        extra.append(counterpart)
    return rows + extra


def write_fec(
    tmp_path: Path,
    rows: list[Row],
    *,
    sep: str = "\t",
    encoding: str = "utf-8",
    columns: tuple[str, ...] = COLUMNS,
    name: str = "FEC.txt",
    balance: bool = True,
) -> Path:
    if balance:
        rows = balanced(rows)
    text = "\r\n".join(
        [sep.join(columns)] + [sep.join(row.get(c, "") for c in columns) for row in rows]
    )
    path = tmp_path / name
    path.write_bytes((text + "\r\n").encode(encoding))
    return path


def read(tmp_path: Path, rows: list[Row], **kwargs: Any) -> LedgerBatch:
    return read_fec(write_fec(tmp_path, rows), **kwargs)


def open_balances(batch: LedgerBatch) -> dict[str, Decimal]:
    """What each invoice still owes once the batch's allocations are applied."""
    balances = {invoice.number: invoice.amount for invoice in batch.invoices}
    for allocation in batch.allocations:
        balances[allocation.invoice] -= allocation.amount
    return balances


def unallocated(batch: LedgerBatch) -> dict[str, Decimal]:
    left = {payment.reference: payment.amount for payment in batch.payments}
    for allocation in batch.allocations:
        left[allocation.payment] -= allocation.amount
    return left


def allocations(batch: LedgerBatch) -> list[tuple[str, str, Decimal, dt.date]]:
    return [(a.payment, a.invoice, a.amount, a.date) for a in batch.allocations]


def problems(tmp_path: Path, rows: list[Row] | None = None, **kwargs: Any) -> list[Any]:
    path = kwargs.pop("path", None) or write_fec(tmp_path, rows or [], **kwargs)
    with pytest.raises(ImportFailed) as failure:
        read_fec(path)
    return failure.value.problems


# -- matching -----------------------------------------------------------------------------


def test_it_settles_an_invoice_matched_in_full_with_its_payment(tmp_path):
    batch = read(
        tmp_path,
        sale("1", "20260105", ACME, "F2026-001", "1200,00", "200,00", "AA", "20260210")
        + receipt("7", "20260204", ACME, "1200,00", "AA", "20260210"),
    )
    [invoice] = batch.invoices
    assert (invoice.number, invoice.customer, invoice.kind) == ("F2026-001", "C001", "invoice")
    assert invoice.issue_date == dt.date(2026, 1, 5)
    assert invoice.due_date is None
    assert (invoice.amount, invoice.tax_amount, invoice.amount_excl_tax) == (
        Decimal("1200.00"), Decimal("200.00"), Decimal("1000.00"),
    )  # fmt: skip
    [payment] = batch.payments
    assert (payment.reference, payment.kind, payment.amount, payment.date) == (
        "FEC:BQ:7:C001", "payment", Decimal("1200.00"), dt.date(2026, 2, 4),
    )  # fmt: skip
    assert payment.memo == "VIR ACME Industrie"
    # Paid on 4 February, matched on 10 February: paid on 4 February.
    assert allocations(batch) == [
        ("FEC:BQ:7:C001", "F2026-001", Decimal("1200.00"), dt.date(2026, 2, 4))
    ]
    assert open_balances(batch) == {"F2026-001": Decimal("0.00")}


def test_it_leaves_the_rest_of_a_partly_matched_invoice_open(tmp_path):
    batch = read(
        tmp_path,
        sale("1", "20260105", ACME, "F1", "1200,00", "200,00", "AB")
        + receipt("2", "20260120", ACME, "500,00", "AB"),
    )
    assert allocations(batch) == [("FEC:BQ:2:C001", "F1", Decimal("500.00"), dt.date(2026, 1, 20))]
    assert open_balances(batch) == {"F1": Decimal("700.00")}


def test_it_keeps_unmatched_invoices_open_and_payments_unallocated(tmp_path):
    batch = read(
        tmp_path,
        sale("1", "20260105", ACME, "F1", "1200,00", "200,00")
        + receipt("2", "20260120", ACME, "1200,00"),
    )
    assert batch.allocations == []
    assert open_balances(batch) == {"F1": Decimal("1200.00")}
    assert unallocated(batch) == {"FEC:BQ:2:C001": Decimal("1200.00")}


def test_it_pays_several_matched_invoices_oldest_first(tmp_path):
    # Numbers do not follow dates, so that the order can only come from the dates.
    batch = read(
        tmp_path,
        sale("3", "20260301", ACME, "F5", "300,00", "50,00", "AC")
        + sale("1", "20260101", ACME, "F7", "100,00", "0,00", "AC")
        + sale("2", "20260201", ACME, "F2", "200,00", "0,00", "AC")
        + receipt("9", "20260315", ACME, "450,00", "AC", "20260320"),
    )
    on = dt.date(2026, 3, 15)
    assert allocations(batch) == [
        ("FEC:BQ:9:C001", "F2", Decimal("200.00"), on),
        ("FEC:BQ:9:C001", "F5", Decimal("150.00"), on),
        ("FEC:BQ:9:C001", "F7", Decimal("100.00"), on),
    ]
    # What the payment does not cover stays on the newest invoice.
    assert open_balances(batch) == {
        "F2": Decimal("0.00"), "F5": Decimal("150.00"), "F7": Decimal("0.00"),
    }  # fmt: skip


def test_it_uses_several_payments_of_a_group_oldest_first(tmp_path):
    batch = read(
        tmp_path,
        sale("1", "20260101", ACME, "F1", "100,00", "0,00", "AD")
        + sale("2", "20260102", ACME, "F2", "100,00", "0,00", "AD")
        + receipt("7", "20260220", ACME, "150,00", "AD")
        + receipt("8", "20260210", ACME, "50,00", "AD"),
    )
    assert [(a[0], a[1], a[2]) for a in allocations(batch)] == [
        ("FEC:BQ:7:C001", "F1", Decimal("50.00")),
        ("FEC:BQ:7:C001", "F2", Decimal("100.00")),
        ("FEC:BQ:8:C001", "F1", Decimal("50.00")),
    ]
    assert set(open_balances(batch).values()) == {Decimal("0.00")}


def test_it_leaves_what_a_matched_payment_pays_too_much_unallocated(tmp_path):
    batch = read(
        tmp_path,
        sale("1", "20260101", ACME, "F1", "100,00", "0,00", "AE")
        + receipt("7", "20260110", ACME, "130,00", "AE"),
    )
    assert open_balances(batch) == {"F1": Decimal("0.00")}
    assert unallocated(batch) == {"FEC:BQ:7:C001": Decimal("30.00")}


def test_it_dates_an_allocation_on_the_payment_when_matched_earlier(tmp_path):
    batch = read(
        tmp_path,
        sale("1", "20260101", ACME, "F1", "100,00", "0,00", "AF", "20260105")
        + receipt("7", "20260110", ACME, "100,00", "AF", "20260105"),
    )
    assert batch.allocations[0].date == dt.date(2026, 1, 10)


def test_it_matches_within_one_customer_only(tmp_path):
    batch = read(
        tmp_path,
        sale("1", "20260101", ACME, "F1", "100,00", "0,00", "AA")
        + receipt("7", "20260110", SGE, "100,00", "AA"),
    )
    assert batch.allocations == []
    assert open_balances(batch) == {"F1": Decimal("100.00")}


def test_it_adds_up_what_one_payment_gives_one_invoice_in_two_groups(tmp_path):
    rows = [
        line("VE", "1", "20260110", "411000", debit="100,00", customer=ACME, piece="F1",
             letter="AA"),
        line("VE", "1", "20260110", "411000", debit="50,00", customer=ACME, piece="F1",
             letter="AB"),
        line("BQ", "5", "20260120", "411000", credit="100,00", customer=ACME, letter="AA"),
        line("BQ", "5", "20260120", "411000", credit="30,00", customer=ACME, letter="AB",
             date_let="20260125"),
    ]  # fmt: skip
    assert allocations(read(tmp_path, rows)) == [
        ("FEC:BQ:5:C001", "F1", Decimal("130.00"), dt.date(2026, 1, 20))
    ]


@pytest.mark.parametrize(("invoice_mark", "payment_mark"), [("ab", "ab"), ("AB*", "AB")])
def test_it_treats_partial_matching_marks_as_groups(tmp_path, invoice_mark, payment_mark):
    batch = read(
        tmp_path,
        sale("1", "20260101", ACME, "F1", "100,00", "0,00", invoice_mark)
        + receipt("7", "20260110", ACME, "40,00", payment_mark),
    )
    assert open_balances(batch) == {"F1": Decimal("60.00")}


def test_it_keeps_case_in_matching_letters(tmp_path):
    batch = read(
        tmp_path,
        sale("1", "20260101", ACME, "F1", "100,00", "0,00", "ab")
        + receipt("7", "20260110", ACME, "100,00", "AB"),
    )
    assert batch.allocations == []


# -- credit notes and other kinds of lines --------------------------------------------------


def test_it_reads_a_credit_note_from_an_entry_with_revenue_and_vat(tmp_path):
    rows = [
        *sale("1", "20260101", ACME, "F1", "1200,00", "200,00", "AG"),
        line("VE", "2", "20260115", "411000", credit="240,00", customer=ACME, piece="AV1",
             letter="AG", label="Avoir AV1"),
        line("VE", "2", "20260115", "706000", debit="200,00", piece="AV1"),
        line("VE", "2", "20260115", "445710", debit="40,00", piece="AV1"),
    ]  # fmt: skip
    batch = read(tmp_path, rows)
    [credit_note] = batch.payments
    assert (credit_note.reference, credit_note.kind, credit_note.amount) == (
        "FEC:VE:2:C001", "credit_note", Decimal("240.00"),
    )  # fmt: skip
    assert [invoice.number for invoice in batch.invoices] == ["F1"]
    assert open_balances(batch) == {"F1": Decimal("960.00")}


def test_it_reads_a_credit_without_revenue_or_vat_as_a_payment(tmp_path):
    rows = [
        line("OD", "5", "20260115", "411000", credit="80,00", customer=ACME),
        line("OD", "5", "20260115", "627000", debit="80,00"),
    ]
    assert [p.kind for p in read(tmp_path, rows).payments] == ["payment"]


def test_it_reads_opening_balance_lines_as_invoices_carried_forward(tmp_path):
    rows = [
        line("AN", "1", "20260101", "411000", debit="500,00", customer=ACME, piece="F2025-9",
             piece_date="20251115"),
        line("AN", "1", "20260101", "411000", credit="20,00", customer=SGE, piece="AN"),
        line("AN", "1", "20260101", "890000", credit="480,00"),
    ]  # fmt: skip
    batch = read(tmp_path, rows)
    [invoice] = batch.invoices
    assert (invoice.number, invoice.issue_date, invoice.amount) == (
        "F2025-9", dt.date(2025, 11, 15), Decimal("500.00"),
    )  # fmt: skip
    assert (invoice.tax_amount, invoice.amount_excl_tax) == (None, None)
    assert [(p.reference, p.kind, p.amount) for p in batch.payments] == [
        ("FEC:AN:1:C002", "payment", Decimal("20.00"))
    ]


def test_it_sums_debit_lines_of_one_customer_in_one_entry(tmp_path):
    rows = [
        line("VE", "1", "20260110", "411000", debit="100,00", customer=ACME, piece="F1",
             piece_date="20260110"),
        line("VE", "1", "20260110", "411000", debit="25,50", customer=ACME, piece="F1",
             piece_date="20260105"),
    ]  # fmt: skip
    [invoice] = read(tmp_path, rows).invoices
    assert (invoice.amount, invoice.issue_date) == (Decimal("125.50"), dt.date(2026, 1, 5))


def test_it_takes_the_tax_of_each_entry_sharing_a_piece(tmp_path):
    rows = [
        line("VE", "1", "20260110", "411000", debit="120,00", customer=ACME, piece="F1"),
        line("VE", "1", "20260110", "445710", credit="20,00", piece="F1"),
        line("VE", "2", "20260111", "411000", debit="60,00", customer=ACME, piece="F1"),
        line("VE", "2", "20260111", "445710", credit="10,00", piece="F1"),
    ]
    # Two entries carry F1: it names neither, each is an invoice of its own.
    assert [
        (i.number, i.amount, i.tax_amount, i.amount_excl_tax) for i in read(tmp_path, rows).invoices
    ] == [
        ("VE-1", Decimal("120.00"), Decimal("20.00"), Decimal("100.00")),
        ("VE-2", Decimal("60.00"), Decimal("10.00"), Decimal("50.00")),
    ]


def test_it_numbers_invoices_without_piece_by_journal_and_entry(tmp_path):
    rows = [line("VE", "42", "20260110", "411000", debit="100,00", customer=ACME)]
    assert [i.number for i in read(tmp_path, rows).invoices] == ["VE-42"]


def test_it_tells_apart_a_piece_shared_by_several_customers(tmp_path):
    rows = [
        line("AN", "1", "20260101", "411000", debit="100,00", customer=ACME, piece="AN"),
        line("AN", "1", "20260101", "411000", debit="200,00", customer=SGE, piece="AN"),
    ]
    batch = read(tmp_path, rows)
    assert [(i.number, i.customer, i.amount) for i in batch.invoices] == [
        ("AN/C001", "C001", Decimal("100.00")),
        ("AN/C002", "C002", Decimal("200.00")),
    ]


def test_it_sums_credit_lines_of_one_customer_in_one_entry(tmp_path):
    rows = [
        line("BQ", "3", "20260110", "411000", credit="100,00", customer=ACME, letter="AA"),
        line("BQ", "3", "20260110", "411000", credit="50,00", customer=ACME),
        line("BQ", "3", "20260110", "411000", credit="70,00", customer=SGE),
        line("BQ", "3", "20260110", "512000", debit="220,00"),
    ]
    batch = read(tmp_path, rows)
    assert [(p.reference, p.amount) for p in batch.payments] == [
        ("FEC:BQ:3:C001", Decimal("150.00")),
        ("FEC:BQ:3:C002", Decimal("70.00")),
    ]


def test_it_leaves_the_tax_unknown_when_an_entry_has_several_customer_lines(tmp_path):
    rows = [
        line("VE", "1", "20260110", "411000", debit="120,00", customer=ACME, piece="F1"),
        line("VE", "1", "20260110", "411000", debit="240,00", customer=SGE, piece="F2"),
        line("VE", "1", "20260110", "706000", credit="300,00"),
        line("VE", "1", "20260110", "445710", credit="60,00"),
    ]
    batch = read(tmp_path, rows)
    assert [(i.tax_amount, i.amount_excl_tax) for i in batch.invoices] == [(None, None)] * 2


def test_it_leaves_the_tax_unknown_when_the_vat_exceeds_the_customer_line(tmp_path):
    # A sale paid mostly in cash at the counter: the VAT is not this customer line's.
    rows = [
        line("VE", "1", "20260110", "411000", debit="10,00", customer=ACME, piece="F1"),
        line("VE", "1", "20260110", "530000", debit="110,00", piece="F1"),
        line("VE", "1", "20260110", "706000", credit="100,00", piece="F1"),
        line("VE", "1", "20260110", "445710", credit="20,00", piece="F1"),
    ]
    [invoice] = read(tmp_path, rows).invoices
    assert (invoice.amount, invoice.tax_amount, invoice.amount_excl_tax) == (
        Decimal("10.00"), None, None,
    )  # fmt: skip


def test_it_reads_a_credit_with_revenue_but_no_vat_as_a_credit_note(tmp_path):
    rows = [
        line("VE", "2", "20260115", "411000", credit="100,00", customer=ACME, piece="AV1"),
        line("VE", "2", "20260115", "706100", debit="100,00", piece="AV1"),
    ]
    assert [p.kind for p in read(tmp_path, rows).payments] == ["credit_note"]


def test_it_ignores_lines_of_other_accounts(tmp_path):
    rows = [
        line("AC", "1", "20260110", "401000", credit="100,00", customer=("F01", "Fournisseur")),
        line("AC", "1", "20260110", "607000", debit="100,00"),
    ]
    batch = read(tmp_path, rows)
    assert (batch.customers, batch.invoices, batch.payments) == ({}, [], [])
    assert batch.rows_read == 2


def test_it_reads_the_customer_accounts_it_is_told(tmp_path):
    rows = [
        line("VE", "1", "20260110", "411000", debit="100,00", customer=ACME, piece="F1"),
        line("VE", "2", "20260110", "418000", debit="50,00", customer=SGE, piece="F2"),
    ]
    batch = read(tmp_path, rows, customer_accounts=("418",))
    assert [i.number for i in batch.invoices] == ["F2"]


def test_it_skips_lines_of_zero(tmp_path):
    rows = [line("VE", "1", "20260110", "411000", customer=ACME, piece="F1")]
    batch = read(tmp_path, rows)
    assert (batch.invoices, batch.payments) == ([], [])
    assert list(batch.customers) == ["C001"]


# -- customers ------------------------------------------------------------------------------


def test_it_reads_customers_from_the_auxiliary_accounts(tmp_path):
    batch = read(tmp_path, sale("1", "20260101", SGE, "F1", "120,00", "20,00"))
    customer = batch.customers["C002"]
    assert customer.fields == {"legal_name": "Société Générale d'Équipement"}
    assert customer.row == 2


def test_it_takes_the_411_account_as_customer_when_there_is_no_auxiliary_account(tmp_path):
    rows = [
        line("VE", "1", "20260110", "411ACME", debit="120,00", account_name="ACME Industrie",
             piece="F1"),
        line("BQ", "2", "20260120", "411ACME", credit="120,00", account_name="ACME Industrie",
             letter="A"),
    ]  # fmt: skip
    batch = read(tmp_path, rows)
    assert batch.customers["411ACME"].fields == {"legal_name": "ACME Industrie"}
    assert [(i.number, i.customer) for i in batch.invoices] == [("F1", "411ACME")]
    assert [p.reference for p in batch.payments] == ["FEC:BQ:2:411ACME"]
    assert open_balances(batch) == {"F1": Decimal("120.00")}


def test_it_names_a_customer_by_its_latest_name(tmp_path):
    rows = [
        line("VE", "2", "20260301", "411000", debit="1,00", customer=("C001", "ACME SAS"),
             piece="F2"),
        line("VE", "1", "20260101", "411000", debit="1,00", customer=("C001", "ACME SARL"),
             piece="F1"),
    ]  # fmt: skip
    assert read(tmp_path, rows).customers["C001"].fields["legal_name"] == "ACME SAS"


# -- file variants ----------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252", "iso-8859-15"])
@pytest.mark.parametrize("sep", ["\t", "|"])
def test_it_reads_files_in_every_permitted_separator_and_encoding(tmp_path, sep, encoding):
    path = write_fec(tmp_path, sale("1", "20260101", SGE, "F1", "120,00", "20,00"), sep=sep,
                     encoding=encoding)  # fmt: skip
    batch = read_fec(path)
    assert batch.customers["C002"].fields["legal_name"] == "Société Générale d'Équipement"
    assert [(i.number, i.amount) for i in batch.invoices] == [("F1", Decimal("120.00"))]


def test_it_matches_header_names_whatever_their_case(tmp_path):
    columns = tuple(name.upper() for name in COLUMNS)
    rows = [
        {name.upper(): value for name, value in row.items()}
        for row in sale("1", "20260101", ACME, "F1", "120,00", "20,00")
    ]
    batch = read_fec(write_fec(tmp_path, rows, columns=columns))
    assert [i.number for i in batch.invoices] == ["F1"]


def test_it_reads_the_montant_and_sens_variant(tmp_path):
    columns = SIGNED_COLUMNS
    rows = sale("1", "20260101", ACME, "F1", "120,00", "20,00", "AA") + receipt(
        "2", "20260110", ACME, "100,00", "AA"
    )
    for row in rows:
        debit, credit = row.pop("Debit"), row.pop("Credit")
        row["Montant"], row["Sens"] = (debit, "D") if debit != "0,00" else (credit, "C")
    rows[-1]["Sens"] = "+1"  # the bank line, in the numeric spelling
    rows[-2]["Sens"] = "-1"
    batch = read_fec(write_fec(tmp_path, rows, columns=columns))
    assert [(i.number, i.amount) for i in batch.invoices] == [("F1", Decimal("120.00"))]
    assert [(p.reference, p.amount) for p in batch.payments] == [
        ("FEC:BQ:2:C001", Decimal("100.00"))
    ]
    assert open_balances(batch) == {"F1": Decimal("20.00")}


def test_it_reverses_negative_amounts_into_the_other_column(tmp_path):
    rows = [
        line("VE", "1", "20260110", "411000", credit="-120,00", customer=ACME, piece="F1"),
        line("BQ", "2", "20260120", "411000", debit="-50,00", customer=ACME),
    ]
    batch = read(tmp_path, rows)
    assert [(i.number, i.amount) for i in batch.invoices] == [("F1", Decimal("120.00"))]
    assert [(p.reference, p.amount) for p in batch.payments] == [
        ("FEC:BQ:2:C001", Decimal("50.00"))
    ]


def test_it_reads_amounts_with_a_dot_or_thousands_separators(tmp_path):
    rows = [
        line("VE", "1", "20260110", "411000", debit="1234.5", customer=ACME, piece="F1"),
        line("VE", "2", "20260110", "411000", debit="1 234 567,89", customer=ACME, piece="F2"),
    ]
    batch = read(tmp_path, rows)
    assert [i.amount for i in batch.invoices] == [Decimal("1234.50"), Decimal("1234567.89")]


def test_it_reads_foreign_currency_lines_in_their_currency(tmp_path):
    rows = [
        line("VE", "1", "20260110", "411000", debit="920,00", customer=ACME, piece="F1",
             fx=("1000,00", "USD"), letter="AA"),
        line("BQ", "2", "20260120", "411000", credit="460,00", customer=ACME,
             fx=("-500,00", "usd"), letter="AA"),
        line("VE", "3", "20260110", "411000", debit="10,00", customer=ACME, piece="F2",
             fx=("10,00", "EUR")),
    ]  # fmt: skip
    batch = read(tmp_path, rows)
    assert [(i.number, i.currency, i.amount) for i in batch.invoices] == [
        ("F1", "USD", Decimal("1000.00")),
        ("F2", "EUR", Decimal("10.00")),
    ]
    assert [(p.currency, p.amount) for p in batch.payments] == [("USD", Decimal("500.00"))]
    assert open_balances(batch) == {"F1": Decimal("500.00"), "F2": Decimal("10.00")}


def test_it_refuses_a_currency_that_is_no_iso_code(tmp_path):
    rows = [
        line("VE", "1", "20260110", "411000", debit="920,00", customer=ACME, piece="F1",
             fx=("1000,00", "USD")),
        line("VE", "2", "20260110", "411000", debit="920,00", customer=ACME, piece="F2",
             fx=("1000,00", "DOLLAR")),
    ]  # fmt: skip
    refused = problems(tmp_path, rows)
    assert [(p.row, p.field) for p in refused] == [(3, "Idevise")]
    assert "ISO 4217" in refused[0].message


def test_it_reads_a_group_mixing_currencies_in_the_book_currency(tmp_path):
    # A USD invoice paid in USD, with the exchange gain booked in euros and matched.
    rows = [
        line("VE", "1", "20260110", "411000", debit="900,00", customer=ACME, piece="F1",
             fx=("1000,00", "USD"), letter="AA"),
        line("BQ", "2", "20260120", "411000", credit="920,00", customer=ACME,
             fx=("1000,00", "USD"), letter="AA"),
        line("OD", "3", "20260120", "411000", debit="20,00", customer=ACME, piece="DC1",
             letter="AA"),
        line("OD", "3", "20260120", "766000", credit="20,00"),
    ]  # fmt: skip
    batch = read(tmp_path, rows)
    assert {(i.number, i.currency, i.amount) for i in batch.invoices} == {
        ("F1", "EUR", Decimal("900.00")), ("DC1", "EUR", Decimal("20.00")),
    }  # fmt: skip
    assert [(p.currency, p.amount) for p in batch.payments] == [("EUR", Decimal("920.00"))]
    assert open_balances(batch) == {"DC1": Decimal("0.00"), "F1": Decimal("0.00")}


def test_it_accepts_a_separator_ending_every_line_and_blank_lines(tmp_path):
    path = write_fec(tmp_path, sale("1", "20260101", ACME, "F1", "120,00", "20,00"))
    data = path.read_bytes().replace(b"\r\n", b"\t\r\n").replace(b"Idevise\t", b"Idevise", 1)
    path.write_bytes(data + b"\r\n\r\n")
    batch = read_fec(path)
    assert [i.number for i in batch.invoices] == ["F1"]
    assert batch.rows_read == 3


def test_it_reads_a_fec_whose_values_were_quoted_by_a_spreadsheet(tmp_path):
    rows = [
        {f'"{name}"': f'"{value}"' for name, value in row.items()}
        for row in sale("1", "20260101", ACME, "F1", "120,00", "20,00")
    ]
    path = write_fec(tmp_path, rows, columns=tuple(f'"{name}"' for name in COLUMNS))
    assert path.read_text().startswith('"JournalCode"\t"JournalLib"')
    batch = read_fec(path)
    assert [(i.number, i.customer, i.amount) for i in batch.invoices] == [
        ("F1", "C001", Decimal("120.00"))
    ]


def test_it_describes_the_batch(tmp_path):
    batch = read(tmp_path, sale("1", "20260101", ACME, "F1", "120,00", "20,00"))
    assert (batch.file, batch.format, batch.source, batch.snapshot, batch.rows_read) == (
        "FEC.txt", "fec", "fec", False, 3,
    )  # fmt: skip
    assert batch.invoices[0].row == 2


def test_it_gives_the_same_batch_whatever_the_line_order(tmp_path):
    rows = (
        sale("1", "20260101", ACME, "F1", "100,00", "0,00", "AA")
        + sale("2", "20260101", ACME, "F2", "100,00", "0,00", "AA")
        + sale("3", "20260102", SGE, "F3", "100,00", "0,00")
        + receipt("4", "20260110", ACME, "150,00", "AA")
        + receipt("5", "20260110", ACME, "10,00", "AA")
        + receipt("6", "20260110", SGE, "10,00")
    )

    def without_rows(records: list[Any]) -> list[dict[str, Any]]:
        return [{**dataclasses.asdict(record), "row": None} for record in records]

    def content(batch: LedgerBatch) -> Any:
        return (
            {ref: c.fields for ref, c in batch.customers.items()},
            without_rows(batch.invoices), without_rows(batch.payments),
            without_rows(batch.allocations),
        )  # fmt: skip

    expected = content(read_fec(write_fec(tmp_path, rows, name="a.txt")))
    for seed in range(5):
        shuffled = rows[:]
        random.Random(seed).shuffle(shuffled)
        assert content(read_fec(write_fec(tmp_path, shuffled, name="b.txt"))) == expected


def test_it_reports_progress(tmp_path, monkeypatch):
    monkeypatch.setattr("relance.ledger.imports.fec.PROGRESS_EVERY", 2)
    calls: list[tuple[int, int]] = []
    rows = sale("1", "20260101", ACME, "F1", "120,00", "20,00")
    rows += sale("2", "20260101", ACME, "F2", "120,00", "20,00")[:1]
    read(tmp_path, rows, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(2, 5), (4, 5), (5, 5)]  # 4 lines and the 471 line that balances VE 2


# -- broken files -----------------------------------------------------------------------------


def test_it_names_the_missing_columns(tmp_path):
    columns = tuple(c for c in COLUMNS if c not in ("CompAuxNum", "EcritureLet"))
    [problem] = problems(tmp_path, [], columns=columns)
    assert (problem.row, problem.field) == (1, None)
    assert "CompAuxNum" in problem.message
    assert "EcritureLet" in problem.message
    assert "PieceRef" not in problem.message


def test_it_names_the_missing_amount_columns(tmp_path):
    columns = tuple(c for c in COLUMNS if c != "Credit")
    [problem] = problems(tmp_path, [], columns=columns)
    assert problem.message == "missing FEC column: Credit"


def test_it_locates_a_bad_date(tmp_path):
    rows = sale("1", "20260101", ACME, "F1", "120,00", "20,00")
    rows[0]["EcritureDate"] = "20261340"
    [problem] = problems(tmp_path, rows)
    assert (problem.file, problem.row, problem.field) == ("FEC.txt", 2, "EcritureDate")
    assert "20261340" in problem.message


def test_it_locates_a_bad_amount(tmp_path):
    rows = sale("1", "20260101", ACME, "F1", "120,00", "20,00") + receipt(
        "2", "20260110", ACME, "120,00"
    )
    rows[3]["Credit"] = "12O,00"
    [problem] = problems(tmp_path, rows)
    assert (problem.row, problem.field) == (5, "Credit")
    assert "12O,00" in problem.message


def test_it_refuses_a_line_with_both_a_debit_and_a_credit(tmp_path):
    rows = [line("VE", "1", "20260110", "411000", debit="10,00", credit="5,00", customer=ACME)]
    [problem] = problems(tmp_path, rows)
    assert (problem.row, problem.field) == (2, "Credit")
    assert "both a debit" in problem.message


def test_it_refuses_an_unknown_direction(tmp_path):
    columns = SIGNED_COLUMNS
    row = line("VE", "1", "20260110", "411000", customer=ACME) | {"Montant": "1,00", "Sens": "X"}
    [problem] = problems(tmp_path, [row], columns=columns)
    assert (problem.row, problem.field) == (2, "Sens")


def test_it_refuses_a_row_with_the_wrong_number_of_fields(tmp_path):
    rows = sale("1", "20260101", ACME, "F1", "120,00", "20,00")
    rows[1]["EcritureLib"] = "Vente\tdiverse"
    [problem] = problems(tmp_path, rows)
    assert (problem.row, problem.field) == (3, None)
    assert "19 fields" in problem.message


def test_it_refuses_a_monster_line_before_splitting_it_into_fields(tmp_path):
    rows = sale("1", "20260101", ACME, "F1", "120,00", "20,00")
    rows[1]["EcritureLib"] = "\t" * 1_200_000  # as many fields: a list as long
    [problem] = problems(tmp_path, rows)
    assert (problem.row, problem.field) == (3, None)
    assert "longer than 1,000,000 characters: this is not a FEC" in problem.message


def test_it_reports_every_problem_at_once(tmp_path):
    rows = sale("1", "20260101", ACME, "F1", "120,00", "20,00")
    rows[0]["PieceDate"] = "32/01/2026"
    rows[0]["DateLet"] = "hier"  # not read: see test_it_ignores_when_the_books_were_matched
    rows[2]["Credit"] = "vingt"
    found = [(p.row, p.field) for p in problems(tmp_path, rows)]
    assert found == [(2, "PieceDate"), (4, "Credit")]


def test_it_refuses_a_binary_file(tmp_path):
    path = tmp_path / "FEC.xlsx"
    path.write_bytes(b"PK\x03\x04\x14\x00\x00\x00" + bytes(range(256)))
    [problem] = problems(tmp_path, path=path)
    assert "binary" in problem.message


@pytest.mark.parametrize("content", [b"", b"\r\n  \n"])
def test_it_refuses_an_empty_file(tmp_path, content):
    path = tmp_path / "FEC.txt"
    path.write_bytes(content)
    [problem] = problems(tmp_path, path=path)
    assert problem.message == "the file is empty"


def test_it_refuses_a_file_that_is_not_a_fec(tmp_path):
    path = tmp_path / "clients.csv"
    path.write_text("Client;Facture;Montant\nACME;F1;120,00\n")
    [problem] = problems(tmp_path, path=path)
    assert "not a FEC" in problem.message


# -- end to end -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_it_applies_a_fec_to_the_ledger_and_leaves_the_open_balances(tmp_path, org):
    from relance.ledger.imports.apply import apply_batch
    from relance.ledger.models import Customer, Invoice, Payment

    rows = [
        *sale("1", "20260105", ACME, "F1", "1200,00", "200,00", "AA", "20260130"),
        *sale("2", "20260110", SGE, "F2", "300,00", "50,00"),
        *sale("3", "20260112", ACME, "F3", "240,00", "40,00", "AB"),
        *receipt("4", "20260130", ACME, "500,00", "AA", "20260130"),
        *receipt("5", "20260201", ACME, "240,00", "AB"),
        *receipt("6", "20260203", SGE, "100,00"),
    ]
    batch = read(tmp_path, rows)
    apply_batch(org, batch, as_of=dt.date(2026, 2, 15))

    invoices = Invoice.objects.filter(organisation=org)
    assert {i.number: (i.balance, i.settled_on) for i in invoices} == {
        "F1": (Decimal("700.00"), None),
        "F2": (Decimal("300.00"), None),
        "F3": (Decimal("0.00"), dt.date(2026, 2, 1)),
    }
    # No due date in a FEC: the customer's terms (30 days by default) give it.
    assert invoices.get(number="F1").due_date == dt.date(2026, 2, 4)
    assert Customer.objects.get(organisation=org, reference="C002").legal_name == SGE[1]
    assert Payment.objects.get(reference="FEC:BQ:6:C002").allocations.count() == 0

    # Applying the same books again changes nothing.
    again = apply_batch(org, read(tmp_path, rows), as_of=dt.date(2026, 2, 15))
    assert not {k: v for k, v in again.counts.items() if k.endswith(("_created", "_updated"))}


@pytest.mark.django_db
def test_it_recognises_a_fec_on_the_command_line_and_refuses_a_broken_one(tmp_path, org):
    import json
    from io import StringIO

    from django.core.management import call_command
    from django.core.management.base import CommandError

    from relance.ledger.models import Invoice

    rows = [
        *sale("1", "20260105", ACME, "F1", "1200,00", "200,00", "AA", "20260130"),
        *receipt("4", "20260130", ACME, "500,00", "AA", "20260130"),
    ]
    path = write_fec(tmp_path, rows, name="552100554FEC20261231.txt")
    out = StringIO()
    call_command("import", str(path), "--org", "acme", "--json", stdout=out)
    result = json.loads(out.getvalue())
    assert result["format"] == "fec" and result["counts"]["invoices_created"] == 1
    assert Invoice.objects.get(organisation=org, number="F1").balance == Decimal("700.00")

    broken = write_fec(
        tmp_path, [*rows, *sale("9", "20261399", SGE, "F9", "12,00", "2,00")], name="broken.txt"
    )
    with pytest.raises(CommandError, match=r"broken.txt, row \d+, field 'EcritureDate'"):
        call_command("import", str(broken), "--org", "acme")
    assert not Invoice.objects.filter(number="F9").exists()


# -- FEC files as accounting programs write them ----------------------------------------------


def sales_with_placeholders(piece: str = "x") -> list[Row]:
    """Twelve sales to two customers, all with the same meaningless PieceRef, as many
    programs write when the invoice number lives in the label."""
    rows: list[Row] = []
    for n in range(1, 13):
        customer = ACME if n % 3 else SGE
        rows += sale(str(100 + n), f"202401{n:02d}", customer, piece, f"{n * 10},00", "0,00")
    return rows


@pytest.mark.parametrize("piece", ["x", "X", "-", ".", "0", "", "xxx", "n/a"])
def test_it_makes_an_invoice_of_each_entry_whose_piece_is_a_placeholder(tmp_path, piece):
    batch = read(tmp_path, sales_with_placeholders(piece))
    assert len(batch.invoices) == 12
    by_number = {i.number: (i.customer, i.issue_date, i.amount) for i in batch.invoices}
    assert by_number["VE-101"] == ("C001", dt.date(2024, 1, 1), Decimal("10.00"))
    assert by_number["VE-103"] == ("C002", dt.date(2024, 1, 3), Decimal("30.00"))
    assert by_number["VE-112"] == ("C002", dt.date(2024, 1, 12), Decimal("120.00"))


def test_it_names_an_invoice_by_its_entry_when_other_entries_carry_its_piece(tmp_path):
    rows = [
        *sale("1", "20240105", ACME, "FACT", "100,00", "0,00"),
        *sale("2", "20240106", ACME, "FACT", "200,00", "0,00"),
        *sale("3", "20240107", SGE, "F2024-003", "300,00", "0,00"),
    ]
    batch = read(tmp_path, rows)
    assert [(i.number, i.amount) for i in batch.invoices] == [
        ("F2024-003", Decimal("300.00")),
        ("VE-1", Decimal("100.00")),
        ("VE-2", Decimal("200.00")),
    ]


def test_it_counts_a_payment_from_the_day_it_was_paid_not_the_day_it_was_matched(tmp_path):
    # Paid in February 2024, matched by the accountant in October 2025.
    batch = read(
        tmp_path,
        sale("1", "20240110", ACME, "F1", "1200,00", "200,00", "AA", "20251003")
        + receipt("7", "20240215", ACME, "1200,00", "AA", "20251003"),
    )
    assert allocations(batch) == [("FEC:BQ:7:C001", "F1", Decimal("1200.00"), dt.date(2024, 2, 15))]


def test_it_counts_a_payment_on_account_from_the_day_its_invoice_was_issued(tmp_path):
    batch = read(
        tmp_path,
        receipt("7", "20240105", ACME, "100,00", "AB", "20251003")
        + sale("1", "20240110", ACME, "F1", "100,00", "0,00", "AB", "20251003"),
    )
    assert allocations(batch) == [("FEC:BQ:7:C001", "F1", Decimal("100.00"), dt.date(2024, 1, 10))]


def test_it_ignores_when_the_books_were_matched(tmp_path):
    rows = sale("1", "20240110", ACME, "F1", "100,00", "0,00", "AA", "hier")
    rows += receipt("7", "20240215", ACME, "100,00", "AA", "")
    assert open_balances(read(tmp_path, rows)) == {"F1": Decimal("0.00")}


def test_it_refuses_an_entry_that_does_not_balance_naming_it(tmp_path):
    rows = sale("1", "20240110", ACME, "F1", "120,00", "20,00")
    rows += sale("2", "20240111", SGE, "F2", "60,00", "10,00")
    rows[4]["Credit"] = "49,99"  # the revenue of VE 2
    [problem] = problems(tmp_path, rows, balance=False)
    assert (problem.file, problem.row, problem.field) == ("FEC.txt", 5, None)
    assert problem.message == (
        "entry VE 2 (rows 5-7) does not balance: its debits exceed its credits by 0.01"
    )


@pytest.mark.parametrize("apart", [True, False])
def test_it_refuses_the_same_entry_twice_naming_it(tmp_path, apart):
    entry = sale("1", "20240110", ACME, "F1", "120,00", "20,00")
    between = receipt("2", "20240120", ACME, "120,00") if apart else []
    # A later export pasted on: the matching changed, the entry is the same.
    again = [row | {"EcritureLet": "AA", "DateLet": "20240131"} for row in entry]
    [problem] = problems(tmp_path, entry + between + again, balance=False)
    first = len(entry) + len(between) + 2
    assert problem.row == first
    assert problem.message == (
        f"entry VE 1 is in the file twice (rows 2-4, then rows {first}-{first + 2})"
    )


def test_it_reads_an_entry_whose_lines_are_apart(tmp_path):
    """Sorted by account, an entry's lines are apart: that is one entry, not two."""
    rows = sale("1", "20240110", ACME, "F1", "120,00", "20,00")
    rows += sale("2", "20240111", SGE, "F2", "120,00", "20,00")
    by_account = sorted(rows, key=lambda row: row["CompteNum"])
    assert [i.number for i in read(tmp_path, by_account).invoices] == ["F1", "F2"]


@pytest.mark.parametrize(
    ("account", "aux"),
    [
        ("411000", ""),  # the collective account, without its auxiliary account
        ("41100000", ""),
        ("411000", "512000"),  # the bank account's number as auxiliary account
        ("411000", "512100"),  # one of the books' bank accounts (booked below)
    ],
)
def test_it_reports_a_line_that_is_no_customers_and_leaves_it_out(tmp_path, account, aux):
    stray = [
        line("BQ", "8", "20240301", account, debit="500,00", customer=(aux, "BNP"),
             account_name="Clients", label="Remise chèques"),
        line("BQ", "8", "20240301", "512100", credit="500,00", label="Remise chèques"),
    ]  # fmt: skip
    rows = sale("1", "20240110", ACME, "F1", "120,00", "20,00") + stray
    batch = read(tmp_path, rows)
    assert list(batch.customers) == ["C001"]
    assert [i.number for i in batch.invoices] == ["F1"]
    [warning] = batch.warnings
    assert (warning.row, warning.field) == (5, "CompAuxNum")
    assert "row 5 (debits 500.00, credits 0.00): left out" in warning.message
    assert (aux or account) in warning.message


def test_it_takes_accounts_without_auxiliary_accounts_as_customers_when_none_have_one(tmp_path):
    rows = [
        line("VE", "1", "20260110", "4110001", debit="120,00", account_name="ACME", piece="F1"),
        line("VE", "2", "20260110", "411SGE", debit="60,00", account_name="SGE", piece="F2"),
    ]
    batch = read(tmp_path, rows)
    assert (sorted(batch.customers), batch.warnings) == (["4110001", "411SGE"], [])


@pytest.mark.django_db
def test_it_imports_placeholders_and_late_matching_with_the_right_items_and_balances(tmp_path, org):
    import json
    from io import StringIO

    from django.core.management import call_command

    from relance.insights.aging import aged_balance
    from relance.ledger.models import Customer, Invoice

    rows = sales_with_placeholders()
    # ACME pays its first two invoices (10 + 20) on 20 February 2024; the accountant
    # matches them in October 2025. A stray 411 line without an auxiliary account.
    rows[0]["EcritureLet"] = rows[3]["EcritureLet"] = "AA"
    rows[0]["DateLet"] = rows[3]["DateLet"] = "20251015"
    rows += receipt("900", "20240220", ACME, "30,00", "AA", "20251015")
    rows += [
        line("OD", "901", "20240225", "411000", debit="7,00", label="Ecart"),
        line("OD", "901", "20240225", "658000", credit="7,00", label="Ecart"),
    ]
    path = write_fec(tmp_path, rows)
    out = StringIO()
    call_command("import", str(path), "--org", "acme", "--json", stdout=out)
    result = json.loads(out.getvalue())
    assert result["counts"]["invoices_created"] == 12
    [warning] = result["warnings"]
    assert (
        warning["row"] == len(rows)
        and "411000 without an auxiliary account" in (warning["message"])
    )
    assert not Customer.objects.filter(organisation=org, reference="411000").exists()

    paid = Invoice.objects.filter(organisation=org, number__in=["VE-101", "VE-102"])
    assert {(i.balance, i.settled_on) for i in paid} == {(Decimal("0.00"), dt.date(2024, 2, 20))}
    # At the end of 2024, those two are paid, the ten others are open.
    report = aged_balance(org, dt.date(2024, 12, 31))
    assert report.totals["EUR"].items == 10
    assert report.totals["EUR"].total == sum(Decimal(n * 10) for n in range(3, 13))


@pytest.mark.django_db
def test_it_prints_what_it_left_out_on_standard_error(tmp_path, org):
    from io import StringIO

    from django.core.management import call_command

    rows = sale("1", "20240110", ACME, "F1", "120,00", "20,00")
    rows += [
        line("OD", "2", "20240225", "411000", credit="7,00", label="Ecart"),
        line("OD", "2", "20240225", "758000", debit="7,00", label="Ecart"),
    ]
    out, err = StringIO(), StringIO()
    call_command("import", str(write_fec(tmp_path, rows)), "--org", "acme", stdout=out, stderr=err)
    assert err.getvalue().startswith(
        "warning: FEC.txt, row 5, field 'CompAuxNum': 1 line on 411000 without an auxiliary "
        "account (CompAuxNum), row 5 (debits 0.00, credits 7.00): left out"
    )
    assert "411000" not in out.getvalue()
