"""CrossScaleNet for Darts: :class:`CrossScaleNetModel` and its explainability result.

A Darts ``MixedCovariatesTorchModel`` around the plain :class:`~crossscale_ext.network.CrossScaleNet`, with
:meth:`CrossScaleNetModel.saliency` (the attention maps of every window) and :meth:`CrossScaleNetModel.explain`
(a Darts explainability result).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import torch
from darts import TimeSeries
from darts.explainability.explainability_result import ComponentBasedExplainabilityResult
from darts.models.forecasting.pl_forecasting_module import PLForecastingModule, io_processor
from darts.models.forecasting.torch_forecasting_model import MixedCovariatesTorchModel
from darts.utils.data.torch_datasets.utils import (
    PLModuleInput,
    PLModuleOutput,
    TorchTrainingSample,
    _batch_collate_fn_predict,
)
from darts.utils.likelihood_models.torch import QuantileRegression
from darts.utils.serialization import add_safe_globals
from darts.utils.timeseries_generation import generate_index
from darts.utils.torch import MonteCarloDropout
from darts.utils.ts_utils import series2seq
from torch import nn

from crossscale_ext.network import CrossScaleNet, CrossScaleNetOutput, validate_architecture
from crossscale_ext.saliency import (
    SaliencyMaps,
    SaliencyResult,
    compute_maps,
    concatenate_maps,
    warn_if_uninformative,
)

__all__ = ["CrossScaleNetModel", "CrossScaleNetExplainabilityResult", "QUIET_TRAINER_KWARGS"]

#: Lightning ``Trainer`` settings with no progress bar, model summary, logger or checkpoints, for scripts and
#: tests: ``pl_trainer_kwargs={**QUIET_TRAINER_KWARGS, "accelerator": "cpu"}``.
QUIET_TRAINER_KWARGS: dict[str, Any] = {
    "enable_progress_bar": False,
    "enable_model_summary": False,
    "logger": False,
    "enable_checkpointing": False,
}


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


def _use_monte_carlo_dropout(module: nn.Module) -> None:
    """Replace every ``nn.Dropout`` below ``module`` by Darts' ``MonteCarloDropout`` (same rate, same state)."""
    for name, child in module.named_children():
        if type(child) is nn.Dropout:
            setattr(module, name, MonteCarloDropout(child.p))
        else:
            _use_monte_carlo_dropout(child)


