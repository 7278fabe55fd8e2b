"""Webhooks out: events from the timeline delivered to a real receiver on loopback that
checks the Standard Webhooks signature; retries with back-off, 410, time-outs, replay,
isolation between organisations, one delivery per event however the dispatcher runs, the
command."""

from __future__ import annotations

import datetime as dt
import json
import threading
from datetime import date, datetime, timedelta
from io import StringIO
from zoneinfo import ZoneInfo

import factories as make
import pytest
import webhook_receiver
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from relance.audit.models import AuditEvent
from relance.hooks import delivery, dispatch, endpoints, policy, signing, targets
from relance.hooks.models import Delivery, Endpoint
from relance.ledger import timeline
from relance.ledger.models import TimelineEvent

PARIS = ZoneInfo("Europe/Paris")
D = date(2026, 11, 23)
START = datetime(2026, 11, 23, 9, 30, tzinfo=PARIS)


@pytest.fixture(autouse=True)
def loopback(settings):
    """A receiver on this machine: plain http and loopback allowed, as with DEBUG."""
    settings.RELANCE_WEBHOOKS_ALLOW_HTTP = True
    settings.RELANCE_WEBHOOKS_ALLOW_PRIVATE = True


@pytest.fixture
def clock(time_machine):
    time_machine.move_to(START, tick=False)
    return time_machine


@pytest.fixture
def receiver():
    server = webhook_receiver.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


def subscribe(org, receiver, **kw):
    endpoint = endpoints.add(org, receiver.url, **kw)
    receiver.secret = endpoint.secret
    return endpoint


def send_due(org):
    dispatch.dispatch(org.pk)
    return delivery.deliver_due(organisation_id=org.pk)


def disputed(org, reference="C001", number="F-001"):
    customer = make.customer(org, reference)
    invoice = make.invoice(customer, number, due=D - timedelta(days=10), amount="1234.50")
    make.dispute(invoice, on=D, reason="quality")
    return invoice


# -- signatures ---------------------------------------------------------------------------


def test_it_signs_as_the_specification_s_example():
    # The example of the Standard Webhooks reference libraries' tests.
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    assert signing.sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body) == (
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    )


def test_it_verifies_only_a_fresh_untouched_message_signed_with_the_secret():
    secret, other = signing.new_secret(), signing.new_secret()
    assert secret.startswith("whsec_") and len(signing.key(secret)) == 32
    now = 1_800_000_000
    headers = signing.headers([secret], "evt_1", now, b'{"a":1}')
    signing.verify(secret, headers, b'{"a":1}', now=now + 60)
    for bad_secret, body, at in (
        (other, b'{"a":1}', now),
        (secret, b'{"a":2}', now),
        (secret, b'{"a":1}', now + 301),
    ):
        with pytest.raises(signing.VerificationError):
            signing.verify(bad_secret, headers, body, now=at)
    with pytest.raises(signing.VerificationError):
        signing.verify(secret, {"webhook-id": "evt_1"}, b'{"a":1}', now=now)


# -- delivery -----------------------------------------------------------------------------


def test_it_delivers_a_dispute_opened_signed_to_a_receiver_that_verifies_it(org, receiver, clock):
    subscribe(org, receiver)
    invoice = disputed(org)
    counts = send_due(org)
    assert counts == {"succeeded": 1}
    [got] = receiver.received
    assert got.verified, got.problem
    payload = got.payload
    assert payload["type"] == "dispute.opened"
    assert payload["id"] == got.headers["webhook-id"] and payload["id"].startswith("evt_")
    assert got.headers["webhook-timestamp"] == str(int(START.timestamp()))
    data = payload["data"]
    assert data["customer"] == {"reference": "C001", "name": "Client C001 SAS"}
    assert data["invoice"]["number"] == invoice.number
    assert data["invoice"]["amount"] == "1234.50" and data["invoice"]["balance"] == "1234.50"
    assert data["dispute"]["reason"] == "quality" and data["dispute"]["opened_on"] == "2026-11-23"
    row = Delivery.objects.get()
    assert (row.status, row.attempts, row.last_status_code) == ("succeeded", 1, 200)
    assert row.response_excerpt == "ok"


def test_it_sends_only_the_types_an_endpoint_subscribes_to(org, receiver, clock):
    subscribe(org, receiver, event_types=["promise.made"])
    invoice = disputed(org)
    make.promise(
        invoice.customer,
        promised_on=D + timedelta(days=7),
        invoice=invoice,
        amount=make.money("600"),
    )
    send_due(org)
    assert [r.payload["type"] for r in receiver.received] == ["promise.made"]
    data = receiver.received[0].payload["data"]
    assert data["promise"]["promised_on"] == "2026-11-30" and data["promise"]["amount"] == "600.00"


