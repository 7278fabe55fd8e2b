"""The console speaks French all through: an admin signed in in French walks every page
reachable from Today (tests/crawling.py), and no page shows an English sentence of the
catalogue that has its French translation (a text built in English by lower layers, or
translated outside the request's language, shows as such)."""

from __future__ import annotations

import datetime as dt
import re
from html.parser import HTMLParser

import factories as f
import pytest
from crawling import crawl
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import translation
from test_translations import po_entries

from relance.dunning.labels import TEMPLATE_LABELS
from relance.ledger.models import Customer

TODAY = dt.date(2026, 11, 24)
# A placeholder of a message, or markup: what splits a msgid into the fragments a page
# shows as they are.
SPLIT = re.compile(r"%\(\w+\)[sdfir]|%[sdfir]|\{\w*\}|<[^>]*>|\s*\n\s*")
SPACES = re.compile(r"[\s\u00a0\u202f]+")
MIN_WORDS = 3


def plain(text: str) -> str:
    return SPACES.sub(" ", text).strip()


def english_fragments() -> dict[str, str]:
    """fragment -> its msgid: each piece of three words or more of an English message
    (between its placeholders and markup) whose French translation does not hold it."""
    found: dict[str, str] = {}
    for (_, msgid), msgstr in po_entries().items():
        if not msgstr or msgstr == msgid:
            continue
        french = plain(msgstr)
        for piece in SPLIT.split(msgid):
            piece = plain(piece).strip(" :;,.")
            if len(re.findall(r"[A-Za-z]+", piece)) >= MIN_WORDS and piece not in french:
                found[piece] = msgid
    return found


VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}  # fmt: skip


class _Text(HTMLParser):
    """The text a page shows in its language: its text nodes, out of scripts and styles and
    out of what it marks as written in another (``lang="en"`` on a French page: an English
    template being edited, the audit trail's records)."""

    def __init__(self, language: str) -> None:
        super().__init__(convert_charrefs=True)
        self.language = language
        self.parts: list[str] = []
        self.open: list[tuple[str, bool]] = []  # each open element, and whether it is skipped

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in VOID:
            return
        lang = dict(attrs).get("lang")
        skipped = tag in ("script", "style", "template") or bool(lang and lang != self.language)
        self.open.append((tag, skipped or (bool(self.open) and self.open[-1][1])))

    def handle_endtag(self, tag: str) -> None:
        for n in range(len(self.open) - 1, -1, -1):
            if self.open[n][0] == tag:
                del self.open[n:]
                return

    def handle_data(self, data: str) -> None:
        if not (self.open and self.open[-1][1]):
            self.parts.append(data)


def shown_text(html: str, language: str = "fr") -> str:
    parser = _Text(language)
    parser.feed(html)
    parser.close()
    return plain(" ".join(parser.parts))


def english_on(text: str, fragments: dict[str, str]) -> list[str]:
    """The English fragments a page's text holds, as whole words."""
    return sorted(
        piece for piece in fragments
        if piece in text and re.search(rf"(?<!\w){re.escape(piece)}(?!\w)", text)
    )  # fmt: skip


def test_it_finds_an_english_sentence_of_the_catalogue_out_of_what_is_marked_english():
    fragments = english_fragments()
    assert "no rule matched: default scenario" in fragments
    page = "<p>Scénario : no rule matched: default scenario</p>"
    assert english_on(shown_text(page), fragments) == ["no rule matched: default scenario"]
    page = "<div lang='en'><p>no rule matched: default</p><br></div><p>aucune règle</p>"
    assert english_on(shown_text(page), fragments) == []


@pytest.fixture
def walked(db, tmp_path, time_machine):
    time_machine.move_to(dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC), tick=False)
    org = f.organisation("walk-fr", name="Zorglub Holding SAS")
    f.lived_in(org, tmp_path, today=TODAY, name="Zorglub")
    client = Client(raise_request_exception=False, HTTP_ACCEPT_LANGUAGE="fr")
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "fr"
    client.force_login(get_user_model().objects.get(email="admin@walk-fr.test"))
    return crawl(client, "/")


def test_no_page_shows_an_english_sentence_to_a_french_user(walked):
    fragments = english_fragments()
    found = {}
    for visit in walked:
        if visit.status == 200 and visit.body:
            english = english_on(shown_text(visit.body), fragments)
            if english:
                found[str(visit.request)] = english
    assert len(walked) > 10
    assert found == {}, "\n".join(f"{k}: {v}" for k, v in found.items())


@pytest.mark.parametrize(
    ("language", "said", "not_said"),
    [
        ("fr", ["aucune règle ne s'applique", "Relance le connaît jusqu'à 2026-H1"],
         ["no rule matched", "carries a rate forward"]),
        ("en", ["no rule matched: default scenario", "(07/01/2026 to 12/31/2026)"],
         ["aucune règle"]),
    ],
)  # fmt: skip
def test_the_customer_page_says_why_in_its_readers_language(
    db, tmp_path, time_machine, language, said, not_said
):
    """Why the scenario applies and why no penalty is computed (no rate known for the
    half-year): built by the domain code, said in the page's language."""
    time_machine.move_to(dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC), tick=False)
    org = f.organisation("why-fr", name="Zorglub Holding SAS")
    f.lived_in(org, tmp_path, today=TODAY, name="Zorglub")
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    client.force_login(get_user_model().objects.get(email="admin@why-fr.test"))
    customer = Customer.objects.get(organisation=org, reference="ZORG-1")
    with translation.override(language):  # the request's language, not left to the next test
        text = shown_text(client.get(f"/customers/{customer.pk}/").content.decode(), language)
    assert [s for s in said if s not in text] == []
    assert [s for s in not_said if s in text] == []


# A colon glued to the word before it ("Risque: Moyen"), where French sets a no-break space
# (the console's ``{% colon %}``).
GLUED_COLON = re.compile(r"[^\W\d_]:(?=\s|$)")


def glued_colons(text: str) -> list[str]:
    return [text[max(m.start() - 30, 0) : m.end() + 15] for m in GLUED_COLON.finditer(text)]


def test_it_finds_a_colon_glued_to_a_label():
    assert glued_colons(shown_text("<p><span>Risque: Moyen</span></p>")) == ["Risque: Moyen"]
    assert glued_colons(shown_text("<p>Risque\u00a0: Moyen, 09:30, https://x.test</p>")) == []


# The editors of scenarios and templates: what they show is the organisation's own text (a
# description, a template's source and its code) and the code of the templates.
EDITORS = ("/scenarios/", "/settings/", "/templates/")


def test_no_page_glues_a_colon_to_a_label_for_a_french_user(walked):
    found = {}
    for visit in walked:
        if visit.status != 200 or not visit.body or visit.request.url.startswith(EDITORS):
            continue
        if glued := glued_colons(shown_text(visit.body)):
            found[str(visit.request)] = glued
    assert len(walked) > 10
    assert found == {}, "\n".join(f"{k}: {v}" for k, v in found.items())


def test_no_page_shows_a_step_by_its_code_to_a_french_user(walked):
    codes = re.compile(rf"(?<!\w)({'|'.join(TEMPLATE_LABELS)})(?!\w)")
    found = {}
    for visit in walked:
        if visit.status != 200 or not visit.body or visit.request.url.startswith(EDITORS):
            continue
        if shown := sorted(set(codes.findall(shown_text(visit.body)))):
            found[str(visit.request)] = shown
    assert found == {}, "\n".join(f"{k}: {v}" for k, v in found.items())
