"""Explaining a fitted :class:`~crossscale_ext.darts_model.CrossScaleNetModel`: the saliency pass and Darts' result.

Like Darts' ``darts/explainability/`` (``tft_explainer.py``), explanation lives apart from the model:

- :func:`compute_saliency` runs the model's own batched pass over the requested input windows (the last
  one of each series, or every window ``historical_forecasts`` would forecast) and returns one
  :class:`~crossscale_ext.saliency.SaliencyResult` per series. Unlike ``TFTExplainer``, which reads the
  attention the last forward call left on the module, every window of every series is kept.
- :func:`explain` lays the last window's maps out as a Darts explainability result,
  :class:`CrossScaleNetExplainabilityResult` (the shape of ``TFTExplainabilityResult``).

Every call into Darts' private helpers (building the inference data set, the historical-forecast window
bounds, batch collation) is in this module, so a Darts upgrade that changes them is fixed in one place.
The pass does not change the model: no parameter gradient is kept (``torch.autograd.grad`` on the inputs
only), Monte Carlo dropout is off, and the network's train / eval state is restored.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
from darts import TimeSeries
from darts.explainability.explainability import _ForecastingModelExplainer
from darts.explainability.explainability_result import ComponentBasedExplainabilityResult
from darts.models.forecasting.torch_forecasting_model import MixedCovariatesTorchModel
from darts.utils.data.torch_datasets.utils import PLModuleInput, _batch_collate_fn_predict
from darts.utils.likelihood_models.torch import QuantileRegression
from darts.utils.timeseries_generation import generate_index
from darts.utils.ts_utils import series2seq

from crossscale_ext._darts_module import INFERENCE_LOCK
from crossscale_ext.config import check_int
from crossscale_ext.network import CrossScaleNet
from crossscale_ext.saliency import (
    CELL_MAPS,
    GRADIENT_MAP_NAMES,
    RECOMMENDED_MAP,
    TEMPORAL_MAPS,
    PanelAccumulator,
    PanelSaliency,
    SaliencyMaps,
    SaliencyMemoryWarning,
    SaliencyResult,
    _integer_index,
    attention_maps,
    check_maps,
    check_storage_dtype,
    gradient_maps,
    map_label,
    warn_if_uninformative,
)

#: What this module explains: a fitted ``CrossScaleNetModel``. The model imports this module, not the other way
#: round, so annotations name the model's Darts base class.
ExplainedModel = MixedCovariatesTorchModel

__all__ = [
    "CrossScaleNetExplainabilityResult",
    "CrossScaleNetExplainer",
    "SaliencyRequest",
    "check_ensemble",
    "ensemble_request",
    "point_forecast",
    "panel_saliency",
    "compute_saliency",
    "iter_saliency",
    "explain",
]

SeriesArg = TimeSeries | Sequence[TimeSeries] | None


#: A one-shot saliency call whose result would hold more than this many bytes warns first
#: (:class:`~crossscale_ext.saliency.SaliencyMemoryWarning`); ``iter_saliency`` never does.
LARGE_RESULT_BYTES = 2**30


class CrossScaleNetExplainabilityResult(ComponentBasedExplainabilityResult):
    """CrossScaleNet saliency in the shape of Darts' ``TFTExplainabilityResult``.

    One dict per explained series (a list for several series) with:

    - ``"attention"``: a ``TimeSeries`` over the input window *and* the forecast window
      (``input_chunk_length + output_chunk_length`` rows, like ``TFTExplainer``), components ``gradient``
      (the recommended map; left out when computed with ``gradients=False``) and the paper's attention
      maps ``attention_paper`` and ``attention_per_step``; the forecast rows are 0, as the maps put no mass
      on the future.
    - ``"encoder_importance"``: a one-row ``DataFrame``, each input component's share of the saliency
      (the gradient map, or the per-component attention map with ``gradients=False``; the columns' Index
      is named after the map).
    - ``"encoder_importance_over_time"``: a ``TimeSeries`` over the input window, one component per
      input component (the same map).
    - ``"saliency"``: the full :class:`~crossscale_ext.saliency.SaliencyResult`.
    """

    def get_attention(self) -> TimeSeries | list[TimeSeries]:
        """Temporal maps over the input and forecast windows."""
        return self.get_explanation("attention")

    def get_encoder_importance(self) -> pd.DataFrame | list[pd.DataFrame]:
        """Each input component's share of the saliency (one-row DataFrame per series)."""
        return self.get_explanation("encoder_importance")

    def get_encoder_importance_over_time(self) -> TimeSeries | list[TimeSeries]:
        """Per-component saliency over the input window."""
        return self.get_explanation("encoder_importance_over_time")

    def get_saliency(self) -> SaliencyResult | list[SaliencyResult]:
        """The full :class:`~crossscale_ext.saliency.SaliencyResult` per series."""
        return self.get_explanation("saliency")


