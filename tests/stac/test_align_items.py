"""align_items catalogue to catalogue: items over HTTP (nginx) and from a STAC API
(rustac), COG assets streamed, preconditions, and network faults."""

from __future__ import annotations

import json
import re
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import rasterio
import stac_fixture
from osgeo_utils.samples.validate_cloud_optimized_geotiff import validate as validate_cog
from stac_validation import validator

from coreg.core.errors import CoregInputError, CoregResourceError
from coreg.core.matching.align import align_image
from coreg.core.stac.align_items import align_items
from coreg.core.stac.stac import read_item


def _urls(site) -> tuple[str, str]:
    return (f"{site['files']}/source/item.json",
            f"{site['api']}/collections/{stac_fixture.COLLECTION}/items/reference")


def _logged():
    messages = []
    return messages, lambda level, text: messages.append((level, text))


def test_align_items_over_http_matches_align_image_on_local_files(stac_site, tmp_path):
    source, reference = _urls(stac_site)
    messages, log = _logged()
    result = align_items(source, reference, tmp_path / "out", title="Abu Dhabi aligned",
                         assets=["red", "B08"], log=log)
    root = stac_site["data"].root
    local = align_image(root / "reference" / "nir.tif", root / "source" / "nir.tif").report()
    report = result.report
    for key in ("shift_x_px", "shift_y_px"):
        assert abs(report[key] - local[key]) <= 0.005, key
    assert abs(report["rotation_deg"] - local["rotation_deg"]) <= 1e-4
    truth_x, truth_y = stac_fixture.TRUTH_PX
    assert abs(report["shift_x_px"] - truth_x) < 0.05
    assert abs(report["shift_y_px"] - truth_y) < 0.05
    assert report["source_item"] == source and report["reference_item"] == reference
    assert report["match_asset"] == "nir"
    assert sorted(report["assets_written"]) == ["nir", "red"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "collection.json", "item.json", "nir.tif", "red.tif"]
    for path in result.outputs.values():
        warnings, errors, _ = validate_cog(path)
        assert errors == []
    # The aligned NIR sits on the reference: measured again, no shift is left.
    again = align_image(root / "reference" / "nir.tif", result.outputs["nir"]).report()
    assert abs(again["shift_x_px"]) < 0.05 and abs(again["shift_y_px"]) < 0.05
    assert ("info", "Preconditions met: items 'source' and 'reference'.") in messages


def test_the_output_item_and_collection_are_valid_stac_with_resolvable_links(stac_site,
                                                                            tmp_path):
    source, reference = _urls(stac_site)
    result = align_items(source, reference, tmp_path, title="Abu Dhabi aligned",
                         assets=["nir"])
    item = json.loads(Path(result.item).read_text())
    collection = json.loads(Path(result.collection).read_text())
    validator("item.json").validate(item)
    validator("collection.json").validate(collection)
    assert collection["title"] == item["properties"]["title"] == "Abu Dhabi aligned"
    assert item["collection"] == collection["id"] == "abu-dhabi-aligned"
    asset = item["assets"]["nir"]
    assert (tmp_path / asset["href"]).resolve() == Path(result.outputs["nir"]).resolve()
    assert asset["eo:bands"] == [{"name": "B08", "common_name": "nir"}]
    with rasterio.open(result.outputs["nir"]) as ds:
        assert asset["proj:shape"] == [ds.height, ds.width]
        assert asset["proj:transform"] == pytest.approx(list(ds.transform)[:6])
    assert any("projection" in e for e in item["stac_extensions"])
    assert any("processing" in e for e in item["stac_extensions"])
    assert item["properties"]["processing:level"] == "L1C"
    version = re.search(r"(?m)^version=(\S+)", (stac_fixture.REPO / "metadata.txt").read_text())
    assert item["properties"]["processing:software"] == {"coreg": version[1]}
    assert item["properties"]["coreg:shift_x_px"] == result.report["shift_x_px"]
    assert item["properties"]["coreg:reliability"] > 90
    derived = [link["href"] for link in item["links"] if link["rel"] == "derived_from"]
    assert derived == [source, reference]
    for href, item_id in zip(derived, ("source", "reference")):
        with urllib.request.urlopen(href, timeout=10) as response:
            assert json.load(response)["id"] == item_id
    assert (tmp_path / "collection.json").is_file()


