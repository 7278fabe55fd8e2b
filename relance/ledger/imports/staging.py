"""An import in the making, for the console: the file uploaded, the mapping chosen for it,
its preview (the dry run) and its real run, with their progress.

Everything of one import lives in ``MEDIA_ROOT/imports/<organisation id>/<token>/`` (the
data directory, never served): the file, ``state.json`` (what the steps decided and the last
preview or import) and ``progress.json`` (the phase and rows of the work under way). Files
rather than rows: the progress of an import is written while the import holds the
database's write lock (SQLite has one writer), and a page polling it must not wait for it.

Previews and imports go through ``import_file``, the one entry point the command line uses
too (the same checks, the organisation's lock, the import log, the audit trail). A file
larger than ``RELANCE_IMPORT_BACKGROUND_BYTES`` is worked in a thread of the web process:
``relance serve`` (gunicorn's threaded workers) keeps it running after the request has
answered, and no task worker needs to be running (the demo has none).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import socket
import threading
import time
import zipfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from relance.accounts.models import Organisation
from relance.audit import trail
from relance.bank.exports import BankMapping
from relance.bank.services import BankImportResult
from relance.ledger.imports import ImportFailed, archives, guess_format, import_file
from relance.ledger.imports.mapping import (
    RECORDS,
    Mapping,
    default_mapping,
    parse_mapping,
)
from relance.ledger.imports.records import Problem
from relance.ledger.imports.tabular import read_table
from relance.ledger.models import ImportMapping
from relance.ledger.timeline import Text
from relance.lib.output import render_json

log = logging.getLogger(__name__)

# What an upload may be: the extensions the command line reads (a FEC is a .txt or .csv;
# e-invoices are PDF or XML, one by one or in a ZIP; statuses CSV, JSON or XML; a bank
# statement XML, a ZIP of them, or CSV).
SUFFIXES = (".csv", ".txt", ".tsv", ".xlsx", ".xlsm", ".xls", ".ods", ".pdf", ".xml", ".zip",
            ".json")  # fmt: skip
# The formats read as a table, whose upload shows its headers and first rows.
TABULAR = ("csv", "xlsx", "ods", "fec", "bank-csv")
# What the person may say an upload is, when the file alone cannot tell: a bank's CSV export
# looks like any CSV.
KINDS = ("auto", "bank-csv")
SAMPLE_ROWS = 5
KEEP_DAYS = 7  # an upload left unconfirmed this long is deleted
TOKEN = re.compile(r"^[A-Za-z0-9_-]{16}$")
MAPPING_NAME = re.compile(r"^[-a-zA-Z0-9_]{1,64}$")
# Console imports of this process, one at a time: the organisation's lock is reentrant
# within a process (relance.lib.locks), so two threads of one worker would both pass it.
_importing = threading.Lock()


class Refused(Exception):
    """An upload or a mapping that cannot be taken, with its problems."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def max_bytes() -> int:
    return int(getattr(settings, "RELANCE_IMPORT_MAX_BYTES", 200 * 1024 * 1024))


def max_files() -> int:
    """Files uploaded at once (gathered as a folder of e-invoices): Django's own limit."""
    return int(settings.DATA_UPLOAD_MAX_NUMBER_FILES)


def background_bytes() -> int:
    return int(getattr(settings, "RELANCE_IMPORT_BACKGROUND_BYTES", 1024 * 1024))


def root(organisation: Organisation) -> Path:
    return Path(settings.MEDIA_ROOT) / "imports" / str(organisation.pk)


