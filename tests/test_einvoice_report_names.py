"""The e-invoice report names each file's customer by its name, its reference beside it: the
CLI's lines, its JSON and the console's report (a new customer's reference is its SIREN,
which says little to a person)."""

from __future__ import annotations

import json
from io import StringIO

import factories
import pytest
from django.core.management import call_command
from django.urls import reverse
from test_console_import_formats import token_of, upload, url
from test_import_einvoices import BUYER_SIREN, OUR_SIREN, seller_org, ubl, write

pytestmark = pytest.mark.django_db

OTHER_SIREN = "403052111"


def test_it_names_new_and_known_customers_in_the_cli_report(tmp_path) -> None:
    acme = seller_org(OUR_SIREN)
    factories.customer(acme, "DUR-01", legal_name="Durand et Fils", siren=OTHER_SIREN)
    folder = tmp_path / "in"
    folder.mkdir()
    write(folder, "new.xml", ubl("UBL-1", buyer="Dupont Industrie SA"))
    write(folder, "known.xml", ubl("UBL-2", buyer="DURAND FILS SARL", buyer_siren=OTHER_SIREN))
    out = StringIO()

    call_command("import", str(folder), "--org", "acme", "--dry-run", "--json", stdout=out)

    files = {f["file"]: f for f in json.loads(out.getvalue())["files"]}
    assert (files["new.xml"]["customer"], files["new.xml"]["customer_name"]) == (
        BUYER_SIREN, "Dupont Industrie SA",
    )  # fmt: skip
    # A customer of the ledger by the name the ledger has, not the file's.
    assert (files["known.xml"]["customer"], files["known.xml"]["customer_name"]) == (
        "DUR-01", "Durand et Fils",
    )  # fmt: skip
    text = StringIO()
    call_command("import", str(folder), "--org", "acme", stdout=text)
    assert f"invoice UBL-1, Dupont Industrie SA ({BUYER_SIREN})," in text.getvalue()
    assert "invoice UBL-2, Durand et Fils (DUR-01)," in text.getvalue()


@pytest.mark.usefixtures("in_english")
def test_it_names_a_new_customer_in_the_console_report(client, org, settings, tmp_path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"
    org.siren = OUR_SIREN
    org.save(update_fields=["siren"])
    client.force_login(factories.member(org, "manon@acme.test", "manager"))
    token = token_of(upload(client, ("UBL-1.xml", ubl("UBL-1", buyer="Dupont Industrie SA"))))

    client.post(url(token, "preview"))
    client.post(url(token, "confirm"))
    page = client.get(url(token)).content.decode()

    assert page.count('data-status="imported"') == 1
    row = page.split('id="einvoice-report"')[1].split("</table>")[0]
    assert f'Dupont Industrie SA <span class="muted">{BUYER_SIREN}</span>' in row
    assert reverse("console:customers") in page
