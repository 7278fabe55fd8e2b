"""An organisation's own wording: the database loader, the preview on a real customer, the
editor's pages, and the sandbox an organisation's template runs in."""

from __future__ import annotations

import datetime as dt
import html
import re

import factories as make
import pytest
from django.urls import reverse

from relance.audit.models import AuditEvent
from relance.channels import overrides, templates
from relance.channels.models import MessageTemplate
from relance.dunning import outbox
from relance.dunning.engine import run
from relance.dunning.models import Step
from relance.ledger.models import Invoice

pytestmark = pytest.mark.usefixtures("in_english")


D = dt.date(2026, 11, 24)  # a Tuesday
KEY = ("email", "en", "first_reminder")
SHIPPED_WORDS = "According to our records"


def own(org, text, *, subject="Our own subject {{ customer.reference }}", html="", slug=None):
    channel, language, name = KEY
    for part, body in (("subject.txt", subject), ("txt", text), ("html", html)):
        if body:
            MessageTemplate.objects.update_or_create(
                organisation=org, channel=channel, language=language, slug=slug or name,
                part=part, defaults={"body": body},
            )  # fmt: skip


def render(org, context=None, slug="first_reminder"):
    return templates.render(
        organisation_slug=org.slug, channel="email", language="en", slug=slug,
        context=context or {"organisation": org, "lines": []},
    )  # fmt: skip


@pytest.fixture
def acme_customer(org):
    org.iban = "FR7630006000011234567890189"
    org.bic = "AGRIFRPP"
    org.save()
    customer = make.customer(org, "C-0042", legal_name="Durand Industrie", language="en")
    make.contact(customer, "Marie Durand", "marie@durand.test")
    make.invoice(customer, "F-2026-301", due=D - dt.timedelta(days=20), amount="1200.00")
    make.invoice(customer, "F-2026-302", due=D - dt.timedelta(days=5), amount="300.00")
    return customer


# -- the loader ---------------------------------------------------------------------------


def test_it_serves_an_organisations_wording_from_the_database(org, other_org):
    own(org, "Dear friends of {{ organisation.name }}, please pay.")
    mine = render(org)
    assert mine.text == "Dear friends of Acme Industrie SAS, please pay.\n"
    assert mine.subject == "Our own subject"
    assert mine.html is None  # an override without HTML is sent as text, never paired
    assert mine.source == "org-acme/channels/email/en/first_reminder"
    theirs = overrides.preview(other_org, *KEY, None, D)
    assert SHIPPED_WORDS in theirs.text and "Dear friends" not in theirs.text


def test_it_applies_an_edit_to_the_next_message(org, settings):
    settings.DEBUG = False  # the shipped files are cached then; the database never is
    own(org, "First wording.")
    assert render(org).text == "First wording.\n"
    own(org, "Second wording.")
    assert render(org).text == "Second wording.\n"
    MessageTemplate.objects.filter(organisation=org).delete()
    assert SHIPPED_WORDS in overrides.preview(org, *KEY, None, D).text


def test_it_is_the_loader_the_settings_name_by_default(settings):
    from relance.settings import RELANCE_TEMPLATE_LOADERS

    assert RELANCE_TEMPLATE_LOADERS == ["relance.channels.overrides.DatabaseLoader"]


def test_it_sends_the_next_reminder_in_the_new_wording(org, acme_customer, mail):
    make.scenario(org, [(0, 0, "email", "first_reminder")])
    overrides.save(
        org, *KEY,
        {"subject.txt": "Unpaid: {{ lines|length }} invoice(s)",
         "txt": "Hello {{ contact_name }}, {{ customer.legal_name }} owes"
                " {% for total in totals %}{{ total.amount|money:total.currency }}{% endfor %}."
                " Reference {{ payment.reference }}.",
         "html": ""},
        today=D,
    )  # fmt: skip
    run(org, D)
    outbox.send_due(today=D)
    [received] = mail.received
    assert received.subject == "Unpaid: 2 invoice(s)"
    text = received.text()
    assert "Hello Marie Durand, Durand Industrie owes €1,500.00." in text
    assert "Reference RF" in text


# -- preview ------------------------------------------------------------------------------


