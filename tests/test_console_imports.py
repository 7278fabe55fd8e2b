"""Imports in the console: upload, map (remembered), preview, errors by row, fix, confirm."""

from __future__ import annotations

import io
import json
import os
import re
import time

import factories
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse

from relance.audit.models import AuditEvent
from relance.ledger.imports import staging
from relance.ledger.models import Customer, ImportMapping, ImportRun, Invoice, Payment

HEADER = "Code client;Raison sociale;N° facture;Date;Échéance;Montant TTC"
GOOD = [
    "C001;ACME Industrie;FA-001;15/01/2026;14/02/2026;1 200,00",
    "C002;Globex;FA-002;20/01/2026;19/02/2026;540,50",
    "C001;ACME Industrie;FA-003;01/02/2026;03/03/2026;99,90",
]
# Row 3 has a date that does not exist, row 5 an amount with a letter O.
BAD = [
    "C001;ACME Industrie;FA-001;15/01/2026;14/02/2026;1 200,00",
    "C002;Globex;FA-002;31/02/2026;19/02/2026;540,50",
    "C003;Initech;FA-004;05/02/2026;07/03/2026;75,00",
    "C001;ACME Industrie;FA-003;01/02/2026;03/03/2026;12O0,00",
]
COLUMNS = {
    "customer.reference": "Code client",
    "customer.legal_name": "Raison sociale",
    "invoice.number": "N° facture",
    "invoice.issue_date": "Date",
    "invoice.due_date": "Échéance",
    "invoice.amount": "Montant TTC",
}


def csv(lines: list[str], header: str = HEADER) -> bytes:
    return ("\n".join([header, *lines]) + "\n").encode()


def upload(client, data: bytes, name: str = "export.csv"):
    return client.post(
        reverse("console:imports") + "upload/", {"file": SimpleUploadedFile(name, data)}
    )


def mapping_form(name: str = "erp", **extra: str) -> dict[str, str]:
    form = {"name": name, "record": "invoice", "dates": "auto", "decimal": "auto"}
    form.update({f"column:{target}": header for target, header in COLUMNS.items()})
    form.update(extra)
    return form


def token_of(response) -> str:
    assert response.status_code == 302, response.content[:2000]
    return response["Location"].rstrip("/").split("/")[-1]


def url(token: str, step: str = "") -> str:
    return reverse("console:import", args=[token]) + (f"{step}/" if step else "")


def written(org) -> tuple[int, int, int, int]:
    return (
        Customer.objects.filter(organisation=org).count(),
        Invoice.objects.filter(organisation=org).count(),
        Payment.objects.filter(organisation=org).count(),
        ImportRun.objects.filter(organisation=org).count(),
    )


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def manager(org):
    return factories.member(org, "manon@acme.test", "manager")


@pytest.fixture
def signed(client, manager):
    client.force_login(manager)
    return client


def staged_import(client, lines=GOOD, name="erp") -> str:
    token = token_of(upload(client, csv(lines)))
    response = client.post(url(token, "mapping"), mapping_form(name))
    assert response.status_code == 302, response.content[:3000]
    return token


# -- 1. upload -----------------------------------------------------------------------------


def test_it_keeps_the_upload_in_the_organisations_data_directory(signed, org, media):
    token = token_of(upload(signed, csv(GOOD)))
    kept = media / "imports" / str(org.pk) / token / "upload.csv"
    assert kept.read_bytes() == csv(GOOD)
    page = signed.get(url(token))
    assert page.status_code == 200
    text = page.content.decode()
    assert "export.csv" in text and "Raison sociale" in text and "FA-002" in text
    assert written(org) == (0, 0, 0, 0)


