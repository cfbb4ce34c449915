"""``crossscale bench faithfulness``: whether the saliency maps point at what the forecast rests on (real data).

There is no ground truth on real data, so a map is judged by what happens to the forecast when the cells it ranks
first are removed (deletion) or are the only ones kept (insertion), against two trivial maps, by whether it
survives retraining with another seed, and by whether it depends on the trained weights at all.

For every data set (ETTh1, ETTh2, ETTm1, ETTm2, Weather, Exchange), setting (``target``: the ``OT`` channel as the
target and every other channel as a past covariate; ``all``: every channel a target), horizon and seed, the
command

1. trains a :class:`~crossscale_ext.darts_model.CrossScaleNetModel` on the training split with the package
   defaults (``fit(max_samples_per_ts=...)`` bounds the training windows, the most recent ones);
2. takes ``--windows`` evenly spaced windows of the validation and / or test split (``saliency(windows="all",
   stride=k)``, the public API, gives the package's maps of exactly those windows);
3. computes on the same trained network:

   - every map of the package (``gradient``, ``input_x_gradient``, ``paper``, ``per_step``, ``per_component``);
   - captum's ``IntegratedGradients`` (32 steps, baseline: the window's channel means), ``NoiseTunnel``
     (SmoothGrad of captum's ``Saliency``, 16 samples) and ``FeatureAblation`` (every cell its own feature,
     replaced by the window's channel mean; on ``--ablation-windows`` of the windows);
   - the candidate maps of :data:`CANDIDATES` (cheap variants of the gradient map, not in the package API);
   - two trivial maps: ``random`` (uniform noise, three draws averaged in the scores) and ``recency`` (the most
     recent steps first, every component alike);

4. scores every map:

   - **deletion**: each window's top 5 / 10 / 20 % cells (ties broken at random) are replaced by a reference,
     and the forecast's mean absolute change is recorded; reported as a ratio to the same deletion of the random
     map, of the recency map and of IntegratedGradients. Two references: ``mean`` (the window's channel means,
     the reference the instance normalisation makes neutral) and ``carry`` (the last kept value of the same
     channel, :func:`crossscale_ext.metrics.perturb`'s ``carry_forward``). The second keeps the local level of
     the series: a map is not rewarded just for picking the cells farthest from the window mean (which the
     ``mean`` reference favours, and which IntegratedGradients with a mean baseline is built to find);
   - **insertion**: every cell is replaced by the reference except the top 5 / 10 / 20 %; the share of the
     original forecast recovered, ``1 - |f(kept) - f(x)| / |f(reference) - f(x)|`` (mean absolute values);
   - **MSE increase** of the deletion against the true values (the ERASER comprehensiveness of
     :mod:`crossscale_ext.metrics`);
   - **seed stability**: per window, the Spearman correlation and the top-5 % overlap of the maps of the models
     trained with two different seeds (median over windows, mean over seed pairs), and the Spearman correlation
     of their lag profiles (mean map over windows, summed over components);
   - **randomization check** (Adebayo et al., 2018): the per-window Spearman correlation (median) between the
     map of the trained network and the map of the same network with every weight re-initialised;
   - **cost**: seconds per window, and the ratio to a plain prediction of the same windows (the package's maps
     against Darts' ``historical_forecasts``; the network-level methods against a no-grad forward of the
     network);

5. writes ``results.csv`` (one row per split, data set, setting, horizon, seed, method), ``stability.csv``,
   ``results.json`` and ``results.md`` (the tables, the choice of the recommended map on validation windows,
   and the reproduce command).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import logging
import platform
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

# the scoring helpers live in the package, shared with check_saliency
from crossscale_ext.faithfulness import deletion_effects, rank_correlation, recency_map, seed_stability

__all__ = [
    "add_arguments",
    "run",
    "FaithConfig",
    "CANDIDATES",
    "PACKAGE_MAPS",
    "REFERENCES",
    "run_benchmark",
    "candidate_map",
]

DATASET_NAMES: tuple[str, ...] = ("ETTh1", "ETTh2", "ETTm1", "ETTm2", "Weather", "Exchange")
SETTINGS: tuple[str, ...] = ("target", "all")
SPLITS: tuple[str, ...] = ("val", "test")
#: The package's maps, read through ``CrossScaleNetModel.saliency``.
PACKAGE_MAPS: tuple[str, ...] = (
    "gradient", "input_x_gradient", "aligned_input_x_gradient", "paper", "per_step", "per_component"
)
#: Candidate maps computed here on the network (not in the package API), with a one-line definition.
CANDIDATES: dict[str, str] = {
    "cand:grad_perstep": "sum over forecast steps and targets of |d f_h / d x| (no cancellation across steps)",
    "cand:smoothgrad8": "|mean of d sum(f) / d x over 8 noisy copies| (noise std 0.15 x the window's channel std)",
    "cand:ig4": "|(x - m) * mean gradient at 4 midpoints from the window mean m to x| (integrated gradients)",
    "cand:ig8": "as ig4 with 8 midpoints",
    "cand:grad_nopad": "|d sum(f) / d x| with the moving average's replicate padding held constant",
    "cand:grad_blur5": "the gradient map averaged over 5 neighbouring time steps (centred, per component)",
    "cand:grad_x_std": "|d sum(f) / d x| times the window's standard deviation of the cell's channel: the forecast's "
                       "move per standard deviation of the input, as the instance normalisation sees it",
    "cand:ixg_signed": "c = (x - m) * d sum(f) / d x, kept where its sign is that of the window's total sum(c) "
                       "(the cells that push the forecast the way the window pushes it), 0 elsewhere",
    "cand:ixg_blur5": "|(x - m) * d sum(f) / d x| averaged over 5 neighbouring time steps",
    "cand:ixg_signed_blur5": "the ixg_signed map averaged over 5 neighbouring time steps",
}
ATTENTION_MAPS: tuple[str, ...] = ("paper", "per_step", "per_component")
PEERS: tuple[str, ...] = ("IntegratedGradients", "NoiseTunnel (SmoothGrad)", "FeatureAblation")
BASELINES: tuple[str, ...] = ("random", "recency")
REFERENCES: tuple[str, ...] = ("mean", "carry")
FRACTIONS: tuple[float, ...] = (0.05, 0.1, 0.2)
#: The targets the recommended map is chosen against (on validation windows).
TARGETS: dict[str, float] = {
    "ratio_random": 10.0, "ratio_recency": 1.3, "ratio_ig": 1.0, "seed_spearman": 0.70, "seed_spearman_goal": 0.85,
    "randomization": 0.25, "cost": 3.0,
}
_N_RANDOM_DRAWS = 3


@dataclass(frozen=True)
class FaithConfig:
    """Sizes of one run.

    Attributes
    ----------
    datasets, settings, horizons, seeds, splits
        What to run (see the module docstring).
    input_length
        Lookback ``L``.
    epochs
        Training epochs (package defaults otherwise).
    max_samples
        Training windows per series (``fit(max_samples_per_ts=...)``, the most recent ones); ``None``: all.
    n_windows
        Evenly spaced evaluation windows per split (every ``k``-th window, ``k = n_split // n_windows``).
    ablation_windows
        Windows explained by FeatureAblation (its cost grows with ``L x C``); evenly spaced among the others.
    ig_steps
        Integration steps of captum's IntegratedGradients.
    nt_samples
        Samples of captum's NoiseTunnel.
    candidates
        Which candidate maps to compute (keys of :data:`CANDIDATES`).
    mean_gate_init
        Start of the covariate layout's mean gate (``CrossScaleNetModel(mean_gate_init=...)``; default 1.0, the
        package default).
    data_dir
        Folder with the benchmark files.
    """

    datasets: tuple[str, ...] = ("ETTh1", "ETTh2")
    settings: tuple[str, ...] = ("target",)
    horizons: tuple[int, ...] = (24,)
    seeds: tuple[int, ...] = (0, 1, 2)
    splits: tuple[str, ...] = ("val", "test")
    input_length: int = 96
    epochs: int = 5
    max_samples: int | None = 4000
    n_windows: int = 200
    ablation_windows: int = 30
    ig_steps: int = 32
    nt_samples: int = 16
    candidates: tuple[str, ...] = tuple(CANDIDATES)
    mean_gate_init: float = 1.0
    data_dir: str | None = None


# --------------------------------------------------------------------------------------------- command line
def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the options of ``crossscale bench faithfulness`` on ``parser``."""
    default = FaithConfig()
    parser.add_argument("--datasets", nargs="+", default=list(default.datasets), metavar="NAME",
                        help=f"data sets among {', '.join(DATASET_NAMES)} (default: ETTh1 ETTh2)")
    parser.add_argument("--settings", nargs="+", default=list(default.settings), choices=SETTINGS,
                        help="'target': OT is the target, the other channels past covariates; 'all': every channel "
                             "a target (default: target)")
    parser.add_argument("--horizons", nargs="+", type=int, default=list(default.horizons), help="default: 24")
    parser.add_argument("--seeds", nargs="+", type=int, default=list(default.seeds), help="default: 0 1 2")
    parser.add_argument("--split", nargs="+", default=list(default.splits), choices=SPLITS, dest="splits",
                        help="evaluation windows: 'val' (choose the map), 'test' (report it); default: both")
    parser.add_argument("--epochs", type=int, default=default.epochs, help=f"default {default.epochs}")
    parser.add_argument("--max-samples", type=int, default=default.max_samples,
                        help=f"training windows per series, the most recent (default {default.max_samples}; 0: all)")
    parser.add_argument("--windows", type=int, default=default.n_windows, dest="n_windows",
                        help=f"evenly spaced evaluation windows per split (default {default.n_windows})")
    parser.add_argument("--ablation-windows", type=int, default=default.ablation_windows,
                        help=f"windows explained by FeatureAblation (default {default.ablation_windows}; 0: skip it)")
    parser.add_argument("--candidates", nargs="+", default=None, metavar="NAME",
                        help="candidate maps (default: all of " + ", ".join(c.split(':')[1] for c in CANDIDATES) + ")")
    parser.add_argument("--mean-gate-init", type=float, default=default.mean_gate_init,
                        help="start of the covariate layout's mean gate, in [0, 1] (default "
                             f"{default.mean_gate_init:g}, the package default)")
    parser.add_argument("--data-dir", default=None, help="folder with ETTh1.csv, ... (default: $CROSSSCALE_DATA_DIR)")
    parser.add_argument("--out", type=Path, default=Path("bench_faithfulness"), help="output folder")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress messages")
    parser.add_argument("--merge", nargs="+", type=Path, default=None, metavar="FOLDER",
                        help="run nothing: join the results of earlier runs' output folders into --out")