class CrossScaleNetExplainer(_ForecastingModelExplainer):
    """Explainer of a fitted :class:`~crossscale_ext.darts_model.CrossScaleNetModel`, like Darts' ``TFTExplainer``.

    ``CrossScaleNetExplainer(model).explain()`` gives the same result as ``model.explain()``: a
    :class:`CrossScaleNetExplainabilityResult` of the next forecast of each series. The explainer adds
    Darts' background / foreground convention and the two plots of ``TFTExplainer``:
    :meth:`plot_variable_selection` (each input component's share of the saliency) and
    :meth:`plot_attention` (the temporal maps over the input window, the recommended ``gradient`` map
    first, the paper's attention maps beside it).

    Parameters
    ----------
    model
        The fitted ``CrossScaleNetModel`` to explain.
    background_series
        The series to explain when :meth:`explain` is given none. Optional when the model was fit on one
        series (that series is the default); needed when it was fit on several.
    background_past_covariates, background_future_covariates
        The covariates of ``background_series``, as for ``predict``.

    Examples
    --------
    >>> from darts.utils.timeseries_generation import sine_timeseries
    >>> from crossscale_ext import CrossScaleNetExplainer, CrossScaleNetModel
    >>> series = sine_timeseries(length=200, value_frequency=1 / 24).astype("float32")
    >>> model = CrossScaleNetModel(input_chunk_length=32, output_chunk_length=8, n_scales=3,
    ...                            base_patch_length=8, d_model=16, n_epochs=1, random_state=0)
    >>> model = model.fit(series, verbose=False)
    >>> explainer = CrossScaleNetExplainer(model)
    >>> result = explainer.explain()
    >>> result.get_attention().components.tolist()
    ['gradient', 'attention_paper', 'attention_per_step']
    """

    def __init__(
        self,
        model: ExplainedModel,
        background_series: SeriesArg = None,
        background_past_covariates: SeriesArg = None,
        background_future_covariates: SeriesArg = None,
    ) -> None:
        if not isinstance(getattr(getattr(model, "model", None), "network", None), CrossScaleNet):
            fitted = "" if type(model).__name__ != "CrossScaleNetModel" else " (this one is not fitted)"
            raise ValueError(
                f"CrossScaleNetExplainer explains a fitted CrossScaleNetModel; got {type(model).__name__}{fitted}."
            )
        super().__init__(
            model,
            background_series=background_series,
            background_past_covariates=background_past_covariates,
            background_future_covariates=background_future_covariates,
            requires_background=True,
            requires_covariates_encoding=False,
            check_component_names=False,
            test_stationarity=False,
        )

    def explain(
        self,
        foreground_series: SeriesArg = None,
        foreground_past_covariates: SeriesArg = None,
        foreground_future_covariates: SeriesArg = None,
        horizons: Sequence[int] | None = None,
        target_components: Sequence[str] | None = None,
        gradients: bool = True,
    ) -> CrossScaleNetExplainabilityResult:
        """Explain the next forecast of each foreground series (default: the background series).

        Parameters
        ----------
        foreground_series, foreground_past_covariates, foreground_future_covariates
            The series to explain and their covariates. Default: the background given to the explainer.
        horizons, target_components
            Accepted for Darts' explainer interface; only None. The maps explain the point forecast summed
            over every forecast step and target component.
        gradients
            Also compute the gradient maps (default True; the recommended map is one of them).

        Returns
        -------
        CrossScaleNetExplainabilityResult
            As :meth:`CrossScaleNetModel.explain <crossscale_ext.darts_model.CrossScaleNetModel.explain>`.

        Raises
        ------
        ValueError
            For ``horizons`` or ``target_components`` other than None, or covariates without a foreground
            series.
        """
        if horizons is not None or target_components is not None:
            raise ValueError(
                "CrossScaleNet's maps explain the forecast summed over all its steps and target components: "
                "leave horizons and target_components at None."
            )
        if foreground_series is None:
            if foreground_past_covariates is not None or foreground_future_covariates is not None:
                raise ValueError("foreground covariates need a foreground_series to go with them.")
            foreground_series = self.background_series
            foreground_past_covariates = self.background_past_covariates
            foreground_future_covariates = self.background_future_covariates
        series, past, future = (
            _single(foreground_series), _single(foreground_past_covariates), _single(foreground_future_covariates)
        )
        if isinstance(series, TimeSeries):  # one series gives one explanation, as with TFTExplainer
            foreground_series, foreground_past_covariates, foreground_future_covariates = series, past, future
        return explain(
            self.model, foreground_series, foreground_past_covariates, foreground_future_covariates, gradients
        )

    def plot_variable_selection(
        self,
        expl_result: CrossScaleNetExplainabilityResult,
        fig_size: tuple[float, float] | None = None,
        max_nr_series: int = 5,
        show_plot: bool = True,
    ) -> Any:
        """Bar chart of each input component's share of the saliency, one figure per series.

        Parameters
        ----------
        expl_result
            The result of :meth:`explain`.
        fig_size
            The figure size (matplotlib's default when None).
        max_nr_series
            At most this many series are plotted.
        show_plot
            Whether to call ``plt.show()``.

        Returns
        -------
        matplotlib.figure.Figure or list of Figure
            One figure for a single series, else a list.
        """
        import matplotlib.pyplot as plt

        importances = expl_result.get_encoder_importance()
        single = isinstance(importances, pd.DataFrame)
        figures = []
        for importance in ([importances] if single else importances)[:max_nr_series]:
            fig, ax = plt.subplots(figsize=fig_size)
            row = importance.iloc[0].sort_values()
            ax.barh([str(name) for name in row.index], row.to_numpy())
            ax.set_xlabel(f"share of the {importance.columns.name or 'saliency'} map")
            ax.set_title("Input components")
            fig.tight_layout()
            figures.append(fig)
        if show_plot:
            plt.show()
        return figures[0] if single else figures

    def plot_attention(
        self,
        expl_result: CrossScaleNetExplainabilityResult,
        plot_type: Literal["time", "heatmap", "all"] = "time",
        show_index_as: Literal["relative", "time"] = "relative",
        ax: Any = None,
        max_nr_series: int = 5,
        show_plot: bool = True,
    ) -> Any:
        """Plot the temporal maps of each explained series, like ``TFTExplainer.plot_attention``.

        Parameters
        ----------
        expl_result
            The result of :meth:`explain`.
        plot_type
            ``"time"`` (default): each temporal map over the input window, the recommended map first.
            ``"heatmap"``: the per-component map (input component x time). ``"all"``: both, one above the
            other.
        show_index_as
            ``"relative"``: the x-axis runs from ``-input_chunk_length`` to ``-1`` (the last input step).
            ``"time"``: the input window's time stamps.
        ax
            An axis to draw on (``plot_type`` ``"time"`` or ``"heatmap"`` and a single series only).
        max_nr_series
            At most this many series are plotted.
        show_plot
            Whether to call ``plt.show()``.

        Returns
        -------
        matplotlib.figure.Figure or list of Figure
            One figure for a single series, else a list.

        Raises
        ------
        ValueError
            For an unknown ``plot_type`` or ``show_index_as``, or ``ax`` with ``plot_type="all"`` or several
            series.
        """
        import matplotlib.pyplot as plt

        if plot_type not in ("time", "heatmap", "all"):
            raise ValueError(f"plot_type must be 'time', 'heatmap' or 'all'; got {plot_type!r}.")
        if show_index_as not in ("relative", "time"):
            raise ValueError(f"show_index_as must be 'relative' or 'time'; got {show_index_as!r}.")
        attentions = expl_result.get_attention()
        over_times = expl_result.get_encoder_importance_over_time()
        single = isinstance(attentions, TimeSeries)
        if ax is not None and (plot_type == "all" or not single):
            raise ValueError("ax works with plot_type='time' or 'heatmap' and one explained series only.")
        length = self.model.input_chunk_length
        figures = []
        pairs = list(zip([attentions] if single else attentions, [over_times] if single else over_times))
        for attention, over_time in pairs[:max_nr_series]:
            if ax is not None:
                axes, fig = [ax], ax.figure
            else:
                rows = 2 if plot_type == "all" else 1
                fig, grid = plt.subplots(rows, 1, figsize=(9, 3 * rows), squeeze=False)
                axes = list(grid[:, 0])
            x = np.arange(-length, 0) if show_index_as == "relative" else attention.time_index[:length]
            if plot_type in ("time", "all"):
                values = attention.values(copy=False)[:length]
                for j, name in enumerate(attention.components):
                    column = values[:, j]
                    total = float(np.abs(column).sum())
                    axes[0].plot(x, column / total if total > 0 else column, label=str(name), lw=1.5 if j else 2.0)
                axes[0].set_ylabel("share of the window's saliency")
                axes[0].legend(loc="upper left", fontsize="small")
            if plot_type in ("heatmap", "all"):
                target = axes[-1]
                cells = over_time.values(copy=False).T
                image = target.imshow(cells, aspect="auto", cmap="viridis", interpolation="nearest")
                target.set_yticks(range(len(over_time.components)), [str(c) for c in over_time.components])
                ticks = np.linspace(0, length - 1, min(length, 6)).round().astype(int)
                target.set_xticks(ticks, [str(x[t]) for t in ticks])
                fig.colorbar(image, ax=target, label="saliency")
            axes[-1].set_xlabel("lag (steps before the forecast)" if show_index_as == "relative" else "time")
            figures.append(fig)
        if show_plot:
            plt.show()
        return figures[0] if single else figures