def test_it_detects_a_fec_as_the_command_line_does_and_needs_no_mapping(signed, org):
    header = (
        "JournalCode\tJournalLib\tEcritureNum\tEcritureDate\tCompteNum\tCompteLib\tCompAuxNum\t"
        "CompAuxLib\tPieceRef\tPieceDate\tEcritureLib\tDebit\tCredit\tEcritureLet\tDateLet\t"
        "ValidDate\tMontantdevise\tIdevise"
    )
    common = "F1\t20260115\tFacture F1"
    rows = [
        f"VE\tVentes\t1\t20260115\t411000\tClients\tC001\tACME\t{common}\t120,00\t0,00",
        f"VE\tVentes\t1\t20260115\t706000\tVentes\t\t\t{common}\t0,00\t100,00",
        f"VE\tVentes\t1\t20260115\t445710\tTVA\t\t\t{common}\t0,00\t20,00",
    ]
    rows = [row + "\t\t\t20260115\t\t" for row in rows]
    token = token_of(upload(signed, csv(rows, header), "FEC2026.txt"))
    assert staging.load(org, token).format == "fec"
    page = signed.get(url(token)).content.decode()
    assert 'id="mapping-form"' not in page and 'id="preview-button"' in page
    signed.post(url(token, "preview"))
    state = staging.load(org, token)
    assert state.last["status"] == "ok", state.last
    assert state.last["result"]["counts"]["invoices_created"] == 1
    signed.post(url(token, "confirm"))
    assert Invoice.objects.get(organisation=org).number == "F1"


@pytest.mark.usefixtures("in_english")  # reads the problem in English
@pytest.mark.parametrize(
    ("name", "data", "said"),
    [
        ("payload.exe", b"MZ\x90\x00" * 100, "is not a file Relance imports"),
        ("export.csv", os.urandom(4096).replace(b"\x00", b"") + b"\x00\x01\x02", "binary file"),
        # binary bytes that happen to open like an XML tag (one random file in 250 did)
        ("export.csv", b"<V>\x16\x8d" + bytes(range(1, 256)) * 4 + b"\x00\x01", "binary file"),
        ("export.xlsx", b"PK\x03\x04" + os.urandom(2000), "cannot be read as a spreadsheet"),
        ("export.csv", b"", "empty"),
    ],
    ids=["executable", "binary", "binary-opening-like-xml", "broken-xlsx", "empty"],
)
def test_it_refuses_a_hostile_file_with_a_clear_error(signed, org, media, name, data, said):
    response = upload(signed, data, name)
    assert response.status_code == 400
    assert said in response.content.decode() and name in response.content.decode()
    assert not list((media / "imports" / str(org.pk)).iterdir())  # nothing kept
    assert written(org) == (0, 0, 0, 0)


@pytest.mark.usefixtures("in_english")  # reads the problem in English
def test_it_refuses_a_file_over_the_size_limit_of_the_settings(signed, org, settings, media):
    settings.RELANCE_IMPORT_MAX_BYTES = 1000
    response = upload(signed, csv(GOOD * 20))
    assert response.status_code == 400
    assert "is larger than 1000 bytes" in response.content.decode()
    assert not list((media / "imports" / str(org.pk)).iterdir())


@pytest.mark.usefixtures("in_english")  # reads the problem in English
def test_it_refuses_a_declared_huge_body_before_reading_it(signed, settings):
    settings.RELANCE_IMPORT_MAX_BYTES = 1000
    body = b"x" * 10
    response = signed.generic(
        "POST", reverse("console:import_upload"), body,
        content_type="multipart/form-data; boundary=zz", CONTENT_LENGTH=str(10**9),
    )  # fmt: skip
    assert response.status_code == 413
    assert "files of 1000\xa0bytes at most" in response.content.decode()


# -- 2. mapping ----------------------------------------------------------------------------


def test_it_prefills_the_mapping_from_headers_that_are_relances_field_names(signed):
    header = (
        "customer.reference;customer.legal_name;invoice.number;invoice_issue_date;invoice.amount"
    )
    token = token_of(upload(signed, csv(["C9;Nine;N9;01/01/2026;10,00"], header)))
    page = signed.get(url(token)).content.decode()
    assert '<option value="invoice_issue_date" selected>' in page
    assert '<option value="customer.reference" selected>' in page


def test_it_saves_the_mapping_that_the_command_line_then_reads(signed, org, tmp_path):
    token = staged_import(signed, name="erp-export")
    saved = ImportMapping.objects.get(organisation=org, name="erp-export")
    assert saved.spec["columns"]["invoice.amount"] == "Montant TTC"
    path = tmp_path / "next.csv"
    path.write_bytes(csv(GOOD))
    out = io.StringIO()
    call_command("import", str(path), "--mapping", "erp-export", "--org", "acme", "--dry-run",
                 "--json", stdout=out)  # fmt: skip
    said = json.loads(out.getvalue())
    assert said["ok"] and said["counts"]["invoices_created"] == 3
    event = AuditEvent.objects.get(organisation=org, action="import.mapping_saved")
    assert event.user.email == "manon@acme.test" and "erp-export" in event.summary
    assert staging.load(org, token).mapping["name"] == "erp-export"


