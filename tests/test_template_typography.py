"""The French e-mail, call and letter templates space their signs as French typography does,
as the catalogue does (tests/test_translations.py): a no-break space before ":" and inside
« », a narrow one before ";", "!" and "?".

Text messages are left out: their spaces are normalised to plain ones, a no-break space
being outside the GSM alphabet (docs/sms.md)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from test_translations import misspaced

ROOT = Path(__file__).resolve().parents[1] / "relance"
FRENCH = sorted(
    [
        *(ROOT / "channels" / "templates" / "channels" / "email" / "fr").iterdir(),
        *(ROOT / "channels" / "templates" / "channels" / "call" / "fr").iterdir(),
        *(ROOT / "documents" / "typst" / "fr").glob("*.typ"),
    ]
)
# What is not text a reader sees: template tags, comments, markup.
MARKUP = re.compile(r"\{%.*?%\}|\{\{.*?\}\}|\{#.*?#\}|<[^>]*>", re.S)


def test_it_reads_every_french_template():
    assert len(FRENCH) > 40
    assert misspaced(MARKUP.sub("", "Objet : {{ x }}<b> ;</b>")) != []


@pytest.mark.parametrize("path", FRENCH, ids=lambda path: f"{path.parent.name}/{path.name}")
def test_a_french_template_spaces_its_signs(path):
    assert misspaced(MARKUP.sub("", path.read_text(encoding="utf-8"))) == []
