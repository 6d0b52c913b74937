"""A window resampled through an affine mapping, with a fast path for the common case
of an aligned output: a pure sub-pixel shift (a translation, or a rigid model whose
rotation the data did not show) by the cubic B-spline.

The fast path gives the general path's values (:func:`.resample.prepare`, then
:func:`.resample.interpolate_affine`) to float32 rounding, in half the time of its
separable shift: down the columns, the spline prefilter a whole row per step
(:func:`.resample.cubic_prefilter_down`) and the four-tap kernel; along the rows, a
chunk of :data:`CHUNK_ROWS` rows at a time, small enough to stay in the CPU's cache,
is taken as one flat line: each row padded with :data:`PAD` mirrored samples on both
sides (the ends scipy's prefilter assumes), the causal and anticausal recursions of the
prefilter truncated to 16 terms (|z|^16 < 1e-9 of the signal), each written as four
shifted multiply-adds, ``(1 + z S)(1 + z^2 S^2)(1 + z^4 S^4)(1 + z^8 S^8)``, then the
four taps. A row's pads keep its neighbours' samples out of its own.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from .resample import (
    MIRROR_TERMS,
    POLE,
    WIDE_ROWS,
    cubic_prefilter_down,
    cubic_weights,
    fill_invalid,
    interpolate_affine,
    is_identity,
    prepare,
    shift_separable,
)

#: Mirrored samples on each side of a row: the reach of the truncated recursions.
PAD = 16
#: Rows resampled along their length at once (about 1 MB of float32 for 4000 columns).
CHUNK_ROWS = 64
#: (shift, pole power) of the four factors of each truncated recursion.
_FACTORS = tuple((2**i, np.float32(POLE ** 2**i)) for i in range(4))


def resample_affine(data: np.ndarray, valid: np.ndarray | None, matrix: np.ndarray,
                    offset: np.ndarray, shape: tuple[int, int], order: int) -> np.ndarray:
    """Values of the window ``data`` (float32, this function's to change) at the affine
    indices ``matrix @ (row, col) + offset`` of an output of ``shape``; NaN where an
    invalid pixel (``valid`` False; None: all valid) contributes. A pure shift by the
    cubic spline takes :func:`shift_cubic`, anything else the general path."""
    if order != 3 or not is_identity(matrix) or not shift_fits(data.shape, offset, shape):
        return interpolate_affine(prepare(data, valid, order), valid, matrix, offset, shape,
                                  order)
    if valid is not None:
        fill_invalid(data, valid)
    values = shift_cubic(data, offset, shape)
    if valid is not None:
        support = shift_separable(valid.astype(np.float32), offset, shape, 1)
        values[support < 0.999] = np.nan
    return values


def shift_fits(size: tuple[int, int], offset: np.ndarray, shape: tuple[int, int]) -> bool:
    """Whether :func:`shift_cubic` can sample a window of ``size`` at (row, col) +
    ``offset`` for an output of ``shape``: the four taps down the columns inside the
    window, those along the rows inside it or its pads, rows longer than the pads."""
    r, c = math.floor(offset[0]), math.floor(offset[1])
    return (r >= 1 and r + 2 + shape[0] <= size[0] and size[1] > PAD
            and c - 1 >= -PAD and c + 2 + shape[1] <= size[1] + PAD)


def shift_cubic(data: np.ndarray, offset: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``data`` (float32, filtered in place) sampled by the cubic B-spline at
    (row + offset[0], col + offset[1]) for every pixel of an output of ``shape``, the
    coefficients beyond the window's ends taken as its edge ones (mode "nearest"); see
    the module's docstring. Needs :func:`shift_fits`."""
    if data.shape[0] >= MIRROR_TERMS and data.shape[1] >= WIDE_ROWS:
        cubic_prefilter_down(data)
    else:
        ndimage.spline_filter1d(data, 3, axis=0, mode="nearest", output=data)
    row = math.floor(offset[0])
    down = [np.float32(w) for w in cubic_weights(float(offset[0]) - row)]
    col = math.floor(offset[1])
    # the gain of the two recursions (-6 z) goes with the taps along the rows
    along = [np.float32(-6.0 * POLE * w) for w in cubic_weights(float(offset[1]) - col)]
    width = data.shape[1]
    line = width + 2 * PAD
    chunk = min(CHUNK_ROWS, shape[0])
    flat = np.zeros((chunk + 1) * line, np.float32)  # a row of slack past the last
    scratch, term = np.empty_like(flat), np.empty(chunk * line, np.float32)
    out = np.empty(shape, np.float32)
    first = PAD + col - 1  # the first tap along a padded row
    for r0 in range(0, shape[0], chunk):
        n = min(chunk, shape[0] - r0)
        rows = flat[:n * line].reshape(n, line)
        _taps_down(data, row - 1 + r0, down, rows[:, PAD:PAD + width],
                   term[:n * width].reshape(n, width))
        _prefilter_rows(rows, flat[:n * line], scratch, width)
        values, part = scratch[:n * line], term[:n * line]
        np.multiply(flat[first:first + n * line], along[0], out=values)
        for k in (1, 2, 3):
            values += np.multiply(flat[first + k:first + k + n * line], along[k], out=part)
        out[r0:r0 + n] = values.reshape(n, line)[:, :shape[1]]
    return out


def _taps_down(data: np.ndarray, start: int, weights: list, out: np.ndarray,
               term: np.ndarray) -> None:
    """Rows start ... start + 3 of the coefficients ``data`` weighted into ``out``."""
    n = out.shape[0]
    np.multiply(data[start:start + n], weights[0], out=out)
    for k in (1, 2, 3):
        out += np.multiply(data[start + k:start + k + n], weights[k], out=term)


def _prefilter_rows(rows: np.ndarray, flat: np.ndarray, scratch: np.ndarray,
                    width: int) -> None:
    """The cubic prefilter (but its gain) along each of ``rows`` (``flat`` viewed as
    rows of ``width`` samples between PAD-sample pads), the pads then set to the edge
    coefficients."""
    rows[:, :PAD] = rows[:, 2 * PAD - 1:PAD - 1:-1]
    rows[:, PAD + width:] = rows[:, PAD + width - 1:width - 1:-1]
    size = flat.size
    for shift, power in _FACTORS:  # causal: c[j] = x[j] + z c[j - 1]
        np.multiply(flat[:size - shift], power, out=scratch[shift:size])
        flat[shift:] += scratch[shift:size]
    for shift, power in _FACTORS:  # anticausal: c[j] = c+[j] + z c[j + 1]
        np.multiply(flat[shift:], power, out=scratch[:size - shift])
        flat[:size - shift] += scratch[:size - shift]
    rows[:, :PAD] = rows[:, PAD:PAD + 1]
    rows[:, PAD + width:] = rows[:, PAD + width - 1:PAD + width]
