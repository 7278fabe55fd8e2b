"""The settings pages: each form saved through the same checks as `relance org set`,
refused naming the field, audited; read-only for non-administrators; the logo checked
from its content and served to members only; closure days; the audit trail page."""

from __future__ import annotations

import html
import re
import struct
import zlib

import factories as make
import pytest
from django.urls import reverse

from relance.accounts.models import Organisation
from relance.audit import trail
from relance.audit.models import AuditEvent

pytestmark = pytest.mark.django_db

SETTINGS = {"settings", "settings_sending", "settings_bank", "settings_letterhead",
            "settings_calendar", "settings_dunning"}  # fmt: skip


def url(name, *args):
    return reverse(f"console:{name}", args=args)


@pytest.fixture
def admin(client, org, owner):
    client.force_login(owner)
    return client


def signed_in(client, org, role):
    user = make.member(org, f"{role}@acme.test", role)
    client.force_login(user)
    return client


def last_change():
    return AuditEvent.objects.filter(action="organisation.settings_changed").latest("pk")


def fresh(org):
    return Organisation.objects.get(pk=org.pk)


# -- the forms ----------------------------------------------------------------------------

VALID = [
    ("settings", {"name": "Acme", "legal_name": "Acme Industrie SAS", "siren": "732 829 320",
                  "vat_number": "FR 44 732829320", "address": "12 rue des Forges\r\n69007 Lyon",
                  "phone": "+33 1 23 45 67 89", "signature": "Marie Martin"},
     {"siren": "732829320", "vat_number": "FR44732829320",
      "address": "12 rue des Forges\n69007 Lyon"}),
    ("settings_sending", {"email": "compta@acme.test", "sender_name": "Relances Acme",
                          "reply_to": "relances@acme.test"},
     {"sender_name": "Relances Acme", "reply_to": "relances@acme.test"}),
    ("settings_bank", {"iban": "fr76 3000 6000 0112 3456 7890 189", "bic": "bnpafrppxxx"},
     {"iban": "FR7630006000011234567890189", "bic": "BNPAFRPPXXX"}),
    ("settings_dunning", {"min_balance": "5,50", "contact_gap": "4", "promise_grace_days": "7"},
     {"contact_gap": 4, "promise_grace_days": 7}),
]  # fmt: skip


@pytest.mark.parametrize(("page", "posted", "stored"), VALID)
def test_it_saves_each_form_and_audits_the_fields_changed(admin, org, owner, page, posted, stored):
    response = admin.post(url(page), posted, REMOTE_ADDR="203.0.113.9")
    assert response.status_code == 302 and response["Location"] == url(page)
    saved = fresh(org)
    for name, value in stored.items():
        assert getattr(saved, name) == value
    event = last_change()
    assert (event.user_id, event.ip) == (owner.pk, "203.0.113.9")
    assert set(stored) <= set(event.data["changes"])
    for name, value in stored.items():
        assert event.data["changes"][name]["new"] in (value, str(value))


def test_it_saves_the_minimum_balance_as_an_amount(admin, org):
    admin.post(url("settings_dunning"), {"min_balance": "5,50", "contact_gap": "3",
                                         "promise_grace_days": "2"})  # fmt: skip
    assert str(fresh(org).min_balance) == "5.50"
    assert last_change().data["changes"] == {"min_balance": {"old": "1.00", "new": "5.50"}}


def test_a_french_reader_reads_and_types_the_minimum_balance_the_french_way(admin, org, settings):
    admin.cookies[settings.LANGUAGE_COOKIE_NAME] = "fr"
    admin.post(url("settings_dunning"), {"min_balance": "1 250,50", "contact_gap": "3",
                                         "promise_grace_days": "2"})  # fmt: skip
    assert str(fresh(org).min_balance) == "1250.50"
    page = admin.get(url("settings_dunning")).content.decode()
    [shown] = re.findall(r'name="min_balance" value="([^"]*)"', page)
    assert re.fullmatch("1[\u00a0\u202f ]250,50", shown), shown


