"""The runs on the queue as a person sees them (``relance runs``, the console's Runs page):
recent runs with their parts, state, progress and failures, and a run queued now. The
command and the page both call these functions; the queue itself is
relance.dunning.run_tasks."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext_noop

from relance.accounts.models import Organisation
from relance.audit import trail
from relance.channels.formatting import lazy_short_date
from relance.dunning import labels, run_errors, run_tasks
from relance.dunning.models import QueuedRun, RunPart
from relance.ledger.timeline import Text

RECENT = 20


class RunNotFound(LookupError):
    pass


@dataclass(frozen=True)
class Part:
    number: int  # 1-based: "part 2 of 3", as the run's error names it
    status: str
    attempts: int
    worker: str
    error: str
    customers: int | None  # None until the part is done
    items_considered: int | None
    updated_at: dt.datetime

    @property
    def status_label(self) -> str:
        return str(RunPart.Status(self.status).label)

    @property
    def error_shown(self) -> str:
        """The error in the reader's language (``error`` is as stored, in English)."""
        return run_errors.shown(self.error)

    def as_dict(self) -> dict[str, Any]:
        return {"number": self.number, "status": self.status, "attempts": self.attempts,
                "worker": self.worker, "error": self.error, "customers": self.customers,
                "items_considered": self.items_considered,
                "updated_at": self.updated_at.isoformat()}  # fmt: skip


@dataclass(frozen=True)
class Run:
    id: int
    organisation: str  # slug
    run_date: dt.date
    status: str
    parts_total: int
    parts_done: int
    created_at: dt.datetime
    finished_at: dt.datetime | None
    error: str
    # The run's figures once done (None and empty before).
    customers: int | None
    items_considered: int | None
    counts: dict[str, int]
    parts: list[Part] = field(default_factory=list)

    @property
    def active(self) -> bool:
        return self.status in run_tasks.ACTIVE

    @property
    def status_label(self) -> str:
        return str(QueuedRun.Status(self.status).label)

    @property
    def error_shown(self) -> str:
        """The error in the reader's language (``error`` is as stored, in English)."""
        return run_errors.shown(self.error)

    @property
    def percent(self) -> int:
        if self.status == QueuedRun.Status.DONE:
            return 100
        return self.parts_done * 100 // self.parts_total if self.parts_total else 0

    @property
    def planned(self) -> list[tuple[str, int]]:
        """The counts above zero, each by its name in the active language."""
        return [(labels.run_count_label(what), n) for what, n in self.counts.items() if n]

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "organisation": self.organisation, "run_date": self.run_date,
                "status": self.status, "parts_total": self.parts_total,
                "parts_done": self.parts_done, "created_at": self.created_at.isoformat(),
                "finished_at": self.finished_at.isoformat() if self.finished_at else None,
                "error": self.error, "customers": self.customers,
                "items_considered": self.items_considered, "counts": self.counts,
                "parts": [p.as_dict() for p in self.parts]}  # fmt: skip


def recent(organisation: Organisation | None = None, limit: int = RECENT) -> list[Run]:
    """The latest runs on the queue, newest first, of one organisation or of all; two
    queries whatever the number of runs and parts."""
    rows = QueuedRun.objects.select_related("organisation").order_by("-created_at", "-pk")
    if organisation is not None:
        rows = rows.filter(organisation=organisation)
    return _views(list(rows[:limit]))


def one(run_id: int, organisation: Organisation | None = None) -> Run:
    """One run with its parts; ``RunNotFound`` for an id of no run, or of a run of another
    organisation than ``organisation`` (they answer the same)."""
    rows = QueuedRun.objects.select_related("organisation").filter(pk=run_id)
    if organisation is not None:
        rows = rows.filter(organisation=organisation)
    found = list(rows)
    if not found:
        where = f" in {organisation.slug}" if organisation is not None else ""
        raise RunNotFound(f"no run on the queue with id {run_id}{where}")
    return _views(found)[0]


def queue_now(
    organisation: Organisation,
    run_date: dt.date,
    *,
    parts: int | None = None,
    user: Any = None,
    request: Any = None,
) -> QueuedRun:
    """The run of ``run_date`` on the queue (``run_tasks.enqueue``: the organisation's
    unfinished run of that date if there is one), in the audit trail when it is new.
    Refused with ``engine.RunError`` as ``enqueue`` refuses."""
    before = set(
        QueuedRun.objects.filter(organisation=organisation, status__in=run_tasks.ACTIVE)
        .values_list("pk", flat=True)
    )  # fmt: skip
    run = run_tasks.enqueue(organisation, run_date, parts)
    if run.pk not in before:
        trail.record(organisation, "run.enqueued", user=user, target=("run", run_date),
                     summary=Text(gettext_noop("run of %(date)s put on the queue (run %(run)s)"),
                                  {"date": lazy_short_date(run_date), "run": run.pk}),
                     data={"run_date": run_date, "queued_run": run.pk,
                           "parts_wanted": parts or 0}, request=request)  # fmt: skip
    return run


def _views(runs: list[QueuedRun]) -> list[Run]:
    parts: dict[int, list[Part]] = {r.pk: [] for r in runs}
    for p in RunPart.objects.filter(run_id__in=parts).order_by("run_id", "share"):
        result = p.result or {}
        parts[p.run_id].append(Part(
            p.share + 1, p.status, p.attempts, p.worker, p.error,
            result.get("customers"), result.get("items_considered"), p.updated_at,
        ))  # fmt: skip
    views = []
    for r in runs:
        figures = r.data.get("result") or {}
        views.append(Run(
            r.pk, r.organisation.slug, r.run_date, r.status, r.parts_total, r.parts_done,
            r.created_at, r.finished_at, r.error,
            figures.get("customers"), figures.get("items_considered"),
            dict(figures.get("counts", {})), parts[r.pk],
        ))  # fmt: skip
    return views
