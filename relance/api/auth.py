"""Bearer authentication by API key, its scope, and its rate limit."""

from __future__ import annotations

from django.http import HttpRequest
from ninja.security import HttpBearer

from relance.api import keys, ratelimit
from relance.api.models import ApiKey
from relance.api.problems import ApiProblem


class KeyAuth(HttpBearer):
    """``Authorization: Bearer rl_<prefix>_<secret>`` of a key holding ``scope``. An
    unknown or revoked key is a 401, a key without the scope a 403, a key past its rate a
    429 with Retry-After."""

    def __init__(self, scope: str):
        super().__init__()
        self.scope = scope

    def authenticate(self, request: HttpRequest, token: str) -> ApiKey | None:
        key = keys.authenticate(token)
        if key is None:
            return None
        if self.scope not in key.scopes:
            raise ApiProblem(403, f"this API key lacks the scope {self.scope!r}")
        wait = ratelimit.take(key.pk)
        if wait:
            raise ApiProblem(
                429, f"too many requests with this key: retry in {wait} s",
                headers={"Retry-After": str(wait)},
            )  # fmt: skip
        return key


READ = KeyAuth("read")
WRITE = KeyAuth("write")
BULK = KeyAuth("bulk")


def key_of(request: HttpRequest) -> ApiKey:
    key: ApiKey = getattr(request, "auth")  # noqa: B009 (set by Ninja, unknown to the stubs)
    return key
