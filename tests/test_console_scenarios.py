"""The console's scenario pages: steps edited in a table with the checks of `relance scenario
import`, levels protected, scenarios created, made default and deleted, segment rules with
the customers each scenario would get, the simulation; roles and organisations."""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
import re
from decimal import Decimal

import factories as make
import pytest
from django.urls import reverse

from relance.audit.models import AuditEvent
from relance.channels.models import MessageTemplate
from relance.dunning import scenarios_io, segments
from relance.dunning.models import ItemState, Scenario, SegmentRule, Step
from relance.dunning.segments import CustomerFacts, choose_scenario

pytestmark = pytest.mark.usefixtures("in_english")


D = dt.date(2026, 11, 24)
STEP_COLUMNS = ("name", "offset", "min_gap", "channel", "template", "mode", "min_amount",
                "max_amount")  # fmt: skip
RULE_COLUMNS = ("name", "scenario", "risk_class", "min_invoice_amount", "min_years", "max_years")


@pytest.fixture
def example(org):
    return make.scenario(org)  # five steps: J-5, J+5, J+8 call, J+15, J+30 letter


@pytest.fixture
def manager(org):
    return make.member(org, "manager@acme.test", "manager")


@pytest.fixture
def client_of(client):
    def sign_in(user):
        client.force_login(user)
        return client

    return sign_in


def rows_to_post(rows, changes=None, prefix="step", columns=STEP_COLUMNS):
    for row, values in (changes or {}).items():
        rows[row - 1].update(values)
    data = {f"{prefix}_{c}": [r.get(c, "") for r in rows] for c in columns}
    return data


def step_rows(scenario):
    return [
        {"name": s.name, "offset": str(s.offset), "min_gap": str(s.min_gap),
         "channel": s.channel, "template": s.template, "mode": s.mode,
         "min_amount": "" if s.min_amount is None else str(s.min_amount),
         "max_amount": "" if s.max_amount is None else str(s.max_amount)}
        for s in scenario.steps.order_by("position")
    ]  # fmt: skip


def post_steps(client, scenario, rows, op="save", htmx=False, **fields):
    data = rows_to_post(rows)
    data.update({"name": scenario.name, "description": "", "thank_on_payment": "on",
                 "thank_template": "thanks", "op": op, **fields})  # fmt: skip
    headers = {"HX-Request": "true"} if htmx else {}
    return client.post(reverse("console:scenario", args=[scenario.slug]), data, headers=headers)


def steps_of(scenario):
    return list(scenario.steps.order_by("position").values_list("name", "offset", "channel"))


# -- the table of steps -----------------------------------------------------------------------


def test_it_shows_the_steps_to_every_role_and_edits_only_for_managers(client_of, org, example):
    viewer = make.member(org, "viewer@acme.test", "viewer")
    page = client_of(viewer).get(reverse("console:scenario", args=["example"]))
    body = page.content.decode()
    assert page.status_code == 200
    assert body.count('class="step-row') == 5 and "registered_letter" in body
    assert '<fieldset class="plain" disabled>' in body and 'id="save-scenario"' not in body
    assert post_steps(client_of(viewer), example, step_rows(example)).status_code == 403
    collector = make.member(org, "collector@acme.test", "collector")
    assert post_steps(client_of(collector), example, step_rows(example)).status_code == 403


def test_a_steps_template_is_chosen_by_name_among_its_channels(
    client_of, org, example, manager, settings
):
    """The template of a step: a choice of its channel's templates (the organisation's own
    too) named in the reader's language, the code saved; a channel changed shows its own."""
    MessageTemplate.objects.create(organisation=org, channel="email", language="fr",
                                   slug="late_fees", part="txt", body="Frais")  # fmt: skip
    client = client_of(manager)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "fr"
    body = client.get(reverse("console:scenario", args=[example.slug])).content.decode()
    first = re.search(r'<select name="step_template"[^>]*>(.*?)</select>', body).group(1)
    options = dict(re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)</option>', first))
    assert options["first_reminder"] == "Première relance"
    assert "statement" not in options  # a letter's, not an e-mail's
    assert options["late_fees"] == "Late fees"  # the organisation's own
    assert '<input name="step_template"' not in body
    rows = step_rows(example)
    rows[0]["channel"] = "letter"
    changed = post_steps(client, example, rows, op="channel", htmx=True).content.decode()
    first = re.search(r'<select name="step_template"[^>]*>(.*?)</select>', changed).group(1)
    assert 'value="statement"' in first and "late_fees" not in first
    kept = rows[0]["template"]  # chosen still, the letters have none of that code
    assert f'value="{kept}" title="{kept}" selected' in first
    assert steps_of(example)[0][2] == "email"  # nothing saved by a channel changed


