"""align_items as the library exports it (``coreg.align_items``) and as the command line
runs it (``coreg align-items``), on the items served by nginx and rustac's STAC API."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import stac_fixture

import coreg

TIMEOUT = 300


def _urls(site) -> tuple[str, str]:
    return (f"{site['files']}/source/item.json",
            f"{site['api']}/collections/{stac_fixture.COLLECTION}/items/reference")


def _cli(home, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "coreg", *map(str, args)], cwd=home,
                          capture_output=True, text=True, timeout=TIMEOUT, check=False)


def test_the_library_exports_align_items_and_its_result():
    from coreg.core.stac.align_items import ItemsResult, align_items

    assert coreg.align_items is align_items and coreg.ItemsResult is ItemsResult
    assert {"align_items", "ItemsResult"} <= set(coreg.__all__)


def test_the_command_line_aligns_items_as_the_library_does(stac_site, tmp_path,
                                                           tmp_path_factory, repo_root):
    home = tmp_path_factory.mktemp("cli-home")
    (home / "coreg").symlink_to(repo_root, target_is_directory=True)
    source, reference = _urls(stac_site)
    completed = _cli(home, "align-items", source, reference, "-o", tmp_path / "cli",
                     "--title", "Abu Dhabi", "--asset", "nir", "--json", "--quiet")
    assert completed.returncode == 0, completed.stderr
    report = json.loads(completed.stdout)
    library = coreg.align_items(source, reference, tmp_path / "lib", title="Abu Dhabi",
                                assets=["nir"]).report
    for key in ("shift_x_px", "shift_y_px", "rotation_deg"):  # another process: its
        assert report[key] == pytest.approx(library[key], abs=1e-5), key  # own float sums
    assert abs(report["shift_x_px"] - stac_fixture.TRUTH_PX[0]) < 0.05
    assert sorted(p.name for p in (tmp_path / "cli").iterdir()) == [
        "collection.json", "item.json", "nir.tif"]
    item = json.loads((tmp_path / "cli" / "item.json").read_text())
    assert item["collection"] == "abu-dhabi"


def test_the_command_line_says_a_broken_precondition_in_one_line(stac_site, tmp_path,
                                                                tmp_path_factory, repo_root):
    home = tmp_path_factory.mktemp("cli-home")
    (home / "coreg").symlink_to(repo_root, target_is_directory=True)
    document = json.loads((stac_site["data"].root / "source" / "item.json").read_text())
    document["properties"]["eo:cloud_cover"] = 60.0
    cloudy = tmp_path / "cloudy.json"
    cloudy.write_text(json.dumps(document))
    _, reference = _urls(stac_site)
    completed = _cli(home, "align-items", cloudy, reference, "-o", tmp_path / "out")
    assert completed.returncode == 2, completed.stderr
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("coreg: error: "), completed.stderr
    assert "60 % cloudy" in lines[0] and "source" in lines[0]
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
