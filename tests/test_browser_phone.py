"""Every kind of console page on a phone: signed in, in French, 390 pixels wide, with data
on every page (a ledger as a credit team lives it, and a letter, a registered letter, a
reply, a webhook and its deliveries, an API key, a run on the queue, a bank credit to
review). On none does the document scroll sideways, nor is a table wider than its frame:
a table too wide for the screen reads as cards (.stacked), each of its cells named. One
screenshot per page kind under test-artifacts/screenshots/ (phone-<view>-390.png)."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlsplit

import factories as f
import pytest
from browsing import BROWSER_TESTS, PHONE, cut_fields, shoot
from crawling import page_kinds
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import resolve, reverse
from test_bank import camt, write

from relance.console.templatetags.console import WHOLE

pytestmark = BROWSER_TESTS

TODAY = dt.date(2026, 6, 16)  # a Tuesday whose late-payment rates the shipped tables know

# What is wrong with the page at the viewport's width, one sentence each: the document
# scrolling sideways (and the outermost elements past the edge), a table wider than its
# frame, a card's cell without its column's name, a number, an amount or a date split over
# two lines.
PROBLEMS = """(wholePattern) => {
  const found = [];
  const width = window.innerWidth;
  const name = (e) => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '')
    + (e.classList.length ? '.' + Array.from(e.classList).join('.') : '');
  const scroll = document.documentElement.scrollWidth;
  if (scroll > width) {
    const out = (x) => x.getBoundingClientRect().right > width + 0.5;
    const wide = Array.from(document.querySelectorAll('body *'))
      .filter((e) => out(e) && !(e.parentElement && out(e.parentElement)))
      .slice(0, 4).map(name);
    found.push(`the document is ${scroll} px wide: ${wide.join(', ')}`);
  }
  for (const table of document.querySelectorAll('main table')) {
    if (!table.checkVisibility()) continue;
    const frame = table.parentElement;
    // Cards by their rows: a table may read as cards with its own rules (the tasks did,
    // their tbody left a table's, and their cells went unchecked).
    const row = table.tBodies[0] && table.tBodies[0].rows[0];
    const card = getComputedStyle(row || table).display === 'block';
    const over = Math.max(table.getBoundingClientRect().width - frame.clientWidth,
                          frame.scrollWidth - frame.clientWidth);
    if (over > 0.5) {
      found.push(`${name(table)} is ${Math.ceil(over)} px wider than its frame`
        + (card ? ' (as cards)' : ' and not read as cards'));
    }
    if (!card) continue;
    for (const row of table.tBodies[0] ? table.tBodies[0].rows : []) {
      // The card's title needs no name, nor its checkbox before it, nor its actions.
      const title = row.cells[0].classList.contains('pick') ? 2 : 1;
      for (const cell of Array.from(row.cells).slice(title)) {
        const shown = cell.checkVisibility() && cell.innerText.trim();
        const named = cell.dataset.label || cell.classList.contains('row-actions')
          || cell.querySelector('button, .button, select');
        if (shown && !named) {
          const text = cell.innerText.trim().slice(0, 30);
          found.push(`${name(table)}: a card's cell "${text}" has no name`);
        }
      }
    }
  }
  // A number, an amount or a date (the console's WHOLE) split over two lines (an invoice
  // number at its hyphen).
  const whole = new RegExp(wholePattern, 'g');
  const walker = document.createTreeWalker(document.querySelector('main') || document.body,
                                           NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    for (const m of node.data.matchAll(whole)) {
      const range = document.createRange();
      range.setStart(node, m.index);
      range.setEnd(node, m.index + m[0].length);
      const tops = new Set(Array.from(range.getClientRects())
        .filter((r) => r.width > 0).map((r) => Math.round(r.bottom)));
      if (tops.size > 1) {
        found.push(`"${m[0]}" is split over ${tops.size} lines in ${name(node.parentElement)}`);
      }
    }
  }
  return found;
}"""


@pytest.fixture
def session(transactional_db, tmp_path, settings, time_machine) -> tuple[str, list[str]]:
    """The admin's session and one address per kind of console page they reach."""
    time_machine.move_to(dt.datetime.combine(TODAY, dt.time(9), dt.UTC), tick=True)
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.RELANCE_WEBHOOKS_ALLOW_PRIVATE = True
    org = f.organisation("phone", name="Zorglub Holding SAS", reply_to="compta@phone.test")
    from relance.hooks import dispatch, endpoints

    endpoints.add(org, "https://hooks.zorglub-holding.example/relance/webhooks/receive")
    f.lived_in(org, tmp_path / "ledger", today=TODAY, name="Zorglub")
    _the_rest(org, tmp_path)
    dispatch.dispatch(org.pk)
    client = Client()
    client.force_login(get_user_model().objects.get(email="admin@phone.test"))
    first: dict[str, str] = {}  # one address per view: its filters show the same tables
    for url in _behind_a_search(org) + page_kinds(client):
        first.setdefault(_view(url), url)
    return client.cookies["sessionid"].value, sorted(first.values())


