"""Separable filters on patch stacks give ndimage's numbers, by either path."""

import numpy as np
import pytest
from scipy import ndimage

from coreg.core.matching.patch_filters import (
    SOBEL_DERIVATIVE,
    SOBEL_SMOOTHING,
    filter_stack,
    gaussian_weights,
)


@pytest.mark.parametrize("rows, cols", [(SOBEL_DERIVATIVE, SOBEL_SMOOTHING),
                                        (SOBEL_SMOOTHING, SOBEL_DERIVATIVE),
                                        (gaussian_weights(2.0), gaussian_weights(2.0)),
                                        ((1.0,), (0.25, 0.5, 0.25))])
def test_filter_stack_is_ndimage_correlation_with_reflected_borders(rows, cols):
    stack = np.random.default_rng(3).normal(size=(4, 37, 53)).astype(np.float32)
    expected = ndimage.correlate1d(ndimage.correlate1d(stack.astype(np.float64), rows,
                                                       axis=1, mode="reflect"),
                                   cols, axis=2, mode="reflect")
    out = filter_stack(stack, rows, cols)
    assert out.dtype == np.float32 and out.shape == stack.shape
    assert np.abs(out - expected).max() < 1e-5


def test_three_tap_filters_are_exact_on_whole_values():
    stack = np.random.default_rng(4).integers(0, 4000, size=(3, 256, 256)).astype(np.float32)
    expected = ndimage.correlate1d(ndimage.correlate1d(stack, SOBEL_DERIVATIVE, axis=1,
                                                       mode="reflect"),
                                   SOBEL_SMOOTHING, axis=2, mode="reflect")
    assert np.array_equal(filter_stack(stack, SOBEL_DERIVATIVE, SOBEL_SMOOTHING), expected)
