"""Data sets: the synthetic saliency sets with known ground truth and the real long-horizon benchmarks.

- :mod:`crossscale_ext.datasets.synthetic`: SYN1-SYN8 (the eight synthetic sets of the paper's Table 1) and
  :func:`make_synthetic` for new cases, with the ground-truth mask of every input window; and
  :func:`lag_copy_series`, a series that copies its value a fixed lag back.
- :mod:`crossscale_ext.datasets.long_horizon`: ETTh1, ETTh2, ETTm1, ETTm2, Weather and Exchange under the
  standard long-term forecasting protocol.

:func:`evaluate_windows` (score a model on every test window) and :class:`ForecastScores` live in
:mod:`crossscale_ext.benchmarks.harness`; they are importable from here too, loaded on first use.
"""

from __future__ import annotations

from typing import Any

from crossscale_ext.datasets.long_horizon import (
    DATA_DIR_ENV,
    DATASETS,
    LongHorizonData,
    count_windows,
    load_long_horizon,
    split_borders,
)
from crossscale_ext.datasets.synthetic import (
    SYN_SPECS,
    SyntheticDataset,
    lag_copy_series,
    make_syn,
    make_synthetic,
)

__all__ = [
    "DATASETS",
    "DATA_DIR_ENV",
    "ForecastScores",
    "LongHorizonData",
    "SYN_SPECS",
    "SyntheticDataset",
    "count_windows",
    "evaluate_windows",
    "lag_copy_series",
    "load_long_horizon",
    "make_syn",
    "make_synthetic",
    "split_borders",
]

def __getattr__(name: str) -> Any:
    # the benchmark-harness names that moved out of this package stay importable (see long_horizon.__getattr__)
    from crossscale_ext.datasets import long_horizon

    if name in long_horizon.MOVED_TO_HARNESS:
        value = getattr(long_horizon, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
