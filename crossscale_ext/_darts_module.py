"""The Darts plumbing below :class:`~crossscale_ext.darts_model.CrossScaleNetModel`.

- the process-wide inference lock and the input checks (:func:`check_inputs`, :func:`check_covariate_span`, the
  precision casts): the saliency pass (:mod:`crossscale_ext.explainability`) and the Darts model both use them, so
  they live below both, and the model imports the pass, never the other way round;
- what the model's overrides of Darts need, as functions of the model's state: the snapshot that a failed ``fit``
  restores (:func:`snapshot_for_fit`, :func:`restore_after_fit`), one clear error for every refused load
  (:func:`load_or_explain`), prediction in this process after a process-spawning trainer
  (:func:`spawns_processes`, :func:`single_process_trainer_params`), and Monte Carlo dropout in the network
  (:func:`use_monte_carlo_dropout`).
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from darts import TimeSeries
from darts.utils.ts_utils import series2seq

__all__ = [
    "INFERENCE_LOCK",
    "TrainingDivergedError",
    "check_covariate_span",
    "check_inputs",
    "load_or_explain",
    "restore_after_fit",
    "single_process_trainer_params",
    "snapshot_for_fit",
    "spawns_processes",
    "use_monte_carlo_dropout",
]

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


def check_inputs(
    series: TimeSeries | Sequence[TimeSeries] | None,
    past_covariates: TimeSeries | Sequence[TimeSeries] | None,
    future_covariates: TimeSeries | Sequence[TimeSeries] | None,
    min_length: int,
    role: str,
    chunks: tuple[int, int, int],
) -> None:
    """Clear errors for short series and non-finite or non-float values, before Darts' deeper checks.

    The covariates are checked even when ``series`` is None (``predict`` on the training series). ``chunks`` is the
    model's ``(input_chunk_length, output_chunk_length, output_chunk_shift)``, for the messages.

    Raises
    ------
    TypeError
        When an input is not a ``TimeSeries`` (or a sequence of them) or holds non-float values.
    ValueError
        For missing (NaN) or infinite values, naming the series, the count, the first time point and the fix,
        and for a ``series`` shorter than ``min_length``.
    """
    for name, group in (("series", series), ("past_covariates", past_covariates),
                        ("future_covariates", future_covariates)):
        for i, ts in enumerate(_as_series_list(name, group)):
            if name != "series" and len(ts) == 0:
                raise ValueError(
                    f"{name}[{i}] is empty (0 time steps); CrossScaleNetModel cannot {role} with it. Pass "
                    f"{name} that cover the input window (and, for future covariates, the forecast), or leave "
                    "them out if the model was fit without them."
                )
            _check_finite_float(f"{name}[{i}]", ts, role)
    if series is None:
        return
    input_length, output_length, shift = chunks
    lengths = f"input_chunk_length={input_length}" + (
        f" + output_chunk_length={output_length} + output_chunk_shift={shift}" if role == "fit" else ""
    )
    for i, ts in enumerate(series2seq(series)):
        if len(ts) < min_length:
            raise ValueError(
                f"series[{i}] has {len(ts)} time steps, but CrossScaleNetModel needs at least {min_length} to "
                f"{role} ({lengths}). Use a longer series or smaller chunk lengths."
            )


def check_covariate_span(
    series: TimeSeries | Sequence[TimeSeries],
    past_covariates: TimeSeries | Sequence[TimeSeries] | None,
    future_covariates: TimeSeries | Sequence[TimeSeries] | None,
    lead: int,
) -> None:
    """Training covariates must cover every training window of their target series; widths must agree.

    ``lead`` is ``output_chunk_length + output_chunk_shift``: past covariates must reach that many steps before
    the end of their target, future covariates its end.

    Raises
    ------
    ValueError
        When the series of one group (targets, past or future covariates) differ in their number of
        components, when a covariate group has another number of series than the targets, or when covariates
        do not cover their target's training windows.
    """
    targets = _as_series_list("series", series)
    for name, group in (("series", targets), ("past_covariates", past_covariates),
                        ("future_covariates", future_covariates)):
        widths = [ts.width for ts in _as_series_list(name, group)]
        if len(set(widths)) > 1:
            raise ValueError(
                f"The series in {name} have different numbers of components ({widths}); one CrossScaleNetModel "
                f"is trained on series of one width. Give every series of {name} the same components (e.g. "
                "add the missing ones, or fit one model per width)."
            )
    for name, group, end_offset in (("past_covariates", past_covariates, -lead),
                                    ("future_covariates", future_covariates, 0)):
        covariates = _as_series_list(name, group)
        if not covariates:
            continue
        if len(covariates) != len(targets):
            raise ValueError(
                f"{name} holds {len(covariates)} series but series holds {len(targets)}: give one covariate "
                "series per target series."
            )
        for i, (target, cov) in enumerate(zip(targets, covariates)):
            needed_end = target.end_time() + end_offset * target.freq
            if cov.start_time() > target.start_time() or cov.end_time() < needed_end:
                raise ValueError(
                    f"{name}[{i}] spans {cov.start_time()} to {cov.end_time()}, but to fit on series[{i}] it must "
                    f"cover {target.start_time()} to {needed_end}. Extend the covariates, or trim the target "
                    f"to the covariates' span (e.g. series.slice_intersect({name}))."
                )


def snapshot_for_fit(model: Any) -> dict[str, Any]:
    """What a failed ``fit`` of ``model`` must put back: its attributes and its fitted module's state.

    The attributes are copied shallowly, except Darts' ``_random_instance``, which every ``fit`` / ``predict``
    advances; the fitted Lightning module (``model.model``, None before the first fit) keeps its own attributes,
    weights and train / eval state. :func:`restore_after_fit` puts them back.
    """
    attributes = model.__dict__.copy()
    if "_random_instance" in attributes:
        attributes["_random_instance"] = copy.deepcopy(attributes["_random_instance"])
    module = model.model
    if module is None:
        return {"attributes": attributes, "module": None}
    return {
        "attributes": attributes,
        "module": module,
        "module_attributes": module.__dict__.copy(),
        "weights": {name: value.detach().clone() for name, value in module.state_dict().items()},
        "modes": [child.training for child in module.modules()],
    }


def restore_after_fit(model: Any, snapshot: dict[str, Any]) -> None:
    """Undo a failed ``fit`` of ``model`` from :func:`snapshot_for_fit`'s record."""
    import torch

    model.__dict__.clear()
    model.__dict__.update(snapshot["attributes"])
    module = snapshot["module"]
    if module is None:
        return
    module.__dict__.update(snapshot["module_attributes"])
    with torch.no_grad():
        module.load_state_dict(snapshot["weights"])
    for child, training in zip(module.modules(), snapshot["modes"]):
        child.training = training