def test_it_tells_an_invoice_paid_once_when_its_last_payment_arrives(org, receiver, clock):
    subscribe(org, receiver, event_types=["invoice.paid"])
    customer = make.customer(org, "C002")
    invoice = make.invoice(customer, "F-777", due=D, amount="300.00")
    make.pay(invoice, "100.00", on=D)
    assert send_due(org) == {}
    make.pay(invoice, on=D)  # what is left
    make.pay(make.invoice(customer, "F-778", due=D, amount="50.00"), on=D)
    send_due(org)
    events = [r.payload for r in receiver.received]
    assert [(e["type"], e["data"]["invoice"]["number"]) for e in events] == [
        ("invoice.paid", "F-777"),
        ("invoice.paid", "F-778"),
    ]
    assert events[0]["data"]["invoice"]["balance"] == "0.00"
    assert events[0]["data"]["invoice"]["settled_on"] == "2026-11-23"
    assert TimelineEvent.objects.filter(kind="invoice_paid").count() == 2


def test_it_tells_portal_actions_and_replies_as_their_parts_wrote_them(org, receiver, clock):
    subscribe(org, receiver, event_types=["portal.action", "reply.received"])
    customer = make.customer(org, "C003")
    timeline.record(
        org,
        customer.pk,
        "portal_action",
        "I have paid",
        data={"action": "paid", "amount": make.money("10"), "on": D},
    )
    timeline.record(org, customer.pk, "reply_received", "Reply", data={"reply": 9, "kind": "copy"})
    timeline.record(org, customer.pk, "note", "not an event")
    send_due(org)
    got = [(r.payload["type"], r.payload["data"]["details"]) for r in receiver.received]
    assert got == [
        ("portal.action", {"action": "paid", "amount": "10.00", "on": "2026-11-23"}),
        ("reply.received", {"reply": 9, "kind": "copy"}),
    ]


def test_it_retries_a_500_after_a_minute_with_the_same_id(org, receiver, clock):
    subscribe(org, receiver)
    disputed(org)
    receiver.answer(500)
    assert send_due(org) == {"pending": 1}
    row = Delivery.objects.get()
    assert row.attempts == 1 and row.last_status_code == 500 and row.last_error == "HTTP 500"
    wait = row.next_attempt_at - START
    assert timedelta(minutes=1) <= wait <= timedelta(minutes=1, seconds=12)
    assert delivery.deliver_due() == {}  # not due yet
    clock.move_to(START + timedelta(seconds=73), tick=False)
    assert delivery.deliver_due() == {"succeeded": 1}
    first, second = receiver.received
    assert first.verified and second.verified
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert int(second.headers["webhook-timestamp"]) == int(first.headers["webhook-timestamp"]) + 73
    row.refresh_from_db()
    assert (row.status, row.attempts) == ("succeeded", 2)
    assert Endpoint.objects.get().failing_since is None


def test_it_backs_off_along_the_schedule_then_gives_up(org, receiver, clock):
    subscribe(org, receiver)
    disputed(org)
    now = START
    dispatch.dispatch(org.pk)
    for n in range(len(policy.SCHEDULE) + 1):
        receiver.answer(503)
        assert delivery.deliver_due() == ({"pending": 1} if n < 6 else {"dead": 1})
        row = Delivery.objects.get()
        if n < 6:
            wait = row.next_attempt_at - now
            assert policy.SCHEDULE[n] <= wait <= policy.SCHEDULE[n] * 1.2
            now = row.next_attempt_at
            clock.move_to(now, tick=False)
    assert (row.status, row.attempts, row.next_attempt_at) == ("dead", 7, None)
    assert len(receiver.received) == 7


def test_it_waits_as_long_as_retry_after_says(org, receiver, clock):
    subscribe(org, receiver)
    disputed(org)
    receiver.answer(429, {"Retry-After": "900"})
    send_due(org)
    row = Delivery.objects.get()
    assert row.next_attempt_at - START == timedelta(seconds=900)


def test_it_does_not_retry_a_refusal(org, receiver, clock):
    subscribe(org, receiver)
    disputed(org)
    receiver.answer(400)
    assert send_due(org) == {"failed": 1}
    clock.move_to(START + timedelta(days=1), tick=False)
    assert delivery.deliver_due() == {}
    assert len(receiver.received) == 1


