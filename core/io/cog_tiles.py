"""Cloud-Optimized GeoTIFFs assembled from tiles compressed where the pixels are made.

GDAL's COG driver compresses every tile and computes every overview itself, in the one
process that writes the file: on a Dask cluster that was the client, alone, after the
workers had finished (two thirds of a band-math job, ``benchmarks/scale_dask.py``).
Here the work that makes a strip of :data:`.raster_io.BLOCK` rows (a worker's task, or a
local thread) also compresses its tiles and averages its share of every overview level
(:func:`encode_strip`); the writer (:class:`CogAssembler`) only appends those bytes to a
scratch file, compresses the overview tiles (a third of the pixels at most), and at the
end lays the file out as GDAL's COG driver does: the IFDs first, then the tiles of the
smallest overview up to the full resolution, each tile between a 4-byte size and a copy of
its last 4 bytes (GDAL's ``BLOCK_LEADER`` / ``BLOCK_TRAILER``), announced by GDAL's
structural metadata so that GDAL reads it as a COG.

The tiles are what GDAL writes: DEFLATE (zlib format, level 1, libdeflate where installed:
:mod:`.deflate`) after TIFF predictor 3 (floating point) or 2 (integers), every tile
stored (one missing is what a failed write leaves). The pieces of overview tiles are
compressed by zlib (libdeflate cannot end a piece without ending the stream) with its
run-length strategy: twice as fast as its default, a few percent larger on rasters of
smooth values (12 % on a 512 x 512 sine, 0.4 % with noise).
The georeferencing, nodata and metadata tags are GDAL's own, copied from a header-only
GeoTIFF GDAL writes in memory. Overviews average 2 x 2 pixels of the level below,
nodata left out (GDAL's ``AVERAGE``).
"""

from __future__ import annotations

import functools
import math
import os
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from rasterio.io import MemoryFile
from rasterio.windows import Window

from ..grid import Grid
from .deflate import zlib_compress

#: Files from this many bytes on are BigTIFF (classic TIFF offsets stop at 4 GiB).
BIGTIFF_FROM = 2**32 - 2**24
#: DEFLATE level: as small as level 6 on these rasters at twice the speed.
ZLEVEL = 1

#: GDAL's structural metadata of a COG (gcore/gtiff/cogdriver.cpp), read by GDAL to
#: know the layout and the tiles' leader and trailer.
_STRUCTURE = ("LAYOUT=IFDS_BEFORE_DATA\nBLOCK_ORDER=ROW_MAJOR\nBLOCK_LEADER=SIZE_AS_UINT4\n"
              "BLOCK_TRAILER=LAST_4_BYTES_REPEATED\nKNOWN_INCOMPATIBLE_EDITION=NO\n ")
_GHOST = (f"GDAL_STRUCTURAL_METADATA_SIZE={len(_STRUCTURE):06d} bytes\n"
          + _STRUCTURE).encode("ascii")

# TIFF field types and the tags written here.
_SHORT, _LONG, _LONG8 = 3, 4, 16
_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8,
               16: 8, 17: 8, 18: 8}
_NEW_SUBFILE_TYPE, _WIDTH, _LENGTH, _BITS, _COMPRESSION = 254, 256, 257, 258, 259
_SAMPLES, _PLANAR, _PREDICTOR, _TILE_WIDTH, _TILE_LENGTH = 277, 284, 317, 322, 323
_TILE_OFFSETS, _TILE_BYTE_COUNTS, _SAMPLE_FORMAT = 324, 325, 339
_PHOTOMETRIC, _COLORMAP, _EXTRA_SAMPLES, _GDAL_NODATA = 262, 320, 338, 42113
#: Tags copied from GDAL's header: on every level, and on the full resolution only.
_EVERY_LEVEL = (_PHOTOMETRIC, _COLORMAP, _EXTRA_SAMPLES, _GDAL_NODATA)
_FULL_ONLY = (33550, 33922, 34264, 34735, 34736, 34737, 42112)


