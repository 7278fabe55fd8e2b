"""Bank statements in: CAMT.053 and bank CSV exports read (hostile XML refused), credits
de-duplicated by bank reference, matched to open items with a confidence, exact ones
allocated, the others queued for a person; unapplied cash holding dunning."""

from __future__ import annotations

import datetime as dt
import io
import json
from decimal import Decimal
from pathlib import Path
from xml.sax.saxutils import escape

import factories as f
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from relance.accounts.identity import payment_reference
from relance.bank import services
from relance.bank.exports import BankMapping
from relance.bank.models import BankLine, LineStatus
from relance.dunning import policy
from relance.ledger.imports.records import ImportFailed
from relance.ledger.models import Allocation, Hold, HoldKind, Invoice, Payment

# Their messages are read in English (the default language is French).
pytestmark = pytest.mark.usefixtures("in_english")

D = dt.date(2026, 11, 23)
OUR_IBAN = "FR7630006000011234567890189"


def camt(entries: list[dict[str, object]], version: str = "08") -> str:
    """A CAMT.053 statement of ``entries`` (amount, ref, ustrd, strd, iban, name, debit)."""
    ns = f"urn:iso:std:iso:20022:tech:xsd:camt.053.001.{version}"
    debtor = (
        "<Dbtr><Pty><Nm>{}</Nm></Pty></Dbtr>" if version >= "08" else "<Dbtr><Nm>{}</Nm></Dbtr>"
    )
    parts = []
    for e in entries:
        remittance = ""
        if e.get("ustrd"):
            remittance += f"<Ustrd>{escape(str(e['ustrd']))}</Ustrd>"
        if e.get("strd"):
            remittance += (f"<Strd><CdtrRefInf><Tp><CdOrPrtry><Cd>SCOR</Cd></CdOrPrtry></Tp>"
                           f"<Ref>{e['strd']}</Ref></CdtrRefInf></Strd>")  # fmt: skip
        parties = debtor.format(escape(str(e.get("name", "Payer SAS"))))
        if e.get("iban"):
            parties += f"<DbtrAcct><Id><IBAN>{e['iban']}</IBAN></Id></DbtrAcct>"
        parts.append(
            f'<Ntry><Amt Ccy="EUR">{e["amount"]}</Amt>'
            f"<CdtDbtInd>{'DBIT' if e.get('debit') else 'CRDT'}</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts>"
            f"<BookgDt><Dt>{e.get('date', D.isoformat())}</Dt></BookgDt>"
            f"<ValDt><Dt>{e.get('date', D.isoformat())}</Dt></ValDt>"
            f"<AcctSvcrRef>{e['ref']}</AcctSvcrRef><BkTxCd/>"
            f"<NtryDtls><TxDtls><Refs><EndToEndId>NOTPROVIDED</EndToEndId></Refs>"
            f"<RltdPties>{parties}</RltdPties>"
            f"<RmtInf>{remittance}</RmtInf></TxDtls></NtryDtls>"
            f"<AddtlNtryInf>VIR SEPA RECU</AddtlNtryInf></Ntry>"
        )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Document xmlns="{ns}"><BkToCstmrStmt>'
        f"<GrpHdr><MsgId>M1</MsgId><CreDtTm>{D}T08:00:00</CreDtTm></GrpHdr>"
        f"<Stmt><Id>S1</Id><CreDtTm>{D}T08:00:00</CreDtTm>"
        f"<Acct><Id><IBAN>{OUR_IBAN}</IBAN></Id><Ccy>EUR</Ccy></Acct>"
        + "".join(parts)
        + "</Stmt></BkToCstmrStmt></Document>\n"
    )


def write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


@pytest.fixture
def ledger(db: object) -> tuple[object, list[Invoice]]:
    """200 customers of 5 overdue invoices each, every amount different."""
    org = f.organisation()
    invoices = []
    for c in range(200):
        iban = f"FR76{c:023d}" if 140 <= c < 160 else ""
        customer = f.customer(org, f"C-{c:04d}", iban=iban)
        for i in range(5):
            n = c * 5 + i
            invoices.append(f.invoice(customer, f"FA-2026-{n:04d}", due=D - f.days(10 + i),
                                      amount=Decimal("1000.25") + n))  # fmt: skip
    return org, invoices


