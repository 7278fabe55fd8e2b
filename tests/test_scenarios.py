"""Scenarios as data: the defaults of the product table, the YAML export and import (round
trip, stable bytes, strict validation, dry run) and the choice of a customer's scenario."""

from __future__ import annotations

import copy
import datetime as dt
import json
import random
from dataclasses import replace
from decimal import Decimal
from io import StringIO

import factories
import pytest
import yaml
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from relance.accounts.models import Organisation
from relance.accounts.services import create_organisation
from relance.dunning.defaults import DEFAULTS_FILE, install_defaults
from relance.dunning.models import CustomerScenario, Scenario, SegmentRule, Step
from relance.dunning.scenarios_io import (
    RuleDef,
    ScenarioDef,
    ScenarioFile,
    ScenarioFileError,
    StepDef,
    export_yaml,
    parse_yaml,
    render,
    row_of,
)
from relance.dunning.segments import (
    CustomerFacts,
    NoDefaultScenario,
    Rule,
    choose_scenario,
    load_rules,
    rule_match,
    seniority,
)

AS_OF = dt.date(2026, 11, 24)


# -- helpers ------------------------------------------------------------------------------


def snapshot(org) -> dict:
    """The organisation's scenarios and rules as plain values, read straight from the ORM."""
    scenarios = {
        s.slug: (
            s.name, s.description, s.is_default, s.thank_on_payment, s.thank_template,
            [
                (row.position, row.name, row.offset, row.min_gap, row.channel, row.template,
                 row.mode, row.min_amount, row.max_amount)
                for row in Step.objects.filter(scenario=s).order_by("position")
            ],
        )
        for s in Scenario.objects.filter(organisation=org)
    }  # fmt: skip
    rules = [
        (r.name, r.scenario.slug, r.risk_class, r.min_invoice_amount, r.min_years, r.max_years)
        for r in SegmentRule.objects.filter(organisation=org).order_by("position")
    ]
    return {"scenarios": scenarios, "rules": rules}


def steps_of(org, slug: str) -> list[tuple]:
    return list(
        Step.objects.filter(scenario__organisation=org, scenario__slug=slug)
        .order_by("position")
        .values_list("offset", "channel", "template", "mode", "min_gap", "min_amount")
    )


def write(tmp_path, data, name="doc.yaml"):
    path = tmp_path / name
    text = data if isinstance(data, str) else yaml.safe_dump(data, allow_unicode=True)
    path.write_text(text, encoding="utf-8")
    return path


def run(*args) -> str:
    out = StringIO()
    call_command("scenario", *[str(a) for a in args], stdout=out)
    return out.getvalue()


def writes(queries) -> list[str]:
    verbs = ("INSERT", "UPDATE", "DELETE")
    return [q["sql"] for q in queries if q["sql"].lstrip().upper().startswith(verbs)]


@pytest.fixture
def installed(org):
    install_defaults(org)  # a no-op when organisation creation has installed them already
    return org


@pytest.fixture
def bare(db):
    """Organisations without any scenario: created past the service that installs them."""

    def make(slug: str = "bare") -> Organisation:
        return Organisation.objects.create(slug=slug, name=f"{slug.title()} SAS")

    return make


# -- the defaults -------------------------------------------------------------------------

E, C, L, RL, T, H = "email", "call", "letter", "registered_letter", "task", "handover"
A = "approval"


def test_it_installs_the_four_scenarios_of_the_product_table(installed):
    names = dict(Scenario.objects.filter(organisation=installed).values_list("slug", "name"))
    assert names == {
        "standard": "Standard",
        "high-risk": "Risque élevé",
        "key-account": "Grand compte / grosse facture",
        "trusted-partner": "Partenaire de confiance",
    }
    # Offsets and channels, as the table lists them.
    plan = {slug: [(o, ch) for o, ch, *_ in steps_of(installed, slug)] for slug in names}
    assert plan == {
        "standard": [(-5, E), (5, E), (8, C), (15, E), (30, RL), (40, RL), (50, T), (60, H)],
        "high-risk": [(-7, E), (-1, C), (3, E), (7, C), (10, E), (20, RL), (30, H)],
        "key-account": [(-5, E), (-2, C), (3, C), (10, E), (20, L), (30, RL)],
        "trusted-partner": [(7, E), (15, C), (30, E), (45, L), (60, RL)],
    }
    default = Scenario.objects.filter(organisation=installed, is_default=True)
    assert list(default.values_list("slug", flat=True)) == ["standard"]
    assert not Scenario.objects.filter(organisation=installed, thank_on_payment=False).exists()


