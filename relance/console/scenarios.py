"""Scenarios, segment rules and message templates (docs/scenarios.md, docs/templates.md).

Every edit goes through the services the command line uses: a scenario's table and the
rules are checked by ``scenarios_io.parse_scenario``/``parse_rules`` (the checks of
``relance scenario import``) and written by ``scenarios_io.import_document``, which also
refuses an edit that would move steps under items and records the audit trail; templates
by ``channels.overrides``; the simulation is ``dunning.simulation``. Reading is open to
every role; changing needs ``Can.EDIT_SCENARIOS`` (managers).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from csp.decorators import csp
from django.contrib import messages
from django.db.models import Count, Min
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django_htmx.http import HttpResponseClientRedirect

from relance.accounts.models import Organisation
from relance.channels import overrides
from relance.channels.formatting import amount_input
from relance.channels.models import TemplatePart
from relance.console.access import Can, console_view
from relance.dunning import defaults, run_errors, scenarios_io, segments
from relance.dunning.labels import template_label
from relance.dunning.models import Scenario, SegmentRule, Step, StepChannel, StepMode
from relance.dunning.scenarios_io import (
    Problem,
    RuleDef,
    ScenarioDef,
    ScenarioFile,
    ScenarioFileError,
    StepDef,
)
from relance.dunning.simulation import DEFAULT_DAYS, MAX_DAYS, SimulationError, simulate
from relance.ledger.models import Customer, Invoice, RiskClass
from relance.ledger.timeline import label
from relance.lib.amounts import AmountError, Bound, check_amount

SOURCE = "console"  # the "file" the validator names
T = TypeVar("T")
CHANNEL_LABELS = dict(StepChannel.choices)
# The page simulates this many customers at most (the command, all of them).
SIMULATION_CUSTOMERS = 500
PREVIEW_CUSTOMERS = 25

STEP_FIELDS = scenarios_io.STEP_KEYS
RULE_FIELDS = scenarios_io.RULE_KEYS


def today_for(organisation: Organisation) -> dt.date:
    try:
        return timezone.localdate(timezone=ZoneInfo(organisation.timezone))
    except (ZoneInfoNotFoundError, ValueError):
        return timezone.localdate()


# -- rows of a table as the validator reads them -----------------------------------------


@dataclass
class Errors:
    """The validator's problems, by row (1, 2, ...) and field, and those about the whole."""

    rows: dict[int, dict[str, str]] = field(default_factory=dict)
    general: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @classmethod
    def of(cls, failure: ScenarioFileError) -> Errors:
        errors = cls(problems=list(failure.problems))
        for problem in failure.problems:
            row = scenarios_io.row_of(problem)
            if row is not None and problem.field:
                errors.rows.setdefault(row, {})[problem.field] = problem.message
            else:
                errors.general.append(_describe(problem))
        return errors

    def __bool__(self) -> bool:
        return bool(self.problems)


def _describe(problem: Problem) -> str:
    parts = [problem.where] if problem.where else []
    if problem.field:
        parts.append(problem.field)
    return (", ".join(parts) + ": " if parts else "") + problem.message


def _number(text: str) -> Any:
    """What the user typed, as YAML would give it: a whole number as an int (the validator
    then checks its range), anything else as typed (and refused with its value)."""
    text = text.strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        return text


def _rows(post: Mapping[str, Any], prefix: str, names: Sequence[str]) -> list[dict[str, str]]:
    """The table's rows: one list per column (``step_name``, ``step_offset``...), aligned."""
    columns = [post.getlist(f"{prefix}_{name}") for name in names]  # type: ignore[attr-defined]
    count = max((len(c) for c in columns), default=0)
    return [
        {
            name: (column[n] if n < len(column) else "")
            for name, column in zip(names, columns, strict=True)
        }
        for n in range(count)
    ]


# The amount columns, checked as every amount a person types (``lib.amounts``), each named
# as its column is.
AMOUNT_LABELS = {
    "min_amount": gettext_lazy("Minimum amount"),
    "max_amount": gettext_lazy("Maximum amount"),
    "min_invoice_amount": gettext_lazy("An open invoice of at least"),
}


def _step_mapping(
    row: Mapping[str, str], slug: str, position: int, refused: list[Problem]
) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "name": row["name"].strip(),
        "offset": _number(row["offset"]),
        "channel": row["channel"] or None,
        "template": row["template"].strip() or None,
        "mode": row["mode"] or StepMode.AUTO.value,
    }
    if row["min_gap"].strip():
        raw["min_gap"] = _number(row["min_gap"])
    where = scenarios_io._step_place(scenarios_io._scenario_place(slug), position)
    _amounts(raw, row, ("min_amount", "max_amount"), where, position, refused)
    return raw


