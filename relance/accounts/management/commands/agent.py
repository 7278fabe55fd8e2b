"""relance agent show | set [--kind agency|insurer] [--name N] [--legal-name N] [--address A]
[--siren N] [--phone P] [--email E] [--letterhead T] [--iban N] [--bic N] | stop;
all [--org SLUG] [--json]"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from relance.accounts import agents
from relance.accounts.identity import IdentityError
from relance.lib.commands import organisation_option, refused, scope_options
from relance.lib.output import print_json


class Command(BaseCommand):
    help = (
        "White label: the collection agency or credit insurer that writes the organisation's"
        " letters and e-mails in its own name, for it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        verbs = parser.add_subparsers(dest="action", required=True)
        show = verbs.add_parser("show", help="the agent writing for the organisation, if any")
        setting = verbs.add_parser("set", help="set the agent (created the first time) and use it")
        for name in agents.FIELDS:
            setting.add_argument(f"--{name.replace('_', '-')}", dest=name)
        stop = verbs.add_parser("stop", help="write in the organisation's own name again")
        scope_options(show, setting, stop)

    def handle(self, *args: Any, **opts: Any) -> None:
        org = organisation_option(opts["org"])
        if opts["action"] == "set":
            changes = {name: opts[name] for name in agents.FIELDS if opts.get(name) is not None}
            with refused(IdentityError):
                agents.set_agent(org, changes)
        elif opts["action"] == "stop":
            agents.stop_agent(org)
        agent = agents.describe(agents.agent_of(org))
        if opts["json"]:
            print_json(self.stdout, {"organisation": org.slug, "agent": agent})
        elif agent is None:
            self.stdout.write(f"{org.slug} writes its letters in its own name.")
        else:
            self.stdout.write(
                f"{org.slug}'s letters are written by {agent['name']} ({agent['kind']})."
            )
