"""schemathesis against the served OpenAPI document (/api/v1/openapi.json): valid and
invalid requests to every operation, with a valid key, find no server error and no
response that breaks the document (status, content type, body)."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

import factories as make
import pytest
import schemathesis
from django.core.cache import cache
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from relance.api import keys

D = dt.date(2026, 11, 2)
# Examples per operation: valid requests, then invalid ones (both runs within a minute).
EXAMPLES = {GenerationMode.POSITIVE: 6, GenerationMode.NEGATIVE: 4}
CHECKS = [
    not_a_server_error, status_code_conformance, content_type_conformance,
    response_schema_conformance,
]  # fmt: skip


@pytest.fixture
def shared_connection():
    """The WSGI handler closes the database connection around each request; the test's
    transaction must outlive them (Django's test client does the same)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def data(org: Any) -> None:
    """Rows for the generated ids and filters to find now and then."""
    customer = make.customer(org, "C1")
    make.contact(customer, "Mme Compta", "compta@c1.test")
    invoice = make.invoice(customer, "F1", due=D, amount="500.00")
    other = make.invoice(customer, "F2", due=D, amount="200.00")
    make.pay(invoice, "100.00", on=D)
    make.dispute(invoice, on=D)
    make.promise(customer, promised_on=D + dt.timedelta(days=5), invoice=invoice)
    make.plan(customer, [other], [(D + dt.timedelta(days=30), "200.00")], on=D)
    make.communication(customer, [invoice], on=D)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_it_finds_no_server_error_and_no_response_off_the_schema(
    org, settings, shared_connection, mode
):
    settings.ALLOWED_HOSTS = ["localhost"]
    settings.RELANCE_API_BURST = 0  # no rate limit: thousands of requests in seconds
    cache.clear()
    data(org)
    _, bearer = keys.create(org, "schemathesis", ["read", "write", "bulk"])
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", WSGIHandler())
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 30
    statuses: Counter[int] = Counter()
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @hypothesis_settings(
            max_examples=EXAMPLES[mode], deadline=None, database=None, derandomize=True,
            suppress_health_check=list(HealthCheck),
        )  # fmt: skip
        def run(case: Any) -> None:
            response = case.call_and_validate(
                headers={"Authorization": f"Bearer {bearer}"}, checks=CHECKS
            )
            statuses[response.status_code] += 1

        run()
    # The run reached the endpoints' code, not only their validation.
    assert statuses[200] > 0 and sum(statuses.values()) > len(operations) * 2, statuses
    print(mode, dict(sorted(statuses.items())))