def test_it_gives_the_standard_steps_their_templates_gaps_modes_and_conditions(installed):
    assert steps_of(installed, "standard") == [
        (-5, E, "courtesy", "auto", 0, None),
        (5, E, "first_reminder", "auto", 3, None),
        (8, C, "call", "auto", 3, Decimal("500.00")),
        (15, E, "firm_reminder", "auto", 5, None),
        (30, RL, "registered_letter", "auto", 7, None),
        (40, RL, "formal_notice", A, 8, None),  # at least 8 days after the previous step
        (50, T, "litigation_review", "auto", 7, Decimal("1500.00")),
        (60, H, "handover", A, 7, Decimal("1500.00")),
    ]


def test_it_sends_the_formal_notice_only_after_approval_in_every_scenario(installed):
    notices = Step.objects.filter(organisation=installed, template="formal_notice")
    assert sorted(notices.values_list("scenario__slug", "mode", "min_gap")) == [
        ("high-risk", A, 8),
        ("key-account", A, 8),
        ("standard", A, 8),
        ("trusted-partner", A, 10),
    ]


def test_it_installs_the_segment_rules_of_the_product(installed):
    assert snapshot(installed)["rules"] == [
        ("Risque élevé", "high-risk", "high", None, None, None),
        ("Grosse facture (20 000 et plus)", "key-account", "", Decimal("20000.00"), None, None),
        ("Client fidèle (5 ans et plus, risque faible)", "trusted-partner", "low", None, 5, None),
    ]


def test_it_gives_every_new_organisation_the_defaults(db):
    organisation = create_organisation("neuve", name="Neuve SARL")
    slugs = Scenario.objects.filter(organisation=organisation).values_list("slug", flat=True)
    assert sorted(slugs) == ["high-risk", "key-account", "standard", "trusted-partner"]
    assert SegmentRule.objects.filter(organisation=organisation).count() == 3


def test_it_installs_the_defaults_only_once(bare):
    org = bare()
    assert install_defaults(org) == ["high-risk", "key-account", "standard", "trusted-partner"]
    before = snapshot(org)
    ids = sorted(Step.objects.filter(organisation=org).values_list("id", flat=True))
    assert install_defaults(org) == []
    assert snapshot(org) == before
    assert sorted(Step.objects.filter(organisation=org).values_list("id", flat=True)) == ids


def test_it_leaves_an_existing_scenario_its_default_flag_and_its_rules_alone(bare):
    org = bare()
    mine = factories.scenario(org, [(10, 0, E, "mine")], slug="standard", name="Mine")
    SegmentRule.objects.create(organisation=org, position=1, name="All", scenario=mine)
    assert install_defaults(org) == ["high-risk", "key-account", "trusted-partner"]
    assert steps_of(org, "standard") == [(10, E, "mine", "auto", 0, None)]
    defaults = Scenario.objects.filter(organisation=org, is_default=True)
    assert list(defaults.values_list("name", flat=True)) == ["Mine"]
    assert snapshot(org)["rules"] == [("All", "standard", "", None, None, None)]


def test_it_installs_the_defaults_of_each_organisation_apart(bare):
    org, other_org = bare("one"), bare("two")
    install_defaults(org)
    assert not Scenario.objects.filter(organisation=other_org).exists()
    install_defaults(other_org)
    assert snapshot(other_org) == snapshot(org)


def test_it_ships_the_defaults_in_the_export_format(installed):
    # The shipped file is exactly what an export of a fresh organisation gives.
    assert export_yaml(installed).encode() == DEFAULTS_FILE.read_bytes()


def test_it_installs_the_defaults_from_the_command(bare):
    org = bare()
    assert "high-risk, key-account, standard, trusted-partner" in run("install-defaults")
    assert "none, all were there" in run("install-defaults", "--org", "bare")
    assert Scenario.objects.filter(organisation=org).count() == 4


# -- export and import --------------------------------------------------------------------


def customise(org) -> None:
    """Things the defaults do not have: text that YAML must quote, newlines, every
    condition of a rule, an amount with cents."""
    standard = Scenario.objects.get(organisation=org, slug="standard")
    standard.description = 'Ligne 1: "citée"\n  indentée\n\nfin # pas un commentaire'
    standard.thank_on_payment = False
    standard.save()
    Step.objects.filter(scenario=standard, position=2).update(
        name="yes", min_amount=Decimal("12.50"), mode=A
    )
    # A write-off review for small balances only.
    Step.objects.filter(scenario=standard, position=4).update(max_amount=Decimal("150.00"))
    vip = Scenario.objects.get(organisation=org, slug="key-account")
    SegmentRule.objects.create(
        organisation=org, position=9, name="Récent: 0-2 ans", scenario=vip, risk_class="medium",
        min_invoice_amount=Decimal("0.01"), min_years=0, max_years=2,
    )  # fmt: skip


