"""PatchTST and iTransformer through neuralforecast, on the protocol of ``crossscale bench forecast``.

Optional peers of :mod:`crossscale_ext.benchmarks.forecast` (install them with ``pip install
"crossscale_ext[bench]"``, which brings ``neuralforecast``; nothing else in the package imports it).
:func:`run_neuralforecast_peer` trains one of :data:`NF_MODELS` on the standardised train split of a
:class:`~crossscale_ext.datasets.long_horizon.LongHorizonData`, stops early on its validation split, restores the
best weights and scores **every** stride-1 test window (lookback 96, MSE / MAE on the standardised data over all
channels), the windows and targets :func:`~crossscale_ext.benchmarks.harness.evaluate_windows` scores for the Darts
models (:func:`make_windows` builds them; ``tests/test_nf_peers.py`` checks both against each other). It returns
the fields of :class:`crossscale_ext.benchmarks.forecast.BenchmarkRow`.

**Settings** (lookback L = 96 for every data set).

PatchTST (Nie et al., 2023; neuralforecast's ``PatchTST``): patch length 16, stride 8, RevIN without affine
parameters subtracting the mean (the scripts' ``revin 1, affine 0, subtract_last 0``; neuralforecast's default
subtracts the last value, so it is switched off), channel-independent (every channel is one univariate series of a
shared network), residual attention, post-norm BatchNorm, learned positional encoding, MSE loss, Adam. Per data set,
from the authors' scripts ``PatchTST_supervised/scripts/PatchTST/{etth1,etth2,ettm1,ettm2,weather}.sh``
(repository yuqinie98/PatchTST; the scripts use L = 336, the architecture is kept and only L is set to 96):

- ETTh1, ETTh2: 3 layers, 4 heads, d_model 16, d_ff 128, dropout 0.3, fc_dropout 0.3, head_dropout 0, batch 128,
  lr 1e-4, ``lradj type3`` (the default of ``run_longExp.py``: the initial rate for 4 epochs, then x 0.9 an epoch);
- ETTm1, ETTm2: 3 layers, 16 heads, d_model 128, d_ff 256, dropout 0.2, fc_dropout 0.2, batch 128, lr 1e-4,
  ``lradj TST`` (one-cycle, ``pct_start 0.4``, stepped every batch);
- Weather: as ETTm1 but ``lradj type3`` (its script sets none);
- Exchange: the authors ran none; the L = 96 setting of the Time-Series-Library script
  ``scripts/long_term_forecast/Exchange_script/PatchTST.sh`` (thuml/Time-Series-Library, the source of the
  usual L = 96 PatchTST figures): 2 layers, 8 heads, d_model 512, d_ff 2048, dropout 0.1, batch 32, lr 1e-4,
  ``lradj type1``;
- any other name: the ETTh1 setting.

iTransformer (Liu et al., 2024; neuralforecast's ``iTransformer``): every channel is one token, 8 heads, dropout
0.1, series normalisation (``use_norm``), MSE loss, Adam, batch 32, lr 1e-4, ``lradj type1`` (the ``run.py``
defaults). Per data set, from ``scripts/multivariate_forecasting/{ETT,Weather,Exchange}/*.sh`` (thuml/iTransformer),
the H = 96 line: ETTh1 2 layers, d_model = d_ff = 256; ETTh2, ETTm1, ETTm2, Exchange 2 layers, 128; Weather
3 layers, 512 (the ETTh1 script uses 512 for H = 336 and 720, which is applied there); any other name: 2 layers,
128. One difference from the paper's code stays: neuralforecast's iTransformer has no time-feature tokens (the
paper's code appends the calendar features as extra variate tokens).

**Training**, converted from epochs to neuralforecast's steps.

neuralforecast trains for ``max_steps`` optimiser steps, each on ``windows_batch_size`` windows drawn at random
(without replacement within a step) from all training windows, and validates every ``val_check_steps`` steps. Here
one **epoch** is as many steps as the paper's loader has batches over the training windows,
``ceil(n_train_windows / batch)`` (ETTh1: 8,449 windows, 67 steps at batch 128, 265 at batch 32), and each step sees
as many windows as a paper batch: ``batch`` multivariate windows for iTransformer, ``batch x n_channels``
univariate windows for the channel-independent PatchTST (the paper's batch of 128 windows of 7 channels is 896
univariate samples). An epoch therefore sees as many windows as a pass of the paper's loader, drawn with
replacement across steps (about 63 % distinct windows per epoch) rather than a shuffled pass. Validation runs after
every epoch on every validation window (neuralforecast's ``val_size``: the windows whose targets fall in the
validation split, the same as Darts'), early stopping on it with the given patience, ``max_steps = epochs x
steps_per_epoch``, and the weights of the best validation epoch are restored (a callback; neuralforecast keeps the
last weights). The learning rate follows the paper's schedule per epoch (a ``LambdaLR`` over steps) unless
``lr_gamma`` is given, in which case it is multiplied by ``lr_gamma`` after every epoch like the Darts peers of
``crossscale bench forecast`` (``ExponentialLR`` stepped per epoch). The papers train up to 100 (PatchTST) or 10
(iTransformer) epochs; ``crossscale bench forecast`` uses 20 epochs and patience 3 for every model.

**Timing and cost.**

``train_seconds_per_epoch`` is the wall time from the first step of an epoch to the start of its validation (the
Darts epoch timer's span). Test windows are predicted by calling the trained network on batches of windows built
with :func:`make_windows`, in evaluation mode, which is what neuralforecast's own ``predict`` does without its data
frame and ``Trainer`` overhead; ``latency_ms_batch1`` / ``latency_ms_batch32`` time that call (the Darts figures
time ``model.predict``, which includes Darts' own overhead). ``peak_memory_mb`` is measured around training and
scoring with :class:`~crossscale_ext.benchmarks.harness.PeakMemory`.

Example::

    from crossscale_ext.datasets.long_horizon import load_long_horizon
    from crossscale_ext.benchmarks.nf_peers import run_neuralforecast_peer

    data = load_long_horizon("ETTh1", 96, data_dir="../shared/data")
    row = run_neuralforecast_peer("PatchTST", data, horizon=96, epochs=20, patience=3)
"""

