"""Sign-in throttling (django-axes), its page and events, the unlock command, and password
reset by e-mail: through the test client, with real POSTs and a real SMTP server."""

from __future__ import annotations

import json
import re
import threading
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from relance.audit.models import AuditEvent

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery"  # the `owner` fixture's
ALICE = "alice@acme.test"
HOME = "203.0.113.9"
ELSEWHERE = "198.51.100.7"


def sign_in(client, username, password, ip=HOME, language="en"):
    return client.post(
        "/login/",
        {"username": username, "password": password},
        REMOTE_ADDR=ip,
        HTTP_ACCEPT_LANGUAGE=language,
    )


def signed_in(client) -> bool:
    return "_auth_user_id" in client.session


def actions() -> list[str]:
    """The sign-in events of the trail (creating the organisation writes its own)."""
    events = AuditEvent.objects.filter(action__startswith="signin.").order_by("pk")
    return list(events.values_list("action", flat=True))


def test_it_refuses_the_right_password_after_thirty_wrong_ones(client, owner):
    for _ in range(30):
        assert sign_in(client, ALICE, "wrong password").status_code in (200, 429)
    response = sign_in(client, ALICE, PASSWORD)
    assert response.status_code == 429
    page = response.content.decode()
    assert "Too many failed sign-ins" in page
    assert re.search(r"Try again in 15 minutes, after \d\d?:\d\d", page)
    assert "Traceback" not in page
    assert 0 < int(response["Retry-After"]) <= 15 * 60
    assert not signed_in(client)


def test_it_counts_failures_from_the_fifth_wrong_password_on(client, owner):
    for _ in range(4):
        assert sign_in(client, ALICE, "wrong password").status_code == 200
    assert sign_in(client, ALICE, "wrong password").status_code == 429
    assert sign_in(client, ALICE, PASSWORD).status_code == 429


def test_it_locks_an_account_whatever_the_address_it_is_tried_from(client, owner):
    for n in range(5):
        sign_in(client, ALICE, "wrong password", ip=f"192.0.2.{n + 1}")
    assert sign_in(client, ALICE, PASSWORD, ip=ELSEWHERE).status_code == 429
    assert not signed_in(client)


def test_it_locks_an_address_that_tries_several_accounts(client, owner):
    for name in ("bob", "carol", "dave", "erin", "frank"):
        assert sign_in(client, f"{name}@acme.test", "guess").status_code in (200, 429)
    # Even the right password of another account is refused from that address...
    assert sign_in(client, ALICE, PASSWORD, ip=HOME).status_code == 429
    assert not signed_in(client)
    # ...while the account itself is not locked elsewhere.
    assert sign_in(client, ALICE, PASSWORD, ip=ELSEWHERE).status_code == 302
    assert signed_in(client)


def test_it_counts_an_address_behind_the_configured_proxies(client, owner, settings):
    settings.RELANCE_PROXY_COUNT = 1
    for n in range(5):
        client.post(
            "/login/",
            {"username": f"user{n}@acme.test", "password": "guess"},
            REMOTE_ADDR="10.0.0.2",  # the reverse proxy
            # A forged entry first, then what the proxy saw: only the latter counts.
            HTTP_X_FORWARDED_FOR=f"10.9.9.{n}, {HOME}",
        )
    behind_proxy = {"REMOTE_ADDR": "10.0.0.2"}
    refused = client.post(
        "/login/",
        {"username": ALICE, "password": PASSWORD},
        HTTP_X_FORWARDED_FOR=f"10.1.1.1, {HOME}",
        **behind_proxy,
    )
    assert refused.status_code == 429
    other_client = client.post(
        "/login/",
        {"username": ALICE, "password": PASSWORD},
        HTTP_X_FORWARDED_FOR=ELSEWHERE,
        **behind_proxy,
    )
    assert other_client.status_code == 302
    assert AuditEvent.objects.filter(action="signin.succeeded").get().ip == ELSEWHERE


