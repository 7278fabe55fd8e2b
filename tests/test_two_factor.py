"""Two-factor sign-in with an authenticator app (TOTP, django-otp): enrolment, the code
step after the password, the admin site, the requirement for admins, `relance otp`."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import struct
import time
from base64 import b32decode
from io import StringIO
from urllib.parse import parse_qs, urlparse

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_login_failed
from django.core.management import call_command
from django.core.management.base import CommandError
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from relance.audit.models import AuditEvent

pytestmark = pytest.mark.django_db
PASSWORD = "correct-horse-battery"


def code_for(secret: str, steps_ahead: int = 0) -> str:
    """RFC 6238 as an authenticator app computes it, from the key the user is given."""
    counter = int(time.time()) // 30 + steps_ahead
    key = b32decode(secret.replace(" ", "") + "=" * (-len(secret.replace(" ", "")) % 8))
    digest = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    number = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{number % 1_000_000:06d}"


def secret_of(device: TOTPDevice) -> str:
    return parse_qs(urlparse(device.config_url).query)["secret"][0]


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


@pytest.fixture
def enrolled(owner):
    """The owner with a confirmed device, as `relance otp enrol` leaves it."""
    return TOTPDevice.objects.create(user=owner, name="Relance", confirmed=True)


@pytest.fixture
def no_wait(settings):
    """django-otp makes a wrong code wait 1 s, 2 s, 4 s... before the next: not in tests
    that try a right code just after a wrong one."""
    settings.OTP_TOTP_THROTTLE_FACTOR = 0


def sign_in_with_password(client, next_url="/"):
    return client.post("/login/", {"username": "alice@acme.test", "password": PASSWORD,
                                   "next": next_url})  # fmt: skip


ENGLISH = {"accept-language": "en"}  # the pages' words are checked in English


def actions(org):
    return list(AuditEvent.objects.filter(organisation=org).values_list("action", flat=True))


# Enrolment.


def test_it_enrols_an_app_once_the_first_code_is_right(client, org, owner, no_wait):
    client.force_login(owner)
    page = client.get("/account/two-factor/").content.decode()
    device = TOTPDevice.objects.get(user=owner)
    assert not device.confirmed
    # The QR code is inline SVG; the key is shown to type by hand.
    # No inline script: the only scripts are files the policy allows.
    assert "<svg" in page and not re.search(r"<script(?![^>]*\bsrc=)", page)
    key = re.search(r'<code class="secret">([A-Z2-7 ]+)</code>', page)[1]
    assert key.replace(" ", "") == secret_of(device)
    # Reloading the page keeps the same key.
    client.get("/account/two-factor/")
    assert TOTPDevice.objects.get(user=owner).key == device.key

    refused = client.post("/account/two-factor/", {"code": wrong(code_for(key))})
    assert refused.status_code == 200
    assert not TOTPDevice.objects.get(user=owner).confirmed
    response = client.post("/account/two-factor/", {"code": code_for(key)})
    assert response.status_code == 302
    assert TOTPDevice.objects.get(user=owner).confirmed
    assert client.session[DEVICE_ID_SESSION_KEY]  # this session gave a code
    assert "otp.enrolled" in actions(org)
    page = client.get("/account/two-factor/", headers=ENGLISH).content.decode()
    assert "two-factor sign-in is on" in page.lower()


# Signing in.


def test_it_asks_for_the_code_after_the_password(client, org, owner, enrolled, no_wait):
    response = sign_in_with_password(client, next_url="/?from=login")
    assert response.status_code == 302 and response["Location"] == "/login/code/"
    # The password alone signs nobody in.
    assert client.get("/").status_code == 302
    assert "_auth_user_id" not in client.session

    failures = []

    def failed(sender, credentials, request, **kw):
        failures.append((credentials["username"], request.META["REMOTE_ADDR"]))

    user_login_failed.connect(failed)
    try:
        refused = client.post("/login/code/", {"code": wrong(code_for(secret_of(enrolled)))})
    finally:
        user_login_failed.disconnect(failed)
    assert refused.status_code == 200
    assert "_auth_user_id" not in client.session
    # A wrong code is a failed sign-in as throttling counts them, and in the trail.
    assert failures == [("alice@acme.test", "127.0.0.1")]
    # Once: as a wrong code, not also as a wrong password.
    assert actions(org).count("signin.otp_failed") == 1
    assert "signin.failed" not in actions(org)

    response = client.post("/login/code/", {"code": code_for(secret_of(enrolled))})
    assert response.status_code == 302 and response["Location"] == "/?from=login"
    assert client.session["_auth_user_id"] == str(owner.pk)
    assert client.session[DEVICE_ID_SESSION_KEY] == enrolled.persistent_id
    assert client.get("/").status_code == 200


def test_it_refuses_a_code_used_already_and_slows_down_guesses(client, owner, enrolled):
    code = code_for(secret_of(enrolled))
    sign_in_with_password(client)
    assert client.post("/login/code/", {"code": code}).status_code == 302
    client.logout()
    sign_in_with_password(client)
    assert client.post("/login/code/", {"code": code}).status_code == 200  # replayed
    # After a wrong code, even the right one waits (django-otp's throttling).
    page = client.post("/login/code/", {"code": code_for(secret_of(enrolled), 1)}, headers=ENGLISH)
    assert page.status_code == 200
    assert "Wait a few seconds" in page.content.decode()
    assert "_auth_user_id" not in client.session


def test_it_signs_in_with_the_password_alone_without_a_device(client, owner):
    response = sign_in_with_password(client)
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.session["_auth_user_id"] == str(owner.pk)


def test_it_gives_no_code_step_without_the_password_step(client, owner, enrolled):
    response = client.post("/login/code/", {"code": code_for(secret_of(enrolled))})
    assert response.status_code == 302 and response["Location"] == "/login/"
    assert "_auth_user_id" not in client.session
    client.post("/login/", {"username": "alice@acme.test", "password": "wrong password"})
    response = client.post("/login/code/", {"code": code_for(secret_of(enrolled))})
    assert response["Location"] == "/login/"
    assert "_auth_user_id" not in client.session


def test_it_forgets_the_password_step_after_five_minutes(client, owner, enrolled, time_machine):
    time_machine.move_to(time.time())
    sign_in_with_password(client)
    time_machine.shift(301)
    response = client.post("/login/code/", {"code": code_for(secret_of(enrolled))})
    assert response["Location"] == "/login/"
    assert "_auth_user_id" not in client.session


def test_it_locks_the_code_step_with_the_password_step(client, owner, enrolled, settings, no_wait):
    sign_in_with_password(client)
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post("/login/code/", {"code": "000000"})
    response = client.post("/login/code/", {"code": code_for(secret_of(enrolled))})
    assert response.status_code in (403, 429)
    assert "_auth_user_id" not in client.session


# The admin site.


@pytest.fixture
def superuser(org):
    from relance.accounts.services import add_member

    user = add_member(org, "alice@acme.test", "admin", password=PASSWORD)
    user.is_staff = user.is_superuser = True
    user.save()
    return user


def test_it_opens_the_admin_site_only_to_a_session_that_gave_the_code(client, superuser):
    client.force_login(superuser)
    assert client.get("/admin/").status_code == 200  # no device: the password is enough
    device = TOTPDevice.objects.create(user=superuser, name="Relance", confirmed=True)
    response = client.get("/admin/")
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    assert client.get("/admin/auth/user/").status_code == 302

    # The admin's own sign-in page asks for the code too, then opens the admin.
    client.logout()
    response = client.post("/admin/login/?next=/admin/", {"username": "alice@acme.test",
                                                           "password": PASSWORD})  # fmt: skip
    assert response.status_code == 302 and response["Location"] == "/login/code/"
    response = client.post("/login/code/", {"code": code_for(secret_of(device))})
    assert response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_it_sends_admins_without_a_device_to_enrol_when_required(client, org, owner, settings):
    from relance.accounts.services import add_member

    settings.RELANCE_REQUIRE_2FA_FOR_ADMINS = True
    viewer = add_member(org, "victor@acme.test", "viewer", password=PASSWORD)
    client.force_login(viewer)
    assert client.get("/").status_code == 200  # not an administrator
    client.force_login(owner)
    response = client.get("/?page=1")
    assert response.status_code == 302
    assert response["Location"] == "/account/two-factor/?next=%2F%3Fpage%3D1"
    page = client.get(response["Location"], headers=ENGLISH).content.decode()
    assert "must sign in with a second factor" in page
    secret = secret_of(TOTPDevice.objects.get(user=owner))
    response = client.post("/account/two-factor/", {"code": code_for(secret), "next": "/?page=1"})
    assert response["Location"] == "/?page=1"
    assert client.get("/?page=1").status_code == 200


def test_it_signs_out_an_admin_session_without_code_when_required(client, owner, enrolled,
                                                                  settings):  # fmt: skip
    settings.RELANCE_REQUIRE_2FA_FOR_ADMINS = True
    client.force_login(owner)  # e.g. signed in before enrolling on another browser
    response = client.get("/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert "_auth_user_id" not in client.session


def test_it_refuses_the_admin_site_to_staff_without_a_device_when_required(
    client, superuser, settings
):
    settings.RELANCE_REQUIRE_2FA_FOR_ADMINS = True
    client.force_login(superuser)
    response = client.get("/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith("/account/two-factor/")


# The command line.


def test_it_enrols_and_removes_a_device_from_the_command_line(client, org, owner, no_wait):
    out = StringIO()
    call_command("otp", "enrol", "Alice@acme.test", "--json", stdout=out)
    document = json.loads(out.getvalue())
    uri = urlparse(document["uri"])
    assert (uri.scheme, uri.netloc) == ("otpauth", "totp")
    assert uri.path == "/Relance%3Aalice%40acme.test"
    secret = parse_qs(uri.query)["secret"][0]
    assert document["secret"] == secret
    assert "otp.enrolled" in actions(org)

    # The app scanning that URI gives the codes sign-in asks for.
    sign_in_with_password(client)
    assert client.post("/login/code/", {"code": code_for(secret)}).status_code == 302
    client.logout()

    with pytest.raises(CommandError, match="already has a two-factor device"):
        call_command("otp", "enrol", "alice@acme.test", stdout=StringIO())

    out = StringIO()
    call_command("otp", "remove", "alice@acme.test", stdout=out)
    assert "Removed" in out.getvalue()
    assert not TOTPDevice.objects.filter(user=owner).exists()
    assert "otp.removed" in actions(org)
    assert sign_in_with_password(client)["Location"] == "/"  # the password alone again

    with pytest.raises(CommandError, match="no user"):
        call_command("otp", "remove", "nobody@acme.test", stdout=StringIO())


def test_it_prints_a_qr_code_on_the_terminal(owner):
    out = StringIO()
    call_command("otp", "enrol", "alice@acme.test", stdout=out)
    text = out.getvalue()
    device = TOTPDevice.objects.get(user=get_user_model().objects.get(pk=owner.pk))
    assert device.config_url in text
    assert sum(line.count("█") for line in text.splitlines()) > 100  # the QR code's blocks


def test_it_turns_two_factor_off_from_the_page_with_a_current_code(
    client, org, owner, enrolled, no_wait
):
    client.force_login(owner)
    refused = client.post("/account/two-factor/", {"code": wrong(code_for(secret_of(enrolled)))})
    assert refused.status_code == 200
    assert TOTPDevice.objects.filter(user=owner).exists()  # a session alone is not enough
    turned_off = client.post("/account/two-factor/", {"code": code_for(secret_of(enrolled))})
    assert turned_off.status_code == 302
    assert not TOTPDevice.objects.filter(user=owner).exists()
    assert actions(org).count("otp.removed") == 1
    # The page offers to enrol again, with a new key.
    page = client.get("/account/two-factor/").content.decode()
    again = TOTPDevice.objects.get(user=owner, confirmed=False)
    assert secret_of(again) != secret_of(enrolled)
    assert "<svg" in page and 'name="code"' in page


def test_it_keeps_two_factor_on_for_admins_when_required(client, owner, enrolled, settings):
    settings.RELANCE_REQUIRE_2FA_FOR_ADMINS = True
    sign_in_with_password(client)
    client.post("/login/code/", {"code": code_for(secret_of(enrolled))})
    page = client.get("/account/two-factor/", headers=ENGLISH).content.decode()
    assert "keep two-factor sign-in on" in page and "Turn off" not in page
    client.post("/account/two-factor/", {"code": code_for(secret_of(enrolled), 1)})
    assert TOTPDevice.objects.filter(user=owner, confirmed=True).exists()