def test_it_round_trips_an_organisation_through_yaml(installed, bare, tmp_path):
    other_org = bare()
    customise(installed)
    text = export_yaml(installed)
    path = write(tmp_path, text, "acme.yaml")
    run("import", path, "--org", "bare")
    assert snapshot(other_org) == snapshot(installed)
    assert export_yaml(other_org) == text


def test_it_reimports_its_own_export_without_writing_anything(installed, tmp_path):
    customise(installed)
    path = write(tmp_path, export_yaml(installed))
    with CaptureQueriesContext(connection) as queries:
        output = run("import", path)
    assert "nothing to change" in output
    assert writes(queries) == []


def test_it_exports_the_same_bytes_whatever_the_order_of_creation(bare, tmp_path):
    org, other_org = bare("acme"), bare("globex")
    document = yaml.safe_load(DEFAULTS_FILE.read_text(encoding="utf-8"))
    reversed_document = {**document, "scenarios": document["scenarios"][::-1]}
    run("import", write(tmp_path, document, "a.yaml"), "--org", "acme")
    run("import", write(tmp_path, reversed_document, "b.yaml"), "--org", "globex")
    first = export_yaml(org)
    assert first == export_yaml(other_org)
    assert first == export_yaml(org)


def test_it_exports_to_a_file_or_to_standard_output(installed, tmp_path):
    target = tmp_path / "out.yaml"
    assert "Wrote the scenarios of acme" in run("export", "--output", target)
    assert target.read_bytes() == run("export").encode() == DEFAULTS_FILE.read_bytes()
    with pytest.raises(CommandError, match="no organisation 'nope'"):
        run("export", "--org", "nope")


def test_it_replaces_the_steps_of_the_scenarios_the_file_names_only(installed, tmp_path):
    document = yaml.safe_load(DEFAULTS_FILE.read_text(encoding="utf-8"))
    standard = next(s for s in document["scenarios"] if s["slug"] == "standard")
    standard["steps"] = [
        *standard["steps"][:2],
        {"name": "Dernier appel", "offset": 20, "channel": C, "template": "call"},
    ]
    document["scenarios"] = [standard]
    del document["rules"]
    before = snapshot(installed)
    first_step = Step.objects.get(scenario__slug="standard", organisation=installed, position=1)
    output = run("import", write(tmp_path, document))
    assert "update scenario 'standard': step 3 changed; 5 steps removed" in output
    assert steps_of(installed, "standard") == [
        (-5, E, "courtesy", "auto", 0, None),
        (5, E, "first_reminder", "auto", 3, None),
        (20, C, "call", "auto", 0, None),
    ]
    after = snapshot(installed)
    assert {k: v for k, v in after["scenarios"].items() if k != "standard"} == {
        k: v for k, v in before["scenarios"].items() if k != "standard"
    }
    assert after["rules"] == before["rules"]
    # The unchanged step keeps its row, and with it the history that points to it.
    assert Step.objects.filter(pk=first_step.pk, position=1).exists()


def test_it_prunes_the_scenarios_the_file_leaves_out_only_when_asked(installed, tmp_path):
    document = yaml.safe_load(DEFAULTS_FILE.read_text(encoding="utf-8"))
    document["scenarios"] = [s for s in document["scenarios"] if s["slug"] == "standard"]
    document["rules"] = []
    path = write(tmp_path, document)
    run("import", path)
    slugs = set(Scenario.objects.filter(organisation=installed).values_list("slug", flat=True))
    assert slugs == {"standard", "high-risk", "key-account", "trusted-partner"}
    assert not SegmentRule.objects.filter(organisation=installed).exists()
    output = run("import", path, "--prune")
    assert "delete scenario 'high-risk' (Risque élevé)" in output
    assert list(Scenario.objects.filter(organisation=installed).values_list("slug", flat=True)) == [
        "standard"
    ]


def test_it_refuses_to_prune_a_scenario_chosen_for_a_customer(installed, tmp_path):
    customer = factories.customer(installed, "C1", legal_name="X")
    trusted = Scenario.objects.get(organisation=installed, slug="trusted-partner")
    CustomerScenario.objects.create(organisation=installed, customer=customer, scenario=trusted)
    document = yaml.safe_load(DEFAULTS_FILE.read_text(encoding="utf-8"))
    document["scenarios"] = [s for s in document["scenarios"] if s["slug"] != "trusted-partner"]
    document["rules"] = document["rules"][:2]
    before = snapshot(installed)
    with pytest.raises(CommandError) as error:
        run("import", write(tmp_path, document), "--prune")
    assert (
        "doc.yaml, scenario 'trusted-partner': --prune would delete it, but 1 customer follows"
        " it by explicit choice" in str(error.value)
    )
    assert snapshot(installed) == before


