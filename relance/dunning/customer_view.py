"""Everything about one customer on a day, gathered once for the console, the API and
`relance customer show`: identity and contacts; open items with their level, days overdue,
penalties accrued and next step; the scenario followed and why; the pauses; the timeline.

Nothing is decided here: the penalties come from the penalty service, the scenario from
``segments.choose_scenario`` and the next step from ``policy.next_step``, the functions
the run and the e-mails use. A few queries per customer, none per item.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import Count, Max, Q, Sum

from relance.accounts.models import Organisation
from relance.dunning import owed, policy, run_errors
from relance.dunning.defaults import name_for_reader
from relance.dunning.engine import calendar_for
from relance.dunning.loading import HOLD_PRIORITY
from relance.dunning.models import ItemState, PaymentPlan, Promise, Scenario
from relance.dunning.penalties import NoLaw, sum_penalties
from relance.dunning.penalty_service import customer_penalties, penalties_of
from relance.dunning.rates import MissingRate, RateUnknown
from relance.dunning.segments import CustomerFacts, NoDefaultScenario, choose_scenario, load_rules
from relance.ledger.models import Customer, Dispute, Hold, Invoice, TimelineEvent
from relance.lib.sentences import Say, shown

# How far ahead a next step's day is moved to find a business day.
MAX_CLOSED_DAYS = 15


@dataclass(frozen=True)
class PenaltySummary:
    interest: Decimal
    indemnity: Decimal
    total: Decimal
    days_late: int


@dataclass(frozen=True)
class NextStepView:
    position: int
    name: str
    channel: str
    template: str
    mode: str
    on: dt.date | None  # the first business day it may be planned; None while paused
    waiting_for: str  # see policy.NextStep


@dataclass(frozen=True)
class OpenItem:
    invoice_id: int
    number: str
    kind: str
    issue_date: dt.date
    due_date: dt.date
    amount: Decimal
    balance: Decimal
    # What it is dunned for (policy.amount_asked): the balance, or the approved part still
    # unpaid of an invoice the buyer approved in part.
    asked: Decimal
    currency: str
    days_overdue: int
    level: int
    level_date: dt.date | None
    penalty: PenaltySummary | None
    paused: str | None  # dispute, payment_plan, promise, hold:<kind>
    next_step: NextStepView | None


@dataclass(frozen=True)
class ScenarioView:
    slug: str
    name: str
    reason: str
    steps: list[dict[str, Any]]


@dataclass
class CustomerView:
    organisation: str
    as_of: dt.date
    customer: dict[str, Any]
    addresses: list[dict[str, Any]]
    contacts: list[dict[str, Any]]
    open_items: list[OpenItem]
    totals: dict[str, Decimal]  # balance per currency
    # Per currency, over every invoice late on ``as_of`` (open or paid late).
    penalties: dict[str, dict[str, Any]]
    penalty_note: str  # why no penalty is shown, when none can be computed
    # The rate whose lack is that reason, in parts (a page says them its reader's way).
    missing_rate: MissingRate | None
    scenario: ScenarioView | None
    scenario_note: str
    pauses: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    timeline: list[dict[str, Any]] = field(default_factory=list)
    # Over every open item, whatever the page: how many, and the overdue balance per currency.
    open_count: int = 0
    overdue: dict[str, Decimal] = field(default_factory=dict)
    # A page of the open items (``limit``): where it starts, where the next one starts (None
    # at the end). The penalties are then those of the items shown only (``penalties_scope``
    # "shown"; "customer": every late invoice, open or paid late).
    offset: int = 0
    next_offset: int | None = None
    penalties_scope: str = "customer"


def customer_view(
    org: Organisation, customer: Customer, as_of: dt.date, *, with_timeline: bool = True,
    limit: int | None = None, offset: int = 0, say: Say = shown,
) -> CustomerView:  # fmt: skip
    """The customer on ``as_of``: balances as they stand, days, penalties and next steps
    counted at ``as_of``; why a scenario applies or no penalty is computed said by ``say``
    (in the reader's language; ``sentences.written``: as the record keeps it). Without the
    timeline, the console reads it a page at a time (``timeline_page``). With ``limit``,
    only that many open items from ``offset`` (oldest due first) are read, with their
    levels, penalties and next steps; the totals and counts are still over every open item
    (summed in SQL), the penalties over the items shown."""
    open_invoices = Invoice.objects.filter(
        organisation=org, customer=customer, balance__gt=org.min_balance
    )
    ordered = open_invoices.order_by("due_date", "number", "pk")
    if limit is None:
        invoices = list(ordered)
        more = False
    else:
        invoices = list(ordered[offset : offset + limit + 1])
        more = len(invoices) > limit
        invoices = invoices[:limit]
    summary = _open_summary(open_invoices, as_of)
    states = {
        pk: (level, level_date)
        for pk, level, level_date in ItemState.objects.filter(
            invoice_id__in=[i.pk for i in invoices]
        ).values_list("invoice_id", "level", "level_date")
    }
    disputes = list(
        Dispute.objects.filter(organisation=org, invoice__customer=customer)
        .select_related("invoice")
        .order_by("opened_on", "pk")
    )
    promises = list(
        Promise.objects.filter(organisation=org, customer=customer)
        .select_related("invoice")
        .order_by("promised_on", "pk")
    )
    holds = list(
        Hold.objects.filter(organisation=org, customer=customer).order_by("start_date", "pk")
    )
    plans = list(
        PaymentPlan.objects.filter(organisation=org, customer=customer)
        .prefetch_related("instalments", "invoices")
        .order_by("agreed_on", "pk")
    )
    if limit is None:
        penalties, penalty_totals, penalty_note, missing_rate = _penalties(customer, as_of, say)
    else:
        penalties, penalty_totals, penalty_note, missing_rate = _penalties_of_items(
            org, invoices, as_of, say
        )
    scenario, scenario_note = _scenario(
        org, customer, summary.largest, summary.largest_currency, as_of, say
    )
    case = policy.CustomerCase(
        customer_id=customer.pk,
        scenario=scenario[0] if scenario else policy.ScenarioSpec(None, "", ()),
        scenario_reason=scenario[1].reason if scenario else "",
        items=(),
        hold=_hold(holds, as_of),
    )
    pause_facts = _PauseFacts.of(disputes, promises, plans)
    business_days = _BusinessDays(org)
    items = []
    for invoice in invoices:
        level, level_date = states.get(invoice.pk, (0, None))
        item = pause_facts.item(invoice, level, level_date, org.min_balance)
        paused = policy.suspension(case, item, as_of)
        nxt = policy.next_step(case, item, as_of) if scenario else None
        penalty = penalties.get(invoice.pk)
        items.append(
            OpenItem(
                invoice_id=invoice.pk, number=invoice.number, kind=invoice.kind,
                issue_date=invoice.issue_date, due_date=invoice.due_date, amount=invoice.amount,
                balance=invoice.balance, asked=policy.owed(item), currency=invoice.currency,
                days_overdue=(as_of - invoice.due_date).days, level=level, level_date=level_date,
                penalty=penalty, paused=paused,
                next_step=_next_view(nxt, business_days) if nxt and nxt.step else None,
            )
        )  # fmt: skip
    return CustomerView(
        organisation=org.slug,
        as_of=as_of,
        customer=_identity(customer),
        addresses=[_address(a) for a in customer.addresses.order_by("kind")],
        contacts=[_contact(c) for c in customer.contacts.order_by("-is_primary", "name", "pk")],
        open_items=items,
        totals=summary.totals,
        penalties=penalty_totals,
        penalty_note=penalty_note,
        missing_rate=missing_rate,
        scenario=scenario[1] if scenario else None,
        scenario_note=scenario_note,
        pauses={
            "disputes": [describe_dispute(d) for d in disputes],
            "promises": [describe_promise(p) for p in promises],
            "holds": [describe_hold(h, as_of) for h in holds],
            "plans": [describe_plan(p) for p in plans],
        },
        timeline=_timeline(org, customer) if with_timeline else [],
        open_count=summary.count,
        overdue=summary.overdue,
        offset=offset if limit is not None else 0,
        next_offset=offset + len(invoices) if more else None,
        penalties_scope="customer" if limit is None else "shown",
    )


@dataclass(frozen=True)
class _OpenSummary:
    count: int
    totals: dict[str, Decimal]  # balance per currency
    overdue: dict[str, Decimal]  # balance of the items due before the day, per currency
    largest: Decimal | None  # the largest balance, in any currency
    largest_currency: str = ""  # its currency


CENT = Decimal("0.01")


def _open_summary(open_invoices: Any, as_of: dt.date) -> _OpenSummary:
    """Counts and sums over every open item, in one query."""
    rows = (
        open_invoices.order_by()
        .values("currency")
        .annotate(
            n=Count("pk"), total=Sum("balance"), largest=Max("balance"),
            late=Sum("balance", filter=Q(due_date__lt=as_of)),
        )
        .order_by("currency")
    )  # fmt: skip
    count, totals, overdue, largest, largest_currency = 0, {}, {}, None, ""
    for row in rows:
        count += row["n"]
        totals[row["currency"]] = Decimal(row["total"]).quantize(CENT)
        if row["late"] is not None:
            overdue[row["currency"]] = Decimal(row["late"]).quantize(CENT)
        top = Decimal(row["largest"])
        if largest is None or top > largest:
            largest, largest_currency = top, row["currency"]
    return _OpenSummary(count, totals, overdue, largest, largest_currency)


# Per late invoice, per currency, why there are none (and the rate missing, if that is why).
_Penalties = tuple[dict[int, PenaltySummary], dict[str, dict[str, Any]], str, MissingRate | None]


def _penalties_of_items(
    org: Organisation, invoices: list[Invoice], as_of: dt.date, say: Say
) -> _Penalties:
    """``_penalties`` on these open items alone (those late on ``as_of``), with the same
    service and rules: a few queries, whatever the number of items."""
    due = [i for i in invoices if i.issue_date <= as_of and i.due_date < as_of and i.balance > 0]
    try:
        found = penalties_of(org, due, as_of) if due else {}
    except RateUnknown as exc:
        return {}, {}, say(*exc.sentence), exc.missing
    except NoLaw as exc:
        return {}, {}, say(*exc.sentence), None
    late = [found[i.pk] for i in due if found[i.pk].is_late]
    by_invoice = {
        i.pk: PenaltySummary(p.interest, p.indemnity, p.total, p.days_late)
        for i in due
        if (p := found[i.pk]).is_late
    }
    totals = {
        currency: {"invoices": t.invoices, "interest": t.interest, "indemnity": t.indemnity,
                   "total": t.total}
        for currency, t in sum_penalties(late).items()
    }  # fmt: skip
    return by_invoice, totals, "", None


def _timeline(org: Organisation, customer: Customer) -> list[dict[str, Any]]:
    """Every event of the customer, oldest first."""
    rows = (
        TimelineEvent.objects.filter(organisation=org, customer=customer)
        .order_by("at", "id")
        .values_list("at", "kind", "summary", "invoice__number", "data")
    )
    return [
        {"at": at, "kind": kind, "summary": summary, "invoice": number, "data": data}
        for at, kind, summary, number, data in rows
    ]


def _penalties(customer: Customer, as_of: dt.date, say: Say) -> _Penalties:
    """Per late invoice and per currency, from the penalty service; or why there are none."""
    try:
        result = customer_penalties(customer, as_of)
    except RateUnknown as exc:
        return {}, {}, say(*exc.sentence), exc.missing
    except NoLaw as exc:
        return {}, {}, say(*exc.sentence), None
    by_invoice = {
        late.invoice_id: PenaltySummary(
            late.penalty.interest, late.penalty.indemnity, late.penalty.total,
            late.penalty.days_late,
        )
        for late in result.invoices
    }  # fmt: skip
    totals = {
        currency: {"invoices": t.invoices, "interest": t.interest, "indemnity": t.indemnity,
                   "total": t.total}
        for currency, t in result.totals.items()
    }  # fmt: skip
    return by_invoice, totals, "", None


def _naming(say: Say) -> Say:
    """``say`` naming a shipped rule (in why a customer follows a scenario) in the reader's
    language."""

    def said(message: str, values: Mapping[str, Any]) -> str:
        if "name" in values:
            values = {**values, "name": name_for_reader(values["name"])}
        return say(message, values)

    return said


def _scenario(
    org: Organisation,
    customer: Customer,
    largest: Decimal | None,
    currency: str,
    as_of: dt.date,
    say: Say,
) -> tuple[tuple[policy.ScenarioSpec, ScenarioView] | None, str]:
    try:
        rules, default, explicit = load_rules(org)
    except NoDefaultScenario as exc:
        return None, run_errors.shown(str(exc))
    facts = CustomerFacts(customer.risk_class, customer.customer_since, largest, as_of, currency)
    choice = choose_scenario(facts, rules, default, explicit.get(customer.pk), _naming(say))
    scenario = Scenario.objects.prefetch_related("steps").get(
        organisation=org, pk=choice.scenario_id
    )
    steps = sorted(scenario.steps.all(), key=lambda s: s.position)
    spec = policy.ScenarioSpec(
        scenario.pk, scenario.slug,
        tuple(
            policy.StepSpec(
                position=s.position, name=s.name, offset=s.offset, min_gap=s.min_gap,
                channel=s.channel, template=s.template, mode=s.mode, min_amount=s.min_amount,
                step_id=s.pk,
            )
            for s in steps
        ),
        scenario.thank_on_payment, scenario.thank_template,
    )  # fmt: skip
    view = ScenarioView(
        slug=scenario.slug, name=scenario.name, reason=choice.reason,
        steps=[{"position": s.position, "name": s.name, "offset": s.offset,
                "min_gap": s.min_gap, "channel": s.channel, "mode": s.mode,
                "template": s.template} for s in steps],
    )  # fmt: skip
    return (spec, view), ""


def _hold(holds: list[Hold], as_of: dt.date) -> str | None:
    """The hold the run applies: the strongest kind in force."""
    kinds = [h.kind for h in holds if policy.hold_active(h.start_date, h.end_date, as_of)]
    return min(kinds, key=lambda kind: HOLD_PRIORITY[kind]) if kinds else None


@dataclass
class _PauseFacts:
    """The pauses of a customer's items as the run reads them: open disputes, active
    plans, every open promise (by invoice; None for the customer's) and when promises
    last broke."""

    disputed: set[int]
    unapproved: dict[int, Decimal]  # the part not approved, of partly approved invoices
    in_plan: set[int]
    promised: dict[int | None, list[tuple[dt.date, int, int]]]
    broken: dict[int | None, dt.date]

    @classmethod
    def of(
        cls, disputes: list[Dispute], promises: list[Promise], plans: list[PaymentPlan]
    ) -> _PauseFacts:
        promised: dict[int | None, list[tuple[dt.date, int, int]]] = defaultdict(list)
        broken: dict[int | None, dt.date] = {}
        for p in promises:
            if p.status == Promise.Status.OPEN:
                promised[p.invoice_id].append((p.promised_on, p.grace_days, p.pk))
            elif p.status == Promise.Status.BROKEN and p.broken_on:
                broken[p.invoice_id] = max(broken.get(p.invoice_id, p.broken_on), p.broken_on)
        open_ = owed.split(
            (d.invoice_id, d.reason, d.amount) for d in disputes if d.resolved_on is None
        )
        return cls(
            disputed=open_.suspending,
            unapproved=open_.unapproved,
            in_plan={
                i.pk for plan in plans if plan.status == PaymentPlan.Status.ACTIVE
                for i in plan.invoices.all()
            },
            promised=promised,
            broken=broken,
        )  # fmt: skip

    def item(
        self, invoice: Invoice, level: int, level_date: dt.date | None, min_balance: Decimal
    ) -> policy.Item:
        plain = policy.Item(
            invoice.pk, invoice.number, invoice.due_date, invoice.balance, invoice.currency,
            level, level_date,
        )  # fmt: skip
        return policy.with_pauses(
            plain,
            disputed=invoice.pk in self.disputed,
            in_plan=invoice.pk in self.in_plan,
            promises=self.promised.get(invoice.pk, []) + self.promised.get(None, []),
            broken=(self.broken.get(invoice.pk), self.broken.get(None)),
            unapproved=self.unapproved.get(invoice.pk),
            min_balance=min_balance,
        )


class _BusinessDays:
    """The first business day on or after a day, in the organisation's country."""

    def __init__(self, org: Organisation) -> None:
        self.org = org
        self.known: dict[dt.date, bool] = {}

    def on_or_after(self, day: dt.date) -> dt.date:
        for _ in range(MAX_CLOSED_DAYS):
            if day not in self.known:
                self.known[day] = calendar_for(self.org, day).business_day
            if self.known[day]:
                return day
            day += dt.timedelta(days=1)
        return day


def _next_view(nxt: policy.NextStep, business_days: _BusinessDays) -> NextStepView:
    step = nxt.step
    assert step is not None
    return NextStepView(
        position=step.position, name=step.name, channel=step.channel, template=step.template,
        mode=step.mode, on=business_days.on_or_after(nxt.on) if nxt.on else None,
        waiting_for=nxt.waiting_for,
    )  # fmt: skip


def _identity(c: Customer) -> dict[str, Any]:
    return {
        "id": c.pk, "reference": c.reference, "legal_name": c.legal_name,
        "trade_name": c.trade_name, "siren": c.siren, "siret": c.siret,
        "vat_number": c.vat_number, "email": c.email, "phone": c.phone,
        "language": c.language, "country": c.country, "currency": c.currency,
        "payment_terms_days": c.payment_terms_days, "credit_limit": c.credit_limit,
        "risk_class": c.risk_class, "customer_since": c.customer_since, "notes": c.notes,
    }  # fmt: skip


def _address(a: Any) -> dict[str, Any]:
    return {"kind": a.kind, "line1": a.line1, "line2": a.line2, "postcode": a.postcode,
            "city": a.city, "country": a.country, "valid": a.valid}  # fmt: skip


def _contact(c: Any) -> dict[str, Any]:
    return {
        "name": c.name, "role": c.role, "email": c.email, "phone": c.phone,
        "preferred_channel": c.preferred_channel, "dunning_contact": c.is_primary,
        "email_valid": c.email_valid, "phone_valid": c.phone_valid,
    }  # fmt: skip


def describe_dispute(d: Dispute) -> dict[str, Any]:
    return {
        "id": d.pk, "invoice": d.invoice.number, "reason": d.reason, "amount": d.amount,
        "note": d.note, "opened_on": d.opened_on, "resolved_on": d.resolved_on,
        "resolution": d.resolution, "open": d.resolved_on is None, "source": d.source,
        "outcome": d.outcome or None, "group": d.group or None,
        "assignee": d.assignee.email if d.assignee_id and d.assignee else None,
    }  # fmt: skip


def describe_promise(p: Promise) -> dict[str, Any]:
    return {
        "id": p.pk, "invoice": p.invoice.number if p.invoice else None,
        "promised_on": p.promised_on, "grace_days": p.grace_days, "amount": p.amount,
        "status": p.status, "broken_on": p.broken_on, "note": p.note,
    }  # fmt: skip


def describe_hold(h: Hold, as_of: dt.date) -> dict[str, Any]:
    in_force = policy.hold_active(h.start_date, h.end_date, as_of)
    return {
        "id": h.pk, "kind": h.kind, "from": h.start_date, "until": h.end_date,
        "published_on": h.published_on, "reason": h.reason, "in_force": in_force,
    }  # fmt: skip


def describe_plan(p: PaymentPlan) -> dict[str, Any]:
    return {
        "id": p.pk, "status": p.status, "agreed_on": p.agreed_on, "note": p.note,
        "confirmation": p.confirmation_id, "confirmed_at": p.confirmed_at,
        "invoices": sorted(i.number for i in p.invoices.all()),
        "instalments": [
            {"due_date": i.due_date, "amount": i.amount, "paid_on": i.paid_on,
             "reminded_on": i.reminded_on}
            for i in p.instalments.all()
        ],
    }  # fmt: skip


# -- the timeline, a page at a time ---------------------------------------------------------

TIMELINE_PAGE = 30
# At one instant, events come after payments (a payment counts from the start of its day).
_PAYMENT, _EVENT = 0, 1


@dataclass(frozen=True)
class Entry:
    """One line of the timeline: an event, or a payment or credit received."""

    at: dt.datetime
    kind: str  # the event's; "payment" for money and credits received
    summary: str
    invoice: str | None
    data: dict[str, Any]
    actor: str | None
    # The message an event is about: channel, status, recipient, subject and, once sent,
    # exactly what was sent (``text``, ``html``); None for other events.
    communication: dict[str, Any] | None = None
    key: str = ""  # where the next page starts, when this is the last line shown


@dataclass(frozen=True)
class TimelinePage:
    entries: list[Entry]
    older: str | None  # the key of the next (older) page, None at the beginning


def _key(at: dt.datetime, source: int, pk: int) -> str:
    return f"{at.isoformat()}_{source}_{pk}"


def _parse_key(key: str | None) -> tuple[dt.datetime, int, int] | None:
    try:
        when, source, pk = (key or "").rsplit("_", 2)
        at = dt.datetime.fromisoformat(when)
        return (at, int(source), int(pk)) if at.tzinfo else None
    except ValueError:
        return None


def timeline_page(
    org: Organisation, customer: Customer, *, older_than: str | None = None,
    size: int = TIMELINE_PAGE,
) -> TimelinePage:  # fmt: skip
    """The customer's history newest first, ``size`` lines from ``older_than`` (a key a
    previous page gave; None: the newest): its timeline events, with the content of the
    messages they are about, and the payments and credits received. Three queries for any
    page, keyset-paged on the (customer, at) index."""
    from django.db.models import Q

    from relance.dunning.models import Communication
    from relance.ledger.models import Payment

    zone = _zone(org)
    cursor = _parse_key(older_than)
    events = TimelineEvent.objects.filter(organisation=org, customer=customer)
    payments = Payment.objects.filter(organisation=org, customer=customer)
    if cursor is not None:
        at, source, pk = cursor
        events = events.filter(
            Q(at__lt=at) | Q(at=at, id__lt=pk) if source == _EVENT else Q(at__lt=at)
        )
        day = at.astimezone(zone).date()
        starts_then = _day_start(day, zone) == at
        payments = payments.filter(
            Q(date__lt=day) | Q(date=day, pk__lt=pk if source == _PAYMENT else 2**62)
            if starts_then
            else Q(date__lte=day)
        )
    rows = list(
        events.order_by("-at", "-id").values_list(
            "id", "at", "kind", "summary", "invoice__number", "data", "actor__username"
        )[: size + 1]
    )
    money = list(
        payments.order_by("-date", "-id").values_list(
            "id", "date", "kind", "reference", "amount", "currency", "method", "memo"
        )[: size + 1]
    )
    merged: list[tuple[tuple[dt.datetime, int, int], Any]] = [
        ((row[1], _EVENT, row[0]), row) for row in rows
    ] + [((_day_start(row[1], zone), _PAYMENT, row[0]), row) for row in money]
    merged.sort(key=lambda pair: pair[0], reverse=True)
    shown = merged[:size]
    wanted = {
        int(row[5]["communication"])
        for (_, source, _), row in shown
        if source == _EVENT and isinstance(row[5], dict)
        and str(row[5].get("communication", "")).isdigit()
    }  # fmt: skip
    messages = {
        c["id"]: c
        for c in Communication.objects.filter(customer=customer, pk__in=wanted).values(
            "id", "channel", "status", "recipient", "subject", "sent_text", "sent_html",
            "edited_subject", "sent_at",
        )
    }  # fmt: skip
    entries = []
    for (at, source, pk), row in shown:
        if source == _EVENT:
            _, _, kind, summary, number, data, actor = row
            data = data if isinstance(data, dict) else {}
            comm = messages.get(int(data.get("communication", 0) or 0)) if data else None
            entry = Entry(at, kind, summary, number, data, actor, _message(comm),
                          _key(at, source, pk))  # fmt: skip
            entries.append(entry)
        else:
            _, day, kind, reference, amount, currency, method, memo = row
            details = {"payment_kind": kind, "reference": reference, "amount": amount,
                       "currency": currency, "method": method, "memo": memo}  # fmt: skip
            entries.append(
                Entry(at, "payment", reference, None, details, None, None, _key(at, source, pk))
            )
    older = entries[-1].key if len(merged) > size and entries else None
    return TimelinePage(entries, older)


def _message(comm: Any) -> dict[str, Any] | None:
    if comm is None:
        return None
    return {
        "id": comm["id"], "channel": comm["channel"], "status": comm["status"],
        "recipient": comm["recipient"],
        "subject": comm["subject"] or comm["edited_subject"],
        "text": comm["sent_text"], "html": comm["sent_html"], "sent_at": comm["sent_at"],
    }  # fmt: skip


def _zone(org: Organisation) -> dt.tzinfo:
    from zoneinfo import ZoneInfo

    try:
        return ZoneInfo(org.timezone)
    except (ValueError, LookupError):
        return dt.UTC


def _day_start(day: dt.date, zone: dt.tzinfo) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=zone)
