"""Cut the sample pair in ``sample/`` from the shared OSCD Sentinel-2 images, reproducibly.

Usage: /usr/bin/python3 scripts/cut_sample.py [--data ../shared/data] [--output sample]

The same ground (a window of SIZE x SIZE reference pixels at COL, ROW of the 2016 image,
and the 2018 pixels covering it) is copied from both dates: all four bands, pixel values,
band descriptions and metadata tags unchanged, no resampling; written as tiled GeoTIFFs
with DEFLATE and a horizontal predictor (lossless).  Running it again gives the same
pixels, georeferencing and tags.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import rasterio
from rasterio.windows import Window, from_bounds

FOLDER = Path("optical") / "oscd_s2"
REFERENCE = "abudhabi_S2_20160120_B02-B03-B04-B08.tif"
SECONDARY = "abudhabi_S2_20180328_B02-B03-B04-B08.tif"
COL, ROW, SIZE = 200, 200, 384   # reference pixels: the centre of the Abu Dhabi scene


def cut(source: Path, window: Window, output: Path) -> None:
    with rasterio.open(source) as src:
        profile = src.profile | {
            "width": window.width, "height": window.height,
            "transform": src.window_transform(window), "tiled": True,
            "blockxsize": 256, "blockysize": 256, "compress": "deflate", "predictor": 2,
            "zlevel": 9}
        with rasterio.open(output, "w", **profile) as dst:
            dst.write(src.read(window=window))
            dst.descriptions = src.descriptions
            dst.update_tags(**src.tags())


def main() -> None:
    root = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=root.parent / "shared" / "data")
    parser.add_argument("--output", type=Path, default=root / "sample")
    args = parser.parse_args()
    reference, secondary = (args.data / FOLDER / name for name in (REFERENCE, SECONDARY))
    args.output.mkdir(parents=True, exist_ok=True)
    ref_window = Window(COL, ROW, SIZE, SIZE)
    with rasterio.open(reference) as ref, rasterio.open(secondary) as sec:
        bounds = rasterio.windows.bounds(ref_window, ref.transform)
        # The secondary's whole pixels that cover the reference window (its grid differs).
        w = from_bounds(*bounds, transform=sec.transform)
        col0, row0 = math.floor(w.col_off), math.floor(w.row_off)
        sec_window = Window(col0, row0, math.ceil(w.col_off + w.width) - col0,
                            math.ceil(w.row_off + w.height) - row0)
    for source, window in ((reference, ref_window), (secondary, sec_window)):
        output = args.output / source.name.replace(".tif", "_crop.tif")
        cut(source, window, output)
        print(f"{output}: {window.width} x {window.height} px from column {window.col_off}, "
              f"row {window.row_off} of {source.name}, {output.stat().st_size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
