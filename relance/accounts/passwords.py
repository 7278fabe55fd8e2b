"""Password reset by e-mail: Django's views with our templates, a limit per client address
and the audit events.

The request page answers the same whether the address belongs to an account or not (the
e-mail goes only to an account's address), so that it tells no one who has an account;
the e-mail leaves from a thread of its own, so that the answer takes no longer either.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from typing import Any
from urllib.parse import urlsplit

from axes.handlers.proxy import AxesProxyHandler
from django.conf import settings
from django.contrib.auth import forms as auth_forms
from django.contrib.auth import get_user_model
from django.contrib.auth import views as auth_views
from django.contrib.auth.tokens import default_token_generator
from django.core.mail import EmailMultiAlternatives
from django.http import HttpResponse
from django.shortcuts import render
from django.template import loader
from django.utils import timezone, translation
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.translation import gettext_noop

from relance.accounts.signin import organisation_of
from relance.audit import trail
from relance.audit.models import AuditEvent
from relance.ledger.timeline import Text
from relance.lib.clientip import client_ip

REQUESTED = "password.reset_requested"
INVITATION_SUBJECT = "registration/invitation_mail_subject.txt"
INVITATION_BODY = "registration/invitation_mail.txt"
WINDOW = dt.timedelta(hours=1)
SENDER_THREAD = "password-reset-mail"

logger = logging.getLogger(__name__)


def too_many_requests(ip: str | None, now: dt.datetime) -> bool:
    """Whether this address already asked RELANCE_PASSWORD_RESET_LIMIT resets within the
    hour: the audit trail is the counter, shared by every process of the installation."""
    if ip is None:
        return False
    limit: int = settings.RELANCE_PASSWORD_RESET_LIMIT
    recent = AuditEvent.objects.filter(action=REQUESTED, ip=ip, at__gte=now - WINDOW)
    return recent.count() >= limit


class PasswordResetForm(auth_forms.PasswordResetForm):
    def get_users(self, email: str) -> Any:
        """Active accounts with this address, including a member invited who has not
        chosen a password yet (their invitation's link expired: they ask for another here);
        Django leaves those out for sites where such accounts sign in elsewhere."""
        users = get_user_model()._default_manager.filter(email__iexact=email, is_active=True)
        return (u for u in users if u.email.lower() == email.strip().lower())

    def send_mail(
        self,
        subject_template_name: str,
        email_template_name: str,
        context: dict[str, Any],
        from_email: str | None,
        to_email: str,
        html_email_template_name: str | None = None,
    ) -> None:
        # Written here, in the visitor's language (a thread has none of its own); sent later.
        subject = "".join(loader.render_to_string(subject_template_name, context).splitlines())
        body = loader.render_to_string(email_template_name, context)
        message = EmailMultiAlternatives(subject, body, from_email, [to_email])
        threading.Thread(target=_send, args=(message,), name=SENDER_THREAD, daemon=True).start()


def _send(message: EmailMultiAlternatives) -> None:
    try:
        message.send()
    except Exception:  # the visitor has had their answer: a failure is for the logs
        logger.exception("password reset e-mail not sent to %s", message.to[0])


class PasswordResetView(auth_views.PasswordResetView):
    form_class = PasswordResetForm
    template_name = "registration/password_reset_request.html"
    email_template_name = "registration/password_reset_mail.txt"
    subject_template_name = "registration/password_reset_mail_subject.txt"

    def form_valid(self, form: Any) -> HttpResponse:
        if too_many_requests(client_ip(self.request), timezone.now()):
            return render(self.request, "registration/password_reset_limited.html", status=429)
        email = form.cleaned_data["email"]
        accounts = list(form.get_users(email))
        response = super().form_valid(form)  # sends to each account found, else to no one
        trail.record(
            organisation_of(accounts[0].get_username()) if len(accounts) == 1 else None,
            REQUESTED,
            actor="anonymous",
            summary=Text(gettext_noop("password reset asked for %(email)s"), {"email": email}),
            data={"email": email, "accounts": len(accounts)},
            request=self.request,
        )
        return response


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "registration/password_reset_sent.html"


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "registration/password_reset_new.html"

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        user = form.user
        username = user.get_username()
        # The account's holder proved they read its mail: its failed sign-ins are forgiven
        # (a lock on the client's address stays).
        AxesProxyHandler.reset_attempts(username=username)
        trail.record(
            organisation_of(username),
            "password.reset_done",
            user=user,
            target=user,
            summary=Text(
                gettext_noop("password reset by e-mail for %(username)s"), {"username": username}
            ),
            request=self.request,
        )
        return response


class PasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "registration/password_reset_finished.html"


def send_invitation(user: Any, organisation: Any, *, base_url: str, inviter: str = "") -> None:
    """E-mail a member added without a password the link to choose one: the password
    reset's own link (Django's token: it works once, for PASSWORD_RESET_TIMEOUT), worded as
    an invitation, in the organisation's language. Sent now: a failure raises, for the
    page or command to say so."""
    parts = urlsplit(base_url)
    context = {
        "email": user.email or user.get_username(),
        "domain": parts.netloc,
        "protocol": parts.scheme or "https",
        "uid": urlsafe_base64_encode(force_bytes(user.pk)),
        "token": default_token_generator.make_token(user),
        "organisation": organisation.name,
        "inviter": inviter,
    }
    with translation.override(organisation.language):
        subject = "".join(loader.render_to_string(INVITATION_SUBJECT, context).splitlines())
        body = loader.render_to_string(INVITATION_BODY, context)
    EmailMultiAlternatives(subject, body, None, [context["email"]]).send()