def thousand_credits(invoices: list[Invoice]) -> list[dict[str, object]]:
    entries: list[dict[str, object]] = []
    for n, inv in enumerate(invoices[:900]):
        entry: dict[str, object] = {"ref": f"BQ{n:06d}", "amount": inv.amount}
        if n < 400:  # the invoice number in the remittance text, the exact amount: exact
            entry["ustrd"] = f"REGLEMENT FACTURE {inv.number} MERCI"
        elif n < 600:  # the customer's RF reference, one invoice's amount: exact
            entry["strd"] = payment_reference(inv.customer)
        elif n < 700:  # the invoice number, part of the amount: probable
            entry["ustrd"] = f"ACOMPTE {inv.number}"
            entry["amount"] = inv.amount - 500
        elif n < 800:  # the customer's IBAN and an invoice's amount: probable
            entry["iban"] = inv.customer.iban
            entry["ustrd"] = "PAIEMENT"
        else:  # the amount alone: possible
            entry["ustrd"] = "VIREMENT"
        entries.append(entry)
    for n in range(100):  # nothing to go by: no match
        entries.append({"ref": f"BQX{n:05d}", "amount": Decimal("12.34") + n, "ustrd": "DIVERS"})
    entries.append({"ref": "BQDEBIT1", "amount": Decimal("99.00"), "debit": True})
    return entries


@pytest.mark.django_db
def test_it_matches_a_thousand_credits_and_never_allocates_twice(
    ledger: tuple[object, list[Invoice]], tmp_path: Path
) -> None:
    org, invoices = ledger
    path = write(tmp_path, "releve.xml", camt(thousand_credits(invoices)))

    result = services.import_statement(org, path, as_of=D)  # type: ignore[arg-type]

    assert (result.credits, result.debits) == (1000, 1)
    assert (result.matched, result.proposed, result.unmatched) == (600, 300, 100)
    balances = dict(Invoice.objects.values_list("number", "balance"))
    assert all(balances[inv.number] == 0 for inv in invoices[:600])
    assert all(balances[inv.number] == inv.amount for inv in invoices[600:])
    assert result.allocated == sum(inv.amount for inv in invoices[:600])
    lines = {line.bank_reference: line for line in BankLine.objects.all()}
    assert lines["BQ000000"].evidence == [{"rule": "invoice_number", "value": "FA-2026-0000"}]
    assert lines["BQ000400"].evidence[0]["rule"] == "rf_reference"
    assert {lines[f"BQ{n:06d}"].confidence for n in range(600, 800)} == {"probable"}
    assert {lines[f"BQ{n:06d}"].confidence for n in range(800, 900)} == {"possible"}
    assert lines["BQ000650"].proposal == [[invoices[650].pk, str(invoices[650].amount - 500)]]
    assert lines["BQ000750"].customer_id == invoices[750].customer_id
    assert lines["BQX00001"].status == LineStatus.UNMATCHED
    payments, allocations = Payment.objects.count(), Allocation.objects.count()
    assert (payments, allocations) == (600, 600)

    again = services.import_statement(org, path, as_of=D)  # type: ignore[arg-type]

    assert (again.credits, again.duplicates, again.matched) == (0, 1000, 0)
    assert (Payment.objects.count(), Allocation.objects.count()) == (payments, allocations)
    assert BankLine.objects.count() == 1000

    # Another day's file pays an invoice already paid, under a new bank reference: proposed.
    second = write(tmp_path, "releve2.xml", camt([
        {"ref": "BQNEW1", "amount": invoices[0].amount, "ustrd": f"FACT {invoices[0].number}"},
    ]))  # fmt: skip
    third = services.import_statement(org, second, as_of=D)  # type: ignore[arg-type]
    assert (third.matched, third.proposed + third.unmatched) == (0, 1)
    assert Payment.objects.count() == payments


@pytest.mark.django_db
def test_it_never_allocates_one_invoice_twice_within_a_file(tmp_path: Path) -> None:
    org = f.organisation()
    invoice = f.invoice(f.customer(org, "C1"), "F-77", due=D, amount="300.00")
    path = write(tmp_path, "s.xml", camt([
        {"ref": "A1", "amount": "300.00", "ustrd": "F-77"},
        {"ref": "A2", "amount": "300.00", "ustrd": "F-77"},
    ]))  # fmt: skip

    result = services.import_statement(org, path, as_of=D)

    assert (result.matched, result.proposed + result.unmatched) == (1, 1)
    invoice.refresh_from_db()
    assert invoice.balance == 0 and Allocation.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("version", ["02", "04", "06", "08", "10"])
def test_it_reads_every_camt053_version(tmp_path: Path, version: str) -> None:
    org = f.organisation()
    customer = f.customer(org, "C-0042")
    f.invoice(customer, "F-1", due=D, amount="120.00")
    path = write(tmp_path, "s.xml", camt([
        {"ref": "R1", "amount": "120.00", "strd": payment_reference(customer), "name": "Dupont"},
    ], version))  # fmt: skip

    result = services.import_statement(org, path, as_of=D)

    assert result.matched == 1
    line = BankLine.objects.get()
    assert (line.debtor_name, line.account, line.amount) == ("Dupont", OUR_IBAN, Decimal("120.00"))


