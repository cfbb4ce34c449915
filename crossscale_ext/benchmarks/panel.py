"""``crossscale bench panel``: the saliency of the last window of many series against ``predict`` of the same series.

A panel of ``N`` short noisy sines (300 steps, periods 12-24), a small model (``L = 48``, ``H = 12``, 3 scales,
``d_model = 16``) trained for one epoch on 20 of them; then, for every panel size asked for, interleaved over
``--repeats`` rounds: ``model.predict(H, series=panel)`` and ``model.saliency(panel)`` (every map of every series'
last window), each timed once per round, medians reported with their ratio. One process, so machine load slows
both alike.

The file imports ``crossscale_ext`` from wherever Python finds it, so the same file times another checkout
(``PYTHONPATH=/path/to/other/checkout python crossscale_ext/benchmarks/panel.py --series 10 100``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Any

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's options."""
    parser.add_argument("--series", type=int, nargs="+", default=[10, 100, 1000],
                        help="panel sizes to time (default: 10 100 1000)")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds per size (default: 3)")
    parser.add_argument("--seed", type=int, default=0, help="seed of data and model (default: 0)")


def _panel(n: int, seed: int) -> list[Any]:
    import numpy as np
    from darts import TimeSeries

    rng = np.random.default_rng(seed)
    t = np.arange(300)
    values = [np.sin(2 * np.pi * t / (12 + i % 13) + i) + 0.1 * rng.normal(size=300) for i in range(n)]
    return [TimeSeries.from_values(v.astype("float32")) for v in values]


def run(args: argparse.Namespace) -> int:
    """Train the model, time ``predict`` and ``saliency`` for every panel size, print the table. Returns 0."""
    import crossscale_ext
    from crossscale_ext._lightning import QUIET_TRAINER_KWARGS, silence_lightning
    from crossscale_ext.darts_model import CrossScaleNetModel

    if min(args.series) < 1 or args.repeats < 1:
        raise SystemExit("crossscale bench panel: --series and --repeats must be positive.")
    silence_lightning()
    panel = _panel(max(args.series), args.seed)
    model = CrossScaleNetModel(
        input_chunk_length=48, output_chunk_length=12, n_scales=3, base_patch_length=8, d_model=16, n_epochs=1,
        random_state=args.seed, pl_trainer_kwargs={**QUIET_TRAINER_KWARGS, "accelerator": "cpu"},
    )
    model.fit(panel[:20])
    print(f"crossscale_ext from {crossscale_ext.__file__}")
    print("| series | predict (s) | saliency, last window of each (s) | saliency / predict |")
    print("|---|---|---|---|")
    for n in args.series:
        subset = panel[:n]
        model.predict(12, series=subset, verbose=False)  # warm-up
        model.saliency(subset)
        predict, saliency = [], []
        for _ in range(args.repeats):
            start = time.perf_counter()
            model.predict(12, series=subset, verbose=False)
            predict.append(time.perf_counter() - start)
            start = time.perf_counter()
            model.saliency(subset)
            saliency.append(time.perf_counter() - start)
        p, s = statistics.median(predict), statistics.median(saliency)
        print(f"| {n:,} | {p:.3f} | {s:.3f} | {s / p:.1f} |", flush=True)
    return 0


if __name__ == "__main__":  # the file run directly, e.g. against another checkout on PYTHONPATH
    import torch

    torch.set_num_threads(1)
    cli = argparse.ArgumentParser(prog="panel.py")
    add_arguments(cli)
    sys.exit(run(cli.parse_args()))
