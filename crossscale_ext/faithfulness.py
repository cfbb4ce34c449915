"""Is a saliency map trustworthy on *your* data? A perturbation check of a fitted model's map.

Real data have no ground truth, so :func:`check_saliency` judges a map by what it claims: the cells it ranks
first are the ones the forecast rests on. It removes each window's top 5 / 10 / 20 % cells (replaces them by a
reference) and measures how far the forecast moves, against the same removal for two trivial maps:

- **random** cells (the floor any map must clear), averaged over a few draws;
- **recency**: the most recent time steps first, every input component alike. Forecasters lean on the last
  steps, so this trivial map is a strong competitor; a map that does not beat it says nothing a user did not
  already assume.

When models of the same configuration retrained with other seeds are given, it also measures whether they agree
on the same windows (per-window Spearman correlation and top-5 % overlap of the maps, and agreement of their lag
profiles): a map that changes with the seed explains the seed, not the data.

The helpers (:func:`deletion_effects`, :func:`recency_map`, :func:`seed_stability`, ...) work on numpy windows
and any forecast function; ``crossscale bench faithfulness`` uses them on the benchmark data sets.

Examples
--------
>>> check = check_saliency(model, series, past_covariates=covariates)  # doctest: +SKIP
>>> check.verdict  # doctest: +SKIP
'trustworthy on this data: ...'
>>> check.to_dataframe()  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from crossscale_ext.metrics import _top_cells, perturb, random_saliency
from crossscale_ext.saliency import GRADIENT_MAP_NAMES, MAP_NAMES

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    from darts import TimeSeries

__all__ = [
    "SaliencyCheck",
    "check_saliency",
    "deletion_effects",
    "recency_map",
    "reference_windows",
    "rank_correlation",
    "top_overlap",
    "lag_profile",
    "seed_stability",
    "CHECKABLE_MAPS",
    "COMPARED_MAPS",
    "REFERENCES",
    "TRUST_THRESHOLDS",
]

#: Maps of ``CrossScaleNetModel.saliency`` that :func:`check_saliency` can check: every map of the pass but the raw
#: attention weights (a new map kind of :data:`crossscale_ext.saliency.MAP_NAMES` is picked up).
CHECKABLE_MAPS: tuple[str, ...] = tuple(name for name in MAP_NAMES if name != "raw_attention")
#: The maps :func:`check_saliency` compares when not given one: the default map, which finds the ground truth of
#: the synthetic sets, and the map that moves the forecast most when its cells are removed on real data.
COMPARED_MAPS: tuple[str, ...] = ("gradient", "aligned_input_x_gradient")
#: Reference values a removed cell is replaced by (see :func:`reference_windows`).
REFERENCES: tuple[str, ...] = ("mean", "carry")
#: Thresholds of the verdict, at the smallest fraction checked: deletion effect over random's and over recency's,
#: and (with retrained models) the median per-window Spearman correlation between seeds.
TRUST_THRESHOLDS: dict[str, float] = {"random": 10.0, "recency": 1.3, "weak_random": 2.0, "seed_spearman": 0.7,
                                      "weak_seed_spearman": 0.5}


# ------------------------------------------------------------------------------------------ numpy helpers
def _as_cells(saliency: np.ndarray, n_components: int) -> np.ndarray:
    """``(W, L)`` temporal maps repeated over components; ``(W, L, C)`` maps as they are; absolute values."""
    saliency = np.abs(np.asarray(saliency, dtype=np.float64))
    if saliency.ndim == 2:
        saliency = np.repeat(saliency[:, :, None], n_components, axis=2)
    return saliency


def recency_map(shape: Sequence[int]) -> np.ndarray:
    """The trivial map that ranks the most recent steps first, every component alike.

    Parameters
    ----------
    shape
        ``(W, L, C)``.

    Returns
    -------
    numpy.ndarray
        ``(W, L, C)`` with value ``t + 1`` at step ``t`` (step ``L - 1`` is the most recent).
    """
    if len(shape) != 3:
        raise ValueError(f"shape must be (windows, steps, components); got {tuple(shape)}.")
    n_windows, length, n_components = (int(s) for s in shape)
    ramp = np.arange(1, length + 1, dtype=np.float64)
    return np.broadcast_to(ramp[None, :, None], (n_windows, length, n_components)).copy()


def rank_correlation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-window Spearman correlation of two ``(W, ...)`` maps over their cells (NaN for a constant window)."""
    from scipy.stats import rankdata

    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"maps of shapes {a.shape} and {b.shape} cannot be compared window by window.")
    a = rankdata(a.reshape(len(a), -1), axis=1)
    b = rankdata(b.reshape(len(b), -1), axis=1)
    a -= a.mean(axis=1, keepdims=True)
    b -= b.mean(axis=1, keepdims=True)
    denominator = np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))
    safe = np.where(denominator > 0, denominator, 1.0)
    return np.where(denominator > 0, (a * b).sum(axis=1) / safe, np.nan)