def test_it_moves_the_default_to_the_scenario_the_file_marks(installed, tmp_path):
    document = yaml.safe_load(DEFAULTS_FILE.read_text(encoding="utf-8"))
    trusted = next(s for s in document["scenarios"] if s["slug"] == "trusted-partner")
    trusted["default"] = True
    output = run("import", write(tmp_path, {"version": 1, "scenarios": [trusted]}))
    assert "scenario 'standard' is no longer the default" in output
    defaults = Scenario.objects.filter(organisation=installed, is_default=True)
    assert list(defaults.values_list("slug", flat=True)) == ["trusted-partner"]


def test_it_writes_nothing_on_a_dry_run(installed, tmp_path):
    document = yaml.safe_load(DEFAULTS_FILE.read_text(encoding="utf-8"))
    document["scenarios"][0]["steps"][0]["offset"] = -10
    new_step = {"name": "x", "offset": 1, "channel": E, "template": "x"}
    document["scenarios"] = [
        document["scenarios"][0],
        {"slug": "new", "name": "New", "steps": [new_step]},
    ]
    document["scenarios"][1]["default"] = True
    document["rules"] = document["rules"][:1]
    before = snapshot(installed)
    with CaptureQueriesContext(connection) as queries:
        output = run("import", write(tmp_path, document), "--dry-run", "--prune")
    assert output.splitlines() == [
        "doc.yaml → acme: would change:",
        "  update scenario 'high-risk': step 1 changed",
        "  create scenario 'new' with 1 step",
        "  replace the segment rules: 2 rules removed",
        "  delete scenario 'key-account' (Grand compte / grosse facture)",
        "  delete scenario 'standard' (Standard)",
        "  delete scenario 'trusted-partner' (Partenaire de confiance)",
        "Dry run: nothing was written.",
    ]
    assert writes(queries) == []
    assert snapshot(installed) == before


def test_it_reports_the_import_as_json(installed, tmp_path):
    path = write(tmp_path, export_yaml(installed))
    result = json.loads(run("import", path, "--json", "--dry-run"))
    assert result["ok"] is True
    assert result["changes"] == []
    assert result["counts"]["unchanged"] == 4


# -- validation ---------------------------------------------------------------------------

BASE = {
    "version": 1,
    "scenarios": [
        {"slug": "standard", "name": "Standard", "default": True, "steps": [
            {"name": "Rappel", "offset": -5, "channel": E, "template": "courtesy"},
            {"name": "Relance", "offset": 5, "min_gap": 3, "channel": E,
             "template": "first_reminder"},
        ]},
        {"slug": "vip", "name": "VIP", "steps": [
            {"name": "Appel", "offset": 3, "channel": C, "template": "call"},
        ]},
    ],
    "rules": [{"name": "Gros", "scenario": "vip", "min_invoice_amount": "20000.00"}],
}  # fmt: skip
CHANNELS = "email, sms, letter, registered_letter, call, task, handover"
STEP_KEYS = "name, offset, min_gap, channel, template, mode, min_amount, max_amount"


def step(doc, scenario, position):
    return doc["scenarios"][scenario]["steps"][position - 1]