def test_it_saves_steps_edited_in_place_with_an_audit_trail(client_of, org, example, manager):
    rows = step_rows(example)
    rows[1].update(offset="7", min_gap="4", mode="approval", min_amount="50,00")
    before = list(example.steps.order_by("position").values_list("pk", flat=True))
    answer = post_steps(client_of(manager), example, rows, name="Standard (renamed)")
    assert answer.status_code == 302
    second = Step.objects.get(scenario=example, position=2)
    assert (second.offset, second.min_gap, second.mode, str(second.min_amount)) == (
        7, 4, "approval", "50.00",
    )  # fmt: skip
    assert list(example.steps.order_by("position").values_list("pk", flat=True)) == before
    example.refresh_from_db()
    assert example.name == "Standard (renamed)"
    event = AuditEvent.objects.get(action="scenario.updated")
    assert event.user_id == manager.pk and "step" in event.summary


def test_it_refuses_what_the_import_refuses_naming_the_row_and_field(client_of, org, example,
                                                                     manager):  # fmt: skip
    rows = step_rows(example)
    rows[1].update(offset="soon")
    rows[3].update(offset="-1", template="not a slug")
    answer = post_steps(client_of(manager), example, rows)
    assert answer.status_code == 200
    body = answer.content.decode()
    # The same problems as the same scenario in a file given to `relance scenario import`.
    yaml_steps = "".join(
        f"  - {{name: {r['name']}, offset: {r['offset']}, min_gap: {r['min_gap']},"
        f" channel: {r['channel']}, template: {r['template']!r}, mode: {r['mode']}}}\n"
        for r in rows
    )
    text = f"version: 1\nscenarios:\n- slug: example\n  name: Example\n  steps:\n{yaml_steps}"
    with pytest.raises(scenarios_io.ScenarioFileError) as from_file:
        scenarios_io.parse_yaml(text, "console")
    for problem in from_file.value.problems:
        assert problem.message.replace("'", "&#x27;") in body, problem
    assert [(scenarios_io.row_of(p), p.field) for p in from_file.value.problems] == [
        (2, "offset"), (4, "template"), (4, "offset"),
    ]  # fmt: skip
    assert body.count('aria-invalid="true"') == 3
    assert steps_of(example)[1][1] == 5  # nothing written


def test_it_adds_moves_and_removes_rows_before_saving(client_of, org, example, manager):
    client = client_of(manager)
    rows = step_rows(example)
    added = post_steps(client, example, rows, op="add").content.decode()
    assert added.count('class="step-row') == 6
    moved = post_steps(client, example, rows, op="up-3", htmx=True)
    body = moved.content.decode()
    assert "<html" not in body  # the form alone, swapped in place
    names = re.findall(r'name="step_name" value="([^"]*)"', body)
    assert names.index("call") < names.index("first_reminder")
    removed = post_steps(client, example, rows, op="remove-5").content.decode()
    assert removed.count('class="step-row') == 4
    assert len(steps_of(example)) == 5  # nothing written until Save
    rows.append({**rows[-1], "name": "Hand over", "offset": "45", "channel": "handover",
                 "template": "handover"})  # fmt: skip
    saved = post_steps(client, example, rows, htmx=True)
    assert saved.status_code == 200 and saved["HX-Redirect"].endswith("/scenarios/example/")
    assert steps_of(example)[-1] == ("Hand over", 45, "handover")


# -- levels --------------------------------------------------------------------------------


@pytest.fixture
def at_level_three(org, example):
    customer = make.customer(org, "C1")
    invoice = make.invoice(customer, "F1", due=D - dt.timedelta(days=10))
    ItemState.objects.create(invoice=invoice, level=3, level_date=D - dt.timedelta(days=2))
    return invoice


