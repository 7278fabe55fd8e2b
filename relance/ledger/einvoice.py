"""Reading electronic invoices: Factur-X / ZUGFeRD PDFs (their embedded CII XML), CII XML
(D16B, and ZUGFeRD 1.0's CrossIndustryDocument) and UBL 2.1 XML (Invoice and CreditNote,
the French CTC-FR flavour included), every profile from MINIMUM to EXTENDED.

Plain functions, no database: ``read_document`` turns the bytes of one file into an
``EInvoice`` (or raises ``NotAnInvoice`` with the reasons), ``seller_problem`` says whether
the seller is the organisation, ``match_buyer`` finds the buyer among the customers, and
``add_to_batch`` writes the invoice as the records of the import pipeline
(``relance.ledger.imports``), which validates and applies them like any other file.

The XML is parsed without network, without external entities and without huge trees: a
hostile file can neither read the disk nor blow up memory.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils.translation import gettext as _
from lxml import etree
from stdnum.eu import vat as stdnum_vat
from stdnum.exceptions import ValidationError as StdnumError
from stdnum.fr import siren as stdnum_siren
from stdnum.fr import siret as stdnum_siret

from relance.accounts.services import check_country, check_currency
from relance.ledger.imports import messages
from relance.ledger.imports.records import (
    AllocationRecord,
    InvoiceRecord,
    LedgerBatch,
    PaymentRecord,
)
from relance.ledger.models import InvoiceKind, PaymentKind
from relance.lib.dates import out_of_range

MAX_BYTES = 50_000_000  # one invoice file; a bigger one is not an invoice
_CENT = Decimal("0.01")
# UNTDID 1001 document types: credit notes (the others are invoices of some kind).
CREDIT_NOTE_TYPES = frozenset({"81", "83", "261", "262", "296", "308", "381", "396", "420",
                               "458", "532"})  # fmt: skip
# Identifier schemes (ISO 6523 ICD) of the French registry.
_SIREN_SCHEMES = frozenset({"0002", "0225"})
_SIRET_SCHEMES = frozenset({"0009"})


class NotAnInvoice(Exception):
    """The file is not an e-invoice Relance can read; ``problems`` are (field, message)."""

    def __init__(self, problems: list[tuple[str | None, str]]):
        self.problems = problems
        super().__init__("; ".join(m if f is None else f"{f}: {m}" for f, m in problems))


@dataclass
class Party:
    name: str = ""
    siren: str = ""
    siret: str = ""
    vat: str = ""
    account: str = ""  # the identifier the seller gives the buyer (BT-46)
    email: str = ""
    country: str = ""
    address: dict[str, str] = field(default_factory=dict)

    def described(self) -> str:
        ids = ", ".join(
            f"{label} {value}"
            for label, value in (("SIREN", self.siren), ("SIRET", self.siret), ("VAT", self.vat))
            if value
        )
        return f"{self.name or '(no name)'}" + (f" ({ids})" if ids else "")


@dataclass
class EInvoice:
    syntax: str  # "CII", "ZUGFeRD 1", "UBL"
    profile: str  # the guideline (BT-24) as the file gives it
    number: str
    type_code: str
    issue_date: dt.date
    due_date: dt.date | None
    currency: str
    total: Decimal  # including tax (BT-112)
    total_excl_tax: Decimal | None
    tax: Decimal | None
    prepaid: Decimal  # paid before (BT-113)
    amount_due: Decimal  # BT-115
    terms: str  # the payment terms' text (BT-20)
    seller: Party
    buyer: Party
    po_reference: str = ""
    preceding: str = ""  # the invoice a credit note corrects (BT-25)

    @property
    def is_credit_note(self) -> bool:
        return self.type_code in CREDIT_NOTE_TYPES


# -- reading ----------------------------------------------------------------------------

_PARSER_OPTIONS: dict[str, Any] = {
    "resolve_entities": False, "no_network": True, "huge_tree": False, "load_dtd": False,
    "dtd_validation": False, "remove_comments": True, "remove_pis": True,
}  # fmt: skip


def parse_xml(data: bytes, name: str) -> etree._Element:
    """The root of an XML document (the file ``name``), read by a parser that fetches
    nothing and expands no entity; raises NotAnInvoice when it is not well-formed XML."""
    parser = etree.XMLParser(**_PARSER_OPTIONS)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as error:
        raise NotAnInvoice([(None, messages.not_well_formed(name, error))]) from None
    if root is None:
        raise NotAnInvoice([(None, _("empty XML document"))])
    return root


def looks_like_einvoice(name: str, head: bytes) -> bool:
    """Whether a file (its name and first bytes) is for this reader: a PDF or an XML."""
    lower = name.lower()
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    return lower.endswith((".pdf", ".xml")) or text.startswith((b"%PDF", b"<?xml", b"<"))


def read_document(data: bytes, name: str) -> tuple[EInvoice, bytes | None]:
    """The invoice a PDF or XML file holds, and the PDF itself when it was one."""
    if len(data) > MAX_BYTES:
        raise NotAnInvoice(
            [(None, _("%(size)s bytes is too large for an invoice") % {"size": f"{len(data):,}"})]
        )
    if data[:1024].lstrip().startswith(b"%PDF") or b"%PDF-" in data[:1024]:
        return read_xml(xml_of_pdf(data), name), data
    if name.lower().endswith(".pdf"):
        raise NotAnInvoice([(None, _("not a PDF (no %PDF header)"))])
    return read_xml(data, name), None


# The names Factur-X and ZUGFeRD give the XML they embed, looked at first; a PDF may carry
# other attachments, and each costs what it inflates to (pypdf allows 75 MB a stream, kept
# until the PDF is let go): a 1.5 MB PDF of twenty such ``.xml`` files took 7.7 s and
# 1.5 GB when each was read. At most PDF_XML_TRIES of them are read.
_EMBEDDED_NAMES = ("factur-x.xml", "zugferd-invoice.xml", "xrechnung.xml", "order-x.xml")
PDF_XML_TRIES = 3


def xml_of_pdf(data: bytes) -> bytes:
    """The CII XML a Factur-X / ZUGFeRD PDF embeds: the first of its ``.xml`` attachments
    (by their Factur-X or ZUGFeRD name first, at most PDF_XML_TRIES of them) whose root is
    a CII invoice, parsed as every XML here is."""
    from io import BytesIO

    import pypdf

    try:
        reader = pypdf.PdfReader(BytesIO(data))
        found = [f for f in reader.attachment_list if f.name.lower().endswith(".xml")]
        found.sort(key=lambda f: f.name.lower() not in _EMBEDDED_NAMES)
        for attachment in found[:PDF_XML_TRIES]:
            xml = attachment.content
            if _is_cii(xml):
                return bytes(xml)
    except Exception as error:  # pypdf raises many kinds of errors on a broken PDF
        raise NotAnInvoice(
            [(None, _("not a readable PDF: %(error)s") % {"error": error})]
        ) from None
    raise NotAnInvoice([(None, _("a PDF without an embedded Factur-X or ZUGFeRD invoice"))])


def _is_cii(xml: bytes) -> bool:
    """Whether an attachment is a CII invoice (Factur-X, ZUGFeRD 1 or 2)."""
    try:
        root = parse_xml(xml, "")
    except NotAnInvoice:
        return False
    qname = etree.QName(root)
    return _ROOTS.get((qname.namespace or "", qname.localname)) in ("CII", "ZUGFeRD 1")


# The roots read, each in its namespace: an ``<Invoice>`` of another namespace (an ERP's own
# export, a UBL 1.0 file) is another document that bears the name, not one to read as UBL 2.1.
_ROOTS = {
    ("urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100", "CrossIndustryInvoice"):
        "CII",
    ("urn:ferd:CrossIndustryDocument:invoice:1p0", "CrossIndustryDocument"): "ZUGFeRD 1",
    ("urn:oasis:names:specification:ubl:schema:xsd:Invoice-2", "Invoice"): "UBL",
    ("urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2", "CreditNote"): "UBL",
}  # fmt: skip
_NAMESPACES = {kind: namespace for namespace, kind in _ROOTS}


def read_xml(data: bytes, name: str) -> EInvoice:
    root = parse_xml(data, name)
    qname = etree.QName(root)
    kind, namespace = qname.localname, qname.namespace or ""
    syntax = _ROOTS.get((namespace, kind))
    if syntax is None and kind in _NAMESPACES:
        raise NotAnInvoice([(None, _(
            "<%(kind)s> of the namespace %(namespace)s is not an e-invoice: %(syntax)s's is "
            "%(expected)s"
        ) % {"kind": kind, "namespace": repr(namespace), "expected": _NAMESPACES[kind],
             "syntax": "UBL 2.1" if kind in ("Invoice", "CreditNote") else "CII"})])  # fmt: skip
    if syntax is None:
        raise NotAnInvoice(
            [(None, _("<%(kind)s> is not an e-invoice (CII or UBL 2.1)") % {"kind": kind})]
        )
    reader = _Reader(root, syntax)
    return reader.ubl() if syntax == "UBL" else reader.cii()


def _local(path: str) -> str:
    """``a/b`` as a path of any namespace: ``{*}a/{*}b``."""
    return "/".join(part if part in (".", "..") else "{*}" + part for part in path.split("/"))


class _Reader:
    def __init__(self, root: etree._Element, syntax: str):
        self.root = root
        self.syntax = syntax
        self.problems: list[tuple[str | None, str]] = []

    def first(self, node: etree._Element | None, *paths: str) -> etree._Element | None:
        if node is None:
            return None
        for path in paths:
            found = node.find(_local(path))
            if found is not None:
                return found
        return None

    def text(self, node: etree._Element | None, *paths: str) -> str:
        found = self.first(node, *paths)
        return (found.text or "").strip() if found is not None else ""

    def amount(
        self, node: etree._Element | None, label: str, *paths: str, currency: str = ""
    ) -> Decimal | None:
        if node is None:
            return None
        for path in paths:
            # Tax totals may be given twice, in the invoice's and in the tax currency.
            candidates = node.findall(_local(path))
            chosen = [c for c in candidates if c.get("currencyID") in (None, "", currency)]
            for element in chosen or candidates:
                raw = (element.text or "").strip()
                if not raw:
                    continue
                try:
                    value = Decimal(raw)
                except InvalidOperation:
                    self.problems.append(
                        (label, _("%(value)s is not an amount") % {"value": repr(raw)})
                    )
                    return None
                if not value.is_finite() or abs(value) >= Decimal("1e16"):
                    self.problems.append(
                        (label, _("%(value)s is not a plausible amount") % {"value": repr(raw)})
                    )
                    return None
                return value.quantize(_CENT)
        return None

    def date(self, raw: str, label: str, fmt: str = "102") -> dt.date | None:
        if not raw:
            return None
        try:
            if fmt == "102":
                day = dt.datetime.strptime(raw, "%Y%m%d").date()
            else:
                day = dt.date.fromisoformat(raw[:10])
        except ValueError:
            self.problems.append((label, _("%(value)s is not a date") % {"value": repr(raw)}))
            return None
        if out_of_range(day):
            self.problems.append((label, _("%(day)s is out of range") % {"day": day}))
            return None
        return day

    def cii_date(self, node: etree._Element | None, label: str) -> dt.date | None:
        found = self.first(node, "DateTimeString")
        if found is None:
            return None
        fmt = found.get("format") or "102"
        if fmt != "102":
            self.problems.append(
                (label, _("date format %(format)s is not a day (format 102)") % {"format": fmt})
            )
            return None
        return self.date((found.text or "").strip(), label)

    # -- CII (Factur-X, ZUGFeRD 2, and ZUGFeRD 1) ----------------------------------------

    def cii(self) -> EInvoice:
        r = self.root
        doc = self.first(r, "ExchangedDocument", "HeaderExchangedDocument")
        deal = self.first(r, "SupplyChainTradeTransaction", "SpecifiedSupplyChainTradeTransaction")
        agreement = self.first(
            deal, "ApplicableHeaderTradeAgreement", "ApplicableSupplyChainTradeAgreement"
        )
        settlement = self.first(
            deal, "ApplicableHeaderTradeSettlement", "ApplicableSupplyChainTradeSettlement"
        )
        totals = self.first(
            settlement,
            "SpecifiedTradeSettlementHeaderMonetarySummation",
            "SpecifiedTradeSettlementMonetarySummation",
        )
        if doc is None or settlement is None or totals is None:
            raise NotAnInvoice([(None, _("a CII document without its header or its totals"))])
        profile = self.text(
            r, "ExchangedDocumentContext/GuidelineSpecifiedDocumentContextParameter/ID",
            "SpecifiedExchangedDocumentContext/GuidelineSpecifiedDocumentContextParameter/ID",
        )  # fmt: skip
        currency = self.text(settlement, "InvoiceCurrencyCode")
        issue = self.cii_date(self.first(doc, "IssueDateTime"), _("issue date (BT-2)"))
        terms_nodes = settlement.findall(_local("SpecifiedTradePaymentTerms"))
        due = None
        terms = []
        for terms_node in terms_nodes:
            due = due or self.cii_date(
                self.first(terms_node, "DueDateDateTime"), _("due date (BT-9)")
            )
            if description := self.text(terms_node, "Description"):
                terms.append(description)
        return self.finish(
            profile=profile,
            number=self.text(doc, "ID"),
            type_code=self.text(doc, "TypeCode"),
            issue=issue,
            due=due,
            currency=currency,
            total=self.amount(totals, _("total (BT-112)"), "GrandTotalAmount", currency=currency),
            excl=self.amount(
                totals, _("total excl. tax (BT-109)"), "TaxBasisTotalAmount", currency=currency
            ),
            tax=self.amount(totals, _("tax (BT-110)"), "TaxTotalAmount", currency=currency),
            prepaid=self.amount(
                totals, _("prepaid (BT-113)"), "TotalPrepaidAmount", currency=currency
            ),
            due_amount=self.amount(
                totals, _("amount due (BT-115)"), "DuePayableAmount", currency=currency
            ),
            terms=" ".join(terms),
            seller=self.cii_party(self.first(agreement, "SellerTradeParty")),
            buyer=self.cii_party(self.first(agreement, "BuyerTradeParty")),
            po=self.text(
                agreement,
                "BuyerOrderReferencedDocument/IssuerAssignedID",
                "BuyerOrderReferencedDocument/ID",
            ),
            preceding=self.text(settlement, "InvoiceReferencedDocument/IssuerAssignedID"),
        )

    def cii_party(self, node: etree._Element | None) -> Party:
        party = Party()
        if node is None:
            return party
        party.name = self.text(node, "Name")
        party.account = self.text(node, "ID")
        ids: list[tuple[str, str]] = []
        for path in ("GlobalID", "SpecifiedLegalOrganization/ID", "SpecifiedTaxRegistration/ID"):
            ids += [(e.get("schemeID") or "", (e.text or "").strip())
                    for e in node.findall(_local(path))]  # fmt: skip
        _identify(party, ids)
        party.email = self.text(node, "URIUniversalCommunication/URIID")
        address = self.first(node, "PostalTradeAddress")
        if address is not None:
            party.country = self.text(address, "CountryID").upper()
            party.address = {
                "line1": self.text(address, "LineOne"), "line2": self.text(address, "LineTwo"),
                "postcode": self.text(address, "PostcodeCode"),
                "city": self.text(address, "CityName"),
            }  # fmt: skip
        return party

    # -- UBL 2.1 -------------------------------------------------------------------------

    def ubl(self) -> EInvoice:
        r = self.root
        credit = etree.QName(r).localname == "CreditNote"
        currency = self.text(r, "DocumentCurrencyCode")
        totals = self.first(r, "LegalMonetaryTotal")
        if totals is None:
            raise NotAnInvoice(
                [(None, _("a UBL document without its totals (LegalMonetaryTotal)"))]
            )
        due_raw = self.text(r, "DueDate", "PaymentMeans/PaymentDueDate")
        terms = " ".join(
            (e.text or "").strip() for e in r.findall(_local("PaymentTerms/Note")) if e.text
        )
        tax = None
        for tax_total in r.findall(_local("TaxTotal")):
            amount = self.first(tax_total, "TaxAmount")
            if amount is not None and amount.get("currencyID") in (None, currency):
                tax = self.amount(tax_total, _("tax (BT-110)"), "TaxAmount", currency=currency)
                break
        return self.finish(
            profile=self.text(r, "CustomizationID"),
            number=self.text(r, "ID"),
            type_code=self.text(r, "CreditNoteTypeCode" if credit else "InvoiceTypeCode")
            or ("381" if credit else "380"),
            issue=self.date(self.text(r, "IssueDate"), _("issue date (BT-2)"), "iso"),
            due=self.date(due_raw, _("due date (BT-9)"), "iso"),
            currency=currency,
            total=self.amount(totals, _("total (BT-112)"), "TaxInclusiveAmount"),
            excl=self.amount(totals, _("total excl. tax (BT-109)"), "TaxExclusiveAmount"),
            tax=tax,
            prepaid=self.amount(totals, _("prepaid (BT-113)"), "PrepaidAmount"),
            due_amount=self.amount(totals, _("amount due (BT-115)"), "PayableAmount"),
            terms=terms,
            seller=self.ubl_party(self.first(r, "AccountingSupplierParty/Party")),
            buyer=self.ubl_party(self.first(r, "AccountingCustomerParty/Party")),
            po=self.text(r, "OrderReference/ID"),
            preceding=self.text(r, "BillingReference/InvoiceDocumentReference/ID"),
        )

    def ubl_party(self, node: etree._Element | None) -> Party:
        party = Party()
        if node is None:
            return party
        party.name = self.text(node, "PartyLegalEntity/RegistrationName", "PartyName/Name")
        ids: list[tuple[str, str]] = []
        endpoint = self.first(node, "EndpointID")
        if endpoint is not None:
            scheme = endpoint.get("schemeID") or ""
            if scheme.upper() == "EM":
                party.email = (endpoint.text or "").strip()
            else:
                # A CTC-FR address is the SIREN, with a suffix for the department.
                ids.append((scheme, (endpoint.text or "").strip().split("_")[0]))
        for e in node.findall(_local("PartyIdentification/ID")):
            scheme = e.get("schemeID") or ""
            value = (e.text or "").strip()
            if not scheme and not party.account:
                party.account = value
            ids.append((scheme, value))
        for e in node.findall(_local("PartyLegalEntity/CompanyID")):
            ids.append((e.get("schemeID") or "", (e.text or "").strip()))
        for tax_scheme in node.findall(_local("PartyTaxScheme")):
            if self.text(tax_scheme, "TaxScheme/ID").upper() == "VAT":
                ids.append(("VA", self.text(tax_scheme, "CompanyID")))
        _identify(party, ids)
        address = self.first(node, "PostalAddress")
        if address is not None:
            party.country = self.text(address, "Country/IdentificationCode").upper()
            party.address = {
                "line1": self.text(address, "StreetName"),
                "line2": self.text(address, "AdditionalStreetName"),
                "postcode": self.text(address, "PostalZone"),
                "city": self.text(address, "CityName"),
            }
        if not party.email:
            party.email = self.text(node, "Contact/ElectronicMail")
        return party

    # -- both ----------------------------------------------------------------------------

    def finish(
        self,
        *,
        profile: str,
        number: str,
        type_code: str,
        issue: dt.date | None,
        due: dt.date | None,
        currency: str,
        total: Decimal | None,
        excl: Decimal | None,
        tax: Decimal | None,
        prepaid: Decimal | None,
        due_amount: Decimal | None,
        terms: str,
        seller: Party,
        buyer: Party,
        po: str,
        preceding: str,
    ) -> EInvoice:
        problems = self.problems
        if not number:
            problems.append((_("invoice number (BT-1)"), _("is missing")))
        if issue is None and not any(f == _("issue date (BT-2)") for f, _v in problems):
            problems.append((_("issue date (BT-2)"), _("is missing")))
        try:
            currency = check_currency(currency)
        except ValueError as error:
            problems.append((_("currency (BT-5)"), str(error)))
        if total is None and due_amount is None:
            problems.append((_("total (BT-112)"), _("is missing")))
        if not buyer.name and not (buyer.siren or buyer.siret or buyer.vat):
            problems.append((_("buyer (BG-7)"), _("is missing")))
        if issue is not None and due is not None and due < issue:
            problems.append((
                _("due date (BT-9)"),
                _("due date %(due)s is before the issue date %(issued)s")
                % {"due": due, "issued": issue},
            ))  # fmt: skip
        if problems:
            raise NotAnInvoice(problems)
        assert issue is not None
        if total is None:  # MINIMUM gives both; a file with only the amount due
            total = (due_amount or Decimal(0)) + (prepaid or Decimal(0))
        if prepaid is None:
            prepaid = total - due_amount if due_amount is not None else Decimal("0.00")
        if due_amount is None:
            due_amount = total - prepaid
        if abs(due_amount) > abs(total):  # the ledger would hold the total, not this
            raise NotAnInvoice([(_("amount due (BT-115)"), _(
                "%(due)s is more than the total (BT-112) %(total)s: what was prepaid (BT-113) "
                "cannot be below zero"
            ) % {"due": due_amount, "total": total})])  # fmt: skip
        if total < 0:  # a negative invoice is a credit note written the other way round
            total, prepaid, due_amount = -total, -prepaid, -due_amount
            excl = -excl if excl is not None else None
            tax = -tax if tax is not None else None
            type_code = "381" if type_code not in CREDIT_NOTE_TYPES else "380"
        return EInvoice(
            syntax=self.syntax, profile=profile, number=number, type_code=type_code,
            issue_date=issue, due_date=due, currency=currency, total=total,
            total_excl_tax=excl, tax=tax, prepaid=prepaid, amount_due=due_amount,
            terms=terms, seller=seller, buyer=buyer, po_reference=po[:64], preceding=preceding,
        )  # fmt: skip


def _identify(party: Party, ids: Iterable[tuple[str, str]]) -> None:
    """Sort a party's identifiers into SIREN, SIRET and VAT number, keeping the valid ones."""
    for scheme, raw in ids:
        value = re.sub(r"[\s.\-]", "", raw).upper()
        if not value:
            continue
        # Kept as written (normalised): a number whose check digit is wrong still says who
        # the party is; only valid ones are written on a customer (``customer_fields``).
        if scheme.upper() == "VA" or (scheme == "" and re.fullmatch(r"[A-Z]{2}\w{2,13}", value)):
            party.vat = party.vat or value
        elif value.isdigit() and len(value) == 14 and (scheme in _SIRET_SCHEMES or not scheme):
            party.siret = party.siret or value
        elif value.isdigit() and len(value) == 9 and (scheme in _SIREN_SCHEMES or not scheme):
            party.siren = party.siren or value
    if not party.siren and party.siret:
        party.siren = party.siret[:9]
    if not party.siren and party.vat.startswith("FR") and len(party.vat) == 13:
        party.siren = party.vat[4:]


