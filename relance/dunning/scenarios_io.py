"""An organisation's scenarios and segment rules as one YAML document (docs/scenarios.md).

- ``export_yaml`` writes them; the output depends only on the data (scenarios by slug,
  steps and rules in order, fixed key order), so the file can live in version control.
- ``load_file``/``parse_document`` validate a document strictly and collect every problem,
  each naming the file, the scenario, the step or rule, and the field.
- ``import_document`` makes the database say what the file says, in one transaction: each
  scenario the file names is created or updated, its steps replaced as a whole; ``rules``,
  when present, replace all the rules; other scenarios stay unless ``prune``. Rows whose
  content does not change are not written, so step ids (kept by past communications)
  survive a re-import.

Amounts are read as ``Decimal``, never float: the loader turns YAML floats into decimals.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml
from django.db import transaction
from django.db.models import Count, Prefetch
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop, ngettext

from relance.accounts.models import Organisation
from relance.audit import trail
from relance.dunning import segments
from relance.dunning.models import (
    CustomerScenario,
    ItemState,
    Scenario,
    SegmentRule,
    Step,
    StepChannel,
    StepMode,
)
from relance.ledger.models import RiskClass
from relance.ledger.timeline import Text
from relance.lib import safe_yaml

FORMAT_VERSION = 1
TOP_KEYS = ("version", "scenarios", "rules")
SCENARIO_KEYS = (
    "slug", "name", "description", "default", "thank_on_payment", "thank_template", "steps",
)  # fmt: skip
STEP_KEYS = (
    "name", "offset", "min_gap", "channel", "template", "mode", "min_amount", "max_amount",
)  # fmt: skip
RULE_KEYS = ("name", "scenario", "risk_class", "min_invoice_amount", "min_years", "max_years")

SLUG = re.compile(r"[-a-zA-Z0-9_]+")  # Django's slug
NAME_LENGTH = 100
SLUG_LENGTH = 64
# Ten years either way: anything further is a typing mistake, not a dunning step.
OFFSET_RANGE = (-3660, 3660)
GAP_MAX = 3660
YEARS_MAX = 200
AMOUNT_MAX = Decimal("1e16")  # max_digits=18 with 2 decimal places
CENT = Decimal("0.01")

HEADER = f"""\
# Relance: dunning scenarios and segment rules. Format described in docs/scenarios.md.
#
# relance scenario import FILE [--org SLUG] [--dry-run] [--prune]
#   Each scenario named here is replaced by what this file says, its steps as a whole.
#   Scenarios not named are left alone (deleted with --prune). `rules` replaces all rules.
#
# version: {FORMAT_VERSION}
# scenarios:              listed by slug
#   slug                  identifier: letters, digits, - and _ (unique)
#   name, description     shown to people
#   default               true for exactly one scenario: customers no rule matches
#   thank_on_payment      thank the customer once when an item is paid
#   thank_template        template of that message
#   steps:                in order; an item's level is the position of its last step
#     name                shown to people
#     offset              earliest days overdue (negative: before the due date); never
#                         lower than the previous step's
#     min_gap             minimum days since the item's previous step (default 0)
#     channel             {", ".join(StepChannel.values)}
#     template            template of the message, call script or task
#     mode                auto, or approval (waits for a person's decision)
#     min_amount          optional: an item with a smaller balance passes over the step
#     max_amount          optional: an item with a larger balance passes over the step
# rules:                  tried in order, the first that matches wins; a condition left
#                         out matches everyone; no match: the default scenario
#   name
#   scenario              slug of the scenario the rule chooses
#   risk_class            optional: {", ".join(RiskClass.values)}
#   min_invoice_amount    optional: some open item has at least this balance
#   min_years             optional: customer for at least so many whole years
#   max_years             optional: customer for less than so many whole years
# Amounts are plain decimals (1500.00) compared with balances in their own currency.
"""


# -- the document ---------------------------------------------------------------------


@dataclass(frozen=True)
class StepDef:
    name: str
    offset: int
    channel: str
    template: str
    min_gap: int = 0
    mode: str = StepMode.AUTO.value
    min_amount: Decimal | None = None
    max_amount: Decimal | None = None


@dataclass(frozen=True)
class ScenarioDef:
    slug: str
    name: str
    steps: tuple[StepDef, ...]
    description: str = ""
    default: bool = False
    thank_on_payment: bool = True
    thank_template: str = "thanks"


@dataclass(frozen=True)
class RuleDef:
    name: str
    scenario: str  # slug
    risk_class: str = ""
    min_invoice_amount: Decimal | None = None
    min_years: int | None = None
    max_years: int | None = None


@dataclass(frozen=True)
class ScenarioFile:
    scenarios: tuple[ScenarioDef, ...]
    # None: the file says nothing about rules, and they are left alone.
    rules: tuple[RuleDef, ...] | None = None


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a scenario file, located as precisely as we can."""

    file: str
    where: str | None  # "scenario 'standard', step 3", "rule 2", ... in the reader's language
    field: str | None
    message: str
    row: int | None = None  # the step or rule (1, 2, ...) it is about, None for the whole

    def __str__(self) -> str:
        parts = [self.file]
        if self.where:
            parts.append(self.where)
        if self.field:
            parts.append(_("field %(name)s") % {"name": repr(self.field)})
        return ", ".join(parts) + f": {self.message}"


