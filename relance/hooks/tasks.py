"""Webhooks as tasks of Django's tasks API: after a run or a batch of sends, and from the
worker's loop. Task arguments are primary keys; correctness rests on the database (the
dispatcher's unique constraint, the deliveries' claims), not on the queue."""

from __future__ import annotations

from django_tasks import task

from relance.hooks import delivery, dispatch


@task()
def dispatch_and_deliver(organisation_id: int | None = None) -> dict[str, int]:
    """Deliveries for the new events of one organisation (or all), then what is due
    sent in batches over one connection."""
    ids = [organisation_id] if organisation_id else dispatch.organisations_with_endpoints()
    created = sum(dispatch.dispatch(pk) for pk in ids)
    counts = delivery.deliver_due(organisation_id=organisation_id)
    return {"created": created, **counts}


@task()
def deliver_batch(delivery_ids: list[int]) -> dict[str, int]:
    return dict(delivery.deliver(delivery_ids))


def enqueue_due(*, organisation_id: int | None = None, batch_size: int = delivery.BATCH) -> int:
    """Dispatch, then hand what is due to the queue in batches; returns the number of
    batches. A batch enqueued twice sends each delivery once (each is claimed)."""
    ids = [organisation_id] if organisation_id else dispatch.organisations_with_endpoints()
    for pk in ids:
        dispatch.dispatch(pk)
    due = delivery.due_ids(organisation_id=organisation_id)
    batches = [due[start : start + batch_size] for start in range(0, len(due), batch_size)]
    for batch in batches:
        deliver_batch.enqueue(batch)
    return len(batches)