def top_overlap(a: np.ndarray, b: np.ndarray, fraction: float = 0.05, seed: int = 0) -> np.ndarray:
    """Per window, the share of ``a``'s top ``fraction`` cells that are also among ``b``'s (ties broken at random)."""
    rng = np.random.default_rng(seed)
    flat_a = np.abs(np.asarray(a, dtype=np.float64)).reshape(len(a), -1)
    flat_b = np.abs(np.asarray(b, dtype=np.float64)).reshape(len(b), -1)
    top_a, top_b = _top_cells(flat_a, fraction, rng), _top_cells(flat_b, fraction, rng)
    return (top_a & top_b).sum(axis=1) / top_a.sum(axis=1)


def lag_profile(saliency: np.ndarray) -> np.ndarray:
    """Mean absolute map over windows, summed over components: ``(L,)``, entry 0 the oldest step."""
    saliency = np.abs(np.asarray(saliency, dtype=np.float64))
    if saliency.ndim == 3:
        saliency = saliency.sum(axis=2)
    return saliency.mean(axis=0)


def seed_stability(maps: Sequence[np.ndarray], fraction: float = 0.05) -> dict[str, float]:
    """Agreement of the maps of the same windows from models trained with different seeds.

    Parameters
    ----------
    maps
        One ``(W, L, C)`` or ``(W, L)`` map per model, the same windows in the same order.
    fraction
        Share of cells of the top-k overlap.

    Returns
    -------
    dict
        ``seed_spearman``: per-window Spearman correlation, median over windows; ``seed_topk``: mean top-``fraction``
        overlap; ``seed_profile``: Spearman correlation of the lag profiles; each the mean over pairs of models.
        NaN with fewer than two maps.
    """
    from scipy.stats import spearmanr

    if len(maps) < 2:
        return {"seed_spearman": np.nan, "seed_topk": np.nan, "seed_profile": np.nan}
    shapes = {np.shape(m) for m in maps}
    if len(shapes) != 1:
        raise ValueError(f"maps of different shapes {sorted(shapes)}: give the same windows for every model.")
    spearman, topk, profile = [], [], []
    for i in range(len(maps)):
        for j in range(i + 1, len(maps)):
            spearman.append(float(np.nanmedian(rank_correlation(maps[i], maps[j]))))
            topk.append(float(np.mean(top_overlap(maps[i], maps[j], fraction))))
            profile.append(float(spearmanr(lag_profile(maps[i]), lag_profile(maps[j])).statistic))
    return {"seed_spearman": float(np.mean(spearman)), "seed_topk": float(np.mean(topk)),
            "seed_profile": float(np.mean(profile))}


