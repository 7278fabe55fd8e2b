"""Phone numbers as a text message needs them: E.164 (``+33612345678``), mobiles only.

Pure functions. A number written the national way (``06 12 34 56 78``) is read in the
customer's country; one written the international way (``+33 6 12 34 56 78``, ``0033...``,
``+33 (0)6...``) in its own. Numbers that surely cannot receive a text are refused: the
fixed lines, special-rate and VoIP ranges of the countries whose mobile ranges are listed
here (France, its overseas departments, and the neighbours a French company sells to most).
Elsewhere a well-formed number is accepted: the provider says later if it is not a mobile.
"""

from __future__ import annotations

import re


class NotMobile(ValueError):
    """Not a number a text message can be sent to (the message says why)."""


# Country (ISO 3166 alpha-2) → calling code, for numbers written the national way.
CALLING_CODES = {
    "FR": "33", "MC": "377", "BE": "32", "LU": "352", "CH": "41", "DE": "49", "ES": "34",
    "IT": "39", "GB": "44", "IE": "353", "NL": "31", "PT": "351", "AT": "43",
    "GP": "590", "MQ": "596", "GF": "594", "RE": "262", "YT": "262", "PM": "508",
}  # fmt: skip
# Countries whose national numbers keep their leading zero after the calling code.
KEEPS_ZERO = frozenset({"IT"})

# Calling code → the starts of its mobile numbers (national significant number), where
# we know them. French mobiles are 06 and 07; the overseas departments' have their own.
MOBILE_PREFIXES: dict[str, tuple[str, ...]] = {
    "33": ("6", "7"),
    "590": ("690", "691"),
    "596": ("696", "697"),
    "594": ("694",),
    "262": ("692", "693", "639"),
    "508": ("55",),
    "32": ("4",),
    "352": ("6",),
    "41": ("75", "76", "77", "78", "79"),
    "49": ("15", "16", "17"),
    "34": ("6", "7"),
    "39": ("3",),
    "44": ("7",),
    "353": ("8",),
    "31": ("6",),
    "351": ("9",),
    "43": ("6",),
    "377": ("6",),
}
# National significant numbers' lengths where we know them (France: nine digits).
LENGTHS = {"33": (9,), "590": (9,), "596": (9,), "594": (9,), "262": (9,), "32": (9,)}

_SEPARATORS = re.compile(r"[\s.\-/()\u00a0\u202f]")


def normalise(raw: str, country: str = "FR") -> str:
    """``raw`` in E.164 with its ``+``; raises ``NotMobile`` saying why when it is not a
    mobile number we can text."""
    text = (raw or "").strip()
    if not text:
        raise NotMobile("no number")
    text = text.replace("(0)", "")
    text = _SEPARATORS.sub("", text)
    if text.startswith("00"):
        text = "+" + text[2:]
    if text.startswith("+"):
        digits = text[1:]
        if not digits.isdigit():
            raise NotMobile(f"{raw!r} is not a phone number")
        code = _calling_code(digits)
        national = digits[len(code) :] if code else ""
    else:
        if not text.isdigit():
            raise NotMobile(f"{raw!r} is not a phone number")
        code = CALLING_CODES.get((country or "FR").upper(), "")
        if not code:
            raise NotMobile(f"{raw!r}: write it with its country code (+...)")
        national = text if country.upper() in KEEPS_ZERO else text.removeprefix("0")
        digits = code + national
    if not 8 <= len(digits) <= 15:
        raise NotMobile(f"{raw!r} has {len(digits)} digits: not a phone number")
    if code:
        if code in LENGTHS and len(national) not in LENGTHS[code]:
            raise NotMobile(f"{raw!r} is not a complete number")
        prefixes = MOBILE_PREFIXES.get(code)
        if prefixes and not national.startswith(prefixes):
            raise NotMobile(f"{raw!r} is not a mobile number")
    return "+" + digits


def _calling_code(digits: str) -> str:
    """The calling code ``digits`` starts with, among those we know ("" otherwise). The
    longest wins: +352 is Luxembourg, not +35."""
    known = sorted(set(CALLING_CODES.values()), key=len, reverse=True)
    return next((code for code in known if digits.startswith(code)), "")


def is_mobile(raw: str, country: str = "FR") -> bool:
    try:
        normalise(raw, country)
    except NotMobile:
        return False
    return True