def test_cog_assets_are_streamed_by_range_requests(stac_site, tmp_path):
    log = stac_site["log"]
    before = len(stac_fixture.access_log(log))
    source, reference = _urls(stac_site)
    align_items(source, reference, tmp_path, assets=["nir"])
    requests = stac_fixture.access_log(log)[before:]
    rasters = [r for r in requests if r["uri"].endswith(".tif")]
    # GDAL asks a file's size (HEAD, no body) the first time the process opens its URL
    heads = [r for r in rasters if r["method"] == "HEAD"]
    assert all(r["bytes"] == 0 for r in heads)
    reads = [r for r in rasters if r["method"] == "GET"]
    assert reads and len(reads) + len(heads) == len(rasters)
    whole = [r for r in reads if r["status"] != 206 or not r["range"].startswith("bytes=")]
    assert whole == []  # never a whole-file download
    assert not any(r["uri"].endswith((".aux.xml", ".ovr", ".msk")) for r in requests)


def test_a_non_cog_asset_is_aligned_with_a_warning(stac_site, tmp_path):
    source, reference = _urls(stac_site)
    messages, log = _logged()
    result = align_items(source, reference, tmp_path, assets=["nir_striped"],
                         match_asset="nir", log=log)
    assert Path(result.outputs["nir_striped"]).is_file()
    assert any(level == "warning" and "'nir_striped'" in text
               and "not a Cloud-Optimized GeoTIFF" in text for level, text in messages)


def test_assets_are_chosen_by_key_band_name_or_common_name(stac_site):
    item = read_item(_urls(stac_site)[0], allow_remote=True)
    assert item.asset("nir").key == item.asset("B08").key == item.asset("NIR").key == "nir"
    assert item.asset("red").key == item.asset("b04").key == "red"
    assert item.asset("nir_striped").key == "nir_striped"
    with pytest.raises(CoregInputError, match=r"no asset or band 'swir16'; its assets are "
                                              r"red \(B04, red\); nir \(B08, nir\)"):
        item.asset("swir16")


def test_a_remote_item_is_refused_unless_asked_for(stac_site):
    with pytest.raises(CoregInputError, match="not a local file"):
        read_item(_urls(stac_site)[0])


def _edited_item(site, tmp_path: Path, name: str, **properties) -> str:
    """A copy of the served source item with ``properties`` changed, served too."""
    document = json.loads((site["data"].root / "source" / "item.json").read_text())
    document["properties"].update(properties)
    if "bbox" in properties:
        document["bbox"] = properties.pop("bbox")
        document["properties"].pop("bbox")
    if "gsd" in properties:
        for asset in document["assets"].values():
            asset["gsd"] = properties["gsd"]
    path = site["data"].root / "edited" / f"{name}.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(document))
    return f"{site['files']}/edited/{name}.json"


@pytest.mark.parametrize("properties, message", [
    ({"eo:cloud_cover": 40.0}, r"The source item 'source' is 40 % cloudy \(under 25 % needed\)"),
    ({"gsd": 30.0}, r"'source' has a GSD of 30 m against 20 m for the reference item "
                    r"'reference' \(50 % apart, at most 25 %\)"),
    ({"processing:level": "L2A"}, r"'source' is processing level L2A and the reference item "
                                  r"'reference' L1C"),
    ({"bbox": [54.60, 24.35, 54.70, 24.45]}, r"overlap by \d+ % only \(at least 20 % needed\)"),
])
def test_broken_preconditions_are_refused_before_a_pixel_is_read(stac_site, tmp_path,
                                                                 properties, message):
    name = "-".join(properties).replace(":", "_")
    source = _edited_item(stac_site, tmp_path, name, **properties)
    log = stac_site["log"]
    before = len(stac_fixture.access_log(log))
    with pytest.raises(CoregInputError, match=message):
        align_items(source, _urls(stac_site)[1], tmp_path / "out")
    requests = stac_fixture.access_log(log)[before:]
    assert not any(r["uri"].endswith(".tif") for r in requests)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_ignored_preconditions_become_warnings(stac_site, tmp_path):
    source = _edited_item(stac_site, tmp_path, "cloudy", **{"eo:cloud_cover": 40.0})
    messages, log = _logged()
    result = align_items(source, _urls(stac_site)[1], tmp_path, assets=["nir"],
                         ignore_preconditions=True, log=log)
    assert Path(result.outputs["nir"]).is_file()
    assert any(level == "warning" and "40 % cloudy" in text and "Ignored" in text
               for level, text in messages)


def _broken_asset_item(site, name: str, href: str) -> str:
    document = json.loads((site["data"].root / "source" / "item.json").read_text())
    document["assets"]["nir"]["href"] = href
    path = site["data"].root / "edited" / f"{name}.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(document))
    return f"{site['files']}/edited/{name}.json"


