"""The largest body a request may declare, refused (413) before anything reads it.

Django bounds a form's fields (DATA_UPLOAD_MAX_MEMORY_SIZE) but not its files, and the
CSRF check reads the whole form, files written to disk, before any view could look at its
size: without this, anyone holding a form's token (any visitor of the sign-in page, any
debtor with a link) could fill the server's disk. The bound depends on who may send what:

- the debtor's portal: its one upload (``RELANCE_PORTAL_UPLOAD_MAX_BYTES``) and a form;
- a signed-in member: an import (``RELANCE_IMPORT_MAX_BYTES``) and a form;
- anyone else (sign-in, password reset): a form, no file.

Views exempt from the CSRF check (the API, the providers' webhooks) read their body whole,
which Django refuses beyond DATA_UPLOAD_MAX_MEMORY_SIZE from its declared length: left to
them (the API answers its 413 as a problem).
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponseBase
from django.urls import Resolver404, resolve

from relance.console import errors
from relance.ledger.imports import staging
from relance.portal import actions

# The fields of any form, beside its file: far more than any of ours needs.
FORM_BYTES = 64 * 1024


def file_bytes_for(request: HttpRequest) -> int | None:
    """The largest file ``request`` may carry (0: none), or None when its view bounds its
    own body."""
    try:
        view = resolve(request.path_info).func
    except Resolver404:
        view = None
    if getattr(view, "csrf_exempt", False):
        return None
    if errors.portal_token(request) is not None:
        return actions.upload_max_bytes()
    if request.user.is_authenticated:
        return staging.max_bytes()
    return 0


def declared(request: HttpRequest) -> int:
    try:
        return max(0, int(request.META.get("CONTENT_LENGTH") or 0))
    except ValueError:
        return 0  # Django reads no body then


class BodySizeMiddleware:
    """Placed after the authentication's middleware (who sends), before any view's."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        size = declared(request)
        if size > FORM_BYTES:  # who sends it, only then (a GET declares nothing)
            file_bytes = file_bytes_for(request)
            if file_bytes is not None and size > file_bytes + FORM_BYTES:
                return errors.too_large(request, file_bytes)
        return self.get_response(request)
