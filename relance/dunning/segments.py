"""Which scenario a customer follows: an explicit choice, else the first segment rule that
matches, else the organisation's default scenario (see docs/scenarios.md).

``choose_scenario`` is pure (plain values in, plain values out) so that the dunning engine
can call it for a million customers after ``load_rules`` has read the rules once.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import NamedTuple

from django.db.models import Count, Max
from django.utils.translation import gettext_noop

from relance.accounts.models import Organisation
from relance.dunning.models import CustomerScenario, Scenario, SegmentRule
from relance.ledger.models import Customer, Invoice
from relance.lib.sentences import NO_VALUES, Money, Say, written


class NoDefaultScenario(LookupError):
    """The organisation has no default scenario: nothing to fall back on."""


NO_DEFAULT = gettext_noop(
    "organisation %(organisation)s has no default scenario: run `relance scenario"
    " install-defaults` or import a scenario file"
)

# Why a customer follows a scenario: written in English in the run's explanation, shown in
# the reader's language on the customer's page (``choose_scenario``'s ``say``).
EXPLICIT = gettext_noop("explicit choice for this customer")
NO_RULE = gettext_noop("no rule matched: default scenario")
BY_RULE = gettext_noop("rule %(position)s “%(name)s”: %(conditions)s")
NO_CONDITION = gettext_noop("no condition")
RISK_CLASS = gettext_noop("risk class %(risk_class)s")
RISK_CLASSES = {  # the known classes in a sentence each: their name translated with it
    "low": gettext_noop("risk class low"),
    "medium": gettext_noop("risk class medium"),
    "high": gettext_noop("risk class high"),
}
OPEN_ITEM = gettext_noop("an open item of %(largest)s >= %(minimum)s")
YEARS = gettext_noop("customer for %(years)s years")


@dataclass(frozen=True)
class Rule:
    position: int
    name: str
    scenario_id: int
    risk_class: str = ""  # "" matches any risk class
    # Conditions left as None match every customer.
    min_invoice_amount: Decimal | None = None
    min_years: int | None = None  # customer for at least so many whole years
    max_years: int | None = None  # customer for less than so many whole years
    currency: str = ""  # the threshold's: the organisation's


@dataclass(frozen=True)
class CustomerFacts:
    risk_class: str
    customer_since: dt.date | None
    # The largest open balance among the customer's items (None: nothing open).
    largest_open_amount: Decimal | None
    as_of: dt.date
    largest_open_currency: str = ""  # that item's, when known (said with its amount)


class Choice(NamedTuple):
    scenario_id: int
    reason: str


def seniority(since: dt.date, as_of: dt.date) -> int:
    """Whole years from ``since`` to ``as_of``; a date in the future counts as 0."""
    years = as_of.year - since.year - ((as_of.month, as_of.day) < (since.month, since.day))
    return max(years, 0)


def rule_match(rule: Rule, facts: CustomerFacts, say: Say = written) -> list[str] | None:
    """What made the rule match (one phrase per condition), or None if it does not.

    A condition that cannot be checked (no ``customer_since``, nothing open) does not
    match: a rule for long-standing customers must not catch unknown ones.
    """
    why: list[str] = []
    if rule.risk_class:
        if facts.risk_class != rule.risk_class:
            return None
        risk = RISK_CLASSES.get(rule.risk_class, RISK_CLASS)
        why.append(say(risk, {"risk_class": rule.risk_class}))
    if rule.min_invoice_amount is not None:
        largest = facts.largest_open_amount
        if largest is None or largest < rule.min_invoice_amount:
            return None
        values = {
            "largest": Money(largest, facts.largest_open_currency),
            "minimum": Money(rule.min_invoice_amount, rule.currency),
        }
        why.append(say(OPEN_ITEM, values))
    if rule.min_years is not None or rule.max_years is not None:
        if facts.customer_since is None:
            return None
        years = seniority(facts.customer_since, facts.as_of)
        if rule.min_years is not None and years < rule.min_years:
            return None
        if rule.max_years is not None and years >= rule.max_years:
            return None
        why.append(say(YEARS, {"years": years}))
    return why


def choose_scenario(
    facts: CustomerFacts,
    rules: Sequence[Rule],
    default_scenario_id: int,
    explicit_scenario_id: int | None = None,
    say: Say = written,
) -> Choice:
    """The scenario of one customer and why (``say`` writes the why: in English for the
    record, ``sentences.shown`` for a page). Rules are tried by position, whatever the order
    of ``rules``; the first that matches wins."""
    if explicit_scenario_id is not None:
        return Choice(explicit_scenario_id, say(EXPLICIT, NO_VALUES))
    for rule in sorted(rules, key=lambda r: r.position):
        why = rule_match(rule, facts, say)
        if why is not None:
            conditions = ", ".join(why) or say(NO_CONDITION, NO_VALUES)
            values = {"position": rule.position, "name": rule.name, "conditions": conditions}
            return Choice(rule.scenario_id, say(BY_RULE, values))
    return Choice(default_scenario_id, say(NO_RULE, NO_VALUES))


def load_rules(organisation: Organisation) -> tuple[list[Rule], int, dict[int, int]]:
    """The organisation's rules in order, its default scenario and the explicit choices
    (customer id -> scenario id), in three queries."""
    rules = [
        Rule(
            position=row.position,
            name=row.name,
            scenario_id=row.scenario_id,
            risk_class=row.risk_class,
            min_invoice_amount=row.min_invoice_amount,
            min_years=row.min_years,
            max_years=row.max_years,
            currency=organisation.currency,
        )
        for row in SegmentRule.objects.filter(organisation=organisation).order_by("position")
    ]
    # Import keeps exactly one default; should an edit leave two, the choice stays stable.
    default_id = (
        Scenario.objects.filter(organisation=organisation, is_default=True)
        .order_by("slug")
        .values_list("id", flat=True)
        .first()
    )
    if default_id is None:
        raise NoDefaultScenario(NO_DEFAULT % {"organisation": repr(organisation.slug)})
    explicit = dict(
        CustomerScenario.objects.filter(organisation=organisation).values_list(
            "customer_id", "scenario_id"
        )
    )
    return rules, default_id, explicit


# -- many customers at once ---------------------------------------------------------------
# The console counts the customers each scenario gets under rules being edited, and checks
# which customers follow a scenario before its steps change: ``choose_scenario`` asked once
# per distinct set of facts rather than once per customer.

_CHUNK = 5000  # ids per IN (...): SQLite's limit on parameters


def largest_open(
    organisation: Organisation, rules: Sequence[Rule], customer_ids: Sequence[int] | None = None
) -> dict[int, Decimal]:
    """The largest open balance of the customers having one at least as large as the
    smallest threshold of the rules (the others match no such rule): the run's reading."""
    thresholds = [r.min_invoice_amount for r in rules if r.min_invoice_amount is not None]
    if not thresholds:
        return {}
    rows = Invoice.objects.filter(
        organisation=organisation, balance__gt=organisation.min_balance,
        balance__gte=min(thresholds),
    )  # fmt: skip
    found: dict[int, Decimal] = {}
    for chunk in _chunks(customer_ids):
        part = rows if chunk is None else rows.filter(customer_id__in=chunk)
        found.update(
            part.values("customer_id").annotate(largest=Max("balance"))
            .values_list("customer_id", "largest")
        )  # fmt: skip
    return found


