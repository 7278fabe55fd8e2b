"""relance replies poll [--json]: read the replies waiting in the IMAP mailbox
(``RELANCE_IMAP_*``, docs/replies.md); relance replies list [--status new] [--org] [--json]:
the replies received."""

from __future__ import annotations

import os
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from relance.lib.commands import organisation_option, refused, scope_options
from relance.lib.output import Column, print_json, print_table
from relance.replies import imap
from relance.replies.models import Reply, ReplyStatus


class Command(BaseCommand):
    help = "Replies to reminders: poll the IMAP mailbox, list what came."

    def add_arguments(self, parser: CommandParser) -> None:
        verbs = parser.add_subparsers(dest="action", required=True)
        polling = verbs.add_parser("poll", help="read the replies waiting in the IMAP mailbox")
        polling.add_argument("--json", action="store_true", help="print one JSON document")
        listing = verbs.add_parser("list", help="the replies received, newest first")
        listing.add_argument("--status", choices=ReplyStatus.values)
        scope_options(listing)

    def handle(self, *args: Any, **opts: Any) -> None:
        if opts["action"] == "poll":
            with refused(imap.MailboxError):
                result = imap.poll(imap.Mailbox.from_env(os.environ))
            if opts["json"]:
                print_json(self.stdout, result.as_dict())
                return
            counts = result.as_dict()
            self.stdout.write(
                f"{result.mailbox}: {result.fetched} new message(s), {counts['stored']} "
                f"reply(ies) stored, {counts['duplicate']} already known, "
                f"{counts['unrouted']} for no organisation (flagged), {counts['ignored']} "
                "ignored"
            )
            return
        org = organisation_option(opts["org"])
        replies = Reply.objects.filter(organisation=org).select_related("customer")
        if opts["status"]:
            replies = replies.filter(status=opts["status"])
        rows = [
            {"id": r.pk, "received_at": r.received_at, "from": r.sender,
             "customer": r.customer.reference if r.customer else None, "kind": r.kind,
             "status": r.status, "subject": r.subject, "details": r.details}
            for r in replies[:500]
        ]  # fmt: skip
        if opts["json"]:
            print_json(self.stdout, {"replies": rows})
            return
        print_table(
            self.stdout,
            [Column("id", numeric=True), Column("received"), Column("from"), Column("customer"),
             Column("kind"), Column("status"), Column("subject")],
            [[str(r["id"]), r["received_at"].strftime("%Y-%m-%d %H:%M"), r["from"],
              r["customer"] or "-", r["kind"], r["status"], r["subject"]] for r in rows],
        )  # fmt: skip
