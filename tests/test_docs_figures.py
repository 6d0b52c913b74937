"""Every measured figure in the README and the benchmark READMEs has a source.

A figure is a decimal number with a unit of measurement (``0.012 px``, ``2.77x``,
``1.4 GB``, ``0.9 s``, ``97.5 %``), or a decimal number in a table cell (its unit is in the
header). Whole numbers are left out: they are mostly parameters and sizes of inputs.
A paragraph, list item or table that states one names its sources in an HTML comment
on the line before it (or inside it)::

    <!-- source: benchmarks/results/corpus.json -->

A source is a results file in ``benchmarks/results/`` written by the run that measured
the figures (JSON with the commit, date, machine and versions of that run), or a file
of the repository that fixes the number (a constant in the code, a test that asserts
it). Every figure must be found in one of its sources: the same number at the
precision shown (a results file holds 0.011770 where the text says 0.012), so that no
figure can be typed in by hand, and none can outlive the run that wrote it.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from bench_modules import benchmark_module

ROOT = Path(__file__).resolve().parents[1]
#: The READMEs, and the history of the figures (earlier commits' runs; not rerun): the
#: documents benchmarks/stale.py reads.
_STALE = benchmark_module("stale")
DOCUMENTS = [*_STALE.DOCS, _STALE.HISTORY]
#: A decimal number and a unit of measurement after it.
FIGURE = re.compile(r"(?<![\w.])[-+]?(\d+\.\d+)\s?(?:px|%|s\b|ms\b|min\b|x\b|×|MB|GB|GiB|MiB"
                    r"|KiB|kB|m\b|deg\b|degrees|µs)")
#: In a table, every decimal number in a cell is a figure.
TABLE_NUMBER = re.compile(r"(?<=\| )[-+]?\d+\.\d+(?=\s*(?:\w+\s*)?\|)")
#: A source comment, as benchmarks/stale.py reads it (the files it keeps current).
SOURCE = _STALE.SOURCE
NUMBER = re.compile(r"[-+]?\d+\.\d+(?:[eE][-+]?\d+)?|[-+]?\d+(?:[eE][-+]?\d+)?")
#: What a results file's run must say about itself.
RUN_KEYS = ("commit", "date", "machine", "versions")


#: A region copied from a results file by ``benchmarks/render_docs.py``: its figures are
#: that file's by construction (``tests/test_docs_rendered.py`` checks it is current).
RENDERED = re.compile(r"<!--\s*rendered:.*?-->.*?<!--\s*/rendered\s*-->", re.DOTALL)


def blocks(text: str) -> Iterator[tuple[int, str, list[str]]]:
    """(first line number, text, sources) of every paragraph, list item or table
    outside fenced code and rendered regions; sources from a comment on the line before
    or inside it."""
    text = RENDERED.sub(lambda m: "\n" * m.group(0).count("\n"), text)
    lines = text.splitlines()
    in_code, start, current, pending = False, 0, [], []

    def flush():
        if current:
            body = "\n".join(current)
            yield start, body, pending + SOURCE.findall(body)

    for k, line in enumerate(lines, 1):
        if line.lstrip().startswith("```"):
            in_code = not in_code
            yield from flush()
            current, pending = [], []
            continue
        if in_code:
            continue
        only_source = SOURCE.fullmatch(line.strip())
        item = re.match(r"\s*(?:[-*]|\d+\.)\s", line)
        if not line.strip() or only_source or item:
            yield from flush()
            current = []
            if only_source:
                pending = [s.strip() for s in only_source.group(1).split(",")]
                continue
            if not line.strip():
                pending = [] if not current else pending
                continue
        if not current:
            start = k
        current.append(line)
    yield from flush()


def source_numbers(source: str) -> list[float]:
    """The numbers a source holds (every number of a results file's JSON, every
    number written in another file). ``file.json::key.key`` narrows a results file to
    the part under those keys (list items by their index), so that a figure cannot be
    matched by a number of another measurement that happens to round alike."""
    name, _, keys = source.partition("::")
    path = ROOT / name
    assert path.is_file(), f"source {source} does not exist"
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        data = json.loads(text)
        meta = data.get("meta", data) if isinstance(data, dict) else {}
        assert all(any(key in k for k in meta) for key in RUN_KEYS[:2]), \
            f"{source} does not say which run wrote it (commit, date)"
        for key in filter(None, keys.split(".")):
            assert isinstance(data, (dict, list)), f"{source}: nothing under {key!r}"
            data = data[int(key)] if isinstance(data, list) else data.get(key)
            assert data is not None, f"{source}: no key {key!r}"
        return list(_json_numbers(data))
    assert not keys, f"{source}: keys narrow a results file (JSON) only"
    return [float(v) for v in NUMBER.findall(text)]


def _json_numbers(value) -> Iterator[float]:
    if isinstance(value, bool):
        return
    if isinstance(value, (int, float)):
        yield float(value)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _json_numbers(v)
    elif isinstance(value, list):
        for v in value:
            yield from _json_numbers(v)


def shown_as(figure: str, value: float) -> bool:
    """Whether ``value`` is ``figure`` at the precision shown (also as a percentage of
    a fraction: 97.5 % from 0.975)."""
    decimals = len(figure.split(".")[1])
    target = float(figure)
    return any(round(abs(v), decimals) == round(abs(target), decimals)
               for v in (value, 100 * value))


@pytest.mark.parametrize("document", DOCUMENTS)
def test_every_measured_figure_has_a_source(document):
    text = (ROOT / document).read_text(encoding="utf-8")
    missing = []
    for line, body, sources in blocks(text):
        figures = [m.group(1) for m in FIGURE.finditer(body)]
        if body.lstrip().startswith("|"):  # a table: its units are in its header
            figures += [m.group(0) for m in TABLE_NUMBER.finditer(body)]
        if not figures:
            continue
        if not sources:
            missing.append(f"{document}:{line}: {', '.join(figures)} (no source)")
            continue
        numbers = [v for source in sources for v in source_numbers(source)]
        for figure in figures:
            if not any(shown_as(figure, v) for v in numbers):
                missing.append(f"{document}:{line}: {figure} is in none of {sources}")
    assert not missing, "figures without a source:\n" + "\n".join(missing)


def test_the_checker_finds_a_figure_typed_by_hand(tmp_path):
    """The rule itself: a figure that no source holds is reported."""
    text = ("<!-- source: benchmarks/results/corpus.json -->\n"
            "Scene RMS error 0.012 px, worst case 7.31415 px.\n")
    [(_, body, sources)] = list(blocks(text))
    numbers = [v for s in sources for v in source_numbers(s)]
    found = {f: any(shown_as(f, v) for v in numbers)
             for f in (m.group(1) for m in FIGURE.finditer(body))}
    assert found == {"0.012": True, "7.31415": False}


def test_a_key_narrows_a_source_to_its_part(tmp_path, monkeypatch):
    """``file.json::key`` keeps the numbers under that key only: a figure of another
    measurement in the same file no longer passes."""
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    (tmp_path / "r.json").write_text(json.dumps(
        {"meta": {"commit": "abc", "date": "d"},
         "summary": {"ratio": 1.234}, "rows": [{"ratio": 5.678}]}))
    assert 5.678 in source_numbers("r.json")
    assert source_numbers("r.json::summary") == [1.234]
    assert source_numbers("r.json::rows.0.ratio") == [5.678]
    with pytest.raises(AssertionError, match="no key"):
        source_numbers("r.json::summary.missing")
