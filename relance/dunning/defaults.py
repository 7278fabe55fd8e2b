"""The four scenarios and three segment rules every organisation starts with.

They are data, not code: ``data/scenarios.yaml`` is a scenario file in the export format
(docs/scenarios.md), read and validated like any file a user imports. The organisation
creation path calls ``install_defaults``; ``relance scenario install-defaults`` does the same
for organisations created before.
"""

from __future__ import annotations

import functools
from dataclasses import replace
from pathlib import Path

from django.db import transaction

from relance.accounts.models import Organisation
from relance.audit import trail
from relance.dunning.models import Scenario, SegmentRule
from relance.dunning.scenarios_io import ScenarioFile, create_rules, create_scenario, load_file

DEFAULTS_FILE = Path(__file__).resolve().parent / "data" / "scenarios.yaml"


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
                     summary="default scenarios added: " + (", ".join(created) or "none"),
                     data={"scenarios": created, "rules": rules})  # fmt: skip
    return created
