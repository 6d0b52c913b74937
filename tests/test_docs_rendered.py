"""The READMEs' rendered regions hold their results files' text (benchmarks/render_docs.py)."""

from pathlib import Path

import pytest
from bench_modules import benchmark_module

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def render_docs():
    return benchmark_module("render_docs")


def test_every_rendered_region_is_its_results_file_text(render_docs):
    outdated = render_docs.render_all(write=False)  # what render_docs.py --check reports
    assert not outdated, f"run benchmarks/render_docs.py: {outdated}"


def test_a_region_is_replaced_by_the_results_text_and_the_rest_kept(render_docs, tmp_path,
                                                                      monkeypatch):
    (tmp_path / "r.json").write_text('{"table": ["| a |", "|---|", "| 1.5 |"]}')
    monkeypatch.setattr(render_docs, "REPO", tmp_path)
    text = "before\n<!-- rendered: r.json table -->\nold 9.9 px\n<!-- /rendered -->\nafter\n"
    assert render_docs.render(text) == (
        "before\n<!-- rendered: r.json table -->\n| a |\n|---|\n| 1.5 |\n<!-- /rendered -->\n"
        "after\n")
    assert render_docs.regions(text) == [("r.json", "table")]
