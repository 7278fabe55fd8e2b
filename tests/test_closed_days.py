"""The organisation's closure days in the engine's one calendar: a run on a closed day sends
nothing, what was due goes out on the next business day, and every page that shows a date
to come skips them the same way."""

from __future__ import annotations

import datetime as dt
from io import StringIO

import factories as make
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from relance.accounts.identity import IdentityError, add_closed_days, remove_closed_days
from relance.audit.models import AuditEvent
from relance.dunning.customer_view import customer_view
from relance.dunning.engine import calendar_for, public_holidays, run
from relance.dunning.models import Communication

pytestmark = pytest.mark.django_db

MONDAY = dt.date(2026, 11, 23)
TUESDAY = MONDAY + dt.timedelta(days=1)


@pytest.fixture
def dupont(org):
    make.scenario(org)
    return make.customer(org, "C1", legal_name="Dupont SAS")


def planned(org):
    return list(Communication.objects.filter(organisation=org).values_list("template", "run_date"))


def test_it_sends_nothing_on_a_closed_day_and_the_reminder_the_next_business_day(org, dupont):
    make.invoice(dupont, "F1", due=MONDAY - make.days(5))  # first reminder due on Monday
    add_closed_days(org, [MONDAY])

    closed = run(org, MONDAY)
    assert (closed.business_day, closed.holiday) == (False, "company closed")
    assert planned(org) == []

    run(org, TUESDAY)
    assert planned(org) == [("first_reminder", TUESDAY)]


def test_it_sends_on_the_same_day_once_it_is_open_again(org, dupont):
    make.invoice(dupont, "F1", due=MONDAY - make.days(5))
    add_closed_days(org, [MONDAY])
    remove_closed_days(org, [MONDAY])
    assert calendar_for(org, MONDAY).business_day
    run(org, MONDAY)
    assert planned(org) == [("first_reminder", MONDAY)]


def test_it_shows_the_next_step_after_the_closed_days(org, dupont):
    make.invoice(dupont, "F1", due=MONDAY - make.days(4))  # first reminder due Tuesday
    add_closed_days(org, ["2026-11-24", "2026-11-25"])
    view = customer_view(org, dupont, MONDAY)
    [item] = view.open_items
    assert item.next_step is not None
    assert item.next_step.on == dt.date(2026, 11, 26)


def test_it_keeps_the_days_sorted_once_and_audits_them(org):
    add_closed_days(org, ["2026-12-31", "2026-12-24", "2026-12-24"])
    org.refresh_from_db()
    assert org.closed_days == ["2026-12-24", "2026-12-31"]
    event = AuditEvent.objects.filter(action="organisation.settings_changed").last()
    assert event.data["changes"]["closed_days"] == {
        "old": [], "new": ["2026-12-24", "2026-12-31"],
    }  # fmt: skip
    with pytest.raises(IdentityError) as refused:
        add_closed_days(org, ["2026-02-30"])
    assert list(refused.value.errors) == ["closed_days"]


def test_it_sets_closed_days_from_the_command_line(org):
    call_command("org", "set", "--closed-days", "2026-12-24, 2026-12-31", stdout=StringIO())
    org.refresh_from_db()
    assert org.closed_days == ["2026-12-24", "2026-12-31"]
    with pytest.raises(CommandError, match="closed_days:"):
        call_command("org", "set", "--closed-days", "24/12/2026", stdout=StringIO())


def test_it_reads_the_public_holidays_the_run_skips(org):
    holidays = public_holidays(org, [2026, 2027])
    assert holidays[dt.date(2026, 12, 25)] == "Noël"
    assert dt.date(2027, 7, 14) in holidays
    assert not calendar_for(org, dt.date(2027, 7, 14)).business_day
