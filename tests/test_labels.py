"""What the reader is shown for the codes of dunning: a step by its label, a template by its
name, a task handed over for a message titled from its codes in the reader's language
(those stored with a template's code too), a chart's months by the locale's abbreviations."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from pathlib import Path

import factories as f
import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import translation

from relance.console.charts import month_label
from relance.dunning import defaults, outbox, task_titles
from relance.dunning.engine import run
from relance.dunning.labels import (
    TEMPLATE_LABELS,
    lateness,
    offset_label,
    step_label,
    template_label,
)
from relance.dunning.models import Task
from relance.ledger.timeline import render

D = dt.date(2026, 11, 23)  # a Monday


@pytest.fixture(autouse=True)
def clock(time_machine):
    time_machine.move_to(dt.datetime(2026, 11, 23, 9, 30, tzinfo=dt.UTC), tick=True)


@pytest.mark.parametrize(
    ("language", "name", "template", "expected"),
    [
        ("en", "first_reminder", "first_reminder", "First reminder"),
        ("fr", "first_reminder", "first_reminder", "Première relance"),
        ("fr", "", "formal_notice", "Mise en demeure"),
        ("fr", "Relance ferme (pénalités)", "firm_reminder", "Relance ferme (pénalités)"),
        ("en", "late_fees", "late_fees", "Late fees"),  # an organisation's own template
        ("en", "Mise en demeure", "formal_notice", "Formal notice"),  # a shipped name
        ("fr", "Mise en demeure", "formal_notice", "Mise en demeure"),
        ("en", "Mise en demeure (notre modèle)", "formal_notice", "Mise en demeure (notre modèle)"),
    ],
)
def test_a_step_reads_as_its_scenarios_label_or_its_templates(language, name, template, expected):
    with translation.override(language):
        assert step_label(name, template) == expected


def test_every_shipped_name_has_its_english_and_any_other_reads_as_written():
    shipped = defaults.default_scenarios()
    names = {s.name for s in shipped.scenarios} | {r.name for r in shipped.rules or ()}
    names |= {step.name for s in shipped.scenarios for step in s.steps}
    with translation.override("en"):
        english = {name: defaults.name_for_reader(name) for name in names}
        assert defaults.name_for_reader("Nos  gros   clients") == "Nos  gros   clients"
        assert defaults.name_for_reader("Risque  élevé") == "High risk"  # spaced otherwise
    assert [name for name, read in english.items() if read == name and name != "Standard"] == []
    with translation.override("fr"):
        assert [name for name in names if defaults.name_for_reader(name) != name] == []


def test_every_named_template_has_a_french_name():
    with translation.override("fr"):
        french = [template_label(code) for code in TEMPLATE_LABELS]
    with translation.override("en"):
        english = [template_label(code) for code in TEMPLATE_LABELS]
    assert [code for code, fr, en in zip(TEMPLATE_LABELS, french, english, strict=True)
            if fr == en] == []  # fmt: skip


@pytest.mark.parametrize(
    ("language", "expected"),
    [("fr", ["mai", "juin", "juil.", "août"]), ("en", ["May", "Jun", "Jul", "Aug"])],
)
def test_a_charts_months_read_as_the_locale_abbreviates_them(language, expected):
    with translation.override(language):
        labels = [month_label(dt.date(2026, month, 1)) for month in range(1, 13)]
    assert labels[4:8] == expected
    assert len(set(labels)) == 12


def test_the_dso_chart_names_june_and_july_apart(client, org):
    admin = f.member(org, "admin@acme.test", "admin")
    customer = f.customer(org, "C1")
    for month in range(1, 12):
        invoice = f.invoice(customer, f"F-{month}", due=dt.date(2026, month, 10), amount="100.00")
        f.pay(invoice, "100.00", on=dt.date(2026, month, 25))
    f.invoice(customer, "F-open", due=D, amount="100.00")
    client.force_login(admin)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "fr"
    page = client.get(reverse("console:dashboard_dso")).content.decode()
    assert ">juin<" in page and ">juil.<" in page and ">Jui<" not in page


# -- tasks handed to a person for a message --------------------------------------------------


def letter_task(org, title):
    """A letter's task as the outbox stored it before templates had labels."""
    customer = f.customer(org, "C1", legal_name="Durand SARL")
    invoice = f.invoice(customer, "F-1", due=D - f.days(40), amount="1234.50")
    comm = f.communication(customer, [invoice], on=D, channel="letter", template="formal_notice")
    return Task.objects.create(organisation=org, customer=customer, kind="letter", title=title,
                               due_on=D, communication=comm, key=f"comm:{comm.pk}",
                               data={"template": "formal_notice", "invoices": ["F-1"]})  # fmt: skip


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("en", "Print and post the letter “Formal notice” to Durand SARL (€1,234.50)"),
        ("fr", "Imprimer et poster le courrier «\u00a0Mise en demeure\u00a0» à Durand SARL"
               " (1\u00a0234,50\u00a0€)"),
    ],
)  # fmt: skip
def test_a_stored_letter_task_reads_in_the_readers_words(client, org, language, expected):
    task = letter_task(org, "Imprimer et poster le courrier formal_notice à Durand SARL")
    client.force_login(f.member(org, "manager@acme.test", "manager"))
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    with translation.override(language):
        page = client.get(reverse("console:tasks")).content.decode()
        assert task_titles.title(task) == expected
    assert expected in page and "formal_notice" not in page


