"""Cross-check of the faithfulness benchmark's deletion and randomization scores with quantus.

The faithfulness benchmark (``crossscale bench faithfulness``) computes its deletion curves and its randomization
check with the package's own code (``crossscale_ext.faithfulness``). This script recomputes both with an
independent implementation, quantus (Hedström et al., 2023), on the same trained networks and windows:

- **Deletion**: quantus ``PixelFlipping`` removes each window's cells in the order of the map,
  ``features_in_step`` cells at a time (about 5 % of the cells), replacing them by the window's channel mean,
  and records the model's output after each step. quantus explains one output per window, so the model it sees
  returns the forecast summed over steps and targets (the quantity the package's gradient maps differentiate).
  Its first step is set beside the package's ``deletion_effects`` on the same quantity (the mean absolute change
  of the summed forecast) and on the benchmark's (the mean absolute change per forecast step), each as a ratio
  to the random and the recency maps.
- **Randomization**: quantus ``MPRT`` (model parameter randomisation, Adebayo et al., 2018) re-initialises the
  network's layers one after another from the output (``reset_parameters`` of every module that has one) and
  gives the Spearman correlation of the map of the fully randomised network with the trained one, set beside the
  same reset done here and the benchmark's check (``crossscale_ext.benchmarks.faithfulness.randomized_weights``,
  which also re-draws the parameters that belong to no such module: the lag weights of the covariate path, the
  gates, the scale weights and the normalisation's affine weights).

The windows are centred on their channel means before quantus sees them (the model adds the means back), so that
quantus' constant baseline ``0`` is the benchmark's window-mean reference.

quantus is not a dependency of the package (it pulls in opencv and scikit-image). Install it beside the
package without touching the environment, e.g.::

    pip install --target /tmp/qlib --no-deps quantus scikit-image opencv-python-headless \
        cachetools imageio tifffile lazy_loader networkx
    PYTHONPATH=/tmp/qlib python experiments/quantus_crosscheck.py ../shared/data ETTh1,ETTh2 24

Arguments: the data folder, data sets (comma-separated), the horizon, optionally the number of test windows
(default 100) and the seed (default 0). One torch thread.
"""

from __future__ import annotations

import contextlib
import copy
import sys
from collections.abc import Iterator

import numpy as np
import torch

from crossscale_ext.benchmarks.faithfulness import (
    FaithConfig,
    _captum_map,
    _Case,
    _quiet,
    _split_series,
    randomized_weights,
)
from crossscale_ext.datasets.long_horizon import load_long_horizon
from crossscale_ext.explainability import point_forecast
from crossscale_ext.faithfulness import deletion_effects, rank_correlation, recency_map
from crossscale_ext.saliency import gradient_maps

MAPS = ("gradient", "input_x_gradient", "aligned_input_x_gradient")


class CentredSummedForecast(torch.nn.Module):
    """The model quantus explains: centred ``(N, C, L)`` windows to the summed point forecast ``(N, 1)``.

    ``means`` are the windows' channel means ``(N, 1, C)`` in the order of the windows given to quantus (one
    batch: quantus must not split them).
    """

    def __init__(self, case: _Case, means: np.ndarray) -> None:
        super().__init__()
        self.network = case.net.network  # a submodule, so that quantus' MPRT finds (and resets) its layers
        self.fitted, self.n_targets = case.model, case.net.n_targets
        self.register_buffer("means", torch.as_tensor(means, dtype=torch.float32))

    def forward(self, centred: torch.Tensor) -> torch.Tensor:
        x = centred.transpose(1, 2) + self.means
        forecast = point_forecast(self.fitted, x, self.n_targets)[2]
        return forecast.sum(dim=(1, 2)).unsqueeze(1)


@contextlib.contextmanager
def modules_reset(network: torch.nn.Module, seed: int) -> Iterator[None]:
    """Inside the block every module of ``network`` with ``reset_parameters`` is reset (what quantus' MPRT resets)."""
    saved = copy.deepcopy(network.state_dict())
    torch.manual_seed(10_000 + seed)
    for module in network.modules():
        if module is not network and hasattr(module, "reset_parameters"):
            module.reset_parameters()
    try:
        yield
    finally:
        network.load_state_dict(saved)


def package_maps_of(module: torch.nn.Module, centred: np.ndarray) -> dict[str, np.ndarray]:
    """The package's gradient maps ``(N, C, L)`` of a (possibly randomised) model: ``saliency.gradient_maps``."""
    windows = torch.as_tensor(np.ascontiguousarray(centred.transpose(0, 2, 1))).requires_grad_(True)
    maps = gradient_maps(windows, module(windows.transpose(1, 2)), MAPS)
    return {name: value.transpose(0, 2, 1) for name, value in maps.items()}


def explain(model, inputs, targets, **kwargs) -> np.ndarray:
    """The ``explain_func`` quantus calls: the map named ``method`` of ``model`` (torch module or quantus wrapper)."""
    module = model.get_model() if hasattr(model, "get_model") else model
    module.eval()
    return package_maps_of(module, np.asarray(inputs, dtype=np.float32))[kwargs["method"]]


def features_in_step(n_cells: int, fraction: float = 0.05) -> int:
    """The divisor of ``n_cells`` closest to ``fraction`` of it (quantus needs equal steps)."""
    divisors = [d for d in range(1, n_cells + 1) if n_cells % d == 0]
    return min(divisors, key=lambda d: abs(d - fraction * n_cells))


