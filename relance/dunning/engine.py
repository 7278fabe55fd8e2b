"""The daily run: load an organisation's open items in bulk, let the policy decide per
customer, write the decisions in bulk, one transaction per chunk of customers.

Each part lives in its own module: ``loading`` reads the context and streams the open items
that may move today, ``policy`` decides (a pure function), ``writing`` writes the rows, and
``sharing`` decides how many processes share the customers and tunes the writing
connection. This module holds them together, with the payment plans and the insolvency
tasks that a run also follows.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Iterable
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

from django.db import connection
from django.utils.translation import gettext_noop

from relance.accounts.identity import missing_for_email
from relance.accounts.models import Organisation
from relance.audit import trail
from relance.channels.formatting import lazy_short_date
from relance.dunning import instalments, loading, pauses, policy, sharing, tasks, writing
from relance.dunning.models import PaymentPlan
from relance.ledger import summaries
from relance.ledger.models import Hold, HoldKind
from relance.ledger.timeline import Text
from relance.lib import holiday_calendars, locks
from relance.lib.dates import add_months
from relance.lib.perf import collector_paused

Progress = Callable[[str, int, int], None]
CHUNK_CUSTOMERS = 5000


class RunError(Exception):
    pass


@dataclass
class RunResult:
    organisation: str
    run_date: dt.date
    dry_run: bool
    business_day: bool
    holiday: str | None = None
    customers: int = 0
    # Items read: the open items that may move today (see relance.dunning.loading).
    items_considered: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    decisions: list[dict[str, Any]] = field(default_factory=list)
    plans: list[dict[str, Any]] = field(default_factory=list)  # payment plans' decisions

    def as_dict(self) -> dict[str, Any]:
        return {
            "organisation": self.organisation,
            "run_date": self.run_date,
            "dry_run": self.dry_run,
            "business_day": self.business_day,
            "holiday": self.holiday,
            "customers": self.customers,
            "items_considered": self.items_considered,
            "counts": dict(sorted(self.counts.items())),
            "decisions": self.decisions,
            "plans": self.plans,
        }


def public_holidays(organisation: Organisation, years: Iterable[int]) -> dict[dt.date, str]:
    """The public holidays of the organisation's country in ``years``, named in its
    language (none for a country the library does not know: weekends only)."""
    try:
        calendar = holiday_calendars.country_holidays(
            organisation.country, years, language=organisation.language
        )
    except NotImplementedError:
        return {}
    return dict(sorted(calendar.items()))


CLOSED = gettext_noop("company closed")


def calendar_for(organisation: Organisation, day: dt.date) -> policy.Calendar:
    """The one rule of business days, for the run and every page that shows a date to come:
    weekends, the public holidays of the organisation's country and the days it closes
    (``Organisation.closed_days``) wait; its contact gap and its time zone (for the hours of
    calls) are its own."""
    name = public_holidays(organisation, [day.year]).get(day)
    if name is None and day.isoformat() in organisation.closed_days:
        name = CLOSED
    return policy.Calendar(
        business_day=day.weekday() < 5 and name is None, holiday_name=name,
        contact_gap=organisation.contact_gap, timezone=organisation.timezone,
    )  # fmt: skip


def run(
    organisation: Organisation,
    run_date: dt.date,
    *,
    dry_run: bool = False,
    explain: bool = False,
    progress: Progress | None = None,
    chunk_customers: int = CHUNK_CUSTOMERS,
    jobs: int | None = None,
) -> RunResult:
    """The run of ``run_date``. ``jobs`` processes share the customers (default: one per
    core, up to ``sharing.MAX_JOBS``, for organisations of ``sharing.PARALLEL_FROM`` open
    items or more).

    Refused for an organisation without a reply address (a dry run still decides: the
    command warns)."""
    if not dry_run and (missing := missing_for_email(organisation)):
        raise RunError(missing)
    # A second run (or an import) of the organisation waits for this one, and then reads
    # what it wrote; a dry run writes nothing and waits for no one.
    held = nullcontext() if dry_run else locks.organisation_lock(organisation.slug, "run")
    checkpoints = sharing.Checkpoints(enabled=not dry_run)
    # Paused from the calendar on: the holidays' first import would set off a full
    # collection of the start-up's objects.
    with collector_paused():
        calendar = calendar_for(organisation, run_date)
        result = RunResult(organisation.slug, run_date, dry_run, calendar.business_day,
                           calendar.holiday_name)  # fmt: skip
    with held, collector_paused(), sharing.mapped_reads(), checkpoints:
        context, closed = _before_customers(organisation, run_date, calendar, result, dry_run,
                                            explain, age=False)  # fmt: skip
        context.in_plan -= closed.get("defaulted", set())
        # Customers done, without a total: counting those with items that may move would
        # cost a second pass over the open items.
        step = _Step(context, run_date, calendar, dry_run, explain, chunk_customers)
        shares = 1 if dry_run or explain else sharing.how_many(organisation, jobs, run_date)
        report = _tally(progress, 0)
        if shares == 1:
            # Beside the customers on PostgreSQL; after them elsewhere, while the thread
            # checkpoints the last chunk (sharing.Checkpoints).
            with sharing.Alongside(lambda: _age(organisation, run_date, dry_run), not dry_run):
                step.run_share(
                    result, report or _ignore, reader=connection, checkpoints=checkpoints
                )
            return _recorded(organisation, result)
        checkpoints.close()  # before the fork: each share checkpoints its own
        try:
            parts = sharing.share_out(shares, step.share, progress=report)
        except sharing.ShareFailed as error:
            raise RunError(
                f"{error}. What the other processes wrote stands: run the same date again "
                "to finish (nothing is planned twice)."
            ) from None
        for customers, items, counts in parts:
            result.customers += customers
            result.items_considered += items
            result.counts.update(counts)
        _age(organisation, run_date, dry_run)
        return _recorded(organisation, result)


def begin_parts(organisation: Organisation, run_date: dt.date) -> tuple[RunResult, dict[str, Any]]:
    """A run on the queue, before its parts (relance.dunning.run_tasks): what ``run`` does
    before it shares the customers out, in the same order. Returns the counts so far and
    what each part needs to decide as ``run`` would (``part``'s ``closed``)."""
    if missing := missing_for_email(organisation):
        raise RunError(missing)
    calendar = calendar_for(organisation, run_date)
    result = RunResult(organisation.slug, run_date, False, calendar.business_day,
                       calendar.holiday_name)  # fmt: skip
    with collector_paused():  # refused before any part is enqueued
        _, closed = _before_customers(organisation, run_date, calendar, result, False, False)
    return result, {k: sorted(v) for k, v in closed.items()}


def _before_customers(
    organisation: Organisation,
    run_date: dt.date,
    calendar: policy.Calendar,
    result: RunResult,
    dry_run: bool,
    explain: bool,
    age: bool = True,
) -> tuple[loading.Context, dict[str, set[int]]]:
    """What a run does before its customers, in one process or on the queue: the context
    read, and the invoices of the payment plans closed today by outcome. ``age``: the
    balances aged here, first (on the queue, before its parts); ``run`` ages them after its
    customers instead, while its last chunk is checkpointed (``sharing.Checkpoints``)."""
    if not dry_run:
        # Promises whose debt is paid are kept before the run reads what pauses items.
        result.counts["promises_kept"] += len(pauses.keep_promises(organisation, on=run_date))
        if age:
            _age(organisation, run_date, dry_run)
    try:
        context = loading.Context.load(
            organisation, run_date, lazy=True, thanks=calendar.business_day
        )
    except loading.NothingToRun as error:
        raise RunError(str(error)) from None
    # Once per run, before any share or part reads the items by their dates.
    loading.settle_bounds(context, dry_run)
    if not dry_run:
        _insolvency_tasks(organisation, run_date, result)
    closed = _payment_plans(organisation, run_date, calendar, result, dry_run, explain)
    return context, closed


def _age(organisation: Organisation, run_date: dt.date, dry_run: bool) -> None:
    """The console's customer balances aged as of the run's day: the first page of the day
    then finds them aged (relance.ledger.summaries; seconds on a million items). Nothing the
    run reads or decides depends on them."""
    if not dry_run:
        summaries.age(organisation.pk, run_date)


def part(
    organisation: Organisation,
    run_date: dt.date,
    share: tuple[int, int],
    closed: dict[str, list[int]],
    report: sharing.Report | None = None,
) -> RunResult:
    """One share of a run on the queue: the customers whose id is k modulo n, decided and
    written as ``run`` decides them. Its context is read after the payment plans were
    followed (``begin_parts``), where ``run`` read it before: the invoices of the plans that
    closed today are put back as ``run`` saw them (still in a plan, but those of a plan
    defaulted today, which are dunned again from today). Other parts' writes concern other
    customers, so reading after them changes nothing."""
    calendar = calendar_for(organisation, run_date)
    result = RunResult(organisation.slug, run_date, False, calendar.business_day,
                       calendar.holiday_name)  # fmt: skip
    with collector_paused(), sharing.mapped_reads():
        try:
            context = loading.Context.load(
                organisation, run_date, lazy=True, thanks=calendar.business_day
            )
        except loading.NothingToRun as error:
            raise RunError(str(error)) from None
        for outcome, invoices in closed.items():
            context.special_invoices |= set(invoices)
            if outcome != "defaulted":
                context.in_plan |= set(invoices)
        context.in_plan -= set(closed.get("defaulted", ()))
        step = _Step(context, run_date, calendar, False, False, CHUNK_CUSTOMERS)
        step.run_share(result, report or _ignore, reader=connection, share=share)
    return result


def recorded(organisation: Organisation, result: RunResult) -> RunResult:
    """The end of a run on the queue, once every part is written: as ``run`` ends."""
    return _recorded(organisation, result)


def _recorded(organisation: Organisation, result: RunResult) -> RunResult:
    """The run in the audit trail: one event per run with its counts, never per item; a dry
    run writes nothing, there either."""
    if not result.dry_run:
        counts = dict(sorted(result.counts.items()))
        trail.record(organisation, "run.completed", target=("run", result.run_date),
                     summary=Text(
                         gettext_noop("run of %(date)s: %(customers)s customers, %(items)s "
                                      "items, %(counts)s") if counts
                         else gettext_noop("run of %(date)s: %(customers)s customers, "
                                           "%(items)s items, nothing planned"),
                         # The counts by their codes, as the data has them.
                         {"date": lazy_short_date(result.run_date), "customers": result.customers,
                          "items": result.items_considered,
                          "counts": ", ".join(f"{n} {k}" for k, n in counts.items())}),
                     data={"run_date": result.run_date, "business_day": result.business_day,
                           "customers": result.customers,
                           "items_considered": result.items_considered,
                           "counts": counts})  # fmt: skip
    return result


def _ignore(done: int) -> None:
    pass


def _tally(progress: Progress | None, total: int) -> sharing.Report | None:
    if progress is None:
        return None
    done = 0

    def report(n: int) -> None:
        nonlocal done
        done += n
        progress("customers", done, total)

    return report


@dataclass
class _Step:
    """Deciding and writing the customers of one share, chunk by chunk."""

    context: loading.Context
    day: dt.date
    calendar: policy.Calendar
    dry_run: bool
    explain: bool
    chunk_customers: int

    def run_share(
        self,
        result: RunResult,
        report: sharing.Report,
        reader: Any,
        share: tuple[int, int] = (0, 1),
        checkpoints: sharing.Checkpoints | None = None,
    ) -> None:
        with sharing.write_cache():
            chunks = loading.chunks(self.context, self.day, self.chunk_customers, share, reader)
            for chunk in chunks:
                decisions = [policy.decide(case, self.day, self.calendar) for case in chunk]
                result.customers += len(chunk)
                result.items_considered += sum(len(case.items) for case in chunk)
                if self.explain or self.dry_run:
                    result.decisions += [_describe(d) for d in decisions if _matters(d)]
                if self.dry_run:
                    _count(decisions, result)
                elif writing.write(self.context, self.day, decisions, chunk):
                    _count(decisions, result)
                    if checkpoints is not None:
                        checkpoints.after_commit()
                else:  # another run of the same date got there first: its decisions stand
                    result.counts["chunks_already_done"] += 1
                report(len(chunk))

    def share(
        self, k: int, shares: int, report: sharing.Report, reader: Any
    ) -> tuple[int, int, dict[str, int]]:
        """One share, in its own process, reading on its own connection."""
        result = RunResult(self.context.organisation.slug, self.day, False, True)
        with sharing.Checkpoints() as checkpoints:
            self.run_share(result, report, reader, (k, shares), checkpoints)
        return result.customers, result.items_considered, dict(result.counts)


def _count(decisions: list[policy.Decision], result: RunResult) -> None:
    for decision in decisions:
        for comm in decision.communications:
            result.counts[f"communications_{comm.purpose}_{comm.channel}"] += 1
            result.counts["awaiting_approval" if comm.approval else "queued"] += 1
        result.counts["levels"] += len(decision.levels)
        result.counts["broken_promises"] += len(decision.broken_promises)


def _payment_plans(
    org: Organisation,
    day: dt.date,
    calendar: policy.Calendar,
    result: RunResult,
    dry_run: bool,
    explain: bool,
) -> dict[str, set[int]]:
    """Follow the payment plans; return the invoices of the plans closed today by outcome:
    those of the plans defaulted today are dunned again from today."""
    closed: dict[str, list[int]] = {}
    for decision in instalments.run(org, day, business_day=calendar.business_day,
                                    dry_run=dry_run):  # fmt: skip
        result.counts["instalments_paid"] += len(decision.newly_paid)
        if decision.remind:
            result.counts["communications_instalment_email"] += 1
        if decision.outcome:
            result.counts[f"plans_{decision.outcome}"] += 1
            closed.setdefault(decision.outcome, []).append(decision.plan_id)
        if (explain or dry_run) and (decision.remind or decision.outcome or decision.newly_paid):
            result.plans.append(instalments.describe(decision))
    return {
        outcome: set(
            PaymentPlan.invoices.through.objects.filter(paymentplan_id__in=plans).values_list(
                "invoice_id", flat=True
            )
        )
        for outcome, plans in closed.items()
    }


def _insolvency_tasks(org: Organisation, day: dt.date, result: RunResult) -> None:
    """A customer in collective proceedings: declare the claim within two months of the
    publication (Code de commerce L622-24, R622-24)."""
    holds = Hold.objects.filter(organisation=org, kind=HoldKind.INSOLVENCY, start_date__lte=day)
    claims = []
    for hold in holds.select_related("customer"):
        published = hold.published_on or hold.start_date
        deadline = add_months(published, 2)
        claims.append(
            tasks.NewTask(f"insolvency:{hold.pk}", hold.customer_id, "declare_claim",
                          Text(gettext_noop("Declare the claim on %(customer)s to the "
                                            "court-appointed representative before %(date)s"),
                               {"customer": str(hold.customer), "date": lazy_short_date(deadline)}),
                          deadline, {"hold": hold.pk, "published_on": published.isoformat()})
        )  # fmt: skip
    if claims:
        # Keyed by hold: a task already opened by an earlier run is left as it is.
        tasks.open_many(org, claims)
        result.counts["customers_in_proceedings"] += len(claims)


def _matters(decision: policy.Decision) -> bool:
    return bool(decision.communications or decision.levels or decision.broken_promises
                or decision.notes)  # fmt: skip


def _describe(decision: policy.Decision) -> dict[str, Any]:
    return {
        "customer_id": decision.customer_id,
        "communications": [
            {"channel": c.channel, "purpose": c.purpose, "template": c.template,
             "approval": c.approval, "pre_due": c.pre_due, "explanation": c.explanation,
             "items": [{"invoice": i.number, "step": i.step_position,
                        "days_overdue": i.days_overdue, "balance": i.balance,
                        "currency": i.currency} for i in c.items]}
            for c in decision.communications
        ],
        "levels": {str(k): v for k, v in sorted(decision.levels.items())},
        "passed_over": [{"invoice": number, "to_level": level}
                        for number, level in decision.passed_over],
        "broken_promises": sorted(decision.broken_promises),
        "notes": decision.notes,
    }  # fmt: skip
