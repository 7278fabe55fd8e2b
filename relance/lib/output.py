"""What the commands print: tables for people (rich), one JSON document for machines.

Money is written ``1,234.56 EUR`` whatever the locale, so that output reads the same on
every machine; in JSON, amounts are strings ("1234.56") to keep them exact and dates are
ISO 8601.
"""

from __future__ import annotations

import dataclasses
import io
import json
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Protocol

from rich import box
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table


class Writer(Protocol):
    def write(self, text: str, /) -> object: ...


@dataclass(frozen=True)
class Column:
    header: str
    numeric: bool = False  # right-aligned and never wrapped


def money(amount: Decimal, currency: str = "") -> str:
    text = f"{amount:,.2f}"
    return f"{text} {currency}" if currency else text


def render_table(
    columns: Sequence[Column],
    rows: Iterable[Sequence[str]],
    *,
    title: str | None = None,
    totals: Iterable[Sequence[str]] = (),
) -> str:
    """The table as text, totals set apart under a rule; no colours, so it can be piped."""
    table = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left")
    for column in columns:
        table.add_column(
            column.header,
            justify="right" if column.numeric else "left",
            no_wrap=column.numeric,
        )
    for row in rows:
        table.add_row(*row)
    totals = list(totals)
    if totals:
        if table.row_count:
            table.add_section()
        for row in totals:
            table.add_row(*row, style="bold")
    # A pipe has no width: be generous rather than wrap the figures.
    width = shutil.get_terminal_size((200, 24)).columns
    buffer = io.StringIO()
    Console(file=buffer, width=width, highlight=False, color_system=None).print(table)
    # rich pads every line to the table's width; trailing blanks only get in a pipe's way.
    return "".join(line.rstrip() + "\n" for line in buffer.getvalue().splitlines())


def print_table(
    out: Writer, columns: Sequence[Column], rows: Iterable[Sequence[str]], **kw: Any
) -> None:
    out.write(render_table(columns, rows, **kw))


def jsonable(value: Any) -> Any:
    """``json.dumps`` hook: Decimal as an exact string, dates ISO, dataclasses as dicts."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, date):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def render_json(data: Any) -> str:
    return json.dumps(data, default=jsonable, indent=2, ensure_ascii=False) + "\n"


def print_json(out: Writer, data: Any) -> None:
    """Exactly one JSON document, ending with a newline."""
    out.write(render_json(data))


class progress_bar:
    """A progress bar on stderr for long work (imports, runs), one line per stage; silent
    when stderr is not a terminal. ``report(stage, done, total)``, total 0 when unknown."""

    def __init__(self, enabled: bool):
        console = Console(stderr=True)
        self.enabled = enabled and console.is_terminal
        self.bar = Progress(
            TextColumn("{task.description:>18}"), BarColumn(), TextColumn("{task.completed:,}"),
            TimeElapsedColumn(), console=console, transient=True,
        )  # fmt: skip
        self.tasks: dict[str, TaskID] = {}

    def __enter__(self) -> Any:
        if self.enabled:
            self.bar.start()
        return self.report

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self.bar.stop()

    def report(self, stage: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        if stage not in self.tasks:
            self.tasks[stage] = self.bar.add_task(stage, total=total or None)
        self.bar.update(self.tasks[stage], completed=done, total=total or None)