def test_it_refuses_to_move_steps_under_items_standing_there(client_of, org, example, manager,
                                                             at_level_three):  # fmt: skip
    client = client_of(manager)
    rows = step_rows(example)
    without_second = rows[:1] + rows[2:]
    answer = post_steps(client, example, without_second)
    body = answer.content.decode()
    assert answer.status_code == 200
    assert "step 2 or a later one holds 1 open item of 1 customer following this scenario" in body
    assert len(steps_of(example)) == 5
    again = {**rows[3], "name": "Phone again", "channel": "call", "template": "call"}
    replaced = [*rows[:3], again, rows[4]]
    assert post_steps(client, example, replaced).status_code == 302  # step 4 on: nobody there
    assert [s[0] for s in steps_of(example)][3:] == ["Phone again", "registered_letter"]
    # Edited in place, renamed, or added at the end: the items keep their meaning.
    rows = step_rows(example)
    rows[1].update(name="First reminder", min_gap="2")
    last = {**rows[0], "name": "Last", "offset": "60", "template": "x"}
    assert post_steps(client, example, [*rows, last]).status_code == 302
    # The same check when the file is imported.
    [current] = scenarios_io.export_document(org).scenarios
    fewer = dataclasses.replace(current, steps=current.steps[2:])
    with pytest.raises(scenarios_io.ScenarioFileError, match="step 1 or a later one holds"):
        scenarios_io.import_document(org, scenarios_io.ScenarioFile((fewer,)), file="f.yaml")


def test_it_lets_steps_move_when_the_items_there_follow_another_scenario(
    client_of, org, example, manager, at_level_three
):
    other = make.scenario(org, [(0, 0, "email", "first_reminder")], slug="other", default=False,
                          replace=False)  # fmt: skip
    SegmentRule.objects.create(organisation=org, position=1, name="All", scenario=other)
    rows = step_rows(example)
    assert post_steps(client_of(manager), example, rows[:1] + rows[2:]).status_code == 302
    assert len(steps_of(example)) == 4
    paid = make.customer(org, "C2")
    make.pay(make.invoice(paid, "F2", due=D), on=D)
    SegmentRule.objects.all().delete()
    ItemState.objects.filter(invoice__number="F1").delete()
    ItemState.objects.create(invoice=paid.invoices.get(), level=4)  # paid: not an open item
    assert post_steps(client_of(manager), example, step_rows(example)[1:]).status_code == 302


# -- scenarios: create, default, delete ---------------------------------------------------------


def test_it_creates_a_scenario_from_another_makes_it_default_and_deletes(client_of, org, example,
                                                                        manager):  # fmt: skip
    client = client_of(manager)
    created = client.post(reverse("console:scenario_new"),
                          {"slug": "gentle", "name": "Gentle", "copy": "example"})  # fmt: skip
    assert created.status_code == 302 and created["Location"].endswith("/scenarios/gentle/")
    gentle = Scenario.objects.get(organisation=org, slug="gentle")
    assert steps_of(gentle) == steps_of(example) and not gentle.is_default
    again = client.post(
        reverse("console:scenario_new"),
        {"slug": "gentle", "name": "Again", "copy": "example"},
        follow=True,
    )
    assert "has this slug already" in again.content.decode()
    bad = client.post(
        reverse("console:scenario_new"),
        {"slug": "no way", "name": "X", "copy": "example"},
        follow=True,
    )
    assert "is not a slug" in bad.content.decode().replace("&#x27;", "'")
    client.post(reverse("console:scenario_default", args=["gentle"]))
    assert set(Scenario.objects.filter(is_default=True).values_list("slug", flat=True)) == {
        "gentle"
    }
    refused = client.post(reverse("console:scenario_delete", args=["gentle"]), follow=True)
    assert "default scenario cannot be deleted" in refused.content.decode()
    SegmentRule.objects.create(organisation=org, position=1, name="Big", scenario=example)
    refused = client.post(reverse("console:scenario_delete", args=["example"]), follow=True)
    assert "rule 1 (Big) chooses it" in refused.content.decode()
    SegmentRule.objects.all().delete()
    client.post(reverse("console:scenario_delete", args=["example"]))
    assert list(Scenario.objects.filter(organisation=org).values_list("slug", flat=True)) == [
        "gentle"
    ]
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"scenario.created", "scenario.default_changed", "scenario.deleted"} <= actions


def test_it_answers_404_for_another_organisations_scenario(client_of, org, other_org, manager,
                                                           example):  # fmt: skip
    make.scenario(other_org, slug="theirs")
    client = client_of(manager)
    for name in ("console:scenario", "console:scenario_simulation"):
        assert client.get(reverse(name, args=["theirs"])).status_code == 404
    for name in ("console:scenario_default", "console:scenario_delete", "console:scenario"):
        assert client.post(reverse(name, args=["theirs"])).status_code == 404
    assert Scenario.objects.filter(organisation=other_org).exists()


# -- segment rules ------------------------------------------------------------------------------


