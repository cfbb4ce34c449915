"""What sktime hands to :class:`~crossscale_ext.sktime_forecaster.CrossScaleNetForecaster`, checked and split.

No Darts here: the forecaster's data as sktime gives it, before :mod:`crossscale_ext._sktime_adapter` turns it into
Darts series.

- input checks that name the offending columns and the fix (:func:`check_numeric_complete`,
  :func:`check_index_and_columns`, :func:`check_index_type`) and the checks of the forecaster's own parameters
  (:func:`quantile_levels`, :func:`check_training_params`, :func:`checked_alphas`);
- panels and hierarchies split into series on gap-free time grids (:class:`Instance`, :func:`series_instances`);
- forecasting horizons as whole steps after each series' cutoff (:func:`relative_steps`, :func:`forecast_plan`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sktime.forecasting.base import ForecastingHorizon

from crossscale_ext.config import check_int

__all__ = [
    "Instance",
    "NonNumericDataError",
    "absolute_index",
    "check_index_and_columns",
    "check_index_type",
    "check_numeric_complete",
    "check_training_params",
    "checked_alphas",
    "concat_frames",
    "forecast_plan",
    "grid_cutoff",
    "in_sample_message",
    "merge_frames",
    "quantile_levels",
    "relative_steps",
    "series_instances",
    "split_instances",
    "take_labels",
]


# ---------------------------------------------------------------------------------------------- input checks
class NonNumericDataError(TypeError, ValueError):
    """y or X has non-numeric (categorical, string, datetime) columns.

    A ``ValueError`` for users, and the ``TypeError`` naming "categorical" that sktime's estimator checks expect.
    """


def _as_frame(data: Any) -> pd.DataFrame | None:
    """``data`` as a DataFrame of its columns (rows in any order), or None for containers this check skips."""
    if isinstance(data, pd.DataFrame):
        first = data.iloc[0] if len(data) else []
        if any(isinstance(cell, pd.Series | np.ndarray) for cell in first):  # sktime's nested_univ: series in cells
            return pd.DataFrame({c: pd.concat([pd.Series(v) for v in data[c]], ignore_index=True) for c in data})
        return data
    if isinstance(data, pd.Series):
        return data.to_frame()
    if isinstance(data, np.ndarray) and data.ndim in (1, 2):
        return pd.DataFrame(data.reshape(len(data), -1))
    if isinstance(data, np.ndarray) and data.ndim == 3:  # sktime's numpy3D: (instance, variable, time)
        return pd.DataFrame(np.moveaxis(data, 1, 2).reshape(-1, data.shape[1]))
    if isinstance(data, list) and data and all(isinstance(part, pd.DataFrame) for part in data):
        return pd.concat(data, ignore_index=True)
    return None


def check_numeric_complete(data: Any, name: str) -> None:
    """Raise an error naming the columns and the fix when ``data`` (y or X) is non-numeric or has missing values.

    Runs before sktime's own input checks, whose messages ("cannot handle missing data", "do not support
    categorical features") name neither. Containers other than pandas objects, numpy arrays and lists of
    DataFrames are left to sktime.

    Parameters
    ----------
    data : pd.DataFrame, pd.Series, np.ndarray, list of pd.DataFrame, or any other object
        ``y`` or ``X`` as passed to ``fit``, ``update`` or ``predict``.
    name : str
        ``"y"`` or ``"X"``, for the message.

    Raises
    ------
    NonNumericDataError
        (a ``ValueError`` and a ``TypeError``) for object, string, categorical or datetime columns.
    ValueError
        For missing values (NaN).
    """
    frame = _as_frame(data)
    if frame is None:
        return
    non_numeric = {column: str(dtype) for column, dtype in frame.dtypes.items()
                   if not pd.api.types.is_numeric_dtype(dtype)}
    if non_numeric:
        if name == "y":
            fix = "Convert them with y.astype(float) if they hold numbers; CrossScaleNetForecaster forecasts numbers."
        else:
            fix = ("Convert them with X.astype(float) if they hold numbers, or encode categories as numeric columns "
                   "(e.g. pd.get_dummies(X, dtype=float), or sktime's OneHotEncoder in a ForecastingPipeline).")
        raise NonNumericDataError(
            f"{name} has non-numeric (categorical) column(s) {non_numeric}: CrossScaleNetForecaster needs numeric "
            f"{name}. {fix}"
        )
    missing = frame.isna().sum()
    missing = missing[missing > 0]
    where = "a TransformedTargetForecaster" if name == "y" else "a ForecastingPipeline"
    use = "train or forecast" if name == "y" else "use X"
    if len(missing):
        counts = {column: int(count) for column, count in missing.items()}
        raise ValueError(
            f"{name} has missing values (NaN) in column(s) {counts} (column: number of NaN): CrossScaleNetForecaster "
            f"cannot {use} with missing values. Fill them first, e.g. "
            f"{name}.ffill().bfill() or sktime's Imputer (sktime.transformations.series.impute.Imputer) in {where}."
        )
    infinite = np.isinf(frame.to_numpy(dtype=np.float64)).sum(axis=0)
    if infinite.any():
        counts = {column: int(count) for column, count in zip(frame.columns, infinite) if count}
        raise ValueError(
            f"{name} has infinite values in column(s) {counts} (column: number of inf): CrossScaleNetForecaster cannot "
            f"{use} with infinite values. Replace them first, e.g. {name}.replace([np.inf, -np.inf], np.nan) followed "
            f"by {name}.ffill().bfill() or sktime's Imputer in {where}, or clip them."
        )


def check_index_and_columns(y: Any, X: Any) -> None:
    """Raise an error naming the fix for data without columns, an unsorted time index, or an ``X`` not covering ``y``.

    Runs before sktime's own input checks, whose messages for these cases ("Unsupported input data type", "indices
    ... are not contained in index") name no fix. Only pandas ``y`` and ``X`` are checked; the rest is left to
    sktime.

    Parameters
    ----------
    y, X : Any
        ``y`` and ``X`` as passed to ``fit``, ``update`` or ``predict`` (either may be None).

    Raises
    ------
    ValueError
        For a ``y`` or ``X`` DataFrame without columns, an unsorted (single-series) time index, or an ``X`` that
        lacks time points of ``y``.
    """
    for name, data in (("y", y), ("X", X)):
        if isinstance(data, pd.DataFrame) and data.shape[1] == 0:
            fix = ("pass at least one numeric column" if name == "y" else
                   "pass X with the columns seen in fit, or X=None for a forecaster fit without exogenous data")
            raise ValueError(f"{name} has no columns: CrossScaleNetForecaster needs numeric columns; {fix}.")
        if isinstance(data, pd.DataFrame | pd.Series) and not isinstance(data.index, pd.MultiIndex):
            if not data.index.is_monotonic_increasing:
                raise ValueError(
                    f"The time index of {name} is not sorted: CrossScaleNetForecaster needs time points in increasing "
                    f"order. Sort it first with {name}.sort_index() (and drop duplicated time points)."
                )
    if isinstance(y, pd.DataFrame | pd.Series) and isinstance(X, pd.DataFrame | pd.Series):
        check_index_type(X, y, "X", "y")
        if y.index.nlevels == X.index.nlevels:
            lacking = y.index[~y.index.isin(X.index)]
            if len(lacking):
                raise ValueError(
                    f"X lacks {len(lacking)} of y's time points (first: {[str(t) for t in lacking[:3]]}): "
                    "CrossScaleNetForecaster needs X at every time point of y. Pass X covering y's whole span, or "
                    "trim y to the time points X covers."
                )


def _time_index_kind(index: pd.Index) -> str:
    """``"DatetimeIndex"``, ``"PeriodIndex"``, ``"integer index"`` or the class name, of the time level of ``index``."""
    if isinstance(index, pd.MultiIndex):
        index = index.levels[-1]
    if isinstance(index, pd.DatetimeIndex | pd.PeriodIndex):
        return type(index).__name__
    return "integer index" if pd.api.types.is_integer_dtype(index.dtype) else type(index).__name__


def check_index_type(data: Any, reference: Any, name: str, reference_name: str) -> None:
    """Raise a ``ValueError`` naming the fix when ``data``'s time index is of another kind than ``reference``'s.

    E.g. X with a PeriodIndex for a y with a DatetimeIndex, which pandas cannot even sort together. Objects other
    than pandas ones are left to sktime.

    Raises
    ------
    ValueError
        Naming both index kinds.
    """
    if not isinstance(data, pd.DataFrame | pd.Series) or not isinstance(reference, pd.DataFrame | pd.Series):
        return
    kind, expected = _time_index_kind(data.index), _time_index_kind(reference.index)
    if kind != expected:
        raise ValueError(
            f"{name} has a {kind} as time index but {reference_name} has a {expected}: CrossScaleNetForecaster needs "
            f"one index kind. Pass {name} indexed like {reference_name} (e.g. convert with .to_timestamp() or "
            ".to_period(freq))."
        )


def quantile_levels(quantiles: Sequence[float] | None) -> list[float] | None:
    """The sorted quantile levels of ``quantiles``, validated; None for a point forecaster.

    Raises
    ------
    TypeError
        When ``quantiles`` is not a sequence of numbers.
    ValueError
        For levels outside (0, 1), duplicated levels, or levels without 0.5.
    """
    if quantiles is None:
        return None
    if isinstance(quantiles, str | bytes) or not isinstance(quantiles, Sequence | np.ndarray):
        raise TypeError(
            f"quantiles must be a list of floats in (0, 1) containing 0.5, e.g. [0.1, 0.5, 0.9], or None; "
            f"got {quantiles!r}."
        )
    levels = sorted(float(q) for q in quantiles)
    if not levels or any(not 0.0 < q < 1.0 for q in levels) or len(set(levels)) != len(levels):
        raise ValueError(f"quantiles must be distinct levels strictly between 0 and 1; got {list(quantiles)!r}.")
    if 0.5 not in levels:
        raise ValueError(
            f"quantiles must contain 0.5 (the median is the point forecast); got {list(quantiles)!r}. "
            f"Use e.g. {sorted(levels + [0.5])!r}."
        )
    return levels


def check_training_params(**params: Any) -> None:
    """Check ``n_epochs``, ``batch_size`` and ``num_samples`` (positive) and ``update_epochs`` (non-negative).

    Raises
    ------
    ValueError
        Naming the parameter.
    """
    for name, value in params.items():
        if name == "update_epochs":
            check_int("update_epochs (0 refits from scratch on update)", value, low=0)
        else:
            check_int(name, value)


def checked_alphas(alpha: Sequence[float], levels: list[float]) -> list[float]:
    """``alpha`` as floats within the trained ``levels`` (round-off at the ends clipped).

    sktime computes interval ends as ``0.5 -/+ coverage / 2``, e.g. 0.04999999999999999 for coverage 0.9: values
    that close to the lowest or highest level are clipped onto it.

    Raises
    ------
    ValueError
        For an ``alpha`` outside the trained levels, naming the ``quantiles`` to refit with.
    """
    lowest, highest = levels[0], levels[-1]
    alphas = [
        min(max(float(a), lowest), highest) if np.isclose(a, lowest) or np.isclose(a, highest) else float(a)
        for a in alpha
    ]
    outside = [round(a, 10) for a in alphas if not lowest <= a <= highest]
    if outside:
        raise ValueError(
            f"alpha {outside} lies outside the quantile levels the model was trained for ({lowest} to {highest}), "
            f"so it knows nothing about that tail. Add the levels you need to `quantiles` (e.g. "
            f"quantiles={sorted(set(levels) | set(outside))}) and refit."
        )
    return alphas

# ---------------------------------------------------------------------------------------------- series and grids
@dataclass
class Instance:
    """One series of ``y`` (the whole of ``y``, or one instance of a panel / hierarchy) and its exogenous data.

    Attributes
    ----------
    key : tuple
        The instance's labels in ``y``'s leading index levels; ``()`` for a single series.
    y, X : pd.DataFrame
        The instance's rows with a plain time index; ``X`` is None without exogenous data.
    cutoff : pd.Index
        The last time point as a one-element index that carries the series' frequency, as sktime's
        forecasting horizons expect.
    """

    key: tuple
    y: pd.DataFrame
    X: pd.DataFrame | None
    cutoff: pd.Index

    @property
    def where(self) -> str:
        """How error messages name this series."""
        return "" if not self.key else f" (instance {self.key[0] if len(self.key) == 1 else self.key})"


def split_instances(frame: pd.DataFrame) -> list[tuple[tuple, pd.DataFrame]]:
    """Split a (multi-indexed) DataFrame into ``(instance key, frame with a plain time index)`` pairs, in order."""
    if not isinstance(frame.index, pd.MultiIndex):
        return [((), frame)]
    levels = list(range(frame.index.nlevels - 1))
    parts = []
    for key, part in frame.groupby(level=levels, sort=False):
        parts.append((key if isinstance(key, tuple) else (key,), part.droplevel(levels)))
    return parts


def merge_frames(old: pd.DataFrame | None, new: pd.DataFrame | None) -> pd.DataFrame | None:
    """Rows of ``old`` and ``new`` together, ``new`` winning where both have a row, sorted by index."""
    if old is None or new is None:
        return new if old is None else old
    merged = pd.concat([old, new])
    return merged[~merged.index.duplicated(keep="last")].sort_index()


def concat_frames(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """The per-instance output frames as one frame (the frame itself for a single series)."""
    return pd.concat(frames) if len(frames) > 1 else frames[0]


def grid_cutoff(index: pd.Index, where: str) -> pd.Index:
    """Check that ``index`` is a gap-free regular grid and return its last point with the grid's frequency.

    CrossScaleNet reads windows of consecutive steps, so the series must have no gaps: a DatetimeIndex with a
    regular frequency, a PeriodIndex, or consecutive integers.

    Raises
    ------
    ValueError
        For unsorted or duplicated time points and for gaps, naming the fix.
    TypeError
        For other index types.
    """
    if index.has_duplicates or not index.is_monotonic_increasing:
        raise ValueError(
            f"The time index of y{where} must be strictly increasing without duplicates; sort it and drop "
            "duplicated time points."
        )
    if isinstance(index, pd.PeriodIndex):
        if not index.equals(pd.period_range(index[0], periods=len(index), freq=index.freq)):
            raise ValueError(
                f"The PeriodIndex of y{where} has gaps: CrossScaleNet needs consecutive periods. Fill the "
                "missing periods (e.g. y.asfreq(...) and an imputer such as sktime's Imputer)."
            )
        return index[[-1]]
    if isinstance(index, pd.DatetimeIndex):
        freq = index.freq or (pd.infer_freq(index) if len(index) >= 3 else None)
        if freq is None:
            raise ValueError(
                f"The DatetimeIndex of y{where} has no regular frequency (gaps or uneven spacing): CrossScaleNet "
                "needs equally spaced time points. Resample y to a fixed frequency first (e.g. "
                "y.resample('h').mean() and an imputer such as sktime's Imputer)."
            )
        return pd.DatetimeIndex([index[-1]], freq=freq)
    if pd.api.types.is_integer_dtype(index.dtype):
        if len(index) > 1 and not np.all(np.diff(np.asarray(index)) == 1):
            raise ValueError(
                f"The integer index of y{where} is not consecutive: sktime steps integer indices by 1, so "
                "CrossScaleNet needs y at every integer time point. Fill the gaps or re-index y with a RangeIndex."
            )
        return pd.Index([index[-1]])
    raise TypeError(
        f"y{where} has a {type(index).__name__} of dtype {index.dtype}: CrossScaleNetForecaster supports a "
        "DatetimeIndex, a PeriodIndex or an integer index (RangeIndex included)."
    )


def series_instances(
    y: pd.DataFrame, X: pd.DataFrame | None, min_length: int, role: str, length_advice: str
) -> list[Instance]:
    """Split ``y`` (and ``X``) into validated series: long enough, gap-free, ``X`` covering ``y``.

    Parameters
    ----------
    y, X : pd.DataFrame
        sktime's inner data (``X`` may be None); panels and hierarchies have a ``MultiIndex``.
    min_length : int
        Time points every series needs.
    role : str
        What the series are for ("fit", "update", "predict"), for messages.
    length_advice : str
        Appended to the "too short" message: the lengths that set ``min_length`` and how to lower them.

    Returns
    -------
    list of Instance
        In the order of ``y``'s instances.
    """
    X_parts = dict(split_instances(X)) if X is not None else {}
    instances = []
    for key, y_part in split_instances(y):
        instance = Instance(key=key, y=y_part, X=None, cutoff=pd.Index([]))
        if len(y_part) < min_length:
            raise ValueError(
                f"y{instance.where} has {len(y_part)} time points, but CrossScaleNetForecaster needs at least "
                f"{min_length} to {role} {length_advice}"
            )
        instance.cutoff = grid_cutoff(y_part.index, instance.where)
        if X is not None:
            X_part = X_parts.get(key)
            if X_part is None:
                raise ValueError(
                    f"X has no rows for instance {key} of y: give X for every instance of y, or fit without X."
                )
            X_part = X_part[~X_part.index.duplicated(keep="last")].sort_index()
            missing = y_part.index.difference(X_part.index)
            if len(missing):
                raise ValueError(
                    f"X{instance.where} lacks {len(missing)} of y's time points (first: {list(missing[:3])}): "
                    "X must have a row for every time point of y."
                )
            instance.X = X_part
        instances.append(instance)
    return instances


def absolute_index(steps: Sequence[int], cutoff: pd.Index) -> pd.Index:
    """Time points of the relative ``steps`` after ``cutoff``, in the cutoff's index type."""
    horizon = ForecastingHorizon(list(steps), is_relative=True, freq=getattr(cutoff, "freq", None))
    return horizon.to_absolute_index(cutoff)


