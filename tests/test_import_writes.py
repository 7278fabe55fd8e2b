"""What a re-import writes for the rows that changed: invoices paid since, payments and
allocations updated, balances and timelines; and the look-ups it makes by id alone."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import factories
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from relance.ledger import balances
from relance.ledger.imports import ImportFailed, import_file
from relance.ledger.imports.apply import (
    _Applier,
    created_keys,
    invoice_key,
    invoice_numbers,
    lookalikes_in_ledger,
)
from relance.ledger.imports.mapping import load_mapping
from relance.ledger.models import Allocation, Customer, Invoice, Payment, TimelineEvent
from relance.ledger.timeline import KEPT, shown

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("in_english")]
TODAY = dt.date(2026, 11, 22)
DUE = dt.date(2026, 11, 2)
MAPPING = factories.OPEN_ITEMS_MAPPING + "  invoice.open_amount: Reste\n"
HEADER = factories.OPEN_ITEMS_HEADER + ";Reste"


def run(org, tmp_path: Path, name: str, rows: list[str], on: dt.date = TODAY):
    path = factories.text_file(tmp_path / name, [HEADER, *rows])
    mapping = factories.mapping_file(tmp_path / "mapping.yaml", MAPPING)
    return import_file(org, path, mapping=load_mapping(mapping), as_of=on)


def test_a_later_file_pays_updates_and_adds(org, tmp_path):
    run(org, tmp_path, "first.csv", [
        "C1;F-1;01/10/2026;31/10/2026;100,00;100,00",  # open
        "C1;F-2;01/10/2026;31/10/2026;200,00;150,00",  # partly paid
        "C2;F-3;01/10/2026;31/10/2026;300,00;300,00",
        "C2;F-4;01/10/2026;31/10/2026;400,00;400,00",  # unchanged
    ])  # fmt: skip
    paid_before = dict(Payment.objects.values_list("reference", "amount"))
    result = run(org, tmp_path, "later.csv", [
        "C1;F-1;01/10/2026;31/10/2026;100,00;0,00",  # paid since
        "C1;F-2;01/10/2026;31/10/2026;200,00;20,00",  # paid further
        "C2;F-3;01/10/2026;31/10/2026;300,00;300,00",
        "C2;F-4;01/10/2026;31/10/2026;400,00;400,00",
        "C2;F-5;05/11/2026;05/12/2026;50,00;50,00",  # new
    ], on=TODAY + dt.timedelta(days=3))  # fmt: skip
    counts = result.counts
    assert (counts["payments_created"], counts["payments_updated"]) == (1, 1)
    assert (counts["allocations_created"], counts["allocations_updated"]) == (1, 1)
    assert counts["invoices_created"] == 1
    invoices = {i.number: i for i in Invoice.objects.filter(organisation=org)}
    assert {n: i.balance for n, i in invoices.items()} == {
        "F-1": Decimal("0.00"), "F-2": Decimal("20.00"), "F-3": Decimal("300.00"),
        "F-4": Decimal("400.00"), "F-5": Decimal("50.00"),
    }  # fmt: skip
    assert invoices["F-1"].settled_on is not None and invoices["F-2"].settled_on is None
    payments = dict(Payment.objects.values_list("reference", "amount"))
    assert len(payments) == len(paid_before) + 1
    allocated = {a.invoice.number: a.amount for a in Allocation.objects.select_related("invoice")}
    assert allocated == {"F-1": Decimal("100.00"), "F-2": Decimal("180.00")}
    # The rows read again the next time are those of the file: nothing changes.
    again = run(org, tmp_path, "later.csv", [
        "C1;F-1;01/10/2026;31/10/2026;100,00;0,00",
        "C1;F-2;01/10/2026;31/10/2026;200,00;20,00",
        "C2;F-3;01/10/2026;31/10/2026;300,00;300,00",
        "C2;F-4;01/10/2026;31/10/2026;400,00;400,00",
        "C2;F-5;05/11/2026;05/12/2026;50,00;50,00",
    ], on=TODAY + dt.timedelta(days=4))  # fmt: skip
    assert {k: n for k, n in again.counts.items() if n} == {"invoices_unchanged": 5}
    # One event per customer touched, telling how many of its items.
    events = TimelineEvent.objects.filter(kind="import", summary__contains="later")
    by_customer = {e.customer.reference: (e.summary, e.data) for e in events}
    summary, data = by_customer["C2"]
    # Written in the organisation's language, kept to be said again in a reader's.
    assert summary == "Import de later.csv, pièces ajoutées ou modifiées\u00a0: 1"
    assert {k: v for k, v in data.items() if k != KEPT} == {
        "file": "later.csv", "format": "csv", "items": 1,
    }  # fmt: skip
    with translation.override("en"):
        assert shown(summary, data) == "Import of later.csv, items added or changed: 1"
    assert by_customer["C1"][1]["items"] == 2  # a payment created, one updated
    assert set(TimelineEvent.objects.filter(kind="invoice_paid").values_list(
        "invoice__number", flat=True)) == {"F-1"}  # fmt: skip


def test_the_ids_created_are_read_back_for_the_organisation_only(org):
    other = factories.organisation("other")
    before = Invoice.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    mine = factories.invoice(factories.customer(org), "F-1", due=DUE)
    factories.invoice(factories.customer(other), "F-2", due=DUE)  # another import's, meanwhile
    assert dict(created_keys(Invoice, "number", org.pk, before)) == {"F-1": mine.pk}


def test_rows_looked_up_by_id_alone_are_the_organisations_only(org):
    """The rows a batch names by a row id (an invoice's customer, an allocation's payment)
    are looked up without the organisation in SQL: it is checked on each row read."""
    mine = factories.invoice(factories.customer(org), "F-1", due=DUE)
    theirs = factories.invoice(factories.customer(factories.organisation("other")), "F-2", due=DUE)
    applier = SimpleNamespace(org=org)
    keys = [mine.customer_id, theirs.customer_id]
    found = _Applier.existing(applier, Invoice, "customer_id", keys, ("id", "number"))  # type: ignore[arg-type]
    assert list(found) == [{"id": mine.pk, "number": "F-1"}]


def test_a_refresh_leaves_another_organisations_invoices_alone(org):
    other = factories.organisation("other")
    theirs = factories.invoice(factories.customer(other), "F-2", due=DUE, amount="80.00")
    Invoice.objects.filter(pk=theirs.pk).update(balance=Decimal("1.00"))
    balances.refresh(org.pk, [theirs.pk])
    assert Invoice.objects.get(pk=theirs.pk).balance == Decimal("1.00")


def test_the_ledgers_numbers_are_read_whole(org):
    customer = factories.customer(org)
    for number in ("FA-1", "fa 2", "FA-3"):
        factories.invoice(customer, number, due=DUE)
    factories.invoice(factories.customer(factories.organisation("other")), "FA-9", due=DUE)
    assert sorted(invoice_numbers(org.pk)) == ["FA-1", "FA-3", "fa 2"]


@pytest.mark.skipif(connection.vendor != "sqlite", reason="PostgreSQL's text holds no NUL")
def test_a_number_holding_the_separator_is_read_whole(org):
    customer = factories.customer(org)
    factories.invoice(customer, "FA\x001", due=DUE)
    factories.invoice(customer, "FA-2", due=DUE)
    assert sorted(invoice_numbers(org.pk)) == ["FA\x001", "FA-2"]
    assert invoice_numbers(factories.organisation("empty").pk) == []


CUSTOMERS = """
name: customers
record: invoice
columns:
  customer.reference: Client
  customer.legal_name: Nom
  customer.payment_terms_days: Delai
  customer.credit_limit: Encours
  customer.customer_since: Depuis
  invoice.number: Facture
  invoice.issue_date: Date
  invoice.amount: Montant
