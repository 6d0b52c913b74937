"""Figures of the align_local report computed from the tie points (kept apart from
:mod:`.local`, which runs the method)."""

from __future__ import annotations

import numpy as np


def finite(value) -> float | None:
    return float(value) if np.isfinite(value) else None


def reason_kind(reason: str) -> str:
    return reason.split(" (")[0].split(" %")[0] if not reason.startswith("reliability") \
        else "low reliability"


def shift_stats(dx: np.ndarray, dy: np.ndarray, when: str) -> dict:
    ok = np.isfinite(dx) & np.isfinite(dy)
    if not ok.any():
        return {f"mean_shift_{when}_px": None, f"rms_shift_{when}_px": None}
    return {f"mean_shift_{when}_px": [float(dx[ok].mean()), float(dy[ok].mean())],
            f"rms_shift_{when}_px": float(np.sqrt(np.mean(dx[ok] ** 2 + dy[ok] ** 2)))}


def median(values: np.ndarray) -> float | None:
    ok = np.isfinite(values)
    return float(np.median(values[ok])) if ok.any() else None


def mean(values: np.ndarray, other: np.ndarray) -> float | None:
    ok = np.isfinite(values) & np.isfinite(other)
    return float(values[ok].mean()) if ok.any() else None
