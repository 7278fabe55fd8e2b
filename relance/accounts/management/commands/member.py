"""relance member list | add EMAIL --role ROLE [--invite URL] | role EMAIL ROLE |
remove EMAIL, each with [--org SLUG] [--json]"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from relance.accounts.models import Organisation, Role
from relance.accounts.passwords import send_invitation
from relance.accounts.services import (
    MemberRefused,
    add_member,
    change_role,
    members_of,
    remove_member,
)
from relance.lib.commands import organisation_option, refused, scope_options
from relance.lib.output import Column, print_json, print_table


class Command(BaseCommand):
    help = "List an organisation's members, add one, change a role, remove one."

    def add_arguments(self, parser: CommandParser) -> None:
        verbs = parser.add_subparsers(dest="action", required=True)
        verbs.add_parser("list", help="the members, their role and last sign-in")
        adding = verbs.add_parser("add", help="give a user (created if new) a role")
        adding.add_argument("email", help="the login")
        adding.add_argument("--role", required=True, choices=Role.values)
        adding.add_argument(
            "--invite",
            metavar="URL",
            help="the console's address (https://relance.example.com): e-mail a new user "
            "the link to choose their password",
        )
        role = verbs.add_parser("role", help="change a member's role")
        role.add_argument("email")
        role.add_argument("role", choices=Role.values)
        removing = verbs.add_parser("remove", help="take a member out of the organisation")
        removing.add_argument("email")
        scope_options(*verbs.choices.values())

    def handle(self, *args: Any, **opts: Any) -> None:
        org = organisation_option(opts["org"])
        action = opts["action"]
        result: dict[str, Any] = {"organisation": org.slug}
        with refused(MemberRefused):
            if action == "add":
                result.update(self.add(org, opts))
            elif action == "role":
                change_role(org, opts["email"], opts["role"])
                result.update(email=opts["email"].lower(), role=opts["role"])
            elif action == "remove":
                remove_member(org, opts["email"])
                result.update(email=opts["email"].lower(), removed=True)
        members = members_of(org)
        if opts["json"]:
            listed = [
                {"email": m.email, "role": m.role, "last_login": m.last_login, "joined": m.joined}
                for m in members
            ]
            print_json(self.stdout, {**result, "members": listed})
            return
        if message := result.get("message"):
            self.stdout.write(message)
        rows = [(m.email, m.role, _when(m.last_login), _when(m.joined)) for m in members]
        print_table(self.stdout, [Column("member"), Column("role"), Column("last sign-in"),
                                  Column("member since")], rows, title=org.slug)  # fmt: skip

    def add(self, org: Organisation, opts: dict[str, Any]) -> dict[str, Any]:
        user = add_member(org, opts["email"], opts["role"])
        done: dict[str, Any] = {"email": user.get_username(), "role": opts["role"]}
        if user.has_usable_password():
            return {**done, "invited": False}
        if not opts["invite"]:
            return {**done, "invited": False, "message": (
                f"{user.get_username()} has no password yet: pass --invite URL to e-mail "
                "them a link, or they choose one with \"Forgot your password?\" on the "
                "sign-in page."
            )}  # fmt: skip
        try:
            send_invitation(user, org, base_url=opts["invite"])
        except Exception as error:  # the member stays added: say what to do
            raise CommandError(
                f"{user.get_username()} was added but the invitation was not sent ({error}); "
                'they can choose a password with "Forgot your password?" on the sign-in page'
            ) from None
        return {**done, "invited": True}


def _when(moment: Any) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M") if moment else "-"