class ScenarioFileError(Exception):
    """The file cannot be imported; nothing was written."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class _Problems:
    LIMIT = 50

    def __init__(self, file: str):
        self.file = file
        self.items: list[Problem] = []

    def add(
        self, where: str | None, field: str | None, message: str, *, row: int | None = None
    ) -> None:
        if len(self.items) < self.LIMIT:
            self.items.append(Problem(self.file, where, field, message, row))

    def fail(self, where: str | None, field: str | None, message: str) -> ScenarioFileError:
        self.add(where, field, message)
        return ScenarioFileError(self.items)

    def raise_if_any(self) -> None:
        if self.items:
            raise ScenarioFileError(self.items)


# -- YAML -------------------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    """Block style, lists indented under their key, no anchors."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _represent_decimal(dumper: yaml.SafeDumper, value: Decimal) -> yaml.ScalarNode:
    # Written as a YAML number (1500.00), read back as a Decimal (safe_yaml with exact_decimals).
    return dumper.represent_scalar("tag:yaml.org,2002:float", format(value, "f"))


class _Prose(str):
    """Free text, folded over several lines so that the file stays readable."""

    __slots__ = ()


def _represent_prose(dumper: yaml.SafeDumper, value: _Prose) -> yaml.ScalarNode:
    style = ">" if len(value) > 60 or "\n" in value else None
    if any(not ch.isprintable() for ch in value.replace("\n", "")):
        style = '"'  # escaped: YAML would read some (\x85, \u2028) as line breaks
    return dumper.represent_scalar("tag:yaml.org,2002:str", str(value), style=style)


_Dumper.add_representer(Decimal, _represent_decimal)
_Dumper.add_representer(_Prose, _represent_prose)


def load_file(path: Path) -> ScenarioFile:
    try:
        data = safe_yaml.read(path, exact_decimals=True)
    except OSError as exc:
        raise ScenarioFileError(
            [Problem(path.name, None, None, _("cannot read it: %(error)s") % {"error": exc})]
        ) from None
    except safe_yaml.YamlRefused as exc:
        raise ScenarioFileError([Problem(path.name, None, None, str(exc))]) from None
    return parse_document(data, path.name)


def parse_yaml(text: str, file: str) -> ScenarioFile:
    """Read with the limits of relance.lib.safe_yaml: no aliases, bounded depth, size and
    numbers, no key twice; floats are read as exact Decimals."""
    try:
        data = safe_yaml.load(text, exact_decimals=True)
    except safe_yaml.YamlRefused as exc:
        raise ScenarioFileError([Problem(file, None, None, str(exc))]) from None
    return parse_document(data, file)


def render(document: ScenarioFile) -> str:
    """The document as YAML, after the explanatory header; same document, same text."""
    data: dict[str, Any] = {
        "version": FORMAT_VERSION,
        "scenarios": [_scenario_data(s) for s in document.scenarios],
    }
    if document.rules is not None:
        data["rules"] = [_rule_data(r) for r in document.rules]
    body = yaml.dump(
        data, Dumper=_Dumper, sort_keys=False, allow_unicode=True,
        default_flow_style=False, width=90,
    )  # fmt: skip
    return HEADER + body


def _scenario_data(scenario: ScenarioDef) -> dict[str, Any]:
    return {
        "slug": scenario.slug,
        "name": scenario.name,
        "description": _Prose(scenario.description),
        "default": scenario.default,
        "thank_on_payment": scenario.thank_on_payment,
        "thank_template": scenario.thank_template,
        "steps": [_step_data(step) for step in scenario.steps],
    }


def _step_data(step: StepDef) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": step.name,
        "offset": step.offset,
        "min_gap": step.min_gap,
        "channel": step.channel,
        "template": step.template,
        "mode": step.mode,
    }
    if step.min_amount is not None:
        data["min_amount"] = step.min_amount.quantize(CENT)
    if step.max_amount is not None:
        data["max_amount"] = step.max_amount.quantize(CENT)
    return data


def _rule_data(rule: RuleDef) -> dict[str, Any]:
    data: dict[str, Any] = {"name": rule.name, "scenario": rule.scenario}
    if rule.risk_class:
        data["risk_class"] = rule.risk_class
    if rule.min_invoice_amount is not None:
        data["min_invoice_amount"] = rule.min_invoice_amount.quantize(CENT)
    for key in ("min_years", "max_years"):
        if getattr(rule, key) is not None:
            data[key] = getattr(rule, key)
    return data


# -- validation ---------------------------------------------------------------------------


