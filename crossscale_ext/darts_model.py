"""CrossScaleNet for Darts: :class:`CrossScaleNetModel` (a ``MixedCovariatesTorchModel``) and its Lightning module.

The model wraps the plain :class:`~crossscale_ext.network.CrossScaleNet`. Its saliency methods
(:meth:`CrossScaleNetModel.saliency`, :meth:`CrossScaleNetModel.explain`, ...) come from
:class:`~crossscale_ext._darts_saliency.DartsSaliencyMixin` and are implemented in
:mod:`crossscale_ext.explainability`, as Darts keeps explainers in ``darts/explainability/``; the input checks and
the failed-fit snapshot are in :mod:`crossscale_ext._darts_module`.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from darts import TimeSeries
from darts.models.forecasting.pl_forecasting_module import PLForecastingModule, io_processor
from darts.models.forecasting.torch_forecasting_model import MixedCovariatesTorchModel
from darts.utils.data.torch_datasets.utils import PLModuleInput, PLModuleOutput, TorchTrainingSample
from darts.utils.serialization import add_safe_globals

from crossscale_ext._darts_module import (
    INFERENCE_LOCK,
    TrainingDivergedError,
    _as_series_list,
    _cast_series,
    _check_finite_forecast,
    check_covariate_span,
    check_inputs,
    load_or_explain,
    restore_after_fit,
    single_process_trainer_params,
    snapshot_for_fit,
    spawns_processes,
    use_monte_carlo_dropout,
)
from crossscale_ext._darts_saliency import DartsSaliencyMixin
from crossscale_ext.checkpointing import EpochSeedCallback, enable_resumable_checkpoints
from crossscale_ext.config import ArchitectureConfig, check_removed_center, fill_parameter_docs
from crossscale_ext.explainability import CrossScaleNetExplainabilityResult
from crossscale_ext.network import CrossScaleNet
from crossscale_ext.training import fast_optimizer_kwargs

__all__ = ["CrossScaleNetModel", "INFERENCE_LOCK", "TrainingDivergedError"]


#: The default architecture: the constructor's defaults are read from it, so they are defined once.
_DEFAULT = ArchitectureConfig()
#: The validation inputs of ``fit``, checked and cast as the training inputs are.
_VALIDATION_INPUTS = ("val_series", "val_past_covariates", "val_future_covariates")


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
        architecture: ArchitectureConfig,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.optimizer_kwargs = fast_optimizer_kwargs(self.optimizer_cls, self.optimizer_kwargs)  # fused Adam
        self.network = CrossScaleNet(
            input_length=self.input_chunk_length,
            output_length=self.output_chunk_length,
            n_channels=input_dim,
            n_targets=output_dim,
            n_future_covariates=future_cov_dim,
            n_static_covariates=static_cov_dim,
            nr_params=nr_params,
            config=architecture,
        )
        use_monte_carlo_dropout(self.network)

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        """Stop at the first non-finite training loss with an error that names the fix."""
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        if isinstance(loss, torch.Tensor) and not bool(torch.isfinite(loss).all()):
            raise TrainingDivergedError(
                f"CrossScaleNet's training diverged: the loss became {loss.detach().float().item()} at epoch "
                f"{self.current_epoch}, batch {batch_idx}, so the weights are no longer usable. Lower the learning "
                "rate (optimizer_kwargs={'lr': ...}; Darts' default is 1e-3), scale the series (e.g. darts' Scaler), "
                "or clip gradients (pl_trainer_kwargs={'gradient_clip_val': 1.0})."
            )

    @io_processor
    def forward(self, x_in: PLModuleInput) -> PLModuleOutput:
        features = x_in.concatenate_past_features()
        output = self.network(features, x_in.future_covariates, x_in.static_covariates)
        return PLModuleOutput(prediction=output.forecast)


class CrossScaleNetModel(DartsSaliencyMixin, MixedCovariatesTorchModel):
    def __init__(  # noqa: D417 (the architecture parameters are filled in from config.parameter_docs)
        self,
        input_chunk_length: int,
        output_chunk_length: int,
        output_chunk_shift: int = 0,
        n_scales: int = _DEFAULT.n_scales,
        base_patch_length: int = _DEFAULT.base_patch_length,
        moving_avg_kernel: int | None = _DEFAULT.moving_avg_kernel,
        d_model: int = _DEFAULT.d_model,
        dropout: float = _DEFAULT.dropout,
        channel_mixing: bool = _DEFAULT.channel_mixing,
        instance_norm: bool = _DEFAULT.instance_norm,
        covariate_path: str = _DEFAULT.covariate_path,
        mean_gate_init: float = _DEFAULT.mean_gate_init,
        scale_fusion: str = _DEFAULT.scale_fusion,
        use_static_covariates: bool = True,
        **kwargs: Any,
    ) -> None:
        """CrossScaleNet: multi-scale forecasting with a saliency map for every forecast.

        An implementation of CrossScaleNet ("Learning Temporal Saliency for Time Series Forecasting with
        Cross-Scale Attention", arXiv 2509.22839), faithful to the authors' reference implementation; the
        layers are described in :mod:`crossscale_ext.network`, the architecture parameters below are the fields
        of :class:`~crossscale_ext.config.ArchitectureConfig`. :meth:`saliency` and :meth:`explain` return the
        paper's attention maps and gradient maps; read ``gradient`` (mean AUROC 0.99 against the ground truth of
        SYN1-SYN8 at ``H = 6``; the attention maps 0.49-0.54 at 6 and 24).

        Covariates (all optional): past covariates and the historic part of future covariates are input
        channels beside the target (normalised, decomposed, encoded, attended over, in the per-component
        saliency; only the target is forecast); future covariates over the forecast window and the flattened
        static covariates enter through linear layers added to the forecast.

        Parameters
        ----------
        input_chunk_length
            Lookback ``L``: number of past time steps fed to the model (the reference uses 96); which lengths
            fit the scales and patches: :meth:`~crossscale_ext.config.ArchitectureConfig.validate`.
        output_chunk_length
            Horizon ``H`` predicted at once. Also the length of the keys of the attention: the attention maps
            need ``output_chunk_length`` at least the number of patches ``input_chunk_length / base_patch_length``
            (a :class:`~crossscale_ext.saliency.ShortHorizonWarning` says so otherwise; the gradient maps do not).
            ``predict(n)`` with ``n > output_chunk_length`` forecasts auto-regressively.
        output_chunk_shift
            Steps between the end of the input and the start of the output chunk. Default: ``0``.
        {architecture_parameters}
        use_static_covariates
            Whether to use the static covariates of the target series when present. Default: ``True``.
        **kwargs
            Every argument of Darts' ``TorchForecastingModel``, passed through unchanged (see there), e.g.
            ``loss_fn`` (default ``torch.nn.MSELoss()``), ``likelihood`` (``QuantileRegression()`` for
            probabilistic forecasts), ``optimizer_cls`` / ``optimizer_kwargs`` (Adam, ``{"lr": 1e-3}``),
            ``lr_scheduler_cls``, ``batch_size`` (32), ``n_epochs`` (100), ``random_state``,
            ``save_checkpoints``, ``add_encoders`` and ``pl_trainer_kwargs`` (e.g. ``{"accelerator": "gpu"}``).

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
        >>> result.to_dataframe().shape          # 64 input steps x (paper, per_step, gradient, input_x_gradient, sine)
        (64, 5)
        """
        if isinstance(input_chunk_length, tuple):
            raise ValueError(
                "CrossScaleNetModel needs a fixed input_chunk_length (an int such as 96): its scales and patches "
                "are built for one window length."
            )
        check_removed_center(kwargs.pop("instance_norm_center", None))
        self.architecture = ArchitectureConfig.from_params(self.model_params)  # the architecture arguments above
        self.architecture.validate(input_chunk_length, output_chunk_length)
        params = {name: value for name, value in self.model_params.items() if name != "instance_norm_center"}
        super().__init__(**self._extract_torch_model_params(**params))
        self._model_params.pop("instance_norm_center", None)
        self.pl_module_params = self._extract_pl_module_params(**self.model_params)

        for name, value in self.architecture.as_dict().items():
            setattr(self, name, value)
        self._considers_static_covariates = use_static_covariates
        if self.save_checkpoints:
            enable_resumable_checkpoints(self.trainer_params)

    def __setstate__(self, state: dict) -> None:
        """Darts' unpickling; re-adds the resumable-checkpoint callback, drops the removed ``instance_norm_center``."""
        check_removed_center(state.pop("instance_norm_center", None), saved=True)
        check_removed_center(state.get("_model_params", {}).pop("instance_norm_center", None), saved=True)
        super().__setstate__(state)
        if self.save_checkpoints:
            enable_resumable_checkpoints(self.trainer_params)

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
            architecture=self.architecture,
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
        return self.architecture.n_patches(self.input_chunk_length)

    def _check_inputs(self, series: Any, past_covariates: Any, future_covariates: Any, min_length: int,
                      role: str) -> None:
        """:func:`~crossscale_ext._darts_module.check_inputs` with this model's chunk lengths."""
        chunks = (self.input_chunk_length, self.output_chunk_length, self.output_chunk_shift)
        check_inputs(series, past_covariates, future_covariates, min_length, role, chunks)

    def _checked_inputs(self, series: Any, past_covariates: Any, future_covariates: Any, min_length: int,
                        role: str) -> tuple[Any, Any, Any]:
        """The inputs checked, then cast to the fitted network's floating-point precision (unchanged before fitting)."""
        self._check_inputs(series, past_covariates, future_covariates, min_length, role)
        if self.model is None:
            return series, past_covariates, future_covariates
        dtype = np.float64 if next(self.model.parameters()).dtype == torch.float64 else np.float32
        return tuple(_cast_series(value, dtype) for value in (series, past_covariates, future_covariates))

    def fit(
        self,
        series: TimeSeries | Sequence[TimeSeries],
        past_covariates: TimeSeries | Sequence[TimeSeries] | None = None,
        future_covariates: TimeSeries | Sequence[TimeSeries] | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> CrossScaleNetModel:
        """Fit the model; see Darts' ``TorchForecastingModel.fit`` for every argument.

        Inputs are checked before training, and a ``float16`` target is trained in ``float32`` (a lossless cast;
        Darts would train in bfloat16): the model trains in ``float64`` when a target series is ``float64``, else
        in ``float32``, and the covariates and validation series are cast to that precision (mixed precisions
        would fail inside torch).

        A failed call leaves the model as it was: when training raises (``TrainingDivergedError``, an error in a
        callback, ``KeyboardInterrupt``, ...), the attributes Darts' ``fit`` replaces (Lightning module, trainer,
        training series, covariate usage, random state) are put back, and so are the weights and train / eval
        state of an already fitted module, which a further ``fit`` keeps training in place. The model then
        predicts exactly what it predicted before the call (a never-fitted model stays unfitted). The cost is one
        copy of the weights during the call. Checkpoint files written before the failure are not removed.

        Raises
        ------
        ValueError
            Before training, when a series is shorter than ``input_chunk_length + output_chunk_length +
            output_chunk_shift``, any input holds NaN or infinite values, or the covariates do not cover the
            target series.
        TypeError
            Before training, for inputs that are not ``TimeSeries`` or hold non-float values.
        TrainingDivergedError
            When the training loss becomes NaN or infinite (the previous state is restored).
        """
        lead = self.output_chunk_length + self.output_chunk_shift
        self._check_inputs(series, past_covariates, future_covariates, self.input_chunk_length + lead, "fit")
        check_covariate_span(series, past_covariates, future_covariates, lead)
        validation = [key for key in _VALIDATION_INPUTS if kwargs.get(key) is not None]
        for key in validation:
            self._check_inputs(kwargs[key], None, None, 0, "validate")
        dtype = np.float64 if any(ts.dtype == np.float64 for ts in _as_series_list("series", series)) else np.float32
        series, past_covariates, future_covariates = (
            _cast_series(value, dtype) for value in (series, past_covariates, future_covariates)
        )
        kwargs.update({key: _cast_series(kwargs[key], dtype) for key in validation})
        snapshot = snapshot_for_fit(self)
        try:
            return super().fit(series, past_covariates, future_covariates, *args, **kwargs)
        except BaseException:
            restore_after_fit(self, snapshot)
            raise

    @staticmethod
    def load(
        path: str, pl_trainer_kwargs: dict | None = None, trusted: bool = False, **kwargs: Any
    ) -> CrossScaleNetModel:
        """Load a model saved with :meth:`save`; Darts' safe loading by default.

        As in Darts, the file is unpickled with a restricted unpickler that accepts only Darts', torch's and this
        package's classes (registered at import), so a file crafted to run code on load is refused; pass
        ``trusted=True`` only for files you fully trust. Every refusal raises one ``ValueError`` that names the
        file and the reason, instead of the unpickler's internal error.

        Raises
        ------
        ValueError
            When the file is missing, truncated or corrupt, refused by the safe loader, or not a CrossScaleNet save.
        """
        from darts.models.forecasting.torch_forecasting_model import TorchForecastingModel

        return load_or_explain(
            lambda: TorchForecastingModel.load(path, pl_trainer_kwargs=pl_trainer_kwargs, trusted=trusted, **kwargs),
            CrossScaleNetModel, repr(path), missing=f"Cannot load {path!r}: no such file ({{error}}).",
            broken="The file is not a complete save made by CrossScaleNetModel.save (truncated or corrupt), or it "
            "holds objects the safe loader refuses (it may run code when unpickled). Pass trusted=True only for a "
            "file you fully trust.", loader="load",
        )

    @staticmethod
    def load_from_checkpoint(
        model_name: str,
        work_dir: str | None = None,
        file_name: str | None = None,
        best: bool = True,
        trusted: bool = False,
        **kwargs: Any,
    ) -> CrossScaleNetModel:
        """Load a model from the checkpoints Darts saved during training (``save_checkpoints=True``).

        Darts' ``load_from_checkpoint``, with its safe loading, and one clear ``ValueError`` for every refusal. To
        resume a training that was interrupted (killed, crashed), load the *last* checkpoint (``best=False``) and
        call ``fit`` again with the same data: it continues after the last saved epoch, up to ``n_epochs`` (see
        the example).

        The resumed training ends with the weights of an uninterrupted one with the same ``random_state``
        (:class:`~crossscale_ext.checkpointing.EpochSeedCallback`; ``docs/darts.md``, "Checkpoints and resuming").

        Parameters
        ----------
        model_name
            The ``model_name`` the model was created with.
        work_dir
            Its ``work_dir`` (default: Darts' ``darts_logs`` folder in the current directory).
        file_name
            A checkpoint file in ``{work_dir}/{model_name}/checkpoints/``; default: the best one (``best=True``,
            lowest validation loss) or the most recent one (``best=False``, the one to resume from).
        best
            See ``file_name``. Default ``True``, as in Darts.
        trusted
            As for :meth:`load`: ``True`` only for checkpoints you fully trust.
        **kwargs
            Passed to Darts (e.g. ``map_location="cpu"``).

        Raises
        ------
        ValueError
            When the folder holds no checkpoint of that model (or the file named is missing), or a file is
            truncated, corrupt, refused by the safe loader, or not a CrossScaleNet checkpoint.

        Examples
        --------
        >>> model = CrossScaleNetModel(96, 24, n_epochs=20, random_state=0, save_checkpoints=True,
        ...                            model_name="my_model", work_dir="runs")  # doctest: +SKIP
        >>> model.fit(series, val_series=val_series)  # killed after some epochs  # doctest: +SKIP
        >>> model = CrossScaleNetModel.load_from_checkpoint("my_model", "runs", best=False)  # doctest: +SKIP
        >>> model.fit(series, val_series=val_series)  # epochs after the last checkpoint, up to 20  # doctest: +SKIP
        """
        from darts.models.forecasting.torch_forecasting_model import TorchForecastingModel

        where = f"model_name={model_name!r}, work_dir={work_dir!r}"
        return load_or_explain(
            lambda: TorchForecastingModel.load_from_checkpoint(
                model_name, work_dir=work_dir, file_name=file_name, best=best, trusted=trusted, **kwargs
            ),
            CrossScaleNetModel, f"the checkpoint of {where}",
            missing=f"No checkpoint to load for {where}: {{error}}. Checkpoints are written during fit only when the "
            "model is created with save_checkpoints=True (and, for best=True, fit gets val_series); check model_name "
            "and work_dir, or pass best=False for the most recent checkpoint.",
            broken="The folder holds no complete CrossScaleNet checkpoint (missing, truncated or corrupt files), or a "
            "file holds objects the safe loader refuses (it may run code when unpickled). Pass trusted=True only for "
            "files you fully trust.", loader="load_from_checkpoint",
        )

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

        Series and covariates of another floating-point precision than the model's (e.g. ``float64`` or
        ``float16`` for a model trained on ``float32``) are cast to it, as the network cannot mix them.

        Raises
        ------
        ValueError
            When called before ``fit``; when a series is shorter than ``input_chunk_length`` or an input holds
            NaN or infinite values; when the forecast itself is not finite (values too large for the model's
            precision), instead of returning it.
        TypeError
            For inputs that are not ``TimeSeries`` or hold non-float values.
        """
        self._require_fitted("predict()")
        inputs = self._checked_inputs(series, past_covariates, future_covariates, self.input_chunk_length, "predict")
        with INFERENCE_LOCK:  # outside Darts' @random_method, which reseeds torch's global generator
            forecast = super().predict(n, *inputs, *args, **kwargs)
        _check_finite_forecast(forecast)
        return forecast

    def historical_forecasts(
        self,
        series: TimeSeries | Sequence[TimeSeries],
        past_covariates: TimeSeries | Sequence[TimeSeries] | None = None,
        future_covariates: TimeSeries | Sequence[TimeSeries] | None = None,
        *args: Any,
        **kwargs: Any,
    ):
        """Darts' ``historical_forecasts`` (and so ``backtest``), with the input checks of :meth:`predict`.

        Inputs are checked as in :meth:`predict` (``TypeError`` / ``ValueError`` for non-float, NaN or infinite
        values), cast to a fitted model's precision, and the forecasts are checked to be finite. Every argument is
        Darts'; with ``retrain`` the model is refit as Darts does.
        """
        inputs = self._checked_inputs(series, past_covariates, future_covariates, 0, "forecast")
        forecasts = super().historical_forecasts(*inputs, *args, **kwargs)
        nested = forecasts if isinstance(forecasts, list) else [forecasts]
        for item in nested:
            _check_finite_forecast(item)
        return forecasts

    def predict_from_dataset(self, n: int, dataset: Any, trainer: Any = None, *args: Any, **kwargs: Any):
        """Darts' ``predict_from_dataset`` (used by ``predict`` and ``historical_forecasts``).

        After training with a process-spawning strategy (``pl_trainer_kwargs={"strategy": "ddp_spawn", ...}``),
        Lightning returns no predictions to the main process and Darts would fail; unless a ``trainer`` is
        given, prediction then runs in this process on one device with the other trainer settings.

        Runs under :data:`INFERENCE_LOCK`, as do :meth:`predict` and the saliency pass: Darts sets the prediction
        parameters (``n``, ``num_samples``, Monte Carlo dropout, ...) on the shared Lightning module and Lightning
        switches its train / eval state, so concurrent calls from several threads would mix them up.
        """
        with INFERENCE_LOCK:
            if trainer is None and spawns_processes(self.trainer_params):
                params = single_process_trainer_params(self.trainer_params, kwargs.get("verbose"))
                trainer = self._init_trainer(trainer_params=params)
            return super().predict_from_dataset(n, dataset, trainer, *args, **kwargs)


CrossScaleNetModel.__init__.__doc__ = fill_parameter_docs(CrossScaleNetModel.__init__.__doc__, style="darts")


def _register_safe_globals() -> None:
    """Allow ``CrossScaleNetModel.load(path)`` with Darts' safe default (no ``trusted=True``)."""
    from crossscale_ext import config, network, saliency, training

    classes: list = [CrossScaleNetModel, _CrossScaleNetModule, CrossScaleNetExplainabilityResult]
    classes += [getattr(config, name) for name in config.__all__ if isinstance(getattr(config, name), type)]
    classes += [training.ReferenceLRSchedule]
    classes += [EpochSeedCallback]
    classes += [getattr(network, name) for name in network.__all__ if isinstance(getattr(network, name), type)]
    classes += [getattr(saliency, name) for name in saliency.__all__ if isinstance(getattr(saliency, name), type)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        add_safe_globals(classes)


_register_safe_globals()
