"""How the covariate layout's mean gate should start: forecast MSE on real data, validation and test parts.

The default network (``covariate_path="lagged"``) re-adds each target's window mean through a learnable gate. This
script trains it on the long-horizon data sets with ``OT`` as the target and the other channels as past covariates
(``L = 96``, ``H = 24``, 5 epochs on the 4,000 most recent training windows, the package's other defaults, seed 0,
one torch thread) and prints the mean MSE of the target over the non-overlapping windows of the validation and test
parts, against repeating the last value, for three variants:

- ``1``: the package default, ``mean_gate_init=1.0`` (the window mean re-added in full at the start);
- ``0``: ``mean_gate_init=0.0`` (the setting of the synthetic sets, whose covariates drive the target);
- ``reference``: the authors' layout, ``covariate_path="none"`` (no gate, the window mean always re-added).

Usage::

    python experiments/mean_gate_start.py /path/to/data ETTh1,ETTh2,ETTm1,ETTm2,Weather,Exchange
"""

from __future__ import annotations

import sys

import numpy as np
import torch

from crossscale_ext._lightning import QUIET_TRAINER_KWARGS, silence_lightning
from crossscale_ext.benchmarks.faithfulness import _split_series
from crossscale_ext.darts_model import CrossScaleNetModel
from crossscale_ext.datasets.long_horizon import load_long_horizon

VARIANTS = ("1", "0", "reference")
INPUT_LENGTH, HORIZON = 96, 24


def scores(model: CrossScaleNetModel, data, split: str) -> tuple[float, float]:
    """Mean MSE of the model's and of the last value's forecasts over the split's non-overlapping windows."""
    series, covariates, _ = _split_series(data, split, "target")
    forecasts = model.historical_forecasts(
        series, past_covariates=covariates, start=INPUT_LENGTH, forecast_horizon=HORIZON, stride=HORIZON,
        retrain=False, last_points_only=False, verbose=False,
    )
    model_errors, last_errors = [], []
    for forecast in forecasts:
        truth = series.slice_intersect(forecast).values()[:, 0]
        last = series.drop_after(forecast.start_time()).values()[-1, 0]
        model_errors.append(np.mean((forecast.values()[:, 0] - truth) ** 2))
        last_errors.append(np.mean((last - truth) ** 2))
    return float(np.mean(model_errors)), float(np.mean(last_errors))


def main(data_dir: str, names: list[str]) -> None:
    """Print one line per data set and variant."""
    torch.set_num_threads(1)
    silence_lightning()
    print("data set | variant | val MSE | val last value | test MSE | test last value | gate after training")
    for name in names:
        data = load_long_horizon(name, input_length=INPUT_LENGTH, data_dir=data_dir)
        train, covariates, _ = _split_series(data, "train", "target")
        for variant in VARIANTS:
            model = CrossScaleNetModel(
                input_chunk_length=INPUT_LENGTH, output_chunk_length=HORIZON, n_epochs=5, random_state=0,
                **({"covariate_path": "none"} if variant == "reference" else {"mean_gate_init": float(variant)}),
                pl_trainer_kwargs={**QUIET_TRAINER_KWARGS, "accelerator": "cpu"},
            )
            model.fit(train, past_covariates=covariates, max_samples_per_ts=4000, verbose=False)
            gate = model.model.network.mean_gate
            val, val_last = scores(model, data, "val")
            test, test_last = scores(model, data, "test")
            gate_text = "-" if gate is None else ", ".join(f"{g:.2f}" for g in gate.detach().tolist())
            print(f"{name} | {variant} | {val:.4f} | {val_last:.4f} | {test:.4f} | {test_last:.4f} | {gate_text}",
                  flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2].split(","))