from __future__ import annotations

import math
import statistics
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from crossscale_ext.benchmarks.harness import median_ms, training_callbacks
from crossscale_ext.config import check_int
from crossscale_ext.datasets.long_horizon import count_windows
from crossscale_ext.training import ReferenceLRSchedule

__all__ = [
    "NF_MODELS",
    "INPUT_LENGTH",
    "PeerSetting",
    "peer_setting",
    "lr_factor",
    "steps_per_epoch",
    "make_windows",
    "predict_windows",
    "build_nf_model",
    "run_neuralforecast_peer",
]

NF_MODELS: tuple[str, ...] = ("PatchTST", "iTransformer")
INPUT_LENGTH = 96
#: the quick subsets of ``crossscale bench forecast --quick``: the last training rows, validation / test windows
QUICK_TRAIN_ROWS, QUICK_VAL_WINDOWS, QUICK_TEST_WINDOWS = 1024, 128, 256

_INSTALL_HINT = ('neuralforecast is not installed; install the benchmark extra: pip install "crossscale_ext[bench]" '
                 '(or pip install neuralforecast)')


@dataclass(frozen=True)
class PeerSetting:
    """One peer's paper setting for one data set.

    Attributes
    ----------
    architecture
        Keyword arguments of the neuralforecast model (widths, depths, dropouts, ...).
    batch_size
        The paper's batch: multivariate windows per optimiser step.
    learning_rate
        Initial learning rate.
    schedule
        The paper script's ``lradj``: ``"type1"``, ``"type3"`` or ``"TST"`` (one-cycle).
    pct_start
        One-cycle warm-up fraction (``"TST"`` only).
    source
        Where the setting comes from.
    """

    architecture: dict[str, Any]
    batch_size: int
    learning_rate: float
    schedule: str
    pct_start: float = 0.3
    source: str = field(default="")


