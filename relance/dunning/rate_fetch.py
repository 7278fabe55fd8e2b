"""Late-payment rates read from their publishers (`relance rates fetch`, docs/penalties.md).

- ``ecb_mro``: the ECB Data Portal's SDMX REST API, series ``FM.B.U2.EUR.4F.KR.MRR_FR.LEV``
  (main refinancing operations, fixed rate, dated by the changes: the shipped table's
  meaning), as ``format=csvdata``, the whole series. Consecutive equal observations are
  folded into one change, so the daily series (``FM.D…``) would give the same rows. The
  rows compared start with the change in force on ``since``.
- ``uk_boe_reference``: the Bank of England's Interactive Database, series ``IUDBEDR``
  (Bank Rate, one value per business day), its CSV export. A reference date (31 December,
  30 June) gets a row only once the published series has reached it: the rate *on* that
  day is then the last value on or before it (a weekend takes the Friday's).
- ``fr_legal_professionals`` / ``fr_legal_individuals``: the French legal rates are fixed
  by an *arrêté* each half-year, published as a text, not as data: the administrator writes
  them in a small CSV file (``FRENCH_HEADER``) that this module checks.

The derived French series are derived here with the rules of ``relance.dunning.penalties``
(``fr_default_rate``, ``fr_floor_rate``): the default rate of each half-year that has begun
once the ECB rates are fetched, the floor of each half-year of a French file.

A row is compared with the table as Relance has it (shipped + database): the same percent
changes nothing (whatever its source), a new date is added, another percent for a known date
is a conflict, replaced only when asked. Everything is read and checked before the one
transaction that writes; a publisher unreachable or answering something unexpected raises
``PublisherError`` naming it, and nothing is written.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from django_tasks import task

from relance.dunning.penalties import (
    FR_HALF_YEAR_RULE_SINCE,
    fr_default_rate,
    fr_floor_rate,
)
from relance.dunning.rates import (
    SERIES,
    RateInputError,
    RateRow,
    RateTable,
    RateUnknown,
    check_date,
    load_tables,
    merge,
    parse_date,
    parse_percent,
    tidy,
)

ECB_FLOW = "FM"
ECB_KEY = "B.U2.EUR.4F.KR.MRR_FR.LEV"
BOE_SERIES = "IUDBEDR"
BOE_PATH = "/boeapps/database/_iadb-fromshowcolumns.asp"
USER_AGENT = "Relance (relance rates fetch)"
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
FRENCH_HEADER = ("date", "professionals", "individuals", "source")
ECB_NAME = "ECB Data Portal"
BOE_NAME = "Bank of England database"
Observations = list[tuple[date, Decimal]]


class PublisherError(Exception):
    """A publisher could not be reached or answered something unexpected."""


# --- Requests ---------------------------------------------------------------------------


def ecb_url(base: str) -> str:
    """The whole series (about fifty changes since 1999): the rate in force on ``since`` is
    the last change before it, which a query from ``since`` would not return."""
    query = urlencode({"format": "csvdata", "detail": "dataonly"})
    return f"{base.rstrip('/')}/service/data/{ECB_FLOW}/{ECB_KEY}?{query}"


def boe_date(day: date) -> str:
    """The database's own date format in its queries: 01/Jan/2025 (English months)."""
    return f"{day.day:02d}/{MONTHS[day.month - 1]}/{day.year}"


def boe_url(base: str, since: date, today: date) -> str:
    # A week before the first reference date: its rate is the last business day's.
    query = {
        "csv.x": "yes",
        "Datefrom": boe_date(since - timedelta(days=14)),
        "Dateto": boe_date(today),
        "SeriesCodes": BOE_SERIES,
        "CSVF": "TN",  # tabular, no titles: a DATE column, then one column per series
        "UsingCodes": "Y",
        "VPD": "Y",
        "VFD": "N",
    }
    return f"{base.rstrip('/')}{BOE_PATH}?{urlencode(query)}"