@dataclass
class Staged:
    """One import in the making, of one organisation."""

    organisation: Organisation
    token: str
    state: dict[str, Any]

    @property
    def directory(self) -> Path:
        return root(self.organisation) / self.token

    @property
    def file(self) -> dict[str, Any]:
        return dict(self.state["file"])

    @property
    def path(self) -> Path:
        return self.directory / self.state["file"]["stored"]

    @property
    def format(self) -> str:
        return str(self.state["file"]["format"])

    @property
    def needs_mapping(self) -> bool:
        """A table of the ledger is read through a mapping the person chooses; a FEC, an
        e-invoice, a status file or a CAMT.053 says what each value is. A bank CSV may have
        one (``bank_mapping``), without which the usual French headers are read."""
        return self.format in ("csv", "xlsx", "ods")

    @property
    def bank_csv(self) -> bool:
        return self.format == "bank-csv"

    @property
    def bank(self) -> bool:
        return self.format in ("camt053", "bank-csv")

    @property
    def mapping(self) -> dict[str, Any] | None:
        return self.state.get("mapping")

    @property
    def last(self) -> dict[str, Any] | None:
        return self.state.get("last")

    @property
    def created(self) -> dt.datetime:
        return dt.datetime.fromisoformat(self.state["created"])

    def key(self) -> str:
        """What a preview was made of: this file read with this mapping."""
        spec = json.dumps(self.mapping, sort_keys=True, default=str)
        return hashlib.sha256(f"{self.state['file']['sha256']}\n{spec}".encode()).hexdigest()

    @property
    def ready(self) -> bool:
        """A file and (but for a FEC) a mapping: it can be previewed."""
        return not self.needs_mapping or self.mapping is not None

    @property
    def running(self) -> bool:
        return bool(self.last and self.last["status"] == "running")

    @property
    def done(self) -> bool:
        return bool(self.state.get("done"))

    @property
    def confirmable(self) -> bool:
        """Only a clean preview of this very file and mapping may be confirmed."""
        last = self.last
        return bool(
            not self.done
            and last
            and last["kind"] == "preview"
            and last["status"] == "ok"
            and last["key"] == self.key()
        )

    def progress(self) -> dict[str, Any]:
        try:
            return dict(json.loads((self.directory / "progress.json").read_text()))
        except (OSError, ValueError):
            return {}


# -- upload --------------------------------------------------------------------------------


def stage(
    organisation: Organisation, user_id: int | None, name: str, chunks: Iterable[bytes],
    *, kind: str = "auto",
) -> Staged:  # fmt: skip
    """Keep an uploaded file for the next steps of its import, or refuse it (wrong kind,
    too large, unreadable) naming the file."""
    return stage_files(organisation, user_id, [(name, chunks)], kind=kind)


def stage_files(
    organisation: Organisation, user_id: int | None,
    files: list[tuple[str, Iterable[bytes]]], *, kind: str = "auto",
) -> Staged:  # fmt: skip
    """Keep the uploaded file, or the files uploaded at once gathered as a folder (read as
    ``relance import FOLDER`` reads one: e-invoices), for the next steps of their import;
    or refuse them naming the file."""
    if kind not in KINDS:
        raise Refused(
            [Problem("kind", None, None, _("one of %(kinds)s") % {"kinds": ", ".join(KINDS)})]
        )
    if len(files) > max_files():
        raise Refused([too_many(files[0][0])])
    purge(organisation)
    token = secrets.token_urlsafe(12)
    directory = root(organisation) / token
    directory.mkdir(parents=True)
    try:
        if len(files) == 1:
            info = _receive(directory, *files[0], kind=kind)
        else:
            info = _receive_folder(directory, files)
    except Refused:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    staged = Staged(
        organisation,
        token,
        {
            "token": token,
            "created": timezone.now().isoformat(),
            "user_id": user_id,
            "file": info,
            "mapping": None,
            "last": None,
            "done": False,
        },
    )
    _write(staged)
    return staged


def replace_file(staged: Staged, name: str, chunks: Iterable[bytes]) -> Staged:
    """A corrected file for the same import: the mapping stays, the preview is to redo."""
    with _locked(staged) as current:
        _refuse_if_started(current, name)
        incoming = current.directory / "incoming"
        shutil.rmtree(incoming, ignore_errors=True)
        incoming.mkdir()
        try:
            # A bank CSV stays one (the file alone cannot say so).
            info = _receive(incoming, name, chunks, kind="bank-csv" if current.bank_csv else "auto")
        except Refused:
            shutil.rmtree(incoming, ignore_errors=True)
            raise
        if current.path.is_dir():
            shutil.rmtree(current.path, ignore_errors=True)
        else:
            current.path.unlink(missing_ok=True)
        (incoming / info["stored"]).rename(current.directory / info["stored"])
        incoming.rmdir()
        current.state["file"] = info
        current.state["last"] = None
        _write(current)
    return current