def test_it_previews_a_draft_on_a_real_customer_with_the_outboxs_context(org, acme_customer):
    draft = {
        "subject.txt": "About {{ customer.reference }}",
        "txt": "{% for line in lines %}{{ line.number }} {{ line.days_overdue }}d\n{% endfor %}"
        "Pay to {{ payment.iban }} with {{ payment.reference }}.",
        "html": "<p>{{ customer.legal_name }}</p>",
    }
    shown = overrides.preview(org, *KEY, acme_customer, D, draft)
    assert not shown.errors
    assert shown.subject == "About C-0042"
    assert "F-2026-301 20d" in shown.text and "F-2026-302 5d" in shown.text
    assert "FR76 3000 6000 0112 3456 7890 189" in shown.text and "RF" in shown.text
    assert shown.html == "<p>Durand Industrie</p>"
    assert not MessageTemplate.objects.exists()  # a preview stores nothing
    stored = overrides.preview(org, *KEY, acme_customer, D)
    assert SHIPPED_WORDS in stored.text and "F-2026-301" in stored.text


def test_it_shows_a_syntax_error_with_its_line(org, acme_customer):
    draft = {"subject.txt": "Hi", "txt": "line one\nline two\n{% if single %}unclosed\n",
             "html": "<p>\n{{ customer.legal_name|nosuchfilter }}</p>"}  # fmt: skip
    errors = overrides.preview(org, *KEY, acme_customer, D, draft).errors
    assert [(e.part, e.line) for e in errors] == [("txt", 3), ("html", 2)]
    assert "nosuchfilter" in errors[1].message
    with pytest.raises(overrides.TemplateRefused):
        overrides.save(org, *KEY, draft, today=D)
    assert not MessageTemplate.objects.exists()


def test_it_stores_and_resets_with_an_audit_trail(org, owner):
    parts = {"subject.txt": "S", "txt": "T {{ customer.reference }}", "html": "<p>H</p>"}
    assert overrides.save(org, *KEY, parts, user=owner, today=D) == ["subject.txt", "txt", "html"]
    assert overrides.save(org, *KEY, parts, user=owner, today=D) == []  # nothing changed
    parts["html"] = ""
    assert overrides.save(org, *KEY, parts, user=owner, today=D) == ["html"]
    assert MessageTemplate.objects.filter(organisation=org).count() == 2
    assert overrides.reset(org, *KEY, user=owner) == 2
    actions = list(AuditEvent.objects.filter(organisation=org).values_list("action", flat=True))
    assert actions.count("template.updated") == 2 and actions.count("template.reset") == 1


# -- the sandbox --------------------------------------------------------------------------


def attempt(org, text, customer=None):
    return overrides.preview(org, *KEY, customer, D, {"subject.txt": "S", "txt": text})


def test_it_loads_no_library_and_has_no_debug_tag(org):
    for text in ("{% load i18n %}x", "{% load static %}x", "{% load relance.channels.formatting %}",
                 "{% debug %}"):  # fmt: skip
        errors = attempt(org, text).errors
        assert errors and errors[0].part == "txt", text


def test_it_never_reaches_another_organisations_wording(org, other_org, settings, tmp_path):
    own(other_org, "Globex secret wording")
    # And the same from the install's directories, where an org-... folder may hold files.
    folder = tmp_path / "org-globex" / "channels" / "email" / "en"
    folder.mkdir(parents=True)
    (folder / "thanks.txt").write_text("Globex file secret")
    settings.RELANCE_TEMPLATE_DIRS = [str(tmp_path)]
    for name in ("org-globex/channels/email/en/first_reminder.txt",
                 "org-globex/channels/email/en/thanks.txt",
                 "org-acme/channels/email/en/first_reminder.txt",
                 "channels/../org-globex/channels/email/en/thanks.txt"):  # fmt: skip
        for tag in ("include", "extends"):
            shown = attempt(org, f'{{% {tag} "{name}" %}}')
            assert shown.errors, (tag, name)
            assert "secret" not in shown.text
    # The shared templates stay reachable.
    shared = attempt(org, '{% include "channels/email/en/_signature.txt" %}')
    assert not shared.errors and "Acme" in shared.text


def test_it_shows_fields_and_no_relation_of_the_organisation_or_the_customer(
    org, owner, acme_customer
):
    org.signature = "The credit team"
    org.save()
    text = (
        "[{{ organisation.memberships.all }}][{{ organisation.memberships.all.0.user.password }}]"
        "[{{ customer.organisation.iban }}][{{ customer.collector }}][{{ organisation.pk }}]"
        "[{{ customer.invoices.all }}][{{ organisation.delete }}][{{ customer.notes }}]"
        "{{ organisation.signature }} {{ customer.legal_name }} {{ organisation }}"
    )
    shown = attempt(org, text, acme_customer)
    assert not shown.errors
    assert shown.text == "[][][][][][][][]The credit team Durand Industrie Acme Industrie SAS\n"


