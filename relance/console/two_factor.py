"""The sign-in pages' two-factor part: the code step after the password, and the page
where a user enrols an authenticator app (rules in relance/accounts/two_factor.py)."""

from __future__ import annotations

from typing import Any

import django_otp
from django import forms
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render, resolve_url
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters

from relance.accounts import two_factor


class CodeForm(forms.Form):
    code = forms.CharField(
        label=gettext_lazy("Code from your authenticator app"),
        max_length=16,
        widget=forms.TextInput(
            attrs={"inputmode": "numeric", "autocomplete": "one-time-code", "autofocus": True}
        ),
    )


class SignInView(LoginView):
    """Django's sign-in; a user with an authenticator app gives its code next, on its own
    page, before being signed in."""

    def form_valid(self, form: Any) -> HttpResponse:
        user = form.get_user()
        if two_factor.device_of(user) is None:
            return super().form_valid(form)
        two_factor.start_second_step(self.request, user, self.get_success_url())
        return redirect("two_factor_code")


@sensitive_post_parameters("code")
@csrf_protect
@never_cache
def code(request: HttpRequest) -> HttpResponseBase:
    waiting = two_factor.pending(request)
    if waiting is None:
        return redirect("login")
    user, data = waiting
    device = two_factor.device_of(user)
    if device is None:  # removed meanwhile: the password alone signs in
        return _sign_in(request, user, data, None)
    form = CodeForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        if two_factor.locked_out(request, user):
            form.add_error(None, _("Too many failed attempts: try again later."))
            status = 429
        elif two_factor.slowed_down(device):
            form.add_error(None, _("Wait a few seconds after a wrong code, then try again."))
        elif two_factor.check_code(device, form.cleaned_data["code"]):
            return _sign_in(request, user, data, device)
        else:
            two_factor.code_refused(request, user)
            form.add_error("code", _("This code is not the current one. Try the next one."))
    return render(request, "registration/two_factor_code.html", {"form": form}, status=status)


def _sign_in(request: HttpRequest, user: Any, data: dict[str, Any], device: Any) -> HttpResponse:
    request.session.pop(two_factor.PENDING_KEY, None)
    login(request, user, backend=data["backend"])
    if device is not None:
        django_otp.login(request, device)
    return redirect(data["next"])


@login_required
@never_cache
def enrol(request: HttpRequest) -> HttpResponseBase:
    """Turn two-factor sign-in on: scan the QR code, type the first code."""
    user = request.user
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    if not url_has_allowed_host_and_scheme(next_url, {request.get_host()}, request.is_secure()):
        next_url = ""
    active = two_factor.device_of(user)
    if active is not None:
        return _turn_off(request, user, active)
    device = two_factor.pending_device(user)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if two_factor.slowed_down(device):
            form.add_error("code", _("Wait a few seconds after a wrong code, then try again."))
        elif two_factor.confirm(device, form.cleaned_data["code"], request=request):
            django_otp.login(request, device)  # this session has just given a code
            return redirect(next_url or resolve_url("two_factor"))
        else:
            form.add_error("code", _("This code is not the current one. Try the next one."))
    context = {
        "form": form,
        "qr_svg": two_factor.qr_svg(device),
        "secret": two_factor.secret(device, grouped=True),
        "next": next_url,
        "required": two_factor.required_for(user),
    }
    return render(request, "console/two_factor.html", context)


def _turn_off(request: HttpRequest, user: Any, active: Any) -> HttpResponseBase:
    """The page of a user with an app: turning it off takes a current code (a session left
    open must not be enough), and is refused where administrators must keep it."""
    may_turn_off = not two_factor.required_for(user)
    form = CodeForm(request.POST if request.method == "POST" and may_turn_off else None)
    form.fields["code"].widget.attrs.pop("autofocus", None)  # turning off is not the page's aim
    if form.is_bound and form.is_valid():
        if two_factor.slowed_down(active):
            form.add_error("code", _("Wait a few seconds after a wrong code, then try again."))
        elif two_factor.check_code(active, form.cleaned_data["code"]):
            two_factor.remove(user, request=request)
            return redirect("two_factor")
        else:
            form.add_error("code", _("This code is not the current one. Try the next one."))
    context = {"active": active, "form": form, "may_turn_off": may_turn_off}
    return render(request, "console/two_factor.html", context, status=200)