_PATCHTST_COMMON = {"patch_len": 16, "stride": 8, "revin": True, "revin_affine": False, "revin_subtract_last": False,
                    "head_dropout": 0.0, "attn_dropout": 0.0, "activation": "gelu", "res_attention": True,
                    "batch_normalization": False, "learn_pos_embed": True}
_PATCHTST_SMALL = {**_PATCHTST_COMMON, "encoder_layers": 3, "n_heads": 4, "hidden_size": 16, "linear_hidden_size": 128,
                   "dropout": 0.3, "fc_dropout": 0.3}
_PATCHTST_LARGE = {**_PATCHTST_COMMON, "encoder_layers": 3, "n_heads": 16, "hidden_size": 128,
                   "linear_hidden_size": 256, "dropout": 0.2, "fc_dropout": 0.2}
_PATCHTST_SCRIPT = "yuqinie98/PatchTST PatchTST_supervised/scripts/PatchTST/{}.sh (L set to 96)"

PATCHTST_SETTINGS: dict[str, PeerSetting] = {
    "ETTh1": PeerSetting(_PATCHTST_SMALL, 128, 1e-4, "type3", source=_PATCHTST_SCRIPT.format("etth1")),
    "ETTh2": PeerSetting(_PATCHTST_SMALL, 128, 1e-4, "type3", source=_PATCHTST_SCRIPT.format("etth2")),
    "ETTm1": PeerSetting(_PATCHTST_LARGE, 128, 1e-4, "TST", 0.4, source=_PATCHTST_SCRIPT.format("ettm1")),
    "ETTm2": PeerSetting(_PATCHTST_LARGE, 128, 1e-4, "TST", 0.4, source=_PATCHTST_SCRIPT.format("ettm2")),
    "Weather": PeerSetting(_PATCHTST_LARGE, 128, 1e-4, "type3", source=_PATCHTST_SCRIPT.format("weather")),
    "Exchange": PeerSetting({**_PATCHTST_COMMON, "encoder_layers": 2, "n_heads": 8, "hidden_size": 512,
                             "linear_hidden_size": 2048, "dropout": 0.1, "fc_dropout": 0.1, "head_dropout": 0.1},
                            32, 1e-4, "type1",
                            source="thuml/Time-Series-Library scripts/long_term_forecast/Exchange_script/PatchTST.sh"),
}

_ITRANSFORMER_SCRIPT = "thuml/iTransformer scripts/multivariate_forecasting/{}"


def _itransformer(e_layers: int, width: int, script: str) -> PeerSetting:
    return PeerSetting({"e_layers": e_layers, "hidden_size": width, "d_ff": width, "n_heads": 8, "dropout": 0.1,
                        "factor": 1, "use_norm": True}, 32, 1e-4, "type1", source=_ITRANSFORMER_SCRIPT.format(script))


ITRANSFORMER_SETTINGS: dict[str, PeerSetting] = {
    "ETTh1": _itransformer(2, 256, "ETT/iTransformer_ETTh1.sh"),
    "ETTh2": _itransformer(2, 128, "ETT/iTransformer_ETTh2.sh"),
    "ETTm1": _itransformer(2, 128, "ETT/iTransformer_ETTm1.sh"),
    "ETTm2": _itransformer(2, 128, "ETT/iTransformer_ETTm2.sh"),
    "Weather": _itransformer(3, 512, "Weather/iTransformer.sh"),
    "Exchange": _itransformer(2, 128, "Exchange/iTransformer.sh"),
}


def _check_model(model_name: str) -> str:
    if model_name not in NF_MODELS:
        raise ValueError(f"Unknown neuralforecast peer {model_name!r}; choose among {', '.join(NF_MODELS)}.")
    return model_name


