"""relance customer show REF [--date D] [--org SLUG] [--json]
relance customer assign REF --collector EMAIL|none [--org SLUG] [--json]"""

from __future__ import annotations

import dataclasses
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from relance.dunning.actions import NotFound, customer_by_reference
from relance.dunning.customer_view import CustomerView, customer_view
from relance.insights.management.commands.report import today_for
from relance.ledger.customer_file import Refused, assign_collector
from relance.ledger.models import Customer
from relance.lib.commands import iso_date, organisation_option, refused, scope_options
from relance.lib.output import Column, money, print_json, print_table
from relance.lib.sentences import written


class Command(BaseCommand):
    help = (
        "One customer: identity, contacts, open items, scenario, next steps, pauses, history;"
        " or give it to a collector."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        show = actions.add_parser("show", help="everything about one customer on a day")
        show.add_argument("reference", help="the customer's account reference")
        show.add_argument("--date", type=iso_date, help="the day to count at (default: today)")
        assign = actions.add_parser("assign", help="give a customer to a collector, or to nobody")
        assign.add_argument("reference", help="the customer's account reference")
        assign.add_argument(
            "--collector", required=True, help="the member's e-mail, or 'none' for nobody"
        )
        scope_options(show, assign)

    def handle(self, *args: Any, **opts: Any) -> None:
        org = organisation_option(opts["org"])
        with refused(NotFound):
            customer = customer_by_reference(org, opts["reference"])
        if opts["action"] == "assign":
            self.assign(customer, opts)
            return
        # The command line's sentences as the record keeps them: in English.
        view = customer_view(org, customer, opts["date"] or today_for(org), say=written)
        if opts["json"]:
            print_json(self.stdout, dataclasses.asdict(view))
        else:
            self.print_view(view)

    def print_view(self, view: CustomerView) -> None:
        c = view.customer
        out = self.stdout
        out.write(f"{c['reference']} {c['legal_name']} on {view.as_of.isoformat()}")
        details = [
            ("e-mail", c["email"]), ("phone", c["phone"]), ("SIREN", c["siren"]),
            ("VAT number", c["vat_number"]), ("language", c["language"]),
            ("risk class", c["risk_class"]), ("terms", f"{c['payment_terms_days']} days"),
        ]  # fmt: skip
        out.write("  " + " · ".join(f"{k} {v}" for k, v in details if v))
        for a in view.addresses:
            out.write(f"  {a['kind']} address: {a['line1']} {a['postcode']} {a['city']}".rstrip())
        if view.contacts:
            print_table(
                out, [Column("contact"), Column("role"), Column("e-mail"), Column("phone")],
                [(("* " if k["dunning_contact"] else "") + k["name"], k["role"], k["email"],
                  k["phone"]) for k in view.contacts],
            )  # fmt: skip
        if view.scenario:
            out.write(
                f"Scenario: {view.scenario.name} ({view.scenario.slug}), {view.scenario.reason}"
            )
        else:
            out.write(f"Scenario: none ({view.scenario_note})")
        rows = []
        for i in view.open_items:
            nxt = i.next_step
            when = "" if nxt is None else (nxt.on.isoformat() if nxt.on else "paused")
            rows.append((
                i.number, i.due_date.isoformat(), str(i.days_overdue),
                money(i.balance, i.currency)
                + (f" (dunned {money(i.asked, i.currency)})" if i.asked != i.balance else ""),
                str(i.level), money(i.penalty.total, i.currency) if i.penalty else "",
                i.paused or "", f"{nxt.position}. {nxt.name}" if nxt else "", when,
            ))  # fmt: skip
        print_table(
            out,
            [Column("invoice"), Column("due"), Column("days", True), Column("balance", True),
             Column("level", True), Column("penalties", True), Column("paused"),
             Column("next step"), Column("on")],
            rows or [("nothing open", "", "", "", "", "", "", "", "")],
            title="Open items",
            totals=[(f"Total {cur}", "", "", money(total, cur), "", "", "", "", "")
                    for cur, total in view.totals.items()],
        )  # fmt: skip
        for cur, p in view.penalties.items():
            out.write(
                f"Penalties to date ({p['invoices']} late invoices, {cur}): interest "
                f"{money(p['interest'], cur)}, indemnities {money(p['indemnity'], cur)}, "
                f"total {money(p['total'], cur)}"
            )
        if view.penalty_note:
            out.write(f"Penalties not computed: {view.penalty_note}")
        pauses = [
            *(f"dispute {d['id']} on {d['invoice']} ({d['reason']}) from {d['opened_on']}"
              + (f", resolved {d['resolved_on']}" if d["resolved_on"] else ", open")
              for d in view.pauses["disputes"]),
            *(f"promise {p['id']} for {p['invoice'] or 'all invoices'} by {p['promised_on']}"
              f" (+{p['grace_days']} days): {p['status']}" for p in view.pauses["promises"]),
            *(f"hold {h['id']} {h['kind']} from {h['from']}"
              + (f" until {h['until']}" if h["until"] else "")
              + (" (in force)" if h["in_force"] else "") for h in view.pauses["holds"]),
            *(f"plan {p['id']} {p['status']} for {', '.join(p['invoices'])}: "
              + ", ".join(f"{i['amount']} on {i['due_date']}" for i in p["instalments"])
              for p in view.pauses["plans"]),
        ]  # fmt: skip
        out.write("Pauses:" + ("".join(f"\n  {line}" for line in pauses) if pauses else " none"))
        print_table(
            out, [Column("when"), Column("what"), Column("invoice"), Column("summary")],
            [(f"{timezone.localtime(e['at']):%Y-%m-%d %H:%M}", e["kind"], e["invoice"] or "",
              e["summary"]) for e in view.timeline] or [("", "nothing yet", "", "")],
            title="Timeline",
        )  # fmt: skip

    def assign(self, customer: Customer, opts: dict[str, Any]) -> None:
        wanted = opts["collector"].strip()
        collector = None
        if wanted.lower() != "none":
            users = get_user_model()._default_manager
            collector = users.filter(username=wanted.lower()).first()
            if collector is None:
                raise CommandError(f"no user {wanted!r}: give a member's e-mail, or none")
        with refused(Refused):
            assign_collector(customer, collector)
        name = collector.get_username() if collector is not None else None
        if opts["json"]:
            print_json(self.stdout, {"customer": customer.reference, "collector": name})
        else:
            self.stdout.write(f"{customer.reference} is assigned to {name or 'nobody'}")