def test_it_starts_from_a_mapping_the_command_line_saved(signed, org, tmp_path):
    mapping = tmp_path / "erp.yaml"
    mapping.write_text(
        "record: invoice\ndates: '%d/%m/%Y'\ncolumns:\n"
        + "".join(f"  {target}: {header}\n" for target, header in COLUMNS.items())
        + "  invoice.disputed: {column: Litige, values: {L: yes, '': no}}\n"
    )
    first = tmp_path / "first.csv"
    first.write_bytes(csv([line + ";" for line in GOOD], HEADER + ";Litige"))
    call_command("import", str(first), "--mapping", str(mapping), "--save-mapping", "cli-erp",
                 "--org", "acme", stdout=io.StringIO())  # fmt: skip
    token = token_of(upload(signed, csv([line + ";L" for line in GOOD], HEADER + ";Litige")))
    page = signed.get(url(token)).content.decode()
    assert 'value="cli-erp"' in page and '<option value="Litige" selected>' in page
    assert '<input type="hidden" name="base" value="cli-erp">' in page
    # Saved again from the browser, the translation of values and the date format stay.
    form = mapping_form(
        "cli-erp", base="cli-erp", **{"column:invoice.disputed": "Litige", "dates": "%d/%m/%Y"}
    )
    assert signed.post(url(token, "mapping"), form).status_code == 302
    spec = ImportMapping.objects.get(organisation=org, name="cli-erp").spec
    assert spec["columns"]["invoice.disputed"]["values"] == {"L": True, "": False}
    signed.post(url(token, "confirm"))
    assert ImportRun.objects.filter(organisation=org).latest("pk").counts["disputes_opened"] == 3


def test_it_remembers_the_mapping_for_the_next_file_with_the_same_headers(signed, org):
    staged_import(signed, name="erp")
    ImportMapping.objects.create(organisation=org, name="other", spec={
        "record": "customer", "columns": {"customer.reference": "Compte"}})  # fmt: skip
    token = token_of(upload(signed, csv(GOOD[:1])))
    page = signed.get(url(token)).content.decode()
    assert 'id="mapping-name" name="name" value="erp"' in page
    assert '<option value="Montant TTC" selected>' in page


def test_it_offers_first_the_mapping_the_command_line_used_last(signed, org, tmp_path):
    staged_import(signed, name="erp")
    ImportMapping.objects.create(organisation=org, name="erp-bis", spec={
        "record": "invoice", "columns": COLUMNS, "dates": "%d/%m/%Y"})  # fmt: skip
    path = tmp_path / "ledger.csv"
    path.write_bytes(csv(GOOD))
    call_command("import", str(path), "--mapping", "erp", "--org", "acme", stdout=io.StringIO())
    token = token_of(upload(signed, csv(GOOD[:1])))
    page = signed.get(url(token)).content.decode()
    assert 'id="mapping-name" name="name" value="erp"' in page


@pytest.mark.usefixtures("in_english")  # reads the problem in English
def test_it_names_each_mistake_of_the_mapping_and_saves_nothing(signed, org):
    token = token_of(upload(signed, csv(GOOD)))
    form = mapping_form("bad name!", currency="EURO", **{"column:invoice.amount": ""})
    response = signed.post(url(token, "mapping"), form)
    assert response.status_code == 400
    text = response.content.decode()
    assert "letters, digits" in text and "columns.invoice.amount" in text and "EURO" in text
    assert not ImportMapping.objects.filter(organisation=org).exists()


# -- 3, 4. preview, errors by row ----------------------------------------------------------


def test_it_previews_what_would_change_and_writes_nothing(signed, org):
    factories.customer(org, "C002", legal_name="Globex ancien nom")
    before = written(org)
    token = staged_import(signed)
    page = signed.get(url(token)).content.decode()
    assert 'data-state="preview-ok"' in page
    assert 'id="confirm-import"' in page
    counts = staging.load(org, token).last["result"]["counts"]
    assert counts == {"customers_created": 1, "customers_updated": 1, "invoices_created": 3}
    assert "Globex ancien nom" in page  # the change of name, before and after
    read = page[page.index('id="preview-rows"') :].split("</table>")[0]  # the first rows as read
    assert "FA-002" in read and "19/02/2026" in read and re.search(r"1\W?200,00\u00a0€", read)
    assert written(org) == before