def peer_setting(model_name: str, dataset: str, horizon: int = 96) -> PeerSetting:
    """The paper setting of a peer for a data set (module docstring); unknown data sets get the ETTh1 setting.

    Parameters
    ----------
    model_name
        ``"PatchTST"`` or ``"iTransformer"``.
    dataset
        Data set name, e.g. ``"ETTh1"``.
    horizon
        Forecast horizon (iTransformer's ETTh1 script widens to 512 for H = 336 and 720).

    Raises
    ------
    ValueError
        For an unknown model name.
    """
    _check_model(model_name)
    if model_name == "PatchTST":
        return PATCHTST_SETTINGS.get(dataset, PATCHTST_SETTINGS["ETTh1"])
    if dataset == "ETTh1" and horizon >= 336:
        return _itransformer(2, 512, "ETT/iTransformer_ETTh1.sh (H >= 336 line)")
    return ITRANSFORMER_SETTINGS.get(dataset, _itransformer(2, 128, "ETT/iTransformer_ETTh2.sh (default)"))


def lr_factor(schedule: str, epoch: int) -> float:
    """Learning-rate multiplier of a paper schedule in a 0-based epoch (the step schedules only).

    ``type1``: the scripts' ``adjust_learning_rate(epoch + 1)`` after every epoch sets ``lr * 0.5 ** epoch``, so
    epochs 0 and 1 use the initial rate and every later epoch halves it. ``type3``: the initial rate up to epoch 3,
    then ``0.9 ** (epoch - 3)``.

    Raises
    ------
    ValueError
        For another schedule name or a negative epoch.
    """
    if epoch < 0:
        raise ValueError(f"epoch must be non-negative; got {epoch}.")
    if schedule == "type1":
        return ReferenceLRSchedule()(epoch)
    if schedule == "type3":
        return 0.9 ** max(epoch - 3, 0)
    raise ValueError(f"Unknown step schedule {schedule!r}; expected 'type1' or 'type3' ('TST' is one-cycle).")


class _EpochLambda:
    """``LambdaLR`` multiplier over steps: the paper schedule (or ``gamma ** epoch``) of the step's epoch."""

    def __init__(self, steps: int, schedule: str, gamma: float | None) -> None:
        self.steps, self.schedule, self.gamma = steps, schedule, gamma

    def __call__(self, step: int) -> float:
        epoch = step // self.steps
        return self.gamma**epoch if self.gamma is not None else lr_factor(self.schedule, epoch)


def steps_per_epoch(n_train_windows: int, batch_size: int) -> int:
    """Optimiser steps in one epoch: ``ceil(n_train_windows / batch_size)`` (a paper loader's batches)."""
    n_train_windows = check_int("n_train_windows", n_train_windows)
    batch_size = check_int("batch_size", batch_size)
    return math.ceil(n_train_windows / batch_size)


