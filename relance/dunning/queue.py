"""The outbox as tasks of Django's tasks API, for sending from many workers and machines.

``enqueue_due`` cuts what is due into batches of primary keys (JSON) and enqueues one
``send_batch`` task per batch; any ``db_worker`` takes them. Correctness does not rest on
the queue: a batch delivered twice, or overlapping with ``relance worker``, sends each
message once, because each is claimed by compare-and-swap just before it leaves.
"""

from __future__ import annotations

from datetime import date

from django.utils import timezone
from django_tasks import task

from relance.dunning import outbox
from relance.dunning.models import CommStatus, Communication


# The default queue: a named one must be listed in the backend's QUEUES setting first.
@task()
def send_batch(communication_ids: list[int]) -> dict[str, int]:
    return outbox.send_batch(communication_ids).as_dict()


def enqueue_due(
    today: date | None = None,
    *,
    organisation_id: int | None = None,
    batch_size: int = outbox.BATCH_SIZE,
    limit: int = 100_000,
) -> int:
    """Enqueue the due communications in batches; returns the number of batches.

    Each enqueued communication gets a lease (``claimed_at`` while still ``queued``) so
    that the next call does not hand it out again while its task waits in the queue.
    """
    today = today or timezone.localdate()
    ids = outbox.due_ids(today, organisation_id=organisation_id, limit=limit)
    batches = [ids[start : start + batch_size] for start in range(0, len(ids), batch_size)]
    now = timezone.now()
    for batch in batches:
        # The lease first (autocommit): an immediate backend runs the task right here.
        Communication.objects.filter(pk__in=batch, status=CommStatus.QUEUED).update(claimed_at=now)
        send_batch.enqueue(batch)
    return len(batches)