def _single(series: SeriesArg) -> SeriesArg:
    """A sequence of one series as that series; anything else unchanged."""
    if isinstance(series, Sequence) and not isinstance(series, TimeSeries) and len(series) == 1:
        return series[0]
    return series


def _inference_dataset(
    model: ExplainedModel,
    series: list[TimeSeries],
    past_covariates: list[TimeSeries] | None,
    future_covariates: list[TimeSeries] | None,
    windows: Literal["last", "all"],
    start: Any,
    start_format: Literal["position", "value"],
    stride: int,
    overlap_end: bool,
) -> tuple[Any, np.ndarray]:
    """Darts' inference data set of the requested windows, and the number of windows of each series."""
    n = model.output_chunk_length
    if windows == "last":
        if model.encoders is not None and model.encoders.encoding_available:
            past_covariates, future_covariates = model.generate_predict_encodings(
                n=n, series=series, past_covariates=past_covariates, future_covariates=future_covariates
            )
        dataset = model._build_inference_dataset(n, series, past_covariates, future_covariates, stride=0)
        return dataset, np.ones(len(series), dtype=int)

    from darts.utils.historical_forecasts.optimized_historical_forecasts_torch import _create_dataset_bounds
    from darts.utils.historical_forecasts.utils import _process_historical_forecast_input

    series, past_covariates, future_covariates = _process_historical_forecast_input(
        model=model, series=series, past_covariates=past_covariates,
        future_covariates=future_covariates, forecast_horizon=n,
    )
    bounds, cum_lengths = _create_dataset_bounds(
        model=model, series=series, past_covariates=past_covariates, future_covariates=future_covariates,
        start=start, start_format=start_format, forecast_horizon=n, stride=stride,
        overlap_end=overlap_end, show_warnings=True,
    )
    dataset = model._build_inference_dataset(
        n, series, past_covariates, future_covariates, stride=stride, bounds=bounds
    )
    return dataset, np.diff(np.concatenate([[0], cum_lengths]))


def _point_index(model: ExplainedModel) -> int:
    """Which of the ``nr_params`` outputs is the point forecast: the median for quantiles, else the first (mean)."""
    if isinstance(model.likelihood, QuantileRegression):
        return int(np.argmin(np.abs(np.asarray(model.likelihood.quantiles) - 0.5)))
    return 0


