"""Django's start-up, as every `relance` command goes through it: the modules of sending
(the channels), of the run's tasks and of inbound replies are imported when first used, not
when Django starts (their receivers and the lock's check import them when called)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from commands import environment

# Django's start-up in processes of their own, on SQLite files: the same on either side.
pytestmark = pytest.mark.once("sqlite")

# Imported by the senders, the run and the replies: no command that only reads or imports
# a file needs them to start.
LAZY = (
    "relance.channels.email",
    "relance.documents.channel",
    "relance.dunning.bounces",
    "relance.dunning.run_tasks",
    "relance.replies.intake",
    "segno",
)


def _started(data_dir: Path, code: str, command: str = "") -> str:
    """What ``code`` prints in a new process once Django has started (for ``command``, as
    the command line says which one it runs)."""
    script = (
        "import os, sys; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'relance.settings');"
        " import django; django.setup()\n" + code
    )
    env = {**environment(data_dir), **({"RELANCE_COMMAND": command} if command else {})}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_it_starts_without_the_modules_of_sending_the_run_and_replies(tmp_path):
    imported = _started(tmp_path, f"print(sorted(m for m in {LAZY!r} if m in sys.modules))")
    assert imported == "[]"


def test_the_channel_modules_load_on_the_registrys_first_use(tmp_path):
    code = (
        "from relance.channels import registry\n"
        "print(registry.get('email').name, 'relance.channels.email' in sys.modules)"
    )
    assert _started(tmp_path, code) == "email True"


def test_a_channel_registered_before_first_use_replaces_the_modules_own(tmp_path):
    # As when the modules registered theirs at start-up: a later registration wins.
    code = (
        "from relance.channels import registry\n"
        "registry.register('email', build=print, transport=object)\n"
        "print(registry.get('email').build is print)"
    )
    assert _started(tmp_path, code) == "True"


def test_a_channel_unregistered_before_first_use_stays_unregistered(tmp_path):
    code = (
        "from relance.channels import registry\n"
        "registry.unregister('email')\n"
        "print(registry.get('email'))"
    )
    assert _started(tmp_path, code) == "None"


def test_the_locks_check_of_a_run_on_the_queue_imports_neither_the_run_nor_the_engine(tmp_path):
    # An import takes its organisation's lock, which asks whether a run on the queue holds it.
    code = (
        "from relance.lib import locks\n"
        "from relance.dunning.models import QueuedRun\n"
        "from unittest import mock\n"
        "none = mock.Mock(**{'first.return_value': None})\n"
        "with mock.patch.object(QueuedRun.objects, 'filter', return_value=none):\n"
        "    assert [check('acme') for check in locks.spanning] == [None]\n"
        "print([m for m in ('relance.dunning.run_tasks', 'relance.dunning.engine',"
        " 'holidays') if m in sys.modules])"
    )
    assert _started(tmp_path, code) == "[]"


def test_a_csv_imports_pipeline_loads_no_xml_library(tmp_path):
    # lxml is the XML readers' (e-invoices, statuses, statements), not every file's.
    code = "import relance.ledger.imports.apply\nprint('lxml' in sys.modules)"
    assert _started(tmp_path, code) == "False"


def test_an_import_starts_without_the_apps_of_the_api_and_of_e_mail(tmp_path):
    # django-ninja (with pydantic) serves the API's docs page, anymail's checks (with
    # requests) are e-mail's: an import does neither.
    code = "print([m for m in ('ninja', 'pydantic', 'anymail.checks') if m in sys.modules])"
    assert _started(tmp_path, code, command="import") == "[]"
    assert _started(tmp_path, code, command="report") == "['ninja', 'pydantic', 'anymail.checks']"


def test_a_server_started_with_a_commands_variable_left_over_starts_as_a_server(monkeypatch):
    # A server started from an import's process (or a shell that kept its variable) must not
    # start with the import's settings, without the API.
    from django.core import management

    from relance import cli

    ran = []
    monkeypatch.setenv("RELANCE_COMMAND", "import")
    monkeypatch.setattr(cli, "ensure_migrated", lambda: None)
    monkeypatch.setattr(management, "execute_from_command_line", ran.append)
    cli.main(["serve", "--port", "0"])
    assert ran == [["relance", "serve", "--port", "0"]]
    assert "RELANCE_COMMAND" not in os.environ
