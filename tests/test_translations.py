"""The French translation is complete, and the compiled catalogue matches its source."""

from __future__ import annotations

import gettext
import os
import re
import shutil
from pathlib import Path

import pytest

LOCALE = Path(__file__).resolve().parents[1] / "relance" / "locale" / "fr" / "LC_MESSAGES"


def po_entries(path: Path = LOCALE / "django.po") -> dict[tuple[str | None, str], str]:
    """(context or None, msgid) -> msgstr."""
    text = path.read_text(encoding="utf-8")
    entries = {}

    def unquote(m: re.Match[str]) -> str:
        joined = "".join(re.findall(r'"(.*)"', m.group(1)))
        return joined.encode().decode("unicode_escape").encode("latin-1").decode()

    for block in text.split("\n\n"):
        msgctxt = re.search(r'^msgctxt ((?:".*"\n)+)', block + "\n", re.M)
        msgid = re.search(r'^msgid ((?:".*"\n)+)', block + "\n", re.M)
        msgstr = re.search(r'^msgstr ((?:".*"\n?)+)', block + "\n", re.M)
        if msgid and msgstr:
            entries[(unquote(msgctxt) if msgctxt else None, unquote(msgid))] = unquote(msgstr)
    entries.pop((None, ""), None)
    return entries


def test_it_translates_every_message_into_french():
    untranslated = [k for k, v in po_entries().items() if not v]
    assert untranslated == []


def test_it_ships_the_compiled_catalogue_of_the_source():
    with (LOCALE / "django.mo").open("rb") as fh:
        compiled = gettext.GNUTranslations(fh)

    def read(context: str | None, msgid: str) -> str:
        return compiled.pgettext(context, msgid) if context else compiled.gettext(msgid)

    assert {k: read(*k) for k in po_entries()} == po_entries()


@pytest.mark.django_db
@pytest.mark.parametrize(("language", "text"), [("fr", "Se connecter"), ("en", "Sign in")])
def test_it_speaks_the_browser_language(client, language, text):
    page = client.get("/login/", HTTP_ACCEPT_LANGUAGE=language)
    assert text in page.content.decode()


@pytest.mark.skipif(not shutil.which("xgettext"), reason="needs GNU gettext")
def test_the_catalogue_holds_every_message_of_the_code(tmp_path):
    """Every translatable string in the code and templates has its French entry, none of
    them fuzzy: `make locale` was run after the last new message."""
    from django.core.management import call_command

    source = Path(__file__).resolve().parents[1] / "relance"
    copy = tmp_path / "relance"
    shutil.copytree(source, copy, ignore=shutil.ignore_patterns("__pycache__", "*.mo"))
    cwd = os.getcwd()
    os.chdir(copy)
    try:
        call_command("makemessages", locale=["fr"], no_obsolete=True, no_location=True,
                     verbosity=0)  # fmt: skip
    finally:
        os.chdir(cwd)
    made = copy / "locale" / "fr" / "LC_MESSAGES" / "django.po"
    assert "#, fuzzy" not in made.read_text(encoding="utf-8").split("\n\n", 1)[1]
    assert [k for k, v in po_entries(made).items() if not v] == []


# French typography: a no-break space before ":" and inside « », a narrow one before ";",
# "!" and "?"; a plain space there lets a line break leave the sign alone at a line's start.
SPACED_SIGNS = re.compile(r"(\s)([:;!?»])|(«)(\s)")
WANTED_SPACE = {":": "\u00a0", "»": "\u00a0", "«": "\u00a0", ";": "\u202f", "!": "\u202f",
                "?": "\u202f"}  # fmt: skip


def misspaced(text: str) -> list[str]:
    """The signs of ``text`` with the wrong space next to them, shown in their context."""
    found = []
    for m in SPACED_SIGNS.finditer(text):
        space, sign = (m.group(1), m.group(2)) if m.group(2) else (m.group(4), m.group(3))
        if space != WANTED_SPACE[sign]:
            found.append(f"{space!r} {sign}: …{text[max(m.start() - 20, 0) : m.end() + 10]}…")
    return found


def test_it_spaces_the_french_signs_as_french_typography_does():
    assert misspaced("Non envoyé : Fait ; « oui » ?") != []  # the rule finds plain spaces
    assert misspaced("Non envoyé\u00a0: Fait\u202f; «\u00a0oui\u00a0»\u202f?") == []
    wrong = {msgid: problems for (_, msgid), msgstr in po_entries().items()
             if (problems := misspaced(msgstr))}  # fmt: skip
    assert wrong == {}


def test_no_message_counts_with_an_s_in_brackets():
    """A count takes a real plural (ngettext, French: 0 and 1 singular), never "item(s)" nor
    "recommandée(s)", in the catalogue as in the templates."""
    relance = Path(__file__).resolve().parents[1] / "relance"
    bracketed = re.compile(r"[^\W\d_]\((?:e?s|x)\)")
    found = [
        line for line in (LOCALE / "django.po").read_text(encoding="utf-8").splitlines()
        if not line.startswith("#") and bracketed.search(line)
    ]  # fmt: skip
    for template in relance.glob("**/templates/**/*.*"):
        found += [f"{template.name}: {m.group()}"
                  for m in bracketed.finditer(template.read_text(encoding="utf-8"))]  # fmt: skip
    assert found == []
