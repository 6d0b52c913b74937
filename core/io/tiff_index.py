"""Where a TIFF's blocks (tiles or strips) lie in its file, read from its directories
(TIFF 6.0 and BigTIFF): checking that a file just written holds every block costs a few
small reads instead of opening it through GDAL and asking for each block's tags."""

from __future__ import annotations

import struct
from collections.abc import Iterator

import numpy as np

#: TileOffsets, TileByteCounts, StripOffsets, StripByteCounts.
TILE_OFFSETS, TILE_BYTE_COUNTS, STRIP_OFFSETS, STRIP_BYTE_COUNTS = 324, 325, 273, 279
#: Bytes of the TIFF types an offset or a byte count may have: SHORT, LONG, LONG8.
_TYPE_SIZES = {3: 2, 4: 4, 16: 8}
#: Most directories followed (a loop in a damaged file ends here).
MAX_DIRECTORIES = 4096


class TiffLayoutError(ValueError):
    """The file is not a TIFF, or one of its directories cannot be read."""


def missing_blocks(path: str) -> int:
    """How many blocks of every image of the TIFF ``path`` (the full resolution, its
    overviews and masks) are absent (offset or byte count 0) or end beyond the file.

    Raises
    ------
    TiffLayoutError
        If the header or a directory cannot be read.
    """
    with open(path, "rb") as handle:
        size = handle.seek(0, 2)
        missing = 0
        for offsets, counts in _block_tables(handle):
            if offsets.shape != counts.shape:
                raise TiffLayoutError("its block offsets and byte counts differ in number")
            ends = offsets.astype(np.uint64) + counts.astype(np.uint64)
            missing += int(np.count_nonzero((offsets == 0) | (counts == 0) | (ends > size)))
        return missing


def _block_tables(handle) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(offsets, byte counts) of every directory's blocks, in file order."""
    head = _read(handle, 0, 8)
    order = {b"II": "<", b"MM": ">"}.get(head[:2])
    if order is None:
        raise TiffLayoutError("it does not start as a TIFF")
    magic = struct.unpack(order + "H", head[2:4])[0]
    if magic == 42:
        big, where = False, struct.unpack(order + "I", head[4:8])[0]
    elif magic == 43:
        big, where = True, struct.unpack(order + "Q", _read(handle, 8, 8))[0]
    else:
        raise TiffLayoutError("it does not start as a TIFF")
    seen: set[int] = set()
    while where and len(seen) < MAX_DIRECTORIES:
        if where in seen:
            raise TiffLayoutError("its directories form a loop")
        seen.add(where)
        entries, where = _directory(handle, where, order, big)
        tables = [entries.get(tag) for tag in (TILE_OFFSETS, TILE_BYTE_COUNTS)]
        if tables[0] is None:
            tables = [entries.get(tag) for tag in (STRIP_OFFSETS, STRIP_BYTE_COUNTS)]
        if tables[0] is None or tables[1] is None:
            raise TiffLayoutError("a directory has no block offsets or byte counts")
        yield tuple(_values(handle, order, big, *entry) for entry in tables)


def _directory(handle, where: int, order: str, big: bool) -> tuple[dict, int]:
    """The block entries of the directory at ``where`` ({tag: (type, count, field)})
    and the next directory's offset (0: none)."""
    count_format, entry_size = ("Q", 20) if big else ("H", 12)
    count_size = struct.calcsize(count_format)
    count = struct.unpack(order + count_format, _read(handle, where, count_size))[0]
    raw = _read(handle, where + count_size, count * entry_size + (8 if big else 4))
    entry = struct.Struct(order + ("HHQ8s" if big else "HHI4s"))
    entries = {}
    for k in range(count):
        tag, kind, number, field = entry.unpack_from(raw, k * entry_size)
        if tag in (TILE_OFFSETS, TILE_BYTE_COUNTS, STRIP_OFFSETS, STRIP_BYTE_COUNTS):
            entries[tag] = (kind, number, field)
    following = struct.unpack_from(order + ("Q" if big else "I"), raw, count * entry_size)[0]
    return entries, following


def _values(handle, order: str, big: bool, kind: int, number: int,
            field: bytes) -> np.ndarray:
    """An entry's values: in its field when they fit there, else where it points."""
    size = _TYPE_SIZES.get(kind)
    if size is None:
        raise TiffLayoutError(f"a block table has the TIFF type {kind}")
    dtype = np.dtype(f"{order}u{size}")
    if number * size <= len(field):
        data = field[:number * size]
    else:
        pointer = struct.unpack(order + ("Q" if big else "I"), field)[0]
        data = _read(handle, pointer, number * size)
    return np.frombuffer(data, dtype)


def _read(handle, where: int, length: int) -> bytes:
    handle.seek(where)
    data = handle.read(length)
    if len(data) != length:
        raise TiffLayoutError("it ends inside its header or a directory")
    return data
