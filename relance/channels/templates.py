"""Finding and rendering message templates.

Templates live in ``templates/channels/<channel>/<lang>/<slug>.{subject.txt,txt,html}``,
with ``generic`` as the fallback slug. They are rendered by an engine of their own (not
the site's): text parts without HTML escaping, and a search path that an organisation's
wording can be slotted into without touching the code.

Where an organisation's own wording comes from, in order:

1. ``org-<slug>/channels/...`` names: an organisation's override. Served today from the
   directories of the ``RELANCE_TEMPLATE_DIRS`` setting (``<dir>/org-acme/channels/email/
   fr/first_reminder.txt``); tomorrow from a database model, by adding a Django template
   loader for those names to ``RELANCE_TEMPLATE_LOADERS`` (see ``MessageTemplate`` in the
   module's notes below): nothing else changes.
2. ``channels/...`` in ``RELANCE_TEMPLATE_DIRS``: the install's own wording for everyone.
3. the templates shipped with Relance.

The model to add when organisations edit their wording in the console::

    class MessageTemplate(models.Model):
        organisation = FK(Organisation); channel; language; slug; part  # txt|html|subject.txt
        body = TextField(); updated_at; updated_by
        unique (organisation, channel, language, slug, part)

with a loader that answers ``org-<slug>/channels/<channel>/<lang>/<slug>.<part>`` from it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.template import Context, Engine, TemplateDoesNotExist
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


@functools.cache
def engine(*, autoescape: bool) -> Engine:
    dirs = [*getattr(settings, "RELANCE_TEMPLATE_DIRS", []), BUILTIN_DIR]
    files: Any = ("django.template.loaders.filesystem.Loader", dirs)
    if not settings.DEBUG:
        files = ("django.template.loaders.cached.Loader", [files])
    # Extra loaders (an organisation's wording from the database) come first, uncached:
    # an edit applies to the next message.
    loaders = [*getattr(settings, "RELANCE_TEMPLATE_LOADERS", []), files]
    return Engine(
        dirs=dirs,
        loaders=loaders,
        autoescape=autoescape,
        builtins=["relance.channels.formatting"],
        string_if_invalid="",
    )


@receiver(setting_changed)
def _reset_engines(*, setting: str, **kwargs: Any) -> None:
    if setting in {"RELANCE_TEMPLATE_DIRS", "RELANCE_TEMPLATE_LOADERS", "DEBUG"}:
        engine.cache_clear()


def _find(name: str, *, autoescape: bool) -> Template | None:
    try:
        return engine(autoescape=autoescape).get_template(name)
    except TemplateDoesNotExist:
        return None


def render(
    *,
    organisation_slug: str,
    channel: str,
    language: str,
    slug: str,
    context: Mapping[str, Any],
) -> Rendered:
    """Subject, text and HTML of one message, in the first language a template exists for.

    The text part decides which template is used; subject and HTML come from the same
    place, so an override of the text is never paired with the shipped HTML.
    """
    for stem in candidates(organisation_slug, channel, language, slug):
        text_template = _find(f"{stem}.txt", autoescape=False)
        if text_template is None:
            continue
        lang = stem.split("/")[-2]
        subject_template = _find(f"{stem}.subject.txt", autoescape=False)
        html_template = _find(f"{stem}.html", autoescape=True)
        with translation.override(lang):
            ctx = {**context, "language": lang}
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
    """One line: a header never carries a line break (and never an injected one)."""
    return re.sub(r"\s+", " ", text).strip()[:300]


def clean_text(text: str) -> str:
    """Template tags leave blank lines and trailing blanks behind: tidy them."""
    lines = [line.rstrip() for line in text.splitlines()]
    tidy = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")
    return tidy + "\n"
