"""Import problems and run failures in the reader's language: French by default (the
console's and the command line's language), English to an English reader; the import log
and the Runs page read back what was stored."""

from __future__ import annotations

import json
from io import StringIO

import factories
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone, translation
from test_console_imports import (
    BAD,
    csv,
    mapping_form,
    staged_import,
    token_of,
    url,
    wait_for,
)
from test_run_queue import work_off
from test_runs_list import D, dunned, failing_part

from relance.accounts import identity
from relance.bank import services
from relance.dunning import engine, run_errors, run_tasks
from relance.dunning.models import Scenario
from relance.ledger.imports import staging
from relance.ledger.models import ImportRun

pytestmark = pytest.mark.django_db

# Relance's own headers: the command line reads the file without a mapping.
TEMPLATE = "customer.reference;invoice.number;invoice.issue_date;invoice.amount"
ROWS = ["C001;FA-001;15/01/2026;100,00", "C001;FA-002;31/02/2026;50,00"]  # row 3: no such day


@pytest.fixture(autouse=True)
def _no_language_left():
    """A request activates its language for the rest of the thread (LocaleMiddleware):
    not for the next test."""
    translation.deactivate()
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def signed(client):
    org = factories.organisation("acme")
    client.force_login(factories.member(org, "manon@acme.test", "manager"))
    return client


def upload(client, data: bytes, **headers: str):
    file = SimpleUploadedFile("export.csv", data)
    return client.post(reverse("console:imports") + "upload/", {"file": file}, **headers)


def problems_of(client, lines: list[str], **headers: str) -> tuple[list[dict], str]:
    token = token_of(upload(client, csv(lines), **headers))
    client.post(url(token, "mapping"), mapping_form(), **headers)
    page = client.get(url(token), **headers).content.decode()
    return _last(token), page


def _last(token: str) -> list[dict]:
    from relance.accounts.models import Organisation

    found = staging.load(Organisation.objects.get(slug="acme"), token).last
    assert found is not None and found["status"] == "failed"
    return found["problems"]


def by_row(problems: list[dict], row: int) -> str:
    return next(p["message"] for p in problems if p["row"] == row)


def test_the_console_shows_a_bad_row_in_french(signed):
    problems, page = problems_of(signed, BAD)
    assert by_row(problems, 3) == "'31/02/2026' n'est pas une date comme 31/12/2026"
    assert by_row(problems, 5) == "'12O0,00' n'est pas un montant"
    assert "n&#x27;est pas une date comme 31/12/2026" in page


def test_the_console_shows_it_in_english_to_an_english_reader(signed):
    problems, page = problems_of(signed, BAD, HTTP_ACCEPT_LANGUAGE="en")
    assert by_row(problems, 3) == "'31/02/2026' is not a date such as 31/12/2026"
    assert "is not a date such as 31/12/2026" in page


@pytest.mark.django_db(transaction=True)
def test_a_large_file_read_in_the_background_speaks_the_readers_language(client, settings):
    org = factories.organisation("acme")
    client.force_login(factories.member(org, "manon@acme.test", "manager"))
    settings.RELANCE_IMPORT_BACKGROUND_BYTES = 0  # every file is read in a thread
    english = {"HTTP_ACCEPT_LANGUAGE": "en"}
    token = token_of(upload(client, csv(BAD), **english))
    client.post(url(token, "mapping"), mapping_form(), **english)
    wait_for(org, token)
    # A new thread starts in the default language (French): it is given the request's.
    assert by_row(_last(token), 3) == "'31/02/2026' is not a date such as 31/12/2026"


def cli_import(tmp_path) -> dict:
    factories.organisation("acme")
    path = tmp_path / "export.csv"
    path.write_text("\n".join([TEMPLATE, *ROWS]) + "\n")
    out = StringIO()
    with pytest.raises(SystemExit):
        call_command("import", str(path), "--org", "acme", "--json", stdout=out)
    return json.loads(out.getvalue())


def test_the_command_line_speaks_english_as_the_rest_of_its_output(tmp_path):
    answer = cli_import(tmp_path)  # under the default language, French
    assert answer["ok"] is False
    assert answer["problems"] == [{
        "file": "export.csv", "row": 3, "field": "invoice.issue_date",
        "message": "'31/02/2026' is not a date such as 31/12/2026",
    }]  # fmt: skip


def test_the_import_log_reads_back_a_refusal_written_in_french(client, tmp_path):
    from relance.ledger.imports import ImportFailed, import_file

    org = factories.organisation("acme")
    path = tmp_path / "export.csv"
    path.write_text("\n".join([TEMPLATE, *ROWS]) + "\n")
    with translation.override("fr"), pytest.raises(ImportFailed):
        import_file(org, path)
    run = ImportRun.objects.get()
    assert "export.csv, ligne 3, champ 'invoice.issue_date'\u00a0: '31/02/2026'" in run.error
    client.force_login(factories.member(org, "manon@acme.test", "manager"))
    page = client.get(reverse("console:import_run", args=[run.pk])).content.decode()
    # Its row and field in their columns, not left in the message.
    assert 'data-label="Ligne">3</td>' in page
    assert 'data-label="Colonne ou champ">invoice.issue_date</td>' in page
    assert "ligne 3" not in page and "n&#x27;est pas une date comme" in page


def test_the_import_log_reads_back_a_french_refusal_written_with_a_plain_space(client):
    """The logs written before the catalogue's no-break spaces: their rows still shown."""
    org = factories.organisation("acme")
    manager = factories.member(org, "manon@acme.test", "manager")
    run = ImportRun.objects.create(
        organisation=org, file_name="export.csv", format="csv", sha256="x", status="failed",
        error="export.csv, ligne 3, champ 'Date' : pas une date", started_at=timezone.now(),
        finished_at=timezone.now(), user=manager,
    )  # fmt: skip
    client.force_login(manager)
    page = client.get(reverse("console:import_run", args=[run.pk])).content.decode()
    assert 'data-label="Ligne">3</td>' in page and "ligne 3" not in page


