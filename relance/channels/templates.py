"""Finding and rendering message templates.

Templates live in ``templates/channels/<channel>/<lang>/<slug>.{subject.txt,txt,html}``,
with ``generic`` as the fallback slug. They are rendered by an engine of their own (not
the site's): text parts without HTML escaping, and a search path that an organisation's
wording can be slotted into without touching the code.

Where an organisation's own wording comes from, in order:

1. ``org-<slug>/channels/...`` names: an organisation's override, edited in the console
   (``relance.channels.models.MessageTemplate``, answered by
   ``relance.channels.overrides.DatabaseLoader``, the first of ``RELANCE_TEMPLATE_LOADERS``,
   uncached: an edit applies to the next message), or files in the directories of the
   ``RELANCE_TEMPLATE_DIRS`` setting (``<dir>/org-acme/channels/email/fr/first_reminder.txt``).
2. ``channels/...`` in ``RELANCE_TEMPLATE_DIRS``: the install's own wording for everyone.
3. the templates shipped with Relance.

An organisation writes its templates itself, so the engine is a sandbox (docs/templates.md):

- ``{% load %}`` finds no library (the engine has none), ``{% debug %}`` is not a tag;
- ``{% extends %}`` and ``{% include %}`` reach the shared ``channels/...`` names only: an
  ``org-...`` name is loaded by ``render`` itself, never from inside a template, so no
  organisation reaches another's wording (nor its own in a loop);
- the organisation and the customer are seen through ``Exposed``: the fields a message may
  print, never a relation (members, keys, other customers) nor a method.
"""

from __future__ import annotations

import contextvars
import functools
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.db import models
from django.dispatch import receiver
from django.template import Context, Engine, Library, TemplateDoesNotExist, defaulttags
from django.template.base import Template
from django.utils import translation

BUILTIN_DIR = Path(__file__).resolve().parent / "templates"
LANGUAGES = ("fr", "en")
GENERIC = "generic"


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str | None  # None: the text part alone (an override without an HTML part)
    language: str
    source: str  # the template name used, for the record


def language_chain(language: str) -> list[str]:
    """The wanted language, then English (more widely read abroad), then French."""
    chain = [language] if language in LANGUAGES else []
    return chain + [lang for lang in ("en", "fr") if lang not in chain]


def candidates(organisation_slug: str, channel: str, language: str, slug: str) -> list[str]:
    """Stems (names without the part suffix) in order of preference."""
    names = []
    for lang in language_chain(language):
        for name in dict.fromkeys((slug, GENERIC)):
            names.append(f"org-{organisation_slug}/channels/{channel}/{lang}/{name}")
            names.append(f"channels/{channel}/{lang}/{name}")
    return names


# Template names ``render`` itself may load: an ``org-`` name is never reached from inside
# a template (see the module's notes).
_loading: contextvars.ContextVar[str | None] = contextvars.ContextVar("loading", default=None)
# Tags an organisation's template may not use: ``debug`` prints the whole context and the
# server's loaded modules.
FORBIDDEN_TAGS = frozenset({"debug"})


class SandboxedEngine(Engine):
    """An engine whose templates reach only the shared ``channels/...`` names."""

    def find_template(self, name: Any, dirs: Any = None, skip: Any = None) -> Any:
        if not isinstance(name, str) or not reachable(name):
            raise TemplateDoesNotExist(str(name))
        return super().find_template(name, dirs, skip)


def reachable(name: str) -> bool:
    """Whether a template being rendered may load ``name`` (only ``render`` loads the
    ``org-`` names, one at a time)."""
    if ".." in name.split("/") or "\\" in name:
        return False
    if name.startswith("channels/"):
        return True
    return name.startswith("org-") and _loading.get() == name


def _restricted_builtins() -> Library:
    tags = Library()
    tags.tags = {k: v for k, v in defaulttags.register.tags.items() if k not in FORBIDDEN_TAGS}
    tags.filters = dict(defaulttags.register.filters)
    return tags


@functools.cache
def engine(*, autoescape: bool, debug: bool = False) -> Engine:
    dirs = [*getattr(settings, "RELANCE_TEMPLATE_DIRS", []), BUILTIN_DIR]
    files: Any = ("django.template.loaders.filesystem.Loader", dirs)
    if not settings.DEBUG:
        files = ("django.template.loaders.cached.Loader", [files])
    # Extra loaders (an organisation's wording from the database) come first, uncached:
    # an edit applies to the next message.
    loaders = [*getattr(settings, "RELANCE_TEMPLATE_LOADERS", []), files]
    made = SandboxedEngine(
        dirs=dirs,
        loaders=loaders,
        autoescape=autoescape,
        builtins=["relance.channels.formatting"],
        string_if_invalid="",
        # ``debug``: syntax errors carry their line (the console's editor shows it).
        debug=debug,
    )
    made.template_builtins = [
        _restricted_builtins() if library is defaulttags.register else library
        for library in made.template_builtins
    ]
    return made


@receiver(setting_changed)
def _reset_engines(*, setting: str, **kwargs: Any) -> None:
    if setting in {"RELANCE_TEMPLATE_DIRS", "RELANCE_TEMPLATE_LOADERS", "DEBUG"}:
        engine.cache_clear()


