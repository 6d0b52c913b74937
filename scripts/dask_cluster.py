#!/usr/bin/env python3
"""A real Dask cluster on this machine, started the way a cluster runs: a ``dask
scheduler`` and ``dask worker`` processes in their own working folder, with a clean
environment (no PYTHONPATH, nothing of the caller's import path), listening on free
ports of 127.0.0.1.

Tests use :func:`running_cluster` (always stopped, even when the test fails); by hand::

    scripts/dask_cluster.py --workers 2      # prints the address, Ctrl+C stops it
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

#: Seconds the scheduler and the workers have to come up.
START_TIMEOUT = 60
#: Environment variables a worker keeps: nothing that changes Python's import path.
KEPT = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "PROJ_DATA", "PROJ_LIB", "GDAL_DATA")


@dataclass(frozen=True)
class Cluster:
    address: str
    folder: Path
    workers: int


def clean_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The caller's environment without anything that puts packages on the import path."""
    env = {k: v for k, v in os.environ.items() if k in KEPT}
    env.setdefault("PATH", "/usr/bin:/bin")
    env["PYTHONNOUSERSITE"] = "1"  # no ~/.local packages either
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env | dict(extra or {})


@contextlib.contextmanager
def running_cluster(workers: int = 2, python: str = sys.executable,
                    env: Mapping[str, str] | None = None,
                    hidden_from_last: Path | None = None) -> Iterator[Cluster]:
    """A scheduler and ``workers`` single-threaded worker processes, stopped on leaving.

    ``hidden_from_last``: a folder the last worker sees empty, as a worker on another
    host would (an empty file system mounted over it in the worker's own mount
    namespace; needs ``unshare``, see :func:`can_hide`)."""
    folder = Path(tempfile.mkdtemp(prefix="coreg-dask-cluster-"))
    environment = clean_environment(env)
    scheduler_file = folder / "scheduler.json"
    processes: list[subprocess.Popen] = []
    try:
        processes.append(_start([python, "-m", "distributed.cli.dask_scheduler",
                                 "--host", "127.0.0.1", "--port", "0",
                                 "--dashboard-address", "127.0.0.1:0",
                                 "--scheduler-file", str(scheduler_file)],
                                folder, environment, "scheduler"))
        address = _scheduler_address(scheduler_file, processes[0])
        for k in range(workers):
            command = [python, "-m", "distributed.cli.dask_worker", address,
                       "--host", "127.0.0.1", "--nthreads", "1", "--nworkers", "1",
                       "--no-dashboard", "--local-directory", str(folder / f"worker-{k}")]
            if hidden_from_last is not None and k == workers - 1:
                command = [*_hiding(hidden_from_last), *command]
            processes.append(_start(command, folder, environment, f"worker-{k}"))
        _wait_for_workers(address, workers, processes, folder)
        yield Cluster(address, folder, workers)
    finally:
        _stop(processes)
        with contextlib.suppress(OSError):
            import shutil
            shutil.rmtree(folder)


def _hiding(folder: Path) -> list[str]:
    """A command prefix that runs the command with an empty ``folder``."""
    return ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c",
            'mount -t tmpfs coreg-hidden "$0" && exec "$@"', str(folder)]


def can_hide() -> bool:
    """Whether this machine lets a process hide a folder from itself (``unshare``:
    unprivileged user namespaces)."""
    with tempfile.TemporaryDirectory() as folder:
        try:
            return subprocess.run([*_hiding(Path(folder)), "true"], capture_output=True,
                                  timeout=20).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            return False


def die_with_parent() -> None:
    """Run in the child before exec: SIGTERM when the process that started it dies
    (a killed test run must not leave servers behind; Linux only, else nothing)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _start(command: list[str], folder: Path, env: dict, name: str) -> subprocess.Popen:
    log = open(folder / f"{name}.log", "wb")  # noqa: SIM115 - the process keeps it
    try:
        return subprocess.Popen(command, cwd=folder, env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True,
                                preexec_fn=die_with_parent)
    finally:
        log.close()


def _scheduler_address(scheduler_file: Path, scheduler: subprocess.Popen) -> str:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if scheduler.poll() is not None:
            raise RuntimeError(f"dask scheduler exited with {scheduler.returncode}: "
                               f"{_log_tail(scheduler_file.parent / 'scheduler.log')}")
        with contextlib.suppress(OSError, ValueError, KeyError):
            return json.loads(scheduler_file.read_text())["address"]
        time.sleep(0.1)
    raise RuntimeError(f"dask scheduler did not start within {START_TIMEOUT} s")


def _wait_for_workers(address: str, count: int, processes: list[subprocess.Popen],
                      folder: Path) -> None:
    from distributed import Client

    with Client(address, timeout=START_TIMEOUT) as client:
        deadline = time.monotonic() + START_TIMEOUT
        while len(client.scheduler_info()["workers"]) < count:
            dead = [p for p in processes if p.poll() is not None]
            if dead or time.monotonic() > deadline:
                raise RuntimeError(f"{count} dask workers did not start: "
                                   f"{_log_tail(folder / 'worker-0.log')}")
            time.sleep(0.1)


def _log_tail(path: Path) -> str:
    try:
        return path.read_text(errors="replace")[-2000:]
    except OSError:
        return "(no log)"


def _stop(processes: list[subprocess.Popen]) -> None:
    """Workers first, then the scheduler: SIGTERM to each process group, SIGKILL after 10 s."""
    for process in reversed(processes):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
    for process in reversed(processes):
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--python", default=sys.executable,
                        help="interpreter of the scheduler and the workers")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop the cluster too
    with running_cluster(args.workers, args.python) as cluster:
        print(cluster.address, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()


if __name__ == "__main__":
    main()
