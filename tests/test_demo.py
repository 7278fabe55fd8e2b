"""The demo data: realistic, deterministic, internally consistent, and loaded idempotently."""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter, defaultdict
from decimal import Decimal
from io import StringIO

import pytest
from stdnum.eu import vat
from stdnum.fr import siren, siret

from relance.demo import generate
from relance.demo.generator import months_before

TODAY = dt.date(2026, 3, 2)
BUCKETS = ("not_due", "1-30", "31-60", "61-90", "over_90")


@pytest.fixture(scope="module")
def demo():
    return generate(TODAY)


@pytest.fixture(scope="module")
def batch(demo):
    return demo.batch


@pytest.fixture(scope="module")
def allocated(batch):
    """Sum of allocations per invoice number."""
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for allocation in batch.allocations:
        totals[allocation.invoice] += allocation.amount
    return totals


def bucket(days_overdue: int) -> str:
    if days_overdue <= 0:
        return "not_due"
    if days_overdue <= 30:
        return "1-30"
    if days_overdue <= 60:
        return "31-60"
    return "61-90" if days_overdue <= 90 else "over_90"


# --- determinism ------------------------------------------------------------------------


def test_it_gives_the_same_data_for_the_same_seed_and_day(demo):
    again = generate(TODAY)
    assert again == demo
    assert again.batch.sha256 == demo.batch.sha256


def test_it_gives_other_data_for_another_seed(demo):
    other = generate(TODAY, seed=7)
    assert other.batch.sha256 != demo.batch.sha256
    names = {c.fields["legal_name"] for c in other.batch.customers.values()}
    assert names != {c.fields["legal_name"] for c in demo.batch.customers.values()}


# --- customers --------------------------------------------------------------------------


def test_it_gives_every_customer_valid_registration_numbers(batch):
    sirens = []
    for customer in batch.customers.values():
        f = customer.fields
        assert vat.is_valid(f["vat_number"]), f["vat_number"]
        if f["country"] == "FR":
            assert siren.is_valid(f["siren"]), f["siren"]
            assert siret.is_valid(f["siret"]), f["siret"]
            assert f["siret"].startswith(f["siren"])
            assert f["vat_number"] == "FR" + siren.to_tva(f["siren"])
            sirens.append(f["siren"])
        else:
            assert f["siren"] == f["siret"] == ""
            assert f["vat_number"].startswith(f["country"])
    assert len(sirens) == len(set(sirens))
    assert len(sirens) > 250


def test_it_passes_the_products_own_customer_checks(batch):
    from relance.ledger.validation import check_customer_fields

    problems = [
        (ref, problem)
        for ref, customer in batch.customers.items()
        for problem in check_customer_fields(dict(customer.fields))
    ]
    assert problems == []


def test_it_describes_customers_as_a_french_credit_manager_knows_them(batch):
    customers = list(batch.customers.values())
    assert len(customers) == 300
    languages = Counter(c.fields["language"] for c in customers)
    assert languages["fr"] >= 0.85 * len(customers)
    assert languages["en"] >= 3
    assert {c.fields["payment_terms_days"] for c in customers} == {30, 45, 60}
    assert {c.fields["risk_class"] for c in customers} == {"low", "medium", "high"}
    forms = Counter(c.fields["legal_name"].rsplit(" ", 1)[1] for c in customers)
    assert forms["SAS"] > forms["SARL"] > forms["SA"] > 0
    for c in customers:
        address = c.fields["address"]
        assert address["line1"] and address["city"]
        assert address["country"] == c.fields["country"]
        if c.fields["country"] == "FR":
            assert re.fullmatch(r"\d{5}", address["postcode"])
        assert c.fields["credit_limit"] > 0
        assert c.fields["customer_since"] < TODAY
    assert len({c.fields["legal_name"] for c in customers}) == len(customers)


