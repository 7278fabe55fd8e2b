"""/api/: version 1, and a problem (not the console's page) for any other address."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path, re_path

from relance.api.api import api
from relance.api.problems import guarded, unknown


def _guarded(patterns: list[URLPattern | URLResolver]) -> list[URLPattern | URLResolver]:
    for pattern in patterns:
        if isinstance(pattern, URLPattern):
            pattern.callback = guarded(pattern.callback)
    return patterns


_patterns, _app, _namespace = api.urls
urlpatterns = [
    path("v1/", (_guarded(list(_patterns)), _app, _namespace)),
    re_path(r"^.*$", unknown),
]
