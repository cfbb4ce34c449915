"""``crossscale bench speed``: training and inference speed of CrossScaleNet against its peers, in one process.

Everything is measured in one run of one process with interleaved repeats (every timed task runs once per round,
rounds repeat ``--repeats`` times, the median is reported), so that load from other jobs on the machine affects
every model alike. Use one torch thread (``crossscale --threads 1``, the default) for figures comparable across
machines.

What is measured:

- **Networks** (plain torch modules, no Darts or Lightning): parameters, a training step (forward, MSE loss,
  backward, Adam step; ``fused=True``, the package's default, and torch's default implementation) and a no-grad
  forward pass, on a batch of ``--batch-size`` windows, at the ETTh1 shape (``--input-length`` / ``--horizon`` /
  ``--channels``, default L = H = 96, 7 channels) and at a long shape (``--long-input-length`` /
  ``--long-horizon``, default L = 512, H = 720). Peers: Darts' own DLinear and TSMixer modules (the settings of
  ``crossscale bench forecast``), and neuralforecast's iTransformer and PatchTST (the settings of
  :mod:`~crossscale_ext.benchmarks.nf_peers`, skipped with a printed reason when neuralforecast is missing), plus
  ``iTransformer-128``: iTransformer at width 128, the setting of the data sets other than ETTh1.
- **Saliency pass**: CrossScaleNet's attention and gradient maps (one forward pass with autograd on the inputs, the
  maps, one backward pass), per window, against a plain no-grad forward pass of the same windows.
- **Darts**: ``fit`` seconds per epoch (the last of ``--fit-epochs``) on the first ``--fit-rows`` rows of the ETTh1
  training split (a synthetic series of the same shape when the file is not found), and ``predict`` latency for 1
  and 32 series, for CrossScaleNet, DLinear and TSMixer.
- **Growth**: the forward and training-step times at twice the lookback, twice the horizon and three times the
  channels, and the ``predict`` latency of 32 series, each divided by its figure at the ETTh1 shape.

``--baseline PATH`` imports the network of another checkout (``PATH/crossscale_ext/network.py``, e.g. an older
version exported with ``git archive``) and times it beside the current one: in the network tables, in the saliency
pass and inside the current Darts model for ``fit`` (with torch's default Adam, the earlier default) and
``predict``. ``--device cuda`` (or ``--accelerator gpu``) runs everything on a GPU and checks that the forecasts and
saliency maps match a CPU run of the same weights.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = ["NETWORKS", "DARTS_MODELS", "Shape", "add_arguments", "load_baseline_network", "run"]

#: the networks of the tables, in order (the baseline, when given, follows CrossScaleNet)
NETWORKS: tuple[str, ...] = ("CrossScaleNet", "DLinear", "TSMixer", "iTransformer", "iTransformer-128", "PatchTST")
#: the models trained and used for prediction through Darts
DARTS_MODELS: tuple[str, ...] = ("CrossScaleNet", "DLinear", "TSMixer")
BASELINE = "CrossScaleNet (baseline)"
#: the reference networks of the targets: iTransformer with the ETTh1 setting (width 256, 512 for H >= 336) and the
#: narrower one of the other data sets' settings (width 128)
REFERENCE_PEER = "iTransformer"
NARROW_PEER = "iTransformer-128"
#: targets: training step and forward pass at most this many times the reference peer's; Darts fit at most this
#: fraction of the baseline's
STEP_TARGET, FORWARD_TARGET, FORWARD_GOAL, FIT_TARGET, SALIENCY_TARGET = 1.3, 1.3, 1.0, 0.5, 2.0


@dataclass(frozen=True)
class Shape:
    """One timed input shape.

    Attributes
    ----------
    name
        Label in the tables.
    input_length, horizon, channels, batch
        ``L``, ``H``, ``C`` and the windows per batch.
    """

    name: str
    input_length: int
    horizon: int
    channels: int
    batch: int


# ------------------------------------------------------------------------------------------------ options
def _positive(text: str) -> int:
    from crossscale_ext.cli import positive_int

    return positive_int(text)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's options."""
    parser.add_argument("--input-length", type=_positive, default=96, help="lookback L of the main shape (96)")
    parser.add_argument("--horizon", type=_positive, default=96, help="horizon H of the main shape (96)")
    parser.add_argument("--channels", type=_positive, default=7, help="channels of every shape (7, as ETTh1)")
    parser.add_argument("--batch-size", type=_positive, default=32, help="windows per batch (32)")
    parser.add_argument("--long-input-length", type=_positive, default=512, help="lookback of the long shape (512)")
    parser.add_argument("--long-horizon", type=_positive, default=720, help="horizon of the long shape (720)")
    parser.add_argument("--repeats", type=_positive, default=7,
                        help="timed rounds; every figure is the median over them (7)")
    parser.add_argument("--networks", nargs="+", default=list(NETWORKS), choices=NETWORKS,
                        help="networks to time (default: all; CrossScaleNet is always timed)")
    parser.add_argument("--fit-rows", type=_positive, default=2000,
                        help="rows of the ETTh1 training split that Darts fits on (2000)")
    parser.add_argument("--fit-epochs", type=_positive, default=2,
                        help="epochs per Darts fit; the last one is timed (2)")
    parser.add_argument("--fit-repeats", type=_positive, default=3, help="interleaved Darts fits per model (3)")
    parser.add_argument("--no-darts", action="store_true", help="skip the Darts fit and predict timings")
    parser.add_argument("--no-growth", action="store_true", help="skip the growth ratios")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="folder holding ETTh1.csv (default: $CROSSSCALE_DATA_DIR; synthetic data if absent)")
    parser.add_argument("--baseline", type=Path, default=None, metavar="PATH",
                        help="a checkout whose crossscale_ext/network.py is timed beside the current network")
    parser.add_argument("--device", default=None,
                        help="torch device: cpu (default), cuda or cuda:N; the networks and the Darts trainer use it")
    parser.add_argument("--accelerator", choices=("cpu", "gpu"), default=None,
                        help="gpu is --device cuda (the first GPU); cpu is the default")
    parser.add_argument("--seed", type=int, default=0, help="seed of weights and data (0)")
    parser.add_argument("--out", type=Path, default=None, help="write OUT/speed.json and OUT/speed.md")


