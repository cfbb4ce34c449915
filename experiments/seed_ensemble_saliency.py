"""Gradient maps of seed ensembles: agreement across retraining and deletion effect, on real data.

For each data set (target ``OT``, the other channels past covariates, L = 96, H = 24), trains
``CrossScaleNetModel`` with the package defaults as ``crossscale bench faithfulness`` does (5 epochs on the
4,000 most recent training windows) once per seed, and stores, for about 200 evenly spaced windows of the
validation and test splits, each model's point forecast and its signed gradient ``d sum(forecast) / d input``
(``<out>/<data set>.npz``, the models beside it). The maps of an ensemble (the mean forecast of its members)
follow from the mean of the members' signed gradients, since the gradient of a mean is the mean of the
gradients.

``report`` then compares, per split and data set, for ensembles of ``K`` = 1, 2, 3 models (disjoint groups of
the seeds, every pair of groups compared):

- seed stability: the median per-window Spearman correlation of the maps of two ensembles;
- deletion at 5 %: replacing each window's top 5 % cells of the ensemble's map by the window's channel means,
  the mean absolute change of the ensemble's forecast, over the same for random cells (3 draws) and for the
  most recent steps.

Commands (one torch thread each; two processes fit the 2 cores)::

    python experiments/seed_ensemble_saliency.py train ../shared/data ETTh1,ETTh2,ETTm1 /tmp/ensemble
    python experiments/seed_ensemble_saliency.py train ../shared/data Weather,Exchange,ETTm2 /tmp/ensemble
    python experiments/seed_ensemble_saliency.py report /tmp/ensemble
"""

from __future__ import annotations

import itertools
import sys
import time
from pathlib import Path

import numpy as np
import torch

from crossscale_ext._lightning import QUIET_TRAINER_KWARGS, silence_lightning
from crossscale_ext.benchmarks.faithfulness import _gradient, _Network, _split_series
from crossscale_ext.darts_model import CrossScaleNetModel
from crossscale_ext.datasets.long_horizon import load_long_horizon
from crossscale_ext.faithfulness import deletion_effects, rank_correlation, recency_map
from crossscale_ext.metrics import random_saliency
from crossscale_ext.saliency import maps_of_gradient

SEEDS = (0, 1, 2, 3, 4, 5)
INPUT_LENGTH, HORIZON, EPOCHS, MAX_SAMPLES, N_WINDOWS = 96, 24, 5, 4000, 200
MAPS = ("gradient", "aligned_input_x_gradient")


