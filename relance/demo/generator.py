"""A demo ledger that looks real to a French credit manager.

Customers get a hidden payment profile (punctual, late, erratic, chronic) that drives
every invoice's fate: paid around the due date, paid late, paid in instalments, reduced
by a credit note, disputed, or never paid. What happened after ``today`` is cut off, so
the open items fall naturally into every bucket of the aged balance.

Deterministic: everything is drawn from ``random.Random`` seeded with ``seed`` (and, per
customer, with the seed and the customer's account), never from the clock or from the
iteration order of a set.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import random
from collections import defaultdict
from dataclasses import dataclass, field, replace
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

from relance.demo.identity import Identity, Registry, ascii_slug, make_identity
from relance.ledger.imports.records import (
    AllocationRecord,
    ContactRecord,
    CustomerRecord,
    InvoiceRecord,
    LedgerBatch,
    PaymentRecord,
)
from relance.lib.dates import add_months

CENT = Decimal("0.01")
EURO = Decimal("1")
VAT_RATE = Decimal("0.20")
CURRENCY = "EUR"
SOURCE = "demo"
DAY = dt.timedelta(days=1)


@dataclass(frozen=True)
class Profile:
    """How a kind of customer pays."""

    key: str
    weight: int
    risk_class: str
    # The customer's average days past due is drawn in this range; each invoice then
    # deviates from it by a normal spread.
    mean_delay: tuple[int, int]
    spread: float
    partial_rate: float
    # Invoices never paid: forgotten, silently contested, or the cash is gone.
    stuck_rate: float


PROFILES = (
    Profile("punctual", 52, "low", (-6, 0), 3.0, 0.0, 0.001),
    Profile("late", 27, "medium", (7, 25), 8.0, 0.06, 0.005),
    Profile("erratic", 12, "medium", (0, 12), 18.0, 0.06, 0.01),
    Profile("chronic", 9, "high", (30, 60), 20.0, 0.2, 0.04),
)

PAYMENT_PREFIXES = {"transfer": "VIR", "cheque": "CHQ", "lcr": "LCR"}

CREDIT_NOTE_REASONS = (
    "geste commercial",
    "retour de marchandise",
    "erreur de prix",
    "remise de fin d'année",
    "livraison incomplète",
)


@dataclass(frozen=True)
class HoldSpec:
    """A hold to create on a customer: the batch has no place for it."""

    customer: str  # CustomerRecord.reference
    kind: str  # relance.ledger.models.HoldKind value
    reason: str
    start_date: dt.date
    end_date: dt.date | None = None
    published_on: dt.date | None = None


@dataclass(frozen=True)
class DisputeSpec:
    """What the batch's ``disputed`` flag cannot say: why, since when, for how much."""

    invoice: str  # InvoiceRecord.number
    reason: str  # relance.ledger.models.DisputeReason value
    opened_on: dt.date
    note: str
    amount: Decimal | None
    # One dispute of the past weeks was settled: dunning of its invoice resumed.
    resolved_on: dt.date | None = None
    resolution: str = ""


@dataclass(frozen=True)
class PromiseSpec:
    """A promise to pay one invoice, obtained on the phone; kept when the ledger shows the
    payment by ``promised_on``, broken otherwise (the run finds it)."""

    customer: str
    invoice: str
    recorded_on: dt.date
    promised_on: dt.date
    note: str


@dataclass(frozen=True)
class PlanSpec:
    """A payment plan agreed with a customer that could not pay its overdue invoices."""

    customer: str
    invoices: tuple[str, ...]
    agreed_on: dt.date
    instalments: tuple[tuple[dt.date, Decimal], ...]
    note: str


@dataclass
class DemoData:
    today: dt.date
    batch: LedgerBatch
    holds: list[HoldSpec]
    disputes: list[DisputeSpec]
    # The weeks the demo replays day by day (runs, sending, people's work) up to today.
    start: dt.date = dt.date.min
    promises: list[PromiseSpec] = field(default_factory=list)
    plans: list[PlanSpec] = field(default_factory=list)


