"""core/parallel.py: our threads, and BLAS kept to one thread while they run."""

from __future__ import annotations

import threading

import pytest

from coreg.core import parallel

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
