"""How many text messages a text costs: GSM-7 or UCS-2, and the segments it is cut into.

Pure functions, no Django. A text whose every character is in the GSM 03.38 alphabet
(basic set, or the extension table whose characters take two septets: an escape and the
character) goes as GSM-7: 160 septets in one message, 153 per segment once concatenated
(the concatenation header takes the rest). One character outside it and the whole text
goes as UCS-2: 70 UTF-16 units alone, 67 per segment. Much of French is in GSM-7 (é, è,
à, ù, É, Ç) but not all: ê, â, î, ô, û, ç, œ, the typographic apostrophe and the narrow
no-break space before a colon each turn a 160-character message into a 70-character one.

``fit`` keeps a text within a cap of segments: first by writing the characters that force
UCS-2 with their nearest GSM-7 equivalents (ê → e, ç → c, œ → oe, ’ → '), then by
shortening it at a word, never by sending more than the cap.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

# GSM 03.38 basic character set (the escape, 0x1B, left out: it is not a character).
GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# The extension table: each character is sent as an escape and itself, two septets.
GSM_EXTENSION = frozenset("^{}\\[~]|€\f")

GSM7 = "GSM-7"
UCS2 = "UCS-2"

# Units per message: alone, and per segment of a concatenated message.
SINGLE = {GSM7: 160, UCS2: 70}
PER_SEGMENT = {GSM7: 153, UCS2: 67}

# The nearest GSM-7 writing of characters common in French (and around it) that are not
# in the alphabet; anything else falls back on its letters without accents, if those are.
NEAREST = {
    "ê": "e", "ë": "e", "â": "a", "î": "i", "ï": "i", "ô": "o", "û": "u", "ç": "c",
    "á": "a", "í": "i", "ó": "o", "ú": "u", "ý": "y", "ã": "a", "õ": "o", "ÿ": "y",
    "À": "A", "Â": "A", "È": "E", "Ê": "E", "Ë": "E", "Î": "I", "Ï": "I", "Ô": "O",
    "Û": "U", "Ù": "U", "Ÿ": "Y", "Á": "A", "Í": "I", "Ó": "O", "Ú": "U",
    "œ": "oe", "Œ": "OE",
    "\u2019": "'", "\u2018": "'", "\u201a": "'", "\u2032": "'", "`": "'", "´": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "«": '"', "»": '"',
    "\u2013": "-", "\u2014": "-", "\u2010": "-", "\u2011": "-", "\u2212": "-",
    "\u2026": "...", "\u00a0": " ", "\u202f": " ", "\u2009": " ", "\u2007": " ",
    "\t": " ", "•": "-", "·": ".", "°": "o",
}  # fmt: skip
ELLIPSIS = "..."


@dataclass(frozen=True)
class Count:
    encoding: str  # GSM7 or UCS2
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int  # 0 for an empty text


def is_gsm(text: str) -> bool:
    return all(c in GSM_BASIC or c in GSM_EXTENSION for c in text)


def encoding_of(text: str) -> str:
    return GSM7 if is_gsm(text) else UCS2


def _units(char: str, encoding: str) -> int:
    if encoding == GSM7:
        return 2 if char in GSM_EXTENSION else 1
    return 2 if ord(char) > 0xFFFF else 1  # a surrogate pair in UTF-16


def split(text: str) -> list[str]:
    """The segments ``text`` goes out in. A character is never cut in two: an extension
    character (escape and character) or a surrogate pair that would straddle a boundary
    starts the next segment, as phones and providers do."""
    if not text:
        return []
    encoding = encoding_of(text)
    units = [_units(c, encoding) for c in text]
    if sum(units) <= SINGLE[encoding]:
        return [text]
    limit = PER_SEGMENT[encoding]
    parts: list[str] = []
    start, used = 0, 0
    for index, size in enumerate(units):
        if used + size > limit:
            parts.append(text[start:index])
            start, used = index, 0
        used += size
    parts.append(text[start:])
    return parts


def count(text: str) -> Count:
    encoding = encoding_of(text)
    units = sum(_units(c, encoding) for c in text)
    return Count(encoding, units, len(split(text)))


def to_gsm(text: str) -> str:
    """``text`` with the characters that force UCS-2 written with their nearest GSM-7
    equivalents where there is one; characters without one (an emoji, a Chinese name) are
    kept: the text then stays UCS-2."""
    out = []
    for char in text:
        if char in GSM_BASIC or char in GSM_EXTENSION:
            out.append(char)
        elif char in NEAREST:
            out.append(NEAREST[char])
        else:
            bare = "".join(
                c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c)
            )
            out.append(bare if bare and is_gsm(bare) else char)
    return "".join(out)


def fit(text: str, cap: int) -> str:
    """``text`` within ``cap`` segments: as it is if it fits; else in GSM-7 where it can be
    written so; else shortened at a word and ended with "..."."""
    if cap < 1:
        raise ValueError("the cap is at least one segment")
    if count(text).segments <= cap:
        return text
    plain = to_gsm(text)
    if count(plain).segments <= cap:
        return plain
    return shorten(plain, cap)


def shorten(text: str, cap: int) -> str:
    """The longest start of ``text`` that, with "..." after it, fits ``cap`` segments; cut
    after a word when one ends in its last fifth."""
    encoding = encoding_of(text)
    # A boundary may leave one unit unused (a two-unit character moved to the next one).
    budget = (SINGLE if cap == 1 else PER_SEGMENT)[encoding] * cap - len(ELLIPSIS) - (cap - 1)
    used, end = 0, 0
    for index, char in enumerate(text):
        used += _units(char, encoding)
        if used > budget:
            break
        end = index + 1
    cut = text[:end]
    space = max(cut.rfind(" "), cut.rfind("\n"))
    if space >= end * 4 // 5:
        cut = cut[:space]
    shortened = cut.rstrip() + ELLIPSIS
    while count(shortened).segments > cap:  # never reached with the margin above; a guard
        cut = cut[:-1]
        shortened = cut.rstrip() + ELLIPSIS
    return shortened
