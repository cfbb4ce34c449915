"""``crossscale bench saliency``: CrossScaleNet's saliency maps against ground truth and post-hoc explainers.

For every synthetic set (SYN1-SYN8, the paper's Table 1, see :mod:`crossscale_ext.datasets.synthetic`) and
seed, the command

1. trains a :class:`~crossscale_ext.darts_model.CrossScaleNetModel` on the train part (target + past
   covariates) and forecasts every test window;
2. explains every test window with every method:

   - ``attention``: every map of CrossScaleNet's :class:`~crossscale_ext.saliency.SaliencyResult`
     (``paper``, ``per_step``, ``per_component``, ``gradient``, ``input_x_gradient`` and any other
     ``(W, L)`` / ``(W, L, C)`` map it carries), from ``model.saliency(..., windows="all")``: the attention
     maps are timed by a call with ``gradients=False``, the gradient maps by the default call;
   - ``integrated_gradients``: captum's IntegratedGradients on the same trained network (its input is the
     ``(W, L, C)`` window, the output explained is the forecast summed over the horizon; baseline: the
     training mean of every channel);
   - ``feature_ablation``: captum's FeatureAblation with every (step, channel) cell its own feature
     (occlusion with a 1 x 1 window), same output and baseline;
   - ``shap``: Darts' ``ShapExplainer`` (permutation SHAP over the ``L x C`` lagged inputs, one permutation
     pass, i.e. ``max_evals = 2 L C + 1``), the absolute value of the SHAP values summed over the horizon;
   - ``random``: a uniform random map (the control);
   - ``tft``: Darts' ``TFTModel`` trained on the same data and explained with ``TFTExplainer``: the
     attention on the input steps summed over forecast steps (temporal map), times the encoder variable
     selection weight of every input component at that step (cell map);

3. scores each map against the ground truth with :mod:`crossscale_ext.metrics` (AUROC, AUPRC, AUP, AUR over
   time and over cells), measures comprehensiveness and sufficiency on CrossScaleNet's network (top 10 / 20 /
   50 %, train-mean and carry-forward baselines), the seconds each method takes and a plain prediction of
   the same windows;
4. writes ``results.md`` (markdown tables), ``results.csv``, ``results.json`` and heatmaps of the mean
   saliency beside the ground truth (``img/*.png``) to the output folder.

The slow methods (SHAP, FeatureAblation, and IntegratedGradients if asked) can run on an evenly spaced
subset of the test windows; their time for all windows is then extrapolated linearly and marked so.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from crossscale_ext._lightning import QUIET_TRAINER_KWARGS, silence_lightning

__all__ = ["add_arguments", "run", "BenchConfig", "QUICK_CONFIG", "FULL_CONFIG", "METHODS", "run_benchmark"]

#: Method groups ``--methods`` accepts.
METHODS: tuple[str, ...] = ("attention", "integrated_gradients", "feature_ablation", "shap", "random", "tft")
ALL_SETS: tuple[str, ...] = tuple(f"SYN{i}" for i in range(1, 9))
ATTENTION_PREFIX = "CrossScaleNet "
#: ``SaliencyResult`` array attributes of window shape that hold data, not saliency.
_NOT_MAPS = frozenset({"input_index", "forecast_index", "forecast", "inputs"})


@dataclass(frozen=True)
class BenchConfig:
    """Sizes of one benchmark run (``--quick`` uses :data:`QUICK_CONFIG`, otherwise :data:`FULL_CONFIG`).

    Attributes
    ----------
    length
        Time steps of each synthetic series (70 % train, 30 % test).
    horizon
        Forecast steps (``output_chunk_length``); 6 is the shortest informative for ``L = 96``.
    input_length
        Lookback ``L`` (96, so every lag of the paper's Table 1 fits in the window).
    epochs
        Training epochs of CrossScaleNet and TFT.
    d_model
        CrossScaleNet's hidden width.
    tft_hidden_size
        TFT's hidden width.
    learning_rate
        Adam learning rate of CrossScaleNet (1e-2: on SYN6, 15 epochs, test MSE 0.19 at 1e-3, 0.09 at 3e-3,
        0.07 at 1e-2).
    covariate_path
        CrossScaleNet's ``covariate_path``; ``None``: the package default.
    mean_gate_init
        CrossScaleNet's ``mean_gate_init``: 0, as the synthetic targets are driven by their covariates and their
        own level says nothing of their future (the package default, 1, suits series whose level persists).
    tft_learning_rate
        Adam learning rate of TFT (1e-3, Darts' default; 1e-2 gave the same test MSE on SYN6).
    batch_size
        Training batch size of both models.
    max_windows
        At most this many test windows (evenly spaced) are explained and scored; ``None``: all.
    ig_windows, ablation_windows, shap_windows, tft_windows
        Windows explained by each slow method (evenly spaced; ``None``: as many as ``max_windows``).
    ig_steps
        Integration steps of IntegratedGradients.
    shap_background
        Background samples of the SHAP explainer.
    """

    length: int = 2000
    horizon: int = 6
    input_length: int = 96
    epochs: int = 15
    d_model: int = 32
    tft_hidden_size: int = 16
    learning_rate: float = 1e-2
    tft_learning_rate: float = 1e-3
    batch_size: int = 32
    max_windows: int | None = None
    ig_windows: int | None = None
    ablation_windows: int | None = 100
    shap_windows: int | None = 10
    tft_windows: int | None = None
    ig_steps: int = 32
    shap_background: int = 10
    covariate_path: str | None = None
    mean_gate_init: float = 0.0


FULL_CONFIG = BenchConfig()
QUICK_CONFIG = BenchConfig(
    length=700, epochs=1, d_model=16, tft_hidden_size=8, max_windows=32, ig_windows=32, ablation_windows=8,
    shap_windows=2, tft_windows=32, ig_steps=8,
)

QUIET_TRAINER = {**QUIET_TRAINER_KWARGS, "accelerator": "cpu"}


# --------------------------------------------------------------------------------------------- command line
def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the options of ``crossscale bench saliency`` on ``parser``."""
    parser.add_argument(
        "--datasets", nargs="+", default=None, metavar="SYN",
        help="synthetic sets to run (default: SYN1 .. SYN8; with --quick: SYN6)",
    )
    parser.add_argument("--epochs", type=int, default=None, help="training epochs of both models (default 15; quick 1)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0], help="seeds of data and models (default: 0)")
    parser.add_argument(
        "--quick", action="store_true", help="tiny data, 1 epoch, few windows: a CI smoke run (< 2 min)"
    )
    parser.add_argument(
        "--out", type=Path, default=Path("bench_saliency"), help="output folder (default: ./bench_saliency)"
    )
    parser.add_argument(
        "--methods", nargs="+", default=list(METHODS), choices=METHODS, metavar="METHOD",
        help=f"explainers to run, among {', '.join(METHODS)} (default: all)",
    )
    parser.add_argument("--length", type=int, default=None, help="time steps per synthetic series (default 2000)")
    parser.add_argument(
        "--horizon", type=int, default=None,
        help="forecast steps (default 6, the shortest for which the attention is informative at L = 96)",
    )
    parser.add_argument(
        "--covariate-path", choices=("none", "linear"), default=None,
        help="CrossScaleNet's covariate_path (default: the package default; 'none' is the reference layout)",
    )
    parser.add_argument(
        "--mean-gate-init", type=float, default=None,
        help="CrossScaleNet's mean_gate_init (default 0: the synthetic targets' own level says nothing of their "
             "future; 1 is the package default, for series whose level persists)",
    )
    parser.add_argument("--learning-rate", type=float, default=None, help="CrossScaleNet's Adam learning rate")
    parser.add_argument("--max-windows", type=int, default=None, help="explain at most this many test windows")
    parser.add_argument("--shap-windows", type=int, default=None, help="test windows explained by SHAP (default 10)")
    parser.add_argument(
        "--ablation-windows", type=int, default=None, help="test windows explained by FeatureAblation (default 100)"
    )
    parser.add_argument(
        "--threads", type=int, default=1,
        help="torch CPU threads (default 1: on a shared, busy machine more threads contend and run slower)",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def _config_from_args(args: argparse.Namespace) -> BenchConfig:
    config = QUICK_CONFIG if args.quick else FULL_CONFIG
    overrides = {
        "epochs": args.epochs,
        "length": args.length,
        "max_windows": args.max_windows,
        "shap_windows": args.shap_windows,
        "ablation_windows": args.ablation_windows,
        "horizon": getattr(args, "horizon", None),
    }
    overrides = {key: value for key, value in overrides.items() if value is not None}
    for key, value in overrides.items():
        if value < 1:
            raise ValueError(f"--{key.replace('_', '-')} must be a positive integer; got {value}.")
    if getattr(args, "learning_rate", None) is not None:
        if not args.learning_rate > 0:
            raise ValueError(f"--learning-rate must be positive; got {args.learning_rate}.")
        overrides["learning_rate"] = args.learning_rate
    if getattr(args, "covariate_path", None) is not None:
        overrides["covariate_path"] = args.covariate_path
    if getattr(args, "mean_gate_init", None) is not None:
        overrides["mean_gate_init"] = args.mean_gate_init
    return dataclasses.replace(config, **overrides)


def run(args: argparse.Namespace) -> int:
    """Run ``crossscale bench saliency``; returns the exit status (0 on success)."""
    from crossscale_ext.datasets.synthetic import SYN_SPECS

    datasets = args.datasets or (["SYN6"] if args.quick else list(ALL_SETS))
    unknown = [name for name in datasets if name.upper() not in SYN_SPECS]
    if unknown:
        raise SystemExit(f"crossscale bench saliency: unknown data set(s) {unknown}; choose among {list(SYN_SPECS)}.")
    try:
        config = _config_from_args(args)
    except ValueError as error:
        raise SystemExit(f"crossscale bench saliency: {error}") from None
    if args.threads < 1:
        raise SystemExit(f"crossscale bench saliency: --threads must be a positive integer; got {args.threads}.")
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        rows = run_benchmark(
            datasets=[name.upper() for name in datasets],
            seeds=list(args.seeds),
            methods=list(args.methods),
            config=config,
            out=Path(args.out),
            progress=not args.no_progress,
            command="crossscale bench saliency " + _format_args(args),
        )
    finally:
        torch.set_num_threads(threads)
    print(f"{len(rows)} result rows written to {Path(args.out) / 'results.md'}")
    return 0


def _format_args(args: argparse.Namespace) -> str:
    parts = []
    if args.quick:
        parts.append("--quick")
    if args.datasets:
        parts.append("--datasets " + " ".join(args.datasets))
    for name in ("epochs", "length", "horizon", "covariate_path", "mean_gate_init", "learning_rate", "max_windows",
                 "shap_windows",
                 "ablation_windows"):
        value = getattr(args, name, None)
        if value is not None:
            parts.append(f"--{name.replace('_', '-')} {value}")
    parts.append("--seeds " + " ".join(map(str, args.seeds)))
    if args.threads != 1:
        parts.append(f"--threads {args.threads}")
    if list(args.methods) != list(METHODS):
        parts.append("--methods " + " ".join(args.methods))
    parts.append(f"--out {args.out}")
    return " ".join(parts)


# ------------------------------------------------------------------------------------------------ the run
def _quiet() -> None:
    silence_lightning()
    for name in ("darts", "shap"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _subset(n_windows: int, n: int | None) -> np.ndarray:
    """Evenly spaced indices of ``min(n, n_windows)`` windows (all of them for ``None``)."""
    if n is None or n >= n_windows:
        return np.arange(n_windows)
    return np.unique(np.linspace(0, n_windows - 1, n).round().astype(int))


def run_benchmark(
    datasets: list[str],
    seeds: list[int],
    methods: list[str],
    config: BenchConfig,
    out: Path,
    progress: bool = True,
    command: str = "",
) -> list[dict[str, Any]]:
    """Run the benchmark and write its outputs; returns one result row per (data set, seed, method).

    Parameters
    ----------
    datasets
        Names among ``SYN1`` .. ``SYN8``.
    seeds
        Seeds of the data and of the models' initialisation.
    methods
        Method groups among :data:`METHODS`.
    config
        Sizes of the run.
    out
        Output folder (created).
    progress
        Show a tqdm progress bar.
    command
        The command line, recorded in the outputs.
    """
    import torch
    from tqdm.auto import tqdm

    from crossscale_ext.datasets.synthetic import make_syn

    bad = sorted(set(methods) - set(METHODS))
    if bad:
        raise ValueError(f"Unknown method(s) {bad}; choose among {list(METHODS)}.")
    _quiet()
    out.mkdir(parents=True, exist_ok=True)
    (out / "img").mkdir(exist_ok=True)
    stages = ["train"] + methods
    bar = tqdm(total=len(datasets) * len(seeds) * len(stages), disable=not progress, unit="step",
               desc="bench saliency")
    rows: list[dict[str, Any]] = []
    extras: list[dict[str, Any]] = []
    started = time.perf_counter()
    try:
        for seed in seeds:
            for name in datasets:
                bar.set_postfix_str(f"{name} seed {seed}: train CrossScaleNet")
                torch.manual_seed(seed)
                dataset = make_syn(name, length=config.length, horizon=config.horizon,
                                   input_length=config.input_length, seed=seed)
                case = _Case(dataset, config, seed)
                bar.update(1)
                for method in methods:
                    bar.set_postfix_str(f"{name} seed {seed}: {method}")
                    case.run_method(method)
                    bar.update(1)
                rows.extend(case.rows())
                extras.append(case.extra())
                _heatmap(case, out / "img" / f"{name}_seed{seed}.png")
                _write_outputs(rows, extras, config, out, command, time.perf_counter() - started)
    finally:
        bar.close()
    return rows


class _Case:
    """One (data set, seed): the trained CrossScaleNet, its test windows and every method's maps."""

    def __init__(self, dataset, config: BenchConfig, seed: int) -> None:
        from crossscale_ext.darts_model import CrossScaleNetModel

        self.dataset = dataset
        self.config = config
        self.seed = seed
        self.inputs, self.targets = dataset.windows("test")
        self.n_windows = len(self.inputs)
        self.windows = _subset(self.n_windows, config.max_windows)
        self.train_mean = dataset.train_mean().astype(np.float32)
        self.maps: dict[str, dict[str, Any]] = {}
        self.info: dict[str, Any] = {}

        architecture = {} if config.covariate_path is None else {"covariate_path": config.covariate_path}
        model = CrossScaleNetModel(
            input_chunk_length=config.input_length,
            output_chunk_length=config.horizon,
            **architecture,
            d_model=config.d_model,
            mean_gate_init=config.mean_gate_init,
            n_epochs=config.epochs,
            batch_size=config.batch_size,
            optimizer_kwargs={"lr": config.learning_rate},
            random_state=seed,
            pl_trainer_kwargs=dict(QUIET_TRAINER),
        )
        begin = time.perf_counter()
        model.fit(dataset.train_target, past_covariates=dataset.train_covariates)
        self.info["train_seconds"] = time.perf_counter() - begin
        self.info["covariate_path"] = model.covariate_path
        self.model = model
        self.network = model.model.network

    def _eval_network(self):
        """The trained network in inference mode (Darts' calls may leave the Lightning module in train mode)."""
        self.model.model.eval()
        self.model.model.set_mc_dropout(False)
        return self.network

    # ---------------------------------------------------------------- helpers
    def forecast(self, inputs: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """CrossScaleNet's point forecasts ``(W, H, 1)`` of raw ``(W, L, C)`` windows."""
        import torch

        network = self._eval_network()
        outputs = []
        with torch.no_grad():
            for start in range(0, len(inputs), batch_size):
                x = torch.as_tensor(inputs[start : start + batch_size], dtype=torch.float32)
                outputs.append(network(x).forecast[..., 0].numpy())
        return np.concatenate(outputs)

    def _summed_forecast(self):
        """Forward function for captum: the target forecast summed over the horizon, one scalar per window."""
        network = self._eval_network()

        def forward(x):
            return network(x).forecast[:, :, 0, 0].sum(dim=1)

        return forward

    def _add(self, method: str, maps: np.ndarray, windows: np.ndarray, seconds: float, model: str = "CrossScaleNet",
             **extra: Any) -> None:
        self.maps[method] = {"map": maps, "windows": windows, "seconds": seconds, "model": model, **extra}

    # ---------------------------------------------------------------- methods
    def run_method(self, method: str) -> None:
        """Explain the test windows with one method group (see :data:`METHODS`)."""
        getattr(self, f"_run_{method}")()

    def _run_attention(self) -> None:
        from crossscale_ext.saliency import SaliencyResult

        ds, model = self.dataset, self.model
        begin = time.perf_counter()
        model.saliency(ds.test_target, past_covariates=ds.test_covariates, windows="all", gradients=False, maps="all")
        attention_seconds = time.perf_counter() - begin
        begin = time.perf_counter()
        result: SaliencyResult = model.saliency(
            ds.test_target, past_covariates=ds.test_covariates, windows="all", maps="all"
        )
        seconds = time.perf_counter() - begin
        self.info["attention_seconds"], self.info["attention_and_gradient_seconds"] = attention_seconds, seconds
        if result.n_windows != self.n_windows:
            raise RuntimeError(f"saliency() returned {result.n_windows} windows; expected {self.n_windows}.")
        begin = time.perf_counter()
        forecasts = model.historical_forecasts(
            ds.test_target, past_covariates=ds.test_covariates, forecast_horizon=ds.horizon, stride=1,
            retrain=False, last_points_only=False, overlap_end=False, verbose=False, show_warnings=False,
        )
        self.info["predict_seconds"] = time.perf_counter() - begin
        self.info["predict_windows"] = len(forecasts)
        self.info["informative"] = bool(result.informative)
        self.forecasts = result.forecast  # (W, H, 1)
        check = slice(0, min(8, self.n_windows))
        if not np.allclose(self.forecast(self.inputs[check]), self.forecasts[check], atol=1e-4, rtol=1e-3):
            raise RuntimeError(
                "The network's forecast of the dataset's windows differs from saliency()'s: the channel order or the "
                "window alignment of SyntheticDataset.windows() no longer matches Darts' (a bug to report)."
            )
        self.info.update(self._network_costs())
        for field in dataclasses.fields(result):
            value = getattr(result, field.name)
            if field.name in _NOT_MAPS or not isinstance(value, np.ndarray):
                continue
            is_map = value.ndim in (2, 3) and value.shape[:2] == (self.n_windows, ds.input_length)
            if is_map and value.dtype.kind == "f":
                timed = seconds if "gradient" in field.name else attention_seconds
                self._add(ATTENTION_PREFIX + field.name, value[self.windows], self.windows, timed,
                          n_timed_windows=self.n_windows)

    def _network_costs(self) -> dict[str, float]:
        """Seconds of network passes over all test windows: plain, with the attention maps, with all maps.

        Network level (no Darts): what the maps add to the forward pass itself.
        """
        import torch

        from crossscale_ext.saliency import attention_maps, gradient_maps

        network = self._eval_network()
        x = torch.as_tensor(self.inputs)
        timings = {}
        for label, maps in (("network_forward_seconds", None), ("network_forward_and_maps_seconds", "attention"),
                            ("network_forward_and_gradient_maps_seconds", "gradient")):
            begin = time.perf_counter()
            for start in range(0, len(x), self.config.batch_size):
                batch = x[start : start + self.config.batch_size]
                with torch.enable_grad() if maps == "gradient" else torch.no_grad():
                    if maps == "gradient":
                        batch = batch.clone().requires_grad_(True)
                    output = network(batch)
                    if maps is not None:
                        attention_maps(network, batch, output)
                    if maps == "gradient":
                        gradient_maps(batch, output.forecast[..., 0])
            timings[label] = time.perf_counter() - begin
        return timings

    def _run_integrated_gradients(self) -> None:
        import torch
        from captum.attr import IntegratedGradients

        windows = _subset(self.n_windows, self.config.ig_windows)
        windows = np.intersect1d(windows, self.windows) if self.config.max_windows else windows
        explainer = IntegratedGradients(self._summed_forecast())
        baseline = torch.as_tensor(self.train_mean).expand(1, *self.inputs.shape[1:])
        parts = []
        begin = time.perf_counter()
        for start in range(0, len(windows), 32):
            x = torch.as_tensor(self.inputs[windows[start : start + 32]])
            attribution = explainer.attribute(x, baselines=baseline.expand_as(x), n_steps=self.config.ig_steps,
                                              internal_batch_size=512)
            parts.append(attribution.detach().abs().numpy())
        self._add("IntegratedGradients", np.concatenate(parts), windows, time.perf_counter() - begin,
                  n_timed_windows=len(windows))

    def _run_feature_ablation(self) -> None:
        import torch
        from captum.attr import FeatureAblation

        windows = _subset(self.n_windows, self.config.ablation_windows)
        explainer = FeatureAblation(self._summed_forecast())
        baseline = torch.as_tensor(self.train_mean).expand(1, *self.inputs.shape[1:])
        parts = []
        begin = time.perf_counter()
        with torch.no_grad():
            for start in range(0, len(windows), 8):
                x = torch.as_tensor(self.inputs[windows[start : start + 8]])
                attribution = explainer.attribute(x, baselines=baseline.expand_as(x), perturbations_per_eval=64)
                parts.append(attribution.abs().numpy())
        self._add("FeatureAblation", np.concatenate(parts), windows, time.perf_counter() - begin,
                  n_timed_windows=len(windows))

    def _run_shap(self) -> None:
        from darts.explainability import ShapExplainer

        ds, config = self.dataset, self.config
        length = ds.input_length
        n_channels = len(ds.component_names)
        # Darts cannot build its one-row result TimeSeries on an integer index, so every foreground series holds
        # two consecutive windows; the pairs are spread evenly over the test part.
        pairs = _subset(self.n_windows - 1, max(1, -(-(config.shap_windows or self.n_windows) // 2)))
        windows = np.stack([pairs, pairs + 1], axis=1).ravel()
        begin = time.perf_counter()
        explainer = ShapExplainer(
            self.model,
            background_series=ds.train_target,
            background_past_covariates=ds.train_covariates,
            background_num_samples=config.shap_background,
            shap_method="permutation",
            batch_size=4096,
            test_stationarity=False,
        )
        foreground = [ds.test_target[int(w) : int(w) + length + 1] for w in pairs]
        foreground_covariates = [ds.test_covariates[int(w) : int(w) + length + 1] for w in pairs]
        explanation = explainer.explain(
            foreground, foreground_covariates, max_evals=2 * length * n_channels + 1, silent=True
        )
        seconds = time.perf_counter() - begin
        results = explanation.explained_forecasts
        results = results if isinstance(results, list) else [results]
        maps = np.zeros((len(windows), length, n_channels))
        for i, per_horizon in enumerate(results):
            names = list(per_horizon[1]["y"].components)
            total = sum(per_horizon[h]["y"].values(copy=False) for h in range(1, ds.horizon + 1))  # (2, features)
            if len(total) != 2:
                raise RuntimeError(f"ShapExplainer explained {len(total)} windows of a two-window series; expected 2.")
            for j in range(2):
                maps[2 * i + j] = np.abs(_shap_to_cells(total[j], names, ds.component_names, length))
        self._add("SHAP (Darts ShapExplainer)", maps, windows, seconds, n_timed_windows=len(windows))

    def _run_random(self) -> None:
        from crossscale_ext.metrics import random_saliency

        begin = time.perf_counter()
        maps = random_saliency((len(self.windows), *self.inputs.shape[1:]), seed=self.seed)
        self._add("random", maps, self.windows, time.perf_counter() - begin, n_timed_windows=len(self.windows))

    def _run_tft(self) -> None:
        from darts.explainability import TFTExplainer
        from darts.models import TFTModel
        from torch import nn

        ds, config = self.dataset, self.config
        tft = TFTModel(
            input_chunk_length=config.input_length,
            output_chunk_length=config.horizon,
            hidden_size=config.tft_hidden_size,
            lstm_layers=1,
            num_attention_heads=4,
            dropout=0.1,
            add_relative_index=True,
            loss_fn=nn.MSELoss(),
            likelihood=None,
            n_epochs=config.epochs,
            batch_size=config.batch_size,
            optimizer_kwargs={"lr": config.tft_learning_rate},
            random_state=self.seed,
            pl_trainer_kwargs=dict(QUIET_TRAINER),
        )
        begin = time.perf_counter()
        tft.fit(ds.train_target, past_covariates=ds.train_covariates)
        self.info["tft_train_seconds"] = time.perf_counter() - begin
        begin = time.perf_counter()
        forecasts = tft.historical_forecasts(
            ds.test_target, past_covariates=ds.test_covariates, forecast_horizon=ds.horizon, stride=1,
            retrain=False, last_points_only=False, overlap_end=False, verbose=False, show_warnings=False,
        )
        self.info["tft_predict_seconds"] = time.perf_counter() - begin
        self.tft_forecasts = np.stack([f.values(copy=False) for f in forecasts])

        windows = _subset(self.n_windows, config.tft_windows)
        windows = np.intersect1d(windows, self.windows) if config.max_windows else windows
        length, names = ds.input_length, ds.component_names
        explainer = TFTExplainer(tft)
        temporal = np.zeros((len(windows), length))
        cells = np.zeros((len(windows), length, len(names)))
        begin = time.perf_counter()
        for start in range(0, len(windows), config.batch_size):
            chunk = windows[start : start + config.batch_size]
            series = [ds.test_target[int(w) : int(w) + length] for w in chunk]
            covariates = [ds.test_covariates[int(w) : int(w) + length] for w in chunk]
            result = explainer.explain(series, foreground_past_covariates=covariates)
            attentions, selections = result.get_attention(), result.get_encoder_importance_over_time()
            if not isinstance(attentions, list):
                attentions, selections = [attentions], [selections]
            for i, (attention_ts, selection) in enumerate(zip(attentions, selections)):
                attention = attention_ts.values(copy=False)[:length].sum(axis=1)  # input steps, summed over horizons
                weights = np.stack([_column(selection, name) for name in names], axis=1)  # (L, C)
                temporal[start + i] = attention
                cells[start + i] = attention[:, None] * weights
        seconds = time.perf_counter() - begin
        self._add("TFT attention", temporal, windows, seconds, model="TFT", n_timed_windows=len(windows))
        self._add("TFT attention x variable selection", cells, windows, seconds, model="TFT",
                  n_timed_windows=len(windows))

    # ---------------------------------------------------------------- scoring
    def rows(self) -> list[dict[str, Any]]:
        """One result row per method (metrics, forecast errors, seconds)."""
        from crossscale_ext.metrics import cell_scores, faithfulness, temporal_scores

        ds = self.dataset
        if not hasattr(self, "forecasts"):  # the attention group did not run: forecast the windows directly
            self.forecasts = self.forecast(self.inputs)
        errors = {"CrossScaleNet": _errors(self.forecasts, self.targets)}
        if hasattr(self, "tft_forecasts"):
            errors["TFT"] = _errors(self.tft_forecasts, self.targets)
        predict_seconds = self.info.get("predict_seconds", np.nan)
        rows = []
        for method, entry in self.maps.items():
            maps, windows = entry["map"], entry["windows"]
            seconds_all = entry["seconds"] * self.n_windows / entry["n_timed_windows"]
            row: dict[str, Any] = {
                "dataset": ds.name,
                "seed": self.seed,
                "method": method,
                "model": entry["model"],
                "windows": len(windows),
                **{f"{key}": value for key, value in errors[entry["model"]].items()},
                "mse_floor": ds.irreducible_mse,
            }
            time_scores = temporal_scores(maps, ds.mask if maps.ndim == 3 else ds.lag_mask)
            row.update({f"{key}_time": value for key, value in time_scores.items()})
            if maps.ndim == 3:
                row.update({f"{key}_cell": value for key, value in cell_scores(maps, ds.mask).items()})
            else:
                row.update({f"{key}_cell": np.nan for key in ("auroc", "auprc", "aup", "aur")})
            if entry["model"] == "CrossScaleNet":
                for baseline in ("train_mean", "carry_forward"):
                    scores = faithfulness(self.forecast, self.inputs[windows], self.targets[windows], maps,
                                          self.train_mean, baseline=baseline, seed=self.seed)
                    tag = "" if baseline == "train_mean" else "_carry_forward"
                    row.update({f"{key}{tag}": value for key, value in scores.items()})
            row["explain_seconds"] = entry["seconds"]
            row["explain_seconds_all_windows"] = seconds_all
            row["extrapolated"] = entry["n_timed_windows"] < self.n_windows
            row["test_windows"] = self.n_windows
            reference = predict_seconds if entry["model"] == "CrossScaleNet" else self.info.get("tft_predict_seconds")
            row["predict_seconds"] = reference
            row["explain_over_predict"] = seconds_all / reference if reference else np.nan
            rows.append(row)
        return rows

    def extra(self) -> dict[str, Any]:
        """Per-case information (training and prediction seconds, network-level timings)."""
        return {"dataset": self.dataset.name, "seed": self.seed, "test_windows": self.n_windows, **self.info}


def _column(series, name: str) -> np.ndarray:
    """Values of the TFT encoder variable of input component ``name`` (listed as ``name`` or ``name_<kind>``)."""
    matches = [c for c in series.components if c == name or c.rsplit("_", 1)[0] == name]
    if len(matches) != 1:
        raise ValueError(
            f"Cannot find input component {name!r} among TFT's encoder variables {list(series.components)}."
        )
    return series[matches[0]].values(copy=False)[:, 0]


def _shap_to_cells(values: np.ndarray, feature_names: list[str], components: list[str], length: int) -> np.ndarray:
    """Reshape Darts' SHAP feature vector (names like ``"x0_pastcov_lag-3"``) to an ``(L, C)`` map.

    Cells are placed by name, so the layout does not depend on the order Darts lists its features in.
    """
    cells = np.zeros((length, len(components)))
    for value, name in zip(values, feature_names):
        component, _, lag_text = name.rpartition("_lag")
        component = component.rsplit("_", 1)[0]
        lag = -int(lag_text)
        if component not in components or not 1 <= lag <= length:
            raise ValueError(f"Unexpected SHAP feature name {name!r}: cannot place it in the (lag, component) grid.")
        cells[length - lag, components.index(component)] = value
    return cells


def _errors(forecasts: np.ndarray, targets: np.ndarray) -> dict[str, float]:
    forecasts = np.asarray(forecasts, dtype=float).reshape(targets.shape)
    return {"mse": float(np.mean((forecasts - targets) ** 2)), "mae": float(np.mean(np.abs(forecasts - targets)))}


# ------------------------------------------------------------------------------------------------ outputs
def _heatmap(case: _Case, path: Path) -> None:
    """Mean absolute saliency of every method over its windows, beside the ground truth, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ds = case.dataset
    panels = [("ground truth", ds.mask.astype(float))]
    for method, entry in case.maps.items():
        mean = np.abs(entry["map"]).mean(axis=0)
        panels.append((method, mean if mean.ndim == 2 else mean[:, None]))
    heights = [p[1].shape[1] for p in panels]
    fig, axes = plt.subplots(len(panels), 1, figsize=(10, 0.32 * sum(heights) + 0.45 * len(panels) + 0.6),
                             gridspec_kw={"height_ratios": heights}, squeeze=False)
    length = ds.input_length
    for ax, (title, grid) in zip(axes[:, 0], panels):
        span = grid.max() - grid.min()
        grid = (grid - grid.min()) / span if span > 0 else np.zeros_like(grid)
        ax.imshow(grid.T, aspect="auto", cmap="viridis", interpolation="nearest", vmin=0, vmax=1)
        ax.set_title(title, fontsize=8, loc="left")
        labels = ds.component_names if grid.shape[1] > 1 else ["time"]
        ax.set_yticks(range(len(labels)), labels, fontsize=6)
        ticks = [0, length // 4, length // 2, 3 * length // 4, length - 1]
        ax.set_xticks(ticks, [f"lag {length - t}" for t in ticks], fontsize=6)
    fig.suptitle(f"{ds.name} (seed {case.seed}): mean |saliency| over test windows, each panel min-max scaled",
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


_MAIN_COLUMNS = [
    ("mse", "MSE"), ("mse_floor", "MSE floor"), ("mae", "MAE"),
    ("auroc_time", "AUROC t"), ("auprc_time", "AUPRC t"), ("aup_time", "AUP t"), ("aur_time", "AUR t"),
    ("auroc_cell", "AUROC c"), ("auprc_cell", "AUPRC c"), ("aup_cell", "AUP c"), ("aur_cell", "AUR c"),
    ("comprehensiveness", "comp"), ("sufficiency", "suff"),
    ("explain_seconds_all_windows", "s (all windows)"), ("explain_over_predict", "x predict"),
]


def _mean_rows(rows: list[dict[str, Any]], keys: list[str]) -> dict[tuple[str, str], dict[str, float]]:
    """Mean of each key per (dataset, method) over seeds."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["dataset"], row["method"]), []).append(row)
    means = {}
    for key, members in groups.items():
        means[key] = {k: float(np.nanmean([m.get(k, np.nan) for m in members])) if any(
            np.isfinite(m.get(k, np.nan)) for m in members) else np.nan for k in keys}
        means[key]["extrapolated"] = any(m["extrapolated"] for m in members)
        means[key]["windows"] = members[0]["windows"]
    return means


def _fmt(value: float, key: str) -> str:
    if value is None or not np.isfinite(value):
        return "–"
    if key.startswith("explain_seconds"):
        return f"{value:.2f}"
    if key == "explain_over_predict":
        return f"{value:.1f}"
    return f"{value:.3f}"


def markdown_tables(rows: list[dict[str, Any]]) -> tuple[str, str]:
    """The results as markdown: ``(per data set table, summary over data sets)``, means over seeds."""
    keys = [key for key, _ in _MAIN_COLUMNS]
    means = _mean_rows(rows, keys)
    datasets = list(dict.fromkeys(row["dataset"] for row in rows))
    methods = list(dict.fromkeys(row["method"] for row in rows))
    header = "| data set | method | windows | " + " | ".join(label for _, label in _MAIN_COLUMNS) + " |"
    rule = "|" + "---|" * (3 + len(_MAIN_COLUMNS))
    lines = [header, rule]
    for name in datasets:
        for method in methods:
            entry = means.get((name, method))
            if entry is None:
                continue
            cells = []
            for key in keys:
                text = _fmt(entry[key], key)
                if key.startswith("explain") and entry["extrapolated"] and text != "–":
                    text += "*"
                cells.append(text)
            lines.append(f"| {name} | {method} | {entry['windows']} | " + " | ".join(cells) + " |")
    summary_keys = ["auroc_time", "auprc_time", "aup_time", "aur_time", "auroc_cell", "auprc_cell",
                    "comprehensiveness", "sufficiency", "explain_over_predict"]
    labels = dict(_MAIN_COLUMNS)
    summary = ["| method | " + " | ".join(labels[k] for k in summary_keys) + " |",
               "|" + "---|" * (1 + len(summary_keys))]
    for method in methods:
        values = [means[(name, method)] for name in datasets if (name, method) in means]
        cells = []
        for key in summary_keys:
            column = [v[key] for v in values if np.isfinite(v[key])]
            cells.append(_fmt(float(np.mean(column)), key) if column else "–")
        summary.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines), "\n".join(summary)


def target_checks(rows: list[dict[str, Any]]) -> str:
    """The targets, as measured in ``rows``: a markdown list (met / missed and by how much).

    The recommended map is ``gradient`` (:data:`crossscale_ext.saliency.RECOMMENDED_MAP`). Targets: its mean
    AUROC over time >= 0.90 (goal 0.95) and at least IntegratedGradients'; CrossScaleNet's test MSE <= 2 x the
    floor + 0.02 on every set; its cost over all test windows <= 3x a plain prediction of them, and
    IntegratedGradients >= 10x its cost. The attention maps are reported without a target.
    """
    from crossscale_ext.saliency import RECOMMENDED_MAP

    recommended = ATTENTION_PREFIX + RECOMMENDED_MAP
    by_method: dict[str, list[float]] = {}
    for row in rows:
        if np.isfinite(row.get("auroc_time", np.nan)):
            by_method.setdefault(row["method"], []).append(row["auroc_time"])
    mean_auroc = {method: float(np.mean(values)) for method, values in by_method.items()}
    lines = []
    if recommended in mean_auroc:
        value = mean_auroc[recommended]
        verdict = "met" if value >= 0.90 else f"missed by {0.90 - value:.3f}"
        goal = "goal met" if value >= 0.95 else "goal 0.95 not reached"
        lines.append(f"- Mean AUROC (time) of the recommended map (`{RECOMMENDED_MAP}`): {value:.3f} (target >= 0.90): "
                     f"{verdict}; {goal}.")
        for peer in ("IntegratedGradients", "FeatureAblation", "SHAP (Darts ShapExplainer)"):
            if peer in mean_auroc:
                gap = value - mean_auroc[peer]
                lines.append(f"- Against {peer} on the same model ({mean_auroc[peer]:.3f}): "
                             f"{'at least as high' if gap >= 0 else f'lower by {-gap:.3f}'}.")
    for name in ("paper", "per_step", "per_component"):
        if ATTENTION_PREFIX + name in mean_auroc:
            lines.append(f"- Attention map `{name}` (no target): mean AUROC (time) "
                         f"{mean_auroc[ATTENTION_PREFIX + name]:.3f}.")
    fits = {}
    for row in rows:
        if row["model"] == "CrossScaleNet":
            fits.setdefault(row["dataset"], []).append((row["mse"], row["mse_floor"]))
    if fits:
        failing = []
        for name, pairs in fits.items():
            mse, floor = float(np.mean([p[0] for p in pairs])), float(np.mean([p[1] for p in pairs]))
            if mse > 2 * floor + 0.02:
                failing.append(f"{name} ({mse:.3f} > {2 * floor + 0.02:.3f})")
        lines.append("- CrossScaleNet test MSE <= 2 x floor + 0.02 on every set (mean over seeds): "
                     + ("met." if not failing else "missed on " + ", ".join(failing) + "."))
    chosen = [r for r in rows if r["method"] == recommended]
    if chosen:
        ratio = float(np.mean([r["explain_over_predict"] for r in chosen]))
        lines.append(f"- Cost of the recommended map over every test window, over a plain prediction of them: "
                     f"{ratio:.2f}x (target <= 3x): {'met' if ratio <= 3 else 'missed'}.")
        ig = {(r["dataset"], r["seed"]): r["explain_seconds_all_windows"] for r in rows
              if r["method"] == "IntegratedGradients"}
        factors = [ig[(r["dataset"], r["seed"])] / r["explain_seconds_all_windows"] for r in chosen
                   if (r["dataset"], r["seed"]) in ig]
        if factors:
            factor = float(np.mean(factors))
            lines.append(f"- IntegratedGradients over the recommended map's cost: {factor:.1f}x (target >= 10x): "
                         f"{'met' if factor >= 10 else 'missed'}.")
    return "\n".join(lines) if lines else "- (no CrossScaleNet or baseline rows in this run)"


def _machine() -> dict[str, Any]:
    import os

    import torch

    info = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.cuda.is_available(),
    }
    for package in ("darts", "captum", "shap"):
        try:
            info[package] = __import__(package).__version__
        except Exception:  # noqa: BLE001 - optional packages: record what is there
            info[package] = None
    return info


def _write_outputs(rows: list[dict[str, Any]], extras: list[dict[str, Any]], config: BenchConfig, out: Path,
                   command: str, elapsed: float) -> None:
    import pandas as pd

    pd.DataFrame(rows).to_csv(out / "results.csv", index=False)
    payload = {"command": command, "config": dataclasses.asdict(config), "machine": _machine(),
               "elapsed_seconds": elapsed, "cases": extras, "rows": rows}
    (out / "results.json").write_text(json.dumps(payload, indent=1, default=_json_default))
    table, summary = markdown_tables(rows)
    images = "\n".join(
        f"![{e['dataset']} seed {e['seed']}](img/{e['dataset']}_seed{e['seed']}.png)" for e in extras
    )
    text = f"""# Saliency benchmark results

Command: `{command}`

Machine: {payload['machine']['platform']}, {payload['machine']['cpu_count']} CPU(s), torch threads \
{payload['machine']['torch_threads']}, CUDA {payload['machine']['cuda']}. Elapsed: {elapsed:.0f} s.

Columns: forecast MSE / MAE of the model explained (CrossScaleNet or TFT) over all test windows (MSE floor:
the lowest MSE any forecaster can reach on the set, `SyntheticDataset.irreducible_mse`); AUROC,
AUPRC and the saliency-weighted AUP / AUR of Ismail et al. (2020; maximum 0.8) against the lag mask over
time (t) and against the (lag x component) mask over cells (c; temporal-only maps have none);
comprehensiveness (comp, higher is better) and sufficiency (suff, lower is better): the change of
CrossScaleNet's test MSE when the top 10/20/50 % cells are replaced by the training mean, or all but them
(mean over the three fractions); seconds to explain all test windows (* extrapolated linearly from the
windows explained); x predict: those seconds over a plain prediction of the same windows (Darts
`historical_forecasts`, `retrain=False`).

## Targets (as measured in this run)

{target_checks(rows)}

## Mean over data sets

{summary}

## Per data set

{table}

## Heatmaps

{images}
"""
    (out / "results.md").write_text(text)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")
