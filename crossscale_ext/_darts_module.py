"""The Darts plumbing below :class:`~crossscale_ext.darts_model.CrossScaleNetModel`.

The input checks its passes share and the process-wide inference lock. The saliency pass
(:mod:`crossscale_ext.explainability`) and the Darts model both use these, so they live below both: the model
imports the pass, never the other way round.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
from darts import TimeSeries
from darts.utils.ts_utils import series2seq

__all__ = ["INFERENCE_LOCK", "TrainingDivergedError"]

#: The one process-wide, re-entrant lock of every inference pass of CrossScaleNet models: ``predict``,
#: ``historical_forecasts`` / ``backtest`` (through ``predict_from_dataset``), the saliency pass and the sktime
#: forecaster's forecasts. Several threads may share one fitted model: their calls run one at a time and return
#: what sequential calls return. Process-wide rather than per model
#: because the random draws of probabilistic forecasts and Monte Carlo dropout come from torch's global generator,
#: which Darts reseeds in every ``predict``. ``fit`` does not take it: do not fit a model while other threads use it.
INFERENCE_LOCK = threading.RLock()


class TrainingDivergedError(RuntimeError):
    """Training produced a non-finite loss (NaN or infinity); the model's weights are not usable."""


def _as_series_list(name: str, value: Any) -> list[TimeSeries]:
    """``value`` as a list of ``TimeSeries`` (empty for None); ``TypeError`` naming ``name`` otherwise."""
    if value is None:
        return []
    if isinstance(value, TimeSeries):
        return [value]
    if isinstance(value, Sequence) and not isinstance(value, str) and all(isinstance(v, TimeSeries) for v in value):
        return list(value)
    raise TypeError(
        f"{name} must be a darts TimeSeries or a sequence of TimeSeries; got {type(value).__name__}. Build one with "
        "TimeSeries.from_dataframe(...) or TimeSeries.from_values(...)."
    )


def _check_finite_float(label: str, ts: TimeSeries, role: str) -> None:
    """``TypeError`` for a non-float ``ts``, ``ValueError`` naming the count, first time point and fix for NaN / inf."""
    values = ts.values(copy=False)
    if not np.issubdtype(values.dtype, np.floating):
        raise TypeError(
            f"{label} holds {values.dtype} values; CrossScaleNetModel needs floating-point series. Cast it first, "
            "e.g. series.astype(np.float32)."
        )
    finite = np.isfinite(values)
    if finite.all():
        return
    n_missing = int(np.isnan(values).sum())
    n_infinite = int(values.size - finite.sum()) - n_missing
    first = ts.time_index[int(np.argwhere(~finite)[0, 0])]
    if n_missing:
        raise ValueError(
            f"{label} has {n_missing} missing (NaN) value(s) (the first at {first}); CrossScaleNetModel cannot {role} "
            "on missing values. Fill them first, e.g. with darts.dataprocessing.transformers.MissingValuesFiller or "
            "TimeSeries.fill_missing_values()."
        )
    raise ValueError(
        f"{label} has {n_infinite} infinite value(s) (the first at {first}); CrossScaleNetModel cannot {role} on "
        "infinite values. Replace them first: mark them missing, e.g. series.with_values(np.where(np.isinf(v), "
        "np.nan, v)) with v = series.values(), and fill them with TimeSeries.fill_missing_values(), or clip them."
    )


def _cast_series(value: Any, dtype: type) -> Any:
    """``value`` (None, a ``TimeSeries`` or a sequence of them) with every series cast to ``dtype`` where it differs."""
    if value is None:
        return None
    if isinstance(value, TimeSeries):
        return value if value.dtype == dtype else value.astype(dtype)
    return [ts if ts.dtype == dtype else ts.astype(dtype) for ts in value]


def _check_finite_forecast(forecast: TimeSeries | Sequence[TimeSeries]) -> None:
    """``ValueError`` instead of returning a forecast that holds NaN or infinite values."""
    for i, ts in enumerate(series2seq(forecast)):
        values = ts.all_values(copy=False)
        if not np.isfinite(values).all():
            raise ValueError(
                f"CrossScaleNetModel's forecast of series[{i}] holds {int((~np.isfinite(values)).sum())} non-finite "
                f"value(s) although its inputs are finite: the values overflow the model's {values.dtype} "
                "arithmetic. Scale the series first (e.g. darts.dataprocessing.transformers.Scaler) and refit, or "
                "fit on float64 series (series.astype(np.float64))."
            )