def test_it_lets_the_account_in_again_after_the_cool_off(client, owner, time_machine):
    time_machine.move_to(timezone.now(), tick=False)
    for _ in range(5):
        sign_in(client, ALICE, "wrong password")
    assert sign_in(client, ALICE, PASSWORD).status_code == 429
    time_machine.shift(timedelta(minutes=14))
    # A try during the lock starts the cool-off again.
    assert sign_in(client, ALICE, PASSWORD).status_code == 429
    time_machine.shift(timedelta(minutes=14))
    assert sign_in(client, ALICE, PASSWORD).status_code == 429
    time_machine.shift(timedelta(minutes=15, seconds=1))
    assert sign_in(client, ALICE, PASSWORD).status_code == 302
    assert signed_in(client)


def test_it_shows_the_lockout_to_admins_in_axes_records_and_the_audit_trail(
    client, owner, org, settings
):
    from axes.models import AccessAttempt, AccessFailureLog, AccessLog

    for _ in range(5):
        sign_in(client, ALICE, "wrong password")
    sign_in(client, ALICE, PASSWORD)

    attempt = AccessAttempt.objects.get()
    assert (attempt.username, attempt.ip_address, attempt.failures_since_start) == (
        ALICE,
        HOME,
        6,
    )
    assert AccessFailureLog.objects.filter(username=ALICE, locked_out=True).count() == 2

    assert actions() == ["signin.failed"] * 4 + ["signin.locked_out"] * 2
    events = AuditEvent.objects.filter(action__startswith="signin.")
    assert {(e.organisation_id, e.ip, e.actor) for e in events} == {(org.pk, HOME, "anonymous")}
    locked = events.filter(action="signin.locked_out").first()
    assert locked is not None
    assert (locked.data["username"], locked.data["ip"]) == (ALICE, HOME)
    assert locked.data["failure_limit"] == settings.AXES_FAILURE_LIMIT
    # The password never reaches the trail.
    for event in events:
        stored = event.summary + json.dumps(event.data)
        assert "wrong password" not in stored and PASSWORD not in stored

    # Once the lock is lifted, a sign-in is recorded too, in the user's organisation.
    call_command("signin", "unlock", ALICE, "--ip", HOME, stdout=StringIO())
    assert sign_in(client, ALICE, PASSWORD).status_code == 302
    succeeded = AuditEvent.objects.get(action="signin.succeeded")
    assert (succeeded.organisation_id, succeeded.user_id, succeeded.ip) == (org.pk, owner.pk, HOME)
    assert AccessLog.objects.filter(username=ALICE).count() == 1

    # The admin lists axes' records.
    from django.contrib.auth import get_user_model

    admin = get_user_model().objects.create_superuser("root@relance.test", "root@relance.test")
    client.force_login(admin)
    page = client.get("/admin/axes/accessfailurelog/", HTTP_ACCEPT_LANGUAGE="en")
    assert page.status_code == 200
    assert ALICE in page.content.decode()


def test_it_records_a_shared_account_in_each_organisation_and_an_unknown_one_in_none(
    client, org, other_org, owner
):
    from relance.accounts.services import add_member

    add_member(other_org, ALICE, "viewer")  # alice now belongs to two organisations
    sign_in(client, ALICE, "wrong password")
    sign_in(client, "nobody@acme.test", "wrong password")
    failures = AuditEvent.objects.filter(action__startswith="signin.").order_by("pk")
    # Each with its summary's text kept for its readers (timeline.KEPT), left out here.
    assert [(e.action, e.organisation_id, e.data["username"]) for e in failures] == [
        ("signin.failed", org.pk, ALICE),
        ("signin.failed", other_org.pk, ALICE),
        ("signin.failed", None, "nobody@acme.test"),
    ]


def test_it_counts_one_account_whatever_the_case_it_is_typed_in(client, owner):
    for name in ("Alice@acme.test", "ALICE@ACME.TEST", " alice@Acme.test", "alice@acme.TEST"):
        sign_in(client, name, "wrong password", ip=f"192.0.2.{len(name)}")
    sign_in(client, ALICE, "wrong password", ip=ELSEWHERE)
    assert sign_in(client, ALICE, PASSWORD, ip="192.0.2.200").status_code == 429


