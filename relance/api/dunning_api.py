"""Disputes, promises, payment plans, communications, tasks, runs and the customers'
timelines. Writes call the services the console and the command line call
(``relance.dunning.actions``, ``pauses``, ``tasks``, ``tasklist``)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db.models import Prefetch, Q
from django.http import HttpRequest
from ninja import Query, Router, Status

from relance.api.auth import READ, WRITE
from relance.api.common import money, one, org_of, responses, today, user_id_of
from relance.api.ledger_api import Cursor, DueBefore, IdFilter, IdPath, Limit
from relance.api.pagination import page
from relance.api.problems import ApiProblem
from relance.api.schemas import (
    CancelIn,
    CommunicationOut,
    DisputeIn,
    DisputeOut,
    DisputeResolveIn,
    EventOut,
    PlanIn,
    PlanOut,
    PromiseIn,
    PromiseOut,
    RunOut,
    TaskCloseIn,
    TaskIn,
    TaskOut,
    page_of,
)
from relance.audit.models import AuditEvent
from relance.dunning import actions, pauses, tasklist, tasks
from relance.dunning.models import (
    Communication,
    CommunicationItem,
    Instalment,
    PaymentPlan,
    Promise,
    Task,
)
from relance.ledger import timeline
from relance.ledger.models import Customer, Dispute, Invoice, TimelineEvent

router = Router()

DisputePage = page_of("DisputePage", DisputeOut)
PromisePage = page_of("PromisePage", PromiseOut)
PlanPage = page_of("PlanPage", PlanOut)
CommunicationPage = page_of("CommunicationPage", CommunicationOut)
TaskPage = page_of("TaskPage", TaskOut)
RunPage = page_of("RunPage", RunOut)
EventPage = page_of("EventPage", EventOut)


@contextmanager
def refusals() -> Iterator[None]:
    """A service's refusal (nothing written) as a problem: 404 for what is not the
    organisation's, 422 for the rest."""
    try:
        yield
    except actions.NotFound as exc:
        raise ApiProblem(404, str(exc)) from None
    except (actions.Refused, pauses.PauseError, tasklist.NotOpen) as exc:
        raise ApiProblem(422, str(exc)) from None


# -- disputes -------------------------------------------------------------------------------


def describe_dispute(d: Dispute) -> dict[str, Any]:
    return {
        "id": d.pk, "invoice_id": d.invoice_id, "invoice_number": d.invoice.number,
        "customer_id": d.invoice.customer_id, "reason": d.reason, "amount": money(d.amount),
        "currency": d.invoice.currency, "note": d.note, "opened_on": d.opened_on,
        "resolved_on": d.resolved_on, "resolution": d.resolution, "outcome": d.outcome,
        "status": "open" if d.resolved_on is None else "resolved", "group": d.group,
    }  # fmt: skip


def _disputes(org: Any) -> Any:
    return Dispute.objects.filter(organisation=org).select_related("invoice")


@router.get("/disputes", response=responses(DisputePage), auth=READ, tags=["disputes"])
def list_disputes(
    request: HttpRequest,
    customer_id: int | None = IdFilter,
    invoice_id: int | None = IdFilter,
    status: str | None = Query(None, pattern=r"^(open|resolved)$"),
    cursor: str | None = Cursor,
    limit: int = Limit,
) -> dict[str, Any]:
    rows = _disputes(org_of(request))
    if customer_id:
        rows = rows.filter(invoice__customer_id=customer_id)
    if invoice_id:
        rows = rows.filter(invoice_id=invoice_id)
    if status:
        rows = rows.filter(resolved_on__isnull=status == "open")
    return page(rows, cursor, limit, describe_dispute)


@router.get("/disputes/{int:id}", response=responses(DisputeOut), auth=READ, tags=["disputes"])
def get_dispute(request: HttpRequest, id: int = IdPath) -> dict[str, Any]:
    org = org_of(request)
    return describe_dispute(one(_disputes(org), org, id, "dispute"))


