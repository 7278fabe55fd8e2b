"""Disputes, promises and payment plans: the lists a credit team follows up, a dispute's
page (assign, resolve), the plan builder and a plan's page.

Views parse the request, call the services of ``relance.dunning`` (pauses, actions, plans,
followup) and render; every rule lives there.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from relance.accounts.models import Membership, Role
from relance.channels.formatting import amount_input
from relance.console.access import Can, Console, console_view
from relance.dunning import actions, followup, pauses, plans
from relance.dunning.models import PaymentPlan, Promise
from relance.insights.management.commands.report import today_for
from relance.ledger.models import (
    Customer,
    Dispute,
    DisputeOutcome,
    DisputeReason,
    Invoice,
    TimelineEvent,
)
from relance.lib.amounts import Bound, check_amount

PAGE = 50
FIRST_AFTER = 7  # days: the first instalment proposed a week from today
CUSTOMER_CHOICES = 20


def _console(request: HttpRequest) -> Console:
    console: Console = request.console  # type: ignore[attr-defined]
    return console


def _today(request: HttpRequest) -> dt.date:
    return today_for(_console(request).organisation)


def _page(rows: QuerySet[Any], request: HttpRequest) -> tuple[list[Any], int, bool]:
    """One page of ``rows`` (LIMIT/OFFSET), its number and whether another follows."""
    try:
        number = max(1, int(request.GET.get("page", "1")))
    except ValueError:
        number = 1
    start = (number - 1) * PAGE
    found = list(rows[start : start + PAGE + 1])
    return found[:PAGE], number, len(found) > PAGE


def _query(request: HttpRequest, **changes: Any) -> str:
    """The current query string with ``changes`` (None removes a parameter)."""
    query = request.GET.copy()
    for key, value in changes.items():
        if value is None:
            query.pop(key, None)
        else:
            query[key] = value
    return query.urlencode()


def _pages(request: HttpRequest, number: int) -> dict[str, str]:
    return {
        "previous_query": _query(request, page=number - 1),
        "next_query": _query(request, page=number + 1),
    }


def _amount(text: str, field: str) -> Decimal | None:
    """An amount as people type it (``1 234,50`` or ``1234.50``), above zero; blank is
    None; ``AmountError`` (a ValueError) naming ``field`` otherwise."""
    return check_amount(text, field, Bound.ABOVE_ZERO)


def _date(text: str, field: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(_("%(field)s: a date is needed") % {"field": field}) from None


def _workers(console: Console) -> list[Membership]:
    """The members a dispute can be assigned to: those who work (not viewers)."""
    return list(
        Membership.objects.filter(organisation=console.organisation)
        .exclude(role=Role.VIEWER)
        .select_related("user")
        .order_by("user__email")
    )


def _customer_param(request: HttpRequest) -> Customer | None:
    value = request.GET.get("customer") or request.POST.get("customer")
    if not value:
        return None
    return _console(request).get(Customer, value)


def _customer_choices(request: HttpRequest) -> list[Customer]:
    """Customers matching ``q`` (name, trade name or reference), to start from."""
    q = request.GET.get("q", "").strip()
    if not q:
        return []
    return list(
        _console(request)
        .objects(Customer)
        .filter(Q(legal_name__icontains=q) | Q(trade_name__icontains=q) | Q(reference__iexact=q))
        .filter(_console(request).workable())
        .order_by("legal_name", "pk")[:CUSTOMER_CHOICES]
    )


# -- disputes -------------------------------------------------------------------------------


@console_view()
def disputes_list(request: HttpRequest) -> HttpResponse:
    console = _console(request)
    today = _today(request)
    filters = {key: request.GET.get(key, "") for key in ("status", "reason", "age", "assignee")}
    customer = _customer_param(request)
    rows = followup.disputes(
        console.objects(Dispute), today=today, user_id=console.user.pk,
        customer=customer.pk if customer else None, **filters,
    )  # fmt: skip
    found, number, more = _page(rows, request)
    return render(request, "console/disputes/list.html", {
        "disputes": found, "page": number, "more": more, "filters": filters,
        "customer": customer, "today": today, "reasons": DisputeReason.choices,
        "ages": list(followup.AGES), "members": _workers(console),
        **_pages(request, number),
    })  # fmt: skip


@console_view()
def dispute_page(request: HttpRequest, pk: int) -> HttpResponse:
    console = _console(request)
    dispute = console.get(Dispute, pk)
    return _render_dispute(request, dispute)


def _render_dispute(
    request: HttpRequest, dispute: Dispute, *, error: str = "", status: int = 200
) -> HttpResponse:
    console = _console(request)
    group = pauses.group_of(dispute)
    customer = group[0].invoice.customer if dispute.group else dispute.invoice.customer
    events = list(
        TimelineEvent.objects.filter(
            customer=customer,
            invoice_id__in=[d.invoice_id for d in group],
            kind__in=["dispute_opened", "dispute_assigned", "dispute_resolved", "credit_note"],
        )
        .select_related("actor")
        .order_by("-at", "-id")[:30]
    )
    return render(request, "console/disputes/dispute.html", {
        "dispute": dispute, "group": group, "customer": customer, "events": events,
        "members": _workers(console) if console.can(Can.ASSIGN) else [],
        "outcomes": DisputeOutcome.choices, "today": _today(request), "error": error,
        "may_work": console.may_work(customer),
        "open_disputes": [d for d in group if d.is_open],
    }, status=status)  # fmt: skip


def _choose_customer(request: HttpRequest, title: str, target: str) -> HttpResponse:
    """The first step of a form about one customer (a dispute, a plan): which one."""
    return render(request, "console/disputes/choose_customer.html", {
        "choices": _customer_choices(request), "q": request.GET.get("q", ""),
        "title": title, "target": target,
    })  # fmt: skip


@console_view(Can.WORK)
def dispute_new(request: HttpRequest) -> HttpResponse:
    """Open a dispute on one or several invoices of one customer."""
    console = _console(request)
    customer = _customer_param(request)
    if customer is None:
        return _choose_customer(request, _("Open a dispute"), "console:dispute_new")
    console.require_work(customer)
    invoices = list(
        Invoice.objects.filter(customer=customer, balance__gt=0)
        .exclude(
            pk__in=Dispute.objects.filter(
                invoice__customer=customer, resolved_on__isnull=True
            ).values("invoice_id")
        )
        .order_by("due_date", "number")
    )
    error = ""
    if request.method == "POST":
        try:
            dispute = _open(request, customer, invoices)
        except (ValueError, pauses.PauseError) as exc:
            error = str(exc)
        else:
            messages.success(request, _("Dispute opened; the dunning of its invoices pauses."))
            return redirect("console:dispute", pk=dispute.pk)
    return render(request, "console/disputes/new.html", {
        "customer": customer, "invoices": invoices, "reasons": DisputeReason.choices,
        "rows": [(i, request.POST.get(f"amount-{i.pk}", ""), request.POST.get(f"note-{i.pk}", ""))
                 for i in invoices],
        "members": _workers(console) if console.can(Can.ASSIGN) else [], "error": error,
        "chosen": set(request.POST.getlist("invoice")), "posted": request.POST,
    }, status=400 if error else 200)  # fmt: skip


def _open(request: HttpRequest, customer: Customer, invoices: list[Invoice]) -> Dispute:
    console = _console(request)
    by_id = {str(invoice.pk): invoice for invoice in invoices}
    chosen = request.POST.getlist("invoice")
    unknown = [pk for pk in chosen if pk not in by_id]
    if unknown:
        raise ValueError(_("An invoice chosen is not open, or is disputed already."))
    lines = [
        pauses.DisputedInvoice(
            by_id[pk],
            _amount(
                request.POST.get(f"amount-{pk}", ""),
                _("Disputed amount of %(number)s") % {"number": by_id[pk].number},
            ),
            request.POST.get(f"note-{pk}", "").strip(),
        )
        for pk in chosen
    ]
    assignee = request.POST.get("assignee", "")
    assignee_id = None
    if assignee:
        console.require(Can.ASSIGN)
        assignee_id = int(assignee) if assignee.isdigit() else -1
    disputes = pauses.open_disputes(
        customer, lines, reason=request.POST.get("reason", ""), on=_today(request),
        note=request.POST.get("note", "").strip(), assignee_id=assignee_id,
        user_id=console.user.pk,
    )  # fmt: skip
    return disputes[0]


@require_POST
@console_view(Can.ASSIGN)
def dispute_assign(request: HttpRequest, pk: int) -> HttpResponse:
    console = _console(request)
    dispute = console.get(Dispute, pk)
    value = request.POST.get("assignee", "")
    try:
        assignee_id = int(value) if value else None
        pauses.assign_dispute(dispute, assignee_id, user_id=console.user.pk)
    except (ValueError, pauses.PauseError) as exc:
        return _render_dispute(request, dispute, error=str(exc), status=400)
    messages.success(request, _("Dispute assigned."))
    return redirect("console:dispute", pk=dispute.pk)


@require_POST
@console_view(Can.WORK)
def dispute_resolve(request: HttpRequest, pk: int) -> HttpResponse:
    console = _console(request)
    dispute = console.get(Dispute, pk)
    console.require_work(dispute.invoice.customer)
    outcome = request.POST.get("outcome", "")
    try:
        if outcome not in DisputeOutcome.values:
            raise ValueError(_("Choose how the dispute ended."))
        credit = None
        if outcome == DisputeOutcome.CREDIT_NOTE:
            amount = _amount(request.POST.get("credit_amount", ""), _("Credit note amount"))
            if amount is None:
                raise ValueError(_("A credit note needs its amount."))
            credit = pauses.CreditNote(request.POST.get("credit_reference", ""), amount)
        pauses.resolve_dispute(
            dispute, on=_today(request), resolution=request.POST.get("resolution", "").strip(),
            outcome=outcome, credit_note=credit, user_id=console.user.pk,
        )  # fmt: skip
    except (ValueError, pauses.PauseError) as exc:
        return _render_dispute(request, dispute, error=str(exc), status=400)
    messages.success(request, _("Dispute resolved."))
    return redirect("console:dispute", pk=dispute.pk)


# -- promises -----------------------------------------------------------------------------


@console_view()
def promises_list(request: HttpRequest) -> HttpResponse:
    console = _console(request)
    today = _today(request)
    filters = {key: request.GET.get(key, "") for key in ("status", "due")}
    customer = _customer_param(request)
    rows = followup.promises(
        console.objects(Promise), today=today, customer=customer.pk if customer else None,
        **filters,
    )  # fmt: skip
    found, number, more = _page(rows, request)
    return render(request, "console/disputes/promises.html", {
        "promises": found, "page": number, "more": more, "filters": filters,
        "customer": customer, "today": today, "statuses": Promise.Status.choices,
        **_pages(request, number),
    })  # fmt: skip


@require_POST
@console_view(Can.WORK)
def promise_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    console = _console(request)
    promise = console.get(Promise, pk, console.objects(Promise).select_related("customer"))
    console.require_work(promise.customer)
    try:
        pauses.cancel_promise(promise, on=_today(request), user_id=console.user.pk,
                              note=request.POST.get("note", "").strip())  # fmt: skip
    except pauses.PauseError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Promise cancelled: its invoices are dunned again."))
    if request.htmx:  # type: ignore[attr-defined]
        promise.refresh_from_db()
        return render(request, "console/disputes/_promise_row.html", {
            "promise": promise, "today": _today(request),
        })  # fmt: skip
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = reverse("console:promises")
    return redirect(back or reverse("console:promises"))


# -- payment plans --------------------------------------------------------------------------


@console_view()
def plans_list(request: HttpRequest) -> HttpResponse:
    console = _console(request)
    status = request.GET.get("status", "")
    customer = _customer_param(request)
    rows = followup.plans(
        console.objects(PaymentPlan), status=status, customer=customer.pk if customer else None
    )
    found, number, more = _page(rows, request)
    return render(request, "console/disputes/plans.html", {
        "plans": found, "page": number, "more": more, "status": status, "customer": customer,
        "statuses": PaymentPlan.Status.choices,
        **_pages(request, number),
    })  # fmt: skip


@console_view()
def plan_page(request: HttpRequest, pk: int) -> HttpResponse:
    console = _console(request)
    plan = console.get(
        PaymentPlan, pk, console.objects(PaymentPlan).select_related("customer", "confirmation")
    )
    today = _today(request)
    schedule = plans.follow(plan, today)
    invoices = list(plan.invoices.order_by("due_date", "number"))
    return render(request, "console/disputes/plan.html", {
        "plan": plan, "customer": plan.customer, "today": today, "schedule": schedule,
        "invoices": invoices, "total": sum((one.amount for one in schedule), Decimal(0)),
        "owed": sum((invoice.balance for invoice in invoices), Decimal(0)),
        "currency": invoices[0].currency if invoices else plan.customer.currency,
        "may_work": console.may_work(plan.customer),
        "confirmable": plan.status == PaymentPlan.Status.ACTIVE and (
            plan.confirmation is None or plan.confirmation.status in ("failed", "cancelled")),
    })  # fmt: skip


class Builder:
    """What the plan builder shows: the customer's invoices a plan may cover, those chosen,
    what they owe, and the schedule proposed or typed."""

    def __init__(self, request: HttpRequest, customer: Customer, today: dt.date) -> None:
        data = request.POST if request.method == "POST" else request.GET
        self.customer = customer
        self.invoices = list(
            Invoice.objects.filter(customer=customer, balance__gt=0)
            .exclude(payment_plans__status=PaymentPlan.Status.ACTIVE)
            .order_by("due_date", "number")
        )
        by_id = {str(i.pk): i for i in self.invoices}
        wanted = data.getlist("invoice")
        self.chosen = [by_id[pk] for pk in wanted if pk in by_id] if wanted else self.invoices
        self.chosen_ids = {str(i.pk) for i in self.chosen}
        self.owed = sum((i.balance for i in self.chosen), Decimal(0))
        self.currency = self.chosen[0].currency if self.chosen else customer.currency
        self.count = data.get("count", "3")
        self.first = data.get("first") or (today + dt.timedelta(days=FIRST_AFTER)).isoformat()
        self.period = data.get("period", "month")
        self.note = data.get("note", "")
        first_visit = request.method == "GET" and "propose" not in data
        self.confirm = first_visit or data.get("confirm") == "1"
        self.errors: list[str] = []
        self.lines: list[tuple[str, str]] = []  # (date, amount) as typed
        if "propose" in data:
            self.propose()
        else:
            self.lines = self.typed(data)
        self.parsed = self.parse()

    @staticmethod
    def typed(data: Any) -> list[tuple[str, str]]:
        lines = []
        for k in range(plans.MAX_INSTALMENTS):
            day, amount = data.get(f"due-{k}"), data.get(f"amount-{k}")
            if day is None and amount is None:
                break
            if (day or "").strip() or (amount or "").strip():
                lines.append((day or "", amount or ""))
        return lines

    def propose(self) -> None:
        try:
            count = int(self.count)
            first = _date(self.first, _("First instalment"))
            schedule = plans.propose(self.owed, count, first, self.period)
        except (ValueError, plans.PlanError) as exc:
            self.errors.append(str(exc))
            return
        self.lines = [(day.isoformat(), amount_input(amount)) for day, amount in schedule]

    def parse(self) -> list[tuple[dt.date, Decimal]] | None:
        try:
            parsed = []
            for k, (day, amount) in enumerate(self.lines, start=1):
                label = _("Instalment %(n)s") % {"n": k}
                value = _amount(amount, label)
                if value is None:
                    raise ValueError(_("%(field)s: an amount is needed") % {"field": label})
                parsed.append((_date(day, label), value))
        except ValueError as exc:
            self.errors.append(str(exc))
            return None
        return parsed

    @property
    def scheduled(self) -> Decimal | None:
        if self.parsed is None:
            return None
        return sum((amount for _, amount in self.parsed), Decimal(0))

    @property
    def shortfall(self) -> Decimal | None:
        if self.parsed is None or not self.parsed:
            return None
        return plans.shortfall(self.owed, self.parsed)

    @property
    def excess(self) -> Decimal | None:
        return None if self.shortfall is None else -self.shortfall

    @property
    def rows(self) -> list[tuple[int, str, str]]:
        return [(k, day, amount) for k, (day, amount) in enumerate(self.lines)]


@console_view(Can.WORK)
def plan_new(request: HttpRequest) -> HttpResponse:
    """Build a payment plan on a customer's open invoices, agree it, confirm it."""
    console = _console(request)
    customer = _customer_param(request)
    if customer is None:
        return _choose_customer(request, _("Build a payment plan"), "console:plan_new")
    console.require_work(customer)
    builder = Builder(request, customer, _today(request))
    if request.method == "POST" and not builder.errors:
        if builder.parsed is not None and not builder.parsed:
            builder.errors.append(_("Propose or type the instalments first."))
        elif builder.parsed is not None:
            try:
                plan = actions.create_plan(
                    console.organisation, customer.reference,
                    [invoice.number for invoice in builder.chosen], builder.parsed,
                    on=_today(request), note=builder.note.strip(), confirm=builder.confirm,
                    user_id=console.user.pk,
                )  # fmt: skip
            except actions.Refused as exc:
                builder.errors.append(str(exc))
            else:
                messages.success(
                    request,
                    _("Payment plan agreed; its confirmation is on its way to the customer.")
                    if builder.confirm
                    else _("Payment plan agreed."),
                )
                return redirect("console:plan", pk=plan.pk)
    status = 400 if request.method == "POST" else 200
    return render(request, "console/disputes/plan_new.html", {
        "builder": builder, "customer": customer, "periods": plans.PERIODS,
        "today": _today(request),
    }, status=status)  # fmt: skip


