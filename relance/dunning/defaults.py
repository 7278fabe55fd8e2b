"""The four scenarios and three segment rules every organisation starts with.

They are data, not code: ``data/scenarios.yaml`` is a scenario file in the export format
(docs/scenarios.md), read and validated like any file a user imports. The organisation
creation path calls ``install_defaults``; ``relance scenario install-defaults`` does the same
for organisations created before.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path

from django.db import transaction
from django.utils import translation
from django.utils.translation import gettext_noop

from relance.accounts.models import Organisation
from relance.audit import trail
from relance.dunning.models import Scenario, SegmentRule
from relance.dunning.scenarios_io import ScenarioFile, create_rules, create_scenario, load_file
from relance.ledger.timeline import Text
from relance.lib import safe_yaml

DEFAULTS_FILE = Path(__file__).resolve().parent / "data" / "scenarios.yaml"
# The shipped names (in French in DEFAULTS_FILE) in English.
ENGLISH_NAMES_FILE = DEFAULTS_FILE.with_name("scenario_names_en.yaml")
# A shipped scenario's description is in French, then in English after this mark.
ENGLISH_PART = "\nEN: "


@functools.cache
def default_scenarios() -> ScenarioFile:
    return load_file(DEFAULTS_FILE)


@transaction.atomic
def install_defaults(organisation: Organisation) -> list[str]:
    """Create the default scenarios the organisation lacks; return their slugs.

    Idempotent. A scenario whose slug exists is left as it is, whatever it says. The
    default flag goes to Standard only if no scenario is the default yet, and the rules are
    created only if the organisation has none: its own choices always win.
    """
    document = default_scenarios()
    existing = dict(
        Scenario.objects.filter(organisation=organisation).values_list("slug", "is_default")
    )
    has_default = any(existing.values())
    created = []
    for scenario in document.scenarios:
        if scenario.slug not in existing:
            create_scenario(
                organisation, replace(scenario, default=scenario.default and not has_default)
            )
            created.append(scenario.slug)
    rules = (
        bool(document.rules) and not SegmentRule.objects.filter(organisation=organisation).exists()
    )
    if rules:
        create_rules(organisation, document.rules or ())
    if created or rules:
        trail.record(organisation, "scenario.defaults_installed",
                     summary=Text(gettext_noop("default scenarios added: %(scenarios)s"),
                                  {"scenarios": ", ".join(created)})
                     if created else Text(gettext_noop("default scenarios added: none")),
                     data={"scenarios": created, "rules": rules})  # fmt: skip
    return created


def description_for_reader(text: str) -> str:
    """A scenario's description as its reader reads it: a shipped scenario's (in French,
    then in English) in the reader's language only; any other as it was written."""
    parts = _shipped_descriptions().get(_plain(text))
    if parts is None:
        return text
    french, english = parts
    return french if _french_reader() else english


def description_as_written(posted: str, stored: str) -> str:
    """The description to keep when a form posts one back: the stored one, in both its
    languages, when the reader left unchanged what they were shown of it."""
    return stored if _plain(posted) == _plain(description_for_reader(stored)) else posted


def name_for_reader(name: str) -> str:
    """A scenario's, a step's or a rule's name as its reader reads it: a shipped one (in
    French) in the reader's language; any other (an organisation's own, or edited) as it
    was written."""
    if _french_reader():
        return name
    return _english_names().get(_plain(name), name)


def names_as_written(posted: Sequence[str], stored: Iterable[str]) -> list[str]:
    """The names to keep when a form posts names back (a scenario's, its steps', the
    rules'): a stored one where the reader left unchanged what they were shown of it (a
    shipped name stays the shipped one, in French), any other as posted."""
    shown = {_plain(name_for_reader(name)): name for name in stored}
    return [shown.get(_plain(name), name) for name in posted]


def _french_reader() -> bool:
    return (translation.get_language() or "").split("-")[0] == "fr"


@functools.cache
def _english_names() -> dict[str, str]:
    return {
        _plain(french): english for french, english in safe_yaml.read(ENGLISH_NAMES_FILE).items()
    }


@functools.cache
def _shipped_descriptions() -> dict[str, tuple[str, str]]:
    """Each shipped description (spaces as they come) -> its French and its English."""
    found = {}
    for scenario in default_scenarios().scenarios:
        french, mark, english = scenario.description.partition(ENGLISH_PART)
        if mark:
            found[_plain(scenario.description)] = (french.strip(), english.strip())
    return found


def _plain(text: str) -> str:
    return " ".join(text.split())
