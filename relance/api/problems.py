"""Every error of the API in one shape: RFC 9457 problem details.

``{"type", "title", "status", "detail", "instance", "errors"}`` served as
``application/problem+json``; ``errors`` lists what was wrong with the input, each with
its ``field``, its ``message`` and, in a bulk request, the ``index`` of its row.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from functools import wraps
from http import HTTPStatus
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from ninja import Schema
from ninja.errors import AuthenticationError, HttpError, ValidationError

log = logging.getLogger(__name__)

CONTENT_TYPE = "application/problem+json"
# What each status means in ``type``: a URN, documented in docs/api.md, rather than a link
# to a page that may not exist where Relance is installed.
TYPES = {
    400: "bad-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    413: "too-large",
    422: "invalid",
    429: "rate-limited",
    500: "server-error",
}
ERROR_STATUSES = (400, 401, 403, 404, 409, 422, 429)


class ProblemItem(Schema):
    field: str
    message: str
    index: int | None = None


class Problem(Schema):
    type: str
    title: str
    status: int
    detail: str
    instance: str
    errors: list[ProblemItem] = []


class ApiProblem(Exception):
    """Raised by an endpoint or a helper: answered as a problem of ``status``."""

    def __init__(
        self,
        status: int,
        detail: str,
        errors: Iterable[dict[str, Any]] = (),
        headers: dict[str, str] | None = None,
    ):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = list(errors)
        self.headers = headers or {}


def not_found(what: str, ident: object) -> ApiProblem:
    return ApiProblem(404, f"no {what} {ident}")


def item(field: str, message: str, index: int | None = None) -> dict[str, Any]:
    return {"field": field, "message": message, "index": index}


def problem_response(
    request: HttpRequest,
    status: int,
    detail: str,
    errors: Iterable[dict[str, Any]] = (),
    headers: dict[str, str] | None = None,
) -> HttpResponse:
    slug = TYPES.get(status, "server-error" if status >= 500 else "bad-request")
    body = {
        "type": f"urn:relance:problem:{slug}",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "instance": request.path,
        "errors": [item(e["field"], e["message"], e.get("index")) for e in errors],
    }
    response = JsonResponse(body, status=status, content_type=CONTENT_TYPE)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def _from_validation(exc: ValidationError) -> list[dict[str, Any]]:
    """Ninja's (pydantic's) errors as problem items: ``loc`` is (source, parameter, path…);
    the path of a bulk row starts with ``items, <index>``."""
    errors = []
    for error in exc.errors:
        loc = [str(part) if not isinstance(part, int) else part for part in error.get("loc", ())]
        source, path = (loc[0] if loc else ""), loc[1:]
        if source == "body" and path and path[0] == "payload":
            path = path[1:]
        index = None
        if len(path) >= 2 and path[0] == "items" and isinstance(path[1], int):
            index, path = path[1], path[2:]
        field = ".".join(str(p) for p in path) or str(source) or "body"
        errors.append(item(field, str(error.get("msg", "is not valid")), index))
    return errors


def install(api: Any) -> None:
    """Answer every exception the API meets with a problem."""

    def on_problem(request: HttpRequest, exc: ApiProblem) -> HttpResponse:
        return problem_response(request, exc.status, exc.detail, exc.errors, exc.headers)

    def on_validation(request: HttpRequest, exc: ValidationError) -> HttpResponse:
        return problem_response(
            request, 422, "the request does not match the schema", _from_validation(exc)
        )

    def on_http(request: HttpRequest, exc: HttpError) -> HttpResponse:
        headers = {}
        if isinstance(exc, AuthenticationError):
            headers["WWW-Authenticate"] = 'Bearer realm="relance"'
            detail = "a valid API key is required: Authorization: Bearer rl_<prefix>_<secret>"
        else:
            detail = str(exc)
        return problem_response(request, exc.status_code, detail, headers=headers)

    def on_404(request: HttpRequest, exc: Exception) -> HttpResponse:
        return problem_response(request, 404, "not found")

    def on_too_big(request: HttpRequest, exc: Exception) -> HttpResponse:
        return problem_response(
            request, 413, "the request body is too large: send fewer rows per request"
        )

    def on_error(request: HttpRequest, exc: Exception) -> HttpResponse:
        log.exception("API error on %s %s", request.method, request.path)
        return problem_response(request, 500, "an unexpected error; it was logged")

    api.add_exception_handler(ApiProblem, on_problem)
    api.add_exception_handler(ValidationError, on_validation)
    api.add_exception_handler(HttpError, on_http)
    api.add_exception_handler(Http404, on_404)
    api.add_exception_handler(RequestDataTooBig, on_too_big)
    api.add_exception_handler(Exception, on_error)


def guarded(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Ninja answers a method a path does not take with an empty 405: a problem instead."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = view(request, *args, **kwargs)
        if response.status_code == 405 and not response.get("Content-Type", "").startswith(
            CONTENT_TYPE
        ):
            allowed = response.get("Allow", "")
            answer = problem_response(
                request, 405, f"{request.method} is not allowed here: {allowed}"
            )
            answer["Allow"] = allowed
            return answer
        return response

    return wrapper


@csrf_exempt
def unknown(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    """Any other address under /api/: a problem, not the console's page."""
    return problem_response(request, 404, "no such endpoint: see /api/v1/openapi.json")