class _CrossScaleNetModule(PLForecastingModule):
    """Lightning module: assembles Darts' batch into the network's inputs.

    The network's input channels are ``[past target, past covariates, historic future covariates]``
    (Darts' ``concatenate_past_features`` order); future covariates over the horizon and flattened
    static covariates go to the network's linear future / static layers.
    """

    def __init__(
        self,
        input_dim: int,
        output_dim: int,
        future_cov_dim: int,
        static_cov_dim: int,
        nr_params: int,
        n_scales: int,
        base_patch_length: int,
        moving_avg_kernel: int,
        d_model: int,
        dropout: float,
        channel_mixing: bool,
        instance_norm: bool,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.network = CrossScaleNet(
            input_length=self.input_chunk_length,
            output_length=self.output_chunk_length,
            n_channels=input_dim,
            n_targets=output_dim,
            n_future_covariates=future_cov_dim,
            n_static_covariates=static_cov_dim,
            nr_params=nr_params,
            n_scales=n_scales,
            base_patch_length=base_patch_length,
            moving_avg_kernel=moving_avg_kernel,
            d_model=d_model,
            dropout=dropout,
            channel_mixing=channel_mixing,
            instance_norm=instance_norm,
        )
        _use_monte_carlo_dropout(self.network)

    def network_output(self, x_in: PLModuleInput) -> tuple[CrossScaleNetOutput, torch.Tensor]:
        """Run the network on a Darts batch; return its output and the concatenated past features."""
        features = x_in.concatenate_past_features()
        return self.network(features, x_in.future_covariates, x_in.static_covariates), features

    @io_processor
    def forward(self, x_in: PLModuleInput) -> PLModuleOutput:
        return PLModuleOutput(prediction=self.network_output(x_in)[0].forecast)

    @torch.no_grad()
    def explain_batch(self, x_in: PLModuleInput) -> tuple[torch.Tensor, SaliencyMaps]:
        """Forecast ``(B, H, C_t, nr_params)`` and saliency maps of one batch, with Darts' optional RINorm."""
        if self.use_reversible_instance_norm:
            x_in = x_in.replace(past_target=self.rin(x_in.past_target.clone()))
        output, features = self.network_output(x_in)
        forecast = output.forecast
        if self.use_reversible_instance_norm:
            forecast = self.rin.inverse(forecast)
        return forecast, compute_maps(self.network, features, output)


class CrossScaleNetExplainabilityResult(ComponentBasedExplainabilityResult):
    """CrossScaleNet saliency in the shape of Darts' ``TFTExplainabilityResult``.

    One dict per explained series (a list for several series) with:

    - ``"attention"``: a ``TimeSeries`` over the input window *and* the forecast window
      (``input_chunk_length + output_chunk_length`` rows, like ``TFTExplainer``), components ``paper``
      and ``per_step``; the forecast rows are 0, as the maps put no mass on the future.
    - ``"encoder_importance"``: a one-row ``DataFrame``, the per-component saliency summed over time.
    - ``"encoder_importance_over_time"``: a ``TimeSeries`` over the input window, one component per
      input component.
    - ``"saliency"``: the full :class:`~crossscale_ext.saliency.SaliencyResult`.
    """

    def get_attention(self) -> TimeSeries | list[TimeSeries]:
        """Paper and per-step maps over the input and forecast windows."""
        return self.get_explanation("attention")

    def get_encoder_importance(self):
        """Per-component importance summed over the input window (one-row DataFrame per series)."""
        return self.get_explanation("encoder_importance")

    def get_encoder_importance_over_time(self) -> TimeSeries | list[TimeSeries]:
        """Per-component saliency over the input window."""
        return self.get_explanation("encoder_importance_over_time")

    def get_saliency(self) -> SaliencyResult | list[SaliencyResult]:
        """The full :class:`~crossscale_ext.saliency.SaliencyResult` per series."""
        return self.get_explanation("saliency")


class CrossScaleNetModel(MixedCovariatesTorchModel):
    def __init__(
        self,
        input_chunk_length: int,
        output_chunk_length: int,
        output_chunk_shift: int = 0,
        n_scales: int = 4,
        base_patch_length: int = 16,
        moving_avg_kernel: int = 25,
        d_model: int = 32,
        dropout: float = 0.1,
        channel_mixing: bool = True,
        instance_norm: bool = True,
        use_static_covariates: bool = True,
        **kwargs: Any,
    ) -> None:
        """CrossScaleNet: multi-scale forecasting with cross-scale patch attention as temporal saliency.

        An implementation of CrossScaleNet ("Learning Temporal Saliency for Time Series Forecasting with
        Cross-Scale Attention", arXiv 2509.22839), faithful to the authors' reference implementation. The
        input window is instance-normalised, given a fixed sinusoidal positional encoding and average-pooled
        into ``n_scales`` scales. Every scale is split into trend and seasonal parts that gated MLP encoders
        map to a forecast. From scale 1 on, the scale's input first passes a cross-patch attention whose
        keys are the scale-0 forecast (patch attention) and its seasonal part (local attention), stretched
        to the scale's length. A linear layer fuses the scales' forecasts. The attention maps are the
        saliency returned by :meth:`saliency` and :meth:`explain`.

        Covariates (all optional):

        - past covariates and the historic part of future covariates are extra input channels of the
          network, beside the target: they are normalised, decomposed, encoded, attended over and appear in
          the per-component saliency; the network forecasts only the target channels;
        - future covariates over the forecast window enter through a linear layer applied at each forecast
          step, added to the (normalised) forecast;
        - static covariates (flattened) enter through a linear layer whose output is added to every
          forecast step.

        Parameters
        ----------
        input_chunk_length
            Lookback ``L``: number of past time steps fed to the model. Must be a multiple of
            ``2 ** (n_scales - 1)`` and at least ``2 * base_patch_length`` (the reference uses 96).
        output_chunk_length
            Horizon ``H`` predicted at once. Also the length of the keys of the attention: saliency needs
            ``output_chunk_length`` at least the number of patches ``input_chunk_length / base_patch_length``
            (a :class:`~crossscale_ext.saliency.ShortHorizonWarning` says so otherwise). ``predict(n)`` with
            ``n > output_chunk_length`` forecasts auto-regressively.
        output_chunk_shift
            Steps between the end of the input and the start of the output chunk. Default: ``0``.
        n_scales
            Number of scales (the input and ``n_scales - 1`` pooled versions). Default: ``4``.
        base_patch_length
            Patch length at the input resolution; scale ``s`` uses ``base_patch_length / 2**s`` so every scale
            has the same number of patches. Must be a multiple of ``2 ** (n_scales - 1)``. Default: ``16``.
        moving_avg_kernel
            Odd kernel of the moving average that splits trend from seasonality, at most
            ``input_chunk_length``. Default: ``25``.
        d_model
            Hidden width of the encoders' temporal and channel MLPs. Default: ``32``.
        dropout
            Dropout rate of the encoders (Monte Carlo dropout with ``predict(..., mc_dropout=True)``).
            Default: ``0.1``.
        channel_mixing
            Mix channels inside every scale encoder; ``False`` is the reference's channel-independent mode.
            Default: ``True``.
        instance_norm
            The network's reversible instance normalisation of every input channel (the reference's RevIN).
            Leave Darts' ``use_reversible_instance_norm`` at ``False`` unless you also want the target
            normalised before the network. Default: ``True``.
        use_static_covariates
            Whether to use the static covariates of the target series when present. Default: ``True``.
        **kwargs
            Every argument of Darts' ``TorchForecastingModel``, passed through unchanged, among them:
            ``loss_fn`` (default ``torch.nn.MSELoss()``), ``likelihood`` (e.g. ``QuantileRegression()`` for
            probabilistic forecasts; default ``None``), ``torch_metrics``, ``optimizer_cls`` (default
            ``torch.optim.Adam``), ``optimizer_kwargs`` (e.g. ``{"lr": 1e-4}``), ``lr_scheduler_cls`` and
            ``lr_scheduler_kwargs``, ``use_reversible_instance_norm`` (default ``False``), ``batch_size``
            (default ``32``), ``n_epochs`` (default ``100``), ``model_name``, ``work_dir``,
            ``log_tensorboard``, ``nr_epochs_val_period``, ``force_reset``, ``save_checkpoints``,
            ``add_encoders``, ``random_state``, ``pl_trainer_kwargs`` (e.g. ``{"accelerator": "gpu",
            "devices": [0], "callbacks": [...]}``), ``show_warnings`` and ``enable_finetuning``. See
            Darts' ``TorchForecastingModel`` for their meaning.

        Raises
        ------
        ValueError
            At construction, when the lookback, scales, patch length and kernel do not fit together.

        Examples
        --------
        >>> from darts.utils.timeseries_generation import sine_timeseries
        >>> from crossscale_ext import CrossScaleNetModel
        >>> series = sine_timeseries(length=400, value_frequency=0.05).astype("float32")
        >>> model = CrossScaleNetModel(input_chunk_length=64, output_chunk_length=16, n_epochs=2, random_state=0)
        >>> model.fit(series)  # doctest: +ELLIPSIS
        CrossScaleNetModel(...)
        >>> forecast = model.predict(16)
        >>> result = model.saliency()            # last input window
        >>> result.to_dataframe().shape          # 64 input steps x (paper, per_step, sine)
        (64, 3)
        """
        if isinstance(input_chunk_length, tuple):
            raise ValueError(
                "CrossScaleNetModel needs a fixed input_chunk_length (an int such as 96): its scales and patches "
                "are built for one window length."
            )
        validate_architecture(
            input_length=input_chunk_length,
            output_length=output_chunk_length,
            n_scales=n_scales,
            base_patch_length=base_patch_length,
            moving_avg_kernel=moving_avg_kernel,
            d_model=d_model,
            dropout=dropout,
        )
        super().__init__(**self._extract_torch_model_params(**self.model_params))
        self.pl_module_params = self._extract_pl_module_params(**self.model_params)

        self.n_scales = n_scales
        self.base_patch_length = base_patch_length
        self.moving_avg_kernel = moving_avg_kernel
        self.d_model = d_model
        self.dropout = dropout
        self.channel_mixing = channel_mixing
        self.instance_norm = instance_norm
        self._considers_static_covariates = use_static_covariates

    def _create_model(self, train_sample: TorchTrainingSample) -> PLForecastingModule:
        past_features = (
            train_sample.past_target,
            train_sample.past_covariates,
            train_sample.historic_future_covariates,
        )
        static = train_sample.static_covariates
        return _CrossScaleNetModule(
            input_dim=sum(f.shape[1] for f in past_features if f is not None),
            output_dim=train_sample.past_target.shape[1],
            future_cov_dim=0 if train_sample.future_covariates is None else train_sample.future_covariates.shape[1],
            static_cov_dim=0 if static is None else static.shape[0] * static.shape[1],
            nr_params=1 if self.likelihood is None else self.likelihood.num_parameters,
            n_scales=self.n_scales,
            base_patch_length=self.base_patch_length,
            moving_avg_kernel=self.moving_avg_kernel,
            d_model=self.d_model,
            dropout=self.dropout,
            channel_mixing=self.channel_mixing,
            instance_norm=self.instance_norm,
            **self.pl_module_params,
        )

    @property
    def supports_static_covariates(self) -> bool:
        return True

    @property
    def supports_multivariate(self) -> bool:
        return True

    @property
    def n_patches(self) -> int:
        """Number of patches per scale, ``ceil(input_chunk_length / base_patch_length)``."""
        return -(-self.input_chunk_length // self.base_patch_length)

    # ------------------------------------------------------------------ input checks
    def _check_inputs(
        self,
        series: TimeSeries | Sequence[TimeSeries] | None,
        past_covariates: TimeSeries | Sequence[TimeSeries] | None,
        future_covariates: TimeSeries | Sequence[TimeSeries] | None,
        min_length: int,
        role: str,
    ) -> None:
        """Clear errors for short series and missing values, before Darts' deeper checks."""
        if series is None:
            return
        for name, group in (("series", series), ("past_covariates", past_covariates),
                            ("future_covariates", future_covariates)):
            for i, ts in enumerate(_as_series_list(name, group)):
                n_missing = int(np.isnan(ts.values(copy=False)).sum())
                if n_missing:
                    raise ValueError(
                        f"{name}[{i}] has {n_missing} missing (NaN) value(s); CrossScaleNetModel cannot {role} on "
                        "missing values. Fill them first, e.g. with "
                        "darts.dataprocessing.transformers.MissingValuesFiller or TimeSeries.fill_missing_values()."
                    )
        for i, ts in enumerate(series2seq(series)):
            if len(ts) < min_length:
                raise ValueError(
                    f"series[{i}] has {len(ts)} time steps, but CrossScaleNetModel needs at least {min_length} to "
                    f"{role} (input_chunk_length={self.input_chunk_length}"
                    + (
                        f" + output_chunk_length={self.output_chunk_length} + output_chunk_shift="
                        f"{self.output_chunk_shift}"
                        if role == "fit"
                        else ""
                    )
                    + "). Use a longer series or smaller chunk lengths."
                )

    def _check_covariate_span(
        self,
        series: TimeSeries | Sequence[TimeSeries],
        past_covariates: TimeSeries | Sequence[TimeSeries] | None,
        future_covariates: TimeSeries | Sequence[TimeSeries] | None,
    ) -> None:
        """Training covariates must cover every training window of their target series."""
        targets = _as_series_list("series", series)
        lead = self.output_chunk_length + self.output_chunk_shift
        for name, group, end_offset in (("past_covariates", past_covariates, -lead), ("future_covariates",
                                                                                      future_covariates, 0)):
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

    def fit(
        self,
        series: TimeSeries | Sequence[TimeSeries],
        past_covariates: TimeSeries | Sequence[TimeSeries] | None = None,
        future_covariates: TimeSeries | Sequence[TimeSeries] | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> CrossScaleNetModel:
        """Fit the model; see Darts' ``TorchForecastingModel.fit`` for every argument.

        Raises ``ValueError`` before training when a series is shorter than
        ``input_chunk_length + output_chunk_length + output_chunk_shift`` or any input holds NaN.
        """
        self._check_inputs(
            series,
            past_covariates,
            future_covariates,
            self.input_chunk_length + self.output_chunk_length + self.output_chunk_shift,
            "fit",
        )
        self._check_covariate_span(series, past_covariates, future_covariates)
        for key in ("val_series", "val_past_covariates", "val_future_covariates"):
            if kwargs.get(key) is not None:
                self._check_inputs(kwargs[key], None, None, 0, "validate")
        return super().fit(series, past_covariates, future_covariates, *args, **kwargs)

    def _require_fitted(self, action: str) -> None:
        if self.model is None:
            raise ValueError(
                f"CrossScaleNetModel must be fitted before {action}: call fit(series) first "
                "(or load a saved model with CrossScaleNetModel.load(path))."
            )

    def predict(
        self,
        n: int,
        series: TimeSeries | Sequence[TimeSeries] | None = None,
        past_covariates: TimeSeries | Sequence[TimeSeries] | None = None,
        future_covariates: TimeSeries | Sequence[TimeSeries] | None = None,
        *args: Any,
        **kwargs: Any,
    ):
        """Forecast ``n`` steps; see Darts' ``TorchForecastingModel.predict`` for every argument.

        Raises ``ValueError`` when called before ``fit``, or when a series is shorter than
        ``input_chunk_length`` or holds NaN.
        """
        self._require_fitted("predict()")
        self._check_inputs(series, past_covariates, future_covariates, self.input_chunk_length, "predict")
        return super().predict(n, series, past_covariates, future_covariates, *args, **kwargs)

    def predict_from_dataset(self, n: int, dataset: Any, trainer: Any = None, *args: Any, **kwargs: Any):
        """Darts' ``predict_from_dataset`` (used by ``predict`` and ``historical_forecasts``).

        After training with a process-spawning strategy (``pl_trainer_kwargs={"strategy": "ddp_spawn", ...}``),
        Lightning returns no predictions to the main process and Darts would fail; unless a ``trainer`` is
        given, prediction then runs in this process on one device with the other trainer settings.
        """
        if trainer is None and self._spawns_processes():
            trainer = self._single_process_trainer(kwargs.get("verbose"))
        return super().predict_from_dataset(n, dataset, trainer, *args, **kwargs)

    def _spawns_processes(self) -> bool:
        strategy = (self.trainer_params or {}).get("strategy")
        if isinstance(strategy, str):
            return "spawn" in strategy
        return getattr(strategy, "_start_method", None) == "spawn"

    def _single_process_trainer(self, verbose: bool | None):
        params = {k: v for k, v in self.trainer_params.items() if k not in ("strategy", "devices", "num_nodes")}
        params["devices"] = 1
        if verbose is not None:
            params["enable_progress_bar"] = bool(verbose)
            params["enable_model_summary"] = False
        return self._init_trainer(trainer_params=params)

    # ------------------------------------------------------------------ saliency
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
    ) -> SaliencyResult | list[SaliencyResult]:
        """Attention-based saliency of the forecasts, from the model's own pass over the inputs.

        Every requested window of every series is run through the network once (no gradients), so nothing
        is lost between batches or series.

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
            Windows per forward pass. Default: the model's ``batch_size``.

        Returns
        -------
        SaliencyResult or list of SaliencyResult
            One per series (a list when ``series`` is a sequence).
        """
        self._require_fitted("saliency()")
        if windows not in ("last", "all"):
            raise ValueError(f"windows must be 'last' or 'all'; got {windows!r}.")
        if not isinstance(stride, int) or stride < 1:
            raise ValueError(f"stride must be a positive integer; got {stride!r}.")
        if start is not None or stride != 1 or overlap_end:
            windows = "all"
        if series is None:
            if self.training_series is None:
                raise ValueError(
                    "This model was fit on several series (or loaded without them): pass `series` to saliency()."
                )
            series = self.training_series
        min_length = self.input_chunk_length + (self.output_chunk_length + self.output_chunk_shift) * (windows == "all")
        self._check_inputs(series, past_covariates, future_covariates, min_length, "compute saliency")
        called_with_single_series = isinstance(series, TimeSeries)
        series = series2seq(series)
        if past_covariates is None and self.past_covariate_series is not None:
            past_covariates = [self.past_covariate_series] * len(series)
        if future_covariates is None and self.future_covariate_series is not None:
            future_covariates = [self.future_covariate_series] * len(series)
        past_covariates, future_covariates = series2seq(past_covariates), series2seq(future_covariates)
        self._verify_past_future_covariates(past_covariates=past_covariates, future_covariates=future_covariates)
        informative = warn_if_uninformative(self.output_chunk_length, self.n_patches)

        n = self.output_chunk_length
        if windows == "last":
            if self.encoders is not None and self.encoders.encoding_available:
                past_covariates, future_covariates = self.generate_predict_encodings(
                    n=n, series=series, past_covariates=past_covariates, future_covariates=future_covariates
                )
            dataset = self._build_inference_dataset(n, series, past_covariates, future_covariates, stride=0)
            counts = np.ones(len(series), dtype=int)
        else:
            from darts.utils.historical_forecasts.optimized_historical_forecasts_torch import _create_dataset_bounds
            from darts.utils.historical_forecasts.utils import _process_historical_forecast_input

            series, past_covariates, future_covariates = _process_historical_forecast_input(
                model=self, series=series, past_covariates=past_covariates,
                future_covariates=future_covariates, forecast_horizon=n,
            )
            bounds, cum_lengths = _create_dataset_bounds(
                model=self, series=series, past_covariates=past_covariates, future_covariates=future_covariates,
                start=start, start_format=start_format, forecast_horizon=n, stride=stride,
                overlap_end=overlap_end, show_warnings=True,
            )
            dataset = self._build_inference_dataset(
                n, series, past_covariates, future_covariates, stride=stride, bounds=bounds
            )
            counts = np.diff(np.concatenate([[0], cum_lengths]))
        self._validate_predict_ds_output(train_sample=self.train_sample, inference_sample=dataset[0])

        module: _CrossScaleNetModule = self.model
        was_training = module.training
        module.eval()
        module.set_mc_dropout(False)
        parameter = next(module.parameters())
        loader = torch.utils.data.DataLoader(
            dataset, batch_size=batch_size or self.batch_size, shuffle=False, collate_fn=_batch_collate_fn_predict
        )
        forecasts, maps, pred_times, inputs = [], [], [], []
        try:
            for batch in loader:
                def _tensor(t: torch.Tensor | None) -> torch.Tensor | None:
                    return None if t is None else t.to(device=parameter.device, dtype=parameter.dtype)

                x_in = PLModuleInput(
                    past_target=_tensor(batch.past_target),
                    past_covariates=_tensor(batch.past_covariates),
                    historic_future_covariates=_tensor(batch.historic_future_covariates),
                    future_covariates=_tensor(batch.future_covariates),
                    static_covariates=_tensor(batch.static_covariates),
                )
                forecast, batch_maps = module.explain_batch(x_in)
                inputs.append(x_in.concatenate_past_features().float().cpu().numpy())
                forecasts.append(self._point_forecast(forecast))
                maps.append(batch_maps)
                pred_times.extend(batch.pred_time)
        finally:
            module.train(was_training)
        all_maps = concatenate_maps(maps)
        all_forecasts = np.concatenate(forecasts)
        all_inputs = np.concatenate(inputs)

        component_names = self._input_component_names(series[0], past_covariates, future_covariates)
        results, offset = [], 0
        for i, ts in enumerate(series):
            sl = slice(offset, offset + counts[i])
            offset += counts[i]
            freq = ts.freq
            input_index, forecast_index = [], []
            for pred_time in pred_times[sl]:
                input_end = pred_time - (self.output_chunk_shift + 1) * freq
                input_index.append(np.asarray(generate_index(end=input_end, length=self.input_chunk_length, freq=freq)))
                forecast_index.append(np.asarray(generate_index(start=pred_time, length=n, freq=freq)))
            results.append(
                SaliencyResult(
                    paper=all_maps.paper[sl],
                    per_step=all_maps.per_step[sl],
                    per_component=all_maps.per_component[sl],
                    patch_attention=[a[sl] for a in all_maps.patch_attention],
                    local_attention=[a[sl] for a in all_maps.local_attention],
                    scale_weights=all_maps.scale_weights,
                    input_index=np.stack(input_index),
                    forecast_index=np.stack(forecast_index),
                    forecast=all_forecasts[sl],
                    component_names=component_names,
                    target_names=list(ts.components),
                    informative=informative,
                    inputs=all_inputs[sl],
                )
            )
        return results[0] if called_with_single_series else results

    def _point_forecast(self, forecast: torch.Tensor) -> np.ndarray:
        """``(B, H, C_t, nr_params)`` to ``(B, H, C_t)``: the median for quantiles, else the first parameter."""
        index = 0
        if isinstance(self.likelihood, QuantileRegression):
            index = int(np.argmin(np.abs(np.asarray(self.likelihood.quantiles) - 0.5)))
        return forecast[..., index].float().cpu().numpy()

    def _input_component_names(
        self,
        series: TimeSeries,
        past_covariates: Sequence[TimeSeries] | None,
        future_covariates: Sequence[TimeSeries] | None,
    ) -> list[str]:
        """Names of the network's input channels: target, past covariates, historic future covariates."""
        names = list(series.components)
        sample = self.train_sample
        if sample.past_covariates is not None and past_covariates:
            names += list(past_covariates[0].components)
        if sample.historic_future_covariates is not None and future_covariates:
            names += list(future_covariates[0].components)
        return names

    def explain(
        self,
        series: TimeSeries | Sequence[TimeSeries] | None = None,
        past_covariates: TimeSeries | Sequence[TimeSeries] | None = None,
        future_covariates: TimeSeries | Sequence[TimeSeries] | None = None,
    ) -> CrossScaleNetExplainabilityResult:
        """Explain the next forecast of each series, as a Darts explainability result.

        Same inputs as :meth:`predict` (the last input window of each series). The result is laid out like
        Darts' ``TFTExplainer`` result: see :class:`CrossScaleNetExplainabilityResult`.
        """
        import pandas as pd

        results = self.saliency(series, past_covariates, future_covariates, windows="last")
        single = isinstance(results, SaliencyResult)
        explanations = []
        for result in [results] if single else results:
            input_times, forecast_times = result.input_index[-1], result.forecast_index[-1]
            times = pd.Index(np.concatenate([input_times, forecast_times]))
            if not isinstance(times, pd.DatetimeIndex):
                times = pd.RangeIndex(int(times[0]), int(times[-1]) + 1)
            pad = np.zeros(len(forecast_times))
            attention = TimeSeries.from_times_and_values(
                times=times,
                values=np.stack(
                    [np.concatenate([result.paper[-1], pad]), np.concatenate([result.per_step[-1], pad])], axis=1
                ),
                columns=["paper", "per_step"],
            )
            over_time = result.to_timeseries(-1)[result.component_names]
            explanations.append({
                "attention": attention,
                "encoder_importance": result.component_importance.iloc[[-1]].reset_index(drop=True),
                "encoder_importance_over_time": over_time,
                "saliency": result,
            })
        return CrossScaleNetExplainabilityResult(explanations[0] if single else explanations)


def _register_safe_globals() -> None:
    """Allow ``CrossScaleNetModel.load(path)`` with Darts' safe default (no ``trusted=True``)."""
    from crossscale_ext import network, saliency

    classes: list = [CrossScaleNetModel, _CrossScaleNetModule, CrossScaleNetExplainabilityResult]
    classes += [getattr(network, name) for name in network.__all__ if isinstance(getattr(network, name), type)]
    classes += [getattr(saliency, name) for name in saliency.__all__ if isinstance(getattr(saliency, name), type)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        add_safe_globals(classes)


_register_safe_globals()