class _Fields:
    """Reads the fields of one mapping (a scenario, a step, a rule), noting problems."""

    def __init__(
        self, data: dict[str, Any], where: str | None, problems: _Problems, row: int | None = None
    ):
        self.data, self.where, self.problems, self.row = data, where, problems, row

    def bad(self, key: str, message: str) -> None:
        self.problems.add(self.where, key, message, row=self.row)

    def unknown_keys(self, known: Sequence[str]) -> None:
        for key in sorted(set(self.data) - set(known), key=str):
            self.bad(str(key), _("unknown field (known: %(known)s)") % {"known": ", ".join(known)})

    def text(self, key: str, *, required: bool = False, default: str = "") -> str:
        value = self.data.get(key)
        if value is None:
            if required:
                self.bad(key, _("missing"))
            return default
        if not isinstance(value, str):
            self.bad(key, _("%(value)s is not text") % {"value": _show(value)})
            return default
        return value

    def name(self, key: str = "name") -> str:
        value = self.text(key, required=True)
        if isinstance(self.data.get(key), str):
            if not value.strip():
                self.bad(key, _("empty"))
            elif len(value) > NAME_LENGTH:
                self.bad(key, _("longer than %(n)s characters") % {"n": NAME_LENGTH})
            elif any(not ch.isprintable() for ch in value):
                self.bad(key, _("a name is one line of printable text"))
        return value

    def slug(self, key: str, *, required: bool = False, default: str = "") -> str:
        value = self.text(key, required=required, default=default)
        given = isinstance(self.data.get(key), str)
        if given and (not SLUG.fullmatch(value) or len(value) > SLUG_LENGTH):
            self.bad(
                key,
                _("%(value)s is not a slug (letters, digits, - and _, at most %(n)s)")
                % {"value": repr(value), "n": SLUG_LENGTH},
            )
        return value

    def integer(
        self, key: str, low: int, high: int, *, required: bool = False, default: int | None = None
    ) -> int | None:
        value = self.data.get(key)
        if value is None:
            if required:
                self.bad(key, _("missing"))
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            self.bad(key, _("%(value)s is not a whole number") % {"value": _show(value)})
            return default
        if value < 0 <= low:
            self.bad(key, _("%(value)s: may not be negative") % {"value": value})
            return default
        if not low <= value <= high:
            self.bad(
                key,
                _("%(value)s is out of range (%(low)s to %(high)s)")
                % {"value": value, "low": low, "high": high},
            )
            return default
        return value

    def flag(self, key: str, default: bool) -> bool:
        value = self.data.get(key, default)
        if not isinstance(value, bool):
            self.bad(key, _("%(value)s is not true or false") % {"value": _show(value)})
            return default
        return value

    def choice(self, key: str, choices: Sequence[str], *, default: str | None = None) -> str:
        value = self.data.get(key, default)
        if value is None:
            self.bad(key, _("missing"))
            return ""
        if value not in choices:
            self.bad(
                key,
                _("%(value)s is not one of %(choices)s")
                % {"value": _show(value), "choices": ", ".join(choices)},
            )
            return ""
        return str(value)

    def amount(self, key: str) -> Decimal | None:
        value = self.data.get(key)
        if value is None:
            return None
        amount: Decimal | None = None
        if isinstance(value, Decimal | int | str) and not isinstance(value, bool):
            try:
                amount = Decimal(str(value).strip())
            except InvalidOperation:
                amount = None
        if amount is None or not amount.is_finite():
            self.bad(
                key,
                _("%(value)s is not an amount (write it like 1500.00)") % {"value": _show(value)},
            )
            return None
        if amount < 0 or amount >= AMOUNT_MAX or amount != amount.quantize(CENT):
            self.bad(
                key,
                _("%(value)s is not an amount from 0 with at most 2 decimals") % {"value": value},
            )
            return None
        return amount.quantize(CENT)


def _show(value: Any) -> str:
    """A value as the user wrote it: numbers bare, text quoted."""
    return str(value) if isinstance(value, Decimal | int) else repr(value)


def parse_document(data: Any, file: str) -> ScenarioFile:
    """Validate a loaded document: all problems at once, or a ScenarioFile."""
    problems = _Problems(file)
    if not isinstance(data, dict):
        raise problems.fail(
            None, None, _("a scenario file is a mapping with `version` and `scenarios`")
        )
    _Fields(data, None, problems).unknown_keys(TOP_KEYS)
    version = data.get("version")
    if version is None:
        problems.add(
            None, "version",
            _("missing: write `version: %(version)s` first") % {"version": FORMAT_VERSION},
        )  # fmt: skip
    elif isinstance(version, bool) or version != FORMAT_VERSION:
        problems.add(
            None, "version",
            _("%(given)s: this Relance reads version %(version)s")
            % {"given": repr(version), "version": FORMAT_VERSION},
        )  # fmt: skip
    raw_scenarios = data.get("scenarios")
    if not isinstance(raw_scenarios, list) or not raw_scenarios:
        raise problems.fail(None, "scenarios", _("list at least one scenario"))
    slugs = Counter(
        raw.get("slug")
        for raw in raw_scenarios
        if isinstance(raw, dict) and isinstance(raw.get("slug"), str)
    )
    scenarios = [
        _scenario(raw, index, problems, repeated=slugs)
        for index, raw in enumerate(raw_scenarios, 1)
    ]
    _check_scenario_set(scenarios, problems)
    rules: tuple[RuleDef, ...] | None = None
    if "rules" in data:
        raw_rules = data["rules"] or []
        if not isinstance(raw_rules, list):
            raise problems.fail(None, "rules", _("a list of rules (or [] for none)"))
        rules = tuple(_rule(raw, index, problems) for index, raw in enumerate(raw_rules, 1))
        _check_rule_names(rules, problems)
    problems.raise_if_any()
    return ScenarioFile(tuple(scenarios), rules)


def parse_scenario(raw: Any, file: str) -> ScenarioDef:
    """One scenario as a mapping (the console's table, a file's entry): the same checks as
    a file's, the same problems (``where`` names the step, ``field`` the column)."""
    return parse_document({"version": FORMAT_VERSION, "scenarios": [raw]}, file).scenarios[0]