def point_forecast(
    model: ExplainedModel,
    inputs: torch.Tensor,
    n_targets: int,
    future_covariates: torch.Tensor | None = None,
    static_covariates: torch.Tensor | None = None,
) -> tuple[torch.Tensor, Any, torch.Tensor]:
    """A fitted model's network on input windows ``(B, L, C)`` (targets first), autograd as the caller sets it.

    Darts' optional reversible instance norm of the ``n_targets`` target channels is applied inside the graph,
    so gradients are taken with respect to the inputs as the user gave them. Returns the network's features,
    its output and the point forecast ``(B, H, n_targets)`` (the median of a quantile model, else the first
    likelihood parameter). The caller sets the network's mode (the saliency pass: eval).
    """
    module = model.model
    target = inputs[:, :, :n_targets]
    if module.use_reversible_instance_norm:
        target = module.rin(target.clone())
    features = torch.cat([target, inputs[:, :, n_targets:]], dim=2)
    output = module.network(features, future_covariates, static_covariates)
    forecast = output.forecast
    if module.use_reversible_instance_norm:
        forecast = module.rin.inverse(forecast)
    return features, output, forecast[..., _point_index(model)]


def _explain_batch(
    model: ExplainedModel,
    x_in: PLModuleInput,
    maps: tuple[str, ...],
    dtype: Any = np.float32,
    ensemble: tuple[ExplainedModel, ...] = (),
) -> tuple[np.ndarray, np.ndarray, SaliencyMaps]:
    """Point forecast ``(B, H, C_t)``, inputs ``(B, L, C)`` and the requested maps of one batch, in one forward pass.

    The gradient maps are taken with respect to the inputs as the user gave them (before Darts' optional
    reversible instance norm of the target, which is applied inside the differentiated graph). No backward pass
    runs unless ``maps`` names a gradient map. With ``ensemble`` (models checked by :func:`check_ensemble`), the
    forecast is the mean of ``model``'s and every member's point forecast, and the gradient maps are those of that
    mean (``maps`` then holds gradient maps only). Everything is returned as ``dtype``.
    """
    gradients = any(name in GRADIENT_MAP_NAMES for name in maps)
    pieces = [x_in.past_target, x_in.past_covariates, x_in.historic_future_covariates]
    inputs = torch.cat([p for p in pieces if p is not None], dim=2).detach()
    with torch.enable_grad() if gradients else torch.no_grad():
        if gradients:
            inputs.requires_grad_(True)
        given = (x_in.past_target.shape[2], x_in.future_covariates, x_in.static_covariates)
        features, output, forecast = point_forecast(model, inputs, *given)
        if ensemble:
            forecast = torch.stack([forecast] + [point_forecast(m, inputs, *given)[2] for m in ensemble]).mean(dim=0)
        batch_maps = attention_maps(model.model.network, features, output, maps=maps, dtype=dtype)
        if gradients:
            for name, values in gradient_maps(inputs, forecast, maps=maps, dtype=dtype).items():
                setattr(batch_maps, name, values)
    return (
        forecast.detach().cpu().numpy().astype(dtype, copy=False),
        inputs.detach().cpu().numpy().astype(dtype, copy=False),
        batch_maps,
    )


def check_ensemble(model: ExplainedModel, ensemble: Sequence[ExplainedModel] | None) -> tuple[ExplainedModel, ...]:
    """The checked members of an ensemble explained with ``model``: fitted, and shaped like ``model``.

    Each member must be a fitted model of ``model``'s class with the same window (``input_chunk_length``,
    ``output_chunk_length``, ``output_chunk_shift``), the same inputs (channels, targets, which covariates,
    their widths) and its network's parameters on the same device with the same dtype, so that one batch of
    windows feeds them all. Typically: the same model retrained with other seeds.

    Raises
    ------
    TypeError
        When ``ensemble`` is not a sequence of models of ``model``'s class.
    ValueError
        When a member is not fitted, is ``model`` itself or appears twice, or does not match ``model``.
    """
    if ensemble is None:
        return ()
    if isinstance(ensemble, ExplainedModel) or not isinstance(ensemble, Sequence):
        raise TypeError(
            "ensemble must be a list of fitted models (e.g. [model_seed1, model_seed2]); "
            f"got {type(ensemble).__name__}."
        )
    members = tuple(ensemble)
    name = type(model).__name__
    reference = _ensemble_signature(model)
    for i, member in enumerate(members):
        if not isinstance(member, type(model)):
            raise TypeError(f"ensemble[{i}] is a {type(member).__name__}; every member must be a {name}.")
        member._require_fitted(f"explaining it in an ensemble (ensemble[{i}])")
        if member is model or any(member is other for other in members[:i]):
            raise ValueError(
                f"ensemble[{i}] is {'the explained model itself' if member is model else 'listed twice'}: each model "
                "of the ensemble counts once (the explained model is a member already)."
            )
        signature = _ensemble_signature(member)
        differing = [key for key in reference if signature[key] != reference[key]]
        if differing:
            details = ", ".join(f"{key} {signature[key]!r} (explained model: {reference[key]!r})" for key in differing)
            raise ValueError(f"ensemble[{i}] does not match the explained model: {details}.")
    return members


def _ensemble_signature(model: ExplainedModel) -> dict[str, Any]:
    """What every member of an ensemble must share with the explained model."""
    network = model.model.network
    parameter = next(network.parameters())
    return {
        "input_chunk_length": model.input_chunk_length,
        "output_chunk_length": model.output_chunk_length,
        "output_chunk_shift": model.output_chunk_shift,
        "input channels": network.n_channels,
        "targets": network.n_targets,
        "uses_past_covariates": model.uses_past_covariates,
        "uses_future_covariates": model.uses_future_covariates,
        "uses_static_covariates": model.uses_static_covariates,
        "future covariate width": None if network.future_projection is None else network.future_projection.in_features,
        "static covariate width": None if network.static_projection is None else network.static_projection.in_features,
        "device": str(parameter.device),
        "dtype": str(parameter.dtype),
    }