def _amounts(
    raw: dict[str, Any],
    row: Mapping[str, str],
    keys: Sequence[str],
    where: str,
    position: int,
    refused: list[Problem],
) -> None:
    """The amounts of a row typed the reader's way, read into ``raw``; those refused are
    left out of it, and said in ``refused`` on their row and field (``_checked``)."""
    for key in keys:
        try:
            amount = check_amount(row[key], AMOUNT_LABELS[key], Bound.ZERO_OR_MORE)
        except AmountError as error:
            refused.append(Problem(SOURCE, where, key, str(error), row=position))
        else:
            if amount is not None:
                raw[key] = amount


def _checked(parse: Callable[[], T], refused: list[Problem]) -> T:
    """What the validator makes of a table, and the amounts refused before it: all the
    problems at once."""
    try:
        parsed = parse()
    except ScenarioFileError as failure:
        raise ScenarioFileError([*refused, *failure.problems]) from None
    if refused:
        raise ScenarioFileError(refused)
    return parsed


def _rule_mapping(row: Mapping[str, str], position: int, refused: list[Problem]) -> dict[str, Any]:
    raw: dict[str, Any] = {"name": row["name"].strip(), "scenario": row["scenario"] or None}
    if row["risk_class"]:
        raw["risk_class"] = row["risk_class"]
    _amounts(raw, row, ("min_invoice_amount",), scenarios_io._rule_place(position), position,
             refused)  # fmt: skip
    for key in ("min_years", "max_years"):
        if row[key].strip():
            raw[key] = _number(row[key])
    return raw


def _step_row(step: StepDef) -> dict[str, str]:
    return {
        "name": step.name,
        "offset": str(step.offset),
        "min_gap": str(step.min_gap),
        "channel": step.channel,
        "template": step.template,
        "mode": step.mode,
        "min_amount": amount_input(step.min_amount),
        "max_amount": amount_input(step.max_amount),
    }