def test_it_disables_an_endpoint_that_answers_gone_and_tells_the_administrators(
    org, owner, receiver, clock, mailoutbox
):
    endpoint = subscribe(org, receiver)
    disputed(org)
    disputed(org, "C009", "F-009")
    receiver.answer(410)
    counts = send_due(org)
    assert counts == {"failed": 1, "skipped": 1}  # the other waits: the endpoint is disabled
    endpoint.refresh_from_db()
    assert not endpoint.active and "410" in endpoint.disabled_reason
    assert Delivery.objects.filter(status="pending").count() == 1
    [message] = mailoutbox
    assert message.to == ["alice@acme.test"] and receiver.url in message.body
    assert AuditEvent.objects.filter(action="webhooks.endpoint_disabled").count() == 1


def test_it_disables_an_endpoint_failing_for_days(org, owner, receiver, clock, settings):
    settings.RELANCE_WEBHOOKS_DISABLE_AFTER_DAYS = 2
    endpoint = subscribe(org, receiver)
    disputed(org)
    receiver.answer(500)
    send_due(org)
    clock.move_to(START + timedelta(days=2), tick=False)
    disputed(org, "C010", "F-010")
    receiver.answer(500)
    receiver.answer(500)
    send_due(org)
    endpoint.refresh_from_db()
    assert not endpoint.active and "2 days" in endpoint.disabled_reason


def test_it_retries_a_receiver_that_does_not_answer_in_time(org, receiver, clock, settings):
    settings.RELANCE_WEBHOOKS_TIMEOUT = 1
    subscribe(org, receiver)
    disputed(org)
    receiver.answer(200, delay=2)
    assert send_due(org) == {"pending": 1}
    row = Delivery.objects.get()
    assert row.last_status_code is None and "no answer within 1 s" in row.last_error


def test_it_replays_the_same_event_with_a_new_timestamp_and_signature(org, receiver, clock):
    subscribe(org, receiver)
    disputed(org)
    send_due(org)
    row = Delivery.objects.get()
    clock.move_to(START + timedelta(hours=3), tick=False)
    assert endpoints.replay(org, ids=[row.pk]) == [row.pk]
    assert delivery.deliver([row.pk]) == {"succeeded": 1}
    first, again = receiver.received
    assert again.verified
    assert again.headers["webhook-id"] == first.headers["webhook-id"]
    assert again.body == first.body
    assert (
        int(again.headers["webhook-timestamp"]) - int(first.headers["webhook-timestamp"])
        == 3 * 3600
    )
    assert again.headers["webhook-signature"] != first.headers["webhook-signature"]
    row.refresh_from_db()
    assert row.replays == 1
    assert AuditEvent.objects.filter(action="webhooks.replayed").count() == 1


def test_it_signs_with_both_secrets_while_one_is_rotated(org, receiver, clock):
    endpoint = subscribe(org, receiver)
    old = endpoint.secret
    endpoint = endpoints.rotate(org, endpoint.pk)
    disputed(org)
    send_due(org)  # the receiver still has the old secret
    assert receiver.received[-1].verified
    signing.verify(endpoint.secret, receiver.received[-1].headers, receiver.received[-1].body)
    assert len(receiver.received[-1].headers["webhook-signature"].split()) == 2
    clock.move_to(START + timedelta(hours=25), tick=False)
    disputed(org, "C011", "F-011")
    send_due(org)
    assert not receiver.received[-1].verified  # the old secret no longer signs
    receiver.secret = endpoint.secret
    assert old != endpoint.secret


# -- the dispatcher -----------------------------------------------------------------------


def test_it_keeps_each_organisation_s_events_to_its_own_endpoints(org, other_org, clock):
    ours, theirs = webhook_receiver.start(), webhook_receiver.start()
    try:
        subscribe(org, ours)
        subscribe(other_org, theirs)
        disputed(org, "C001", "F-001")
        disputed(other_org, "G001", "G-001")
        disputed(other_org, "G002", "G-002")
        for pk in dispatch.organisations_with_endpoints():
            dispatch.dispatch(pk)
        delivery.deliver_due()
        assert [r.payload["data"]["customer"]["reference"] for r in ours.received] == ["C001"]
        assert sorted(r.payload["data"]["customer"]["reference"] for r in theirs.received) == [
            "G001",
            "G002",
        ]
        assert all(r.verified for r in ours.received + theirs.received)
    finally:
        for server in (ours, theirs):
            server.server.shutdown()
            server.server.server_close()


def test_it_sends_nothing_from_before_the_endpoint_existed(org, receiver, clock):
    disputed(org, "C001", "F-001")
    subscribe(org, receiver)
    disputed(org, "C002", "F-002")
    send_due(org)
    assert [r.payload["data"]["invoice"]["number"] for r in receiver.received] == ["F-002"]


