"""Letters: what a letter says (its data, every figure from the services that compute it)
and the PDF Typst makes of it.

One function per question: who writes (``sender_of``: the organisation, or the agency or
insurer writing in its name), to which address (``postal_address``), which sums
(``claimed``: principal, and for the letters that state them the penalties of the one
penalty service, to the letter's date), how to pay (``paying``). The letter channel,
``relance letter``, the print batch and the hand-over file all build letters here.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import pgettext
from stdnum import iban as stdnum_iban

from relance.accounts import agents
from relance.accounts.agents import agent_of
from relance.accounts.identity import bank_details
from relance.accounts.models import Organisation
from relance.channels import paying
from relance.channels.base import NoRecipient
from relance.channels.context import (
    FIRST_REMINDER_DAYS,
    FORMAL_NOTICE_DAYS,
    PENALTY_TEMPLATES,
    Line,
    contact_name,
    line_of,
)
from relance.channels.formatting import long_date, money, percent, short_date
from relance.documents import typesetting
from relance.dunning import owed
from relance.dunning.penalties import NoLaw, Penalty, law_for_country, sum_penalties
from relance.dunning.penalty_service import penalties_of
from relance.dunning.rates import MissingRate, RateUnknown
from relance.ledger.models import Address, Customer, Invoice
from relance.ledger.postal import PostalAddress

# Templates whose letter is held, never sent, when a rate it needs is unknown.
HELD_WITHOUT_RATE = frozenset({"formal_notice", "registered_letter", "firm_reminder"})
# A letter takes a few days to arrive: its deadline counts from receipt.
POSTAL_DAYS = 3
LAW_CODES = {"FR": "fr", "UK": "uk", "EU": "eu"}


class RateMissing(Exception):
    """A letter that states penalties needs a rate Relance does not know: held. Its text is
    for the record; ``missing``, the rate's parts, when known (a page says them)."""

    def __init__(self, text: str, missing: MissingRate | None = None) -> None:
        super().__init__(text)
        self.missing = missing


@dataclass(frozen=True)
class Request:
    """One letter to write: to ``customer``, about ``invoices``, on ``day``."""

    organisation: Organisation
    customer: Customer
    template: str
    day: date
    invoices: Sequence[Invoice]
    language: str = ""
    registered: bool = False
    reference: str = ""  # ours, printed in the references
    contact_name: str = ""
    plan: Mapping[str, Any] | None = None  # agreed_on, instalments [(date, amount)]
    tables: dict[str, Any] = field(default_factory=dict)  # rate tables, kept between letters
    # An example letter (a template's check in the editor): never held, a rate unknown
    # leaves its penalties out.
    example: bool = False
    portal_url: str = ""  # the customer's portal (relance.portal.links), printed near paying


@dataclass(frozen=True)
class Letter:
    request: Request
    module: str
    data: dict[str, Any]

    @property
    def recipient(self) -> dict[str, Any]:
        return dict(self.data["to"])


# -- who writes, to whom -------------------------------------------------------------------


def _lines(text: str) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def postal_address(customer: Customer, addresses: Sequence[Address]) -> dict[str, Any]:
    """The window's address (``PostalAddress.of_customer``'s choice); raises
    ``NoRecipient`` when the customer has none."""
    found = PostalAddress.of_customer(customer, addresses)
    if found is None:
        raise NoRecipient(f"no postal address for {customer.legal_name}")
    return {**found.as_dict(), "street": list(found.lines), "lines": found.window_lines()}


def _mentions(org: Organisation) -> list[str]:
    legal = org.legal_name or org.name
    parts = [legal]
    if org.siren:
        parts.append(f"SIREN {org.siren[:3]} {org.siren[3:6]} {org.siren[6:]}")
    if org.vat_number:
        parts.append(_("VAT %(number)s") % {"number": org.vat_number})
    parts += _lines(org.address)[:1]
    return parts


def _return_line(name: str, address: str) -> str:
    return " · ".join([name, *_lines(address)])