def _receive(
    directory: Path, name: str, chunks: Iterable[bytes], *, kind: str = "auto"
) -> dict[str, Any]:
    shown = _shown(name)
    stored = directory / f"upload{Path(shown).suffix.lower()}"
    size, sha256 = _save(stored, shown, chunks, max_bytes())
    try:
        fmt = kind if kind != "auto" else guess_format(stored)
    except ImportFailed as failure:  # an XML of another kind
        raise Refused([_named(p, shown) for p in failure.problems]) from None
    info = {"name": shown, "stored": stored.name, "format": fmt, "size": size,
            "sha256": sha256, "header": [], "sample": [], "rows": 0}  # fmt: skip
    if fmt == "einvoice" and zipfile.is_zipfile(stored):
        info["rows"] = _zip_files(stored)
    elif fmt == "einvoice":
        info["rows"] = 1
    if fmt not in TABULAR:
        return info
    try:
        info.update(describe(stored, shown, fmt))
    except Refused:
        if fmt != "fec":
            raise
        # A FEC is read by its own reader, stricter about its columns: its preview says.
    return info


def _receive_folder(directory: Path, files: list[tuple[str, Iterable[bytes]]]) -> dict[str, Any]:
    """Files uploaded at once: kept side by side in a folder, read as e-invoices (a folder is
    what ``relance import`` reads as e-invoices, PDF and XML); CAMT.053 statements all,
    gathered in a ZIP, read as a ZIP of statements is."""
    folder = directory / "files"
    folder.mkdir()
    left, digests, names = max_bytes(), [], []
    for n, (name, chunks) in enumerate(files):
        shown = _shown(name)
        if Path(shown).suffix.lower() not in (".pdf", ".xml"):
            raise Refused([Problem(shown, None, None, _("several files at once are e-invoices: "
                                   "PDF or XML, or bank statements (CAMT.053); give a "
                                   "table alone"))])  # fmt: skip
        # Two files of one name stay two (the second numbered).
        stored = folder / (shown if shown not in names else f"{n}-{shown}")
        names.append(stored.name)
        size, sha256 = _save(stored, shown, chunks, left)
        left -= size
        digests.append(sha256)
    shown = _("%(count)s files") % {"count": len(files)}
    if all(_is_camt(folder / name) for name in names):
        # Statements of several days chosen at once: read as a ZIP of them is.
        archive = directory / "upload.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as out:
            for name in sorted(names):
                out.write(folder / name, name)
        shutil.rmtree(folder)
        return {"name": shown, "stored": archive.name, "format": "camt053",
                "size": max_bytes() - left, "header": [], "sample": [], "rows": 0,
                "sha256": hashlib.sha256("\n".join(digests).encode()).hexdigest(),
                "files": sorted(names)}  # fmt: skip
    return {"name": shown, "stored": folder.name, "format": "einvoice",
            "size": max_bytes() - left, "header": [], "sample": [], "rows": len(files),
            "sha256": hashlib.sha256("\n".join(digests).encode()).hexdigest(),
            "files": sorted(names)}  # fmt: skip


def _is_camt(path: Path) -> bool:
    from relance.bank.camt import is_camt

    with path.open("rb") as fh:
        return is_camt(fh.read(4096))


def _shown(name: str) -> str:
    """The name the user knows the file by, and an extension Relance reads."""
    shown = Path(name).name[:200] or "upload"
    if Path(shown).suffix.lower() not in SUFFIXES:
        message = _(
            "is not a file Relance imports: a CSV, XLSX, ODS or FEC export, e-invoices (PDF, "
            "XML, ZIP), a status file or a bank statement (%(suffixes)s)"
        ) % {"suffixes": ", ".join(SUFFIXES)}
        raise Refused([Problem(shown, None, None, message)])
    return shown


def _save(stored: Path, shown: str, chunks: Iterable[bytes], limit: int) -> tuple[int, str]:
    size, digest = 0, hashlib.sha256()
    with stored.open("wb") as out:
        for chunk in chunks:
            size += len(chunk)
            if size > limit:
                raise Refused([too_large(shown)])
            digest.update(chunk)
            out.write(chunk)
    return size, digest.hexdigest()


def _zip_files(path: Path) -> int:
    try:
        with archives.open_zip(path) as archive:
            return len(archives.members(archive))
    except archives.Unreadable:  # its preview says why
        return 0