def reference_windows(inputs: np.ndarray, reference: str, train_mean: np.ndarray | None = None
                      ) -> Callable[[np.ndarray], np.ndarray]:
    """A function ``replace (W, L, C) bool -> perturbed copy of inputs`` for a reference.

    Parameters
    ----------
    inputs
        ``(W, L, C)`` windows.
    reference
        ``"mean"``: each window's channel mean (the value the instance normalisation makes neutral).
        ``"carry"``: the last kept value of the same channel earlier in the window, ``train_mean`` before the
        first kept one (:func:`crossscale_ext.metrics.perturb`'s ``carry_forward``): the local level stays, so
        a map is not rewarded just for picking the cells farthest from the window mean.
    train_mean
        ``(C,)`` per-channel training mean (``carry`` only; default zeros, the mean of standardised data).
    """
    inputs = np.asarray(inputs)
    if reference == "mean":
        fill = np.broadcast_to(inputs.mean(axis=1, keepdims=True), inputs.shape)
        return lambda replace: np.where(replace, fill, inputs)
    if reference == "carry":
        mean = np.zeros(inputs.shape[2]) if train_mean is None else np.asarray(train_mean, dtype=np.float64)
        return lambda replace: perturb(inputs, replace, "carry_forward", mean)
    raise ValueError(f"reference must be one of {list(REFERENCES)}; got {reference!r}.")


def deletion_effects(
    forecast_fn: Callable[[np.ndarray], np.ndarray],
    inputs: np.ndarray,
    saliency: np.ndarray,
    fractions: Sequence[float] = (0.05, 0.1, 0.2),
    reference: str = "mean",
    train_mean: np.ndarray | None = None,
    targets: np.ndarray | None = None,
    base_forecast: np.ndarray | None = None,
    seed: int = 0,
) -> dict[str, float]:
    """Deletion and insertion scores of one map.

    Parameters
    ----------
    forecast_fn
        ``(W, L, C)`` windows to point forecasts (any shape starting with ``W``).
    inputs
        ``(W, L, C)`` windows.
    saliency
        ``(W, L, C)``, or ``(W, L)`` (a temporal map ranks every component of a step alike).
    fractions
        Shares of each window's cells replaced (deletion) or kept (insertion), in ``(0, 1)``.
    reference
        ``"mean"`` or ``"carry"`` (see :func:`reference_windows`).
    train_mean
        ``(C,)`` training mean for the ``carry`` reference.
    targets
        True values of the shape of the forecasts: when given, the MSE increase of each deletion is returned.
    base_forecast
        ``forecast_fn(inputs)`` when already known.
    seed
        Seed of the random tie-breaking among equal saliency values.

    Returns
    -------
    dict
        ``del@f``: mean absolute change of the forecast when each window's top ``f`` cells are replaced (higher:
        the map found cells the forecast rests on); ``ins@f``: share of the forecast recovered when only they are
        kept, ``1 - mean|f(kept) - f(x)| / mean|f(reference) - f(x)|``; ``dmse@f`` with ``targets``.
    """
    inputs = np.asarray(inputs, dtype=np.float32)
    if inputs.ndim != 3 or inputs.shape[0] == 0:
        raise ValueError(f"inputs must be (W, L, C) windows, at least one; got shape {inputs.shape}.")
    cells = _as_cells(saliency, inputs.shape[2])
    if cells.shape != inputs.shape:
        raise ValueError(f"saliency of shape {np.shape(saliency)} does not fit inputs of shape {inputs.shape}.")
    if not np.isfinite(cells).all():
        raise ValueError("saliency holds NaN or infinite values.")
    fractions = _check_fractions(fractions)
    fill = reference_windows(inputs, reference, train_mean)
    base = np.asarray(forecast_fn(inputs) if base_forecast is None else base_forecast, dtype=np.float64)
    empty = float(np.abs(np.asarray(forecast_fn(fill(np.ones(inputs.shape, dtype=bool)))) - base).mean())
    rng = np.random.default_rng(seed)
    flat = cells.reshape(len(cells), -1)
    scores: dict[str, float] = {}
    for fraction in fractions:
        top = _top_cells(flat, fraction, rng).reshape(inputs.shape)
        deleted = np.asarray(forecast_fn(fill(top)), dtype=np.float64)
        kept = np.asarray(forecast_fn(fill(~top)), dtype=np.float64)
        scores[f"del@{fraction:g}"] = float(np.abs(deleted - base).mean())
        scores[f"ins@{fraction:g}"] = float(1.0 - np.abs(kept - base).mean() / empty) if empty > 0 else np.nan
        if targets is not None:
            targets = np.asarray(targets, dtype=np.float64)
            scores[f"dmse@{fraction:g}"] = float(np.mean((deleted - targets) ** 2) - np.mean((base - targets) ** 2))
    return scores


