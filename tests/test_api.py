"""The REST API (/api/v1/): keys and scopes, one organisation's data only, cursors and
filters, writes through the ledger's and the dunning's services (balances right), bulk
upserts all or nothing, one problem shape for every error, the rate limit, the command."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from io import StringIO
from typing import Any

import factories as make
import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from relance.api import keys
from relance.api.models import ApiKey
from relance.audit import trail
from relance.audit.models import AuditEvent
from relance.dunning import tasks
from relance.ledger import summaries
from relance.ledger.models import (
    Allocation,
    CustomerBalance,
    ImportRun,
    Invoice,
    Payment,
    TimelineEvent,
)

D = dt.date(2026, 11, 2)
PROBLEM = "application/problem+json"


@pytest.fixture(autouse=True)
def fresh_buckets():
    """Rate-limit buckets live in the cache: each test starts with full ones."""
    cache.clear()
    yield
    cache.clear()


def token(org: Any, *scopes: str, name: str = "test") -> str:
    return keys.create(org, name, scopes or ("read", "write", "bulk"))[1]


class Api:
    """The Django test client speaking to /api/v1/ with one key."""

    def __init__(self, bearer: str | None):
        self.client = Client()
        self.headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get(f"/api/v1{path}", params, headers=self.headers)

    def send(self, method: str, path: str, body: Any) -> Any:
        call = getattr(self.client, method)
        data = body if isinstance(body, str) else json.dumps(body)
        return call(f"/api/v1{path}", data, content_type="application/json", headers=self.headers)

    def post(self, path: str, body: Any) -> Any:
        return self.send("post", path, body)

    def patch(self, path: str, body: Any) -> Any:
        return self.send("patch", path, body)


def is_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    assert set(body) == {"type", "title", "status", "detail", "instance", "errors"}
    assert body["status"] == status and body["type"].startswith("urn:relance:problem:")
    assert body["instance"] == response.wsgi_request.path and body["detail"]
    return body


def world(org: Any, tag: str) -> dict[str, Any]:
    """One of everything the API serves, in ``org``."""
    customer = make.customer(org, f"{tag}-C1")
    contact = make.contact(customer, f"Contact {tag}", f"ap@{tag}.test")
    invoice = make.invoice(customer, f"{tag}-F1", due=D, amount="500.00")
    other = make.invoice(customer, f"{tag}-F2", due=D + dt.timedelta(days=10), amount="300.00")
    payment = make.pay(invoice, "100.00", on=D)
    dispute = make.dispute(invoice, on=D)
    promise = make.promise(customer, promised_on=D + dt.timedelta(days=5), invoice=other)
    plan = make.plan(customer, [other], [(D + dt.timedelta(days=30), "300.00")], on=D)
    comm = make.communication(customer, [invoice], on=D)
    tasks.open_task(org, key=f"t-{tag}", customer_id=customer.pk, kind="call", title="Call",
                    due_on=D)  # fmt: skip
    run = trail.record(org, "run.completed", target=("run", D), data={
        "run_date": D, "business_day": True, "customers": 1, "items_considered": 2,
        "counts": {"email": 1}})  # fmt: skip
    return {
        "customers": customer.pk, "contacts": contact.pk, "invoices": invoice.pk,
        "payments": payment.pk, "allocations": Allocation.objects.get(payment=payment).pk,
        "disputes": dispute.pk, "promises": promise.pk, "plans": plan.pk,
        "communications": comm.pk, "tasks": org_tasks(org)[0], "runs": run.pk,
        "events": TimelineEvent.objects.filter(customer=customer).values_list("pk", flat=True)[0],
    }  # fmt: skip


def org_tasks(org: Any) -> list[int]:
    from relance.dunning.models import Task

    return list(Task.objects.filter(organisation=org).values_list("pk", flat=True))


# -- keys and scopes ------------------------------------------------------------------------


def test_it_refuses_a_request_without_a_valid_key(org):
    good = token(org)
    prefix = good.split("_")[1]
    for bearer in (None, "nonsense", f"rl_{prefix}_wrong-secret", "rl_000000000000_x"):
        answer = Api(bearer).get("/customers")
        assert is_problem(answer, 401)["type"] == "urn:relance:problem:unauthorized"
        assert answer["WWW-Authenticate"].startswith("Bearer")
    assert Api(good).get("/customers").status_code == 200
    keys.revoke(org, prefix)
    is_problem(Api(good).get("/customers"), 401)


def test_it_refuses_a_key_past_its_lifetime(org, time_machine):
    time_machine.move_to(dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC), tick=False)
    out = StringIO()
    call_command("apikey", "create", "Auditor", "--days", "30", "--org", "acme", "--json",
                 stdout=out)  # fmt: skip
    created = json.loads(out.getvalue())
    assert created["key"]["expires_at"] == "2026-12-02T09:00:00+00:00"
    lasting = token(org, "read", name="ERP")
    time_machine.move_to(dt.datetime(2026, 12, 2, 8, 59, tzinfo=dt.UTC), tick=False)
    assert Api(created["token"]).get("/customers").status_code == 200
    time_machine.move_to(dt.datetime(2026, 12, 2, 9, 0, tzinfo=dt.UTC), tick=False)
    assert is_problem(Api(created["token"]).get("/customers"), 401)
    assert Api(lasting).get("/customers").status_code == 200  # no lifetime: until revoked
    for days in ("0", str(keys.MAX_DAYS + 1)):
        with pytest.raises(CommandError, match="a key lives 1 to"):
            call_command("apikey", "create", "X", "--days", days, "--org", "acme")
    assert ApiKey.objects.filter(organisation=org).count() == 2


def test_it_stores_only_a_hash_of_the_secret(org):
    key, bearer = keys.create(org, "ERP", ["read"])
    secret = bearer.split("_", 2)[2]
    stored = ApiKey.objects.filter(pk=key.pk).values()[0]
    assert all(secret not in str(value) for value in stored.values())
    assert keys.authenticate(bearer) == key
    assert ApiKey.objects.get(pk=key.pk).last_used_at is not None


def test_it_needs_the_scope_of_the_operation(org):
    customer = make.customer(org, "C1")
    reader = Api(token(org, "read"))
    writer = Api(token(org, "write"))
    assert reader.get(f"/customers/{customer.pk}").status_code == 200
    body = {"reference": "C2", "legal_name": "Nouveau SAS"}
    assert "write" in is_problem(reader.post("/customers", body), 403)["detail"]
    assert writer.post("/customers", body).status_code == 201
    is_problem(writer.get("/customers"), 403)
    bulk = {"items": [{"number": "F1", "customer_reference": "C1", "issue_date": "2026-10-01",
                       "currency": "EUR", "amount": "10.00"}]}  # fmt: skip
    is_problem(writer.post("/invoices/bulk", bulk), 403)
    assert not Invoice.objects.filter(organisation=org).exists()


def test_it_records_creating_and_revoking_a_key_in_the_audit_trail(org, owner):
    key, _ = keys.create(org, "ERP sync", ["read", "bulk"], user=owner)
    keys.revoke(org, f"rl_{key.prefix}", user=owner)
    events = AuditEvent.objects.filter(organisation=org, action__startswith="apikey.")
    assert sorted(events.values_list("action", flat=True)) == ["apikey.created", "apikey.revoked"]
    assert all(e.actor == owner.get_username() for e in events)
    with pytest.raises(keys.KeyRefused, match="already revoked"):
        keys.revoke(org, key.prefix)


def test_it_creates_lists_and_revokes_keys_from_the_command_line(org, other_org):
    out = StringIO()
    call_command("apikey", "create", "ERP", "--scope", "read", "--scope", "bulk",
                 "--org", "acme", "--json", stdout=out)  # fmt: skip
    created = json.loads(out.getvalue())
    assert created["key"]["scopes"] == ["read", "bulk"]
    assert Api(created["token"]).get("/customers").status_code == 200
    out = StringIO()
    call_command("apikey", "list", "--org", "acme", "--json", stdout=out)
    listed = json.loads(out.getvalue())["keys"]
    assert [k["prefix"] for k in listed] == [created["key"]["prefix"]]
    assert "token" not in out.getvalue() and created["token"] not in out.getvalue()
    with pytest.raises(CommandError, match="no API key"):  # another organisation's key
        call_command("apikey", "revoke", created["key"]["prefix"], "--org", "globex")
    out = StringIO()
    call_command("apikey", "revoke", created["key"]["prefix"], "--org", "acme", "--json",
                 stdout=out)  # fmt: skip
    assert json.loads(out.getvalue())["key"]["revoked_at"]
    is_problem(Api(created["token"]).get("/customers"), 401)
    with pytest.raises(keys.KeyRefused, match="at least one"):
        keys.check_scopes([])


# -- one organisation only ------------------------------------------------------------------


RESOURCES = ("customers", "contacts", "invoices", "payments", "allocations", "disputes",
             "promises", "plans", "communications", "tasks", "runs", "events")  # fmt: skip


def test_it_reaches_nothing_of_another_organisation(org, other_org):
    mine, theirs = world(org, "A"), world(other_org, "B")
    api = Api(token(org))
    for resource in RESOURCES:
        assert api.get(f"/{resource}/{mine[resource]}").status_code == 200, resource
        is_problem(api.get(f"/{resource}/{theirs[resource]}"), 404)
        listed = api.get(f"/{resource}", limit=200).json()["items"]
        assert mine[resource] in [i["id"] for i in listed], resource
        assert theirs[resource] not in [i["id"] for i in listed], resource
    # Writes naming another organisation's rows: 404 too, and nothing written.
    before = TimelineEvent.objects.filter(organisation=other_org).count()
    for method, path, body in (
        ("patch", f"/customers/{theirs['customers']}", {"notes": "x"}),
        ("patch", f"/invoices/{theirs['invoices']}", {"amount": "1.00"}),
        ("patch", f"/payments/{theirs['payments']}", {"memo": "x"}),
        ("patch", f"/contacts/{theirs['contacts']}", {"role": "x"}),
        ("post", "/disputes", {"invoice_id": theirs["invoices"]}),
        ("post", f"/disputes/{theirs['disputes']}/resolve", {"resolution": "x"}),
        ("post", "/promises", {"customer_id": theirs["customers"], "promised_on": "2026-12-01"}),
        ("post", f"/promises/{theirs['promises']}/cancel", {}),
        ("post", f"/plans/{theirs['plans']}/cancel", {}),
        ("post", "/plans", {"customer_id": mine["customers"], "invoice_ids": [theirs["invoices"]],
                            "instalments": [{"due_date": "2026-12-01", "amount": "1.00"}]}),
        ("post", "/contacts", {"customer_id": theirs["customers"], "name": "X"}),
        ("post", "/tasks", {"customer_id": theirs["customers"], "title": "X",
                            "due_on": "2026-12-01"}),
        ("post", f"/tasks/{theirs['tasks']}/close", {}),
        ("post", "/allocations", {"payment_id": mine["payments"], "invoice_id": theirs["invoices"],
                                  "amount": "1.00"}),
    ):  # fmt: skip
        is_problem(api.send(method, path, body), 404)
    assert TimelineEvent.objects.filter(organisation=other_org).count() == before
    assert Invoice.objects.get(pk=theirs["invoices"]).amount == Decimal("500.00")


# -- pagination and filters -----------------------------------------------------------------


def test_it_pages_with_an_opaque_cursor_in_id_order(org):
    made = [make.customer(org, f"C{n}").pk for n in range(7)]
    api = Api(token(org))
    seen, cursor, pages = [], None, 0
    while True:
        params: dict[str, Any] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        body = api.get("/customers", **params).json()
        seen += [c["id"] for c in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
        assert cursor != str(seen[-1])  # opaque, not the id in clear
    assert seen == sorted(made) and pages == 3
    assert (
        is_problem(api.get("/customers", cursor="bm90LWEtY3Vyc29y"), 400)["errors"][0]["field"]
        == "cursor"
    )
    errors = is_problem(api.get("/customers", limit=1000), 422)["errors"]
    assert errors[0]["field"] == "limit"


def test_it_filters_lists(org):
    a, b = make.customer(org, "A"), make.customer(org, "B", risk_class="high")
    early = make.invoice(a, "F-EARLY", due=D)
    late = make.invoice(a, "F-LATE", due=D + dt.timedelta(days=40))
    paid = make.invoice(b, "F-PAID", due=D)
    make.pay(paid, on=D)
    api = Api(token(org))

    def numbers(**params: Any) -> list[str]:
        return [i["number"] for i in api.get("/invoices", **params).json()["items"]]

    assert numbers(customer_id=a.pk) == ["F-EARLY", "F-LATE"]
    assert numbers(status="open") == ["F-EARLY", "F-LATE"]
    assert numbers(status="settled") == ["F-PAID"]
    assert numbers(due_before=(D + dt.timedelta(days=1)).isoformat()) == ["F-EARLY", "F-PAID"]
    assert numbers(due_after=(D + dt.timedelta(days=1)).isoformat()) == ["F-LATE"]
    assert numbers(number="F-LATE") == ["F-LATE"]
    assert [c["reference"] for c in api.get("/customers", risk_class="high").json()["items"]] == [
        "B"
    ]
    Invoice.objects.filter(pk=early.pk).update(updated_at="2020-01-01T00:00:00Z")
    assert "F-EARLY" not in numbers(updated_since="2025-01-01T00:00:00Z")
    assert late.pk in [i["id"] for i in api.get("/invoices", updated_since="2025-01-01T00:00:00Z")
                       .json()["items"]]  # fmt: skip
    payments = api.get("/payments", customer_id=b.pk).json()["items"]
    assert [(p["amount"], p["allocated"], p["unallocated"]) for p in payments] == [
        ("100.00", "100.00", "0.00")
    ]


def test_it_lists_in_a_few_queries_whatever_the_number_of_rows(org, django_assert_max_num_queries):
    for n in range(3):
        world(org, f"W{n}")
    api = Api(token(org))
    api.get("/customers")  # the key's last use is written once a minute: not below
    for resource in RESOURCES:
        with django_assert_max_num_queries(5):
            assert len(api.get(f"/{resource}").json()["items"]) >= 1


# -- writes through the services ------------------------------------------------------------


@pytest.mark.usefixtures("in_english")  # reads the problem in English
def test_it_creates_invoices_and_payments_through_the_ledger_with_balances_right(org):
    make.customer(org, "C1")
    summaries.rebuild(org.pk)  # the customers' balances are kept from now on
    api = Api(token(org))
    created = api.post("/invoices", {
        "number": "F-1", "customer_reference": "C1", "issue_date": "2026-10-01",
        "currency": "EUR", "amount": "1200.00", "amount_excl_tax": "1000.00"})  # fmt: skip
    assert created.status_code == 201, created.content
    invoice = created.json()
    assert (invoice["balance"], invoice["tax_amount"], invoice["status"]) == (
        "1200.00",
        "200.00",
        "open",
    )
    assert invoice["due_date"] == "2026-10-31"  # the customer's 30 days
    is_problem(api.post("/invoices", {**invoice, "customer_reference": "C1"}), 409)
    paid = api.post("/payments", {
        "reference": "VIR-1", "customer_reference": "C1", "date": "2026-11-05",
        "currency": "EUR", "amount": "700.00",
        "allocations": [{"invoice_number": "F-1", "amount": "500.00"}]})  # fmt: skip
    assert paid.status_code == 201, paid.content
    assert (paid.json()["allocated"], paid.json()["unallocated"]) == ("500.00", "200.00")
    stored = Invoice.objects.get(organisation=org, number="F-1")
    assert stored.balance == Decimal("700.00")
    assert CustomerBalance.objects.get(customer=stored.customer).open_amount == Decimal("700.00")
    # The allocation of the pair set to the whole payment: the invoice owes 500.00.
    payment_id = paid.json()["id"]
    allocation = api.post(
        "/allocations", {"payment_id": payment_id, "invoice_id": stored.pk, "amount": "700.00"}
    )
    assert allocation.status_code == 201, allocation.content
    assert allocation.json()["amount"] == "700.00"
    stored.refresh_from_db()
    assert (stored.balance, stored.settled_on) == (Decimal("500.00"), None)
    assert Allocation.objects.filter(payment_id=payment_id).count() == 1
    # More than the payment holds: refused by the ledger's own rule, nothing written.
    other = make.invoice(stored.customer, "F-2", due=D, amount="50.00")
    refused = api.post("/allocations", {"payment_id": payment_id, "invoice_id": other.pk,
                                        "amount": "50.00"})  # fmt: skip
    assert "is allocated" in is_problem(refused, 422)["errors"][0]["message"]
    other.refresh_from_db()
    assert other.balance == Decimal("50.00")
    assert ImportRun.objects.filter(organisation=org, status="done").count() == 3


@pytest.mark.usefixtures("in_english")  # reads the problem in English
def test_it_updates_an_invoice_and_the_balance_follows(org):
    customer = make.customer(org, "C1")
    invoice = make.invoice(customer, "F-1", due=D, amount="1000.00")
    make.pay(invoice, "400.00", on=D)
    api = Api(token(org))
    answer = api.patch(f"/invoices/{invoice.pk}", {"amount": "900.00", "po_reference": "PO-7"})
    assert answer.status_code == 200, answer.content
    assert (answer.json()["balance"], answer.json()["po_reference"]) == ("500.00", "PO-7")
    invoice.refresh_from_db()
    assert invoice.balance == Decimal("500.00")
    refused = api.patch(f"/invoices/{invoice.pk}", {"amount": "100.00"})
    assert "would receive" in is_problem(refused, 422)["errors"][0]["message"]
    bad_due = api.patch(f"/invoices/{invoice.pk}", {"due_date": "2000-01-01"})
    assert is_problem(bad_due, 422)["errors"][0]["field"] == "due_date"


def test_it_creates_and_updates_customers_and_contacts_with_the_imports_checks(org):
    api = Api(token(org))
    bad = api.post("/customers", {"reference": "C1", "legal_name": "X", "siren": "123456789"})
    assert is_problem(bad, 422)["errors"][0]["field"] == "siren"
    made = api.post(
        "/customers",
        {
            "reference": "C1",
            "legal_name": "Durand SARL",
            "siren": "732829320",
            "payment_terms_days": 45,
        },
    )
    assert made.status_code == 201, made.content
    customer = made.json()
    assert (customer["currency"], customer["payment_terms_days"]) == ("EUR", 45)
    is_problem(api.post("/customers", {"reference": "C1", "legal_name": "Again"}), 409)
    changed = api.patch(
        f"/customers/{customer['id']}", {"risk_class": "high", "credit_limit": "5000.00"}
    )
    assert (changed.json()["risk_class"], changed.json()["credit_limit"]) == ("high", "5000.00")
    contact = api.post(
        "/contacts",
        {
            "customer_id": customer["id"],
            "name": "Mme Durand",
            "email": "Compta@Durand.test",
            "dunning_contact": True,
        },
    )
    assert contact.status_code == 201, contact.content
    assert contact.json()["email"] == "compta@durand.test"
    assert TimelineEvent.objects.filter(kind="contact_added").count() == 1
    updated = api.patch(f"/contacts/{contact.json()['id']}", {"phone": "+33612345678"})
    assert updated.json()["phone"] == "+33612345678" and updated.json()["dunning_contact"]
    refused = api.post(
        "/contacts",
        {"customer_id": customer["id"], "name": "Sans adresse", "dunning_contact": True},
    )
    assert "e-mail" in is_problem(refused, 422)["detail"]


def test_it_records_pauses_and_tasks_through_the_dunning_services(org):
    customer = make.customer(org, "C1")
    invoice = make.invoice(customer, "F-1", due=D, amount="600.00")
    other = make.invoice(customer, "F-2", due=D, amount="400.00")
    api = Api(token(org))
    dispute = api.post(
        "/disputes",
        {
            "invoice_id": invoice.pk,
            "reason": "price",
            "amount": "100.00",
            "opened_on": "2026-11-10",
        },
    )
    assert dispute.status_code == 201, dispute.content
    assert dispute.json()["status"] == "open"
    assert TimelineEvent.objects.filter(kind="dispute_opened", invoice=invoice).exists()
    assert AuditEvent.objects.filter(action="dispute.opened").exists()
    resolved = api.post(f"/disputes/{dispute.json()['id']}/resolve", {
        "resolution": "avoir", "outcome": "credit_note", "resolved_on": "2026-11-12",
        "credit_note": {"reference": "AV-1", "amount": "100.00"}})  # fmt: skip
    assert resolved.json()["status"] == "resolved", resolved.content
    invoice.refresh_from_db()
    assert invoice.balance == Decimal("500.00")  # the credit note went through the ledger
    again = api.post(f"/disputes/{dispute.json()['id']}/resolve", {"resolution": "x"})
    assert "already resolved" in is_problem(again, 422)["detail"]
    promise = api.post(
        "/promises",
        {"customer_id": customer.pk, "invoice_id": other.pk, "promised_on": "2026-12-01"},
    )
    assert promise.status_code == 201 and promise.json()["grace_days"] == 2, promise.content
    cancelled = api.post(f"/promises/{promise.json()['id']}/cancel", {"note": "erreur"})
    assert cancelled.json()["status"] == "cancelled"
    wrong = api.post(
        "/plans",
        {
            "customer_id": customer.pk,
            "invoice_ids": [other.pk],
            "instalments": [{"due_date": "2026-12-15", "amount": "100.00"}],
        },
    )
    assert "add up" in is_problem(wrong, 422)["detail"]
    plan = api.post(
        "/plans",
        {
            "customer_id": customer.pk,
            "invoice_ids": [other.pk],
            "instalments": [
                {"due_date": "2026-12-15", "amount": "150.00"},
                {"due_date": "2027-01-15", "amount": "250.00"},
            ],
        },
    )
    assert plan.status_code == 201, plan.content
    assert [i["amount"] for i in plan.json()["instalments"]] == ["150.00", "250.00"]
    task = api.post(
        "/tasks", {"customer_id": customer.pk, "title": "Appeler la compta", "due_on": "2026-11-20"}
    )
    assert task.status_code == 201 and task.json()["status"] == "open"
    closed = api.post(f"/tasks/{task.json()['id']}/close", {"note": "joint"})
    assert closed.json()["status"] == "done"
    is_problem(api.post(f"/tasks/{task.json()['id']}/close", {}), 422)
    kinds = set(TimelineEvent.objects.filter(customer=customer).values_list("kind", flat=True))
    assert {
        "dispute_opened",
        "dispute_resolved",
        "promise_recorded",
        "promise_cancelled",
        "plan_agreed",
        "task_done",
    } <= kinds
    events = api.get("/events", customer_id=customer.pk, kind="plan_agreed").json()["items"]
    assert [e["kind"] for e in events] == ["plan_agreed"]


# -- bulk -----------------------------------------------------------------------------------


def row(number: str, customer: str = "C1", **fields: Any) -> dict[str, Any]:
    return {"number": number, "customer_reference": customer, "issue_date": "2026-10-01",
            "currency": "EUR", "amount": "100.00", **fields}  # fmt: skip


def test_it_upserts_invoices_in_bulk_all_or_nothing(org):
    make.customer(org, "C1")
    api = Api(token(org, "bulk"))
    refused = api.post("/invoices/bulk", {"items": [
        row("F-1"), row("F-2", customer="NOBODY"), row("F-3", due_date="2026-09-01"),
        row("F-1", amount="5.00")]})  # fmt: skip
    errors = is_problem(refused, 422)["errors"]
    assert {(e["index"], e["field"]) for e in errors} >= {
        (1, "customer_reference"),
        (2, "due_date"),
        (3, "number"),
    }
    assert not Invoice.objects.filter(organisation=org).exists()
    schema = api.post("/invoices/bulk", {"items": [row("F-1"), row("F-2", amount="-3")]})
    assert [(e["index"], e["field"]) for e in is_problem(schema, 422)["errors"]] == [(1, "amount")]
    done = api.post("/invoices/bulk", {"items": [row("F-1"), row("F-2"), row("F-3")]})
    assert done.json() == {
        "created": 3,
        "updated": 0,
        "unchanged": 0,
        "import_run_id": done.json()["import_run_id"],
    }, done.content
    again = api.post(
        "/invoices/bulk", {"items": [row("F-1"), row("F-2", amount="80.00"), row("F-3")]}
    )
    assert (again.json()["updated"], again.json()["unchanged"]) == (1, 2)
    assert Invoice.objects.get(organisation=org, number="F-2").balance == Decimal("80.00")


def test_it_upserts_payments_in_bulk_with_their_allocations(org):
    customer = make.customer(org, "C1")
    f1 = make.invoice(customer, "F-1", due=D, amount="100.00")
    f2 = make.invoice(customer, "F-2", due=D, amount="100.00")
    api = Api(token(org, "bulk"))

    def pay(ref: str, amount: str, *allocations: tuple[str, str]) -> dict[str, Any]:
        return {
            "reference": ref,
            "customer_reference": "C1",
            "date": "2026-11-03",
            "currency": "EUR",
            "amount": amount,
            "allocations": [{"invoice_number": n, "amount": a} for n, a in allocations],
        }

    refused = api.post("/payments/bulk", {"items": [
        pay("V1", "100.00", ("F-1", "100.00")), pay("V2", "50.00", ("F-2", "80.00")),
        pay("V3", "10.00", ("F-404", "10.00"))]})  # fmt: skip
    errors = is_problem(refused, 422)["errors"]
    assert {e["index"] for e in errors} == {1, 2}
    assert not Payment.objects.filter(organisation=org).exists()
    done = api.post(
        "/payments/bulk",
        {"items": [pay("V1", "100.00", ("F-1", "100.00")), pay("V2", "50.00", ("F-2", "30.00"))]},
    )
    assert done.json()["created"] == 2, done.content
    f1.refresh_from_db(), f2.refresh_from_db()
    assert (f1.balance, f2.balance) == (Decimal("0.00"), Decimal("70.00"))


# -- problems, rate limit, documents --------------------------------------------------------


def test_it_answers_every_error_as_a_problem(org):
    api = Api(token(org))
    is_problem(api.get("/nowhere"), 404)
    is_problem(Client().get("/api/v2/customers"), 404)
    is_problem(Client().post("/api/elsewhere", {}), 404)  # no CSRF page either
    not_allowed = is_problem(api.send("delete", "/customers", {}), 405)
    assert "DELETE" in not_allowed["detail"]
    is_problem(api.post("/customers", "{not json"), 400)
    invalid = is_problem(
        api.post("/customers", {"reference": "", "legal_name": 3, "language": "de"}), 422
    )
    assert {e["field"] for e in invalid["errors"]} >= {"reference", "legal_name", "language"}
    is_problem(api.get("/invoices/99999999"), 404)
    is_problem(api.get("/invoices/0"), 422)
    is_problem(api.get("/invoices", due_before="someday"), 422)


def test_it_refuses_a_body_too_large_as_a_problem(org, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    make.customer(org, "C1")
    rows = [row(f"F-{n}") for n in range(50)]
    answer = Api(token(org)).post("/invoices/bulk", {"items": rows})
    assert "too large" in is_problem(answer, 413)["detail"]
    assert not Invoice.objects.filter(organisation=org).exists()


def test_it_answers_an_unexpected_error_as_a_problem_500(org, monkeypatch):
    from relance.api import ledger_api

    def broken(c: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(ledger_api, "describe_customer", broken)
    make.customer(org, "C1")
    body = is_problem(Api(token(org)).get("/customers"), 500)
    assert "boom" not in json.dumps(body)


def test_it_limits_the_rate_per_key(org, settings):
    settings.RELANCE_API_BURST = 3
    settings.RELANCE_API_RATE = 6  # one every ten seconds
    busy, other = Api(token(org, name="busy")), Api(token(org, name="calm"))
    assert [busy.get("/customers").status_code for _ in range(3)] == [200, 200, 200]
    refused = busy.get("/customers")
    assert is_problem(refused, 429)["type"] == "urn:relance:problem:rate-limited"
    assert 1 <= int(refused["Retry-After"]) <= 10
    assert other.get("/customers").status_code == 200


def test_it_serves_the_openapi_document_and_its_docs_page_under_the_csp(org):
    document = Client().get("/api/v1/openapi.json")
    assert document.status_code == 200
    spec = document.json()
    assert spec["info"]["title"] == "Relance API"
    assert {"/api/v1/invoices/bulk", "/api/v1/payments/bulk", "/api/v1/events"} <= set(
        spec["paths"]
    )
    assert spec["components"]["securitySchemes"]["KeyAuth"]["scheme"] == "bearer"
    errors = spec["paths"]["/api/v1/customers"]["get"]["responses"]["401"]["content"]
    assert list(errors) == [PROBLEM]
    page = Client().get("/api/v1/docs")
    assert page.status_code == 200
    csp = page["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    html = page.content.decode()
    assert "cdn" not in html.lower() and "<script>" not in html
