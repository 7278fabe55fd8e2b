"""Settings › API keys: an administrator creates a key (its secret shown once, on the page
that answers the creation), sees the organisation's keys and revokes one. The rules live
in ``relance.api.keys``, shared with ``relance apikey``."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import path
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy

from relance.api import keys
from relance.console.access import Can, console_view
from relance.console.organisation import _page

SCOPE_LABELS = {
    "read": gettext_lazy("Read (every GET)"),
    "write": gettext_lazy("Write (creates and updates)"),
    "bulk": gettext_lazy("Bulk (bulk upserts of invoices and payments)"),
}
# A key's scopes in the list of keys: the same, in a word.
SCOPE_NAMES = {
    "read": pgettext_lazy("API scope", "Read"),
    "write": pgettext_lazy("API scope", "Write"),
    "bulk": pgettext_lazy("API scope", "Bulk"),
}


def _scope_names(scopes: list[str]) -> str:
    return ", ".join(str(SCOPE_NAMES.get(scope, scope)) for scope in scopes)


class NewKeyForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=100,
                           help_text=gettext_lazy("What uses the key, e.g. ERP sync"))  # fmt: skip
    scopes = forms.MultipleChoiceField(
        label=gettext_lazy("Scopes"), widget=forms.CheckboxSelectMultiple,
        choices=[(scope, SCOPE_LABELS[scope]) for scope in keys.SCOPES], initial=["read"],
    )  # fmt: skip
    days = forms.IntegerField(
        label=gettext_lazy("Lifetime in days"), required=False, min_value=1,
        max_value=keys.MAX_DAYS, help_text=gettext_lazy("Empty: until revoked"),
    )  # fmt: skip


@console_view(Can.ADMINISTER)
def api_keys(request: HttpRequest) -> HttpResponse:
    organisation = request.console.organisation  # type: ignore[attr-defined]
    form = NewKeyForm()
    token = None
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action == "create":
                form = NewKeyForm(request.POST)
                if form.is_valid():
                    _key, token = keys.create(
                        organisation, form.cleaned_data["name"], form.cleaned_data["scopes"],
                        days=form.cleaned_data["days"], user=request.user, request=request,
                    )  # fmt: skip
                    form = NewKeyForm()
            elif action == "revoke":
                key = keys.revoke(organisation, request.POST.get("prefix", ""),
                                  user=request.user, request=request)  # fmt: skip
                messages.success(request, _("API key %(name)s revoked.") % {"name": key.name})
                return redirect(request.path)
            else:
                return HttpResponse(status=400)
        except keys.KeyRefused as refused:
            if action == "create":
                form.add_error("name", str(refused))
            else:
                messages.error(request, str(refused))
                return redirect(request.path)
    response = _page(request, "console/organisation/api_keys.html", {
        "form": form, "token": token,
        "keys": [(key, _scope_names(key.scopes)) for key in keys.keys_of(organisation)],
    })  # fmt: skip
    if token:  # the secret is on this page only: never kept by a cache
        response["Cache-Control"] = "no-store"
    return response


urlpatterns = [path("settings/api-keys/", api_keys, name="settings_api_keys")]