def _for_reader(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """Rows as the form shows them: shipped names in the reader's language."""
    return [{**row, "name": defaults.name_for_reader(row["name"])} for row in rows]


def _as_written(rows: list[dict[str, str]], stored: Sequence[str]) -> list[dict[str, str]]:
    """Rows posted back, each name the ``stored`` one its reader was shown unchanged."""
    names = defaults.names_as_written([row["name"] for row in rows], stored)
    return [{**row, "name": name} for row, name in zip(rows, names, strict=True)]


def _rule_row(rule: RuleDef) -> dict[str, str]:
    return {
        "name": rule.name,
        "scenario": rule.scenario,
        "risk_class": rule.risk_class,
        "min_invoice_amount": amount_input(rule.min_invoice_amount),
        "min_years": "" if rule.min_years is None else str(rule.min_years),
        "max_years": "" if rule.max_years is None else str(rule.max_years),
    }


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _blank(names: Sequence[str]) -> dict[str, str]:
    row = dict.fromkeys(names, "")
    if "mode" in row:
        row.update(channel=StepChannel.EMAIL.value, mode=StepMode.AUTO.value, min_gap="0")
    return row


def _reorder(rows: list[dict[str, str]], op: str, names: Sequence[str]) -> bool:
    """Apply ``add``, ``remove-N``, ``up-N``, ``down-N`` (N from 1) to the unsaved rows;
    False when ``op`` is none of those (a save)."""
    if op == "add":
        rows.append(_blank(names))
        return True
    if op == "channel":  # a step's channel changed: its templates shown again
        return True
    verb, _sep, number = op.partition("-")
    if verb not in ("remove", "up", "down") or not number.isdigit():
        return False
    index = int(number) - 1
    if not 0 <= index < len(rows):
        return True
    if verb == "remove":
        rows.pop(index)
    elif verb == "up" and index > 0:
        rows[index - 1], rows[index] = rows[index], rows[index - 1]
    elif verb == "down" and index < len(rows) - 1:
        rows[index + 1], rows[index] = rows[index], rows[index + 1]
    return True


def _choices(enum: Any) -> list[tuple[str, str]]:
    return [(value, str(label)) for value, label in enum.choices]


def _templates_by_channel(organisation: Organisation) -> dict[str, set[str]]:
    """The templates a step of each channel can name: the organisation's (shipped wordings
    and its own, a registered letter's being the letters') and those its steps name."""
    found: dict[str, set[str]] = {}
    for entry in overrides.catalogue(organisation):
        found.setdefault(entry.channel, set()).add(entry.slug)
    found[StepChannel.REGISTERED_LETTER] = set(found.get(overrides.LETTER, ()))
    for channel, template in Step.objects.filter(organisation=organisation).values_list(
        "channel", "template"
    ):
        found.setdefault(channel, set()).add(template)
    return found


def _template_choices(templates: set[str], current: str) -> list[tuple[str, str]]:
    """A select's choices: the templates by their names in the reader's language, the one
    chosen among them even when its channel has no such template (nothing lost)."""
    codes = (templates | {current}) - {""}
    return sorted(((code, template_label(code)) for code in codes), key=lambda c: c[1].lower())


# -- scenarios ------------------------------------------------------------------------------


def _definitions(organisation: Organisation) -> dict[str, ScenarioDef]:
    return {s.slug: s for s in scenarios_io.export_document(organisation).scenarios}


def _stored_counts(organisation: Organisation, as_of: dt.date) -> dict[int, int]:
    try:
        rules, default_id, _explicit = segments.load_rules(organisation)
    except segments.NoDefaultScenario:
        return {}
    return dict(segments.counts(organisation, as_of, rules, default_id))


@console_view(Can.READ, post=Can.EDIT_SCENARIOS)
def scenario_list(request: HttpRequest) -> HttpResponse:
    console = request.console  # type: ignore[attr-defined]
    organisation = console.organisation
    scenarios = list(
        console.objects(Scenario).annotate(steps_count=Count("steps")).order_by("name", "slug")
    )
    counts = _stored_counts(organisation, today_for(organisation))
    rules = list(console.objects(SegmentRule).select_related("scenario").order_by("position"))
    return render(
        request,
        "console/scenarios/list.html",
        {
            "scenarios": [(s, counts.get(s.pk, 0)) for s in scenarios],
            "rules": rules,
            "new": {
                "slug": "",
                "name": "",
                "copy": next((s.slug for s in scenarios if s.is_default), ""),
            },
        },
    )


@console_view(Can.EDIT_SCENARIOS)
def scenario_new(request: HttpRequest) -> HttpResponse:
    """A new scenario, its steps copied from another (every scenario has at least one)."""
    if request.method != "POST":
        return redirect("console:scenarios")
    organisation = request.console.organisation  # type: ignore[attr-defined]
    slug = request.POST.get("slug", "").strip()
    name = request.POST.get("name", "").strip()
    source = _definitions(organisation).get(request.POST.get("copy", ""))
    refused: list[Problem] = []
    steps = [
        _step_mapping(_step_row(s), slug, n, refused)
        for n, s in enumerate(source.steps if source else (), 1)
    ]
    raw = {"slug": slug, "name": name, "steps": steps}
    try:
        if slug in _definitions(organisation):
            raise ScenarioFileError(
                [
                    Problem(
                        SOURCE, f"scenario {slug!r}", "slug", _("a scenario has this slug already")
                    )
                ]
            )
        wanted = _checked(lambda: scenarios_io.parse_scenario(raw, SOURCE), refused)
        scenarios_io.import_document(
            organisation, ScenarioFile((wanted,)), file=SOURCE, user_id=request.user.pk,
            action="scenario.created", request=request,
        )  # fmt: skip
    except ScenarioFileError as failure:
        for line in Errors.of(failure).problems:
            messages.error(request, _describe(line))
        return redirect("console:scenarios")
    messages.success(request, _("Scenario created."))
    return redirect("console:scenario", slug=wanted.slug)


def _scenario_or_404(request: HttpRequest, slug: str) -> Scenario:
    found = request.console.objects(Scenario).filter(slug=slug).first()  # type: ignore[attr-defined]
    if found is None:
        raise Http404
    return found


@console_view(Can.READ, post=Can.EDIT_SCENARIOS)
def scenario_page(request: HttpRequest, slug: str) -> HttpResponse:
    """The scenario's steps as a table, edited in place: rows added, removed and moved
    before saving (nothing is written until Save), every problem shown on its row."""
    scenario = _scenario_or_404(request, slug)
    organisation = scenario.organisation
    current = scenarios_io._scenario_def(scenario)
    values = {
        "name": defaults.name_for_reader(current.name),
        "description": defaults.description_for_reader(current.description),
        "thank_on_payment": current.thank_on_payment,
        "thank_template": current.thank_template,
    }
    rows = _for_reader([_step_row(step) for step in current.steps])
    errors = Errors()
    if request.method == "POST":
        values = {
            "name": request.POST.get("name", ""),
            "description": request.POST.get("description", ""),
            "thank_on_payment": request.POST.get("thank_on_payment") == "on",
            "thank_template": request.POST.get("thank_template", "").strip(),
        }
        rows = _rows(request.POST, "step", STEP_FIELDS)
        if not _reorder(rows, request.POST.get("op", "save"), STEP_FIELDS):
            refused: list[Problem] = []
            raw = {
                "slug": scenario.slug, **values, "default": scenario.is_default,
                "name": defaults.names_as_written([str(values["name"])], [current.name])[0],
                "description": defaults.description_as_written(
                    str(values["description"]), current.description
                ),
                "thank_template": values["thank_template"] or None,
                "steps": [
                    _step_mapping(row, scenario.slug, n, refused)
                    for n, row in enumerate(
                        _as_written(rows, [step.name for step in current.steps]), 1
                    )
                ],
            }  # fmt: skip
            try:
                wanted = _checked(lambda: scenarios_io.parse_scenario(raw, SOURCE), refused)
                result = scenarios_io.import_document(
                    organisation, ScenarioFile((wanted,)), file=SOURCE, user_id=request.user.pk,
                    action="scenario.updated", as_of=today_for(organisation), request=request,
                )  # fmt: skip
            except ScenarioFileError as failure:
                errors = Errors.of(failure)
            else:
                messages.success(
                    request, _("Scenario saved.") if result.changes else _("Nothing changed.")
                )
                url = reverse("console:scenario", args=[scenario.slug])
                return HttpResponseClientRedirect(url) if request.htmx else redirect(url)  # type: ignore[attr-defined]
    templates = _templates_by_channel(organisation)
    context = {
        "scenario": scenario,
        "values": values,
        "rows": [
            (
                n,
                row,
                errors.rows.get(n, {}),
                _template_choices(templates.get(row["channel"], set()), row["template"]),
            )
            for n, row in enumerate(rows, 1)
        ],
        "thank_templates": _template_choices(
            templates.get(StepChannel.EMAIL, set()), str(values["thank_template"] or "")
        ),
        "errors": errors,
        "channels": _choices(StepChannel),
        "modes": _choices(StepMode),
        "count": _stored_counts(organisation, today_for(organisation)).get(scenario.pk, 0),
    }
    if request.htmx:  # type: ignore[attr-defined]
        return render(request, "console/scenarios/_steps_form.html", context)
    return render(request, "console/scenarios/scenario.html", context)


@console_view(Can.EDIT_SCENARIOS)
def scenario_default(request: HttpRequest, slug: str) -> HttpResponse:
    """Make this scenario the one of customers no rule matches (the former loses it)."""
    scenario = _scenario_or_404(request, slug)
    if request.method == "POST" and not scenario.is_default:
        organisation = scenario.organisation
        wanted = replace(_definitions(organisation)[slug], default=True)
        try:
            scenarios_io.import_document(
                organisation, ScenarioFile((wanted,)), file=SOURCE, user_id=request.user.pk,
                action="scenario.default_changed", request=request,
            )  # fmt: skip
        except ScenarioFileError as failure:
            for problem in failure.problems:
                messages.error(request, _describe(problem))
        else:
            messages.success(request, _("This scenario is now the default."))
    return redirect("console:scenario", slug=slug)


@console_view(Can.EDIT_SCENARIOS)
def scenario_delete(request: HttpRequest, slug: str) -> HttpResponse:
    scenario = _scenario_or_404(request, slug)
    if request.method != "POST":
        return redirect("console:scenario", slug=slug)
    try:
        scenarios_io.delete_scenario(
            scenario.organisation, slug, user=request.user, request=request
        )
    except ScenarioFileError as failure:
        for problem in failure.problems:
            messages.error(request, _describe(problem))
        return redirect("console:scenario", slug=slug)
    messages.success(request, _("Scenario deleted."))
    return redirect("console:scenarios")


# -- segment rules ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Share:
    scenario: Scenario
    now: int  # under the stored rules
    edited: int | None  # under the rules as edited (None: they do not validate)


def _shares(
    organisation: Organisation, scenarios: list[Scenario], rows: list[dict[str, str]]
) -> tuple[list[Share], Errors]:
    """How many customers each scenario gets under the stored rules and under ``rows``."""
    as_of = today_for(organisation)
    now = _stored_counts(organisation, as_of)
    errors = Errors()
    edited: dict[int, int] | None = None
    try:
        refused: list[Problem] = []
        raw = [_rule_mapping(r, n, refused) for n, r in enumerate(rows, 1)]
        rules = _checked(lambda: scenarios_io.parse_rules(raw, SOURCE), refused)
        ids = {s.slug: s.pk for s in scenarios}
        unknown = [
            Problem(SOURCE, f"rule {n}", "scenario", _("no such scenario"))
            for n, rule in enumerate(rules, 1)
            if rule.scenario not in ids
        ]
        if unknown:
            raise ScenarioFileError(unknown)
        default = next((s.pk for s in scenarios if s.is_default), None)
        if default is not None:
            edited = dict(segments.counts(organisation, as_of, _specs(rules, ids), default))
    except ScenarioFileError as failure:
        errors = Errors.of(failure)
    shares = [
        Share(s, now.get(s.pk, 0), None if edited is None else edited.get(s.pk, 0))
        for s in scenarios
    ]
    return shares, errors


def _specs(rules: Sequence[RuleDef], ids: Mapping[str, int]) -> list[segments.Rule]:
    return [
        segments.Rule(n, r.name, ids[r.scenario], r.risk_class, r.min_invoice_amount,
                      r.min_years, r.max_years)
        for n, r in enumerate(rules, 1)
    ]  # fmt: skip


@console_view(Can.READ, post=Can.EDIT_SCENARIOS)
def rules_page(request: HttpRequest) -> HttpResponse:
    """The segment rules in order, edited as a table, with how many customers each
    scenario would get under the rules as they stand in the table."""
    console = request.console  # type: ignore[attr-defined]
    organisation = console.organisation
    scenarios = list(console.objects(Scenario).order_by("name", "slug"))
    stored = [_rule_row(r) for r in scenarios_io._current_rules(organisation)]
    rows = _for_reader(stored)
    errors = Errors()
    if request.method == "POST":
        rows = _rows(request.POST, "rule", RULE_FIELDS)
        if not _reorder(rows, request.POST.get("op", "save"), RULE_FIELDS):
            written = _as_written(rows, [row["name"] for row in stored])
            try:
                refused: list[Problem] = []
                raw = [_rule_mapping(r, n, refused) for n, r in enumerate(written, 1)]
                rules = _checked(lambda: scenarios_io.parse_rules(raw, SOURCE), refused)
                result = scenarios_io.import_document(
                    organisation, ScenarioFile((), rules), file=SOURCE, user_id=request.user.pk,
                    action="scenario.rules_updated", request=request,
                )  # fmt: skip
            except ScenarioFileError as failure:
                errors = Errors.of(failure)
            else:
                messages.success(
                    request, _("Rules saved.") if result.changes else _("Nothing changed.")
                )
                url = reverse("console:scenario_rules")
                return HttpResponseClientRedirect(url) if request.htmx else redirect(url)  # type: ignore[attr-defined]
    shares, share_errors = _shares(organisation, scenarios, rows)
    context = {
        "rows": [(n, row, errors.rows.get(n, {})) for n, row in enumerate(rows, 1)],
        "errors": errors,
        "shares": shares,
        "share_errors": share_errors,
        "scenarios": scenarios,
        "risks": _choices(RiskClass),
    }
    if request.htmx:  # type: ignore[attr-defined]
        return render(request, "console/scenarios/_rules_form.html", context)
    return render(request, "console/scenarios/rules.html", context)


@console_view(Can.READ, post=Can.EDIT_SCENARIOS)
def rules_counts(request: HttpRequest) -> HttpResponse:
    """The counts panel for the rules as edited (htmx, on every change)."""
    console = request.console  # type: ignore[attr-defined]
    scenarios = list(console.objects(Scenario).order_by("name", "slug"))
    source = request.POST if request.method == "POST" else request.GET
    rows = _rows(source, "rule", RULE_FIELDS)
    shares, share_errors = _shares(console.organisation, scenarios, rows)
    return render(
        request, "console/scenarios/_counts.html", {"shares": shares, "share_errors": share_errors}
    )


# -- simulation -------------------------------------------------------------------------------


@console_view(Can.READ)
def scenario_simulation(request: HttpRequest, slug: str) -> HttpResponse:
    """What the scenario would send over the next days if no payment came."""
    scenario = _scenario_or_404(request, slug)
    organisation = scenario.organisation
    reference = request.GET.get("customer", "").strip()
    try:
        days = min(max(int(request.GET.get("days", DEFAULT_DAYS)), 1), MAX_DAYS)
    except ValueError:
        days = DEFAULT_DAYS
    customer = None
    problem = ""
    if reference:
        customer = (
            request.console.objects(Customer).filter(reference=reference).first()  # type: ignore[attr-defined]
        )
        if customer is None:
            problem = _("No customer with the reference %(reference)s.") % {"reference": reference}
    result = None
    if not problem:
        try:
            result = simulate(
                organisation, today_for(organisation), days, scenario=slug, customer=customer,
                limit=SIMULATION_CUSTOMERS,
            )  # fmt: skip
        except SimulationError as error:
            problem = run_errors.shown(str(error))
    return render(
        request,
        "console/scenarios/simulation.html",
        {
            "table": _by_day(result) if result else [],
            "per_channel": [
                (channel, CHANNEL_LABELS.get(channel, channel), n)
                for channel, n in (result.per_channel().items() if result else [])
            ],
            "scenario": scenario,
            "days": days,
            "reference": reference,
            "result": result,
            "problem": problem,
            "capped": result is not None
            and customer is None
            and result.customers >= SIMULATION_CUSTOMERS,
            "limit": SIMULATION_CUSTOMERS,
        },
    )


def _by_day(result: Any) -> list[tuple[dt.date, list[tuple[Any, ...]]]]:
    """The simulated communications by day, each with its customer and its totals."""
    table = []
    for day, comms in result.by_day():
        rows = []
        for comm in comms:
            totals: dict[str, Any] = {}
            for item in comm.items:
                totals[item.currency] = totals.get(item.currency, 0) + item.balance
            who = result.names.get(comm.customer_id, ("", ""))
            label = CHANNEL_LABELS.get(comm.channel, comm.channel)
            rows.append((comm, who, sorted(totals.items()), label))
        table.append((day, rows))
    return table


# -- templates --------------------------------------------------------------------------------


@console_view(Can.READ)
def template_list(request: HttpRequest) -> HttpResponse:
    """Every template: shipped wording and the organisation's own, per language."""
    organisation = request.console.organisation  # type: ignore[attr-defined]
    grouped: dict[tuple[str, str], list[overrides.Entry]] = {}
    for entry in overrides.catalogue(organisation):
        grouped.setdefault((entry.channel, entry.slug), []).append(entry)
    used = set(request.console.objects(Step).values_list("channel", "template"))  # type: ignore[attr-defined]
    # A registered letter is written from the letter templates.
    used |= {(overrides.LETTER, t) for c, t in used if c == StepChannel.REGISTERED_LETTER}
    rows = [
        {
            "channel": channel,
            "channel_label": label(StepChannel, channel),
            "slug": slug,
            "entries": entries,
            "used": (channel, slug) in used,
        }
        for (channel, slug), entries in sorted(grouped.items())
    ]
    return render(request, "console/scenarios/templates.html", {"rows": rows})


def _template_key(channel: str, language: str, slug: str) -> None:
    try:
        overrides.check_key(channel, language, slug)
    except overrides.TemplateRefused:
        raise Http404 from None


def _preview_customers(request: HttpRequest, chosen: Customer | None) -> list[Customer]:
    """Customers to preview on: those with the oldest open items (a real case), and the
    one chosen."""
    console = request.console  # type: ignore[attr-defined]
    organisation = console.organisation
    oldest = (
        console.objects(Invoice)
        .filter(balance__gt=organisation.min_balance)
        .values("customer_id")
        .annotate(oldest=Min("due_date"))
        .order_by("oldest", "customer_id")
        .values_list("customer_id", flat=True)[:PREVIEW_CUSTOMERS]
    )
    ids = list(oldest)
    if chosen is not None and chosen.pk not in ids:
        ids.insert(0, chosen.pk)
    found = {c.pk: c for c in console.objects(Customer).filter(pk__in=ids)}
    return [found[pk] for pk in ids if pk in found]


def _chosen_customer(request: HttpRequest, data: Mapping[str, Any]) -> Customer | None:
    value = data.get("customer", "")
    if not value:
        return None
    return request.console.get(Customer, value)  # type: ignore[attr-defined]


# The editor's field of each part.
PART_FIELDS = {
    TemplatePart.SUBJECT: "subject",
    TemplatePart.TEXT: "text",
    TemplatePart.HTML: "html",
    TemplatePart.TYP: "typ",
}


def _parts(post: Mapping[str, Any], channel: str) -> dict[str, str]:
    return {part.value: post.get(PART_FIELDS[part], "") for part in overrides.parts_of(channel)}


@console_view(Can.EDIT_SCENARIOS)
def template_page(request: HttpRequest, channel: str, language: str, slug: str) -> HttpResponse:
    """Edit one template's subject, text and HTML, with a live preview on a real customer;
    Save stores the organisation's own wording (refused with its errors)."""
    _template_key(channel, language, slug)
    console = request.console  # type: ignore[attr-defined]
    organisation = console.organisation
    data = request.POST if request.method == "POST" else request.GET
    customer = _chosen_customer(request, data)
    customers = _preview_customers(request, customer)
    if customer is None and customers:
        customer = customers[0]
    stored = overrides.sources(organisation, channel, language, slug)
    own = overrides.catalogue(organisation)
    overridden = any(
        e.overridden for e in own if (e.channel, e.language, e.slug) == (channel, language, slug)
    )
    parts = stored
    errors: list[overrides.TemplateError] = []
    if request.method == "POST":
        parts = _parts(request.POST, channel)
        if request.POST.get("op") != "preview":
            try:
                changed = overrides.save(
                    organisation, channel, language, slug, parts, user=request.user,
                    today=today_for(organisation), request=request,
                )  # fmt: skip
            except overrides.TemplateRefused as refused:
                errors = refused.errors
            else:
                messages.success(
                    request, _("Template saved: the next message uses it.") if changed
                    else _("Nothing changed."),
                )  # fmt: skip
                url = reverse("console:template", args=[channel, language, slug])
                if customer is not None:
                    url += f"?customer={customer.pk}"
                return redirect(url)
    preview = overrides.preview(
        organisation, channel, language, slug, customer, today_for(organisation), parts
    )
    return render(
        request,
        "console/scenarios/template.html",
        {
            **_html_frame(request, preview),
            **_letter_image(request, channel, language, slug, parts, preview),
            "channel": channel,
            "language": language,
            "slug": slug,
            "subject": parts.get(TemplatePart.SUBJECT.value, ""),
            "text": parts.get(TemplatePart.TEXT.value, ""),
            "html": parts.get(TemplatePart.HTML.value, ""),
            "typ": parts.get(TemplatePart.TYP.value, ""),
            "letter": channel == overrides.LETTER,
            "fields": [PART_FIELDS[part] for part in overrides.parts_of(channel)],
            "errors": errors,
            "preview": preview,
            "customers": customers,
            "customer": customer,
            "overridden": overridden,
            "shipped": any(overrides.shipped_sources(channel, language, slug).values()),
            "variables": LETTER_VARIABLES if channel == overrides.LETTER else VARIABLES,
        },
    )


@console_view(Can.EDIT_SCENARIOS)
def template_preview(request: HttpRequest, channel: str, language: str, slug: str) -> HttpResponse:
    """The preview of the wording being typed (htmx; nothing is stored)."""
    _template_key(channel, language, slug)
    organisation = request.console.organisation  # type: ignore[attr-defined]
    data = request.POST if request.method == "POST" else request.GET
    customer = _chosen_customer(request, data)
    if customer is None:
        customers = _preview_customers(request, None)
        customer = customers[0] if customers else None
    parts = (
        _parts(request.POST, channel)
        if request.method == "POST"
        else overrides.sources(organisation, channel, language, slug)
    )
    preview = overrides.preview(
        organisation, channel, language, slug, customer, today_for(organisation), parts
    )
    return render(
        request,
        "console/scenarios/_preview.html",
        {
            "preview": preview,
            "language": language,  # the preview's text is in it
            **_html_frame(request, preview),
            **_letter_image(request, channel, language, slug, parts, preview),
        },
    )


PREVIEW_SESSION_KEY = "relance_template_preview"


def _html_frame(request: HttpRequest, preview: overrides.Preview) -> dict[str, Any]:
    """The HTML part is shown in a sandboxed frame of its own address (``template_html``):
    it carries its own styles, which the console's policy refuses inline."""
    if not preview.html:
        return {}
    request.session[PREVIEW_SESSION_KEY] = preview.html
    return {"html_version": hashlib.sha256(preview.html.encode()).hexdigest()[:12]}


# The HTML part of the message being previewed: its inline styles allowed, nothing else
# (no script, no request out), shown only inside the console's own page.
@csp(
    {
        "default-src": ["'none'"],
        "style-src": ["'unsafe-inline'"],
        "img-src": ["data:"],
        "frame-ancestors": ["'self'"],
        "sandbox": [True],
    }
)
@xframe_options_sameorigin
@console_view(Can.EDIT_SCENARIOS)
def template_html(request: HttpRequest) -> HttpResponse:
    html = request.session.get(PREVIEW_SESSION_KEY, "")
    return HttpResponse(html, content_type="text/html; charset=utf-8")


LETTER_SESSION_KEY = "relance_letter_preview"
# Drafts of letters kept in the session for their image and PDF (a few kilobytes each).
LETTER_DRAFTS = 8


def _letter_image(
    request: HttpRequest,
    channel: str,
    language: str,
    slug: str,
    parts: Mapping[str, str],
    preview: overrides.Preview,
) -> dict[str, Any]:
    """A letter's preview is an image of its first page and a PDF, each of its own address
    (``template_letter``), compiled from the draft the session keeps: the page holds an
    ``<img>``, never the document."""
    if channel != overrides.LETTER or preview.document is None:
        return {}
    source = parts.get(TemplatePart.TYP.value, "")
    key = f"{language}/{slug}"
    drafts = {k: v for k, v in request.session.get(LETTER_SESSION_KEY, {}).items() if k != key}
    drafts = dict(list(drafts.items())[-(LETTER_DRAFTS - 1) :])
    request.session[LETTER_SESSION_KEY] = {**drafts, key: source}
    customer = preview.customer.pk if preview.customer is not None else ""
    version = hashlib.sha256(f"{customer}\0{source}".encode()).hexdigest()[:12]
    query = f"?customer={customer}&v={version}"
    return {
        "letter_png": reverse("console:template_letter", args=[language, slug, "png"]) + query,
        "letter_pdf": reverse("console:template_letter", args=[language, slug, "pdf"]) + query,
    }


# The letter being previewed, from the draft in the session (else the wording in force):
# an image or a PDF, nothing that runs.
@csp({"default-src": ["'none'"], "frame-ancestors": ["'self'"], "sandbox": [True]})
@console_view(Can.EDIT_SCENARIOS)
def template_letter(request: HttpRequest, language: str, slug: str, kind: str) -> HttpResponse:
    _template_key(overrides.LETTER, language, slug)
    if kind not in ("png", "pdf"):
        raise Http404
    organisation = request.console.organisation  # type: ignore[attr-defined]
    customer = _chosen_customer(request, request.GET)
    source = request.session.get(LETTER_SESSION_KEY, {}).get(f"{language}/{slug}")
    if source is None:
        source = overrides.sources(organisation, overrides.LETTER, language, slug)[
            TemplatePart.TYP.value
        ]
    preview = overrides.letter_preview(
        organisation, language, slug, customer, today_for(organisation), source,
        pdf=kind == "pdf",
    )  # fmt: skip
    if preview.document is None:
        why = preview.problem or "; ".join(str(e) for e in preview.errors)
        return HttpResponse(why, status=422, content_type="text/plain; charset=utf-8")
    if kind == "png":
        return HttpResponse(preview.document, content_type="image/png")
    response = HttpResponse(preview.document, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{slug}-{language}-draft.pdf"'
    return response


@console_view(Can.EDIT_SCENARIOS)
def template_reset(request: HttpRequest, channel: str, language: str, slug: str) -> HttpResponse:
    _template_key(channel, language, slug)
    if request.method == "POST":
        organisation = request.console.organisation  # type: ignore[attr-defined]
        if overrides.reset(organisation, channel, language, slug, user=request.user,
                           request=request):  # fmt: skip
            messages.success(request, _("Back to the shipped wording."))
    return redirect("console:template", channel=channel, language=language, slug=slug)


# What a template may use (docs/templates.md lists them in full).
VARIABLES = (
    ("organisation", "name, legal_name, address, email, phone, signature, siren, vat_number"),
    ("customer", "reference, legal_name, trade_name, siren, vat_number"),
    ("contact_name", ""),
    ("lines", "number, issue_date, due_date, amount, balance, currency, days_overdue"),
    ("due_lines, upcoming_lines, single, single_due", ""),
    ("totals, due_totals", "currency, amount"),
    ("penalties", "law, rate, totals"),
    ("payment", "holder, iban, bic, reference, amount, currency, qr, qr_size"),
    ("today, deadline, notice_days, pay_by, pay_within", ""),
    ("money, short_date, long_date, percent", "filters"),
)

# What a letter's ``d`` holds and the layout's helpers (docs/letters.md).
LETTER_VARIABLES = (
    ("d.greeting, d.salutation, d.subject, d.date, d.place_date", ""),
    ("d.invoices", "number, issued, due, amount, balance, days, interest, indemnity"),
    ("d.claimed, d.claimed_text", "principal, interest, indemnity, total"),
    ("d.penalties", "law (fr, uk, eu), computed, rate"),
    ("d.deadline, d.notice_days, d.pay_by, d.pay_within", ""),
    ("d.debtor, d.sender, d.to, d.agent, d.payment, d.plan, d.signature", ""),
    (
        "invoices(d, penalties: true), claimed(d), paying(d), signature(d)",
        '#import "/relance.typ": *',
    ),
    ("agency-intro(d), agency-mentions(d), statement-totals(d), plan-table(d)", ""),
)

CHANNEL = "<slug:channel>/<slug:language>/<slug:slug>"
urlpatterns = [
    path("scenarios/", scenario_list, name="scenarios"),
    path("scenarios/new/", scenario_new, name="scenario_new"),
    path("scenarios/rules/", rules_page, name="scenario_rules"),
    path("scenarios/rules/counts/", rules_counts, name="scenario_rules_counts"),
    path("scenarios/<slug:slug>/", scenario_page, name="scenario"),
    path("scenarios/<slug:slug>/default/", scenario_default, name="scenario_default"),
    path("scenarios/<slug:slug>/delete/", scenario_delete, name="scenario_delete"),
    path("scenarios/<slug:slug>/simulation/", scenario_simulation, name="scenario_simulation"),
    path("templates/", template_list, name="templates"),
    path("templates/preview.html", template_html, name="template_html"),
    path(f"templates/{CHANNEL}/", template_page, name="template"),
    path(f"templates/{CHANNEL}/preview/", template_preview, name="template_preview"),
    path(f"templates/{CHANNEL}/reset/", template_reset, name="template_reset"),
    path(
        "templates/letter/<slug:language>/<slug:slug>/draft.<slug:kind>",
        template_letter,
        name="template_letter",
    ),
]
