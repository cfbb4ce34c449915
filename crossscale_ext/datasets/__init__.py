"""Data sets: the synthetic saliency sets with known ground truth and the real long-horizon benchmarks.

- :mod:`crossscale_ext.datasets.synthetic`: SYN1-SYN8 (the eight synthetic sets of the paper's Table 1) and
  :func:`make_synthetic` for new cases, with the ground-truth mask of every input window; and
  :func:`lag_copy_series`, a series that copies its value a fixed lag back.
- :mod:`crossscale_ext.datasets.long_horizon`: ETTh1, ETTh2, ETTm1, ETTm2, Weather and Exchange under the
  standard long-term forecasting protocol.

Scoring a model on the windows of a split (``evaluate_windows``) is the benchmarks' job:
:mod:`crossscale_ext.benchmarks.harness`.
"""

from __future__ import annotations

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
    "LongHorizonData",
    "SYN_SPECS",
    "SyntheticDataset",
    "count_windows",
    "lag_copy_series",
    "load_long_horizon",
    "make_syn",
    "make_synthetic",
    "split_borders",
]