def _check_args(args: argparse.Namespace) -> tuple[str, Any]:
    """Validate the options that argparse cannot; returns ``(device, baseline network class or None)``."""
    import torch

    from crossscale_ext.config import ArchitectureConfig

    if args.device is not None and args.accelerator is not None:
        raise SystemExit("crossscale bench speed: give --device or --accelerator, not both.")
    device = args.device or ("cuda" if args.accelerator == "gpu" else "cpu")
    try:
        parsed = torch.device(device)
    except RuntimeError as error:
        raise SystemExit(f"crossscale bench speed: --device {device!r} is not a torch device ({error}).") from None
    if parsed.type not in ("cpu", "cuda"):
        raise SystemExit(f"crossscale bench speed: --device must be cpu or cuda[:N]; got {device!r}.")
    if parsed.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("crossscale bench speed: a GPU was asked for but torch sees none (torch.cuda.is_available() "
                         "is False).")
    config = ArchitectureConfig()
    for label, length, horizon in (("", args.input_length, args.horizon),
                                   ("long-", args.long_input_length, args.long_horizon)):
        try:
            config.validate(length, horizon)
            config.validate(2 * length, horizon)
        except ValueError as error:
            raise SystemExit(f"crossscale bench speed: --{label}input-length: {error}") from None
    baseline = None
    if args.baseline is not None:
        try:
            baseline = load_baseline_network(args.baseline)
        except (FileNotFoundError, ImportError, AttributeError) as error:
            raise SystemExit(f"crossscale bench speed: --baseline {args.baseline}: {error}") from None
    return device, baseline


def load_baseline_network(checkout: Path) -> type:
    """Import ``CrossScaleNet`` from another checkout's ``crossscale_ext/network.py``, beside the current one.

    The checkout's ``crossscale_ext`` package is imported under its own name for the duration of the import (so its
    network uses its own ``config``), then the current package's modules are put back; the returned class keeps
    the checkout's modules alive.

    Parameters
    ----------
    checkout
        The folder holding ``crossscale_ext/`` (e.g. ``git archive 8e83f20 | tar -x -C /tmp/before``).

    Raises
    ------
    FileNotFoundError
        When ``checkout/crossscale_ext/network.py`` does not exist.
    """
    checkout = Path(checkout).resolve()
    if not (checkout / "crossscale_ext" / "network.py").is_file():
        raise FileNotFoundError(f"no crossscale_ext/network.py under {checkout}")
    saved = {name: module for name, module in sys.modules.items()
             if name == "crossscale_ext" or name.startswith("crossscale_ext.")}
    for name in saved:
        del sys.modules[name]
    sys.path.insert(0, str(checkout))
    try:
        network = importlib.import_module("crossscale_ext.network")
        importlib.import_module("crossscale_ext.config")
    finally:
        sys.path.remove(str(checkout))
        for name in [n for n in sys.modules if n == "crossscale_ext" or n.startswith("crossscale_ext.")]:
            del sys.modules[name]
        sys.modules.update(saved)
    if not str(Path(network.__file__).resolve()).startswith(str(checkout)):
        raise ImportError(f"imported {network.__file__} instead of the checkout's network")
    return network.CrossScaleNet


