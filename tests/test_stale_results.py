"""benchmarks/stale.py: a results file is current only while the engine files its run
used are those of HEAD."""

import json
import subprocess
from pathlib import Path

import pytest
from bench_modules import benchmark_module

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def stale():
    return benchmark_module("stale")


def _head() -> str:
    """HEAD's commit; the test skips where there is no git history (a tree from a zip, a
    bare machine without git)."""
    try:
        return subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("no git history here")


def _results(tmp_path, meta) -> str:
    path = tmp_path / "x.json"
    path.write_text(json.dumps({"meta": meta}))
    return str(path)


def test_a_run_on_head_is_current_and_an_unknown_commit_is_not(stale, tmp_path):
    meta = {"coreg_commit": _head(), "script": "benchmarks/stale.py",
            "engine_files": ["core/grid.py"]}
    assert stale.status(_results(tmp_path, meta))["state"] == "current"
    meta["coreg_commit"] = "0000000"
    assert stale.status(_results(tmp_path, meta))["state"] == "unknown commit"
    assert stale.status(_results(tmp_path, {}))["state"] == "no commit"


def test_older_layouts_give_their_commit(stale):
    assert stale.recorded_commit({"coreg_commit": "checkout coreg_e2fe6ad"}) == "e2fe6ad"
    assert stale.recorded_commit({"commit": "abc1234"}) == "abc1234"
    assert stale.recorded_commit({}) is None


def test_every_quoted_results_file_is_found(stale):
    quoted = stale.quoted_results()
    assert "benchmarks/results/corpus.json" in quoted
    assert all(REPO.joinpath(name).exists() for name in quoted)


def test_a_source_narrowed_to_a_key_quotes_its_file(stale):
    """``<!-- source: benchmarks/results/speed.json::pairs -->`` quotes speed.json."""
    quoted = stale.quoted_results()
    assert "benchmarks/results/speed.json" in quoted
    assert not any("::" in name for name in quoted)


def test_a_run_of_an_older_tree_on_purpose_is_a_baseline(stale, tmp_path):
    meta = {"coreg_commit": "checkout coreg_e2fe6ad", "script": "benchmarks/speed.py"}
    assert stale.status(_results(tmp_path, meta))["state"] == "baseline"


def test_every_quoted_results_file_has_a_run_or_is_a_baseline(stale):
    """``make bench-stale`` reruns the rows of benchmarks/runs.py: a quoted file no row
    writes (a one-off run, a copy kept by commit) would outlive a release and state what
    an older engine measured. Its place is docs/history.md, unless it is a baseline."""
    from runs import by_results  # benchmarks/ is on sys.path once stale.py is loaded

    rows = by_results()
    orphans = {name: where for name, where in stale.quoted_results().items()
               if name not in rows and stale.status(name)["state"] != "baseline"}
    assert not orphans, ("quoted, but no row of benchmarks/runs.py writes them (move the "
                         f"text to docs/history.md, or add a row): {orphans}")


def test_engine_files_count_the_checkout_imported_through_its_link(monkeypatch, tmp_path):
    """A benchmark imports the engine through benchmarks/work/pkg/coreg, a link to the
    checkout it may remove before writing its results (stack.py did): those modules are
    the engine's files all the same, else the run reads as current however the engine
    changes."""
    from types import ModuleType

    results = benchmark_module("results")
    monkeypatch.setattr(results, "REPO", tmp_path)  # a checkout whose link is gone
    module = ModuleType("coreg.core.linked_only")
    module.__file__ = str(tmp_path / "benchmarks" / "work" / "pkg" / "coreg" / "core" / "linked.py")
    monkeypatch.setitem(__import__("sys").modules, module.__name__, module)
    assert "core/linked.py" in results.engine_files()


def test_a_run_of_coreg_in_child_processes_depends_on_the_whole_engine():
    """dem.py and local.py run Coreg only in child processes: nothing of the engine is
    imported where the results are written, so the run names the engine's folders."""
    results = benchmark_module("results")
    results.runs_processes()
    assert {"core", "algorithms", "cli.py"} <= set(results.engine_files())
