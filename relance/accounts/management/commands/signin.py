"""relance signin locked [--json] | unlock [USERNAME] [--ip IP] [--json]"""

from __future__ import annotations

import datetime as dt
from ipaddress import ip_address
from typing import Any

from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_cool_off
from axes.models import AccessAttempt
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Max, Sum
from django.utils import timezone
from django.utils.translation import gettext_noop

from relance.accounts.signin import record_for_account
from relance.ledger.timeline import Text
from relance.lib.output import Column, print_json, print_table


class Command(BaseCommand):
    help = "Failed sign-ins: list the accounts and addresses counted or locked out; unlock one."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        listing = actions.add_parser("locked", help="accounts and addresses with failed sign-ins")
        unlock = actions.add_parser("unlock", help="forget the failed sign-ins of one")
        unlock.add_argument("username", nargs="?", help="the login (e-mail) to unlock")
        unlock.add_argument("--ip", help="the client address to unlock")
        for verb in (listing, unlock):
            verb.add_argument("--json", action="store_true", help="print one JSON document")

    def handle(self, *args: Any, **opts: Any) -> None:
        if opts["action"] == "unlock":
            self.unlock(opts["username"], opts["ip"], opts["json"])
        else:
            self.locked(opts["json"])

    def locked(self, as_json: bool) -> None:
        rows = counted_failures(timezone.now())
        if as_json:
            print_json(self.stdout, {"failure_limit": settings.AXES_FAILURE_LIMIT, "counted": rows})
            return
        if not rows:
            self.stdout.write("No failed sign-ins counted at the moment.")
            return
        print_table(
            self.stdout,
            [
                Column("kind"),
                Column("who"),
                Column("failures", numeric=True),
                Column("last failure"),
                Column("locked until"),
            ],
            [
                (
                    row["kind"],
                    row["who"],
                    str(row["failures"]),
                    row["last_failure"],
                    row["locked_until"] or "-",
                )
                for row in rows
            ],
        )

    def unlock(self, username: str | None, ip: str | None, as_json: bool) -> None:
        if not username and not ip:
            raise CommandError("say what to unlock: a USERNAME, --ip IP, or both", returncode=2)
        if ip:
            try:
                ip = str(ip_address(ip))
            except ValueError:
                raise CommandError(f"--ip {ip!r} is not an IP address", returncode=2) from None
        username = username.strip().lower() if username else None
        removed = 0
        if username:
            removed += AxesProxyHandler.reset_attempts(username=username)
        if ip:
            removed += AxesProxyHandler.reset_attempts(ip_address=ip)
        what = " and ".join(part for part in (username, ip) if part)
        record_for_account(
            username,
            "signin.unlocked",
            summary=Text(gettext_noop("sign-in unlocked for %(what)s"), {"what": what}),
            data={"username": username or "", "ip": ip or "", "attempts_removed": removed},
        )
        if as_json:
            print_json(self.stdout, {"username": username, "ip": ip, "attempts_removed": removed})
        elif removed:
            self.stdout.write(f"Unlocked {what}: {removed} failed sign-in record(s) forgotten.")
        else:
            self.stdout.write(f"No failed sign-ins recorded for {what}; nothing to unlock.")


def counted_failures(now: dt.datetime) -> list[dict[str, Any]]:
    """The failures counted now (within the cool-off), per account and per address, with
    the end of the lock of those at the limit."""
    cool_off = get_cool_off() or dt.timedelta(0)
    attempts = AccessAttempt.objects.all()
    if get_cool_off() is not None:
        attempts = attempts.filter(attempt_time__gte=now - cool_off)
    limit: int = settings.AXES_FAILURE_LIMIT
    rows = []
    for kind, field in (("account", "username"), ("address", "ip_address")):
        groups = (
            attempts.exclude(**{f"{field}__isnull": True})
            .values(field)
            .annotate(failures=Sum("failures_since_start"), last=Max("attempt_time"))
            .order_by(field)
        )
        for group in groups:
            locked = group["failures"] >= limit
            rows.append(
                {
                    "kind": kind,
                    "who": group[field],
                    "failures": group["failures"],
                    "last_failure": group["last"].isoformat(),
                    "locked_until": (group["last"] + cool_off).isoformat() if locked else None,
                }
            )
    return rows