def _check_fractions(fractions: Sequence[float]) -> tuple[float, ...]:
    try:
        values = tuple(float(f) for f in fractions)
    except (TypeError, ValueError):
        raise ValueError(f"fractions must be a sequence of numbers in (0, 1); got {fractions!r}.") from None
    if not values or any(not 0 < f < 1 for f in values):
        raise ValueError(f"fractions must be a non-empty sequence of numbers in (0, 1); got {list(values)}.")
    if len(set(values)) != len(values):
        raise ValueError(f"fractions must be distinct; got {list(values)}.")
    return tuple(sorted(values))


# ------------------------------------------------------------------------------------------ the result
@dataclass(frozen=True)
class SaliencyCheck:
    """What :func:`check_saliency` measured.

    Attributes
    ----------
    kind
        The map checked.
    reference
        What removed cells were replaced by (``"mean"`` or ``"carry"``).
    fractions
        Shares of each window's cells removed, ascending.
    n_windows
        Windows checked (evenly spaced over the series).
    deletion, random, recency
        ``{fraction: mean absolute change of the forecast}`` when each window's top cells by the map, random cells
        (mean over draws) or the most recent steps are replaced.
    insertion
        ``{fraction: share of the forecast recovered}`` when only the map's top cells are kept.
    ratio_random, ratio_recency
        ``deletion / random`` and ``deletion / recency`` per fraction.
    seed_spearman, seed_topk, seed_profile
        Agreement with the maps of the retrained models (``seeds_models``), see :func:`seed_stability`; None
        when none were given.
    n_seed_models
        How many ``seeds_models`` were compared.
    ensemble_size
        Models whose mean forecast was checked (1 without ``ensemble``).
    alternatives
        The checks of the other maps compared (:func:`check_saliency` with several kinds returns the check of the
        map that held up best, with the others here); empty when one map was checked.
    verdict
        A plain sentence: ``"trustworthy on this data: ..."``, ``"partly trustworthy on this data: ..."``,
        ``"no better than recency on this data: ..."``, ``"no better than random on this data: ..."`` or
        ``"unstable across retrained models: ..."``.
    """

    kind: str
    reference: str
    fractions: tuple[float, ...]
    n_windows: int
    deletion: dict[float, float]
    random: dict[float, float]
    recency: dict[float, float]
    insertion: dict[float, float]
    ratio_random: dict[float, float]
    ratio_recency: dict[float, float]
    verdict: str
    seed_spearman: float | None = None
    seed_topk: float | None = None
    seed_profile: float | None = None
    n_seed_models: int = 0
    ensemble_size: int = 1
    thresholds: dict[str, float] = field(default_factory=lambda: dict(TRUST_THRESHOLDS))
    alternatives: dict[str, SaliencyCheck] = field(default_factory=dict)

    @property
    def trustworthy(self) -> bool:
        """True when the verdict is ``"trustworthy on this data"``."""
        return self.verdict.startswith("trustworthy")

    def to_dataframe(self) -> pd.DataFrame:
        """One row per fraction: the deletion effects of the map, random and recency, their ratios, insertion.

        The seed agreement, when measured, is in the frame's ``attrs`` (with the verdict and the settings).
        """
        import pandas as pd

        frame = pd.DataFrame({
            "fraction": list(self.fractions),
            "deletion": [self.deletion[f] for f in self.fractions],
            "random": [self.random[f] for f in self.fractions],
            "recency": [self.recency[f] for f in self.fractions],
            "ratio_random": [self.ratio_random[f] for f in self.fractions],
            "ratio_recency": [self.ratio_recency[f] for f in self.fractions],
            "insertion": [self.insertion[f] for f in self.fractions],
        })
        frame.attrs.update({"kind": self.kind, "reference": self.reference, "n_windows": self.n_windows,
                            "verdict": self.verdict, "seed_spearman": self.seed_spearman,
                            "seed_topk": self.seed_topk, "seed_profile": self.seed_profile})
        return frame

    def comparison(self) -> pd.DataFrame:
        """One row per map compared, this one first.

        Columns: the map's ratios to random and to recency at each fraction, its seed agreement and its verdict.
        """
        import pandas as pd

        rows = []
        for check in (self, *self.alternatives.values()):
            row: dict[str, Any] = {"map": check.kind}
            for f in check.fractions:
                row[f"ratio_random@{f:g}"] = check.ratio_random[f]
                row[f"ratio_recency@{f:g}"] = check.ratio_recency[f]
            row.update({"seed_spearman": check.seed_spearman, "verdict": check.verdict})
            rows.append(row)
        return pd.DataFrame(rows).set_index("map")

    def plot(self, ax: Any = None) -> Any:
        """Deletion curves of the map, random cells and the most recent steps; returns the matplotlib Figure."""
        import matplotlib.pyplot as plt

        if ax is None:
            fig, ax = plt.subplots(figsize=(5.5, 3.5))
        else:
            fig = ax.figure
        x = [100 * f for f in self.fractions]
        for label, curve, style in ((f"map '{self.kind}'", self.deletion, "o-"), ("recency", self.recency, "s--"),
                                    ("random", self.random, "^:")):
            ax.plot(x, [curve[f] for f in self.fractions], style, label=label)
        ax.set_xlabel("share of each window's cells removed (%)")
        ax.set_ylabel("mean |forecast change|")
        ax.set_title(self.verdict.split(":")[0], fontsize=9)
        ax.legend(fontsize=8)
        return fig

    def __repr__(self) -> str:
        first = self.fractions[0]
        seeds = "" if self.seed_spearman is None else f", seed_spearman={self.seed_spearman:.2f}"
        return (f"SaliencyCheck(kind={self.kind!r}, n_windows={self.n_windows}, x_random@{first:g}="
                f"{self.ratio_random[first]:.2f}, x_recency@{first:g}={self.ratio_recency[first]:.2f}{seeds}, "
                f"verdict={self.verdict!r})")


