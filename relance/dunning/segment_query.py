"""Which customers follow a scenario, as one condition on ``Customer`` the database
evaluates for all of them at once: ``choose_scenario`` (segments.py) translated to SQL, so
that a list of 100,000 customers filters by scenario without choosing one customer at a time.

The two must agree: tests compare them customer by customer. The translation of "the first
matching rule wins" is: the customer has the explicit choice S; or it has no explicit choice
and a rule for S matches while no earlier rule does; or no rule matches and S is the
default.
"""

from __future__ import annotations

import datetime as dt

from django.db.models import Exists, OuterRef, Q

from relance.accounts.models import Organisation
from relance.dunning.models import CustomerScenario, Scenario
from relance.dunning.segments import NoDefaultScenario, Rule, load_rules
from relance.ledger.models import Invoice

NOTHING = Q(pk__in=[])
# Not ``Q()``: an empty Q vanishes when combined with ``|``.
EVERYTHING = Q(pk__isnull=False)


def years_before(day: dt.date, years: int) -> dt.date:
    """The same day ``years`` earlier (29 February, in a year without one: the 28th), the
    latest ``since`` for which ``segments.seniority(since, day) >= years``."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def rule_condition(
    rule: Rule, organisation: Organisation, as_of: dt.date, path: str = ""
) -> Q | None:
    """``segments.rule_match`` as a condition; None when the rule matches everyone. On a
    model related to Customer, ``path`` leads to it (``"customer__"``)."""
    parts: list[Q] = []
    if rule.risk_class:
        parts.append(Q(**{f"{path}risk_class": rule.risk_class}))
    if rule.min_invoice_amount is not None:
        large = Invoice.objects.filter(
            customer_id=OuterRef(_key(path)),
            balance__gt=organisation.min_balance,
            balance__gte=rule.min_invoice_amount,
        )
        parts.append(Q(Exists(large)))
    if rule.min_years is not None or rule.max_years is not None:
        if rule.max_years == 0:
            return NOTHING  # fewer than zero whole years: never
        since = f"{path}customer_since"
        parts.append(Q(**{f"{since}__isnull": False}))
        if rule.min_years:
            parts.append(Q(**{f"{since}__lte": years_before(as_of, rule.min_years)}))
        if rule.max_years is not None:
            parts.append(Q(**{f"{since}__gt": years_before(as_of, rule.max_years)}))
    if not parts:
        return None
    condition = parts[0]
    for part in parts[1:]:
        condition &= part
    return condition


def _key(path: str) -> str:
    """The customer's id seen from the model ``path`` starts at."""
    return "customer_id" if path == "customer__" else f"{path}pk"


def following(organisation: Organisation, scenario_id: int, as_of: dt.date, path: str = "") -> Q:
    """The customers of ``organisation`` that follow scenario ``scenario_id`` on ``as_of``
    (through ``path`` from a related model). An organisation without a default scenario:
    those explicitly given it."""
    chosen = CustomerScenario.objects.filter(customer_id=OuterRef(_key(path)))
    explicit = Q(Exists(chosen.filter(scenario_id=scenario_id)))
    try:
        rules, default_id, _explicit = load_rules(organisation)
    except NoDefaultScenario:
        return explicit
    by_rules = NOTHING
    none_before: Q | None = None  # no earlier rule matched; None: nothing to exclude
    reachable = True
    for rule in sorted(rules, key=lambda r: r.position):
        condition = rule_condition(rule, organisation, as_of, path)
        if rule.scenario_id == scenario_id:
            here = EVERYTHING if condition is None else condition
            if none_before is not None:
                here &= none_before
            by_rules |= here
        if condition is None:  # matches everyone: later rules and the default never apply
            reachable = False
            break
        none_before = ~condition if none_before is None else none_before & ~condition
    if reachable and default_id == scenario_id:
        by_rules |= EVERYTHING if none_before is None else none_before
    return explicit | (~Q(Exists(chosen)) & by_rules)


def scenario_by_slug(organisation: Organisation, slug: str) -> Scenario | None:
    return Scenario.objects.filter(organisation=organisation, slug=slug).first()
