"""Conversion between sktime's data and :class:`~crossscale_ext.darts_model.CrossScaleNetModel`'s inputs.

The private half of :class:`~crossscale_ext.sktime_forecaster.CrossScaleNetForecaster`, kept apart from the
estimator as sktime keeps its Darts conversion in ``sktime/forecasting/base/adapters/_darts.py``:

- input checks that name the offending columns and the fix (:func:`check_numeric_complete`), and the
  hyperparameters turned into a ``CrossScaleNetModel`` (:func:`build_darts_model`);
- panels and hierarchies split into series, time grids checked (:class:`Instance`, :func:`series_instances`);
- forecasting horizons mapped to whole steps after each series' cutoff (:func:`relative_steps`);
- the Darts target and future-covariate series, forecasts and saliency back in ``y``'s columns, index type and
  instance levels (:class:`DartsAdapter`);
- quantiles from the network's quantile outputs or sample paths (:func:`forecast_values`,
  :func:`interpolate_quantiles`) and saliency summaries (:func:`saliency_values`, :func:`saliency_summary`).

Darts is imported inside the functions that need it, so importing this module stays cheap.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sktime.forecasting.base import ForecastingHorizon

from crossscale_ext.config import ArchitectureConfig, check_int
from crossscale_ext.maps import (
    ATTENTION_MAP_NAMES,
    CELL_MAPS,
    GRADIENT_MAP_NAMES,
    TEMPORAL_MAPS,
    map_label,
)

if TYPE_CHECKING:  # pragma: no cover
    from darts import TimeSeries

    from crossscale_ext.darts_model import CrossScaleNetModel
    from crossscale_ext.saliency import PanelSaliency, SaliencyResult

__all__ = [
    "DartsAdapter",
    "Instance",
    "NonNumericDataError",
    "SALIENCY_KINDS",
    "absolute_index",
    "build_darts_model",
    "check_index_and_columns",
    "check_index_type",
    "check_numeric_complete",
    "check_training_params",
    "checked_alphas",
    "concat_frames",
    "forecast_plan",
    "forecast_values",
    "grid_cutoff",
    "in_sample_message",
    "interpolate_quantiles",
    "merge_frames",
    "quantile_levels",
    "relative_steps",
    "saliency_maps",
    "saliency_needs_gradients",
    "saliency_summary",
    "saliency_values",
    "series_instances",
    "split_instances",
    "summary_stride",
    "take_labels",
]

#: Values of ``kind`` in ``CrossScaleNetForecaster.saliency`` (the saliency registry's frame maps, then "all");
#: the gradient kinds need ``gradients=True``.
SALIENCY_KINDS = (*TEMPORAL_MAPS, "all")
GRADIENT_KINDS = GRADIENT_MAP_NAMES
ATTENTION_KINDS = tuple(name for name in TEMPORAL_MAPS if name in ATTENTION_MAP_NAMES)
#: ``get_fitted_params`` averages the saliency over at most this many evenly spaced windows per series.
MAX_SUMMARY_WINDOWS = 512


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


def build_darts_model(params: dict[str, Any]) -> CrossScaleNetModel:
    """A fresh, unfitted ``CrossScaleNetModel`` from a ``CrossScaleNetForecaster``'s ``get_params(deep=False)``.

    Optional Darts arguments left at None keep Darts' defaults; ``quantiles`` become a ``QuantileRegression``
    likelihood; unless ``verbose``, the trainer arguments are merged over ``QUIET_TRAINER_KWARGS``. Mutable
    arguments are copied, so the forecaster's parameters never change.
    """
    from darts.utils.likelihood_models.torch import QuantileRegression

    from crossscale_ext._lightning import QUIET_TRAINER_KWARGS
    from crossscale_ext.darts_model import CrossScaleNetModel

    optional = {
        name: copy.deepcopy(params[name])
        for name in ("loss_fn", "optimizer_cls", "optimizer_kwargs", "lr_scheduler_cls", "lr_scheduler_kwargs")
        if params[name] is not None
    }
    levels = quantile_levels(params["quantiles"])
    if levels is not None:
        optional["likelihood"] = QuantileRegression(quantiles=levels)
    trainer_kwargs = copy.deepcopy(params["pl_trainer_kwargs"]) if params["pl_trainer_kwargs"] else {}
    return CrossScaleNetModel(
        input_chunk_length=params["input_chunk_length"],
        output_chunk_length=params["output_chunk_length"],
        **ArchitectureConfig.from_params(params).as_dict(),
        use_reversible_instance_norm=params["use_reversible_instance_norm"],
        n_epochs=params["n_epochs"],
        batch_size=params["batch_size"],
        random_state=copy.deepcopy(params["random_state"]),
        pl_trainer_kwargs=trainer_kwargs if params["verbose"] else {**QUIET_TRAINER_KWARGS, **trainer_kwargs},
        **optional,
    )


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


# ---------------------------------------------------------------------------------------------- sktime <-> Darts
@dataclass
class DartsAdapter:
    """Conversions between the sktime data a forecaster was fit on and its ``CrossScaleNetModel``.

    The Darts model sees positions ``0, 1, ...`` and components ``y0, y1, ...`` (targets) and ``x0, x1, ...``
    (future covariates); forecasts and saliency are mapped back to ``y``'s columns, time index type and
    instance levels.

    Attributes
    ----------
    y_columns, X_columns : list
        Columns of ``y`` and ``X`` seen in fit (``X_columns`` is None without exogenous data).
    time_name : Hashable
        Name of ``y``'s time index level.
    instance_names : list
        Names of ``y``'s instance levels (empty for a single series).
    input_chunk_length, output_chunk_length : int
        The model's lookback and horizon.
    architecture : ArchitectureConfig
        The model's architecture (for messages that name valid lengths).
    """

    y_columns: list
    X_columns: list | None
    time_name: Hashable
    instance_names: list
    input_chunk_length: int
    output_chunk_length: int
    architecture: ArchitectureConfig

    @classmethod
    def from_data(
        cls,
        y: pd.DataFrame,
        X: pd.DataFrame | None,
        input_chunk_length: int,
        output_chunk_length: int,
        architecture: ArchitectureConfig,
    ) -> DartsAdapter:
        """The adapter for sktime's inner ``y`` and ``X`` passed to fit."""
        return cls(
            y_columns=list(y.columns),
            X_columns=None if X is None else list(X.columns),
            time_name=y.index.names[-1],
            instance_names=list(y.index.names[:-1]),
            input_chunk_length=input_chunk_length,
            output_chunk_length=output_chunk_length,
            architecture=architecture,
        )

    @property
    def target_names(self) -> list[str]:
        """Components of the Darts target series."""
        return [f"y{i}" for i in range(len(self.y_columns))]

    @property
    def covariate_names(self) -> list[str] | None:
        """Components of the Darts future-covariate series; None without X."""
        return None if self.X_columns is None else [f"x{i}" for i in range(len(self.X_columns))]

    @property
    def input_components(self) -> list:
        """Labels of the network's input channels: y's columns, then X's (prefixed ``X:`` on a name clash)."""
        x_labels = [f"X:{c}" if c in self.y_columns else c for c in (self.X_columns or [])]
        return [*self.y_columns, *x_labels]

    # ------------------------------------------------------------------ data seen
    def instances(self, y: pd.DataFrame, X: pd.DataFrame | None, role: str, training: bool) -> list[Instance]:
        """Validated series of ``y`` and ``X``, each long enough to train on (``training``) or to forecast from."""
        icl, ocl = self.input_chunk_length, self.output_chunk_length
        advice = (
            f"(input_chunk_length={icl}" + (f" + output_chunk_length={ocl}" if training else "")
            + "). Pass a longer y, or use a smaller input_chunk_length (a multiple of "
            f"2**(n_scales-1)={2 ** (self.architecture.n_scales - 1)}, at least 2*base_patch_length="
            f"{2 * self.architecture.base_patch_length}) or a smaller output_chunk_length."
        )
        return series_instances(y, X, icl + ocl * training, role, advice)

    def checked_X(self, X: pd.DataFrame | None, role: str) -> pd.DataFrame | None:
        """``X`` passed after fit, checked against the columns seen in fit; None when fit had no X.

        Raises
        ------
        ValueError
            When ``X`` has other columns than in fit.
        """
        if self.X_columns is None:
            if X is not None:
                warnings.warn(
                    f"CrossScaleNetForecaster was fit without X; the X passed to {role} is ignored. Refit with X "
                    "to use exogenous data.",
                    UserWarning,
                    stacklevel=4,
                )
            return None
        if X is None:
            return None
        columns = list(X.columns)
        if set(columns) != set(self.X_columns) or len(columns) != len(self.X_columns):
            missing = [c for c in self.X_columns if c not in columns]
            unexpected = [c for c in columns if c not in self.X_columns]
            raise ValueError(
                f"X passed to {role} has different columns from the X seen in fit: missing {missing}, unexpected "
                f"{unexpected}. Pass X with exactly the columns {self.X_columns} (the model was trained on them), "
                "or refit with the new columns."
            )
        return X[self.X_columns]

    def updated_data(
        self, seen_y: pd.DataFrame, seen_X: pd.DataFrame | None, y: pd.DataFrame, X: pd.DataFrame | None
    ) -> tuple[pd.DataFrame, pd.DataFrame | None]:
        """The data seen so far with the ``y`` and ``X`` passed to update (new rows win).

        Raises
        ------
        ValueError
            When X is missing though fit had X, or ``y`` or ``X`` has other columns than in fit.
        """
        X = self.checked_X(X, "update")
        if self.X_columns is not None and X is None:
            raise ValueError(
                f"CrossScaleNetForecaster was fit with exogenous X (columns {self.X_columns}): update needs X for "
                "the new time points of y as well. Pass X to update."
            )
        if list(y.columns) != self.y_columns:
            raise ValueError(
                f"y passed to update has columns {list(y.columns)}, but the forecaster was fit on {self.y_columns}: "
                f"pass y with exactly the columns {self.y_columns} to update, or refit with the new columns."
            )
        return merge_frames(seen_y, y), merge_frames(seen_X, X)

    # ------------------------------------------------------------------ Darts inputs
    def target_series(self, instance: Instance, start: int = 0) -> TimeSeries:
        """Rows ``start:`` of the instance's y as a float32 Darts series on positions 0, 1, ..."""
        from darts import TimeSeries

        values = instance.y.to_numpy(dtype=np.float32)[start:]
        return TimeSeries.from_values(values, columns=self.target_names)

    def future_covariates(
        self, instance: Instance, X_new: pd.DataFrame | None, start: int, n_future: int, n_padding: int, role: str
    ) -> TimeSeries | None:
        """X as a float32 Darts series: y's rows ``start:``, the ``n_future`` steps after the cutoff, then padding.

        Rows come from ``X_new`` (the X passed to predict) where it has them, else from the X seen in fit and
        update. ``n_padding`` zero rows follow: Darts asks for future covariates over a whole output chunk, but
        the network reads the covariate of forecast step ``k`` only for step ``k`` (and its attention not at
        all), so rows past the requested steps do not change the forecast. None when fit without X.

        Raises
        ------
        ValueError
            When X lacks a needed time point, naming the span to pass.
        """
        from darts import TimeSeries

        if self.X_columns is None:
            return None
        future = absolute_index(range(1, n_future + 1), instance.cutoff) if n_future else instance.y.index[:0]
        needed = instance.y.index[start:].append(future)
        values = merge_frames(instance.X, X_new).reindex(needed)
        missing = needed[values.isna().any(axis=1).to_numpy()]
        if len(missing):
            first_missing = [str(t) for t in missing[:3]]
            given = "no X was passed" if X_new is None else f"X lacks {len(missing)} of them (first: {first_missing})"
            raise ValueError(
                f"CrossScaleNetForecaster was fit with exogenous X (columns {self.X_columns}), which it uses as "
                f"future-known covariates, so {role} needs X{instance.where} at every time point from the cutoff to "
                f"the last forecast step, {future[0]} to {future[-1]} ({n_future} time points); {given}. Pass X "
                f"covering these time points to {role}."
            )
        array = values.to_numpy(dtype=np.float32)
        if n_padding:
            array = np.concatenate([array, np.zeros((n_padding, array.shape[1]), dtype=np.float32)])
        return TimeSeries.from_values(array, columns=self.covariate_names)

    def darts_inputs(
        self,
        instances: list[Instance],
        starts: Sequence[int],
        X_new: pd.DataFrame | None,
        n_future: int,
        n_padding: int,
        role: str,
    ) -> tuple[list[TimeSeries], list[TimeSeries] | None]:
        """Darts target series (rows ``starts[i]:`` of every instance) and their future covariates (None without X).

        ``X_new`` is the X passed to predict; ``n_future`` and ``n_padding`` are as in :meth:`future_covariates`.
        """
        series = [self.target_series(instance, start) for instance, start in zip(instances, starts)]
        if self.X_columns is None:
            return series, None
        X_parts = dict(split_instances(X_new)) if X_new is not None else {}
        covariates = [
            self.future_covariates(instance, X_parts.get(instance.key), start, n_future, n_padding, role)
            for instance, start in zip(instances, starts)
        ]
        return series, covariates

    def training_inputs(self, instances: list[Instance]) -> tuple[list[TimeSeries], list[TimeSeries] | None]:
        """Darts training inputs: every instance's whole y and X."""
        return self.darts_inputs(instances, [0] * len(instances), None, 0, 0, "fit")

    # ------------------------------------------------------------------ forecasts
    def forecast(
        self,
        model: CrossScaleNetModel,
        instances: list[Instance],
        fh: ForecastingHorizon,
        X: pd.DataFrame | None,
        levels: list[float] | None,
        alphas: list[float] | None,
        num_samples: int,
        seed: Any,
        quiet: Callable[[], AbstractContextManager] = nullcontext,
    ) -> list[tuple[Instance, pd.Index, np.ndarray]]:
        """Forecasts of every series at ``fh``: ``(instance, time index, values (len(fh), n_targets, A))``.

        ``X`` is the X passed to predict (checked with :meth:`checked_X`); the other arguments are those of
        :func:`forecast_values`, which gives the point forecast (``A = 1``) when ``alphas`` is None. Only the
        Darts call runs inside ``quiet()`` (sktime's horizon code resets warning filters, so it stays outside).
        """
        plans = forecast_plan(instances, fh)
        n = int(max(steps.max() for _, steps, _ in plans))
        starts = [len(instance.y) - self.input_chunk_length for instance in instances]
        padding = max(0, self.output_chunk_length - n)
        series, covariates = self.darts_inputs(instances, starts, X, n, padding, "predict")
        with quiet():
            values = forecast_values(model, series, covariates, n, levels, alphas, num_samples, seed)
        return [(instance, index, v[steps - 1]) for (instance, steps, index), v in zip(plans, values)]

    def forecast_frame(
        self, forecasts: list[tuple[Instance, pd.Index, np.ndarray]], columns: Sequence | None = None
    ) -> pd.DataFrame:
        """:meth:`forecast`'s output as one DataFrame indexed like ``y``.

        ``columns=None``: the point forecasts in ``y``'s columns; else the ``(variable, alpha)`` columns of
        ``predict_quantiles``, the values ``(time, variable, alpha)`` flattened variable-major.
        """
        frames = []
        for instance, index, values in forecasts:
            flat = values[:, :, 0] if columns is None else values.reshape(len(index), -1)
            frames.append(pd.DataFrame(
                np.asarray(flat, dtype=np.float64),
                index=self.row_index(instance.key, index),
                columns=self.y_columns if columns is None else columns,
            ))
        return concat_frames(frames)

    # ------------------------------------------------------------------ saliency
    def saliency_results(
        self,
        model: CrossScaleNetModel,
        instances: list[Instance],
        windows: str,
        gradients: bool,
        stride: int = 1,
        quiet: Callable[[], AbstractContextManager] = nullcontext,
        maps: Sequence[str] | None = None,
    ) -> list[tuple[Instance, int, SaliencyResult]]:
        """Run the Darts model's saliency over ``instances``; return ``(instance, start row, result)`` triples.

        The maps read only the input window (y and X's past); X over the forecast steps is zero padding. Only
        the Darts call runs inside ``quiet()``. ``maps``: the maps to compute (None: all, the gradient maps when
        ``gradients``); the input windows are not kept.
        """
        starts = [len(i.y) - self.input_chunk_length if windows == "last" else 0 for i in instances]
        series, covariates = self.darts_inputs(instances, starts, None, 0, self.output_chunk_length, "saliency")
        with quiet():
            results = model.saliency(
                series,
                future_covariates=covariates,
                windows=windows,
                gradients=gradients,
                maps=maps,
                inputs=False,
                **({"stride": stride, "overlap_end": True} if windows == "all" else {}),
            )
        return list(zip(instances, starts, results))

    def iter_saliency_results(
        self,
        model: CrossScaleNetModel,
        instances: list[Instance],
        gradients: bool,
        maps: Sequence[str] | None,
        windows_per_chunk: int,
        quiet: Callable[[], AbstractContextManager] = nullcontext,
    ) -> Iterator[tuple[Instance, int, SaliencyResult]]:
        """:meth:`saliency_results` with ``windows="all"`` in chunks: ``(instance, 0, result)`` per chunk.

        The Darts model's :meth:`~crossscale_ext.darts_model.CrossScaleNetModel.iter_saliency` does the work; each
        chunk is computed inside ``quiet()`` when the iteration reaches it.
        """
        series, covariates = self.darts_inputs(instances, [0] * len(instances), None, 0, self.output_chunk_length,
                                               "saliency")
        with quiet():
            chunks = model.iter_saliency(
                series, future_covariates=covariates, windows="all", gradients=gradients, maps=maps, inputs=False,
                overlap_end=True, windows_per_chunk=windows_per_chunk,
            )
        while True:
            with quiet():
                result = next(chunks, None)
            if result is None:
                return
            yield instances[result.metadata["series_index"]], 0, result

    def panel_saliency(
        self,
        model: CrossScaleNetModel,
        instances: list[Instance],
        windows: str,
        kind: str,
        groups: Any,
        windows_per_chunk: int,
        quiet: Callable[[], AbstractContextManager] = nullcontext,
    ) -> PanelSaliency:
        """The Darts model's panel summary over ``instances``, grouped by ``groups``, labelled in y's columns.

        ``groups``: None (one group, ``"all"``), the name of one of y's instance levels, or a function of an
        instance's key (the tuple of its instance labels) that returns its group.
        """
        from crossscale_ext.explainability import SaliencyRequest, panel_saliency

        if groups is None:
            labels = ["all"] * len(instances)
        elif isinstance(groups, str):
            if groups not in self.instance_names:
                raise ValueError(f"groups={groups!r} is not an instance level of y; its levels are "
                                 f"{list(self.instance_names)} (or pass a function of the instance key).")
            position = list(self.instance_names).index(groups)
            labels = [instance.key[position] for instance in instances]
        elif callable(groups):
            labels = [groups(instance.key) for instance in instances]
        else:
            raise TypeError(f"groups must be None, an instance level name or a function of the instance key; got "
                            f"{type(groups).__name__}.")
        starts = [len(i.y) - self.input_chunk_length if windows == "last" else 0 for i in instances]
        series, covariates = self.darts_inputs(instances, starts, None, 0, self.output_chunk_length, "saliency")
        request = SaliencyRequest(windows=windows, overlap_end=windows == "all", maps=(kind,), inputs=False)
        with quiet():
            summary = panel_saliency(model, series, future_covariates=covariates, request=request, kind=kind,
                                     groups=labels, windows_per_chunk=windows_per_chunk)
        if summary.importance is not None:
            summary.importance.columns = pd.Index(self.input_components, name=kind)
        return summary

    def saliency_frame(
        self, results: list[tuple[Instance, int, SaliencyResult]], kind: str, windows: str
    ) -> pd.DataFrame:
        """:meth:`saliency_results` as one float64 DataFrame indexed by the input time points in y's index type.

        ``kind`` is one of :data:`SALIENCY_KINDS` (columns as in :func:`saliency_values`); rows as in
        :meth:`saliency_index`.
        """
        frames = []
        for instance, start, result in results:
            values, columns = saliency_values(result, kind, self.input_components)
            n_windows, length, width = values.shape
            index = self.saliency_index(instance, start, result, windows)
            frames.append(pd.DataFrame(
                values.reshape(n_windows * length, width).astype(np.float64), index=index, columns=columns
            ))
        return concat_frames(frames)

    # ------------------------------------------------------------------ output index
    def row_index(self, key: tuple, times: pd.Index) -> pd.Index:
        """Output row index: ``times`` for a single series, ``(instance levels..., time)`` for panels."""
        if not key:
            return times.rename(self.time_name)
        arrays = [np.repeat(np.array([label], dtype=object), len(times)) for label in key]
        return pd.MultiIndex.from_arrays([*arrays, times], names=[*self.instance_names, self.time_name])

    def saliency_index(self, instance: Instance, start: int, result: SaliencyResult, windows: str) -> pd.Index:
        """Rows of a saliency frame: the input time points of every window in y's index type.

        ``result`` was computed on the instance's rows ``start:`` (positions ``0, 1, ...``). With
        ``windows="all"`` a level ``forecast_start`` (the first time point each window forecasts) precedes the
        time level; panels add their instance levels in front.
        """
        extended = instance.y.index.append(absolute_index([1], instance.cutoff))
        positions = np.asarray(result.input_index, dtype=np.int64) + start
        times = take_labels(extended, positions.ravel())
        if windows == "last":
            return self.row_index(instance.key, times)
        starts = extended.take(np.asarray(result.forecast_index[:, 0], dtype=np.int64) + start)
        arrays = [np.repeat(np.array([label], dtype=object), len(times)) for label in instance.key]
        return pd.MultiIndex.from_arrays(
            [*arrays, starts.repeat(positions.shape[1]), times],
            names=[*self.instance_names, "forecast_start", self.time_name],
        )


