"""What a run reads: the context the policy needs (scenarios, rules, pauses, contacts, items
to thank), loaded once per run, and the open items that may move today, streamed by
customer so that memory stays bounded by a chunk.

Only the items that may move today are read: the query leaves out, per level, the items
whose next step cannot be due yet under any scenario. The bounds are the policy's own
(``policy.latest_due_date`` and ``policy.latest_step_date``); the policy still decides for
every item read.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import Exists, Max, OuterRef

from relance.accounts.models import Organisation
from relance.dunning import owed, policy
from relance.dunning.models import (
    CommPurpose,
    CommStatus,
    Communication,
    CommunicationItem,
    ItemState,
    PaymentPlan,
    Promise,
    Scenario,
)
from relance.dunning.segments import CustomerFacts, NoDefaultScenario, choose_scenario, load_rules
from relance.ledger.models import Customer, Dispute, Hold, HoldKind, Invoice

HOLD_PRIORITY: dict[str, int] = {
    HoldKind.INSOLVENCY: 0, HoldKind.NEGOTIATION: 1, HoldKind.MANUAL: 2, HoldKind.REPLY: 3,
    HoldKind.UNAPPLIED: 4,
}  # fmt: skip
PromiseRow = tuple[dt.date, int, int]  # promised_on, grace days, id


class NothingToRun(Exception):
    """The organisation cannot be run (no scenario, no default scenario)."""


@dataclass
class Context:
    """What the policy needs besides the items, loaded once per run."""

    organisation: Organisation
    scenarios: dict[int, policy.ScenarioSpec]
    rules: Any
    default_scenario: int
    explicit: dict[int, int]
    customers: dict[int, tuple[str, dt.date | None, str]]  # risk class, since, language
    disputed: set[int]
    # The part not approved of the invoices the buyer approved in part (owed.open_disputes).
    unapproved: dict[int, Decimal]
    in_plan: set[int]
    # Every open promise, on an invoice or on a whole customer.
    promises_by_invoice: dict[int, list[PromiseRow]]
    promises_by_customer: dict[int, list[PromiseRow]]
    broken_by_invoice: dict[int, dt.date]
    broken_by_customer: dict[int, dt.date]
    holds: dict[int, str]
    last_contact: dict[int, dict[str, dt.date]]
    settled: dict[int, list[policy.Settled]]
    # Largest open balance per customer, for the rules on invoice size: only customers with
    # an item at least as large as the smallest threshold (smaller ones match no such rule).
    largest: dict[int, Decimal]
    # Items and customers concerned by a pause or a promise: their items are built in full.
    special_invoices: set[int]
    special_customers: set[int]

    @classmethod
    def load(cls, org: Organisation, day: dt.date) -> Context:
        scenarios = _scenarios(org)
        if not scenarios:
            raise NothingToRun(
                f"organisation {org.slug!r} has no dunning scenario: "
                "install the defaults or import some with `relance scenario import`"
            )
        try:
            rules, default, explicit = load_rules(org)
        except NoDefaultScenario as exc:
            raise NothingToRun(str(exc)) from None
        promises, promises_c, broken, broken_c = _promises(org)
        disputed, unapproved = owed.open_disputes(Dispute.objects.filter(organisation=org))
        in_plan = set(
            PaymentPlan.invoices.through.objects.filter(
                paymentplan__organisation=org, paymentplan__status=PaymentPlan.Status.ACTIVE
            ).values_list("invoice_id", flat=True)
        )
        return cls(
            organisation=org,
            scenarios=scenarios,
            rules=rules,
            default_scenario=default,
            explicit=explicit,
            customers={
                pk: (risk, since, language)
                for pk, risk, since, language in Customer.objects.filter(
                    organisation=org
                ).values_list("pk", "risk_class", "customer_since", "language")
            },
            disputed=disputed,
            unapproved=unapproved,
            in_plan=in_plan,
            promises_by_invoice=promises,
            promises_by_customer=promises_c,
            broken_by_invoice=broken,
            broken_by_customer=broken_c,
            holds=_holds(org, day),
            last_contact=_last_contacts(org, day),
            settled=_settled(org),
            largest=_largest(org, rules),
            special_invoices=disputed | set(unapproved) | in_plan | set(promises) | set(broken),
            special_customers=set(promises_c) | set(broken_c),
        )


def _scenarios(org: Organisation) -> dict[int, policy.ScenarioSpec]:
    scenarios: dict[int, policy.ScenarioSpec] = {}
    for scenario in Scenario.objects.filter(organisation=org).prefetch_related("steps"):
        steps = tuple(
            policy.StepSpec(
                position=s.position, name=s.name, offset=s.offset, min_gap=s.min_gap,
                channel=s.channel, template=s.template, mode=s.mode, min_amount=s.min_amount,
                step_id=s.pk, max_amount=s.max_amount,
            )
            for s in sorted(scenario.steps.all(), key=lambda s: s.position)
        )  # fmt: skip
        scenarios[scenario.pk] = policy.ScenarioSpec(
            scenario.pk, scenario.slug, steps, scenario.thank_on_payment, scenario.thank_template
        )
    return scenarios


def _promises(
    org: Organisation,
) -> tuple[
    dict[int, list[PromiseRow]], dict[int, list[PromiseRow]], dict[int, dt.date], dict[int, dt.date]
]:
    """Every open promise per invoice and per customer, and when promises last broke."""
    by_invoice: dict[int, list[PromiseRow]] = defaultdict(list)
    by_customer: dict[int, list[PromiseRow]] = defaultdict(list)
    broken_i: dict[int, dt.date] = {}
    broken_c: dict[int, dt.date] = {}
    rows = Promise.objects.filter(
        organisation=org, status__in=[Promise.Status.OPEN, Promise.Status.BROKEN]
    ).values_list("pk", "customer_id", "invoice_id", "promised_on", "grace_days", "status",
                  "broken_on")  # fmt: skip
    for pk, customer, invoice, promised, grace, status, broken_on in sorted(rows):
        key = invoice or customer
        if status == Promise.Status.BROKEN:
            target = broken_i if invoice else broken_c
            if broken_on and (key not in target or target[key] < broken_on):
                target[key] = broken_on
            continue
        (by_invoice if invoice else by_customer)[key].append((promised, grace, pk))
    return dict(by_invoice), dict(by_customer), broken_i, broken_c


def _holds(org: Organisation, day: dt.date) -> dict[int, str]:
    rows = Hold.objects.filter(organisation=org, start_date__lte=day).values_list(
        "customer_id", "kind", "start_date", "end_date"
    )
    holds: dict[int, str] = {}
    for customer, kind, start, end in sorted(rows):
        if not policy.hold_active(start, end, day):
            continue
        if customer not in holds or HOLD_PRIORITY[kind] < HOLD_PRIORITY[holds[customer]]:
            holds[customer] = kind
    return holds


def _last_contacts(org: Organisation, day: dt.date) -> dict[int, dict[str, dt.date]]:
    """Latest reminder per customer and channel in the contact-gap window before D."""
    rows = (
        Communication.objects.filter(
            organisation=org, purpose=CommPurpose.REMINDER, pre_due=False,
            send_on__gt=day - dt.timedelta(days=org.contact_gap + 1), send_on__lt=day,
        )
        .exclude(status=CommStatus.CANCELLED)
        .values_list("customer_id", "channel", "send_on")
    )  # fmt: skip
    last: dict[int, dict[str, dt.date]] = defaultdict(dict)
    for customer, channel, send_on in rows:
        if send_on > last[customer].get(channel, dt.date.min):
            last[customer][channel] = send_on
    return last


def _settled(org: Organisation) -> dict[int, list[policy.Settled]]:
    """Items reminded at least once (a reminder about them sent or handed to a person,
    the item not dropped from it), paid since, not yet thanked. A level reached by passing
    over steps alone is not a reminder."""
    # Through the customer's communications: an item's reminders have no index of their own.
    reminded = CommunicationItem.objects.filter(
        invoice_id=OuterRef("invoice_id"),
        communication__customer_id=OuterRef("invoice__customer_id"),
        communication__purpose=CommPurpose.REMINDER,
        communication__status=CommStatus.SENT,
        dropped="",
    )
    rows = ItemState.objects.filter(
        Exists(reminded), invoice__organisation=org, thanked=False, level__gte=1,
        invoice__balance__lte=org.min_balance,
    ).values_list("invoice__customer_id", "invoice_id", "invoice__number", "level")  # fmt: skip
    settled: dict[int, list[policy.Settled]] = defaultdict(list)
    for customer, invoice, number, level in sorted(rows):
        settled[customer].append(policy.Settled(invoice, number, level))
    return settled


def _largest(org: Organisation, rules: list[Any]) -> dict[int, Decimal]:
    thresholds = [r.min_invoice_amount for r in rules if r.min_invoice_amount is not None]
    if not thresholds:
        return {}
    rows = (
        Invoice.objects.filter(
            organisation=org, balance__gt=org.min_balance, balance__gte=min(thresholds)
        )
        .values("customer_id")
        .annotate(largest=Max("balance"))
        .values_list("customer_id", "largest")
    )
    return dict(rows)


def cutoffs(
    scenarios: dict[int, policy.ScenarioSpec], day: dt.date
) -> tuple[dict[int, dt.date], dict[int, dt.date]]:
    """Per level, the latest due date and the latest date of the last step that let an item
    of that level move today under some scenario (a customer may change scenario), as the
    policy says. Levels with no step ahead in any scenario are absent: their items cannot
    move."""
    top = max((len(s.steps) for s in scenarios.values()), default=0)
    due: dict[int, dt.date] = {}
    last: dict[int, dt.date] = {}
    for level in range(top):
        dues = [policy.latest_due_date(s, level, day) for s in scenarios.values()]
        lasts = [policy.latest_step_date(s, level, day) for s in scenarios.values()]
        due[level] = max(d for d in dues if d is not None)
        last[level] = max(d for d in lasts if d is not None)
    return due, last


def _open_items_query(
    org: Organisation, day: dt.date, context: Context, share: tuple[int, int]
) -> tuple[str, list[Any]]:
    """The open items that may move today, ordered by customer. Customers with a promise
    (open or broken) are read in full: a promise breaking, or broken, changes what is due."""
    due, last = cutoffs(context.scenarios, day)
    sqlite = connection.vendor == "sqlite"
    # SQLite: read dates and amounts as text and convert them below; Django's converters
    # for declared types cost more than the query on a million rows.
    as_text = "CAST({} AS TEXT)" if sqlite else "{}"
    due_case = " ".join("WHEN %s THEN %s" for _ in due) or "WHEN -1 THEN NULL"
    last_case = " ".join("WHEN %s THEN %s" for _ in last) or "WHEN -1 THEN NULL"
    invoices, states = Invoice._meta.db_table, ItemState._meta.db_table
    promises = Promise._meta.db_table
    sql = (
        f"SELECT i.customer_id, i.id, i.number, {as_text.format('i.due_date')},"
        f" {as_text.format('i.balance')}, i.currency, COALESCE(s.level, 0),"
        f" {as_text.format('s.level_date')}"
        f" FROM {invoices} i LEFT JOIN {states} s ON s.invoice_id = i.id"
        " WHERE i.organisation_id = %s AND i.balance > %s AND ("
        f"  (i.due_date <= CASE COALESCE(s.level, 0) {due_case} END"
        f"   AND (s.level_date IS NULL OR s.level_date <= CASE s.level {last_case} END))"
        f"  OR i.customer_id IN (SELECT customer_id FROM {promises}"
        "   WHERE organisation_id = %s AND status IN (%s, %s)))"
        + (" AND i.customer_id %% %s = %s" if share[1] > 1 else "")
        + " ORDER BY i.customer_id, i.id"
    )
    params: list[Any] = [org.pk, org.min_balance]
    params += [value for pair in due.items() for value in pair]
    params += [value for pair in last.items() for value in pair]
    params += [org.pk, Promise.Status.OPEN.value, Promise.Status.BROKEN.value]
    if share[1] > 1:
        params += [share[1], share[0]]
    return sql, params


_new_item = functools.partial(tuple.__new__, policy.Item)
_CENT = Decimal("0.01")


def _open_items(
    org: Organisation, day: dt.date, context: Context, share: tuple[int, int], reader: Any
) -> Iterator[tuple[int, list[policy.Item]]]:
    """(customer id, items) for the items that may move today, streamed by customer. Items
    are built without their pauses, which ``case`` adds for the few concerned."""
    sql, params = _open_items_query(org, day, context, share)
    sqlite = connection.vendor == "sqlite"
    dates: dict[Any, dt.date | None] = {None: None}
    current: Any = None
    items: list[policy.Item] = []
    with reader.cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(20000):
            for customer, invoice, number, due, balance, currency, level, level_date in rows:
                if customer != current:
                    if items:
                        yield current, items
                    current, items = customer, []
                if sqlite:
                    due = dates.get(due) or dates.setdefault(due, dt.date.fromisoformat(due))
                    if level_date not in dates:
                        dates[level_date] = dt.date.fromisoformat(level_date)
                    level_date = dates[level_date]
                    balance = Decimal(balance).quantize(_CENT)
                items.append(
                    _new_item((invoice, number, due, balance, currency, level, level_date, False,
                               False, (), None, None))
                )  # fmt: skip
    if items:
        yield current, items


def chunks(
    context: Context, day: dt.date, size: int, share: tuple[int, int], reader: Any
) -> Iterator[list[policy.CustomerCase]]:
    """Customer cases, a chunk of customers at a time, built from the streamed items of the
    customers of ``share`` (k, n): those whose id is k modulo n."""
    chunk: list[policy.CustomerCase] = []
    seen: set[int] = set()
    for customer_id, items in _open_items(context.organisation, day, context, share, reader):
        chunk.append(case(context, customer_id, items, day))
        seen.add(customer_id)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    # Customers with nothing that may move but something to thank for.
    for customer_id in sorted(c for c in set(context.settled) - seen if c % share[1] == share[0]):
        chunk.append(case(context, customer_id, [], day))
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def case(
    context: Context, customer_id: int, items: list[policy.Item], day: dt.date
) -> policy.CustomerCase:
    risk, since, _ = context.customers[customer_id]
    scenario_id, reason = choose_scenario(
        CustomerFacts(risk, since, context.largest.get(customer_id), day),
        context.rules,
        context.default_scenario,
        context.explicit.get(customer_id),
    )
    special = context.special_invoices
    if customer_id in context.special_customers or (
        special and any(item.invoice_id in special for item in items)
    ):
        items = [_with_pauses(context, customer_id, item) for item in items]
    return policy.CustomerCase(
        customer_id=customer_id,
        scenario=context.scenarios[scenario_id],
        scenario_reason=reason,
        items=items,
        hold=context.holds.get(customer_id),
        last_contact=context.last_contact.get(customer_id, {}),
        settled=context.settled.get(customer_id, ()),
    )


def _with_pauses(context: Context, customer_id: int, item: policy.Item) -> policy.Item:
    invoice = item.invoice_id
    return policy.with_pauses(
        item,
        disputed=invoice in context.disputed,
        in_plan=invoice in context.in_plan,
        promises=context.promises_by_invoice.get(invoice, [])
        + context.promises_by_customer.get(customer_id, []),
        broken=(
            context.broken_by_invoice.get(invoice),
            context.broken_by_customer.get(customer_id),
        ),
        unapproved=context.unapproved.get(invoice),
        min_balance=context.organisation.min_balance,
    )