INVALID = {
    "unknown channel": (
        lambda d: step(d, 0, 1).update(channel="fax"),
        f"doc.yaml, scenario 'standard', step 1, field 'channel': 'fax' is not one of {CHANNELS}",
    ),
    "decreasing offset": (
        lambda d: step(d, 0, 2).update(offset=-6),
        "doc.yaml, scenario 'standard', step 2, field 'offset': -6 is lower than the offset -5"
        " of step 1: offsets may not decrease from one step to the next",
    ),
    "duplicate slug": (
        lambda d: d["scenarios"][1].update(slug="standard"),
        "doc.yaml, scenario 'standard', field 'slug': the slug appears 2 times",
    ),
    "negative gap": (
        lambda d: step(d, 0, 2).update(min_gap=-1),
        "doc.yaml, scenario 'standard', step 2, field 'min_gap': -1: may not be negative",
    ),
    "unknown step key": (
        lambda d: step(d, 1, 1).update(delay=2),
        f"doc.yaml, scenario 'vip', step 1, field 'delay': unknown field (known: {STEP_KEYS})",
    ),
    "unknown scenario key": (
        lambda d: d["scenarios"][1].update(colour="red"),
        "doc.yaml, scenario 'vip', field 'colour': unknown field (known: slug, name,"
        " description, default, thank_on_payment, thank_template, steps)",
    ),
    "unknown top key": (
        lambda d: d.update(scenario=[]),
        "doc.yaml, field 'scenario': unknown field (known: version, scenarios, rules)",
    ),
    "unknown rule key": (
        lambda d: d["rules"][0].update(min_amount=5),
        "doc.yaml, rule 1, field 'min_amount': unknown field (known: name, scenario,"
        " risk_class, min_invoice_amount, min_years, max_years)",
    ),
    "rule to an unknown scenario": (
        lambda d: d["rules"][0].update(scenario="gold"),
        "doc.yaml, rule 1, field 'scenario': no scenario 'gold' in the file or in"
        " organisation 'acme'",
    ),
    "two defaults": (
        lambda d: d["scenarios"][1].update(default=True),
        "doc.yaml, field 'default': several scenarios say `default: true` (standard, vip):"
        " exactly one scenario is the default",
    ),
    "no default": (
        lambda d: d["scenarios"][0].update(default=False),
        "doc.yaml, field 'default': no default scenario: mark the one for customers no rule"
        " matches `default: true`",
    ),
    "unknown mode": (
        lambda d: step(d, 1, 1).update(mode="manual"),
        "doc.yaml, scenario 'vip', step 1, field 'mode': 'manual' is not one of auto, approval",
    ),
    "fractional offset": (
        lambda d: step(d, 1, 1).update(offset=3.5),
        "doc.yaml, scenario 'vip', step 1, field 'offset': 3.5 is not a whole number",
    ),
    "three decimals": (
        lambda d: step(d, 1, 1).update(min_amount="12.345"),
        "doc.yaml, scenario 'vip', step 1, field 'min_amount': 12.345 is not an amount from 0"
        " with at most 2 decimals",
    ),
    "maximum below the minimum": (
        lambda d: step(d, 1, 1).update(min_amount="500.00", max_amount="100.00"),
        "doc.yaml, scenario 'vip', step 1, field 'max_amount': 100.00 is below the step's"
        " min_amount 500.00",
    ),
    "amount in words": (
        lambda d: d["rules"][0].update(min_invoice_amount="lots"),
        "doc.yaml, rule 1, field 'min_invoice_amount': 'lots' is not an amount (write it like"
        " 1500.00)",
    ),
    "seniority the wrong way": (
        lambda d: d["rules"][0].update(min_years=5, max_years=5),
        "doc.yaml, rule 1, field 'max_years': 5 is not above min_years (5)",
    ),
    "unknown risk class": (
        lambda d: d["rules"][0].update(risk_class="huge"),
        "doc.yaml, rule 1, field 'risk_class': 'huge' is not one of low, medium, high",
    ),
    "no steps": (
        lambda d: d["scenarios"][1].update(steps=[]),
        "doc.yaml, scenario 'vip', field 'steps': list at least one step",
    ),
    "missing name": (
        lambda d: step(d, 1, 1).pop("name"),
        "doc.yaml, scenario 'vip', step 1, field 'name': missing",
    ),
    "name too long": (
        lambda d: d["scenarios"][1].update(name="x" * 101),
        "doc.yaml, scenario 'vip', field 'name': longer than 100 characters",
    ),
    "bad slug": (
        lambda d: d["scenarios"][1].update(slug="très bien"),
        "doc.yaml, scenario 'très bien', field 'slug': 'très bien' is not a slug (letters,"
        " digits, - and _, at most 64)",
    ),
    "other version": (
        lambda d: d.update(version=2),
        "doc.yaml, field 'version': 2: this Relance reads version 1",
    ),
    "repeated rule name": (
        lambda d: d["rules"].append({"name": "Gros", "scenario": "standard"}),
        "doc.yaml, rule 2, field 'name': another rule is already named 'Gros'",
    ),
}


def test_it_imports_the_base_document_of_the_validation_tests(installed, tmp_path):
    run("import", write(tmp_path, BASE))
    assert steps_of(installed, "vip") == [(3, C, "call", "auto", 0, None)]


@pytest.mark.parametrize("case", INVALID, ids=list(INVALID))
def test_it_refuses_an_invalid_file_naming_the_file_the_place_and_the_field(
    case, installed, tmp_path
):
    document = copy.deepcopy(BASE)
    mutate, expected = INVALID[case]
    mutate(document)
    text = yaml.safe_dump(document, allow_unicode=True)
    before = snapshot(installed)
    with pytest.raises(CommandError) as error:
        run("import", write(tmp_path, text))
    lines = str(error.value).splitlines()
    assert lines[0] == "nothing was imported:"
    assert [line.strip() for line in lines[1:]] == [expected]
    assert snapshot(installed) == before


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "version: 1\nversion: 1\n",
            ["doc.yaml: not valid YAML: line 2, column 1: the key 'version' appears twice"],
        ),
        ("- a list\n", ["doc.yaml: a scenario file is a mapping with `version` and `scenarios`"]),
        (
            "scenarios: []\n",
            ["doc.yaml, field 'version': missing: write `version: 1` first",
             "doc.yaml, field 'scenarios': list at least one scenario"],
        ),
    ],
)  # fmt: skip
def test_it_refuses_a_file_that_is_not_a_scenario_document(text, expected, installed, tmp_path):
    before = snapshot(installed)
    with pytest.raises(CommandError) as error:
        run("import", write(tmp_path, text))
    assert [line.strip() for line in str(error.value).splitlines()[1:]] == expected
    assert snapshot(installed) == before


