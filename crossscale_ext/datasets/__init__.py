"""Data sets: the synthetic saliency sets with known ground truth and the real long-horizon benchmarks.

- :mod:`crossscale_ext.datasets.synthetic`: SYN1-SYN8 (SPEC section 8) and :func:`make_synthetic` for new
  cases, with the ground-truth mask of every input window.
- :mod:`crossscale_ext.datasets.long_horizon`: ETTh1, ETTh2, ETTm1, ETTm2, Weather and Exchange under the
  standard long-term forecasting protocol, and :func:`evaluate_windows` to score every test window.
"""

from crossscale_ext.datasets.long_horizon import (
    DATA_DIR_ENV,
    DATASETS,
    ForecastScores,
    LongHorizonData,
    count_windows,
    evaluate_windows,
    load_long_horizon,
    split_borders,
)
from crossscale_ext.datasets.synthetic import SYN_SPECS, SyntheticDataset, make_syn, make_synthetic

__all__ = [
    "DATASETS",
    "DATA_DIR_ENV",
    "ForecastScores",
    "LongHorizonData",
    "SYN_SPECS",
    "SyntheticDataset",
    "count_windows",
    "evaluate_windows",
    "load_long_horizon",
    "make_syn",
    "make_synthetic",
    "split_borders",
]
