"""The engine's error model: every failure it expects raises one of these.

Their messages are for the user: they name the input or output, the value, and what to
do. The plugin maps :class:`CoregError` to ``QgsProcessingException`` in one place
(``algorithms/base.py``) and a command line maps it to :attr:`CoregError.exit_code`; any
other exception is a bug. The input and output errors are also ``ValueError`` (what the
engine raised before this model), so callers catching that keep working.
"""

from __future__ import annotations

from collections.abc import Callable


class CoregError(Exception):
    """Base of every error the engine raises on purpose."""

    exit_code = 1


class CoregInputError(CoregError, ValueError):
    """An input file or parameter cannot be used (unreadable, out of range, no overlap)."""

    exit_code = 2


class CoregOutputError(CoregError, ValueError):
    """An output cannot be written as asked: it would replace an input or another output,
    its folder is not writable, another run is writing it, or the write failed."""

    exit_code = 3


class CoregResourceError(CoregError):
    """Not enough memory or disk space, or a server that does not answer in time."""

    exit_code = 4


class CoregistrationError(CoregError, RuntimeError):
    """No reliable alignment could be found (too few or inconsistent matches)."""

    exit_code = 5


class AmbiguousMatchError(CoregistrationError):
    """Two offsets correlate almost equally well. ``finding`` says which, without the
    advice, which depends on what the caller can change (an initial offset, a maximum
    shift: the parameters of one alignment, not of a stack's)."""

    def __init__(self, finding: str, advice: str = "") -> None:
        super().__init__(f"{finding}. {advice}" if advice else finding)
        self.finding, self.advice = finding, advice

    def __reduce__(self):  # a Dask worker's error travels pickled
        return type(self), (self.finding, self.advice)


class CanceledError(CoregError, RuntimeError):
    """The caller asked to stop (its ``is_canceled`` callable returned True, or a signal)."""

    exit_code = 130


def check_canceled(is_canceled: Callable[[], bool] | None, message: str = "Canceled.") -> None:
    """Raise :class:`CanceledError` with ``message`` (what was stopped) if the caller's
    ``is_canceled`` says so: the one poll every loop of the engine makes."""
    if is_canceled is not None and is_canceled():
        raise CanceledError(message)
