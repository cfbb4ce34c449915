"""CrossScaleNet for Darts: :class:`CrossScaleNetModel` (a ``MixedCovariatesTorchModel``) and its Lightning module.

The model wraps the plain :class:`~crossscale_ext.network.CrossScaleNet`; explaining it
(:meth:`CrossScaleNetModel.saliency`, :meth:`CrossScaleNetModel.explain`) is implemented in
:mod:`crossscale_ext.explainability`, as Darts keeps explainers in ``darts/explainability/``.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Iterator, Sequence
from typing import Any, Literal

import numpy as np
import torch
from darts import TimeSeries
from darts.models.forecasting.pl_forecasting_module import PLForecastingModule, io_processor
from darts.models.forecasting.torch_forecasting_model import MixedCovariatesTorchModel
from darts.utils.data.torch_datasets.utils import PLModuleInput, PLModuleOutput, TorchTrainingSample
from darts.utils.serialization import add_safe_globals
from darts.utils.torch import MonteCarloDropout
from darts.utils.ts_utils import series2seq
from torch import nn

from crossscale_ext._darts_module import (
    INFERENCE_LOCK,
    TrainingDivergedError,
    _as_series_list,
    _cast_series,
    _check_finite_float,
    _check_finite_forecast,
)
from crossscale_ext.checkpointing import EpochSeedCallback
from crossscale_ext.config import ArchitectureConfig, fill_parameter_docs
from crossscale_ext.explainability import (
    CrossScaleNetExplainabilityResult,
    SaliencyRequest,
    compute_saliency,
    explain,
    iter_saliency,
    panel_saliency,
)
from crossscale_ext.faithfulness import SaliencyCheck, check_saliency
from crossscale_ext.maps import RECOMMENDED_MAP
from crossscale_ext.network import CrossScaleNet
from crossscale_ext.saliency import PanelSaliency, SaliencyResult
from crossscale_ext.training import fast_optimizer_kwargs

__all__ = ["CrossScaleNetModel", "INFERENCE_LOCK", "TrainingDivergedError"]


#: The default architecture: the constructor's defaults are read from it, so they are defined once.
_DEFAULT = ArchitectureConfig()


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
        _use_monte_carlo_dropout(self.network)

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        """Start a new network's mean gate from its first training batch (``CrossScaleNet.initialise_mean_gate``)."""
        if self.network.mean_gate_pending:
            def reduce(sums: torch.Tensor) -> torch.Tensor:
                return self.trainer.strategy.reduce(sums, reduce_op="sum")

            self.network.initialise_mean_gate(batch.past_target, batch.future_target, reduce=reduce)

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


