"""The one writer of tasks for people: calls, letters to post, sends to check, addresses to
correct, claims to declare.

A task is keyed (``Task.key``, unique per organisation): opening it again is a no-op, so
a run, a worker or a webhook that repeats itself never doubles a person's work. Its title
is written in the organisation's language (a ``timeline.Text``, rendered like a timeline
summary), whoever opens it; its data keeps the text (``timeline.kept``), which a page says
in its reader's language (``task_titles``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from relance.dunning.models import Task
from relance.ledger.timeline import KEPT, Text, summaries, with_kept

if TYPE_CHECKING:
    from relance.accounts.models import Organisation

TITLE_LENGTH = 300
KEY_LENGTH = 128


class NewTask(NamedTuple):
    key: str
    customer_id: int
    kind: str
    title: Text | str
    due_on: dt.date
    data: Mapping[str, Any] | None = None
    communication_id: int | None = None


def open_task(
    organisation: Organisation,
    *,
    key: str,
    customer_id: int,
    kind: str,
    title: Text | str,
    due_on: dt.date,
    data: Mapping[str, Any] | None = None,
    communication_id: int | None = None,
) -> bool:
    """Open the task keyed ``key`` unless the organisation has it already (open or not);
    returns whether it was opened now."""
    new = NewTask(key, customer_id, kind, title, due_on, data, communication_id)
    _, created, _ = _get_or_create(organisation, new)
    return created


def _columns(task: NewTask, title: str) -> dict[str, Any]:
    """A new task's columns but its organisation and key, ``title`` the rendered one."""
    return {
        "customer_id": task.customer_id,
        "kind": task.kind,
        "title": title[:TITLE_LENGTH],
        "due_on": task.due_on,
        "communication_id": task.communication_id,
        "data": with_kept(task.data, task.title),
    }


def _get_or_create(organisation: Organisation, task: NewTask) -> tuple[Task, bool, str]:
    """The task keyed ``task.key``, created from ``task`` if there is none; with whether it
    was created and the title rendered in the organisation's language."""
    [text] = summaries(organisation, [task.title])
    found, created = Task.objects.get_or_create(
        organisation_id=organisation.pk, key=task.key[:KEY_LENGTH], defaults=_columns(task, text)
    )
    return found, created, text


def open_many(organisation: Organisation, tasks: Sequence[NewTask]) -> None:
    """Open several tasks in one statement; those whose key exists are left as they are."""
    if not tasks:
        return
    titles = summaries(organisation, [task.title for task in tasks])
    Task.objects.bulk_create(
        [
            Task(
                organisation_id=organisation.pk, key=task.key[:KEY_LENGTH], **_columns(task, title)
            )
            for task, title in zip(tasks, titles, strict=True)
        ],
        ignore_conflicts=True,
    )


def cancel(organisation_id: int, key: str) -> int:
    """Cancel the open task keyed ``key`` (its reason went away); returns 0 or 1."""
    return Task.objects.filter(
        organisation_id=organisation_id, key=key[:KEY_LENGTH], status=Task.Status.OPEN
    ).update(status=Task.Status.CANCELLED)


def open_or_extend(
    organisation: Organisation,
    *,
    key: str,
    customer_id: int,
    kind: str,
    title: Text | str,
    due_on: dt.date,
    data: Mapping[str, Any],
    extend: Callable[[Mapping[str, Any]], dict[str, Any]],
    communication_id: int | None = None,
) -> Task:
    """One task per key that gathers work as it comes (e.g. every message to a customer
    without an address): opened with ``data`` the first time; afterwards given
    ``extend(its data)``, this title and communication, and opened again (due ``due_on``)
    if it had been closed."""
    new = NewTask(key, customer_id, kind, title, due_on, data, communication_id)
    task, created, text = _get_or_create(organisation, new)
    if not created:
        task.data = {key: value for key, value in extend(task.data).items() if key != KEPT}
        task.data = with_kept(task.data, title)
        if task.status != Task.Status.OPEN:
            task.status, task.due_on = Task.Status.OPEN, due_on
        task.communication_id, task.title = communication_id, text[:TITLE_LENGTH]
        task.save(update_fields=["data", "status", "communication", "title", "due_on"])
    return task
