"""``crossscale bench defaults``: choose the covariate path and the learning rate on validation data only.

For every synthetic set (SYN1-SYN8) the train part is split in time: the first 80 % fits, the last 20 %
validates (the test part is never read). Every candidate (``covariate_path`` x Adam learning rate; 15 epochs,
batch 32, the other hyperparameters at their defaults) is trained on the fit part and scored on the validation
windows: forecast MSE against the MSE floor, and the AUROC of every saliency map against the ground truth.
The table this writes is the evidence behind ``ArchitectureConfig.covariate_path``'s default and the saliency
benchmark's learning rate (docs/benchmarks/saliency.md, "Choosing the defaults").
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["CANDIDATES", "add_arguments", "run", "validation_scores"]

#: ``(covariate_path, learning rate)`` pairs tried by default.
CANDIDATES: tuple[tuple[str, float], ...] = (
    ("none", 1e-2), ("none", 3e-3), ("linear", 3e-3), ("lagged", 1e-3), ("lagged", 3e-3), ("lagged", 1e-2),
)
ALL_SETS = tuple(f"SYN{i}" for i in range(1, 9))
FIT_FRACTION = 0.8


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the options of ``crossscale bench defaults`` on ``parser``."""
    parser.add_argument("--datasets", nargs="+", default=list(ALL_SETS), metavar="SYN", help="sets (default: all 8)")
    parser.add_argument("--horizon", type=int, default=6, help="forecast steps (default 6)")
    parser.add_argument("--epochs", type=int, default=15, help="training epochs (default 15)")
    parser.add_argument("--seed", type=int, default=0, help="seed of data and model (default 0)")
    parser.add_argument("--out", type=Path, default=Path("bench_defaults"), help="output folder")


def validation_scores(name: str, covariate_path: str, learning_rate: float, horizon: int = 6, epochs: int = 15,
                      seed: int = 0, length: int = 2000, mean_gate_init: float = 0.0) -> dict[str, Any]:
    """Train one candidate on the fit part of ``name``'s train part and score it on the validation part.

    ``mean_gate_init`` is 0, as in the saliency benchmark: the synthetic targets are driven by their covariates.
    """
    from crossscale_ext._lightning import QUIET_TRAINER_KWARGS
    from crossscale_ext.darts_model import CrossScaleNetModel
    from crossscale_ext.datasets.synthetic import make_syn
    from crossscale_ext.metrics import auroc

    ds = make_syn(name, length=length, horizon=horizon, input_length=96, seed=seed)
    fit_end = int(FIT_FRACTION * ds.train_end)
    val_target = ds.target[fit_end - ds.input_length : ds.train_end]
    val_covariates = ds.covariates[fit_end - ds.input_length : ds.train_end]
    model = CrossScaleNetModel(
        input_chunk_length=ds.input_length, output_chunk_length=horizon, covariate_path=covariate_path,
        mean_gate_init=mean_gate_init, n_epochs=epochs, optimizer_kwargs={"lr": learning_rate}, random_state=seed,
        pl_trainer_kwargs={**QUIET_TRAINER_KWARGS, "accelerator": "cpu"},
    )
    begin = time.perf_counter()
    model.fit(ds.target[:fit_end], past_covariates=ds.covariates[:fit_end])
    train_seconds = time.perf_counter() - begin
    result = model.saliency(val_target, past_covariates=val_covariates, windows="all", maps="all")
    values = val_target.values()[:, 0]
    truth = np.stack([values[ds.input_length + w : ds.input_length + w + horizon] for w in range(result.n_windows)])
    row: dict[str, Any] = {
        "set": name, "covariate_path": covariate_path, "lr": learning_rate, "horizon": horizon, "seed": seed,
        "val_windows": result.n_windows, "val_mse": float(np.mean((result.forecast[:, :, 0] - truth) ** 2)),
        "mse_floor": ds.irreducible_mse, "train_seconds": train_seconds,
    }
    for kind in ("paper", "per_step", "gradient", "input_x_gradient"):
        row[f"auroc_{kind}"] = auroc(result.temporal_map(kind), ds.lag_mask)
    row["auroc_gradient_cells"] = auroc(result.gradient, ds.mask)
    return row


def summary_table(rows: list[dict[str, Any]]) -> str:
    """Markdown: one line per candidate, means over the sets, and the count of sets within the MSE target."""
    lines = [
        "| covariate_path | lr | sets | mean val MSE | sets with val MSE <= 2 floor + 0.02 | AUROC gradient | "
        "AUROC gradient (cells) | AUROC input_x_gradient | AUROC per_step | AUROC paper |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    candidates = list(dict.fromkeys((r["covariate_path"], r["lr"]) for r in rows))
    for path, lr in candidates:
        members = [r for r in rows if (r["covariate_path"], r["lr"]) == (path, lr)]
        within = sum(r["val_mse"] <= 2 * r["mse_floor"] + 0.02 for r in members)

        def mean(key: str, members: list[dict[str, Any]] = members) -> float:
            return float(np.mean([r[key] for r in members]))

        lines.append(
            f"| {path} | {lr:g} | {len(members)} | {mean('val_mse'):.4f} | {within} | {mean('auroc_gradient'):.3f} | "
            f"{mean('auroc_gradient_cells'):.3f} | {mean('auroc_input_x_gradient'):.3f} | "
            f"{mean('auroc_per_step'):.3f} | {mean('auroc_paper'):.3f} |"
        )
    return "\n".join(lines)


def per_set_table(rows: list[dict[str, Any]]) -> str:
    """Markdown: validation MSE of every candidate on every set, with the floor and the target."""
    candidates = list(dict.fromkeys((r["covariate_path"], r["lr"]) for r in rows))
    header = "| set | floor | target | " + " | ".join(f"{p} {lr:g}" for p, lr in candidates) + " |"
    lines = [header, "|" + "---|" * (3 + len(candidates))]
    for name in dict.fromkeys(r["set"] for r in rows):
        by = {(r["covariate_path"], r["lr"]): r for r in rows if r["set"] == name}
        first = next(iter(by.values()))
        cells = [f"{by[c]['val_mse']:.3f}" if c in by else "–" for c in candidates]
        lines.append(f"| {name} | {first['mse_floor']:.3f} | {2 * first['mse_floor'] + 0.02:.3f} | "
                     + " | ".join(cells) + " |")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Run ``crossscale bench defaults``; writes ``rows.jsonl`` and ``results.md`` to ``--out``."""
    from crossscale_ext._lightning import silence_lightning

    silence_lightning()
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    with open(args.out / "rows.jsonl", "w") as handle:
        for name in args.datasets:
            for path, lr in CANDIDATES:
                row = validation_scores(name.upper(), path, lr, args.horizon, args.epochs, args.seed)
                rows.append(row)
                handle.write(json.dumps(row) + "\n")
                handle.flush()
                print(f"{name} {path} lr={lr:g}: val MSE {row['val_mse']:.4f} (floor {row['mse_floor']:.3f}), "
                      f"AUROC gradient {row['auroc_gradient']:.3f}", flush=True)
    text = (f"# Validation choice of the covariate path and learning rate\n\nCommand: `crossscale bench defaults "
            f"--horizon {args.horizon} --epochs {args.epochs} --seed {args.seed}`\n\n## Means over the sets\n\n"
            f"{summary_table(rows)}\n\n## Validation MSE per set\n\n{per_set_table(rows)}\n")
    (args.out / "results.md").write_text(text)
    print(f"written to {args.out / 'results.md'}")
    return 0
