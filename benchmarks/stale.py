"""Which quoted results files a rerun would change: the engine moved since they were written.

    python3 benchmarks/stale.py [--check]

Every figure in ``README.md`` and ``benchmarks/README*.md`` names its results file in a
``<!-- source: ... -->`` comment (``tests/test_docs_figures.py``). A results file is
*current* when neither the engine files its run used (``meta.engine_files``; for older
runs, all of ``results.ENGINE_PATHS``) nor the script that wrote it changed between the
commit its ``meta`` records and ``HEAD``; otherwise it is *stale* and the table says what
changed; ``--commands`` prints the commands that rerun the stale ones (the script with the
interpreter and arguments its run recorded). ``--check`` exits with 1 when a quoted file
is not current, for a release: the READMEs then state only what the released engine
measured. A run of an older tree on purpose (``speed.py --checkout``, meta ``coreg_commit``
"checkout ...") is a *baseline*: what it measured does not change.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
from results import ENGINE_PATHS  # noqa: E402

#: The READMEs whose figures must be current (as tests/test_docs_figures.py finds them).
DOCS = ("README.md", *sorted(str(p.relative_to(REPO)) for p in HERE.glob("README*.md")))
#: Figures of earlier commits (each named there): quoted like the READMEs' but never
#: stale (the record of their commit).
HISTORY = "docs/history.md"
SOURCE = re.compile(r"<!--\s*source:\s*(.*?)\s*-->")
#: Results files whose name is not their script's (older runs wrote no ``meta.script``).
WRITERS = {"local_corpus": "calibration_local", "local_large": "local", "dem_icp": "dem",
           "dem_uncertainty_validation": "dem_uncertainty", "scale_4096": "scale",
           "scale_10980": "scale", "scale_dask_quiet": "scale_dask",
           "scale_dask_run2": "scale_dask", "speed_before": "speed",
           "speed_session2_before": "speed", "speed_session2_after": "speed",
           "fresh_root-bookworm": "../scripts/fresh_root.sh"}


def quoted_results() -> dict[str, list[str]]:
    """Results files (repository paths) quoted by the docs, each with where it is quoted."""
    quoted: dict[str, list[str]] = {}
    for doc in DOCS:
        path = REPO / doc
        if not path.exists():
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for match in SOURCE.finditer(line):
                for name in match.group(1).split(","):
                    name = name.strip().partition("::")[0]  # a key narrows, the file stays
                    if name.startswith("benchmarks/results/") and name.endswith(".json"):
                        quoted.setdefault(name, []).append(f"{doc}:{number}")
    return quoted


def recorded_commit(meta: dict) -> str | None:
    """The commit a results file's run started on, in the layouts older runs wrote."""
    commit = meta.get("coreg_commit") or meta.get("commit")
    if isinstance(commit, str):
        return commit.split()[-1].removeprefix("coreg_")
    return None


def writer_script(results: Path, meta: dict) -> str:
    """The script that wrote a results file (repository path)."""
    if meta.get("script"):
        return meta["script"]
    stem = WRITERS.get(results.stem, results.stem)
    return str(Path("benchmarks", f"{stem}.py") if not stem.startswith("..")
               else Path(stem.removeprefix("../")))


def changed_since(commit: str, paths: list[str]) -> list[str] | None:
    """Files of ``paths`` that differ between ``commit`` and HEAD (None: unknown commit,
    or no git history to tell)."""
    try:
        proc = subprocess.run(["git", "-C", str(REPO), "diff", "--name-only", commit, "HEAD",
                               "--", *paths], capture_output=True, text=True)
    except OSError:  # no git: nothing can be told
        return None
    return proc.stdout.split() if proc.returncode == 0 else None


def status(name: str) -> dict:
    """One quoted results file: its run's commit and what changed since."""
    path = REPO / name
    try:
        meta = json.loads(path.read_text(encoding="utf-8")).get("meta") or {}
    except (OSError, ValueError):
        return {"file": name, "state": "unreadable"}
    commit = recorded_commit(meta)
    script = writer_script(path, meta)
    if str(meta.get("coreg_commit", "")).startswith("checkout "):
        # a deliberate baseline: an older tree measured as it was (speed.py --checkout)
        return {"file": name, "commit": commit, "date": str(meta.get("date", ""))[:16],
                "script": script, "state": "baseline", "changed": []}
    engine = meta.get("engine_files") or list(ENGINE_PATHS)
    changed = changed_since(commit, [*engine, script]) if commit else None
    state = "no commit" if commit is None else (
        "unknown commit" if changed is None else ("stale" if changed else "current"))
    return {"file": name, "commit": commit, "date": str(meta.get("date", ""))[:16],
            "script": script, "arguments": meta.get("arguments"),
            "interpreter": meta.get("interpreter") or "/usr/bin/python3", "state": state,
            "changed": changed or []}


def rerun_command(row: dict) -> str:
    """The command that reruns a results file's run: ``runs.py``'s row for it, else the
    script with the interpreter and arguments its run recorded."""
    from runs import by_results

    run = by_results().get(row["file"])
    if run is not None:
        return " ".join(shlex.quote(a) for a in run.command(row["interpreter"]))
    arguments = " ".join(shlex.quote(a) for a in row.get("arguments") or [])
    recorded = "" if row.get("arguments") is not None else "  # arguments not recorded"
    runner = "" if row["script"].endswith(".sh") else f"{row['interpreter']} "
    return (f"scripts/headless.sh {runner}{row['script']} {arguments}".rstrip() + recorded)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="exit with 1 when a quoted results file is not current")
    parser.add_argument("--commands", action="store_true",
                        help="print the commands rerunning the stale results files")
    args = parser.parse_args(argv)
    quoted = quoted_results()
    rows = [status(name) for name in sorted(quoted)]
    width = max(len(r["file"]) for r in rows) if rows else 10
    for row in rows:
        changed = row.get("changed", [])
        detail = f"{len(changed)} file(s) changed, e.g. {changed[0]}" if changed else ""
        print(f"{row['file']:<{width}}  {row.get('commit') or '-':<9} {row.get('date', ''):<16}"
              f"  {row['state']:<14} {detail}")
    not_current = [r["file"] for r in rows if r["state"] not in ("current", "baseline")]
    if args.commands:
        print("\n".join(dict.fromkeys(rerun_command(r) for r in rows
                                       if r["file"] in not_current)))
    print(f"\n{len(rows) - len(not_current)} of {len(rows)} quoted results files are current "
          f"or baselines")
    return 1 if args.check and not_current else 0


if __name__ == "__main__":
    sys.exit(main())