def test_it_unlocks_an_account_or_an_address_from_the_command_line(client, owner, org):
    for _ in range(5):
        sign_in(client, ALICE, "wrong password")
    out = StringIO()
    call_command("signin", "locked", "--json", stdout=out)
    listed = json.loads(out.getvalue())
    assert {(row["kind"], row["who"], row["failures"]) for row in listed["counted"]} == {
        ("account", ALICE, 5),
        ("address", HOME, 5),
    }
    assert all(row["locked_until"] for row in listed["counted"])

    # The account only: the address stays locked, another address gets in.
    out = StringIO()
    call_command("signin", "unlock", "Alice@Acme.test", "--json", stdout=out)
    assert json.loads(out.getvalue()) == {"username": ALICE, "ip": None, "attempts_removed": 1}
    assert sign_in(client, ALICE, PASSWORD, ip=ELSEWHERE).status_code == 302
    unlocked = AuditEvent.objects.get(action="signin.unlocked")
    assert unlocked.organisation_id == org.pk and unlocked.actor.startswith("cli")

    with pytest.raises(CommandError) as usage:
        call_command("signin", "unlock")
    assert usage.value.returncode == 2
    with pytest.raises(CommandError) as bad_ip:
        call_command("signin", "unlock", "--ip", "not-an-ip")
    assert bad_ip.value.returncode == 2


def sent(mail):
    """What the server received once the reset e-mails' threads are done."""
    from relance.accounts.passwords import SENDER_THREAD

    for thread in threading.enumerate():
        if thread.name == SENDER_THREAD:
            thread.join(10)
    return mail.received


def reset_link(text: str) -> str:
    match = re.search(r"https?://testserver(/password-reset/\S+/\S+/)", text)
    assert match, text
    return match.group(1)


