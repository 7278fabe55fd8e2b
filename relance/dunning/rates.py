"""Late-payment rate tables: the CSV files shipped with Relance, merged with the rates an
administrator added (``Rate`` rows; the database wins on the same series and date).

Each series is a sorted step function of ``(date, percent)`` rows. How a day finds its rate
(``RateTable.rate_on``) depends on what the rows mean, and never guesses a missing one:

``ecb_mro`` (step)
    A row is a change of the ECB main refinancing rate, effective on its date; the rate on
    a day is the last row on or before it. The ECB publishes only changes, so the last
    known rate keeps applying after the last row: that is what "the rate in force on
    1 January / 1 July" means (directive 2011/7/EU) once a row on or before that date is
    known. Before the first row: ``RateUnknown``. A penalty based on the last row says so
    in its notes (a later ECB decision may be missing: ``relance rates add``).

``fr_late_penalty_default``, ``fr_late_penalty_floor``, ``fr_legal_professionals``,
``fr_legal_individuals`` (half-year)
    One row per half-year, dated 1 January or 1 July: the French legal rate is fixed by an
    *arrêté* every half-year, and the default penalty rate is frozen on 1 January / 1 July
    (L441-10 II). A day takes the row of its own half-year, exactly. A missing half-year
    (after the last row — the shipped tables stop at 2026-H1 —, before the first, or a gap)
    raises ``RateUnknown`` naming the series and the half-year: the previous half-year's
    rate is never carried forward.

``uk_boe_reference`` (reference date)
    A row is the Bank of England Bank Rate *on* a reference date: 31 December for 1 January
    to 30 June, 30 June for 1 July to 31 December (Late Payment of Commercial Debts
    (Interest) Act 1998). A day takes the row of its period's reference date, exactly; a
    missing one raises ``RateUnknown``. The rows are samples, not changes: the shipped table
    has no 30 June row for 2020-2023, and the 31 December row before it is not the rate of
    30 June (e.g. 0.75 % on 2019-12-31, 0.10 % on 2020-06-30).

The shipped CSV files are read once per process and kept in memory; the database rows are
read on every load, so a rate an administrator adds applies at once.
"""

from __future__ import annotations

import csv
import enum
import functools
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from importlib import resources
from pathlib import Path

from django.utils.translation import gettext_noop

from relance.lib.dates import out_of_range
from relance.lib.sentences import Sentence

SERIES = (
    "ecb_mro",
    "fr_late_penalty_default",
    "fr_late_penalty_floor",
    "fr_legal_professionals",
    "fr_legal_individuals",
    "uk_boe_reference",
)
# The names of the files in the shared rate histories, accepted by `relance rates refresh`.
FILE_ALIASES = {
    "ecb_mro_rates": "ecb_mro",
    "fr_late_penalty_default_rate": "fr_late_penalty_default",
    "fr_late_penalty_floor_rate": "fr_late_penalty_floor",
    "fr_legal_interest_rate_professionals": "fr_legal_professionals",
    "fr_legal_interest_rate_individuals": "fr_legal_individuals",
    "uk_boe_bank_rate_reference_dates": "uk_boe_reference",
}
HEADER = ("date", "rate_percent", "source")
SHIPPED = "shipped"
DATABASE = "database"


class Kind(enum.Enum):
    STEP = "step"
    HALF_YEAR = "half-year"
    REFERENCE_DATE = "reference date"


KINDS = {
    "ecb_mro": Kind.STEP,
    "fr_late_penalty_default": Kind.HALF_YEAR,
    "fr_late_penalty_floor": Kind.HALF_YEAR,
    "fr_legal_professionals": Kind.HALF_YEAR,
    "fr_legal_individuals": Kind.HALF_YEAR,
    "uk_boe_reference": Kind.REFERENCE_DATE,
}

# How `relance rates fetch` brings each series once published (docs/penalties.md).
FETCH_HINT = {
    "ecb_mro": "relance rates fetch --ecb",
    "fr_late_penalty_default": "relance rates fetch --ecb",
    "fr_late_penalty_floor": "relance rates fetch --french FILE",
    "fr_legal_professionals": "relance rates fetch --french FILE",
    "fr_legal_individuals": "relance rates fetch --french FILE",
    "uk_boe_reference": "relance rates fetch --boe",
}

