"""relance sms optout NUMBER [--undo] [--note TEXT]; [--org] [--json]"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from relance.channels.sms import optout
from relance.lib.commands import organisation_option, refused, scope_options
from relance.lib.output import print_json


class Command(BaseCommand):
    help = "Text messages: record that a number wants no more of them, or lift that."

    def add_arguments(self, parser: CommandParser) -> None:
        verbs = parser.add_subparsers(dest="action", required=True)
        stop = verbs.add_parser("optout", help="no more text messages to a number")
        stop.add_argument("number", help="the mobile number, national (06...) or +33...")
        stop.add_argument("--undo", action="store_true", help="texts to the number again")
        stop.add_argument("--note", default="", help="why (kept with the opt-out)")
        scope_options(*verbs.choices.values())

    def handle(self, *args: Any, **opts: Any) -> None:
        org = organisation_option(opts["org"])
        with refused(optout.Refused):
            if opts["undo"]:
                change = optout.opt_in(org, opts["number"])
            else:
                change = optout.opt_out(org, opts["number"], note=opts["note"])
        if opts["json"]:
            print_json(
                self.stdout,
                {
                    "organisation": org.slug,
                    "number": change.number,
                    "opted_out": change.opted_out,
                    "changed": change.changed,
                },
            )
            return
        state = "gets no text messages" if change.opted_out else "can be texted"
        still = (
            " (it texted STOP: only its START lifts that)"
            if opts["undo"] and change.opted_out
            else ""
        )
        verb = "now" if change.changed else "already"
        self.stdout.write(f"{change.number} {verb} {state} from {org.slug}{still}")