def test_it_lists_every_error_with_its_row_field_and_value(signed, org):
    token = staged_import(signed, BAD)
    last = staging.load(org, token).last
    assert last["status"] == "failed"
    found = {(p["row"], p["field"], p["value"]) for p in last["problems"]}
    assert (3, "Date", "31/02/2026") in found
    assert (5, "Montant TTC", "12O0,00") in found
    page = signed.get(url(token)).content.decode()
    assert 'id="import-problems"' in page and "12O0,00" in page
    assert 'id="confirm-import"' not in page
    assert written(org) == (0, 0, 0, 0)


def test_it_fixes_with_a_corrected_file_then_imports(signed, org, manager):
    token = staged_import(signed, BAD)
    fixed = [line.replace("31/02/2026", "02/02/2026").replace("12O0", "1200") for line in BAD]
    response = signed.post(
        url(token, "file"), {"file": SimpleUploadedFile("export-v2.csv", csv(fixed))}
    )
    assert response.status_code == 302
    state = staging.load(org, token)
    assert state.file["name"] == "export-v2.csv" and state.confirmable
    assert written(org) == (0, 0, 0, 0)
    signed.post(url(token, "confirm"))
    assert set(Customer.objects.filter(organisation=org).values_list("reference", flat=True)) == {
        "C001", "C002", "C003"}  # fmt: skip
    run = ImportRun.objects.get(organisation=org)
    assert (run.status, run.user, run.file_name) == ("done", manager, "export-v2.csv")
    event = AuditEvent.objects.get(organisation=org, action="import.applied")
    assert event.user == manager and "export-v2.csv" in event.summary
    done = staging.load(org, token)
    assert done.done and not done.path.exists()  # the ledger has it; the upload is gone
    page = signed.get(url(token)).content.decode()
    assert 'data-state="done"' in page and reverse("console:import_run", args=[run.pk]) in page


def test_it_fixes_by_changing_the_mapping(signed, org):
    american = [line.replace("15/01/2026", "01/15/2026").replace("14/02/2026", "02/14/2026")
                for line in GOOD[:1]]  # fmt: skip
    token = token_of(upload(signed, csv(american)))
    signed.post(url(token, "mapping"), mapping_form())
    assert staging.load(org, token).last["problems"][0]["row"] == 2
    signed.post(url(token, "mapping"), mapping_form(dates="%m/%d/%Y"))
    state = staging.load(org, token)
    assert state.confirmable
    signed.post(url(token, "confirm"))
    assert Invoice.objects.get(organisation=org).issue_date.isoformat() == "2026-01-15"


def test_it_confirms_only_a_clean_preview_of_this_file_and_mapping(signed, org):
    token = token_of(upload(signed, csv(GOOD)))
    signed.post(url(token, "confirm"))  # nothing previewed
    assert written(org) == (0, 0, 0, 0)
    token = staged_import(signed, BAD)
    signed.post(url(token, "confirm"))  # previewed with errors
    assert written(org) == (0, 0, 0, 0)
    token = staged_import(signed, GOOD)
    staging.replace_file(staging.load(org, token), "again.csv", [csv(GOOD[:1])])
    signed.post(url(token, "confirm"))  # the file changed since
    assert written(org) == (0, 0, 0, 0)


def test_it_reports_a_failed_import_in_the_log_and_on_the_page(signed, org):
    token = staged_import(signed)
    # Between the preview and the confirmation, the ledger gets a look-alike number.
    import datetime as dt

    factories.invoice(factories.customer(org, "C9"), "fa-001", due=dt.date(2026, 2, 1))
    signed.post(url(token, "confirm"))
    last = staging.load(org, token).last
    assert last["kind"] == "import" and last["status"] == "failed"
    assert any("fa-001" in p["message"] for p in last["problems"])
    run = ImportRun.objects.get(organisation=org)
    assert run.status == "failed" and last["run_id"] == run.pk


# -- 6. progress ---------------------------------------------------------------------------