def too_large(name: str) -> Problem:
    limit = max_bytes()
    size = (_("%(n)s MB") if limit >= 1024 * 1024 else _("%(n)s bytes")) % {
        "n": limit // (1024 * 1024) or limit
    }  # fmt: skip
    return Problem(name, None, None,
                   _("is larger than %(size)s, the most the console takes: "
                     "import it with `relance import`") % {"size": size})  # fmt: skip


def too_many(name: str) -> Problem:
    return Problem(name, None, None,
                   _("more than %(limit)s files at once") % {"limit": max_files()})  # fmt: skip


def describe(path: Path, name: str, fmt: str, spec: dict[str, Any] | None = None) -> dict[str, Any]:
    """The file's headers and first rows, read as the import reads them (a file that cannot
    be read is refused here, before any mapping)."""
    options = spec or {}
    try:
        table = read_table(
            path,
            encoding=str(options.get("encoding", "auto")),
            delimiter=str(options.get("delimiter", "auto")),
            sheet=options.get("sheet"),
            header_row=int(options.get("header_row", 1)),
        )
        sample = []
        for _line, cells in table.rows:
            sample.append([_text(cell) for cell in cells])
            if len(sample) == SAMPLE_ROWS:
                break
    except ImportFailed as failure:
        raise Refused([_named(p, name) for p in failure.problems]) from None
    except Exception:  # a reader's own error on a file it cannot read: refused, kept nowhere
        log.exception("reading the upload %s", name)
        raise Refused([Problem(name, None, None, _("cannot be read"))]) from None
    if not sample:
        raise Refused([Problem(name, None, None, _("the file has a header but no rows"))])
    # A text file's size counts its lines, the header's too.
    rows = table.size - (fmt in ("csv", "fec"))
    return {"header": table.header, "sample": sample, "rows": max(rows, len(sample))}


def _named(problem: Problem, name: str) -> Problem:
    """Problems say the user's file name, not the name it is kept under."""
    return Problem(name, problem.row, problem.field, problem.message)


def _text(cell: Any) -> str:
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    if isinstance(cell, dt.datetime) and cell.time() == dt.time():
        return cell.date().isoformat()
    return "" if cell is None else str(cell)


# -- loading, listing, cleaning ------------------------------------------------------------


def load(organisation: Organisation, token: str) -> Staged:
    """One import of the organisation; LookupError for any other token (another
    organisation's import is not found, as one that never was)."""
    if not TOKEN.match(token or ""):
        raise LookupError(token)
    try:
        state = json.loads((root(organisation) / token / "state.json").read_text())
    except (OSError, ValueError):
        raise LookupError(token) from None
    return Staged(organisation, token, state)


def pending(organisation: Organisation) -> list[Staged]:
    """The imports of the organisation not done yet, the latest first."""
    found = []
    directory = root(organisation)
    if directory.is_dir():
        for entry in directory.iterdir():
            try:
                staged = load(organisation, entry.name)
            except LookupError:
                continue
            if not staged.done:
                found.append(staged)
    return sorted(found, key=lambda s: s.created, reverse=True)


def purge(organisation: Organisation) -> None:
    """Uploads older than KEEP_DAYS go (each upload cleans up after the old ones)."""
    directory = root(organisation)
    if not directory.is_dir():
        return
    limit = time.time() - KEEP_DAYS * 86400
    for entry in directory.iterdir():
        state = entry / "state.json"
        if entry.is_dir() and state.is_file() and state.stat().st_mtime < limit:
            shutil.rmtree(entry, ignore_errors=True)


def discard(staged: Staged) -> None:
    with _locked(staged) as current:
        if current.running:
            raise Refused([Problem(current.file["name"], None, None, _("it is running"))])
    shutil.rmtree(staged.directory, ignore_errors=True)


# -- mappings ------------------------------------------------------------------------------


def saved_mappings(organisation: Organisation) -> list[ImportMapping]:
    """The ledger mappings (a bank's CSV columns are saved beside them: relance.bank.mappings)."""
    saved = ImportMapping.objects.filter(organisation=organisation).order_by("name")
    return [m for m in saved if not _bank(m.spec)]


def _bank(spec: Any) -> bool:
    return isinstance(spec, dict) and spec.get("record") == "bank"