# ---------------------------------------------------------------------------------------------- forecasts
def interpolate_quantiles(quantile_values: np.ndarray, levels: Sequence[float], alpha: float) -> np.ndarray:
    """Linear interpolation of sorted quantile values ``(..., Q)`` at level ``alpha`` (within ``levels``)."""
    position = np.interp(alpha, levels, np.arange(len(levels)))
    lower = int(np.floor(position))
    upper = min(lower + 1, len(levels) - 1)
    weight = position - lower
    return (1.0 - weight) * quantile_values[..., lower] + weight * quantile_values[..., upper]


def forecast_values(
    model: CrossScaleNetModel,
    series: list[TimeSeries],
    covariates: list[TimeSeries] | None,
    n: int,
    levels: list[float] | None,
    alphas: list[float] | None,
    num_samples: int,
    seed: Any,
) -> list[np.ndarray]:
    """Forecasts of ``n`` steps after every series, each ``(n, n_targets, A)``.

    Point forecasters give their output (``A = 1``). Quantile forecasters give the quantiles at ``alphas``
    (the median when None): within ``output_chunk_length`` read from the network's quantile outputs, sorted so
    that they never cross and linearly interpolated between the trained ``levels``; beyond it, empirical
    quantiles of ``num_samples`` auto-regressive sample paths drawn with ``seed`` (the forecaster's
    ``random_state``; 0 when it is not an integer).
    """
    seed = int(seed) if isinstance(seed, int | np.integer) else 0
    wanted = [0.5] if alphas is None else alphas
    if levels is None:
        predictions = model.predict(n, series=series, future_covariates=covariates)
        return [p.values(copy=False)[:, :, None] for p in predictions]
    if n <= model.output_chunk_length:
        predictions = model.predict(
            n, series=series, future_covariates=covariates, predict_likelihood_parameters=True
        )
        values = []
        for p in predictions:
            quantiles = np.sort(p.values(copy=False).reshape(n, -1, len(levels)), axis=-1)
            values.append(np.stack([interpolate_quantiles(quantiles, levels, a) for a in wanted], axis=-1))
        return values
    predictions = model.predict(
        n, series=series, future_covariates=covariates, num_samples=num_samples, random_state=seed
    )
    return [np.moveaxis(np.quantile(p.all_values(copy=False), wanted, axis=-1), 0, -1) for p in predictions]


