"""relance webhooks add URL [--events TYPE,...] [--description TEXT] | list | remove ID |
enable ID | disable ID | rotate ID | deliveries [--status S] [--endpoint ID] [--limit N] |
replay DELIVERY_ID... | replay --since DATE [--endpoint ID] [--status S] | test ID |
dispatch | deliver | prune [--days 90]; each [--org SLUG] [--json]

Webhooks out (docs/webhooks.md). ``add`` prints the endpoint's secret: the only time the
command shows it (an administrator can reveal it again in the console)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from relance.accounts.models import Organisation
from relance.hooks import delivery, dispatch, endpoints, events
from relance.hooks.models import Delivery, Endpoint
from relance.hooks.targets import Refused
from relance.lib.commands import iso_date, organisation_option, refused, scope_options
from relance.lib.output import Column, print_json, print_table


def describe_endpoint(endpoint: Endpoint) -> dict[str, Any]:
    return {
        "id": endpoint.pk,
        "url": endpoint.url,
        "description": endpoint.description,
        "events": endpoint.event_types,  # empty: every type
        "all_events": not endpoint.event_types,
        "active": endpoint.active,
        "created_at": endpoint.created_at.isoformat(),
        "disabled_at": endpoint.disabled_at.isoformat() if endpoint.disabled_at else None,
        "disabled_reason": endpoint.disabled_reason or None,
        "failing_since": endpoint.failing_since.isoformat() if endpoint.failing_since else None,
    }


def describe_delivery(row: Delivery) -> dict[str, Any]:
    def iso(value: Any) -> str | None:
        return value.isoformat() if value else None

    return {
        "id": row.pk,
        "endpoint": row.endpoint_id,
        "event_id": row.message_id,
        "type": row.type,
        "status": row.status,
        "attempts": row.attempts,
        "replays": row.replays,
        "next_attempt_at": iso(row.next_attempt_at),
        "last_attempt_at": iso(row.last_attempt_at),
        "last_status_code": row.last_status_code,
        "last_error": row.last_error or None,
        "response_excerpt": row.response_excerpt or None,
        "created_at": iso(row.created_at),
    }


class Command(BaseCommand):
    help = "Webhooks out: subscribe URLs to events, list and replay deliveries."

    def add_arguments(self, parser: CommandParser) -> None:
        verbs = parser.add_subparsers(dest="action", required=True)
        adding = verbs.add_parser("add", help="subscribe a URL (prints its secret, once)")
        adding.add_argument("url")
        adding.add_argument(
            "--events",
            action="append",
            default=[],
            help=f"event types, comma-separated (default: all): {', '.join(events.TYPES)}",
        )
        adding.add_argument("--description", default="")
        verbs.add_parser("list", help="the endpoints")
        for verb, text in (
            ("remove", "delete an endpoint and its deliveries"),
            ("enable", "send to a disabled endpoint again"),
            ("disable", "stop sending to an endpoint"),
            ("rotate", "a new secret (the old one signs too for 24 hours)"),
            ("test", "send a webhook.test message now"),
        ):
            verbs.add_parser(verb, help=text).add_argument("id", metavar="ID")
        listing = verbs.add_parser("deliveries", help="the last deliveries, newest first")
        listing.add_argument("--status", choices=Delivery.Status.values)
        listing.add_argument("--endpoint", metavar="ID")
        listing.add_argument("--limit", type=int, default=50)
        replay = verbs.add_parser("replay", help="send deliveries again (same event id)")
        replay.add_argument("ids", nargs="*", metavar="DELIVERY_ID")
        replay.add_argument("--since", type=iso_date, help="every delivery created since DATE")
        replay.add_argument("--endpoint", metavar="ID")
        replay.add_argument("--status", choices=Delivery.Status.values)
        pruning = verbs.add_parser("prune", help="forget old settled deliveries")
        pruning.add_argument("--days", type=int, default=90, help="kept this long (default 90)")
        verbs.add_parser("dispatch", help="create the deliveries of new events")
        sending = verbs.add_parser("deliver", help="dispatch, then send what is due")
        sending.add_argument("--limit", type=int, default=1000)
        scope_options(*verbs.choices.values())

    def handle(self, *args: Any, **opts: Any) -> None:
        action = opts["action"]
        if action == "replay" and bool(opts["ids"]) == bool(opts["since"]):
            self.usage("replay takes delivery ids or --since DATE (one of the two)")
        if opts.get("limit") is not None and opts["limit"] < 1:
            self.usage("--limit must be at least 1")
        if opts.get("days") is not None and opts["days"] < 1:
            self.usage("--days must be at least 1")
        if action in ("dispatch", "deliver", "prune") and not opts["org"]:
            org = None
        else:
            org = organisation_option(opts["org"])
        with refused(Refused):
            getattr(self, f"do_{action}")(org, opts)

    def usage(self, text: str) -> None:
        raise CommandError(text, returncode=2)

    def out(self, opts: dict[str, Any], document: dict[str, Any], text: str) -> None:
        if opts["json"]:
            print_json(self.stdout, document)
        else:
            self.stdout.write(text)

    def do_add(self, org: Organisation, opts: dict[str, Any]) -> None:
        endpoint = endpoints.add(
            org, opts["url"], event_types=opts["events"], description=opts["description"]
        )
        self.out(
            opts,
            {"endpoint": {**describe_endpoint(endpoint), "secret": endpoint.secret}},
            f"Endpoint {endpoint.pk}: {endpoint.url}\n"
            f"Secret (shown once; verify signatures with it): {endpoint.secret}",
        )

    def do_list(self, org: Organisation, opts: dict[str, Any]) -> None:
        rows = [describe_endpoint(e) for e in Endpoint.objects.filter(organisation=org)]
        if opts["json"]:
            print_json(self.stdout, {"endpoints": rows})
            return
        print_table(
            self.stdout,
            [Column("id", numeric=True), Column("url"), Column("events"), Column("state")],
            [
                (
                    str(r["id"]),
                    r["url"],
                    ", ".join(r["events"]) or "all",
                    "active"
                    if r["active"]
                    else f"disabled: {r['disabled_reason'] or 'by a person'}",
                )
                for r in rows
            ]
            or [("", "no endpoint", "", "")],
        )

    def _changed(self, opts: dict[str, Any], endpoint: Endpoint, verb: str) -> None:
        self.out(
            opts,
            {"endpoint": describe_endpoint(endpoint)},
            f"Endpoint {opts['id']} ({endpoint.url}) {verb}.",
        )

    def do_remove(self, org: Organisation, opts: dict[str, Any]) -> None:
        endpoint_id = endpoints.get(org, opts["id"]).pk
        endpoint = endpoints.remove(org, opts["id"])
        endpoint.pk = endpoint_id  # deleted: keep its id for the report
        self._changed(opts, endpoint, "removed")

    def do_enable(self, org: Organisation, opts: dict[str, Any]) -> None:
        self._changed(opts, endpoints.enable(org, opts["id"]), "enabled")

    def do_disable(self, org: Organisation, opts: dict[str, Any]) -> None:
        endpoint = endpoints.get(org, opts["id"])
        self._changed(opts, endpoints.disable(endpoint, reason="disabled by a person"), "disabled")

    def do_rotate(self, org: Organisation, opts: dict[str, Any]) -> None:
        endpoint = endpoints.rotate(org, opts["id"])
        self.out(
            opts,
            {
                "endpoint": {
                    **describe_endpoint(endpoint),
                    "secret": endpoint.secret,
                    "previous_secret_until": endpoint.previous_secret_until.isoformat()
                    if endpoint.previous_secret_until
                    else None,
                }
            },
            f"New secret of endpoint {endpoint.pk}: {endpoint.secret}\n"
            f"The previous one signs too until {endpoint.previous_secret_until}.",
        )

    def do_test(self, org: Organisation, opts: dict[str, Any]) -> None:
        row = endpoints.test(org, opts["id"])
        self.out(
            opts,
            {"delivery": describe_delivery(row)},
            f"Test message {row.message_id} to {row.endpoint.url}: {row.status}"
            + (f" ({row.last_error})" if row.last_error else ""),
        )
        if row.status != Delivery.Status.SUCCEEDED:
            raise CommandError(f"the endpoint did not accept the test message: {row.last_error}")

    def do_deliveries(self, org: Organisation, opts: dict[str, Any]) -> None:
        rows = list(
            endpoints.deliveries_of(org, status=opts["status"], endpoint=opts["endpoint"])[
                : opts["limit"]
            ]
        )
        if opts["json"]:
            print_json(self.stdout, {"deliveries": [describe_delivery(r) for r in rows]})
            return
        print_table(
            self.stdout,
            [
                Column("id", numeric=True),
                Column("type"),
                Column("endpoint", numeric=True),
                Column("status"),
                Column("attempts", numeric=True),
                Column("last answer"),
                Column("created"),
            ],
            [
                (
                    str(r.pk),
                    r.type,
                    str(r.endpoint_id),
                    r.status,
                    str(r.attempts),
                    r.last_error or (str(r.last_status_code) if r.last_status_code else ""),
                    r.created_at.strftime("%Y-%m-%d %H:%M"),
                )
                for r in rows
            ]
            or [("", "no delivery", "", "", "", "", "")],
        )

    def do_replay(self, org: Organisation, opts: dict[str, Any]) -> None:
        ids = endpoints.replay(
            org,
            ids=opts["ids"],
            since=opts["since"],
            endpoint=opts["endpoint"],
            status=opts["status"],
        )
        counts = delivery.deliver(ids)
        self.out(
            opts,
            {"replayed": ids, "outcome": dict(counts)},
            f"{len(ids)} deliveries replayed: "
            + (", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "nothing to send"),
        )

    def do_dispatch(self, org: Organisation | None, opts: dict[str, Any]) -> None:
        ids = [org.pk] if org else dispatch.organisations_with_endpoints()
        created = sum(dispatch.dispatch(pk) for pk in ids)
        self.out(opts, {"created": created}, f"{created} deliveries created.")

    def do_deliver(self, org: Organisation | None, opts: dict[str, Any]) -> None:
        ids = [org.pk] if org else dispatch.organisations_with_endpoints()
        created = sum(dispatch.dispatch(pk) for pk in ids)
        counts = delivery.deliver_due(organisation_id=org.pk if org else None, limit=opts["limit"])
        self.out(
            opts,
            {"created": created, "outcome": dict(counts)},
            f"{created} deliveries created; "
            + (", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "nothing due"),
        )

    def do_prune(self, org: Organisation | None, opts: dict[str, Any]) -> None:
        keep = timedelta(days=opts["days"])
        gone = delivery.prune(keep=keep, organisation_id=org.pk if org else None)
        self.out(opts, {"pruned": gone}, f"{gone} deliveries forgotten.")
