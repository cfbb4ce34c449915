"""Helpers shared by the test modules (import them with ``from support import ...``).

- :data:`TINY` and :func:`tiny_model`: the one small ``CrossScaleNetModel`` configuration of the tests (fast to
  fit on one thread, still every part of the network: three scales, patches, decomposition).
- :data:`QUIET_TRAINER`: Lightning settings without progress bar, summary, logger or checkpoints, on the CPU.
- :data:`SHARED_DATA`: the benchmark data folder beside the checkout (CI has it; a user's clone may not).
- :func:`noisy_sine`: a small float32 series with an hourly index.
- :func:`assert_float32_close` and :func:`assert_frames_close`: the one tolerance for float32 results of
  different batchings, thread counts or code paths (see :data:`FLOAT32_RTOL`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from darts import TimeSeries

from crossscale_ext._lightning import QUIET_TRAINER_KWARGS

#: Relative tolerance for float32 results that reach the same value by different floating-point paths: a batch
#: of many windows and a batch of one, one thread and two, a chunked and a one-shot pass. On one CPU such results
#: agree to about 1e-6; other CPUs pick other SIMD kernels and summation orders (measured: 3e-5 relative between
#: a 49-window and a 1-window gradient pass on an AMD EPYC), so tests compare them at 1e-4.
FLOAT32_RTOL = 1e-4
#: Absolute tolerance as a fraction of the largest magnitude of the expected values, for entries near zero.
FLOAT32_ATOL_SCALE = 1e-6

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


def float32_atol(expected: Any) -> float:
    """The absolute tolerance for ``expected``: :data:`FLOAT32_ATOL_SCALE` times its largest magnitude."""
    values = np.abs(np.asarray(expected, dtype=np.float64))
    return FLOAT32_ATOL_SCALE * float(values.max()) if values.size else 0.0


def assert_float32_close(actual: Any, expected: Any, rtol: float = FLOAT32_RTOL) -> None:
    """Assert that float32 results of different batchings or code paths agree (tolerances hold on any CPU)."""
    actual, expected = np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=float32_atol(expected))


def assert_frames_close(actual: Any, expected: Any, **kwargs: Any) -> None:
    """``pd.testing.assert_frame_equal`` / ``assert_series_equal`` with the float32 tolerances.

    Index, columns and dtypes must match exactly; ``kwargs`` go to pandas (e.g. ``check_freq=False``).
    """
    import pandas as pd

    check = pd.testing.assert_series_equal if isinstance(expected, pd.Series) else pd.testing.assert_frame_equal
    check(actual, expected, check_exact=False, rtol=FLOAT32_RTOL, atol=float32_atol(expected.to_numpy()), **kwargs)