def _valid(check: Any, value: str) -> bool:
    try:
        check(value)
    except (StdnumError, ValueError):
        return False
    return True


# -- who is who -------------------------------------------------------------------------


def seller_problem(
    invoice: EInvoice, siren: str, vat_number: str, names: Iterable[str] = ()
) -> str | None:
    """Why the invoice's seller is not the organisation, or None. Compared by SIREN (the
    seller's, or its SIRET's, or its French VAT number's), else VAT number; a seller the
    file gives neither (some ZUGFeRD 1 files: a tax office number only) by its name."""
    own_vat = re.sub(r"\s", "", vat_number).upper()
    seller = invoice.seller
    if not (seller.siren or seller.vat):
        own_names = {name_key(n) for n in names if name_key(n)}
        if name_key(seller.name) in own_names:
            return None
        return _(
            "the seller %(seller)s has no SIREN or VAT number and is not named as this organisation"
        ) % {"seller": seller.described()}
    if not siren and not own_vat:
        return _(
            "the organisation has no SIREN or VAT number to compare the seller with: "
            "set them with `relance org set --siren N` or `--vat-number V`"
        )
    if siren and seller.siren == siren:
        return None
    if own_vat and seller.vat == own_vat:
        return None
    ours = ", ".join(f"{k} {v}" for k, v in (("SIREN", siren), (_("VAT"), own_vat)) if v)
    return _("the seller %(seller)s is not this organisation (%(ours)s)") % {
        "seller": seller.described(), "ours": ours
    }  # fmt: skip