KIND_HELP = {
    Kind.STEP: "a rate applies from its date until the next row",
    Kind.HALF_YEAR: "one row per half-year, dated 1 January or 1 July",
    Kind.REFERENCE_DATE: "the rate on 31 December (for January-June) or 30 June (July-December)",
}


@dataclass(frozen=True)
class MissingRate:
    """What ``RateUnknown`` says, in parts: the series, the day asked, the date its missing
    row would have (``wanted``: the half-year's first day, the UK reference date, the day
    itself for the ECB's changes) and the range Relance knows (its first and last rows).
    Each surface says them its way: ``for_command`` with the command that adds the rate
    (the command line, the record), ``for_reader`` in words (the console, documents)."""

    series: str
    day: date
    wanted: date
    first: date | None
    last: date | None

    @property
    def kind(self) -> Kind:
        return KINDS[self.series]

    @property
    def period(self) -> str:
        """``2026-H2``, or the day for a series of changes."""
        return self.day.isoformat() if self.kind is Kind.STEP else half_year_label(self.day)

    @property
    def fetch(self) -> str:
        return FETCH_HINT[self.series]

    def _known(self) -> tuple[str, date]:
        """What Relance knows of the series, against the row missing: ``none``, ``up_to``
        or ``from`` (with the first day of the period of its last or first row: a UK
        reference date is for the half-year after it) or a ``gap`` in between."""
        if self.first is None or self.last is None:
            return "none", self.day
        if self.wanted > self.last:
            case, row = "up_to", self.last
        elif self.wanted < self.first:
            case, row = "from", self.first
        else:
            return "gap", self.day
        return case, row + timedelta(days=1) if self.kind is Kind.REFERENCE_DATE else row

    def for_command(self) -> Sentence:
        if self.kind is Kind.STEP:
            first = Sentence(FIRST_ROW, {"day": self.first}) if self.first else Sentence(NO_ROW)
            values = {"series": self.series, "day": self.day, "known": first}
            return Sentence(NO_RATE_ON, values)
        case, period = self._known()
        known = {
            "none": Sentence(NO_ROW_OF_IT),
            "up_to": Sentence(KNOWN_UP_TO, {"period": half_year_label(period)}),
            "from": Sentence(KNOWN_FROM, {"period": half_year_label(period)}),
            "gap": Sentence(NO_ROW_FOR_HALF_YEAR),
        }[case]
        what = (
            Sentence(RATE)
            if self.kind is Kind.HALF_YEAR
            else Sentence(BANK_RATE, {"day": self.wanted})
        )
        values = {
            "series": self.series, "what": what, "period": self.period,
            "start": half_year_start(self.day), "end": half_year_end(self.day), "known": known,
            "fetch": self.fetch,
            "wanted": self.wanted.isoformat(),  # in a command: as the command line reads it
        }  # fmt: skip
        return Sentence(NO_RATE_FOR, values)

    def for_reader(self) -> Sentence:
        """Which rate is missing for which period, and what Relance knows of it: no series
        code, no command (a page adds who adds it)."""
        case, period = self._known()
        if self.kind is Kind.STEP:
            known = (
                Sentence(READER_KNOWN_FROM_DAY, {"day": period})
                if case == "from"
                else Sentence(READER_NONE_KNOWN)
            )
            rate = Sentence(READER_RATES[self.series])
            return Sentence(READER_NO_RATE_ON, {"rate": rate, "day": self.day, "known": known})
        if self.kind is Kind.REFERENCE_DATE:
            rate = Sentence(READER_RATES[self.series], {"day": self.wanted})
        else:
            rate = Sentence(READER_RATES[self.series])
        known = {
            "none": Sentence(READER_NONE_KNOWN),
            "up_to": Sentence(READER_KNOWN_UP_TO, {"half": _half(period)}),
            "from": Sentence(READER_KNOWN_FROM, {"half": _half(period)}),
            "gap": Sentence(READER_GAP),
        }[case]
        return Sentence(READER_NO_RATE_FOR, {
            "rate": rate, "half": _half(self.day), "start": half_year_start(self.day),
            "end": half_year_end(self.day), "known": known,
        })  # fmt: skip


