"""One-off validation experiment (docs/benchmarks/forecast.md, "What else was tried"): weight decay.

CrossScaleNet stops early on the hourly data, so stronger regularisation was tried: this script trains CrossScaleNet
with ``torch.optim.AdamW(weight_decay=W)`` instead of Adam (the peers keep Adam; the learning rate and schedule are
the benchmark's) and then runs the ``crossscale`` command line with the remaining arguments. It is not a package
option (it did not help)::

    python experiments/weight_decay.py 0.1 --threads 1 bench forecast --no-test --dataset ETTh1 \
        --horizons 96 --models CrossScaleNet --data-dir ../shared/data
"""

from __future__ import annotations

import sys
from typing import Any

import torch

import crossscale_ext.benchmarks.forecast as forecast
from crossscale_ext.cli import main
from crossscale_ext.training import recommended_learning_rate

_build_model = forecast.build_model


def with_weight_decay(weight_decay: float) -> Any:
    """:func:`crossscale_ext.benchmarks.forecast.build_model`, with CrossScaleNet trained by AdamW(weight_decay)."""
    if not weight_decay >= 0:
        raise ValueError(f"the weight decay must be 0 or more; got {weight_decay}.")

    def build_model(model: str, dataset: str, horizon: int, *args: Any, **kwargs: Any) -> tuple[Any, Any, Any, float]:
        if model == "CrossScaleNet" and weight_decay > 0:
            rate = kwargs.get("crossscale_lr") or recommended_learning_rate(horizon)
            adamw = {"optimizer_cls": torch.optim.AdamW,
                     "optimizer_kwargs": {"lr": float(rate), "weight_decay": float(weight_decay)}}
            kwargs["crossscale_options"] = {**(kwargs.get("crossscale_options") or {}), **adamw}
        return _build_model(model, dataset, horizon, *args, **kwargs)

    return build_model


if __name__ == "__main__":
    forecast.build_model = with_weight_decay(float(sys.argv[1]))
    sys.exit(main(sys.argv[2:]))
