"""Helpers shared by the test modules (import them with ``from support import ...``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from darts import TimeSeries

from crossscale_ext.darts_model import QUIET_TRAINER_KWARGS

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

QUIET_TRAINER = {**QUIET_TRAINER_KWARGS, "accelerator": "cpu"}


def noisy_sine(length: int = 400, period: float = 24.0, noise: float = 0.1, seed: int = 0, n_components: int = 1,
               start=None) -> TimeSeries:
    """A float32 (multivariate) noisy sine with an hourly DatetimeIndex."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    t = np.arange(length)[:, None]
    phases = np.arange(n_components)[None, :] * 0.7
    values = np.sin(2 * np.pi * t / period + phases) + noise * rng.normal(size=(length, n_components))
    times = pd.date_range(start or "2024-01-01", periods=length, freq="h")
    return TimeSeries.from_times_and_values(times, values.astype("float32"),
                                            columns=[f"c{i}" for i in range(n_components)])
