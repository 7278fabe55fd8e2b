"""The seam to Typst: PDF documents from a template and plain data.

A document is compiled in a *project directory* of its organisation's own
(``DATA_DIR/documents/<org id>-<digest>/``), holding the shipped layout
(``relance.typ``), the letter templates by language (``fr/formal_notice.typ``) with the
organisation's edited ones written over them, and its logo. Typst reads nothing outside
that directory, so a template an organisation writes reaches its own files only; the
digest in the name changes with every edit, so a compiler never reads a stale file.

Data goes in as one JSON document (``sys.inputs.data``), every value already formatted in
the reader's language: templates place values, they never compute money.

Compilers are kept per project directory: fonts are loaded once per process, and Typst
keeps what it can between documents (see docs/performance.md).
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import tempfile
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pypdfium2
import typst
from django.conf import settings

from relance.accounts.models import Organisation

SHIPPED = Path(__file__).resolve().parent / "typst"
LAYOUT = "relance.typ"
LANGUAGES = ("fr", "en")
GENERIC = "generic"
# Where a logo is copied in the project directory, and how templates name it.
LOGO_STEM = "logo"
# PDF creation date: fixed, so the same letter gives the same bytes.
EPOCH = 0


class DocumentError(ValueError):
    """The document could not be made: a template's mistake, with Typst's message, and
    where Typst gives one the file of the project (``fr/formal_notice.typ``) and the line."""

    def __init__(self, message: str, *, file: str = "", line: int | None = None):
        super().__init__(message)
        self.message, self.file, self.line = message, file, line


@dataclass(frozen=True)
class Project:
    root: Path
    templates: frozenset[str]  # "fr/formal_notice" ... present in the directory
    logo: str | None  # its path in the project ("/logo.png"), if there is one


_compilers: dict[Path, typst.Compiler] = {}
_projects: dict[tuple[int, str], Project] = {}
_lock = threading.Lock()


def shipped_slugs() -> dict[str, list[str]]:
    """The letter templates shipped, by language."""
    return {lang: sorted(p.stem for p in (SHIPPED / lang).glob("*.typ")) for lang in LANGUAGES}


def shipped_source(language: str, slug: str) -> str:
    return (SHIPPED / language / f"{slug}.typ").read_text(encoding="utf-8")


def overrides_of(organisation: Organisation) -> dict[str, str]:
    """The organisation's own letter templates, ``{"fr/formal_notice": source}``."""
    from relance.channels.models import MessageTemplate

    rows = MessageTemplate.objects.filter(
        organisation_id=organisation.pk, channel=LETTER_CHANNEL, part=TYPST_PART
    ).values_list("language", "slug", "body")
    return {f"{lang}/{slug}": body for lang, slug, body in rows}


LETTER_CHANNEL = "letter"  # the templates of letters and registered letters
TYPST_PART = "typ"


def project(organisation: Organisation, logo: tuple[str, bytes] | None = None) -> Project:
    """The organisation's project directory, written if its content changed."""
    own = overrides_of(organisation)
    digest = hashlib.sha256()
    for name in sorted(own):
        digest.update(f"{name}\0{own[name]}\0".encode())
    if logo is not None:
        digest.update(logo[0].encode() + b"\0" + logo[1])
    digest.update(_shipped_digest().encode())
    key = (organisation.pk, digest.hexdigest()[:16])
    found = _projects.get(key)
    if found is not None and found.root.is_dir():
        return found
    with _lock:
        root = Path(settings.DATA_DIR) / "documents" / f"{key[0]}-{key[1]}"
        if not root.is_dir():
            _write(root, own, logo)
        names = frozenset(
            f"{p.parent.name}/{p.stem}" for p in root.glob("*/*.typ") if p.parent.name in LANGUAGES
        )
        made = Project(root, names, f"/{logo[0]}" if logo is not None else None)
        _projects[key] = made
        return made


def _write(root: Path, own: Mapping[str, str], logo: tuple[str, bytes] | None) -> None:
    """Write the project in a temporary directory, then move it in place at once: another
    process compiling from it never sees it half-written."""
    temporary = root.with_name(root.name + f".{threading.get_ident()}.tmp")
    shutil.rmtree(temporary, ignore_errors=True)
    shutil.copytree(SHIPPED, temporary)
    for name, source in own.items():
        (temporary / f"{name}.typ").write_text(source, encoding="utf-8")
    if logo is not None:
        (temporary / logo[0]).write_bytes(logo[1])
    try:
        temporary.rename(root)
    except OSError:  # another process wrote it first: theirs is the same
        shutil.rmtree(temporary, ignore_errors=True)


_shipped_hash: str | None = None


def _shipped_digest() -> str:
    global _shipped_hash
    if _shipped_hash is None:
        digest = hashlib.sha256()
        for path in sorted(SHIPPED.rglob("*.typ")):
            digest.update(str(path.relative_to(SHIPPED)).encode() + path.read_bytes())
        _shipped_hash = digest.hexdigest()
    return _shipped_hash


