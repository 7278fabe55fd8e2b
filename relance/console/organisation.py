"""The organisation's settings, members and roles, and its audit trail.

Every member reads the settings pages; only administrators change them (``Can.ADMINISTER``
on every POST): a manager or a collector sees what reminders say about the company without
being able to change it. Members and roles, and the audit trail, are read by managers and
administrators. No rule lives here: the forms hand their values to the services of
relance/accounts (the ones ``relance org set`` and ``relance member`` call), which check,
write and record in the audit trail.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from relance.accounts import agents, identity, logo, passwords, services
from relance.accounts.models import Agent, AgentKind, Role
from relance.audit import reading
from relance.audit.actions import LABELS as ACTION_LABELS
from relance.audit.actions import action_label, target_label
from relance.channels.formatting import amount_input, short_date
from relance.console.access import Can, console_view
from relance.dunning.engine import public_holidays
from relance.ledger import timeline

# -- the sections of the identity, each a form of the fields it sets ----------------------


@dataclass(frozen=True)
class Section:
    slug: str
    title: Any
    intro: Any
    fields: tuple[str, ...]


LABELS: dict[str, Any] = {
    "name": gettext_lazy("Name"),
    "legal_name": gettext_lazy("Legal name"),
    "siren": gettext_lazy("SIREN"),
    "vat_number": gettext_lazy("VAT number"),
    "address": gettext_lazy("Address"),
    "phone": gettext_lazy("Phone"),
    "signature": gettext_lazy("Signature of the e-mails"),
    "email": gettext_lazy("Reply address"),
    "sender_name": gettext_lazy("Sender name"),
    "reply_to": gettext_lazy("Reply-to address"),
    "iban": gettext_lazy("IBAN"),
    "bic": gettext_lazy("BIC"),
    "letterhead": gettext_lazy("Letterhead"),
    "min_balance": gettext_lazy("Minimum balance"),
    "contact_gap": gettext_lazy("Contact gap (days)"),
    "promise_grace_days": gettext_lazy("Promise grace (days)"),
}
HELP: dict[str, Any] = {
    "name": gettext_lazy("As the console shows it."),
    "legal_name": gettext_lazy("The registered name; the holder of the bank account."),
    "siren": gettext_lazy("Nine digits; the VAT number of a French company must match it."),
    "vat_number": gettext_lazy("Intra-community VAT number, e.g. FR40303265045."),
    "signature": gettext_lazy("Ends every e-mail, in place of the accounts department's."),
    "email": gettext_lazy("Required to send e-mails: a run plans none without it."),
    "sender_name": gettext_lazy("The name the e-mails come from (default: the name)."),
    "reply_to": gettext_lazy("Where customers' replies go (default: the reply address)."),
    "iban": gettext_lazy("E-mails say how to pay by transfer, with each customer's reference."),
    "letterhead": gettext_lazy("The text at the top of letters."),
    "min_balance": gettext_lazy("An invoice owing this much or less is not dunned."),
    "contact_gap": gettext_lazy("Days between two reminders on the same channel."),
    "promise_grace_days": gettext_lazy("Days after a promised date before a new promise breaks."),
}  # fmt: skip
MULTILINE = {"address", "signature", "letterhead"}
NUMBERS = {"contact_gap", "promise_grace_days"}

SECTIONS = {
    s.slug: s
    for s in (
        Section("identity", gettext_lazy("Identity"),
                gettext_lazy("Who the reminders come from."),
                ("name", "legal_name", "siren", "vat_number", "address", "phone", "signature")),
        Section("sending", gettext_lazy("Sender and replies"),
                gettext_lazy("The name and addresses of the e-mails."),
                ("email", "sender_name", "reply_to")),
        Section("bank", gettext_lazy("Bank details"),
                gettext_lazy("The account customers pay into."), ("iban", "bic")),
        Section("dunning", gettext_lazy("Dunning defaults"),
                gettext_lazy("What every run and every new promise of the organisation follows."),
                ("min_balance", "contact_gap", "promise_grace_days")),
    )
}  # fmt: skip

# The sub-navigation of the settings, in order: (url name, title, who reads it).
PAGES = (
    ("settings", gettext_lazy("Identity"), Can.READ),
    ("settings_sending", gettext_lazy("Sender and replies"), Can.READ),
    ("settings_bank", gettext_lazy("Bank details"), Can.READ),
    ("settings_letterhead", gettext_lazy("Letterhead and logo"), Can.READ),
    ("settings_agent", gettext_lazy("White label"), Can.READ),
    ("settings_calendar", gettext_lazy("Calendar"), Can.READ),
    ("settings_dunning", gettext_lazy("Dunning defaults"), Can.READ),
    ("settings_members", gettext_lazy("Members"), Can.APPROVE),
    ("settings_audit", gettext_lazy("Audit trail"), Can.APPROVE),
    ("settings_webhooks", gettext_lazy("Webhooks"), Can.APPROVE),  # relance/console/webhooks.py
    ("settings_api_keys", gettext_lazy("API keys"), Can.ADMINISTER),
)


def section_form(section: Section, data: Any = None, *, initial: Any = None) -> forms.Form:
    fields: dict[str, forms.Field] = {}
    for name in section.fields:
        widget: forms.Widget = (
            forms.Textarea(attrs={"rows": 4}) if name in MULTILINE else forms.TextInput()
        )
        if name in NUMBERS or name == "min_balance":
            widget = forms.TextInput(attrs={"inputmode": "decimal" if name == "min_balance"
                                            else "numeric"})  # fmt: skip
        # The services check every value (the same checks as `relance org set`): the form
        # only carries text.
        fields[name] = forms.CharField(label=LABELS[name], help_text=HELP.get(name, ""),
                                       required=False, strip=False, widget=widget)  # fmt: skip
    form_class = type(f"{section.slug.title()}Form", (forms.Form,), fields)
    form: forms.Form = form_class(data, initial=initial, prefix=None)
    return form


def _page(request: HttpRequest, template: str, context: dict[str, Any]) -> HttpResponse:
    console = request.console  # type: ignore[attr-defined]
    here = request.resolver_match.url_name if request.resolver_match else ""
    tabs = [
        {"href": reverse(f"console:{name}"), "title": title, "current": name == here}
        for name, title, needs in PAGES
        if console.can(needs)
    ]
    may_change = console.can(Can.ADMINISTER)
    if not may_change:  # read-only: the same fields, disabled, without a button
        for value in context.values():
            if isinstance(value, forms.Form) and not isinstance(value, AuditFilters):
                for field in value.fields.values():
                    field.disabled = True
    context = {"tabs": tabs, "may_change": may_change, **context}
    return render(request, template, context)


def _identity_section(request: HttpRequest, slug: str) -> HttpResponse:
    console = request.console  # type: ignore[attr-defined]
    organisation = console.organisation
    section = SECTIONS[slug]
    initial = {name: _shown(getattr(organisation, name)) for name in section.fields}
    if "min_balance" in initial:  # an amount as its reader writes it (20 000,00)
        initial["min_balance"] = amount_input(organisation.min_balance)
    form = section_form(section, initial=initial)
    if request.method == "POST":
        form = section_form(section, request.POST, initial=initial)
        form.is_valid()
        changes = {name: form.cleaned_data.get(name, "") for name in section.fields}
        try:
            identity.update_identity(organisation, changes, user=request.user, request=request)
        except identity.IdentityError as refused:
            for name, text in refused.errors.items():
                form.add_error(name if name in form.fields else None, text)
            messages.error(request, _("Nothing was saved: correct the fields marked."))
            return _page(request, "console/organisation/section.html",
                         {"section": section, "form": form})  # fmt: skip
        messages.success(request, _("%(section)s saved.") % {"section": section.title})
        return redirect(request.path)
    return _page(request, "console/organisation/section.html", {"section": section, "form": form})


def _shown(value: Any) -> str:
    return "" if value is None else str(value)


@console_view(Can.READ, post=Can.ADMINISTER)
def identity_page(request: HttpRequest) -> HttpResponse:
    return _identity_section(request, "identity")


@console_view(Can.READ, post=Can.ADMINISTER)
def sending(request: HttpRequest) -> HttpResponse:
    return _identity_section(request, "sending")


@console_view(Can.READ, post=Can.ADMINISTER)
def bank(request: HttpRequest) -> HttpResponse:
    return _identity_section(request, "bank")


@console_view(Can.READ, post=Can.ADMINISTER)
def dunning_defaults(request: HttpRequest) -> HttpResponse:
    return _identity_section(request, "dunning")


# -- letterhead and logo -------------------------------------------------------------------


class LogoForm(forms.Form):
    logo = forms.FileField(
        label=gettext_lazy("Logo (PNG or JPEG)"),
        help_text=gettext_lazy("At most 1 MB and 2000 pixels a side. SVG is not accepted."),
        widget=forms.ClearableFileInput(attrs={"accept": "image/png,image/jpeg"}),
    )


@console_view(Can.READ, post=Can.ADMINISTER)
def letterhead(request: HttpRequest) -> HttpResponse:
    organisation = request.console.organisation  # type: ignore[attr-defined]
    section = Section("letterhead", gettext_lazy("Letterhead"), "", ("letterhead",))
    initial = {"letterhead": organisation.letterhead}
    form = section_form(section, initial=initial)
    logo_form = LogoForm()
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "letterhead":
            form = section_form(section, request.POST, initial=initial)
            form.is_valid()
            try:
                identity.update_identity(
                    organisation, {"letterhead": form.cleaned_data.get("letterhead", "")},
                    user=request.user, request=request,
                )  # fmt: skip
            except identity.IdentityError as refused:
                form.add_error("letterhead", refused.errors.get("letterhead", str(refused)))
            else:
                messages.success(request, _("Letterhead saved."))
                return redirect(request.path)
        elif action == "logo":
            logo_form = LogoForm(request.POST, request.FILES)
            if logo_form.is_valid():
                try:
                    content = logo.read_upload(logo_form.cleaned_data["logo"])
                    logo.set_logo(organisation, content, user=request.user, request=request)
                except logo.LogoRefused as refused:
                    logo_form.add_error("logo", str(refused))
                else:
                    messages.success(request, _("Logo saved."))
                    return redirect(request.path)
        elif action == "remove_logo":
            logo.remove_logo(organisation, user=request.user, request=request)
            messages.success(request, _("Logo removed."))
            return redirect(request.path)
        else:
            return HttpResponse(status=400)
        messages.error(request, _("Nothing was saved: correct the fields marked."))
    return _page(request, "console/organisation/letterhead.html",
                 {"form": form, "logo_form": logo_form, "organisation": organisation})  # fmt: skip


@console_view(Can.READ)
def logo_file(request: HttpRequest, organisation_id: int) -> HttpResponse:
    """The logo, to signed-in members of its organisation only (404 to anyone else: the
    same answer as an organisation without a logo). Never from a public media address."""
    console = request.console  # type: ignore[attr-defined]
    membership = next(
        (m for m in console.memberships if m.organisation_id == organisation_id), None
    )
    found = logo.logo_of(membership.organisation) if membership else None
    if found is None:
        raise Http404
    content, content_type = found
    response = HttpResponse(content, content_type=content_type)
    response["Cache-Control"] = "private, max-age=300"
    response["Content-Disposition"] = "inline"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


# -- white label: the agent writing for the organisation --------------------------------


class AgentForm(forms.Form):
    """Carries text; ``relance.accounts.agents`` checks it (as ``relance agent set``)."""

    kind = forms.ChoiceField(label=gettext_lazy("Who writes for the organisation"),
                             choices=AgentKind.choices)  # fmt: skip
    name = forms.CharField(label=gettext_lazy("Name"), required=False)
    legal_name = forms.CharField(label=gettext_lazy("Legal name"), required=False)
    address = forms.CharField(label=gettext_lazy("Address"), required=False,
                              widget=forms.Textarea(attrs={"rows": 3}))  # fmt: skip
    siren = forms.CharField(label=gettext_lazy("SIREN"), required=False)
    phone = forms.CharField(label=gettext_lazy("Phone"), required=False)
    email = forms.CharField(label=gettext_lazy("E-mail"), required=False)
    letterhead = forms.CharField(label=gettext_lazy("Letterhead"), required=False,
                                 widget=forms.Textarea(attrs={"rows": 3}))  # fmt: skip
    iban = forms.CharField(
        label=gettext_lazy("IBAN"), required=False,
        help_text=gettext_lazy("When the agent collects the payments; else the organisation's."),
    )  # fmt: skip
    bic = forms.CharField(label=gettext_lazy("BIC"), required=False)


@console_view(Can.READ, post=Can.ADMINISTER)
def agent(request: HttpRequest) -> HttpResponse:
    organisation = request.console.organisation  # type: ignore[attr-defined]
    current = Agent.objects.filter(organisation=organisation).first()
    initial = agents.describe(current) or {"kind": AgentKind.AGENCY}
    form = AgentForm(initial=initial)
    if request.method == "POST":
        if request.POST.get("action") == "stop":
            agents.stop_agent(organisation, user=request.user, request=request)
            messages.success(request, _("Letters are written in the organisation's own name."))
            return redirect(request.path)
        form = AgentForm(request.POST, initial=initial)
        form.is_valid()
        changes = {name: form.cleaned_data.get(name, "") for name in agents.FIELDS}
        try:
            agents.set_agent(organisation, changes, user=request.user, request=request)
        except identity.IdentityError as refused:
            for name, text in refused.errors.items():
                form.add_error(name if name in form.fields else None, text)
            messages.error(request, _("Nothing was saved: correct the fields marked."))
        else:
            messages.success(request, _("Letters are written by the agent."))
            return redirect(request.path)
    return _page(request, "console/organisation/agent.html",
                 {"form": form, "agent": current})  # fmt: skip


# -- the business calendar -----------------------------------------------------------------


class ClosedDaysForm(forms.Form):
    first = forms.DateField(label=gettext_lazy("Closed from"),
                            widget=forms.DateInput(attrs={"type": "date"}))  # fmt: skip
    last = forms.DateField(
        label=gettext_lazy("Until (included, optional)"), required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )  # fmt: skip

    MAX_SPAN = 62

    def days(self) -> list[dt.date]:
        first: dt.date = self.cleaned_data["first"]
        last: dt.date = self.cleaned_data.get("last") or first
        if last < first:
            self.add_error("last", _("The last day is before the first."))
            return []
        if (last - first).days >= self.MAX_SPAN:
            self.add_error("last", _("At most %(n)s days at once.") % {"n": self.MAX_SPAN})
            return []
        return [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]


@console_view(Can.READ, post=Can.ADMINISTER)
def calendar(request: HttpRequest) -> HttpResponse:
    organisation = request.console.organisation  # type: ignore[attr-defined]
    form = ClosedDaysForm()
    if request.method == "POST":
        by = {"user": request.user, "request": request}
        if "remove" in request.POST:
            identity.remove_closed_days(organisation, request.POST.getlist("remove"), **by)
            messages.success(request, _("Closed day removed."))
            return redirect(request.path)
        form = ClosedDaysForm(request.POST)
        days = form.days() if form.is_valid() else []
        if days:
            try:
                identity.add_closed_days(organisation, days, **by)
            except identity.IdentityError as refused:
                form.add_error("first", refused.errors.get("closed_days", str(refused)))
            else:
                messages.success(request, _("Closed days added."))
                return redirect(request.path)
        messages.error(request, _("Nothing was saved: correct the fields marked."))
    today = timezone.localdate()
    years = [today.year, today.year + 1]
    holidays = public_holidays(organisation, years)
    closed = [dt.date.fromisoformat(day) for day in organisation.closed_days]
    return _page(request, "console/organisation/calendar.html", {
        "form": form, "years": years,
        "holidays": [(day, name) for day, name in holidays.items()],
        "closed": [(day, day < today) for day in closed],
    })  # fmt: skip


# -- members -------------------------------------------------------------------------------


class AddMemberForm(forms.Form):
    email = forms.EmailField(label=gettext_lazy("E-mail"), max_length=150)
    role = forms.ChoiceField(label=gettext_lazy("Role"), choices=Role.choices,
                             initial=Role.COLLECTOR)  # fmt: skip


@console_view(Can.APPROVE, post=Can.ADMINISTER)
def members(request: HttpRequest) -> HttpResponse:
    console = request.console  # type: ignore[attr-defined]
    organisation = console.organisation
    form = AddMemberForm()
    if request.method == "POST":
        action = request.POST.get("action")
        by: dict[str, Any] = {"by": request.user, "request": request}
        try:
            if action == "add":
                form = AddMemberForm(request.POST)
                if form.is_valid():
                    _add_member(request, form.cleaned_data["email"], form.cleaned_data["role"])
                    return redirect(request.path)
            elif action == "role":
                email, role = request.POST.get("email", ""), request.POST.get("role", "")
                services.change_role(organisation, email, role, **by)
                messages.success(request, _("%(email)s is now %(role)s.")
                                 % {"email": email, "role": Role(role).label})  # fmt: skip
                return redirect(request.path)
            elif action == "remove":
                email = request.POST.get("email", "")
                services.remove_member(organisation, email, **by)
                messages.success(request, _("%(email)s removed.") % {"email": email})
                if email.lower() == request.user.get_username():
                    return redirect("console:today")  # no longer theirs: their other one
                return redirect(request.path)
            else:
                return HttpResponse(status=400)
        except services.MemberRefused as refused:
            messages.error(request, str(refused))
            if action != "add":
                return redirect(request.path)
            form.add_error("email", str(refused))
    return _page(request, "console/organisation/members.html", {
        "form": form, "members": services.members_of(organisation), "roles": Role.choices,
    })  # fmt: skip


def _add_member(request: HttpRequest, email: str, role: str) -> None:
    organisation = request.console.organisation  # type: ignore[attr-defined]
    user = services.add_member(organisation, email, role, by=request.user, request=request)
    name = user.get_username()
    if user.has_usable_password():
        messages.success(request, _("%(email)s is a member.") % {"email": name})
        return
    try:
        passwords.send_invitation(user, organisation, base_url=request.build_absolute_uri("/"),
                                  inviter=request.user.get_username())  # fmt: skip
    except Exception:  # the member is added; the link can be asked for again
        messages.error(request, _(
            "%(email)s is a member, but the invitation e-mail could not be sent: they can "
            "choose a password with \"Forgot your password?\" on the sign-in page."
        ) % {"email": name})  # fmt: skip
        return
    messages.success(
        request,
        _("%(email)s is a member: an e-mail invites them to choose a password.") % {"email": name},
    )


# -- the audit trail -----------------------------------------------------------------------


class AuditFilters(forms.Form):
    since = forms.DateField(label=gettext_lazy("From"), required=False,
                            widget=forms.DateInput(attrs={"type": "date"}))  # fmt: skip
    until = forms.DateField(label=gettext_lazy("Until (included)"), required=False,
                            widget=forms.DateInput(attrs={"type": "date"}))  # fmt: skip
    # Actions by their label; the filter takes a code's beginning too (``?action=dispute``
    # from a link or support): then shown as it is, selected.
    action = forms.CharField(label=gettext_lazy("Action"), required=False, max_length=64,
                             widget=forms.Select)  # fmt: skip
    actor = forms.CharField(
        label=gettext_lazy("Who"), required=False, max_length=150,
        widget=forms.TextInput(attrs={"placeholder": gettext_lazy("E-mail, or part of it")}),
    )  # fmt: skip

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        known = sorted(((code, str(label)) for code, label in ACTION_LABELS.items()),
                       key=lambda choice: choice[1].casefold())  # fmt: skip
        given = (self.data.get("action") or "").strip() if self.is_bound else ""
        extra = [(given, given)] if given and given not in ACTION_LABELS else []
        widget: Any = self.fields["action"].widget
        widget.choices = [("", _("All actions")), *extra, *known]

    @property
    def narrowed(self) -> bool:
        return self.is_bound and any(str(self.data.get(name, "")).strip() for name in self.fields)


PAGE_SIZE = 50


def readable(data: dict[str, Any]) -> list[tuple[str, str]]:
    """An event's data as lines for people: each field changed as ``old → new``, lists and
    objects as compact JSON."""
    lines: list[tuple[str, str]] = []
    for key, value in data.items():
        if key == "changes" and isinstance(value, dict):
            for name, change in value.items():
                if isinstance(change, dict) and {"old", "new"} <= change.keys():
                    lines.append((name, f"{_plain(change['old'])} → {_plain(change['new'])}"))
                else:
                    lines.append((name, _plain(change)))
        else:
            lines.append((key, _plain(value)))
    return lines


def _plain(value: Any) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


@console_view(Can.APPROVE)
def audit(request: HttpRequest) -> HttpResponse:
    """The trail, newest first, ``PAGE_SIZE`` events a page (LIMIT and OFFSET on the
    organisation's index: no count of the whole trail)."""
    organisation = request.console.organisation  # type: ignore[attr-defined]
    form = AuditFilters(request.GET or None)
    filters = reading.Filters()
    if form.is_valid():
        data = form.cleaned_data
        filters = reading.Filters(
            since=data["since"], until=data["until"],
            action=data["action"].strip(), actor=data["actor"].strip(),
        )  # fmt: skip
    try:
        number = max(1, int(request.GET.get("page", "1")))
    except ValueError:
        number = 1
    start = (number - 1) * PAGE_SIZE
    rows = list(reading.events_of(organisation, filters)[start : start + PAGE_SIZE + 1])
    zone = reading.zone_of(organisation)
    events = [
        {
            **reading.describe(event),
            "label": action_label(event.action),
            "target_label": (
                target_label(event.object_type, event.object_id) if event.object_type else ""
            ),
            "local": (local := event.at.astimezone(zone)),
            # The day the reader's way (02/12/2026, 2 Dec 2026), in the organisation's zone.
            "day": short_date(local),
            "time": local.strftime("%H:%M:%S"),
            # A summary whose text is kept reads in the reader's language; others as written.
            "summary": timeline.shown(event.summary, event.data),
            "translated": timeline.KEPT in event.data,
            "details": readable({k: v for k, v in event.data.items() if k != timeline.KEPT}),
        }
        for event in rows[:PAGE_SIZE]
    ]
    query = request.GET.copy()
    query.pop("page", None)
    return _page(request, "console/organisation/audit.html", {
        "form": form, "events": events, "page": number, "query": query.urlencode(),
        "narrowed": form.narrowed,
        "older": number + 1 if len(rows) > PAGE_SIZE else None,
        "newer": number - 1 if number > 1 else None, "zone": zone.key,
    })  # fmt: skip


urlpatterns = [
    path("settings/", identity_page, name="settings"),
    path("settings/sending/", sending, name="settings_sending"),
    path("settings/bank/", bank, name="settings_bank"),
    path("settings/letterhead/", letterhead, name="settings_letterhead"),
    path("settings/agent/", agent, name="settings_agent"),
    path("settings/logo/<int:organisation_id>/", logo_file, name="settings_logo"),
    path("settings/calendar/", calendar, name="settings_calendar"),
    path("settings/dunning/", dunning_defaults, name="settings_dunning"),
    path("settings/members/", members, name="settings_members"),
    path("settings/audit/", audit, name="settings_audit"),
]
