"""Copy the tables a benchmark rendered into its results file into the READMEs.

    python3 benchmarks/render_docs.py [--check]

A README region

    <!-- rendered: benchmarks/results/dem.json table -->
    ...
    <!-- /rendered -->

holds, verbatim, the text under that key of that results file (markdown the benchmark
wrote beside its rows: ``dem.py``'s tables and summary). After a rerun, this script
brings every such region up to date, so a release's tables are the run's own, not typed
by hand; ``--check`` (``tests/test_docs_rendered.py``) fails while one is not.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from stale import DOCS as READMES  # noqa: E402
from stale import HISTORY  # noqa: E402

DOCS = (*READMES, HISTORY)
REGION = re.compile(r"(<!--\s*rendered:\s*(\S+)\s+(\S+)\s*-->\n)(.*?)(<!--\s*/rendered\s*-->)",
                    re.DOTALL)


def rendered_text(results: str, key: str) -> str:
    """The text under ``key`` of a results file (a list of lines is joined)."""
    value = json.loads((REPO / results).read_text(encoding="utf-8"))[key]
    text = "\n".join(value) if isinstance(value, list) else str(value)
    return text.rstrip("\n") + "\n"


def render(text: str) -> str:
    """``text`` with every rendered region holding its results file's text."""
    return REGION.sub(lambda m: m.group(1) + rendered_text(m.group(2), m.group(3))
                      + m.group(5), text)


def regions(text: str) -> list[tuple[str, str]]:
    """(results file, key) of every rendered region of ``text``."""
    return [(m.group(2), m.group(3)) for m in REGION.finditer(text)]


def render_all(write: bool) -> list[str]:
    """The documents with a region out of date, each brought up to date if ``write``."""
    outdated = []
    for doc in DOCS:
        path = REPO / doc
        if not path.exists():
            continue
        text = path.read_text(encoding="utf-8")
        new = render(text)
        if new != text:
            outdated.append(doc)
            if write:
                path.write_text(new, encoding="utf-8")
    return outdated


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="change nothing; exit with 1 when a region is out of date")
    args = parser.parse_args(argv)
    outdated = render_all(write=not args.check)
    verb = "out of date" if args.check else "rendered"
    print(f"{verb}: {', '.join(outdated)}" if outdated else "every rendered region is current")
    return 1 if args.check and outdated else 0


if __name__ == "__main__":
    sys.exit(main())