@dataclass(frozen=True)
class Answer:
    status: int
    text: str


def get(name: str, url: str, timeout: float) -> Answer:
    """One GET; a network failure is a ``PublisherError`` naming the publisher."""
    import requests

    try:
        response = requests.get(url, timeout=timeout, headers={"User-Agent": USER_AGENT})
    except requests.RequestException as exc:
        raise PublisherError(f"{name} unreachable ({url}): {exc}") from None
    response.encoding = response.encoding or "utf-8"
    return Answer(response.status_code, response.text)


def _unexpected(name: str, url: str, answer: Answer, what: str) -> PublisherError:
    start = " ".join(answer.text.strip().split())[:160]
    return PublisherError(
        f"{name} answered {what} ({url}, HTTP {answer.status}): {start or 'an empty body'}"
    )


# --- Parsing the publishers' answers (pure) ---------------------------------------------


def parse_ecb_csv(answer: Answer, url: str) -> Observations:
    """The (TIME_PERIOD, OBS_VALUE) pairs of an SDMX-CSV answer. The API says "404 No
    results found." for a query without observations: for the whole series, an error."""
    if answer.status != 200:
        raise _unexpected(ECB_NAME, url, answer, "an error")
    rows = list(csv.reader(io.StringIO(answer.text.lstrip("\ufeff"))))
    header = [cell.strip() for cell in rows[0]] if rows else []
    if "TIME_PERIOD" not in header or "OBS_VALUE" not in header:
        raise _unexpected(ECB_NAME, url, answer, "something that is not SDMX-CSV")
    at_day, at_value = header.index("TIME_PERIOD"), header.index("OBS_VALUE")
    at_key = header.index("KEY") if "KEY" in header else None
    found = []
    for number, cells in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) != len(header):
            raise _unexpected(ECB_NAME, url, answer, f"a malformed row {number}")
        if at_key is not None and cells[at_key] != f"{ECB_FLOW}.{ECB_KEY}":
            raise _unexpected(ECB_NAME, url, answer, f"another series, {cells[at_key]!r}")
        if cells[at_value].strip() in {"", "NaN"}:
            continue  # no value that day: not a change
        try:
            found.append((date.fromisoformat(cells[at_day]), _decimal(cells[at_value])))
        except ValueError:
            raise _unexpected(ECB_NAME, url, answer, f"an unreadable row {number}") from None
    if not found:
        raise _unexpected(ECB_NAME, url, answer, "no observation")
    return sorted(found)


def parse_boe_csv(answer: Answer, url: str) -> Observations:
    """The (DATE, IUDBEDR) pairs of the database's CSV export; dates are "02 Jan 2025"."""
    if answer.status != 200:
        raise _unexpected(BOE_NAME, url, answer, "an error")
    rows = list(csv.reader(io.StringIO(answer.text.lstrip("\ufeff"))))
    header = [cell.strip() for cell in rows[0]] if rows else []
    # An unknown series or a bad query gets an HTML page, with status 200.
    if header[:1] != ["DATE"] or BOE_SERIES not in header:
        raise _unexpected(BOE_NAME, url, answer, f"something that is not the {BOE_SERIES} CSV")
    at_value = header.index(BOE_SERIES)
    found = []
    for number, cells in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) != len(header):
            raise _unexpected(BOE_NAME, url, answer, f"a malformed row {number}")
        if cells[at_value].strip() in {"", ".."}:
            continue  # ".." is the database's missing value
        try:
            found.append((_boe_day(cells[0]), _decimal(cells[at_value])))
        except ValueError:
            raise _unexpected(BOE_NAME, url, answer, f"an unreadable row {number}") from None
    return sorted(found)


def _boe_day(text: str) -> date:
    """ "02 Jan 2025" whatever the machine's locale (strptime's %b follows it)."""
    day, month, year = text.split()
    if month not in MONTHS:
        raise ValueError(text)
    return date(int(year), MONTHS.index(month) + 1, int(day))


