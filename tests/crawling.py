"""Walking the console as a signed-in user: every link, every form's target and every htmx
endpoint reachable from a page, breadth-first. Shared by the role walker
(test_console_walk.py) and the accessibility checks (test_browser_a11y.py).

A page is read with a small HTML parser: ``<a href>``; each ``<form>`` with the fields it
holds as the page has them (text, hidden, checked boxes and radios, the selected option or
the first, text areas, the first named submit button); ``hx-get``, ``hx-post``, ``hx-put``,
``hx-delete`` on any element, with the fields of the form it sits in and its ``hx-vals``.
GET forms give a GET of their target with their fields; POST forms and htmx writes are
posted with their fields once every page has been read (so that what they change comes
after). Sign-out and the language switch are left alone, as are static files.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit, urlunsplit

from django.urls import Resolver404, resolve, reverse

WRITES = ("post", "put", "delete", "patch")


@dataclass(frozen=True)
class Request:
    method: str  # get, post, put, delete
    url: str  # path and query
    data: tuple[tuple[str, str], ...] = ()
    htmx: bool = False

    def __str__(self) -> str:
        return f"{self.method.upper()} {self.url}" + (" (htmx)" if self.htmx else "")


@dataclass
class Visit:
    request: Request
    status: int
    found_on: str  # the page that links to it
    location: str = ""
    body: str = ""
    error: str = ""  # the exception of a server error, when the client kept it


@dataclass
class _Form:
    action: str
    method: str
    fields: list[tuple[str, str]] = field(default_factory=list)
    submitter: tuple[str, str] | None = None
    select: str | None = None  # the select being read
    select_value: str | None = None
    textarea: str | None = None
    text: list[str] = field(default_factory=list)
    htmx: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    hx: tuple[str, str] | None = None  # hx-post/... on the form itself


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.forms: list[_Form] = []
        self.htmx: list[tuple[str, str, dict[str, str], _Form | None]] = []
        self.form: _Form | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        hx = [(m, a[f"hx-{m}"]) for m in ("get", "post", "put", "delete") if f"hx-{m}" in a]
        vals = _vals(a.get("hx-vals", ""))
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        if tag == "form":
            self.form = _Form(a.get("action", ""), (a.get("method") or "get").lower())
            self.forms.append(self.form)
            if hx:
                self.form.hx = hx[0]
                self.form.fields += vals.items()
            return
        for method, url in hx:
            self.htmx.append((method, url, vals, self.form))
        form = self.form
        if form is None or "disabled" in a:
            return
        name = a.get("name", "")
        if tag == "input" and name:
            kind = a.get("type", "text").lower()
            if kind in ("checkbox", "radio"):
                if "checked" in a:
                    form.fields.append((name, a.get("value", "on")))
            elif kind in ("submit", "image"):
                if form.submitter is None:
                    form.submitter = (name, a.get("value", ""))
            elif kind not in ("button", "reset", "file"):
                form.fields.append((name, a.get("value", "")))
        elif tag == "button" and name and a.get("type", "submit").lower() == "submit":
            if form.submitter is None:
                form.submitter = (name, a.get("value", ""))
        elif tag == "select" and name:
            form.select, form.select_value = name, None
        elif tag == "option" and form.select is not None:
            if form.select_value is None or "selected" in a:
                form.select_value = a.get("value", "")
        elif tag == "textarea" and name:
            form.textarea, form.text = name, []

    def handle_data(self, data: str) -> None:
        if self.form is not None and self.form.textarea is not None:
            self.form.text.append(data)

    def handle_endtag(self, tag: str) -> None:
        form = self.form
        if form is None:
            return
        if tag == "select" and form.select is not None:
            if form.select_value is not None:
                form.fields.append((form.select, form.select_value))
            form.select = None
        elif tag == "textarea" and form.textarea is not None:
            form.fields.append((form.textarea, "".join(form.text)))
            form.textarea = None
        elif tag == "form":
            self.form = None


def _vals(text: str) -> dict[str, str]:
    if not text or text.startswith("js:") or text.startswith("javascript:"):
        return {}
    try:
        values = json.loads(text)
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in values.items()} if isinstance(values, dict) else {}


def requests_of(html: str, here: str) -> list[Request]:
    """What a page lets one request: its links, forms and htmx endpoints."""
    page = _Page()
    page.feed(html)
    page.close()
    found: list[Request] = []
    for href in page.links:
        if (url := _internal(href, here)) is not None:
            found.append(Request("get", url))
    for form in page.forms:
        data = [*form.fields, *([form.submitter] if form.submitter else [])]
        method, action = form.hx if form.hx else (form.method, form.action)
        url = _internal(action or here, here)
        if url is None:
            continue
        if method == "get":
            query = urlencode([(k, v) for k, v in data if k])
            found.append(Request("get", _with_query(url, query), htmx=bool(form.hx)))
        else:
            found.append(Request(method, url, tuple(data), htmx=bool(form.hx)))
    for method, target, vals, form in page.htmx:
        url = _internal(target or here, here)
        if url is None:
            continue
        data = [*(form.fields if form else []), *vals.items()]
        if method == "get":
            found.append(Request("get", url, htmx=True))
        else:
            found.append(Request(method, url, tuple(data), htmx=True))
    return found


def _internal(href: str, here: str) -> str | None:
    """The path and query of a link inside the site; None for anything else."""
    href = href.strip()
    if not href or href.startswith(("#", "mailto:", "tel:", "javascript:", "data:")):
        return None
    parts = urlsplit(urljoin(f"http://testserver{here}", href))
    if parts.scheme not in ("http", "https") or parts.hostname != "testserver":
        return None
    if parts.path.startswith(("/static/", "/media/")):
        return None
    return urlunsplit(("", "", parts.path or "/", parts.query, ""))


def _with_query(url: str, query: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(("", "", parts.path, query, ""))


def skipped() -> set[str]:
    """Paths the walk leaves alone: signing out, switching language."""
    return {reverse("logout"), reverse("set_language")}


def send(client: Any, request: Request) -> Any:
    headers = {"HTTP_HX_REQUEST": "true"} if request.htmx else {}
    if request.method == "get":
        return client.get(request.url, **headers)
    data: dict[str, list[str]] = {}
    for name, value in request.data:
        data.setdefault(name, []).append(value)
    if request.method == "post":
        return client.post(request.url, data, **headers)
    # PUT and DELETE carry their fields form-encoded, as htmx sends them.
    body = urlencode([(k, v) for k, v in request.data])
    sender = client.put if request.method == "put" else client.delete
    return sender(request.url, body, "application/x-www-form-urlencoded", **headers)


def visit(client: Any, request: Request, found_on: str) -> Visit:
    response = send(client, request)
    kind = response.get("Content-Type", "")
    body = response.content.decode("utf-8", "replace") if "text/html" in kind else ""
    error = ""
    if response.status_code >= 500 and getattr(response, "exc_info", None):
        error = repr(response.exc_info[1])
    return Visit(request, response.status_code, found_on, response.get("Location", ""), body,
                 error)  # fmt: skip


def crawl(
    client: Any,
    start: str = "/",
    *,
    writes: bool = True,
    limit: int = 600,
    alike: Callable[[Request], Hashable] | None = None,
) -> list[Visit]:
    """Every request reachable from ``start``, breadth-first: GETs first, then (``writes``)
    the writes found, then the GETs those answers lead to. ``client`` is signed in and keeps
    server errors as responses (``raise_request_exception=False``). ``alike``: GETs of the
    same key are read once, the first found."""
    leave = skipped()
    seen: set[Any] = set()
    visits: list[Visit] = []
    reads: deque[tuple[Request, str]] = deque([(Request("get", start), "")])
    pending_writes: list[tuple[Request, str]] = []

    def key(r: Request) -> Hashable:
        # A write is the same whatever its values (a form showing a fresh secret or token
        # each time would lead on forever): once per target and field names.
        if r.method != "get":
            return r.method, r.url, frozenset(k for k, _ in r.data)
        return r if alike is None else ("alike", alike(r))

    def found(requests: Iterable[Request], here: str) -> None:
        for r in requests:
            if key(r) in seen or urlsplit(r.url).path in leave:
                continue
            seen.add(key(r))
            (reads if r.method == "get" else pending_writes).append((r, here))

    seen.add(key(reads[0][0]))
    while reads or (writes and pending_writes):
        while reads and len(visits) < limit:
            request, here = reads.popleft()
            v = visit(client, request, here)
            visits.append(v)
            found(_followed(v), request.url)
        if not writes or len(visits) >= limit:
            break
        batch, pending_writes[:] = list(pending_writes), []
        for request, here in batch:
            v = visit(client, request, here)
            visits.append(v)
            found(_followed(v), request.url)
    # A walk cut short would pass without reading what lies past its limit (the writes).
    assert len(visits) < limit and not reads, (
        f"the walk from {start} reached its limit of {limit} requests: a page leads on"
        f" without end (the last read: {visits[-1].request.url})"
    )
    return visits


def _followed(v: Visit) -> list[Request]:
    found = requests_of(v.body, v.request.url) if v.body else []
    if v.location and (url := _internal(v.location, v.request.url)) is not None:
        found.append(Request("get", url))
    return found


def page_kinds(client: Any, start: str = "/") -> list[str]:
    """One address per kind of page reachable from ``start`` without writing (its URL name
    and the names of its query's fields), among the HTML pages answered 200. One of each
    kind is read: a pager leading on month after month is not followed."""
    visits = crawl(client, start, writes=False, alike=_kind)
    pages = [v for v in visits if v.status == 200 and v.body and not v.request.htmx]
    return sorted(v.request.url for v in pages)


def _kind(request: Request) -> Hashable:
    parts = urlsplit(request.url)
    try:
        name = resolve(parts.path).view_name
    except Resolver404:
        return request
    keys = tuple(sorted({p.split("=")[0] for p in parts.query.split("&") if p}))
    return request.htmx, name, keys