def test_network_faults_are_clear_errors_leaving_no_output(stac_site, tmp_path):
    source, reference = _urls(stac_site)
    out = tmp_path / "out"
    item_bytes = (stac_site["data"].root / "source" / "item.json").read_bytes()
    cog_bytes = (stac_site["data"].root / "source" / "nir.tif").read_bytes()
    with stac_fixture.stalling_server() as stalling, \
            stac_fixture.truncating_server(item_bytes) as truncating, \
            stac_fixture.truncating_server(cog_bytes) as truncating_cog:
        down = f"http://127.0.0.1:{stac_fixture.free_port()}/collections/c/items/reference"
        faults = [
            (down, reference, {}, CoregInputError, r"cannot be reached \(connection refused\)"),
            (source, reference.replace("/reference", "/nope"), {}, CoregInputError,
             r"items/nope': the server answered HTTP 404 \(not found\)"),
            (_broken_asset_item(stac_site, "missing", f"{stac_site['files']}/source/no.tif"),
             reference, {}, CoregInputError,
             r"Asset 'nir' '.*/source/no.tif': the server answered HTTP 404"),
            (f"{stalling}/item.json", reference, {"timeout": 1}, CoregResourceError,
             r"did not answer within 1 s"),
            (_broken_asset_item(stac_site, "stalled", f"{stalling}/nir.tif"), reference,
             {"timeout": 1}, CoregResourceError, r"Asset 'nir' .*did not answer within 1 s"),
            (f"{truncating}/item.json", reference, {}, CoregInputError,
             r"the response was cut short"),
            (_broken_asset_item(stac_site, "cut", f"{truncating_cog}/nir.tif"), reference, {},
             CoregInputError, r"Reading the matched assets \('nir' of 'source', 'nir' of "
                              r"'reference'\) over the network failed: the data arrived "
                              r"incomplete \(a response cut short"),
        ]
        for source_url, reference_url, options, error, message in faults:
            with pytest.raises(error, match=message):
                align_items(source_url, reference_url, out, assets=["red", "nir"], **options)
            assert not out.exists() or list(out.iterdir()) == [], message
    result = align_items(source, reference, out, assets=["red", "nir"])  # a later run works
    assert sorted(result.outputs) == ["nir", "red"]


def test_a_failure_after_the_first_asset_removes_it(stac_site, tmp_path, monkeypatch):
    from coreg.core.stac import align_items as module

    calls = []
    real = module.apply_alignment

    def failing(*args, **kwargs):
        calls.append(args[2])
        if len(calls) == 2:
            raise CoregInputError("the second asset failed")
        return real(*args, **kwargs)

    source, reference = _urls(stac_site)
    align_items(source, reference, tmp_path, assets=["red", "nir"])  # an earlier run's set
    monkeypatch.setattr(module, "apply_alignment", failing)
    with pytest.raises(CoregInputError, match="the second asset failed"):
        align_items(source, reference, tmp_path, assets=["red", "nir"])
    # The rewritten asset is gone, and so is the STAC item that listed it: the folder
    # holds no item naming a missing asset.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nir.tif"]


def test_the_measurement_reads_only_prefetched_tiles(stac_site):
    from coreg.core.io.paths import remote_reads
    from coreg.core.io.prefetch import prefetch_patches
    from coreg.core.matching.align import estimate_alignment
    from coreg.core.stac.net import gdal_http, vsicurl

    log = stac_site["log"]
    fresh = f"?run={time.monotonic_ns()}"  # a URL GDAL has not cached yet
    paths = [vsicurl(f"{stac_site['files']}/{name}/nir.tif{fresh}")
             for name in ("reference", "source")]
    with gdal_http(), remote_reads(paths):
        before = len(stac_fixture.access_log(log))
        assert prefetch_patches(*paths) > 0
        prefetched = len(stac_fixture.access_log(log))
        alignment = estimate_alignment(*paths)
    assert prefetched > before
    assert len(stac_fixture.access_log(log)) == prefetched  # every tile came from the cache
    assert alignment.shift_x_px == pytest.approx(stac_fixture.TRUTH_PX[0], abs=0.05)
    assert prefetch_patches(str(stac_site["data"].root / "reference" / "nir.tif"),
                            str(stac_site["data"].root / "source" / "nir.tif")) == 0


