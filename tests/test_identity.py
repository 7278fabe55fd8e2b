"""The organisation's identity: `relance org show|set`, checked field by field, the payment
reference of a customer, and the run that needs a reply address."""

from __future__ import annotations

import datetime as dt
import json
from io import StringIO

import factories as f
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from stdnum import iso11649

from relance.accounts.identity import IdentityError, payment_reference, update_identity
from relance.accounts.models import Organisation
from relance.dunning.models import Communication

pytestmark = pytest.mark.django_db

D = dt.date(2026, 11, 23)  # a Monday
IDENTITY = [
    "--email", "compta@acme.test", "--phone", "+33 1 23 45 67 89",
    "--address", "12 rue des Forges\\n69007 Lyon", "--signature", "Marie Martin\\nComptabilité",
    "--siren", "732 829 320", "--vat-number", "FR 44 732829320",
    "--iban", "fr76 3000 6000 0112 3456 7890 189", "--bic", "bnpafrppxxx",
    "--legal-name", "Acme Industrie SAS", "--contact-gap", "4",
]  # fmt: skip


def org_command(*args: str) -> dict:
    out = StringIO()
    call_command("org", *args, "--json", stdout=out, stderr=StringIO())
    return json.loads(out.getvalue())


def test_it_sets_and_shows_the_identity_as_stored():
    f.organisation("acme", email="")
    shown = org_command("set", "--org", "acme", *IDENTITY)
    assert shown == org_command("show", "--org", "acme")
    org = Organisation.objects.get(slug="acme")
    # Stored compact, as the standards write them.
    assert (org.siren, org.vat_number, org.iban, org.bic) == (
        "732829320", "FR44732829320", "FR7630006000011234567890189", "BNPAFRPPXXX",
    )  # fmt: skip
    assert org.address == "12 rue des Forges\n69007 Lyon"
    assert (org.email, org.phone, org.contact_gap) == ("compta@acme.test", "+33 1 23 45 67 89", 4)
    assert shown["iban_formatted"] == "FR76 3000 6000 0112 3456 7890 189"
    assert shown["ready_to_send"] is True


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--email", "compta-at-acme"),
        ("--siren", "732 829 321"),
        ("--vat-number", "FR 45 732829320"),
        ("--iban", "FR76 3000 6000 0112 3456 7890 188"),
        ("--bic", "BNPAFRP"),
        ("--contact-gap", "-1"),
        ("--phone", "call me"),
    ],
)
def test_it_refuses_a_bad_value_naming_the_field_and_writes_nothing(option, value):
    f.organisation("acme", email="before@acme.test")
    with pytest.raises(CommandError) as refused:
        call_command("org", "set", "--org", "acme", "--email", "after@acme.test", option, value,
                     stdout=StringIO())  # fmt: skip
    assert option[2:].replace("-", "_") + ":" in str(refused.value)
    assert "nothing written" in str(refused.value)
    assert Organisation.objects.get(slug="acme").email == "before@acme.test"


def test_it_exits_1_on_a_refused_value():
    from commands import in_process as relance

    assert relance("createorg", "acme", "--name", "Acme SAS").returncode == 0
    out = relance("org", "set", "--iban", "FR00 1234")
    assert out.returncode == 1
    assert "iban:" in out.stderr and "Traceback" not in out.stderr


def test_it_refuses_a_french_vat_number_of_another_company():
    org = f.organisation("acme", siren="732829320")
    with pytest.raises(IdentityError) as refused:
        update_identity(org, {"vat_number": "FR40303265045"})  # a valid number, not Acme's
    assert list(refused.value.errors) == ["vat_number"]


def test_it_clears_a_field_with_an_empty_value():
    org = f.organisation("acme", phone="01 23 45 67 89")
    update_identity(org, {"phone": ""})
    assert Organisation.objects.get(pk=org.pk).phone == ""


def test_it_gives_each_customer_one_valid_creditor_reference():
    org = f.organisation("acme")
    first, second = f.customer(org, "C-0042"), f.customer(org, "c0043")
    reference = payment_reference(first)
    assert iso11649.is_valid(reference)
    assert reference == "RF28C0042"  # RF, check digits, the account's letters and digits
    assert payment_reference(first) == reference  # the same on every message
    assert payment_reference(second) not in (reference, "")
    assert iso11649.is_valid(payment_reference(second))
    long = f.customer(org, "X" * 30)
    assert iso11649.is_valid(payment_reference(long))
    assert payment_reference(long).endswith(f"ID{long.pk}")


def test_it_refuses_a_run_for_an_organisation_without_a_reply_address():
    org = f.organisation("acme", email="")
    f.scenario(org)
    f.invoice(f.customer(org), due=D - f.days(5))
    with pytest.raises(CommandError, match=r"no reply address.*relance org set"):
        call_command("run", "--org", "acme", "--date", D.isoformat(), stdout=StringIO())
    assert not Communication.objects.exists()


def test_it_runs_the_other_organisations_and_fails_at_the_end():
    ready = f.organisation("ready")
    f.organisation("unready", email="")
    for org in Organisation.objects.all():
        f.scenario(org)
        f.invoice(f.customer(org), due=D - f.days(5))
    with pytest.raises(CommandError, match="'unready' has no reply address"):
        call_command("run", "--date", D.isoformat(), stdout=StringIO())
    assert list(Communication.objects.values_list("organisation_id", flat=True)) == [ready.pk]


def test_it_warns_on_a_dry_run_without_a_reply_address():
    org = f.organisation("acme", email="")
    f.scenario(org)
    f.invoice(f.customer(org), due=D - f.days(5))
    out, err = StringIO(), StringIO()
    call_command("run", "--org", "acme", "--date", D.isoformat(), "--dry-run", "--json",
                 stdout=out, stderr=err)  # fmt: skip
    assert "no reply address" in err.getvalue()
    [result] = json.loads(out.getvalue())["runs"]
    assert result["decisions"]  # the decisions are still shown
    assert not Communication.objects.exists()
