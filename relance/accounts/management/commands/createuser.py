"""relance createuser EMAIL --org SLUG [--role admin|manager|collector|viewer]
[--password-stdin]"""

from __future__ import annotations

import getpass
import os
import sys
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.validators import validate_email

from relance.accounts.models import Role
from relance.accounts.services import MemberRefused, add_member
from relance.lib.commands import organisation_option, refused
from relance.lib.output import print_json


class Command(BaseCommand):
    help = "Create a user (the e-mail is the login) and give them a role in an organisation."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email")
        parser.add_argument("--org", help="organisation slug (optional when there is one)")
        parser.add_argument("--role", default=Role.ADMIN, choices=Role.values)
        parser.add_argument(
            "--password-stdin", action="store_true", help="read the password from stdin"
        )
        parser.add_argument("--json", action="store_true")

    def handle(self, *args: Any, **opts: Any) -> None:
        try:
            validate_email(opts["email"])
        except ValidationError:
            raise CommandError(f"{opts['email']!r} is not an e-mail address") from None
        org = organisation_option(opts["org"])
        password = self.password(opts["password_stdin"])
        exists = get_user_model().objects.filter(username=opts["email"].lower()).exists()
        if not password and not exists:
            # A new user without a password could never log in: refuse rather than create one.
            raise CommandError(
                "no password given: set RELANCE_PASSWORD, pass --password-stdin, "
                "or run the command on a terminal to be asked"
            )
        if password:
            try:
                validate_password(password)
            except ValidationError as exc:
                raise CommandError(" ".join(exc.messages)) from None
        with refused(MemberRefused):
            user = add_member(org, opts["email"], opts["role"], password)
        if opts["json"]:
            print_json(self.stdout, {"email": user.get_username(), "organisation": org.slug,
                                     "role": opts["role"]})  # fmt: skip
        else:
            self.stdout.write(f"{user.get_username()} is {opts['role']} of {org.slug}.")

    def password(self, from_stdin: bool) -> str | None:
        """From RELANCE_PASSWORD, stdin, or a prompt; none keeps an existing user's password."""
        if env := os.environ.get("RELANCE_PASSWORD"):
            return env
        if from_stdin:
            return sys.stdin.readline().rstrip("\n")
        if sys.stdin.isatty():
            first = getpass.getpass("Password: ")
            if first and first != getpass.getpass("Password (again): "):
                raise CommandError("the passwords differ")
            return first or None
        return None