def test_it_creates_each_delivery_once_when_dispatched_twice(org, receiver, clock):
    subscribe(org, receiver)
    subscribe(org, receiver, event_types=["dispute.opened"])
    disputed(org)
    assert dispatch.dispatch(org.pk) == 2
    assert dispatch.dispatch(org.pk) == 0
    clock.move_to(START + dispatch.SETTLE * 2, tick=False)  # the cursor settles
    assert dispatch.dispatch(org.pk) == 0
    disputed(org, "C002", "F-002")
    assert dispatch.dispatch(org.pk) == 2
    assert Delivery.objects.count() == 4


def test_it_creates_each_delivery_once_when_another_dispatcher_wrote_them_meanwhile(
    org, clock, monkeypatch
):
    endpoints.add(org, "http://127.0.0.1:9/hooks")
    for n in range(5):
        disputed(org, f"C{n:03d}", f"F-{n:03d}")
    real = dispatch.events.Payloads
    interrupted = []

    def another_dispatcher_first(*args, **kwargs):
        # The first dispatcher has read the events and found none delivered; before it
        # writes, a second one runs to the end.
        if not interrupted:
            interrupted.append(True)
            assert dispatch.dispatch(org.pk) == 5
        return real(*args, **kwargs)

    monkeypatch.setattr(dispatch.events, "Payloads", another_dispatcher_first)
    dispatch.dispatch(org.pk)
    assert interrupted and Delivery.objects.count() == 5


@pytest.mark.django_db(transaction=True)
def test_it_creates_each_delivery_once_when_dispatched_at_once(clock):
    if connection.vendor == "sqlite" and connection.is_in_memory_db():
        pytest.skip("threads share an in-memory database by table locks: PostgreSQL only")
    org = make.organisation("acme")
    endpoints.add(org, "http://127.0.0.1:9/hooks")
    for n in range(30):
        disputed(org, f"C{n:03d}", f"F-{n:03d}")
    barrier = threading.Barrier(3)
    failures: list[BaseException] = []

    def dispatcher() -> None:
        try:
            barrier.wait()
            dispatch.dispatch(org.pk, batch=7)
        except BaseException as exc:
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=dispatcher) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures
    assert Delivery.objects.count() == 30
    assert Delivery.objects.values("event").distinct().count() == 30


# -- where webhooks may go ----------------------------------------------------------------


def resolving_to(*addresses):
    return lambda host, port: addresses


@pytest.mark.parametrize(
    ("url", "addresses"),
    [
        ("http://hooks.example.com/x", ("93.184.216.34",)),
        ("https://localhost/x", ("127.0.0.1",)),
        ("https://internal.example.com/x", ("10.0.0.5",)),
        ("https://metadata.example.com/x", ("169.254.169.254",)),
        ("https://six.example.com/x", ("::1",)),
        ("https://mapped.example.com/x", ("::ffff:192.168.1.1",)),
        ("https://user:pw@hooks.example.com/x", ("93.184.216.34",)),
        ("ftp://hooks.example.com/x", ("93.184.216.34",)),
    ],
)
def test_it_refuses_plain_http_and_private_addresses_in_production(url, addresses):
    with pytest.raises(targets.Refused):
        targets.check(url, allow_http=False, allow_private=False, resolve=resolving_to(*addresses))


def test_it_accepts_https_to_a_public_address():
    targets.check(
        "https://hooks.example.com/x",
        allow_http=False,
        allow_private=False,
        resolve=resolving_to("93.184.216.34", "2606:2800:220:1::248"),
    )


def test_it_refuses_at_send_time_a_url_that_now_points_inside(org, receiver, clock, settings):
    subscribe(org, receiver)
    disputed(org)
    settings.RELANCE_WEBHOOKS_ALLOW_PRIVATE = False
    assert send_due(org) == {"failed": 1}
    assert "private, loopback" in Delivery.objects.get().last_error
    assert receiver.received == []


# -- the command --------------------------------------------------------------------------


def command(*args):
    out = StringIO()
    call_command("webhooks", *args, "--json", stdout=out, stderr=StringIO())
    return json.loads(out.getvalue())