INVALID = [
    ("settings", {"name": "Acme", "siren": "732 829 321"}, "siren"),
    ("settings", {"name": ""}, "name"),
    ("settings", {"name": "Acme", "siren": "732829320", "vat_number": "FR40303265045"},
     "vat_number"),
    ("settings_sending", {"email": "compta@acme.test", "reply_to": "relances-at-acme"},
     "reply_to"),
    ("settings_bank", {"iban": "FR76 3000 6000 0112 3456 7890 188", "bic": ""}, "iban"),
    ("settings_bank", {"iban": "", "bic": "BNPAFRP"}, "bic"),
    ("settings_dunning", {"min_balance": "-1", "contact_gap": "3", "promise_grace_days": "2"},
     "min_balance"),
    ("settings_dunning", {"min_balance": "1", "contact_gap": "3", "promise_grace_days": "99"},
     "promise_grace_days"),
]  # fmt: skip


@pytest.mark.parametrize(("page", "posted", "field"), INVALID)
def test_it_refuses_a_bad_value_naming_the_field_and_writes_nothing(admin, org, page, posted,
                                                                     field):  # fmt: skip
    before = AuditEvent.objects.count()
    response = admin.post(url(page), posted)
    assert response.status_code == 200
    assert list(response.context["form"].errors) == [field]
    html = response.content.decode()
    assert f'id="id_{field}_error"' in html and 'aria-invalid="true"' in html
    assert fresh(org).name == "Acme Industrie SAS" and fresh(org).siren == ""
    assert AuditEvent.objects.count() == before


def test_it_saves_the_letterhead(admin, org):
    admin.post(url("settings_letterhead"), {"action": "letterhead",
                                            "letterhead": "ACME\r\nLyon"})  # fmt: skip
    assert fresh(org).letterhead == "ACME\nLyon"
    assert last_change().data["changes"]["letterhead"] == {"old": "", "new": "ACME\nLyon"}


# -- who may -------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["viewer", "collector", "manager"])
def test_it_shows_the_settings_read_only_to_non_administrators(client, org, role):
    signed_in(client, org, role)
    for page in SETTINGS:
        response = client.get(url(page))
        assert response.status_code == 200, page
        assert "Save" not in response.content.decode() or page == "settings_calendar"
        assert client.post(url(page), {"name": "Hacked"}).status_code == 403
    page = client.get(url("settings")).content.decode()
    assert 'name="name"' in page and "disabled" in page
    assert fresh(org).name == "Acme Industrie SAS"


def test_it_shows_members_and_the_trail_to_managers_and_administrators_only(client, org):
    signed_in(client, org, "collector")
    assert client.get(url("settings_members")).status_code == 403
    assert client.get(url("settings_audit")).status_code == 403
    signed_in(client, org, "manager")
    assert client.get(url("settings_members")).status_code == 200
    assert client.get(url("settings_audit")).status_code == 200
    removing = {"action": "remove", "email": "manager@acme.test"}
    assert client.post(url("settings_members"), removing).status_code == 403


def test_it_sends_anonymous_visitors_to_sign_in(client, org):
    assert client.get(url("settings")).status_code == 302


# -- the logo ------------------------------------------------------------------------------


def png(width=120, height=60) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)  # fmt: skip

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    raw = b"".join(b"\x00" + b"\x80\x20\x40" * width for _ in range(min(height, 100)))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw))
            + chunk(b"IEND", b""))  # fmt: skip


def jpeg(width=80, height=40) -> bytes:
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return (
        b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
        + sof
        + b"\xff\xda\x00\x02"
        + b"\x00" * 16
        + b"\xff\xd9"
    )