@pytest.fixture
def population(org, example):
    quick = make.scenario(org, [(0, 0, "email", "first_reminder")], slug="quick", default=False,
                          replace=False)  # fmt: skip
    since = D.replace(year=D.year - 6)
    for n in range(12):
        customer = make.customer(
            org, f"P{n:02d}", risk_class=("low", "medium", "high")[n % 3],
            customer_since=since if n % 4 == 0 else None,
        )  # fmt: skip
        make.invoice(customer, due=D, amount=2000 if n % 5 == 0 else 100)
    return quick


def one_by_one(org, rules, default_id):
    """The counts the slow way: choose_scenario for each customer, as the run does."""
    largest = segments.largest_open(org, rules)
    counts = {}
    for customer in org_customers(org):
        facts = CustomerFacts(customer.risk_class, customer.customer_since,
                              largest.get(customer.pk), D)  # fmt: skip
        chosen = choose_scenario(facts, rules, default_id).scenario_id
        counts[chosen] = counts.get(chosen, 0) + 1
    return counts


def org_customers(org):
    from relance.ledger.models import Customer

    return Customer.objects.filter(organisation=org)


def test_it_counts_the_customers_each_scenario_would_get(client_of, org, example, population,
                                                         manager, monkeypatch):  # fmt: skip
    from relance.console import scenarios as page

    monkeypatch.setattr(page, "today_for", lambda organisation: D)
    rules = [
        {"name": "Risky", "scenario": "quick", "risk_class": "high"},
        {"name": "Big", "scenario": "quick", "min_invoice_amount": "1000"},
        {"name": "Old", "scenario": "example", "min_years": "5"},
    ]
    answer = client_of(manager).post(
        reverse("console:scenario_rules_counts"),
        rows_to_post(rules, prefix="rule", columns=RULE_COLUMNS), headers={"HX-Request": "true"},
    )  # fmt: skip
    body = answer.content.decode()
    specs = [
        segments.Rule(1, "Risky", population.pk, "high"),
        segments.Rule(2, "Big", population.pk, min_invoice_amount=make.money(1000)),
        segments.Rule(3, "Old", example.pk, min_years=5),
    ]
    expected = one_by_one(org, specs, example.pk)
    assert expected[population.pk] == 6  # 4 high, 2 more with a large invoice
    # Today (no rule yet) every customer follows the default; with the rules as edited:
    for scenario, now in ((example, 12), (population, 0)):
        cell = f'<tr data-scenario="{scenario.slug}">'
        row = body[body.index(cell) :].split("</tr>")[0]
        assert f'<td class="num">{now}</td>' in row
        assert f">{expected.get(scenario.pk, 0)}</td>" in row
    assert dict(segments.counts(org, D, specs, example.pk)) == expected
    broken = client_of(manager).post(
        reverse("console:scenario_rules_counts"),
        rows_to_post([{"name": "X", "scenario": "quick", "min_years": "3", "max_years": "2"}],
                     prefix="rule", columns=RULE_COLUMNS),
    ).content.decode()  # fmt: skip
    assert "is not above min_years" in broken
    assert not SegmentRule.objects.exists()  # counting writes nothing


def test_it_saves_the_rules_in_order(client_of, org, example, population, manager):
    client = client_of(manager)
    rules = [{"name": "Risky", "scenario": "quick", "risk_class": "high"},
             {"name": "Big", "scenario": "example", "min_invoice_amount": "1000"}]  # fmt: skip
    data = rows_to_post(rules, prefix="rule", columns=RULE_COLUMNS)
    moved = client.post(reverse("console:scenario_rules"), {**data, "op": "down-1"})
    body = moved.content.decode()
    assert body.index('value="Big"') < body.index('value="Risky"')
    saved = client.post(reverse("console:scenario_rules"), {**data, "op": "save"})
    assert saved.status_code == 302
    assert list(SegmentRule.objects.order_by("position").values_list("name", "scenario__slug")) == [
        ("Risky", "quick"), ("Big", "example"),
    ]  # fmt: skip
    assert AuditEvent.objects.filter(action="scenario.rules_updated").count() == 1
    viewer = make.member(org, "viewer@acme.test", "viewer")
    assert client_of(viewer).get(reverse("console:scenario_rules")).status_code == 200
    assert client_of(viewer).post(reverse("console:scenario_rules"), data).status_code == 403