def suggest(
    organisation: Organisation, header: list[str], wanted: str | None = None
) -> tuple[str, dict[str, Any]] | None:
    """The mapping to start from: the one asked for, else the organisation's mapping used
    last that fits the file (every column it names is in the header), else Relance's own
    field names when the headers are those; None when nothing fits."""
    saved = ImportMapping.objects.filter(organisation=organisation)
    if wanted:
        chosen = saved.filter(name=wanted).first()
        return (chosen.name, dict(chosen.spec)) if chosen and not _bank(chosen.spec) else None
    present = set(header)
    for candidate in saved.order_by("-updated_at", "-pk")[:200]:
        if _bank(candidate.spec):
            continue
        columns = candidate.spec.get("columns") if isinstance(candidate.spec, dict) else None
        if isinstance(columns, dict) and columns and set(_headers_of(columns)) <= present:
            return candidate.name, dict(candidate.spec)
    try:
        mapping = default_mapping(header)
    except ImportFailed:
        return None
    return "", spec_of(mapping)


def _headers_of(columns: dict[str, Any]) -> Iterator[str]:
    for value in columns.values():
        if isinstance(value, dict):
            if value.get("column") is not None:
                yield str(value["column"])
        else:
            yield str(value)


def spec_of(mapping: Mapping) -> dict[str, Any]:
    """A parsed mapping back as the document the command line reads."""
    columns: dict[str, Any] = {}
    for target, column in mapping.columns.items():
        if column.column is not None and not column.values and not column.format:
            columns[target] = column.column
        else:
            entry: dict[str, Any] = {}
            if column.column is not None:
                entry["column"] = column.column
            else:
                entry["value"] = column.value
            if column.values:
                entry["values"] = column.values
            if column.format:
                entry["format"] = column.format
            columns[target] = entry
    return {"record": mapping.record, "columns": columns}


def check_mapping(name: str, spec: dict[str, Any]) -> Mapping:
    """The mapping the import will read, or Refused naming each wrong option or field."""
    problems = []
    if not MAPPING_NAME.match(name):
        problems.append(Problem(_("mapping"), None, "name",
                                _("a name of letters, digits, - and _ (at most 64)")))  # fmt: skip
    try:
        mapping = parse_mapping(json.loads(json.dumps(spec, default=str)),
                                _("mapping %(name)s") % {"name": repr(name)},
                                default_name=name)  # fmt: skip
    except ImportFailed as failure:
        problems.extend(failure.problems)
    if problems:
        raise Refused(problems)
    return mapping


def save_mapping(
    staged: Staged, name: str, spec: dict[str, Any], user: Any, request: Any = None
) -> Staged:
    """Save the mapping under its name in the organisation (``relance import --mapping
    NAME`` reads the same) and use it for this import."""
    spec = {**spec, "name": name}
    check_mapping(name, spec)
    with _locked(staged) as current:
        _refuse_if_started(current, current.file["name"])
        saved, created = ImportMapping.objects.update_or_create(
            organisation=current.organisation, name=name, defaults={"spec": spec}
        )
        current.state["mapping"] = {"name": name, "spec": spec}
        _write(current)
    trail.record(
        current.organisation, "import.mapping_saved", user=user, target=saved,
        summary=Text(gettext_noop("created mapping %(name)s") if created
                     else gettext_noop("changed mapping %(name)s"), {"name": name}),
        data={"mapping": name, "file": current.file["name"]}, request=request,
    )  # fmt: skip
    return current


def save_bank_mapping(staged: Staged, spec: dict[str, Any]) -> Staged:
    """The columns of a bank CSV (docs/bank.md), for this import; checked as the command
    line checks a bank mapping file."""
    bank_mapping(spec)
    with _locked(staged) as current:
        _refuse_if_started(current, current.file["name"])
        current.state["mapping"] = {"name": "", "spec": spec}
        # The headers shown are those of the row chosen, read as the mapping says.
        current.state["file"].update(describe(current.path, current.file["name"],
                                              current.format, spec))  # fmt: skip
        _write(current)
    return current


def bank_mapping(spec: dict[str, Any] | None) -> BankMapping | None:
    """The bank CSV's columns of a spec, or Refused naming each wrong option."""
    if not spec:
        return None
    try:
        return BankMapping.from_dict(spec, "mapping")
    except ImportFailed as failure:
        raise Refused(failure.problems) from None


