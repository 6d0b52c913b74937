"""align_local answers progress and cancel between bounded units of work in every phase
(tile reads, the tie-point spline's nodes, the field raster's writes): between two
progress reports, and between two cancel polls, no phase handles more than 1.5 tiles'
worth of pixels. Counted in pixels of work, not in seconds (no timed test); on one
thread so that the order of work and polls is the code's, not the scheduler's. On a
whole Sentinel-2 tile the same bound keeps every gap under a second
(benchmarks/scale.py measures them)."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio.io
from local_synthetic import SCENE, write_pair

from coreg.core import parallel
from coreg.core.local import field_fit, field_raster, flow_tiles, reader, tie_points
from coreg.core.local.local import align_local

SIZE, TILE, SPACING = 768, 192, 32
#: Node pitch of the tie-point field for SPACING (estimate_tie_points: spacing / 4).
STEP = 8
#: The largest tile a phase reads: the core and the tie points' margin (window / 2 +
#: MAX_SHIFT + 4) on both sides, larger than the dense flow's margin.
UNIT = (TILE + 2 * (64 // 2 + 10 + 4)) ** 2
BUDGET = 2 * UNIT


class WorkLog:
    """Pixels of work done since the last progress report and the last cancel poll,
    and the most seen between two of each."""

    def __init__(self) -> None:
        self.since = {"progress": [], "cancel": []}
        self.worst = {"progress": (0, []), "cancel": (0, [])}

    def work(self, kind: str, pixels: int) -> None:
        for done in self.since.values():
            done.append((kind, int(pixels)))

    def poll(self, key: str) -> None:
        total = sum(p for _, p in self.since[key])
        if total > self.worst[key][0]:
            self.worst[key] = (total, list(self.since[key]))
        self.since[key] = []

    def finish(self) -> dict:
        for key in self.since:
            self.poll(key)
        return self.worst


@pytest.fixture(scope="module")
def pair(shared_data, tmp_path_factory):
    return write_pair(shared_data / SCENE, tmp_path_factory.mktemp("polling_pair"), size=SIZE,
                      row=150, col=150)


@pytest.fixture
def log(monkeypatch) -> WorkLog:
    """One thread, small tiles and strips, and every tile read, spline node and raster
    write counted (in reference pixels) as it happens."""
    log = WorkLog()
    for module in (parallel, flow_tiles, tie_points, field_fit):
        monkeypatch.setattr(module, "THREADS", 1)
    monkeypatch.setattr(reader, "TILE", TILE)
    monkeypatch.setattr(field_raster, "BLOCK", 64)
    read = reader.RasterTiles.read

    def counted_read(self, *args, **kwargs):
        tile = read(self, *args, **kwargs)
        log.work("tile read", tile.reference.size)
        return tile
    monkeypatch.setattr(reader.RasterTiles, "read", counted_read)
    write = rasterio.io.DatasetWriter.write

    def counted_write(self, arr, *args, **kwargs):
        log.work("raster write", np.shape(arr)[-1] * np.shape(arr)[-2])
        return write(self, arr, *args, **kwargs)
    monkeypatch.setattr(rasterio.io.DatasetWriter, "write", counted_write)
    for name in ("_thin_plate_spline", "_local_thin_plate_spline"):
        monkeypatch.setattr(field_fit, name, _counted_spline(getattr(field_fit, name), log))
    return log


def _counted_spline(build, log: WorkLog):
    def counted_build(*args):
        on_grid = build(*args)

        def counted(rows, cols):
            log.work("spline nodes", len(rows) * len(cols) * STEP ** 2)
            return on_grid(rows, cols)
        return counted
    return counted_build


def _run(pair, folder, log: WorkLog, **options) -> dict:
    def progress(value: float) -> None:
        log.poll("progress")

    def is_canceled() -> bool:
        log.poll("cancel")
        return False
    reference, secondary = pair
    align_local(reference, secondary, None, folder / "field.tif", max_shift=10,
                window_size=64, progress=progress, is_canceled=is_canceled, **options)
    return log.finish()


def _kinds(work: list) -> dict:
    kinds: dict = {}
    for kind, pixels in work:
        kinds[kind] = kinds.get(kind, 0) + pixels
    return kinds


@pytest.mark.parametrize("method, options", [
    ("tie_points", dict(grid_spacing=SPACING)),
    ("dense_flow", dict(grid_spacing=64, radius=4, levels=1, iterations=1)),
])
def test_align_local__polls_between_bounded_work(pair, tmp_path, log, method, options):
    worst = _run(pair, tmp_path, log, method=method, **options)

    for key, (pixels, work) in worst.items():
        # Measured 1.0 (tie points: a tile) and 1.46 (dense flow: a tile of the field
        # written, a check point's tile read). Before the tie points' measures and fits
        # reported progress: 23.5 (a pass); the dense field written by rows of tiles: 2.8.
        assert pixels <= BUDGET, (f"{method}: {pixels / UNIT:.1f} tiles of work between two "
                                  f"{key} polls: {_kinds(work)}")
        assert pixels > 0.2 * UNIT  # the work was counted