def test_it_refuses_on_save_a_template_that_fails_when_rendered(org):
    with pytest.raises(overrides.TemplateRefused) as refused:
        overrides.save(
            org, *KEY, {"subject.txt": "S", "txt": '{% include "org-acme/x/y.txt" %}'}, today=D
        )
    assert "channels/" in str(refused.value)


# -- the editor's pages ---------------------------------------------------------------------


@pytest.fixture
def manager(org):
    return make.member(org, "manager@acme.test", "manager")


def signed_in(client, user):
    client.force_login(user)
    return client


def edit_url(*key):
    return reverse("console:template", args=key or KEY)


def test_it_lists_every_template_shipped_and_own(client, org, manager):
    own(org, "Mine", slug="first_reminder")
    Step.objects.filter(organisation=org).update(template="first_reminder")
    page = signed_in(client, manager).get(reverse("console:templates")).content.decode()
    for slug in ("courtesy", "first_reminder", "formal_notice", "thanks"):
        assert f'data-template="{slug}"' in page
    assert "_layout" not in page and "_invoices" not in page
    assert page.count('data-language="fr"') == page.count('data-language="en"')
    assert "own wording" in page


@pytest.mark.parametrize(
    ("language", "names"),
    [
        ("en", ("First reminder", "Formal notice", "Call script")),
        ("fr", ("Première relance", "Mise en demeure", "Script d'appel")),
    ],
)
def test_it_names_the_templates_in_the_readers_language(client, org, manager, settings,
                                                        language, names):  # fmt: skip
    settings.LANGUAGE_CODE = language
    client = signed_in(client, manager)
    page = client.get(reverse("console:templates")).content.decode()
    row = re.search(r'<tr data-template="first_reminder" data-channel="email">.*?</tr>', page, re.S)
    assert (
        row is not None and names[0] in row.group() and "first_reminder" not in _text(row.group())
    )
    script = re.search(r'<tr data-template="script" data-channel="call">.*?</tr>', page, re.S)
    assert script is not None and names[2] in html.unescape(script.group())
    editor = client.get(edit_url()).content.decode()
    heading = re.search(r"<h1>(.*?)</h1>", editor, re.S)
    assert heading is not None and names[0] in heading.group(1)
    assert "first_reminder" not in heading.group(1) and "email" not in heading.group(1)
    letter = client.get(reverse("console:template", args=("letter", language, "formal_notice")))
    assert names[1] in re.search(r"<h1>(.*?)</h1>", letter.content.decode(), re.S).group(1)


def _text(html):
    """What a page shows of ``html``: its text, out of tags and their attributes."""
    return re.sub(r"<[^>]*>", " ", html)


@pytest.mark.parametrize(
    ("language", "empty", "empty_text"),
    [("en", "Subject: May not be empty", "Text: May not be empty"),
     ("fr", "Objet\u00a0: Ne peut pas être vide", "Texte\u00a0: Ne peut pas être vide")],
)  # fmt: skip
def test_it_says_whats_wrong_with_a_field_by_its_label_in_the_readers_language(
    client, org, manager, acme_customer, settings, language, empty, empty_text
):
    settings.LANGUAGE_CODE = language
    client = signed_in(client, manager)
    # A call script and a text message are a text alone: no subject asked, none missing.
    for channel, slug in (("call", "script"), ("sms", "first_reminder")):
        page = client.get(edit_url(channel, "fr", slug)).content.decode()
        assert 'id="template-text"' in page
        assert 'id="template-subject"' not in page and 'id="template-html"' not in page
        script = {"text": "Appeler {{ customer.legal_name }}"}
        preview = client.post(edit_url(channel, "fr", slug) + "preview/", script).content.decode()
        assert "preview-errors" not in preview and "Appeler Durand Industrie" in preview
        refused = client.post(edit_url(channel, "fr", slug), {"text": " ", "op": "save"})
        listed = re.search(r'id="template-errors".*?</div>', refused.content.decode(), re.S)
        errors = re.findall(r'<li class="template-error"[^>]*>(.*?)</li>', listed.group())
        assert errors == [empty_text]
        assert not MessageTemplate.objects.exists()
    # An e-mail's subject left empty: the field by its label, not by its file.
    draft = {"subject": "", "text": "Bonjour", "html": ""}
    preview = client.post(edit_url() + "preview/", draft).content.decode()
    assert empty in preview and "subject.txt" not in _text(preview)