def _decimal(text: str) -> Decimal:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise ValueError(text) from None
    if not value.is_finite():
        raise ValueError(text)
    return tidy(value)


def changes(observations: Observations, before: Decimal | None) -> Observations:
    """The observations where the rate changes, ``before`` the rate in force until the first."""
    found = []
    for day, percent in observations:
        if percent != before:
            found.append((day, percent))
        before = percent
    return found


def reference_rates(observations: Observations, since: date) -> Observations:
    """The Bank Rate on each 31 December / 30 June from ``since`` that the (daily, business
    days) series has reached: the last value on or before that day."""
    if not observations:
        return []
    last = observations[-1][0]
    found = []
    year = since.year
    while date(year, 6, 30) <= last:
        for day in (date(year, 6, 30), date(year, 12, 31)):
            if since <= day <= last:
                earlier = [percent for seen, percent in observations if seen <= day]
                if earlier:
                    found.append((day, earlier[-1]))
        year += 1
    return found


# --- The French file --------------------------------------------------------------------


def read_french_file(path: Path) -> dict[str, list[RateRow]]:
    """``date,professionals,individuals,source``: one row per half-year (1 January / 1 July),
    the two legal rates of its arrêté, and the arrêté itself. Errors name the row and field."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise RateInputError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise RateInputError(f"{path}: {exc.strerror or exc}") from None
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    header = tuple(cell.strip() for cell in next(reader, []))
    if header != FRENCH_HEADER:
        raise RateInputError(f"{path}, row 1: the header must be {','.join(FRENCH_HEADER)}")
    found: dict[str, list[RateRow]] = {"fr_legal_professionals": [], "fr_legal_individuals": []}
    seen: set[date] = set()
    for number, cells in enumerate(reader, start=2):
        if not any(cell.strip() for cell in cells):
            continue
        where = f"{path}, row {number}"
        if len(cells) != len(FRENCH_HEADER):
            raise RateInputError(
                f"{where}: {len(cells)} fields, expected {len(FRENCH_HEADER)} "
                "(quote a source that contains commas)"
            )
        values = dict(zip(FRENCH_HEADER, cells, strict=True))
        try:
            day = check_date("fr_legal_professionals", parse_date(values["date"]))
        except RateInputError as exc:
            raise RateInputError(f"{where}, field date: {exc}") from None
        if day in seen:
            raise RateInputError(f"{where}, field date: {day} appears twice")
        seen.add(day)
        source = values["source"].strip()
        if not source:
            raise RateInputError(f"{where}, field source: name the arrêté that fixes the rates")
        for column, series in (
            ("professionals", "fr_legal_professionals"),
            ("individuals", "fr_legal_individuals"),
        ):
            try:
                percent = parse_percent(values[column])
            except RateInputError as exc:
                raise RateInputError(f"{where}, field {column}: {exc}") from None
            found[series].append(RateRow(day, percent, f"{source} ({column})"))
    return found


# --- Comparing with the tables (pure) ---------------------------------------------------


@dataclass(frozen=True)
class Conflict:
    date: date
    current: Decimal
    origin: str
    published: Decimal
    source: str
    replaced: bool


@dataclass
class SeriesReport:
    series: str
    added: list[RateRow] = field(default_factory=list)
    unchanged: list[date] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)

    @property
    def written(self) -> list[RateRow]:
        replaced = [RateRow(c.date, c.published, c.source) for c in self.conflicts if c.replaced]
        return sorted([*self.added, *replaced], key=lambda row: row.date)

    def as_dict(self) -> dict[str, Any]:
        return {
            "added": [
                {"date": row.date, "percent": row.percent, "source": row.source}
                for row in self.added
            ],
            "unchanged": len(self.unchanged),
            "conflicts": [
                {
                    "date": c.date,
                    "current": c.current,
                    "current_origin": c.origin,
                    "published": c.published,
                    "source": c.source,
                    "replaced": c.replaced,
                }
                for c in self.conflicts
            ],
        }


def compare(table: RateTable, rows: Iterable[RateRow], replace: bool) -> SeriesReport:
    report = SeriesReport(table.series)
    known = {row.date: row for row in table.rows}
    for row in rows:
        current = known.get(row.date)
        if current is None:
            report.added.append(row)
        elif current.percent == row.percent:
            report.unchanged.append(row.date)
        else:
            report.conflicts.append(
                Conflict(row.date, current.percent, current.origin, row.percent, row.source,
                         replace)
            )  # fmt: skip
    return report


def after(table: RateTable, report: SeriesReport) -> RateTable:
    """The table as it will be once the report is written."""
    return merge(table.series, table.rows, report.written)


def half_years_between(first: date, last: date) -> list[date]:
    """The 1 January / 1 July from ``first`` to ``last``, both included."""
    found = []
    for year in range(first.year, last.year + 1):
        found += [day for day in (date(year, 1, 1), date(year, 7, 1)) if first <= day <= last]
    return found


def derived_defaults(ecb: RateTable, since: date, today: date, source: str) -> list[RateRow]:
    """The French default rate of each half-year begun from ``since`` to ``today``."""
    rows = []
    for start in half_years_between(max(since, FR_HALF_YEAR_RULE_SINCE), today):
        try:
            in_force = ecb.rate_on(start)
        except RateUnknown:
            continue
        text = (
            f"DERIVED: ECB MRO rate in force on {start} ({in_force:f}%) + 10 points, "
            f"Code de commerce L441-10 II; {source}"
        )
        rows.append(RateRow(start, tidy(fr_default_rate(ecb, start)), text))
    return rows


def derived_floors(legal: Sequence[RateRow]) -> list[RateRow]:
    return [
        RateRow(
            row.date,
            tidy(fr_floor_rate(row.percent)),
            f"DERIVED: 3 x taux de l'intérêt légal (professionnels) {row.percent:f}%, "
            f"minimum contractual rate under L441-10 II; {row.source}",
        )
        for row in legal
    ]


# --- The whole fetch --------------------------------------------------------------------


@dataclass
class FetchReport:
    fetched_on: date
    since: date
    dry_run: bool
    sources: dict[str, str] = field(default_factory=dict)
    series: dict[str, SeriesReport] = field(default_factory=dict)

    @property
    def conflicts(self) -> list[tuple[str, Conflict]]:
        return [(name, c) for name, report in self.series.items() for c in report.conflicts]

    def as_dict(self) -> dict[str, Any]:
        return {
            "fetched_on": self.fetched_on,
            "since": self.since,
            "dry_run": self.dry_run,
            "sources": self.sources,
            "series": {name: report.as_dict() for name, report in self.series.items()},
        }


@dataclass(frozen=True)
class Publishers:
    ecb_url: str
    boe_url: str
    timeout: float

    @classmethod
    def from_settings(cls) -> Publishers:
        from django.conf import settings

        return cls(
            settings.RELANCE_RATES_ECB_URL,
            settings.RELANCE_RATES_BOE_URL,
            float(settings.RELANCE_RATES_TIMEOUT),
        )


def default_since(today: date) -> date:
    """From 1 January of last year: last year's reference dates and half-years included."""
    return date(today.year - 1, 1, 1)


