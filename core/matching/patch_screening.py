"""Screening of image patches before matching: their texture, and the pixels that look
like cloud or saturation (on stacks of equally sized patches at once, or on the image
they are cut from: :class:`WholeImage`)."""

from __future__ import annotations

import functools

import numpy as np

from .patch_filters import SOBEL_DERIVATIVE, SOBEL_SMOOTHING, filter_stack


def texture(image: np.ndarray) -> float:
    """Standard deviation of the gradient magnitude over valid pixels."""
    return float(texture_batch(image[None])[0])


def texture_batch(images: np.ndarray) -> np.ndarray:
    """:func:`texture` of K patches (K, M, N) at once (Sobel gradients within each
    patch); NaN for a patch without valid pixels."""
    return _spread(_gradient_magnitude(images), np.isfinite(images))


class WholeImage:
    """An image patches are cut from (NaN where no data), its local variance and gradient
    magnitude computed once, when first needed, for every patch screened on it
    (:func:`cloud_like_within`, :func:`textures_within`): the patches of a small overlap
    cover each pixel about four times, and its two passes screen the same image."""

    def __init__(self, image: np.ndarray) -> None:
        self.image = image

    @functools.cached_property
    def local_variance(self) -> np.ndarray:
        valid = np.isfinite(self.image)
        centre = np.float32(self.image[valid][::16].mean()) if valid.any() else np.float32(0)
        return _local_variance(self.image[None].astype(np.float32, copy=False), valid[None],
                               np.array([centre]))[0]

    @functools.cached_property
    def gradient_magnitude(self) -> np.ndarray:
        return _gradient_magnitude(self.image[None])[0]


def textures_within(whole: WholeImage, offsets: list[tuple[int, int]],
                    valid: np.ndarray) -> np.ndarray:
    """The textures of the K patches of ``whole`` whose (row, col) corners are
    ``offsets``, over their pixels ``valid`` (K, M, N): :func:`texture_batch`'s figure
    with the gradients of the whole image, read inside each patch's border only, where
    they involve no pixel outside it (a flat patch beside a textured one stays flat)."""
    height, width = valid.shape[1:]
    inner = valid.copy()
    inner[:, [0, -1], :] = inner[:, :, [0, -1]] = False
    magnitude = whole.gradient_magnitude
    return _spread(np.stack([magnitude[r:r + height, c:c + width] for r, c in offsets]),
                   inner)


def _gradient_magnitude(images: np.ndarray) -> np.ndarray:
    """Sobel gradient magnitude of each image (K, M, N), its missing pixels (NaN) filled
    with its valid mean."""
    valid = np.isfinite(images)
    count = valid.sum(axis=(1, 2), keepdims=True)
    mean = np.where(valid, images, 0).sum(axis=(1, 2), keepdims=True) / np.maximum(count, 1)
    filled = np.where(valid, images, mean)
    return np.hypot(filter_stack(filled, SOBEL_DERIVATIVE, SOBEL_SMOOTHING),
                    filter_stack(filled, SOBEL_SMOOTHING, SOBEL_DERIVATIVE))


