"""The geometry of the console's charts, drawn as SVG by the templates: no script, no style
attribute (the Content-Security-Policy allows neither), classes for colours. Each chart has
a table beside it with the same figures, for whoever does not see it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from typing import Any

from django.utils.translation import pgettext_lazy

# The line chart's drawing area in SVG units (scaled to the page's width).
WIDTH, HEIGHT = 480, 200
LEFT, RIGHT, TOP, BOTTOM = 36, 12, 10, 26


# The locale's own abbreviations, unambiguous (French "juin", "juil.", where Django's
# three-letter ones give "jui" for both).
MONTHS = (
    pgettext_lazy("abbreviated month", "Jan"), pgettext_lazy("abbreviated month", "Feb"),
    pgettext_lazy("abbreviated month", "Mar"), pgettext_lazy("abbreviated month", "Apr"),
    pgettext_lazy("abbreviated month", "May"), pgettext_lazy("abbreviated month", "Jun"),
    pgettext_lazy("abbreviated month", "Jul"), pgettext_lazy("abbreviated month", "Aug"),
    pgettext_lazy("abbreviated month", "Sep"), pgettext_lazy("abbreviated month", "Oct"),
    pgettext_lazy("abbreviated month", "Nov"), pgettext_lazy("abbreviated month", "Dec"),
)  # fmt: skip


def month_label(day: dt.date) -> str:
    """A month on a chart, in the active language: "Jun", "juin"."""
    return str(MONTHS[day.month - 1])


@dataclass(frozen=True)
class Bar:
    key: str  # the bucket's name (the customers list's ``bucket``)
    label: Any
    amount: Decimal
    percent: int  # of the largest bar


def bars(amounts: list[tuple[str, Any, Decimal]]) -> list[Bar]:
    """One bar per (key, label, amount), as a share of the largest."""
    top = max((amount for _, _, amount in amounts), default=Decimal(0)) or Decimal(1)
    return [Bar(key, label, amount, int(amount * 100 / top)) for key, label, amount in amounts]


def svg_number(value: float) -> str:
    """A coordinate as SVG reads it, whatever the page's language (no decimal comma)."""
    return f"{value:.1f}"


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    value: Decimal

    @property
    def cx(self) -> str:
        return svg_number(self.x)

    @property
    def cy(self) -> str:
        return svg_number(self.y)


@dataclass(frozen=True)
class Series:
    name: str  # a CSS class suffix
    label: Any
    points: list[Point]

    @property
    def path(self) -> str:
        """The polyline through the points that have a value (gaps are left open)."""
        return " ".join(f"{p.cx},{p.cy}" for p in self.points)


@dataclass(frozen=True)
class Tick:
    position: float
    label: str

    @property
    def at(self) -> str:
        return svg_number(self.position)


@dataclass(frozen=True)
class LineChart:
    width: int
    height: int
    series: list[Series]
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    left: int
    bottom: float
    right: float

    @property
    def label_x(self) -> str:
        return svg_number(self.left - 4)

    @property
    def label_y(self) -> str:
        return svg_number(self.bottom + 16)


def line_chart(
    days: list[dt.date], series: list[tuple[str, Any, list[Decimal | None]]], x_label: Any
) -> LineChart:
    """Lines over ``days`` (one x position each), y from 0 to a round maximum."""
    values = [v for _, _, column in series for v in column if v is not None]
    top = _round_up(max(values, default=Decimal(0)))
    inner_w = WIDTH - LEFT - RIGHT
    inner_h = HEIGHT - TOP - BOTTOM
    step = inner_w / max(len(days) - 1, 1)

    def x(i: int) -> float:
        return LEFT + i * step

    def y(value: Decimal) -> float:
        return TOP + inner_h - float(value / top) * inner_h

    drawn = [
        Series(name, label, [Point(x(i), y(v), v) for i, v in enumerate(column) if v is not None])
        for name, label, column in series
    ]
    x_ticks = [Tick(x(i), x_label(day)) for i, day in enumerate(days)]
    y_ticks = [Tick(y(top * n / 4), f"{top * n / 4:.0f}") for n in range(5)]
    return LineChart(WIDTH, HEIGHT, drawn, x_ticks, y_ticks, LEFT, TOP + inner_h, WIDTH - RIGHT)


def _round_up(value: Decimal) -> Decimal:
    """The axis' top: the value rounded up to a multiple of 20 days (at least 20)."""
    step = Decimal(20)
    return max(step, (value / step).to_integral_value(rounding=ROUND_CEILING) * step)
