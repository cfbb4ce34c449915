"""Helpers shared by the test modules (import them with ``from support import ...``).

- :data:`TINY` and :func:`tiny_model`: the one small ``CrossScaleNetModel`` configuration of the tests (fast to
  fit on one thread, still every part of the network: three scales, patches, decomposition).
- :data:`QUIET_TRAINER`: Lightning settings without progress bar, summary, logger or checkpoints, on the CPU.
- :data:`SHARED_DATA`: the benchmark data folder beside the checkout (CI has it; a user's clone may not).
- :func:`noisy_sine`: a small float32 series with an hourly index.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from darts import TimeSeries

from crossscale_ext._lightning import QUIET_TRAINER_KWARGS

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

QUIET_TRAINER = {**QUIET_TRAINER_KWARGS, "accelerator": "cpu"}

#: The small CrossScaleNetModel of the tests: 32 input steps, 8 forecast steps, 3 scales of 8-step patches.
TINY: dict[str, Any] = {
    "input_chunk_length": 32,
    "output_chunk_length": 8,
    "n_scales": 3,
    "base_patch_length": 8,
    "moving_avg_kernel": 7,
    "d_model": 16,
    "n_epochs": 1,
    "batch_size": 32,
    "random_state": 0,
}


def tiny_model(**overrides: Any):
    """A ``CrossScaleNetModel`` with :data:`TINY` settings and a quiet CPU trainer; ``overrides`` win.

    ``pl_trainer_kwargs`` given in ``overrides`` replace the quiet trainer settings entirely.
    """
    from crossscale_ext import CrossScaleNetModel

    return CrossScaleNetModel(**(TINY | {"pl_trainer_kwargs": dict(QUIET_TRAINER)} | overrides))


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
