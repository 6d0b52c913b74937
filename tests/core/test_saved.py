"""Saved alignments are files anyone may have written: read_alignment checks what it reads
(size, nesting, keys, finite and plausible values, a real DISPLACEMENT raster on a local
disk) and refuses the rest with a CoregInputError that says what is wrong."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import numpy as np
import pytest
import rasterio
import rasterio.shutil
from affine import Affine

from coreg.core.errors import CoregInputError
from coreg.core.matching.fit import RigidModel
from coreg.core.transforms.saved import (
    DISPLACEMENT_BANDS,
    FIELD_KIND,
    FIELD_TAG,
    MAX_REPORT_BYTES,
    alignment_record,
    displacement_alignment,
    read_alignment,
)

CRS = "EPSG:32636"
BOUNDS = (500_000.0, 3_700_000.0, 510_000.0, 3_710_000.0)  # 10 km square
IMAGE = alignment_record(RigidModel(3.0, -2.0, 0.1, 505_000.0, 3_705_000.0), CRS, BOUNDS)
DEM = {"kind": "coreg.align_dem", "version": 1, "method": "nuth_kaab", "crs": CRS,
       "shift_x": 1.5, "shift_y": -2.5, "shift_z": 0.8, "alignment_bounds": list(BOUNDS)}
BLOCKWISE = DEM | {"method": "blockwise", "block_shape": [1, 2],
                   "block_nodes": [5000.0, 0.0, 500_000.0, 0.0, -10_000.0, 3_710_000.0],
                   "blocks": [{"shift_x": 1.0, "shift_y": 2.0, "shift_z": 0.5},
                              {"shift_x": 1.2, "shift_y": 2.1, "shift_z": 0.4}]}


def write(tmp_path: Path, report, name: str = "report.json") -> Path:
    path = tmp_path / name
    path.write_text(report if isinstance(report, str) else json.dumps(report))
    return path


def test_reports_written_by_coreg_are_read(tmp_path):
    image = read_alignment(write(tmp_path, IMAGE))
    assert image.model == RigidModel(3.0, -2.0, 0.1, 505_000.0, 3_705_000.0)
    assert read_alignment(write(tmp_path, DEM)).z_offset == 0.8
    field = read_alignment(write(tmp_path, BLOCKWISE))
    assert field.z.tolist() == [[0.5, 0.4]]


@pytest.mark.parametrize("text, message", [
    ("", "is empty"),
    ("{}", "not an alignment report of Coreg"),
    ("[]", "not an alignment report of Coreg"),
    ("null", "not an alignment report of Coreg"),
    ("{\"kind\": ", "Cannot read the alignment report"),
    ("[" * 100_000 + "]" * 100_000, "nests too deeply"),
    ("{\"a\": " * 100_000 + "1" + "}" * 100_000, "nests too deeply"),
])
def test_files_that_are_no_report(tmp_path, text, message):
    with pytest.raises(CoregInputError, match=message):
        read_alignment(write(tmp_path, text))


def test_huge_report_is_not_read(tmp_path):
    path = tmp_path / "huge.json"
    with open(path, "wb") as handle:  # sparse: takes no disk space
        handle.truncate(MAX_REPORT_BYTES + 1)
    with pytest.raises(CoregInputError, match=r"holds 50 MB, more than the 50 MB a report"):
        read_alignment(path)


NAN = float("nan")


@pytest.mark.parametrize("report, message", [
    (IMAGE | {"shift_x_map": 1e12}, r"shift of 1e\+12 map units is more than 10 times the "
                                    r"14142.1 units across the area"),
    (IMAGE | {"rotation_deg": 1e300}, r"rotation_deg 1e\+300 is beyond \+-45 degrees"),
    (IMAGE | {"rotation_deg": -46.0}, r"rotation_deg -46 is beyond \+-45 degrees"),
    (IMAGE | {"shift_y_map": NAN}, "'shift_y_map' is nan, not a finite number"),
    (IMAGE | {"shift_x_map": "3.0"}, "'shift_x_map' is '3.0', not a finite number"),
    (IMAGE | {"shift_x_map": True}, "'shift_x_map' is True, not a finite number"),
    ({k: v for k, v in IMAGE.items() if k != "rotation_deg"}, "lacks 'rotation_deg'"),
    (IMAGE | {"rotation_centre_x": 1e9}, "rotation centre .* lies outside the area"),
    (IMAGE | {"map_units_crs": "EPSG:999999"}, "'EPSG:999999' is not a CRS that PROJ knows"),
    (IMAGE | {"alignment_bounds": [1, 2, 3]}, r"alignment_bounds \[1, 2, 3\] is not"),
    (IMAGE | {"alignment_bounds": [10, 0, 0, 10]}, "is empty"),
    (IMAGE | {"alignment_bounds": [0, 0, 1e13, 1e13], "shift_x_map": 1e12},
     "spans more than the Earth"),
    (DEM | {"shift_z": NAN}, "'shift_z' is nan, not a finite number"),
    (DEM | {"shift_z": 1e6}, r"vertical shift 1e\+06 is beyond \+-10000"),
    (BLOCKWISE | {"block_shape": [2, 2]}, r"block_shape \[2, 2\] does not match the 2 blocks"),
    (BLOCKWISE | {"blocks": [BLOCKWISE["blocks"][0], {"shift_x": 1.0, "shift_y": NAN,
                                                      "shift_z": 0.0}]},
     "block 1 'shift_y' is nan"),
    (BLOCKWISE | {"block_nodes": [0, 0, 0, 0, 0, 0]}, "block_nodes is not invertible"),
])
def test_implausible_values_are_refused(tmp_path, report, message):
    path = write(tmp_path, report)
    with pytest.raises(CoregInputError, match=message) as error:
        read_alignment(path)
    assert str(path) in str(error.value) and "run the alignment again" in str(error.value)


# ------------------------------------------------------------------ displacement


def write_field(path: Path, *, count: int = 2, dtype: str = "float32", tag: bool = True,
                names: tuple[str, ...] | None = DISPLACEMENT_BANDS) -> Path:
    with rasterio.open(path, "w", driver="GTiff", width=8, height=8, count=count, dtype=dtype,
                       crs=CRS, transform=Affine(10, 0, 500_000, 0, -10, 3_710_000)) as dst:
        dst.write(np.zeros((count, 8, 8), dtype))
        if tag:
            dst.update_tags(**{FIELD_TAG: FIELD_KIND})
        for band, name in enumerate(names or (), start=1):
            dst.set_band_description(band, name)
    return path


def local_report(tmp_path: Path, displacement) -> Path:
    return write(tmp_path, {"kind": "coreg.align_local", "version": 1,
                            "displacement": displacement})


def test_displacement_rasters_of_coreg_are_read(tmp_path):
    tagged = write_field(tmp_path / "tagged.tif", names=None)
    older = write_field(tmp_path / "older.tif", tag=False)  # written before the tag
    assert read_alignment(local_report(tmp_path, "tagged.tif")).path == str(tagged)
    assert read_alignment(older).path == str(older)


@pytest.mark.parametrize("options", [dict(tag=False, names=None), dict(tag=False, names=("a",
                                     "b")), dict(count=3), dict(dtype="float64")],
                         ids=["untagged", "other names", "3 bands", "float64"])
def test_other_rasters_are_no_displacement(tmp_path, options):
    other = write_field(tmp_path / "other.tif", **options)
    for path in (other, local_report(tmp_path, "other.tif")):
        with pytest.raises(CoregInputError, match="is not a DISPLACEMENT raster of Align "
                                                  "image \\(local\\)"):
            read_alignment(path)


def test_displacement_in_a_vrt_is_refused(tmp_path):
    """A VRT could reference remote files: only GeoTIFFs are read."""
    field = write_field(tmp_path / "field.tif")
    vrt = tmp_path / "field_vrt.tif"
    with rasterio.open(field) as src:
        rasterio.shutil.copy(src, vrt, driver="VRT")
    with pytest.raises(CoregInputError, match="is not a readable GeoTIFF"):
        read_alignment(local_report(tmp_path, str(vrt)))


@pytest.mark.parametrize("displacement, message", [
    ("/etc/hostname", "is not a readable GeoTIFF"),
    ("/nonexistent/field.tif", "does not exist"),
    (".", "does not exist"),
    ("PG:dbname=x host=127.0.0.1", "does not exist"),
    (5, "displacement 5 is not a file name"),
    ("", "names no DISPLACEMENT raster"),
])
def test_displacement_that_cannot_be_read(tmp_path, displacement, message):
    with pytest.raises(CoregInputError, match=message):
        read_alignment(local_report(tmp_path, displacement))


@pytest.fixture
def listener():
    """A TCP port on this machine that would see any request sent to it."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.setblocking(False)
    yield server.getsockname()[1]
    try:
        server.accept()
        contacted = True
    except BlockingIOError:
        contacted = False
    server.close()
    assert not contacted, "a request was sent"


@pytest.mark.parametrize("template", [
    "/vsicurl?url=http://127.0.0.1:{port}/field.tif", "/vsicurl/http://127.0.0.1:{port}/f.tif",
    "http://127.0.0.1:{port}/field.tif", "/vsizip//vsicurl/http://127.0.0.1:{port}/f.zip/f.tif",
    "\\\\127.0.0.1\\share\\field.tif", "//127.0.0.1/share/field.tif",
    "field.tif?port={port}"])
def test_network_paths_are_refused_without_a_request(tmp_path, listener, template):
    displacement = template.format(port=listener)
    with pytest.raises(CoregInputError, match="is not a local file .*copy the raster"):
        read_alignment(local_report(tmp_path, displacement))
    with pytest.raises(CoregInputError, match="is not a local file"):
        displacement_alignment(displacement)  # a DISPLACEMENT raster given directly


def test_local_field_cannot_be_inverted(tmp_path):
    write_field(tmp_path / "field.tif")
    with pytest.raises(CoregInputError, match="cannot be inverted; untick INVERT"):
        read_alignment(local_report(tmp_path, "field.tif")).inverted()