def crosscheck(data_dir: str, dataset: str, horizon: int, n_windows: int, seed: int) -> list[str]:
    """Markdown rows for one data set: deletion ratios (three ways) and randomization (two ways) per map."""
    import quantus

    config = FaithConfig(datasets=(dataset,), horizons=(horizon,), seeds=(seed,), n_windows=n_windows,
                         data_dir=data_dir)
    data = load_long_horizon(dataset, data_dir=data_dir)
    case = _Case(data, "target", horizon, seed, config)
    series, covariates, _ = _split_series(data, "test", "target")
    stride = max(1, (len(series) - config.input_length - horizon + 1) // n_windows)
    result = case.model.saliency(series, past_covariates=covariates, windows="all", stride=stride, maps=MAPS,
                                 inputs=True)
    inputs = result.inputs.astype(np.float32)
    means = inputs.mean(axis=1, keepdims=True)
    centred = np.ascontiguousarray((inputs - means).transpose(0, 2, 1))
    model = CentredSummedForecast(case, means).eval()

    maps = {name: np.asarray(getattr(result, name), dtype=np.float32) for name in MAPS}
    own = package_maps_of(model, centred)
    for name in MAPS:  # the quantus model is the package's network: its maps are the package's maps (float32)
        difference = np.abs(own[name].transpose(0, 2, 1) - maps[name]).max() / np.abs(maps[name]).max()
        if difference > 1e-4:
            raise RuntimeError(f"the map {name!r} of the quantus model differs from the package's "
                               f"(largest difference {difference:.1e} of the largest value).")
    maps["IntegratedGradients"] = _captum_map(case.net, inputs, "IntegratedGradients", config, seed)
    maps["recency"] = recency_map(inputs.shape)
    maps["random"] = np.random.default_rng(seed).random(inputs.shape).astype(np.float32)

    n_cells = inputs.shape[1] * inputs.shape[2]
    step = features_in_step(n_cells)
    fraction = step / n_cells
    per_step = case.net.predict
    summed = lambda x: case.net.predict(x).sum(axis=(1, 2))  # noqa: E731
    base_summed = model(torch.as_tensor(centred)).detach().numpy()[:, 0]
    flipping = quantus.PixelFlipping(features_in_step=step, perturb_baseline=0.0, abs=False, normalise=False,
                                     disable_warnings=True, display_progressbar=False)
    y = np.zeros(len(inputs), dtype=int)
    effects: dict[str, dict[str, float]] = {}
    for name, saliency in maps.items():
        curves = np.asarray(flipping(model=model, x_batch=centred, y_batch=y,
                                     a_batch=np.ascontiguousarray(saliency.transpose(0, 2, 1)), channel_first=True,
                                     softmax=False, batch_size=len(inputs)))
        effects[name] = {
            "quantus": float(np.abs(curves[:, 0] - base_summed).mean()),
            "ours_summed": deletion_effects(summed, inputs, saliency, (fraction,), seed=seed)[f"del@{fraction:g}"],
            "ours": deletion_effects(per_step, inputs, saliency, (fraction,), seed=seed)[f"del@{fraction:g}"],
        }

    mprt = quantus.MPRT(similarity_func=quantus.similarity_func.correlation_spearman, layer_order="top_down",
                        return_last_correlation=True, abs=False, normalise=False, disable_warnings=True,
                        display_progressbar=False)
    randomization = {}
    with randomized_weights(case.net.network, seed):
        fresh = package_maps_of(model, centred)
    with modules_reset(case.net.network, seed):
        reset_only = package_maps_of(model, centred)
    for name in MAPS:
        scores = mprt(model=model, x_batch=centred, y_batch=y, a_batch=None, channel_first=True,
                      explain_func=explain, explain_func_kwargs={"method": name}, batch_size=len(inputs))
        randomization[name] = (float(np.nanmedian(scores)),
                               float(np.nanmedian(rank_correlation(own[name], reset_only[name]))),
                               float(np.nanmedian(rank_correlation(own[name], fresh[name]))))

    rows = []
    for name, effect in effects.items():
        ratios = []
        for key in ("quantus", "ours_summed", "ours"):
            ratios.append(f"{effect[key] / effects['random'][key]:.1f} / {effect[key] / effects['recency'][key]:.2f}")
        rho = " / ".join(f"{value:.2f}" for value in randomization[name]) if name in randomization else "–"
        rows.append(f"| {dataset} | {name} | " + " | ".join(ratios) + f" | {rho} |")
    print(f"{dataset}: {len(inputs)} test windows, {step} cells a step ({100 * fraction:.1f} %)", flush=True)
    return rows


def main(argv: list[str]) -> None:
    """Run the cross-check on the data sets of ``argv`` and print the table."""
    if len(argv) < 3:
        raise SystemExit(__doc__)
    torch.set_num_threads(1)
    _quiet()
    data_dir, names, horizon = argv[0], argv[1].split(","), int(argv[2])
    n_windows = int(argv[3]) if len(argv) > 3 else 100
    seed = int(argv[4]) if len(argv) > 4 else 0
    rows = []
    for name in names:
        rows.extend(crosscheck(data_dir, name, horizon, n_windows, seed))
    print("\n| data set | map | quantus PixelFlipping: / random / recency | ours, summed forecast | ours, per step "
          "(the benchmark's) | randomization: quantus MPRT / ours, the same modules reset / ours, every weight |")
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main(sys.argv[1:])