@contextmanager
def drafted(project: Project, module: str, source: str) -> Iterator[Project]:
    """A copy of ``project`` in a temporary directory with ``source`` written as ``module``
    (``"fr/formal_notice"``): a draft being checked or previewed in the console never
    touches the organisation's own directory, which the letters being sent read."""
    with tempfile.TemporaryDirectory(prefix="relance-draft-") as parent:
        root = Path(parent) / "project"
        shutil.copytree(project.root, root)
        (root / f"{module}.typ").write_text(source, encoding="utf-8")
        try:
            yield Project(root, project.templates | {module}, project.logo)
        finally:
            _compilers.pop(root, None)  # the directory goes: so does its compiler


def template_for(project: Project, language: str, slug: str) -> str:
    """The template module to use: the slug in the language, else the generic letter,
    then the same in English and French."""
    chain = [language] if language in LANGUAGES else []
    chain += [lang for lang in ("en", "fr") if lang not in chain]
    for lang in chain:
        for name in (slug, GENERIC):
            if f"{lang}/{name}" in project.templates:
                return f"{lang}/{name}"
    raise DocumentError(f"no letter template {slug!r}")


def compile_letters(
    project: Project,
    letters: Sequence[tuple[str, Mapping[str, Any]]],
    *,
    title: str,
    author: str,
    tagged: bool = True,
    image: int | None = None,
) -> bytes:
    """One PDF of ``letters`` in order, each ``(template module, data)``; page numbers
    restart with each letter. ``image``: the first page as a PNG of that many pixels per
    inch instead (a preview on screen)."""
    modules = sorted({module for module, _ in letters})
    rank = {module: i for i, module in enumerate(modules)}
    imports = "\n".join(f'#import "/{m}.typ" as t{i}' for i, m in enumerate(modules))
    main = (
        f'#import "/{LAYOUT}": letters\n{imports}\n'
        "#let data = json(bytes(sys.inputs.data))\n"
        f"#letters(data, ({''.join(f't{i}, ' for i in range(len(modules)))}))\n"
    )
    data = {
        "title": title,
        "author": author,
        "letters": [{**values, "template": rank[module]} for module, values in letters],
    }
    if image is not None:
        return compile_png(project, main, data, ppi=image)
    return compile_pdf(project, main, data, tagged=tagged)


def join_pdfs(parts: Iterable[bytes], *, duplex: bool = False) -> bytes:
    """PDFs end to end, as one: PDFium copies pages without parsing their content (ten
    times faster than pypdf on a print batch, docs/performance.md). ``duplex``: a blank
    page after each part of an odd number of pages, so that printed on both sides every
    part starts on a sheet of its own."""
    joined = pypdfium2.PdfDocument.new()
    for part in parts:
        source = pypdfium2.PdfDocument(part)
        joined.import_pages(source)
        if duplex and len(source) % 2:
            width, height = joined[len(joined) - 1].get_size()
            joined.new_page(width, height)
        source.close()
    out = io.BytesIO()
    joined.save(out)
    return out.getvalue()


def page_count(pdf: bytes) -> int:
    """The pages of a PDF Typst wrote (its page objects, uncompressed)."""
    return len(_PAGE.findall(pdf))


_PAGE = re.compile(rb"/Type\s*/Page\b")


def compile_pdf(
    project: Project, main: str, data: Mapping[str, Any], *, tagged: bool = True
) -> bytes:
    """``tagged``: a tagged PDF (read aloud by screen readers), for letters read on a
    screen; a print batch goes without (half the time, docs/performance.md)."""
    compiler = _compiler(project.root)
    try:
        pdf = compiler.compile(
            input=main.encode(),
            format="pdf",
            sys_inputs={"data": json.dumps(data, ensure_ascii=False, default=str)},
            timestamp=EPOCH,
            pdf_tags=tagged,
        )
    except typst.TypstError as error:
        raise _located(error) from error
    assert isinstance(pdf, bytes)
    return pdf


def compile_png(project: Project, main: str, data: Mapping[str, Any], *, ppi: int) -> bytes:
    """The first page of the document as a PNG (Typst gives a list of pages when there
    are several)."""
    compiler = _compiler(project.root)
    try:
        pages = compiler.compile(
            input=main.encode(),
            format="png",
            ppi=ppi,
            sys_inputs={"data": json.dumps(data, ensure_ascii=False, default=str)},
        )
    except typst.TypstError as error:
        raise _located(error) from error
    first = pages[0] if isinstance(pages, list) else pages
    assert isinstance(first, bytes)
    return first


def _compiler(root: Path) -> typst.Compiler:
    found = _compilers.get(root)
    if found is None:
        # The fonts embedded in Typst only: the same letter on every machine.
        found = typst.Compiler(root=str(root), ignore_system_fonts=True)
        _compilers[root] = found
    return found


# Where Typst's report places the error: "┌─ <path>/fr/formal_notice.typ:12:5".
_WHERE = re.compile(r"┌─ (?:\S*?/)?(?P<file>(?:[a-z]{2}/)?[-\w]+\.typ):(?P<line>\d+):\d+")


def _located(error: typst.TypstError) -> DocumentError:
    found = _WHERE.search(str(getattr(error, "diagnostic", "") or ""))
    if found is None:
        return DocumentError(_describe(error))
    return DocumentError(_describe(error), file=found["file"], line=int(found["line"]))


def _describe(error: typst.TypstError) -> str:
    message = getattr(error, "message", "") or str(error)
    hints = getattr(error, "hints", None) or []
    return "; ".join([message, *hints])[:1000]