def test_a_task_for_a_step_carried_out_by_a_person_is_titled_by_its_templates_name(org):
    f.scenario(org, [(5, 0, "task", "litigation_review")])
    customer = f.customer(org, "C1", legal_name="Durand SARL")
    f.invoice(customer, "F-1", due=D - f.days(5), amount="800.00")
    run(org, D)
    outbox.send_due(today=D)
    task = Task.objects.get(organisation=org, kind="task")
    assert task.title.startswith("Examen contentieux\u00a0: Durand SARL")  # the org's French


def test_the_customer_page_names_the_next_step_by_its_label(client, org):
    f.scenario(org, [(5, 0, "email", "first_reminder")])  # a step named by its code
    customer = f.customer(org, "C1", legal_name="Durand SARL")
    f.invoice(customer, "F-1", due=D - f.days(2), amount="800.00")
    client.force_login(f.member(org, "manager@acme.test", "manager"))
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "fr"
    with translation.override("fr"):
        page = client.get(reverse("console:customer", args=[customer.pk])).content.decode()
    assert "Première relance" in page and "first_reminder" not in page


@pytest.mark.parametrize(
    ("count", "expected"),
    [(1, "Appeler Durand SARL au sujet d'une facture, 10,00\u00a0€"),
     (2, "Appeler Durand SARL au sujet de 2 factures, 10,00\u00a0€")],
)  # fmt: skip
def test_a_calls_title_counts_its_invoices_in_words(count, expected):
    text = task_titles.handed_over("call", "call", "Durand SARL", count, [(Decimal(10), "EUR")])
    with translation.override("fr"):
        assert render(text) == expected


@pytest.mark.parametrize(
    ("language", "days", "expected"),
    [
        ("fr", 12, "12 jours de retard"),
        ("fr", 1, "1 jour de retard"),
        ("fr", 0, "échéance aujourd'hui"),
        ("fr", -1, "échéance dans 1 jour"),
        ("fr", -10, "échéance dans 10 jours"),
        ("en", -10, "due in 10 days"),
        ("en", 3, "3 days late"),
    ],
)
def test_an_item_not_yet_due_reads_as_due_in_so_many_days(language, days, expected):
    with translation.override(language):
        assert lateness(days) == expected


@pytest.mark.parametrize(
    ("language", "days", "expected"),
    [
        ("fr", -3, "3 jours avant l'échéance"),
        ("fr", -1, "1 jour avant l'échéance"),
        ("fr", 0, "le jour de l'échéance"),
        ("fr", 7, "7 jours après l'échéance"),
        ("en", -3, "3 days before the due date"),
        ("en", 1, "1 day after the due date"),
    ],
)
def test_a_steps_offset_reads_in_words_never_as_a_signed_number(language, days, expected):
    with translation.override(language):
        assert offset_label(days) == expected


def test_lateness_is_worded_in_one_place():
    """The console and the portal say how late an item is with ``lateness``: no template
    or module writes its own "N days late" (the portal's table did)."""
    relance = Path(__file__).resolve().parents[1] / "relance"
    own = [
        str(path.relative_to(relance)) for path in relance.rglob("*")
        if path.suffix in (".html", ".py") and path.name != "labels.py"
        and re.search(r"days? late\b", path.read_text(encoding="utf-8"))
    ]  # fmt: skip
    assert own == []


@pytest.mark.parametrize(
    ("code", "french", "english"),
    [("communications_reminder_email", "Relance (E-mail)", "Reminder (E-mail)"),
     ("communications_plan_confirmation_email", "Confirmation d'échéancier (E-mail)",
      "Payment plan confirmation (E-mail)"),
     ("broken_promises", "promesses non tenues", "promises broken"),
     ("plans_completed", "échéanciers\u00a0: Terminé", "payment plans: Completed"),
     ("something_new", "something new", "something new")],
)  # fmt: skip
def test_a_runs_counts_read_in_the_readers_language(code, french, english):
    from django.utils import translation

    from relance.dunning.labels import run_count_label

    with translation.override("fr"):
        assert run_count_label(code) == french
    with translation.override("en"):
        assert run_count_label(code) == english
