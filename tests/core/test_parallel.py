"""core/parallel.py: our threads, and BLAS kept to one thread while they run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from coreg.core import parallel
from coreg.core.errors import CanceledError

threadpoolctl = pytest.importorskip("threadpoolctl")


def _blas_threads() -> list[int]:
    return [lib["num_threads"] for lib in threadpoolctl.threadpool_info()
            if lib["user_api"] == "blas"]


def test_in_threads__runs_every_item_and_keeps_blas_to_one_thread(monkeypatch):
    monkeypatch.setattr(parallel, "THREADS", 2)
    seen, inside = [], []
    lock = threading.Lock()

    def work(item: int) -> None:
        with lock:
            seen.append(item)
            inside.extend(_blas_threads())

    before = _blas_threads()
    parallel.in_threads(work, range(10))
    assert sorted(seen) == list(range(10))
    assert inside and set(inside) == {1}
    assert _blas_threads() == before  # restored


def test_in_threads__raises_the_first_error(monkeypatch):
    monkeypatch.setattr(parallel, "THREADS", 2)

    def work(item: int) -> None:
        if item == 3:
            raise ValueError("bad item")

    with pytest.raises(ValueError, match="bad item"):
        parallel.in_threads(work, range(6))


def test_in_threads__inside_a_worker_runs_in_its_thread(monkeypatch):
    monkeypatch.setattr(parallel, "THREADS", 2)
    threads = set()

    def work(item: int) -> None:
        threads.add(threading.get_ident())

    parallel.as_worker(parallel.in_threads, work, range(8))
    assert threads == {threading.get_ident()}
    parallel.in_threads(work, range(8))  # outside a worker: on the pool's threads again
    assert len(threads) > 1


@pytest.mark.parametrize("threads", [1, 2])
def test_in_threads__canceled_from_the_calling_thread(monkeypatch, threads):
    monkeypatch.setattr(parallel, "THREADS", threads)
    done, polls, caller = [], [], threading.get_ident()

    def is_canceled() -> bool:
        polls.append(threading.get_ident())
        return len(polls) > 3

    with pytest.raises(CanceledError):
        parallel.in_threads(lambda item: (time.sleep(0.002), done.append(item)), range(100),
                            is_canceled=is_canceled)
    assert set(polls) == {caller}
    assert len(done) < 50  # the items not started are dropped


def test_together__returns_each_result_in_order_from_two_threads(monkeypatch):
    monkeypatch.setattr(parallel, "THREADS", 2)
    threads = []

    def call(value):
        def run():
            threads.append(threading.get_ident())
            time.sleep(0.05)
            return value
        return run

    assert parallel.together(call("a"), call("b"), call("c")) == ["a", "b", "c"]
    assert len(set(threads)) == 2


def test_together__keeps_its_threads_from_call_to_call(monkeypatch):
    """A thread's first GDAL or PROJ call sets up its context: kept threads pay it once."""
    monkeypatch.setattr(parallel, "THREADS", 2)
    workers = [parallel.together(lambda: None, threading.current_thread)[1]
               for _ in range(3)]
    assert workers[0] is not threading.current_thread()
    assert workers[1] is workers[0] and workers[2] is workers[0]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_together__runs_in_a_forked_child(monkeypatch):
    """A forked child has none of the parent's kept threads: it starts its own."""
    monkeypatch.setattr(parallel, "THREADS", 2)
    assert parallel.together(lambda: 1, lambda: 2) == [1, 2]  # the parent's are started
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        signal.alarm(20)  # a child waiting on the parent's threads would never end
        try:
            os._exit(0 if parallel.together(lambda: 1, lambda: 2) == [1, 2] else 1)
        finally:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_parallel__imports_where_there_is_no_fork():
    """Windows has no os.register_at_fork: the module (and the plugin) must import there.
    Windows has no os.fork either, which the standard library checks before registering
    its own hooks (random does, when a module imports it first)."""
    code = ("import os; del os.register_at_fork, os.fork; from coreg.core import parallel; "
            "print(parallel.together(lambda: 1, lambda: 2))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[1, 2]"


def test_together__inside_a_worker_or_on_one_thread_runs_here(monkeypatch):
    threads = []

    def call():
        threads.append(threading.get_ident())
        return len(threads)

    monkeypatch.setattr(parallel, "THREADS", 1)
    assert parallel.together(call, call) == [1, 2]
    monkeypatch.setattr(parallel, "THREADS", 2)
    assert parallel.as_worker(parallel.together, call, call) == [3, 4]
    assert set(threads) == {threading.get_ident()}


def test_together__raises_an_error_once_every_call_has_ended(monkeypatch):
    monkeypatch.setattr(parallel, "THREADS", 2)
    ended = []

    def fails():
        raise ValueError("bad")

    def slow():
        time.sleep(0.05)
        ended.append(True)

    with pytest.raises(ValueError, match="bad"):
        parallel.together(fails, slow)
    assert ended == [True]


@pytest.mark.parametrize("count, pieces, lengths", [(7, 2, [4, 3]), (2, 4, [1, 1]),
                                                    (0, 2, [0]), (9, 3, [3, 3, 3])])
def test_shares__cut_items_into_consecutive_runs(count, pieces, lengths):
    items = list(range(count))
    runs = parallel.shares(items, pieces)
    assert [len(r) for r in runs] == lengths
    assert [x for r in runs for x in r] == items