def _half(day: date) -> Sentence:
    message = READER_FIRST_HALF if day.month <= 6 else READER_SECOND_HALF
    return Sentence(message, {"year": str(day.year)})


class RateUnknown(LookupError):
    """No rate is known for the period asked: it must be added. Carries the parts
    (``missing``); its text is them said for the command line, in English (``sentence``)."""

    def __init__(self, missing: MissingRate) -> None:
        self.missing = missing
        self.series = missing.series
        self.period = missing.period
        self.sentence = missing.for_command()
        super().__init__(str(self.sentence))


# Why no rate is known (RateUnknown), said for the command line: each kind and its parts.
NO_RATE_ON = gettext_noop(
    "No %(series)s rate on %(day)s: %(known)s. Add the rate in force then with: relance rates"
    " add %(series)s YYYY-MM-DD PERCENT --source TEXT"
)
FIRST_ROW = gettext_noop("its first row is %(day)s")
NO_ROW = gettext_noop("it has no row")
NO_RATE_FOR = gettext_noop(
    "No %(series)s %(what)s for %(period)s (%(start)s to %(end)s): %(known)s. An administrator"
    " adds it, once published, with: %(fetch)s, or relance rates add %(series)s %(wanted)s"
    " PERCENT --source TEXT"
)
RATE = gettext_noop("rate")
BANK_RATE = gettext_noop("rate (Bank Rate on %(day)s)")
NO_ROW_OF_IT = gettext_noop("Relance has no row of it")
KNOWN_UP_TO = gettext_noop("Relance knows it up to %(period)s and never carries a rate forward")
KNOWN_FROM = gettext_noop("Relance knows it from %(period)s only")
NO_ROW_FOR_HALF_YEAR = gettext_noop("the table has no row for that half-year")

# The same, said to a reader of the console or a document: the rate by its name, the
# period in words, its dates the reader's way; no code, no command.
READER_RATES = {
    "ecb_mro": gettext_noop("main refinancing rate of the ECB"),
    "fr_late_penalty_default": gettext_noop("default late-payment penalty rate"),
    "fr_late_penalty_floor": gettext_noop("minimum late-payment penalty rate"),
    "fr_legal_professionals": gettext_noop("legal interest rate (professional creditors)"),
    "fr_legal_individuals": gettext_noop("legal interest rate (individual creditors)"),
    "uk_boe_reference": gettext_noop("Bank of England Bank Rate of %(day)s"),
}
READER_NO_RATE_FOR = gettext_noop(
    "No %(rate)s is known for the %(half)s (%(start)s to %(end)s): %(known)s."
)
READER_NO_RATE_ON = gettext_noop("No %(rate)s is known on %(day)s: %(known)s.")
READER_FIRST_HALF = gettext_noop("first half of %(year)s")
READER_SECOND_HALF = gettext_noop("second half of %(year)s")
READER_KNOWN_UP_TO = gettext_noop(
    "Relance knows it up to the %(half)s and never carries a rate over to the next half-year"
)
READER_KNOWN_FROM = gettext_noop("Relance knows it from the %(half)s only")
READER_KNOWN_FROM_DAY = gettext_noop("Relance knows it from %(day)s only")
READER_NONE_KNOWN = gettext_noop("Relance knows none of its values")
READER_GAP = gettext_noop("Relance does not know it for that half-year")


class RateInputError(ValueError):
    """A series, date or percent that cannot be a rate; the message names the field."""


# --- Half-years -------------------------------------------------------------------------


def half_year_start(day: date) -> date:
    return date(day.year, 1 if day.month <= 6 else 7, 1)


def half_year_end(day: date) -> date:
    return date(day.year, 6, 30) if day.month <= 6 else date(day.year, 12, 31)


def half_year_label(day: date) -> str:
    return f"{day.year}-H{1 if day.month <= 6 else 2}"


def uk_reference_date(day: date) -> date:
    """The date whose Bank Rate applies to ``day`` (Late Payment Act 1998, s. 6)."""
    if day.month <= 6:
        return date(day.year - 1, 12, 31)
    return date(day.year, 6, 30)