def train(data_dir: str, names: list[str], out: Path) -> None:
    """Fit every seed on each data set; save forecasts and signed gradients of the evaluation windows."""
    torch.set_num_threads(1)
    silence_lightning()
    out.mkdir(parents=True, exist_ok=True)
    for name in names:
        data = load_long_horizon(name, data_dir=data_dir)
        train_series, train_covariates, _ = _split_series(data, "train", "target")
        saved: dict[str, np.ndarray] = {}
        for seed in SEEDS:
            begin = time.perf_counter()
            model = CrossScaleNetModel(
                input_chunk_length=INPUT_LENGTH, output_chunk_length=HORIZON, n_epochs=EPOCHS, random_state=seed,
                pl_trainer_kwargs={**QUIET_TRAINER_KWARGS, "accelerator": "cpu"},
            )
            model.fit(train_series, past_covariates=train_covariates, max_samples_per_ts=MAX_SAMPLES, verbose=False)
            net = _Network(model)
            net.eval()
            for split in ("val", "test"):
                series, covariates, _ = _split_series(data, split, "target")
                stride = max(1, (len(series) - INPUT_LENGTH - HORIZON + 1) // N_WINDOWS)
                result = model.saliency(series, past_covariates=covariates, windows="all", stride=stride,
                                        maps=["gradient"], inputs=True)
                inputs = result.inputs.astype(np.float32)
                gradient = _gradient(net, torch.as_tensor(inputs)).numpy()
                if not np.allclose(np.abs(gradient), result.gradient, rtol=1e-3,
                                   atol=1e-5 * float(np.abs(gradient).max())):
                    raise RuntimeError("the network-level gradient differs from saliency()'s gradient map.")
                saved[f"{split}_inputs"] = inputs
                saved[f"{split}_gradient_{seed}"] = gradient
                saved[f"{split}_forecast_{seed}"] = net.predict(inputs).astype(np.float32)
            model.save(str(out / f"{name}_seed{seed}.pt"))
            print(f"{name} seed {seed}: {time.perf_counter() - begin:.0f} s", flush=True)
        np.savez_compressed(out / f"{name}.npz", **saved)


def ensemble_map(kind: str, gradient: np.ndarray, inputs: np.ndarray) -> np.ndarray:
    """The package's gradient map ``kind`` from a (mean) signed gradient: ``saliency.maps_of_gradient``."""
    return maps_of_gradient(torch.as_tensor(inputs), torch.as_tensor(gradient), (kind,))[kind]


def report(folder: Path) -> None:
    """Print a markdown table: stability and deletion of ensembles of 1, 2 and 3 models."""
    torch.set_num_threads(1)
    silence_lightning()
    print("| split | data set | map | K | pairs | seed rho (median per window) | del 5 % / random "
          "| del 5 % / recency |")
    print("|---|---|---|---|---|---|---|---|")
    for path in sorted(folder.glob("*.npz")):
        name = path.stem
        saves = np.load(path)
        nets = {seed: _Network(CrossScaleNetModel.load(str(folder / f"{name}_seed{seed}.pt"))) for seed in SEEDS}
        for split in ("val", "test"):
            inputs = saves[f"{split}_inputs"]
            for kind in MAPS:
                for k in (1, 2, 3):
                    groups = [SEEDS[i : i + k] for i in range(0, len(SEEDS) - k + 1, k)]
                    maps = [ensemble_map(kind, np.mean([saves[f"{split}_gradient_{s}"] for s in g], axis=0), inputs)
                            for g in groups]
                    pairs = list(itertools.combinations(range(len(groups)), 2))
                    rho = np.mean([np.nanmedian(rank_correlation(maps[a], maps[b])) for a, b in pairs])
                    ratios = [_deletion_ratios(nets, group, inputs, m) for group, m in zip(groups, maps, strict=True)]
                    random_ratio = np.mean([r[0] for r in ratios])
                    recency_ratio = np.mean([r[1] for r in ratios])
                    print(f"| {split} | {name} | {kind} | {k} | {len(pairs)} | {rho:.2f} | {random_ratio:.1f} | "
                          f"{recency_ratio:.2f} |", flush=True)


def _deletion_ratios(nets: dict[int, _Network], group: tuple[int, ...], inputs: np.ndarray, saliency: np.ndarray
                     ) -> tuple[float, float]:
    """Deletion at 5 % of the ensemble's forecast: the map's effect over random cells' and over recency's."""

    def forecast(x: np.ndarray) -> np.ndarray:
        return np.mean([nets[s].predict(x) for s in group], axis=0)

    base = forecast(inputs)
    effect = deletion_effects(forecast, inputs, saliency, (0.05,), base_forecast=base)["del@0.05"]
    recency = deletion_effects(forecast, inputs, recency_map(inputs.shape), (0.05,), base_forecast=base)["del@0.05"]
    random = np.mean([deletion_effects(forecast, inputs, random_saliency(inputs.shape, seed=draw), (0.05,),
                                       base_forecast=base)["del@0.05"] for draw in range(3)])
    return effect / random, effect / recency


if __name__ == "__main__":
    if sys.argv[1] == "train":
        train(sys.argv[2], sys.argv[3].split(","), Path(sys.argv[4]))
    else:
        report(Path(sys.argv[2]))
