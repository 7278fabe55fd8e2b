"""ZIP archives as the imports read them: a ZIP of e-invoices or of bank statements, and the
XLSX and ODS workbooks, which are ZIPs. What a hostile or broken archive is refused for
lives here, for every reader:

- a central directory larger than MAX_ENTRIES entries could take is refused before
  ``zipfile`` reads it (it builds an object per entry: a ZIP of a million empty files,
  88 MB, takes 560 MB and 10 s to open);
- files that unpack to more than MAX_UNPACKED bytes in all refuse the archive, a file that
  unpacks to more than MAX_RATIO times its packed size (a ZIP bomb) is refused, both
  before anything is unpacked (``zipfile`` never unpacks more than a member declares);
- a member is read no further than its reader's limit, and every way reading it can fail
  (damaged data, a wrong checksum, a password, an unknown compression) is a message;
- a ZIP inside the ZIP is refused by name (``refuse_inner_zip``), never unpacked.
"""

from __future__ import annotations

import lzma
import struct
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path, PureWindowsPath

from django.utils.translation import gettext as _

MAX_ENTRIES = 10_000
# A directory entry is 46 bytes and the file's name: 512 bytes each on average is a long
# path; this bounds how many entries a directory that lies about its count can hold.
MAX_DIRECTORY_BYTES = MAX_ENTRIES * 512
MAX_UNPACKED = 2_000_000_000  # all the files of an archive, unpacked
MAX_RATIO = 100  # a spreadsheet's XML packs 14 to 1, an invoice's XML about 10 to 1
_RATIO_FROM = 1 << 20  # smaller files may pack as well as they like

_EOCD = struct.Struct("<4s4H2LH")  # end of central directory record
_EOCD64_LOCATOR = struct.Struct("<4sLQL")
_EOCD64 = struct.Struct("<4sQ2H2L4Q")
_CHUNK = 1 << 20

# What reading a member raises, besides the archive's own errors: damaged deflate data,
# a stream cut short, a password, a compression zipfile does not know, a bad checksum.
_READ_ERRORS = (zipfile.BadZipFile, zlib.error, lzma.LZMAError, EOFError, OSError,
                NotImplementedError, RuntimeError, ValueError)  # fmt: skip


class Unreadable(Exception):
    """An archive, or a member of it, that is not read; the message says why."""


class TooLarge(Unreadable):
    """A member larger than its reader's limit."""


def open_zip(path: Path) -> zipfile.ZipFile:
    """The archive at ``path``, its directory's size checked before ``zipfile`` reads it."""
    try:
        entries, size = _directory(path)
    except OSError as error:
        raise Unreadable(_("not a readable ZIP: %(error)s") % {"error": error}) from None
    if entries > MAX_ENTRIES or size > MAX_DIRECTORY_BYTES:
        raise Unreadable(_("more than %(limit)s files") % {"limit": f"{MAX_ENTRIES:,}"})
    try:
        return zipfile.ZipFile(path)
    except (*_READ_ERRORS, struct.error) as error:
        raise Unreadable(_("not a readable ZIP: %(error)s") % {"error": error}) from None