def parse_rules(raw: Any, file: str) -> tuple[RuleDef, ...]:
    """The segment rules as a list of mappings, checked as a file's ``rules``."""
    problems = _Problems(file)
    if not isinstance(raw, list):
        raise problems.fail(None, "rules", _("a list of rules (or [] for none)"))
    rules = tuple(_rule(item, index, problems) for index, item in enumerate(raw, 1))
    _check_rule_names(rules, problems)
    problems.raise_if_any()
    return rules


def row_of(problem: Problem) -> int | None:
    """The step or rule (1, 2, ...) a problem is about, or None for the whole."""
    return problem.row


def _scenario_place(slug: str) -> str:
    return _("scenario %(slug)s") % {"slug": repr(slug)}


def _step_place(scenario: str, position: int) -> str:
    return _("%(scenario)s, step %(position)s") % {"scenario": scenario, "position": position}


def _rule_place(rule: int | str) -> str:
    """A rule by its position in the list, or by its name."""
    return _("rule %(rule)s") % {"rule": rule if isinstance(rule, int) else repr(rule)}


def _scenario(raw: Any, index: int, problems: _Problems, repeated: Counter[Any]) -> ScenarioDef:
    slug = raw.get("slug") if isinstance(raw, dict) else None
    # Named by slug; by its place in the list too when the slug is missing or repeated.
    where = _("scenario %(n)s") % {"n": index}
    if isinstance(slug, str) and slug:
        where = _scenario_place(slug) + (f" (#{index})" if repeated[slug] > 1 else "")
    if not isinstance(raw, dict):
        problems.add(where, None, _("a scenario is a mapping with slug, name and steps"))
        return ScenarioDef(slug="", name="", steps=())
    fields = _Fields(raw, where, problems)
    fields.unknown_keys(SCENARIO_KEYS)
    scenario = ScenarioDef(
        slug=fields.slug("slug", required=True),
        name=fields.name(),
        description=fields.text("description"),
        default=fields.flag("default", False),
        thank_on_payment=fields.flag("thank_on_payment", True),
        thank_template=fields.slug("thank_template", default="thanks"),
        steps=(),
    )
    raw_steps = raw.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        fields.bad("steps", _("list at least one step"))
        return scenario
    steps = tuple(_step(step, where, n, problems) for n, step in enumerate(raw_steps, 1))
    _check_offsets(steps, where, problems)
    _check_repeated_steps(steps, [getattr(raw, "line", None) for raw in raw_steps], where, problems)
    return replace(scenario, steps=steps)


def _step(raw: Any, scenario: str, position: int, problems: _Problems) -> StepDef:
    where = _step_place(scenario, position)
    if not isinstance(raw, dict):
        problems.add(
            where, None, _("a step is a mapping with name, offset, channel and template"),
            row=position,
        )  # fmt: skip
        return StepDef(name="", offset=0, channel="", template="")
    fields = _Fields(raw, where, problems, row=position)
    fields.unknown_keys(STEP_KEYS)
    low = fields.amount("min_amount")
    return StepDef(
        name=fields.name(),
        offset=fields.integer("offset", *OFFSET_RANGE, required=True, default=0) or 0,
        min_gap=fields.integer("min_gap", 0, GAP_MAX, default=0) or 0,
        channel=fields.choice("channel", StepChannel.values),
        template=fields.slug("template", required=True),
        mode=fields.choice("mode", StepMode.values, default=StepMode.AUTO.value),
        min_amount=low,
        max_amount=_max_amount(fields, low),
    )


def _max_amount(fields: _Fields, low: Decimal | None) -> Decimal | None:
    """A step for items owing at most this much: not below the step's minimum, or no item
    would ever take it."""
    high = fields.amount("max_amount")
    if low is not None and high is not None and high < low:
        fields.bad(
            "max_amount",
            _("%(high)s is below the step's min_amount %(low)s") % {"high": high, "low": low},
        )
        return None
    return high


def _check_offsets(steps: Sequence[StepDef], where: str, problems: _Problems) -> None:
    # Steps are never skipped, so a later step with an earlier offset makes no sense.
    for position in range(2, len(steps) + 1):
        before, step = steps[position - 2], steps[position - 1]
        if step.offset < before.offset:
            problems.add(
                _step_place(where, position), "offset",
                _(
                    "%(offset)s is lower than the offset %(before)s of step %(previous)s:"
                    " offsets may not decrease from one step to the next"
                ) % {"offset": step.offset, "before": before.offset, "previous": position - 1},
                row=position,
            )  # fmt: skip