# ---------------------------------------------------------------------------------------------- saliency
def saliency_needs_gradients(windows: str, kind: str, gradients: bool) -> bool:
    """Check a saliency request; return whether the Darts pass must compute the gradient maps.

    The attention kinds do not need them, so they are computed only for the gradient kinds and for
    ``kind="all"`` with ``gradients=True``.

    Raises
    ------
    ValueError
        For an unknown ``windows`` or ``kind``, a ``gradients`` that is not a bool, or a gradient ``kind`` with
        ``gradients=False``.
    """
    if windows not in ("last", "all"):
        raise ValueError(f"windows must be 'last' or 'all'; got {windows!r}.")
    if kind not in SALIENCY_KINDS:
        raise ValueError(f"kind must be one of {list(SALIENCY_KINDS)}; got {kind!r}.")
    if not isinstance(gradients, bool | np.bool_):
        raise ValueError(f"gradients must be True or False; got {gradients!r}.")
    if kind in GRADIENT_KINDS and not gradients:
        raise ValueError(
            f"kind={kind!r} is a gradient map, but gradients=False skips the gradient maps: pass gradients=True or "
            f"choose an attention kind ({', '.join(repr(k) for k in ATTENTION_KINDS)})."
        )
    return bool(gradients) and kind not in ATTENTION_KINDS


