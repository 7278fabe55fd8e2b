"""The REST API under /api/v1/ (docs/api.md): Django Ninja, an API key per integration,
problem details for every error, the OpenAPI document at /api/v1/openapi.json."""

from __future__ import annotations

from typing import Any

from ninja import NinjaAPI

from relance.api import dunning_api, ledger_api, problems

DESCRIPTION = """The ledger and the dunning of one organisation, for integrations.

Authenticate with `Authorization: Bearer rl_<prefix>_<secret>` (an API key: `relance apikey
create`). Scopes: `read` every GET, `write` single creates and updates, `bulk` the bulk
upserts. Lists are in id order, a page at a time: pass the `next_cursor` of a page as
`cursor` for the next. Amounts are exact decimal strings, dates ISO 8601. Every error is a
problem (RFC 9457, `application/problem+json`). Too many requests with one key: 429 with
`Retry-After`."""


class RelanceAPI(NinjaAPI):
    def get_openapi_schema(self, *args: Any, **kwargs: Any) -> Any:
        """Errors are served as application/problem+json: the document says so."""
        schema = super().get_openapi_schema(*args, **kwargs)
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                for status, answer in operation.get("responses", {}).items():
                    content = answer.get("content") or {}
                    if str(status)[0] in "45" and "application/json" in content:
                        answer["content"] = {problems.CONTENT_TYPE: content["application/json"]}
        return schema


api = RelanceAPI(
    title="Relance API",
    version="1",
    description=DESCRIPTION,
    urls_namespace="api-v1",
)
problems.install(api)
api.add_router("/", ledger_api.router)
api.add_router("/", dunning_api.router)
