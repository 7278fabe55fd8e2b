"""Hostile and broken ZIPs, as every importer that reads one meets them (a ZIP of
e-invoices, a ZIP of bank statements, an XLSX workbook): damaged members, a directory of
more files than allowed, a ZIP bomb. Each is refused naming the file and the member, the
rest of the ZIP read when the reader reads members one by one; nothing is half-written.

The files are built here, as a broken disk, a hostile sender or a bomb tool would."""

from __future__ import annotations

import datetime as dt
import struct
import zipfile
from pathlib import Path

import factories
import pytest
from test_bank import D, camt
from test_import_einvoices import OUR_SIREN, TODAY, seller_org, ubl
from test_import_user_files import TEMPLATE

from relance.bank import services
from relance.bank.models import BankLine
from relance.ledger.imports import ImportFailed, import_file
from relance.ledger.models import Invoice

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("in_english")]


def zip_of(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def damage(path: Path, member: str) -> Path:
    """The member's packed bytes garbled, as a bad sector or a cut download leaves them
    (its directory entry intact)."""
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(member)
    # The data follows the local header (30 bytes), the name and the extra field.
    name_length, extra_length = struct.unpack_from("<HH", raw, info.header_offset + 26)
    start = info.header_offset + 30 + name_length + extra_length
    for at in range(start + 2, start + 12):
        raw[at] ^= 0xFF
    path.write_bytes(bytes(raw))
    return path


def bomb_member(zf: zipfile.ZipFile, name: str, head: bytes, blanks: int, tail: bytes) -> None:
    """A member of ``blanks`` spaces between ``head`` and ``tail``: it packs a thousand to
    one, as a ZIP bomb does."""
    with zf.open(name, "w", force_zip64=True) as out:
        out.write(head)
        block = b" " * (1 << 20)
        for start in range(0, blanks, len(block)):
            out.write(block[: blanks - start])
        out.write(tail)


def test_it_refuses_a_damaged_member_of_a_zip_of_einvoices_and_imports_the_others(tmp_path):
    acme = seller_org(OUR_SIREN)
    archive = zip_of(tmp_path / "factures.zip", {
        "a.xml": ubl("UBL-1"), "b.xml": ubl("UBL-2") + b"<!--" + b"padding " * 500 + b"-->",
    })  # fmt: skip
    damage(archive, "b.xml")

    result = import_file(acme, archive, as_of=TODAY)

    statuses = {f["file"]: (f["status"], f["problems"]) for f in result.files}
    assert statuses["a.xml"] == ("imported", [])
    status, [problem] = statuses["b.xml"]
    assert status == "refused" and "cannot be read from the ZIP" in problem
    assert list(Invoice.objects.values_list("number", flat=True)) == ["UBL-1"]


def test_it_refuses_a_zip_of_statements_with_a_damaged_one_naming_it(tmp_path):
    org = factories.organisation()
    statement = camt([{"ref": f"R{n}", "amount": "10.00"} for n in range(50)]).encode()
    archive = zip_of(tmp_path / "releves.zip", {"a.xml": statement, "b.xml": statement})
    damage(archive, "b.xml")

    with pytest.raises(ImportFailed) as refused:
        services.import_statement(org, archive, as_of=D)

    [problem] = refused.value.problems
    assert problem.file == "releves.zip/b.xml"
    assert "cannot be read from the ZIP" in problem.message
    assert not BankLine.objects.exists()  # the good one neither: the ZIP is one statement


def test_it_refuses_a_zip_of_too_many_files_without_reading_its_directory(tmp_path, monkeypatch):
    archive = zip_of(tmp_path / "many.zip", {f"{n}.xml": b"" for n in range(10_001)})
    # zipfile makes an object per entry: a million of them take half a gigabyte.
    monkeypatch.setattr(zipfile.ZipFile, "_RealGetContents", _directory_read)

    with pytest.raises(ImportFailed) as refused:
        import_file(seller_org(OUR_SIREN), archive, as_of=TODAY)

    [problem] = refused.value.problems
    assert (problem.file, problem.message) == ("many.zip", "more than 10,000 files")


def _directory_read(self: zipfile.ZipFile) -> None:
    raise AssertionError("the directory was read")


def test_it_refuses_an_xlsx_bomb_naming_the_part(tmp_path):
    openpyxl = pytest.importorskip("openpyxl")
    workbook = openpyxl.Workbook()
    workbook.active.append(TEMPLATE.split(";"))
    workbook.active.append(["C001", "Acme", "FA-1", dt.date(2026, 10, 15), 100])
    workbook.save(plain := tmp_path / "plain.xlsx")
    path = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(plain) as source, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":  # 50 MB of blanks in 50 kB
                head, _, tail = data.partition(b"<sheetData>")
                bomb_member(zf, info.filename, head + b"<sheetData>", 50 << 20, tail)
            else:
                zf.writestr(info, data)

    with pytest.raises(ImportFailed) as refused:
        import_file(factories.organisation(), path, as_of=dt.date(2026, 11, 30))

    [problem] = refused.value.problems
    assert (problem.file, problem.field) == ("bomb.xlsx", "xl/worksheets/sheet1.xml")
    assert "more than 100 times (a ZIP bomb?)" in problem.message
    assert not Invoice.objects.exists()


def test_it_refuses_a_zip_inside_a_zip_of_einvoices_by_name_and_imports_the_others(tmp_path):
    acme = seller_org(OUR_SIREN)
    inner = zip_of(tmp_path / "inner.zip", {"c.xml": ubl("UBL-3")}).read_bytes()
    archive = zip_of(tmp_path / "factures.zip", {
        "a.xml": ubl("UBL-1"), "novembre.zip": inner, "decembre": inner,  # no suffix: by its bytes
    })  # fmt: skip

    result = import_file(acme, archive, as_of=TODAY)

    statuses = {f["file"]: (f["status"], f["problems"]) for f in result.files}
    assert statuses["a.xml"] == ("imported", [])
    said = ["a ZIP inside the ZIP: unpack it and import its files on their own"]
    assert statuses["novembre.zip"] == statuses["decembre"] == ("refused", said)
    assert list(Invoice.objects.values_list("number", flat=True)) == ["UBL-1"]


def test_it_refuses_a_zip_of_statements_holding_a_zip_naming_it(tmp_path):
    org = factories.organisation()
    statement = camt([{"ref": "R1", "amount": "10.00"}]).encode()
    inner = zip_of(tmp_path / "inner.zip", {"b.xml": statement}).read_bytes()
    archive = zip_of(tmp_path / "releves.zip", {"a.xml": statement, "b.zip": inner})

    with pytest.raises(ImportFailed) as refused:
        services.import_statement(org, archive, as_of=D)

    [problem] = refused.value.problems
    assert (problem.file, problem.message) == (
        "releves.zip/b.zip", "a ZIP inside the ZIP: unpack it and import its files on their own",
    )  # fmt: skip
    assert not BankLine.objects.exists()