@dataclass
class Persona:
    """A customer with the hidden traits that decide its invoices and payments."""

    reference: str
    identity: Identity
    profile: Profile
    risk_class: str
    terms: int
    since: dt.date
    until: dt.date | None  # the last day it buys: customers come and go
    mean_delay: float
    monthly_rate: float
    typical_excl: float
    pay_run_day: int | None  # pays in runs on this day of the month (31: month end)
    method: str
    po_prefix: str | None  # large customers require their purchase order on invoices
    credit_limit: Decimal
    # Collective proceedings: earlier debts may no longer be paid (Code de commerce L622-7).
    judgment_on: dt.date | None = None


@dataclass(eq=False)
class Draft:
    """An invoice before numbering, with what happened to it."""

    persona: Persona
    issue_date: dt.date
    due_date: dt.date
    excl: Decimal
    tax: Decimal
    amount: Decimal
    po_reference: str
    disputed: bool = False
    dispute: tuple[str, dt.date, str] | None = None  # reason, opened on, note
    number: str = ""
    settlements: list[Settlement] = field(default_factory=list)


@dataclass(eq=False)
class Settlement:
    """Money (``payment``) or a credit note set against one invoice on one day."""

    draft: Draft
    date: dt.date
    amount: Decimal
    kind: str
    reason: str = ""


# --- entry point ------------------------------------------------------------------------


PAST_WEEKS = 8


def generate(
    today: dt.date, *, seed: int = 2026, customers: int = 300, months: int = 18
) -> DemoData:
    rng = random.Random(seed)
    start = months_before(today, months)
    registry = Registry()
    personas = [make_persona(rng, n, today, months, registry) for n in range(1, customers + 1)]
    insolvent = pick_insolvent(rng, personas, today)
    drafts: list[Draft] = []
    for persona in personas:
        drafts += customer_invoices(
            persona, start, today, random.Random(f"{seed}:{persona.reference}")
        )
    number_invoices(drafts, start, today)
    past = today - PAST_WEEKS * 7 * DAY
    stories = random.Random(f"{seed}:past")
    plans = plan_story(stories, personas, drafts, past, today)
    taken = {p.customer for p in plans}
    promises = promise_stories(stories, drafts, past, today, taken)
    taken |= {p.customer for p in promises}
    settlements = [s for d in drafts for s in d.settlements if s.date <= today]
    batch = LedgerBatch(file="demo", format="demo", source=SOURCE)
    for persona in personas:
        add_customer(batch, persona)
    batch.invoices = [invoice_record(d) for d in drafts]
    add_credit_notes(batch, settlements, start, today)
    add_payments(batch, rng, settlements)
    batch.rows_read = len(batch.invoices) + len(batch.payments)
    holds = insolvency_holds(insolvent, today) + manual_holds(
        rng, [p for p in personas if p.reference not in taken], drafts, today
    )
    disputes = resolve_one([dispute_spec(d, today) for d in drafts if d.dispute], stories,
                           past, today)  # fmt: skip
    batch.sha256 = fingerprint(batch, holds, disputes, promises, plans, past)
    return DemoData(today=today, batch=batch, holds=holds, disputes=disputes, start=past,
                    promises=promises, plans=plans)  # fmt: skip


def fingerprint(batch: LedgerBatch, *stories: object) -> str:
    """Identifies the generated data: the loader reloads from scratch when it changes."""
    content = repr((batch.customers, batch.contacts, batch.invoices, batch.payments,
                    batch.allocations, stories))  # fmt: skip
    return hashlib.sha256(content.encode()).hexdigest()


# --- dates ------------------------------------------------------------------------------


def months_before(day: dt.date, months: int) -> dt.date:
    return add_months(day, -months)


