"""E-invoices per second: a ZIP of UBL invoices and Factur-X PDFs imported into an empty
SQLite database (a temporary data directory), then the same ZIP again (nothing changes).

    .venv/bin/python -m bench.einvoices [--files 1000] [--pdf-share 0.2] [--buyers 200]

With ``--pdf-bytes 3000000`` each PDF is padded to that size (an incompressible scan
attached, as real PDFs carry their images), the ZIP is stored, and each import runs as
``relance import`` in a child process, measured from outside (``os.wait4``): seconds, CPU
seconds and peak memory (RSS).

    .venv/bin/python -m bench.einvoices --files 300 --pdf-share 1 --pdf-bytes 3000000
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from decimal import Decimal
from pathlib import Path

SELLER = "732829320"
# Valid SIRENs (Luhn) for the buyers: 9 digits whose check digit is computed.


def siren(n: int) -> str:
    body = f"{100000000 + n * 7:09d}"[:8]
    for last in "0123456789":
        digits = [int(c) for c in body + last]
        total = sum(d if i % 2 == 0 else (d * 2 if d * 2 < 10 else d * 2 - 9)
                    for i, d in enumerate(digits))  # fmt: skip
        if total % 10 == 0:
            return body + last
    raise AssertionError


def ubl(number: str, buyer: int, total: Decimal) -> bytes:
    tax = (total / 6).quantize(Decimal("0.01"))
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
 xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
 xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">
<cbc:CustomizationID>urn:cen.eu:en16931:2017</cbc:CustomizationID>
<cbc:ID>{number}</cbc:ID><cbc:IssueDate>2026-10-01</cbc:IssueDate>
<cbc:DueDate>2026-10-31</cbc:DueDate><cbc:InvoiceTypeCode>380</cbc:InvoiceTypeCode>
<cbc:DocumentCurrencyCode>EUR</cbc:DocumentCurrencyCode>
<cac:AccountingSupplierParty><cac:Party><cac:PartyLegalEntity>
<cbc:RegistrationName>Bench SAS</cbc:RegistrationName>
<cbc:CompanyID schemeID="0002">{SELLER}</cbc:CompanyID></cac:PartyLegalEntity>
</cac:Party></cac:AccountingSupplierParty>
<cac:AccountingCustomerParty><cac:Party><cac:PartyLegalEntity>
<cbc:RegistrationName>Client {buyer}</cbc:RegistrationName>
<cbc:CompanyID schemeID="0002">{siren(buyer)}</cbc:CompanyID></cac:PartyLegalEntity>
</cac:Party></cac:AccountingCustomerParty>
<cac:TaxTotal><cbc:TaxAmount currencyID="EUR">{tax}</cbc:TaxAmount></cac:TaxTotal>
<cac:LegalMonetaryTotal>
<cbc:TaxExclusiveAmount currencyID="EUR">{total - tax}</cbc:TaxExclusiveAmount>
<cbc:TaxInclusiveAmount currencyID="EUR">{total}</cbc:TaxInclusiveAmount>
<cbc:PayableAmount currencyID="EUR">{total}</cbc:PayableAmount>
</cac:LegalMonetaryTotal></Invoice>
""".encode()


def cii(number: str, buyer: int, total: Decimal) -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<rsm:CrossIndustryInvoice xmlns:rsm="urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"
 xmlns:ram="urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"
 xmlns:udt="urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100">
