"""The pages of the errors no view answers itself: a request Django refuses before any view
reads it (400), a form whose CSRF check failed or a permission denied (403), an address
that leads nowhere (404), a server error (500).

A request to the debtor's portal (under /p/) gets the portal's page: its look, the language
of the link's customer, no link into the console; any other the console's. The same words
either way, but for advice only the credit team can follow (``relance import``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template import loader
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views import defaults

from relance.lib.clientip import client_ip
from relance.portal import links, throttle
from relance.portal.views import private

# What a page says, asked once the page's language is known: for the portal or not.
Words = Callable[[bool], tuple[str, str, str]]  # title, text, a note under the text


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Django's 400, saying which of its upload limits a form went over (the CSRF check
    reads the form before any view could), that nothing was kept and what to do instead."""
    if not isinstance(exception, TooManyFilesSent | TooManyFieldsSent | RequestDataTooBig):
        return defaults.bad_request(request, exception)
    return _page(request, 400, "bad-request", lambda portal: _too_much(exception, portal))


def _too_much(exception: Exception, portal: bool) -> tuple[str, str, str]:
    note = _("Nothing of this form was kept: go back and send it again within these limits.")
    if isinstance(exception, TooManyFilesSent):
        limit = settings.DATA_UPLOAD_MAX_NUMBER_FILES
        text = _("Send at most %(limit)s files at once, or a ZIP of them.") % {"limit": limit}
        return _("Too many files at once"), text, note
    if isinstance(exception, TooManyFieldsSent):
        limit = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
        text = _("The form has more fields than the %(limit)s Relance takes.") % {"limit": limit}
        return _("Too many fields"), text, note
    if portal:
        return _("Request too large"), _("The form's fields are too large: shorten them."), note
    text = _("The form's fields are too large; import large files with `relance import`.")
    return _("Request too large"), text, note


def too_large(request: HttpRequest, file_bytes: int) -> HttpResponse:
    """A body declared larger than its address takes (relance.console.bodysize), refused
    unread; ``file_bytes`` is the largest file it takes (0: none)."""

    def words(portal: bool) -> tuple[str, str, str]:
        size = {"size": filesizeformat(file_bytes)}  # in the page's language
        note = _("Nothing of this form was kept: go back and send it again within these limits.")
        if portal:
            return _("File too large"), _("Send a file of %(size)s at most.") % size, note
        if not file_bytes:
            return _("Request too large"), _("This form takes no file."), note
        text = _("This page takes files of %(size)s at most; import larger ones with "
                 "`relance import`.")  # fmt: skip
        return _("Request too large"), text % size, note

    return _page(request, 413, "too-large", words)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """A form sent without its page's token (open too long, or its cookie refused)."""
    return _page(request, 403, "forbidden", lambda portal: (
        _("This form has expired"),
        _("Nothing of it was kept: go back, reload the page, then send the form again."),
        _("If it happens again, your browser may be refusing this site's cookies."),
    ))  # fmt: skip


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    return _page(request, 403, "forbidden", lambda portal: (
        _("Not allowed"), _("Your role does not allow this page or this action."), "",
    ))  # fmt: skip


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    return _page(request, 404, "not-found", lambda portal: (
        _("Page not found"),
        _("This address leads to no page: it may be mistyped, or the page was removed."),
        "",
    ))  # fmt: skip


def server_error(request: HttpRequest) -> HttpResponse:
    """Rendered without the database (it may be why the request failed): no link looked
    up, no user, no context processor; in the request's language."""
    context = {
        "title": _("Something went wrong"),
        "text": _("This page could not be shown. Please try again in a few minutes."),
        "anchor": "server-error",
    }
    template = "portal/error.html" if portal_token(request) is not None else "console/error.html"
    return HttpResponse(loader.get_template(template).render(context), status=500)


def _page(request: HttpRequest, status: int, anchor: str, words: Words) -> HttpResponse:
    token = portal_token(request)
    came_from = _came_from(request)
    if token is None:
        title, text, note = words(False)
        context: dict[str, Any] = {
            "title": title, "text": text, "note": note, "anchor": anchor,
            "back": came_from or reverse("console:today"),
            "back_label": _("Back to the page") if came_from else _("Back to Today"),
        }  # fmt: skip
        return render(request, "console/error.html", context, status=status)
    # Looked up as the portal's pages do, after its rate limits.
    link = links.resolve(token) if throttle.allowed(token, client_ip(request)) else None
    language = links.language(link) if link else None
    with translation.override(language or translation.get_language()):
        title, text, note = words(True)
        context = {"title": title, "text": text, "note": note, "anchor": anchor}
        if link is not None:
            # As on the link's pages: its organisation in the banner, its contacts below.
            context |= {
                "organisation": link.organisation, "customer": link.customer,
                "back": came_from or reverse("portal:home", args=[token]),
                "back_label": _("Back to the page") if came_from else _("Back to your account"),
            }  # fmt: skip
        response = render(request, "portal/error.html", context, status=status)
    return private(response)


def portal_token(request: HttpRequest) -> str | None:
    """The token of a portal address (/p/<token>/...), live or not."""
    prefix = reverse("portal:home", args=["-"]).removesuffix("-/")
    if not request.path_info.startswith(prefix):
        return None
    return request.path_info.removeprefix(prefix).split("/", 1)[0]


def _came_from(request: HttpRequest) -> str:
    """The page the request came from, when it is one of ours."""
    referer = request.META.get("HTTP_REFERER", "")
    if referer and url_has_allowed_host_and_scheme(
        referer, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return referer
    return ""
