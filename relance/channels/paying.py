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
writes UTF-8 and two decimals, as banks print them. segno draws the code.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import io
import struct
import zlib
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import TYPE_CHECKING

import segno
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
# The mask pattern, fixed: segno tries all eight and keeps the best, 14 ms a code against
# 3 ms for one, and every reader decodes any of them. 3 is the one segno most often
# chooses for these payloads.
MASK = 3
# Light modules around the code, as the QR code standard asks.
BORDER = 4
# PNG: pixels per module. A payment code is about 45 modules, so some 210 pixels wide.
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
        """Width and height of ``png()``, in pixels."""
        return int(_qr(self.payload).symbol_size(scale=PNG_SCALE, border=BORDER)[0])


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


@functools.lru_cache(maxsize=256)
def _qr(payload: str) -> segno.QRCode:
    # Bytes: byte mode without an ECI header, as banking apps expect.
    return segno.make_qr(payload.encode("utf-8"), error=ERROR, boost_error=False, mask=MASK)


# The same code is drawn once: a batch reminds customers of the same amounts again, and a
# message is built again when its sending is retried.
@functools.lru_cache(maxsize=1024)
def _png(payload: str) -> bytes:
    return png_of(_qr(payload).matrix, scale=PNG_SCALE, border=BORDER)


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