def saliency_maps(kind: str, gradients: bool) -> tuple[str, ...]:
    """The maps the Darts pass must compute for ``kind`` (checked by :func:`saliency_needs_gradients`).

    One kind needs one map; ``"all"`` needs every frame map (the gradient maps only with ``gradients``). The
    raw attention weights are never needed.
    """
    if kind != "all":
        return (kind,)
    return tuple(name for name in TEMPORAL_MAPS if gradients or name not in GRADIENT_KINDS)


#: The maps :func:`saliency_summary` reads.
SUMMARY_MAPS = ("paper", "per_step", "per_component", "gradient")


def saliency_values(result: SaliencyResult, kind: str, labels: list) -> tuple[np.ndarray, pd.Index]:
    """One series' saliency of ``kind`` as values ``(W, L, K)`` and their ``K`` column labels.

    A gradient map (``gradient``, ``input_x_gradient``): one column per input component, labelled ``labels``
    (the Index is named after the map). An attention map: ``per_component`` one column per component
    labelled ``attention_per_component:<label>``, ``paper`` / ``per_step`` one column ``attention_paper`` /
    ``attention_per_step``. ``"all"``: one column per map summed over components, then one column per
    component of every cell map, labelled as :meth:`~crossscale_ext.saliency.SaliencyResult.to_dataframe`
    with ``components="all"`` (its component names replaced by ``labels``).
    """
    if kind in GRADIENT_KINDS:
        return result.component_map(kind), pd.Index(list(labels), name=map_label(kind))
    if kind in CELL_MAPS:
        return result.component_map(kind), pd.Index([map_label(kind, str(label)) for label in labels])
    if kind != "all":
        return result.temporal_map(kind)[..., None], pd.Index([map_label(kind)])
    # the maps themselves rather than to_dataframe(window=None), which rebuilds every map once per window
    temporal = [name for name in TEMPORAL_MAPS if name in result.available_maps]
    cells = [name for name in CELL_MAPS if name in result.available_maps]
    values = [result.temporal_map(name)[..., None] for name in temporal] + [result.component_map(n) for n in cells]
    columns = [map_label(name) for name in temporal]
    columns += [map_label(name, str(label)) for name in cells for label in labels]
    return np.concatenate(values, axis=-1), pd.Index(columns)