def ensemble_request(request: SaliencyRequest, maps: str | Sequence[str] | None) -> SaliencyRequest:
    """The request of an ensemble's saliency: the gradient maps only.

    ``maps`` is what the caller passed: None becomes every gradient map for ``windows="last"`` and the
    recommended map for ``windows="all"``.

    Raises
    ------
    ValueError
        With ``gradients=False``, or when ``maps`` names an attention map (each member has its own attention).
    """
    if not request.gradients:
        raise ValueError("An ensemble's saliency is its gradient maps: gradients=False leaves nothing to compute.")
    if maps is None:
        chosen = GRADIENT_MAP_NAMES if request.windows == "last" else (RECOMMENDED_MAP,)
        return replace(request, maps=chosen)
    attention = [name for name in request.maps if name not in GRADIENT_MAP_NAMES]
    if attention:
        raise ValueError(
            f"An ensemble has no attention maps (each member attends with its own weights); maps={attention} "
            f"cannot be computed. Ask for gradient maps ({', '.join(GRADIENT_MAP_NAMES)}), or explain one model."
        )
    return request


@dataclass(frozen=True)
class SaliencyRequest:
    """What a saliency call asks for, checked once: which windows, which maps, how they are stored.

    Every entry point (``CrossScaleNetModel.saliency`` / ``iter_saliency``, ``explain``, the sktime forecaster
    through them) builds one and passes it down. The fields are the keyword arguments of
    :meth:`CrossScaleNetModel.saliency <crossscale_ext.darts_model.CrossScaleNetModel.saliency>`, which
    documents them. After construction ``windows`` is ``"all"`` whenever ``start``, ``stride`` or
    ``overlap_end`` select windows, ``maps`` is the checked tuple of map names and ``inputs`` a bool.

    Raises
    ------
    ValueError, TypeError
        For a value the field does not accept, naming the fix.
    """

    windows: Literal["last", "all"] = "last"
    start: Any = None
    start_format: Literal["position", "value"] = "value"
    stride: int = 1
    overlap_end: bool = False
    batch_size: int | None = None
    gradients: bool = True
    maps: str | Sequence[str] | None = None
    dtype: Any = "float32"
    inputs: bool | None = None

    def __post_init__(self) -> None:
        if self.windows not in ("last", "all"):
            raise ValueError(f"windows must be 'last' or 'all'; got {self.windows!r}.")
        check_int("stride", self.stride)
        check_int("batch_size", self.batch_size, allow_none=True)
        if not isinstance(self.gradients, bool):
            raise ValueError(f"gradients must be True or False; got {self.gradients!r}.")
        if self.inputs is not None and not isinstance(self.inputs, bool):
            raise ValueError(
                f"inputs must be None, True or False (whether to keep the input windows); got {self.inputs!r}."
            )
        windows = "all" if self.start is not None or self.stride != 1 or self.overlap_end else self.windows
        resolved = {
            "windows": windows,
            "dtype": check_storage_dtype(self.dtype),
            "maps": check_maps(self.maps, self.gradients, windows),
            "inputs": windows == "last" if self.inputs is None else self.inputs,
        }
        for name, value in resolved.items():
            object.__setattr__(self, name, value)


@dataclass
class _SaliencyPass:
    """Everything a saliency pass needs, checked once: the data set of windows and what to keep of each."""

    model: ExplainedModel
    series: list[TimeSeries]
    dataset: Any
    counts: np.ndarray  # windows per series
    maps: tuple[str, ...]
    dtype: np.dtype
    keep_inputs: bool
    batch_size: int
    informative: bool
    component_names: list[str]
    single: bool
    ensemble: tuple[ExplainedModel, ...] = ()  # the other models whose mean forecast is explained with ``model``

    @property
    def offsets(self) -> np.ndarray:
        """Position of each series' first window in the data set."""
        return np.concatenate([[0], np.cumsum(self.counts)[:-1]]).astype(int)


def _prepare_pass(
    model: ExplainedModel,
    series: SeriesArg,
    past_covariates: SeriesArg,
    future_covariates: SeriesArg,
    request: SaliencyRequest,
    stacklevel: int,
    ensemble: Sequence[ExplainedModel] | None = None,
) -> _SaliencyPass:
    """Build the data set of windows of a checked request (no window is computed yet).

    With ``ensemble`` (other fitted models, checked by :func:`check_ensemble`), the pass explains the mean
    forecast of ``model`` and the members; ``request`` must then ask for gradient maps only
    (:func:`ensemble_request`).
    """
    model._require_fitted("saliency()")
    members = check_ensemble(model, ensemble)
    if members and any(name not in GRADIENT_MAP_NAMES for name in request.maps):
        raise ValueError("An ensemble's saliency holds gradient maps only; build the request with ensemble_request().")
    windows = request.windows
    if series is None:
        if model.training_series is None:
            raise ValueError(
                "This model was fit on several series (or loaded without them): pass `series` to saliency()."
            )
        series = model.training_series
    min_length = model.input_chunk_length + (model.output_chunk_length + model.output_chunk_shift) * (windows == "all")
    model._check_inputs(series, past_covariates, future_covariates, min_length, "compute saliency")
    called_with_single_series = isinstance(series, TimeSeries)
    series = series2seq(series)
    if past_covariates is None and model.past_covariate_series is not None:
        past_covariates = [model.past_covariate_series] * len(series)
    if future_covariates is None and model.future_covariate_series is not None:
        future_covariates = [model.future_covariate_series] * len(series)
    past_covariates, future_covariates = series2seq(past_covariates), series2seq(future_covariates)
    model._verify_past_future_covariates(past_covariates=past_covariates, future_covariates=future_covariates)
    informative = warn_if_uninformative(model.output_chunk_length, model.n_patches, stacklevel=stacklevel)

    dataset, counts = _inference_dataset(
        model, series, past_covariates, future_covariates, windows, request.start, request.start_format,
        request.stride, request.overlap_end,
    )
    model._validate_predict_ds_output(train_sample=model.train_sample, inference_sample=dataset[0])
    if int(counts.sum()) != len(dataset):  # the bookkeeping that guarantees no window is dropped
        raise RuntimeError(
            f"Darts built {len(dataset)} windows where {int(counts.sum())} were expected; please report this."
        )
    return _SaliencyPass(
        model=model,
        series=series,
        dataset=dataset,
        counts=counts,
        maps=request.maps,
        dtype=request.dtype,
        keep_inputs=request.inputs,
        batch_size=request.batch_size or model.batch_size,
        informative=informative,
        component_names=_input_component_names(model, series[0], past_covariates, future_covariates),
        single=called_with_single_series,
        ensemble=members,
    )