#: Verdicts from best to worst (the first words of :attr:`SaliencyCheck.verdict`).
_VERDICT_ORDER: tuple[str, ...] = ("trustworthy", "partly trustworthy", "unstable", "no better than recency",
                                   "no better than random")


def _rank(check: SaliencyCheck) -> tuple[int, float, float]:
    """Sort key, best first: the verdict, then the ratios to recency and to random at the smallest fraction."""
    tier = next(i for i, words in enumerate(_VERDICT_ORDER) if check.verdict.startswith(words))
    first = check.fractions[0]

    def finite(value: float) -> float:
        return float(value) if np.isfinite(value) else -np.inf

    return tier, -finite(check.ratio_recency[first]), -finite(check.ratio_random[first])


def _verdict(kind: str, ratio_random: float, ratio_recency: float, fraction: float,
             seed_spearman: float | None, ensemble_size: int = 1) -> str:
    t = TRUST_THRESHOLDS
    of = f"map {kind!r}" if ensemble_size == 1 else f"map {kind!r} of an ensemble of {ensemble_size} models"
    facts = (f"removing the top {100 * fraction:g}% cells of {of} moves the forecast {ratio_random:.1f}x as "
             f"much as random cells and {ratio_recency:.2f}x as much as the most recent steps")
    if seed_spearman is not None:
        facts += f"; maps of retrained models agree with a median Spearman correlation of {seed_spearman:.2f}"
    if not np.isfinite(ratio_random) or ratio_random < t["weak_random"]:
        return f"no better than random on this data: {facts}"
    if ratio_recency < 1.0:
        return f"no better than recency on this data: {facts}"
    if seed_spearman is not None and seed_spearman < t["weak_seed_spearman"]:
        return f"unstable across retrained models: {facts}"
    stable = seed_spearman is None or seed_spearman >= t["seed_spearman"]
    if ratio_random >= t["random"] and ratio_recency >= t["recency"] and stable:
        unchecked = "" if seed_spearman is not None else " (seed agreement not checked: pass seeds_models)"
        return f"trustworthy on this data: {facts}{unchecked}"
    return f"partly trustworthy on this data: {facts}"