def _config_from_args(args: argparse.Namespace) -> FaithConfig:
    for name in ("epochs", "n_windows"):
        if getattr(args, name) < 1:
            option = "--windows" if name == "n_windows" else f"--{name}"
            raise ValueError(f"{option} must be at least 1; got {getattr(args, name)}.")
    if args.max_samples < 0 or args.ablation_windows < 0:
        raise ValueError("--max-samples and --ablation-windows must be >= 0.")
    if any(h < 1 for h in args.horizons):
        raise ValueError(f"--horizons must be positive; got {args.horizons}.")
    if not 0.0 <= args.mean_gate_init <= 1.0:
        raise ValueError(f"--mean-gate-init must be in [0, 1]; got {args.mean_gate_init}.")
    unknown = [name for name in args.datasets if name not in DATASET_NAMES]
    if unknown:
        raise ValueError(f"unknown data set(s) {unknown}; choose among {list(DATASET_NAMES)}.")
    candidates = tuple(CANDIDATES)
    if args.candidates is not None:
        candidates = tuple(c if c.startswith("cand:") else f"cand:{c}" for c in args.candidates)
        bad = [c for c in candidates if c not in CANDIDATES]
        if bad:
            raise ValueError(f"unknown candidate(s) {bad}; choose among {[c[5:] for c in CANDIDATES]}.")
    return FaithConfig(
        datasets=tuple(args.datasets), settings=tuple(dict.fromkeys(args.settings)),
        horizons=tuple(args.horizons), seeds=tuple(dict.fromkeys(args.seeds)), splits=tuple(dict.fromkeys(args.splits)),
        epochs=args.epochs, max_samples=args.max_samples or None, n_windows=args.n_windows,
        ablation_windows=args.ablation_windows, candidates=candidates, mean_gate_init=args.mean_gate_init,
        data_dir=args.data_dir,
    )