@dataclass(frozen=True)
class KnownCustomer:
    reference: str
    legal_name: str
    siren: str = ""
    siret: str = ""
    vat_number: str = ""


def name_key(name: str) -> str:
    """A name as compared: no accents, case, punctuation or spacing."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]", "", plain.lower())


def match_buyer(buyer: Party, customers: Iterable[KnownCustomer]) -> KnownCustomer | None:
    """The customer the buyer is: by SIRET, SIREN, VAT number, then name (the first that
    finds exactly one), then the account the seller gives the buyer in the file."""
    known = list(customers)
    tests = (
        lambda c: bool(buyer.siret) and c.siret == buyer.siret,
        lambda c: bool(buyer.siren) and (c.siren or c.siret[:9]) == buyer.siren,
        lambda c: bool(buyer.vat) and c.vat_number.replace(" ", "").upper() == buyer.vat,
        lambda c: bool(name_key(buyer.name)) and name_key(c.legal_name) == name_key(buyer.name),
        lambda c: bool(buyer.account) and c.reference == buyer.account,
    )
    for test in tests:
        found = [c for c in known if test(c)]
        if len(found) == 1:
            return found[0]
    return None


def new_reference(buyer: Party, taken: set[str]) -> str:
    """The account of a customer the file creates: its SIREN, else its VAT number, else its
    name; made unique against ``taken``."""
    base = buyer.siren or buyer.vat or re.sub(r"\s+", "-", buyer.name.strip()).upper()[:56]
    reference, n = base or "EINVOICE", 1
    while reference in taken:
        n += 1
        reference = f"{base}-{n}"
    return reference


# -- into the import pipeline -----------------------------------------------------------


def add_to_batch(
    batch: LedgerBatch,
    invoice: EInvoice,
    customer: str,
    row: int,
    new: bool,
    credits: tuple[str, Decimal] | None = None,
) -> None:
    """The invoice as the pipeline's records: an invoice (its prepaid part as a settlement
    allocated to it) or a credit note (allocated to ``credits``: the invoice it corrects and
    how much of it, when known); a new customer with what the file says of it."""
    if new:
        record = batch.customer(customer, row)
        buyer = invoice.buyer
        fields: dict[str, Any] = {"legal_name": (buyer.name or customer)[:200]}
        checks = (("siren", buyer.siren, stdnum_siren.validate),
                  ("siret", buyer.siret, stdnum_siret.validate),
                  ("vat_number", buyer.vat, stdnum_vat.validate))  # fmt: skip
        for name, value, check in checks:
            if value and _valid(check, value):
                fields[name] = value
        if (
            fields.get("siret")
            and fields.get("siren")
            and not fields["siret"].startswith(fields["siren"])
        ):
            del fields["siret"]
        if _valid(check_country, buyer.country):
            fields["country"] = buyer.country
        if buyer.email and "@" in buyer.email:
            fields["email"] = buyer.email
        if any(buyer.address.values()) and buyer.address.get("city"):
            fields["address"] = {k: v for k, v in buyer.address.items() if v} | {
                "line1": buyer.address.get("line1", "")
            }
            if "country" in fields:
                fields["address"]["country"] = fields["country"]
        record.fields.update(fields)
    if invoice.is_credit_note:
        batch.payments.append(
            PaymentRecord(invoice.number, customer, invoice.issue_date, invoice.currency,
                          invoice.total, kind=PaymentKind.CREDIT_NOTE,
                          memo=f"credit note {invoice.number}"[:200], row=row)
        )  # fmt: skip
        if credits is not None and credits[1] > 0:
            batch.allocations.append(
                AllocationRecord(invoice.number, credits[0], credits[1], invoice.issue_date, row)
            )
        return
    batch.invoices.append(
        InvoiceRecord(
            number=invoice.number, customer=customer, issue_date=invoice.issue_date,
            due_date=invoice.due_date, currency=invoice.currency, amount=invoice.total,
            amount_excl_tax=invoice.total_excl_tax, tax_amount=invoice.tax,
            kind=InvoiceKind.INVOICE, po_reference=invoice.po_reference, row=row,
        )
    )  # fmt: skip
    paid = invoice.total - invoice.amount_due
    reference = f"{invoice.number}/prepaid"
    if paid <= 0:
        batch.obsolete_payments.add(reference)
        return
    batch.payments.append(
        PaymentRecord(reference, customer, invoice.issue_date, invoice.currency, paid,
                      kind=PaymentKind.SETTLEMENT, memo="prepaid, as the invoice says", row=row)
    )  # fmt: skip
    batch.allocations.append(
        AllocationRecord(reference, invoice.number, paid, invoice.issue_date, row)
    )
