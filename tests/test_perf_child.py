"""perf.in_child: a piece of work done in a forked process, its result pickled back; the
caller does the work itself whenever the child gives nothing back."""

from __future__ import annotations

import os
import threading
import time

import pytest

from relance.lib.perf import in_child


def test_the_result_comes_back_from_another_process(forking):
    with in_child(lambda: {"pid": os.getpid(), "rows": list(range(100_000))}) as result:
        got = result()
    assert got is not None
    assert got["pid"] != os.getpid() and got["rows"] == list(range(100_000))


def test_a_child_that_fails_gives_none(forking):
    def work() -> int:
        raise ValueError("a file that cannot be read")

    with in_child(work) as result:
        assert result() is None


def test_a_child_not_waited_for_is_ended_with_the_block(tmp_path, forking):
    started = tmp_path / "pid"

    def work() -> None:
        started.write_text(str(os.getpid()))
        time.sleep(600)

    with pytest.raises(RuntimeError), in_child(work):
        deadline = time.monotonic() + 60
        while not started.exists() or not started.read_text():
            assert time.monotonic() < deadline, "the child never started"
            time.sleep(0.01)
        raise RuntimeError("the parent's reading failed")
    with pytest.raises(ProcessLookupError):  # ended and reaped
        os.kill(int(started.read_text()), 0)


def test_none_is_started_while_other_threads_run():  # the suite's own threads or this one
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        with in_child(os.getpid) as result:
            assert result() is None
    finally:
        stop.set()
        thread.join()