def summary_stride(instances: list[Instance], input_chunk_length: int) -> int:
    """Stride between windows so that no series contributes more than :data:`MAX_SUMMARY_WINDOWS` windows."""
    most_windows = max(len(instance.y) for instance in instances) - input_chunk_length + 1
    return max(1, -(-most_windows // MAX_SUMMARY_WINDOWS))


def saliency_summary(results: list[SaliencyResult], labels: list, input_chunk_length: int) -> dict[str, Any]:
    """Saliency averaged over every window of ``results``, by lag (1 = the last input time point).

    Returns
    -------
    dict
        ``saliency_per_step``, ``saliency_paper`` and ``saliency_gradient`` (``pd.Series`` by lag; the gradient
        one in forecast units per input unit); ``saliency_per_component`` (``pd.DataFrame`` lag x input
        component); ``component_importance`` and, when the results hold gradient maps, ``gradient_importance``
        (``pd.Series``: each input component's share of the averaged per-component or gradient map, sums to 1);
        ``n_saliency_windows``.
    """
    lags = pd.RangeIndex(1, input_chunk_length + 1, name="lag")

    def by_lag(maps: list[np.ndarray]) -> np.ndarray:
        return np.concatenate(maps).mean(axis=0)[::-1].astype(np.float64)

    per_component = pd.DataFrame(
        by_lag([r.component_map("per_component") for r in results]), index=lags, columns=labels
    )
    summary: dict[str, Any] = {
        "saliency_per_step": pd.Series(by_lag([r.temporal_map("per_step") for r in results]), lags, name="per_step"),
        "saliency_paper": pd.Series(by_lag([r.temporal_map("paper") for r in results]), index=lags, name="paper"),
        "saliency_per_component": per_component,
        "component_importance": per_component.sum(axis=0).rename("importance"),
        "n_saliency_windows": int(sum(r.n_windows for r in results)),
    }
    if all(r.gradient is not None for r in results):
        gradient = by_lag([r.component_map("gradient") for r in results])  # (L, C)
        summary["saliency_gradient"] = pd.Series(gradient.sum(axis=1), index=lags, name="gradient")
        shares = gradient.sum(axis=0) / max(float(gradient.sum()), 1e-30)
        summary["gradient_importance"] = pd.Series(shares, index=pd.Index(labels), name="importance")
    return summary