def _format_args(args: argparse.Namespace) -> str:
    parts = ["crossscale bench faithfulness", "--datasets " + " ".join(args.datasets),
             "--settings " + " ".join(args.settings), "--horizons " + " ".join(map(str, args.horizons)),
             "--seeds " + " ".join(map(str, args.seeds)), "--split " + " ".join(args.splits),
             f"--epochs {args.epochs}", f"--max-samples {args.max_samples}", f"--windows {args.n_windows}",
             f"--ablation-windows {args.ablation_windows}"]
    if args.candidates:
        parts.append("--candidates " + " ".join(args.candidates))
    if args.mean_gate_init != FaithConfig.mean_gate_init:
        parts.append(f"--mean-gate-init {args.mean_gate_init:g}")
    if args.data_dir:
        parts.append(f"--data-dir {args.data_dir}")
    parts.append(f"--out {args.out}")
    return " ".join(parts)


def run(args: argparse.Namespace) -> int:
    """Run ``crossscale bench faithfulness``; returns the exit status (0 on success)."""
    if getattr(args, "merge", None):
        merge_outputs(list(args.merge), Path(args.out))
        print(f"merged results written to {Path(args.out) / 'results.md'}", flush=True)
        return 0
    try:
        config = _config_from_args(args)
    except ValueError as error:
        raise SystemExit(f"crossscale bench faithfulness: {error}") from None
    command = _format_args(args)
    print(f"reproduce: {command}", flush=True)
    run_benchmark(config, Path(args.out), command=command, progress=not args.no_progress)
    print(f"results written to {Path(args.out) / 'results.md'}\nreproduce: {command}", flush=True)
    return 0


# ------------------------------------------------------------------------------------ network-level maps
class _Network:
    """Differentiable forecast function of a fitted ``CrossScaleNetModel`` on ``(W, L, C)`` windows.

    The package's saliency pass's forward (:func:`crossscale_ext.explainability.point_forecast`): Darts' optional
    reversible norm of the target inside the graph, the point forecast (median of a quantile model, else the first
    parameter).
    """

    def __init__(self, model: Any, batch_size: int = 256) -> None:
        self.model = model
        self.module = model.model
        self.network = self.module.network
        self.n_targets = int(self.network.n_targets)
        self.batch_size = batch_size

    def eval(self) -> None:
        """Inference mode on the network only (Darts shares its default loss module between models)."""
        self.network.eval()
        if hasattr(self.module, "set_mc_dropout"):
            self.module.set_mc_dropout(False)

    def forward(self, x):
        """Point forecast ``(B, H, n_targets)`` of a ``(B, L, C)`` tensor (autograd as the caller sets it)."""
        from crossscale_ext.explainability import point_forecast

        return point_forecast(self.model, x, self.n_targets)[2]

    def predict(self, inputs: np.ndarray) -> np.ndarray:
        """No-grad point forecasts of numpy windows, batched."""
        import torch

        self.eval()
        parts = []
        with torch.no_grad():
            for start in range(0, len(inputs), self.batch_size):
                x = torch.as_tensor(np.ascontiguousarray(inputs[start : start + self.batch_size]), dtype=torch.float32)
                parts.append(self.forward(x).numpy())
        return np.concatenate(parts).astype(np.float64)

    def summed(self):
        """The forward function captum explains: the forecast summed over steps and targets, one scalar a window."""
        return lambda x: self.forward(x).sum(dim=(1, 2))


@contextlib.contextmanager
def _padding_held_constant() -> Iterator[None]:
    """Inside the block, the moving average's replicate padding is detached (its values count, its gradient not)."""
    import torch

    from crossscale_ext.network import SeriesDecomposition

    original = SeriesDecomposition.forward

    def forward(self, x, dim: int = 1):
        along_last = x.movedim(dim, -1)
        pad = (self.kernel_size - 1) // 2
        first, last = along_last[..., :1].detach(), along_last[..., -1:].detach()
        padded = torch.cat([first.expand(*first.shape[:-1], pad), along_last,
                            last.expand(*last.shape[:-1], pad)], dim=-1)
        trend = padded.unfold(-1, self.kernel_size, 1).mean(-1).movedim(-1, dim)
        return x - trend, trend

    SeriesDecomposition.forward = forward
    try:
        yield
    finally:
        SeriesDecomposition.forward = original


def _gradient(net: _Network, x, per_step: bool = False):
    """``d sum(f) / d x`` (signed), or ``sum_h |d f_h / d x|`` with ``per_step`` (one backward pass per output)."""
    import torch

    x = x.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        forecast = net.forward(x)
        if not per_step:
            (grad,) = torch.autograd.grad(forecast.sum(), x)
            return grad
        flat = forecast.reshape(len(x), -1)
        total = torch.zeros_like(x)
        for k in range(flat.shape[1]):
            (grad,) = torch.autograd.grad(flat[:, k].sum(), x, retain_graph=k < flat.shape[1] - 1)
            total += grad.abs()
        return total