def _empty_maps(plan: _SaliencyPass, n: int) -> tuple[SaliencyMaps, np.ndarray, np.ndarray | None]:
    """Preallocated storage for ``n`` windows: the requested maps, the forecasts and (if kept) the inputs."""
    network = plan.model.model.network
    length, channels, dtype = network.input_length, network.n_channels, plan.dtype
    n_patches = plan.model.n_patches
    maps = SaliencyMaps(scale_weights=torch.sigmoid(network.scale_weights.detach()).cpu().numpy().astype(dtype))
    for name in TEMPORAL_MAPS:
        if name in plan.maps:
            shape = (n, length, channels) if name in CELL_MAPS else (n, length)
            setattr(maps, name, np.empty(shape, dtype=dtype))
    if "raw_attention" in plan.maps:
        patches = network.patch_lengths[1:]
        maps.patch_attention = [np.empty((n, n_patches, n_patches), dtype=dtype) for _ in patches]
        maps.local_attention = [np.empty((n, n_patches, p, p), dtype=dtype) for p in patches]
    forecasts = np.empty((n, network.output_length, network.n_targets), dtype=dtype)
    inputs = np.empty((n, length, channels), dtype=dtype) if plan.keep_inputs else None
    return maps, forecasts, inputs


def _result_bytes(plan: _SaliencyPass, n: int) -> int:
    """Bytes of the arrays a result of ``n`` windows holds (the shapes of :func:`_empty_maps`, the time stamps)."""
    network = plan.model.model.network
    length, channels, horizon = network.input_length, network.n_channels, network.output_length
    n_patches = plan.model.n_patches
    cells = {name: length * channels if name in CELL_MAPS else length for name in TEMPORAL_MAPS}
    cells["raw_attention"] = sum(n_patches * n_patches + n_patches * p * p for p in network.patch_lengths[1:])
    per_window = sum(cells[name] for name in plan.maps) + horizon * network.n_targets
    per_window += length * channels if plan.keep_inputs else 0
    return (n * per_window + network.n_scales) * plan.dtype.itemsize + n * (length + horizon) * 8


def _warn_if_large(plan: _SaliencyPass, stacklevel: int) -> None:
    """Warn before a one-shot call allocates a result above :data:`LARGE_RESULT_BYTES`."""
    total = sum(_result_bytes(plan, int(count)) for count in plan.counts)
    if total <= LARGE_RESULT_BYTES:
        return
    n = int(plan.counts.sum())
    warnings.warn(
        f"saliency() is about to hold {total / 2**20:,.0f} MB for {n:,} windows ({total // n:,} bytes each, maps "
        f"{list(plan.maps)}{', inputs' if plan.keep_inputs else ''}). To bound it, pass only the maps you read "
        "(e.g. maps='gradient') with inputs=False, a stride, or walk the windows in chunks with "
        "iter_saliency(..., windows_per_chunk=10_000); see the saliency guide, 'Long series and memory'.",
        SaliencyMemoryWarning,
        stacklevel=stacklevel,
    )


def _write(store: SaliencyMaps, rows: slice, part: SaliencyMaps) -> None:
    """Copy a batch's maps into rows ``rows`` of the preallocated ``store``."""
    for name in TEMPORAL_MAPS:
        target = getattr(store, name)
        if target is not None:
            target[rows] = getattr(part, name)
    for name in ("patch_attention", "local_attention"):
        targets = getattr(store, name)
        if targets is not None:
            for target, values in zip(targets, getattr(part, name)):
                target[rows] = values


def _compute_rows(
    plan: _SaliencyPass, start: int, n: int
) -> tuple[SaliencyMaps, np.ndarray, np.ndarray | None, list[Any]]:
    """The maps, forecasts, inputs and forecast times of data-set rows ``start .. start + n - 1``.

    Rows run over the windows of every series in turn (series 0's windows, then series 1's, ...), and batches
    of ``plan.batch_size`` rows cross series boundaries, as ``predict`` batches many series: explaining the
    last window of 1,000 series takes ``1000 / batch_size`` batches, not 1,000. Only the requested maps are
    kept, so the memory of a call is its result plus one batch.
    """
    model, dataset = plan.model, plan.dataset
    module = model.model
    parameter = next(module.parameters())
    store, forecasts, inputs = _empty_maps(plan, n)
    pred_times: list[Any] = []

    def _tensor(t: torch.Tensor | None) -> torch.Tensor | None:
        return None if t is None else t.to(device=parameter.device, dtype=parameter.dtype)

    with INFERENCE_LOCK:
        # eval mode on the network only: Darts shares its default loss module between models, and switching it
        # would make the next model's training warn that it starts with modules in eval mode
        networks = [m.model.network for m in (model, *plan.ensemble)]
        was_training = [network.training for network in networks]
        for m, network in zip((model, *plan.ensemble), networks, strict=True):
            network.eval()
            m.model.set_mc_dropout(False)
        try:
            for low in range(0, n, plan.batch_size):
                high = min(low + plan.batch_size, n)
                batch = _batch_collate_fn_predict([dataset[start + j] for j in range(low, high)])
                x_in = PLModuleInput(
                    past_target=_tensor(batch.past_target),
                    past_covariates=_tensor(batch.past_covariates),
                    historic_future_covariates=_tensor(batch.historic_future_covariates),
                    future_covariates=_tensor(batch.future_covariates),
                    static_covariates=_tensor(batch.static_covariates),
                )
                forecast, batch_inputs, batch_maps = _explain_batch(model, x_in, plan.maps, plan.dtype, plan.ensemble)
                rows = slice(low, high)
                _write(store, rows, batch_maps)
                forecasts[rows] = forecast
                if inputs is not None:
                    inputs[rows] = batch_inputs
                pred_times.extend(batch.pred_time)
                store.scale_weights = batch_maps.scale_weights
        finally:
            for network, mode in zip(networks, was_training, strict=True):
                network.train(mode)
    if len(pred_times) != n:
        raise RuntimeError(f"The saliency pass produced {len(pred_times)} windows where {n} were expected.")
    return store, forecasts, inputs, pred_times