@router.post("/disputes", response=responses(DisputeOut, 201), auth=WRITE, tags=["disputes"])
def open_dispute(request: HttpRequest, payload: DisputeIn) -> Status[dict[str, Any]]:
    """Open a dispute on an invoice: its dunning pauses while the dispute is open."""
    org = org_of(request)
    invoice = one(Invoice.objects, org, payload.invoice_id, "invoice")
    with refusals():
        dispute = actions.open_dispute(
            org, invoice.number, reason=payload.reason, on=payload.opened_on or today(request),
            amount=payload.amount, note=payload.note, user_id=user_id_of(request),
        )  # fmt: skip
    return Status(201, describe_dispute(_disputes(org).get(pk=dispute.pk)))


@router.post(
    "/disputes/{int:id}/resolve", response=responses(DisputeOut), auth=WRITE, tags=["disputes"]
)
def resolve_dispute(
    request: HttpRequest, payload: DisputeResolveIn, id: int = IdPath
) -> dict[str, Any]:
    """Resolve an open dispute; with the outcome ``credit_note``, the credit note (its
    reference and amount) is recorded against the invoice at once."""
    org = org_of(request)
    dispute = one(_disputes(org), org, id, "dispute")
    credit = (
        pauses.CreditNote(payload.credit_note.reference, payload.credit_note.amount)
        if payload.credit_note
        else None
    )
    with refusals():
        pauses.resolve_dispute(
            dispute, on=payload.resolved_on or today(request), resolution=payload.resolution,
            outcome=payload.outcome, credit_note=credit, user_id=user_id_of(request),
        )  # fmt: skip
    return describe_dispute(_disputes(org).get(pk=dispute.pk))


# -- promises -------------------------------------------------------------------------------


def describe_promise(p: Promise) -> dict[str, Any]:
    return {
        "id": p.pk, "customer_id": p.customer_id, "invoice_id": p.invoice_id,
        "promised_on": p.promised_on, "amount": money(p.amount), "grace_days": p.grace_days,
        "status": p.status, "broken_on": p.broken_on, "note": p.note,
        "created_at": p.created_at,
    }  # fmt: skip


@router.get("/promises", response=responses(PromisePage), auth=READ, tags=["promises"])
def list_promises(
    request: HttpRequest,
    customer_id: int | None = IdFilter,
    status: str | None = Query(None, pattern=r"^(open|kept|broken|cancelled)$"),
    cursor: str | None = Cursor,
    limit: int = Limit,
) -> dict[str, Any]:
    rows = Promise.objects.filter(organisation=org_of(request))
    if customer_id:
        rows = rows.filter(customer_id=customer_id)
    if status:
        rows = rows.filter(status=status)
    return page(rows, cursor, limit, describe_promise)


@router.get("/promises/{int:id}", response=responses(PromiseOut), auth=READ, tags=["promises"])
def get_promise(request: HttpRequest, id: int = IdPath) -> dict[str, Any]:
    return describe_promise(one(Promise.objects, org_of(request), id, "promise"))


@router.post("/promises", response=responses(PromiseOut, 201), auth=WRITE, tags=["promises"])
def add_promise(request: HttpRequest, payload: PromiseIn) -> Status[dict[str, Any]]:
    """A promise to pay one invoice, or all the customer's open invoices, by a date."""
    org = org_of(request)
    customer = one(Customer.objects, org, payload.customer_id, "customer")
    number = None
    if payload.invoice_id is not None:
        number = one(Invoice.objects, org, payload.invoice_id, "invoice").number
    with refusals():
        promise = actions.add_promise(
            org, customer.reference, promised_on=payload.promised_on, invoice=number,
            amount=payload.amount, grace_days=payload.grace_days, note=payload.note,
            user_id=user_id_of(request),
        )  # fmt: skip
    return Status(201, describe_promise(promise))