def _behind_a_search(org) -> list[str]:
    """The pages a walk reaches only by finding a customer: a dispute's and a plan's forms."""
    from relance.ledger.models import Customer

    chosen = Customer.objects.get(organisation=org, reference="ZORG-0").pk
    return [f"{reverse('console:dispute_new')}?customer={chosen}",
            f"{reverse('console:plan_new')}?customer={chosen}&count=3&propose=1"]  # fmt: skip


def _the_rest(org, tmp_path) -> None:
    """What a lived-in ledger has not: letters, a reply, a key, a run, a bank credit."""
    from relance.api import keys
    from relance.bank import services
    from relance.documents import printing
    from relance.dunning import outbox, run_tasks
    from relance.ledger.models import Customer

    people = list(Customer.objects.filter(organisation=org).order_by("reference"))
    # Customers of their own (the others' reminders are paused): a letter printed, one waiting.
    for n, day in [(8, TODAY - f.days(1)), (9, TODAY)]:
        writer = f.customer(org, f"ZORG-{n}", legal_name=f"Zorglub Imprimerie Nouvelle Ère {n}")
        f.address(writer, "12 boulevard des Entrepreneurs Associés", postcode="69003")
        late = f.invoice(writer, f"ZORG-F{n}00", due=TODAY - f.days(40), amount="2417.63")
        f.communication(writer, [late], on=day, channel="letter", template="firm_reminder")
        report = outbox.send_due(org.pk, today=day)
        assert report.counts.get("sent", 0) >= 1, report.as_dict()
        if day < TODAY:
            printing.make_batch(org, day)
    f.registered_letter(people[1])
    f.contact(people[2], "Jeanne Comptable", "jeanne.comptable@zorglub-boulangerie.example")
    f.reply(people[2], "Bonjour, la facture sera réglée vendredi par virement.")
    keys.create(org, "Synchronisation de l'ERP comptable", ["read", "bulk"])
    statement = write(tmp_path, "releve.xml", camt([{"ref": "VIR-1", "amount": "150.00",
                                                      "ustrd": late.number}]))  # fmt: skip
    services.import_statement(org, statement, as_of=TODAY)
    run_tasks.enqueue(org, TODAY, parts=2)  # last: the organisation is its while unfinished


def test_every_console_page_reads_on_a_phone(phone, live_server, session):
    """At 390 pixels, in French: no page scrolls sideways, no table is wider than its frame
    (too wide, it reads as cards, each cell named); a screenshot of each."""
    cookie, urls = session
    assert len(urls) > 20, urls
    phone.context.add_cookies([{"name": "sessionid", "value": cookie, "url": live_server.url}])
    problems = []
    for url in urls:
        phone.goto(f"{live_server.url}{url}")
        assert phone.evaluate("document.documentElement.lang") == "fr", url
        assert phone.viewport_size == PHONE
        shoot(phone, f"phone-{_view(url)}")
        found = phone.evaluate(PROBLEMS, WHOLE.pattern)
        problems += [f"{url}: {p}" for p in found]
        # Every field's text whole: an input's or a chosen option's on its line, a
        # subject's on as many lines as it takes.
        problems += [f"{url}: cut {p}" for p in cut_fields(phone, "main")]
        problems += [f"{url}: cut {name}" for name in phone.evaluate(
            "() => [...document.querySelectorAll('main textarea.subject')]"
            ".filter(t => t.scrollHeight > t.clientHeight + 1).map(t => t.name)"
        )]  # fmt: skip
    assert not problems, "\n".join(["", *problems])


def _view(url: str) -> str:
    """The page's kind: the name of its view."""
    return resolve(urlsplit(url).path).url_name or url


def test_every_console_page_shows_its_fields_whole_on_a_desktop(page, live_server, session):
    """At 1280 pixels, in French, every field's text shows whole: an input's value, a
    menu's chosen option ('Échu, du plus grand au p' was cut)."""
    cookie, urls = session
    page.context.add_cookies([{"name": "sessionid", "value": cookie, "url": live_server.url}])
    page.set_viewport_size({"width": 1280, "height": 900})
    cut = {}
    for url in urls:
        page.goto(f"{live_server.url}{url}")
        if found := cut_fields(page, "main"):
            cut[url] = found
    assert cut == {}
