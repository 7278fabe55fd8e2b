"""One country's public holidays from the ``holidays`` library, loading that country's module
alone.

The library finds a country through its package ``holidays.countries``, whose ``__init__``
imports the modules of every country it knows (some three hundred): about 0.1 s of CPU at
the first call in a process, the dunning run's included. The registry names the module of
each country, so the one needed is loaded from its file; anything unforeseen (a library
whose layout changed, a country whose module imports another's) falls back to the
library's own lookup, which gives the same calendar.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

import holidays

_PACKAGE = "holidays.countries"
_loaded: dict[str, Any] = {}  # module name -> the module loaded here


def country_holidays(
    country: str, years: Iterable[int], language: str | None = None
) -> holidays.HolidayBase:
    """As ``holidays.country_holidays(country, years=..., language=...)``, which raises
    ``NotImplementedError`` for a country the library does not know."""
    entity = None if _PACKAGE in sys.modules else _entity(country)
    if entity is None:
        return holidays.country_holidays(country, years=list(years), language=language)
    calendar: holidays.HolidayBase = entity(years=list(years), language=language)
    return calendar


def _entity(country: str) -> Any:
    """The class of ``country`` from its own module, or None to let the library find it."""
    try:
        from holidays.registry import COUNTRIES

        found = [module for module, names in COUNTRIES.items() if country in names]
        if len(found) != 1:
            return None
        module, names = found[0], COUNTRIES[found[0]]
        loaded = _loaded.get(module) or _load(module)
        return None if loaded is None else getattr(loaded, names[0], None)
    except Exception:  # the library's lookup is always there to fall back on
        return None


def _load(module: str) -> ModuleType | None:
    path = Path(holidays.__file__).parent / "countries" / f"{module}.py"
    name = f"{_PACKAGE}.{module}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        return None
    loaded = importlib.util.module_from_spec(spec)
    # Not registered in sys.modules: the package, if imported later, loads its own copy.
    spec.loader.exec_module(loaded)
    _loaded[module] = loaded
    return loaded
