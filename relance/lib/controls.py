"""Control characters in the texts Relance keeps: one rule, for the API and every import.

A one-line value (a reference, an invoice number, a name, a currency: a model's
``CharField``) holds no control character: a line break in an invoice number splits an
e-mail's subject and a CSV's row, a tab or an escape is invisible on a page and in a letter,
and PostgreSQL refuses NUL. Unicode's own line and paragraph separators (U+2028, U+2029)
and the C1 controls (U+0080 to U+009F, which no text of Windows-1252 decodes to) break lines
as well. A multi-line value (a note: a ``TextField``) may hold line breaks and tabs, never
NUL.
"""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

# As regular expressions both Python and the API's validation (pydantic) read.
ONE_LINE = r"^[^\x00-\x1F\x7F-\x9F\u2028\u2029]*$"
MULTI_LINE = r"^[^\x00]*$"
_FOUND = {
    False: re.compile(r"[\x00-\x1F\x7F-\x9F\u2028\u2029]"),
    True: re.compile(r"\x00"),
}


def found_in(text: str, *, multiline: bool = False) -> bool:
    """Whether ``text`` holds a character its kind of value may not (a pass in C: give it
    the values of a whole column joined, then look for the culprits one by one)."""
    if multiline:
        return "\x00" in text
    # The usual text is printable through and through, told at C speed; a text that is not
    # (a no-break space, say) is looked at for the characters this rule is about.
    return not text.isprintable() and _FOUND[False].search(text) is not None


def problem(value: str, *, multiline: bool = False) -> str | None:
    """Why ``value`` cannot be kept (the first control character in it, named by its code
    point), or None."""
    found = _FOUND[multiline].search(value)
    if found is None:
        return None
    shown = value if len(value) <= 40 else value[:37] + "..."
    return _("%(value)s holds a control character (U+%(code)04X), which Relance does not keep") % {
        "value": repr(shown), "code": ord(found.group())
    }  # fmt: skip


def validate_one_line(value: str) -> None:
    """A form field's validator (the portal's, the console's): ValidationError naming the
    control character found."""
    if found := problem(value):
        raise ValidationError(found, code="control_character")