def mapping_of(staged: Staged) -> Mapping | None:
    if not staged.needs_mapping:
        return None
    chosen = staged.mapping
    if chosen is None:
        raise Refused([Problem(staged.file["name"], None, None, _("map the columns first"))])
    return check_mapping(chosen["name"], chosen["spec"])


def targets(record: str) -> list[tuple[str, bool]]:
    """The fields of a kind of row, each with whether it is required."""
    fields, required = RECORDS[record]
    return [(t, t in required or t == "invoice.amount") for t in fields]


# -- preview and import --------------------------------------------------------------------


def start(staged: Staged, *, dry_run: bool, user_id: int | None) -> Staged:
    """Preview (dry run) or import the file: here for a small file, in a thread for a large
    one. Refused while one is running, after the import, or to confirm what was not
    previewed clean."""
    with _locked(staged) as current:
        _refuse_if_started(current, current.file["name"])
        if not dry_run and not current.confirmable:
            raise Refused(
                [Problem(current.file["name"], None, None, _("preview it first, without errors"))]
            )
        mapping = mapping_of(current)
        current.state["last"] = {
            "kind": "preview" if dry_run else "import",
            "status": "running",
            "key": current.key(),
            "started": timezone.now().isoformat(),
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "user_id": user_id,
        }
        _write(current)
        _report(current, "waiting" if not dry_run else "reading", 0, current.file["rows"])
    work = (current, mapping, dry_run, user_id)
    if current.file["size"] >= background_bytes():
        # The thread speaks the request's language: a new thread starts in the default one.
        args = (translation.get_language(), *work)
        threading.Thread(target=_in_thread, args=args, name=f"import-{current.token}").start()
    else:
        _work(*work)
    return load(current.organisation, current.token)


def _in_thread(
    language: str | None, staged: Staged, mapping: Mapping | None, dry_run: bool,
    user_id: int | None,
) -> None:  # fmt: skip
    try:
        with translation.override(language):
            _work(staged, mapping, dry_run, user_id)
    finally:
        connection.close()  # this thread's own connection


def _work(staged: Staged, mapping: Mapping | None, dry_run: bool, user_id: int | None) -> None:
    outcome: dict[str, Any] = {}
    try:
        if dry_run:
            result = _import(staged, mapping, True, user_id)
        else:
            with _importing:
                result = _import(staged, mapping, False, user_id)
        outcome = {
            "status": "ok",
            "result": _result(result),
            "run_id": getattr(result, "run_id", None),
        }  # a statement has none
    except ImportFailed as failure:
        outcome = {"status": "failed", "problems": problem_rows(staged, mapping, failure.problems)}
        if not dry_run:
            from relance.ledger.models import ImportRun

            run = ImportRun.objects.filter(organisation=staged.organisation).first()
            outcome["run_id"] = run.pk if run and run.sha256 == staged.file["sha256"] else None
    except Exception:  # a bug must not leave the page waiting for ever
        log.exception("import %s of organisation %s", staged.token, staged.organisation.pk)
        message = _("the import stopped on an unexpected error (see the server's log)")
        problem = {"row": None, "field": None, "value": "", "message": message}
        outcome = {"status": "failed", "problems": [problem]}
    with _locked(staged) as current:
        last = dict(current.last or {})
        last.update(outcome, finished=timezone.now().isoformat())
        current.state["last"] = last
        if last["kind"] == "import" and last["status"] == "ok":
            current.state["done"] = True
            if current.path.is_dir():  # the ledger has it now
                shutil.rmtree(current.path, ignore_errors=True)
            else:
                current.path.unlink(missing_ok=True)
        _write(current)
        _report(current, "done", current.file["rows"], current.file["rows"])