@pytest.mark.parametrize(("currency", "sign"), [("EUR", "€"), ("USD", "$"), ("CHF", "CHF")])
def test_the_amounts_typed_in_rules_and_steps_read_with_their_currency(
    client_of, org, example, manager, currency, sign
):
    org.currency = currency
    org.save()
    SegmentRule.objects.create(
        organisation=org, position=1, name="Big", scenario=example, min_invoice_amount=5000
    )
    client = client_of(manager)
    rules = client.get(reverse("console:scenario_rules")).content.decode()
    amount = re.search(r'<span class="amount-input"><input name="rule_min_invoice_amount"'
                       r'[^>]*aria-label="([^"]*)"[^>]*> <span class="unit">([^<]*)</span>',
                       rules)  # fmt: skip
    assert amount is not None and amount.group(2) == sign and amount.group(1).endswith(f"({sign})")
    steps = client.get(reverse("console:scenario", args=[example.slug])).content.decode()
    units = re.findall(r'name="step_(?:min|max)_amount"[^>]*> <span class="unit">([^<]*)<', steps)
    assert units and set(units) == {sign}


@pytest.mark.parametrize("typed", ["20 000,50", "20000,50", "20000.50", "20\u202f000,50"])
def test_a_french_reader_reads_and_types_amounts_the_french_way(
    client_of, org, example, manager, settings, typed
):
    """The stored amounts show as a French reader writes them (20 000,50) in the rules' and
    the steps' inputs; typed that way or the stored way, they save the same."""
    client = client_of(manager)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "fr"
    rules = [{"name": "Gros", "scenario": "example", "min_invoice_amount": typed}]
    data = rows_to_post(rules, prefix="rule", columns=RULE_COLUMNS)
    saved = client.post(reverse("console:scenario_rules"), {**data, "op": "save"})
    assert saved.status_code == 302
    assert SegmentRule.objects.get().min_invoice_amount == Decimal("20000.50")
    page = client.get(reverse("console:scenario_rules")).content.decode()
    [shown] = re.findall(r'name="rule_min_invoice_amount" value="([^"]*)"', page)
    assert re.fullmatch("20[\u00a0\u202f ]000,50", html.unescape(shown)), shown
    assert ">Toutes</option>" in page  # the blank risk class, capitalised as the others

    rows = step_rows(example)
    rows[0]["min_amount"] = typed
    assert post_steps(client, example, rows).status_code == 302
    assert example.steps.order_by("position").first().min_amount == Decimal("20000.50")
    steps = client.get(reverse("console:scenario", args=[example.slug])).content.decode()
    shown = re.findall(r'name="step_min_amount" value="([^"]*)"', steps)[0]
    assert re.fullmatch("20[\u00a0\u202f ]000,50", html.unescape(shown)), shown


# -- the list, the simulation, queries ------------------------------------------------------------


def test_it_lists_the_scenarios_with_their_customers(client_of, org, example, population):
    viewer = make.member(org, "viewer@acme.test", "viewer")
    body = client_of(viewer).get(reverse("console:scenarios")).content.decode()
    row = body[body.index('data-scenario="example"') :].split("</tr>")[0]
    assert ">12</a>" in row and "?scenario=example" in row
    assert 'id="new-slug"' not in body  # viewers create nothing


def test_it_shows_the_simulation_by_day(client_of, org, example, monkeypatch):
    from relance.console import scenarios as page

    monkeypatch.setattr(page, "today_for", lambda organisation: D)
    customer = make.customer(org, "C1", legal_name="Durand")
    make.invoice(customer, "F1", due=D - dt.timedelta(days=1))
    make.invoice(make.customer(org, "C2"), "F2", due=D + dt.timedelta(days=5))
    viewer = make.member(org, "viewer@acme.test", "viewer")
    url = reverse("console:scenario_simulation", args=["example"])
    body = client_of(viewer).get(url).content.decode()
    assert 'data-day="2026-11-24"' in body  # C2's courtesy reminder, five days ahead
    # C1's first reminder falls on Saturday 28 (J+5): it waits for Monday.
    assert 'data-day="2026-11-28"' not in body and 'data-day="2026-11-30"' in body
    assert "C1 · Durand" in body and "F1</span> at step 2" in body
    one = client_of(viewer).get(url, {"customer": "C2", "days": "10"}).content.decode()
    assert "C1 · Durand" not in one and "F2</span> at step 1" in one
    unknown = client_of(viewer).get(url, {"customer": "NOPE"}).content.decode()
    assert "No customer with the reference NOPE" in unknown