@router.post(
    "/promises/{int:id}/cancel", response=responses(PromiseOut), auth=WRITE, tags=["promises"]
)
def cancel_promise(request: HttpRequest, payload: CancelIn, id: int = IdPath) -> dict[str, Any]:
    org = org_of(request)
    promise = one(Promise.objects, org, id, "promise")
    with refusals():
        actions.cancel_promise(org, str(promise.pk), on=today(request), note=payload.note,
                               user_id=user_id_of(request))  # fmt: skip
    return describe_promise(Promise.objects.get(pk=promise.pk))


# -- payment plans --------------------------------------------------------------------------


def _plans(org: Any) -> Any:
    return PaymentPlan.objects.filter(organisation=org).prefetch_related(
        Prefetch("invoices", queryset=Invoice.objects.only("id")),
        Prefetch("instalments", queryset=Instalment.objects.order_by("due_date")),
    )


def describe_plan(p: PaymentPlan) -> dict[str, Any]:
    return {
        "id": p.pk, "customer_id": p.customer_id, "status": p.status, "agreed_on": p.agreed_on,
        "note": p.note, "invoice_ids": sorted(i.pk for i in p.invoices.all()),
        "instalments": [{"due_date": i.due_date, "amount": money(i.amount), "paid_on": i.paid_on}
                        for i in p.instalments.all()],
    }  # fmt: skip


@router.get("/plans", response=responses(PlanPage), auth=READ, tags=["plans"])
def list_plans(
    request: HttpRequest,
    customer_id: int | None = IdFilter,
    status: str | None = Query(None, pattern=r"^(active|completed|defaulted|cancelled)$"),
    cursor: str | None = Cursor,
    limit: int = Limit,
) -> dict[str, Any]:
    rows = _plans(org_of(request))
    if customer_id:
        rows = rows.filter(customer_id=customer_id)
    if status:
        rows = rows.filter(status=status)
    return page(rows, cursor, limit, describe_plan)


@router.get("/plans/{int:id}", response=responses(PlanOut), auth=READ, tags=["plans"])
def get_plan(request: HttpRequest, id: int = IdPath) -> dict[str, Any]:
    org = org_of(request)
    return describe_plan(one(_plans(org), org, id, "payment plan"))


@router.post("/plans", response=responses(PlanOut, 201), auth=WRITE, tags=["plans"])
def create_plan(request: HttpRequest, payload: PlanIn) -> Status[dict[str, Any]]:
    """A payment plan over open invoices of one customer: the instalments must add up to
    what they owe."""
    org = org_of(request)
    customer = one(Customer.objects, org, payload.customer_id, "customer")
    wanted = list(dict.fromkeys(payload.invoice_ids))
    numbers = dict(
        Invoice.objects.filter(organisation=org, pk__in=wanted).values_list("pk", "number")
    )
    if missing := [pk for pk in wanted if pk not in numbers]:
        raise ApiProblem(404, f"no invoice {missing[0]}")
    with refusals():
        plan = actions.create_plan(
            org, customer.reference, [numbers[pk] for pk in payload.invoice_ids],
            [(i.due_date, i.amount) for i in payload.instalments],
            on=payload.agreed_on or today(request), note=payload.note,
            user_id=user_id_of(request),
        )  # fmt: skip
    return Status(201, describe_plan(_plans(org).get(pk=plan.pk)))


@router.post("/plans/{int:id}/cancel", response=responses(PlanOut), auth=WRITE, tags=["plans"])
def cancel_plan(request: HttpRequest, payload: CancelIn, id: int = IdPath) -> dict[str, Any]:
    org = org_of(request)
    plan = one(PaymentPlan.objects, org, id, "payment plan")
    with refusals():
        actions.cancel_plan(org, str(plan.pk), on=today(request), note=payload.note,
                            user_id=user_id_of(request))  # fmt: skip
    return describe_plan(_plans(org).get(pk=plan.pk))


