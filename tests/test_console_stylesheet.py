"""The console's stylesheet closes every block it opens: a @media block left open puts every
rule after it under that condition (the page heads, the dashboard's figures and more were
drawn on a phone only, never on a desktop)."""

from __future__ import annotations

import re
from pathlib import Path

import relance

STYLESHEET = Path(relance.__file__).parent / "console" / "static" / "console" / "relance.css"


def blocks(css: str) -> list[tuple[str, int]]:
    """Each block's prelude (selector or at-rule) with its depth, comments left out."""
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    found, depth, start = [], 0, 0
    for at, char in enumerate(css):
        if char == "{":
            found.append((" ".join(css[start:at].split()), depth))
            depth += 1
            start = at + 1
        elif char in "};":
            depth -= char == "}"
            assert depth >= 0, f"a }} closes nothing near {css[max(0, at - 80) : at]!r}"
            start = at + 1
    assert depth == 0, f"{depth} block(s) left open"
    return found


def test_it_closes_every_block_of_the_console_stylesheet() -> None:
    found = blocks(STYLESHEET.read_text(encoding="utf-8"))

    nested = [prelude for prelude, depth in found if depth > 1]
    assert not nested, nested  # no rule sits two blocks deep
    assert (".page-head", 0) in found and ('.table.runs th[scope="row"]', 0) in found