class CrossScaleNetModel(MixedCovariatesTorchModel):
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
        instance_norm_center: str = _DEFAULT.instance_norm_center,
        covariate_path: str = _DEFAULT.covariate_path,
        scale_fusion: str = _DEFAULT.scale_fusion,
        use_static_covariates: bool = True,
        **kwargs: Any,
    ) -> None:
        """CrossScaleNet: multi-scale forecasting with a saliency map for every forecast.

        An implementation of CrossScaleNet ("Learning Temporal Saliency for Time Series Forecasting with
        Cross-Scale Attention", arXiv 2509.22839), faithful to the authors' reference implementation. The
        input window is instance-normalised, given a fixed sinusoidal positional encoding and average-pooled
        into ``n_scales`` scales. Every scale is split into trend and seasonal parts that gated MLP encoders
        map to a forecast. From scale 1 on, the scale's input first passes a cross-patch attention whose
        keys are the scale-0 forecast (patch attention) and its seasonal part (local attention), stretched
        to the scale's length. A linear layer fuses the scales' forecasts. :meth:`saliency` and
        :meth:`explain` return the paper's attention maps and gradient maps; read ``gradient`` (mean AUROC
        0.99 against the ground truth of SYN1-SYN8 at ``H = 6``; the attention maps 0.49-0.54 at 6 and 24).

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
        >>> result.to_dataframe().shape          # 64 input steps x (paper, per_step, gradient, input_x_gradient, sine)
        (64, 5)
        """
        if isinstance(input_chunk_length, tuple):
            raise ValueError(
                "CrossScaleNetModel needs a fixed input_chunk_length (an int such as 96): its scales and patches "
                "are built for one window length."
            )
        self.architecture = ArchitectureConfig(
            n_scales=n_scales,
            base_patch_length=base_patch_length,
            moving_avg_kernel=moving_avg_kernel,
            d_model=d_model,
            dropout=dropout,
            channel_mixing=channel_mixing,
            instance_norm=instance_norm,
            instance_norm_center=instance_norm_center,
            covariate_path=covariate_path,
            scale_fusion=scale_fusion,
        )
        self.architecture.validate(input_chunk_length, output_chunk_length)
        super().__init__(**self._extract_torch_model_params(**self.model_params))
        self.pl_module_params = self._extract_pl_module_params(**self.model_params)

        for name, value in self.architecture.as_dict().items():
            setattr(self, name, value)
        self._considers_static_covariates = use_static_covariates
        if self.save_checkpoints:
            self._setup_resumable_checkpoints()

    def _setup_resumable_checkpoints(self) -> None:
        """With ``save_checkpoints=True``: a training resumed from a checkpoint repeats the uninterrupted one.

        Adds an :class:`~crossscale_ext.checkpointing.EpochSeedCallback` (unless ``pl_trainer_kwargs`` holds one),
        which seeds every epoch from a base seed kept in the checkpoints, and switches Lightning's checkpointing on
        (``QUIET_TRAINER_KWARGS`` switch it off, which Lightning would refuse together with Darts' checkpoint
        callbacks).
        """
        callbacks = self.trainer_params.setdefault("callbacks", [])
        if not any(isinstance(callback, EpochSeedCallback) for callback in callbacks):
            callbacks.append(EpochSeedCallback())
        self.trainer_params["enable_checkpointing"] = True

    def __setstate__(self, state: dict) -> None:
        """Darts' unpickling, which rebuilds the trainer callbacks; re-adds the resumable-checkpoint callback."""
        super().__setstate__(state)
        if self.save_checkpoints:
            self._setup_resumable_checkpoints()

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

    # ------------------------------------------------------------------ input checks
    def _check_inputs(
        self,
        series: TimeSeries | Sequence[TimeSeries] | None,
        past_covariates: TimeSeries | Sequence[TimeSeries] | None,
        future_covariates: TimeSeries | Sequence[TimeSeries] | None,
        min_length: int,
        role: str,
    ) -> None:
        """Clear errors for short series and non-finite or non-float values, before Darts' deeper checks.

        The covariates are checked even when ``series`` is None (``predict`` on the training series).

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
        """Training covariates must cover every training window of their target series; widths must agree.

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
        dtype = np.float64 if any(ts.dtype == np.float64 for ts in _as_series_list("series", series)) else np.float32
        series, past_covariates, future_covariates = (
            _cast_series(value, dtype) for value in (series, past_covariates, future_covariates)
        )
        for key in ("val_series", "val_past_covariates", "val_future_covariates"):
            if kwargs.get(key) is not None:
                kwargs[key] = _cast_series(kwargs[key], dtype)
        snapshot = self._fit_snapshot()
        try:
            return super().fit(series, past_covariates, future_covariates, *args, **kwargs)
        except BaseException:
            self._restore_fit_snapshot(snapshot)
            raise

    def _fit_snapshot(self) -> dict[str, Any]:
        """What a failed :meth:`fit` must put back: the model's attributes and its fitted module's state."""
        attributes = self.__dict__.copy()
        if "_random_instance" in attributes:  # advanced by Darts' random_method on every fit / predict
            attributes["_random_instance"] = copy.deepcopy(attributes["_random_instance"])
        module = self.model
        if module is None:
            return {"attributes": attributes, "module": None}
        return {
            "attributes": attributes,
            "module": module,
            "module_attributes": module.__dict__.copy(),
            "weights": {name: value.detach().clone() for name, value in module.state_dict().items()},
            "modes": [child.training for child in module.modules()],
        }

    def _restore_fit_snapshot(self, snapshot: dict[str, Any]) -> None:
        """Undo a failed :meth:`fit` (see there), from :meth:`_fit_snapshot`'s record."""
        self.__dict__.clear()
        self.__dict__.update(snapshot["attributes"])
        module = snapshot["module"]
        if module is None:
            return
        module.__dict__.update(snapshot["module_attributes"])
        with torch.no_grad():
            module.load_state_dict(snapshot["weights"])
        for child, training in zip(module.modules(), snapshot["modes"]):
            child.training = training

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

        try:
            model = TorchForecastingModel.load(path, pl_trainer_kwargs=pl_trainer_kwargs, trusted=trusted, **kwargs)
        except FileNotFoundError as error:
            raise ValueError(f"Cannot load {path!r}: no such file ({error}).") from error
        except Exception as error:  # noqa: BLE001 - the unpickler raises many types; one clear error for all
            raise ValueError(
                f"Cannot load {path!r} as a CrossScaleNetModel: {type(error).__name__}: {error}. The file is not a "
                "complete save made by CrossScaleNetModel.save (truncated or corrupt), or it holds objects the safe "
                "loader refuses (it may run code when unpickled). Pass trusted=True only for a file you fully trust."
            ) from error
        if not isinstance(model, CrossScaleNetModel):
            raise ValueError(
                f"{path!r} holds a {type(model).__name__}, not a CrossScaleNetModel: load it with "
                f"{type(model).__name__}.load."
            )
        return model

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

        With ``save_checkpoints=True``, :class:`~crossscale_ext.checkpointing.EpochSeedCallback` seeds every epoch
        from a base seed stored in the checkpoints, so the resumed training draws the same batch order and dropout
        as an uninterrupted one with the same ``random_state``, and ends with the same weights and validation loss
        (on the same machine and library versions; see ``docs/darts.md``, "Checkpoints and resuming").

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
        try:
            model = TorchForecastingModel.load_from_checkpoint(
                model_name, work_dir=work_dir, file_name=file_name, best=best, trusted=trusted, **kwargs
            )
        except FileNotFoundError as error:
            raise ValueError(
                f"No checkpoint to load for {where}: {error}. Checkpoints are written during fit only when the "
                "model is created with save_checkpoints=True (and, for best=True, fit gets val_series); check "
                "model_name and work_dir, or pass best=False for the most recent checkpoint."
            ) from error
        except Exception as error:  # noqa: BLE001 - Darts and the unpickler raise many types; one clear error for all
            raise ValueError(
                f"Cannot load the checkpoint of {where} as a CrossScaleNetModel: {type(error).__name__}: {error}. "
                "The folder holds no complete CrossScaleNet checkpoint (missing, truncated or corrupt files), or a "
                "file holds objects the safe loader refuses (it may run code when unpickled). Pass trusted=True only "
                "for files you fully trust."
            ) from error
        if not isinstance(model, CrossScaleNetModel):
            raise ValueError(
                f"The checkpoint of {where} holds a {type(model).__name__}, not a CrossScaleNetModel: load it with "
                f"{type(model).__name__}.load_from_checkpoint."
            )
        return model

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
        self._check_inputs(series, past_covariates, future_covariates, self.input_chunk_length, "predict")
        series, past_covariates, future_covariates = self._in_model_precision(
            series, past_covariates, future_covariates
        )
        with INFERENCE_LOCK:  # outside Darts' @random_method, which reseeds torch's global generator
            forecast = super().predict(n, series, past_covariates, future_covariates, *args, **kwargs)
        _check_finite_forecast(forecast)
        return forecast

    def _in_model_precision(self, series: Any, past_covariates: Any, future_covariates: Any) -> tuple[Any, Any, Any]:
        """The inputs cast to the fitted network's floating-point precision (unchanged before fitting)."""
        if self.model is None:
            return series, past_covariates, future_covariates
        dtype = np.float64 if next(self.model.parameters()).dtype == torch.float64 else np.float32
        return tuple(_cast_series(value, dtype) for value in (series, past_covariates, future_covariates))

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
        self._check_inputs(series, past_covariates, future_covariates, 0, "forecast")
        series, past_covariates, future_covariates = self._in_model_precision(
            series, past_covariates, future_covariates
        )
        forecasts = super().historical_forecasts(series, past_covariates, future_covariates, *args, **kwargs)
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
        gradients: bool = True,
        maps: str | Sequence[str] | None = None,
        dtype: str = "float32",
        inputs: bool | None = None,
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

        Returns
        -------
        SaliencyResult or list of SaliencyResult
            One per series (a list when ``series`` is a sequence).

        Raises
        ------
        ValueError
            Before fitting, for unknown ``windows``, a bad ``stride`` / ``batch_size`` / ``gradients`` /
            ``maps`` / ``dtype`` / ``inputs``, series too short for one window, or missing values.

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
        return compute_saliency(self, series, past_covariates, future_covariates, request)

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
        batch_size, gradients, maps, dtype, inputs
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
        return iter_saliency(self, series, past_covariates, future_covariates, request, windows_per_chunk)

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
        kind: str = RECOMMENDED_MAP,
        **kwargs: Any,
    ) -> SaliencyCheck:
        """Check on your data that the map points at what the forecasts rest on (no ground truth needed).

        Removes each window's top-ranked cells and measures how far the forecast moves, against random cells and
        the most recent steps (and, with ``seeds_models``, whether retrained models agree); see
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