def _check_repeated_steps(
    steps: Sequence[StepDef], lines: Sequence[int | None], where: str, problems: _Problems
) -> None:
    """The same step twice is refused. A step is named in every explanation, task and page,
    so two steps of one name cannot be told apart; and two steps alike in all but their
    name (offset, gap, channel, template, mode, amounts) would send the debtor the same
    message twice, a copy-paste mistake rather than a plan."""

    def line(position: int) -> str:
        number = lines[position - 1] if position <= len(lines) else None
        return _("line %(n)s") % {"n": number} if number else ""

    def step_at(position: int) -> str:
        """ "step 2", or "step 2 (line 14)" when the line is known."""
        text = _("step %(n)s") % {"n": position}
        return f"{text} ({line(position)})" if line(position) else text

    names: dict[str, int] = {}
    alike: dict[StepDef, int] = {}
    for position, step in enumerate(steps, 1):
        prefix = f"{line(position)}: " if line(position) else ""
        key = replace(step, name="")
        if step.name and step.name in names:
            first = names[step.name]
            problems.add(
                _step_place(where, position), "name",
                prefix + _(
                    "%(name)s is already the name of %(first)s:"
                    " each step of a scenario has its own name"
                ) % {"name": repr(step.name), "first": step_at(first)},
                row=position,
            )  # fmt: skip
        elif step.channel and key in alike:
            first = alike[key]
            problems.add(
                _step_place(where, position), None,
                prefix + _(
                    "the same step as %(first)s: same offset, gap, channel, template, mode and"
                    " amounts; the debtor would get the same message twice"
                ) % {"first": step_at(first)},
                row=position,
            )  # fmt: skip
        names.setdefault(step.name, position)
        alike.setdefault(key, position)


def _check_scenario_set(scenarios: Sequence[ScenarioDef], problems: _Problems) -> None:
    counts = Counter(s.slug for s in scenarios if s.slug)
    for slug, count in sorted(counts.items()):
        if count > 1:
            problems.add(
                _scenario_place(slug), "slug",
                _("the slug appears %(count)s times") % {"count": count},
            )  # fmt: skip
    defaults = sorted(s.slug for s in scenarios if s.default)
    if len(defaults) > 1:
        problems.add(
            None, "default",
            _("several scenarios say `default: true` (%(slugs)s):"
              " exactly one scenario is the default")
            % {"slugs": ", ".join(defaults)},
        )  # fmt: skip


def _rule(raw: Any, index: int, problems: _Problems) -> RuleDef:
    where = _rule_place(index)
    if not isinstance(raw, dict):
        problems.add(
            where, None, _("a rule is a mapping with name, scenario and conditions"), row=index
        )
        return RuleDef(name="", scenario="")
    fields = _Fields(raw, where, problems, row=index)
    fields.unknown_keys(RULE_KEYS)
    risk = raw.get("risk_class")
    rule = RuleDef(
        name=fields.name(),
        scenario=fields.slug("scenario", required=True),
        risk_class=fields.choice("risk_class", RiskClass.values) if risk is not None else "",
        min_invoice_amount=fields.amount("min_invoice_amount"),
        min_years=fields.integer("min_years", 0, YEARS_MAX),
        max_years=fields.integer("max_years", 1, YEARS_MAX),
    )
    if (
        rule.min_years is not None
        and rule.max_years is not None
        and rule.max_years <= rule.min_years
    ):
        fields.bad(
            "max_years",
            _("%(max)s is not above min_years (%(min)s)")
            % {"max": rule.max_years, "min": rule.min_years},
        )
    return rule


def _check_rule_names(rules: Sequence[RuleDef], problems: _Problems) -> None:
    # The explanation of each communication names the rule: two of one name would mislead.
    seen: set[str] = set()
    for index, rule in enumerate(rules, 1):
        if rule.name and rule.name in seen:
            problems.add(
                _rule_place(index), "name",
                _("another rule is already named %(name)s") % {"name": repr(rule.name)}, row=index,
            )  # fmt: skip
        seen.add(rule.name)


# -- the database -------------------------------------------------------------------------


def export_document(organisation: Organisation) -> ScenarioFile:
    steps = Prefetch("steps", queryset=Step.objects.order_by("position"))
    scenarios = Scenario.objects.filter(organisation=organisation).order_by("slug")
    return ScenarioFile(
        scenarios=tuple(_scenario_def(s) for s in scenarios.prefetch_related(steps)),
        rules=_current_rules(organisation),
    )


def export_yaml(organisation: Organisation) -> str:
    return render(export_document(organisation))


def _scenario_def(scenario: Scenario) -> ScenarioDef:
    return ScenarioDef(
        slug=scenario.slug,
        name=scenario.name,
        description=scenario.description,
        default=scenario.is_default,
        thank_on_payment=scenario.thank_on_payment,
        thank_template=scenario.thank_template,
        steps=tuple(_step_def(step) for step in scenario.steps.all()),
    )


def _step_def(step: Step) -> StepDef:
    return StepDef(
        name=step.name,
        offset=step.offset,
        min_gap=step.min_gap,
        channel=step.channel,
        template=step.template,
        mode=step.mode,
        min_amount=None if step.min_amount is None else step.min_amount.quantize(CENT),
        max_amount=None if step.max_amount is None else step.max_amount.quantize(CENT),
    )


def _rule_def(rule: SegmentRule) -> RuleDef:
    return RuleDef(
        name=rule.name,
        scenario=rule.scenario.slug,
        risk_class=rule.risk_class,
        min_invoice_amount=(
            None if rule.min_invoice_amount is None else rule.min_invoice_amount.quantize(CENT)
        ),
        min_years=rule.min_years,
        max_years=rule.max_years,
    )


@dataclass
class ImportResult:
    file: str
    organisation: str
    dry_run: bool
    changes: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "organisation": self.organisation,
            "dry_run": self.dry_run,
            "changes": self.changes,
            "counts": self.counts,
        }