def _on_plan(
    request: HttpRequest, pk: int, act: Callable[[PaymentPlan, Console], None], done: str
) -> HttpResponse:
    """One action on a payment plan: the plan loaded within reach, the service called, its
    refusal or ``done`` shown on the plan's page."""
    console = _console(request)
    plan = console.get(PaymentPlan, pk, console.objects(PaymentPlan).select_related("customer"))
    console.require_work(plan.customer)
    try:
        act(plan, console)
    except (pauses.PauseError, plans.PlanError) as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, done)
    return redirect("console:plan", pk=plan.pk)


@require_POST
@console_view(Can.WORK)
def plan_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    def act(plan: PaymentPlan, console: Console) -> None:
        pauses.cancel_plan(plan, on=_today(request), note=request.POST.get("note", "").strip(),
                           user_id=console.user.pk)  # fmt: skip

    return _on_plan(request, pk, act, _("Payment plan cancelled: its invoices are dunned again."))


@require_POST
@console_view(Can.WORK)
def plan_confirm(request: HttpRequest, pk: int) -> HttpResponse:
    def act(plan: PaymentPlan, console: Console) -> None:
        plans.confirm(plan, on=_today(request), user_id=console.user.pk)

    return _on_plan(request, pk, act, _("The confirmation is on its way to the customer."))


