"""The critical path of a re-import, stage by stage: ``relance import`` run in this process
with timers wrapped around its stages from outside the code (wall and ``process_time``),
and the time the import's process would wait for the other process that skips the file's
second half (``perf.in_child``) on an idle machine of two cores.

    python -m bench.reimport_stages OUT -- import FILE --mapping M --org ORG --json

(``RELANCE_DATA_DIR`` / ``DATABASE_URL`` as for relance.) OUT gets one line a stage: its wall
and CPU summed over its calls; ``fork at`` and ``wait starts at`` are times since the start.
The last lines model the wait on an idle machine: the other process's CPU when its result
was ready (it writes it to OUT.child, its CPU counted from the fork), against this process's
CPU when it asked for it; ``critical path`` is this process's CPU plus that wait. CPU times
move much less with the machine's load than wall times do (docs/performance.md).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

T0 = (time.perf_counter(), time.process_time())
STAGES: list[tuple[str, float, float]] = []
ASKED: list[float] = []  # this process's CPU when it asked for the other's result


def now() -> tuple[float, float]:
    return time.perf_counter() - T0[0], time.process_time() - T0[1]


def timed(owner: Any, name: str, stage: str) -> None:
    """``owner.name`` timed as ``stage``."""
    real = getattr(owner, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            return real(*args, **kwargs)
        finally:
            STAGES.append((stage, time.perf_counter() - wall, time.process_time() - cpu))

    setattr(owner, name, wrapper)


def install(out: Path) -> None:
    from django.db.backends.base import base

    import relance.ledger.imports as imports
    from relance.ledger import balances
    from relance.ledger.imports import mapping, restream

    real_import_file = imports.import_file

    def import_file(*args: Any, **kwargs: Any) -> Any:
        STAGES.append(("start-up (to import_file)", *now()))
        return real_import_file(*args, **kwargs)

    imports.import_file = import_file  # before the command's module imports it by name
    timed(restream, "known_fingerprints", "the ledger's fingerprints")
    timed(imports, "read_table", "read_table")
    timed(imports, "read_file", "read_file (all the reading)")
    waited: list[bool] = []
    real_hand_over = mapping._hand_over

    def hand_over(*args: Any, **kwargs: Any) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        real_hand_over(*args, **kwargs)
        when = "after the wait" if waited else "before the wait"
        STAGES.append((f"rows written ({when})", time.perf_counter() - wall,
                       time.process_time() - cpu))  # fmt: skip

    mapping._hand_over = hand_over
    for name, stage in [("finish", "finish"), ("finish_customers", "  the customers' last word"),
                        ("check_lookalikes", "  the look-alike check"),
                        ("write_timeline", "  the timeline")]:  # fmt: skip
        timed(restream._Restreamer, name, stage)
    timed(balances, "refresh", "  the balances")
    timed(base.BaseDatabaseWrapper, "commit", "commit")
    timed(base.BaseDatabaseWrapper, "close", "connection closed")
    real_rest = mapping._read_rest

    def read_rest(*args: Any, **kwargs: Any) -> Any:  # in the other process
        result = real_rest(*args, **kwargs)
        with open(f"{out}.child", "a") as child:
            child.write(f"{time.process_time()}\n")
        return result

    mapping._read_rest = read_rest
    real_in_child = mapping.in_child

    @contextlib.contextmanager
    def in_child(work: Callable[[], Any]) -> Iterator[Callable[[], Any]]:
        STAGES.append(("fork at", *now()))
        with real_in_child(work) as result:

            def waited_for() -> Any:
                STAGES.append(("wait starts at", *now()))
                ASKED.append(now()[1])
                waited.append(True)
                wall, cpu = time.perf_counter(), time.process_time()
                try:
                    return result()
                finally:
                    STAGES.append(("waited and unpickled", time.perf_counter() - wall,
                                   time.process_time() - cpu))  # fmt: skip

            yield waited_for

    mapping.in_child = in_child


def report(out: Path) -> None:
    STAGES.append(("total (at exit)", *now()))
    sums: dict[str, list[float]] = {}
    for stage, wall, cpu in STAGES:
        total = sums.setdefault(stage, [0.0, 0.0, 0])
        total[0] += wall
        total[1] += cpu
        total[2] += 1
    lines = [
        f"{stage:34s} wall {w:7.2f}  cpu {c:7.2f}  x{n:.0f}" for stage, (w, c, n) in sums.items()
    ]
    fork = next((cpu for stage, _, cpu in STAGES if stage == "fork at"), None)
    child_file = Path(f"{out}.child")
    ready = [float(line) for line in child_file.read_text().split()] if child_file.exists() else []
    if fork is not None and ready and ASKED:
        cpu = now()[1]
        wait = max(0.0, fork + ready[0] - ASKED[0])
        lines.append(f"the other process's CPU (from the fork) {ready[0]:.2f}")
        lines.append(f"wait on an idle machine {wait:.2f}; critical path {cpu + wait:.2f}")
    out.write_text("\n".join(lines) + "\n")


def main() -> None:
    out, argv = Path(sys.argv[1]), sys.argv[3:]
    Path(f"{out}.child").unlink(missing_ok=True)
    atexit.register(report, out)
    import django

    import relance.cli

    real_setup = django.setup
    installed: list[bool] = []

    def setup(*args: Any, **kwargs: Any) -> None:
        real_setup(*args, **kwargs)
        if not installed:  # the command line sets Django up twice
            installed.append(True)
            install(out)

    django.setup = setup
    sys.argv = ["relance", *argv]
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "relance.settings")
    relance.cli.main(argv)


if __name__ == "__main__":
    main()
