"""The gradient maps against the ground truth of SYN sets: mean AUROC over time steps and over cells.

Trains CrossScaleNet as the demo does (d_model 32, batch 32, lr 1e-2, seed 0; 2,400 steps) on each named set and
scores ``gradient``, ``input_x_gradient``, ``aligned_input_x_gradient`` and ``gradient x window std`` (the
gradient times the window's standard deviation of each channel) on the test windows. Arguments: the sets
(comma-separated), the horizon and the epochs::

    python experiments/aligned_map_on_syn.py SYN1,SYN3,SYN6,SYN8 6 10
"""

import sys

import torch

from crossscale_ext._lightning import QUIET_TRAINER_KWARGS, silence_lightning
from crossscale_ext.darts_model import CrossScaleNetModel
from crossscale_ext.datasets.synthetic import make_syn
from crossscale_ext.metrics import auroc

MAPS = ("gradient", "input_x_gradient", "aligned_input_x_gradient")


def main(names: list[str], horizon: int, epochs: int) -> None:
    """Print one line per set: each map's AUROC over time steps and over cells."""
    torch.set_num_threads(1)
    silence_lightning()
    for name in names:
        data = make_syn(name, length=2400, horizon=horizon, seed=0)
        model = CrossScaleNetModel(
            input_chunk_length=data.input_length, output_chunk_length=horizon, d_model=32, n_epochs=epochs,
            batch_size=32, optimizer_kwargs={"lr": 1e-2}, mean_gate_init=0.0, random_state=0,
            pl_trainer_kwargs={**QUIET_TRAINER_KWARGS, "accelerator": "cpu"},
        )
        model.fit(data.train_target, past_covariates=data.train_covariates)
        result = model.saliency(data.test_target, past_covariates=data.test_covariates, windows="all", maps=MAPS,
                                inputs=True)
        maps = {kind: result.component_map(kind) for kind in MAPS}
        maps["gradient x window std"] = result.component_map("gradient") * result.inputs.std(axis=1, keepdims=True)
        scores = [
            f"{kind}: time {auroc(cells.sum(axis=2), data.lag_mask):.3f} cells {auroc(cells, data.mask):.3f}"
            for kind, cells in maps.items()
        ]
        print(name, horizon, " | ".join(scores), flush=True)


if __name__ == "__main__":
    main(sys.argv[1].split(","), int(sys.argv[2]), int(sys.argv[3]))