def _import(staged: Staged, mapping: Mapping | None, dry_run: bool, user_id: int | None) -> Any:
    last_written = [0.0]

    def progress(phase: str, done: int, total: int) -> None:
        now = time.monotonic()
        if now - last_written[0] >= 0.2:  # a file write now and then, whatever the rows
            last_written[0] = now
            _report(staged, phase, done, total)

    # The file is kept as upload.<ext>: the import log and the problems name the user's file.
    named = staged.directory / "named" / staged.file["name"]
    named.parent.mkdir(exist_ok=True)
    named.unlink(missing_ok=True)
    if staged.path.is_dir():  # files uploaded at once, read as a folder
        named.symlink_to(staged.path, target_is_directory=True)
    else:
        os.link(staged.path, named)
    try:
        if mapping is not None and mapping.name:
            ImportMapping.objects.filter(
                organisation=staged.organisation, name=mapping.name
            ).update(updated_at=timezone.now())  # the mapping used last comes first next time
        return import_file(
            staged.organisation, named, format=staged.format, mapping=mapping,
            dry_run=dry_run, progress=progress, user_id=user_id,
            bank_mapping=bank_mapping((staged.mapping or {}).get("spec")) if staged.bank_csv
            else None,
        )  # fmt: skip
    finally:
        named.unlink(missing_ok=True)


REPORTED = 1000  # the reports per file (e-invoices) or per status kept for the page


def _result(result: Any) -> dict[str, Any]:
    if isinstance(result, BankImportResult):
        # As `relance bank import --json` says it (amounts as exact decimal strings).
        return {"bank": json.loads(render_json(result.as_dict()))}
    return {
        "rows": result.rows,
        "counts": dict(sorted(result.counts.items())),
        "changes": result.changes[:50],
        "sample": result.sample,
        "warnings": [
            {"row": w.row, "field": w.field, "message": w.message} for w in result.warnings[:50]
        ],
        "files": json.loads(render_json(result.files[:REPORTED])),
        "more_files": max(0, len(result.files) - REPORTED),
    }


def problem_rows(
    staged: Staged, mapping: Mapping | None, problems: list[Problem]
) -> list[dict[str, Any]]:
    """Each problem with the value of its cell in the file (row and column), when it names
    one: read once more, up to the last row named (only after a refusal)."""
    rows: list[dict[str, Any]] = [
        {"row": p.row, "field": p.field, "value": "", "message": p.message} for p in problems
    ]
    wanted = {p.row for p in problems if p.row}
    if not wanted or mapping is None:
        return rows
    headers = {t: c.column for t, c in mapping.columns.items() if c.column is not None}
    try:
        table = read_table(staged.path, encoding=mapping.encoding, delimiter=mapping.delimiter,
                           sheet=mapping.sheet, header_row=mapping.header_row)  # fmt: skip
        position = {name: i for i, name in enumerate(table.header)}
        cells_of: dict[int, list[Any]] = {}
        last = max(wanted)
        for line, cells in table.rows:
            if line in wanted:
                cells_of[line] = cells
            if line >= last:
                break
    except (ImportFailed, OSError):
        return rows
    for entry in rows:
        name = headers.get(entry["field"] or "", entry["field"])
        found = cells_of.get(entry["row"] or 0)
        if found is not None and name in position and position[name] < len(found):
            entry["value"] = _text(found[position[name]])
    return rows


def status(staged: Staged) -> Staged:
    """The import as it stands; a run whose process has gone (a restart of the server)
    is marked interrupted, to be started again."""
    last = staged.last
    if (
        last
        and last["status"] == "running"
        and last.get("host") == socket.gethostname()
        and not _alive(int(last.get("pid") or 0))
    ):
        with _locked(staged) as current:
            if current.running:
                current.state["last"] = {**current.state["last"], "status": "interrupted"}
                _write(current)
        return current
    return staged


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return pid > 0


# -- files ---------------------------------------------------------------------------------


def _write(staged: Staged) -> None:
    _atomic(staged.directory / "state.json", json.dumps(staged.state, default=str))


def _report(staged: Staged, phase: str, done: int, total: int) -> None:
    _atomic(
        staged.directory / "progress.json",
        json.dumps({"phase": phase, "done": done, "total": max(total, done),
                    "at": timezone.now().isoformat()}),
    )  # fmt: skip


def _atomic(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.{threading.get_ident()}")
    temporary.write_text(text)
    temporary.replace(path)


def _refuse_if_started(staged: Staged, file: str) -> None:
    """An import under way or done is not changed, nor started again (``file``: the name
    the refusal gives)."""
    if staged.running or staged.done:
        raise Refused([Problem(file, None, None, _("this import is under way or done"))])


@contextmanager
def _locked(staged: Staged) -> Iterator[Staged]:
    """The import's state, read fresh and held against other requests while it changes."""
    with (staged.directory / ".lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield load(staged.organisation, staged.token)
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