@pytest.mark.usefixtures("in_english")
def test_it_locates_a_yaml_syntax_error(tmp_path):
    with pytest.raises(ScenarioFileError) as error:
        parse_yaml("version: 1\nscenarios:\n  - slug: [a\n", "doc.yaml")
    [problem] = error.value.problems
    # The wording after the place is libyaml's or PyYAML's, whichever is installed.
    assert str(problem).startswith("doc.yaml: not valid YAML: line 4, column 1: ")


@pytest.mark.usefixtures("in_english")
def test_it_collects_every_problem_of_a_file_at_once(tmp_path):
    document = copy.deepcopy(BASE)
    step(document, 0, 1)["channel"] = "fax"
    step(document, 1, 1)["min_gap"] = -2
    document["rules"][0]["risk_class"] = "huge"
    with pytest.raises(ScenarioFileError) as error:
        parse_yaml(yaml.safe_dump(document), "doc.yaml")
    assert [(p.where, p.field) for p in error.value.problems] == [
        ("scenario 'standard', step 1", "channel"),
        ("scenario 'vip', step 1", "min_gap"),
        ("rule 1", "risk_class"),
    ]


def test_it_reads_amounts_exactly_never_as_floats():
    text = yaml.safe_dump(BASE).replace("'20000.00'", "0.30")
    document = parse_yaml(text, "doc.yaml")
    assert document.rules is not None
    amount = document.rules[0].min_invoice_amount
    assert isinstance(amount, Decimal) and amount == Decimal("0.30")


# -- any document survives writing and reading ------------------------------------------

PRINTABLE = st.characters(
    exclude_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp", "Zs"), include_characters=" "
)
names = st.text(PRINTABLE, min_size=1, max_size=100).filter(lambda s: s.strip() != "")
slugs = st.from_regex(r"[a-z0-9][a-zA-Z0-9_-]{0,20}", fullmatch=True)
AMOUNT_TOP = Decimal("9999999999999999.99")
amounts = st.none() | st.decimals(min_value=0, max_value=AMOUNT_TOP, places=2)


@st.composite
def steps_strategy(draw) -> tuple[StepDef, ...]:
    offsets = sorted(draw(st.lists(st.integers(-3660, 3660), min_size=1, max_size=5)))
    # One name per step, and no two steps alike but for their name (both refused).
    step_names = draw(st.lists(names, min_size=len(offsets), max_size=len(offsets), unique=True))
    steps = []
    for offset, step_name in zip(offsets, step_names, strict=True):
        low = draw(amounts)
        high = draw(st.none() | st.decimals(min_value=low or 0, max_value=AMOUNT_TOP, places=2))
        steps.append(
            StepDef(
                name=step_name,
                offset=offset,
                min_gap=draw(st.integers(0, 3660)),
                channel=draw(st.sampled_from([E, "sms", L, RL, C, T, H])),
                template=draw(slugs),
                mode=draw(st.sampled_from(["auto", A])),
                min_amount=low,
                max_amount=high,
            )
        )
    assume(len({replace(s, name="") for s in steps}) == len(steps))
    return tuple(steps)


@st.composite
def documents(draw) -> ScenarioFile:
    scenario_slugs = draw(st.lists(slugs, min_size=1, max_size=4, unique=True))
    default = draw(st.sampled_from(scenario_slugs))
    scenarios = tuple(
        ScenarioDef(
            slug=slug,
            name=draw(names),
            steps=draw(steps_strategy()),
            description=draw(st.text(max_size=300)),
            default=slug == default,
            thank_on_payment=draw(st.booleans()),
            thank_template=draw(slugs),
        )
        for slug in scenario_slugs
    )
    rule_names = draw(st.lists(names, max_size=4, unique=True))
    rules = []
    for name in rule_names:
        low = draw(st.none() | st.integers(0, 100))
        high = draw(st.none() | st.integers((low or 0) + 1, 200))
        rules.append(
            RuleDef(
                name=name,
                scenario=draw(st.sampled_from(scenario_slugs)),
                risk_class=draw(st.sampled_from(["", "low", "medium", "high"])),
                min_invoice_amount=draw(amounts),
                min_years=low,
                max_years=high,
            )
        )
    return ScenarioFile(scenarios, draw(st.none() | st.just(tuple(rules))))