@pytest.mark.parametrize("count", [3, 30])
def test_it_reads_the_list_and_a_scenario_in_few_queries(
    client_of, org, example, manager, count, django_assert_max_num_queries
):
    for n in range(count):
        make.scenario(org, [(k, 0, "email", f"t{k}") for k in range(count)], slug=f"s{n}",
                      default=False, replace=False)  # fmt: skip
    client = client_of(manager)
    with django_assert_max_num_queries(14):
        assert client.get(reverse("console:scenarios")).status_code == 200
    with django_assert_max_num_queries(14):
        assert client.get(reverse("console:scenario", args=["s0"])).status_code == 200


# -- a shipped scenario's description -------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "said", "not_said"),
    [
        ("fr", "Plus serré pour les clients à risque", ["EN:", "Tighter"]),
        ("en", "High risk. Tighter for risky customers", ["EN:", "Plus serré"]),
    ],
)
def test_a_shipped_description_reads_in_its_readers_language_only(
    client_of, manager, settings, language, said, not_said
):
    client = client_of(manager)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    page = client.get(reverse("console:scenario", args=["high-risk"])).content.decode()
    assert said in page
    assert [s for s in not_said if s in page] == []


def test_saving_a_shipped_scenario_keeps_both_languages_of_its_description(client_of, org, manager):
    """Saved as shown (one language of it), the description keeps both; written anew, it
    is what the user wrote, shown as written."""
    shipped = Scenario.objects.get(organisation=org, slug="high-risk")
    stored = shipped.description
    client = client_of(manager)
    shown = "High risk. Tighter for risky customers: reminders before the due date, calls,\r\n" \
        "formal notice at D+20 and hand-over at D+30."  # fmt: skip
    post_steps(client, shipped, step_rows(shipped), description=shown, name="Risque élevé")
    shipped.refresh_from_db()
    assert shipped.description == stored and "\nEN: " in stored
    mine = "Ours: FR: tight. EN: tight."
    post_steps(client, shipped, step_rows(shipped), description=mine, name="Risque élevé")
    shipped.refresh_from_db()
    assert shipped.description == mine
    assert mine in client.get(reverse("console:scenario", args=["high-risk"])).content.decode()


# -- a shipped scenario's names ------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "said", "not_said"),
    [
        ("fr", ["Risque élevé", "Rappel avant échéance", "Mise en demeure"],
         ["High risk", "Formal notice"]),
        ("en", ["High risk", "Reminder before the due date", "Formal notice"],
         ["Risque élevé", "Rappel avant échéance", "Mise en demeure"]),
    ],
)  # fmt: skip
def test_a_shipped_scenarios_names_read_in_its_readers_language(
    client_of, manager, settings, language, said, not_said
):
    """The scenario's and the rules' names on the list; its steps' too in its editor."""
    client = client_of(manager)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    listed = client.get(reverse("console:scenarios")).content.decode()
    assert said[0] in listed and not_said[0] not in listed
    page = client.get(reverse("console:scenario", args=["high-risk"])).content.decode()
    assert [s for s in said if s not in page] == []
    assert [s for s in not_said if s in page] == []


def test_saving_a_shipped_scenario_as_shown_in_english_keeps_its_french_names(
    client_of, org, manager, settings
):
    """Posted back as an English reader was shown them, the names stay the shipped ones
    (in French for a French colleague); a name the user changes is theirs, as written."""
    shipped = Scenario.objects.get(organisation=org, slug="high-risk")
    stored = steps_of(shipped)
    client = client_of(manager)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    page = client.get(reverse("console:scenario", args=["high-risk"])).content.decode()
    shown = re.findall(r'name="step_name" value="([^"]*)"', page)
    assert shown[0] == "Reminder before the due date"
    rows = step_rows(shipped)
    for row, name in zip(rows, shown, strict=True):
        row["name"] = html.unescape(name)
    post_steps(client, shipped, rows, name="High risk")
    shipped.refresh_from_db()
    assert (shipped.name, steps_of(shipped)) == ("Risque élevé", stored)
    rows[0]["name"] = "Our own courtesy e-mail"
    post_steps(client, shipped, rows, name="Risky customers")
    shipped.refresh_from_db()
    assert shipped.name == "Risky customers"
    assert [name for name, _, _ in steps_of(shipped)][:2] == [
        "Our own courtesy e-mail", "Appel avant échéance"]  # fmt: skip
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "fr"
    page = client.get(reverse("console:scenario", args=["high-risk"])).content.decode()
    assert "Our own courtesy e-mail" in page and "Risky customers" in page
