"""The `relance` command: organisations, users, and a fresh database on first use."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from commands import in_process, relance
from django.contrib.auth import authenticate, get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import RequestFactory

from relance.accounts.models import Membership, Organisation


@pytest.mark.once("sqlite")  # its own processes on a SQLite file
def test_it_migrates_a_fresh_database_on_first_use(tmp_path):
    out = relance(tmp_path, "createorg", "fresh", "--name", "Fresh SAS", "--json", fresh=True)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "relance.sqlite3").exists()
    assert json.loads(out.stdout)["slug"] == "fresh"
    # A read command on the fresh database: machine output, one JSON document.
    report = relance(tmp_path, "report", "aged-balance", "--date", "2026-11-22", "--json")
    assert report.returncode == 0, report.stderr
    assert json.loads(report.stdout)["organisation"] == "fresh"


@pytest.mark.django_db
def test_it_finds_a_migration_pending_when_one_file_is_not_recorded():
    # The start's shortcut (every file recorded: nothing to do) must not hide an upgrade.
    from django.db import connection

    from relance import cli

    assert cli._migrations_pending() is False
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM django_migrations WHERE app = 'audit' AND name = "
            "(SELECT MAX(name) FROM django_migrations WHERE app = 'audit')"
        )
    assert cli._all_recorded() is False
    assert cli._migrations_pending() is True


@pytest.mark.once("sqlite")  # its own processes on a SQLite file
def test_it_explains_when_no_organisation_exists(tmp_path):
    out = relance(tmp_path, "report", "aged-balance")
    assert out.returncode == 1
    assert "createorg" in out.stderr


@pytest.mark.django_db
def test_it_creates_an_organisation_and_a_member_who_can_log_in(monkeypatch):
    call_command("createorg", "acme", "--name", "Acme SAS", stdout=StringIO())
    monkeypatch.setattr("sys.stdin", StringIO("a-long-enough-secret\n"))
    call_command(
        "createuser", "Bob@Acme.test", "--role", "collector", "--password-stdin", stdout=StringIO()
    )
    membership = Membership.objects.get()
    assert (membership.organisation.slug, membership.role) == ("acme", "collector")
    assert authenticate(
        RequestFactory().post("/login/"), username="bob@acme.test", password="a-long-enough-secret"
    )


@pytest.mark.django_db
def test_it_refuses_bad_input_to_the_account_commands(monkeypatch):
    call_command("createorg", "acme", "--name", "Acme SAS", stdout=StringIO())
    with pytest.raises(CommandError, match="already exists"):
        call_command("createorg", "acme", "--name", "Again", stdout=StringIO())
    with pytest.raises(CommandError, match="not a valid slug"):
        call_command("createorg", "Not A Slug", "--name", "X", stdout=StringIO())
    with pytest.raises(CommandError, match="not an e-mail"):
        call_command("createuser", "bob", stdout=StringIO())
    with pytest.raises(CommandError, match="no organisation 'nope'"):
        call_command("createuser", "bob@acme.test", "--org", "nope", stdout=StringIO())
    monkeypatch.setattr("sys.stdin", StringIO("123\n"))
    with pytest.raises(CommandError, match="8"):
        call_command("createuser", "bob@acme.test", "--password-stdin", stdout=StringIO())
    assert Organisation.objects.count() == 1 and not Membership.objects.exists()


@pytest.mark.django_db
def test_it_refuses_to_create_a_user_without_a_password(monkeypatch):
    assert in_process("createorg", "acme", "--name", "Acme SAS").returncode == 0
    # No RELANCE_PASSWORD, no --password-stdin, stdin not a terminal.
    monkeypatch.delenv("RELANCE_PASSWORD", raising=False)
    out = in_process("createuser", "bob@acme.test", "--json")
    assert out.returncode == 1
    assert "no password" in out.stderr and "Traceback" not in out.stderr
    assert out.stdout == ""
    # Nothing was written: the same user is created once a password is given.
    made = in_process("createuser", "bob@acme.test", "--password-stdin", "--json",
                      stdin="a-long-enough-secret\n")  # fmt: skip
    assert made.returncode == 0, made.stderr
    # An existing user's role changes without a new password (another administrator kept:
    # the last one is never demoted).
    other = in_process("createuser", "alice@acme.test", "--password-stdin",
                       stdin="a-long-enough-secret\n")  # fmt: skip
    assert other.returncode == 0, other.stderr
    again = in_process("createuser", "bob@acme.test", "--role", "viewer", "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["role"] == "viewer"


@pytest.mark.django_db
def test_it_creates_no_user_without_a_password(monkeypatch):
    call_command("createorg", "acme", "--name", "Acme SAS", stdout=StringIO())
    monkeypatch.delenv("RELANCE_PASSWORD", raising=False)
    monkeypatch.setattr("sys.stdin", StringIO(""))
    with pytest.raises(CommandError, match="no password"):
        call_command("createuser", "bob@acme.test", stdout=StringIO())
    assert not Membership.objects.exists()
    assert not get_user_model().objects.exists()