# --- Tables -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RateRow:
    date: date
    percent: Decimal
    source: str = ""
    origin: str = SHIPPED


@dataclass(frozen=True)
class RateTable:
    """One series, sorted by date, one row per date."""

    series: str
    rows: tuple[RateRow, ...]

    @property
    def kind(self) -> Kind:
        return KINDS[self.series]

    @property
    def steps(self) -> list[tuple[date, Decimal]]:
        return [(row.date, row.percent) for row in self.rows]

    @property
    def last(self) -> RateRow | None:
        return self.rows[-1] if self.rows else None

    def rate_on(self, day: date) -> Decimal:
        return self.row_for(day).percent

    def row_for(self, day: date) -> RateRow:
        """The row that applies to ``day`` (see the module's docstring for each kind)."""
        if self.kind is Kind.STEP:
            return self._in_force_on(day)
        wanted = half_year_start(day) if self.kind is Kind.HALF_YEAR else uk_reference_date(day)
        for row in self.rows:
            if row.date == wanted:
                return row
        raise self._unknown(day, wanted)

    def _in_force_on(self, day: date) -> RateRow:
        found = None
        for row in self.rows:
            if row.date > day:
                break
            found = row
        if found is None:
            raise self._unknown(day, day)
        return found

    def _unknown(self, day: date, wanted: date) -> RateUnknown:
        first, last = (self.rows[0].date, self.rows[-1].date) if self.rows else (None, None)
        return RateUnknown(MissingRate(self.series, day, wanted, first, last))


def merge(series: str, shipped: Iterable[RateRow], added: Iterable[RateRow]) -> RateTable:
    """The shipped rows overridden by the added ones on the same date, sorted."""
    by_date = {row.date: row for row in shipped}
    by_date.update({row.date: row for row in added})
    return RateTable(series, tuple(by_date[day] for day in sorted(by_date)))


# --- Validation and CSV -----------------------------------------------------------------


def check_series(text: str) -> str:
    if text not in KINDS:
        raise RateInputError(f"unknown series {text!r}: use one of {', '.join(SERIES)}")
    return text


def parse_date(text: str) -> date:
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise RateInputError(f"{text!r} is not a date: use YYYY-MM-DD") from None
    if problem := out_of_range(day):
        raise RateInputError(problem)
    return day


def parse_percent(text: str) -> Decimal:
    """A percent as written by people: ``2.15`` (or ``2,15``), at most 4 decimals."""
    cleaned = text.strip().replace(",", ".")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        value = Decimal("NaN")
    # Same bounds as the Rate.percent column (7 digits, 4 decimals).
    exponent = value.as_tuple().exponent
    if not value.is_finite() or not isinstance(exponent, int) or exponent < -4:
        raise RateInputError(f"{text!r} is not a percent: use e.g. 2.15 (at most 4 decimals)")
    if abs(value) >= 1000:
        raise RateInputError(f"{text!r} is not a plausible percent (under 1000)")
    return value


def check_date(series: str, day: date) -> date:
    """A half-year rate is dated 1 Jan / 1 Jul, a UK reference rate 31 Dec / 30 Jun."""
    kind = KINDS[series]
    if kind is Kind.HALF_YEAR and (day.day, day.month) not in {(1, 1), (1, 7)}:
        raise RateInputError(
            f"{day} is not the first day of a half-year: {series} rates are dated "
            "1 January or 1 July (YYYY-01-01 or YYYY-07-01)"
        )
    if kind is Kind.REFERENCE_DATE and (day.day, day.month) not in {(30, 6), (31, 12)}:
        raise RateInputError(
            f"{day} is not a reference date: {series} rates are dated 31 December (for "
            "January-June of the next year) or 30 June (for July-December)"
        )
    return day


def series_of_file(path: Path) -> str:
    stem = path.stem
    series = FILE_ALIASES.get(stem, stem)
    if series not in KINDS:
        names = ", ".join(f"{name}.csv" for name in SERIES)
        raise RateInputError(f"{path}: the file name does not name a series; use one of {names}")
    return series


