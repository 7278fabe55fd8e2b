"""Serve the console with gunicorn, in-process, for `relance serve` and `relance demo`."""

from __future__ import annotations

import errno
import os
import socket
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.db import connections
from gunicorn.app.base import BaseApplication

THREADS = 4


def default_workers() -> int:
    """One process per core, up to four: threads carry the concurrency, and more processes
    would only queue behind SQLite's single writer."""
    return max(1, min(os.cpu_count() or 1, 4))


def address(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


def host_warning(host: str) -> str | None:
    """Django answers 400 to a host name it does not know: say so before it happens."""
    allowed = settings.ALLOWED_HOSTS
    if host in ("0.0.0.0", "::") or "*" in allowed or host in allowed:
        return None
    return f"{host} is not in ALLOWED_HOSTS: set ALLOWED_HOSTS={host} to reach it by that name"


def port_problem(host: str, port: int) -> str | None:
    """Why the server could not listen on ``host:port``, in one line; None when it can.
    Tried before gunicorn starts, which would retry for seconds and then log a trace."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        # As gunicorn does: a port left in TIME_WAIT by a server just stopped is free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                return (
                    f"port {port} is busy on {host}: another program (another `relance serve`?) "
                    "listens there; stop it, or choose another port with --port"
                )
            if error.errno == errno.EACCES:
                return f"port {port} needs administrator rights: choose one above 1023 with --port"
            return f"cannot listen on {host}:{port}: {error.strerror or error}"
    return None


class _Server(BaseApplication):
    def __init__(self, options: dict[str, Any]):
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from relance.wsgi import application

        return application


def collect_static() -> None:
    # The manifest storage needs the collected, hashed files that WhiteNoise serves.
    call_command("collectstatic", interactive=False, verbosity=0)


def serve(host: str, port: int, workers: int, *, access_log: bool = False) -> None:
    """Run gunicorn until it is stopped (Ctrl-C, SIGTERM)."""
    # Workers are forked: they must not share the connections this process opened.
    connections.close_all()
    bind = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    _Server(
        {
            "bind": bind,
            "workers": workers,
            "worker_class": "gthread",
            "threads": THREADS,
            "accesslog": "-" if access_log else None,
            "errorlog": "-",
            "loglevel": "warning",
            "timeout": 120,
            "graceful_timeout": 10,
            "proc_name": "relance",
        }
    ).run()
