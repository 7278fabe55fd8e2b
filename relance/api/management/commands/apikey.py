"""relance apikey create NAME [--scope read|write|bulk ...] | list [--all] | revoke PREFIX;
each [--org SLUG] [--json]"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from relance.api import keys
from relance.lib.commands import organisation_option, refused, scope_options
from relance.lib.output import Column, print_json, print_table


class Command(BaseCommand):
    help = "API keys of an organisation: create one (its secret is shown once), list, revoke."

    def add_arguments(self, parser: CommandParser) -> None:
        verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
        creating = verbs.add_parser("create", help="a new key; prints its secret, once")
        creating.add_argument("name", help="what uses the key, e.g. 'ERP sync'")
        creating.add_argument(
            "--scope", dest="scopes", action="append", choices=keys.SCOPES,
            help="read (every GET), write (creates and updates), bulk (bulk upserts); "
            "repeat for several (default: read)",
        )  # fmt: skip
        creating.add_argument(
            "--days", type=int, metavar="N",
            help=f"refuse the key N days from now (1 to {keys.MAX_DAYS}; default: until revoked)",
        )  # fmt: skip
        listing = verbs.add_parser("list", help="the organisation's keys (never their secret)")
        listing.add_argument("--all", action="store_true", help="revoked keys too")
        revoking = verbs.add_parser("revoke", help="refuse a key from now on")
        revoking.add_argument("key", metavar="PREFIX", help="the key's prefix (rl_...) or id")
        scope_options(creating, listing, revoking)

    def handle(self, *args: Any, **opts: Any) -> None:
        org = organisation_option(opts["org"])
        if opts["verb"] == "create":
            with refused(keys.KeyRefused):
                key, token = keys.create(org, opts["name"], opts["scopes"] or keys.DEFAULT_SCOPES,
                                         days=opts["days"])  # fmt: skip
            if opts["json"]:
                print_json(self.stdout, {"key": keys.describe(key), "token": token})
                return
            self.stdout.write(
                f"API key {key.name!r} (rl_{key.prefix}), scopes {', '.join(key.scopes)}.\n"
                f"Its token, shown this once (keep it in the integration's secrets):\n{token}"
            )
            return
        if opts["verb"] == "revoke":
            with refused(keys.KeyRefused):
                key = keys.revoke(org, opts["key"])
            if opts["json"]:
                print_json(self.stdout, {"key": keys.describe(key)})
                return
            self.stdout.write(f"API key {key.name!r} (rl_{key.prefix}) revoked.")
            return
        described = [keys.describe(k) for k in keys.keys_of(org, revoked=opts["all"])]
        if opts["json"]:
            print_json(self.stdout, {"organisation": org.slug, "keys": described})
            return
        print_table(
            self.stdout,
            [Column("Prefix"), Column("Name"), Column("Scopes"), Column("Created"),
             Column("Last used"), Column("Expires"), Column("Revoked")],
            [[k["prefix"], k["name"], ", ".join(k["scopes"]), k["created_at"][:16],
              (k["last_used_at"] or "")[:16], (k["expires_at"] or "")[:16],
              (k["revoked_at"] or "")[:16]]
             for k in described],
            title=f"API keys of {org.slug}",
        )  # fmt: skip
