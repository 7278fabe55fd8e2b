"""relance otp enrol USERNAME [--json] | remove USERNAME [--json]"""

from __future__ import annotations

import io
from typing import Any

import segno
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from relance.accounts import two_factor
from relance.lib.output import print_json


class Command(BaseCommand):
    help = "Two-factor sign-in: enrol a user's authenticator app, or remove it (a lost phone)."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        enrol = actions.add_parser(
            "enrol", help="give the user a device now: prints the otpauth:// URI and a QR code"
        )
        remove = actions.add_parser(
            "remove", help="remove the user's device: the password alone signs in again"
        )
        for verb in (enrol, remove):
            verb.add_argument("username", help="the login (the user's e-mail)")
            verb.add_argument("--json", action="store_true", help="print one JSON document")

    def handle(self, *args: Any, **opts: Any) -> None:
        user = get_user_model().objects.filter(username=opts["username"].lower()).first()
        if user is None:
            raise CommandError(f"no user {opts['username']!r}")
        if opts["action"] == "enrol":
            self.enrol(user, opts["json"])
        else:
            self.remove(user, opts["json"])

    def enrol(self, user: Any, as_json: bool) -> None:
        try:
            device = two_factor.enrol_now(user)
        except ValueError as error:
            raise CommandError(str(error)) from None
        uri = device.config_url
        if as_json:
            print_json(self.stdout, {"username": user.get_username(), "uri": uri,
                                     "secret": two_factor.secret(device)})  # fmt: skip
            return
        self.stdout.write(f"Two-factor sign-in is on for {user.get_username()}.")
        self.stdout.write("Scan this QR code with an authenticator app, or enter the URI:")
        picture = io.StringIO()
        segno.make(uri, error="m").terminal(out=picture, compact=True)
        self.stdout.write(picture.getvalue(), ending="")
        self.stdout.write(uri)
        self.stdout.write(f"Key (to type by hand): {two_factor.secret(device, grouped=True)}")

    def remove(self, user: Any, as_json: bool) -> None:
        removed = two_factor.remove(user)
        if as_json:
            print_json(self.stdout, {"username": user.get_username(), "removed": removed})
        elif removed:
            self.stdout.write(
                f"Removed the two-factor device of {user.get_username()}: the password alone "
                "signs in until they enrol again."
            )
        else:
            self.stdout.write(f"{user.get_username()} has no two-factor device; nothing removed.")