def upload(client, name, content, content_type="image/png"):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return client.post(url("settings_letterhead"), {
        "action": "logo", "logo": SimpleUploadedFile(name, content, content_type=content_type),
    })  # fmt: skip


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def test_it_stores_a_png_renamed_jpg_as_the_png_it_is_and_serves_it(admin, org, media):
    upload(admin, "first.png", png(10, 10))
    response = upload(admin, "logo.jpg", png(), content_type="image/jpeg")
    assert response.status_code == 302
    saved = fresh(org)
    assert saved.logo.name.startswith("logos/acme-") and saved.logo.name.endswith(".png")
    served = admin.get(url("settings_logo", org.pk))
    assert served.status_code == 200
    assert served["Content-Type"] == "image/png" and served.content == png()
    assert "private" in served["Cache-Control"]
    event = last_change()
    assert event.data["type"] == "image/png" and event.data["pixels"] == [120, 60]
    assert "logo" in event.data["changes"]


def test_it_takes_a_jpeg(admin, org, media):
    assert upload(admin, "logo.jpeg", jpeg(), content_type="image/jpeg").status_code == 302
    assert admin.get(url("settings_logo", org.pk))["Content-Type"] == "image/jpeg"


SVG = (
    b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
)


@pytest.mark.parametrize(
    ("name", "content", "why"),
    [
        ("logo.svg", SVG, "SVG"),
        ("logo.png", SVG, "SVG"),  # named and typed as a PNG: the content says otherwise
        ("logo.png", b"<svg onload='alert(1)'></svg>", "SVG"),
        ("logo.png", png(20000, 20000), "too large"),  # small file, huge image
        ("logo.png", png()[:-12], "damaged"),
        ("logo.png", b"GIF89a" + b"\x00" * 40, "not a PNG or JPEG"),
        ("logo.png", png() + b"\x00" * (1024 * 1024), "over"),
    ],
)
def test_it_refuses_a_hostile_logo_and_stores_nothing(admin, org, media, name, content, why):
    response = upload(admin, name, content)
    assert response.status_code == 200
    errors = response.context["logo_form"].errors["logo"]
    assert why in " ".join(errors)
    assert not fresh(org).logo
    assert list(media.rglob("*.*")) == []


def test_it_serves_the_logo_to_members_only(client, org, other_org, owner, outsider, media):
    client.force_login(owner)
    upload(client, "logo.png", png())
    viewer = make.member(org, "victor@acme.test", "viewer")
    client.force_login(viewer)
    assert client.get(url("settings_logo", org.pk)).status_code == 200
    client.force_login(outsider)  # an administrator, of another organisation
    assert client.get(url("settings_logo", org.pk)).status_code == 404
    client.logout()
    response = client.get(url("settings_logo", org.pk))
    assert response.status_code == 302 and "/login/" in response["Location"]
    assert fresh(org).logo.name and not fresh(org).logo.url.startswith("/settings")


def test_it_removes_the_logo_and_its_file(admin, org, media, django_capture_on_commit_callbacks):
    upload(admin, "logo.png", png())
    stored = media / fresh(org).logo.name
    assert stored.exists()
    with django_capture_on_commit_callbacks(execute=True):  # the file goes once saved
        admin.post(url("settings_letterhead"), {"action": "remove_logo"})
    assert not fresh(org).logo and not stored.exists()
    assert admin.get(url("settings_logo", org.pk)).status_code == 404


# -- the calendar --------------------------------------------------------------------------


def test_it_adds_and_removes_closed_days_and_shows_the_public_holidays(admin, org):
    page = admin.get(url("settings_calendar")).content.decode()
    assert "Noël" in page and 'id="holidays"' in page
    response = admin.post(url("settings_calendar"), {"first": "2026-12-24", "last": "2026-12-26"})
    assert response.status_code == 302
    assert fresh(org).closed_days == ["2026-12-24", "2026-12-25", "2026-12-26"]
    assert last_change().data["changes"]["closed_days"]["old"] == []
    admin.post(url("settings_calendar"), {"remove": "2026-12-25"})
    assert fresh(org).closed_days == ["2026-12-24", "2026-12-26"]
    page = admin.get(url("settings_calendar")).content.decode()
    assert 'datetime="2026-12-24"' in page and 'value="2026-12-26"' in page