HOSTILE = {
    "billion laughs": """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"><x>&lol3;</x></Document>""",
    "external entity": """<?xml version="1.0"?>
<!DOCTYPE d [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"><x>&xxe;</x></Document>""",
    "broken": '<?xml version="1.0"?><Document xmlns="urn:iso:std:iso:20022:tech:xsd:'
    'camt.053.001.08"><BkToCstmrStmt><Stmt>',
    "another message": '<?xml version="1.0"?><Document xmlns="urn:iso:std:iso:20022:tech:xsd:'
    'camt.054.001.08"/>',
}


@pytest.mark.django_db
@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_it_refuses_hostile_or_foreign_xml_cleanly(tmp_path: Path, kind: str) -> None:
    org = f.organisation()
    path = write(tmp_path, "evil.xml", HOSTILE[kind])

    with pytest.raises(ImportFailed) as refused:
        services.import_statement(org, path, format="camt053", as_of=D)

    problem = refused.value.problems[0]
    assert (
        problem.file == "evil.xml" and "passwd" not in str(problem) and "root:" not in str(problem)
    )
    assert not BankLine.objects.exists()
    out = io.StringIO()
    with pytest.raises(SystemExit) as exit_:
        call_command("bank", "import", str(path), "--json", stdout=out)
    assert exit_.value.code == 1
    assert json.loads(out.getvalue())["ok"] is False


BANK_CSV = """Compte courant n° 00012345678;;;;
Date;Libellé;Débit;Crédit;Réf.
23/11/2026;VIR SEPA DUPONT FACT FB-12;;1 234,56;
23/11/2026;PRLV EDF;-45,10;;
24/11/2026;VIR DURAND;;250,00;
24/11/2026;VIR DURAND;;250,00;
"""


@pytest.mark.django_db
def test_it_reads_a_bank_csv_with_configurable_columns(tmp_path: Path) -> None:
    org = f.organisation()
    dupont = f.customer(org, "DUP")
    invoice = f.invoice(dupont, "FB-12", due=D - f.days(5), amount="1234.56")
    path = write(tmp_path, "export.csv", BANK_CSV, "cp1252")
    mapping = BankMapping.from_dict(
        {"header_row": 2, "columns": {"date": "Date", "label": "Libellé", "debit": "Débit",
                                      "credit": "Crédit", "reference": "Réf."}},
        "bank.yaml",
    )  # fmt: skip

    result = services.import_statement(org, path, mapping=mapping, as_of=D)

    assert (result.credits, result.debits, result.matched, result.unmatched) == (3, 1, 1, 2)
    invoice.refresh_from_db()
    assert invoice.balance == 0
    # The same export again (no bank reference: the hash of each line) adds nothing, and the
    # two identical transfers of the 24th stay two.
    again = services.import_statement(org, path, mapping=mapping, as_of=D)
    assert (again.credits, again.duplicates) == (0, 3)
    assert BankLine.objects.filter(amount=Decimal("250.00")).count() == 2


@pytest.mark.django_db
def test_it_names_the_row_and_column_of_a_bad_csv_value(tmp_path: Path) -> None:
    org = f.organisation()
    path = write(tmp_path, "export.csv", "Date;Libellé;Montant\n31/02/2026;VIR;12,00\n"
                 "01/03/2026;VIR;12O,00\n")  # fmt: skip

    with pytest.raises(ImportFailed) as refused:
        services.import_statement(org, path, as_of=D)

    messages = [str(p) for p in refused.value.problems]
    assert messages[0].startswith("export.csv, row 2, field 'Date': '31/02/2026'")
    assert messages[1].startswith("export.csv, row 3, field 'Montant': '12O,00'")
    assert not BankLine.objects.exists()


@pytest.mark.django_db
def test_it_applies_a_queued_credit_split_across_invoices(tmp_path: Path) -> None:
    org = f.organisation()
    customer = f.customer(org, "C1")
    a = f.invoice(customer, "F-1", due=D, amount="100.00")
    b = f.invoice(customer, "F-2", due=D, amount="200.00")
    path = write(tmp_path, "s.xml", camt([{"ref": "Q1", "amount": "250.00", "ustrd": "?"}]))
    services.import_statement(org, path, as_of=D)
    (queued,) = services.queue(org)
    assert queued["status"] == "unmatched"

    out = io.StringIO()
    call_command("bank", "apply", str(queued["id"]), "--invoice", "F-2=180", "--invoice", "F-1",
                 "--json", stdout=out)  # fmt: skip

    assert json.loads(out.getvalue())["status"] == "applied"
    a.refresh_from_db(), b.refresh_from_db()
    assert (a.balance, b.balance) == (Decimal("30.00"), Decimal("20.00"))
    assert services.queue(org) == []
    with pytest.raises(CommandError, match="already applied"):
        call_command("bank", "apply", str(queued["id"]), "--unapplied", "--customer", "C1")