def test_it_never_points_at_real_mailboxes_or_phone_lines(batch):
    emails = [c.fields["email"] for c in batch.customers.values()]
    emails += [c.email for c in batch.contacts]
    assert all(e.endswith(".example") for e in emails)
    french = [c.fields["phone"] for c in batch.customers.values() if c.fields["country"] == "FR"]
    french += [c.phone for c in batch.contacts if c.phone.startswith("0")]
    fiction = re.compile(r"0(1 99 00|2 61 91|3 53 01|4 65 71|5 36 49|6 39 98)( \d\d){2}")
    assert [p for p in french if not fiction.fullmatch(p)] == []


def test_it_gives_each_customer_one_dunning_contact(batch):
    primaries = Counter(c.customer for c in batch.contacts if c.is_primary)
    assert set(primaries) == set(batch.customers)
    assert set(primaries.values()) == {1}


# --- invoices ---------------------------------------------------------------------------


def test_it_issues_a_few_thousand_invoices_over_eighteen_months(batch):
    invoices = batch.invoices
    assert 3000 <= len(invoices) <= 5000
    start = months_before(TODAY, 18)
    assert all(start <= i.issue_date <= TODAY for i in invoices)
    assert min(i.issue_date for i in invoices) < start + dt.timedelta(days=15)
    assert max(i.issue_date for i in invoices) > TODAY - dt.timedelta(days=5)
    assert all(i.issue_date.weekday() < 5 for i in invoices)


def test_it_numbers_invoices_in_one_chronological_sequence_per_year(batch):
    numbers = [i.number for i in batch.invoices]
    assert len(set(numbers)) == len(numbers)
    by_year: dict[int, list[tuple[int, dt.date]]] = defaultdict(list)
    for invoice in batch.invoices:
        match = re.fullmatch(r"FA-(\d{4})-(\d{5})", invoice.number)
        assert match, invoice.number
        assert int(match[1]) == invoice.issue_date.year
        by_year[invoice.issue_date.year].append((int(match[2]), invoice.issue_date))
    for entries in by_year.values():
        entries.sort()
        sequence = [n for n, _ in entries]
        assert sequence == list(range(sequence[0], sequence[0] + len(sequence)))
        assert [d for _, d in entries] == sorted(d for _, d in entries)


def test_it_writes_money_as_decimals_with_cents_and_french_vat(batch):
    customers = batch.customers
    for i in batch.invoices:
        for amount in (i.amount, i.amount_excl_tax, i.tax_amount):
            assert isinstance(amount, Decimal)
            assert amount.as_tuple().exponent == -2
        assert i.amount == i.amount_excl_tax + i.tax_amount
        if customers[i.customer].fields["country"] == "FR":
            assert i.tax_amount == (i.amount_excl_tax * Decimal("0.2")).quantize(Decimal("0.01"))
        else:  # intra-EU supplies: the customer self-assesses the VAT
            assert i.tax_amount == 0
    for record in [*batch.payments, *batch.allocations]:
        assert isinstance(record.amount, Decimal)
        assert record.amount.as_tuple().exponent == -2
        assert record.amount > 0