@dataclass(frozen=True)
class TileSpec:
    """The tiling of one output: what a strip's encoder and the writer agree on."""

    width: int
    height: int
    count: int
    dtype: str
    nodata: float | None
    tile_width: int
    tile_height: int
    levels: int

    @classmethod
    def for_grid(cls, grid: Grid, *, count: int, dtype: str, nodata: float | None,
                 strip_rows: int, tile_width: int, overviews: bool = True) -> TileSpec:
        """The spec of an output on ``grid`` written in strips of ``strip_rows`` rows (a
        multiple of 16): one row of tiles each, as high as a strip (or, for a grid lower
        than a strip, the least multiple of 16 that holds it). Overviews (GDAL's COG
        rule) halve it until it fits in one tile, as long as a strip holds whole rows of
        every level (9 levels for strips of 512 rows). ``overviews`` False: none, a plain
        tiled GeoTIFF (a COG without overviews) that the workers still compress."""
        if strip_rows % 16:
            raise ValueError(f"strips of {strip_rows} rows: TIFF tiles are multiples of 16")
        tile_height = min(strip_rows, -(-grid.height // 16) * 16)
        if not overviews:
            most = 0
        elif grid.height > strip_rows:  # a strip must hold whole rows of every level
            most = (strip_rows & -strip_rows).bit_length() - 1
        else:
            most = 32
        levels = 0
        while levels < most and (math.ceil(grid.width / 2**levels) > tile_width
                                 or math.ceil(grid.height / 2**levels) > tile_height):
            levels += 1
        return cls(grid.width, grid.height, count, str(np.dtype(dtype)), nodata,
                   tile_width, tile_height, levels)

    def shape(self, level: int) -> tuple[int, int]:
        """(width, height) of ``level`` (0: the full resolution)."""
        return math.ceil(self.width / 2**level), math.ceil(self.height / 2**level)

    def tiles(self, level: int) -> tuple[int, int]:
        """(columns, rows) of tiles of ``level``."""
        width, height = self.shape(level)
        return math.ceil(width / self.tile_width), math.ceil(height / self.tile_height)

    @property
    def strips(self) -> int:
        return math.ceil(self.height / self.tile_height)

    def strip_rows(self, k: int) -> int:
        """Rows of strip ``k``."""
        return min(self.tile_height, self.height - k * self.tile_height)

    @property
    def predictor(self) -> int:
        return 3 if np.issubdtype(np.dtype(self.dtype), np.floating) else 2


@dataclass(frozen=True)
class Piece:
    """A strip's rows of one overview tile: raw DEFLATE blocks ending on a byte boundary
    (a sync flush), so that the pieces of a tile's strips, in order, make its stream."""

    data: bytes
    #: Adler-32 and length of the bytes it compresses (the stream's checksum).
    adler: int
    length: int


@dataclass
class EncodedStrip:
    """One strip, compressed: what travels back from the work that made it."""

    #: Its tiles, left to right, each framed by GDAL's leader and trailer.
    data: bytes
    #: Compressed size of each tile.
    sizes: list[int]
    #: Its pieces of overview levels 1, 2, ...: one per tile column of the level.
    pieces: list[list[Piece]]
    #: Its pixels that are not nodata (in every band).
    valid: int


def encode_computed_strip(spec: TileSpec, k: int, block: np.ndarray) -> EncodedStrip:
    """Strip ``k`` of ``spec``'s output, all of it computed (``block``: count, rows,
    columns)."""
    return encode_strip(spec, k, (Window(0, 0, block.shape[2], block.shape[1]), block))


def encode_strip(spec: TileSpec, k: int,
                 covered: tuple[Window, np.ndarray] | None) -> EncodedStrip:
    """Strip ``k`` of ``spec``'s output, of which only ``covered`` (a window of the strip
    and its pixels, ``(count, rows, columns)``) holds data; the rest is nodata."""
    rows = spec.strip_rows(k)
    block = np.full((spec.count, rows, spec.width), _fill(spec), dtype=spec.dtype)
    values = valid = None
    if covered is not None:
        window, pixels = covered
        block[:, window.row_off:window.row_off + window.height,
              window.col_off:window.col_off + window.width] = pixels
        values = _as_float(block, spec.nodata)
        valid = int(np.count_nonzero(~np.isnan(values).any(axis=0)))
    data, sizes = encode_row(spec, block)
    pieces = []
    for level in range(1, spec.levels + 1):
        rows = math.ceil(rows / 2)
        if values is not None:
            values = halve(values)
            level_block = _from_float(values, spec)
        else:
            level_block = np.full((spec.count, rows, spec.shape(level)[0]), _fill(spec),
                                  dtype=spec.dtype)
        pieces.append(_pieces(spec, _tile_row_ended(spec, k, level, level_block)))
    return EncodedStrip(data, sizes, pieces, valid or 0)


def _tile_row_ended(spec: TileSpec, k: int, level: int, block: np.ndarray) -> np.ndarray:
    """``block``, the last strip's rows of ``level``, padded with nodata to the end of
    its tile row (other strips' rows are returned as they are)."""
    if k != spec.strips - 1:
        return block
    height = spec.shape(level)[1]
    missing = -height % spec.tile_height
    if not missing:
        return block
    pad = np.full((spec.count, missing, block.shape[2]), _fill(spec), dtype=spec.dtype)
    return np.concatenate([block, pad], axis=1)


def _pieces(spec: TileSpec, block: np.ndarray) -> list[Piece]:
    """``block``'s :class:`Piece` of every tile column (the last padded with nodata)."""
    pieces = []
    for tile in _tile_columns(spec, block, block.shape[1]):
        raw = _predicted(tile, spec.predictor)
        deflate = zlib.compressobj(ZLEVEL, zlib.DEFLATED, -15, 8, zlib.Z_RLE)
        data = deflate.compress(raw) + deflate.flush(zlib.Z_SYNC_FLUSH)
        pieces.append(Piece(data, zlib.adler32(raw), len(raw)))
    return pieces


def encode_row(spec: TileSpec, block: np.ndarray) -> tuple[bytes, list[int]]:
    """One row of tiles of ``block`` (``(count, rows, columns)`` of ``spec.dtype``, at most
    a tile high), each compressed and framed; and the compressed size of each."""
    parts = [_nodata_tile(spec) if _nodata_everywhere(tile, spec.nodata)
             else _framed(tile, spec.predictor)
             for tile in _tile_columns(spec, block, spec.tile_height)]
    return b"".join(parts), [len(part) - 8 for part in parts]


def _tile_columns(spec: TileSpec, block: np.ndarray, rows: int) -> list[np.ndarray]:
    """``block`` (``(count, rows, columns)``) cut into tile columns of ``rows`` rows,
    each pixel-interleaved ``(rows, tile width, count)`` as TIFF stores it, padded with
    nodata to whole tiles."""
    count, height, width = block.shape
    tw = spec.tile_width
    columns = math.ceil(width / tw)
    padded = np.full((count, rows, columns * tw), _fill(spec), dtype=spec.dtype)
    padded[:, :height, :width] = block
    pixels = np.moveaxis(padded, 0, -1)
    return [pixels[:, j * tw:(j + 1) * tw] for j in range(columns)]


def _framed(tile: np.ndarray, predictor: int) -> bytes:
    """``tile`` (rows, columns, samples) compressed, between GDAL's leader (its size)
    and trailer (its last 4 bytes)."""
    raw = zlib_compress(_predicted(tile, predictor), ZLEVEL)
    return struct.pack("<I", len(raw)) + raw + raw[-4:]


def _nodata_tile(spec: TileSpec) -> bytes:
    """A tile that is nodata everywhere, framed (stored whole as GDAL's COG driver does:
    a tile absent from the file is what a failed write leaves)."""
    return _constant_tile(spec.tile_height, spec.tile_width, spec.count, spec.dtype,
                          repr(_fill(spec)), spec.predictor)


@functools.lru_cache(maxsize=16)
def _constant_tile(rows: int, columns: int, count: int, dtype: str, value: str,
                   predictor: int) -> bytes:
    return _framed(np.full((rows, columns, count), float(value), dtype=dtype), predictor)


def _predicted(tile: np.ndarray, predictor: int) -> bytes:
    """``tile`` (rows, columns, samples) as TIFF stores it after ``predictor``: 2, each
    sample less the same sample of the pixel to its left; 3 (floating point), each row's
    bytes regrouped most significant first, then each byte less the one a pixel before."""
    rows, _, samples = tile.shape
    little = tile.astype(tile.dtype.newbyteorder("<"), copy=False).reshape(rows, -1)
    if predictor == 3:
        size = little.dtype.itemsize
        planes = little.view(np.uint8).reshape(rows, -1, size)[:, :, ::-1]
        values = np.ascontiguousarray(planes.transpose(0, 2, 1)).reshape(rows, -1)
    else:
        values = np.ascontiguousarray(little)
    diff = values.copy()
    diff[:, samples:] -= values[:, :-samples]  # wraps around, as libtiff's does
    return diff.tobytes()


def halve(values: np.ndarray) -> np.ndarray:
    """``values`` (``(count, rows, columns)``, NaN for nodata) on a grid of twice the
    pixel size: the mean of each 2 x 2 pixels that are not NaN (an odd last row or
    column averages the pixels it has)."""
    count, rows, columns = values.shape
    even = values
    if rows % 2 or columns % 2:
        even = np.full((count, rows + rows % 2, columns + columns % 2), np.nan, values.dtype)
        even[:, :rows, :columns] = values
    total = np.zeros((count, even.shape[1] // 2, even.shape[2] // 2), values.dtype)
    n = np.zeros_like(total)
    for quarter in (even[:, i::2, j::2] for i in (0, 1) for j in (0, 1)):
        valid = ~np.isnan(quarter)
        total += np.where(valid, quarter, 0)
        n += valid
    with np.errstate(invalid="ignore", divide="ignore"):
        return total / n  # 0 / 0: NaN where no pixel is valid


def _as_float(block: np.ndarray, nodata: float | None) -> np.ndarray:
    """``block`` as float (float32 for float32 pixels: an exact mean of 4 is not needed
    beyond their precision) with NaN for nodata."""
    dtype = np.float32 if block.dtype in (np.float32, np.float16) else np.float64
    values = block.astype(dtype)
    if nodata is not None and not math.isnan(nodata):
        values[block == nodata] = np.nan
    return values


def _from_float(values: np.ndarray, spec: TileSpec) -> np.ndarray:
    """Overview pixels back in ``spec.dtype`` (integers rounded), nodata where NaN."""
    dtype = np.dtype(spec.dtype)
    missing = np.isnan(values)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        values = np.clip(np.rint(np.where(missing, 0, values)), info.min, info.max)
    out = values.astype(dtype)
    out[missing] = _fill(spec)
    return out


def _fill(spec: TileSpec) -> float:
    """What pads tiles and stands where an overview pixel has no valid pixel: nodata,
    else NaN for float data (its NaNs stay NaN), else 0."""
    if spec.nodata is not None:
        return spec.nodata
    return math.nan if np.dtype(spec.dtype).kind == "f" else 0


def _nodata_everywhere(tile: np.ndarray, nodata: float | None) -> bool:
    """Whether every pixel of ``tile`` is nodata (never, without a nodata value)."""
    if nodata is None:
        return False
    return bool(np.isnan(tile).all() if math.isnan(nodata) else (tile == nodata).all())


# ----------------------------------------------------------------------- writer


class CogAssembler:
    """Writes the COG ``path`` of ``spec`` from its strips (:func:`encode_strip`), added in
    any order with :meth:`add`; :meth:`finish` writes the file. ``decorate(dataset)``
    sets the metadata (band descriptions, tags, colour interpretation) on a rasterio
    dataset, as on an output written by GDAL. The scratch files beside ``path`` are
    removed on leaving the block, whatever happens; ``path`` itself, on failure, is the
    caller's to remove (an :func:`.outputs.atomic_path`)."""

    def __init__(self, path: str | os.PathLike, grid: Grid, spec: TileSpec,
                 decorate: Callable[[object], None] | None = None) -> None:
        self.path = os.fspath(path)
        self.spec = spec
        self._header_tags = _gdal_tags(grid, spec, decorate)
        self._scratch = [self.path + ".tiles.tmp", self.path + ".overviews.tmp"]
        self._full = open(self._scratch[0], "w+b")  # noqa: SIM115 - closed by __exit__
        self._overviews = open(self._scratch[1], "w+b")  # noqa: SIM115
        #: Per strip: where its tiles are in the scratch file, and their sizes.
        self._strips: dict[int, tuple[int, list[int]]] = {}
        #: Per (level, strip): each of its pieces, as kept in the overviews' scratch.
        self._pieces: dict[tuple[int, int], list[_Kept]] = {}

    def __enter__(self) -> CogAssembler:
        return self

    def __exit__(self, *exc) -> bool:
        for file in (self._full, self._overviews):
            file.close()
        for scratch in self._scratch:
            if os.path.exists(scratch):
                os.remove(scratch)
        return False

    def add(self, k: int, strip: EncodedStrip) -> None:
        """Strip ``k``: its bytes stored in the scratch files."""
        if k in self._strips or not 0 <= k < self.spec.strips:
            raise ValueError(f"strip {k} added twice or out of range")
        self._strips[k] = (self._full.tell(), strip.sizes)
        self._full.write(strip.data)
        for level, pieces in enumerate(strip.pieces, start=1):
            kept = []
            for piece in pieces:
                kept.append(_Kept(self._overviews.tell(), len(piece.data), piece.adler,
                                  piece.length))
                self._overviews.write(piece.data)
            self._pieces[level, k] = kept

    def finish(self) -> None:
        """Write ``path``: the IFDs, then the tiles from the smallest overview up."""
        spec = self.spec
        missing = spec.strips - len(self._strips)
        if missing:
            raise ValueError(f"{missing} strips of {spec.strips} were never added")
        sizes = [self._level_sizes(level) for level in range(spec.levels + 1)]
        data_bytes = sum(s + 8 for level in sizes for s in level)
        layout = _Layout(big=data_bytes >= BIGTIFF_FROM)
        header = layout.header_size()
        ifds = [self._ifd(level, sizes[level], [0] * len(sizes[level]), layout)
                for level in range(spec.levels + 1)]
        start = header + sum(len(layout.pack(ifd, 0)) for ifd in ifds)
        offsets, position = {}, start
        for level in reversed(range(spec.levels + 1)):  # smallest overview first
            offsets[level] = []
            for size in sizes[level]:
                offsets[level].append(position + 4)
                position += size + 8
        with open(self.path, "wb") as out:
            out.write(layout.header(header))
            where = header
            for level in range(spec.levels + 1):
                ifd = self._ifd(level, sizes[level], offsets[level], layout)
                packed = layout.pack(ifd, where, last=level == spec.levels)
                out.write(packed)
                where += len(packed)
            for level in range(spec.levels, 0, -1):
                for row in range(spec.tiles(level)[1]):
                    for column in range(spec.tiles(level)[0]):
                        self._write_overview_tile(out, level, row, column)
            for k in range(spec.strips):
                offset, row_sizes = self._strips[k]
                _copy(self._full, out, offset, sum(s + 8 for s in row_sizes))

    def _tile_pieces(self, level: int, row: int, column: int) -> list[_Kept]:
        """The pieces of an overview tile: those of the strips its rows come from, in
        order."""
        strips = range(row << level, min((row + 1) << level, self.spec.strips))
        return [self._pieces[level, k][column] for k in strips]

    def _write_overview_tile(self, out, level: int, row: int, column: int) -> None:
        """One overview tile, framed: a zlib header, its pieces' DEFLATE blocks, a final
        empty block and the Adler-32 of the whole, combined from the pieces'."""
        pieces = self._tile_pieces(level, row, column)
        adler = 1
        for piece in pieces:
            adler = _adler32_combine(adler, piece.adler, piece.length)
        out.write(struct.pack("<I", _stream_size(pieces)) + _ZLIB_HEADER)
        for piece in pieces:
            _copy(self._overviews, out, piece.offset, piece.size)
        checksum = struct.pack(">I", adler)
        out.write(_FINAL_BLOCK + checksum + checksum)  # the last 4 bytes, repeated

    def _level_sizes(self, level: int) -> list[int]:
        """Compressed size of every tile of ``level``, row by row."""
        spec = self.spec
        if level == 0:
            return [s for k in range(spec.strips) for s in self._strips[k][1]]
        columns, rows = spec.tiles(level)
        return [_stream_size(self._tile_pieces(level, row, column))
                for row in range(rows) for column in range(columns)]

    def _ifd(self, level: int, sizes: list[int], offsets: list[int], layout: _Layout
             ) -> list[tuple[int, int, int, bytes]]:
        """The entries (tag, type, count, value bytes) of ``level``'s IFD."""
        spec = self.spec
        width, height = spec.shape(level)
        dtype = np.dtype(spec.dtype)
        fmt = 3 if dtype.kind == "f" else 2 if dtype.kind == "i" else 1
        short = lambda *v: (_SHORT, len(v), struct.pack(f"<{len(v)}H", *v))  # noqa: E731
        entries = {
            _WIDTH: (_LONG, 1, struct.pack("<I", width)),
            _LENGTH: (_LONG, 1, struct.pack("<I", height)),
            _BITS: short(*[dtype.itemsize * 8] * spec.count),
            _COMPRESSION: short(8),
            _SAMPLES: short(spec.count),
            _PLANAR: short(1),
            _PREDICTOR: short(spec.predictor),
            _TILE_WIDTH: short(spec.tile_width),
            _TILE_LENGTH: short(spec.tile_height),
            _TILE_OFFSETS: layout.offsets(offsets),
            _TILE_BYTE_COUNTS: layout.offsets(sizes),
            _SAMPLE_FORMAT: short(*[fmt] * spec.count),
        }
        if level:
            entries[_NEW_SUBFILE_TYPE] = (_LONG, 1, struct.pack("<I", 1))
        for tag in _EVERY_LEVEL + (() if level else _FULL_ONLY):
            if tag in self._header_tags:
                entries[tag] = self._header_tags[tag]
        return [(tag, *entries[tag]) for tag in sorted(entries)]


class _Layout:
    """Classic TIFF or BigTIFF: the header and the packing of an IFD."""

    def __init__(self, big: bool) -> None:
        self.big = big
        self.inline = 8 if big else 4

    def header_size(self) -> int:
        size = (16 if self.big else 8) + len(_GHOST)
        return size + size % 2

    def header(self, size: int) -> bytes:
        head = (b"II+\x00" + struct.pack("<HHQ", 8, 0, size) if self.big
                else b"II*\x00" + struct.pack("<I", size))
        return (head + _GHOST).ljust(size, b"\x00")

    def offsets(self, values: list[int]) -> tuple[int, int, bytes]:
        if self.big:
            return _LONG8, len(values), struct.pack(f"<{len(values)}Q", *values)
        return _LONG, len(values), struct.pack(f"<{len(values)}I", *values)

    def pack(self, entries: list[tuple[int, int, int, bytes]], where: int,
             last: bool = True) -> bytes:
        """The IFD at file offset ``where``, its long values right after it; the next
        IFD follows (``last``: none)."""
        count_fmt, entry_size, offset_fmt = ("<Q", 20, "<Q") if self.big else ("<H", 12, "<I")
        fixed = struct.calcsize(count_fmt) + entry_size * len(entries) + \
            struct.calcsize(offset_fmt)
        head, extra = [struct.pack(count_fmt, len(entries))], []
        position = where + fixed
        for tag, kind, count, value in entries:
            entry = struct.pack("<HH", tag, kind) + struct.pack(offset_fmt, count)
            if len(value) <= self.inline:
                entry += value.ljust(self.inline, b"\x00")
            else:
                entry += struct.pack(offset_fmt, position)
                padded = value + b"\x00" * (len(value) % 2)
                extra.append(padded)
                position += len(padded)
            head.append(entry)
        head.append(struct.pack(offset_fmt, 0 if last else position))
        return b"".join(head + extra)


#: A zlib stream's header (DEFLATE, 32 KiB window, fastest) and final empty block.
_ZLIB_HEADER, _FINAL_BLOCK = b"\x78\x01", b"\x03\x00"


class _Kept(NamedTuple):
    """A :class:`Piece` in the scratch file: where, its size, its checksum's terms."""

    offset: int
    size: int
    adler: int
    length: int


def _stream_size(pieces: list[_Kept]) -> int:
    """Bytes of the zlib stream made of ``pieces``."""
    return len(_ZLIB_HEADER) + sum(p.size for p in pieces) + len(_FINAL_BLOCK) + 4


def _adler32_combine(first: int, second: int, second_length: int) -> int:
    """The Adler-32 of two byte strings one after the other, from theirs (zlib's
    ``adler32_combine``, which Python's zlib does not offer)."""
    base = 65521
    rem = second_length % base
    low = (first & 0xFFFF) + (second & 0xFFFF) + base - 1
    high = (rem * (first & 0xFFFF)) % base + (first >> 16) + (second >> 16) + base - rem
    return (low % base) | ((high % base) << 16)


def _gdal_tags(grid: Grid, spec: TileSpec, decorate: Callable[[object], None] | None
               ) -> dict[int, tuple[int, int, bytes]]:
    """The georeferencing, nodata and metadata tags GDAL writes for an output on
    ``grid`` (a header-only GeoTIFF in memory: sparse, no tile is written)."""
    profile = dict(driver="GTiff", width=grid.width, height=grid.height, count=spec.count,
                   dtype=spec.dtype, crs=grid.crs, transform=grid.transform,
                   nodata=spec.nodata, tiled=True, blockxsize=spec.tile_width,
                   blockysize=spec.tile_height, sparse_ok=True, bigtiff="no")
    with MemoryFile() as memory:
        with memory.open(**profile) as dataset:
            if decorate is not None:
                decorate(dataset)
        content = memory.read()
    return _first_ifd(content, _EVERY_LEVEL + _FULL_ONLY)


def _first_ifd(content: bytes, wanted: tuple[int, ...]) -> dict[int, tuple[int, int, bytes]]:
    """The ``wanted`` entries (type, count, value bytes) of a little-endian classic
    TIFF's first IFD."""
    if content[:4] != b"II*\x00":
        raise ValueError("GDAL wrote a TIFF header this module does not read")
    (where,) = struct.unpack_from("<I", content, 4)
    (count,) = struct.unpack_from("<H", content, where)
    entries = {}
    for k in range(count):
        tag, kind, n, value = struct.unpack_from("<HHI4s", content, where + 2 + 12 * k)
        if tag not in wanted:
            continue
        size = _TYPE_SIZES[kind] * n
        if size > 4:
            (offset,) = struct.unpack("<I", value)
            value = content[offset:offset + size]
        entries[tag] = (kind, n, value[:size])
    return entries


def _copy(source, target, offset: int, size: int) -> None:
    """``size`` bytes of ``source`` from ``offset`` appended to ``target`` (by the kernel
    where it can)."""
    source.flush()
    target.flush()
    done = 0
    try:
        while done < size:
            moved = os.copy_file_range(source.fileno(), target.fileno(), size - done,
                                       offset + done)
            if moved == 0:
                break
            done += moved
        target.seek(0, os.SEEK_END)
    except (AttributeError, OSError):
        pass
    source.seek(offset + done)
    while done < size:
        chunk = source.read(min(2**24, size - done))
        if not chunk:
            raise OSError("the scratch file of the tiles is shorter than written")
        target.write(chunk)
        done += len(chunk)