def _month_length(year: int, month: int) -> int:
    following = dt.date(year + month // 12, month % 12 + 1, 1)
    return (following - DAY).day


def business_day(day: dt.date) -> dt.date:
    """Banks credit and companies invoice on weekdays."""
    while day.weekday() >= 5:
        day += DAY
    return day


def next_pay_run(day: dt.date, run_day: int) -> dt.date:
    """The first payment run on or after ``day`` (``run_day`` 31: the last of the month)."""
    candidate = _run_in_month(day.year, day.month, run_day)
    if candidate < day:
        year, month = (day.year + 1, 1) if day.month == 12 else (day.year, day.month + 1)
        candidate = _run_in_month(year, month, run_day)
    return candidate


def previous_pay_run(day: dt.date, run_day: int) -> dt.date:
    """The last payment run on or before ``day``."""
    candidate = _run_in_month(day.year, day.month, run_day)
    if candidate > day:
        year, month = (day.year - 1, 12) if day.month == 1 else (day.year, day.month - 1)
        candidate = _run_in_month(year, month, run_day)
    return candidate


def _run_in_month(year: int, month: int, run_day: int) -> dt.date:
    return dt.date(year, month, min(run_day, _month_length(year, month)))


# --- customers --------------------------------------------------------------------------


def make_persona(
    rng: random.Random, number: int, today: dt.date, months: int, registry: Registry
) -> Persona:
    identity = make_identity(rng, registry)
    profile = rng.choices(PROFILES, weights=[p.weight for p in PROFILES])[0]
    terms = rng.choices((30, 45, 60), weights=(50, 30, 20))[0]
    # Invoices per month: a long tail, from a quarterly order to several deliveries a week.
    monthly_rate = min(max(rng.lognormvariate(math.log(0.6), 0.9), 0.08), 8.0)
    typical_excl = rng.lognormvariate(math.log(900), 0.9) * identity.sector.scale
    since, until = _relationship(rng, today, months)
    method = _payment_method(rng, profile)
    return Persona(
        reference=f"C{number:05d}",
        identity=identity,
        profile=profile,
        risk_class=_risk_class(rng, profile),
        terms=terms,
        since=since,
        until=until,
        mean_delay=rng.uniform(*profile.mean_delay),
        monthly_rate=monthly_rate,
        typical_excl=typical_excl,
        pay_run_day=_pay_run_day(rng, profile, method),
        method=method,
        po_prefix=_po_prefix(rng, monthly_rate * typical_excl),
        credit_limit=_credit_limit(monthly_rate * typical_excl, terms),
    )


def _relationship(
    rng: random.Random, today: dt.date, months: int
) -> tuple[dt.date, dt.date | None]:
    """Most customers are long-standing; some arrived during the period, a few left."""
    if rng.random() < 0.15:
        since = today - rng.randint(20, months * 30) * DAY
    else:
        since = today - rng.randint(months * 30 + 30, 9000) * DAY
    until = today - rng.randint(45, 420) * DAY if rng.random() < 0.07 else None
    if until is not None and until <= since:
        until = None
    return since, until


def _risk_class(rng: random.Random, profile: Profile) -> str:
    """The credit manager's rating follows the behaviour, but not perfectly."""
    if rng.random() < 0.85:
        return profile.risk_class
    return rng.choice(("low", "medium", "high"))


def _payment_method(rng: random.Random, profile: Profile) -> str:
    draw = rng.random()
    if profile.key == "punctual" and draw < 0.12:
        return "lcr"  # a bill of exchange is drawn on the due date: punctual by design
    if draw > 0.92:
        return "cheque"
    return "transfer"


def _pay_run_day(rng: random.Random, profile: Profile, method: str) -> int | None:
    if method == "lcr" or rng.random() > (0.35 if profile.key == "punctual" else 0.5):
        return None
    return rng.choice((5, 10, 15, 25, 31))


def _po_prefix(rng: random.Random, monthly_volume: float) -> str | None:
    if monthly_volume < 3000 or rng.random() < 0.4:
        return None
    return rng.choice(("4500", "BC-", "CDE-", "PO"))


def _credit_limit(monthly_volume: float, terms: int) -> Decimal:
    """About one and a half times the usual exposure, in steps of 5,000 EUR."""
    exposure = monthly_volume * 1.2 * (terms / 30 + 1) * 1.5
    steps = max(1, math.ceil(exposure / 5000))
    return Decimal(steps * 5000).quantize(CENT)


def pick_insolvent(rng: random.Random, personas: list[Persona], today: dt.date) -> Persona | None:
    """One long-standing French customer, preferably a chronic late payer, went into
    collective proceedings a few weeks ago."""
    candidates = [
        p
        for p in personas
        if not p.identity.foreign and p.until is None and p.since < today - 365 * DAY
    ]
    chronic = [p for p in candidates if p.profile.key == "chronic"]
    pool = chronic or candidates
    if not pool:
        return None
    persona = rng.choice(pool)
    persona.judgment_on = business_day(today - rng.randint(25, 40) * DAY)
    persona.until = persona.judgment_on
    return persona


def add_customer(batch: LedgerBatch, persona: Persona) -> None:
    identity = persona.identity
    batch.customers[persona.reference] = CustomerRecord(
        persona.reference,
        fields={
            "legal_name": identity.legal_name,
            "siren": identity.siren,
            "siret": identity.siret,
            "vat_number": identity.vat_number,
            "email": identity.email,
            "phone": identity.phone,
            "language": identity.language,
            "country": identity.country,
            "currency": CURRENCY,
            "payment_terms_days": persona.terms,
            "credit_limit": persona.credit_limit,
            "risk_class": persona.risk_class,
            "customer_since": persona.since,
            "address": dict(identity.address),
        },
    )
    batch.contacts += [
        ContactRecord(
            customer=persona.reference,
            name=c.name,
            email=c.email,
            phone=c.phone,
            role=c.role,
            preferred_channel=c.preferred_channel,
            is_primary=c.is_primary,
        )
        for c in identity.contacts
    ]


# --- invoices ---------------------------------------------------------------------------


def customer_invoices(
    persona: Persona, start: dt.date, today: dt.date, rng: random.Random
) -> list[Draft]:
    drafts = [make_draft(persona, day, rng) for day in issue_dates(persona, start, today, rng)]
    for draft in drafts:
        settle(draft, rng, today)
    return drafts


def issue_dates(
    persona: Persona, start: dt.date, today: dt.date, rng: random.Random
) -> list[dt.date]:
    """Orders arrive as a Poisson process over the customer's active days."""
    first = max(start, persona.since)
    last = min(today, persona.until or today)
    per_day = persona.monthly_rate / 30.44
    days: list[dt.date] = []
    offset = rng.expovariate(per_day)
    while first + int(offset) * DAY <= last:
        day = business_day(first + int(offset) * DAY)
        if day <= last:
            days.append(day)
        offset += rng.expovariate(per_day)
    return days


def make_draft(persona: Persona, issue: dt.date, rng: random.Random) -> Draft:
    excl = invoice_amount(persona, rng)
    tax = (
        Decimal("0.00")
        if persona.identity.foreign
        else (excl * VAT_RATE).quantize(CENT, ROUND_HALF_UP)
    )
    return Draft(
        persona=persona,
        issue_date=issue,
        due_date=issue + persona.terms * DAY,
        excl=excl,
        tax=tax,
        amount=excl + tax,
        po_reference=_po_reference(persona, rng),
    )


def invoice_amount(persona: Persona, rng: random.Random) -> Decimal:
    """Skewed like real sales: many small invoices around the customer's usual size, now
    and then a project ten times larger."""
    value = persona.typical_excl * rng.lognormvariate(0, 0.7)
    if rng.random() < 0.01:
        value *= rng.uniform(8, 25)
    value = max(value, 25.0)
    if rng.random() < 0.15:
        value = round(value, -1)  # flat-rate services are invoiced in round figures
    return Decimal(value).quantize(CENT, ROUND_HALF_UP)


def _po_reference(persona: Persona, rng: random.Random) -> str:
    prefix = persona.po_prefix
    if prefix is None:
        return ""
    if prefix == "4500":  # SAP purchase orders
        return f"4500{rng.randint(100000, 999999)}"
    return f"{prefix}{rng.randint(1000, 99999)}"


def number_invoices(drafts: list[Draft], start: dt.date, today: dt.date) -> None:
    """``FA-2025-00123``: one unbroken, chronological sequence per year, as French law
    requires; the first year continues the invoices issued before the period."""
    ordered = sorted(
        enumerate(drafts), key=lambda e: (e[1].issue_date, e[1].persona.reference, e[0])
    )
    counters = _year_offsets([d.issue_date for d in drafts], start, today)
    for _, draft in ordered:
        year = draft.issue_date.year
        counters[year] = counters.get(year, 0) + 1
        draft.number = f"FA-{year}-{counters[year]:05d}"
    drafts.sort(key=lambda d: d.number)


def _year_offsets(days: list[dt.date], start: dt.date, today: dt.date) -> dict[int, int]:
    """Numbers already used in the first year before the period, at the period's pace."""
    span = max((today - start).days, 1)
    before = (start - dt.date(start.year, 1, 1)).days
    return {start.year: round(before * len(days) / span)}


# --- what happened to each invoice ------------------------------------------------------


def settle(draft: Draft, rng: random.Random, today: dt.date) -> None:
    """Decide the invoice's fate; settlements after ``today`` are cut off later."""
    persona = draft.persona
    age = (today - draft.issue_date).days
    # Disputes arise soon after delivery and most are settled within months.
    if rng.random() < 0.12 * math.exp(-age / 150):
        draft.disputed = True
        reason, note = rng.choice(DISPUTE_REASONS)
        opened = min(business_day(draft.issue_date + rng.randint(4, 25) * DAY), today)
        draft.dispute = (reason, opened, note)
        if rng.random() < 0.35:  # the customer pays what it does not contest
            part = _fraction(draft.amount, rng.uniform(0.5, 0.9))
            _pay(draft, payment_date(persona, draft, rng), part)
        return
    remaining = draft.amount
    if rng.random() < 0.03:
        remaining -= credit_note(draft, rng)
    if remaining <= 0 or rng.random() < persona.profile.stuck_rate:
        return
    paid_on = payment_date(persona, draft, rng)
    if remaining >= 200 and rng.random() < persona.profile.partial_rate:
        first = _fraction(remaining, rng.uniform(0.3, 0.7))
        _pay(draft, paid_on, first)
        later = business_day(paid_on + rng.randint(15, 60) * DAY)
        _pay(draft, later, remaining - first)
    else:
        _pay(draft, paid_on, remaining)


def credit_note(draft: Draft, rng: random.Random) -> Decimal:
    """A credit note soon after the invoice: a full cancellation or a partial credit."""
    if rng.random() < 0.25:
        amount, reason = draft.amount, "annulation de la facture"
    else:
        amount, reason = (
            _fraction(draft.amount, rng.uniform(0.05, 0.3)),
            rng.choice(CREDIT_NOTE_REASONS),
        )
    day = business_day(draft.issue_date + rng.randint(3, 30) * DAY)
    draft.settlements.append(Settlement(draft, day, amount, "credit_note", reason))
    return amount


def payment_date(persona: Persona, draft: Draft, rng: random.Random) -> dt.date:
    if persona.method == "lcr":
        return business_day(draft.due_date)
    delay = round(rng.gauss(persona.mean_delay, persona.profile.spread))
    if rng.random() < 0.06:
        delay += rng.randint(8, 25)  # even good payers forget an invoice now and then
    earliest = draft.issue_date + 3 * DAY
    day = max(draft.due_date + delay * DAY, earliest)
    if persona.pay_run_day:
        # A punctual payer makes the run before the due date, the others the next one.
        before = previous_pay_run(day, persona.pay_run_day)
        punctual = persona.profile.key == "punctual" and before >= earliest
        day = before if punctual else next_pay_run(day, persona.pay_run_day)
    return business_day(day)


def _pay(draft: Draft, day: dt.date, amount: Decimal) -> None:
    judgment = draft.persona.judgment_on
    if amount > 0 and (judgment is None or day < judgment):
        draft.settlements.append(Settlement(draft, day, amount, "payment"))


def _fraction(amount: Decimal, share: float) -> Decimal:
    """A round part of ``amount`` (whole euros), strictly between nothing and all of it."""
    part = (amount * Decimal(share)).quantize(EURO, ROUND_DOWN)
    if part <= 0 or part >= amount:
        part = (amount / 2).quantize(CENT, ROUND_DOWN)
    return part.quantize(CENT)


DISPUTE_REASONS = (
    ("price", "Le client conteste le prix unitaire : tarif négocié non appliqué."),
    ("quantity", "Quantité facturée supérieure à la quantité livrée selon le client."),
    ("quality", "Marchandise reçue endommagée, photos transmises par le client."),
    ("not_received", "Livraison non reçue selon le client ; preuve de livraison demandée."),
    ("administrative", "Facture refusée : numéro de commande manquant."),
)


def dispute_spec(draft: Draft, today: dt.date) -> DisputeSpec:
    assert draft.dispute is not None
    reason, opened, note = draft.dispute
    paid = draft.amount - open_amount(draft, today)
    # When the customer paid part of the invoice, what it contests is the rest.
    return DisputeSpec(draft.number, reason, opened, note, draft.amount - paid if paid else None)


# --- batch records ----------------------------------------------------------------------


def invoice_record(draft: Draft) -> InvoiceRecord:
    return InvoiceRecord(
        number=draft.number,
        customer=draft.persona.reference,
        issue_date=draft.issue_date,
        due_date=draft.due_date,
        currency=CURRENCY,
        amount=draft.amount,
        amount_excl_tax=draft.excl,
        tax_amount=draft.tax,
        po_reference=draft.po_reference,
        # None, not False, elsewhere: the demo says nothing about other invoices, so a
        # refresh leaves disputes opened by hand alone.
        disputed=True if draft.disputed else None,
    )


def add_credit_notes(
    batch: LedgerBatch, settlements: list[Settlement], start: dt.date, today: dt.date
) -> None:
    """``AV-2025-00012``: credit notes have their own chronological sequence."""
    notes = sorted(
        (s for s in settlements if s.kind == "credit_note"),
        key=lambda s: (s.date, s.draft.number),
    )
    counters = _year_offsets([s.date for s in notes], start, today)
    for note in notes:
        counters[note.date.year] = counters.get(note.date.year, 0) + 1
        reference = f"AV-{note.date.year}-{counters[note.date.year]:05d}"
        batch.payments.append(
            PaymentRecord(
                reference=reference,
                customer=note.draft.persona.reference,
                date=note.date,
                currency=CURRENCY,
                amount=note.amount,
                kind="credit_note",
                memo=f"Avoir sur {note.draft.number} : {note.reason}",
            )
        )
        batch.allocations.append(
            AllocationRecord(reference, note.draft.number, note.amount, note.date)
        )


def add_payments(batch: LedgerBatch, rng: random.Random, settlements: list[Settlement]) -> None:
    """One bank movement per customer and day: a payment run settles several invoices."""
    groups: dict[tuple[dt.date, str], dict[str, Decimal]] = defaultdict(dict)
    for s in settlements:
        if s.kind == "payment":
            shares = groups[(s.date, s.draft.persona.reference)]
            shares[s.draft.number] = shares.get(s.draft.number, Decimal("0.00")) + s.amount
    personas = {s.draft.persona.reference: s.draft.persona for s in settlements}
    for serial, (day, customer) in enumerate(sorted(groups), start=1):
        persona = personas[customer]
        shares = groups[(day, customer)]
        reference = f"{PAYMENT_PREFIXES[persona.method]}-{day:%Y%m%d}-{serial:05d}"
        batch.payments.append(
            PaymentRecord(
                reference=reference,
                customer=customer,
                date=day,
                currency=CURRENCY,
                amount=sum(shares.values(), Decimal("0.00")),
                method=persona.method,
                memo=_memo(rng, persona, day, sorted(shares)),
            )
        )
        batch.allocations += [
            AllocationRecord(reference, number, shares[number], day) for number in sorted(shares)
        ]
    batch.payments.sort(key=lambda p: (p.date, p.reference))


def _memo(rng: random.Random, persona: Persona, day: dt.date, numbers: list[str]) -> str:
    """What the bank statement says, as the treasurer would read it."""
    if persona.method == "cheque":
        return f"Chèque n° {rng.randint(1000000, 9999999)}"
    if persona.method == "lcr":
        return f"LCR échue le {day:%d/%m/%Y}"
    shown = " ".join(numbers[:6]) + (f" (+{len(numbers) - 6})" if len(numbers) > 6 else "")
    # SEPA remittance text has no accents.
    payer = ascii_slug(persona.identity.legal_name, " ").upper()
    return f"VIR SEPA {payer} {shown}"[:200]


# --- holds ------------------------------------------------------------------------------


def insolvency_holds(persona: Persona | None, today: dt.date) -> list[HoldSpec]:
    if persona is None or persona.judgment_on is None:
        return []
    judgment = persona.judgment_on
    # The BODACC publishes the judgment one to two weeks later; the two months to declare
    # the claim run from the publication (Code de commerce R622-24).
    published = min(business_day(judgment + 10 * DAY), today)
    deadline = add_months(published, 2)
    court = persona.identity.address["city"]
    reason = (
        f"Redressement judiciaire ouvert par le tribunal de commerce de {court} le "
        f"{judgment:%d/%m/%Y}, publié au BODACC le {published:%d/%m/%Y}. Créance à "
        f"déclarer au mandataire judiciaire avant le {deadline:%d/%m/%Y}."
    )
    return [HoldSpec(persona.reference, "insolvency", reason, judgment, None, published)]


MANUAL_HOLD_REASONS = (
    "Renégociation du contrat-cadre en cours avec le directeur commercial : "
    "ne pas relancer avant le {end:%d/%m/%Y}.",
    "Changement de logiciel comptable chez le client, factures renvoyées au nouveau "
    "service fournisseurs : relances suspendues jusqu'au {end:%d/%m/%Y}.",
)


def manual_holds(
    rng: random.Random, personas: list[Persona], drafts: list[Draft], today: dt.date
) -> list[HoldSpec]:
    """Two customers with overdue items whose dunning someone paused by hand."""
    overdue = {
        d.persona.reference for d in drafts if d.due_date < today and open_amount(d, today) > 0
    }
    candidates = [
        p
        for p in personas
        if p.reference in overdue and p.judgment_on is None and p.profile.key in ("late", "erratic")
    ]
    chosen = rng.sample(candidates, min(2, len(candidates)))
    holds = []
    for persona, template in zip(chosen, MANUAL_HOLD_REASONS, strict=False):
        start = today - rng.randint(3, 15) * DAY
        end = today + rng.randint(10, 30) * DAY
        holds.append(HoldSpec(persona.reference, "manual", template.format(end=end), start, end))
    return holds


def open_amount(draft: Draft, today: dt.date) -> Decimal:
    settled = sum((s.amount for s in draft.settlements if s.date <= today), Decimal("0.00"))
    return draft.amount - settled


# --- the past weeks' stories --------------------------------------------------------------
# The run, the outbox and the people's daily work are replayed by ``relance.demo.past``;
# what needs a person's decision or a customer's word is chosen here, from the ledger.


def _candidates(drafts: list[Draft], taken: set[str]) -> list[Draft]:
    """Invoices of customers free for a story: not insolvent, not already in one."""
    return [
        d
        for d in drafts
        if not d.disputed and d.persona.judgment_on is None and d.persona.reference not in taken
    ]


def plan_story(
    rng: random.Random, personas: list[Persona], drafts: list[Draft], past: dt.date,
    today: dt.date,
) -> list[PlanSpec]:  # fmt: skip
    """A late payer agrees three monthly instalments for its overdue invoices about a month
    ago; it pays the first one on time, the others are still to come."""
    agreed = business_day(today - 30 * DAY)
    if agreed <= past:
        return []
    by_customer: dict[str, list[Draft]] = defaultdict(list)
    for draft in _candidates(drafts, set()):
        if draft.due_date < agreed - 10 * DAY and open_amount(draft, agreed) > 0:
            by_customer[draft.persona.reference].append(draft)
    pool = [
        ref
        for ref, owing in sorted(by_customer.items())
        if 2 <= len(owing) <= 6
        and Decimal(1500) <= sum(open_amount(d, agreed) for d in owing) <= Decimal(40000)
        and owing[0].persona.profile.key in ("chronic", "late")
    ]
    if not pool:
        return []
    owing = sorted(by_customer[rng.choice(pool)], key=lambda d: d.number)
    owed = sum((open_amount(d, agreed) for d in owing), Decimal("0.00"))
    third = (owed / 3).quantize(CENT, ROUND_DOWN)
    dates = [business_day(agreed + days * DAY) for days in (15, 45, 75)]
    instalments = ((dates[0], third), (dates[1], third), (dates[2], owed - 2 * third))
    # From the agreement on, the customer pays the plan and nothing else on these invoices.
    for draft in owing:
        draft.settlements = [s for s in draft.settlements if s.date <= agreed]
    left = third
    for draft in owing:
        share = min(left, open_amount(draft, agreed))
        if share > 0:
            draft.settlements.append(Settlement(draft, dates[0], share, "payment"))
            left -= share
    note = (
        f"Échéancier accepté par le directeur financier : trois mensualités de "
        f"{third} € environ, par virement, à partir du {dates[0]:%d/%m/%Y}."
    )
    return [PlanSpec(owing[0].persona.reference, tuple(d.number for d in owing), agreed,
                     instalments, note)]  # fmt: skip


def promise_stories(
    rng: random.Random, drafts: list[Draft], past: dt.date, today: dt.date, taken: set[str]
) -> list[PromiseSpec]:
    """Two promises to pay obtained on the phone: one kept (the payment arrives on the day
    promised), one broken (nothing arrives; the run notices)."""
    promises: list[PromiseSpec] = []
    kept = []
    for draft in _candidates(drafts, taken):
        paid = [s for s in draft.settlements if s.date <= today]
        if len(paid) != 1 or paid[0].kind != "payment" or paid[0].amount != draft.amount:
            continue
        day = paid[0].date
        recorded = business_day(day - 8 * DAY)
        if past + 14 * DAY <= recorded and day <= today - 5 * DAY and draft.due_date < recorded:
            kept.append((draft, recorded, day))
    if kept:
        draft, recorded, day = rng.choice(kept)
        promises.append(
            PromiseSpec(draft.persona.reference, draft.number, recorded, day,
                        f"Le comptable confirme au téléphone un virement le {day:%d/%m/%Y}.")
        )  # fmt: skip
        taken = taken | {draft.persona.reference}
    recorded = business_day(today - 24 * DAY)
    promised = recorded + 7 * DAY
    broken = [
        d
        for d in _candidates(drafts, taken)
        if d.due_date < recorded - 10 * DAY and open_amount(d, today) == d.amount
    ]
    if broken and recorded > past:
        draft = rng.choice(broken)
        promises.append(
            PromiseSpec(draft.persona.reference, draft.number, recorded, promised,
                        "Le client s'engage à régler la facture sous huit jours.")
        )  # fmt: skip
    return promises


DISPUTE_RESOLUTIONS = {
    "price": "Tarif vérifié avec l'acheteur : le prix facturé est celui du contrat.",
    "quantity": "Bon de livraison signé transmis : la quantité facturée est la bonne.",
    "quality": "Expertise faite : la marchandise a été abîmée après livraison.",
    "not_received": "Preuve de livraison transmise au client, qui l'a acceptée.",
    "administrative": "Facture renvoyée avec le numéro de commande.",
}


def resolve_one(
    disputes: list[DisputeSpec], rng: random.Random, past: dt.date, today: dt.date
) -> list[DisputeSpec]:
    """One dispute of the past weeks is resolved in the supplier's favour: the invoice is
    owed again, and dunned again."""
    pool = [
        n
        for n, d in enumerate(disputes)
        if d.amount is None and past <= d.opened_on <= today - 25 * DAY
    ]
    if not pool:
        return disputes
    n = rng.choice(pool)
    spec = disputes[n]
    resolved = business_day(spec.opened_on + rng.randint(10, 18) * DAY)
    disputes[n] = replace(
        spec, resolved_on=resolved, resolution=DISPUTE_RESOLUTIONS.get(spec.reason, "")
    )
    return disputes
