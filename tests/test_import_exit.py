"""`relance import` run as the program ends without freeing what a re-import kept (the file's
rows and the ledger's: about a second at a million rows), once its output is written and its
connection closed; an import run inside a longer process (the console, the API, a test)
frees it as before."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import weakref
from io import StringIO
from pathlib import Path

import factories
import pytest
from commands import environment, relance
from django.core.management import call_command

from relance.ledger.imports import restream
from relance.ledger.models import Invoice

MAPPING = factories.OPEN_ITEMS_MAPPING
HEADER = factories.OPEN_ITEMS_HEADER
FIRST = ["C1;F-1;01/10/2026;31/10/2026;100,00", "C2;F-2;02/10/2026;01/11/2026;80,00"]
LATER = [*FIRST, "C1;F-3;05/11/2026;05/12/2026;50,00"]  # F-1 and F-2 unchanged, F-3 new


def files(tmp_path: Path, rows: list[str], name: str) -> tuple[Path, Path]:
    path = factories.text_file(tmp_path / name, [HEADER, *rows])
    return path, factories.mapping_file(tmp_path / "mapping.yaml", MAPPING)


@pytest.mark.once("sqlite")  # its own processes on a SQLite file
def test_the_command_ends_its_re_import_without_the_usual_exit(tmp_path):
    data = tmp_path / "data"
    assert relance(data, "createorg", "acme", "--name", "Acme SAS").returncode == 0
    first, mapping = files(tmp_path, FIRST, "first.csv")
    assert relance(data, "import", str(first), "--mapping", str(mapping), "--org", "acme",
                   "--json").returncode == 0  # fmt: skip
    later, _ = files(tmp_path, LATER, "later.csv")
    # The program as its entry point runs it, with an exit hook the usual exit would run.
    script = (
        "import atexit, sys; atexit.register(print, 'usual exit', file=sys.stderr);"
        f" sys.argv = ['relance', 'import', {str(later)!r}, '--mapping', {str(mapping)!r},"
        " '--org', 'acme', '--json']; from relance.cli import main; main()"
    )
    done = subprocess.run([sys.executable, "-c", script], env=environment(data),
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "usual exit" not in done.stderr
    report = json.loads(done.stdout)  # written whole before the process ended
    assert report["ok"] and report["counts"]["invoices_created"] == 1
    assert report["counts"]["invoices_unchanged"] == 2
    # Its connection was closed: SQLite checkpointed and removed its write-ahead log.
    assert not (data / "relance.sqlite3-wal").exists()
    listed = relance(data, "import", str(later), "--mapping", str(mapping), "--org", "acme",
                     "--json", "--dry-run")  # fmt: skip
    assert json.loads(listed.stdout)["counts"]["invoices_unchanged"] == 3


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("in_english")
def test_an_import_within_a_longer_process_frees_what_it_kept(tmp_path, monkeypatch):
    factories.organisation("acme")
    first, mapping = files(tmp_path, FIRST, "first.csv")
    call_command("import", str(first), "--mapping", str(mapping), "--org", "acme",
                 stdout=StringIO())  # fmt: skip
    streamers: list[weakref.ref[restream._Restreamer]] = []
    real = restream._Restreamer.finish

    def finish(self, batch):
        streamers.append(weakref.ref(self))
        return real(self, batch)

    monkeypatch.setattr(restream._Restreamer, "finish", finish)
    later, _ = files(tmp_path, LATER, "later.csv")
    call_command("import", str(later), "--mapping", str(mapping), "--org", "acme", "--json",
                 stdout=StringIO())  # fmt: skip
    assert Invoice.objects.filter(number="F-3").exists()
    gc.collect()
    assert len(streamers) == 1 and streamers[0]() is None