# -------------------------------------------------------------------------------------- the Darts check
class _WindowForecaster:
    """Point forecasts of perturbed input windows of a fitted ``CrossScaleNetModel`` (or the mean of an ensemble's).

    The windows' other inputs (future covariates over the forecast window, static covariates) come from Darts'
    own inference data set of the same windows, so any model the saliency pass explains can be checked. With
    ``ensemble`` (members checked by :func:`~crossscale_ext.explainability.check_ensemble`), the forecast is the
    mean of the models' point forecasts, as in ``saliency(ensemble=...)``.
    """

    def __init__(self, model: Any, series: Any, past_covariates: Any, future_covariates: Any, stride: int,
                 kind: str, ensemble: Sequence[Any] = ()) -> None:
        import torch
        from darts.utils.data.torch_datasets.utils import _batch_collate_fn_predict

        from crossscale_ext.explainability import SaliencyRequest, _prepare_pass

        request = SaliencyRequest(windows="all", stride=stride, maps=(kind,), inputs=True)
        plan = _prepare_pass(model, series, past_covariates, future_covariates, request, stacklevel=4)
        batch = _batch_collate_fn_predict([plan.dataset[j] for j in range(len(plan.dataset))])
        parameter = next(model.model.parameters())

        def tensor(t: Any) -> Any:
            return None if t is None else t.to(device=parameter.device, dtype=parameter.dtype)

        self.future = tensor(batch.future_covariates)
        self.static = tensor(batch.static_covariates)
        self.n_windows = len(plan.dataset)
        self.models = (model, *ensemble)
        self.n_targets = batch.past_target.shape[2]
        self.batch_size = int(model.batch_size)
        self.torch = torch
        self.dtype, self.device = parameter.dtype, parameter.device

    def __call__(self, inputs: np.ndarray) -> np.ndarray:
        from crossscale_ext.explainability import point_forecast

        torch = self.torch
        networks = [m.model.network for m in self.models]
        was_training = [network.training for network in networks]
        for network in networks:
            network.eval()
        parts = []
        try:
            with torch.no_grad():
                for low in range(0, len(inputs), self.batch_size):
                    rows = slice(low, low + self.batch_size)
                    x = torch.as_tensor(np.ascontiguousarray(inputs[rows]), dtype=self.dtype, device=self.device)
                    future = None if self.future is None else self.future[rows]
                    static = None if self.static is None else self.static[rows]
                    forecasts = [point_forecast(m, x, self.n_targets, future, static)[2] for m in self.models]
                    parts.append(torch.stack(forecasts).mean(dim=0).cpu().numpy())
        finally:
            for network, mode in zip(networks, was_training, strict=True):
                network.train(mode)
        return np.concatenate(parts).astype(np.float64)


def _check_model(model: Any, what: str) -> None:
    """A fitted CrossScaleNetModel (recognised by its network: the model imports this module, not the reverse)."""
    from darts.models.forecasting.torch_forecasting_model import MixedCovariatesTorchModel

    from crossscale_ext.network import CrossScaleNet

    if not isinstance(model, MixedCovariatesTorchModel) or not hasattr(model, "saliency"):
        raise TypeError(f"{what} must be a fitted CrossScaleNetModel; got {type(model).__name__}.")
    if getattr(model, "model", None) is None:
        raise ValueError(f"{what} is not fitted: call fit(series) first (or load a saved model).")
    if not isinstance(getattr(model.model, "network", None), CrossScaleNet):
        raise TypeError(f"{what} must be a fitted CrossScaleNetModel; got {type(model).__name__}.")


