"""relance checkout status [--org SLUG] [--json]: is paying online set up, and what to give
Stripe (docs/payments-online.md). Never prints a key."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db.models import Count
from django.urls import reverse

from relance.checkout import config, events
from relance.checkout.models import CheckoutSession
from relance.lib.commands import organisation_option, scope_options
from relance.lib.output import Column, print_json, print_table


class Command(BaseCommand):
    help = "Show whether the organisation takes payments online (Stripe) and what to set up."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        actions.add_parser("status", help="the set-up, the webhook to give Stripe, sessions")
        scope_options(*actions.choices.values())

    def handle(self, *args: Any, **opts: Any) -> None:
        org = organisation_option(opts["org"])
        account = config.account(org)
        problems = config.problems(org)
        counts = dict(
            CheckoutSession.objects.filter(organisation=org)
            .order_by()
            .values_list("status")
            .annotate(n=Count("pk"))
        )
        status = {
            "organisation": org.slug,
            "provider": "stripe",
            "available": account is not None,
            "mode": ("live" if account.live else "test") if account else None,
            "keys": ("own" if account.own else "installation") if account else None,
            "webhook_secrets": len(account.webhook_secrets) if account else 0,
            "api_base": account.api_base if account else None,
            "webhook_path": reverse("checkout:stripe_webhook", args=[org.slug]),
            "events": sorted(events.HANDLED),
            "problems": problems,
            "sessions": {key: counts[key] for key in sorted(counts)},
        }
        if opts["json"]:
            print_json(self.stdout, status)
            return
        rows: list[tuple[str, str]] = [
            ("available", "yes" if account else "no"),
            ("mode", str(status["mode"] or "-")),
            ("keys", str(status["keys"] or "-")),
            ("webhook path", str(status["webhook_path"])),
            ("events", ", ".join(sorted(events.HANDLED))),
            ("sessions", ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "-"),
        ]
        print_table(self.stdout, [Column("stripe"), Column("")], rows, title=org.slug)
        for problem in problems:
            self.stderr.write(problem)
