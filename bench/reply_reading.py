"""The reading rules of replies on the written corpus: precision and recall per kind, and
the dates read, as Markdown for docs/replies.md.

    .venv/bin/python -m bench.reply_reading [--misread]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import yaml

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "data" / "replies.yaml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--misread", action="store_true", help="list what was read wrong")
    args = parser.parse_args()
    from relance.replies import scoring

    corpus = scoring.cases(yaml.safe_load(CORPUS.read_text(encoding="utf-8")))
    started = time.perf_counter()
    report = scoring.score(corpus)
    elapsed = time.perf_counter() - started
    print("All the corpus:\n")
    print(scoring.table(report))
    print("\nThe replies held out while the rules were written (every fifth):\n")
    print(scoring.table(scoring.score(scoring.held_out(corpus))))
    print("\nThe replies written after the rules were frozen:\n")
    print(scoring.table(scoring.score(scoring.fresh(corpus))))
    print(f"\n{elapsed / len(corpus) * 1000:.1f} ms per reply on one core.")
    if args.misread:
        for name, _expected, read in report.misread:
            print(f"kind  {name}: read {read}")
        for name, expected, read in report.wrong_dates:
            print(f"date  {name}: expected {expected}, read {read}")


if __name__ == "__main__":
    main()