# -- communications -------------------------------------------------------------------------


def _communications(org: Any) -> Any:
    return Communication.objects.filter(organisation=org).prefetch_related(
        Prefetch("items", queryset=CommunicationItem.objects.only("communication_id", "invoice_id"))
    )


def describe_communication(c: Communication) -> dict[str, Any]:
    return {
        "id": c.pk, "customer_id": c.customer_id, "channel": c.channel, "purpose": c.purpose,
        "status": c.status, "run_date": c.run_date, "send_on": c.send_on,
        "template": c.template, "language": c.language, "recipient": c.recipient,
        "subject": c.edited_subject or c.subject, "sent_at": c.sent_at,
        "invoice_ids": sorted({i.invoice_id for i in c.items.all()}),
        "created_at": c.created_at, "updated_at": c.updated_at,
    }  # fmt: skip


@router.get(
    "/communications", response=responses(CommunicationPage), auth=READ, tags=["communications"]
)
def list_communications(
    request: HttpRequest,
    customer_id: int | None = IdFilter,
    status: str | None = Query(None, max_length=24, pattern=r"^[a-z_]*$"),
    channel: str | None = Query(None, max_length=24, pattern=r"^[a-z_]*$"),
    updated_since: dt.datetime | None = None,
    cursor: str | None = Cursor,
    limit: int = Limit,
) -> dict[str, Any]:
    """Reminders, letters, texts and calls the runs planned, and what became of them."""
    rows = _communications(org_of(request))
    if customer_id:
        rows = rows.filter(customer_id=customer_id)
    if status:
        rows = rows.filter(status=status)
    if channel:
        rows = rows.filter(channel=channel)
    if updated_since:
        rows = rows.filter(updated_at__gte=updated_since)
    return page(rows, cursor, limit, describe_communication)


@router.get(
    "/communications/{int:id}", response=responses(CommunicationOut), auth=READ,
    tags=["communications"],
)  # fmt: skip
def get_communication(request: HttpRequest, id: int = IdPath) -> dict[str, Any]:
    org = org_of(request)
    return describe_communication(one(_communications(org), org, id, "communication"))


# -- tasks ----------------------------------------------------------------------------------


def describe_task(t: Task) -> dict[str, Any]:
    return {
        "id": t.pk, "customer_id": t.customer_id, "kind": t.kind, "title": t.title,
        "due_on": t.due_on, "status": t.status, "outcome": t.outcome,
        "communication_id": t.communication_id, "created_at": t.created_at,
        "closed_at": t.closed_at,
    }  # fmt: skip


@router.get("/tasks", response=responses(TaskPage), auth=READ, tags=["tasks"])
def list_tasks(
    request: HttpRequest,
    customer_id: int | None = IdFilter,
    status: str | None = Query(None, pattern=r"^(open|done|cancelled)$"),
    due_before: dt.date | None = DueBefore,
    cursor: str | None = Cursor,
    limit: int = Limit,
) -> dict[str, Any]:
    rows = Task.objects.filter(organisation=org_of(request))
    if customer_id:
        rows = rows.filter(customer_id=customer_id)
    if status:
        rows = rows.filter(status=status)
    if due_before:
        rows = rows.filter(due_on__lte=due_before)
    return page(rows, cursor, limit, describe_task)


@router.get("/tasks/{int:id}", response=responses(TaskOut), auth=READ, tags=["tasks"])
def get_task(request: HttpRequest, id: int = IdPath) -> dict[str, Any]:
    return describe_task(one(Task.objects, org_of(request), id, "task"))