def sender_of(org: Organisation, agent: Any, logo: str | None) -> dict[str, Any]:
    """Who the letter is from: the agent writing for the organisation, or the organisation."""
    if agent is not None:
        mentions = [agent.legal_name or agent.name]
        if agent.siren:
            mentions.append(f"SIREN {agent.siren}")
        mentions += _lines(agent.address)[:1]
        return {
            "name": agent.name, "lines": _lines(agent.address), "phone": agent.phone,
            "email": agent.email, "letterhead": agent.letterhead, "logo": logo,
            "mentions": mentions, "return_line": _return_line(agent.name, agent.address),
        }  # fmt: skip
    return {
        "name": org.legal_name or org.name, "lines": _lines(org.address), "phone": org.phone,
        "email": org.email, "letterhead": org.letterhead, "logo": logo,
        "mentions": _mentions(org),
        "return_line": _return_line(org.legal_name or org.name, org.address),
    }  # fmt: skip


# -- sums ----------------------------------------------------------------------------------


def _lines_asked(request: Request) -> tuple[list[Line], dict[int, Decimal]]:
    """The invoices as the letter lists them: what each is dunned for (``owed.asked``: the
    approved part of a partly approved one), and the part not approved of those, by invoice
    id; a statement and a thank-you state balances."""
    invoices, day = request.invoices, request.day
    if request.template in ("statement", "thanks"):
        return [line_of(invoice, day) for invoice in invoices], {}
    unapproved = owed.unapproved_of(invoice.pk for invoice in invoices)
    minimum = request.organisation.min_balance
    return [
        line_of(invoice, day,
                owed.asked(invoice, unapproved, minimum) if invoice.pk in unapproved else None)
        for invoice in invoices
    ], unapproved  # fmt: skip


def penalties(request: Request, late: Sequence[Invoice]) -> dict[int, Penalty] | None:
    """The penalty of each late invoice on the letter's day, from the penalty service;
    None when the organisation's country has no rule. Raises ``RateMissing`` naming the
    rate for a letter that must state them."""
    org = request.organisation
    if law_for_country(org.country) is None or not late:
        return None
    try:
        return penalties_of(org, list(late), request.day, tables=request.tables)
    except NoLaw:
        return None
    except (RateUnknown, LookupError) as error:
        if request.template in HELD_WITHOUT_RATE and not request.example:
            missing = error.missing if isinstance(error, RateUnknown) else None
            raise RateMissing(str(error), missing) from error
        return None


def _money_total(values: Sequence[tuple[Decimal, str]]) -> str:
    return _("%(a)s and %(b)s") % {"a": ", ".join(money(*v) for v in values[:-1]),
                                    "b": money(*values[-1])} if len(values) > 1 else (
        money(*values[0]) if values else ""
    )  # fmt: skip


# -- the data of a letter ------------------------------------------------------------------


def words() -> dict[str, str]:
    """The labels of the layout, in the active language."""
    return {
        "page": _("Page"), "subject": _("Subject:"), "number": _("Invoice"),
        "issued": _("Issued"), "due": _("Due"), "amount": _("Amount"),
        "balance": _("Outstanding"), "interest": _("Interest"), "indemnity": _("Indemnity"),
        "principal": _("Principal outstanding"), "asked": _("Amount asked"),
        "interest_to_date": _("Late-payment interest to date"),
        "indemnities": _("Fixed recovery indemnities"), "total_claimed": _("Total claimed"),
        "how_to_pay": _("How to pay"), "holder": _("Account holder"),
        "portal": _("Your invoices, our bank details and your answers online:"),
        "reference": _("Reference to quote"), "amount_due": _("Amount due"),
        "scan": _("Scan with your banking app"),
        "registered": _("Registered letter with acknowledgement of receipt"),
        "overdue_total": _("Fallen due"), "not_due_total": _("Not yet due"),
        "balance_total": _("Balance of the account"),
        "instalment": pgettext("the instalment's number", "Instalment"), "total": _("Total"),
    }  # fmt: skip


SUBJECTS = {
    "formal_notice": lambda: _("Formal notice to pay"),
    "firm_reminder": lambda: _("Unpaid invoices: late-payment penalties"),
    "registered_letter": lambda: _("Last reminder before formal notice"),
    "first_reminder": lambda: _("Payment reminder"),
    "statement": lambda: _("Statement of account"),
    "plan_confirmation": lambda: _("Your payment plan, confirmed"),
    "thanks": lambda: _("Thank you for your payment"),
}