@dataclass
class _Plan:
    """What an import changes, decided before anything is written."""

    create: list[ScenarioDef] = field(default_factory=list)
    update: list[tuple[Scenario, ScenarioDef]] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    undefault: list[Scenario] = field(default_factory=list)
    delete: list[Scenario] = field(default_factory=list)
    rules: tuple[RuleDef, ...] | None = None  # None: rules unchanged
    changes: list[str] = field(default_factory=list)


def import_document(
    organisation: Organisation,
    document: ScenarioFile,
    *,
    file: str,
    prune: bool = False,
    dry_run: bool = False,
    user_id: int | None = None,
    action: str = "scenario.imported",
    as_of: dt.date | None = None,
    request: Any = None,
) -> ImportResult:
    """Make the organisation's scenarios say what the document says; nothing is written on
    a dry run or when a problem is found (ScenarioFileError). What changed goes to the
    audit trail as ``action`` (the console records its edits this way too). ``as_of``: the
    day whose segment rules say which customers follow a scenario (default today)."""
    as_of = as_of or timezone.localdate()
    with transaction.atomic():
        if not dry_run:
            # One import at a time per organisation: the plan must hold until it is written.
            Organisation.objects.select_for_update().filter(pk=organisation.pk).first()
        plan = _make_plan(organisation, document, file=file, prune=prune, as_of=as_of)
        counts = {
            "created": len(plan.create),
            "updated": len(plan.update),
            "unchanged": len(plan.unchanged),
            "deleted": len(plan.delete),
            "rules_replaced": int(plan.rules is not None),
        }
        if not dry_run:
            _execute(organisation, plan)
            if plan.changes:
                trail.record(organisation, action, user_id=user_id, request=request,
                             target=("scenario_file", file), summary="; ".join(plan.changes),
                             data={"file": file, "prune": prune, "counts": counts,
                                   "changes": plan.changes})  # fmt: skip
    return ImportResult(file, organisation.slug, dry_run, plan.changes, counts)


def _current(organisation: Organisation) -> dict[str, Scenario]:
    steps = Prefetch("steps", queryset=Step.objects.order_by("position"))
    scenarios = Scenario.objects.filter(organisation=organisation).prefetch_related(steps)
    return {s.slug: s for s in scenarios}


def _make_plan(
    organisation: Organisation, document: ScenarioFile, *, file: str, prune: bool, as_of: dt.date
) -> _Plan:
    problems = _Problems(file)
    current = _current(organisation)
    plan = _Plan()
    named = {s.slug for s in document.scenarios}
    for wanted in document.scenarios:
        _plan_scenario(plan, current.get(wanted.slug), wanted)
    others = [s for slug, s in sorted(current.items()) if slug not in named]
    plan.delete, kept = (others, []) if prune else ([], others)
    if any(s.default for s in document.scenarios):
        plan.undefault = [s for s in kept if s.is_default]
    _check_defaults(document, kept, plan, problems)
    _check_deletions(organisation, document, plan, problems)
    _check_levels(organisation, plan, problems, as_of)
    _plan_rules(organisation, document, {*named, *(s.slug for s in kept)}, plan, problems)
    problems.raise_if_any()
    plan.changes += [f"scenario {s.slug!r} is no longer the default" for s in plan.undefault]
    plan.changes += [f"delete scenario {s.slug!r} ({s.name})" for s in plan.delete]
    return plan


def _plan_scenario(plan: _Plan, scenario: Scenario | None, wanted: ScenarioDef) -> None:
    if scenario is None:
        plan.create.append(wanted)
        plan.changes.append(f"create scenario {wanted.slug!r} with {_count(wanted.steps, 'step')}")
        return
    differences = _differences(_scenario_def(scenario), wanted)
    if differences:
        plan.update.append((scenario, wanted))
        plan.changes.append(f"update scenario {wanted.slug!r}: {'; '.join(differences)}")
    else:
        plan.unchanged.append(wanted.slug)


def _differences(have: ScenarioDef, want: ScenarioDef) -> list[str]:
    fields = ("name", "description", "default", "thank_on_payment", "thank_template")
    found = [f"{name} changed" for name in fields if getattr(have, name) != getattr(want, name)]
    return found + _list_changes("step", have.steps, want.steps)


def _list_changes(noun: str, have: Sequence[Any], want: Sequence[Any]) -> list[str]:
    """Position by position: "steps 2, 3 changed", "1 step added"."""
    changed = [str(n) for n, (a, b) in enumerate(zip(have, want, strict=False), 1) if a != b]
    found = []
    if changed:
        found.append(f"{noun}{'s' if len(changed) > 1 else ''} {', '.join(changed)} changed")
    if len(want) > len(have):
        found.append(f"{_count(want[len(have) :], noun)} added")
    elif len(want) < len(have):
        found.append(f"{_count(have[len(want) :], noun)} removed")
    return found


def _count(items: Sequence[Any], noun: str) -> str:
    return f"{len(items)} {noun}{'' if len(items) == 1 else 's'}"


def _check_defaults(
    document: ScenarioFile, kept: Sequence[Scenario], plan: _Plan, problems: _Problems
) -> None:
    defaults = [s.slug for s in document.scenarios if s.default]
    defaults += [s.slug for s in kept if s.is_default and s not in plan.undefault]
    if not defaults:
        problems.add(
            None, "default",
            _("no default scenario: mark the one for customers no rule matches `default: true`"),
        )  # fmt: skip
    elif len(defaults) > 1:
        problems.add(
            None, "default",
            _("several default scenarios (%(slugs)s): mark one of them `default: true` in the file")
            % {"slugs": ", ".join(sorted(defaults))},
        )  # fmt: skip


