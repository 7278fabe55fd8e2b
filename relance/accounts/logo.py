"""The organisation's logo: a PNG or JPEG image, checked from its content, never its name.

Only PNG and JPEG are taken. SVG is refused: it is a document, not a picture (it may carry
scripts, links to other addresses and entity expansions that blow up when parsed), and a
logo served from Relance's own address must never run anything in a member's browser.
The file's name and the type the browser claims are ignored: the first bytes say what it
is (a PNG renamed ``.jpg`` is stored and served as the PNG it is). The size in bytes and
in pixels is read from the image's header before anything is stored, so that a small file
declaring a huge image (a decompression bomb) is refused too.

Stored under ``logos/`` in the default storage (``MEDIA_ROOT``), which no URL serves: the
console serves it, to signed-in members of the organisation only.
"""

from __future__ import annotations

import secrets
import struct
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

from django.core.files.base import ContentFile
from django.db import transaction
from django.utils.translation import gettext_noop

from relance.accounts.models import Organisation
from relance.audit import trail
from relance.ledger.timeline import Text

if TYPE_CHECKING:
    from django.http import HttpRequest

MAX_BYTES = 1024 * 1024  # a logo is a few tens of kilobytes
MAX_SIDE = 2000  # pixels, either side
MAX_PIXELS = 2000 * 1000

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_START = b"\xff\xd8\xff"
TYPES = {"png": "image/png", "jpeg": "image/jpeg"}


class LogoRefused(ValueError):
    """The file is not a logo Relance takes; nothing was written."""


@dataclass(frozen=True)
class Image:
    kind: str  # "png" or "jpeg"
    width: int
    height: int

    @property
    def content_type(self) -> str:
        return TYPES[self.kind]


def sniff(content: bytes) -> Image:
    """What the bytes are, with their size in pixels; ``LogoRefused`` saying why not."""
    if content.startswith(PNG_SIGNATURE):
        image = _png(content)
    elif content.startswith(JPEG_START):
        image = _jpeg(content)
    elif content.lstrip()[:5].lower() in (b"<?xml", b"<svg ") or b"<svg" in content[:1024]:
        raise LogoRefused("SVG is not accepted (it may carry scripts): use PNG or JPEG")
    else:
        raise LogoRefused("not a PNG or JPEG image")
    if image.width < 1 or image.height < 1:
        raise LogoRefused("the image has no size")
    if image.width > MAX_SIDE or image.height > MAX_SIDE or image.width * image.height > MAX_PIXELS:
        raise LogoRefused(
            f"{image.width}×{image.height} pixels is too large: at most {MAX_SIDE} pixels a "
            f"side and {MAX_PIXELS:,} in all"
        )
    return image


def _png(content: bytes) -> Image:
    # The first chunk is IHDR: length, "IHDR", width, height (big-endian); the last IEND.
    if content[12:16] != b"IHDR" or len(content) < 24:
        raise LogoRefused("a damaged PNG (no header)")
    if not content.rstrip(b"\x00").endswith(b"IEND\xaeB`\x82"):
        raise LogoRefused("a damaged or incomplete PNG")
    width, height = struct.unpack(">II", content[16:24])
    return Image("png", width, height)


# Start-of-frame markers carry the size; C4 (Huffman tables), C8 and CC are not frames.
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg(content: bytes) -> Image:
    at = 2
    while at + 4 <= len(content):
        if content[at] != 0xFF:
            raise LogoRefused("a damaged JPEG")
        marker = content[at + 1]
        if marker == 0xFF:  # padding
            at += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # markers without a length
            at += 2
            continue
        (length,) = struct.unpack(">H", content[at + 2 : at + 4])
        if marker in _SOF:
            if at + 9 > len(content):
                break
            height, width = struct.unpack(">HH", content[at + 5 : at + 9])
            if not content.rstrip(b"\x00").endswith(b"\xff\xd9"):
                raise LogoRefused("a damaged or incomplete JPEG")
            return Image("jpeg", width, height)
        if marker == 0xDA or length < 2:  # image data before any frame header
            break
        at += 2 + length
    raise LogoRefused("a damaged JPEG (no frame header)")


def read_upload(upload: IO[bytes] | Any) -> bytes:
    """At most MAX_BYTES of an uploaded file; ``LogoRefused`` when there is more."""
    size = getattr(upload, "size", None)
    if size is not None and size > MAX_BYTES:
        raise LogoRefused(f"the file is over {MAX_BYTES // 1024} KB")
    content = upload.read(MAX_BYTES + 1)
    if len(content) > MAX_BYTES:
        raise LogoRefused(f"the file is over {MAX_BYTES // 1024} KB")
    return bytes(content)


def set_logo(
    organisation: Organisation,
    content: bytes,
    *,
    user: Any = None,
    request: HttpRequest | None = None,
) -> Image:
    """Check then store ``content`` as the organisation's logo, replacing the previous one
    (whose file is removed once the change is saved)."""
    if len(content) > MAX_BYTES:
        raise LogoRefused(f"the file is over {MAX_BYTES // 1024} KB")
    image = sniff(content)
    old = organisation.logo.name or ""
    # Named by Relance, never by the uploader: the slug, a random part, the real type.
    name = f"{organisation.slug}-{secrets.token_hex(6)}.{'png' if image.kind == 'png' else 'jpg'}"
    with transaction.atomic():
        organisation.logo.save(name, ContentFile(content), save=False)
        organisation.save(update_fields=["logo"])
        trail.record(organisation, "organisation.settings_changed", user=user,
                     target=organisation, summary=Text(gettext_noop("changed logo")),
                     request=request,
                     data={"changes": {"logo": {"old": old, "new": organisation.logo.name}},
                           "type": image.content_type, "bytes": len(content),
                           "pixels": [image.width, image.height]})  # fmt: skip
        if old and old != organisation.logo.name:
            storage = organisation.logo.storage
            transaction.on_commit(lambda: storage.delete(old))
    return image


def remove_logo(
    organisation: Organisation, *, user: Any = None, request: HttpRequest | None = None
) -> bool:
    old = organisation.logo.name or ""
    if not old:
        return False
    storage = organisation.logo.storage
    with transaction.atomic():
        organisation.logo = ""
        organisation.save(update_fields=["logo"])
        trail.record(organisation, "organisation.settings_changed", user=user,
                     target=organisation, summary=Text(gettext_noop("removed logo")),
                     request=request,
                     data={"changes": {"logo": {"old": old, "new": ""}}})  # fmt: skip
        transaction.on_commit(lambda: storage.delete(old))
    return True


def logo_of(organisation: Organisation) -> tuple[bytes, str] | None:
    """The stored logo and its type, sniffed again (a file swapped on disk is not served
    as something else); None without one."""
    if not organisation.logo:
        return None
    try:
        with organisation.logo.open("rb") as fh:
            content = fh.read(MAX_BYTES + 1)
        return content, sniff(content).content_type
    except (OSError, LogoRefused):
        return None
