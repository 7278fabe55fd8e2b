"""The hand-over file: what a credit insurer, a collection agency, a lawyer or the court's
order for payment (*injonction de payer*) needs about one customer, in one ZIP.

- ``summary.pdf`` (Typst, ``typst/handover.typ``): the parties and their identifiers, each
  open invoice, the penalties of the one penalty service on the hand-over's date (a rate
  Relance does not know is said, never guessed), the totals per currency, the disputes and
  how they ended, the promises, the payment plans, every exchange and event; for the court,
  the claim in the fields of the request for an order for payment (Cerfa n° 12948) with the
  list of exhibits numbered as in the ZIP;
- ``invoices/`` the invoice PDFs, ``attachments/`` the invoices' other files (proofs of
  delivery, contracts), ``exchanges/`` the letters sent, each exhibit numbered;
- the terms of sale (``Terms``, set with ``relance org terms FILE``);
- ``timeline.csv`` every exchange and event, ``manifest.json`` every file with its sha256.

The ZIP is written to a temporary file beside the output and renamed: a reader never sees
half a file, and nothing is left when something fails.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import tempfile
import zipfile
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from relance.accounts.models import Organisation
from relance.audit import trail
from relance.channels.formatting import long_date, money, percent, short_date
from relance.documents import letters, typesetting
from relance.documents.models import Letter, Terms
from relance.dunning import owed
from relance.dunning.models import CommStatus, Communication, PaymentPlan, Promise, StepChannel
from relance.dunning.penalties import LAW_TITLES, Law, NoLaw, Penalty, sum_penalties
from relance.dunning.penalty_service import penalties_of
from relance.dunning.rates import RateUnknown
from relance.ledger import timeline
from relance.ledger.models import (
    Address,
    AddressKind,
    Attachment,
    AttachmentKind,
    Contact,
    Customer,
    Dispute,
    DisputeOutcome,
    DisputeReason,
    Invoice,
    TimelineEvent,
)
from relance.lib import csvcells

RECIPIENTS = ("insurer", "agency", "lawyer", "court")
TEMPLATE = "handover.typ"
TIMELINE_COLUMNS = ("date", "time", "kind", "channel", "summary", "invoices")
TERMS_MAX_BYTES = 20 * 1024 * 1024
TIMELINE_KIND = "handover"
AUDIT_ACTION = "handover.made"


class NothingToHandOver(ValueError):
    """The customer owes nothing overdue on the day: there is no claim to hand over."""


class TermsRefused(ValueError):
    """The terms-of-sale file cannot be kept; nothing was written."""


def recipient_label(kind: str) -> str:
    return {
        "insurer": _("Credit insurer"),
        "agency": _("Collection agency"),
        "lawyer": _("Lawyer"),
        "court": _("Court: request for an order for payment"),
    }[kind]


# -- the terms of sale ---------------------------------------------------------------------


def set_terms(organisation: Organisation, name: str, content: bytes, *, user: Any = None) -> Terms:
    """Keep ``content`` as the organisation's terms of sale, replacing the previous file."""
    if not content:
        raise TermsRefused(f"{name}: the file is empty")
    if len(content) > TERMS_MAX_BYTES:
        raise TermsRefused(f"{name}: larger than {TERMS_MAX_BYTES // (1024 * 1024)} MB")
    base = Path(name).name or "terms"
    digest = hashlib.sha256(content).hexdigest()
    with transaction.atomic():
        terms = Terms.objects.filter(organisation_id=organisation.pk).first()
        old = terms.file.name if terms is not None and terms.file else ""
        terms = terms or Terms(organisation=organisation)
        terms.name, terms.sha256 = base[:200], digest
        terms.file.save(
            f"{organisation.pk}-{digest[:12]}-{_safe(base)}", ContentFile(content), save=False
        )
        terms.save()
        trail.record(
            organisation,
            "terms.set",
            user=user,
            target=terms,
            summary=timeline.Text(gettext_noop("terms of sale: %(name)s"), {"name": terms.name}),
            data={"name": terms.name, "sha256": digest, "bytes": len(content)},
        )
    if old and old != terms.file.name:
        terms.file.storage.delete(old)
    return terms


# -- what goes in --------------------------------------------------------------------------


@dataclass
class Entry:
    name: str
    description: str
    content: bytes
    number: int | None = None  # its exhibit number, in the summary's list


