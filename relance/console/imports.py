"""Imports in the browser: upload, map, preview, fix, confirm.

The steps of one import are kept by relance.ledger.imports.staging (the file in the data
directory, the mapping, the last preview or import and its progress); previews and imports
go through ``import_file``, as ``relance import`` does. Managers and admins import
(``Can.APPROVE``: an import rewrites the ledger every dunning decision rests on); everyone
of the organisation sees the import log.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy
from django.views.decorators.http import require_POST

from relance.bank import mappings as bank_mappings
from relance.console.access import Can, console_view
from relance.ledger.imports import staging
from relance.ledger.imports.mapping import DECIMAL_MARKS, RECORDS
from relance.ledger.imports.records import ImportFailed, Problem
from relance.ledger.models import ImportRun, InvoiceKind, PaymentKind

PAGE = 30
# The fields the mapping form always shows (with the required ones and those mapped); the
# others wait behind "other fields".
SHOWN = ("customer.legal_name", "customer.email", "invoice.due_date", "payment.amount",
         "allocation.invoice")  # fmt: skip
# Options of a mapping the form does not show, kept as they were when a mapping is saved
# again from the browser (a mapping written for the command line keeps its encoding...).
KEPT = ("description", "format", "encoding", "delimiter", "sheet", "header_row", "country",
        "language")  # fmt: skip

COUNTS = {
    "customers_created": gettext_lazy("customers created"),
    "customers_updated": gettext_lazy("customers updated"),
    "customers_matched": gettext_lazy("customers matched"),
    "contacts_created": gettext_lazy("contacts created"),
    "contacts_updated": gettext_lazy("contacts updated"),
    "invoices_created": gettext_lazy("invoices created"),
    "invoices_updated": gettext_lazy("invoices updated"),
    "invoices_unchanged": gettext_lazy("invoices unchanged"),
    "invoices_settled": gettext_lazy("invoices settled (missing from the file)"),
    "payments_created": gettext_lazy("payments and credit notes created"),
    "payments_updated": gettext_lazy("payments updated"),
    "payments_deleted": gettext_lazy("payments deleted"),
    "payments_recognised": gettext_lazy("payments recognised by their RF reference"),
    "allocations_created": gettext_lazy("allocations created"),
    "allocations_updated": gettext_lazy("allocations updated"),
    "disputes_opened": gettext_lazy("disputes opened"),
    "disputes_resolved": gettext_lazy("disputes resolved"),
    # A bank statement's (relance.bank.services.BankImportResult.run_counts).
    "bank_credits": gettext_lazy("new credits"),
    "bank_matched": gettext_lazy("credits matched and allocated"),
    "bank_proposed": gettext_lazy("credits to review"),
    "bank_unmatched": gettext_lazy("credits without a match"),
    "bank_duplicates": gettext_lazy("credits already imported"),
    "bank_holds": gettext_lazy("customers held by unapplied cash"),
}
# The import log's formats of bank statements: their runs link to the bank queue.
BANK_FORMATS = ("camt053", "bank-csv")
PHASES = {
    "waiting": gettext_lazy("Waiting for the organisation (a run or another import)"),
    "reading": gettext_lazy("Reading the file"),
    "checking": gettext_lazy("Checking the rows"),
    "customers": gettext_lazy("Customers"),
    "invoices": gettext_lazy("Invoices"),
    "payments": gettext_lazy("Payments and allocations"),
    "balances": gettext_lazy("Balances"),
    "done": gettext_lazy("Done"),
}
RECORD_NAMES = {
    "invoice": gettext_lazy("an invoice (open items)"),
    "payment": gettext_lazy("a payment"),
    "customer": gettext_lazy("a customer"),
}


# What the page calls each kind of file.
FORMAT_NAMES = {
    "csv": gettext_lazy("CSV"), "xlsx": gettext_lazy("XLSX"), "ods": gettext_lazy("ODS"),
    "fec": gettext_lazy("FEC"), "einvoice": gettext_lazy("E-invoices"),
    "statuses": gettext_lazy("Life-cycle statuses"),
    "camt053": gettext_lazy("Bank statement (CAMT.053)"),
    "bank-csv": gettext_lazy("Bank statement (CSV)"),
}  # fmt: skip
# The fields of a bank CSV (relance.bank.exports.FIELDS), as the mapping form names them.
BANK_FIELDS = {
    "date": gettext_lazy("Date"), "amount": gettext_lazy("Amount (signed)"),
    "debit": gettext_lazy("Debit"), "credit": gettext_lazy("Credit"),
    "label": gettext_lazy("Label"), "reference": gettext_lazy("Bank reference"),
    "remittance": gettext_lazy("Remittance text"), "debtor_name": gettext_lazy("Payer's name"),
    "debtor_iban": gettext_lazy("Payer's IBAN"), "currency": gettext_lazy("Currency"),
}  # fmt: skip
EINVOICE_STATUSES = {
    "imported": gettext_lazy("imported"), "would import": gettext_lazy("to import"),
    "refused": gettext_lazy("refused"), "duplicate": gettext_lazy("same invoice as another file"),
}  # fmt: skip
STATUS_RESULTS = {
    "applied": gettext_lazy("applied"),
    "already applied": gettext_lazy("already applied"),
}
# What a status does to dunning (relance.ledger.lifecycle.effect).
STATUS_EFFECTS = {
    "note": gettext_lazy("noted"), "resume": gettext_lazy("dunning resumed"),
    "partial": gettext_lazy("only the approved amount dunned"),
    "pause": gettext_lazy("dunning paused"), "stop": gettext_lazy("dunning stopped"),
    "hold": gettext_lazy("dunning held (payment sent)"), "settle": gettext_lazy("settled"),
}  # fmt: skip

# The preview's sample rows and changes name records as the pipeline does (its kinds, its
# tables): the page says them in the reader's language.
RECORD_KINDS = {
    **dict(InvoiceKind.choices), **dict(PaymentKind.choices),
    "customer": gettext_lazy("Customer"), "customers": gettext_lazy("Customer"),
    "contacts": gettext_lazy("Contact"), "invoices": gettext_lazy("Invoice"),
    "payments": gettext_lazy("Payment"),
}  # fmt: skip
CHANGE_ACTIONS = {
    "created": pgettext_lazy("an import's change", "created"),
    "updated": pgettext_lazy("an import's change", "updated"),
    "settled": pgettext_lazy("an import's change", "settled (missing from the file)"),
}


def _counts(counts: dict[str, int]) -> list[tuple[str, int]]:
    """What an import did, in words: the counts that are not zero (a page says when
    nothing happened)."""
    return [(str(COUNTS.get(k, k.replace("_", " "))), n) for k, n in sorted(counts.items()) if n]


def _load(request: HttpRequest, token: str) -> staging.Staged:
    """An import of the current organisation, or 404 (another organisation's too)."""
    try:
        return staging.status(staging.load(request.console.organisation, token))  # type: ignore[attr-defined]
    except LookupError:
        raise Http404 from None


def _problems(problems: list[Problem]) -> list[dict[str, Any]]:
    return [
        {"file": p.file, "row": p.row, "field": p.field, "value": "", "message": p.message}
        for p in problems
    ]


# -- the list ------------------------------------------------------------------------------


@console_view()
def imports(request: HttpRequest, upload_problems: list[Problem] | None = None) -> HttpResponse:
    console = request.console  # type: ignore[attr-defined]
    try:
        page = max(1, int(request.GET.get("page", 1)))
    except ValueError:
        page = 1
    runs = list(
        console.objects(ImportRun)
        .select_related("user")
        .order_by("-started_at", "-pk")[(page - 1) * PAGE : page * PAGE + 1]
    )
    rows = [
        {
            "run": run,
            "counts": _counts(run.counts),
            "errors": [line for line in run.error.splitlines() if line.strip()],
            "bank": run.format in BANK_FORMATS,
        }
        for run in runs[:PAGE]
    ]
    may_import = console.can(Can.APPROVE)
    return render(
        request,
        "console/imports/list.html",
        {
            "runs": rows,
            "page": page,
            "next_page": page + 1 if len(runs) > PAGE else None,
            "pending": staging.pending(console.organisation) if may_import else [],
            "may_import": may_import,
            "max_mb": staging.max_bytes() // (1024 * 1024),
            "suffixes": ", ".join(staging.SUFFIXES),
            "accept": ",".join(staging.SUFFIXES),
            "upload_problems": _problems(upload_problems or []),
        },
        status=400 if upload_problems else 200,
    )


def _upload(request: HttpRequest) -> list[tuple[str, Any]]:
    """The uploaded files' names and chunks (several files chosen at once are e-invoices),
    or why there is none (staging.Refused). A body declared far larger than an import never
    reaches here (relance.console.bodysize)."""
    uploaded = request.FILES.getlist("file")
    if not uploaded:
        raise staging.Refused([Problem(_("the file"), None, None, _("choose a file to upload"))])
    return [(f.name or "upload", f.chunks()) for f in uploaded]


@console_view(Can.APPROVE)
@require_POST
def upload(request: HttpRequest) -> HttpResponse:
    console = request.console  # type: ignore[attr-defined]
    try:
        got = _upload(request)
        kind = request.POST.get("kind") or "auto"
        staged = staging.stage_files(console.organisation, console.user.pk, got, kind=kind)
    except staging.Refused as refused:
        return imports(request, upload_problems=refused.problems)
    return redirect("console:import", token=staged.token)


# -- one import ----------------------------------------------------------------------------


def _mapping_rows(
    spec: dict[str, Any], record: str, header: list[str], sample: list[list[str]]
) -> list[dict[str, Any]]:
    """One line per field of the kind of row: the column or fixed value it has now, and
    the first value of the file under it."""
    columns: dict[str, Any] = spec["columns"] if isinstance(spec.get("columns"), dict) else {}
    first = sample[0] if sample else []
    rows = []
    for target, required in staging.targets(record):
        entry = columns.get(target)
        column, value, extra = "", "", False
        if isinstance(entry, dict):
            column = "" if entry.get("column") is None else str(entry["column"])
            value = "" if entry.get("value") is None else str(entry["value"])
            extra = bool(entry.get("values") or entry.get("format"))
        elif entry is not None:
            column = str(entry)
        example = (
            first[header.index(column)]
            if column in header and header.index(column) < len(first)
            else ""
        )
        rows.append({
            "target": target, "required": required, "column": column, "value": value,
            "extra": extra, "example": example, "slug": re.sub(r"\W", "-", target),
            "shown": required or bool(column or value) or target in SHOWN,
        })  # fmt: skip
    return rows


def _spec_from_post(
    request: HttpRequest, base: dict[str, Any], header: list[str]
) -> dict[str, Any]:
    """The mapping the form describes, as the YAML document the command line reads."""
    post = request.POST
    record = post.get("record", "invoice")
    record = record if record in RECORDS else "invoice"
    old_columns: dict[str, Any] = base["columns"] if isinstance(base.get("columns"), dict) else {}
    columns: dict[str, Any] = {}
    for target, _required in staging.targets(record):
        column = post.get(f"column:{target}", "")
        constant = post.get(f"value:{target}", "").strip()
        if column and column in header:
            old = old_columns.get(target)
            # A column kept keeps its translation of values and its date format.
            keep = isinstance(old, dict) and old.get("column") == column
            columns[target] = old if keep else column
        elif constant:
            columns[target] = {"value": constant}
    spec: dict[str, Any] = {k: base[k] for k in KEPT if k in base}
    spec.update(record=record, dates=post.get("dates", "").strip() or "auto",
                decimal=post.get("decimal", "auto"), snapshot=post.get("snapshot") == "on",
                columns=columns)  # fmt: skip
    if currency := post.get("currency", "").strip():
        spec["currency"] = currency
    return spec


def _job_context(
    request: HttpRequest,
    staged: staging.Staged,
    *,
    spec: dict[str, Any] | None = None,
    name: str | None = None,
    mapping_problems: list[Problem] | None = None,
    file_problems: list[Problem] | None = None,
) -> dict[str, Any]:
    console = request.console  # type: ignore[attr-defined]
    info = staged.file
    header, sample = info["header"], info["sample"]
    first = sample[0] if sample else []
    wanted = request.GET.get("mapping") or None
    chosen = staged.mapping
    base = request.POST.get("base", "")
    if spec is None:
        suggestion = staging.suggest(console.organisation, header, wanted)
        if chosen and not wanted:
            name, spec = chosen["name"], chosen["spec"]
        elif suggestion:
            name, spec = suggestion
            base = name  # a saved mapping (or "" for Relance's own names)
        else:
            name, spec = "", {"record": "invoice", "columns": {}}
    record = request.GET.get("record") or spec.get("record", "invoice")
    record = record if record in RECORDS else "invoice"
    if not name:
        name = re.sub(r"[^-a-zA-Z0-9_]+", "-", info["name"].rsplit(".", 1)[0]).strip("-")[:64]
    bank_spec = (chosen or {}).get("spec") or {} if staged.bank_csv else {}
    bank_columns = bank_spec.get("columns") or {}
    return {
        "staged": staged,
        "format_name": FORMAT_NAMES.get(staged.format, staged.format),
        "bank_spec": bank_spec,
        "bank_saved": bank_mappings.saved(console.organisation) if staged.bank_csv else [],
        "bank_fields": [(k, label, bank_columns.get(k, "")) for k, label in BANK_FIELDS.items()],
        "base": base,
        "file": info,
        "header": header,
        "columns": [(h, first[i] if i < len(first) else "") for i, h in enumerate(header) if h],
        "sample": sample,
        # Each cell with its column's name: a row of the sample is a card on a phone.
        "sample_cells": [
            [(header[i] if i < len(header) else "", cell) for i, cell in enumerate(row)]
            for row in sample
        ],
        "saved": staging.saved_mappings(console.organisation),
        "name": name,
        "spec": spec,
        "record": record,
        "records": [(k, RECORD_NAMES[k]) for k in RECORDS],
        "decimals": DECIMAL_MARKS,
        "rows": (rows := _mapping_rows(spec, record, header, sample)),
        "more": sum(1 for row in rows if not row["shown"]),
        "mapping_problems": _problems(mapping_problems or []),
        "file_problems": _problems(file_problems or []),
        "suffixes": ", ".join(staging.SUFFIXES),
        "accept": ",".join(staging.SUFFIXES),
        **_status_context(staged),
    }


def _status_context(staged: staging.Staged) -> dict[str, Any]:
    last = staged.last or {}
    result = last.get("result") or {}
    progress = staged.progress()
    total, done = int(progress.get("total") or 0), int(progress.get("done") or 0)
    files = result.get("files") or []
    return {
        "staged": staged,
        "last": last,
        "result": result,
        "bank_result": result.get("bank"),
        "einvoices": [
            {
                **f,
                "label": EINVOICE_STATUSES.get(f["status"], f["status"]),
                "due_date": _dated(f.get("due_date")),
            }
            for f in files
        ]
        if staged.format == "einvoice"
        else [],
        "statuses": [_status_report(f) for f in files] if staged.format == "statuses" else [],
        "einvoice_counts": _einvoice_counts(files) if staged.format == "einvoice" else [],
        "sample_rows": [_typed(row) for row in result.get("sample", [])],
        "changes": [_change(change) for change in result.get("changes", [])],
        "counts": _counts(result.get("counts", {})),
        "progress": progress,
        "phase": PHASES.get(progress.get("phase", ""), progress.get("phase", "")),
        "percent": min(100, round(100 * done / total)) if total else 0,
        "stale": bool(last) and last.get("key") != staged.key(),
    }


def _status_report(report: dict[str, Any]) -> dict[str, Any]:
    effect = report.get("effect", "")
    return {**report, "label": STATUS_RESULTS.get(report["result"], report["result"]),
            "effect": STATUS_EFFECTS.get(effect, effect),
            "date": _dated(report.get("date"))}  # fmt: skip


def _dated(text: str | None) -> dt.date | str | None:
    """A report's ISO date typed again, for the page to write it in the reader's language;
    anything else (a date the file got wrong, quoted as it was) as it is."""
    try:
        return dt.date.fromisoformat(text) if text else text
    except ValueError:
        return text


def _einvoice_counts(files: list[dict[str, Any]]) -> list[tuple[str, int]]:
    """How many files were (or would be) imported, left as duplicates, refused."""
    found: dict[str, int] = {}
    for f in files:
        found[f["status"]] = found.get(f["status"], 0) + 1
    return [(str(EINVOICE_STATUSES.get(k, k)), n) for k, n in sorted(found.items())]


def _typed(row: dict[str, Any]) -> dict[str, Any]:
    """A row of the preview's sample with its dates and amount typed again, for the page
    to write them in the reader's language."""
    typed = dict(row)
    for key in ("date", "due_date"):
        typed[key] = dt.date.fromisoformat(row[key]) if row.get(key) else None
    typed["amount"] = Decimal(row["amount"]) if row.get("amount") else None
    typed["what"] = RECORD_KINDS.get(row.get("what", ""), row.get("what", ""))
    return typed


def _change(change: dict[str, Any]) -> dict[str, Any]:
    """A change of the preview's sample, what it is and what happens to it said."""
    what, action = change.get("what", ""), change.get("action", "")
    return {**change, "what": RECORD_KINDS.get(what, what),
            "action": CHANGE_ACTIONS.get(action, action)}  # fmt: skip


@console_view(Can.APPROVE)
def job(request: HttpRequest, token: str) -> HttpResponse:
    staged = _load(request, token)
    return render(request, "console/imports/job.html", _job_context(request, staged))


@console_view(Can.APPROVE)
def progress(request: HttpRequest, token: str) -> HttpResponse:
    """The status of the import, polled every second while it runs; when it has finished,
    the whole page is shown again (the steps it allows have changed)."""
    staged = _load(request, token)
    response = render(request, "console/imports/_status.html", _status_context(staged))
    if request.htmx and not staged.running:  # type: ignore[attr-defined]
        response["HX-Refresh"] = "true"
    return response


@console_view(Can.APPROVE)
@require_POST
def mapping(request: HttpRequest, token: str) -> HttpResponse:
    """Save the mapping under its name (remembered for the next files) and preview."""
    staged = _load(request, token)
    name = request.POST.get("name", "").strip()
    base = (staged.mapping or {}).get("spec") or {}
    if loaded := request.POST.get("base"):
        found = staging.suggest(request.console.organisation, [], loaded)  # type: ignore[attr-defined]
        base = found[1] if found else base
    spec = _spec_from_post(request, base, staged.file["header"])
    try:
        staged = staging.save_mapping(staged, name, spec, request.user, request)
        staging.start(staged, dry_run=True, user_id=request.user.pk)
    except staging.Refused as refused:
        context = _job_context(request, staged, spec=spec, name=name,
                               mapping_problems=refused.problems)  # fmt: skip
        return render(request, "console/imports/job.html", context, status=400)
    return redirect(reverse("console:import", args=[token]) + "#import-status")


@console_view(Can.APPROVE)
@require_POST
def bank_columns(request: HttpRequest, token: str) -> HttpResponse:
    """The columns of a bank CSV (docs/bank.md), or a bank mapping saved before (``saved``),
    then the preview; with a ``name``, the columns are saved under it to be chosen again."""
    staged = _load(request, token)
    organisation = request.console.organisation  # type: ignore[attr-defined]
    post = request.POST
    header = staged.file["header"]
    name = post.get("name", "").strip()
    try:
        if chosen := post.get("saved", "").strip():
            found = bank_mappings.spec_of(organisation, chosen)
            if found is None:
                raise staging.Refused([Problem(_("mapping"), None, "saved",
                                               _("no such bank mapping"))])  # fmt: skip
            spec, name = found, ""
        else:
            spec = _bank_spec_from_post(request, header)
        staged = staging.save_bank_mapping(staged, spec)
        if name:
            saved = bank_mappings.save(organisation, name, spec, user=request.user,
                                       request=request)  # fmt: skip
            staged = staging.save_bank_mapping(staged, dict(saved.spec))
        staging.start(staged, dry_run=True, user_id=request.user.pk)
    except (staging.Refused, ImportFailed) as refused:
        context = _job_context(request, staging.status(staged), mapping_problems=refused.problems)
        return render(request, "console/imports/job.html", context, status=400)
    return redirect(reverse("console:import", args=[token]) + "#import-status")


def _bank_spec_from_post(request: HttpRequest, header: list[str]) -> dict[str, Any]:
    post = request.POST
    spec: dict[str, Any] = {
        "columns": {k: post[f"bank:{k}"] for k in BANK_FIELDS if post.get(f"bank:{k}") in header},
        "dates": post.get("dates", "").strip() or "auto",
        "decimal": post.get("decimal", "auto"),
    }
    try:
        spec["header_row"] = int(post.get("header_row") or 1)
    except ValueError:
        spec["header_row"] = post.get("header_row")
    for key in ("currency", "account"):
        if value := post.get(key, "").strip():
            spec[key] = value
    return spec


@console_view(Can.APPROVE)
@require_POST
def replace(request: HttpRequest, token: str) -> HttpResponse:
    """A corrected file for the same import (the mapping stays), previewed at once."""
    staged = _load(request, token)
    try:
        staged = staging.replace_file(staged, *_upload(request)[0])
        if staged.ready:
            staging.start(staged, dry_run=True, user_id=request.user.pk)
    except staging.Refused as refused:
        context = _job_context(request, staging.status(staged), file_problems=refused.problems)
        return render(request, "console/imports/job.html", context, status=400)
    return redirect(reverse("console:import", args=[token]) + "#import-status")


def _start(request: HttpRequest, token: str, *, dry_run: bool) -> HttpResponse:
    staged = _load(request, token)
    try:
        staging.start(staged, dry_run=dry_run, user_id=request.user.pk)
    except staging.Refused as refused:
        for problem in refused.problems:
            messages.error(request, problem.message)
    return redirect(reverse("console:import", args=[token]) + "#import-status")


@console_view(Can.APPROVE)
@require_POST
def preview(request: HttpRequest, token: str) -> HttpResponse:
    return _start(request, token, dry_run=True)


@console_view(Can.APPROVE)
@require_POST
def confirm(request: HttpRequest, token: str) -> HttpResponse:
    """The real import, of what the clean preview showed."""
    return _start(request, token, dry_run=False)


@console_view(Can.APPROVE)
@require_POST
def discard(request: HttpRequest, token: str) -> HttpResponse:
    staged = _load(request, token)
    try:
        staging.discard(staged)
    except staging.Refused as refused:
        for problem in refused.problems:
            messages.error(request, problem.message)
        return redirect("console:import", token=token)
    messages.success(request, _("The uploaded file was deleted."))
    return redirect("console:imports")


# -- the import log ------------------------------------------------------------------------

# A line of the import log (records.Problem.__str__), written in English or in French (its
# space before the colon plain in the logs written before 2026-12, no-break since).
_PROBLEM = re.compile(
    r"^(?P<file>.*?)(?:, (?:row|ligne) (?P<row>\d+))?"
    r"(?:, (?:field|champ) (?P<field>'.*?'|\".*?\"))?[ \u00a0]?: (?P<message>.*)$"
)


@console_view()
def run(request: HttpRequest, pk: int) -> HttpResponse:
    console = request.console  # type: ignore[attr-defined]
    found = console.get(ImportRun, pk, console.objects(ImportRun).select_related("user"))
    problems = []
    for line in found.error.splitlines():
        if match := _PROBLEM.match(line.strip()):
            problems.append({"row": match["row"], "field": (match["field"] or "")[1:-1],
                             "message": match["message"]})  # fmt: skip
        elif line.strip():
            problems.append({"row": None, "field": "", "message": line.strip()})
    return render(
        request,
        "console/imports/run.html",
        {
            "run": found,
            "counts": _counts(found.counts),
            "problems": problems,
            "bank": found.format in BANK_FORMATS,
        },
    )


urlpatterns = [
    path("imports/", imports, name="imports"),
    path("imports/upload/", upload, name="import_upload"),
    path("imports/runs/<int:pk>/", run, name="import_run"),
    path("imports/<str:token>/", job, name="import"),
    path("imports/<str:token>/progress/", progress, name="import_progress"),
    path("imports/<str:token>/mapping/", mapping, name="import_mapping"),
    path("imports/<str:token>/bank-columns/", bank_columns, name="import_bank_columns"),
    path("imports/<str:token>/file/", replace, name="import_file"),
    path("imports/<str:token>/preview/", preview, name="import_preview"),
    path("imports/<str:token>/confirm/", confirm, name="import_confirm"),
    path("imports/<str:token>/discard/", discard, name="import_discard"),
]
