"""Exceptions raised by the engine."""


class CoregistrationError(RuntimeError):
    """No reliable alignment could be found (too few or inconsistent matches)."""


class CanceledError(RuntimeError):
    """The caller asked to stop (its ``is_canceled`` callable returned True)."""