def subject_of(template: str) -> str:
    return SUBJECTS.get(template, lambda: _("Invoices awaiting payment"))()


def _place(org: Organisation) -> str:
    """The town of the organisation's address (its last line, without the postcode)."""
    lines = _lines(org.address)
    if not lines:
        return ""
    return re.sub(r"^\s*\d{4,5}\s*", "", lines[-1]).strip()


def build(request: Request, addresses: Sequence[Address], project: typesetting.Project) -> Letter:
    """The data of one letter, formatted in its language; raises ``NoRecipient`` and
    ``RateMissing``."""
    org, customer = request.organisation, request.customer
    language = request.language or customer.language or org.language
    language = language if language in typesetting.LANGUAGES else "fr"
    with translation.override(language):
        return _build(request, language, addresses, project)


def _build(
    request: Request, language: str, addresses: Sequence[Address], project: typesetting.Project
) -> Letter:
    org, customer, day = request.organisation, request.customer, request.day
    to = postal_address(customer, addresses)
    agent = agent_of(org)
    lines, unapproved = _lines_asked(request)
    late = [inv for inv in request.invoices if inv.due_date < day and inv.balance > 0]
    found = penalties(request, late) if request.template in PENALTY_TEMPLATES else None
    computed = bool(found)
    due_lines = [ln for ln in lines if not ln.upcoming]
    statement = request.template == "statement"
    shown = lines if statement or request.template == "thanks" else due_lines or lines
    by_number = {inv.number: inv.pk for inv in request.invoices}
    invoice_rows = []
    for ln in shown:
        pk = by_number[ln.number]
        penalty = found.get(pk) if found else None
        invoice_rows.append({
            "number": ln.number, "issued": short_date(ln.issue_date),
            "due": short_date(ln.due_date), "amount": money(ln.amount, ln.currency),
            "balance": money(ln.balance, ln.currency),
            # The part the buyer did not approve (status 206), left out of what is asked.
            "not_approved": _("Not approved: %(amount)s")
            % {"amount": money(unapproved[pk], ln.currency)} if pk in unapproved else "",
            "days": ln.days_overdue,
            "interest": money(penalty.interest, ln.currency) if penalty else "",
            "indemnity": money(penalty.indemnity, ln.currency) if penalty else "",
        })  # fmt: skip
    claimed = _claimed(
        shown if request.template == "thanks" else due_lines or lines,
        [found[i.pk] for i in late] if found else None,
        paid=request.template == "thanks",
    )
    rate = _rate(found)
    deadline_days = max(FORMAL_NOTICE_DAYS, getattr(settings, "RELANCE_FORMAL_NOTICE_DAYS", 0))
    payment = _paying(org, agent, customer, claimed)
    greeting = (
        _("Dear %(name)s,") % {"name": request.contact_name}
        if request.contact_name and language == "en"
        else _("Dear Sir or Madam,")
    )
    place = _place(org)
    dated = long_date(day)
    data: dict[str, Any] = {
        "lang": language,
        "subject": subject_of(request.template),
        "date": dated,
        "place_date": _("%(place)s, %(date)s") % {"place": place, "date": dated}
        if place
        else dated,
        "sender": sender_of(org, agent, project.logo),
        "agent": agents.mentions(org, agent),
        "to": {"name": to["name"], "lines": to["lines"]},
        "debtor": {
            "name": customer.legal_name,
            "reference": customer.reference,
            "siren": customer.siren,
            "siret": customer.siret,
            "vat": customer.vat_number,
        },
        "references": _references(request, customer),
        "registered": request.registered,
        "greeting": greeting,
        "salutation": _("Sir or Madam"),
        "invoices": invoice_rows,
        "claimed": [c["shown"] for c in claimed],
        "claimed_exact": [{k: str(v) for k, v in c["exact"].items()} for c in claimed],
        "claimed_text": _money_total([(c["total"], c["currency"]) for c in claimed]),
        "penalties": {
            "law": LAW_CODES.get(getattr(law_for_country(org.country), "name", "")),
            "computed": computed,
            "rate": percent(rate) if rate is not None else "",
        },
        "notice_days": deadline_days,
        "deadline": long_date(day + timedelta(days=deadline_days + POSTAL_DAYS)),
        "pay_within": FIRST_REMINDER_DAYS,
        "pay_by": long_date(day + timedelta(days=FIRST_REMINDER_DAYS + POSTAL_DAYS)),
        "payment": payment,
        "portal_url": request.portal_url,
        "plan": _plan(request.plan, lines),
        "statement": _statement(lines) if statement else [],
        "signature": _lines(org.signature) or [org.sender_name or org.legal_name or org.name],
        "words": words(),
    }
    module = typesetting.template_for(project, language, request.template)
    data["postcode"], data["country"] = to["postcode"], to["country"]
    data["address"] = {k: v for k, v in to.items() if k != "lines"} | {"lines": to["street"]}
    return Letter(request, module, data)