# ------------------------------------------------------------------------------------------------ timing
def _synchronize(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def time_interleaved(tasks: dict[Any, Callable[[], Any]], repeats: int, device: str, warmup: int = 2
                     ) -> dict[Any, float]:
    """Median milliseconds of every task over ``repeats`` rounds; each round runs every task once, in turn.

    Parameters
    ----------
    tasks
        Label -> a callable without arguments.
    repeats
        Rounds.
    device
        Synchronised around every call when it is a GPU.
    warmup
        Untimed calls of every task first.
    """
    for task in tasks.values():
        for _ in range(warmup):
            task()
    timings: dict[Any, list[float]] = {key: [] for key in tasks}
    for _ in range(repeats):
        for key, task in tasks.items():
            _synchronize(device)
            start = time.perf_counter()
            task()
            _synchronize(device)
            timings[key].append((time.perf_counter() - start) * 1000.0)
    return {key: statistics.median(values) for key, values in timings.items()}


# ------------------------------------------------------------------------------------------------ networks
@dataclass
class TimedNetwork:
    """A network under test: its module and a function from input windows ``(B, L, C)`` to ``(B, H, C)``."""

    name: str
    module: Any
    forecast: Callable[[Any], Any]

    @property
    def n_parameters(self) -> int:
        """Number of trainable parameters."""
        return sum(p.numel() for p in self.module.parameters() if p.requires_grad)


def _darts_module(name: str, shape: Shape) -> Any:
    """Darts' own Lightning module of DLinear or TSMixer (the ``crossscale bench forecast`` settings)."""
    import numpy as np
    from darts import TimeSeries
    from darts.models import DLinearModel, TSMixerModel
    from darts.models.forecasting.torch_forecasting_model import _as_training_sample

    common = {"input_chunk_length": shape.input_length, "output_chunk_length": shape.horizon}
    if name == "DLinear":
        model = DLinearModel(shared_weights=True, kernel_size=25, const_init=False, **common)
    else:
        model = TSMixerModel(hidden_size=64, ff_size=64, num_blocks=2, dropout=0.1, norm_type="TimeBatchNorm2d",
                             activation="ReLU", use_reversible_instance_norm=True, **common)
    series = TimeSeries.from_values(np.zeros((shape.input_length + shape.horizon, shape.channels), dtype="float32"))
    dataset = model._build_train_dataset(series=[series], past_covariates=None, future_covariates=None,
                                         sample_weight=None, max_samples_per_ts=None)
    sample = _as_training_sample(dataset[0])
    model.train_sample = sample
    model.pl_module_params["train_sample_shape"] = sample.sample_shapes()
    return model._create_model(sample)


def _nf_module(name: str, shape: Shape) -> Any:
    """The iTransformer or PatchTST of neuralforecast, as :mod:`~crossscale_ext.benchmarks.nf_peers` sets them."""
    import neuralforecast.models as nf_models
    from neuralforecast.losses.pytorch import MSE

    from crossscale_ext._lightning import QUIET_TRAINER_KWARGS, quiet_lightning
    from crossscale_ext.benchmarks.nf_peers import peer_setting

    setting = peer_setting("iTransformer" if name == NARROW_PEER else name, "ETTh1", shape.horizon)
    architecture = {**setting.architecture, **({"hidden_size": 128, "d_ff": 128} if name == NARROW_PEER else {})}
    common = {"h": shape.horizon, "input_size": shape.input_length, "loss": MSE(), "max_steps": 1,
              "scaler_type": "identity", "random_seed": 0, **QUIET_TRAINER_KWARGS, "accelerator": "cpu"}
    with quiet_lightning():
        if name in (REFERENCE_PEER, NARROW_PEER):
            return nf_models.iTransformer(**architecture, n_series=shape.channels, **common)
        return nf_models.PatchTST(**architecture, **common)


def build_network(name: str, shape: Shape, device: str, baseline: type | None = None) -> TimedNetwork:
    """One network of :data:`NETWORKS` (or the baseline) for ``shape``, on ``device``.

    Raises
    ------
    ImportError
        For iTransformer and PatchTST when neuralforecast is not installed.
    """
    import torch

    if name in ("CrossScaleNet", BASELINE):
        cls = baseline if name == BASELINE else importlib.import_module("crossscale_ext.network").CrossScaleNet
        net = cls(input_length=shape.input_length, output_length=shape.horizon, n_channels=shape.channels).to(device)
        return TimedNetwork(name, net, lambda x: net(x).forecast[..., 0])
    if name in ("DLinear", "TSMixer"):
        from darts.utils.data.torch_datasets.utils import PLModuleInput

        module = _darts_module(name, shape).to(device)
        return TimedNetwork(name, module, lambda x: module(PLModuleInput(past_target=x)).prediction[..., 0])
    module = _nf_module(name, shape).to(device)
    channels = shape.channels

    def forecast(x: torch.Tensor) -> torch.Tensor:
        batch, length, _ = x.shape
        rows = x if module.MULTIVARIATE else x.transpose(1, 2).reshape(batch * channels, length, 1)
        windows = {"insample_y": rows, "insample_mask": torch.ones_like(rows), "futr_exog": None,
                   "hist_exog": None, "stat_exog": None}
        y = module.loss.domain_map(module(windows))
        return y if module.MULTIVARIATE else y.reshape(batch, channels, -1).transpose(1, 2)

    return TimedNetwork(name, module, forecast)


def _network_tasks(net: TimedNetwork, shape: Shape, device: str, seed: int, optimizers: tuple[str, ...]
                   ) -> dict[str, Callable[[], Any]]:
    """The timed calls of one network: ``forward`` and ``step (<optimizer>)`` for every optimiser asked for."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(shape.batch, shape.input_length, shape.channels, generator=generator).to(device)
    y = torch.randn(shape.batch, shape.horizon, shape.channels, generator=generator).to(device)
    module = net.module

    def forward() -> None:
        module.eval()
        with torch.no_grad():
            net.forecast(x)

    tasks: dict[str, Callable[[], Any]] = {"forward": forward}
    for kind in optimizers:
        optimizer = torch.optim.Adam(module.parameters(), lr=1e-4, fused=(kind == "fused"))

        def step(optimizer: torch.optim.Optimizer = optimizer) -> None:
            module.train()
            optimizer.zero_grad(set_to_none=True)
            torch.nn.functional.mse_loss(net.forecast(x), y).backward()
            optimizer.step()

        tasks[f"step ({kind})"] = step
    return tasks


def time_networks(names: list[str], shapes: list[Shape], device: str, repeats: int, seed: int,
                  optimizers: tuple[str, ...] = ("fused", "default"), baseline: type | None = None,
                  skipped: dict[str, str] | None = None) -> dict[str, dict[str, dict[str, float]]]:
    """Parameters and median milliseconds of every network at every shape, all interleaved in one timing.

    Returns ``{shape name: {network: {"parameters": n, "forward": ms, "step (fused)": ms, ...}}}``; networks that
    cannot be built are left out and their reason stored in ``skipped``.
    """
    import torch

    tasks: dict[tuple[str, str, str], Callable[[], Any]] = {}
    results: dict[str, dict[str, dict[str, float]]] = {shape.name: {} for shape in shapes}
    for shape in shapes:
        for name in names:
            torch.manual_seed(seed)
            try:
                net = build_network(name, shape, device, baseline)
            except ImportError as error:
                if skipped is not None:
                    skipped[name] = f"not installed ({error})"
                continue
            results[shape.name][name] = {"parameters": net.n_parameters}
            for label, task in _network_tasks(net, shape, device, seed, optimizers).items():
                tasks[(shape.name, name, label)] = task
    for (shape_name, name, label), ms in time_interleaved(tasks, repeats, device).items():
        results[shape_name][name][label] = ms
    return results


# ------------------------------------------------------------------------------------------------ saliency
def time_saliency(shape: Shape, device: str, repeats: int, seed: int, baseline: type | None = None
                  ) -> dict[str, dict[str, float]]:
    """Milliseconds per window of the saliency pass (attention + gradient maps) and of a no-grad forward pass."""
    import torch

    from crossscale_ext.network import CrossScaleNet
    from crossscale_ext.saliency import ATTENTION_MAP_NAMES, GRADIENT_MAP_NAMES, attention_maps, gradient_maps

    tasks: dict[tuple[str, str], Callable[[], Any]] = {}
    x = torch.randn(shape.batch, shape.input_length, shape.channels,
                    generator=torch.Generator().manual_seed(seed)).to(device)
    for name, cls in (("CrossScaleNet", CrossScaleNet), (BASELINE, baseline)):
        if cls is None:
            continue
        torch.manual_seed(seed)
        net = cls(input_length=shape.input_length, output_length=shape.horizon, n_channels=shape.channels)
        net = net.to(device).eval()

        def maps(net: Any = net) -> None:
            inputs = x.detach().clone().requires_grad_(True)
            out = net(inputs)
            attention_maps(net, inputs, out, maps=ATTENTION_MAP_NAMES)
            gradient_maps(inputs, out.forecast[..., 0], maps=GRADIENT_MAP_NAMES)

        def forward(net: Any = net) -> None:
            with torch.no_grad():
                net(x)

        tasks[(name, "saliency")] = maps
        tasks[(name, "forward")] = forward
    results: dict[str, dict[str, float]] = {}
    for (name, label), ms in time_interleaved(tasks, repeats, device).items():
        results.setdefault(name, {})[label] = ms / shape.batch
    for row in results.values():
        row["ratio"] = row["saliency"] / row["forward"]
    return results


# ------------------------------------------------------------------------------------------------ Darts
def _fit_series(rows: int, channels: int, data_dir: Path | None, seed: int) -> tuple[Any, str]:
    """The first ``rows`` rows of the standardised ETTh1 training split, or a synthetic series of the same shape."""
    import os

    import numpy as np
    from darts import TimeSeries

    folder = data_dir if data_dir is not None else os.environ.get("CROSSSCALE_DATA_DIR")
    if folder is not None and channels == 7 and (Path(folder) / "ETTh1.csv").is_file():
        from crossscale_ext.datasets.long_horizon import load_long_horizon

        train = load_long_horizon("ETTh1", data_dir=folder).train
        if len(train) >= rows:
            return train[:rows], f"ETTh1 training split, first {rows} rows"
    rng = np.random.default_rng(seed)
    t = np.arange(rows)[:, None]
    values = np.sin(2 * np.pi * t / 24 + np.arange(channels)) + 0.3 * rng.normal(size=(rows, channels))
    return TimeSeries.from_values(values.astype("float32")), f"synthetic, {rows} rows x {channels} channels"


@contextlib.contextmanager
def _network_class_in_darts_model(cls: type | None) -> Iterator[None]:
    """Inside the block, the current Darts model builds ``cls`` (the baseline network) instead of its own."""
    if cls is None:
        yield
        return
    import crossscale_ext.darts_model as darts_model

    # the checkout's own config class, from the globals its network was defined with (sys.modules holds the current
    # package's modules again, under the same names)
    baseline_config = cls.__init__.__globals__["ArchitectureConfig"]

    def build(*args: Any, config: Any = None, **kwargs: Any) -> Any:
        if config is not None:  # defaults resolved for this window (an older config may not accept None for them)
            input_length = kwargs["input_length"] if "input_length" in kwargs else args[0]
            config = baseline_config.from_params(config.resolved(input_length).as_dict())
        return cls(*args, config=config, **kwargs)

    original = darts_model.CrossScaleNet
    darts_model.CrossScaleNet = build
    try:
        yield
    finally:
        darts_model.CrossScaleNet = original


def _darts_model(name: str, shape: Shape, epochs: int, seed: int, trainer: dict[str, Any], previous_optimizer: bool
                 ) -> Any:
    from darts.models import DLinearModel, TSMixerModel

    from crossscale_ext.darts_model import CrossScaleNetModel

    common = {"input_chunk_length": shape.input_length, "output_chunk_length": shape.horizon,
              "batch_size": shape.batch, "n_epochs": epochs, "random_state": seed, "pl_trainer_kwargs": trainer,
              "optimizer_kwargs": {"lr": 1e-3}}
    if name in ("CrossScaleNet", BASELINE):
        if previous_optimizer:  # torch's default Adam implementation, the earlier default
            common["optimizer_kwargs"] = {"lr": 1e-3, "fused": False}
        return CrossScaleNetModel(**common)
    if name == "DLinear":
        return DLinearModel(shared_weights=True, kernel_size=25, const_init=False, **common)
    return TSMixerModel(hidden_size=64, ff_size=64, num_blocks=2, dropout=0.1, norm_type="TimeBatchNorm2d",
                        activation="ReLU", use_reversible_instance_norm=True, **common)


def time_darts(names: list[str], shape: Shape, device: str, args: argparse.Namespace, baseline: type | None
               ) -> tuple[dict[str, dict[str, float]], str]:
    """Darts ``fit`` seconds per epoch and ``predict`` milliseconds for 1 and 32 series, interleaved."""
    import pytorch_lightning as pl

    from crossscale_ext._lightning import QUIET_TRAINER_KWARGS, quiet_lightning
    from crossscale_ext.maps import TEMPORAL_MAPS

    series, source = _fit_series(args.fit_rows, shape.channels, args.data_dir, args.seed)
    if len(series) < shape.input_length + shape.horizon + 32:
        raise SystemExit(f"crossscale bench speed: --fit-rows {args.fit_rows} is too short for L + H + 32 rows.")

    class EpochTimer(pl.Callback):
        def __init__(self) -> None:
            self.seconds: list[float] = []

        def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
            self.start = time.perf_counter()

        def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
            _synchronize(device)
            self.seconds.append(time.perf_counter() - self.start)

    accelerator = {"accelerator": "cpu"} if device == "cpu" else {
        "accelerator": "gpu", "devices": [int(device.split(":")[1]) if ":" in device else 0]}
    models = (["CrossScaleNet"] + ([BASELINE] if baseline is not None else [])
              + [n for n in names if n in DARTS_MODELS and n != "CrossScaleNet"])
    fit_seconds: dict[str, list[float]] = {name: [] for name in models}
    fitted: dict[str, Any] = {}
    with quiet_lightning():
        for _ in range(args.fit_repeats):
            for name in models:
                timer = EpochTimer()
                trainer = {**QUIET_TRAINER_KWARGS, **accelerator, "callbacks": [timer]}
                with _network_class_in_darts_model(baseline if name == BASELINE else None):
                    model = _darts_model(name, shape, args.fit_epochs, args.seed, trainer, name == BASELINE)
                    model.fit(series, verbose=False)
                fit_seconds[name].append(timer.seconds[-1])
                fitted[name] = model
        step = max(1, (len(series) - shape.input_length) // 32)  # 32 distinct windows as 32 series
        windows = [series[i * step: i * step + shape.input_length] for i in range(32)]
        tasks: dict[tuple[str, int], Callable[[], Any]] = {}
        for name, model in fitted.items():
            for n_series in (1, 32):
                def predict(model: Any = model, n_series: int = n_series) -> None:
                    model.predict(shape.horizon, series=windows[:n_series], batch_size=32, verbose=False)

                tasks[(name, n_series)] = predict
            if name == "CrossScaleNet":  # every window of the fit series: saliency against a plain prediction
                tasks[(name, "historical")] = lambda model=model: model.historical_forecasts(
                    series, forecast_horizon=shape.horizon, stride=1, retrain=False, last_points_only=False,
                    overlap_end=False, verbose=False, show_warnings=False)
                tasks[(name, "saliency")] = lambda model=model: model.saliency(series, windows="all",
                                                                               maps=TEMPORAL_MAPS)
        latency = time_interleaved(tasks, args.repeats, device, warmup=1)
    results = {name: {"fit_s_per_epoch": statistics.median(fit_seconds[name]),
                      "predict_ms_1": latency[(name, 1)], "predict_ms_32": latency[(name, 32)]} for name in models}
    if ("CrossScaleNet", "saliency") in latency:
        results["CrossScaleNet"].update(
            saliency_windows=len(series) - shape.input_length - shape.horizon + 1,
            saliency_s=latency[("CrossScaleNet", "saliency")] / 1000,
            historical_s=latency[("CrossScaleNet", "historical")] / 1000,
        )
    return results, source


# ------------------------------------------------------------------------------------------------ device check
def check_device(shape: Shape, device: str, seed: int) -> dict[str, Any]:
    """Run CrossScaleNet and its maps on ``device`` and on the CPU with the same weights; report the differences."""
    import numpy as np
    import torch

    from crossscale_ext.network import CrossScaleNet
    from crossscale_ext.saliency import ATTENTION_MAP_NAMES, GRADIENT_MAP_NAMES, attention_maps, gradient_maps

    torch.manual_seed(seed)
    net = CrossScaleNet(input_length=shape.input_length, output_length=shape.horizon, n_channels=shape.channels).eval()
    x = torch.randn(shape.batch, shape.input_length, shape.channels, generator=torch.Generator().manual_seed(seed))

    def outputs(net: Any, x: Any) -> dict[str, np.ndarray]:
        x = x.clone().requires_grad_(True)
        out = net(x)
        maps = attention_maps(net, x, out, maps=ATTENTION_MAP_NAMES)
        found = {"forecast": out.forecast.detach().cpu().numpy(),
                 **gradient_maps(x, out.forecast[..., 0], maps=GRADIENT_MAP_NAMES)}
        found.update({k: getattr(maps, k) for k in ("paper", "per_step", "per_component")})
        return found

    on_cpu = outputs(net, x)
    on_device = outputs(net.to(device), x.to(device))
    report: dict[str, Any] = {}
    for key, expected in on_cpu.items():
        actual = on_device[key]
        atol = 1e-5 * float(np.abs(expected).max()) + 1e-7
        report[key] = {"max_abs_difference": float(np.abs(actual - expected).max()),
                       "match": bool(np.allclose(actual, expected, rtol=1e-4, atol=atol))}
    return report


# ------------------------------------------------------------------------------------------------ report
def _machine() -> dict[str, Any]:
    from crossscale_ext.benchmarks.memory import _machine as machine

    return machine()


def _fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _markdown(report: dict[str, Any]) -> str:
    machine = report["machine"]
    lines = [f"Command: `{report['command']}`  ",
             f"Machine: {machine['cpu']}, {machine['cores']} cores, torch {machine['torch']} with "
             f"{machine['torch_threads']} thread(s), device {report['device']}; {report['date']}.", ""]
    for skipped, reason in report["skipped"].items():
        lines.append(f"- {skipped} skipped: {reason}")
    for shape_name, rows in report["networks"].items():
        shape = report["shapes"][shape_name]
        reference = rows.get(REFERENCE_PEER)
        lines += ["", f"**Networks, {shape_name}** (L = {shape['input_length']}, H = {shape['horizon']}, "
                  f"{shape['channels']} channels, batch {shape['batch']}; median ms)", "",
                  "| network | parameters | train step, fused Adam | train step, torch default Adam | no-grad forward "
                  f"| step / {REFERENCE_PEER} | forward / {REFERENCE_PEER} |", "|---|---|---|---|---|---|---|"]
        for name, row in rows.items():
            step_ratio = row["step (fused)"] / reference["step (fused)"] if reference else None
            forward_ratio = row["forward"] / reference["forward"] if reference else None
            lines.append(f"| {name} | {row['parameters']:,} | {_fmt(row['step (fused)'])} | "
                         f"{_fmt(row.get('step (default)'))} | {_fmt(row['forward'])} | {_fmt(step_ratio, 2)} | "
                         f"{_fmt(forward_ratio, 2)} |")
    if report["saliency"]:
        lines += ["", "**Saliency pass** (attention and gradient maps, per window; main shape)", "",
                  "| network | saliency ms / window | no-grad forward ms / window | ratio |", "|---|---|---|---|"]
        for name, row in report["saliency"].items():
            lines.append(f"| {name} | {row['saliency']:.3f} | {row['forward']:.3f} | {row['ratio']:.1f} |")
    if report["darts"]:
        lines += ["", f"**Darts** (main shape; fit on {report['fit_data']}, {report['fit_epochs']} epochs, the last "
                  "timed, median of the fits; predict median ms)", "",
                  "| model | fit s / epoch | predict 1 series (ms) | predict 32 series (ms) |", "|---|---|---|---|"]
        for name, row in report["darts"].items():
            lines.append(f"| {name} | {row['fit_s_per_epoch']:.2f} | {row['predict_ms_1']:.1f} | "
                         f"{row['predict_ms_32']:.1f} |")
        mine = report["darts"].get("CrossScaleNet", {})
        if "saliency_s" in mine:
            lines += ["", f"**Saliency through Darts** (every window of the fit series, {mine['saliency_windows']:,} "
                      f"windows: `saliency(windows=\"all\")` with every map against `historical_forecasts"
                      f"(retrain=False)` of the same windows; median s)", "",
                      "| saliency (s) | historical_forecasts (s) | ratio |", "|---|---|---|",
                      f"| {mine['saliency_s']:.2f} | {mine['historical_s']:.2f} | "
                      f"{mine['saliency_s'] / mine['historical_s']:.2f} |"]
    if report["growth"]:
        lines += ["", "**Growth** (time at the changed shape / time at the main shape)", "",
                  "| network | forward 2 L | forward 2 H | forward 3 C | step 2 L | step 2 H | step 3 C | "
                  "predict 32 / 1 series |", "|---|---|---|---|---|---|---|---|"]
        for name, row in report["growth"].items():
            cells = [_fmt(row.get(key), 2) for key in ("forward 2L", "forward 2H", "forward 3C", "step 2L", "step 2H",
                                                       "step 3C", "series 32/1")]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "**Targets**", "", "| target | measured | met |", "|---|---|---|"]
    for row in report["targets"]:
        lines.append(f"| {row['target']} | {row['measured']} | {row['met']} |")
    if report["device_check"]:
        lines += ["", f"**{report['device']} against the CPU** (same weights; rtol 1e-4)", "",
                  "| output | max abs difference | match |", "|---|---|---|"]
        for key, row in report["device_check"].items():
            lines.append(f"| {key} | {row['max_abs_difference']:.2e} | {'yes' if row['match'] else 'no'} |")
    return "\n".join(lines) + "\n"


def _targets(report: dict[str, Any], main: str) -> list[dict[str, str]]:
    rows = report["networks"].get(main, {})
    targets = []
    mine = rows.get("CrossScaleNet")
    for peer in (REFERENCE_PEER, NARROW_PEER):
        reference = rows.get(peer)
        for label, key, limit in (("training step", "step (fused)", STEP_TARGET),
                                  ("no-grad forward", "forward", FORWARD_TARGET)):
            text = f"{label} <= {limit}x {peer}'s ({main})"
            if mine and reference:
                ratio = mine[key] / reference[key]
                met = "yes" if ratio <= limit else "no"
                if key == "forward":
                    met += f" (goal <= {FORWARD_GOAL}x: {'met' if ratio <= FORWARD_GOAL else 'not met'})"
                targets.append({"target": text, "measured": f"{ratio:.2f}x", "met": met})
            else:
                targets.append({"target": text, "measured": "not measured", "met": "-"})
    saliency = report["saliency"].get("CrossScaleNet")
    text = f"saliency pass <= {SALIENCY_TARGET}x a no-grad forward of the same windows (network level, {main})"
    if saliency:
        met = "yes" if saliency["ratio"] <= SALIENCY_TARGET else "no"
        targets.append({"target": text, "measured": f"{saliency['ratio']:.2f}x", "met": met})
    darts = report["darts"]
    mine = darts.get("CrossScaleNet", {})
    if "saliency_s" in mine:
        ratio = mine["saliency_s"] / mine["historical_s"]
        targets.append({"target": f"saliency pass (every map) <= {SALIENCY_TARGET}x a plain prediction of the same "
                                  f"windows (Darts, {main})", "measured": f"{ratio:.2f}x",
                        "met": "yes" if ratio <= SALIENCY_TARGET else "no"})
    text = f"Darts fit s/epoch <= {FIT_TARGET}x the baseline's ({main})"
    if "CrossScaleNet" in darts and BASELINE in darts:
        ratio = darts["CrossScaleNet"]["fit_s_per_epoch"] / darts[BASELINE]["fit_s_per_epoch"]
        targets.append({"target": text, "measured": f"{ratio:.2f}x", "met": "yes" if ratio <= FIT_TARGET else "no"})
    else:
        targets.append({"target": text, "measured": "not measured (needs --baseline)", "met": "-"})
    return targets


def _command(args: argparse.Namespace, threads: int) -> str:
    """The command line that reproduces this run."""
    parts = [f"crossscale --threads {threads} bench speed", f"--input-length {args.input_length}",
             f"--horizon {args.horizon}", f"--channels {args.channels}", f"--batch-size {args.batch_size}",
             f"--long-input-length {args.long_input_length}", f"--long-horizon {args.long_horizon}",
             f"--repeats {args.repeats}", f"--networks {' '.join(args.networks)}", f"--fit-rows {args.fit_rows}",
             f"--fit-epochs {args.fit_epochs}", f"--fit-repeats {args.fit_repeats}", f"--seed {args.seed}"]
    for flag, value in (("--no-darts", args.no_darts), ("--no-growth", args.no_growth)):
        if value:
            parts.append(flag)
    for flag, value in (("--data-dir", args.data_dir), ("--baseline", args.baseline), ("--device", args.device),
                        ("--accelerator", args.accelerator), ("--out", args.out)):
        if value is not None:
            parts.append(f"{flag} {value}")
    return " ".join(parts)


def run(args: argparse.Namespace) -> int:
    """Time everything, print the tables and write them with ``--out``. Returns 0."""
    import torch

    device, baseline = _check_args(args)
    names = ["CrossScaleNet"] + [n for n in args.networks if n != "CrossScaleNet"]
    timed = names[:1] + ([BASELINE] if baseline is not None else []) + names[1:]
    main = Shape("main shape", args.input_length, args.horizon, args.channels, args.batch_size)
    long = Shape("long shape", args.long_input_length, args.long_horizon, args.channels, args.batch_size)
    skipped: dict[str, str] = {}
    report: dict[str, Any] = {
        "command": _command(args, torch.get_num_threads()),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": _machine(), "device": device,
        "shapes": {s.name: asdict(s) for s in (main, long)}, "networks": {}, "saliency": {}, "darts": {},
        "growth": {}, "targets": [], "device_check": {}, "skipped": skipped, "fit_data": None,
        "fit_epochs": args.fit_epochs, "baseline": str(args.baseline) if args.baseline else None,
    }
    for shape in (main, long):  # the networks of one shape are timed together; each shape's rounds are short
        print(f"timing the networks at the {shape.name} ...", flush=True)
        report["networks"].update(time_networks(timed, [shape], device, args.repeats, args.seed, baseline=baseline,
                                                skipped=skipped))
    print("timing the saliency pass ...", flush=True)
    report["saliency"] = time_saliency(main, device, args.repeats, args.seed, baseline)
    if not args.no_darts:
        print("timing Darts fit and predict ...", flush=True)
        report["darts"], report["fit_data"] = time_darts(names, main, device, args, baseline)
    if not args.no_growth:
        print("timing the growth shapes ...", flush=True)
        variants = {"2L": Shape("2L", 2 * main.input_length, main.horizon, main.channels, main.batch),
                    "2H": Shape("2H", main.input_length, 2 * main.horizon, main.channels, main.batch),
                    "3C": Shape("3C", main.input_length, main.horizon, 3 * main.channels, main.batch)}
        growth_names = [n for n in names if n in report["networks"][main.name]]
        # the main shape is timed again with its variants, interleaved, so that every ratio is of one timing
        rows = time_networks(growth_names, [main, *variants.values()], device, args.repeats, args.seed,
                             optimizers=("fused",))
        for name, base in rows[main.name].items():
            entry = report["growth"].setdefault(name, {})
            for label in variants:
                entry[f"forward {label}"] = rows[label][name]["forward"] / base["forward"]
                entry[f"step {label}"] = rows[label][name]["step (fused)"] / base["step (fused)"]
        for name, row in report["darts"].items():
            if name in report["growth"]:
                report["growth"][name]["series 32/1"] = row["predict_ms_32"] / row["predict_ms_1"]
    if device != "cpu":
        print("comparing with the CPU ...", flush=True)
        report["device_check"] = check_device(main, device, args.seed)
    for name, reason in skipped.items():
        print(f"{name} skipped: {reason}")
    report["targets"] = _targets(report, main.name)
    table = _markdown(report)
    print(table)
    from crossscale_ext.benchmarks.harness import write_report

    write_report(args.out, "speed", report, table)
    return 0
