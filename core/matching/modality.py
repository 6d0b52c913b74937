"""What the matching compares, by modality: intensities, or structure that survives the gap
between sensors (SAR against optical, or optical sensors with other bands).

* ``"same"``: one sensor or similar bands. The coarse search compares high-passed intensities
  and the fine estimator the intensities themselves (as before).
* ``"optical"``: different optical sensors (Landsat against Sentinel-2, an aerial mosaic):
  contrast may differ in strength but rarely in sign; the coarse search compares both the
  high-passed intensities and the gradient-orientation channels, the fine estimator the
  intensities.
* ``"sar-optical"``: SAR against optical. Bright in one is often dark in the other, and SAR
  speckle is multiplicative noise: both images become log-intensities smoothed by a small
  Gaussian (speckle), then gradient-orientation channels (|projection of the gradient| per
  orientation, the dense flow's features, :mod:`.dense_flow`) for the coarse search, and the
  gradient magnitude (sign-free) for the fine estimator's phase correlation.
* ``"auto"``: the coarse search tries intensities and structure, and keeps the one whose
  correlation peak stands out most; the fine estimator follows that choice.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..errors import CoregInputError
from ..local.flow_features import _orientation_channels

MODALITIES = ("auto", "same", "optical", "sar-optical")
#: Gaussian std (pixels) of the high-pass of the intensity features: removes illumination
#: gradients and large uniform areas, which give broad, shift-insensitive correlation.
HIGHPASS_SIGMA = 4.0
#: Gaussian std (pixels) of the speckle smoothing of the structure features.
SPECKLE_SIGMA = 1.0
#: A band whose 99th / 1st percentile ratio (positive values) exceeds this is treated as
#: linear SAR intensity: its logarithm is compared (multiplicative speckle becomes additive).
LOG_DYNAMIC_RANGE = 30.0


def check_modality(modality: str) -> str:
    if modality not in MODALITIES:
        raise CoregInputError(f"modality must be one of {MODALITIES}, not {modality!r}.")
    return modality


def search_kinds(modality: str) -> tuple[str, ...]:
    """Feature kinds the coarse search tries for a modality (best peak wins)."""
    return {"same": ("intensity",), "optical": ("intensity", "structure"),
            "sar-optical": ("structure",), "auto": ("intensity", "structure")}[modality]


def fine_kind(modality: str) -> str | None:
    """The features the fine matching (patches, tie points) compares for a modality:
    "structure" for SAR against optical, "intensity" for one sensor or optical sensors
    (whose contrast rarely changes sign), None for "auto" (the data decide)."""
    return {"same": "intensity", "optical": "intensity", "sar-optical": "structure",
            "auto": None}[modality]


def filled(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The image with NaN replaced by the valid mean (float64), and the valid mask."""
    valid = np.isfinite(image)
    mean = float(image[valid].mean()) if valid.any() else 0.0
    return np.where(valid, image, mean).astype(np.float64), valid


def compressed(image: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """The logarithm of a linear SAR-like intensity (large positive dynamic range), else the
    image: a bright urban pixel then no longer outweighs a whole field."""
    values = image[valid]
    if values.size == 0:
        return image
    low, high = np.percentile(values, [1, 99])
    if low > 0 and high / low > LOG_DYNAMIC_RANGE:
        return np.log(np.maximum(image, low * 1e-3))
    return image


def search_features(image: np.ndarray, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """(C, M, N) features of ``image`` (NaN = invalid) for the coarse search, each channel
    zero mean and unit variance over the valid pixels; and the valid mask (the invalid
    area grown by the filters' reach, so that the fill value never enters)."""
    data, valid = filled(image)
    if kind == "intensity":
        channels = (data - ndimage.gaussian_filter(data, HIGHPASS_SIGMA, mode="nearest"))[None]
        reach = 2
    else:
        smooth = ndimage.gaussian_filter(compressed(data, valid), SPECKLE_SIGMA, mode="nearest")
        channels = _orientation_channels(smooth).astype(np.float64)
        reach = 3
    ok = ~ndimage.binary_dilation(~valid, iterations=reach) if not valid.all() else valid
    return standardized(channels, ok), ok


def standardized(channels: np.ndarray, ok: np.ndarray) -> np.ndarray:
    out = np.zeros_like(channels)
    if not ok.any():
        return out
    for k, channel in enumerate(channels):
        values = channel[ok]
        spread = values.std()
        out[k] = np.where(ok, (channel - values.mean()) / (spread if spread > 0 else 1.0), 0)
    return out


def fine_feature(image: np.ndarray) -> np.ndarray:
    """Sign-free structure for the fine estimator's phase correlation across modalities:
    the gradient magnitude of the despeckled (log) image; NaN where the image is."""
    data, valid = filled(image)
    smooth = ndimage.gaussian_filter(compressed(data, valid), SPECKLE_SIGMA, mode="nearest")
    magnitude = np.hypot(ndimage.sobel(smooth, 0, mode="nearest"),
                         ndimage.sobel(smooth, 1, mode="nearest"))
    bad = ndimage.binary_dilation(~valid, iterations=2) if not valid.all() else ~valid
    return np.where(bad, np.nan, magnitude).astype(np.float32)

