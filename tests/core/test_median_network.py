"""core/local/median_network.py: the dense flow's 5 x 5 median filter."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from coreg.core.local.median_network import NETWORK, median5


def test_network__selects_the_median_of_every_0_1_input():
    """Knuth's 0-1 principle: a comparator network that leaves the median of every input
    of 0s and 1s in place 12 does so for every input. Input k (0 to 2^25 - 1) holds bit p
    of k in place p; the inputs are packed 8 to a byte (min and max of bits: and, or)."""
    n_bytes = 2**25 // 8
    byte = np.arange(n_bytes, dtype=np.uint32)
    within = [0xAA, 0xCC, 0xF0]  # bits 0-2 of k vary inside a byte (little bit order)
    places = [np.full(n_bytes, within[p], np.uint8) if p < 3 else
              np.where((byte >> (p - 3)) & 1, 0xFF, 0).astype(np.uint8) for p in range(25)]
    for i, j in NETWORK:
        places[i], places[j] = places[i] & places[j], places[i] | places[j]
    # Input 8 m + b has popcount(m) + popcount(b) ones: the byte of m holds the medians of
    # its 8 inputs, a function of popcount(m).
    pop = np.array([bin(v).count("1") for v in range(256)], np.uint8)
    count = pop[byte.view(np.uint8).reshape(-1, 4)].sum(axis=1)
    majority = np.array([sum(1 << b for b in range(8) if c + pop[b] >= 13) for c in range(23)],
                        np.uint8)
    np.testing.assert_array_equal(places[12], majority[count])


@pytest.mark.parametrize("shape", [(1, 1), (3, 7), (40, 1200), (97, 64)])
def test_median5__is_the_5x5_median_with_edges_repeated(shape):
    rng = np.random.default_rng(sum(shape))
    image = rng.integers(0, 6, shape).astype(np.float32)  # many ties
    image[::3] += rng.normal(0, 1, image[::3].shape).astype(np.float32)
    out = median5(image)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, ndimage.median_filter(image, 5, mode="nearest"))
