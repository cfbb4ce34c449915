"""``crossscale bench lagcopy``: whether the saliency maps point at the lag a series copies.

The series (:func:`crossscale_ext.datasets.synthetic.lag_copy_series`) copies its value ``K`` steps back,
``y_t = 0.95 y_(t-K) + 0.3 e_t``, so an ``H``-step forecast rests on input lags ``K - H + 1 .. K``. For each
horizon the command trains CrossScaleNet, explains every test window and reports, per map, the lag where the mean
map peaks and the share of its mass on the true lags (a uniform map puts ``H / L`` there). An occlusion check on
the same model (replace a block of ``H`` lags by the window mean; which block moves the forecast most) shows
whether the model itself rests on the true lags.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's options."""
    parser.add_argument("--lag", type=int, default=48, help="the copied lag K (default: 48)")
    parser.add_argument("--horizons", type=int, nargs="+", default=[8, 24, 48], help="horizons H (default: 8 24 48)")
    parser.add_argument("--input-length", type=int, default=96, help="lookback L (default: 96)")
    parser.add_argument("--epochs", type=int, default=10, help="training epochs (default: 10)")
    parser.add_argument("--seed", type=int, default=0, help="seed of data and model (default: 0)")
    parser.add_argument("--out", type=Path, default=None, help="also write the table to OUT/lagcopy.md")


def run(args: argparse.Namespace) -> int:
    """Train per horizon, score the maps, print (and optionally write) the table. Returns 0."""
    import numpy as np
    import torch
    from tqdm import tqdm

    from crossscale_ext._lightning import QUIET_TRAINER_KWARGS, silence_lightning
    from crossscale_ext.darts_model import CrossScaleNetModel
    from crossscale_ext.datasets.synthetic import lag_copy_series

    silence_lightning()
    K, L = args.lag, args.input_length
    if any(h > K for h in args.horizons) or K > L:
        raise SystemExit("crossscale bench lagcopy: need every horizon <= --lag <= --input-length.")
    series = lag_copy_series(K, seed=args.seed)
    train, test = series[:2500], series[2400:]
    trainer = {**QUIET_TRAINER_KWARGS, "accelerator": "cpu"}
    lines = [
        f"Lag-copy series, K = {K}, L = {L}, {args.epochs} epochs, seed {args.seed}. True lags: K-H+1..K.",
        "",
        "| H | test MSE | occlusion: block that moves the forecast most | map | peak lag | mass on true lags | "
        "uniform share |",
        "|---|---|---|---|---|---|---|",
    ]
    for H in tqdm(args.horizons, desc="horizons"):
        start = time.perf_counter()
        model = CrossScaleNetModel(input_chunk_length=L, output_chunk_length=H, n_epochs=args.epochs,
                                   optimizer_kwargs={"lr": 1e-3}, random_state=args.seed, pl_trainer_kwargs=trainer)
        model.fit(train)
        result = model.saliency(test, windows="all", maps="all", inputs=True)
        truth = np.stack([test.values()[L + w : L + w + H, 0] for w in range(result.n_windows)])
        mse = float(np.mean((result.forecast[..., 0] - truth) ** 2))
        windows = torch.from_numpy(result.inputs[::4].copy())
        network = model.model.network.eval()
        with torch.no_grad():
            base = network(windows).forecast
            moves = {}
            for last_lag in range(H, L + 1, H):
                occluded = windows.clone()
                occluded[:, L - last_lag : L - last_lag + H] = windows.mean(dim=1, keepdim=True)
                moves[last_lag] = (network(occluded).forecast - base).abs().mean().item()
        block = max(moves, key=moves.get)
        for kind in ("paper", "per_step", "gradient", "input_x_gradient", "aligned_input_x_gradient"):
            profile = result.lag_profile(kind)
            share = profile[K - H : K].sum() / profile.sum()
            lines.append(f"| {H} | {mse:.3f} | lags {block - H + 1}-{block} | {kind} | {int(np.argmax(profile)) + 1} | "
                         f"{share:.3f} | {H / L:.3f} |")
        tqdm.write(f"H={H} done in {time.perf_counter() - start:.0f} s")
    table = "\n".join(lines)
    print(table)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "lagcopy.md").write_text(table + "\n")
    return 0