def test_it_refuses_a_range_that_ends_before_it_starts(admin, org):
    response = admin.post(url("settings_calendar"), {"first": "2026-12-24", "last": "2026-12-20"})
    assert response.status_code == 200
    assert list(response.context["form"].errors) == ["last"]
    assert fresh(org).closed_days == []


# -- the audit trail -----------------------------------------------------------------------


def test_it_lists_the_trail_filtered_with_each_event_readable(admin, org, other_org):
    admin.post(url("settings"), {"name": "Acme", "siren": "732829320"})
    trail.record(org, "dispute.opened", actor="bob@acme.test", summary="dispute on F1",
                 data={"invoice": "F1", "amount": "12.50"})  # fmt: skip
    trail.record(other_org, "dispute.opened", summary="Globex's own dispute")
    page = admin.get(url("settings_audit")).content.decode()
    assert "organisation.settings_changed" in page and "dispute on F1" in page
    assert "Globex&#x27;s own dispute" not in page and "Globex's own dispute" not in page
    assert "siren</dt><dd>— → 732829320" in page
    assert "amount</dt><dd>12.50" in page
    only = admin.get(url("settings_audit"), {"action": "dispute"}).content.decode()
    only = only[only.index('id="audit-events"') :]  # the form lists every action
    assert "dispute on F1" in only and "organisation.settings_changed" not in only
    by_bob = admin.get(url("settings_audit"), {"actor": "BOB"}).content.decode()
    assert "dispute on F1" in by_bob and "changed name" not in by_bob
    later = admin.get(url("settings_audit"), {"since": "2999-01-01"}).content.decode()
    assert 'id="audit-empty"' in later


def test_the_trail_names_each_action_in_the_readers_language(admin, org, settings):
    """An action by its label in the reader's language, its code beside it for support; an
    action without a label by its code."""
    trail.record(org, "dispute.opened", summary="dispute on F1")
    trail.record(org, "zorglub.frobbed", summary="something new")
    admin.cookies[settings.LANGUAGE_COOKIE_NAME] = "fr"
    page = admin.get(url("settings_audit")).content.decode()
    cells = re.findall(r'<td data-label="Action">(.*?)</td>', page)
    assert any(cell.startswith('<span class="audit-action">Litige ouvert</span>')
               and ">dispute.opened</code>" in cell for cell in cells), cells  # fmt: skip
    assert '<span class="audit-action">zorglub.frobbed</span>' in page
    assert "(zorglub.frobbed)" not in page and page.count(">zorglub.frobbed<") == 1


def test_the_trail_names_what_an_event_is_about_in_the_readers_language(admin, org, settings):
    """An event's object by its name in the reader's language (a user, a customer); a type
    without a name by its code."""
    customer = make.customer(org, "C1")
    trail.record(org, "customer.note_added", target=customer, summary="note")
    trail.record(org, "zorglub.frobbed", target=("zorglub", 7), summary="something new")
    admin.cookies[settings.LANGUAGE_COOKIE_NAME] = "fr"
    page = admin.get(url("settings_audit")).content.decode()
    assert f'<span class="muted nowrap">(client {customer.pk})</span>' in page
    assert '<span class="muted nowrap">(zorglub 7)</span>' in page
    assert f"(customer {customer.pk})" not in page


def test_a_kept_summary_reads_in_the_readers_language_others_as_recorded(admin, org, settings):
    """A summary recorded as a message and its values is written in English and said again
    in the reader's language, the timeline's way; a plain one stays as recorded."""
    from relance.ledger.timeline import Text

    event = trail.record(org, "dispute.opened", summary=Text("Dispute opened"))
    trail.record(org, "hold.placed", summary="hold placed by hand")
    assert event.summary == "Dispute opened"
    admin.cookies[settings.LANGUAGE_COOKIE_NAME] = "fr"
    page = admin.get(url("settings_audit")).content.decode()
    assert "<span>Litige ouvert</span>" in page
    assert '<span lang="en">hold placed by hand</span>' in page
    assert "_text" not in page  # the kept text is no detail of the event