def _chunks(ids: Sequence[int] | None) -> list[Sequence[int] | None]:
    if ids is None:
        return [None]
    return [ids[n : n + _CHUNK] for n in range(0, len(ids), _CHUNK)]


def scenarios_of(
    organisation: Organisation, as_of: dt.date, customer_ids: Sequence[int]
) -> dict[int, int]:
    """customer id -> the scenario they follow on ``as_of``, for these customers, under
    the stored rules (as the run chooses)."""
    rules, default_id, explicit = load_rules(organisation)
    largest = largest_open(organisation, rules, customer_ids)
    chosen: dict[int, int] = {}
    for chunk in _chunks(list(customer_ids)):
        for pk, risk, since in Customer.objects.filter(
            organisation=organisation, pk__in=chunk or []
        ).values_list("pk", "risk_class", "customer_since"):
            facts = CustomerFacts(risk, since, largest.get(pk), as_of)
            chosen[pk] = choose_scenario(facts, rules, default_id, explicit.get(pk)).scenario_id
    return chosen


def counts(
    organisation: Organisation, as_of: dt.date, rules: Sequence[Rule], default_id: int
) -> Counter[int]:
    """How many of the organisation's customers each scenario gets under ``rules`` (the
    stored ones or those being edited): explicit choices stand; the others are grouped by
    the facts the rules read (risk class, customer since) in one query, and the few with a
    large open item (when a rule reads it) are chosen one by one."""
    explicit = dict(
        CustomerScenario.objects.filter(organisation=organisation).values_list(
            "customer_id", "scenario_id"
        )
    )
    largest = largest_open(organisation, rules)
    groups: Counter[tuple[str, dt.date | None]] = Counter()
    for risk, since, n in (
        Customer.objects.filter(organisation=organisation)
        .values("risk_class", "customer_since")
        .annotate(n=Count("id"))
        .values_list("risk_class", "customer_since", "n")
    ):
        groups[(risk, since)] += n
    result: Counter[int] = Counter()
    one_by_one = sorted(set(explicit) | set(largest))
    for chunk in _chunks(one_by_one):
        for pk, risk, since in Customer.objects.filter(
            organisation=organisation, pk__in=chunk or []
        ).values_list("pk", "risk_class", "customer_since"):
            groups[(risk, since)] -= 1
            facts = CustomerFacts(risk, since, largest.get(pk), as_of)
            result[choose_scenario(facts, rules, default_id, explicit.get(pk)).scenario_id] += 1
    for (risk, since), n in groups.items():
        if n > 0:
            facts = CustomerFacts(risk, since, None, as_of)
            result[choose_scenario(facts, rules, default_id).scenario_id] += n
    return result