def make_windows(values: np.ndarray, input_length: int, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """Every stride-1 (input, target) window of a ``(rows, channels)`` array, as ``evaluate_windows`` forms them.

    Window ``i`` takes rows ``[i, i + L)`` as input and rows ``[i + L, i + L + H)`` as targets, for
    ``i = 0 .. count_windows(rows, L, H) - 1``.

    Returns
    -------
    tuple of numpy.ndarray
        ``inputs`` of shape ``(n, L, C)`` and ``targets`` of shape ``(n, H, C)`` (views, no copy).

    Raises
    ------
    ValueError
        When ``values`` is not 2-D or too short for one window.
    """
    values = np.asarray(values)
    if values.ndim != 2:
        raise ValueError(f"values must be a (rows, channels) array; got shape {values.shape}.")
    n = count_windows(len(values), input_length, horizon)
    if n == 0:
        raise ValueError(f"{len(values)} rows are too few for one window of {input_length} inputs + {horizon} steps.")
    windows = np.lib.stride_tricks.sliding_window_view(values, input_length + horizon, axis=0)  # (n, C, L + H)
    windows = windows.transpose(0, 2, 1)
    return windows[:n, :input_length], windows[:n, input_length:]


def predict_windows(model: Any, inputs: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Forecasts of a trained neuralforecast PatchTST / iTransformer for ``(n, L, C)`` input windows.

    Calls the network in evaluation mode on batches of windows (PatchTST: every channel of a window as one
    univariate series). Returns an ``(n, H, C)`` float64 array.
    """
    import torch

    batch_size = check_int("batch_size", batch_size)
    inputs = np.asarray(inputs, dtype=np.float32)
    if inputs.ndim != 3:
        raise ValueError(f"inputs must be (windows, input_length, channels); got shape {inputs.shape}.")
    n, length, channels = inputs.shape
    multivariate = bool(getattr(model, "MULTIVARIATE", False))
    was_training = model.training
    model.eval()
    outputs = []
    try:
        with torch.no_grad():
            for first in range(0, n, batch_size):
                chunk = torch.from_numpy(np.array(inputs[first : first + batch_size], dtype=np.float32))
                rows = chunk.shape[0]
                x = chunk if multivariate else chunk.permute(0, 2, 1).reshape(rows * channels, length, 1)
                batch = {"insample_y": x, "insample_mask": torch.ones_like(x), "futr_exog": None, "hist_exog": None,
                         "stat_exog": None}
                y = model.loss.domain_map(model(batch))
                if not multivariate:
                    y = y.reshape(rows, channels, -1).permute(0, 2, 1)
                outputs.append(y.numpy().astype(np.float64))
    finally:
        model.train(was_training)
    return np.concatenate(outputs)


def build_nf_model(
    model_name: str,
    dataset: str,
    horizon: int,
    n_series: int,
    n_train_windows: int,
    epochs: int,
    patience: int,
    seed: int = 0,
    lr_gamma: float | None = None,
    trainer_kwargs: dict[str, Any] | None = None,
) -> tuple[Any, Any, Any, PeerSetting, int]:
    """Build an untrained neuralforecast peer with the settings and step conversion of the module docstring.

    Returns
    -------
    tuple
        ``(model, epoch_timer, best_weights, setting, steps_per_epoch)``.

    Raises
    ------
    ImportError
        When neuralforecast is not installed (the message names the extra to install).
    ValueError
        For an unknown model or a non-positive count.
    """
    _check_model(model_name)
    horizon = check_int("horizon", horizon)
    n_series = check_int("n_series", n_series)
    epochs = check_int("epochs", epochs)
    patience = check_int("patience", patience)
    if lr_gamma is not None and not 0 < lr_gamma <= 1:
        raise ValueError(f"lr_gamma must be in (0, 1] or None (the paper's schedule); got {lr_gamma}.")
    try:
        import neuralforecast.models as nf_models
        from neuralforecast.losses.pytorch import MSE
    except ImportError as error:
        raise ImportError(f"{_INSTALL_HINT} ({error}).") from None
    import torch

    from crossscale_ext._lightning import QUIET_TRAINER_KWARGS

    setting = peer_setting(model_name, dataset, horizon)
    steps = steps_per_epoch(n_train_windows, setting.batch_size)
    max_steps = epochs * steps
    if setting.schedule == "TST" and lr_gamma is None:
        scheduler: Any = torch.optim.lr_scheduler.OneCycleLR
        # +1: Lightning steps the scheduler after every one of the max_steps optimiser steps
        scheduler_kwargs: dict[str, Any] = {"max_lr": setting.learning_rate, "total_steps": max_steps + 1,
                                            "pct_start": setting.pct_start}
    else:
        scheduler = torch.optim.lr_scheduler.LambdaLR
        scheduler_kwargs = {"lr_lambda": _EpochLambda(steps, setting.schedule, lr_gamma)}
    timer, best = training_callbacks(monitor="ptl/val_loss")
    pl_kwargs = {**QUIET_TRAINER_KWARGS, "accelerator": "cpu", "devices": 1, "num_sanity_val_steps": 0,
                 **(trainer_kwargs or {})}
    pl_kwargs["callbacks"] = list(pl_kwargs.get("callbacks", [])) + [timer, best]
    common: dict[str, Any] = {
        "h": horizon, "input_size": INPUT_LENGTH, "loss": MSE(), "valid_loss": MSE(), "max_steps": max_steps,
        "learning_rate": setting.learning_rate, "early_stop_patience_steps": patience, "val_check_steps": steps,
        "scaler_type": "identity", "random_seed": seed, "lr_scheduler": scheduler,
        "lr_scheduler_kwargs": scheduler_kwargs, **pl_kwargs,
    }
    with warnings.catch_warnings():  # Lightning: "Attribute 'callbacks' removed from hparams" (not picklable)
        warnings.filterwarnings("ignore", message=".*removed from hparams.*")
        model = _construct(nf_models, model_name, setting, n_series, common)
    return model, timer, best, setting, steps


def _construct(nf_models: Any, model_name: str, setting: PeerSetting, n_series: int, common: dict[str, Any]) -> Any:
    if model_name == "PatchTST":  # univariate: each step draws batch x n_series windows from all channels
        return nf_models.PatchTST(**setting.architecture, batch_size=n_series, valid_batch_size=n_series,
                                  windows_batch_size=setting.batch_size * n_series,
                                  inference_windows_batch_size=1024, **common)
    return nf_models.iTransformer(**setting.architecture, n_series=n_series, batch_size=n_series,
                                  windows_batch_size=setting.batch_size, inference_windows_batch_size=256, **common)


def _split_values(data: Any, horizon: int, quick: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Train, validation and test arrays (the --quick subsets of ``crossscale bench forecast`` when ``quick``)."""
    train, val, test = data.train, data.val, data.test
    if quick:
        train = train[-QUICK_TRAIN_ROWS:]
        val = val[: INPUT_LENGTH + horizon + QUICK_VAL_WINDOWS - 1]
        test = test[: INPUT_LENGTH + horizon + QUICK_TEST_WINDOWS - 1]
    return (np.asarray(train.values(copy=False), dtype=np.float32), np.asarray(val.values(copy=False), np.float32),
            np.asarray(test.values(copy=False), dtype=np.float32))


def _long_frame(values: np.ndarray, columns: list[str]) -> Any:
    """The long data frame of neuralforecast (unique_id, ds, y): one series per channel, integer time stamps."""
    import pandas as pd

    rows, channels = values.shape
    return pd.DataFrame({
        "unique_id": np.repeat(np.asarray(columns, dtype=object), rows),
        "ds": np.tile(np.arange(rows, dtype=np.int64), channels),
        "y": values.T.reshape(-1).astype(np.float32),
    })


def run_neuralforecast_peer(
    model_name: str,
    data: Any,
    horizon: int,
    epochs: int = 20,
    patience: int = 3,
    seed: int = 0,
    quick: bool = False,
    lr_gamma: float | None = None,
    trainer_kwargs: dict[str, Any] | None = None,
    latency_repeats: int | None = None,
    score_test: bool = True,
) -> dict[str, Any]:
    """Train, evaluate and time one neuralforecast peer on one data set and horizon.

    Parameters
    ----------
    model_name
        ``"PatchTST"`` or ``"iTransformer"`` (:data:`NF_MODELS`).
    data
        A :class:`~crossscale_ext.datasets.long_horizon.LongHorizonData` loaded with ``input_length=96``.
    horizon
        Forecast horizon ``H``.
    epochs, patience
        Maximum epochs and early-stopping patience on the validation loss (epochs converted to steps as the
        module docstring says).
    seed
        neuralforecast's ``random_seed``.
    quick
        Use the ``--quick`` subsets of ``crossscale bench forecast`` (the last 1,024 training rows, 128 validation
        and 256 test windows); numbers are not benchmark results.
    lr_gamma
        ``None``: the paper's schedule; a float: multiply the rate by it after every epoch (the Darts peers' rule).
    trainer_kwargs
        Extra Lightning ``Trainer`` arguments.
    latency_repeats
        Timed repeats of the latency measurements (default 2 when ``quick``, else 5).
    score_test
        ``False`` (``crossscale bench forecast --no-test``, for choosing settings): the test split is not scored
        (``mse`` / ``mae`` NaN, ``n_test_windows`` 0); the validation scores are always computed.

    Returns
    -------
    dict
        The fields of :class:`crossscale_ext.benchmarks.forecast.BenchmarkRow`: ``dataset``, ``horizon``,
        ``model``, ``mse``, ``mae``, ``n_test_windows``, ``parameters``, ``epochs_run``, ``best_epoch``,
        ``train_seconds_per_epoch``, ``latency_ms_batch1``, ``latency_ms_batch32``, ``peak_memory_mb``,
        ``learning_rate``, ``val_mse``, ``val_mae`` (the validation scores are over every validation window, with
        the restored best weights).

    Raises
    ------
    ImportError
        When neuralforecast is not installed.
    ValueError
        For an unknown model, a lookback other than 96, or splits too short for the horizon.
    """
    from crossscale_ext.benchmarks.harness import PeakMemory

    _check_model(model_name)
    horizon = check_int("horizon", horizon)
    if int(getattr(data, "input_length", -1)) != INPUT_LENGTH:
        raise ValueError(f"data must be loaded with input_length={INPUT_LENGTH} (load_long_horizon(name, 96)); got "
                         f"{getattr(data, 'input_length', None)!r}.")
    train, val, test = _split_values(data, horizon, quick)
    n_train_windows = count_windows(len(train), INPUT_LENGTH, horizon)
    n_val = len(val) - INPUT_LENGTH
    for split, array in (("train", train), ("validation", val), ("test", test)):
        if count_windows(len(array), INPUT_LENGTH, horizon) == 0:
            raise ValueError(f"The {split} split of {data.name} has {len(array)} rows, too few for one window of "
                             f"{INPUT_LENGTH} inputs + {horizon} steps; use a shorter horizon.")
    if not np.array_equal(train[-INPUT_LENGTH:], val[:INPUT_LENGTH]):
        raise ValueError("data.val must start input_length rows before the end of data.train (load_long_horizon's "
                         "borders); got splits that do not overlap that way.")
    model, timer, best, setting, _steps = build_nf_model(
        model_name, data.name, horizon, n_series=train.shape[1], n_train_windows=n_train_windows, epochs=epochs,
        patience=patience, seed=seed, lr_gamma=lr_gamma, trainer_kwargs=trainer_kwargs)
    from neuralforecast.tsdataset import TimeSeriesDataset

    fit_values = np.concatenate([train, val[INPUT_LENGTH:]])  # train rows, then the validation rows after them
    columns = [f"c{i:03d}" for i in range(train.shape[1])]  # sorted like the channels: neuralforecast sorts ids
    dataset, *_ = TimeSeriesDataset.from_df(_long_frame(fit_values, columns))
    inputs, targets = make_windows(test, INPUT_LENGTH, horizon)
    with PeakMemory() as memory, warnings.catch_warnings():
        warnings.filterwarnings("ignore", module=r"(pytorch_lightning|lightning|neuralforecast)(\..*)?")
        model.fit(dataset, val_size=n_val)
        if best.state is not None:
            model.load_state_dict(best.state)
        val_mse, val_mae = _scores(model, *make_windows(val, INPUT_LENGTH, horizon))
        test_mse, test_mae = _scores(model, inputs, targets) if score_test else (float("nan"), float("nan"))
    repeats = check_int("latency_repeats", latency_repeats if latency_repeats is not None else (2 if quick else 5))
    return {
        "dataset": data.name,
        "horizon": horizon,
        "model": model_name,
        "mse": test_mse,
        "mae": test_mae,
        "n_test_windows": int(len(inputs)) if score_test else 0,
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "epochs_run": int(best.epochs),
        "best_epoch": int(best.best_epoch),
        "train_seconds_per_epoch": statistics.mean(timer.seconds) if timer.seconds else float("nan"),
        "latency_ms_batch1": median_ms(lambda: predict_windows(model, inputs[-1:]), repeats),
        "latency_ms_batch32": median_ms(lambda: predict_windows(model, inputs[:32]), repeats),
        "peak_memory_mb": memory.megabytes,
        "learning_rate": setting.learning_rate,
        "val_mse": val_mse,
        "val_mae": val_mae,
    }


def _scores(model: Any, inputs: np.ndarray, targets: np.ndarray) -> tuple[float, float]:
    """MSE and MAE over every window, step and channel (float64 sums)."""
    error = predict_windows(model, inputs) - targets.astype(np.float64)
    return float(np.square(error).mean()), float(np.abs(error).mean())