def test_it_edits_previews_and_saves_in_the_page(client, org, manager, acme_customer):
    client = signed_in(client, manager)
    page = client.get(edit_url(), {"customer": acme_customer.pk})
    assert page.status_code == 200
    assert SHIPPED_WORDS in page.content.decode() and "F-2026-301" in page.content.decode()
    draft = {"subject": "Hello", "text": "Draft for {{ customer.legal_name }}", "html": "",
             "customer": acme_customer.pk}  # fmt: skip
    partial = client.post(edit_url() + "preview/", draft, headers={"HX-Request": "true"})
    assert partial.status_code == 200
    body = partial.content.decode()
    assert "Draft for Durand Industrie" in body and "<html" not in body
    # The HTML part in a frame of its own, whose styles alone are allowed.
    with_html = client.post(
        edit_url() + "preview/", {**draft, "html": "<p>{{ customer.reference }}</p>"}
    )
    assert 'id="preview-html"' in with_html.content.decode()
    frame = client.get(reverse("console:template_html"))
    assert frame.content.decode() == "<p>C-0042</p>"
    policy = frame["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "frame-ancestors 'self'" in policy
    assert "script" not in policy and "sandbox" in policy
    assert not MessageTemplate.objects.exists()
    bad = client.post(edit_url() + "preview/", {**draft, "text": "a\n{% for x in %}"})
    assert 'data-line="2"' in bad.content.decode()
    saved = client.post(edit_url(), {**draft, "op": "save"})
    assert saved.status_code == 302
    assert render(org).text == "Draft for\n"  # no customer in this context
    event = AuditEvent.objects.get(action="template.updated")
    assert event.user_id == manager.pk
    client.post(edit_url() + "reset/")
    assert not MessageTemplate.objects.exists()


def test_it_keeps_the_editor_to_managers(client, org, other_org):
    viewer = make.member(org, "viewer@acme.test", "viewer")
    collector = make.member(org, "collector@acme.test", "collector")
    for user in (viewer, collector):
        client.force_login(user)
        assert client.get(reverse("console:templates")).status_code == 200
        assert client.get(edit_url()).status_code == 403
        assert client.post(edit_url(), {"text": "x", "subject": "y"}).status_code == 403
        assert client.post(edit_url() + "reset/").status_code == 403
    assert not MessageTemplate.objects.exists()


def test_it_answers_404_for_an_unknown_template_or_another_organisations_customer(
    client, org, other_org, manager
):
    stranger = make.customer(other_org, "G1", legal_name="Globex customer")
    make.invoice(stranger, "G-1", due=D)
    client = signed_in(client, manager)
    assert client.get(edit_url("email", "de", "first_reminder")).status_code == 404
    assert client.get(edit_url("fax", "en", "first_reminder")).status_code == 404
    assert client.get(edit_url(), {"customer": stranger.pk}).status_code == 404
    assert client.post(edit_url() + "preview/", {"customer": stranger.pk}).status_code == 404


def _every_shipped_message() -> list[tuple[str, str, str]]:
    return [
        (channel, language, slug)
        for (channel, language), slugs in overrides.shipped_slugs().items()
        if channel != "letter"
        for slug in slugs
    ]


@pytest.mark.parametrize("with_customer", [True, False], ids=["customer", "example"])
def test_every_shipped_message_previews_without_an_error(org, acme_customer, with_customer):
    customer = acme_customer if with_customer else None
    failed = {
        key: shown.errors
        for key in _every_shipped_message()
        if (shown := overrides.preview(org, *key, customer, D)).errors
    }
    assert failed == {}


def test_a_plans_messages_preview_the_customers_active_plan(org, acme_customer):
    invoices = list(Invoice.objects.filter(customer=acme_customer))
    schedule = [(D + dt.timedelta(days=10), "700.00"), (D + dt.timedelta(days=40), "800.00")]
    make.plan(acme_customer, invoices, schedule, on=D)
    reminder = overrides.preview(org, "email", "en", "instalment_reminder", acme_customer, D)
    assert not reminder.errors and "€700.00" in reminder.text
    confirmation = overrides.preview(org, "email", "en", "plan_confirmation", acme_customer, D)
    assert not confirmation.errors and "€800.00" in confirmation.text


def test_a_plans_messages_preview_an_example_plan_without_one(org, acme_customer):
    shown = overrides.preview(org, "email", "en", "plan_confirmation", acme_customer, D)
    assert not shown.errors
    # What the customer owes (1,500.00) in three instalments from a week on.
    assert "€500.00" in shown.text and "1 December 2026" in shown.text
