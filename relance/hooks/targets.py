"""Which URLs webhooks may be sent to.

A webhook makes the server send a request to an address an organisation chose: without a
check, anyone allowed to add an endpoint could reach the server's own network (SSRF: a
database's admin port, a cloud's metadata service at 169.254.169.254). So:

- the URL must be https, unless ``RELANCE_WEBHOOKS_ALLOW_HTTP`` (default: ``DEBUG``);
- every address its host name resolves to must be a public one (not loopback, private,
  link-local, shared, reserved or multicast), unless ``RELANCE_WEBHOOKS_ALLOW_PRIVATE``
  (default: ``DEBUG``; for a receiver on the same machine or network, and the tests);
- no user name or password in the URL.

The check runs when an endpoint is added and again before every attempt (a name may
resolve elsewhere later). Redirects are never followed. What remains is a name that
resolves differently between the check and the connection (DNS rebinding): an egress
proxy or firewall closes it for good; docs/webhooks.md says so.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

from django.conf import settings

Resolver = Callable[[str, int], Iterable[str]]


class Refused(ValueError):
    pass


def _resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise Refused(f"{host} does not resolve ({exc.strerror or exc})") from None
    return [str(info[4][0]) for info in infos]


def public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def check(
    url: str,
    *,
    allow_http: bool | None = None,
    allow_private: bool | None = None,
    resolve: Resolver = _resolve,
) -> None:
    """Raises ``Refused``, saying why, unless webhooks may be sent to ``url``."""
    if allow_http is None:
        allow_http = settings.RELANCE_WEBHOOKS_ALLOW_HTTP
    if allow_private is None:
        allow_private = settings.RELANCE_WEBHOOKS_ALLOW_PRIVATE
    if len(url) > 2000:
        raise Refused("the URL is longer than 2,000 characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise Refused(f"{url!r} is not a URL ({exc})") from None
    schemes = ("https", "http") if allow_http else ("https",)
    if parts.scheme not in schemes:
        raise Refused(f"{url!r}: the URL must start with https://")
    if not parts.hostname:
        raise Refused(f"{url!r} has no host")
    if parts.username or parts.password:
        raise Refused(
            f"{url!r}: no user name or password in the URL (the signature proves the sender)"
        )
    if allow_private:
        return
    addresses = list(resolve(parts.hostname, port or (443 if parts.scheme == "https" else 80)))
    for address in addresses:
        if not public(address):
            raise Refused(
                f"{parts.hostname} is a private, loopback or reserved address ({address}): "
                "webhooks go to public addresses only (RELANCE_WEBHOOKS_ALLOW_PRIVATE)"
            )
