"""A small IMAP4rev1 server on loopback for the tests of the IMAP poller (where no real
one, such as Dovecot, is installed): a real TCP conversation in the protocol's own syntax
(tagged responses, literals, UIDs, flags), with the commands a mail client needs to read
and file messages: CAPABILITY, LOGIN, SELECT, STATUS, CREATE, APPEND (a literal), UID
SEARCH/FETCH/STORE/COPY/MOVE, EXPUNGE, NOOP, LOGOUT. Anything else is answered BAD, as
a server would."""

from __future__ import annotations

import re
import socketserver
import threading
from dataclasses import dataclass, field


@dataclass
class Stored:
    uid: int
    raw: bytes
    flags: set[str] = field(default_factory=set)


@dataclass
class Store:
    user: str
    password: str
    uidvalidity: int = 1700000001
    folders: dict[str, list[Stored]] = field(default_factory=lambda: {"INBOX": []})
    next_uid: int = 1
    log: list[str] = field(default_factory=list)  # the commands received, for the tests
    lock: threading.Lock = field(default_factory=threading.Lock)

    def deliver(self, raw: bytes, folder: str = "INBOX") -> int:
        with self.lock:
            uid = self.next_uid
            self.next_uid += 1
            self.folders.setdefault(folder, []).append(Stored(uid, raw))
            return uid


TOKEN = re.compile(r'"((?:[^"\\]|\\.)*)"|(\([^)]*\))|(\S+)')


def _args(text: str) -> list[str]:
    found = []
    for quoted, group, atom in TOKEN.findall(text):
        found.append(quoted.replace('\\"', '"').replace("\\\\", "\\") if quoted else group or atom)
    return found


def _uids(spec: str, existing: list[int]) -> list[int]:
    wanted: set[int] = set()
    top = max(existing, default=0)
    for part in spec.split(","):
        if ":" in part:
            a, b = part.split(":")
            lo, hi = int(a), top if b == "*" else int(b)
            wanted |= {u for u in existing if min(lo, hi) <= u <= max(lo, hi)}
        else:
            wanted.add(top if part == "*" else int(part))
    return sorted(u for u in existing if u in wanted)