def test_it_pages_the_trail(admin, org):
    for n in range(60):
        trail.record(org, "hold.placed", summary=f"hold number {n:02d}")
    first = admin.get(url("settings_audit"), {"action": "hold"}).content.decode()
    assert "hold number 59" in first and "hold number 09" not in first
    assert "page=2" in first and "action=hold" in first
    second = admin.get(url("settings_audit"), {"action": "hold", "page": "2"}).content.decode()
    assert "hold number 09" in second and "hold number 59" not in second and "page=3" not in second


@pytest.mark.parametrize("rows", [3, 30])
def test_it_reads_the_trail_and_the_members_in_the_same_number_of_queries(
    admin, org, rows, django_assert_max_num_queries
):
    for n in range(rows):
        trail.record(org, "hold.placed", user=make.member(org, f"m{n}@acme.test", "viewer"))
    with django_assert_max_num_queries(8):
        assert admin.get(url("settings_audit")).status_code == 200
    with django_assert_max_num_queries(8):
        assert admin.get(url("settings_members")).status_code == 200


def test_it_shows_the_sign_ins_of_members_of_several_organisations_in_each(client, org, other_org):
    shared = make.member(org, "sam@acme.test", "manager")
    make.member(other_org, "sam@acme.test", "viewer")
    client.post("/login/", {"username": "sam@acme.test", "password": "wrong one"})
    client.post("/login/", {"username": "sam@acme.test", "password": make.PASSWORD})
    for organisation in (org, other_org):
        actions = AuditEvent.objects.filter(organisation=organisation,
                                            action__startswith="signin.")  # fmt: skip
        assert sorted(actions.values_list("action", flat=True)) == [
            "signin.failed", "signin.succeeded",
        ]  # fmt: skip
    page = client.get(url("settings_audit")).content.decode()
    # The page is in French (the organisation's language): the summary said in French.
    assert "signin.succeeded" in page and "connexion de sam@acme.test" in page
    assert shared.pk


def test_the_trails_filter_offers_the_actions_by_label_and_keeps_a_code_typed(admin, org):
    """The action is chosen by its label in the reader's language (all of them, sorted);
    a code's beginning given in the address (a link, support) stays selected as it is."""
    page = admin.get(url("settings_audit")).content.decode()
    assert '<option value="" selected>Toutes les actions</option>' in page
    assert '<option value="dispute.opened">Litige ouvert</option>' in page
    assert 'id="audit-reset"' not in page  # nothing to clear
    given = admin.get(url("settings_audit"), {"action": "dispute"}).content.decode()
    assert '<option value="dispute" selected>dispute</option>' in given
    assert 'id="audit-reset"' in given


def test_every_settings_label_reads_as_a_french_label(admin):
    """A field's name as French writes a label: a capital first ('Numéro de TVA'), no
    e-mail header left in English ('Reply-To')."""
    pages = [*SETTINGS, "settings_agent", "settings_members", "settings_audit",
             "settings_api_keys", "settings_webhooks"]  # fmt: skip
    labels = {}
    for name in pages:
        html = admin.get(url(name)).content.decode()
        for label in re.findall(r"<label[^>]*>\s*([^<]+?)\s*<", html):
            labels[label] = name
    assert len(labels) > 20
    assert [label for label in labels if not label[0].isupper()] == []
    assert [label for label in labels if "Reply-To" in label] == []
    assert "Numéro de TVA" in labels


def test_a_refused_value_is_said_in_the_readers_language(admin, org):
    """The checks are those of `relance org set` (in English there); the page says them in
    French, the number's fault in words."""
    page = admin.post(url("settings"), {"name": "Acme", "siren": "732 829 321"}).content.decode()
    text = html.unescape(page).replace("\u00a0", " ")
    assert "« 732 829 321 » n'est pas un SIREN valide (sa clé de contrôle est fausse)" in text
    posted = {"email": "compta@acme.test", "reply_to": "relances-at-acme"}
    page = admin.post(url("settings_sending"), posted).content.decode()
    text = html.unescape(page).replace("\u00a0", " ")
    assert "« relances-at-acme » n'est pas une adresse e-mail" in text
    assert "is not" not in text
