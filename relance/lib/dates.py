"""Calendar arithmetic shared by the engine, the demo and the reports."""

from __future__ import annotations

import calendar
import datetime as dt


def add_months(day: dt.date, months: int) -> dt.date:
    """The same day ``months`` later (or earlier), the month's last day when it is shorter:
    31 January + 1 month = 28 or 29 February."""
    year, month = divmod(day.year * 12 + day.month - 1 + months, 12)
    return dt.date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


# The dates Relance computes with. The engine adds offsets, gaps and payment terms (each at
# most ten years) to due dates, and reports count back from a date: far from year 1 and
# year 9999, where Python's dates end, none of it can overflow. Every date a person gives
# (an option, a cell of an import) is checked against this one range.
FIRST_DAY = dt.date(1900, 1, 1)
LAST_DAY = dt.date(2999, 12, 31)


def out_of_range(day: dt.date) -> str | None:
    """Why ``day`` cannot be used (outside FIRST_DAY..LAST_DAY), or None when it can."""
    if FIRST_DAY <= day <= LAST_DAY:
        return None
    return f"{day.isoformat()} is outside the dates Relance handles ({FIRST_DAY} to {LAST_DAY})"
