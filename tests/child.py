"""Engine calls in a fresh interpreter, with that process's own peak memory."""

from __future__ import annotations

import json
import os
import subprocess
import sys

# VmHWM is the child's own peak: ru_maxrss would also count the parent's memory,
# which Linux carries across the fork and exec that start the child.
_REPORT = """
hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM"))
print(json.dumps({**result, "rss_mib": int(hwm.split()[1]) / 1024}))
"""


def run_measured(code: str, *args) -> dict:
    """Run ``code``, which leaves a dict in ``result`` (``sys.argv[1:]`` = ``args``), with
    GDAL's block cache capped at 256 MB; return ``result`` plus ``rss_mib``, the peak.

    The child imports ``coreg`` through the PYTHONPATH that tests/conftest.py sets.
    """
    run = subprocess.run([sys.executable, "-c", "import json, sys\n" + code + _REPORT,
                          *map(str, args)], capture_output=True, text=True,
                         env=os.environ | {"GDAL_CACHEMAX": "256"})
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout.strip().splitlines()[-1])
