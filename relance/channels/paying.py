"""Paying made easy: the EPC QR code a banking app scans to fill in a SEPA credit transfer
(European Payments Council, EPC069-12 "Quick Response Code: guidelines to enable data
capture for the initiation of a SEPA credit transfer", version 002).

``epc_qr(details, amount, currency)`` is the one way to make it, for e-mails, letters and
pages: the organisation's bank details (``identity.bank_details``), the amount due and its
currency. There is no code without an IBAN, nor for another currency than the euro (SEPA
transfers are in euros), nor for an amount outside 0.01 to 999,999,999.99: the message
then shows the bank details alone, and nothing is invented.

The payload is written here rather than by ``segno.helpers.make_epc_qr``: segno drops the
amount's trailing zeros (``EUR12.5``) and picks ISO 8859-1 when it can, where Relance
writes UTF-8 and two decimals, as banks print them. segno draws the SVG; the PNG of the
e-mails is drawn from a matrix placed here from per-version tables (``matrix_of``: the
same modules as segno's, in a quarter of the time).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import io
import itertools
import struct
import zlib
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import segno
from segno import consts as segno_consts
from segno import encoder as segno_encoder
from stdnum import iban as stdnum_iban
from stdnum import iso11649

if TYPE_CHECKING:
    from relance.accounts.identity import BankDetails

CURRENCY = "EUR"  # the only currency of a SEPA credit transfer
MIN_AMOUNT = Decimal("0.01")
MAX_AMOUNT = Decimal("999999999.99")
MAX_NAME = 70  # characters
MAX_BYTES = 331  # the whole payload
# Error correction level M, as EPC069-12 requires (and no higher: the code stays small).
ERROR = "m"
# The mask pattern, fixed: segno tries all eight and keeps the one that scores best, 14 ms
# a code, where every reader decodes any of them. 3 is the one segno most often chooses
# for these payloads.
MASK = 3
# Light modules around the code, as the QR code standard asks.
BORDER = 4
# PNG: pixels per module. A payment code is about 41 modules and its border 8, some 200
# pixels wide.
PNG_SCALE = 4


@dataclass(frozen=True)
class PaymentCode:
    """An EPC QR code: its payload (the text the banking app reads) and its images."""

    payload: str
    amount: Decimal
    reference: str  # compact ISO 11649 reference, as in the payload

    @property
    def data(self) -> bytes:
        return self.payload.encode("utf-8")

    @property
    def content_id(self) -> str:
        """A name for the image inside one e-mail (``cid:``), the same for the same code."""
        return f"epc-{hashlib.sha256(self.data).hexdigest()[:24]}@relance"

    def png(self) -> bytes:
        """The code as a black and white PNG, ``PNG_SCALE`` pixels a module (e-mails)."""
        return _png(self.payload)

    def svg(self, size_mm: float = 25) -> str:
        """The code as an SVG document ``size_mm`` wide and high (letters, pages)."""
        qr = _qr(self.payload)
        modules = qr.symbol_size(scale=1, border=BORDER)[0]
        out = io.BytesIO()
        qr.save(out, kind="svg", xmldecl=False, svgns=True, unit="mm", border=BORDER,
                scale=size_mm / modules, title="EPC QR code", nl=False)  # fmt: skip
        return out.getvalue().decode()

    @property
    def pixels(self) -> int:
        """Width and height of ``png()``, in pixels (read from the PNG's header)."""
        return int.from_bytes(self.png()[16:20], "big")


@dataclass(frozen=True)
class Payment:
    """What a message says about paying by transfer: its templates' ``payment``. The bank
    details; and when a code can be made, the amount it asks for and where the message
    shows it (``qr``: ``cid:...`` in an e-mail, set by the channel; empty elsewhere)."""

    holder: str
    iban: str  # formatted in groups of four
    bic: str
    reference: str  # the customer's RF reference, formatted in groups of four
    amount: Decimal | None = None  # what the code asks for, in ``currency`` (EUR)
    currency: str = ""
    code: PaymentCode | None = None
    qr: str = ""  # the image's address in the message
    qr_size: int = 0  # its width and height, in pixels

    def shown_at(self, address: str) -> Payment:
        """The same, its code shown at ``address`` (``cid:...``, ``data:...``)."""
        if self.code is None:
            return self
        return replace(self, qr=address, qr_size=self.code.pixels)


def payment_for(
    details: BankDetails | None, amount: Decimal | None, currency: str
) -> Payment | None:
    """``payment`` for a message asking for ``amount``: None without bank details; the
    details alone when no code can be made (see ``epc_qr``)."""
    if details is None:
        return None
    code = epc_qr(details, amount, currency)
    return Payment(
        holder=details.holder, iban=details.iban, bic=details.bic, reference=details.reference,
        amount=code.amount if code else None, currency=CURRENCY if code else "", code=code,
    )  # fmt: skip


def data_uri(code: PaymentCode) -> str:
    """The PNG as a ``data:`` address, for a page that shows a message (the console's
    preview); e-mails carry the image as a part of their own (many mail programs block
    ``data:`` images)."""
    return "data:image/png;base64," + base64.b64encode(code.png()).decode("ascii")


def epc_qr(
    details: BankDetails | None, amount: Decimal | None, currency: str
) -> PaymentCode | None:
    """The EPC QR code for paying ``amount`` (``currency``) by transfer to the account of
    ``details``, with the customer's RF reference as structured remittance; None when no
    code can be made: no bank details (no IBAN), another currency than EUR, or an amount
    outside 0.01 to 999,999,999.99."""
    if details is None or amount is None or currency != CURRENCY:
        return None
    if not MIN_AMOUNT <= amount <= MAX_AMOUNT:
        return None
    reference = iso11649.compact(details.reference)
    payload = epc_payload(
        name=details.holder, iban=details.iban, bic=details.bic, amount=amount,
        reference=reference,
    )  # fmt: skip
    return PaymentCode(payload=payload, amount=amount, reference=reference)


def epc_payload(
    *,
    name: str,
    iban: str,
    amount: Decimal,
    reference: str = "",
    text: str = "",
    bic: str = "",
    purpose: str = "",
) -> str:
    """The EPC069-12 payload, version 002, UTF-8: one element a line (LF), the last one
    written not followed by a line break. ``reference`` (ISO 11649, structured) or
    ``text`` (unstructured), never both. ``ValueError`` for what the guidelines refuse."""
    if bool(reference) == bool(text):
        raise ValueError("either a structured reference or a text, not both")
    if amount != amount.quantize(Decimal("0.01")) or not MIN_AMOUNT <= amount <= MAX_AMOUNT:
        raise ValueError(f"{amount} is not an amount of 0.01 to {MAX_AMOUNT} EUR in cents")
    # A name longer than the guidelines allow is cut rather than the code left out: the
    # bank compares it with the account's holder, and the start of a name is what matches.
    name = " ".join(name.split())[:MAX_NAME].rstrip()
    if not name:
        raise ValueError("the beneficiary's name is required")
    if reference and not iso11649.is_valid(reference):
        raise ValueError(f"{reference!r} is not an ISO 11649 creditor reference")
    if len(text) > 140 or len(purpose) not in (0, 4) or len(bic) not in (0, 8, 11):
        raise ValueError("text over 140 characters, or a wrong purpose code or BIC")
    elements = [
        "BCD",  # service tag
        "002",  # version: the BIC is optional in the EEA
        "1",  # character set: UTF-8
        "SCT",  # SEPA credit transfer
        bic,
        name,
        stdnum_iban.compact(iban),
        f"{CURRENCY}{amount:.2f}",
        purpose,
        iso11649.compact(reference) if reference else "",
        text,
    ]
    while not elements[-1]:  # trailing empty elements are left out
        elements.pop()
    payload = "\n".join(elements)
    if len(payload.encode("utf-8")) > MAX_BYTES:
        raise ValueError(f"the payload is over {MAX_BYTES} bytes")
    return payload


@functools.lru_cache(maxsize=64)
def _qr(payload: str) -> segno.QRCode:
    # Bytes: byte mode without an ECI header, as banking apps expect.
    return segno.make_qr(
        payload.encode("utf-8"), error=ERROR, mode="byte", boost_error=False, mask=MASK
    )


# The same code is drawn once: a batch reminds customers of the same amounts again, and a
# message is built again when its sending is retried.
@functools.lru_cache(maxsize=1024)
def _png(payload: str) -> bytes:
    return png_of(matrix_of(payload.encode("utf-8")), scale=PNG_SCALE, border=BORDER)


# -- the matrix, quickly -------------------------------------------------------------------
# segno.make_qr takes 3 ms for a payment code (with its mask fixed), most of it placing the
# bits one module at a time: too much for every e-mail of a batch. Where the bits go is the
# same for every code of one version, and so is everything but the data (finder, timing
# and alignment patterns, format and version information, the mask over the data): both
# are worked out once per version with segno's own functions, and a code is then its
# codewords (segno's Reed-Solomon) placed over that. The same matrix as segno's, module
# for module (tests/test_paying.py), in a tenth of the time.

_M = segno_consts.ERROR_LEVEL_M
_CAPACITY: Any = segno_consts.SYMBOL_CAPACITY  # data bits by version and level
_BLOCKS: Any = segno_consts.ECC  # error correction blocks by version and level
MAX_VERSION = 13  # EPC069-12: a payment code is version 13 at most


@functools.cache
def _layout(version: int) -> tuple[bytes, tuple[int, ...], int]:
    """The matrix of ``version`` with no data (flat, row by row), the places of the data's
    bits in order, and the width."""
    width = segno_encoder.calc_matrix_size(version)
    function = segno_encoder.make_matrix(width, width)
    segno_encoder.add_finder_patterns(function, width, width)
    segno_encoder.add_alignment_patterns(function, width, width)
    function[-8][8] = 0x1  # the dark module
    places = []
    for right in range(width - 1, 0, -2):  # ISO/IEC 18004 7.7.3, as segno's add_codewords
        if right <= 6:
            right -= 1
        upwards = (right & 2) == 0
        for vertical in range(width):
            for column in (right, right - 1):
                row = width - 1 - vertical if upwards ^ (column < 6) else vertical
                if function[row][column] == 0x2:
                    places.append(row * width + column)
    blank = segno_encoder.make_matrix(width, width)
    segno_encoder.add_finder_patterns(blank, width, width)
    segno_encoder.add_alignment_patterns(blank, width, width)
    mask = segno_encoder.get_data_mask_functions(False)[MASK]
    for place in places:
        row, column = divmod(place, width)
        blank[row][column] = mask(row, column)
    segno_encoder.add_format_info(blank, version, _M, MASK)
    segno_encoder.add_version_info(blank, version)
    return b"".join(blank), tuple(places), width


class _Codewords:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def toints(self) -> Any:  # what segno's make_blocks reads
        return iter(self.data)


def matrix_of(data: bytes) -> list[bytearray]:
    """The QR code of ``data`` in byte mode, level M, mask ``MASK``, smallest version: rows
    of modules (1 dark)."""
    for version in range(1, MAX_VERSION + 1):
        count_bits = 8 if version < 10 else 16
        capacity = _CAPACITY[version][_M]  # data bits
        if 4 + count_bits + 8 * len(data) <= capacity:
            break
    else:
        raise ValueError(f"{len(data)} bytes do not fit a version {MAX_VERSION} code")
    # Mode (byte), count, data, terminator, zero bits to the next byte, then the pad
    # codewords 0xEC 0x11. As segno writes them: a whole zero byte when the terminator ends
    # on a byte boundary (readers stop at the terminator), so that the two agree.
    bits = 0b0100 << count_bits | len(data)
    bits = bits << 8 * len(data) | int.from_bytes(data, "big")
    written = 4 + count_bits + 8 * len(data)
    used = written + min(4, capacity - written)
    if used < capacity:
        used += 8 - used % 8
    bits <<= used - written
    words = bits.to_bytes(used // 8, "big")
    words += (b"\xec\x11" * (capacity // 16 + 1))[: capacity // 8 - len(words)]
    blocks, errors = segno_encoder.make_blocks(_BLOCKS[version][_M], _Codewords(words))
    final = bytearray()
    for group in (blocks, errors):  # interleaved, block after block, ISO/IEC 18004 7.6
        for column in itertools.zip_longest(*group):
            final += bytes(word for word in column if word is not None)
    template, places, width = _layout(version)
    flat = bytearray(template)
    stream = int.from_bytes(final, "big")
    length = 8 * len(final)
    for index in range(length):
        if stream >> (length - 1 - index) & 1:
            flat[places[index]] ^= 1
    return [flat[row : row + width] for row in range(0, width * width, width)]


_LIGHT, _DARK = b"1", b"0"  # 1-bit grey: 1 is white


def png_of(matrix: tuple[bytearray, ...] | list[bytearray], *, scale: int, border: int) -> bytes:
    """A 1-bit greyscale PNG of a matrix of modules (1 dark), written directly: segno's PNG
    writer takes 3.5 ms a code, this one a tenth of that."""
    size = (len(matrix) + 2 * border) * scale
    row_bytes = (size + 7) // 8
    padding = row_bytes * 8 - size
    light_row = b"\x00" + int(b"1" * (row_bytes * 8), 2).to_bytes(row_bytes, "big")
    edge = _LIGHT * (border * scale)
    modules = {1: _DARK * scale, 0: _LIGHT * scale}
    rows = [light_row] * (border * scale)
    for line in matrix:
        bits = edge + b"".join([modules[m] for m in line]) + edge + _LIGHT * padding
        rows += [b"\x00" + int(bits, 2).to_bytes(row_bytes, "big")] * scale
    rows += [light_row] * (border * scale)
    header = struct.pack(">IIBBBBB", size, size, 1, 0, 0, 0, 0)
    return b"".join(
        (
            b"\x89PNG\r\n\x1a\n",
            _chunk(b"IHDR", header),
            _chunk(b"IDAT", zlib.compress(b"".join(rows), 9)),
            _chunk(b"IEND", b""),
        )
    )


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
