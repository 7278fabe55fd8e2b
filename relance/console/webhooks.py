"""Settings → Webhooks: the endpoints an organisation's events are sent to, their secrets,
and the last deliveries with what the receivers answered, each replayable.

Managers and administrators read it; only administrators change anything (add, disable,
enable, remove, rotate or reveal a secret, test, replay). No rule lives here: the views hand
over to relance.hooks.endpoints, which checks, writes and records in the audit trail, the
same functions as `relance webhooks`.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import path
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from relance.console.access import Can, console_view
from relance.console.organisation import _page
from relance.hooks import delivery, endpoints, events
from relance.hooks.models import Delivery, Endpoint
from relance.hooks.targets import Refused

DELIVERIES_SHOWN = 50


class EndpointForm(forms.Form):
    url = forms.CharField(
        label=gettext_lazy("URL"),
        max_length=2000,
        widget=forms.URLInput(attrs={"placeholder": "https://"}),
    )
    description = forms.CharField(label=gettext_lazy("Description"), max_length=200, required=False)
    event_types = forms.MultipleChoiceField(
        label=gettext_lazy("Events"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        choices=list(events.LABELS.items()),
        help_text=gettext_lazy("None ticked: every event, those added later too."),
    )


@console_view(Can.APPROVE, post=Can.ADMINISTER)
def webhooks(request: HttpRequest) -> HttpResponse:
    console = request.console  # type: ignore[attr-defined]
    organisation = console.organisation
    form = EndpointForm()
    shown: dict[str, Any] | None = None  # a secret shown now: after adding, or asked for
    if request.method == "POST":
        action = request.POST.get("action", "")
        by: dict[str, Any] = {"user": request.user, "request": request}
        try:
            if action == "add":
                form = EndpointForm(request.POST)
                if form.is_valid():
                    data = form.cleaned_data
                    endpoint = endpoints.add(
                        organisation,
                        data["url"],
                        description=data["description"],
                        event_types=data["event_types"],
                        **by,
                    )
                    form = EndpointForm()
                    shown = {"endpoint": endpoint, "secret": endpoint.secret, "new": True}
                    messages.success(request, _("Endpoint added."))
            elif action == "replay":
                row = console.get(Delivery, request.POST.get("delivery"))
                endpoints.replay(organisation, ids=[row.pk], **by)
                delivery.deliver([row.pk])
                row.refresh_from_db()
                messages.success(
                    request,
                    _("Delivery %(id)s sent again: %(status)s.")
                    % {"id": row.pk, "status": row.get_status_display()},
                )
                return redirect(request.path)
            else:
                endpoint = console.get(Endpoint, request.POST.get("endpoint"))
                response = _endpoint_action(request, action, endpoint, by)
                if isinstance(response, dict):
                    shown = response
                elif response is not None:
                    return response
                else:
                    return redirect(request.path)
        except Refused as refused:
            if action == "add":
                form.add_error("url", str(refused))
            else:
                messages.error(request, str(refused))
                return redirect(request.path)
    rows = (
        Delivery.objects.filter(organisation=organisation)
        .select_related("endpoint")
        .order_by("-pk")[:DELIVERIES_SHOWN]
    )
    return _page(
        request,
        "console/organisation/webhooks.html",
        {
            "form": form,
            "shown": shown,
            "labels": events.LABELS,
            "endpoints": Endpoint.objects.filter(organisation=organisation).order_by("pk"),
            "deliveries": list(rows),
        },
    )


def _endpoint_action(
    request: HttpRequest, action: str, endpoint: Endpoint, by: dict[str, Any]
) -> Any:
    """None (done: back to the page), a secret to show, or a response."""
    organisation = endpoint.organisation
    if action == "disable":
        endpoints.disable(endpoint, reason=_("disabled by a person"), **by)
        messages.success(request, _("Endpoint disabled."))
    elif action == "enable":
        endpoints.enable(organisation, endpoint.pk, **by)
        messages.success(request, _("Endpoint enabled."))
    elif action == "remove":
        endpoints.remove(organisation, endpoint.pk, **by)
        messages.success(request, _("Endpoint removed."))
    elif action == "reveal":
        return {"endpoint": endpoint, "secret": endpoints.reveal(organisation, endpoint.pk, **by)}
    elif action == "rotate":
        endpoint = endpoints.rotate(organisation, endpoint.pk, **by)
        return {"endpoint": endpoint, "secret": endpoint.secret, "rotated": True}
    elif action == "test":
        row = endpoints.test(organisation, endpoint.pk, **by)
        if row.status == Delivery.Status.SUCCEEDED:
            messages.success(
                request,
                _("Test message accepted (HTTP %(code)s).") % {"code": row.last_status_code},
            )
        else:
            messages.error(
                request, _("Test message not accepted: %(error)s") % {"error": row.last_error}
            )
    else:
        return HttpResponse(status=400)
    return None


urlpatterns = [path("settings/webhooks/", webhooks, name="settings_webhooks")]