def fetch_rates(
    *,
    today: date,
    ecb: bool = True,
    boe: bool = True,
    french: Path | None = None,
    since: date | None = None,
    replace: bool = False,
    dry_run: bool = False,
    publishers: Publishers | None = None,
) -> FetchReport:
    """Read, compare and (unless ``dry_run``) write in one transaction; raises
    ``RateInputError`` (the French file) or ``PublisherError`` having written nothing."""
    from django.db import transaction

    from relance.audit import trail

    publishers = publishers or Publishers.from_settings()
    since = since or default_since(today)
    report = FetchReport(today, since, dry_run)
    legal = read_french_file(french) if french is not None else {}
    ecb_obs: Observations | None = None
    boe_obs: Observations | None = None
    if ecb:
        url = ecb_url(publishers.ecb_url)
        ecb_obs = parse_ecb_csv(get(ECB_NAME, url, publishers.timeout), url)
        report.sources["ecb_mro"] = url
    if boe:
        url = boe_url(publishers.boe_url, since, today)
        boe_obs = parse_boe_csv(get(BOE_NAME, url, publishers.timeout), url)
        report.sources["uk_boe_reference"] = url
    if french is not None:
        report.sources["fr_legal"] = str(french)

    tables = load_tables(SERIES)
    fetched = f"fetched {today}"
    if ecb_obs is not None:
        table = tables["ecb_mro"]
        source = f"{ECB_NAME}, {report.sources['ecb_mro']} ({fetched})"
        published = changes(ecb_obs, None)
        # From the change in force on ``since``: the derived half-years need it.
        first = max((at for at, (day, _) in enumerate(published) if day <= since), default=0)
        rows = [RateRow(day, percent, source) for day, percent in published[first:]]
        found = report.series["ecb_mro"] = compare(table, rows, replace)
        defaults = derived_defaults(after(table, found), since, today, source)
        report.series["fr_late_penalty_default"] = compare(
            tables["fr_late_penalty_default"], defaults, replace
        )
    if boe_obs is not None:
        source = f"{BOE_NAME}, {BOE_SERIES}, {report.sources['uk_boe_reference']} ({fetched})"
        rows = [RateRow(d, p, source) for d, p in reference_rates(boe_obs, since)]
        report.series["uk_boe_reference"] = compare(tables["uk_boe_reference"], rows, replace)
    for series, rows in legal.items():
        rows = [RateRow(r.date, r.percent, f"{r.source}; {french} ({fetched})") for r in rows]
        report.series[series] = compare(tables[series], rows, replace)
    if legal:
        professionals = after(tables["fr_legal_professionals"], report.series[
            "fr_legal_professionals"])  # fmt: skip
        wanted = {row.date for row in legal["fr_legal_professionals"]}
        floors = derived_floors([row for row in professionals.rows if row.date in wanted])
        report.series["fr_late_penalty_floor"] = compare(
            tables["fr_late_penalty_floor"], floors, replace
        )
    if not dry_run:
        with transaction.atomic():
            for found in report.series.values():
                write(found.series, found.written)
            written = {name: len(found.written) for name, found in report.series.items()}
            if any(written.values()):
                trail.record(
                    None, "rates.fetched", target=("rates", "fetch"),
                    summary=", ".join(f"{name}: {n}" for name, n in written.items() if n),
                    data={"sources": report.sources, "series": counts(report)},
                )  # fmt: skip
    return report