@pytest.mark.django_db
def test_it_accepts_a_proposal(tmp_path: Path) -> None:
    org = f.organisation()
    invoice = f.invoice(f.customer(org, "C1"), "F-9", due=D, amount="500.00")
    path = write(tmp_path, "s.xml", camt([{"ref": "P1", "amount": "200.00", "ustrd": "F-9"}]))
    services.import_statement(org, path, as_of=D)
    (queued,) = services.queue(org)
    assert (queued["confidence"], queued["proposal"]) == (
        "probable",
        [{"invoice": "F-9", "amount": Decimal("200.00")}],
    )

    services.apply_line(org, queued["id"], accept=True, as_of=D)

    invoice.refresh_from_db()
    assert invoice.balance == Decimal("300.00")


@pytest.mark.django_db
def test_it_holds_dunning_while_unapplied_cash_covers_the_overdue(tmp_path: Path) -> None:
    org = f.organisation()
    customer = f.customer(org, "C1")
    f.invoice(customer, "F-1", due=D - f.days(20), amount="400.00")
    f.invoice(customer, "F-2", due=D + f.days(20), amount="900.00")  # not yet due
    other = f.customer(org, "C2")
    f.invoice(other, "F-3", due=D - f.days(20), amount="400.00")
    path = write(tmp_path, "s.xml", camt([
        {"ref": "U1", "amount": "410.00", "ustrd": "virement"},
        {"ref": "U2", "amount": "100.00", "ustrd": "virement"},
    ]))  # fmt: skip
    services.import_statement(org, path, as_of=D)
    first, second = (line["id"] for line in services.queue(org))

    services.apply_line(org, first, unapplied=True, customer="C1", as_of=D)
    services.apply_line(org, second, unapplied=True, customer="C2", as_of=D)

    held = [h for h in Hold.objects.filter(kind=HoldKind.UNAPPLIED)
            if policy.hold_active(h.start_date, h.end_date, D)]  # fmt: skip
    assert [h.customer.reference for h in held] == ["C1"]  # 100 does not cover C2's 400


@pytest.mark.django_db
def test_it_lifts_the_hold_when_the_unapplied_cash_is_applied(tmp_path: Path) -> None:
    org = f.organisation()
    customer = f.customer(org, "C1")
    invoice = f.invoice(customer, "F-1", due=D - f.days(20), amount="400.00")
    path = write(tmp_path, "s.xml", camt([{"ref": "U1", "amount": "400.00", "ustrd": "vir"}]))
    services.import_statement(org, path, as_of=D)
    (queued,) = services.queue(org)
    services.apply_line(org, queued["id"], unapplied=True, customer="C1", as_of=D)
    (hold,) = Hold.objects.filter(customer=customer, kind=HoldKind.UNAPPLIED)
    assert policy.hold_active(hold.start_date, hold.end_date, D)

    later = D + f.days(2)
    call_command("bank", "apply", str(queued["id"]), "--invoice", "F-1", "--as-of",
                 later.isoformat())  # fmt: skip

    hold.refresh_from_db()
    invoice.refresh_from_db()
    assert invoice.balance == 0 and Payment.objects.count() == 1
    assert not policy.hold_active(hold.start_date, hold.end_date, later)


@pytest.mark.django_db
def test_it_learns_a_customers_iban_and_recognises_the_next_transfer_by_it(
    tmp_path: Path,
) -> None:
    org = f.organisation()
    customer = f.customer(org, "C1")
    f.invoice(customer, "F-1", due=D, amount="100.00")
    f.invoice(customer, "F-2", due=D, amount="250.00")
    iban = "FR7610096000501234567890126"
    first = write(tmp_path, "1.xml", camt([{"ref": "I1", "amount": "100.00", "ustrd": "F-1",
                                            "iban": iban}]))  # fmt: skip
    services.import_statement(org, first, as_of=D)
    customer.refresh_from_db()
    assert customer.iban == iban

    second = write(tmp_path, "2.xml", camt([{"ref": "I2", "amount": "250.00", "iban": iban}]))
    services.import_statement(org, second, as_of=D)

    (queued,) = services.queue(org)
    assert (queued["customer"], queued["confidence"]) == ("C1", "probable")
    assert queued["evidence"][0] == {"rule": "iban", "value": iban}
    assert queued["proposal"] == [{"invoice": "F-2", "amount": Decimal("250.00")}]