def _rows_view(store: SaliencyMaps, rows: slice) -> dict[str, Any]:
    """The maps of ``rows`` of ``store`` (views, no copy)."""
    views: dict[str, Any] = {"scale_weights": store.scale_weights}
    for name in TEMPORAL_MAPS:
        values = getattr(store, name)
        views[name] = None if values is None else values[rows]
    for name in ("patch_attention", "local_attention"):
        values = getattr(store, name)
        views[name] = None if values is None else [v[rows] for v in values]
    return views


def _compute_results(plan: _SaliencyPass, start: int, n: int) -> list[SaliencyResult]:
    """Rows ``start .. start + n - 1`` in one batched pass, as one :class:`SaliencyResult` per series they touch.

    Each result's ``metadata`` holds its series (``series_index``) and the position of its first window among
    that series' windows (``first_window``).
    """
    store, forecasts, inputs, pred_times = _compute_rows(plan, start, n)
    offsets, ends = plan.offsets, plan.offsets + plan.counts
    if n == int(plan.counts.sum()):  # a full pass: every series, one without windows gets an empty result
        touched = range(len(plan.series))
    else:  # only the series whose rows overlap the block (not a loop over every series of a large panel)
        touched = range(int(np.searchsorted(ends, start, side="right")),
                        int(np.searchsorted(offsets, start + n, side="left")))
    results = []
    for series_index in touched:
        row = max(start, int(offsets[series_index]))
        end = max(row, min(start + n, int(ends[series_index])))
        if row == end and plan.counts[series_index] > 0:
            continue
        rows = slice(row - start, end - start)
        ts = plan.series[series_index]
        input_index, forecast_index = _window_indices(plan.model, ts, pred_times[rows])
        results.append(SaliencyResult(
            **_rows_view(store, rows),
            input_index=input_index,
            forecast_index=forecast_index,
            forecast=forecasts[rows],
            component_names=list(plan.component_names),
            target_names=list(ts.components),
            informative=plan.informative,
            inputs=None if inputs is None else inputs[rows],
            metadata={"series_index": series_index, "first_window": row - int(offsets[series_index]),
                      "ensemble_size": 1 + len(plan.ensemble)},
        ))
    return results


def compute_saliency(
    model: ExplainedModel,
    series: SeriesArg = None,
    past_covariates: SeriesArg = None,
    future_covariates: SeriesArg = None,
    request: SaliencyRequest | None = None,
    ensemble: Sequence[ExplainedModel] | None = None,
) -> SaliencyResult | list[SaliencyResult]:
    """Saliency of a fitted model's forecasts over the requested windows; see :meth:`CrossScaleNetModel.saliency`.

    With ``ensemble``, of the mean forecast of ``model`` and the other models (see :func:`check_ensemble`;
    ``request`` from :func:`ensemble_request`).
    """
    plan = _prepare_pass(model, series, past_covariates, future_covariates, request or SaliencyRequest(), stacklevel=5,
                         ensemble=ensemble)
    _warn_if_large(plan, stacklevel=4)
    with INFERENCE_LOCK:  # one call, one uninterrupted pass, batched across series
        results = _compute_results(plan, 0, int(plan.counts.sum()))
    return results[0] if plan.single else results


def iter_saliency(
    model: ExplainedModel,
    series: SeriesArg = None,
    past_covariates: SeriesArg = None,
    future_covariates: SeriesArg = None,
    request: SaliencyRequest | None = None,
    windows_per_chunk: int = 10_000,
    ensemble: Sequence[ExplainedModel] | None = None,
) -> Iterator[SaliencyResult]:
    """The saliency in chunks of windows; see :meth:`CrossScaleNetModel.iter_saliency`.

    The request is checked (and the data set built) when this is called; each chunk is computed when the
    iterator reaches it. ``ensemble`` as for :func:`compute_saliency`.
    """
    check_int("windows_per_chunk", windows_per_chunk)
    request = request or SaliencyRequest(windows="all")
    plan = _prepare_pass(model, series, past_covariates, future_covariates, request, stacklevel=5, ensemble=ensemble)
    return _chunks(plan, int(windows_per_chunk))