def members(archive: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    """The archive's files in name order (no folder, no macOS ``__MACOSX/`` or hidden
    file); Unreadable when they would unpack too large in all."""
    found = sorted(
        (m for m in archive.infolist()
         if not m.is_dir() and not m.filename.startswith("__MACOSX/")
         and not base_name(m.filename).startswith(".")),
        key=lambda m: m.filename,
    )  # fmt: skip
    total = sum(m.file_size for m in found)
    if total > MAX_UNPACKED:
        raise Unreadable(
            _("its files would unpack to %(size)s bytes, more than %(limit)s")
            % {"size": f"{total:,}", "limit": f"{MAX_UNPACKED:,}"}
        )
    return found


def base_name(name: str) -> str:
    """A file's own name, whatever wrote its path: after the last ``/`` or ``\\`` (a ZIP made
    on Windows may use either), without a drive (``C:``). ``a\\..\\..\\evil.pdf`` is
    ``evil.pdf``: a name to show and to store a file under, never a path."""
    return PureWindowsPath(name).name


def check(member: zipfile.ZipInfo) -> None:
    """Unreadable when the member would unpack to more than MAX_RATIO times its size in
    the archive: a ZIP bomb."""
    if member.file_size > _RATIO_FROM and member.file_size > MAX_RATIO * max(
        member.compress_size, 1
    ):
        raise Unreadable(
            _(
                "unpacks too large: %(size)s bytes from %(packed)s in the ZIP, more than "
                "%(ratio)s times (a ZIP bomb?)"
            )
            % {
                "size": f"{member.file_size:,}",
                "packed": f"{member.compress_size:,}",
                "ratio": MAX_RATIO,
            }
        )


def chunks(archive: zipfile.ZipFile, member: zipfile.ZipInfo, limit: int) -> Iterator[bytes]:
    """The member's bytes, a block at a time; TooLarge past ``limit`` bytes, Unreadable
    when they cannot be read."""
    check(member)
    if member.file_size > limit:  # what it declares: no need to unpack it to know
        raise TooLarge(_("larger than %(limit)s bytes") % {"limit": f"{limit:,}"})
    left = limit
    try:
        with archive.open(member) as source:
            while chunk := source.read(min(_CHUNK, left + 1)):
                left -= len(chunk)
                if left < 0:
                    raise TooLarge(_("larger than %(limit)s bytes") % {"limit": f"{limit:,}"})
                yield chunk
    except _READ_ERRORS as error:
        raise _unreadable(error) from None


def read(archive: zipfile.ZipFile, member: zipfile.ZipInfo, limit: int) -> bytes:
    """The member's bytes (see ``chunks``)."""
    return b"".join(chunks(archive, member, limit))


def head(archive: zipfile.ZipFile, member: zipfile.ZipInfo, size: int) -> bytes:
    """The member's first ``size`` bytes; Unreadable when they cannot be read."""
    try:
        with archive.open(member) as source:
            return source.read(size)
    except _READ_ERRORS as error:
        raise _unreadable(error) from None


def refuse_inner_zip(archive: zipfile.ZipFile, member: zipfile.ZipInfo) -> None:
    """Unreadable when the member is itself a ZIP (by its name, or by its first bytes when
    its name has no suffix): its limits could not be checked before anything is unpacked,
    as the archive's are, and a ZIP bomb is ZIPs in ZIPs; its files are imported unpacked."""
    suffix = Path(member.filename).suffix.lower()
    if suffix == ".zip" or (not suffix and head(archive, member, 4) == b"PK\x03\x04"):
        raise Unreadable(_("a ZIP inside the ZIP: unpack it and import its files on their own"))


def _unreadable(error: Exception) -> Unreadable:
    return Unreadable(
        _("cannot be read from the ZIP: %(error)s") % {"error": str(error) or type(error).__name__}
    )


def _directory(path: Path) -> tuple[int, int]:
    """The entries and the size of the central directory the archive declares, found as
    ``zipfile`` finds them (the last end record; its ZIP64 record when it has one)."""
    with path.open("rb") as fh:
        fh.seek(0, 2)
        end = fh.tell()
        start = max(0, end - _EOCD.size - 0xFFFF)  # the record and the longest comment
        fh.seek(start)
        tail = fh.read()
        at = len(tail) - _EOCD.size  # without a comment, as zipfile looks first
        if not (tail[at : at + 4] == b"PK\x05\x06" and tail[-2:] == b"\0\0"):
            at = tail.rfind(b"PK\x05\x06")
        if at < 0 or len(tail) - at < _EOCD.size:
            return 0, 0  # no ZIP: zipfile says so
        record = _EOCD.unpack_from(tail, at)
        entries, size = record[4], record[5]
        if at >= _EOCD64_LOCATOR.size:
            locator = _EOCD64_LOCATOR.unpack_from(tail, at - _EOCD64_LOCATOR.size)
            if locator[0] == b"PK\x06\x07":
                fh.seek(start + at - _EOCD64_LOCATOR.size - _EOCD64.size)
                data = fh.read(_EOCD64.size)
                if len(data) == _EOCD64.size and data[:4] == b"PK\x06\x06":
                    record64 = _EOCD64.unpack(data)
                    entries, size = record64[7], record64[8]
        return entries, size
