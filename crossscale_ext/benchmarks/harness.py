"""The measuring harness of the benchmarks: peak memory, training callbacks, latency and window scoring.

Used by ``crossscale bench forecast`` (and available to any script that benchmarks Darts models); nothing in the
models depends on it. Imports numpy only; Lightning and Darts are imported inside the functions that need them.

- :class:`PeakMemory`: the additional peak resident memory of a ``with`` block.
- :func:`training_callbacks`: an epoch timer and a best-validation-weights keeper (Darts and neuralforecast);
  :func:`make_callbacks` adds the recipe's early stopping.
- :func:`latency_ms`: median prediction latency.
- :func:`evaluate_windows` / :class:`ForecastScores`: MSE and MAE of a fitted Darts model over every stride-1
  window of a series (the standard long-horizon protocol).
"""

from __future__ import annotations

import copy
import json
import math
import resource
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from crossscale_ext.config import check_int
from crossscale_ext.datasets.long_horizon import count_windows

if TYPE_CHECKING:  # pragma: no cover
    from darts import TimeSeries

__all__ = ["PeakMemory", "training_callbacks", "make_callbacks", "latency_ms", "ForecastScores", "evaluate_windows"]


class PeakMemory:
    """Peak resident memory increase of this process inside a ``with`` block, in MB.

    On Linux the kernel's high-water mark (``VmHWM``) is reset on entry by writing ``5`` to
    ``/proc/self/clear_refs``; the result is ``VmHWM - VmRSS at entry``. Memory the allocator kept from earlier
    blocks and reused is not counted, so this is the *additional* peak. Elsewhere (no ``/proc``) it falls back to
    the growth of ``ru_maxrss`` (the process-lifetime peak), which is 0 when an earlier block peaked higher.
    """

    def __init__(self) -> None:
        self.megabytes: float = float("nan")
        self._baseline_kb = 0
        self._reset_worked = False

    @staticmethod
    def _status_kb(field_name: str) -> int | None:
        try:
            with open("/proc/self/status") as status:
                for line in status:
                    if line.startswith(field_name + ":"):
                        return int(line.split()[1])
        except OSError:
            return None
        return None

    def __enter__(self) -> PeakMemory:
        try:
            with open("/proc/self/clear_refs", "w") as clear:
                clear.write("5")
            self._reset_worked = True
            self._baseline_kb = self._status_kb("VmRSS") or 0
        except OSError:
            self._reset_worked = False
            self._baseline_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return self

    def __exit__(self, *exc: object) -> None:
        if self._reset_worked:
            peak = self._status_kb("VmHWM") or self._baseline_kb
        else:
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        self.megabytes = max(peak - self._baseline_kb, 0) / 1024.0


def training_callbacks(monitor: str = "val_loss") -> tuple[Any, Any]:
    """An epoch timer and a best-weights keeper (pytorch_lightning callbacks) for Darts and neuralforecast models.

    An epoch runs from the start of training, or the end of a validation, to the start of the next validation: Darts
    validates after every training epoch (fit with ``val_series``), the neuralforecast peers every
    ``steps_per_epoch`` steps. Sanity-check validations do not count.

    Parameters
    ----------
    monitor
        The validation loss in Lightning's ``callback_metrics``: ``"val_loss"`` (Darts) or ``"ptl/val_loss"``
        (neuralforecast).

    Returns
    -------
    tuple
        ``(timer, best)``: ``timer.seconds``, the wall seconds of every epoch's training; ``best.state``, the
        weights of the epoch with the lowest validation loss (None before one), ``best.best_epoch`` (1-based) and
        ``best.epochs``, the epochs validated.
    """
    import pytorch_lightning as pl

    class EpochTimer(pl.Callback):
        """Wall seconds of every epoch's training, up to the start of its validation."""

        def __init__(self) -> None:
            self.seconds: list[float] = []
            self._mark: float | None = None

        def on_train_start(self, trainer, pl_module) -> None:
            self._mark = time.perf_counter()

        def on_validation_start(self, trainer, pl_module) -> None:
            if not trainer.sanity_checking and self._mark is not None:
                self.seconds.append(time.perf_counter() - self._mark)
                self._mark = None

        def on_validation_end(self, trainer, pl_module) -> None:
            if not trainer.sanity_checking:
                self._mark = time.perf_counter()

    class BestWeights(pl.Callback):
        """Keeps the weights of the epoch with the lowest validation loss (restored after training)."""

        def __init__(self) -> None:
            self.best_loss = math.inf
            self.best_epoch = 0
            self.epochs = 0
            self.state: dict[str, Any] | None = None

        def on_validation_end(self, trainer, pl_module) -> None:
            if trainer.sanity_checking:
                return
            self.epochs += 1
            loss = trainer.callback_metrics.get(monitor)
            if loss is not None and float(loss) < self.best_loss:
                self.best_loss = float(loss)
                self.best_epoch = self.epochs
                self.state = copy.deepcopy(pl_module.state_dict())

    return EpochTimer(), BestWeights()


