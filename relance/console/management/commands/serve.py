"""relance serve [--host 127.0.0.1] [--port 8000] [--workers N] [--access-log]"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from relance.console.management import serving


def add_server_arguments(parser: CommandParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument(
        "--workers",
        type=int,
        default=serving.default_workers(),
        help=f"processes, each with {serving.THREADS} threads (default: one per core, up to 4)",
    )
    parser.add_argument("--access-log", action="store_true", help="log every request")


class Command(BaseCommand):
    help = "Serve the console and the API with gunicorn; WhiteNoise serves the static files."

    def add_arguments(self, parser: CommandParser) -> None:
        add_server_arguments(parser)

    def handle(self, *args: Any, **opts: Any) -> None:
        check_port(opts)
        serving.collect_static()
        start(self, opts)


def check_port(opts: dict[str, Any]) -> None:
    if problem := serving.port_problem(opts["host"], opts["port"]):
        raise CommandError(problem)


def start(command: BaseCommand, opts: dict[str, Any]) -> None:
    """Announce the address, then serve until stopped."""
    check_port(opts)
    host, port = opts["host"], opts["port"]
    if warning := serving.host_warning(host):
        command.stderr.write(warning)
    command.stdout.write(f"Relance is listening on {serving.address(host, port)}  (Ctrl-C to stop)")
    command.stdout.flush()
    serving.serve(host, port, opts["workers"], access_log=opts["access_log"])
