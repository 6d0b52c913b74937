"""zlib-format DEFLATE through libdeflate (core/io/deflate.py)."""

from __future__ import annotations

import gc
import sys
import zlib

import numpy as np
import pytest

from coreg.core.io import deflate


def test_any_inflater_reads_what_it_writes():
    data = np.random.default_rng(0).normal(size=100_000).astype(np.float32).tobytes()
    for level in (1, 6):
        assert zlib.decompress(deflate.zlib_compress(data, level)) == data


def test_a_compressor_is_freed_after_its_module_is_torn_down(monkeypatch):
    """The main thread's compressor is freed while the interpreter exits, when the
    module's globals may already be None: that printed "Exception ignored ...
    AttributeError" at the end of a test run."""
    if not deflate.using_libdeflate():
        pytest.skip("libdeflate is not installed here (zlib is used)")
    compressor = deflate._Compressor(1)
    monkeypatch.setattr(deflate, "_LIBDEFLATE", None)
    raised = []
    monkeypatch.setattr(sys, "unraisablehook", raised.append)
    del compressor
    gc.collect()
    assert raised == []