@dataclass
class HandOver:
    """A hand-over file written: where, what it holds, what it claims."""

    path: Path
    recipient: str
    day: date
    customer: Customer
    entries: list[dict[str, Any]]
    claimed: list[dict[str, Any]]
    penalties: str  # "computed", "rate_unknown", "no_law", "none"
    notes: list[str] = field(default_factory=list)

    def report(self) -> dict[str, Any]:
        return {
            "output": str(self.path),
            "customer": self.customer.reference,
            "recipient": self.recipient,
            "date": self.day,
            "entries": self.entries,
            "claimed": self.claimed,
            "penalties": self.penalties,
            "notes": self.notes,
        }


@dataclass
class _Facts:
    invoices: list[Invoice]
    late: list[Invoice]
    found: dict[int, Penalty] | None
    penalty_state: str
    penalty_note: str
    # What the partly approved invoices are dunned for (owed.asked), by invoice id.
    asked: dict[int, Decimal] = field(default_factory=dict)

    def owed(self, invoice: Invoice) -> Decimal:
        """What the file claims of the invoice: what it is dunned for."""
        return self.asked.get(invoice.pk, invoice.balance)


def _safe(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.")
    return cleaned[:100] or "file"


def _local(moment: datetime, zone: ZoneInfo) -> datetime:
    return timezone.localtime(moment, zone)


def _zone(org: Organisation) -> ZoneInfo:
    try:
        return ZoneInfo(org.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("Europe/Paris")


def _facts(org: Organisation, customer: Customer, day: date) -> _Facts:
    invoices = list(
        Invoice.objects.filter(
            organisation_id=org.pk, customer=customer, issue_date__lte=day, balance__gt=0
        ).order_by("due_date", "number")
    )
    late = [inv for inv in invoices if inv.due_date < day]
    if not late:
        raise NothingToHandOver(
            f"nothing to hand over: {customer.reference} owes nothing overdue on {day}"
        )
    try:
        found: dict[int, Penalty] | None = penalties_of(org, late, day)
        state, note = "computed", ""
    except NoLaw:
        found, state = None, "no_law"
        note = _(
            "No late-payment law is known for the country %(country)s: no penalty is claimed."
        ) % {"country": org.country}
    except (RateUnknown, LookupError) as error:
        found, state = None, "rate_unknown"
        if isinstance(error, RateUnknown):
            note = _("No penalty is claimed until a rate the penalties need is added. %(why)s") % {
                "why": error.missing.for_reader().shown()
            }
        else:
            note = _(
                "A rate the penalties need is unknown (%(error)s): no penalty is claimed "
                "until it is added."
            ) % {"error": error}
    if found is not None:
        laws = sorted({LAW_TITLES[p.law] for p in found.values()})
        note = _("Penalties to %(date)s under %(law)s.") % {
            "date": long_date(day),
            "law": "; ".join(laws),
        }
    unapproved = owed.unapproved_of(inv.pk for inv in invoices)
    asked = {
        inv.pk: owed.asked(inv, unapproved, org.min_balance)
        for inv in invoices
        if inv.pk in unapproved
    }
    return _Facts(invoices, late, found, state, note, asked)


def _claimed(facts: _Facts) -> list[dict[str, Any]]:
    """Per currency: the principal overdue, the interest and the indemnities of the penalty
    service (None when not computed), the total."""
    principal: dict[str, Decimal] = defaultdict(Decimal)
    for inv in facts.late:
        principal[inv.currency] += facts.owed(inv)
    totals = sum_penalties(facts.found.values()) if facts.found else {}
    rows = []
    for currency in sorted(principal):
        extra = totals.get(currency)
        interest = extra.interest if extra else (Decimal("0.00") if facts.found else None)
        indemnity = extra.indemnity if extra else (Decimal("0.00") if facts.found else None)
        total = principal[currency] + (interest or 0) + (indemnity or 0)
        rows.append(
            {
                "currency": currency,
                "principal": principal[currency],
                "interest": interest,
                "indemnity": indemnity,
                "total": total,
            }
        )
    return rows


def _exact(claimed: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {k: (str(v) if isinstance(v, Decimal) else v) for k, v in row.items()} for row in claimed
    ]


# -- the timeline --------------------------------------------------------------------------


def _channel_label(value: str) -> str:
    return str(dict(StepChannel.choices).get(value, value)) if value else ""


def _timeline(
    org: Organisation, customer: Customer, day: date, letter_rows: Sequence[Letter]
) -> list[dict[str, Any]]:
    """Every event of the customer's timeline up to the day, with the communications sent
    and the letters filed that no event tells of, in time order."""
    zone = _zone(org)
    numbers = dict(Invoice.objects.filter(customer=customer).values_list("pk", "number"))
    rows: list[dict[str, Any]] = []
    told: set[int] = set()
    events = TimelineEvent.objects.filter(organisation_id=org.pk, customer=customer).order_by(
        "at", "pk"
    )
    for event in events:
        at = _local(event.at, zone)
        if at.date() > day:
            continue
        data = event.data if isinstance(event.data, dict) else {}
        if isinstance(data.get("communication"), int):
            told.add(data["communication"])
        invoices = [str(n) for n in data.get("invoices", []) if isinstance(n, str | int)]
        if event.invoice_id and not invoices:
            invoices = [numbers.get(event.invoice_id, "")]
        rows.append(
            {
                "at": at,
                "kind": event.kind,
                "channel": str(data.get("channel", "")),
                "summary": event.summary,
                "invoices": invoices,
            }
        )
    comms = (
        Communication.objects.filter(
            organisation_id=org.pk, customer=customer, status=CommStatus.SENT
        )
        .exclude(pk__in=told)
        .prefetch_related("items__invoice")
        .order_by("sent_at", "pk")
    )
    for comm in comms:
        moment = comm.sent_at or datetime.combine(comm.send_on, datetime.min.time(), zone)
        at = _local(moment, zone)
        if at.date() > day:
            continue
        told.add(comm.pk)
        subject = comm.edited_subject or comm.subject or letters.subject_of(comm.template)
        rows.append(
            {
                "at": at,
                "kind": "communication.sent",
                "channel": comm.channel,
                "summary": subject,
                "invoices": [item.invoice.number for item in comm.items.all()],
            }
        )
    for row in letter_rows:
        if row.communication_id in told or row.day > day:
            continue
        at = (
            _local(row.created_at, zone)
            if row.created_at
            else datetime.combine(row.day, datetime.min.time(), zone)
        )
        channel = StepChannel.REGISTERED_LETTER if row.registered else StepChannel.LETTER
        rows.append(
            {
                "at": at,
                "kind": "letter.filed",
                "channel": str(channel),
                "summary": str(row.data.get("subject", row.template)),
                "invoices": [str(r.get("number", "")) for r in row.data.get("invoices", [])],
            }
        )
    rows.sort(key=lambda r: r["at"])
    return rows


def timeline_csv(rows: Sequence[dict[str, Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(TIMELINE_COLUMNS)
    for r in rows:
        writer.writerow(
            csvcells.row(
                [
                    r["at"].date().isoformat(),
                    r["at"].strftime("%H:%M:%S"),
                    r["kind"],
                    r["channel"],
                    r["summary"],
                    " ".join(r["invoices"]),
                ]
            )  # summaries and numbers come from imports and e-mails
        )
    return out.getvalue().encode("utf-8")


# -- the exhibits --------------------------------------------------------------------------


def _read(field_file: Any) -> bytes | None:
    try:
        with field_file.open("rb") as fh:
            return bytes(fh.read())
    except (OSError, ValueError):
        return None


def _registered_proofs(letter_rows: Sequence[Letter], notes: list[str]) -> list[Entry]:
    """The proofs of the registered letters sent (the signed AR, a provider's proof of
    deposit or delivery): what shows the debtor received the formal notice."""
    from relance.channels.models import RegisteredLetter

    sent = [row.communication_id for row in letter_rows if row.registered and row.communication_id]
    entries = []
    for record in RegisteredLetter.objects.filter(communication_id__in=sent).order_by("pk"):
        if not record.proof:
            continue
        content = _read(record.proof)
        received = record.receipt_date
        if content is None:
            notes.append(_("The proof of registered letter %(id)s cannot be read: not included.")
                         % {"id": record.pk})  # fmt: skip
            continue
        suffix = _safe(Path(record.proof.name).suffix.lower().lstrip(".")) or "pdf"
        description = _("Proof of registered letter %(number)s (%(status)s%(on)s)") % {
            "number": record.tracking_number or record.pk, "status": record.get_status_display(),
            "on": f", {short_date(received)}" if received else "",
        }  # fmt: skip
        entries.append(
            Entry(f"exchanges/registered-{record.pk}-proof.{suffix}", description, content)
        )
    return entries


def _exhibits(
    org: Organisation,
    invoices: Sequence[Invoice],
    letter_rows: Sequence[Letter],
    timeline_bytes: bytes,
    notes: list[str],
) -> list[Entry]:
    """The numbered files: invoices, other attachments, letters, terms, the timeline."""
    by_invoice = {inv.pk: inv for inv in invoices}
    attachments = list(
        Attachment.objects.filter(organisation_id=org.pk, invoice_id__in=list(by_invoice)).order_by(
            "invoice__due_date", "invoice__number", "kind", "pk"
        )
    )
    kinds = dict(AttachmentKind.choices)
    entries: list[Entry] = []
    for folder, wanted in (("invoices", True), ("attachments", False)):
        for att in attachments:
            if (att.kind == AttachmentKind.INVOICE_PDF) != wanted:
                continue
            content = _read(att.file)
            number = by_invoice[att.invoice_id].number
            if content is None:
                notes.append(
                    _("The file %(name)s of invoice %(number)s cannot be read: not included.")
                    % {"name": att.name, "number": number}
                )
                continue
            description = _("%(kind)s of invoice %(number)s") % {
                "kind": kinds.get(att.kind, att.kind),
                "number": number,
            }
            entries.append(Entry(f"{folder}/{_safe(att.name)}", description, content))
    for row in letter_rows:
        content = _read(row.pdf)
        if content is None:
            notes.append(
                _("The letter of %(date)s cannot be read: not included.")
                % {"date": short_date(row.day)}
            )
            continue
        kind = _("Registered letter") if row.registered else _("Letter")
        description = _("%(kind)s of %(date)s: %(subject)s") % {
            "kind": kind,
            "date": short_date(row.day),
            "subject": row.data.get("subject", row.template),
        }
        entries.append(
            Entry(
                f"exchanges/{row.day.isoformat()}-{_safe(row.template)}.pdf", description, content
            )
        )
    entries += _registered_proofs(letter_rows, notes)
    terms = Terms.objects.filter(organisation_id=org.pk).first()
    content = _read(terms.file) if terms is not None and terms.file else None
    if terms is not None and content is not None:
        suffix = (
            _safe(Path(terms.name).suffix.lower().lstrip(".")) if Path(terms.name).suffix else "pdf"
        )
        entries.append(
            Entry(
                f"terms-of-sale.{suffix}",
                _("Terms of sale (%(name)s)") % {"name": terms.name},
                content,
            )
        )
    entries.append(
        Entry("timeline.csv", _("Every exchange and event, in time order (CSV)"), timeline_bytes)
    )
    # Exhibits are numbered in order; the number leads the name of each file in a folder.
    for i, entry in enumerate(entries, start=1):
        entry.number = i
        if "/" in entry.name:
            folder, base = entry.name.split("/", 1)
            entry.name = f"{folder}/{i:02d}-{base}"
    seen: set[str] = set()
    for entry in entries:  # two attachments of the same name: keep both
        while entry.name in seen:
            stem, dot, ext = entry.name.rpartition(".")
            entry.name = f"{stem}-{entry.number}.{ext}" if dot else f"{entry.name}-{entry.number}"
        seen.add(entry.name)
    return entries


# -- the summary ---------------------------------------------------------------------------


def _identity_lines(
    siren: str, siret: str, vat: str, address: Sequence[str], phone: str, email: str
) -> list[str]:
    lines = list(address)
    if siren:
        lines.append(f"SIREN {siren}")
    if siret:
        lines.append(f"SIRET {siret}")
    if vat:
        lines.append(_("VAT %(number)s") % {"number": vat})
    lines += [x for x in (phone, email) if x]
    return lines


def _address_text(a: Address) -> str:
    town = " ".join(x for x in (a.postcode, a.city) if x)
    parts = [x for x in (a.line1, a.line2, town) if x]
    if a.country and a.country != "FR":
        parts.append(a.country)
    return ", ".join(parts)


def _seat(addresses: Sequence[Address]) -> Address | None:
    rank: dict[str, int] = {AddressKind.BILLING: 0, AddressKind.DUNNING: 1}
    usable = sorted(
        (a for a in addresses if a.valid and a.line1), key=lambda a: rank.get(a.kind, 2)
    )
    return usable[0] if usable else None


def _section(
    title: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    empty: str,
    right: Sequence[int] = (),
    wide: int = -1,
    note: str = "",
) -> dict[str, Any]:
    return {
        "title": title,
        "columns": list(columns),
        "rows": [list(r) for r in rows],
        "empty": empty,
        "right": list(right),
        "wide": wide,
        "note": note,
    }


def _summary_data(
    org: Organisation,
    customer: Customer,
    recipient: str,
    day: date,
    facts: _Facts,
    claimed: Sequence[dict[str, Any]],
    timeline_rows: Sequence[dict[str, Any]],
    exhibits: Sequence[Entry],
    notes: Sequence[str],
) -> dict[str, Any]:
    addresses = list(Address.objects.filter(customer=customer).order_by("kind", "pk"))
    contacts = list(Contact.objects.filter(customer=customer).order_by("-is_primary", "name"))
    creditor_name = org.legal_name or org.name
    creditor = {
        "name": creditor_name,
        "lines": _identity_lines(
            org.siren,
            "",
            org.vat_number,
            [ln.strip() for ln in org.address.splitlines() if ln.strip()],
            org.phone,
            org.email,
        ),
    }
    debtor_lines = _identity_lines(
        customer.siren,
        customer.siret,
        customer.vat_number,
        [
            f"{AddressKind(a.kind).label if a.kind in AddressKind.values else a.kind}: "
            f"{_address_text(a)}"
            for a in addresses
            if a.valid
        ],
        customer.phone,
        customer.email,
    )
    debtor_lines.insert(0, _("Account %(ref)s") % {"ref": customer.reference})
    for person in contacts:
        debtor_lines.append(
            " · ".join(x for x in (person.name, person.role, person.email, person.phone) if x)
        )
    debtor = {"name": customer.legal_name, "lines": debtor_lines}

    penalty = facts.found or {}
    invoice_rows = []
    for inv in facts.invoices:
        p = penalty.get(inv.pk)
        invoice_rows.append(
            [
                inv.number,
                short_date(inv.issue_date),
                short_date(inv.due_date),
                money(inv.amount, inv.currency),
                money(facts.owed(inv), inv.currency),
                str(max((day - inv.due_date).days, 0)),
                money(p.interest, inv.currency) if p else "",
                money(p.indemnity, inv.currency) if p else "",
            ]
        )
    total_rows = []
    for c in claimed:
        cur = c["currency"]
        unknown = _("not computed")
        total_rows.append(
            [
                cur,
                money(c["principal"], cur),
                money(c["interest"], cur) if c["interest"] is not None else unknown,
                money(c["indemnity"], cur) if c["indemnity"] is not None else unknown,
                money(c["total"], cur),
            ]
        )

    disputes = list(
        Dispute.objects.filter(organisation_id=org.pk, invoice__customer=customer)
        .select_related("invoice")
        .order_by("opened_on", "pk")
    )
    reasons, outcomes = dict(DisputeReason.choices), dict(DisputeOutcome.choices)
    dispute_rows = [
        [
            d.invoice.number,
            str(reasons.get(d.reason, d.reason)),
            short_date(d.opened_on),
            short_date(d.resolved_on) if d.resolved_on else _("open"),
            str(outcomes.get(d.outcome, d.outcome)) if d.outcome else "",
            " ".join(x for x in (d.note, d.resolution) if x),
        ]
        for d in disputes
    ]
    promises = list(
        Promise.objects.filter(organisation_id=org.pk, customer=customer)
        .select_related("invoice")
        .order_by("promised_on", "pk")
    )
    statuses = dict(Promise.Status.choices)
    promise_rows = []
    for pr in promises:
        status = str(statuses.get(pr.status, pr.status))
        if pr.status == Promise.Status.BROKEN and pr.broken_on:
            status = _("%(status)s on %(date)s") % {
                "status": status,
                "date": short_date(pr.broken_on),
            }
        promise_rows.append(
            [
                short_date(pr.created_at.date()),
                short_date(pr.promised_on),
                money(pr.amount, customer.currency) if pr.amount is not None else _("the balance"),
                pr.invoice.number if pr.invoice else _("all invoices"),
                status,
            ]
        )
    plans = list(
        PaymentPlan.objects.filter(organisation_id=org.pk, customer=customer)
        .prefetch_related("instalments", "invoices")
        .order_by("agreed_on", "pk")
    )
    plan_statuses = dict(PaymentPlan.Status.choices)
    plan_rows = []
    for plan in plans:
        schedule = "; ".join(
            f"{short_date(i.due_date)} {money(i.amount, customer.currency)}"
            + (f" ({_('paid %(date)s') % {'date': short_date(i.paid_on)}})" if i.paid_on else "")
            for i in plan.instalments.all()
        )
        plan_rows.append(
            [
                short_date(plan.agreed_on),
                str(plan_statuses.get(plan.status, plan.status)),
                " ".join(inv.number for inv in plan.invoices.all()),
                schedule,
            ]
        )
    exchange_rows = [
        [
            f"{short_date(r['at'].date())} {r['at']:%H:%M}",
            _channel_label(r["channel"]) or r["kind"],
            r["summary"],
            " ".join(r["invoices"]),
        ]
        for r in timeline_rows
    ]

    terms = next((e for e in exhibits if e.name.startswith("terms-of-sale")), None)
    exhibit_rows = [[str(e.number), e.name, e.description] for e in exhibits]
    sections = [
        _section(
            _("Open invoices"),
            [
                _("Invoice"),
                _("Issued"),
                _("Due"),
                _("Amount"),
                _("Outstanding"),
                _("Days overdue"),
                _("Interest"),
                _("Indemnity"),
            ],
            invoice_rows,
            empty="",
            right=(3, 4, 5, 6, 7),
            note=facts.penalty_note,
        ),
        _section(
            _("Claimed, per currency"),
            [
                _("Currency"),
                _("Principal overdue"),
                _("Interest"),
                _("Indemnities"),
                _("Total claimed"),
            ],
            total_rows,
            empty="",
            right=(1, 2, 3, 4),
        ),
        _section(
            _("Disputes and how they ended"),
            [_("Invoice"), _("Reason"), _("Opened"), _("Resolved"), _("Outcome"), _("Note")],
            dispute_rows,
            empty=_("No dispute."),
            wide=5,
        ),
        _section(
            _("Promises to pay"),
            [_("Made"), _("For"), _("Amount"), _("Invoices"), _("Status")],
            promise_rows,
            empty=_("No promise."),
            wide=3,
        ),
        _section(
            _("Payment plans"),
            [_("Agreed"), _("Status"), _("Invoices"), _("Instalments")],
            plan_rows,
            empty=_("No payment plan."),
            wide=3,
        ),
        _section(
            _("Exchanges and events"),
            [_("Date"), _("Channel"), _("Summary"), _("Invoices")],
            exchange_rows,
            empty=_("No exchange recorded."),
            wide=2,
        ),
        _section(
            _("Exhibits (files of this hand-over)"),
            [_("No."), _("File"), _("Description")],
            exhibit_rows,
            empty="",
            wide=2,
        ),
    ]
    data: dict[str, Any] = {
        "lang": translation.get_language() or "fr",
        "title": _("Hand-over file: %(name)s") % {"name": customer.legal_name},
        "recipient": recipient_label(recipient),
        "date": long_date(day),
        "words": {
            "creditor": _("Creditor"),
            "debtor": _("Debtor"),
            "for": _("For"),
            "on": _("Date"),
            "page": _("Page"),
            "terms": _("Terms of sale"),
            "notes": _("Notes"),
        },
        "creditor": creditor,
        "debtor": debtor,
        "sections": sections,
        "terms": (_("Attached: %(file)s.") % {"file": terms.name})
        if terms
        else _("The terms of sale are missing: none was given to Relance (relance org terms)."),
        "notes": list(notes),
        "court": _court(org, customer, day, facts, claimed, addresses, exhibits, creditor_name)
        if recipient == "court"
        else None,
    }
    return data


def _court(
    org: Organisation,
    customer: Customer,
    day: date,
    facts: _Facts,
    claimed: Sequence[dict[str, Any]],
    addresses: Sequence[Address],
    exhibits: Sequence[Entry],
    creditor_name: str,
) -> dict[str, Any]:
    """The claim in the fields of the request for an order for payment (Cerfa n° 12948)."""
    seat = _seat(addresses)
    traders = bool(org.siren) and bool(customer.siren or customer.siret)
    city = seat.city if seat is not None and seat.city else ""
    if traders and city:
        court = _(
            "Tribunal de commerce of %(city)s (the debtor's seat; both parties are traders)"
        ) % {"city": city}
    elif traders:
        court = _(
            "Tribunal de commerce of the debtor's seat (both parties are traders; the "
            "debtor's address is unknown)"
        )
    else:
        court = _(
            "The court of the debtor's seat or domicile: a party is not known as a "
            "trader (no SIREN), check which court is competent"
        )

    def amounts(key: str) -> str:
        values = [money(c[key], c["currency"]) for c in claimed if c[key] is not None]
        return ", ".join(values) if values else _("not claimed")

    if facts.found:
        rates = sorted({line.rate for p in facts.found.values() for line in p.lines})
        laws = sorted({p.law for p in facts.found.values()})
        basis = _(
            "%(law)s; annual rate %(rates)s, from the day after each invoice's due "
            "date to %(date)s (detail per invoice above)"
        ) % {
            "law": "; ".join(LAW_TITLES[law] for law in laws),
            "rates": ", ".join(percent(r) for r in rates),
            "date": short_date(day),
        }
        indemnity_basis = (
            _(
                "Fixed indemnity for recovery costs, 40 EUR per invoice (Code de commerce "
                "L441-10 II and D441-5)"
            )
            if Law.FR in laws
            else _("Fixed sum for recovery costs per invoice (%(law)s)")
            % {"law": "; ".join(LAW_TITLES[law] for law in laws)}
        )
    else:
        basis = indemnity_basis = facts.penalty_note
    debtor_identity = ", ".join(
        x
        for x in (
            customer.legal_name,
            f"SIREN {customer.siren}" if customer.siren else "",
            f"SIRET {customer.siret}" if customer.siret else "",
            _address_text(seat) if seat else _("address unknown"),
        )
        if x
    )
    creditor_identity = ", ".join(
        x
        for x in (
            creditor_name,
            f"SIREN {org.siren}" if org.siren else "",
            ", ".join(ln.strip() for ln in org.address.splitlines() if ln.strip()),
        )
        if x
    )
    invoices = ", ".join(
        f"{inv.number} ({short_date(inv.issue_date)}, {money(facts.owed(inv), inv.currency)})"
        for inv in facts.late
    )
    return {
        "title": _(
            "Request for an order for payment (requête en injonction de payer, Cerfa n° 12948)"
        ),
        "fields": [
            [_("Creditor (applicant)"), creditor_identity],
            [_("Debtor (defendant)"), debtor_identity],
            [_("Cause of the debt"), _("Unpaid invoices: %(list)s") % {"list": invoices}],
            [_("Principal"), amounts("principal")],
            [_("Interest"), amounts("interest")],
            [_("Basis of the interest"), basis],
            [_("Indemnity for recovery costs"), amounts("indemnity")],
            [_("Basis of the indemnity"), indemnity_basis],
            [_("Total claimed"), amounts("total")],
            [
                _("Exhibits (bordereau de pièces)"),
                "; ".join(f"{e.number}. {e.name}" for e in exhibits),
            ],
            [_("Competent court"), court],
        ],
    }


def _main_source() -> str:
    return (
        f'#import "/{TEMPLATE}": summary\n'
        "#let data = json(bytes(sys.inputs.data))\n"
        "#summary(data)\n"
    )


# -- the file ------------------------------------------------------------------------------


def build(
    org: Organisation, customer: Customer, recipient: str, day: date
) -> tuple[list[Entry], list[dict[str, Any]], _Facts, list[str]]:
    """Every entry of the ZIP in order (summary first, manifest last), the sums claimed.
    Raises ``NothingToHandOver`` and ``typesetting.DocumentError``."""
    if recipient not in RECIPIENTS:
        raise ValueError(f"unknown recipient {recipient!r}: one of {', '.join(RECIPIENTS)}")
    language = org.language if org.language in typesetting.LANGUAGES else "fr"
    with translation.override(language):
        facts = _facts(org, customer, day)
        claimed = _claimed(facts)
        letter_rows = list(
            Letter.objects.filter(organisation_id=org.pk, customer=customer, day__lte=day).order_by(
                "day", "pk"
            )
        )
        rows = _timeline(org, customer, day, letter_rows)
        notes: list[str] = []
        exhibits = _exhibits(org, facts.invoices, letter_rows, timeline_csv(rows), notes)
        data = _summary_data(org, customer, recipient, day, facts, claimed, rows, exhibits, notes)
        project = letters.project_of(org)
        pdf = typesetting.compile_pdf(project, _main_source(), data)
        summary = Entry("summary.pdf", _("Summary of the claim (PDF)"), pdf)
        entries = [summary, *exhibits]
        manifest = {
            "recipient": recipient,
            "date": day.isoformat(),
            "customer": customer.reference,
            "creditor": org.legal_name or org.name,
            "debtor": customer.legal_name,
            "claimed": _exact(claimed),
            "penalties": facts.penalty_state,
            "files": [
                {
                    "name": e.name,
                    "number": e.number,
                    "sha256": _sha(e.content),
                    "bytes": len(e.content),
                    "description": e.description,
                }
                for e in entries
            ],
        }
        entries.append(
            Entry(
                "manifest.json",
                _("The list of files with their sha256"),
                json.dumps(manifest, ensure_ascii=False, indent=2).encode(),
            )
        )
    return entries, claimed, facts, notes


def _sha(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def _zip(fh: Any, entries: Sequence[Entry]) -> None:
    with zipfile.ZipFile(fh, "w", zipfile.ZIP_DEFLATED) as zf:
        for entry in entries:
            info = zipfile.ZipInfo(entry.name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, entry.content)


def write_zip(entries: Sequence[Entry], output: Path) -> None:
    """The ZIP at ``output``, written beside it then renamed; nothing left on error."""
    folder = output.resolve().parent
    fd, temporary = tempfile.mkstemp(prefix=f".{output.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            _zip(fh, entries)
        Path(temporary).replace(output)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def file_name(customer: Customer, recipient: str, day: date) -> str:
    """The name a downloaded hand-over file gets."""
    return f"handover-{_safe(customer.reference)}-{recipient}-{day.isoformat()}.zip"


def hand_over_bytes(
    org: Organisation, customer: Customer, recipient: str, day: date, *,
    user: Any = None, request: Any = None,
) -> tuple[str, bytes]:  # fmt: skip
    """The hand-over file as bytes (the console's download), recorded as the command's."""
    entries, claimed = build(org, customer, recipient, day)[:2]
    buffer = io.BytesIO()
    _zip(buffer, entries)
    name = file_name(customer, recipient, day)
    record(org, customer, recipient, day, name, _exact(claimed), user=user, request=request)
    return name, buffer.getvalue()


def hand_over(
    org: Organisation,
    customer: Customer,
    recipient: str,
    day: date,
    output: Path,
    *,
    user: Any = None,
    request: Any = None,
) -> HandOver:
    """Write the hand-over file of ``customer`` for ``recipient`` at ``output`` and record
    it on the customer's timeline and in the audit trail."""
    entries, claimed, facts, notes = build(org, customer, recipient, day)
    write_zip(entries, output)
    listed = [
        {
            "name": e.name,
            "sha256": _sha(e.content),
            "bytes": len(e.content),
            "description": e.description,
        }
        for e in entries
    ]
    exact = _exact(claimed)
    record(org, customer, recipient, day, output.name, exact, user=user, request=request)
    return HandOver(output, recipient, day, customer, listed, exact, facts.penalty_state, notes)


def record(
    org: Organisation,
    customer: Customer,
    recipient: str,
    day: date,
    name: str,
    claimed: Sequence[dict[str, Any]],
    *,
    user: Any = None,
    request: Any = None,
) -> None:
    data = {"recipient": recipient, "date": day.isoformat(), "file": name, "claimed": list(claimed)}
    with transaction.atomic():
        timeline.record(
            org,
            customer.pk,
            TIMELINE_KIND,
            timeline.Text(
                gettext_noop("Hand-over file made for: %(recipient)s"), {"recipient": recipient}
            ),
            data=data,
            actor_id=getattr(user, "pk", None),
        )
        trail.record(
            org,
            AUDIT_ACTION,
            user=user,
            target=customer,
            request=request,
            summary=timeline.Text(
                gettext_noop("hand-over file of %(customer)s for %(recipient)s"),
                {"customer": customer.reference, "recipient": recipient},
            ),
            data=data,
        )