def make_callbacks(patience: int) -> tuple[list[Any], Any, Any]:
    """``([stopper, timer, best], timer, best)``: the recipe's early stopping and :func:`training_callbacks`.

    ``stopper`` is the ``EarlyStopping`` on ``val_loss`` of :func:`~crossscale_ext.training.training_recipe`.
    """
    from crossscale_ext.training import training_recipe

    (stopper,) = training_recipe(early_stopping_patience=patience)["pl_trainer_kwargs"]["callbacks"]
    timer, best = training_callbacks()
    return [stopper, timer, best], timer, best


def write_report(out: Path | None, name: str, report: dict[str, Any], table: str) -> None:
    """Write ``out/<name>.json`` (the raw figures) and ``out/<name>.md`` (the table) when ``out`` is given."""
    if out is None:
        return
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / f"{name}.md").write_text(table)


def median_ms(call: Callable[[], Any], repeats: int) -> float:
    """Median wall milliseconds of ``call()`` over ``repeats`` calls, after one warm-up call."""
    call()
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        timings.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(timings)


def latency_ms(model: Any, windows: list[Any], horizon: int, repeats: int) -> float:
    """Median wall milliseconds of ``model.predict(horizon, series=windows)`` after one warm-up call."""
    return median_ms(lambda: model.predict(horizon, series=windows, batch_size=len(windows), verbose=False), repeats)


@dataclass(frozen=True)
class ForecastScores:
    """Errors of a model over every window of a series.

    Attributes
    ----------
    mse, mae
        Mean squared / absolute error over every window, forecast step and channel.
    n_windows
        Number of windows evaluated.
    """

    mse: float
    mae: float
    n_windows: int


def evaluate_windows(
    model: Any,
    series: TimeSeries,
    horizon: int,
    batch_size: int = 256,
    windows_per_chunk: int = 1024,
    past_covariates: TimeSeries | None = None,
    future_covariates: TimeSeries | None = None,
) -> ForecastScores:
    """MSE and MAE of a fitted Darts global model over every stride-1 window of ``series``.

    Runs Darts' ``historical_forecasts(retrain=False, last_points_only=False, stride=1,
    forecast_horizon=horizon)`` (its optimised batched path for torch models) on consecutive chunks of
    ``series``, so memory stays bounded while every window is scored exactly once. The first window uses the
    first ``model.input_chunk_length`` rows as input; windows whose horizon would run past the end are not
    formed (the standard protocol's ``len - L - H + 1`` windows).

    Parameters
    ----------
    model
        A fitted Darts ``TorchForecastingModel`` (or any global model with ``historical_forecasts``) with
        ``input_chunk_length`` and ``output_chunk_length >= horizon``.
    series
        The (scaled) evaluation series, starting ``input_chunk_length`` rows before the first forecast.
    horizon
        Forecast horizon ``H``.
    batch_size
        Prediction batch size.
    windows_per_chunk
        Windows forecast per ``historical_forecasts`` call (bounds memory).
    past_covariates, future_covariates
        Optional covariates, passed through.

    Returns
    -------
    ForecastScores
        MSE and MAE averaged over windows, steps and channels, and the number of windows.

    Raises
    ------
    ValueError
        When the series is too short for one window, or the model's output chunk is shorter than ``horizon``.
    """
    horizon = check_int("horizon", horizon)
    input_length = int(model.input_chunk_length)
    if int(model.output_chunk_length) < horizon:
        raise ValueError(
            f"The model forecasts {model.output_chunk_length} steps at once but horizon={horizon}; train it with "
            "output_chunk_length >= horizon (the standard protocol forecasts the horizon in one shot)."
        )
    n_windows = count_windows(len(series), input_length, horizon)
    if n_windows == 0:
        raise ValueError(
            f"The series has {len(series)} rows, too few for one window of {input_length} inputs + {horizon} steps."
        )
    windows_per_chunk = check_int("windows_per_chunk", windows_per_chunk)
    actual = series.values(copy=False)
    squared_sum = 0.0
    absolute_sum = 0.0
    n_seen = 0
    for first in range(0, n_windows, windows_per_chunk):
        n_chunk = min(windows_per_chunk, n_windows - first)
        chunk = series[first : first + n_chunk + input_length + horizon - 1]
        forecasts = model.historical_forecasts(
            chunk,
            past_covariates=past_covariates,
            future_covariates=future_covariates,
            forecast_horizon=horizon,
            stride=1,
            retrain=False,
            last_points_only=False,
            overlap_end=False,
            verbose=False,
            predict_kwargs={"batch_size": batch_size, "verbose": False},
        )
        if len(forecasts) != n_chunk:
            raise RuntimeError(f"historical_forecasts returned {len(forecasts)} windows where {n_chunk} were expected.")
        predicted = np.stack([f.values(copy=False) for f in forecasts])  # (n_chunk, H, C)
        starts = first + input_length + np.arange(n_chunk)
        targets = actual[starts[:, None] + np.arange(horizon)[None, :]]  # (n_chunk, H, C)
        if forecasts[0].start_time() != series.time_index[starts[0]]:
            raise RuntimeError("historical_forecasts windows are not aligned with the series; please report this.")
        error = predicted.astype(np.float64) - targets.astype(np.float64)
        squared_sum += float(np.square(error).sum())
        absolute_sum += float(np.abs(error).sum())
        n_seen += error.size
    return ForecastScores(mse=squared_sum / n_seen, mae=absolute_sum / n_seen, n_windows=n_windows)
