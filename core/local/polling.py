"""Progress and cancel of align_local's long phases, answered from the calling thread
between units of work (a tile, a chunk of spline nodes, a strip or tile of the field
raster): on a whole Sentinel-2 tile no phase then runs more than a second without
showing life or letting the user stop it (benchmarks/scale.py measures the gaps)."""

from __future__ import annotations

from ..errors import CanceledError
from ..io.raster_io import IsCanceled, Progress


class Poll:
    """One run's progress (never going back: "auto" may measure a pass twice) and
    cancel check.

    ``poll.report(p)`` reports p percent; ``poll(p)`` raises :class:`CanceledError` if
    the run is canceled, then reports p (None: the last percentage again);
    ``poll.scaled(a, b)`` is a progress callback mapping 0..100 onto a..b.
    """

    def __init__(self, progress: Progress | None, is_canceled: IsCanceled | None,
                 what: str = "Canceled.") -> None:
        self.progress, self.is_canceled, self.what = progress, is_canceled, what
        self.last = 0.0

    def report(self, percent: float) -> None:
        self.last = max(self.last, percent)
        if self.progress is not None:
            self.progress(self.last)

    def __call__(self, percent: float | None = None) -> None:
        if self.is_canceled is not None and self.is_canceled():
            raise CanceledError(self.what)
        self.report(self.last if percent is None else percent)

    def scaled(self, start: float, end: float) -> Progress:
        return lambda value: self.report(start + (end - start) * value / 100.0)
