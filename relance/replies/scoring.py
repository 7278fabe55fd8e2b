"""How well the reading rules do on a corpus of written replies: precision and recall per
kind, and how often the date read is the one meant. Pure: the corpus is a parsed YAML
document (tests/data/replies.yaml), the rules ``reading.read``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from relance.replies import reading


@dataclass(frozen=True)
class Case:
    name: str
    text: str
    subject: str
    received: dt.date
    automatic: bool
    kind: str
    date: dt.date | None  # paid, promise: the date; absence: the return date
    reason: str
    reference: str
    # 1: written first (every fifth held out while the rules were tuned); 2: written after
    # the rules were frozen, measured, then tuned on; 3: written after that, never tuned on.
    batch: int = 1


@dataclass
class Score:
    kind: str
    expected: int = 0  # cases of this kind
    found: int = 0  # cases the rules read as this kind
    right: int = 0  # both

    @property
    def precision(self) -> float:
        return self.right / self.found if self.found else 1.0

    @property
    def recall(self) -> float:
        return self.right / self.expected if self.expected else 1.0


@dataclass
class Report:
    cases: int
    scores: dict[str, Score]
    dates_expected: int = 0
    dates_right: int = 0
    reasons_expected: int = 0
    reasons_right: int = 0
    misread: list[tuple[str, str, str]] = field(default_factory=list)  # name, expected, read
    wrong_dates: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        return sum(s.right for s in self.scores.values()) / self.cases if self.cases else 1.0


def cases(document: Mapping[str, Any]) -> list[Case]:
    """The corpus's replies, each with its quoted reminder and signature put under it."""
    default = _day(document.get("received"))
    quotes, signatures = document.get("quotes", {}), document.get("signatures", {})
    found = []
    for number, entry in enumerate(document["replies"], start=1):
        text = str(entry["text"]).rstrip() + "\n"
        if entry.get("signature"):
            text += "\n" + signatures[entry["signature"]]
        if entry.get("quote"):
            text += "\n" + quotes[entry["quote"]]
        when = entry.get("date") or entry.get("return")
        found.append(
            Case(
                name=f"#{number} {entry['kind']}",
                text=text,
                subject=str(entry.get("subject", "")),
                received=_day(entry.get("received")) if entry.get("received") else default,
                automatic=bool(entry.get("auto", False)),
                kind=str(entry["kind"]),
                date=_day(when) if when else None,
                reason=str(entry.get("reason", "")),
                reference=str(entry.get("reference", "")),
                batch=int(entry.get("batch", 1)),
            )
        )
    return found


def _day(value: Any) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


def score(corpus: Sequence[Case]) -> Report:
    report = Report(len(corpus), {kind: Score(kind) for kind in reading.KINDS})
    for case in corpus:
        read = reading.read(
            case.text, received=case.received, subject=case.subject, automatic=case.automatic
        )
        report.scores[case.kind].expected += 1
        report.scores[read.kind].found += 1
        if read.kind != case.kind:
            report.misread.append((case.name, case.kind, read.kind))
            continue
        report.scores[case.kind].right += 1
        if case.date:
            report.dates_expected += 1
            got = read.return_date if case.kind == reading.ABSENCE else read.date
            if got == case.date:
                report.dates_right += 1
            else:
                report.wrong_dates.append((case.name, str(case.date), str(got)))
        if case.reason:
            report.reasons_expected += 1
            report.reasons_right += read.reason == case.reason
    return report


# Every fifth reply was set aside when the rules were written: the rules were tuned on the
# others only, so the figures on these say how they do on replies they were not fitted to.
HELD_OUT_EVERY = 5


def held_out(corpus: Sequence[Case]) -> list[Case]:
    """Every fifth reply of those written first (set aside while the rules were tuned)."""
    return [
        case
        for number, case in enumerate(corpus, start=1)
        if number % HELD_OUT_EVERY == 0 and case.batch == 1
    ]


FRESH_BATCH = 3


def fresh(corpus: Sequence[Case]) -> list[Case]:
    """The replies written after the rules were last changed, never tuned on."""
    return [case for case in corpus if case.batch == FRESH_BATCH]


def table(report: Report) -> str:
    """The report as the Markdown table of docs/replies.md."""
    lines = [
        "| kind | replies | read as | right | precision | recall |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for s in report.scores.values():
        figures = [s.kind, s.expected, s.found, s.right, f"{s.precision:.0%}", f"{s.recall:.0%}"]
        lines.append("| " + " | ".join(str(f) for f in figures) + " |")
    lines.append(
        f"\n{report.cases} replies, {report.accuracy:.0%} read as the right kind; dates right "
        f"{report.dates_right}/{report.dates_expected} (of the replies read as the right kind "
        f"that say one); dispute reasons right {report.reasons_right}/{report.reasons_expected}."
    )
    return "\n".join(lines)
