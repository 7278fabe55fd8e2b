"""The tasks runs and sends leave for people (calls, letters to post, formal notices to
sign, sends to check, customers without an address): listed, and closed once done."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext_noop

from relance.accounts.models import Organisation
from relance.audit import trail
from relance.dunning.models import Task
from relance.ledger import timeline
from relance.ledger.timeline import Event, Text


class NotOpen(Exception):
    pass


def tasks_of(organisation: Organisation, status: str | None = Task.Status.OPEN) -> QuerySet[Task]:
    """The organisation's tasks, oldest due first; every status with ``status`` None."""
    tasks = Task.objects.filter(organisation=organisation)
    if status:
        tasks = tasks.filter(status=status)
    return tasks.select_related("customer").order_by("due_on", "pk")


def close(
    organisation: Organisation,
    ids: Iterable[int],
    *,
    note: str = "",
    user_id: int | None = None,
    today: date | None = None,
) -> list[Task]:
    """Mark open tasks done with one note, all or none (see ``close_each``)."""
    return close_each(organisation, dict.fromkeys(ids, note), user_id=user_id, today=today)


@transaction.atomic
def close_each(
    organisation: Organisation,
    notes: Mapping[int, str],
    *,
    user_id: int | None = None,
    today: date | None = None,
) -> list[Task]:
    """Mark open tasks done, each with its note (what happened: a call's outcome), all or
    none: every id must be an open task of the organisation. Conditional on the status, so
    two people closing at once close once."""
    today = today or timezone.localdate()
    wanted = sorted(notes)
    tasks = list(
        Task.objects.select_for_update()
        .select_related("customer")
        .filter(organisation=organisation, pk__in=wanted, status=Task.Status.OPEN)
        .order_by("pk")
    )
    if len(tasks) != len(wanted):
        found = {t.pk for t in tasks}
        raise NotOpen(
            f"not open tasks of {organisation.slug}: {[pk for pk in wanted if pk not in found]}"
        )
    now = timezone.now()
    for task in tasks:
        task.data = {**task.data, "done_on": today.isoformat(), "note": notes[task.pk]}
        task.status = Task.Status.DONE
        changed = Task.objects.filter(pk=task.pk, status=Task.Status.OPEN).update(
            status=Task.Status.DONE, data=task.data, closed_at=now, closed_by_id=user_id
        )
        if not changed:  # someone else closed it meanwhile
            raise NotOpen(f"task {task.pk} was closed by someone else; nothing was changed")
    # The title is in the organisation's language already; the note is the person's words.
    timeline.record_many(
        organisation,
        [Event(t.customer_id, "task_done",
               t.title + (f": {notes[t.pk]}" if notes[t.pk] else ""),
               {"task": t.pk, "kind": t.kind})
         for t in tasks],
        actor_id=user_id, at=now,
    )  # fmt: skip
    if tasks:  # one event for the tasks closed together
        trail.record(organisation, "task.done", user_id=user_id,
                     target=tasks[0] if len(tasks) == 1 else ("task", ""),
                     summary=Text(gettext_noop("done: %(tasks)s"),
                                  {"tasks": "; ".join(t.title for t in tasks)}),
                     data={"tasks": {str(t.pk): notes[t.pk] for t in tasks},
                           "done_on": today})  # fmt: skip
    return tasks


@transaction.atomic
def assign(
    organisation: Organisation,
    ids: Iterable[int],
    assignee_id: int | None,
    *,
    user_id: int | None = None,
) -> list[Task]:
    """Give open tasks to a member of the organisation (None: to nobody), all or none."""
    from relance.accounts.models import Membership

    wanted = sorted(set(ids))
    if (
        assignee_id is not None
        and not Membership.objects.filter(organisation=organisation, user_id=assignee_id).exists()
    ):
        raise NotOpen(f"user {assignee_id} is not a member of {organisation.slug}")
    found = list(
        Task.objects.select_for_update()
        .filter(organisation=organisation, pk__in=wanted, status=Task.Status.OPEN)
        .order_by("pk")
    )
    if len(found) != len(wanted):
        known = {t.pk for t in found}
        raise NotOpen(
            f"not open tasks of {organisation.slug}: {[pk for pk in wanted if pk not in known]}"
        )
    Task.objects.filter(pk__in=wanted).update(assignee_id=assignee_id)
    if found:
        trail.record(organisation, "task.assigned", user_id=user_id,
                     target=found[0] if len(found) == 1 else ("task", ""),
                     summary=Text(gettext_noop("assigned to %(assignee)s: %(tasks)s")
                                  if assignee_id else gettext_noop("assigned to nobody: %(tasks)s"),
                                  {"assignee": assignee_id,
                                   "tasks": "; ".join(t.title for t in found)}),
                     data={"tasks": wanted, "assignee": assignee_id})  # fmt: skip
    for task in found:
        task.assignee_id = assignee_id
    return found


def describe(task: Task) -> dict[str, Any]:
    return {
        "id": task.pk, "kind": task.kind, "status": task.status, "due_on": task.due_on,
        "customer": task.customer.reference, "name": task.customer.legal_name,
        "title": task.title, "communication": task.communication_id,
        "note": task.data.get("note", ""), "done_on": task.data.get("done_on"),
        "outcome": task.outcome,
    }  # fmt: skip
