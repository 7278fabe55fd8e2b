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
from crawling import Visit, crawl
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import transaction
from django.test import Client, override_settings
from django.utils import translation
from test_translations import po_entries
from time_machine import travel

from relance.dunning import defaults
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


def walk_in(language: str, tmp_path, blocker) -> list[Visit]:
    """Every console page of a lived-in organisation, crawled by its admin reading in
    ``language``: once per module for the tests that read it (each checks its own property
    of the same pages), in a transaction rolled back at the end, with what conftest's
    autouse fixtures give each test (pages served without collectstatic, an empty cache,
    the settings' language afterwards)."""
    static = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
    with (
        blocker.unblock(),
        override_settings(STORAGES={**settings.STORAGES, "staticfiles": static}),
        travel(dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC), tick=False),
        transaction.atomic(),
    ):
        cache.clear()
        try:
            org = f.organisation(f"walk-{language}", name="Zorglub Holding SAS")
            f.lived_in(org, tmp_path, today=TODAY, name="Zorglub")
            client = Client(raise_request_exception=False, HTTP_ACCEPT_LANGUAGE=language)
            client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
            client.force_login(get_user_model().objects.get(email=f"admin@walk-{language}.test"))
            with translation.override(language):
                return crawl(client, "/")
        finally:
            transaction.set_rollback(True)
            cache.clear()
            translation.deactivate()


@pytest.fixture(scope="module")
def walked(django_db_setup, django_db_blocker, tmp_path_factory):
    return walk_in("fr", tmp_path_factory.mktemp("walk-fr"), django_db_blocker)


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
        ("fr", ["Aucune règle ne s'applique", "Relance le connaît jusqu'au premier semestre 2026",
                "pour le second semestre 2026"],
         ["no rule matched", "carries a rate", "2026-H1", "fr_late_penalty_default",
          "relance rates add"]),
        ("en", ["No rule matched: default scenario", "(1 Jul 2026 to 31 Dec 2026)",
                "for the second half of 2026"],
         ["aucune règle", "07/01/2026", "fr_late_penalty_default", "relance rates add"]),
    ],
)  # fmt: skip
def test_the_customer_page_says_why_in_its_readers_language(
    db, tmp_path, time_machine, language, said, not_said
):
    """Why the scenario applies (a line of its own: a capital first) and why no penalty is
    computed (no rate known for the half-year): built by the domain code, said in the
    page's language."""
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


class _Labels(_Text):
    """Besides the page's text, the text of each of its labels: the names of fields, columns,
    terms, groups, buttons and headings."""

    TAGS = frozenset({"dt", "th", "label", "legend", "summary", "button", "caption", "h1", "h2",
                      "h3"})  # fmt: skip

    def __init__(self, language: str) -> None:
        super().__init__(language)
        self.labels: list[str] = []
        self.reading: list[tuple[str, int]] = []  # each label open, and where its text starts

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        super().handle_starttag(tag, attrs)
        if tag in self.TAGS:
            self.reading.append((tag, len(self.parts)))

    def handle_endtag(self, tag: str) -> None:
        if self.reading and self.reading[-1][0] == tag:
            self.labels.append(plain(" ".join(self.parts[self.reading.pop()[1] :])))
        super().handle_endtag(tag)


def shown_labels(html: str, language: str = "fr") -> list[str]:
    parser = _Labels(language)
    parser.feed(html)
    parser.close()
    return [label for label in parser.labels if label]


def english_labels() -> set[str]:
    """The English messages of the catalogue that a label may be, whole (one word or more),
    whose French differs: "From", "Subject"."""
    return {
        msgid for (_, msgid), msgstr in po_entries().items()
        if msgstr and plain(msgstr) != plain(msgid) and not SPLIT.search(msgid)
        and re.search(r"[A-Za-z]{2}", msgid)
    }  # fmt: skip


def test_it_finds_a_label_left_in_english():
    labels = english_labels()
    page = "<dl><dt>From</dt><dd>x</dd><dt>Objet</dt></dl><div lang='en'><dt>To</dt></div>"
    assert [label for label in shown_labels(page) if label in labels] == ["From"]