def candidate_map(net: _Network, inputs: np.ndarray, name: str, seed: int = 0, batch_size: int = 64) -> np.ndarray:
    """One candidate map (a key of :data:`CANDIDATES`, or ``"grad"`` for the plain gradient) of numpy windows.

    Returns
    -------
    numpy.ndarray
        ``(W, L, C)`` float32, non-negative.
    """
    import torch

    if name != "grad" and name not in CANDIDATES:
        raise ValueError(f"unknown candidate {name!r}; choose among {['grad', *CANDIDATES]}.")
    net.eval()
    generator = torch.Generator().manual_seed(seed)
    parts = []
    for start in range(0, len(inputs), batch_size):
        x = torch.as_tensor(np.ascontiguousarray(inputs[start : start + batch_size]), dtype=torch.float32)
        mean = x.mean(dim=1, keepdim=True)
        if name in ("grad", "cand:grad_blur5", "cand:ixg_blur5"):
            value = _gradient(net, x).abs()
            if name == "cand:ixg_blur5":
                value = value * (x - mean).abs()
            if name != "grad":
                padded = torch.nn.functional.pad(value.transpose(1, 2), (2, 2), mode="replicate")
                value = torch.nn.functional.avg_pool1d(padded, 5, stride=1).transpose(1, 2)
        elif name == "cand:grad_x_std":
            value = _gradient(net, x).abs() * x.std(dim=1, keepdim=True, unbiased=False)
        elif name in ("cand:ixg_signed", "cand:ixg_signed_blur5"):
            contribution = (x - mean) * _gradient(net, x)
            direction = torch.sign(contribution.sum(dim=(1, 2), keepdim=True))
            value = (contribution * direction).clamp_min(0.0)
            if name == "cand:ixg_signed_blur5":
                padded = torch.nn.functional.pad(value.transpose(1, 2), (2, 2), mode="replicate")
                value = torch.nn.functional.avg_pool1d(padded, 5, stride=1).transpose(1, 2)
        elif name == "cand:grad_perstep":
            value = _gradient(net, x, per_step=True)
        elif name == "cand:smoothgrad8":
            n_samples = 8
            scale = 0.15 * x.std(dim=1, keepdim=True).clamp_min(1e-6)
            total = torch.zeros_like(x)
            for _ in range(n_samples):
                noisy = x + scale * torch.randn(x.shape, generator=generator)
                total += _gradient(net, noisy)
            value = total.abs() / n_samples
        elif name in ("cand:ig4", "cand:ig8"):
            steps = 4 if name == "cand:ig4" else 8
            total = torch.zeros_like(x)
            for alpha in (np.arange(steps) + 0.5) / steps:
                total += _gradient(net, mean + float(alpha) * (x - mean))
            value = ((x - mean) * total / steps).abs()
        elif name == "cand:grad_nopad":
            with _padding_held_constant():
                value = _gradient(net, x).abs()
        else:  # pragma: no cover - guarded above
            raise AssertionError(name)
        parts.append(value.detach().numpy().astype(np.float32))
    return np.concatenate(parts)


def _captum_map(net: _Network, inputs: np.ndarray, method: str, config: FaithConfig, seed: int) -> np.ndarray:
    """Absolute captum IntegratedGradients, NoiseTunnel(Saliency) or FeatureAblation maps, ``(W, L, C)``."""
    import torch
    from captum.attr import FeatureAblation, IntegratedGradients, NoiseTunnel, Saliency

    net.eval()
    forward = net.summed()
    torch.manual_seed(seed)
    parts = []
    batch = 32 if method != "FeatureAblation" else 4
    for start in range(0, len(inputs), batch):
        x = torch.as_tensor(np.ascontiguousarray(inputs[start : start + batch]), dtype=torch.float32)
        baseline = x.mean(dim=1, keepdim=True).expand_as(x).contiguous()
        if method == "IntegratedGradients":
            attribution = IntegratedGradients(forward).attribute(x, baselines=baseline, n_steps=config.ig_steps,
                                                                 internal_batch_size=1024)
        elif method == "NoiseTunnel (SmoothGrad)":
            attribution = NoiseTunnel(Saliency(forward)).attribute(
                x, nt_type="smoothgrad", nt_samples=config.nt_samples, stdevs=0.15, abs=True,
                nt_samples_batch_size=config.nt_samples)
        elif method == "FeatureAblation":
            with torch.no_grad():
                attribution = FeatureAblation(forward).attribute(x, baselines=baseline, perturbations_per_eval=128)
        else:  # pragma: no cover
            raise ValueError(method)
        parts.append(attribution.detach().abs().numpy().astype(np.float32))
    return np.concatenate(parts)


@contextlib.contextmanager
def randomized_weights(network: Any, seed: int) -> Iterator[None]:
    """Inside the block every weight of ``network`` is re-initialised (as at construction); restored afterwards.

    Modules with ``reset_parameters`` are reset; the scale weights are set to 1 and the other direct parameters
    (affine norm, gates, lag kernels) are drawn from a standard normal scaled by 0.1 around their initial values
    (1 for the norm's weight, 0 otherwise), so no part keeps its trained value.
    """
    import torch

    saved = copy.deepcopy(network.state_dict())
    torch.manual_seed(10_000 + seed)
    handled = set()
    for module in network.modules():
        if module is not network and hasattr(module, "reset_parameters"):
            module.reset_parameters()
            handled.update(id(p) for p in module.parameters(recurse=False))
    with torch.no_grad():
        for name, parameter in network.named_parameters():
            if id(parameter) in handled:
                continue
            if name.endswith("scale_weights"):
                parameter.fill_(1.0)
            else:
                centre = 1.0 if name.endswith("affine_weight") else 0.0
                parameter.copy_(centre + 0.1 * torch.randn_like(parameter))
    try:
        yield
    finally:
        network.load_state_dict(saved)


