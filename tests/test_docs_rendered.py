"""The READMEs' rendered regions hold their results files' text (benchmarks/render_docs.py)."""

import importlib.util
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def render_docs():
    spec = importlib.util.spec_from_file_location("render_docs",
                                                  REPO / "benchmarks" / "render_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_rendered_region_is_its_results_file_text(render_docs):
    outdated = [doc for doc in render_docs.DOCS if (REPO / doc).exists()
                and render_docs.render((REPO / doc).read_text(encoding="utf-8"))
                != (REPO / doc).read_text(encoding="utf-8")]
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