# What a demanding French reader calls broken in a page's text: a plural written "(s)", a
# hyphen where a minus sign or words belong ("-10" days late, a step at "-3" days), a
# shipped scenario's description showing its English part.
BROKEN = {
    "a plural in brackets": re.compile(r"[^\W\d_]\((?:e?s|x)\)"),
    "a hyphen for a minus": re.compile(r"(?<![\w/.\-–])-\d"),
    "the English of a description": re.compile(r"(?<!\w)EN: [A-Z]"),
    # Money reads as messages write it ("1 200,00 €"), not by a currency's code.
    "an amount by its currency's code": re.compile(r"\d[.,]\d\d ?(?:EUR|USD|GBP)\b"),
}


def broken(text: str) -> list[str]:
    return [
        f"{what}: {text[max(m.start() - 30, 0) : m.end() + 20]!r}"
        for what, pattern in BROKEN.items() for m in pattern.finditer(text)
    ]  # fmt: skip


def test_it_finds_what_a_demanding_reader_calls_broken():
    assert [line.split(":")[0] for line in broken(
        "dont 0 recommandée(s) ; Appel (-3 jours) ; Plus serré.\nEN: High risk ; 1 200,00 EUR"
    )] == list(BROKEN)  # fmt: skip
    assert broken("2026-06-16, ZORG-F800, 12/06/2026, −3 jours, 3 (s’il le faut), 1 200,00 €") == []


def test_no_page_shows_a_french_reader_a_label_in_english_or_a_broken_text(walked):
    """Every page a French admin reaches: no label of the page is an English message of the
    catalogue (the approval card's From, To and Subject were), and no text is broken."""
    labels = english_labels()
    found = {}
    for visit in walked:
        if visit.status != 200 or not visit.body:
            continue
        shown = [f"label {label!r}" for label in shown_labels(visit.body) if label in labels]
        if not visit.request.url.startswith(EDITORS[1:]):  # a template's source is its own
            shown += broken(shown_text(visit.body))
        if shown:
            found[str(visit.request)] = shown
    assert len(walked) > 10
    assert found == {}, "\n".join(f"{k}: {v}" for k, v in found.items())


def test_the_walks_task_is_titled_as_the_product_titles_it(db, tmp_path, time_machine):
    """The lived-in ledger's call task is opened as the outbox opens one: titled in the
    organisation's language (French here), not in a test's English."""
    from relance.dunning.models import Task

    time_machine.move_to(dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC), tick=False)
    org = f.organisation("task-fr", name="Zorglub Holding SAS")
    f.lived_in(org, tmp_path, today=TODAY, name="Zorglub")
    title = Task.objects.get(organisation=org, key="walk:ZORG").title
    assert title.startswith("Appeler Zorglub Industrie au sujet d'une facture, "), title
    assert title.endswith("\u00a0€")


@pytest.fixture(scope="module")
def walked_in_english(django_db_setup, django_db_blocker, tmp_path_factory):
    return walk_in("en", tmp_path_factory.mktemp("walk-en"), django_db_blocker)


def test_no_page_shows_an_english_reader_a_shipped_french_name_or_an_amount_by_its_code(
    walked_in_english,
):
    """Every page an English admin reaches: the shipped scenarios', steps' and rules' names
    in English (they are stored in French), amounts as English writes them ("€1,200.00")."""
    shipped = defaults.default_scenarios()
    french = {s.name for s in shipped.scenarios} | {r.name for r in shipped.rules or ()}
    french |= {step.name for s in shipped.scenarios for step in s.steps}
    french -= {"Standard"}  # the same word in English
    names = re.compile("|".join(rf"(?<!\w){re.escape(plain(n))}(?!\w)" for n in french))
    by_code = BROKEN["an amount by its currency's code"]
    found = {}
    for visit in walked_in_english:
        if visit.status != 200 or not visit.body:
            continue
        text = shown_text(visit.body, "en")
        if shown := sorted(set(names.findall(text)) | set(by_code.findall(text))):
            found[str(visit.request)] = shown
    assert len(walked_in_english) > 10
    assert found == {}, "\n".join(f"{k}: {v}" for k, v in found.items())
