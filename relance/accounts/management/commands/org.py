"""relance org show [--org SLUG] [--json] | set [--org SLUG] [--email ...] [--iban ...]
[--sender-name ...] [--reply-to ...] ... | terms FILE [--org SLUG] [--json]"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from relance.accounts.identity import FIELDS, IdentityError, identity_of, update_identity
from relance.lib.commands import organisation_option, scope_options
from relance.lib.output import Column, print_json, print_table

HELP = {
    "legal_name": "the company's registered name (the account holder on bank details)",
    "email": "the reply address of every reminder (required to send e-mails)",
    "phone": "the phone number printed under the signature",
    "address": "the postal address (use \\n or a quoted newline between lines)",
    "signature": "the signature of the e-mails, in place of the accounts department's",
    "siren": "the 9-digit SIREN",
    "vat_number": "the intra-community VAT number, e.g. FR40303265045",
    "iban": "the account customers pay into; e-mails then say how to pay",
    "bic": "the bank's BIC (SWIFT code)",
    "contact_gap": "days between two reminders on the same channel (default 3)",
    "name": "the organisation's name, as the console shows it",
    "sender_name": "the name e-mails are sent under (default: the organisation's name)",
    "reply_to": "where replies to e-mails go (default: --email)",
    "letterhead": "the text at the top of letters (use \\n between lines)",
    "min_balance": "an item owing this much or less is not dunned (default 1.00)",
    "promise_grace_days": "days after a promised date before it breaks, for new promises (2)",
    "closed_days": "company closure days, no reminder sent: YYYY-MM-DD,YYYY-MM-DD ('' clears)",
}


class Command(BaseCommand):
    help = "Show or set the organisation's identity: reply address, signature, bank details."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        actions.add_parser("show", help="the identity and what e-mails need")
        setting = actions.add_parser("set", help="check and set some fields (all or none)")
        for name in FIELDS:
            setting.add_argument(
                "--" + name.replace("_", "-"), dest=name, default=None, help=HELP[name]
            )
        terms = actions.add_parser("terms", help="keep the terms of sale the hand-over attaches")
        terms.add_argument("file", type=Path, help="the terms-of-sale file (PDF)")
        scope_options(*actions.choices.values())

    def handle(self, *args: Any, **opts: Any) -> None:
        org = organisation_option(opts["org"])
        if opts["action"] == "terms":
            self._terms(org, opts)
            return
        if opts["action"] == "set":
            changes = {
                name: opts[name].replace("\\n", "\n") for name in FIELDS if opts[name] is not None
            }
            if not changes:
                raise CommandError("nothing to set: give at least one of --email, --iban, ...")
            try:
                update_identity(org, changes)
            except IdentityError as error:
                raise CommandError(f"refused, nothing written: {error}") from None
        identity = identity_of(org)
        if opts["json"]:
            print_json(self.stdout, identity)
            return
        rows = [(name.replace("_", " "), _shown(name, identity)) for name in FIELDS]
        print_table(self.stdout, [Column("field"), Column("value")], rows, title=org.slug)
        if not identity["ready_to_send"]:
            self.stderr.write("No reply address yet: runs will refuse to plan e-mails.")

    def _terms(self, org: Any, opts: dict[str, Any]) -> None:
        from relance.documents.handover import TermsRefused, set_terms

        path: Path = opts["file"]
        try:
            content = path.read_bytes()
        except OSError as error:
            raise CommandError(f"{path}: {error.strerror or error}") from None
        try:
            terms = set_terms(org, path.name, content)
        except TermsRefused as error:
            raise CommandError(f"refused, nothing written: {error}") from None
        if opts["json"]:
            print_json(self.stdout, {"terms": terms.name, "sha256": terms.sha256})
            return
        self.stdout.write(f"{org.slug}: terms of sale {terms.name} kept for the hand-over file")


def _shown(name: str, identity: dict[str, Any]) -> str:
    if name == "iban":
        return str(identity["iban_formatted"]) or "-"
    if name == "closed_days":
        return ", ".join(identity[name]) or "-"
    value = identity[name]
    return str(value) if value not in ("", None) else "-"