def test_a_problem_line_is_written_in_the_active_language():
    from relance.ledger.imports.records import Problem

    problem = Problem("export.csv", 3, "Date", "bad")
    with translation.override("fr"):
        assert str(problem) == "export.csv, ligne 3, champ 'Date'\u00a0: bad"
    with translation.override("en"):
        assert str(problem) == "export.csv, row 3, field 'Date': bad"


# -- the runs on the queue -----------------------------------------------------------------


def test_a_run_failure_is_stored_in_english_and_shown_in_french(client, monkeypatch):
    org = dunned("acme")
    failing_part(monkeypatch, 1, OSError("disk full"))
    failed = run_tasks.enqueue(org, D, parts=2)
    work_off()
    failed.refresh_from_db()
    assert failed.error.startswith("part 2 of 2 failed (attempts: 3): OSError('disk full')")
    client.force_login(factories.member(org, "viewer@acme.test", "viewer"))
    page = client.get(reverse("console:run", args=[failed.pk])).content.decode()
    # Ours in French, the exception's own text as it is.
    assert (
        "la part 2 sur 2 a échoué (tentatives\u00a0: 3)\u00a0: OSError(&#x27;disk full&#x27;)"
    ) in page
    assert "relancez la même date pour terminer" in page
    assert "failed after" not in page


def test_the_sentences_of_a_failure_are_read_back_nested_and_the_rest_left_alone():
    stopped = run_errors.written(run_errors.WORKER, worker="host:12", seconds=600)
    text = run_errors.written(
        run_errors.STANDS,
        reason=run_errors.written(run_errors.PART, part=1, parts=3, attempts=3, reason=stopped),
    )
    with translation.override("fr"):
        shown = run_errors.shown(text)
        assert shown.startswith(
            "la part 1 sur 3 a échoué (tentatives\u00a0: 3)\u00a0: le processus host:12 s'est "
            "arrêté (rien écrit depuis 600 s). Ce que les autres parts ont écrit reste acquis"
        )
        assert run_errors.shown("ValueError('x')") == "ValueError('x')"
    with translation.override("en"):
        assert run_errors.shown(text) == text


def test_a_failure_recorded_before_reads_as_the_sentence_of_today():
    """A record that says "after 3 attempt(s)" reads as the sentence without "(s)"."""
    before = "part 2 of 2 failed after 3 attempt(s): OSError('disk full')"
    with translation.override("fr"):
        assert run_errors.shown(before) == (
            "la part 2 sur 2 a échoué (tentatives\u00a0: 3)\u00a0: OSError('disk full')"
        )


def test_a_refused_run_is_said_in_french_and_stored_in_english(client):
    org = dunned("acme")
    run_tasks.enqueue(org, timezone.localdate() - factories.days(1))  # unfinished, another date
    client.force_login(factories.member(org, "admin@acme.test", "admin"))
    page = client.post(reverse("console:runs_queue"), follow=True).content.decode()
    assert "est encore dans la file" in page and "still on the queue" not in page
    org.email = ""
    org.save(update_fields=["email"])
    with pytest.raises(engine.RunError, match="has no reply address"):
        run_tasks.enqueue(org, timezone.localdate())
    with translation.override("fr"):
        said = run_errors.shown(identity.missing_for_email(org) or "")
    assert said.startswith("l'organisation 'acme' n'a pas d'adresse de réponse")


def test_a_refused_bank_decision_is_said_in_the_readers_language():
    with translation.override("fr"), pytest.raises(services.BankError) as refused:
        services.parse_parts("=12")
    assert str(refused.value) == "'=12'\u00a0: indiquez un numéro de facture, NUMÉRO[=MONTANT]"
    with translation.override("fr"), pytest.raises(services.BankError) as refused:
        services.parse_parts("F-1=12,345")
    assert str(refused.value) == "F-1\u00a0: au plus deux décimales (les centimes)"
    with translation.override("en"), pytest.raises(services.BankError) as refused:
        services.parse_parts("F-1=1e5")  # an amount typed as people type them (lib.amounts)
    assert str(refused.value) == "F-1: “1e5” is not an amount (write it like 1,234.56)"


def test_a_scenario_simulated_without_a_default_is_explained_in_french(client):
    org = factories.organisation("acme")
    Scenario.objects.filter(organisation=org).update(is_default=False)
    client.force_login(factories.member(org, "manon@acme.test", "manager"))
    url = reverse("console:scenario_simulation", args=["standard"])
    page = client.get(url).content.decode()
    assert "n&#x27;a pas de scénario par défaut" in page


def test_the_preview_says_what_each_row_is_and_what_changes_in_french(signed):
    """The sample of rows and of changes name records by the pipeline's words (invoice,
    customers, created): the page says them in the reader's language."""
    from relance.accounts.models import Organisation

    factories.customer(Organisation.objects.get(slug="acme"), "C002", legal_name="Globex SA")
    page = signed.get(url(staged_import(signed))).content.decode()
    rows = page.split('id="preview-rows"')[1].split("</table>")[0]
    changes = page.split('id="preview-changes"')[1].split("</table>")[0]
    assert 'data-label="Quoi">Facture</td>' in rows and ">invoice</td>" not in rows
    for action, what in [("création", "Client"), ("mise à jour", "Client"),
                         ("création", "Facture")]:  # fmt: skip
        assert f'data-label="Action">{action}</td><td data-label="Quoi">{what}</td>' in changes
    assert ">created<" not in changes and ">customers<" not in changes