<rsm:ExchangedDocumentContext><ram:GuidelineSpecifiedDocumentContextParameter>
<ram:ID>urn:factur-x.eu:1p0:minimum</ram:ID></ram:GuidelineSpecifiedDocumentContextParameter>
</rsm:ExchangedDocumentContext>
<rsm:ExchangedDocument><ram:ID>{number}</ram:ID><ram:TypeCode>380</ram:TypeCode>
<ram:IssueDateTime><udt:DateTimeString format="102">20261001</udt:DateTimeString>
</ram:IssueDateTime></rsm:ExchangedDocument>
<rsm:SupplyChainTradeTransaction><ram:ApplicableHeaderTradeAgreement>
<ram:SellerTradeParty><ram:Name>Bench SAS</ram:Name><ram:SpecifiedLegalOrganization>
<ram:ID schemeID="0002">{SELLER}</ram:ID></ram:SpecifiedLegalOrganization>
<ram:PostalTradeAddress><ram:CountryID>FR</ram:CountryID></ram:PostalTradeAddress>
</ram:SellerTradeParty>
<ram:BuyerTradeParty><ram:Name>Client {buyer}</ram:Name><ram:SpecifiedLegalOrganization>
<ram:ID schemeID="0002">{siren(buyer)}</ram:ID></ram:SpecifiedLegalOrganization>
</ram:BuyerTradeParty></ram:ApplicableHeaderTradeAgreement>
<ram:ApplicableHeaderTradeDelivery/><ram:ApplicableHeaderTradeSettlement>
<ram:InvoiceCurrencyCode>EUR</ram:InvoiceCurrencyCode>
<ram:SpecifiedTradeSettlementHeaderMonetarySummation>
<ram:TaxBasisTotalAmount>{total}</ram:TaxBasisTotalAmount>
<ram:TaxTotalAmount currencyID="EUR">0.00</ram:TaxTotalAmount>
<ram:GrandTotalAmount>{total}</ram:GrandTotalAmount>
<ram:DuePayableAmount>{total}</ram:DuePayableAmount>
</ram:SpecifiedTradeSettlementHeaderMonetarySummation>
</ram:ApplicableHeaderTradeSettlement></rsm:SupplyChainTradeTransaction>
</rsm:CrossIndustryInvoice>
""".encode()


def write_zip(path: Path, files: int, pdf_share: float, buyers: int, pdf_bytes: int = 0) -> None:
    import logging

    import facturx
    from pypdf import PdfWriter

    logging.getLogger("factur-x").setLevel(logging.ERROR)  # set to INFO when it is imported

    out = io.BytesIO()
    writer = PdfWriter()
    writer.add_blank_page(595, 842)
    if pdf_bytes:
        writer.add_attachment("scan.bin", os.urandom(pdf_bytes))
    writer.write(out)
    blank = out.getvalue()
    every = round(1 / pdf_share) if pdf_share else 0
    packing = zipfile.ZIP_STORED if pdf_bytes else zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(path, "w", packing) as zf:
        for n in range(files):
            number, total = f"B-{n:06d}", Decimal(100 + n % 900) + Decimal("0.50")
            if every and n % every == 0:
                pdf = facturx.generate_from_binary(blank, cii(number, n % buyers, total),
                                                   check_xsd=False)  # fmt: skip
                zf.writestr(f"{number}.pdf", pdf)
            else:
                zf.writestr(f"{number}.xml", ubl(number, n % buyers, total))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--pdf-share", type=float, default=0.2)
    parser.add_argument("--buyers", type=int, default=200)
    parser.add_argument("--pdf-bytes", type=int, default=0, help="pad each PDF to this size")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="relance-bench-einvoices-")
    os.environ["RELANCE_DATA_DIR"] = tmp
    os.environ.pop("DATABASE_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "relance.settings")
    import django

    django.setup()
    from django.core.management import call_command

    from relance.accounts.services import create_organisation
    from relance.ledger.imports import import_file

    call_command("migrate", verbosity=0)
    org = create_organisation("bench", name="Bench SAS")
    org.siren = SELLER
    org.save()
    archive = Path(tmp) / "einvoices.zip"
    write_zip(archive, args.files, args.pdf_share, args.buyers, args.pdf_bytes)
    if args.pdf_bytes:
        in_children(archive, args.files)
        return
    print(f"{args.files:,} files ({args.pdf_share:.0%} Factur-X PDF, the rest UBL), "
          f"{args.buyers} buyers, SQLite\n")  # fmt: skip
    print("| run | seconds | e-invoices/s |\n| --- | ---: | ---: |")
    for run in ("first import", "same ZIP again"):
        started = time.perf_counter()
        result = import_file(org, archive)
        seconds = time.perf_counter() - started
        assert sum(f["status"] == "imported" for f in result.files) == args.files
        print(f"| {run} | {seconds:.2f} | {args.files / seconds:,.0f} |")


def in_children(archive: Path, files: int) -> None:
    """Each import as `relance import` in a child process: wall and CPU seconds, peak RSS."""
    size = archive.stat().st_size
    print(f"ZIP of {size / 1e6:,.0f} MB; load average {os.getloadavg()[0]:.1f}\n")
    print("| run | seconds | CPU seconds | peak RSS (MB) |\n| --- | ---: | ---: | ---: |")
    relance = Path(sys.executable).with_name("relance")
    for run in ("first import", "same ZIP again"):
        started = time.perf_counter()
        child = subprocess.Popen([str(relance), "import", str(archive), "--org", "bench"],
                                 stdout=subprocess.DEVNULL)  # fmt: skip
        _pid, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - started
        assert os.waitstatus_to_exitcode(status) == 0, run
        cpu = usage.ru_utime + usage.ru_stime
        print(f"| {run} | {seconds:.1f} | {cpu:.1f} | {usage.ru_maxrss / 1024:,.0f} |")
    print(f"\n{files:,} files; load average after {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
