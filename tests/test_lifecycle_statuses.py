"""Platform life-cycle statuses (CDAR, CSV, JSON) applied to dunning as design/law.md says:
pause, resume, stop, hold and settle through disputes, holds and payments."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from io import StringIO
from pathlib import Path

import factories
import pytest
from django.core.management import call_command

from relance.ledger.imports import ImportFailed, guess_format, import_file
from relance.ledger.models import Dispute, Hold, Invoice, Payment, TimelineEvent

# Their messages are read in English (the default language is French).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("in_english")]
DUE = dt.date(2026, 10, 31)


@pytest.fixture
def ledger():
    org = factories.organisation("acme")
    customer = factories.customer(org, "C1")
    invoices = {
        n: factories.invoice(customer, n, due=DUE, amount="1000.00")
        for n in ("FA-1", "FA-2", "FA-3", "FA-4", "FA-5")
    }
    return org, invoices


def write_csv(tmp_path: Path, lines: list[str], name: str = "statuts.csv") -> Path:
    path = tmp_path / name
    path.write_text("facture;statut;date;montant;code_motif;motif\n" + "\n".join(lines) + "\n")
    return path


def open_disputes(number: str) -> list[Dispute]:
    return list(Dispute.objects.filter(invoice__number=number, resolved_on__isnull=True))


def test_it_moves_invoices_through_pause_resume_stop_and_settle(ledger, tmp_path):
    org, _ = ledger
    path = write_csv(tmp_path, [
        "FA-1;207;2026-11-02;;PRIX_ERR;Prix unitaire faux",
        "FA-2;208;2026-11-02;;;Bon de commande manquant",
        "FA-2;209;2026-11-05;;;",
        "FA-3;210;2026-11-03;;DOUBLON;",
        "FA-4;211;2026-11-04;;;",
        "FA-4;212;2026-11-06;400,00;;",
        "FA-5;Encaissée;2026-11-06;;;",
    ])  # fmt: skip
    assert guess_format(path) == "statuses"
    result = import_file(org, path)
    assert [r["result"] for r in result.files] == ["applied"] * 7
    # 207: paused by a dispute whose reason comes from the code, the code shown.
    [dispute] = open_disputes("FA-1")
    assert dispute.reason == "price" and "PRIX_ERR" in dispute.note
    # 208 then 209: paused, then resumed.
    assert not open_disputes("FA-2")
    assert Dispute.objects.get(invoice__number="FA-2").resolved_on == dt.date(2026, 11, 5)
    # 210: stopped (a dispute nobody resolves but a credit note or a fix).
    [stop] = open_disputes("FA-3")
    assert stop.reason == "duplicate" and "210" in stop.note
    # 211 held the customer, 212 released the hold and settled in part.
    hold = Hold.objects.get(customer__reference="C1")
    assert hold.end_date == dt.date(2026, 11, 6)
    fa4 = Invoice.objects.get(number="FA-4")
    assert fa4.balance == Decimal("600.00")
    # 212 without an amount settles what the invoice owes.
    assert Invoice.objects.get(number="FA-5").balance == Decimal("0.00")
    assert Payment.objects.filter(source="platform").count() == 2
    events = TimelineEvent.objects.filter(organisation=org, kind="platform_status")
    assert events.count() == 7
    assert any("PRIX_ERR" in e.summary for e in events)


def test_it_applies_a_status_file_once_however_often_it_is_imported(ledger, tmp_path):
    org, _ = ledger
    path = write_csv(tmp_path, ["FA-4;212;2026-11-06;400.00;;", "FA-1;207;2026-11-02;;;"])
    import_file(org, path)
    again = import_file(org, path)
    assert [r["result"] for r in again.files] == ["already applied"] * 2
    assert Invoice.objects.get(number="FA-4").balance == Decimal("600.00")
    assert len(open_disputes("FA-1")) == 1


def test_it_disputes_the_part_not_approved_of_a_partly_approved_invoice(ledger, tmp_path):
    org, _ = ledger
    import_file(org, write_csv(tmp_path, ["FA-1;206;2026-11-02;700.00;;"]))
    [dispute] = open_disputes("FA-1")
    assert dispute.amount == Decimal("300.00")


def test_it_resumes_on_approval_what_a_dispute_paused(ledger, tmp_path):
    org, _ = ledger
    import_file(org, write_csv(tmp_path, ["FA-1;207;2026-11-02;;;", "FA-1;205;2026-11-09;;;"]))
    dispute = Dispute.objects.get(invoice__number="FA-1")
    assert (dispute.resolved_on, dispute.outcome) == (dt.date(2026, 11, 9), "rejected")


def test_it_refuses_a_file_naming_an_unknown_invoice_and_applies_nothing(ledger, tmp_path):
    org, _ = ledger
    path = write_csv(tmp_path, ["FA-1;207;2026-11-02;;;", "FA-99;212;2026-11-02;;;",
                                "FA-2;999;2026-11-02;;;"])  # fmt: skip
    with pytest.raises(ImportFailed) as refused:
        import_file(org, path)
    assert [str(p) for p in refused.value.problems] == [
        "statuts.csv, row 4, field 'status': '999' is not a life-cycle status (200 to 213)",
    ]
    path = write_csv(tmp_path, ["FA-1;207;2026-11-02;;;", "FA-99;212;2026-11-02;;;"])
    with pytest.raises(ImportFailed) as refused:
        import_file(org, path)
    assert [str(p) for p in refused.value.problems] == [
        "statuts.csv, row 3, field 'invoice': no invoice 'FA-99' in the ledger",
    ]
    assert not Dispute.objects.exists()


def test_it_reads_a_cdar_message(ledger, tmp_path):
    _org, _ = ledger
    cdar = b"""<?xml version="1.0" encoding="UTF-8"?>