def _find(name: str, *, autoescape: bool, debug: bool = False) -> Template | None:
    token = _loading.set(name)
    try:
        return engine(autoescape=autoescape, debug=debug).get_template(name)
    except TemplateDoesNotExist as error:
        if error.args and error.args[0] != name:
            raise  # the template exists but extends or includes one that does not
        return None
    finally:
        _loading.reset(token)


# What a message may print of the organisation and of the customer: fields, no relation.
EXPOSED_FIELDS: dict[str, tuple[str, ...]] = {
    "accounts.organisation": (
        "name", "legal_name", "siren", "vat_number", "country", "currency", "language",
        "email", "phone", "address", "signature", "sender_name", "reply_to", "letterhead",
        "iban", "bic",
    ),
    "ledger.customer": (
        "reference", "legal_name", "trade_name", "siren", "siret", "vat_number", "email",
        "phone", "language", "country", "currency", "payment_terms_days",
    ),
}  # fmt: skip


class Exposed:
    """A model instance as a template sees it: the fields of ``EXPOSED_FIELDS`` only."""

    __slots__ = ("_text", "_values")

    def __init__(self, instance: models.Model) -> None:
        names = EXPOSED_FIELDS.get(instance._meta.label_lower, ())
        self._values = {name: getattr(instance, name) for name in names}
        self._text = str(instance)

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(name) from None

    def __str__(self) -> str:
        return self._text


def exposed(values: Mapping[str, Any]) -> dict[str, Any]:
    """The context a template receives: model instances seen through ``Exposed``."""
    return {
        key: Exposed(value) if isinstance(value, models.Model) else value
        for key, value in values.items()
    }


# Drafts being previewed: template name -> source, answered before the database.
_drafts: contextvars.ContextVar[Mapping[str, str] | None] = contextvars.ContextVar(
    "drafts", default=None
)


@contextmanager
def drafted(sources: Mapping[str, str]) -> Iterator[None]:
    """Render with these sources in place of the stored ones (the editor's preview)."""
    token = _drafts.set(dict(sources))
    try:
        yield
    finally:
        _drafts.reset(token)


def draft(name: str) -> str | None:
    drafts = _drafts.get()
    return drafts.get(name) if drafts else None


def render(
    *,
    organisation_slug: str,
    channel: str,
    language: str,
    slug: str,
    context: Mapping[str, Any],
    debug: bool = False,
) -> Rendered:
    """Subject, text and HTML of one message, in the first language a template exists for.

    The text part decides which template is used; subject and HTML come from the same
    place, so an override of the text is never paired with the shipped HTML.
    """
    for stem in candidates(organisation_slug, channel, language, slug):
        text_template = _find(f"{stem}.txt", autoescape=False, debug=debug)
        if text_template is None:
            continue
        lang = stem.split("/")[-2]
        subject_template = _find(f"{stem}.subject.txt", autoescape=False, debug=debug)
        html_template = _find(f"{stem}.html", autoescape=True, debug=debug)
        with translation.override(lang):
            ctx = {**exposed(context), "language": lang}
            text = clean_text(text_template.render(_context(ctx, autoescape=False)))
            subject = (
                clean_subject(subject_template.render(_context(ctx, autoescape=False)))
                if subject_template
                else ""
            )
            html = html_template.render(_context(ctx, autoescape=True)) if html_template else None
        return Rendered(subject=subject, text=text, html=html, language=lang, source=stem)
    raise TemplateDoesNotExist(f"no template for {channel}/{language}/{slug}")


def with_edits(
    rendered: Rendered, *, channel: str, subject: str, text: str, context: Mapping[str, Any]
) -> Rendered:
    """A person's wording of one message in place of the template's (an edit made while it
    awaited approval): their subject (the template's if they left it empty) and their text;
    the HTML part, if the channel has one, is their text again in the channel's frame
    (``channels/<channel>/edited.html``: the same page, the person's paragraphs, escaped),
    so that both parts always say the same."""
    text = clean_text(text.replace("\r\n", "\n"))
    html = None
    frame = _find(f"channels/{channel}/edited.html", autoescape=True)
    if frame is not None and rendered.html is not None:
        with translation.override(rendered.language):
            ctx = {**context, "language": rendered.language, "edited_text": text}
            html = frame.render(_context(ctx, autoescape=True))
    return Rendered(
        subject=clean_subject(subject) or rendered.subject,
        text=text,
        html=html,
        language=rendered.language,
        source=f"{rendered.source} (edited)",
    )


def _context(values: Mapping[str, Any], *, autoescape: bool) -> Context:
    # A Context escapes by default whatever its engine says: plain text and subjects must
    # not ("l'Industrie", never "l&#x27;Industrie").
    return Context(dict(values), autoescape=autoescape)


def clean_subject(text: str) -> str:
    """One line: a header never carries a line break (and never an injected one). The
    no-break spaces French typography sets before a colon stay."""
    return _BLANKS.sub(" ", text).strip()[:300]


# Runs of white space but the no-break ones.
_BLANKS = re.compile(r"[^\S\u00a0\u202f]+")


def clean_text(text: str) -> str:
    """Template tags leave blank lines and trailing blanks behind: tidy them."""
    lines = [line.rstrip() for line in text.splitlines()]
    tidy = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")
    return tidy + "\n"