"""


def test_customers_read_from_the_ledger_compare_as_the_files(org, tmp_path):
    """The ledger's customers (read by the driver) hold what the file's give: the same
    file again updates none; a changed limit, date or term updates its customer only."""
    mapping = factories.mapping_file(tmp_path / "customers.yaml", CUSTOMERS)

    def customers(*rows: str) -> dict[str, int]:
        path = tmp_path / "c.csv"
        head = "Client;Nom;Delai;Encours;Depuis;Facture;Date;Montant"
        path.write_text("\n".join([head, *rows]) + "\n", encoding="utf-8")
        result = import_file(org, path, mapping=load_mapping(mapping), as_of=TODAY)
        return {k: n for k, n in result.counts.items() if k.startswith("customers")}

    rows = ["C1;Durand;45;1500,50;01/02/2020;F-1;01/10/2026;100,00",
            "C2;Martin;30;0,10;15/06/2021;F-2;01/10/2026;200,00",
            "C3;Petit;60;;;F-3;01/10/2026;300,00"]  # fmt: skip
    assert customers(*rows) == {"customers_created": 3}
    assert customers(*rows) == {}
    assert customers(rows[0].replace("1500,50", "1500,51"), rows[1].replace("2021", "2022"),
                     rows[2].replace(";60;", ";90;")) == {"customers_updated": 3}  # fmt: skip
    c1 = Customer.objects.get(organisation=org, reference="C1")
    assert (c1.credit_limit, c1.customer_since) == (Decimal("1500.51"), dt.date(2020, 2, 1))


@pytest.mark.parametrize("path", ["batch", "streamed"])
def test_a_field_a_row_leaves_blank_is_kept_while_another_customer_changes_it(
    org, tmp_path, monkeypatch, path
):
    """A blank cell gives nothing: the customer keeps its value, even when the same column
    changes for another customer of the file and the first changes otherwise; the file read
    whole, or a re-import streamed a row at a time."""
    from relance.ledger.imports import restream

    if path == "batch":
        monkeypatch.setattr(restream, "restreams", lambda *args: False)
    else:
        monkeypatch.setattr(restream, "CHUNK", 1)
        monkeypatch.setattr("relance.ledger.imports.apply_batch", None)  # never the batch path
    mapping = factories.mapping_file(tmp_path / "customers.yaml", CUSTOMERS)
    head = "Client;Nom;Delai;Encours;Depuis;Facture;Date;Montant"
    for rows in (["C1;Durand;45;1500,50;01/02/2020;F-1;01/10/2026;100,00",
                  "C2;Martin;30;800,00;15/06/2021;F-2;01/10/2026;200,00"],
                 ["C1;Durand SA;;;;F-1;01/10/2026;100,00",
                  "C2;Martin;60;900,00;15/06/2022;F-2;01/10/2026;200,00"]):  # fmt: skip
        path = tmp_path / "c.csv"
        path.write_text("\n".join([head, *rows]) + "\n", encoding="utf-8")
        import_file(org, path, mapping=load_mapping(mapping), as_of=TODAY)
    c1 = Customer.objects.get(organisation=org, reference="C1")
    assert (c1.legal_name, c1.payment_terms_days, c1.credit_limit, c1.customer_since) == (
        "Durand SA", 45, Decimal("1500.50"), dt.date(2020, 2, 1))  # fmt: skip
    c2 = Customer.objects.get(organisation=org, reference="C2")
    assert (c2.payment_terms_days, c2.credit_limit) == (60, Decimal("900.00"))


def test_a_streamed_first_import_ends_its_customers_as_the_whole_file_does(org, tmp_path,
                                                                        monkeypatch):  # fmt: skip
    """A first import streamed in chunks writes a customer as its first row says, then as its
    rows together do (a later row's values over the first's, a blank cell giving nothing), and
    dates again the invoices due by terms a later row changed: as the file read whole."""
    from relance.ledger.imports import stream

    mapping = factories.mapping_file(tmp_path / "customers.yaml", CUSTOMERS)
    path = tmp_path / "c.csv"
    path.write_text("\n".join([
        "Client;Nom;Delai;Encours;Depuis;Facture;Date;Montant",
        "C1;Durand;30;1500,50;01/02/2020;F-1;01/10/2026;100,00",
        "C2;Martin;45;;;F-2;01/10/2026;200,00",
        "C1;Durand SA;60;;01/02/2020;F-3;02/10/2026;300,00",
    ]) + "\n", encoding="utf-8")  # fmt: skip

    def ledger(organisation):
        customers = Customer.objects.filter(organisation=organisation).values_list(
            "reference", "legal_name", "payment_terms_days", "credit_limit", "customer_since"
        )
        invoices = Invoice.objects.filter(organisation=organisation).values_list(
            "number", "due_date", "due_date_derived")  # fmt: skip
        return sorted(customers), sorted(invoices)

    other = factories.organisation("other")
    with monkeypatch.context() as m:
        m.setattr(stream, "streams", lambda *args: False)
        import_file(other, path, mapping=load_mapping(mapping), as_of=TODAY)
    monkeypatch.setattr(stream, "CHUNK", 1)
    import_file(org, path, mapping=load_mapping(mapping), as_of=TODAY)
    assert ledger(org) == ledger(other)
    customers, invoices = ledger(org)
    assert customers[0] == ("C1", "Durand SA", 60, Decimal("1500.50"), dt.date(2020, 2, 1))
    assert invoices[0] == ("F-1", dt.date(2026, 11, 30), True)  # 60 days, not 30


@pytest.mark.parametrize(
    ("ledger", "new", "found"),
    [
        ("FA-0001", "fa-0001", True),  # a spelling in case
        ("Fa0001", "FA 0001", True),  # a new number with a space
        ("FA\u00a00001", "fa0001", True),  # a ledger number with a space (odd)
        ("\u212aA-1", "ka-1", True),  # Kelvin sign: casefolded to k (odd)
        ("STRASSE-1", "straße-1", True),  # ß casefolds to ss
        ("straße-1", "STRASSE-1", True),
        ("FA-0001", "FA-0002", False),
        ("INV-ABCDEFGH-1", "inv-abcdefgh-1", True),  # 2 ** 11 spellings: read whole
        ("INV-ABCDEFGH-1", "inv-abcdefgh-2", False),
    ],
)
def test_a_new_numbers_look_alike_in_the_ledger_is_found_by_key(org, ledger, new, found):
    customer = factories.customer(org)
    factories.invoice(customer, ledger, due=DUE)
    factories.invoice(customer, "FB-9", due=DUE)
    factories.invoice(factories.customer(factories.organisation("other")), new.upper(), due=DUE)
    expected = {invoice_key(new): ledger} if found else {}
    assert lookalikes_in_ledger(org.pk, [new, "ZZ-1"]) == expected


def test_the_look_alikes_of_plain_numbers_are_looked_up_not_read_whole(org):
    customer = factories.customer(org)
    for n in range(30):
        factories.invoice(customer, f"FA-{n:04d}", due=DUE)
    factories.invoice(customer, "fa 0031", due=DUE)
    with CaptureQueriesContext(connection) as captured:
        found = lookalikes_in_ledger(org.pk, ["Fa-0003", "FA0031", "FA-0040"])
    assert found == {"fa-0003": "FA-0003", "fa0031": "fa 0031"}
    read = [q["sql"] for q in captured.captured_queries if "number" in q["sql"]]
    assert len(read) == 2 and not any("group_concat" in sql for sql in read)


def test_only_the_customers_a_file_changes_are_checked_again(org, tmp_path, monkeypatch):
    from relance.ledger.imports import apply, restream

    mapping = tmp_path / "customers.yaml"
    mapping.write_text(CUSTOMERS + "  customer.siren: SIREN\n", encoding="utf-8")
    head = "Client;Nom;Delai;Encours;Depuis;SIREN;Facture;Date;Montant"
    rows = [f"C{n};Client {n};30;100,00;01/02/2020;732829320;F-{n};01/10/2026;100,00"
            for n in range(5)]  # fmt: skip

    def run(*rows: str):
        path = tmp_path / "c.csv"
        path.write_text("\n".join([head, *rows]) + "\n", encoding="utf-8")
        return import_file(org, path, mapping=load_mapping(mapping), as_of=TODAY)

    run(*rows)
    checked: list[str] = []
    real = apply.check_customer_fields
    for module in (apply, restream):  # the batch path's checks, and the streamed re-import's
        monkeypatch.setattr(module, "check_customer_fields",
                            lambda fields, stored=None: checked.append(fields["legal_name"])
                            or real(fields, stored))  # fmt: skip
    assert run(*rows).counts.get("customers_updated", 0) == 0
    assert checked == []
    with pytest.raises(ImportFailed, match="not a valid SIREN"):
        run(*rows[:4], rows[4].replace("732829320", "732829321"))
    assert checked == ["Client 4"]


def cache_size() -> int:
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA cache_size")
        return int(cursor.fetchone()[0])


@pytest.mark.skipif(connection.vendor != "sqlite", reason="a SQLite setting")
def test_a_streamed_re_import_writes_with_a_larger_page_cache(org, tmp_path, monkeypatch):
    """A re-import's writes outgrow SQLite's default page cache at a million invoices: it
    writes with a larger one (spilled pages are written twice), then gives it back."""
    from relance.ledger.imports import restream
    from relance.lib import bulk

    run(org, tmp_path, "first.csv", ["C1;F-1;01/10/2026;31/10/2026;100,00;100,00"])
    before = cache_size()
    seen: list[int] = []
    real_insert = bulk.insert

    def insert(*args, **kwargs):
        seen.append(cache_size())
        return real_insert(*args, **kwargs)

    monkeypatch.setattr(bulk, "insert", insert)
    run(org, tmp_path, "later.csv", [
        "C1;F-1;01/10/2026;31/10/2026;100,00;0,00",  # paid since: a payment written
        "C1;F-2;05/11/2026;05/12/2026;50,00;50,00",  # new
    ])  # fmt: skip
    assert seen and set(seen) == {-restream.WRITE_CACHE_KIB}
    assert -restream.WRITE_CACHE_KIB < before == cache_size()