def test_the_service_reports_its_progress_every_thousand_rows(org, tmp_path):
    from relance.ledger.imports import import_file
    from relance.ledger.imports.mapping import parse_mapping

    path = tmp_path / "big.csv"
    path.write_bytes(
        csv([f"C{n};Client {n};F{n};15/01/2026;14/02/2026;10,00" for n in range(2500)])
    )
    seen: list[tuple[str, int, int]] = []
    mapping = parse_mapping({"record": "invoice", "columns": COLUMNS}, "m", default_name="m")
    import_file(org, path, mapping=mapping, dry_run=True, progress=lambda *a: seen.append(a))
    reading = [done for phase, done, _ in seen if phase == "reading"]
    assert reading == [0, 1000, 2000]
    assert {"checking", "customers", "invoices", "payments"} <= {phase for phase, *_ in seen}


@pytest.mark.django_db(transaction=True)
def test_it_runs_a_large_file_in_the_background_and_shows_its_progress(client, settings, media):
    org = factories.organisation("acme")
    client.force_login(factories.member(org, "manon@acme.test", "manager"))
    settings.RELANCE_IMPORT_BACKGROUND_BYTES = 0  # every file is "large"
    lines = [f"C{n % 500};Client {n % 500};F{n};15/01/2026;14/02/2026;10,00" for n in range(6000)]
    token = token_of(upload(client, csv(lines)))
    client.post(url(token, "mapping"), mapping_form())
    polled = client.get(url(token, "progress"), HTTP_HX_REQUEST="true")
    assert polled.status_code == 200
    wait_for(org, token)
    assert staging.load(org, token).confirmable
    client.post(url(token, "confirm"))
    page = client.get(url(token, "progress"), HTTP_HX_REQUEST="true").content.decode()
    if 'data-state="running"' in page:
        assert 'hx-trigger="every 1s"' in page and 'id="import-progress"' in page
    wait_for(org, token)
    final = client.get(url(token, "progress"), HTTP_HX_REQUEST="true")
    assert final["HX-Refresh"] == "true" and 'data-state="done"' in final.content.decode()
    assert Invoice.objects.filter(organisation=org).count() == 6000
    assert staging.load(org, token).progress()["phase"] == "done"


def wait_for(org, token: str) -> None:
    for _ in range(600):
        if not staging.load(org, token).running:
            return
        time.sleep(0.05)
    raise AssertionError("the import did not finish")


def test_it_shows_the_progress_polled_while_it_runs(signed, org):
    token = staged_import(signed)
    staged = staging.load(org, token)
    staged.state["last"] = {**staged.last, "status": "running", "pid": os.getpid()}
    staging._write(staged)
    staging._report(staged, "invoices", 1500, 6000)
    page = signed.get(url(token, "progress"), HTTP_HX_REQUEST="true")
    text = page.content.decode()
    assert 'hx-trigger="every 1s"' in text and 'value="25"' in text and "1500" in text
    assert "HX-Refresh" not in page


def test_it_marks_interrupted_a_run_whose_process_is_gone(signed, org):
    token = staged_import(signed)
    staged = staging.load(org, token)
    staged.state["last"] = {**staged.last, "status": "running", "pid": 2**22 + 12345}
    staging._write(staged)
    page = signed.get(url(token)).content.decode()
    assert 'data-state="preview-interrupted"' in page
    signed.post(url(token, "preview"))
    assert staging.load(org, token).confirmable


# -- 7. the list ---------------------------------------------------------------------------


def runs(org, user, n: int) -> None:
    from django.utils import timezone

    for i in range(n):
        ImportRun.objects.create(
            organisation=org, file_name=f"file-{i}.csv", format="csv", sha256="x",
            status="failed" if i % 2 else "done", counts={"invoices_created": i},
            error="" if i % 2 == 0 else f"file-{i}.csv, row {i + 2}, field 'Date': bad date",
            started_at=timezone.now(), finished_at=timezone.now(), user=user,
        )  # fmt: skip


@pytest.mark.parametrize("n", [3, 30])
def test_it_lists_past_imports_in_a_fixed_number_of_queries(
    signed, org, manager, n, django_assert_max_num_queries, settings
):
    settings.LANGUAGE_CODE = "en"  # the page read in English
    runs(org, manager, n)
    with django_assert_max_num_queries(8):
        page = signed.get(reverse("console:imports"))
    text = page.content.decode()
    assert text.count("data-run=") == n
    assert "manon@acme.test" in text and "row 3, field" in text and "invoices created" in text


