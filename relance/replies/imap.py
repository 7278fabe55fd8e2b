"""Polling a plain mailbox over IMAP (the standard library's ``imaplib``) for replies.

Each message is processed once: its UIDVALIDITY and UID are remembered (``MailboxSeen``)
and its Message-ID stored with its reply, so a message polled again, or delivered by a
webhook too, is not counted twice. A message dealt with (a reply stored, a duplicate, an
automatic notice from no person) is then moved to ``RELANCE_IMAP_DONE_FOLDER`` when one is
set, else flagged ``\\Seen``; one that found no organisation stays where it is, flagged
``\\Flagged`` for a person to look at.

Settings, from the environment: ``RELANCE_IMAP_HOST``, ``RELANCE_IMAP_PORT`` (993),
``RELANCE_IMAP_USER``, ``RELANCE_IMAP_PASSWORD``, ``RELANCE_IMAP_FOLDER`` (INBOX),
``RELANCE_IMAP_SECURITY`` (``ssl``, ``starttls`` or ``none``: ssl on port 993, else
starttls), ``RELANCE_IMAP_DONE_FOLDER`` (none: flag), ``RELANCE_IMAP_ORGANISATION`` (the
slug of the organisation the mailbox belongs to; none: each message is routed by the
address it was sent to).
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import imaplib
import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from relance.accounts.models import Organisation
from relance.replies import intake
from relance.replies.models import MailboxSeen

BATCH = 200  # messages fetched per poll at most: the next poll takes the rest


class MailboxError(Exception):
    """The mailbox is not configured, cannot be reached, or refused us."""


@dataclass(frozen=True)
class Mailbox:
    host: str
    user: str
    password: str = field(repr=False)
    port: int = 993
    folder: str = "INBOX"
    security: str = "ssl"
    done_folder: str = ""
    organisation: str = ""

    @property
    def name(self) -> str:
        return f"{self.user}@{self.host}/{self.folder}"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Mailbox:
        host, user = env.get("RELANCE_IMAP_HOST", ""), env.get("RELANCE_IMAP_USER", "")
        if not host or not user:
            raise MailboxError("set RELANCE_IMAP_HOST and RELANCE_IMAP_USER to poll a mailbox")
        try:
            port = int(env.get("RELANCE_IMAP_PORT", "993"))
        except ValueError:
            raise MailboxError("RELANCE_IMAP_PORT must be a number") from None
        security = env.get("RELANCE_IMAP_SECURITY", "") or ("ssl" if port == 993 else "starttls")
        if security not in ("ssl", "starttls", "none"):
            raise MailboxError("RELANCE_IMAP_SECURITY is one of ssl, starttls, none")
        return cls(
            host=host, user=user, password=env.get("RELANCE_IMAP_PASSWORD", ""), port=port,
            folder=env.get("RELANCE_IMAP_FOLDER", "") or "INBOX", security=security,
            done_folder=env.get("RELANCE_IMAP_DONE_FOLDER", ""),
            organisation=env.get("RELANCE_IMAP_ORGANISATION", ""),
        )  # fmt: skip


@dataclass
class Poll:
    mailbox: str
    fetched: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    replies: list[int] = field(default_factory=list)

    def count(self, outcome: intake.Outcome) -> None:
        self.outcomes[outcome.status] = self.outcomes.get(outcome.status, 0) + 1
        if outcome.reply is not None:
            self.replies.append(outcome.reply.pk)

    def as_dict(self) -> dict[str, Any]:
        return {"mailbox": self.mailbox, "fetched": self.fetched,
                **{k: self.outcomes.get(k, 0) for k in
                   (intake.STORED, intake.DUPLICATE, intake.UNROUTED, intake.IGNORED)},
                "replies": self.replies}  # fmt: skip


def connect(box: Mailbox) -> imaplib.IMAP4:
    try:
        client: imaplib.IMAP4
        if box.security == "ssl":
            client = imaplib.IMAP4_SSL(box.host, box.port, ssl_context=ssl.create_default_context())
        else:
            client = imaplib.IMAP4(box.host, box.port)
            if box.security == "starttls":
                client.starttls(ssl.create_default_context())
        client.login(box.user, box.password)
    except (OSError, imaplib.IMAP4.error) as error:
        raise MailboxError(f"{box.host}:{box.port}: {error}") from None
    return client


def poll(box: Mailbox, *, client: imaplib.IMAP4 | None = None) -> Poll:
    """Process the mailbox's messages not processed yet."""
    organisation = None
    if box.organisation:
        organisation = Organisation.objects.filter(slug=box.organisation).first()
        if organisation is None:
            raise MailboxError(f"RELANCE_IMAP_ORGANISATION: no organisation {box.organisation!r}")
    own = client is None
    client = client or connect(box)
    try:
        return _poll(client, box, organisation)
    except imaplib.IMAP4.error as error:
        raise MailboxError(f"{box.name}: {error}") from None
    finally:
        if own:
            with contextlib.suppress(OSError, imaplib.IMAP4.error):
                client.logout()