def write(series: str, rows: Sequence[RateRow]) -> None:
    """Create or replace the rows (by series and date); the caller holds the transaction."""
    from relance.dunning.models import Rate

    existing = {
        rate.date: rate
        for rate in Rate.objects.filter(series=series, date__in=[row.date for row in rows])
    }
    new = []
    for row in rows:
        rate = existing.get(row.date)
        if rate is None:
            new.append(Rate(series=series, date=row.date, percent=row.percent, source=row.source))
        else:
            rate.percent, rate.source = row.percent, row.source
            rate.save(update_fields=["percent", "source"])
    Rate.objects.bulk_create(new)


def counts(report: FetchReport) -> dict[str, dict[str, int]]:
    return {
        name: {
            "added": len(found.added),
            "unchanged": len(found.unchanged),
            "conflicts": len(found.conflicts),
            "replaced": sum(c.replaced for c in found.conflicts),
        }
        for name, found in report.series.items()
    }


@task()
def fetch_published_rates() -> dict[str, Any]:
    """The periodic way (docs/penalties.md): the ECB and Bank of England rates, never
    replacing a rate that differs (a conflict is left for an administrator to look at)."""
    from django.utils import timezone

    report = fetch_rates(today=timezone.localdate())
    return {"fetched_on": report.fetched_on.isoformat(), "series": counts(report)}