def test_it_adds_lists_tests_and_removes_an_endpoint_from_the_command(org, receiver, clock):
    added = command(
        "add", receiver.url, "--events", "dispute.opened,invoice.paid", "--description", "ERP"
    )["endpoint"]
    receiver.secret = added["secret"]
    assert added["events"] == ["dispute.opened", "invoice.paid"]
    listed = command("list")["endpoints"]
    assert [e["url"] for e in listed] == [receiver.url] and "secret" not in listed[0]
    tested = command("test", str(added["id"]))["delivery"]
    assert tested["status"] == "succeeded" and receiver.received[0].verified
    assert receiver.received[0].payload["type"] == "webhook.test"
    command("remove", str(added["id"]))
    assert not Endpoint.objects.exists()
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"webhooks.endpoint_added", "webhooks.endpoint_removed"} <= actions


def test_it_lists_failed_deliveries_and_replays_them_since_a_day(org, receiver, clock):
    subscribe(org, receiver)
    disputed(org, "C001", "F-001")
    disputed(org, "C002", "F-002")
    receiver.answer(400)
    receiver.answer(404)
    command("deliver")
    failed = command("deliveries", "--status", "failed")["deliveries"]
    assert len(failed) == 2 and {d["last_status_code"] for d in failed} == {400, 404}
    replayed = command("replay", "--since", "2026-11-23", "--status", "failed")
    assert sorted(replayed["replayed"]) == sorted(d["id"] for d in failed)
    assert replayed["outcome"] == {"succeeded": 2}
    assert command("deliveries", "--status", "failed")["deliveries"] == []


def test_it_refuses_bad_input_with_the_exit_codes_of_every_command(org, other_org, clock):
    theirs = endpoints.add(other_org, "http://127.0.0.1:9/x")
    cases = [
        (("add", "ftp://x.example.com/"), 1),
        (("add", "http://127.0.0.1:9/x", "--events", "invoice.lost"), 1),
        (("remove", str(theirs.pk), "--org", "acme"), 1),  # another organisation's
        (("replay", "999999", "--org", "acme"), 1),
        (("replay", "--org", "acme"), 2),
    ]
    for args, code in cases:
        with pytest.raises(CommandError) as refused:
            call_command("webhooks", *args, stdout=StringIO(), stderr=StringIO())
        assert refused.value.returncode == code, args
    assert Endpoint.objects.filter(organisation=org).count() == 0


def test_it_sends_from_the_worker_s_loop(org, receiver, clock, worker_in_transaction):
    subscribe(org, receiver)
    disputed(org)
    call_command("worker", "--once", "--org", "acme", stdout=StringIO(), stderr=StringIO())
    assert len(receiver.received) == 1 and receiver.received[0].verified


def test_it_dispatches_and_delivers_as_a_task(org, receiver, clock, settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    from relance.hooks import tasks

    subscribe(org, receiver)
    disputed(org)
    assert tasks.enqueue_due() == 1
    assert len(receiver.received) == 1


def test_it_decides_retries_as_documented():
    assert [d.total_seconds() / 60 for d in policy.SCHEDULE] == [1, 5, 30, 120, 300, 600]
    assert policy.judge(attempts=1, status_code=302, now=START).status == "failed"
    assert policy.judge(attempts=7, status_code=None, now=START).status == "dead"
    later = policy.retry_after("Mon, 23 Nov 2026 09:40:00 GMT", START.astimezone(dt.UTC))
    assert later == timedelta(minutes=70)  # 09:30 in Paris is 08:30 GMT


def test_it_tells_a_reminder_sent_by_the_worker(org, receiver, clock, mail, worker_in_transaction):
    subscribe(org, receiver, event_types=["communication.sent"])
    customer = make.customer(org, "C020", email="factures@durand.test")
    make.contact(customer, "Marie", "marie@durand.test")
    item = make.invoice(customer, "F-2026-020", due=D - timedelta(days=20), amount="99.90")
    make.communication(customer, [item], on=D, template="firm_reminder")
    call_command("worker", "--once", "--org", "acme", stdout=StringIO(), stderr=StringIO())
    assert len(mail.recorder.received) == 1
    [got] = receiver.received
    assert got.verified and got.payload["type"] == "communication.sent"
    sent = got.payload["data"]["communication"]
    assert sent["channel"] == "email" and sent["invoices"] == ["F-2026-020"]


def test_it_forgets_settled_deliveries_after_their_time_but_never_pending_ones(
    org, receiver, clock
):
    subscribe(org, receiver)
    disputed(org, "C001", "F-001")
    disputed(org, "C002", "F-002")
    receiver.answer(200)
    receiver.answer(503)
    send_due(org)
    clock.move_to(START + timedelta(days=91), tick=False)
    assert command("prune")["pruned"] == 1
    assert list(Delivery.objects.values_list("status", flat=True)) == ["pending"]