def check_saliency(
    model: Any,
    series: TimeSeries,
    past_covariates: TimeSeries | None = None,
    future_covariates: TimeSeries | None = None,
    kind: str | Sequence[str] | None = None,
    fractions: Sequence[float] = (0.05, 0.1, 0.2),
    n_windows: int = 100,
    reference: str = "mean",
    seeds_models: Sequence[Any] | None = None,
    random_draws: int = 3,
    seed: int = 0,
    ensemble: Sequence[Any] | None = None,
) -> SaliencyCheck:
    """Check that a fitted model's saliency map points at what its forecasts rest on, on this data.

    Takes ``n_windows`` evenly spaced windows of ``series`` (every ``k``-th of the windows
    ``model.saliency(series, windows="all")`` explains), computes the map of each through
    ``model.saliency(..., windows="all", stride=k)``, replaces each window's top ``fractions`` cells by the
    ``reference`` and measures the mean absolute change of the forecast; the same for random cells and for the
    most recent steps. With ``seeds_models`` (the same configuration fitted with other seeds), it also measures
    whether their maps of the same windows agree.

    Parameters
    ----------
    model
        A fitted :class:`~crossscale_ext.darts_model.CrossScaleNetModel`.
    series
        One target series (the data to check on, e.g. a validation part; at least ``L + H`` steps).
    past_covariates, future_covariates
        As for ``model.saliency``.
    kind
        The map, one of :data:`CHECKABLE_MAPS`, or several to compare. Default: :data:`COMPARED_MAPS`, i.e.
        ``"gradient"`` (the default map) and ``"aligned_input_x_gradient"``. With several maps, each is checked on
        the same windows and the check of the one that holds up best (by verdict, then by its ratio to recency)
        is returned, with the others in :attr:`SaliencyCheck.alternatives` and :meth:`SaliencyCheck.comparison`.
    fractions
        Shares of each window's cells removed, in ``(0, 1)`` (default 5, 10 and 20 %). The verdict reads the
        smallest.
    n_windows
        Windows checked, at most (evenly spaced; all of them when the series has fewer).
    reference
        What a removed cell becomes: ``"mean"`` (the window's channel mean, default) or ``"carry"`` (the last
        kept value of the same channel; see :func:`reference_windows`).
    seeds_models
        Fitted ``CrossScaleNetModel`` s of the same configuration trained with other seeds (optional).
    random_draws
        Random maps averaged for the random baseline (default 3).
    seed
        Seed of the random maps and of the tie-breaking.
    ensemble
        Other fitted models of the same configuration (e.g. retrained with other seeds): the check is then that
        of the ensemble's map (``model.saliency(..., ensemble=ensemble)``, gradient maps only) against the
        ensemble's forecast, the mean of the models' point forecasts. Not together with ``seeds_models``.

    Returns
    -------
    SaliencyCheck
        The curves, the ratios, the seed agreement and a plain verdict.

    Raises
    ------
    TypeError
        When ``model`` or an entry of ``seeds_models`` is not a ``CrossScaleNetModel``, or ``series`` not a single
        Darts ``TimeSeries``.
    ValueError
        For an unfitted model, an unknown ``kind`` or ``reference``, bad ``fractions`` / ``n_windows`` /
        ``random_draws``, a series too short for one window, ``seeds_models`` of another configuration, an
        ``ensemble`` that ``model.saliency`` refuses (e.g. with an attention map), or both ``ensemble`` and
        ``seeds_models``.
    """
    from darts import TimeSeries

    _check_model(model, "model")
    if not isinstance(series, TimeSeries):
        raise TypeError(f"series must be one Darts TimeSeries; got {type(series).__name__}. Check one series at a "
                        "time.")
    kinds = COMPARED_MAPS if kind is None else (kind,) if isinstance(kind, str) else tuple(kind)
    bad = [k for k in kinds if k not in CHECKABLE_MAPS]
    if bad or not kinds or len(set(kinds)) != len(kinds):
        raise ValueError(f"kind must be one of {list(CHECKABLE_MAPS)}, or several of them without repeats; got "
                         f"{kind!r}.")
    if reference not in REFERENCES:
        raise ValueError(f"reference must be one of {list(REFERENCES)}; got {reference!r}.")
    fractions = _check_fractions(fractions)
    for name, value in (("n_windows", n_windows), ("random_draws", random_draws)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer; got {value!r}.")
    seeds_models = list(seeds_models or [])
    if ensemble is not None and seeds_models:
        raise ValueError("Pass ensemble or seeds_models, not both: seeds_models compares single models' maps, the "
                         "ensemble's map is one map of the mean forecast.")
    if ensemble is not None:
        from crossscale_ext.explainability import check_ensemble

        members = check_ensemble(model, ensemble)
        attention = [k for k in kinds if k not in GRADIENT_MAP_NAMES]
        if attention:
            raise ValueError(f"An ensemble has no attention maps; kind {attention} cannot be checked with ensemble.")
    else:
        members = ()
    for i, other in enumerate(seeds_models):
        _check_model(other, f"seeds_models[{i}]")
        mine = (model.input_chunk_length, model.output_chunk_length)
        theirs = (other.input_chunk_length, other.output_chunk_length)
        if theirs != mine:
            raise ValueError(f"seeds_models[{i}] has (input_chunk_length, output_chunk_length) = {theirs}, the model "
                             f"{mine}: retrain the same configuration with another random_state.")
    length = model.input_chunk_length + model.output_chunk_length + getattr(model, "output_chunk_shift", 0)
    if len(series) < length:
        raise ValueError(f"series has {len(series)} steps; checking needs at least one window of "
                         f"input_chunk_length + output_chunk_length = {length} steps.")
    n_total = len(series) - length + 1
    stride = -(-n_total // int(n_windows))  # ceil: at most n_windows windows

    def explain(m: Any) -> Any:
        return m.saliency(series, past_covariates=past_covariates, future_covariates=future_covariates,
                          windows="all", stride=stride, maps=kinds, inputs=m is model,
                          ensemble=list(members) if m is model and members else None)

    result = explain(model)
    inputs = np.asarray(result.inputs, dtype=np.float32)
    forecaster = _WindowForecaster(model, series, past_covariates, future_covariates, stride, kinds[0], members)
    if forecaster.n_windows != len(inputs):
        raise RuntimeError(f"saliency() explained {len(inputs)} windows but the check built {forecaster.n_windows}; "
                           "please report this.")

    base = forecaster(inputs)
    if not np.allclose(base, np.asarray(result.forecast, dtype=np.float64).reshape(base.shape), rtol=1e-3, atol=1e-4):
        raise RuntimeError("The check's forecasts differ from saliency()'s; please report this.")

    def effects(candidate: np.ndarray) -> dict[str, float]:
        return deletion_effects(forecaster, inputs, candidate, fractions, reference, None, None, base, seed)

    recent = effects(recency_map(inputs.shape))
    draws = [effects(random_saliency(inputs.shape, seed=seed + 1 + d)) for d in range(int(random_draws))]
    random = {f: float(np.mean([d[f"del@{f:g}"] for d in draws])) for f in fractions}
    recency = {f: recent[f"del@{f:g}"] for f in fractions}
    others = [explain(m) for m in seeds_models]
    first = fractions[0]
    checks = []
    for name in kinds:
        saliency = np.asarray(getattr(result, name), dtype=np.float64)
        mine = effects(saliency)
        deletion = {f: mine[f"del@{f:g}"] for f in fractions}
        ratio_random = {f: deletion[f] / random[f] if random[f] > 0 else np.nan for f in fractions}
        ratio_recency = {f: deletion[f] / recency[f] if recency[f] > 0 else np.nan for f in fractions}
        stability: dict[str, Any] = {"seed_spearman": None, "seed_topk": None, "seed_profile": None}
        if others:
            maps = [saliency, *(np.asarray(getattr(o, name), dtype=np.float64) for o in others)]
            stability = seed_stability(maps, fraction=first)
        checks.append(SaliencyCheck(
            kind=name, reference=reference, fractions=fractions, n_windows=len(inputs), deletion=deletion,
            random=random, recency=recency, insertion={f: mine[f"ins@{f:g}"] for f in fractions},
            ratio_random=ratio_random, ratio_recency=ratio_recency,
            verdict=_verdict(name, ratio_random[first], ratio_recency[first], first, stability["seed_spearman"],
                             ensemble_size=1 + len(members)),
            n_seed_models=len(seeds_models), ensemble_size=1 + len(members), **stability,
        ))
    best, *rest = sorted(checks, key=_rank)
    return replace(best, alternatives={check.kind: check for check in rest})