@router.post("/tasks", response=responses(TaskOut, 201), auth=WRITE, tags=["tasks"])
def open_task(request: HttpRequest, payload: TaskIn) -> Status[dict[str, Any]]:
    """Work for a person on a customer (a call to make, a document to send)."""
    org = org_of(request)
    customer = one(Customer.objects, org, payload.customer_id, "customer")
    key = f"api:{uuid.uuid4().hex}"
    tasks.open_task(org, key=key, customer_id=customer.pk, kind=payload.kind,
                    title=payload.title, due_on=payload.due_on)  # fmt: skip
    return Status(201, describe_task(Task.objects.get(organisation=org, key=key)))


@router.post("/tasks/{int:id}/close", response=responses(TaskOut), auth=WRITE, tags=["tasks"])
def close_task(request: HttpRequest, payload: TaskCloseIn, id: int = IdPath) -> dict[str, Any]:
    """Mark an open task done, with a note of what happened."""
    org = org_of(request)
    task = one(Task.objects, org, id, "task")
    with refusals():
        tasklist.close(org, [task.pk], note=payload.note, user_id=user_id_of(request))
    return describe_task(Task.objects.get(pk=task.pk))


# -- runs and timelines ---------------------------------------------------------------------


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def describe_run(e: AuditEvent) -> dict[str, Any]:
    data = e.data if isinstance(e.data, dict) else {}
    try:
        day: dt.date | None = dt.date.fromisoformat(str(data.get("run_date")))
    except ValueError:
        day = None
    counts = data.get("counts") if isinstance(data.get("counts"), dict) else {}
    return {
        "id": e.pk, "run_date": day, "at": e.at, "customers": _int(data.get("customers")),
        "items_considered": _int(data.get("items_considered")),
        "counts": {str(k): _int(v) for k, v in (counts or {}).items()},
    }  # fmt: skip


def _runs(org: Any) -> Any:
    return AuditEvent.objects.filter(organisation=org, action="run.completed")


@router.get("/runs", response=responses(RunPage), auth=READ, tags=["runs"])
def list_runs(
    request: HttpRequest, cursor: str | None = Cursor, limit: int = Limit
) -> dict[str, Any]:
    """The dunning runs, as the audit trail records them (one per run, with its counts)."""
    return page(_runs(org_of(request)), cursor, limit, describe_run)


@router.get("/runs/{int:id}", response=responses(RunOut), auth=READ, tags=["runs"])
def get_run(request: HttpRequest, id: int = IdPath) -> dict[str, Any]:
    org = org_of(request)
    return describe_run(one(_runs(org), org, id, "run"))


def describe_event(e: TimelineEvent) -> dict[str, Any]:
    return {
        "id": e.pk, "customer_id": e.customer_id, "invoice_id": e.invoice_id, "at": e.at,
        "kind": e.kind, "summary": e.summary,
        # Without the text kept for the console's readers (timeline.KEPT): not the API's.
        "data": {k: v for k, v in e.data.items() if k != timeline.KEPT}
        if isinstance(e.data, dict) else {},
    }  # fmt: skip


@router.get("/events", response=responses(EventPage), auth=READ, tags=["events"])
def list_events(
    request: HttpRequest,
    customer_id: int | None = IdFilter,
    kind: str | None = Query(None, max_length=48, pattern=r"^[a-z_]*$"),
    since: dt.datetime | None = None,
    cursor: str | None = Cursor,
    limit: int = Limit,
) -> dict[str, Any]:
    """The customers' timelines: every event Relance recorded, oldest first (id order)."""
    rows = TimelineEvent.objects.filter(organisation=org_of(request))
    if customer_id:
        rows = rows.filter(customer_id=customer_id)
    if kind:
        rows = rows.filter(kind=kind)
    if since:
        rows = rows.filter(at__gte=since)
    return page(rows, cursor, limit, describe_event)


@router.get("/events/{int:id}", response=responses(EventOut), auth=READ, tags=["events"])
def get_event(request: HttpRequest, id: int = IdPath) -> dict[str, Any]:
    return describe_event(one(TimelineEvent.objects, org_of(request), id, "event"))


__all__ = ["Q", "router"]
