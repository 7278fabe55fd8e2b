"""Work split into shares, one process each: for long runs that are Python-bound and whose
shares are independent (the dunning run's customers, split by id).

The processes are forked, so they inherit what the parent loaded; database connections must
be closed before (``run`` does it) so that no two processes share one. Each process reports
its progress and its result through a pipe; an error in one is raised in the parent once
every process has stopped.
"""

from __future__ import annotations

import multiprocessing
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection, wait
from typing import Any

from django.db import connections

Report = Callable[[int], None]  # a share's progress: units done since its last report
Work = Callable[[int, int, Report], Any]  # (share, shares, report) -> a picklable result


class ShareFailed(RuntimeError):
    pass


def run(shares: int, work: Work, progress: Report | None = None) -> list[Any]:
    """``work(k, shares, report)`` for k in 0..shares-1, each in its own process; the
    results in share order."""
    connections.close_all()
    context = multiprocessing.get_context("fork")
    pipes: dict[Connection, int] = {}
    processes = []
    for share in range(shares):
        receiver, sender = context.Pipe(duplex=False)
        process = context.Process(target=_child, args=(work, share, shares, sender), daemon=True)
        process.start()
        sender.close()
        pipes[receiver] = share
        processes.append(process)
    results: dict[int, Any] = {}
    errors: list[str] = []
    while pipes:
        for ready in wait(list(pipes)):
            assert isinstance(ready, Connection)
            receiver = ready
            share = pipes[receiver]
            try:
                kind, value = receiver.recv()
            except EOFError:  # died without a word (killed)
                errors.append(f"share {share}: the process stopped unexpectedly")
                del pipes[receiver]
                continue
            if kind == "progress":
                if progress:
                    progress(value)
                continue
            if kind == "done":
                results[share] = value
            else:
                errors.append(f"share {share}: {value}")
            del pipes[receiver]
    for process in processes:
        process.join()
    if errors:
        raise ShareFailed("; ".join(errors))
    return [results[share] for share in range(shares)]


def _child(work: Work, share: int, shares: int, pipe: Connection) -> None:
    try:
        result = work(share, shares, lambda n: pipe.send(("progress", n)))
        pipe.send(("done", result))
    except BaseException as error:  # reported to the parent, which raises
        pipe.send(("error", f"{error!r}\n{traceback.format_exc()}"))
    finally:
        connections.close_all()
        pipe.close()