def test_it_skews_amounts_like_real_sales(batch):
    amounts = sorted(i.amount for i in batch.invoices)
    median = amounts[len(amounts) // 2]
    assert Decimal(300) < median < Decimal(5000)
    assert amounts[-1] > 20 * median
    # Many small invoices, a few large ones: the top 10 % make a large share of sales.
    top = sum(amounts[int(len(amounts) * 0.9) :])
    assert top > Decimal("0.35") * sum(amounts)


# --- payments ---------------------------------------------------------------------------


def test_it_records_no_payment_after_today(batch):
    assert batch.payments
    assert max(p.date for p in batch.payments) <= TODAY
    assert max(a.date for a in batch.allocations) <= TODAY


def test_it_never_allocates_more_than_an_invoice_or_a_payment_holds(batch, allocated):
    invoices = {i.number: i for i in batch.invoices}
    payments = {p.reference: p for p in batch.payments}
    assert len(payments) == len(batch.payments)
    by_payment: dict[str, Decimal] = defaultdict(Decimal)
    for a in batch.allocations:
        assert invoices[a.invoice].customer == payments[a.payment].customer
        assert a.date >= invoices[a.invoice].issue_date
        assert a.date == payments[a.payment].date
        by_payment[a.payment] += a.amount
    for number, total in allocated.items():
        assert total <= invoices[number].amount, number
    for reference, total in by_payment.items():
        assert total <= payments[reference].amount, reference
    pairs = [(a.payment, a.invoice) for a in batch.allocations]
    assert len(pairs) == len(set(pairs))


def test_it_names_payments_and_credit_notes_as_french_books_do(batch):
    kinds = Counter(p.kind for p in batch.payments)
    assert kinds["payment"] > 1000
    assert kinds["credit_note"] >= 20
    for p in batch.payments:
        pattern = r"AV-\d{4}-\d{5}" if p.kind == "credit_note" else r"(VIR|CHQ|LCR)-\d{8}-\d{5}"
        assert re.fullmatch(pattern, p.reference), p.reference
    assert sum(p.reference.startswith("VIR-") for p in batch.payments) > 0.6 * kinds["payment"]


def test_it_pays_some_invoices_on_time_and_others_late(batch, allocated):
    invoices = {i.number: i for i in batch.invoices}
    last: dict[str, dt.date] = {}
    for a in batch.allocations:
        last[a.invoice] = max(last.get(a.invoice, a.date), a.date)
    delays = [
        (last[n] - invoices[n].due_date).days for n in last if allocated[n] == invoices[n].amount
    ]
    late = [d for d in delays if d > 0]
    assert 0.25 < len(late) / len(delays) < 0.75
    assert sum(1 for d in late if 10 <= d <= 40) > 0.3 * len(late)
    assert sum(1 for d in late if d > 60) > 10  # the chronic late payers


def test_it_leaves_open_items_in_every_aging_bucket(batch, allocated):
    counts = Counter(
        bucket((TODAY - i.due_date).days) for i in batch.invoices if allocated[i.number] < i.amount
    )
    for name in BUCKETS:
        assert counts[name] >= 10, counts


def test_it_has_disputes_and_partial_payments(demo, batch, allocated):
    disputed = [i for i in batch.invoices if i.disputed]
    assert 0.02 <= len(disputed) / len(batch.invoices) <= 0.04
    assert all(allocated[i.number] < i.amount for i in disputed)
    assert {d.invoice for d in demo.disputes} == {i.number for i in disputed}
    assert all(d.opened_on <= TODAY for d in demo.disputes)
    partial = [i for i in batch.invoices if 0 < allocated[i.number] < i.amount]
    assert len(partial) >= 10


def test_it_plans_manual_holds_and_one_insolvency(demo, batch):
    kinds = Counter(h.kind for h in demo.holds)
    assert kinds == {"manual": 2, "insolvency": 1}
    assert all(h.customer in batch.customers for h in demo.holds)
    for hold in demo.holds:
        assert hold.start_date <= TODAY
        if hold.kind == "manual":
            assert hold.end_date and hold.end_date > TODAY
    (insolvency,) = [h for h in demo.holds if h.kind == "insolvency"]
    assert insolvency.start_date < insolvency.published_on <= TODAY
    # Once proceedings are opened, earlier debts may no longer be paid.
    late_payments = [
        p
        for p in batch.payments
        if p.customer == insolvency.customer and p.date >= insolvency.start_date
    ]
    assert late_payments == []


# --- loading into the database ----------------------------------------------------------


def ledger_counts(organisation):
    from relance.ledger.models import (
        Address,
        Allocation,
        Contact,
        Customer,
        Dispute,
        Hold,
        Invoice,
        Payment,
    )

    models = (Customer, Contact, Address, Invoice, Payment, Allocation, Dispute, Hold)
    return {m.__name__: m.objects.filter(organisation=organisation).count() for m in models}


@pytest.mark.django_db
def test_it_loads_the_same_demo_twice_without_changing_anything(past):
    from django.contrib.auth import get_user_model

    from relance.accounts.models import Membership
    from relance.demo.load import load_demo

    organisation = load_demo(TODAY, customers=60)
    first = ledger_counts(organisation)
    again = load_demo(TODAY, customers=60)
    assert again.pk == organisation.pk
    assert ledger_counts(organisation) == first
    data = generate(TODAY, customers=60)
    assert first["Invoice"] == len(data.batch.invoices)
    assert first["Payment"] == len(data.batch.payments)
    assert first["Hold"] == len(data.holds) == 3
    assert first["Dispute"] == len(data.disputes) > 0
    assert organisation.name == "Démo Industrie SAS"
    user = get_user_model().objects.get(username="demo@relance.example")
    assert user.check_password("relance-demo")
    assert Membership.objects.get(user=user, organisation=organisation).role == "admin"


@pytest.mark.django_db
def test_it_stores_the_balances_and_disputes_the_generator_planned(past):
    from relance.demo.load import load_demo
    from relance.ledger.models import Dispute, Invoice

    organisation = load_demo(TODAY, customers=60)
    data = generate(TODAY, customers=60)
    paid: dict[str, Decimal] = defaultdict(Decimal)
    for a in data.batch.allocations:
        paid[a.invoice] += a.amount
    expected = {i.number: i.amount - paid[i.number] for i in data.batch.invoices}
    stored = dict(
        Invoice.objects.filter(organisation=organisation).values_list("number", "balance")
    )
    assert stored == expected
    planned = {d.invoice: (d.reason, d.opened_on) for d in data.disputes}
    disputes = Dispute.objects.filter(organisation=organisation).select_related("invoice")
    assert {d.invoice.number: (d.reason, d.opened_on) for d in disputes} == planned


@pytest.mark.django_db
def test_it_regenerates_the_ledger_for_another_day(past):
    from relance.demo.load import load_demo
    from relance.ledger.models import Invoice, Payment

    load_demo(TODAY, customers=60)
    later = TODAY + dt.timedelta(days=45)
    organisation = load_demo(later, customers=60)
    data = generate(later, customers=60)
    invoices = Invoice.objects.filter(organisation=organisation)
    numbers = set(invoices.values_list("number", flat=True))
    assert numbers == {i.number for i in data.batch.invoices}
    assert Payment.objects.filter(organisation=organisation).count() == len(data.batch.payments)
    assert ledger_counts(organisation)["Hold"] == 3


@pytest.mark.django_db
def test_it_prints_the_address_and_login_from_the_demo_command(monkeypatch, past):
    from django.core.management import call_command

    from relance.console.management.commands import demo
    from relance.demo.load import load

    # The module's demo (fewer customers than the command's 300, replayed once).
    monkeypatch.setattr(demo, "load", lambda day: load(day, customers=CUSTOMERS))
    out = StringIO()
    call_command("demo", "--no-serve", "--date", "2026-03-02", "--port", "8123", stdout=out)
    text = out.getvalue()
    assert "http://127.0.0.1:8123/" in text
    assert "demo@relance.example" in text
    assert "relance-demo" in text
    assert f"{CUSTOMERS} customers" in text


@pytest.mark.django_db
def test_it_shows_the_demo_user_its_organisation_and_counts(client, settings, past, time_machine):
    from relance.demo.load import load_demo
    from relance.ledger.models import Invoice

    # Pages link hashed static files; without collectstatic, plain names will do.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    organisation = load_demo(TODAY, customers=CUSTOMERS)
    time_machine.move_to(dt.datetime(2026, 3, 2, 10, tzinfo=dt.UTC), tick=False)
    # Through the sign-in page: sign-in throttling wants the request (client.login has none).
    signed_in = client.post(
        "/login/", {"username": "demo@relance.example", "password": "relance-demo"}
    )
    assert signed_in.status_code == 302
    # Today: the day's work of a lived-in ledger (the first page after sign-in).
    today = client.get("/").content.decode()
    assert "Démo Industrie SAS" in today
    assert today.count('class="work-line"') >= 10
    # The dashboard: its open invoices are the ledger's.
    page = client.get("/dashboard/").content.decode()
    open_count = Invoice.objects.filter(organisation=organisation, balance__gt=0).count()
    assert open_count > 0
    assert f'class="figure-open-items" href="/customers/?currency=EUR">{open_count}</a>' in page


# --- the past weeks ---------------------------------------------------------------------
# One demo, loaded once for these tests (committed, deleted at the end): replaying eight
# weeks takes seconds. TODAY is a Monday: the run of Friday and today's are both there.

CUSTOMERS = 60


@pytest.fixture(scope="module")
def past(django_db_setup, django_db_blocker):
    from relance.demo.load import clear, load

    with django_db_blocker.unblock():
        organisation, replayed = load(TODAY, customers=CUSTOMERS)
        yield organisation, replayed
        from django.contrib.auth import get_user_model

        clear(organisation)
        organisation.delete()
        get_user_model().objects.filter(email="demo@relance.example").delete()


@pytest.fixture
def demo_org(past, db):
    return past[0]


def mail_files(organisation):
    """The messages the demo's mail backend wrote, by Message-ID."""
    from email import message_from_bytes, policy

    from relance.demo.load import mail_dir

    separator = b"\n" + b"-" * 79 + b"\n"
    messages = {}
    for path in sorted(mail_dir(organisation).iterdir()):
        for chunk in path.read_bytes().split(separator):
            if chunk.strip():
                message = message_from_bytes(chunk.lstrip(), policy=policy.default)
                messages[message["Message-ID"]] = message
    return messages


def body(message) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def test_it_replays_eight_weeks_before_today(demo):
    assert demo.start == TODAY - dt.timedelta(weeks=8)


def test_it_sends_the_past_weeks_reminders_through_the_outbox(demo_org, past):
    from relance.dunning.models import CommStatus, Communication

    sent = Communication.objects.filter(
        organisation=demo_org, channel="email", purpose="reminder", status=CommStatus.SENT
    )
    days = set(sent.values_list("send_on", flat=True))
    assert min(days) == TODAY - dt.timedelta(weeks=8)
    assert max(days) == TODAY
    assert len(days) >= 30  # most business days of eight weeks
    messages = mail_files(demo_org)
    assert (
        len(messages)
        == sent.count()
        + Communication.objects.filter(
            organisation=demo_org, purpose="thanks", status=CommStatus.SENT
        ).count()
    ), unsettled(demo_org)
    for comm in sent.order_by("pk")[:40]:
        message = messages[comm.message_id]
        assert str(message["Subject"]).strip() == comm.subject
        assert comm.recipient.split(", ")[0] in message["To"]
        assert message["Reply-To"].addresses[0].addr_spec == demo_org.email
        text = body(message)
        for number in comm.items.filter(dropped="").values_list("invoice__number", flat=True):
            assert number in text
        # Dated the day it left, not the day the demo was loaded.
        assert timezone_date(comm.sent_at) == comm.send_on
    # The letters the replay wrote left through the outbox too, filed for printing.
    from relance.documents.models import Letter

    letters = Letter.objects.filter(organisation=demo_org).count()
    assert past[1].counts["outbox_sent"] == len(messages) + letters


def unsettled(organisation) -> list[tuple]:
    """What did not leave as the demo meant (shown when a test about sending fails)."""
    from relance.dunning.models import CommStatus, Communication

    return list(
        Communication.objects.filter(organisation=organisation)
        .exclude(status__in=[CommStatus.SENT, CommStatus.CANCELLED, CommStatus.AWAITING_APPROVAL])
        .exclude(status=CommStatus.QUEUED, send_on__gt=TODAY)
        .values_list("run_date", "channel", "purpose", "status", "last_error", "claimed_at")[:10]
    )


def timezone_date(moment):
    from zoneinfo import ZoneInfo

    return moment.astimezone(ZoneInfo("Europe/Paris")).date()


def test_it_thanks_customers_whose_reminded_invoices_were_paid(demo_org):
    from relance.dunning.models import CommStatus, Communication

    thanks = Communication.objects.filter(organisation=demo_org, purpose="thanks")
    assert thanks.filter(status=CommStatus.SENT).count() >= 5, unsettled(demo_org)
    for comm in thanks.filter(status=CommStatus.SENT):
        balances = comm.items.values_list("invoice__balance", flat=True)
        assert balances and all(balance <= 0 for balance in balances)
    messages = mail_files(demo_org)
    sample = thanks.filter(status=CommStatus.SENT).first()
    number = sample.items.values_list("invoice__number", flat=True)[0]
    assert number in body(messages[sample.message_id])


def test_it_closes_the_calls_of_earlier_days_with_their_outcome(demo_org):
    from relance.dunning.models import Task
    from relance.ledger.models import TimelineEvent

    calls = Task.objects.filter(organisation=demo_org, kind="call")
    done = calls.filter(status=Task.Status.DONE)
    assert done.count() >= 10
    for task in done:
        assert task.data["note"] and task.communication.status == "sent"
        assert dt.date.fromisoformat(task.data["done_on"]) > task.due_on
    events = TimelineEvent.objects.filter(organisation=demo_org, kind="task_done")
    assert events.count() >= done.count()
    # Friday's and today's work is still to do.
    open_tasks = Task.objects.filter(organisation=demo_org, status=Task.Status.OPEN)
    assert open_tasks.filter(kind__in=["call", "registered_letter", "letter"]).exists()
    friday = TODAY - dt.timedelta(days=3)
    assert all(
        t.due_on >= friday
        for t in open_tasks.filter(kind__in=["call", "registered_letter", "letter"])
    )


def test_it_keeps_one_promise_and_breaks_another(demo_org):
    from relance.dunning.models import Promise
    from relance.ledger.models import Invoice, TimelineEvent

    promises = {p.status: p for p in Promise.objects.filter(organisation=demo_org)}
    assert set(promises) == {"kept", "broken"}
    kept, broken = promises["kept"], promises["broken"]
    assert Invoice.objects.get(pk=kept.invoice_id).settled_on <= kept.promised_on
    assert broken.broken_on > broken.promised_on + dt.timedelta(days=broken.grace_days)
    assert Invoice.objects.get(pk=broken.invoice_id).balance > 0
    kinds = set(TimelineEvent.objects.filter(organisation=demo_org).values_list("kind", flat=True))
    assert {"promise_recorded", "promise_kept", "promise_broken"} <= kinds
    planned = generate(TODAY, customers=CUSTOMERS).promises
    assert {p.invoice for p in planned} == {kept.invoice.number, broken.invoice.number}


def test_it_resolves_one_dispute_and_leaves_the_others_open(demo_org):
    from relance.ledger.models import Dispute

    disputes = Dispute.objects.filter(organisation=demo_org)
    resolved = disputes.exclude(resolved_on=None)
    assert resolved.count() == 1
    assert resolved.get().resolution
    assert disputes.filter(resolved_on=None).count() >= 1
    # Opened by the import of the first day, and on their own days by a person since.
    assert {"demo", "manual"} == set(disputes.values_list("source", flat=True))


def test_it_follows_a_payment_plan_whose_first_instalment_is_paid(demo_org):
    from relance.dunning.models import PaymentPlan

    plan = PaymentPlan.objects.get(organisation=demo_org)
    assert plan.status == PaymentPlan.Status.ACTIVE
    paid = [i.paid_on for i in plan.instalments.all()]
    assert paid[0] is not None and paid[1:] == [None, None]


def test_it_leaves_formal_notices_awaiting_approval_and_sent_the_approved_ones(demo_org):
    from relance.dunning.models import CommStatus, Communication
    from relance.ledger.models import TimelineEvent

    notices = Communication.objects.filter(organisation=demo_org, template="formal_notice")
    assert notices.filter(status=CommStatus.AWAITING_APPROVAL).exists()
    assert TimelineEvent.objects.filter(
        organisation=demo_org, kind="communication_approved"
    ).exists()
    assert (
        notices.filter(status=CommStatus.SENT).exists()
        or Communication.objects.filter(
            organisation=demo_org, template="handover", status=CommStatus.SENT
        ).exists()
    )


def test_it_records_a_bounce_with_its_task(demo_org):
    from relance.dunning.models import CommStatus, Communication, Task
    from relance.ledger.models import Contact, TimelineEvent

    [contact] = Contact.objects.filter(organisation=demo_org, email_valid=False)
    [task] = Task.objects.filter(organisation=demo_org, kind="invalid_email")
    assert task.status == Task.Status.OPEN and task.customer_id == contact.customer_id
    assert contact.email in task.title
    [event] = TimelineEvent.objects.filter(organisation=demo_org, kind="email_bounced")
    bounced = Communication.objects.get(pk=event.data["communication"])
    assert bounced.last_error.startswith("bounced: ")
    assert task.due_on == bounced.send_on
    # What was sent to that customer afterwards went elsewhere.
    later = Communication.objects.filter(
        customer_id=contact.customer_id, channel="email", status=CommStatus.SENT,
        send_on__gt=bounced.send_on,
    )  # fmt: skip
    assert all(contact.email not in c.recipient for c in later)


def test_it_dates_the_timeline_on_the_days_things_happened(demo_org):
    from relance.ledger.models import TimelineEvent

    dates = {timezone_date(at) for at in TimelineEvent.objects.filter(
        organisation=demo_org).values_list("at", flat=True)}  # fmt: skip
    assert min(dates) == TODAY - dt.timedelta(weeks=8)
    assert max(dates) == TODAY
    assert len(dates) >= 35


def test_it_sets_the_organisations_identity_with_valid_numbers(demo_org):
    from stdnum import bic, iban
    from stdnum.fr import siren as fr_siren
    from stdnum.fr import tva

    assert demo_org.email and demo_org.phone and demo_org.address and demo_org.signature
    assert fr_siren.is_valid(demo_org.siren)
    assert tva.is_valid(demo_org.vat_number)
    assert demo_org.vat_number == "FR" + fr_siren.to_tva(demo_org.siren)
    assert iban.is_valid(demo_org.iban) and demo_org.iban.startswith("FR76")
    assert bic.is_valid(demo_org.bic)


@pytest.mark.django_db
def test_it_changes_nothing_when_loaded_again_for_the_same_day(demo_org):
    from relance.demo.load import load
    from relance.dunning.models import Communication, Promise, Task
    from relance.ledger.models import TimelineEvent

    def counts():
        return {
            **ledger_counts(demo_org),
            **{m.__name__: m.objects.filter(organisation=demo_org).count()
               for m in (Communication, Task, Promise, TimelineEvent)},
            "sent": Communication.objects.filter(status="sent").count(),
        }  # fmt: skip

    before = counts()
    organisation, replayed = load(TODAY, customers=CUSTOMERS)
    assert organisation.pk == demo_org.pk and replayed is None
    assert counts() == before


@pytest.mark.django_db
def test_it_shows_the_last_business_days_work_on_a_weekend(demo_org):
    from relance.demo.load import load
    from relance.dunning.models import CommStatus, Communication

    saturday = TODAY - dt.timedelta(days=2)
    organisation, replayed = load(saturday, customers=CUSTOMERS)
    friday = saturday - dt.timedelta(days=1)
    assert replayed is not None and replayed.last_business_day == friday
    assert replayed.last_run is not None and replayed.last_run.counts["queued"] > 0
    comms = Communication.objects.filter(organisation=organisation)
    assert comms.filter(run_date=friday, status=CommStatus.SENT).exists(), unsettled(organisation)
    assert not comms.filter(run_date=saturday).exists()
    assert comms.filter(run_date__lt=friday).exists()


def test_it_gives_the_demo_a_credit_team_sharing_the_customers(demo_org):
    from relance.accounts.models import Membership
    from relance.ledger.models import Customer

    roles = dict(
        Membership.objects.filter(organisation=demo_org).values_list("user__email", "role")
    )
    assert sorted(roles.values()) == ["admin", "collector", "collector", "manager", "viewer"]
    customers = Customer.objects.filter(organisation=demo_org)
    by_collector = {
        email: customers.filter(collector__email=email).count()
        for email, role in roles.items() if role == "collector"
    }  # fmt: skip
    assert all(n >= CUSTOMERS // 3 for n in by_collector.values()), by_collector
    assert customers.filter(collector__isnull=True).count() >= CUSTOMERS // 6
