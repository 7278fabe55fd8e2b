"""`relance rates fetch`: the ECB and Bank of England rates read from a loopback server that
speaks their APIs (paths, query parameters, CSV shapes and date formats, error answers), the
French legal rates from a file, and the derived French series."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import StringIO
from urllib.parse import parse_qs, urlsplit

import commands
import factories
import pytest
import time_machine
from django.core.management import CommandError, call_command

from relance.audit.models import AuditEvent
from relance.dunning.models import Rate
from relance.dunning.penalty_service import invoice_penalty, missing_rate
from relance.dunning.rate_fetch import fetch_published_rates
from relance.dunning.rates import RateUnknown, load_table

TODAY = date(2026, 9, 15)
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
ECB_PATH = "/service/data/FM/B.U2.EUR.4F.KR.MRR_FR.LEV"
ECB_COLUMNS = "KEY,FREQ,REF_AREA,CURRENCY,PROVIDER_FM,INSTRUMENT_FM,PROVIDER_FM_ID,DATA_TYPE_FM"
BOE_PATH = "/boeapps/database/_iadb-fromshowcolumns.asp"
BOE_QUERY = {"csv.x": "yes", "SeriesCodes": "IUDBEDR", "CSVF": "TN", "UsingCodes": "Y"}

# What the publishers publish: the ECB's changes as shipped, then a (test) rise on 17 June
# 2026; the Bank of England's changes from August 2024, then a (test) cut on 19 March 2026.
ECB_CHANGES = [
    (date(2024, 6, 12), "4.25"), (date(2024, 9, 18), "3.65"), (date(2024, 10, 23), "3.40"),
    (date(2024, 12, 18), "3.15"), (date(2025, 2, 5), "2.90"), (date(2025, 3, 12), "2.65"),
    (date(2025, 4, 23), "2.40"), (date(2025, 6, 11), "2.15"), (date(2026, 6, 17), "2.40"),
]  # fmt: skip
BOE_CHANGES = [
    (date(2023, 8, 3), "5.25"), (date(2024, 8, 1), "5.00"), (date(2024, 11, 7), "4.75"),
    (date(2025, 2, 6), "4.50"), (date(2025, 5, 8), "4.25"), (date(2025, 8, 7), "4.00"),
    (date(2025, 12, 18), "3.75"), (date(2026, 3, 19), "3.50"),
]  # fmt: skip


def boe_day(text: str) -> date:
    day, month, year = text.split("/")
    return date(int(year), MONTHS.index(month) + 1, int(day))


class Publishers:
    """The ECB Data Portal and the Bank of England database, as far as Relance uses them."""

    def __init__(self) -> None:
        self.ecb = list(ECB_CHANGES)
        self.boe = list(BOE_CHANGES)
        self.failing: set[str] = set()
        self.requests: list[tuple[str, dict[str, list[str]], str]] = []
        self.base = ""

    def answer(self, path: str, query: dict[str, list[str]], agent: str) -> tuple[int, str, str]:
        self.requests.append((path, query, agent))
        if path == ECB_PATH:
            return self.ecb_answer(query)
        if path == BOE_PATH:
            return self.boe_answer(query, agent)
        return 404, "text/plain", "Not Found"

    def ecb_answer(self, query: dict[str, list[str]]) -> tuple[int, str, str]:
        problem = "application/problem+json"
        if "ecb" in self.failing:
            return 500, problem, '{"title":"Internal Server Error","status":500}'
        if query.get("format") != ["csvdata"] or query.get("detail") != ["dataonly"]:
            return 400, problem, '{"title":"Bad Request","status":400}'
        start = date.fromisoformat(query.get("startPeriod", ["1999-01-01"])[0])
        rows = [(day, rate) for day, rate in self.ecb if day >= start]
        if not rows:
            detail = {"title": "Not Found", "status": 404, "detail": "No results found."}
            return 404, problem, json.dumps(detail)
        lines = [f"{ECB_COLUMNS},TIME_PERIOD,OBS_VALUE"]
        for day, rate in rows:
            lines.append(f"FM.B.U2.EUR.4F.KR.MRR_FR.LEV,B,U2,EUR,4F,KR,MRR_FR,LEV,{day},{rate}")
        return (
            200,
            "application/vnd.sdmx.data+csv; version=1.0.0; charset=utf-8",
            ("\r\n".join(lines) + "\r\n"),
        )

    def boe_answer(self, query: dict[str, list[str]], agent: str) -> tuple[int, str, str]:
        if not agent:  # the database refuses a request without a User-Agent
            return 500, "text/html", "<html><body>Server error</body></html>"
        wrong = any(query.get(name) != [value] for name, value in BOE_QUERY.items())
        if "boe" in self.failing or wrong:
            # The database's way of saying no: an HTML page, with status 200.
            return 200, "text/html", "<!DOCTYPE html><html><head><title>Error</title></html>"
        first, last = boe_day(query["Datefrom"][0]), boe_day(query["Dateto"][0])
        lines = ["DATE,IUDBEDR"]
        day = first
        while day <= last:
            if day.weekday() < 5:  # business days only
                rate = [rate for changed, rate in self.boe if changed <= day][-1]
                lines.append(f"{day.day:02d} {MONTHS[day.month - 1]} {day.year},{rate}")
            day += timedelta(days=1)
        return 200, "text/csv", "\n".join(lines) + "\n"


@pytest.fixture
def publishers(settings) -> Iterator[Publishers]:
    state = Publishers()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            status, kind, body = state.answer(
                parts.path, parse_qs(parts.query), self.headers.get("User-Agent", "")
            )
            data = body.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = state.base = f"http://127.0.0.1:{server.server_address[1]}"
    settings.RELANCE_RATES_ECB_URL = base
    settings.RELANCE_RATES_BOE_URL = base + "/"
    settings.RELANCE_RATES_TIMEOUT = 5
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def today() -> Iterator[None]:
    with time_machine.travel(datetime(2026, 9, 15, 10, tzinfo=UTC), tick=False):
        yield


def fetch(*args: str) -> dict:
    out = StringIO()
    call_command("rates", "fetch", *args, "--json", stdout=out, stderr=StringIO())
    return json.loads(out.getvalue())


def rows(series: str) -> list[tuple[date, Decimal]]:
    return list(Rate.objects.filter(series=series).values_list("date", "percent"))


# --- The publishers' APIs ---------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.usefixtures("today")
def test_it_asks_the_publishers_as_their_apis_are_documented(publishers):
    fetch("--since", "2025-01-01")
    (ecb_path, ecb_query, agent), (boe_path, boe_query, _) = publishers.requests
    assert ecb_path == ECB_PATH
    # The whole series: the rate in force on the first day is the last change before it.
    assert ecb_query == {"format": ["csvdata"], "detail": ["dataonly"]}
    assert boe_path == BOE_PATH
    assert boe_query == {
        **{name: [value] for name, value in BOE_QUERY.items()},
        "VPD": ["Y"], "VFD": ["N"],
        "Datefrom": ["18/Dec/2024"], "Dateto": ["15/Sep/2026"],
    }  # fmt: skip
    assert agent.startswith("Relance")


@pytest.mark.django_db
@pytest.mark.usefixtures("today")
def test_it_writes_the_ecb_changes_and_the_french_default_rates_derived_from_them(publishers):
    document = fetch("--ecb")
    ecb = document["series"]["ecb_mro"]
    # From 1 January of last year: the 2025 changes are the shipped ones, 17 June 2026 is new.
    assert [row["date"] for row in ecb["added"]] == ["2026-06-17"]
    assert ecb["added"][0]["percent"] == "2.40"
    # From the change in force on 1 January 2025 (18 December 2024) on.
    assert ecb["unchanged"] == 5 and ecb["conflicts"] == []
    assert f"{ECB_PATH}?format=csvdata" in ecb["added"][0]["source"]
    assert "fetched 2026-09-15" in ecb["added"][0]["source"]
    # The default rate of each half-year begun: 2026-H2 takes the rate in force on 1 July.
    default = document["series"]["fr_late_penalty_default"]
    assert [(row["date"], row["percent"]) for row in default["added"]] == [("2026-07-01", "12.40")]
    assert default["unchanged"] == 3  # 2025-H1, 2025-H2, 2026-H1 as shipped
    assert rows("ecb_mro") == [(date(2026, 6, 17), Decimal("2.4000"))]
    assert rows("fr_late_penalty_default") == [(date(2026, 7, 1), Decimal("12.4000"))]
    assert load_table("ecb_mro").rate_on(date(2026, 6, 16)) == Decimal("2.15")
    assert not publishers.requests[1:]  # --ecb alone: the Bank of England is not asked


@pytest.mark.django_db
@pytest.mark.usefixtures("today")
def test_it_writes_the_bank_rate_on_each_reference_date_the_series_has_reached(publishers):
    document = fetch("--boe", "--since", "2024-01-01")
    boe = document["series"]["uk_boe_reference"]
    # 30 June 2024 was a Sunday: the rate on it is Friday's, 5.25, as shipped; the shipped
    # rows of 31 December 2024 and 2025 and 30 June 2025 agree; 30 June 2026 is new. 31
    # December 2026 is not reached yet.
    assert [(row["date"], row["percent"]) for row in boe["added"]] == [("2026-06-30", "3.50")]
    assert boe["unchanged"] == 4 and boe["conflicts"] == []
    assert rows("uk_boe_reference") == [(date(2026, 6, 30), Decimal("3.5000"))]
    assert "IUDBEDR" in boe["added"][0]["source"]


@pytest.mark.django_db
def test_it_waits_for_the_series_to_reach_a_reference_date(publishers):
    # On Monday 29 June 2026 the series (business days) has not reached 30 June: no row,
    # not even the rate in force then. On Tuesday 30 June, the day's value is published.
    with time_machine.travel(datetime(2026, 6, 29, 10, tzinfo=UTC), tick=False):
        assert fetch("--boe")["series"]["uk_boe_reference"]["added"] == []
    with time_machine.travel(datetime(2026, 6, 30, 10, tzinfo=UTC), tick=False):
        added = fetch("--boe")["series"]["uk_boe_reference"]["added"]
    assert [row["date"] for row in added] == ["2026-06-30"]


# --- Penalties that had no rate ---------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.usefixtures("today")
def test_it_lets_a_penalty_be_computed_for_a_half_year_that_had_no_rate(publishers):
    france = factories.organisation("fr", country="FR")
    late = factories.invoice(factories.customer(france), due=date(2026, 6, 30), amount="1000")
    uk = factories.organisation("uk", country="GB")
    owed = factories.invoice(
        factories.customer(uk), due=date(2026, 6, 30), amount="1000", currency="GBP"
    )
    with pytest.raises(RateUnknown, match="fr_late_penalty_default rate for 2026-H2"):
        invoice_penalty(late, TODAY)
    said = missing_rate(france, [late], TODAY)
    assert said is not None and "fr_late_penalty_default" in said and "2026-H2" in said
    assert "relance rates fetch --ecb" in said  # what brings it
    assert "uk_boe_reference" in (missing_rate(uk, [owed], TODAY) or "")

    fetch()

    penalty = invoice_penalty(late, TODAY)
    [line] = penalty.lines
    assert (line.start, line.end, line.days, line.rate) == (
        date(2026, 7, 1), TODAY, 77, Decimal("12.40")
    )  # fmt: skip
    assert line.amount == (Decimal(1000) * Decimal("12.40") * 77 / 36500).quantize(Decimal("0.01"))
    assert missing_rate(france, [late], TODAY) is None
    [line] = invoice_penalty(owed, TODAY).lines
    assert line.rate == Decimal("11.50")  # 3.50 on 30 June 2026 + 8
    assert missing_rate(uk, [owed], TODAY) is None


# --- Idempotence, conflicts, dry run ----------------------------------------------------


@pytest.mark.django_db
@pytest.mark.usefixtures("today")
def test_it_changes_nothing_when_fetching_the_same_rates_again(publishers):
    first = fetch()
    stored = list(Rate.objects.order_by("series", "date").values_list("series", "date", "source"))
    assert len(stored) == 3
    again = fetch()
    assert all(not found["added"] and not found["conflicts"] for found in again["series"].values())
    assert again["series"]["ecb_mro"]["unchanged"] == first["series"]["ecb_mro"]["unchanged"] + 1
    later = list(Rate.objects.order_by("series", "date").values_list("series", "date", "source"))
    assert later == stored  # not even the source's date of fetching
    assert AuditEvent.objects.filter(action="rates.fetched").count() == 1


@pytest.mark.django_db
@pytest.mark.usefixtures("today")
def test_it_reports_a_different_rate_as_a_conflict_and_replaces_it_only_when_asked(
    publishers,
):
    Rate.objects.create(series="ecb_mro", date=date(2026, 6, 17), percent=Decimal("2.50"))
    publishers.ecb[7] = (date(2025, 6, 11), "2.20")  # the shipped 2.15
    err = StringIO()
    out = StringIO()
    call_command("rates", "fetch", "--ecb", "--json", stdout=out, stderr=err)
    ecb = json.loads(out.getvalue())["series"]["ecb_mro"]
    assert [(c["date"], c["current"], c["current_origin"], c["published"], c["replaced"])
            for c in ecb["conflicts"]] == [
        ("2025-06-11", "2.15", "shipped", "2.20", False),
        ("2026-06-17", "2.50", "database", "2.40", False),
    ]  # fmt: skip
    assert "Conflict: ecb_mro 2025-06-11: Relance has 2.15 % (shipped)" in err.getvalue()
    assert rows("ecb_mro") == [(date(2026, 6, 17), Decimal("2.5000"))]  # kept
    # The derived rate follows the table as kept: 2.50 + 10.
    assert rows("fr_late_penalty_default") == [(date(2026, 7, 1), Decimal("12.5000"))]

    replaced = fetch("--ecb", "--replace")["series"]
    assert [c["replaced"] for c in replaced["ecb_mro"]["conflicts"]] == [True, True]
    assert rows("ecb_mro") == [
        (date(2025, 6, 11), Decimal("2.2000")), (date(2026, 6, 17), Decimal("2.4000"))
    ]  # fmt: skip
    # The half-years that 2.20 from 11 June 2025 governs follow, as replacements too.
    assert [c["date"] for c in replaced["fr_late_penalty_default"]["conflicts"]] == [
        "2025-07-01", "2026-01-01", "2026-07-01"
    ]  # fmt: skip
    assert rows("fr_late_penalty_default") == [
        (date(2025, 7, 1), Decimal("12.2000")), (date(2026, 1, 1), Decimal("12.2000")),
        (date(2026, 7, 1), Decimal("12.4000")),
    ]  # fmt: skip


@pytest.mark.django_db
@pytest.mark.usefixtures("today")
def test_it_shows_what_would_change_without_writing_it(publishers):
    out = StringIO()
    call_command("rates", "fetch", "--dry-run", stdout=out)
    text = out.getvalue()
    assert "Dry run: nothing written." in text
    assert "Would add ecb_mro 2026-06-17: 2.40 %" in text
    assert "Would add fr_late_penalty_default 2026-07-01: 12.40 %" in text
    assert "Would add uk_boe_reference 2026-06-30: 3.50 %" in text
    assert not Rate.objects.exists()
    assert fetch("--dry-run")["dry_run"] is True


# --- Publishers that fail ---------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.usefixtures("today")
@pytest.mark.parametrize(
    ("failing", "message"),
    [
        ("ecb", r"ECB Data Portal answered an error \(http://127\.0\.0\.1:\d+/service/data/"),
        ("boe", "Bank of England database answered something that is not the IUDBEDR CSV"),
    ],
)
def test_it_writes_nothing_when_a_publisher_answers_an_error(publishers, failing, message):
    publishers.failing.add(failing)
    with pytest.raises(CommandError, match=message):
        fetch()
    assert not Rate.objects.exists()


@pytest.mark.django_db
@pytest.mark.usefixtures("today")
def test_it_derives_a_half_year_from_the_ecb_change_in_force_before_it(publishers):
    # Nothing changed since 1 July 2026, but the rate in force then is 17 June's, new.
    series = fetch("--ecb", "--since", "2026-07-01")["series"]
    assert [row["date"] for row in series["ecb_mro"]["added"]] == ["2026-06-17"]
    assert series["ecb_mro"]["unchanged"] == 0
    default = series["fr_late_penalty_default"]["added"]
    assert [(row["date"], row["percent"]) for row in default] == [("2026-07-01", "12.40")]


@pytest.mark.django_db
@pytest.mark.usefixtures("today")
def test_it_refuses_an_ecb_answer_without_the_series(publishers):
    publishers.ecb = []  # the API's 404 "No results found."
    with pytest.raises(
        CommandError, match=r"ECB Data Portal answered an error .*HTTP 404.*No results found"
    ):
        fetch("--ecb")
    assert not Rate.objects.exists()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.once("sqlite")  # its own processes on a SQLite file
def test_it_exits_1_naming_the_publisher_it_cannot_reach(tmp_path, publishers):
    # The ECB answers; the Bank of England cannot be reached: nothing of either is written.
    data = commands.ready(tmp_path)
    env = {
        **commands.environment(data),
        "RELANCE_RATES_ECB_URL": publishers.base,
        "RELANCE_RATES_BOE_URL": f"http://127.0.0.1:{closed_port()}",
        "RELANCE_RATES_TIMEOUT": "5",
    }
    run = subprocess.run(
        [sys.executable, "-m", "relance", "rates", "fetch", "--json"],
        env=env, capture_output=True, text=True, cwd=os.getcwd(),
    )  # fmt: skip
    assert run.returncode == 1, run.stderr
    assert "Bank of England database unreachable (http://127.0.0.1:" in run.stderr
    assert run.stdout == ""
    assert publishers.requests  # the ECB was asked
    shown = commands.relance(data, "rates", "show", "ecb_mro", "--json")
    assert {row["origin"] for row in json.loads(shown.stdout)["rows"]} == {"shipped"}


# --- The French file --------------------------------------------------------------------

FRENCH = "date,professionals,individuals,source\n"


@pytest.mark.django_db
@pytest.mark.usefixtures("today")
def test_it_loads_the_french_legal_rates_and_derives_the_floor(tmp_path, publishers):
    path = tmp_path / "taux.csv"
    path.write_text(
        FRENCH + '2026-01-01,2.62,6.67,"Arrêté du 18 décembre 2025"\n'
        '2026-07-01,"2,81",6.39,"Arrêté du 22 juin 2026, JORF du 25 juin 2026"\n',
        encoding="utf-8",
    )
    document = fetch("--french", str(path))
    assert set(document["series"]) == {
        "fr_legal_professionals", "fr_legal_individuals", "fr_late_penalty_floor"
    }  # fmt: skip
    assert not publishers.requests  # --french alone: no publisher asked
    professionals = document["series"]["fr_legal_professionals"]
    assert professionals["unchanged"] == 1  # 2026-H1 as shipped
    assert professionals["added"][0]["source"].startswith(
        "Arrêté du 22 juin 2026, JORF du 25 juin 2026 (professionals)"
    )
    assert rows("fr_legal_professionals") == [(date(2026, 7, 1), Decimal("2.8100"))]
    assert rows("fr_legal_individuals") == [(date(2026, 7, 1), Decimal("6.3900"))]
    assert rows("fr_late_penalty_floor") == [(date(2026, 7, 1), Decimal("8.4300"))]  # 3 x
    assert document["series"]["fr_late_penalty_floor"]["unchanged"] == 1  # 3 x 2.62 = 7.86


@pytest.mark.django_db
@pytest.mark.usefixtures("today")
@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("2026-07-01,abc,6.39,arrêté", r"taux\.csv, row 3, field professionals: 'abc' is not"),
        ("2026-07-15,2.81,6.39,arrêté", r"row 3, field date: 2026-07-15 is not the first day"),
        ("2026-07-01,2.81,6.39,", "row 3, field source: name the arrêté"),
        ("2026-07-01,2.81,6,39,arrêté", "row 3: 5 fields, expected 4"),
    ],
)
def test_it_refuses_a_french_file_with_a_bad_row_naming_the_row_and_field(
    tmp_path, publishers, row, message
):
    path = tmp_path / "taux.csv"
    path.write_text(FRENCH + "2026-01-01,2.62,6.67,arrêté\n" + row + "\n", encoding="utf-8")
    with pytest.raises(CommandError, match=message):
        fetch("--french", str(path), "--ecb")
    assert not publishers.requests  # the file is checked before anything is asked
    assert not Rate.objects.exists()


# --- The task ---------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.usefixtures("today")
def test_it_fetches_the_rates_in_a_task(publishers):
    result = fetch_published_rates.call()
    assert result["fetched_on"] == "2026-09-15"
    assert result["series"]["ecb_mro"] == {
        "added": 1, "unchanged": 5, "conflicts": 0, "replaced": 0
    }  # fmt: skip
    assert result["series"]["uk_boe_reference"]["added"] == 1
    assert rows("fr_late_penalty_default") == [(date(2026, 7, 1), Decimal("12.4000"))]