def same_step(before: StepDef, after: StepDef) -> bool:
    """Whether a step at a position is still the same step after an edit: the same name
    (its offset, channel... changed in place), or the same offset, channel and template
    (renamed)."""
    return before.name == after.name or (before.offset, before.channel, before.template) == (
        after.offset, after.channel, after.template,
    )  # fmt: skip


def first_moved(before: Sequence[StepDef], after: Sequence[StepDef]) -> int | None:
    """The first position (1, 2, ...) whose step is removed, replaced or moved by the edit,
    or None when every step keeps its position (steps edited in place, or added at the
    end). An item's level is a position: an item standing there or later would skip or
    repeat a step."""
    for index, step in enumerate(before):
        if index >= len(after) or not same_step(step, after[index]):
            return index + 1
    return None


def _check_levels(
    organisation: Organisation, plan: _Plan, problems: _Problems, as_of: dt.date
) -> None:
    """Refuse an edit that removes, inserts or reorders steps where open items of the
    customers following the scenario stand (docs/scenarios.md, "Changing a scenario in
    use"): their level would then name another step."""
    moved = {}
    for scenario, wanted in plan.update:
        position = first_moved(_scenario_def(scenario).steps, wanted.steps)
        if position is not None:
            moved[scenario.pk] = (scenario, position)
    if not moved:
        return
    lowest = min(position for _, position in moved.values())
    rows = ItemState.objects.filter(
        invoice__organisation=organisation, level__gte=lowest,
        invoice__balance__gt=organisation.min_balance,
    ).values_list("invoice__customer_id", "level")  # fmt: skip
    levels: dict[int, list[int]] = {}
    for customer, level in rows:
        levels.setdefault(customer, []).append(level)
    if not levels:
        return
    try:
        followed: dict[int, int] | None = segments.scenarios_of(organisation, as_of, sorted(levels))
    except segments.NoDefaultScenario:
        followed = None  # who follows what cannot be told: every item counts

    def follows(customer: int, scenario_id: int) -> bool:
        return followed is None or followed.get(customer) == scenario_id

    for scenario_id, (scenario, position) in sorted(moved.items()):
        items = [
            level
            for customer, found in levels.items()
            if follows(customer, scenario_id)
            for level in found
            if level >= position
        ]
        if items:
            customers = sum(
                1 for c, found in levels.items()
                if follows(c, scenario_id) and max(found) >= position
            )  # fmt: skip
            problems.add(
                _step_place(_scenario_place(scenario.slug), position), None,
                _(
                    "step %(position)s or a later one holds %(items)s of %(customers)s following"
                    " this scenario: removing, inserting or reordering steps there would make"
                    " them skip or repeat a step. Change those steps in place, or add new steps"
                    " after the last one"
                ) % {
                    "position": position,
                    "items": ngettext("%(n)s open item", "%(n)s open items", len(items))
                    % {"n": len(items)},
                    "customers": ngettext("%(n)s customer", "%(n)s customers", customers)
                    % {"n": customers},
                },
                row=position,
            )  # fmt: skip


def delete_scenario(
    organisation: Organisation, slug: str, *, user: Any = None, request: Any = None
) -> None:
    """Delete one scenario; refused (ScenarioFileError) while it is the default, a rule
    chooses it or customers follow it by explicit choice."""
    problems = _Problems("console")
    with transaction.atomic():
        scenario = (
            Scenario.objects.select_for_update()
            .filter(organisation=organisation, slug=slug)
            .first()
        )
        if scenario is None:
            raise problems.fail(_scenario_place(slug), None, _("no such scenario"))
        where = _scenario_place(slug)
        if scenario.is_default:
            problems.add(where, "default", _("the default scenario cannot be deleted: make"
                         " another one the default first"))  # fmt: skip
        # Here, not at the top: ``defaults`` reads its scenario file with this module.
        from relance.dunning.defaults import name_for_reader

        rules = SegmentRule.objects.filter(scenario=scenario).order_by("position")
        for rule in rules:
            problems.add(
                where, None,
                _("rule %(position)s (%(name)s) chooses it: change or remove the rule first")
                % {"position": rule.position, "name": name_for_reader(rule.name)},
            )  # fmt: skip
        explicit = CustomerScenario.objects.filter(scenario=scenario).count()
        if explicit:
            problems.add(
                where, None,
                ngettext(
                    "%(n)s customer follows it by explicit choice: choose another scenario for"
                    " them first",
                    "%(n)s customers follow it by explicit choice: choose another scenario for"
                    " them first",
                    explicit,
                ) % {"n": explicit},
            )  # fmt: skip
        problems.raise_if_any()
        scenario.delete()
        trail.record(organisation, "scenario.deleted", user=user, request=request,
                     target=("scenario", slug),
                     summary=Text(gettext_noop("delete scenario %(slug)s (%(name)s)"),
                                  {"slug": repr(slug), "name": scenario.name}),
                     data={"slug": slug, "name": scenario.name})  # fmt: skip