def panel_saliency(
    model: ExplainedModel,
    series: SeriesArg,
    past_covariates: SeriesArg = None,
    future_covariates: SeriesArg = None,
    request: SaliencyRequest | None = None,
    kind: str = RECOMMENDED_MAP,
    groups: Sequence[Any] | None = None,
    windows_per_chunk: int = 10_000,
) -> PanelSaliency:
    """The saliency of every series summarised over the panel and per group.

    See :meth:`CrossScaleNetModel.panel_saliency <crossscale_ext.darts_model.CrossScaleNetModel.panel_saliency>`.
    ``request`` selects the windows (default: the last window of each series); its maps are replaced by ``kind``
    alone and the inputs are not kept. Memory is bounded by ``windows_per_chunk`` windows.
    """
    accumulator = PanelAccumulator(kind)  # checks kind
    check_int("windows_per_chunk", windows_per_chunk)
    request = replace(request or SaliencyRequest(windows="last"), maps=(kind,), inputs=False)
    plan = _prepare_pass(model, series, past_covariates, future_covariates, request, stacklevel=5)
    if groups is None:
        labels = ["all"] * len(plan.series)
    else:
        labels = list(groups)
        if len(labels) != len(plan.series):
            raise ValueError(f"groups must hold one label per series ({len(plan.series)}); got {len(labels)}.")
    for chunk in _chunks(plan, int(windows_per_chunk)):
        accumulator.add(chunk, labels[chunk.metadata["series_index"]])
    return accumulator.result()


def _chunks(plan: _SaliencyPass, windows_per_chunk: int) -> Iterator[SaliencyResult]:
    """Every window of ``plan`` in blocks of ``windows_per_chunk`` rows, each block one batched pass.

    A block may cross series boundaries; it is handed out as one result per series it touches, series after
    series. The lock is taken per block, so other saliency calls can run between blocks; the model's train /
    eval state is restored before each block is handed out.
    """
    total = int(plan.counts.sum())
    for start in range(0, total, windows_per_chunk):
        yield from _compute_results(plan, start, min(windows_per_chunk, total - start))


def _window_indices(model: ExplainedModel, ts: TimeSeries, pred_times: list[Any]) -> tuple[np.ndarray, np.ndarray]:
    """Time stamps ``(W, L)`` of the input windows and ``(W, H)`` of the forecasts that start at ``pred_times``.

    Read from the series' index extended past its end (one look-up per window, not one index built per
    window); falls back to generating each window's index when a time is not on that grid.
    """
    length, horizon = model.input_chunk_length, model.output_chunk_length
    if not pred_times:
        return np.empty((0, length)), np.empty((0, horizon))
    freq, shift = ts.freq, model.output_chunk_shift
    future = generate_index(start=ts.end_time() + freq, length=shift + horizon + 1, freq=freq)
    extended = ts.time_index.append(future)
    positions = extended.get_indexer(pd.Index(pred_times))
    first_inputs = positions - (shift + length)
    if (positions >= 0).all() and (first_inputs >= 0).all() and (positions + horizon <= len(extended)).all():
        values = np.asarray(extended)
        input_index = np.empty((len(positions), length), dtype=values.dtype)
        forecast_index = np.empty((len(positions), horizon), dtype=values.dtype)
        for low in range(0, len(positions), 8192):  # in blocks: no (W, L) array of positions besides the result
            block = slice(low, low + 8192)
            input_index[block] = values[first_inputs[block, None] + np.arange(length)[None, :]]
            forecast_index[block] = values[positions[block, None] + np.arange(horizon)[None, :]]
        return input_index, forecast_index
    input_index, forecast_index = [], []
    for pred_time in pred_times:
        input_end = pred_time - (shift + 1) * freq
        input_index.append(np.asarray(generate_index(end=input_end, length=length, freq=freq)))
        forecast_index.append(np.asarray(generate_index(start=pred_time, length=horizon, freq=freq)))
    return np.stack(input_index), np.stack(forecast_index)


def _input_component_names(
    model: ExplainedModel,
    series: TimeSeries,
    past_covariates: Sequence[TimeSeries] | None,
    future_covariates: Sequence[TimeSeries] | None,
) -> list[str]:
    """Names of the network's input channels: target, past covariates, historic future covariates."""
    names = list(series.components)
    sample = model.train_sample
    if sample.past_covariates is not None and past_covariates:
        names += list(past_covariates[0].components)
    if sample.historic_future_covariates is not None and future_covariates:
        names += list(future_covariates[0].components)
    return names


def explain(
    model: ExplainedModel,
    series: SeriesArg = None,
    past_covariates: SeriesArg = None,
    future_covariates: SeriesArg = None,
    gradients: bool = True,
) -> CrossScaleNetExplainabilityResult:
    """The next forecast of each series explained as a Darts result; see :meth:`CrossScaleNetModel.explain`."""
    request = SaliencyRequest(windows="last", gradients=gradients)
    results = compute_saliency(model, series, past_covariates, future_covariates, request)
    single = isinstance(results, SaliencyResult)
    cell_map = RECOMMENDED_MAP if gradients else "per_component"
    explanations = []
    for result in [results] if single else results:
        input_times, forecast_times = result.input_index[-1], result.forecast_index[-1]
        times = pd.Index(np.concatenate([input_times, forecast_times]))
        if not isinstance(times, pd.DatetimeIndex):
            times = _integer_index(times)
        names = ([RECOMMENDED_MAP] if gradients else []) + ["paper", "per_step"]
        pad = np.zeros(len(forecast_times))
        attention = TimeSeries.from_times_and_values(
            times=times,
            values=np.stack([np.concatenate([result.temporal_map(name)[-1], pad]) for name in names], axis=1),
            columns=[map_label(name) for name in names],
        )
        over_time = result.to_timeseries(-1, components=cell_map)
        over_time = over_time[[map_label(cell_map, c) for c in result.component_names]]
        over_time = over_time.with_columns_renamed(over_time.components, result.component_names)
        explanations.append({
            "attention": attention,
            "encoder_importance": result.importance(cell_map).iloc[[-1]].reset_index(drop=True),
            "encoder_importance_over_time": over_time,
            "saliency": result,
        })
    return CrossScaleNetExplainabilityResult(explanations[0] if single else explanations)
