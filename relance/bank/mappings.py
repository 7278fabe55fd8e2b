"""A bank's CSV columns saved under a name and chosen again, as ledger mappings are: the
same model (``relance.ledger ImportMapping``), told apart by ``record: bank`` in the spec
(an option a bank mapping file may carry, and no ledger record). The console's import page,
``relance bank import --mapping NAME`` and ``relance import --format bank-csv --mapping
NAME`` read them (``resolve``); a ledger import never offers them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from relance.accounts.models import Organisation
from relance.audit import trail
from relance.bank.exports import BankMapping, load_mapping, read_spec
from relance.ledger.imports.records import ImportFailed, Problem
from relance.ledger.models import ImportMapping
from relance.ledger.timeline import Text

RECORD = "bank"
NAME = re.compile(r"^[-a-zA-Z0-9_]{1,64}$")  # as a ledger mapping's (a slug)


def is_bank(spec: Any) -> bool:
    return isinstance(spec, dict) and spec.get("record") == RECORD


def saved(organisation: Organisation) -> list[ImportMapping]:
    """The organisation's bank mappings, the one used last first."""
    return list(
        ImportMapping.objects.filter(organisation=organisation, spec__record=RECORD).order_by(
            "-updated_at", "name"
        )
    )


def spec_of(organisation: Organisation, name: str) -> dict[str, Any] | None:
    """The spec of the bank mapping saved under ``name``, or None."""
    found = ImportMapping.objects.filter(organisation=organisation, name=name).first()
    return dict(found.spec) if found is not None and is_bank(found.spec) else None


def load(organisation: Organisation, name: str) -> BankMapping:
    """The bank mapping saved under ``name``; ImportFailed when there is none."""
    spec = spec_of(organisation, name)
    if spec is None:
        raise ImportFailed(
            [Problem(name, None, None, _("no such bank mapping file or saved name"))]
        )
    return BankMapping.from_dict(spec, f"mapping {name!r}")


def resolve(organisation: Organisation, given: str) -> BankMapping:
    """``--mapping FILE|NAME`` of ``relance bank import`` and ``relance import --format
    bank-csv``: a mapping file (YAML) when there is one at that path, else the bank mapping
    saved under that name; ImportFailed when it is neither."""
    path = Path(given)
    return load_mapping(path) if path.is_file() else load(organisation, given)


def check(organisation: Organisation, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    """The spec as it is saved under ``name``; ImportFailed naming the wrong name or option.
    A ledger mapping's name is not taken over."""
    problems = []
    if not NAME.match(name):
        problems.append(Problem(_("mapping"), None, "name",
                                _("a name of letters, digits, - and _ (at most 64)")))  # fmt: skip
    spec = {**{k: v for k, v in spec.items() if k != "name"}, "record": RECORD, "name": name}
    try:
        BankMapping.from_dict(spec, f"mapping {name!r}")
    except ImportFailed as failure:
        problems += failure.problems
    other = ImportMapping.objects.filter(organisation=organisation, name=name).first()
    if other is not None and not is_bank(other.spec):
        problems.append(Problem(_("mapping"), None, "name",
                                _("%(name)s is the name of a ledger mapping")
                                % {"name": repr(name)}))  # fmt: skip
    if problems:
        raise ImportFailed(problems)
    return spec


def check_file(organisation: Organisation, name: str, path: Path) -> dict[str, Any]:
    """``--save-mapping NAME`` with ``--mapping FILE``: the file's spec as it will be saved
    under ``name`` (``check``), read before anything is imported."""
    return check(organisation, name, read_spec(path))


def save(
    organisation: Organisation, name: str, spec: dict[str, Any], *, user: Any = None,
    user_id: int | None = None, request: Any = None,
) -> ImportMapping:  # fmt: skip
    """Save ``spec`` (a bank mapping's options) under ``name``, or replace the bank mapping of
    that name (``check``)."""
    spec = check(organisation, name, spec)
    mapping, created = ImportMapping.objects.update_or_create(
        organisation=organisation, name=name, defaults={"spec": spec}
    )
    trail.record(
        organisation, "bank.mapping_saved", user=user, user_id=user_id, target=mapping,
        summary=Text(gettext_noop("created bank mapping %(name)s") if created
                     else gettext_noop("changed bank mapping %(name)s"), {"name": name}),
        data={"mapping": name}, request=request,
    )  # fmt: skip
    return mapping
