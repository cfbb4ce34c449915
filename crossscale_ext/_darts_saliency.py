"""The saliency methods of :class:`~crossscale_ext.darts_model.CrossScaleNetModel`, as a mixin.

:class:`DartsSaliencyMixin` holds the model's public saliency face (:meth:`~DartsSaliencyMixin.saliency`,
:meth:`~DartsSaliencyMixin.iter_saliency`, :meth:`~DartsSaliencyMixin.panel_saliency`,
:meth:`~DartsSaliencyMixin.check_saliency`, :meth:`~DartsSaliencyMixin.explain`). Each method builds one
:class:`~crossscale_ext.explainability.SaliencyRequest` and delegates to :mod:`crossscale_ext.explainability` or
:mod:`crossscale_ext.faithfulness`, so the model's module keeps only what Darts needs (training, prediction,
loading). The mixin sits between the saliency pass and the model: it imports the pass, and the model imports it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Literal

from darts import TimeSeries

from crossscale_ext.explainability import (
    CrossScaleNetExplainabilityResult,
    SaliencyRequest,
    compute_saliency,
    ensemble_request,
    explain,
    iter_saliency,
    panel_saliency,
)
from crossscale_ext.faithfulness import SaliencyCheck, check_saliency
from crossscale_ext.maps import RECOMMENDED_MAP
from crossscale_ext.saliency import PanelSaliency, SaliencyResult

__all__ = ["DartsSaliencyMixin"]


class DartsSaliencyMixin:
    """Saliency, panel summaries, faithfulness checks and Darts explanations of a fitted CrossScaleNet model."""

    def saliency(
        self,
        series: TimeSeries | Sequence[TimeSeries] | None = None,
        past_covariates: TimeSeries | Sequence[TimeSeries] | None = None,
        future_covariates: TimeSeries | Sequence[TimeSeries] | None = None,
        windows: Literal["last", "all"] = "last",
        start: Any = None,
        start_format: Literal["position", "value"] = "value",
        stride: int = 1,
        overlap_end: bool = False,
        batch_size: int | None = None,
        gradients: bool = True,
        maps: str | Sequence[str] | None = None,
        dtype: str = "float32",
        inputs: bool | None = None,
        ensemble: Sequence[Any] | None = None,
    ) -> SaliencyResult | list[SaliencyResult]:
        """Saliency of the forecasts: gradient and attention maps, from the model's own pass over the inputs.

        Every requested window of every series goes through the network once, batched like a prediction, so
        nothing is lost between batches or series. Per window the result holds the gradient maps (``gradient``,
        the recommended map, and ``input_x_gradient``; left out with ``gradients=False``) and the paper's
        attention maps (``paper``, ``per_step``, ``per_component``) of the point forecast (the median of a
        quantile model, the mean of another likelihood) with respect to the input window: target, past
        covariates and the historic part of future covariates. Future covariates over the forecast window and
        static covariates are inputs too, but not part of the maps. The model is left as it was (no parameter
        gradients, train / eval state restored, Monte Carlo dropout off); see
        :mod:`crossscale_ext.explainability`.

        Parameters
        ----------
        series
            Target series (one or a sequence). Default: the series the model was fit on (when it was one).
        past_covariates, future_covariates
            The covariates, as for :meth:`predict` (for ``windows="all"``, as for ``historical_forecasts``).
        windows
            ``"last"`` (default): the last input window of each series, the one ``predict`` uses.
            ``"all"``: every window whose forecast lies inside the series, like
            ``historical_forecasts(retrain=False, forecast_horizon=output_chunk_length)``; ``start``,
            ``start_format``, ``stride`` and ``overlap_end`` select them as there.
        start, start_format, stride, overlap_end
            As in Darts' ``historical_forecasts``; only with ``windows="all"`` (giving ``start`` or a
            ``stride`` other than 1 implies it). ``start`` is the first forecast time (or position).
        batch_size
            Windows per pass. Default: the model's ``batch_size``.
        gradients
            Also compute the gradient maps (default True: one backward pass per batch, about twice the cost
            of the attention maps alone). ``False`` gives the attention maps only, as in the paper.
        maps
            Which maps to compute and keep: a name or a sequence of names from ``gradient``,
            ``input_x_gradient``, ``paper``, ``per_step``, ``per_component`` and ``raw_attention`` (the
            per-scale attention weights, for :meth:`~crossscale_ext.saliency.SaliencyResult.per_scale`), or
            ``"all"``. Default (None): every map for ``windows="last"``; for ``windows="all"`` the recommended
            ``gradient`` map and the paper's ``paper`` and ``per_step`` maps
            (:data:`~crossscale_ext.saliency.ALL_WINDOWS_DEFAULT_MAPS`), which keeps a long series' result
            small; ``maps="all"`` keeps the rest too. Gradient maps are left out when ``gradients=False``. The
            maps left out are None in the result. Only attention maps (e.g. ``maps=("paper",)``, the paper's
            map) need no backward pass.
        dtype
            Storage precision of the maps, forecasts and inputs: ``"float32"`` (default; the network's own
            precision unless it was trained on float64 series) or ``"float64"``.
        inputs
            Keep the input windows in the result (``inputs``, ``(W, L, C)``). Default (None): kept for
            ``windows="last"``, not for ``windows="all"``; True or False decides for both.
        ensemble
            Other fitted models of the same configuration, typically this model retrained with other seeds
            (``[model_seed1, model_seed2]``). The result then explains the ensemble's forecast, the mean of this
            model's and every member's point forecast: its ``forecast`` is that mean and its gradient maps are
            those of the mean (the mean of the members' signed gradients, before the absolute value or the
            alignment). Gradient maps only: ``maps`` defaults to every gradient map for ``windows="last"`` and
            to ``"gradient"`` for ``windows="all"``, and naming an attention map raises. Each member costs one
            more forward and backward pass per batch. On real data the maps of two ensembles of three models
            agree more often than the maps of two single models (docs/benchmarks/faithfulness.md, "Seed
            ensembles"). Default None: this model alone.

        Returns
        -------
        SaliencyResult or list of SaliencyResult
            One per series (a list when ``series`` is a sequence). ``metadata["ensemble_size"]`` counts the models
            explained (1 without ``ensemble``).

        Raises
        ------
        ValueError
            Before fitting, for unknown ``windows``, a bad ``stride`` / ``batch_size`` / ``gradients`` /
            ``maps`` / ``dtype`` / ``inputs``, series too short for one window, or missing values; with
            ``ensemble``, for an attention map in ``maps``, ``gradients=False``, or a member that is not fitted,
            is this model or is listed twice, or differs from this model in its windows, inputs, device or dtype.
        TypeError
            When ``ensemble`` is not a list of models of this class.

        Notes
        -----
        Memory: the result holds, per window, 4 bytes (float32) per input step for ``paper`` and ``per_step``
        and per input step and component for ``per_component``, ``gradient``, ``input_x_gradient`` and
        ``inputs``, plus the forecast and the time stamps (8 bytes each). The default ``windows="all"``
        result takes about 5 KB per window for ``L = 96`` and 8 components; ``maps="all", inputs=True``
        (every map, the raw attention and the inputs) about 17 KB, so 3,285 MiB over 200,000 steps. To bound
        it further, choose ``maps``, raise ``stride``, or walk the windows in chunks with
        :meth:`iter_saliency`. The pass itself holds one batch of tensors at a time.
        A call whose result would exceed 1 GiB warns first (:class:`~crossscale_ext.saliency.SaliencyMemoryWarning`,
        with the size and these options). Measured figures: ``docs/benchmarks/memory.md``.
        """
        request = SaliencyRequest(
            windows=windows, start=start, start_format=start_format, stride=stride, overlap_end=overlap_end,
            batch_size=batch_size, gradients=gradients, maps=maps, dtype=dtype, inputs=inputs,
        )
        if ensemble is not None:
            request = ensemble_request(request, maps)
        return compute_saliency(self, series, past_covariates, future_covariates, request, ensemble=ensemble)

    def iter_saliency(
        self,
        series: TimeSeries | Sequence[TimeSeries] | None = None,
        past_covariates: TimeSeries | Sequence[TimeSeries] | None = None,
        future_covariates: TimeSeries | Sequence[TimeSeries] | None = None,
        windows: Literal["last", "all"] = "all",
        start: Any = None,
        start_format: Literal["position", "value"] = "value",
        stride: int = 1,
        overlap_end: bool = False,
        batch_size: int | None = None,
        gradients: bool = True,
        maps: str | Sequence[str] | None = None,
        dtype: str = "float32",
        inputs: bool | None = None,
        windows_per_chunk: int = 10_000,
        ensemble: Sequence[Any] | None = None,
    ) -> Iterator[SaliencyResult]:
        """:meth:`saliency` in chunks of at most ``windows_per_chunk`` windows, for series too long to hold at once.

        Yields :class:`~crossscale_ext.saliency.SaliencyResult` objects that together hold exactly the windows
        of ``saliency(...)`` called with the same arguments, in the same order: the chunks of the first series,
        then those of the next. Each result's ``metadata`` says which series (``series_index``) and which of its
        windows (``first_window``) it starts at. Only the current chunk is in memory (unless you keep the
        results), so memory is bounded by ``windows_per_chunk`` (about 5 KB per window for ``L = 96`` and 8
        components with the default maps, 17 KB with ``maps="all", inputs=True``).

        Parameters
        ----------
        series, past_covariates, future_covariates, windows, start, start_format, stride, overlap_end
            As for :meth:`saliency`, except that ``windows`` defaults to ``"all"``.
        batch_size, gradients, maps, dtype, inputs, ensemble
            As for :meth:`saliency`.
        windows_per_chunk
            Windows per yielded result (default 10,000). A multiple of ``batch_size`` keeps the batches, and so
            every value, identical to the one-shot call's; otherwise values may differ in the last float32 bits.

        Returns
        -------
        Iterator of SaliencyResult
            The arguments are checked when this is called; each chunk is computed when the iteration reaches it.

        Raises
        ------
        ValueError
            As :meth:`saliency`, and for a ``windows_per_chunk`` that is not a positive integer.

        Notes
        -----
        Concurrent calls on one model are serialised per chunk (the pass switches the network to eval mode and
        back): other saliency calls can run between two chunks.

        Examples
        --------
        >>> total = 0
        >>> for chunk in model.iter_saliency(series, maps="gradient", windows_per_chunk=5000):  # doctest: +SKIP
        ...     total += chunk.temporal_map("gradient").sum(axis=0)
        """
        request = SaliencyRequest(
            windows=windows, start=start, start_format=start_format, stride=stride, overlap_end=overlap_end,
            batch_size=batch_size, gradients=gradients, maps=maps, dtype=dtype, inputs=inputs,
        )
        if ensemble is not None:
            request = ensemble_request(request, maps)
        return iter_saliency(self, series, past_covariates, future_covariates, request, windows_per_chunk,
                             ensemble=ensemble)

    def panel_saliency(
        self,
        series: TimeSeries | Sequence[TimeSeries],
        past_covariates: TimeSeries | Sequence[TimeSeries] | None = None,
        future_covariates: TimeSeries | Sequence[TimeSeries] | None = None,
        groups: Sequence[Any] | None = None,
        windows: Literal["last", "all"] = "last",
        kind: str = RECOMMENDED_MAP,
        windows_per_chunk: int = 10_000,
        batch_size: int | None = None,
    ) -> PanelSaliency:
        """Which inputs and lags matter across a whole panel of series, overall or per group of series.

        Explains the windows of every series (batched across series, as :meth:`saliency`) and sums the maps as
        they stream, ``windows_per_chunk`` windows at a time, so memory does not grow with the panel.

        Parameters
        ----------
        series, past_covariates, future_covariates
            The panel and its covariates, as for :meth:`saliency`.
        groups
            One label per series (e.g. a store's region); None puts every series in one group, ``"all"``.
        windows
            ``"last"`` (default): the window of each series' next forecast; ``"all"``: every window.
        kind
            The map summarised (default ``"gradient"``, the recommended map; any map but ``raw_attention``).
        windows_per_chunk, batch_size
            Windows summed at a time, and per pass.

        Returns
        -------
        PanelSaliency
            The lag profile and the input components' shares per group, the windows counted, and ``plot()``.
        """
        request = SaliencyRequest(windows=windows, batch_size=batch_size, maps=(kind,), inputs=False)
        return panel_saliency(
            self, series, past_covariates, future_covariates, request, kind=kind, groups=groups,
            windows_per_chunk=windows_per_chunk,
        )

    def check_saliency(
        self,
        series: TimeSeries,
        past_covariates: TimeSeries | None = None,
        future_covariates: TimeSeries | None = None,
        kind: str | Sequence[str] | None = None,
        **kwargs: Any,
    ) -> SaliencyCheck:
        """Check on your data that the map points at what the forecasts rest on (no ground truth needed).

        Removes each window's top-ranked cells and measures how far the forecast moves, against random cells and
        the most recent steps (and, with ``seeds_models``, whether retrained models agree). ``kind``: the map,
        or several; by default ``"gradient"`` and ``"aligned_input_x_gradient"`` are compared and the check of
        the one that holds up best on this data is returned (the other in ``alternatives``). See
        :func:`crossscale_ext.faithfulness.check_saliency`, whose keyword arguments ``kwargs`` are
        (``fractions``, ``n_windows``, ``reference``, ``seeds_models``, ``random_draws``, ``seed``).

        Returns
        -------
        SaliencyCheck
            The deletion curves, their ratios to the baselines, a plain ``verdict`` and ``plot()``.
        """
        return check_saliency(self, series, past_covariates, future_covariates, kind=kind, **kwargs)

    def explain(
        self,
        series: TimeSeries | Sequence[TimeSeries] | None = None,
        past_covariates: TimeSeries | Sequence[TimeSeries] | None = None,
        future_covariates: TimeSeries | Sequence[TimeSeries] | None = None,
        gradients: bool = True,
    ) -> CrossScaleNetExplainabilityResult:
        """Explain the next forecast of each series, as a Darts explainability result.

        Same inputs as :meth:`predict` (the last input window of each series). The result is laid out like
        Darts' ``TFTExplainer`` result: see :class:`~crossscale_ext.explainability.CrossScaleNetExplainabilityResult`.
        ``gradients=False`` leaves the gradient maps out (attention maps only).
        """
        return explain(self, series, past_covariates, future_covariates, gradients=gradients)
