"""What holds an organisation across processes: its unfinished run on the queue
(relance.dunning.run_tasks), between the run's parts. The locks' check (``holder``) imports
only the models: an import taking its organisation's lock does not load the run's modules
(the engine, the holiday calendars)."""

from __future__ import annotations

from relance.dunning.models import QueuedRun

ACTIVE = (QueuedRun.Status.QUEUED, QueuedRun.Status.RUNNING)


def progress(run: QueuedRun) -> str:
    if not run.parts_total:
        return "not begun"
    return f"{run.parts_done}/{run.parts_total} parts done"


def holder(slug: str) -> str | None:
    """What holds organisation ``slug`` across processes: its unfinished run on the queue."""
    run = QueuedRun.objects.filter(organisation__slug=slug, status__in=ACTIVE).first()
    if run is None:
        return None
    return f"the run of {run.run_date} on the queue ({progress(run)}; run `relance worker`)"