# ------------------------------------------------------------------------------------------------ the run
def _quiet() -> None:
    from crossscale_ext._lightning import silence_lightning

    silence_lightning()
    for name in ("darts", "pytorch_lightning", "lightning"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _split_series(data: Any, split: str, setting: str) -> tuple[Any, Any | None, list[str]]:
    """Target series and past covariates of a split for a setting; the input component order."""
    series = getattr(data, split)
    if setting == "all":
        return series, None, list(series.components)
    target = "OT" if "OT" in data.columns else data.columns[-1]
    others = [c for c in data.columns if c != target]
    return series[target], series[others], [target, *others]


class _Case:
    """One (data set, setting, horizon, seed): the trained model and every map of the evaluation windows."""

    def __init__(self, data: Any, setting: str, horizon: int, seed: int, config: FaithConfig) -> None:
        import torch

        from crossscale_ext._lightning import QUIET_TRAINER_KWARGS
        from crossscale_ext.darts_model import CrossScaleNetModel

        self.data, self.setting, self.horizon, self.seed, self.config = data, setting, horizon, seed, config
        train, covariates, self.components = _split_series(data, "train", setting)
        torch.manual_seed(seed)
        self.model = CrossScaleNetModel(
            input_chunk_length=config.input_length, output_chunk_length=horizon, n_epochs=config.epochs,
            random_state=seed, mean_gate_init=config.mean_gate_init,
            pl_trainer_kwargs={**QUIET_TRAINER_KWARGS, "accelerator": "cpu"},
        )
        begin = time.perf_counter()
        self.model.fit(train, past_covariates=covariates, max_samples_per_ts=config.max_samples, verbose=False)
        self.train_seconds = time.perf_counter() - begin
        self.net = _Network(self.model)
        values = train.values(copy=False) if covariates is None else np.concatenate(
            [train.values(copy=False), covariates.values(copy=False)], axis=1)
        self.train_mean = values.mean(axis=0).astype(np.float32)

    def evaluate(self, split: str) -> dict[str, Any]:
        """Every map of the split's evaluation windows, their deletion scores, costs and randomization check."""
        series, covariates, _ = _split_series(self.data, split, self.setting)
        config, horizon, length = self.config, self.horizon, self.config.input_length
        n_total = len(series) - length - horizon + 1
        stride = max(1, n_total // config.n_windows)
        kwargs = {"past_covariates": covariates, "windows": "all", "stride": stride}
        begin = time.perf_counter()
        self.model.historical_forecasts(series, past_covariates=covariates, forecast_horizon=horizon, stride=stride,
                                        retrain=False, last_points_only=False, overlap_end=False, verbose=False,
                                        show_warnings=False)
        predict_seconds = time.perf_counter() - begin
        begin = time.perf_counter()
        self.model.saliency(series, gradients=False, inputs=False, maps=ATTENTION_MAPS, **kwargs)
        attention_seconds = time.perf_counter() - begin
        begin = time.perf_counter()
        result = self.model.saliency(series, maps=PACKAGE_MAPS, inputs=True, **kwargs)
        gradient_seconds = time.perf_counter() - begin
        inputs = result.inputs.astype(np.float32)
        n = len(inputs)
        starts = np.arange(n) * stride
        values = series.values(copy=False)
        if not (np.asarray(result.forecast_index[:, 0]) == np.asarray(series.time_index[starts + length])).all():
            raise RuntimeError("saliency()'s windows are not every stride-th window of the split (a bug to report).")
        targets = np.stack([values[s + length : s + length + horizon] for s in starts]).astype(np.float64)
        base = self.net.predict(inputs)
        if not np.allclose(base, result.forecast, rtol=1e-4, atol=1e-4):
            raise RuntimeError("the network-level forecast differs from saliency()'s forecast (a bug to report).")
        begin = time.perf_counter()
        self.net.predict(inputs)
        forward_seconds = time.perf_counter() - begin

        maps: dict[str, np.ndarray] = {}
        costs: dict[str, float] = {}
        for name in PACKAGE_MAPS:
            maps[name] = np.asarray(getattr(result, name))
            costs[name] = (gradient_seconds if "gradient" in name else attention_seconds) / predict_seconds
        begin = time.perf_counter()
        grad = candidate_map(self.net, inputs, "grad", self.seed)
        costs["gradient (network level)"] = (time.perf_counter() - begin) / forward_seconds
        if not np.allclose(grad, maps["gradient"], rtol=1e-3, atol=1e-5 * float(np.abs(grad).max())):
            raise RuntimeError("the network-level gradient differs from saliency()'s gradient map (a bug to report).")
        for name in config.candidates:
            begin = time.perf_counter()
            maps[name] = candidate_map(self.net, inputs, name, self.seed)
            costs[name] = (time.perf_counter() - begin) / forward_seconds
        ablation = np.unique(np.linspace(0, n - 1, min(config.ablation_windows, n)).round().astype(int)) \
            if config.ablation_windows else np.array([], dtype=int)
        for name in PEERS:
            rows = ablation if name == "FeatureAblation" else np.arange(n)
            if len(rows) == 0:
                continue
            begin = time.perf_counter()
            maps[name] = _captum_map(self.net, inputs[rows], name, config, self.seed)
            costs[name] = (time.perf_counter() - begin) / forward_seconds * n / len(rows)
        maps["recency"] = recency_map(inputs.shape)
        costs["recency"] = 0.0

        randomized = self._randomized(series, kwargs, inputs, maps, ablation)
        return {"inputs": inputs, "targets": targets, "base": base, "maps": maps, "costs": costs,
                "ablation_rows": ablation, "randomization": randomized, "stride": stride, "n_total": n_total,
                "seconds": {"predict": predict_seconds, "forward": forward_seconds, "saliency": gradient_seconds,
                            "attention": attention_seconds}}

    def _randomized(self, series, kwargs, inputs, maps, ablation) -> dict[str, float]:
        """Median per-window Spearman between each trained map and the map of the re-initialised network."""
        out = {}
        with randomized_weights(self.net.network, self.seed):
            result = self.model.saliency(series, inputs=False, maps=PACKAGE_MAPS, **kwargs)
            fresh: dict[str, np.ndarray] = {name: np.asarray(getattr(result, name)) for name in PACKAGE_MAPS}
            for name in self.config.candidates:
                fresh[name] = candidate_map(self.net, inputs, name, self.seed)
            for name in PEERS:
                if name in maps and name != "FeatureAblation":
                    fresh[name] = _captum_map(self.net, inputs, name, self.config, self.seed)
        for name, value in fresh.items():
            out[name] = float(np.nanmedian(rank_correlation(maps[name], value)))
        return out


def _score(case: _Case, split: str, evaluation: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per method: deletion / insertion (both references), ratios, randomization, cost."""
    inputs, base, targets = evaluation["inputs"], evaluation["base"], evaluation["targets"]
    maps = evaluation["maps"]
    predict = case.net.predict
    n_components = inputs.shape[2]
    scores: dict[str, dict[str, float]] = {}
    for reference in REFERENCES:
        for name, saliency in maps.items():
            rows = evaluation["ablation_rows"] if name == "FeatureAblation" else slice(None)
            result = deletion_effects(predict, inputs[rows], saliency, FRACTIONS, reference, case.train_mean,
                                      targets[rows], base[rows], seed=case.seed)
            scores.setdefault(name, {}).update({f"{reference}_{k}": v for k, v in result.items()})
        draws = []
        for draw in range(_N_RANDOM_DRAWS):
            from crossscale_ext.metrics import random_saliency

            control = random_saliency((len(inputs), inputs.shape[1], n_components), seed=case.seed * 100 + draw)
            draws.append(deletion_effects(predict, inputs, control, FRACTIONS, reference, case.train_mean, targets,
                                          base, seed=case.seed))
        scores.setdefault("random", {}).update({f"{reference}_{k}": float(np.mean([d[k] for d in draws]))
                                                for k in draws[0]})
    # the same windows as FeatureAblation's, for its ratios
    ablation_rows = evaluation["ablation_rows"]
    sub = {}
    if len(ablation_rows):
        for reference in REFERENCES:
            for name in ("random", "recency", "IntegratedGradients"):
                if name == "random":
                    control = np.random.default_rng(case.seed).random(inputs[ablation_rows].shape)
                else:
                    control = maps[name][ablation_rows]
                result = deletion_effects(predict, inputs[ablation_rows], control, FRACTIONS, reference,
                                          case.train_mean, None, base[ablation_rows], seed=case.seed)
                sub.setdefault(name, {}).update({f"{reference}_{k}": v for k, v in result.items()})
    mse = float(np.mean((base - targets) ** 2))
    rows = []
    for name, values in scores.items():
        row: dict[str, Any] = {
            "split": split, "dataset": case.data.name, "setting": case.setting, "horizon": case.horizon,
            "seed": case.seed, "method": name, "kind": _kind(name), "windows": len(inputs),
            "stride": evaluation["stride"], "mse": mse, "train_seconds": case.train_seconds, **values,
        }
        peers = sub if name == "FeatureAblation" else scores
        if name == "FeatureAblation":
            row["windows"] = len(ablation_rows)
        for reference in REFERENCES:
            for fraction in FRACTIONS:
                key = f"{reference}_del@{fraction:g}"
                for label, peer in (("random", "random"), ("recency", "recency"), ("ig", "IntegratedGradients")):
                    denominator = peers.get(peer, {}).get(key, np.nan)
                    row[f"{key}_x{label}"] = values[key] / denominator if denominator and denominator > 0 else np.nan
        row["randomization"] = evaluation["randomization"].get(name, np.nan)
        row["cost_x_predict"] = evaluation["costs"].get(name, np.nan)
        if name == "gradient":
            row["cost_network_level"] = evaluation["costs"].get("gradient (network level)", np.nan)
        rows.append(row)
    return rows


def _kind(name: str) -> str:
    if name in PACKAGE_MAPS:
        return "package"
    if name in CANDIDATES:
        return "candidate"
    if name in PEERS:
        return "captum"
    return "baseline"


def run_benchmark(config: FaithConfig, out: Path, command: str = "", progress: bool = True) -> list[dict[str, Any]]:
    """Run the benchmark and write its outputs (after every case, so a long run leaves partial results).

    Returns
    -------
    list of dict
        The result rows (also in ``results.csv``).
    """
    from crossscale_ext.datasets.long_horizon import load_long_horizon

    _quiet()
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    stability: list[dict[str, Any]] = []
    started = time.perf_counter()
    for name in config.datasets:
        data = load_long_horizon(name, input_length=config.input_length, data_dir=config.data_dir)
        for setting in config.settings:
            for horizon in config.horizons:
                kept: dict[str, list[dict[str, np.ndarray]]] = {split: [] for split in config.splits}
                for seed in config.seeds:
                    begin = time.perf_counter()
                    case = _Case(data, setting, horizon, seed, config)
                    for split in config.splits:
                        evaluation = case.evaluate(split)
                        rows.extend(_score(case, split, evaluation))
                        kept[split].append(evaluation["maps"])
                    if progress:
                        print(f"[{time.perf_counter() - started:7.0f} s] {name} {setting} H={horizon} seed {seed}: "
                              f"{time.perf_counter() - begin:.0f} s (training {case.train_seconds:.0f} s)", flush=True)
                    stability = [s for s in stability if (s["dataset"], s["setting"], s["horizon"]) !=
                                 (name, setting, horizon)]
                    for split, per_seed in kept.items():
                        for method in per_seed[0]:
                            entry = seed_stability([m[method] for m in per_seed if method in m])
                            stability.append({"split": split, "dataset": name, "setting": setting,
                                              "horizon": horizon, "method": method, "seeds": len(per_seed), **entry})
                    write_outputs(rows, stability, config, out, command, time.perf_counter() - started)
    return rows


# ------------------------------------------------------------------------------------------------ outputs
def summarize(rows: list[dict[str, Any]], stability: list[dict[str, Any]]):
    """Mean over seeds per (split, data set, setting, horizon, method), joined with the seed stability."""
    import pandas as pd

    frame = pd.DataFrame(rows)
    keys = ["split", "dataset", "setting", "horizon", "method"]
    # network-level costs measured against the package's: a candidate's cost over the network-level gradient's,
    # times the package gradient's cost over a Darts prediction, estimates its cost inside the package's pass
    case = ["split", "dataset", "setting", "horizon", "seed"]
    gradient = frame[frame["method"] == "gradient"].set_index(case)
    if "cost_network_level" in frame and not gradient.empty:
        joined = frame.join(gradient[["cost_network_level", "cost_x_predict"]], on=case, rsuffix="_gradient")
        network_level = ~frame["method"].isin(PACKAGE_MAPS + BASELINES)
        frame["cost_vs_gradient"] = np.where(
            network_level, joined["cost_x_predict"] / joined["cost_network_level_gradient"], np.nan)
        frame["cost_package_estimate"] = np.where(
            network_level, frame["cost_vs_gradient"] * joined["cost_x_predict_gradient"], frame["cost_x_predict"])
    numeric = [c for c in frame.columns if c not in keys + ["kind"] and pd.api.types.is_numeric_dtype(frame[c])]
    summary = frame.groupby(keys, sort=False)[numeric].mean().reset_index()
    summary["kind"] = summary["method"].map(_kind)
    if stability:
        summary = summary.merge(pd.DataFrame(stability).drop(columns=["seeds"]), on=keys, how="left")
    return summary


def _groups(summary) -> list[tuple[str, int]]:
    """The (setting, horizon) groups of the validation rows, the main one first (``target``, shortest horizon)."""
    val = summary[summary["split"] == "val"]
    pairs = {(str(a), int(b)) for a, b in zip(val["setting"], val["horizon"])}
    return sorted(pairs, key=lambda pair: (pair[0] != "target", pair[1], pair[0]))


def _pick(summary, group: tuple[str, int] | None = None) -> tuple[str | None, Any]:
    """The recommended map on validation windows of one (setting, horizon) group (default: the main one).

    Most targets met (worst case over the data sets), then the highest worst-case recency ratio.
    """
    import pandas as pd

    groups = _groups(summary)
    if not groups:
        return None, pd.DataFrame()
    setting, horizon = group or groups[0]
    val = summary[(summary["split"] == "val") & summary["kind"].isin(["package", "candidate"])
                  & (summary["setting"] == setting) & (summary["horizon"] == horizon)]
    if val.empty:
        return None, pd.DataFrame()
    # a worst case over fewer data sets is not comparable: only the maps measured on every data set of the group
    coverage = val.groupby("method")["dataset"].nunique()
    val = val[val["method"].isin(coverage[coverage == val["dataset"].nunique()].index)]
    table = val.groupby("method").agg(
        min_xrandom=("mean_del@0.05_xrandom", "min"), min_xrecency=("mean_del@0.05_xrecency", "min"),
        min_xig=("mean_del@0.05_xig", "min"), min_carry_xrecency=("carry_del@0.05_xrecency", "min"),
        seed_spearman=("seed_spearman", "mean"), seed_profile=("seed_profile", "mean"),
        randomization=("randomization", "mean"), cost=("cost_package_estimate", "mean"),
    ).reset_index()
    checks = pd.DataFrame({
        "random": table["min_xrandom"] >= TARGETS["ratio_random"],
        "recency": table["min_xrecency"] >= TARGETS["ratio_recency"],
        "ig": table["min_xig"] >= TARGETS["ratio_ig"],
        "seed": table["seed_spearman"] >= TARGETS["seed_spearman"],
        "randomization": table["randomization"] <= TARGETS["randomization"],
        "cost": table["cost"] <= TARGETS["cost"],
    })
    table["targets_met"] = checks.sum(axis=1)
    table["targets_met_except_cost"] = checks.drop(columns="cost").sum(axis=1)
    table = table.sort_values(["targets_met", "min_xrecency"], ascending=False).reset_index(drop=True)
    return str(table.loc[0, "method"]), table


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "–"
    if isinstance(value, (float, np.floating)):
        return f"{value:.{digits}f}"
    return str(value)


_TABLE = [
    ("mean_del@0.05_xrandom", "del 5% / random"), ("mean_del@0.05_xrecency", "/ recency"),
    ("mean_del@0.05_xig", "/ IG"), ("mean_del@0.1_xrandom", "del 10% / random"),
    ("mean_del@0.2_xrandom", "del 20% / random"), ("carry_del@0.05_xrandom", "carry 5% / random"),
    ("carry_del@0.05_xrecency", "carry / recency"), ("mean_ins@0.1", "ins 10%"), ("seed_spearman", "seed rho"),
    ("seed_topk", "seed top5%"), ("seed_profile", "profile rho"), ("randomization", "random-weights rho"),
    ("cost_x_predict", "cost x"), ("cost_package_estimate", "cost x (in the package's pass)"),
]


def markdown(summary, config: FaithConfig, command: str, machine: dict[str, Any], elapsed: float) -> str:
    """The results page: the choice on validation windows, then one table per (split, data set, setting, H)."""
    lines = ["# Faithfulness benchmark results", "", f"Reproduce: `{command}`", "",
             f"Machine: {machine['cpu_model']}, {machine['platform']}, {machine['cpu_count']} CPU(s), torch threads "
             f"{machine['torch_threads']}. Elapsed: {elapsed:.0f} s.", ""]
    groups = _groups(summary)
    if groups:
        lines += ["## Choice on validation windows", "",
                  "Worst case over the validation data sets of the deletion ratios at 5 % (window-mean reference), "
                  "mean of the others, for the maps measured on every data set of the group; sorted by the number of "
                  "targets met, then the worst recency ratio. The pick "
                  f"is made in the first group (setting {groups[0][0]}, H = {groups[0][1]}).", ""]
    for group in groups:
        pick, table = _pick(summary, group)
        lines += [f"### Setting {group[0]}, H = {group[1]}", "",
                  "| map | min / random | min / recency | min / IG | min carry / recency | seed rho | profile rho | "
                  "random-weights rho | cost x | targets met (of 6) |", "|---|---|---|---|---|---|---|---|---|---|"]
        for _, r in table.iterrows():
            lines.append(f"| {r['method']} | {_fmt(r['min_xrandom'])} | {_fmt(r['min_xrecency'])} | "
                         f"{_fmt(r['min_xig'])} | {_fmt(r['min_carry_xrecency'])} | {_fmt(r['seed_spearman'])} | "
                         f"{_fmt(r['seed_profile'])} | {_fmt(r['randomization'])} | {_fmt(r['cost'], 1)} | "
                         f"{r['targets_met']} |")
        lines += ["", f"Pick{' (the recommended map)' if group == groups[0] else ' in this group'}: `{pick}`.", ""]
    lines += ["## Per split, data set, setting and horizon (mean over seeds)", "",
              "Columns: deletion effect (mean absolute forecast change when each window's top cells are replaced) "
              "over that of the random map, the recency map and IntegratedGradients; `carry`: the carry-forward "
              "reference; `ins 10%`: share of the forecast recovered from the top 10 % alone; seed rho / top5% / "
              "profile rho: agreement of the maps of models trained with different seeds; random-weights rho: "
              "Spearman with the map of the re-initialised network; cost x: over a plain prediction of the same "
              "windows (package maps: Darts' historical_forecasts; others: the network's forward); cost x (in the "
              "package's pass): a network-level method's cost over the network-level gradient's, times the package "
              "gradient map's cost x (what it would cost computed in the package's saliency pass).", ""]
    for (split, dataset, setting, horizon), group in summary.groupby(["split", "dataset", "setting", "horizon"],
                                                                      sort=False):
        mse = group["mse"].iloc[0]
        lines += [f"### {split}: {dataset}, {setting}, H = {horizon} (forecast MSE {mse:.3f}, "
                  f"{int(group['windows'].max())} windows)", "",
                  "| map | " + " | ".join(label for _, label in _TABLE) + " |", "|---" * (len(_TABLE) + 1) + "|"]
        for _, r in group.iterrows():
            cells = [_fmt(r.get(key, np.nan), 1 if key.startswith("cost") else 2) for key, _ in _TABLE]
            lines.append(f"| {r['method']} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += ["## Candidate maps", ""] + [f"- `{k}`: {v}" for k, v in CANDIDATES.items()]
    lines += ["", "## Configuration", "", "```", json.dumps(asdict(config), indent=1), "```", ""]
    return "\n".join(lines)


def _machine() -> dict[str, Any]:
    import os

    import torch

    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"platform": platform.platform(), "cpu_model": model, "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "python": platform.python_version(), "torch": torch.__version__}


def write_outputs(rows: list[dict[str, Any]], stability: list[dict[str, Any]], config: FaithConfig, out: Path,
                  command: str, elapsed: float) -> None:
    """Write ``results.csv``, ``stability.csv``, ``summary.csv``, ``results.json`` and ``results.md``."""
    import pandas as pd

    machine = _machine()
    summary = summarize(rows, stability)
    pd.DataFrame(rows).to_csv(out / "results.csv", index=False)
    pd.DataFrame(stability).to_csv(out / "stability.csv", index=False)
    summary.to_csv(out / "summary.csv", index=False)
    pick, _ = _pick(summary)
    payload = {"command": command, "config": asdict(config), "machine": machine, "elapsed_seconds": elapsed,
               "pick_on_validation": pick, "targets": TARGETS, "candidates": CANDIDATES, "rows": rows,
               "stability": stability}
    (out / "results.json").write_text(json.dumps(payload, indent=1, default=_json_default))
    (out / "results.md").write_text(markdown(summary, config, command, machine, elapsed))


def merge_outputs(folders: list[Path], out: Path) -> None:
    """Join the ``results.csv`` / ``stability.csv`` / ``results.json`` of earlier runs into one set of outputs.

    The commands of the runs are listed in the merged ``results.md``; a (split, data set, setting, horizon) case
    present in several folders keeps the rows of the last folder that has it.
    """
    import pandas as pd

    rows: list[dict[str, Any]] = []
    stability: list[dict[str, Any]] = []
    commands, elapsed = [], 0.0
    keys = ["split", "dataset", "setting", "horizon"]
    for folder in folders:
        payload = json.loads((Path(folder) / "results.json").read_text())
        new_rows = pd.read_csv(Path(folder) / "results.csv").to_dict("records")
        new_stability = pd.read_csv(Path(folder) / "stability.csv").to_dict("records")
        cases = {tuple(r[k] for k in keys) for r in new_rows}
        rows = [r for r in rows if tuple(r[k] for k in keys) not in cases] + new_rows
        stability = [r for r in stability if tuple(r[k] for k in keys) not in cases] + new_stability
        commands.append(payload["command"])
        elapsed += float(payload.get("elapsed_seconds", 0.0))
        config = FaithConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in payload["config"].items()})
    out.mkdir(parents=True, exist_ok=True)
    write_outputs(rows, stability, config, out, " ; ".join(commands), elapsed)


def _json_default(value: Any) -> Any:
    from crossscale_ext.benchmarks.saliency import _json_default as default

    return default(value)