def _check_deletions(
    organisation: Organisation, document: ScenarioFile, plan: _Plan, problems: _Problems
) -> None:
    explicit = dict(
        CustomerScenario.objects.filter(scenario__in=plan.delete)
        .values_list("scenario_id")
        .annotate(n=Count("id"))
        .values_list("scenario_id", "n")
    )
    for scenario in plan.delete:
        if explicit.get(scenario.pk):
            problems.add(
                _scenario_place(scenario.slug), None,
                ngettext(
                    "--prune would delete it, but %(n)s customer follows it by explicit choice:"
                    " choose another scenario for them first, or keep it in the file",
                    "--prune would delete it, but %(n)s customers follow it by explicit choice:"
                    " choose another scenario for them first, or keep it in the file",
                    explicit[scenario.pk],
                ) % {"n": explicit[scenario.pk]},
            )  # fmt: skip
    if document.rules is None and plan.delete:
        doomed = {s.pk for s in plan.delete}
        rules = SegmentRule.objects.filter(organisation=organisation, scenario_id__in=doomed)
        for rule in rules.select_related("scenario").order_by("position"):
            problems.add(
                _rule_place(rule.name), "scenario",
                _("uses scenario %(slug)s, which --prune would delete: give the rules in the file")
                % {"slug": repr(rule.scenario.slug)},
            )  # fmt: skip


def _plan_rules(
    organisation: Organisation,
    document: ScenarioFile,
    slugs: set[str],
    plan: _Plan,
    problems: _Problems,
) -> None:
    if document.rules is None:
        return
    for index, rule in enumerate(document.rules, 1):
        if rule.scenario not in slugs:
            message = (
                _(
                    "no scenario %(slug)s in the file or in organisation %(organisation)s"
                    " (after --prune)"
                )
                if plan.delete
                else _("no scenario %(slug)s in the file or in organisation %(organisation)s")
            )
            problems.add(
                _rule_place(index), "scenario",
                message % {"slug": repr(rule.scenario), "organisation": repr(organisation.slug)},
                row=index,
            )  # fmt: skip
    have = _current_rules(organisation)
    if have != document.rules:
        plan.rules = document.rules
        changes = "; ".join(_list_changes("rule", have, document.rules))
        plan.changes.append(f"replace the segment rules: {changes}")


def _current_rules(organisation: Organisation) -> tuple[RuleDef, ...]:
    rules = SegmentRule.objects.filter(organisation=organisation).select_related("scenario")
    return tuple(_rule_def(r) for r in rules.order_by("position"))


def _execute(organisation: Organisation, plan: _Plan) -> None:
    for scenario in plan.undefault:
        Scenario.objects.filter(pk=scenario.pk).update(is_default=False)
    # A scenario losing the default first, so that at no point are there two.
    for scenario, wanted in sorted(plan.update, key=lambda pair: pair[1].default):
        _update_scenario(scenario, wanted)
    for wanted in plan.create:
        create_scenario(organisation, wanted)
    if plan.rules is not None:
        SegmentRule.objects.filter(organisation=organisation).delete()
        create_rules(organisation, plan.rules)
    for scenario in plan.delete:
        scenario.delete()


def create_scenario(organisation: Organisation, wanted: ScenarioDef) -> Scenario:
    scenario = Scenario.objects.create(
        organisation=organisation,
        slug=wanted.slug,
        name=wanted.name,
        description=wanted.description,
        is_default=wanted.default,
        thank_on_payment=wanted.thank_on_payment,
        thank_template=wanted.thank_template,
    )
    Step.objects.bulk_create(
        _new_step(scenario, position, step) for position, step in enumerate(wanted.steps, 1)
    )
    return scenario


def create_rules(organisation: Organisation, rules: Iterable[RuleDef]) -> None:
    rules = list(rules)
    ids = dict(
        Scenario.objects.filter(
            organisation=organisation, slug__in={r.scenario for r in rules}
        ).values_list("slug", "id")
    )
    SegmentRule.objects.bulk_create(
        SegmentRule(
            organisation=organisation,
            position=position,
            name=rule.name,
            scenario_id=ids[rule.scenario],
            risk_class=rule.risk_class,
            min_invoice_amount=rule.min_invoice_amount,
            min_years=rule.min_years,
            max_years=rule.max_years,
        )
        for position, rule in enumerate(rules, 1)
    )


def _update_scenario(scenario: Scenario, wanted: ScenarioDef) -> None:
    scenario.name = wanted.name
    scenario.description = wanted.description
    scenario.is_default = wanted.default
    scenario.thank_on_payment = wanted.thank_on_payment
    scenario.thank_template = wanted.thank_template
    scenario.save()
    # Steps are rewritten in place, position by position: unchanged rows keep their ids.
    current = {step.position: step for step in scenario.steps.all()}
    Step.objects.filter(scenario=scenario, position__gt=len(wanted.steps)).delete()
    for position, step_def in enumerate(wanted.steps, 1):
        step = current.get(position)
        if step is None:
            _new_step(scenario, position, step_def).save()
        elif _step_def(step) != step_def:
            for name in STEP_KEYS:
                setattr(step, name, getattr(step_def, name))
            step.save()


def _new_step(scenario: Scenario, position: int, step: StepDef) -> Step:
    return Step(
        organisation_id=scenario.organisation_id,
        scenario=scenario,
        position=position,
        name=step.name,
        offset=step.offset,
        min_gap=step.min_gap,
        channel=step.channel,
        template=step.template,
        mode=step.mode,
        min_amount=step.min_amount,
        max_amount=step.max_amount,
    )
