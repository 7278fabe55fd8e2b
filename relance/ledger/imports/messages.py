"""The problems both ways of applying a file find (``apply`` for a batch, ``stream`` for a
first import a chunk at a time), and an XML file that cannot be read (an e-invoice, a
status message, a bank statement), said once, in the reader's language."""

from __future__ import annotations

import functools
import re
from decimal import Decimal
from typing import TYPE_CHECKING

from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

if TYPE_CHECKING:
    from lxml import etree


def number_twice(number: str, other_row: int | None) -> str:
    return _("invoice number %(number)s appears twice (also row %(row)s)") % {
        "number": repr(number), "row": other_row,
    }  # fmt: skip


def reference_twice(reference: str, other_row: int | None) -> str:
    return _("payment reference %(reference)s appears twice (also row %(row)s)") % {
        "reference": repr(reference), "row": other_row,
    }  # fmt: skip


def lookalike_numbers(number: str, other: str, other_row: int | None) -> str:
    return _(
        "invoice number %(number)s differs only by case or spaces from "
        "%(other)s (row %(row)s): the same invoice twice?"
    ) % {"number": repr(number), "other": repr(other), "row": other_row}


def not_positive(amount: Decimal) -> str:
    return _("%(amount)s is not positive") % {"amount": amount}


def no_payment(reference: str) -> str:
    return _("no payment %(reference)s") % {"reference": repr(reference)}


def no_invoice(number: str) -> str:
    return _("no invoice %(number)s") % {"number": repr(number)}


def currencies_differ(payment: str, currency: str, invoice: str, invoice_currency: str) -> str:
    return _(
        "payment %(payment)s in %(currency)s cannot settle invoice %(invoice)s "
        "in %(invoice_currency)s"
    ) % {
        "payment": payment, "currency": currency, "invoice": invoice,
        "invoice_currency": invoice_currency,
    }  # fmt: skip


# What libxml2's most frequent errors mean, by their code, for someone who did not write
# the file; any other error is said by libxml2's own text only, after the position. Built
# on first use: lxml is loaded by the XML readers, not by every import of a CSV file.
@functools.cache
def _xml_errors() -> dict[int, str]:
    from lxml import etree

    return {
        etree.ErrorTypes.ERR_DOCUMENT_EMPTY: gettext_noop(
            "the file is empty or does not start with a tag"
        ),
        etree.ErrorTypes.ERR_DOCUMENT_END: gettext_noop(
            "something follows the end of the document"
        ),
        etree.ErrorTypes.ERR_INVALID_CHAR: gettext_noop("a character that XML does not allow"),
        etree.ErrorTypes.ERR_INVALID_ENCODING: gettext_noop(
            "bytes that are not of the file's encoding (UTF-8 unless its first line says otherwise)"
        ),
        etree.ErrorTypes.ERR_UNDECLARED_ENTITY: gettext_noop("an entity (&…;) that is not defined"),
        etree.ErrorTypes.ERR_NAME_REQUIRED: gettext_noop(
            "a name is missing (a lone “&” is written &amp;)"
        ),
        etree.ErrorTypes.ERR_ATTRIBUTE_NOT_STARTED: gettext_noop(
            "an attribute's value without quotes"
        ),
        etree.ErrorTypes.ERR_GT_REQUIRED: gettext_noop("a tag is not closed by “>”"),
        etree.ErrorTypes.ERR_TAG_NAME_MISMATCH: gettext_noop(
            "a closing tag is not that of the element it closes"
        ),
        etree.ErrorTypes.ERR_TAG_NOT_FINISHED: gettext_noop(
            "the file ends before its elements are closed (cut short?)"
        ),
    }


_POSITION = re.compile(r",? line \d+, column \d+$")  # libxml2's, said in our words


def not_well_formed(file: str, error: etree.XMLSyntaxError) -> str:
    """Why ``file`` is not XML: where (line and column, when libxml2 knows them) and what,
    in the reader's language, then libxml2's own words (English) for whoever fixes it."""
    what = _xml_errors().get(error.code)
    detail = _POSITION.sub("", error.msg or "").strip()
    line, column = error.position if error.position and error.position[0] else (None, None)
    values = {"file": file, "line": line, "column": column, "detail": detail,
              "what": _(what) if what else detail or _("a syntax error")}  # fmt: skip
    if line is None:
        text = _("%(file)s is not well-formed XML: %(what)s.") % values
    else:
        text = _("%(file)s is not well-formed XML, line %(line)s, column %(column)s: %(what)s.")
        text %= values
    if what and detail:
        text += " " + _("Technical detail: %(detail)s") % values
    return text