def test_it_resets_a_forgotten_password_by_e_mail(client, owner, org, mail):
    login_page = client.get("/login/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'href="/password-reset/"' in login_page
    assert "Forgot your password?" in login_page

    asked = client.post(
        "/password-reset/", {"email": "Alice@Acme.test"}, REMOTE_ADDR=HOME,
        HTTP_ACCEPT_LANGUAGE="en",
    )  # fmt: skip
    assert asked.status_code == 302 and asked["Location"] == "/password-reset/sent/"

    [received] = sent(mail)
    assert received.rcpt_tos == [ALICE]
    assert received.message["From"] == "Relance <relance@relance.test>"
    assert received.subject == "Relance: choose a new password"
    text = received.text()
    assert "&#x27;" not in text and "&amp;" not in text
    link = reset_link(text)

    form = client.get(link, follow=True, HTTP_ACCEPT_LANGUAGE="en")
    assert form.status_code == 200
    assert "Choose a new password" in form.content.decode()
    new_password = "a-much-longer-passphrase-42"
    done = client.post(
        form.redirect_chain[-1][0],
        {"new_password1": new_password, "new_password2": new_password},
        REMOTE_ADDR=HOME,
    )
    assert done.status_code == 302 and done["Location"] == "/password-reset/done/"
    assert (
        "Password changed"
        in client.get(done["Location"], HTTP_ACCEPT_LANGUAGE="en").content.decode()
    )

    assert sign_in(client, ALICE, PASSWORD).status_code == 200  # the old one no longer works
    assert sign_in(client, ALICE, new_password).status_code == 302
    assert signed_in(client)
    # The link works once.
    client.logout()
    again = client.get(link, follow=True, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "This link does not work any more" in again

    requested = AuditEvent.objects.get(action="password.reset_requested")
    assert (requested.organisation_id, requested.ip, requested.data["accounts"]) == (
        org.pk,
        HOME,
        1,
    )
    reset = AuditEvent.objects.get(action="password.reset_done")
    assert (reset.organisation_id, reset.user_id) == (org.pk, owner.pk)


def without_csrf(page: bytes) -> str:
    return re.sub(r'value="[^"]{40,}"', "", page.decode())


def test_it_answers_the_same_for_an_unknown_address_and_sends_nothing(client, owner, mail):
    known = client.post("/password-reset/", {"email": ALICE}, follow=True)
    unknown = client.post("/password-reset/", {"email": "nobody@acme.test"}, follow=True)
    assert known.redirect_chain == unknown.redirect_chain == [("/password-reset/sent/", 302)]
    assert without_csrf(known.content) == without_csrf(unknown.content)
    assert [message.rcpt_tos for message in sent(mail)] == [[ALICE]]


def test_it_limits_reset_requests_from_one_address(client, owner, mail, settings):
    settings.RELANCE_PASSWORD_RESET_LIMIT = 3
    for n in range(3):
        response = client.post("/password-reset/", {"email": f"x{n}@acme.test"}, REMOTE_ADDR=HOME)
        assert response.status_code == 302
    refused = client.post(
        "/password-reset/", {"email": ALICE}, REMOTE_ADDR=HOME, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert refused.status_code == 429
    assert "Too many reset requests" in refused.content.decode()
    assert sent(mail) == []
    # Another address is not concerned.
    assert (
        client.post("/password-reset/", {"email": ALICE}, REMOTE_ADDR=ELSEWHERE).status_code == 302
    )
    assert len(sent(mail)) == 1


def test_it_lifts_the_account_lock_once_the_password_is_reset(client, owner, mail):
    for _ in range(5):
        sign_in(client, ALICE, "wrong password")
    locked_page = sign_in(client, ALICE, PASSWORD)
    assert locked_page.status_code == 429
    assert 'href="/password-reset/"' in locked_page.content.decode()

    client.post("/password-reset/", {"email": ALICE}, REMOTE_ADDR=ELSEWHERE)
    form = client.get(reset_link(sent(mail)[0].text()), follow=True)
    new_password = "a-much-longer-passphrase-42"
    client.post(
        form.redirect_chain[-1][0], {"new_password1": new_password, "new_password2": new_password}
    )
    # The failures counted against the account are forgiven: no wait for the cool-off.
    assert sign_in(client, ALICE, new_password, ip=HOME).status_code == 302
    assert signed_in(client)


def test_it_answers_a_known_address_without_waiting_for_the_mail_server(client, owner, settings):
    import socket

    # A server that takes the connection and never says hello: a send waits for the timeout.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    settings.EMAIL_BACKEND = "relance.channels.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = silent.getsockname()
    settings.EMAIL_TIMEOUT = 30
    from relance.accounts.passwords import SENDER_THREAD

    try:
        response = client.post("/password-reset/", {"email": ALICE})
        assert response.status_code == 302
        # The page is answered while the send still waits for the server's greeting.
        sending = [t for t in threading.enumerate() if t.name == SENDER_THREAD]
        assert sending and all(t.is_alive() for t in sending)
    finally:
        silent.close()  # the send fails at once now, and its thread ends
        for thread in threading.enumerate():
            if thread.name == SENDER_THREAD:
                thread.join(10)


# -- where a sign-in leads, and its session -------------------------------------------------


HOSTILE_NEXT = ("https://evil.test/", "//evil.test/", "/\\evil.test/", "\\\\evil.test",
                "javascript:alert(1)", "https:evil.test", " //evil.test/")  # fmt: skip


@pytest.mark.parametrize("where", HOSTILE_NEXT)
def test_no_next_leads_off_the_site_and_signing_in_renews_the_session(client, owner, where):
    client.get("/login/")
    session = client.session
    session["planted"] = True  # a session the visitor (or whoever gave the cookie) holds
    session.save()
    client.cookies["sessionid"] = planted = session.session_key
    answer = client.post(f"/login/?next={where}", {"username": ALICE, "password": PASSWORD,
                                                    "next": where})  # fmt: skip
    assert answer.status_code == 302 and answer["Location"] == "/"
    assert signed_in(client) and client.cookies["sessionid"].value != planted
    for path in ("/i18n/setlang/", "/logout/"):
        answer = client.post(path, {"language": "en", "next": where})
        assert answer.status_code == 302 and "evil" not in answer["Location"], path