def relative_steps(fh: ForecastingHorizon, cutoff: pd.Index, where: str) -> tuple[np.ndarray, pd.Index]:
    """The steps of ``fh`` after ``cutoff`` as integers (1 = the first step after the cutoff) and their time points.

    Raises
    ------
    ValueError
        When a time point of ``fh`` is not on the series' time grid (e.g. 08:30 for an hourly series), since the
        model forecasts whole steps only.
    """
    absolute = fh.to_absolute_index(cutoff)
    if fh.is_relative and pd.api.types.is_integer_dtype(fh.to_pandas().dtype):
        return np.asarray(fh.to_numpy(), dtype=int), absolute
    relative = ForecastingHorizon(absolute, is_relative=False, freq=getattr(cutoff, "freq", None)).to_relative(cutoff)
    steps = np.asarray(relative.to_numpy())
    if not pd.api.types.is_integer_dtype(steps.dtype):
        steps = np.asarray([getattr(step, "n", step) for step in steps])
    steps = np.rint(steps.astype(float)).astype(int)
    off_grid = [str(t) for t, expected in zip(absolute, absolute_index(steps, cutoff)) if t != expected]
    if off_grid:
        raise ValueError(
            f"fh contains time points that are not on the time grid of y{where} (first: {off_grid[:3]}): "
            "CrossScaleNetForecaster forecasts whole steps of y's frequency. Use relative integer steps, e.g. "
            "fh=[1, 2, 3], or time points of y's frequency."
        )
    return steps, absolute


