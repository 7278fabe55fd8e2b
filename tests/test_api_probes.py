"""An attacker's probes on the REST API, every operation taken from the OpenAPI document:
a key of organisation A naming organisation B's ids, numbers and references (in the path,
the query and the body, with organisation fields slipped in) gets no answer of B's and
changes nothing of B's; a read-only key writes nothing; a revoked key reaches nothing.
tests/test_api.py keeps the hand-written cases; this walks the document, so that an
operation added later is probed too (the table must name it)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.apps import apps
from django.core.cache import cache
from test_api import Api, token, world

from relance.accounts.identity import payment_reference
from relance.api import keys
from relance.ledger.models import Customer, Invoice, Payment

DAY = "2026-11-20"


@pytest.fixture(autouse=True)
def fresh_buckets():
    cache.clear()
    yield
    cache.clear()


def operations() -> set[tuple[str, str]]:
    spec = Api(None).client.get("/api/v1/openapi.json").json()
    return {
        (method, path.removeprefix("/api/v1"))
        for path, found in spec["paths"].items()
        for method in found
    }


def probes(mine: dict[str, Any], theirs: dict[str, Any]) -> list[tuple[str, str, Any]]:
    """(method, path template, query or body) naming B's things; ``{id}`` is B's row."""
    b_customer = Customer.objects.get(pk=theirs["customers"])
    b_invoice = Invoice.objects.get(pk=theirs["invoices"])
    b_payment = Payment.objects.get(pk=theirs["payments"])
    a_customer = Customer.objects.get(pk=mine["customers"])
    b_rf = payment_reference(b_customer)
    # Fields naming B's organisation or rows, slipped into every body (mass assignment).
    b_org = b_customer.organisation_id
    slipped = {"organisation": b_org, "organisation_id": b_org, "id": theirs["customers"]}
    invoice = {"number": b_invoice.number, "customer_reference": a_customer.reference,
               "issue_date": DAY, "currency": "EUR", "amount": "1.00", **slipped}  # fmt: skip
    payment = {"reference": b_payment.reference, "memo": b_rf, "date": DAY, "currency": "EUR",
               "amount": "1.00", **slipped,
               "allocations": [{"invoice_number": b_invoice.number, "amount": "1.00"}]}  # fmt: skip
    instalments = [{"due_date": "2026-12-20", "amount": "1.00"}]
    lists = {
        "/customers": {"reference": b_customer.reference},
        "/contacts": {"customer_id": theirs["customers"]},
        "/invoices": {"customer_id": theirs["customers"], "number": b_invoice.number},
        "/payments": {"customer_id": theirs["customers"], "reference": b_payment.reference},
        "/allocations": {"payment_id": theirs["payments"], "invoice_id": theirs["invoices"]},
        "/disputes": {"customer_id": theirs["customers"], "invoice_id": theirs["invoices"]},
        "/promises": {"customer_id": theirs["customers"]},
        "/plans": {"customer_id": theirs["customers"]},
        "/communications": {"customer_id": theirs["customers"]},
        "/tasks": {"customer_id": theirs["customers"]},
        "/runs": {},
        "/events": {"customer_id": theirs["customers"]},
    }
    found: list[tuple[str, str, Any]] = []
    for path, query in lists.items():
        found += [("get", path, query), ("get", path + "/{id}", {})]
    return [
        *found,
        ("post", "/customers", {"reference": b_customer.reference, "legal_name": "Pirate",
                                **slipped}),
        ("patch", "/customers/{id}", {"notes": "pirate", **slipped}),
        ("post", "/contacts", {"customer_id": theirs["customers"], "name": "Pirate"}),
        ("post", "/contacts", {"customer_id": mine["customers"], "name": "Pirate", **slipped,
                               "customer": theirs["customers"]}),
        ("patch", "/contacts/{id}", {"role": "pirate"}),
        ("post", "/invoices", invoice),
        ("post", "/invoices", {**invoice, "number": "A-NEW",
                               "customer_reference": b_customer.reference}),
        ("patch", "/invoices/{id}", {"amount": "1.00", "customer_reference": a_customer.reference}),
        ("post", "/invoices/bulk", {"items": [invoice], **slipped}),
        ("post", "/payments", payment),
        ("post", "/payments", {**payment, "reference": "A-NEW", "customer_reference": ""}),
        ("patch", "/payments/{id}", {"memo": "pirate", "amount": "1.00"}),
        ("post", "/payments/bulk", {"items": [payment], **slipped}),
        ("post", "/allocations", {"payment_id": mine["payments"], "invoice_id": theirs["invoices"],
                                  "amount": "1.00"}),
        ("post", "/allocations", {"payment_id": theirs["payments"], "invoice_id": mine["invoices"],
                                  "amount": "1.00"}),
        ("post", "/disputes", {"invoice_id": theirs["invoices"], **slipped}),
        ("post", "/disputes/{id}/resolve", {"resolution": "pirate"}),
        ("post", "/promises", {"customer_id": theirs["customers"], "promised_on": "2026-12-20"}),
        ("post", "/promises", {"customer_id": mine["customers"], "invoice_id": theirs["invoices"],
                               "promised_on": "2026-12-20"}),
        ("post", "/promises/{id}/cancel", {}),
        ("post", "/plans", {"customer_id": mine["customers"], "invoice_ids": [theirs["invoices"]],
                            "instalments": instalments}),
        ("post", "/plans", {"customer_id": theirs["customers"], "invoice_ids": [mine["invoices"]],
                            "instalments": instalments}),
        ("post", "/plans/{id}/cancel", {}),
        ("post", "/tasks", {"customer_id": theirs["customers"], "title": "Pirate",
                            "due_on": "2026-12-20"}),
        ("post", "/tasks/{id}/close", {}),
    ]  # fmt: skip


def resource_of(path: str) -> str:
    return path.strip("/").split("/")[0]


def holdings(organisation: Any) -> dict[str, list[dict[str, Any]]]:
    """Every row of every model that belongs to ``organisation``, directly or through its
    customer: what B holds, to compare before and after the probes."""
    held: dict[str, list[dict[str, Any]]] = {}
    for model in apps.get_models():
        names = {f.name for f in model._meta.get_fields()}
        if "organisation" in names:
            rows = model._default_manager.filter(organisation=organisation)
        elif "customer" in names:
            rows = model._default_manager.filter(customer__organisation=organisation)
        else:
            continue
        held[model._meta.label] = [_comparable(r) for r in rows.order_by("pk").values()]
    return held


def _comparable(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k not in {"last_used_at"}}


def call(api: Api, method: str, path: str, data: Any) -> Any:
    if method == "get":
        return api.get(path, **data)
    return api.send(method, path, data)


def test_every_operation_of_the_document_is_probed(org, other_org):
    mine, theirs = world(org, "A"), world(other_org, "B")
    probed = {(method, path) for method, path, _ in probes(mine, theirs)}
    assert probed == operations()


def test_a_key_of_one_organisation_gets_nothing_of_another_and_changes_nothing(org, other_org):
    mine, theirs = world(org, "A"), world(other_org, "B")
    b_words = [Customer.objects.get(pk=theirs["customers"]).legal_name]
    before = holdings(other_org)
    api = Api(token(org))
    for method, path, data in probes(mine, theirs):
        answer = call(api, method, path.replace("{id}", str(theirs[resource_of(path)])), data)
        what = (method, path, answer.status_code, answer.content[:300])
        assert answer.status_code < 500, what
        if "{id}" in path:
            assert answer.status_code == 404, what
        text = answer.content.decode()
        assert not any(word in text for word in b_words), what
        if answer.status_code < 300:
            ids = _ids(answer.json())
            assert not ids & set(_all_ids(other_org)), what
    assert holdings(other_org) == before


def _ids(body: Any) -> set[tuple[str, int]]:
    """(field, id) of every ``id``/``*_id``/``*_ids`` found in an answer."""
    found: set[tuple[str, int]] = set()
    if isinstance(body, dict):
        for name, value in body.items():
            if name == "id" or name.endswith("_id"):
                if isinstance(value, int):
                    found.add((name, value))
            elif name.endswith("_ids") and isinstance(value, list):
                found |= {(name[:-1], v) for v in value if isinstance(v, int)}
            else:
                found |= _ids(value)
    elif isinstance(body, list):
        for value in body:
            found |= _ids(value)
    return found


def _all_ids(organisation: Any) -> list[tuple[str, int]]:
    """B's customer, invoice and payment ids as an answer would name them."""
    return [
        (field, pk)
        for field, model in (("customer_id", Customer), ("invoice_id", Invoice),
                             ("payment_id", Payment))
        for pk in model.objects.filter(organisation=organisation).values_list("pk", flat=True)
    ]  # fmt: skip


def test_a_read_only_key_writes_nothing_and_a_revoked_one_reaches_nothing(org, other_org):
    mine, theirs = world(org, "A"), world(other_org, "B")
    reader = Api(token(org, "read"))
    revoked_token = token(org, "read", "write", "bulk", name="old")
    keys.revoke(org, revoked_token.split("_")[1])
    revoked = Api(revoked_token)
    before = holdings(org)
    # The probes aimed at A's own rows: a write the read key could have made.
    for method, path, data in probes(theirs, mine):
        target = path.replace("{id}", str(mine[resource_of(path)]))
        if method != "get":
            assert call(reader, method, target, data).status_code == 403, (method, path)
        assert call(revoked, method, target, data).status_code == 401, (method, path)
    assert holdings(org) == before
    assert json.loads(reader.get("/customers").content)["items"]


def test_lists_are_bounded_in_size(org):
    api = Api(token(org))
    for resource in {resource_of(path) for method, path in operations() if method == "get"}:
        assert api.get(f"/{resource}", limit=201).status_code == 422, resource
        assert api.get(f"/{resource}", limit=0).status_code == 422, resource