def _spread(magnitude: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Standard deviation of each magnitude (K, M, N) over its ``valid`` pixels; NaN
    where none is."""
    count = valid.sum(axis=(1, 2))
    n = np.maximum(count, 1)
    kept = np.where(valid, magnitude, 0).astype(np.float64, copy=False)
    average = kept.sum(axis=(1, 2)) / n
    variance = np.einsum("kij,kij->k", kept, kept) / n - average**2  # float64: no cancelling
    return np.where(count > 0, np.sqrt(np.maximum(variance, 0)), np.nan)


def cloud_like(image: np.ndarray) -> np.ndarray:
    """Pixels that look like cloud or saturation: flat plateaus at the patch maximum
    and areas without any local texture."""
    return cloud_like_batch(image[None])[0]


def cloud_like_batch(images: np.ndarray) -> np.ndarray:
    """:func:`cloud_like` of K equally sized images (K, M, N), each on its own: the same
    pixels, with the filters run once on the whole stack."""
    return _cloud_like(images)


def cloud_like_within(whole: WholeImage, offsets: list[tuple[int, int]],
                      shape: tuple[int, int]) -> np.ndarray:
    """:func:`cloud_like_batch` of the patches of ``shape`` of ``whole`` whose (row, col)
    corners are ``offsets``, with the local variance of the whole image: each patch's
    plateau, contrast and mask its own; within 2 px of its edge the variance sees the
    pixels beyond it, not their mirror (where the match's window weighs them 1 % at
    most)."""
    height, width = shape
    images = np.stack([whole.image[r:r + height, c:c + width] for r, c in offsets])
    local_var = whole.local_variance
    return _cloud_like(images, np.stack([local_var[r:r + height, c:c + width]
                                         for r, c in offsets]))


def _cloud_like(images: np.ndarray, local_var: np.ndarray | None = None) -> np.ndarray:
    """:func:`cloud_like_batch`, with the images' local variances (K, M, N) if known."""
    valid = np.isfinite(images)
    found = np.zeros(images.shape, bool)
    some = np.flatnonzero(valid.reshape(len(images), -1).any(axis=1))
    if not len(some):
        return found
    valid = valid[some]
    values = np.where(valid, images[some], np.nan).astype(np.float32)
    top = np.nanmax(values, axis=(1, 2), keepdims=True)
    plateau = values >= top - 1e-6 * np.abs(top)
    plateau[plateau.mean(axis=(1, 2)) < 0.02] = False
    scales, means = _contrast(values, valid)
    local_var = _local_variance(values, valid, means) if local_var is None else \
        local_var[some]
    low, high = scales[:, 0, None, None], scales[:, 1, None, None]
    flat = (local_var < (1e-3 * (high - low)) ** 2) | (high <= low)
    found[some] = _dilated(plateau | (flat & valid), 2)
    return found


def _local_variance(values: np.ndarray, valid: np.ndarray, means: np.ndarray) -> np.ndarray:
    """Variance of each image (K, M, N) in a 5 px box around each pixel, its missing
    pixels counted as its mean (``means``, (K,): centred, less cancellation)."""
    filled = values - means[:, None, None]
    filled[~valid] = 0
    boxed = _box_mean(np.stack([filled * filled, filled], axis=1), 5)
    return boxed[:, 0] - boxed[:, 1] ** 2


def _contrast(values: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each image's contrast scale (1st and 99th percentiles, (K, 2)) and mean (K,), from
    every 16th valid pixel: enough for a threshold. Images without a missing pixel (the
    common case) at once, the others one by one (the same pixels either way)."""
    full = valid.reshape(len(valid), -1).all(axis=1)
    scales, means = np.empty((len(valid), 2)), np.empty(len(valid), np.float32)
    if full.any():
        sample = values[full].reshape(int(full.sum()), -1)[:, ::16]
        scales[full] = np.percentile(sample, [1, 99], axis=1).T
        means[full] = sample.mean(axis=1)
    for k in np.flatnonzero(~full):
        sample = values[k][valid[k]][::16]
        scales[k], means[k] = np.percentile(sample, [1, 99]), sample.mean()
    return scales, means


#: Bytes of a stack of images that :func:`_box_mean` works through at once: a whole stack
#: leaves the caches (49 patches of 64 px, a 256 px overlap's: twice as fast by 8).
CHUNK_BYTES = 2**18


def _box_mean(image: np.ndarray, size: int) -> np.ndarray:
    """``ndimage.uniform_filter(image, size)`` over the last two axes for an odd size
    (borders reflected) by shifted sums: twice as fast, in the image's own precision; a
    stack (K, ...) by chunks of :data:`CHUNK_BYTES` (each image on its own: the same
    numbers)."""
    if image.ndim > 2 and len(image) > 1 and image[0].nbytes * len(image) > CHUNK_BYTES:
        per = max(1, CHUNK_BYTES // image[0].nbytes)
        return np.concatenate([_box_mean(image[k:k + per], size)
                               for k in range(0, len(image), per)])
    half, (height, width) = size // 2, image.shape[-2:]
    lead = [(0, 0)] * (image.ndim - 2)
    padded = np.pad(image, lead + [(half, half)] * 2, mode="symmetric")  # ndimage's "reflect"
    rows = padded[..., :height, :].copy()
    for k in range(1, size):
        rows += padded[..., k:k + height, :]
    total = rows[..., :width].copy()
    for k in range(1, size):
        total += rows[..., k:k + width]
    total /= size * size
    return total


def _dilated(mask: np.ndarray, iterations: int) -> np.ndarray:
    """``ndimage.binary_dilation(mask, iterations=iterations)`` (4-neighbour cross) by
    shifted ORs: the same pixels, ten times faster on a tile."""
    for _ in range(iterations if mask.any() else 0):
        grown = mask.copy()
        grown[..., 1:, :] |= mask[..., :-1, :]
        grown[..., :-1, :] |= mask[..., 1:, :]
        grown[..., 1:] |= mask[..., :-1]
        grown[..., :-1] |= mask[..., 1:]
        mask = grown
    return mask