def _references(request: Request, customer: Customer) -> list[str]:
    refs = []
    if request.reference:
        refs.append(_("Our reference: %(ref)s") % {"ref": request.reference})
    refs.append(_("Your account: %(ref)s") % {"ref": customer.reference})
    if customer.siren:
        refs.append(_("Your SIREN: %(siren)s") % {"siren": customer.siren})
    return refs


def _claimed(
    lines: Sequence[Line], found: Sequence[Penalty] | None, *, paid: bool = False
) -> list[dict[str, Any]]:
    """Per currency: the principal (balances), and when computed the interest and the
    indemnities of the penalty service; their total."""
    principal: dict[str, Decimal] = defaultdict(Decimal)
    for ln in lines:
        principal[ln.currency] += ln.amount if paid else ln.balance
    totals = sum_penalties(found) if found else {}
    rows = []
    for currency in sorted(principal):
        extra = totals.get(currency)
        total = principal[currency] + (extra.interest + extra.indemnity if extra else 0)
        rows.append({
            "currency": currency, "total": total,
            "exact": {"currency": currency, "principal": principal[currency],
                      "interest": extra.interest if extra else Decimal(0),
                      "indemnity": extra.indemnity if extra else Decimal(0), "total": total},
            "shown": {
                "principal": money(principal[currency], currency),
                "interest": money(extra.interest, currency) if extra else None,
                "indemnity": money(extra.indemnity, currency) if extra else None,
                "total": money(total, currency),
            },
        })  # fmt: skip
    return rows


def _rate(found: Mapping[int, Penalty] | None) -> Decimal | None:
    if not found:
        return None
    rates = [p.lines[-1].rate for p in found.values() if p.lines]
    return rates[-1] if rates else None


def _paying(
    org: Organisation, agent: Any, customer: Customer, claimed: Sequence[Mapping[str, Any]]
) -> dict[str, Any] | None:
    details = bank_details(org, customer)
    if agent is not None and agent.iban:
        details = details and type(details)(
            holder=agent.legal_name or agent.name, iban=stdnum_iban.format(agent.iban),
            bic=agent.bic, reference=details.reference,
        )  # fmt: skip
    if details is None:
        return None
    euros = next((c["total"] for c in claimed if c["currency"] == "EUR"), None)
    return {
        "holder": details.holder, "iban": details.iban, "bic": details.bic,
        "reference": details.reference,
        "amount": money(euros, "EUR") if euros else None,
        "qr": qr_svg(details, euros),
    }  # fmt: skip


def qr_svg(details: Any, amount: Decimal | None) -> str | None:
    """The EPC QR code of the transfer (euros only, ``paying.epc_qr``), as SVG."""
    code = paying.epc_qr(details, amount, "EUR")
    return code.svg(size_mm=30) if code is not None else None


def _plan(plan: Mapping[str, Any] | None, lines: Sequence[Line]) -> dict[str, Any] | None:
    if not plan:
        return None
    currency = lines[0].currency if lines else "EUR"
    instalments = list(plan["instalments"])
    return {
        "agreed_on": long_date(plan["agreed_on"]),
        "instalments": [
            {"due": short_date(d), "amount": money(a, currency)} for d, a in instalments
        ],
        "total": money(sum((a for _, a in instalments), Decimal(0)), currency),
    }