def parse_csv(text: str, series: str, name: str) -> list[RateRow]:
    """Rows of a ``date,rate_percent,source`` file; errors name the file, row and field."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    header = tuple(cell.strip() for cell in next(reader, []))
    if header[:2] != HEADER[:2] or header[2:] not in {(), HEADER[2:]}:
        raise RateInputError(f"{name}, row 1: the header must be {','.join(HEADER)}")
    rows: dict[date, RateRow] = {}
    for number, cells in enumerate(reader, start=2):
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) not in {2, len(header)}:
            raise RateInputError(
                f"{name}, row {number}: {len(cells)} fields, expected {len(header)} "
                "(quote a source that contains commas)"
            )
        row = _parse_row(cells, series, f"{name}, row {number}")
        if row.date in rows:
            raise RateInputError(f"{name}, row {number}, field date: {row.date} appears twice")
        rows[row.date] = row
    return sorted(rows.values(), key=lambda row: row.date)


def _parse_row(cells: Sequence[str], series: str, where: str) -> RateRow:
    try:
        day = check_date(series, parse_date(cells[0]))
    except RateInputError as exc:
        raise RateInputError(f"{where}, field date: {exc}") from None
    try:
        percent = parse_percent(cells[1])
    except RateInputError as exc:
        raise RateInputError(f"{where}, field rate_percent: {exc}") from None
    source = cells[2].strip() if len(cells) > 2 else ""
    return RateRow(day, percent, source)


def read_csv_file(path: Path, series: str | None = None) -> tuple[str, list[RateRow]]:
    """The series (from the file name unless given) and the rows of a CSV file."""
    series = check_series(series) if series else series_of_file(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise RateInputError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise RateInputError(f"{path}: {exc.strerror or exc}") from None
    return series, parse_csv(text, series, str(path))


# --- Loading ----------------------------------------------------------------------------


@functools.cache
def shipped_rows(series: str) -> tuple[RateRow, ...]:
    """The rows of the CSV file shipped in ``relance/dunning/data/rates`` (read once)."""
    name = f"{check_series(series)}.csv"
    text = resources.files("relance.dunning").joinpath("data", "rates", name).read_text("utf-8")
    return tuple(parse_csv(text, series, name))


def shipped_table(series: str) -> RateTable:
    """The shipped table alone, without the database: for pure computations and tests."""
    return RateTable(series, shipped_rows(series))


def load_tables(series: Iterable[str]) -> dict[str, RateTable]:
    """The merged tables of the given series, in one query."""
    from relance.dunning.models import Rate

    wanted = sorted({check_series(name) for name in series})
    added: dict[str, list[RateRow]] = {name: [] for name in wanted}
    for rate in Rate.objects.filter(series__in=wanted).order_by("series", "date"):
        percent = tidy(Decimal(rate.percent))
        added[rate.series].append(RateRow(rate.date, percent, rate.source, DATABASE))
    return {name: merge(name, shipped_rows(name), added[name]) for name in wanted}


def tidy(percent: Decimal) -> Decimal:
    """The column keeps 4 decimals (2.5500): show 2.55 as the published tables do."""
    cents = percent.quantize(Decimal("0.01"))
    return cents if cents == percent else percent.normalize()


def load_table(series: str) -> RateTable:
    return load_tables([series])[series]


@dataclass(frozen=True)
class Upserted:
    created: int = 0
    updated: int = 0
    unchanged: int = 0


def upsert(series: str, rows: Iterable[RateRow]) -> Upserted:
    """Store rows in the database, by series and date; the caller holds the transaction."""
    from relance.dunning.models import Rate

    check_series(series)
    rows = list(rows)
    existing = {
        rate.date: rate
        for rate in Rate.objects.filter(series=series, date__in=[row.date for row in rows])
    }
    created = updated = unchanged = 0
    for row in rows:
        rate = existing.get(row.date)
        if rate is None:
            Rate.objects.create(
                series=series, date=row.date, percent=row.percent, source=row.source
            )
            created += 1
        elif rate.percent != row.percent or rate.source != row.source:
            rate.percent, rate.source = row.percent, row.source
            rate.save(update_fields=["percent", "source"])
            updated += 1
        else:
            unchanged += 1
    return Upserted(created, updated, unchanged)
