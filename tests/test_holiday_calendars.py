"""The public holidays the run skips, loaded from the organisation's country's module alone
(``relance.lib.holiday_calendars``): the same calendar as the library's lookup, without
importing every country's module at the first run of a process."""

from __future__ import annotations

import os
import subprocess
import sys
import types

import holidays
import pytest

from relance.dunning.engine import public_holidays
from relance.lib import holiday_calendars

YEARS = [2026, 2027]
COUNTRIES = [("FR", "fr"), ("FR", "en"), ("FR", None), ("BE", "nl"), ("DE", "de"),
             ("GB", "en"), ("CH", "fr"), ("MC", "fr"), ("CA", "fr"), ("US", "en")]  # fmt: skip


@pytest.mark.parametrize(("country", "language"), COUNTRIES)
def test_it_gives_the_library_s_calendar(country, language):
    ours = holiday_calendars.country_holidays(country, YEARS, language)
    assert dict(ours) == dict(holidays.country_holidays(country, years=YEARS, language=language))
    assert len(ours) > 5


def test_an_unknown_country_has_no_holidays():
    with pytest.raises(NotImplementedError):
        holiday_calendars.country_holidays("ZZ", YEARS, "fr")
    assert public_holidays(types.SimpleNamespace(country="ZZ", language="fr"), YEARS) == {}


def test_the_run_s_first_call_loads_one_country_alone():
    """In a fresh process, as a day's run starts: Django set up, the engine imported, the
    holidays of France asked for; the package of every country's module stays unloaded."""
    code = (
        "import sys, types, django; django.setup()\n"
        "from relance.dunning.engine import public_holidays\n"
        "days = public_holidays(types.SimpleNamespace(country='FR', language='fr'), [2026])\n"
        "print(len(days), 'holidays.countries' in sys.modules)\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "relance.settings"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True).stdout.split()  # fmt: skip
    assert out == ["11", "False"]