def _statement(lines: Sequence[Line]) -> list[dict[str, str]]:
    due: dict[str, Decimal] = defaultdict(Decimal)
    later: dict[str, Decimal] = defaultdict(Decimal)
    for ln in lines:
        (later if ln.upcoming else due)[ln.currency] += ln.balance
    return [
        {
            "due": money(due[c], c),
            "not_due": money(later[c], c),
            "total": money(due[c] + later[c], c),
        }
        for c in sorted(set(due) | set(later))
    ]


# -- the PDF -------------------------------------------------------------------------------


def logo_of(org: Organisation) -> tuple[str, bytes] | None:
    """The logo the letters show (the active agent's, else the organisation's), as the
    file name it gets in the project directory and its bytes."""
    agent = agent_of(org)
    field_file = agent.logo if agent is not None and agent.logo else org.logo
    if not field_file:
        return None
    try:
        with field_file.open("rb") as fh:
            content = fh.read()
    except OSError:
        return None
    suffix = field_file.name.rsplit(".", 1)[-1].lower()
    return f"{typesetting.LOGO_STEM}.{suffix}", content


def project_of(org: Organisation) -> typesetting.Project:
    return typesetting.project(org, logo_of(org))


def typeset(
    org: Organisation, project: typesetting.Project, letters: Sequence[Letter], *, title: str
) -> bytes:
    """One PDF of ``letters`` (of one organisation), in the order given."""
    return typesetting.compile_letters(
        project,
        [(letter.module, letter.data) for letter in letters],
        title=title,
        author=org.legal_name or org.name,
    )


def write(request: Request) -> tuple[Letter, bytes]:
    """One letter and its PDF (``relance letter``): reads the customer's addresses."""
    addresses = list(Address.objects.filter(customer_id=request.customer.pk))
    project = project_of(request.organisation)
    letter = build(request, addresses, project)
    pdf = typeset(request.organisation, project, [letter], title=str(letter.data["subject"]))
    return letter, pdf


# -- a letter asked for by hand ------------------------------------------------------------


class Refused(ValueError):
    """The letter cannot be written as asked; nothing was written."""


def templates_available() -> list[str]:
    return sorted({slug for slugs in typesetting.shipped_slugs().values() for slug in slugs})


def for_customer(
    organisation: Organisation,
    customer: Customer,
    template: str,
    day: date,
    *,
    numbers: Sequence[str] = (),
    registered: bool = False,
    language: str = "",
) -> Request:
    """What ``relance letter`` writes: the invoices named, else those the template is about
    (a statement: every open item; a plan's confirmation: the active plan's invoices and
    schedule; thanks: what was paid in the last 30 days; else what is overdue)."""
    from relance.dunning.models import PaymentPlan

    if not re.fullmatch(r"[a-z0-9_-]{1,64}", template):
        raise Refused(f"{template!r} is not a template name")
    open_items = Invoice.objects.filter(
        organisation_id=organisation.pk, customer=customer, issue_date__lte=day
    ).order_by("due_date", "number")
    plan = None
    if numbers:
        invoices = list(open_items.filter(number__in=list(numbers)))
        missing = sorted(set(numbers) - {inv.number for inv in invoices})
        if missing:
            raise Refused(f"{customer.reference} has no invoice {', '.join(missing)}")
    elif template == "statement":
        invoices = list(open_items.exclude(balance=0))
    elif template == "thanks":
        invoices = list(open_items.filter(balance=0, settled_on__gte=day - timedelta(days=30)))
    elif template == "plan_confirmation":
        found = (
            PaymentPlan.objects.filter(
                organisation_id=organisation.pk, customer=customer,
                status=PaymentPlan.Status.ACTIVE,
            ).order_by("-agreed_on", "-pk").first()
        )  # fmt: skip
        if found is None:
            raise Refused(f"{customer.reference} has no active payment plan")
        invoices = list(found.invoices.order_by("due_date", "number"))
        plan = {
            "agreed_on": found.agreed_on,
            "instalments": [(i.due_date, i.amount) for i in found.instalments.all()],
        }
    else:
        invoices = list(open_items.filter(balance__gt=0, due_date__lt=day))
    if not invoices:
        raise Refused(f"{customer.reference} has no invoice for a {template} letter on {day}")
    from relance.ledger.models import Contact

    contacts = list(Contact.objects.filter(customer=customer))
    return Request(
        organisation, customer, template, day, invoices, language=language,
        registered=registered, reference=f"{customer.reference}-{day:%Y%m%d}",
        contact_name=contact_name(contacts), plan=plan,
    )  # fmt: skip