class Handler(socketserver.StreamRequestHandler):
    store: Store

    def send(self, line: str | bytes) -> None:
        self.wfile.write((line.encode() if isinstance(line, str) else line) + b"\r\n")

    def handle(self) -> None:
        self.user = None
        self.folder: str | None = None
        self.send("* OK [CAPABILITY IMAP4rev1 MOVE] test server ready")
        while True:
            line = self.rfile.readline()
            if not line:
                return
            text = line.decode("utf-8", "replace").rstrip("\r\n")
            tag, _, rest = text.partition(" ")
            command, _, args = rest.partition(" ")
            self.store.log.append(f"{command.upper()} {args}".strip())
            if not self.dispatch(tag, command.upper(), args):
                return

    def dispatch(self, tag: str, command: str, args: str) -> bool:
        store = self.store
        if command == "CAPABILITY":
            self.send("* CAPABILITY IMAP4rev1 MOVE")
        elif command == "NOOP":
            pass
        elif command == "LOGOUT":
            self.send("* BYE logging out")
            self.send(f"{tag} OK LOGOUT completed")
            return False
        elif command == "LOGIN":
            user, password = _args(args)[:2]
            if (user, password) != (store.user, store.password):
                self.send(f"{tag} NO [AUTHENTICATIONFAILED] invalid credentials")
                return True
            self.user = user
        elif self.user is None:
            self.send(f"{tag} BAD not authenticated")
            return True
        elif command in ("SELECT", "EXAMINE"):
            folder = _args(args)[0]
            if folder not in store.folders:
                self.send(f"{tag} NO no such mailbox")
                return True
            self.folder = folder
            messages = store.folders[folder]
            self.send(f"* {len(messages)} EXISTS")
            self.send("* 0 RECENT")
            self.send("* FLAGS (\\Seen \\Flagged \\Deleted \\Answered \\Draft)")
            self.send(f"* OK [UIDVALIDITY {store.uidvalidity}] UIDs valid")
            self.send(f"* OK [UIDNEXT {store.next_uid}] predicted next UID")
            self.send(f"{tag} OK [READ-WRITE] {command} completed")
            return True
        elif command == "CREATE":
            store.folders.setdefault(_args(args)[0], [])
        elif command == "APPEND":
            size = re.search(r"\{(\d+)\}$", args)
            if not size:
                self.send(f"{tag} BAD APPEND needs a literal")
                return True
            self.send("+ Ready for literal data")
            raw = self.rfile.read(int(size.group(1)))
            self.rfile.readline()  # the CRLF closing the command
            folder = _args(args)[0]
            if folder not in store.folders:
                self.send(f"{tag} NO [TRYCREATE] no such mailbox")
                return True
            store.deliver(raw, folder)
        elif command == "STATUS":
            folder = _args(args)[0]
            self.send(f'* STATUS "{folder}" (UIDVALIDITY {store.uidvalidity})')
        elif command == "EXPUNGE" and self.folder:
            self.expunge()
        elif command == "UID" and self.folder:
            return self.uid(tag, args)
        else:
            self.send(f"{tag} BAD unknown command {command}")
            return True
        self.send(f"{tag} OK {command} completed")
        return True

    def expunge(self) -> None:
        messages = self.store.folders[self.folder or "INBOX"]
        for number in range(len(messages), 0, -1):
            if "\\Deleted" in messages[number - 1].flags:
                del messages[number - 1]
                self.send(f"* {number} EXPUNGE")

    def uid(self, tag: str, args: str) -> bool:
        store = self.store
        verb, _, rest = args.partition(" ")
        verb = verb.upper()
        messages = store.folders[self.folder or "INBOX"]
        by_uid = {m.uid: (n, m) for n, m in enumerate(messages, start=1)}
        if verb == "SEARCH":
            self.send("* SEARCH " + " ".join(str(m.uid) for m in messages))
        elif verb == "FETCH":
            spec, _, what = rest.partition(" ")
            for uid in _uids(spec, list(by_uid)):
                number, m = by_uid[uid]
                if "BODY" not in what.upper():  # FLAGS
                    self.send(f"* {number} FETCH (UID {uid} FLAGS ({' '.join(sorted(m.flags))}))")
                    continue
                if "PEEK" not in what.upper():
                    m.flags.add("\\Seen")
                self.send(f"* {number} FETCH (UID {uid} BODY[] {{{len(m.raw)}}}".encode())
                self.wfile.write(m.raw)
                self.send(")")
        elif verb == "STORE":
            spec, mode, flags = _args(rest)[:3]
            names = set(flags.strip("()").split())
            for uid in _uids(spec, list(by_uid)):
                number, m = by_uid[uid]
                if mode.upper().startswith("+"):
                    m.flags |= names
                elif mode.upper().startswith("-"):
                    m.flags -= names
                else:
                    m.flags = names
                self.send(f"* {number} FETCH (UID {uid} FLAGS ({' '.join(sorted(m.flags))}))")
        elif verb in ("COPY", "MOVE"):
            spec, folder = _args(rest)[:2]
            if folder not in store.folders:
                self.send(f"{tag} NO [TRYCREATE] no such mailbox")
                return True
            for uid in _uids(spec, list(by_uid)):
                _, m = by_uid[uid]
                store.deliver(m.raw, folder)
                if verb == "MOVE":
                    m.flags.add("\\Deleted")
            if verb == "MOVE":
                self.expunge()
        else:
            self.send(f"{tag} BAD unknown UID command {verb}")
            return True
        self.send(f"{tag} OK UID {verb} completed")
        return True


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def serve(store: Store) -> tuple[Server, int]:
    """Start serving ``store`` on a free loopback port; returns the server and its port."""
    handler = type("BoundHandler", (Handler,), {"store": store})
    server = Server(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]