@settings(max_examples=150, deadline=None)
@given(documents())
def test_it_reads_back_any_document_it_writes(document):
    text = render(document)
    assert parse_yaml(text, "any.yaml") == document
    assert render(parse_yaml(text, "any.yaml")) == text


# -- choosing the scenario ---------------------------------------------------------------

HIGH, KEY, TRUSTED, STANDARD = 1, 2, 3, 4
DEFAULT_RULES = [
    Rule(1, "Risque élevé", HIGH, risk_class="high"),
    Rule(2, "Grosse facture", KEY, min_invoice_amount=Decimal("20000.00")),
    Rule(3, "Client fidèle", TRUSTED, risk_class="low", min_years=5),
]


def facts(risk="medium", since=None, largest="100.00", as_of=AS_OF) -> CustomerFacts:
    amount = None if largest is None else Decimal(largest)
    return CustomerFacts(risk, since, amount, as_of)


@pytest.mark.parametrize(
    ("customer", "expected"),
    [
        (facts(risk="high"), HIGH),
        # First match wins: a risky customer with a large invoice and a long history.
        (facts(risk="high", largest="50000.00", since=dt.date(2000, 1, 1)), HIGH),
        (facts(largest="20000.00"), KEY),
        (facts(largest="19999.99"), STANDARD),
        (facts(largest=None), STANDARD),
        (facts(risk="low", largest="25000.00", since=dt.date(2000, 1, 1)), KEY),
        (facts(risk="low", since=dt.date(2021, 11, 24)), TRUSTED),  # five years to the day
        (facts(risk="low", since=dt.date(2021, 11, 25)), STANDARD),  # a day short
        (facts(risk="medium", since=dt.date(2000, 1, 1)), STANDARD),
        (facts(risk="low", since=None), STANDARD),  # seniority unknown: not trusted
    ],
)
def test_it_chooses_the_scenario_of_the_first_matching_rule(customer, expected):
    assert choose_scenario(customer, DEFAULT_RULES, STANDARD).scenario_id == expected


def test_it_explains_its_choice():
    assert choose_scenario(facts(risk="high"), DEFAULT_RULES, STANDARD) == (
        HIGH,
        "rule 1 “Risque élevé”: risk class high",
    )
    trusted = facts(risk="low", since=dt.date(2015, 3, 1))
    assert choose_scenario(trusted, DEFAULT_RULES, STANDARD).reason == (
        "rule 3 “Client fidèle”: risk class low, customer for 11 years"
    )
    assert choose_scenario(facts(), DEFAULT_RULES, STANDARD) == (
        STANDARD,
        "no rule matched: default scenario",
    )
    assert choose_scenario(facts(risk="high"), DEFAULT_RULES, STANDARD, TRUSTED) == (
        TRUSTED,
        "explicit choice for this customer",
    )


def test_it_reads_seniority_in_whole_years_and_bounds_it_above():
    recent = Rule(1, "Récent", KEY, max_years=2)
    assert choose_scenario(facts(since=dt.date(2025, 1, 1)), [recent], STANDARD)[0] == KEY
    assert choose_scenario(facts(since=dt.date(2024, 11, 24)), [recent], STANDARD)[0] == STANDARD
    assert choose_scenario(facts(since=dt.date(2024, 11, 25)), [recent], STANDARD)[0] == KEY
    assert seniority(dt.date(2020, 2, 29), dt.date(2025, 2, 28)) == 4
    assert seniority(dt.date(2020, 2, 29), dt.date(2025, 3, 1)) == 5
    assert seniority(dt.date(2030, 1, 1), AS_OF) == 0


def test_it_loads_the_rules_the_default_and_the_explicit_choices_in_three_queries(
    installed, django_assert_max_num_queries
):
    customer = factories.customer(installed, "C1", legal_name="X")
    ids = dict(Scenario.objects.filter(organisation=installed).values_list("slug", "id"))
    CustomerScenario.objects.create(
        organisation=installed, customer=customer, scenario_id=ids["key-account"]
    )
    with django_assert_max_num_queries(3):
        rules, default, explicit = load_rules(installed)
    assert [(r.position, r.scenario_id) for r in rules] == [
        (1, ids["high-risk"]), (2, ids["key-account"]), (3, ids["trusted-partner"]),
    ]  # fmt: skip
    name = "Client fidèle (5 ans et plus, risque faible)"
    expected = Rule(3, name, ids["trusted-partner"], "low", None, 5, currency=installed.currency)
    assert rules[2] == expected
    assert default == ids["standard"]
    assert explicit == {customer.pk: ids["key-account"]}


