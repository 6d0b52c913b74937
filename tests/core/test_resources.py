"""core/resources.py: the command line's allocator setting."""

from __future__ import annotations

import subprocess
import sys

import pytest

#: A child process allocating and freeing the arrays of a resampled output's strip (a
#: float32 window, its float32 values, their uint16 cast, a float64 temporary) strip after
#: strip; prints its minor page faults over ten strips.
CHILD = """
import resource, sys
import numpy as np
if sys.argv[1] == "reuse":
    from coreg.core.resources import reuse_freed_memory
    assert reuse_freed_memory()
def strip():
    window = np.ones((528, 5016), np.float32)
    values = np.ones((512, 5000), np.float32)
    cast = values.astype(np.uint16)
    temporary = np.ones((528, 5016), np.float64)
for _ in range(3):  # the heap grows first
    strip()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    strip()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_reuse_freed_memory__no_page_faults_for_the_same_arrays_again():
    def faults(mode: str) -> int:
        out = subprocess.run([sys.executable, "-c", CHILD, mode], capture_output=True,
                             text=True, check=True).stdout
        return int(out.split()[-1])

    assert faults("default") > 10_000  # pages given back and faulted in again
    assert faults("reuse") < 100
