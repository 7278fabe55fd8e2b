"""A letter about a partly approved invoice (platform status 206) says what it asks: the
column is the amount asked (the approved part still unpaid, ``owed.asked``), and the part
not approved stands under it, read back from the rendered PDF."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import factories as make
import pytest
from django.utils import translation
from test_letters import DAY, acme, dupont, flat, text_of  # noqa: F401 (fixtures)

from relance.channels.formatting import money
from relance.documents import letters


def amount(value: str, language: str) -> str:
    with translation.override(language):
        return flat(money(Decimal(value), "EUR"))


@pytest.mark.parametrize("template", ["first_reminder", "formal_notice"])
def test_it_asks_the_approved_part_and_shows_the_part_not_approved(acme, dupont, template):  # noqa: F811
    partly = make.invoice(dupont, "FA-PART", due=date(2026, 1, 10), amount="1000.00")
    make.invoice(dupont, "FA-WHOLE", due=date(2026, 1, 20), amount="250.00")
    make.dispute(partly, reason="not_approved", amount=Decimal("400.00"), on=date(2026, 1, 15))

    _, pdf = letters.write(letters.for_customer(acme, dupont, template, DAY, language="en"))

    text = flat(text_of(pdf))
    assert "Amount asked" in text and "Outstanding" not in text
    row = text[text.index("FA-PART") : text.index("FA-WHOLE")]
    assert amount("1000.00", "en") in row and amount("600.00", "en") in row
    assert f"Not approved: {amount('400.00', 'en')}" in row
    assert "Not approved" not in text[text.index("FA-WHOLE") :]


def test_it_keeps_the_outstanding_column_when_no_invoice_is_partly_approved(acme, dupont):  # noqa: F811
    make.invoice(dupont, "FA-WHOLE", due=date(2026, 1, 20), amount="250.00")

    _, pdf = letters.write(letters.for_customer(acme, dupont, "first_reminder", DAY,
                                                language="en"))  # fmt: skip

    text = flat(text_of(pdf))
    assert "Outstanding" in text and "Amount asked" not in text and "Not approved" not in text


def test_it_shows_the_part_not_approved_in_a_french_letter(acme, dupont):  # noqa: F811
    partly = make.invoice(dupont, "FA-PART", due=date(2026, 1, 10), amount="1000.00")
    make.dispute(partly, reason="not_approved", amount=Decimal("400.00"), on=date(2026, 1, 15))

    _, pdf = letters.write(letters.for_customer(acme, dupont, "first_reminder", DAY,
                                                language="fr"))  # fmt: skip

    text = flat(text_of(pdf))
    assert amount("600.00", "fr") in text and amount("400.00", "fr") in text