def test_it_says_when_an_organisation_has_no_default_scenario(bare):
    with pytest.raises(NoDefaultScenario, match="install-defaults"):
        load_rules(bare())


risk_classes = st.sampled_from(["low", "medium", "high"])
any_facts = st.builds(
    CustomerFacts,
    risk_class=risk_classes,
    customer_since=st.none() | st.dates(dt.date(1990, 1, 1), dt.date(2030, 12, 31)),
    largest_open_amount=st.none() | st.decimals(0, 100000, places=2),
    as_of=st.dates(dt.date(2020, 1, 1), dt.date(2030, 12, 31)),
)


@st.composite
def rule_lists(draw) -> list[Rule]:
    count = draw(st.integers(1, 5))
    positions = draw(st.lists(st.integers(1, 50), min_size=count, max_size=count, unique=True))
    rules = []
    for position in positions:
        low = draw(st.none() | st.integers(0, 30))
        rules.append(
            Rule(
                position,
                f"rule {position}",
                draw(st.integers(1, 6)),
                risk_class=draw(st.sampled_from(["", "low", "medium", "high"])),
                min_invoice_amount=draw(st.none() | st.decimals(0, 100000, places=2)),
                min_years=low,
                max_years=draw(st.none() | st.integers((low or 0) + 1, 40)),
            )
        )
    return rules


DEFAULT_ID = 99  # no rule of rule_lists() chooses it


@given(any_facts, rule_lists(), st.randoms(use_true_random=False))
def test_it_does_not_depend_on_rule_order_when_only_one_rule_matches(
    customer, rules, rnd: random.Random
):
    matching = [r for r in rules if rule_match(r, customer) is not None]
    assume(len(matching) == 1)
    positions = [r.position for r in rules]
    rnd.shuffle(positions)
    reordered = [replace(r, position=p) for p, r in zip(positions, rules, strict=True)]
    rnd.shuffle(reordered)
    assert choose_scenario(customer, reordered, DEFAULT_ID).scenario_id == matching[0].scenario_id


@given(any_facts, rule_lists(), rule_lists())
def test_it_keeps_a_rule_s_choice_when_rules_are_added_after_it(customer, rules, later):
    chosen = choose_scenario(customer, rules, DEFAULT_ID)
    assume(chosen.scenario_id != DEFAULT_ID)
    last = max(r.position for r in rules)
    more = rules + [replace(r, position=last + r.position) for r in later]
    assert choose_scenario(customer, more, DEFAULT_ID) == chosen


@given(any_facts, rule_lists(), st.integers(1, 200))
def test_it_lets_an_explicit_choice_win_over_any_rule(customer, rules, explicit):
    assert choose_scenario(customer, rules, DEFAULT_ID, explicit) == (
        explicit,
        "explicit choice for this customer",
    )


@given(st.dates(dt.date(1990, 1, 1), dt.date(2030, 12, 31)), st.integers(0, 60))
def test_it_counts_a_year_of_seniority_on_each_anniversary(since, years):
    assume(not (since.month == 2 and since.day == 29))
    anniversary = since.replace(year=since.year + years)
    assert seniority(since, anniversary) == years
    if years:
        assert seniority(since, anniversary - dt.timedelta(days=1)) == years - 1


def test_it_says_a_files_problems_in_the_readers_language_with_their_row():
    document = copy.deepcopy(BASE)
    step(document, 0, 2)["offset"] = "soon"
    document["rules"][0]["risk_class"] = "huge"
    text = yaml.safe_dump(document)
    said = {}
    for language in ("en", "fr"):
        with translation.override(language):
            with pytest.raises(ScenarioFileError) as error:
                parse_yaml(text, "doc.yaml")
            said[language] = [(str(p), row_of(p)) for p in error.value.problems]
    assert said["en"] == [
        ("doc.yaml, scenario 'standard', step 2, field 'offset': 'soon' is not a whole number", 2),
        ("doc.yaml, rule 1, field 'risk_class': 'huge' is not one of low, medium, high", 1),
    ]
    assert said["fr"] == [
        (
            "doc.yaml, scénario 'standard', étape 2, champ 'offset': 'soon' n'est pas un"
            " nombre entier",
            2,
        ),
        (
            "doc.yaml, règle 1, champ 'risk_class': 'huge' n'est pas l'une des valeurs low,"
            " medium, high",
            1,
        ),
    ]


def test_it_refuses_yaml_in_the_readers_language():
    with translation.override("fr"), pytest.raises(ScenarioFileError) as error:
        parse_yaml("version: 1\nversion: 1\n", "doc.yaml")
    assert [p.message for p in error.value.problems] == [
        "YAML non valide\u00a0: ligne 2, colonne 1\u00a0: la clé 'version' apparaît deux fois"
    ]
