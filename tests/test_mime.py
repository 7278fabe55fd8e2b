"""The SMTP backend writes the same bytes as Django's, with its short cuts."""

from __future__ import annotations

from email.policy import compat32

import pytest
from django.core.mail import EmailMessage, EmailMultiAlternatives, get_connection, send_mail
from hypothesis import given
from hypothesis import strategies as st
from smtp import SMTPServer

from relance.channels.email import prepared
from relance.channels.smtp import FAST_FOLDING, WIRE, Writer, as_bytes

NAMES = st.sampled_from(["Subject", "To", "From", "References", "X-Relance-Communication"])
# ASCII with blanks and controls (where folding and line breaks start), some non-ASCII.
VALUES = st.text(st.sampled_from("ab; ,:\t\r\n\x0b\x1cé–=?<>@.") | st.characters(), max_size=120)


@given(NAMES, VALUES)
def test_it_folds_a_header_as_compat32_does(name, value):
    for linesep in ("\n", "\r\n"):
        fast, stock = FAST_FOLDING.clone(linesep=linesep), compat32.clone(linesep=linesep)
        try:
            expected = stock.fold_binary(name, value)
        except Exception as error:  # an embedded header, say: the same refusal
            try:
                fast.fold_binary(name, value)
            except Exception as same:
                assert type(same) is type(error)
            else:
                raise AssertionError(f"no {error!r}") from error
        else:
            assert fast.fold_binary(name, value) == expected


def test_it_folds_a_header_that_fits_as_it_is():
    line = "<179537546773.19295.7167805570468251907.relance.3@relance.test>"
    assert FAST_FOLDING.fold_binary("Message-ID", line) == f"Message-ID: {line}\n".encode()
    long = " ".join([line] * 3)
    assert FAST_FOLDING.fold_binary("References", long) == compat32.fold_binary("References", long)


def test_it_writes_the_bytes_django_writes(settings):
    settings.DEFAULT_CHARSET = "utf-8"
    message = EmailMultiAlternatives(
        subject="Relance : facture F-001 en attente de règlement – Dupont & Fils SARL",
        body="Bonjour Élodie,\n\n" + "Une ligne assez longue pour être repliée. " * 40 + "\n",
        from_email="Dupont & Fils <relance@relance.test>",
        to=["Élodie Durand <elodie@durand.test>", "compta@durand.test"],
        reply_to=["Dupont, Fils <compta@dupont.test>"],
        headers={
            "Message-ID": "<1.2.relance.1@relance.test>",
            "References": " ".join(f"<{n}.relance.{n}@relance.test>" for n in range(10)),
            "X-Relance-Communication": "1",
        },
    )
    message.attach_alternative("<p>" + "Du HTML, long. " * 200 + "</p>", "text/html")
    message.attach("facture F-001.pdf", b"%PDF-1.4 \x00\xff" * 500, "application/pdf")
    mime = message.message()
    ours = as_bytes(mime)  # sets the boundaries, which Django's writer then keeps
    assert ours == mime.as_bytes(linesep="\r\n")
    assert b"\r\n" in ours and b"\n" not in ours.replace(b"\r\n", b"")


def test_it_picks_a_boundary_absent_from_the_parts(monkeypatch):
    tokens = iter([1, 2])
    monkeypatch.setattr("relance.channels.smtp.random.randrange", lambda _: next(tokens))
    taken = f"--{'=' * 15}{1:019d}==".encode()
    assert Writer._make_boundary(b"text\r\n" + taken + b"\r\n") == f"{'=' * 15}{2:019d}=="


@pytest.fixture
def smtp(settings):
    server = SMTPServer().start()
    settings.EMAIL_BACKEND = "relance.channels.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = server.host, server.port
    yield server
    server.stop()


def test_it_sends_a_message_written_ahead_or_not(smtp):
    ahead = prepared(EmailMessage("Écrit d'avance", "Corps é\n", "a@relance.test", ["b@x.test"]))
    assert getattr(ahead, WIRE).recipients == ["b@x.test"]
    assert get_connection().send_messages([ahead]) == 1
    # Any other mail of the site goes through the same backend, unprepared.
    assert send_mail("Mot de passe oublié", "Lien é\n", "a@relance.test", ["c@x.test"]) == 1
    assert get_connection().send_messages([EmailMessage("Personne", "", "a@relance.test")]) == 0

    first, second = smtp.received
    assert (first.subject, first.text(), first.rcpt_tos) == (
        "Écrit d'avance",
        "Corps é\r\n",
        ["b@x.test"],
    )
    assert (second.subject, second.text(), second.rcpt_tos) == (
        "Mot de passe oublié",
        "Lien é\r\n",
        ["c@x.test"],
    )


def test_it_leaves_messages_to_another_backend_as_they_are(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert not hasattr(prepared(EmailMessage("S", "B", "a@x.test", ["b@x.test"])), WIRE)