def load_or_explain(load: Callable[[], Any], cls: type, what: str, missing: str, broken: str, loader: str) -> Any:
    """``load()``, with one ``ValueError`` naming ``what`` and the reason for every way it can fail.

    Parameters
    ----------
    load
        The Darts loader, called without arguments.
    cls
        The class the loaded object must be.
    what
        How the messages name the file or folder, e.g. ``"'model.pt'"``.
    missing
        The whole message for a missing file (``{error}`` is replaced by the loader's message).
    broken
        What a file the loader refuses is (truncated, corrupt, unsafe), after the loader's own error.
    loader
        The method to load another class's file with, e.g. ``"load"``.

    Raises
    ------
    ValueError
        When the file is missing, the loader refuses it (truncated, corrupt, objects the safe loader refuses), or it
        holds another class.
    """
    try:
        loaded = load()
    except FileNotFoundError as error:
        raise ValueError(missing.format(error=error)) from error
    except Exception as error:  # noqa: BLE001 - Darts and the unpickler raise many types; one clear error for all
        raise ValueError(
            f"Cannot load {what} as a {cls.__name__}: {type(error).__name__}: {error}. {broken}"
        ) from error
    if not isinstance(loaded, cls):
        name = type(loaded).__name__
        raise ValueError(
            f"{what[0].upper()}{what[1:]} holds a {name}, not a {cls.__name__}: load it with {name}.{loader}."
        )
    return loaded


def spawns_processes(trainer_params: dict[str, Any] | None) -> bool:
    """Whether the trainer arguments choose a process-spawning strategy (e.g. ``"ddp_spawn"``)."""
    strategy = (trainer_params or {}).get("strategy")
    if isinstance(strategy, str):
        return "spawn" in strategy
    return getattr(strategy, "_start_method", None) == "spawn"


def single_process_trainer_params(trainer_params: dict[str, Any], verbose: bool | None) -> dict[str, Any]:
    """The trainer arguments for prediction in this process: one device, no strategy, the other settings kept."""
    params = {k: v for k, v in trainer_params.items() if k not in ("strategy", "devices", "num_nodes")}
    params["devices"] = 1
    if verbose is not None:
        params["enable_progress_bar"] = bool(verbose)
        params["enable_model_summary"] = False
    return params


def use_monte_carlo_dropout(module: Any) -> None:
    """Replace every ``nn.Dropout`` below the torch ``module`` by Darts' ``MonteCarloDropout`` (same rate, state)."""
    from darts.utils.torch import MonteCarloDropout
    from torch import nn

    for name, child in module.named_children():
        if type(child) is nn.Dropout:
            setattr(module, name, MonteCarloDropout(child.p))
        else:
            use_monte_carlo_dropout(child)