def claimed_amounts(letter: Letter) -> list[dict[str, Any]]:
    """The sums a letter claims, exact, per currency (for ``--json`` and the hand-over)."""
    return letter.data.get("claimed_exact", [])


# -- a template being edited (the console's editor, docs/letters.md) -----------------------

# The preview's image: the first page, sharp enough to read on a screen.
PREVIEW_PPI = 96


def module_of(language: str, template: str) -> str:
    return f"{language}/{template}"


def example(organisation: Organisation, template: str, language: str, day: date) -> Request:
    """A letter to an example customer (nothing stored) with every part a letter may hold:
    an invoice fallen due and one not yet due, a payment plan; what a template is checked
    on when it is saved."""
    customer = Customer(
        organisation=organisation, reference="C-0001", legal_name="Exemple SAS",
        language=language, siren="552100554",
    )  # fmt: skip
    currency = organisation.currency or "EUR"
    invoices = []
    for pk, (number, due, amount) in enumerate(
        (
            ("F-0001", day - timedelta(days=45), "1200.00"),
            ("F-0002", day + timedelta(days=15), "300.00"),
        ),
        start=1,
    ):
        invoice = Invoice(
            organisation=organisation, customer=customer, number=number,
            issue_date=due - timedelta(days=30), due_date=due, currency=currency,
            amount=Decimal(amount), balance=Decimal(amount),
        )  # fmt: skip
        invoice.pk = -pk  # a key for the penalties, matching no stored invoice
        invoices.append(invoice)
    plan = {
        "agreed_on": day,
        "instalments": [(day + timedelta(days=30 * i), Decimal("750.00")) for i in (1, 2)],
    }
    return Request(
        organisation, customer, template, day, invoices, language=language,
        reference=f"C-0001-{day:%Y%m%d}", plan=plan, example=True,
    )  # fmt: skip


def _example_address(request: Request) -> list[Address]:
    return [
        Address(
            organisation=request.organisation, customer=request.customer, kind="dunning",
            line1="4 avenue des Tilleuls", postcode="69003", city="Lyon", country="FR",
        )
    ]  # fmt: skip


def preview(
    organisation: Organisation,
    customer: Customer | None,
    template: str,
    language: str,
    source: str,
    day: date,
    *,
    image: bool = False,
) -> bytes:
    """The letter ``template`` in ``language`` would be for ``customer`` on ``day`` (None:
    the ``example`` letter), written with the draft ``source``: its PDF, or with ``image``
    its first page as PNG. Compiled in a copy of the organisation's project directory, so a
    draft never reaches the letters being sent. Raises ``Refused`` (no invoice for such a
    letter), ``NoRecipient``, ``RateMissing`` and, for the draft's own mistakes,
    ``typesetting.DocumentError`` (Typst's message and line)."""
    if customer is None:
        request = example(organisation, template, language, day)
        addresses = _example_address(request)
    else:
        request = for_customer(organisation, customer, template, day, language=language)
        addresses = list(Address.objects.filter(customer_id=customer.pk))
    return _draft_pdf(request, addresses, source, image=PREVIEW_PPI if image else None)


def _draft_pdf(
    request: Request, addresses: Sequence[Address], source: str, *, image: int | None
) -> bytes:
    org = request.organisation
    language = request.language if request.language in typesetting.LANGUAGES else "fr"
    module = module_of(language, request.template)
    with typesetting.drafted(project_of(org), module, source) as project:
        letter = build(request, addresses, project)
        if letter.module != module:  # the draft is the one letter compiled, in any case
            letter = Letter(request, module, letter.data)
        return typesetting.compile_letters(
            project, [(letter.module, letter.data)], title=str(letter.data["subject"]),
            author=org.legal_name or org.name, image=image,
        )  # fmt: skip