def test_it_shows_a_run_with_its_errors_by_row(signed, org, manager):
    runs(org, manager, 2)
    failed = ImportRun.objects.get(status="failed")
    page = signed.get(reverse("console:import_run", args=[failed.pk])).content.decode()
    assert 'id="run-problems"' in page and 'data-label="Ligne">3</td>' in page
    assert "bad date" in page


@pytest.mark.parametrize(
    ("language", "created", "updated", "nothing"),
    [("en", "invoices created: 2", "updated", "Nothing changed"),
     ("fr", "factures créées\u00a0: 2", "mis à jour", "Rien n'a changé")],
)  # fmt: skip
def test_the_log_says_what_an_import_did_and_only_that(
    signed, org, manager, settings, language, created, updated, nothing
):
    from django.utils import timezone

    settings.LANGUAGE_CODE = language
    for name, counts in (("some.csv", {"invoices_created": 2, "invoices_updated": 0,
                                       "customers_updated": 0}),
                         ("same.csv", {"invoices_created": 0, "payments_created": 0})):  # fmt: skip
        ImportRun.objects.create(
            organisation=org, file_name=name, format="csv", sha256=name, status="done",
            counts=counts, started_at=timezone.now(), finished_at=timezone.now(), user=manager,
        )  # fmt: skip
    page = signed.get(reverse("console:imports")).content.decode()
    some, same = (re.search(rf"<tr data-run=[^>]*>(?:(?!</tr>).)*{n}.*?</tr>", page, re.S).group()
                  for n in ("some.csv", "same.csv"))  # fmt: skip
    assert created in some and updated not in some and ": 0" not in some and nothing not in some
    assert nothing in same and ": 0" not in same and "\u00a0: 0" not in same
    for run in ImportRun.objects.all():
        detail = signed.get(reverse("console:import_run", args=[run.pk])).content.decode()
        assert ">0<" not in detail.replace(" ", "")
        assert (nothing in detail) == (run.file_name == "same.csv")


# -- 8. permissions ------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["viewer", "collector"])
def test_it_lets_others_read_the_log_but_not_import(client, org, manager, role):
    runs(org, manager, 1)
    client.force_login(manager)
    token = token_of(upload(client, csv(GOOD)))
    client.force_login(factories.member(org, f"{role}@acme.test", role))
    listing = client.get(reverse("console:imports"))
    assert listing.status_code == 200 and 'id="upload-button"' not in listing.content.decode()
    assert 'id="import-runs"' in listing.content.decode()
    assert upload(client, csv(GOOD)).status_code == 403
    assert client.get(url(token)).status_code == 403
    assert client.post(url(token, "confirm")).status_code == 403
    run = ImportRun.objects.get(organisation=org)
    assert client.get(reverse("console:import_run", args=[run.pk])).status_code == 200


def test_another_organisations_import_answers_404(client, org, manager, other_org, outsider):
    runs(org, manager, 1)
    client.force_login(manager)
    token = staged_import(client)
    client.force_login(outsider)
    for step in ("", "progress", "mapping", "file", "preview", "confirm", "discard"):
        method = client.get if step in ("", "progress") else client.post
        assert method(url(token, step)).status_code == 404, step
    run = ImportRun.objects.get(organisation=org)
    assert client.get(reverse("console:import_run", args=[run.pk])).status_code == 404
    assert client.get("/imports/..%2F..%2Fetc%2Fpasswd/").status_code == 404
    assert client.get(url("a" * 15 + ".")).status_code == 404
    assert staging.load(org, token).confirmable  # untouched
    assert written(org)[:3] == (0, 0, 0)


def test_it_gives_up_an_import_and_deletes_its_file(signed, org, media):
    token = staged_import(signed)
    assert signed.post(url(token, "discard")).status_code == 302
    assert not (media / "imports" / str(org.pk) / token).exists()
    assert signed.get(url(token)).status_code == 404


def test_it_forgets_uploads_left_for_a_week(signed, org, media):
    token = token_of(upload(signed, csv(GOOD)))
    old = time.time() - 8 * 86400
    os.utime(media / "imports" / str(org.pk) / token / "state.json", (old, old))
    token_of(upload(signed, csv(GOOD)))
    assert not (media / "imports" / str(org.pk) / token).exists()


def test_the_list_offers_uploads_not_imported_yet(signed, org):
    token = staged_import(signed)
    page = signed.get(reverse("console:imports")).content.decode()
    assert url(token) in page and 'id="pending-imports"' in page