def test_public_catalogue_conventions(tmp_path):
    """Planetary Computer assets are signed by GDAL, s3:// assets (CDSE's eodata) read
    through GDAL's S3, and STAC 1.1 ``bands`` name assets as ``eo:bands`` do."""
    from coreg.core.stac.net import url_of, vsicurl
    from coreg.core.stac.stac import needs_pc_signing

    item = "https://planetarycomputer.microsoft.com/api/stac/v1/collections/s2/items/x"
    blob = "https://sentinel2l2a01.blob.core.windows.net/sentinel2-l2/B08.tif"
    assert needs_pc_signing(item, blob)
    assert not needs_pc_signing("https://earth-search.aws.element84.com/v1/x", blob)
    assert not needs_pc_signing(item, "https://example.org/B08.tif")
    signed = vsicurl(blob, pc_collection="sentinel-2-l2a")
    assert "pc_url_signing=yes" in signed and "pc_collection=sentinel-2-l2a" in signed
    assert url_of(signed) == blob
    document = {"type": "Feature", "stac_version": "1.1.0", "id": "cdse", "geometry": None,
                "properties": {"datetime": "2024-05-01T10:00:00Z"}, "links": [],
                "assets": {"B08_10m": {"href": "s3://eodata/Sentinel-2/MSI/B08_10m.jp2",
                                       "bands": [{"name": "B08", "eo:common_name": "nir"}]}}}
    path = tmp_path / "cdse.json"
    path.write_text(json.dumps(document))
    asset = read_item(path, allow_remote=True).asset("nir")
    assert asset.key == "B08_10m"
    assert asset.href == "/vsis3/eodata/Sentinel-2/MSI/B08_10m.jp2"
    with pytest.raises(CoregInputError, match="not a local file"):
        read_item(path)


def test_without_pystac_the_run_says_so_before_any_request(stac_site, tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *args: None if name == "pystac" else real(name, *args))
    log = stac_site["log"]
    before = len(stac_fixture.access_log(log))
    with pytest.raises(CoregResourceError, match="pip install pystac"):
        align_items(*_urls(stac_site), tmp_path)
    assert len(stac_fixture.access_log(log)) == before
    assert list(tmp_path.iterdir()) == []


def test_the_anchor_is_the_item_with_the_largest_clear_overlap():
    from coreg.core.stac.item_stack import choose_anchor
    from coreg.core.stac.stac import StacItem

    def item(name, bbox, cloud):
        return StacItem(name, name, {"eo:cloud_cover": cloud}, (), None, bbox)

    west = item("west", (0.0, 0.0, 1.0, 1.0), 0.0)
    middle = item("middle", (0.5, 0.0, 1.5, 1.0), 10.0)
    cloudy = item("cloudy", (0.5, 0.0, 1.5, 1.0), 90.0)
    east = item("east", (1.0, 0.0, 2.0, 1.0), 0.0)
    anchor, why = choose_anchor([west, middle, cloudy, east])
    assert anchor is middle  # overlaps every other; the cloudy twin is 10 % clear
    assert why == ("the largest clear overlap: it overlaps the others by 67 % on average "
                   "and is 90 % clear; clear overlap of every item: west 0.33, middle 0.60, "
                   "cloudy 0.07, east 0.33")


def test_a_run_after_a_cut_transfer_succeeds_on_the_same_urls(stac_site, tmp_path):
    """GDAL keeps nothing of a failed transfer: once the server is well, the same item
    and asset URLs work in the same process."""
    import threading

    healthy = threading.Event()
    cog = (stac_site["data"].root / "source" / "nir.tif").read_bytes()
    with stac_fixture.truncating_server(cog, healthy) as flaky:
        source = _broken_asset_item(stac_site, "flaky", f"{flaky}/nir.tif")
        with pytest.raises(CoregInputError, match="the data arrived incomplete"):
            align_items(source, _urls(stac_site)[1], tmp_path, assets=["nir"])
        assert list(tmp_path.iterdir()) == []
        healthy.set()
        result = align_items(source, _urls(stac_site)[1], tmp_path, assets=["nir"])
    assert result.report["shift_x_px"] == pytest.approx(stac_fixture.TRUTH_PX[0], abs=0.05)


def test_every_gsd_on_its_own_grid_and_masks_by_nearest(stac_site, tmp_path):
    """One measurement (20 m NIR) moves a 40 m band and a 0/1 mask too, each on its own
    grid: the mask stays 0/1, the 40 m band sits on the reference afterwards."""
    messages, log = _logged()
    result = align_items(*_urls(stac_site), tmp_path, assets=["nir_40m", "mask"], log=log)
    root = stac_site["data"].root
    with rasterio.open(result.outputs["nir_40m"]) as out, \
            rasterio.open(root / "source" / "nir_40m.tif") as src:
        assert out.res == pytest.approx(src.res)
    again = align_image(root / "reference" / "nir.tif", result.outputs["nir_40m"]).report()
    assert abs(again["shift_x_px"]) < 0.05 and abs(again["shift_y_px"]) < 0.05
    with rasterio.open(result.outputs["mask"]) as out:
        values = out.read(1)
        assert out.dtypes[0] == "uint8"
    assert set(np.unique(values)) <= {0, 1, 255}  # 255: outside the moved footprint
    assert any("'mask'" in text and "nearest neighbour" in text for _, text in messages)
