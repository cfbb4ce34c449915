"""``crossscale demo``: CrossScaleNet on a synthetic series whose important lags are known.

It draws SYN6 (from the paper's Table 1: the target is a sum of two covariates at lags 48-57, plus noise),
trains a small CrossScaleNetModel (a progress bar when the output is a terminal), forecasts every test window,
scores the forecast against two naive forecasts and every saliency map against the ground truth (AUROC over time
steps and over time x component cells, where 0.5 is chance), and writes a forecast plot and a saliency heatmap.
Nothing is downloaded, and nothing beyond the package's own dependencies is needed (``pip install -e .``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the demo's options."""
    parser.add_argument("--dataset", default="SYN6", help="synthetic set SYN1..SYN8 (default: SYN6)")
    parser.add_argument("--epochs", type=int, default=15, help="training epochs (default: 15)")
    parser.add_argument("--length", type=int, default=2400, help="time steps of the synthetic series (default: 2400)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the data and the model (default: 0)")
    parser.add_argument("--out", type=Path, default=Path("crossscale_output"),
                        help="folder for forecast.png and saliency.png (default: ./crossscale_output)")
    parser.add_argument("--quick", action="store_true", help="tiny run for smoke tests (2 epochs, short series)")
    parser.add_argument("--no-progress", action="store_true",
                        help="hide the training progress bar (hidden anyway when the output is not a terminal)")


def run(args: argparse.Namespace) -> int:
    """Train, score and plot; print a short report. Returns 0."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from crossscale_ext._lightning import QUIET_TRAINER_KWARGS, silence_lightning
    from crossscale_ext.darts_model import CrossScaleNetModel
    from crossscale_ext.datasets.synthetic import make_syn
    from crossscale_ext.metrics import auroc, random_saliency
    from crossscale_ext.plotting import plot_forecast, plot_saliency

    silence_lightning()
    if args.epochs < 1 or args.length < 400:
        raise SystemExit("crossscale demo: --epochs must be >= 1 and --length >= 400.")
    epochs, length = (2, 800) if args.quick else (args.epochs, args.length)
    horizon = 16
    progress = sys.stdout.isatty() and not args.no_progress
    started = time.perf_counter()

    data = make_syn(args.dataset, length=length, horizon=horizon, seed=args.seed)
    print(f"Data: {data.name}, {length} steps; the target is a sum of covariates "
          f"{[data.component_names[1 + f] for f in data.important_features]} at lags "
          f"{_ranges(data.important_lags)} plus noise {data.noise}. Train {data.train_end} steps, test the rest.")
    model = CrossScaleNetModel(
        input_chunk_length=data.input_length, output_chunk_length=horizon, d_model=32, n_epochs=epochs,
        batch_size=32, optimizer_kwargs={"lr": 1e-2}, random_state=args.seed,  # the saliency benchmark's recipe
        mean_gate_init=0.0,  # the target's own level says nothing of its future: its covariates drive it
        pl_trainer_kwargs={**QUIET_TRAINER_KWARGS, "enable_progress_bar": progress, "accelerator": "cpu"},
    )
    model.fit(data.train_target, past_covariates=data.train_covariates)
    trained = time.perf_counter()

    result = model.saliency(data.test_target, past_covariates=data.test_covariates, windows="all", maps="all",
                            inputs=True)
    inputs, truth = data.windows("test")
    errors = result.forecast - truth
    last_value = np.repeat(inputs[:, -1:, :1], horizon, axis=1)
    train_mean = data.train_target.values().mean()
    print(f"\nForecast of all {result.n_windows} test windows ({horizon} steps each), MSE on the unit-variance target:")
    print(f"  CrossScaleNet       {np.mean(errors ** 2):.3f}")
    print(f"  repeat last value   {np.mean((last_value - truth) ** 2):.3f}")
    print(f"  train mean          {np.mean((train_mean - truth) ** 2):.3f}")

    random_cells = random_saliency(result.per_component.shape, seed=args.seed)
    rows = [  # label, map over time steps, map over time x component cells (None: the map has no components)
        ("gradient map (recommended)", result.temporal_map("gradient"), result.component_map("gradient")),
        ("input x gradient map", result.temporal_map("input_x_gradient"), result.component_map("input_x_gradient")),
        ("paper map (attention, 16-step patches)", result.paper, None),
        ("per-step map", result.per_step, None),
        ("per-component map", result.temporal_map("per_component"), result.per_component),
        ("random saliency (control)", random_cells.sum(axis=2), random_cells),
    ]
    print("\nSaliency against the ground truth, mean AUROC over test windows (0.5 = chance, 1 = perfect):")
    print(f"  {'map':<40} {'time steps':>10} {'cells':>8}")
    for label, over_time, over_cells in rows:
        cells = "-" if over_cells is None else f"{auroc(over_cells, data.mask):.3f}"
        print(f"  {label:<40} {auroc(over_time, data.lag_mask):>10.3f} {cells:>8}")
    print("  (cells: time x input component. The paper, per-step and per-component maps are attention weights;\n"
          "   docs/saliency.md says how each map is built and why attention need not point at fixed lags)")

    args.out.mkdir(parents=True, exist_ok=True)
    fig = plot_saliency(result, window=-1, ground_truth=data.mask)
    fig.savefig(args.out / "saliency.png", dpi=110)
    plt.close(fig)
    fig = plot_forecast(result, actual=data.test_target,
                        title=f"CrossScaleNet on {data.name}: {horizon}-step forecasts of the last test windows")
    fig.savefig(args.out / "forecast.png", dpi=110)
    plt.close(fig)
    finished = time.perf_counter()
    print(f"\nWrote {args.out / 'forecast.png'} and {args.out / 'saliency.png'}.")
    print(f"Training {trained - started:.0f} s, saliency and plots {finished - trained:.0f} s.")
    return 0


def _ranges(values: tuple[int, ...]) -> str:
    """``(1, 2, 3, 7)`` as ``"1-3, 7"``."""
    parts, start = [], None
    for i, v in enumerate(values):
        if start is None:
            start = v
        if i + 1 == len(values) or values[i + 1] != v + 1:
            parts.append(f"{start}-{v}" if v != start else f"{v}")
            start = None
    return ", ".join(parts)