<rsm:CrossDomainAcknowledgementAndResponse
 xmlns:rsm="urn:un:unece:uncefact:data:standard:CrossDomainAcknowledgementAndResponse:100"
 xmlns:ram="urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"
 xmlns:udt="urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100">
<rsm:AcknowledgementDocument>
<ram:IssueDateTime>
<udt:DateTimeString format="102">20261104</udt:DateTimeString></ram:IssueDateTime>
<ram:ReferenceReferencedDocument>
<ram:IssuerAssignedID>FA-1</ram:IssuerAssignedID>
<ram:ProcessConditionCode>207</ram:ProcessConditionCode>
<ram:SpecifiedDocumentStatus><ram:ReasonCode>QTE_ERR</ram:ReasonCode>
<ram:Reason>Quantite livree inferieure</ram:Reason></ram:SpecifiedDocumentStatus>
</ram:ReferenceReferencedDocument>
<ram:ReferenceReferencedDocument>
<ram:IssuerAssignedID>FA-2</ram:IssuerAssignedID>
<ram:ProcessConditionCode>212</ram:ProcessConditionCode>
</ram:ReferenceReferencedDocument>
</rsm:AcknowledgementDocument>
</rsm:CrossDomainAcknowledgementAndResponse>
"""
    path = tmp_path / "cdar.xml"
    path.write_bytes(cdar)
    assert guess_format(path) == "statuses"
    out = StringIO()
    call_command("import", str(path), "--org", "acme", "--json", stdout=out)
    report = json.loads(out.getvalue())
    assert report["format"] == "statuses"
    assert [f["result"] for f in report["files"]] == ["applied", "applied"]
    [dispute] = open_disputes("FA-1")
    assert dispute.reason == "quantity" and "QTE_ERR" in dispute.note
    assert dispute.opened_on == dt.date(2026, 11, 4)
    assert Invoice.objects.get(number="FA-2").balance == Decimal("0.00")


def test_it_reads_a_json_export(ledger, tmp_path):
    org, _ = ledger
    path = tmp_path / "statuses.json"
    path.write_text(json.dumps([{"invoice": "FA-3", "status": "rejected", "date": "2026-11-03"}]))
    assert guess_format(path) == "statuses"
    import_file(org, path)
    [dispute] = open_disputes("FA-3")
    assert dispute.reason == "administrative" and "213" in dispute.note


def test_it_refuses_a_json_nested_deeper_than_python_reads(ledger, tmp_path):
    org, _ = ledger
    path = tmp_path / "statuses.json"
    path.write_text("[" * 100_000)
    with pytest.raises(ImportFailed) as refused:
        import_file(org, path)
    [problem] = refused.value.problems
    assert (problem.file, problem.row) == ("statuses.json", None)
    assert problem.message.startswith("not valid JSON: maximum recursion depth exceeded")


def test_it_refuses_a_monster_line_of_a_status_csv_naming_its_row(ledger, tmp_path):
    org, _ = ledger
    path = write_csv(tmp_path, ["FA-1;207;2026-11-02;;;", "FA-2;" + "2" * 2_000_000 + ";;;;"])
    with pytest.raises(ImportFailed) as refused:
        import_file(org, path)
    [problem] = refused.value.problems
    assert (problem.file, problem.row) == ("statuts.csv", 3)
    assert "longer than 1,000,000 characters" in problem.message
    assert not Dispute.objects.exists()


def test_it_keeps_status_imports_in_the_import_log_and_the_audit_trail(ledger, tmp_path):
    from relance.audit.models import AuditEvent
    from relance.ledger.models import ImportRun

    org, _ = ledger
    import_file(org, write_csv(tmp_path, ["FA-1;207;2026-11-02;;;"]))
    with pytest.raises(ImportFailed):
        import_file(org, write_csv(tmp_path, ["FA-99;207;2026-11-02;;;"], name="bad.csv"))
    runs = ImportRun.objects.filter(organisation=org).order_by("pk")
    assert [(r.file_name, r.format, r.status) for r in runs] == [
        ("statuts.csv", "statuses", "done"), ("bad.csv", "statuses", "failed"),
    ]  # fmt: skip
    actions = set(AuditEvent.objects.filter(organisation=org).values_list("action", flat=True))
    assert {"import.applied", "import.refused", "dispute.opened"} <= actions


def test_it_applies_nothing_in_a_dry_run(ledger, tmp_path):
    org, _ = ledger
    result = import_file(org, write_csv(tmp_path, ["FA-4;212;2026-11-06;;;"]), dry_run=True)
    assert [r["result"] for r in result.files] == ["applied"]
    assert Invoice.objects.get(number="FA-4").balance == Decimal("1000.00")
    assert not TimelineEvent.objects.filter(kind="platform_status").exists()
