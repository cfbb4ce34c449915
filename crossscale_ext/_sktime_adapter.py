"""Conversion between sktime's data and :class:`~crossscale_ext.darts_model.CrossScaleNetModel`'s inputs.

The Darts half of :class:`~crossscale_ext.sktime_forecaster.CrossScaleNetForecaster`, kept apart from the
estimator as sktime keeps its Darts conversion in ``sktime/forecasting/base/adapters/_darts.py``:

- the hyperparameters turned into a ``CrossScaleNetModel`` (:func:`build_darts_model`);
- the Darts target and future-covariate series of the forecaster's series, and forecasts back in ``y``'s columns,
  index type and instance levels (:class:`DartsAdapter`);
- quantiles from the network's quantile outputs or sample paths (:func:`forecast_values`,
  :func:`interpolate_quantiles`).

The data as sktime gives it (checks, series of a panel, horizons) is :mod:`crossscale_ext._sktime_data`; the
saliency in ``y``'s terms is :mod:`crossscale_ext._sktime_saliency`. Darts is imported inside the functions that
need it, so importing this module stays cheap.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable, Hashable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sktime.forecasting.base import ForecastingHorizon

from crossscale_ext._sktime_data import (
    Instance,
    absolute_index,
    concat_frames,
    forecast_plan,
    merge_frames,
    quantile_levels,
    series_instances,
    split_instances,
)
from crossscale_ext.config import ArchitectureConfig

if TYPE_CHECKING:  # pragma: no cover
    from darts import TimeSeries

    from crossscale_ext.darts_model import CrossScaleNetModel

__all__ = ["DartsAdapter", "build_darts_model", "forecast_values", "interpolate_quantiles"]


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

    def row_index(self, key: tuple, times: pd.Index) -> pd.Index:
        """Output row index: ``times`` for a single series, ``(instance levels..., time)`` for panels."""
        if not key:
            return times.rename(self.time_name)
        arrays = [np.repeat(np.array([label], dtype=object), len(times)) for label in key]
        return pd.MultiIndex.from_arrays([*arrays, times], names=[*self.instance_names, self.time_name])


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