def _poll(client: imaplib.IMAP4, box: Mailbox, organisation: Organisation | None) -> Poll:
    status, _ = client.select(_quoted(box.folder))
    if status != "OK":
        raise MailboxError(f"{box.name}: no such folder")
    uidvalidity = _uidvalidity(client, box.folder)
    status, data = client.uid("SEARCH", "ALL")
    uids = [int(u) for u in (data[0] or b"").split()] if status == "OK" else []
    seen = set(
        MailboxSeen.objects.filter(
            mailbox=box.name, uidvalidity=uidvalidity, uid__in=uids
        ).values_list("uid", flat=True)
    )
    result = Poll(box.name)
    for uid in [u for u in uids if u not in seen][:BATCH]:
        status, parts = client.uid("FETCH", str(uid), "(BODY.PEEK[])")
        raw = next((p[1] for p in parts if isinstance(p, tuple)), None) if status == "OK" else None
        if not isinstance(raw, bytes):
            continue
        result.fetched += 1
        message = email.message_from_bytes(raw, policy=email.policy.compat32)
        outcome = intake.receive(
            intake.incoming(message), source="imap", mailbox_organisation=organisation
        )
        result.count(outcome)
        MailboxSeen.objects.get_or_create(
            mailbox=box.name, uidvalidity=uidvalidity, uid=uid,
            defaults={"message_id": str(message.get("Message-ID", ""))[:254],
                      "outcome": outcome.status},
        )  # fmt: skip
        _file(client, box, uid, outcome.status)
    if box.done_folder:
        client.expunge()
    return result


def _file(client: imaplib.IMAP4, box: Mailbox, uid: int, outcome: str) -> None:
    """Move a message dealt with out of the way (or flag it read); flag one left for a
    person."""
    if outcome == intake.UNROUTED:
        client.uid("STORE", str(uid), "+FLAGS", "(\\Flagged)")
        return
    if not box.done_folder:
        client.uid("STORE", str(uid), "+FLAGS", "(\\Seen)")
        return
    if "MOVE" in _capabilities(client):
        status, _ = client.uid("MOVE", str(uid), _quoted(box.done_folder))
        if status == "OK":
            return
    status, _ = client.uid("COPY", str(uid), _quoted(box.done_folder))
    if status == "OK":
        client.uid("STORE", str(uid), "+FLAGS", "(\\Deleted)")
    else:  # no such folder: at least not read again by a person as new
        client.uid("STORE", str(uid), "+FLAGS", "(\\Seen)")


def _capabilities(client: imaplib.IMAP4) -> set[str]:
    """What the server can do once signed in (it may say more than before)."""
    status, data = client.capability()
    words = data[0].split() if status == "OK" and data and data[0] else []
    return {w.decode().upper() for w in words} | {str(c).upper() for c in client.capabilities}


def _uidvalidity(client: imaplib.IMAP4, folder: str) -> int:
    _, data = client.response("UIDVALIDITY")
    for value in data or []:
        if value:
            return int(value)
    status, data = client.status(_quoted(folder), "(UIDVALIDITY)")
    found = re.search(rb"UIDVALIDITY (\d+)", data[0] or b"") if status == "OK" else None
    return int(found.group(1)) if found else 0


def _quoted(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'