def forecast_plan(instances: list[Instance], fh: ForecastingHorizon) -> list[tuple[Instance, np.ndarray, pd.Index]]:
    """``(instance, steps after its cutoff, their time points)`` for every series.

    Raises
    ------
    NotImplementedError
        For in-sample steps (< 1), naming the fix.
    """
    plans = []
    for instance in instances:
        steps, index = relative_steps(fh, instance.cutoff, instance.where)
        if (steps < 1).any():
            raise NotImplementedError(
                f"fh contains in-sample steps {sorted(steps[steps < 1].tolist())} for y{instance.where}; "
                "CrossScaleNetForecaster can not perform in-sample prediction: use steps >= 1 after the cutoff."
            )
        plans.append((instance, steps, index))
    return plans


def in_sample_message(error: str, cutoff: pd.Index | None) -> str:
    """The in-sample ``fh`` error of sktime with the fix: steps after the ``cutoff``, or a refit on earlier data."""
    return (
        f"{error}. CrossScaleNetForecaster forecasts only time points after the cutoff "
        f"({cutoff[0] if cutoff is not None and len(cutoff) else 'the end of y'}): use relative steps >= 1, e.g. "
        "fh=[1, 2, 3]. For forecasts of past time points, refit on the data before them (e.g. sktime's evaluate "
        "with an ExpandingWindowSplitter)."
    )


def take_labels(index: pd.Index, positions: np.ndarray) -> pd.Index:
    """Labels at ``positions`` of ``index``; a contiguous run of an integer index stays a RangeIndex."""
    labels = index.take(positions)
    if isinstance(index, pd.RangeIndex) and len(positions) and np.all(np.diff(positions) == 1):
        return pd.RangeIndex(labels[0], labels[-1] + 1, name=index.name)
    return labels