@require_POST
@console_view(Can.APPROVE)
def plan_decide(request: HttpRequest, pk: int, decision: str) -> HttpResponse:
    """A manager accepts or refuses a plan the customer proposed on the portal."""
    from relance.portal import actions as portal_actions

    def act(plan: PaymentPlan, console: Console) -> None:
        portal_actions.decide_plan(plan, accept=decision == "accept", on=_today(request),
                                   user_id=console.user.pk,
                                   note=request.POST.get("note", "").strip())  # fmt: skip

    return _on_plan(request, pk, act, _("Payment plan accepted.") if decision == "accept"
                    else _("Payment plan refused: its invoices are dunned again."))  # fmt: skip


urlpatterns = [
    path("disputes/", disputes_list, name="disputes"),
    path("disputes/new/", dispute_new, name="dispute_new"),
    path("disputes/<int:pk>/", dispute_page, name="dispute"),
    path("disputes/<int:pk>/assign/", dispute_assign, name="dispute_assign"),
    path("disputes/<int:pk>/resolve/", dispute_resolve, name="dispute_resolve"),
    path("promises/", promises_list, name="promises"),
    path("promises/<int:pk>/cancel/", promise_cancel, name="promise_cancel"),
    path("plans/", plans_list, name="plans"),
    path("plans/new/", plan_new, name="plan_new"),
    path("plans/<int:pk>/", plan_page, name="plan"),
    path("plans/<int:pk>/cancel/", plan_cancel, name="plan_cancel"),
    path("plans/<int:pk>/confirm/", plan_confirm, name="plan_confirm"),
    path("plans/<int:pk>/accept/", plan_decide, {"decision": "accept"}, name="plan_accept"),
    path("plans/<int:pk>/refuse/", plan_decide, {"decision": "refuse"}, name="plan_refuse"),
]
