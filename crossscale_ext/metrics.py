"""Saliency metrics for forecasting: against a ground truth, and without one (faithfulness).

All functions take numpy arrays. A *saliency* array holds one map per input window: ``(W, L, C)`` for a
map over ``(time x component)`` cells, ``(W, L)`` for a temporal map, or a single map ``(L, C)`` / ``(L,)``
(treated as one window). A *mask* is the boolean ground truth, either one per window (same shape as the
saliency) or one shared by every window (the shape of one map).

With ground truth
-----------------
:func:`auroc` and :func:`auprc` rank the cells of each window by saliency against the mask
(scikit-learn's ``roc_auc_score`` and ``average_precision_score``) and average over windows
(``average="window"``, the default) or pool every cell of every window (``average="pooled"``).
:func:`aup_aur` is the saliency-weighted area under the precision and recall curves of Ismail et al.,
"Benchmarking Deep Learning Interpretability in Time Series Predictions", NeurIPS 2020 (defined in its
docstring). :func:`cell_scores` and :func:`temporal_scores` return all four, over cells or over time
alone (components collapsed).

Without ground truth
--------------------
:func:`comprehensiveness` and :func:`sufficiency` are the forecasting versions of DeYoung et al.'s
ERASER metrics (ACL 2020): the change in forecast MSE when the top ``k`` % of the input cells by saliency
are replaced by a baseline (comprehensiveness: higher means the map found cells the forecast needs), or
when every cell *but* them is replaced (sufficiency: lower means those cells suffice). Baselines:
``"train_mean"`` (each channel's training mean) and ``"carry_forward"`` (the last kept value of the same
channel, the training mean before the first kept value). :func:`random_saliency` gives the control map;
:func:`faithfulness` computes both metrics for a map and for the random control in one call.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

__all__ = [
    "auroc",
    "auprc",
    "aup_aur",
    "weighted_precision_recall",
    "cell_scores",
    "temporal_scores",
    "perturb",
    "comprehensiveness",
    "sufficiency",
    "faithfulness",
    "random_saliency",
    "ISMAIL_FRACTIONS",
]

#: Saliency-mass fractions at which Ismail et al. (2020) evaluate weighted precision and recall.
ISMAIL_FRACTIONS: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)

Average = Literal["window", "pooled"]
Baseline = Literal["train_mean", "carry_forward"]


# ---------------------------------------------------------------------------------------------- helpers
def _as_windows(saliency: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(W, N)`` float saliency and ``(W, N)`` bool mask.

    A mask of the saliency's shape is one mask per window (a 1-D pair is one window); a mask of shape
    ``saliency.shape[1:]`` is shared by every window. To score a single ``(L, C)`` map, pass
    ``saliency[None]`` with its ``(L, C)`` mask.
    """
    saliency = np.asarray(saliency, dtype=float)
    mask = np.asarray(mask)
    if mask.dtype != bool:
        if not np.isin(mask, (0, 1)).all():
            raise ValueError("mask must be boolean (or 0/1): True marks a ground-truth important cell.")
        mask = mask.astype(bool)
    if saliency.shape == mask.shape:
        if saliency.ndim == 1:
            saliency, mask = saliency[None], mask[None]
    elif saliency.shape[1:] == mask.shape:
        mask = np.broadcast_to(mask, saliency.shape)
    else:
        raise ValueError(
            f"saliency of shape {saliency.shape} does not match mask of shape {mask.shape}: give one mask per "
            "window (same shape) or one shared mask of the shape of a single map (saliency.shape[1:])."
        )
    if saliency.ndim < 2 or saliency.size == 0:
        raise ValueError(f"saliency must hold at least one window of cells; got shape {saliency.shape}.")
    if not np.isfinite(saliency).all():
        raise ValueError("saliency holds NaN or infinite values; replace them before scoring.")
    n_windows = saliency.shape[0]
    return saliency.reshape(n_windows, -1), mask.reshape(n_windows, -1)


def _check_both_classes(mask: np.ndarray, what: str) -> None:
    positives = mask.sum(axis=1)
    if (positives == 0).any() or (positives == mask.shape[1]).any():
        raise ValueError(
            f"{what} needs both important and unimportant cells in every window's mask; some window's mask is "
            "all False or all True, where the score is undefined."
        )


def _average(scores: list[float]) -> float:
    return float(np.mean(scores))


# ------------------------------------------------------------------------------------ ground-truth metrics
def auroc(saliency: np.ndarray, mask: np.ndarray, average: Average = "window") -> float:
    """Area under the ROC curve of the saliency as a score for the ground-truth cells.

    Parameters
    ----------
    saliency
        ``(W, ...)`` maps (any number of trailing dimensions) or one map.
    mask
        Ground truth: the same shape, or the shape of one map (shared by every window).
    average
        ``"window"`` (default): the mean of each window's AUROC. ``"pooled"``: one AUROC over every cell
        of every window.

    Returns
    -------
    float
        0.5 for a constant or random map, 1 when every important cell outranks every other one.

    Examples
    --------
    >>> auroc(np.array([0.9, 0.1, 0.8, 0.3]), np.array([True, False, False, True]))
    0.75
    """
    scores, truth = _as_windows(saliency, mask)
    _check_both_classes(truth, "AUROC")
    if average == "pooled":
        return float(roc_auc_score(truth.ravel(), scores.ravel()))
    if average != "window":
        raise ValueError(f"average must be 'window' or 'pooled'; got {average!r}.")
    return _average([roc_auc_score(t, s) for s, t in zip(scores, truth)])


def auprc(saliency: np.ndarray, mask: np.ndarray, average: Average = "window") -> float:
    """Area under the precision-recall curve (average precision) of the saliency for the ground truth.

    Same arguments as :func:`auroc`. A random map scores about the share of important cells; a perfect
    ranking scores 1.

    Examples
    --------
    >>> round(auprc(np.array([0.9, 0.1, 0.8, 0.3]), np.array([True, False, False, True])), 4)
    0.8333
    """
    scores, truth = _as_windows(saliency, mask)
    _check_both_classes(truth, "AUPRC")
    if average == "pooled":
        return float(average_precision_score(truth.ravel(), scores.ravel()))
    if average != "window":
        raise ValueError(f"average must be 'window' or 'pooled'; got {average!r}.")
    return _average([average_precision_score(t, s) for s, t in zip(scores, truth)])


def weighted_precision_recall(
    saliency: np.ndarray, mask: np.ndarray, fractions: Sequence[float] = ISMAIL_FRACTIONS
) -> tuple[np.ndarray, np.ndarray]:
    """Saliency-weighted precision and recall curves of Ismail et al. (NeurIPS 2020).

    For each window, the saliency is taken in absolute value and min-max rescaled to ``[0, 1]``. For each
    fraction ``p``, the selected cells are the fewest top-ranked cells whose rescaled saliency reaches
    ``p`` of the window's total. With ``s`` the rescaled saliency, ``S`` the selected and ``G`` the
    ground-truth cells:

    - weighted precision ``= sum_{S ∩ G} s / sum_{S} s``,
    - weighted recall ``= sum_{S ∩ G} s / sum_{G} s``,

    averaged over the windows where they are defined (a window whose rescaled saliency is zero
    everywhere, e.g. a constant map, is skipped; NaN if every window is).

    Parameters
    ----------
    saliency, mask
        As in :func:`auroc`.
    fractions
        Saliency-mass fractions in ``(0, 1]``; Ismail et al. use 0.1, 0.2, ..., 0.9.

    Returns
    -------
    precision, recall
        Arrays of ``len(fractions)``.
    """
    scores, truth = _as_windows(saliency, mask)
    fractions = np.asarray(fractions, dtype=float)
    if fractions.ndim != 1 or len(fractions) < 2 or (fractions <= 0).any() or (fractions > 1).any():
        raise ValueError(f"fractions must be at least two values in (0, 1]; got {fractions.tolist()}.")
    magnitude = np.abs(scores)
    low = magnitude.min(axis=1, keepdims=True)
    span = magnitude.max(axis=1, keepdims=True) - low
    valid = span[:, 0] > 0
    if not valid.any():
        return np.full(len(fractions), np.nan), np.full(len(fractions), np.nan)
    rescaled = (magnitude[valid] - low[valid]) / span[valid]
    truth = truth[valid]
    order = np.argsort(-rescaled, axis=1, kind="stable")
    ranked = np.take_along_axis(rescaled, order, axis=1)
    ranked_truth = np.take_along_axis(truth, order, axis=1)
    cumulative = np.cumsum(ranked, axis=1)
    totals = cumulative[:, -1:]
    true_total = (rescaled * truth).sum(axis=1)
    precision = np.empty(len(fractions))
    recall = np.empty(len(fractions))
    for i, fraction in enumerate(fractions):
        # number of selected cells: the first rank at which the cumulative share reaches the fraction
        n_selected = (cumulative < fraction * totals - 1e-12).sum(axis=1) + 1
        selected = np.arange(ranked.shape[1])[None, :] < n_selected[:, None]
        selected_mass = (ranked * selected).sum(axis=1)
        true_selected_mass = (ranked * selected * ranked_truth).sum(axis=1)
        precision[i] = np.mean(true_selected_mass / selected_mass)
        has_truth = true_total > 0
        recall[i] = np.mean(true_selected_mass[has_truth] / true_total[has_truth]) if has_truth.any() else np.nan
    return precision, recall


def aup_aur(
    saliency: np.ndarray, mask: np.ndarray, fractions: Sequence[float] = ISMAIL_FRACTIONS
) -> tuple[float, float]:
    """Areas under the weighted precision (AUP) and recall (AUR) curves of Ismail et al. (NeurIPS 2020).

    The curves of :func:`weighted_precision_recall` are integrated with the trapezoidal rule over the
    fractions, as in the authors' code (``np.trapz(curve, x=fractions)``), so with the default fractions
    0.1 .. 0.9 both areas lie in ``[0, 0.8]``.

    Parameters
    ----------
    saliency, mask
        As in :func:`auroc`.
    fractions
        As in :func:`weighted_precision_recall`.

    Returns
    -------
    aup, aur
        Floats (NaN when no window has a non-constant map).
    """
    precision, recall = weighted_precision_recall(saliency, mask, fractions)
    x = np.asarray(fractions, dtype=float)
    return float(np.trapezoid(precision, x=x)), float(np.trapezoid(recall, x=x))


def cell_scores(saliency: np.ndarray, mask: np.ndarray, average: Average = "window") -> dict[str, float]:
    """AUROC, AUPRC, AUP and AUR of a map over its cells (every trailing dimension kept).

    Returns
    -------
    dict
        Keys ``"auroc"``, ``"auprc"``, ``"aup"``, ``"aur"``.
    """
    aup, aur = aup_aur(saliency, mask)
    return {
        "auroc": auroc(saliency, mask, average),
        "auprc": auprc(saliency, mask, average),
        "aup": aup,
        "aur": aur,
    }


def temporal_scores(saliency: np.ndarray, mask: np.ndarray, average: Average = "window") -> dict[str, float]:
    """The scores of :func:`cell_scores` over time alone.

    A ``(W, L, C)`` saliency is collapsed to ``(W, L)`` by summing absolute values over components; an
    ``(L, C)`` (or ``(W, L, C)``) mask to ``(L,)`` (``(W, L)``) by "any component important". Temporal
    maps ``(W, L)`` and masks ``(L,)`` / ``(W, L)`` are used as given.

    Parameters
    ----------
    saliency
        ``(W, L, C)`` or ``(W, L)``.
    mask
        ``(L, C)``, ``(W, L, C)``, ``(L,)`` or ``(W, L)``.
    average
        As in :func:`auroc`.
    """
    saliency = np.asarray(saliency, dtype=float)
    mask = np.asarray(mask).astype(bool)
    if saliency.ndim == 3:
        saliency = np.abs(saliency).sum(axis=2)
    if saliency.ndim != 2:
        raise ValueError(f"saliency must be (W, L, C) or (W, L); got shape {saliency.shape}.")
    if mask.ndim == 3 or (mask.ndim == 2 and mask.shape != saliency.shape):
        mask = mask.any(axis=-1)
    return cell_scores(saliency, mask, average)


# ---------------------------------------------------------------------------------------- faithfulness
def random_saliency(shape: Sequence[int], seed: int = 0) -> np.ndarray:
    """A uniform random map of the given shape: the control every saliency method should beat."""
    return np.random.default_rng(seed).random(tuple(shape))


def _top_cells(saliency: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Bool ``(W, N)``: each window's ``round(fraction * N)`` (at least 1) most salient cells, ties broken at random."""
    n_cells = saliency.shape[1]
    k = max(1, int(round(fraction * n_cells)))
    tie_breaker = rng.random(saliency.shape)
    order = np.lexsort((tie_breaker, -saliency), axis=1)[:, :k]
    top = np.zeros(saliency.shape, dtype=bool)
    np.put_along_axis(top, order, True, axis=1)
    return top


def perturb(
    inputs: np.ndarray,
    replace: np.ndarray,
    baseline: Baseline,
    train_mean: np.ndarray,
) -> np.ndarray:
    """Replace the cells flagged in ``replace`` by a baseline.

    Parameters
    ----------
    inputs
        ``(W, L, C)`` input windows.
    replace
        ``(W, L, C)`` bool, the cells to replace (or ``(W, L)``: whole time steps).
    baseline
        ``"train_mean"``: the channel's training mean. ``"carry_forward"``: the last kept (not replaced)
        value of the same channel earlier in the window; the training mean where there is none.
    train_mean
        ``(C,)`` per-channel training mean.

    Returns
    -------
    numpy.ndarray
        A perturbed copy of ``inputs``.
    """
    inputs = np.asarray(inputs)
    replace = np.asarray(replace, dtype=bool)
    if replace.ndim == 2:
        replace = np.repeat(replace[:, :, None], inputs.shape[2], axis=2)
    if replace.shape != inputs.shape:
        raise ValueError(f"replace of shape {replace.shape} does not match inputs of shape {inputs.shape}.")
    fill = np.broadcast_to(np.asarray(train_mean, dtype=inputs.dtype), inputs.shape)
    if baseline == "train_mean":
        return np.where(replace, fill, inputs)
    if baseline == "carry_forward":
        steps = np.arange(inputs.shape[1])[None, :, None]
        last_kept = np.maximum.accumulate(np.where(replace, -1, steps), axis=1)
        carried = np.take_along_axis(inputs, np.maximum(last_kept, 0), axis=1)
        carried = np.where(last_kept >= 0, carried, fill)
        return np.where(replace, carried, inputs)
    raise ValueError(f"baseline must be 'train_mean' or 'carry_forward'; got {baseline!r}.")


def _check_faithfulness_inputs(
    inputs: np.ndarray, targets: np.ndarray, saliency: np.ndarray, fractions: Sequence[float], train_mean: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    inputs = np.asarray(inputs)
    saliency = np.asarray(saliency, dtype=float)
    if inputs.ndim != 3:
        raise ValueError(f"inputs must be (W, L, C) windows; got shape {inputs.shape}.")
    if saliency.shape not in (inputs.shape, inputs.shape[:2]):
        raise ValueError(
            f"saliency must be (W, L, C) = {inputs.shape} (cells) or (W, L) = {inputs.shape[:2]} (time steps); "
            f"got {saliency.shape}."
        )
    if len(np.asarray(targets)) != len(inputs):
        raise ValueError(f"targets has {len(np.asarray(targets))} windows but inputs has {len(inputs)}.")
    train_mean = np.asarray(train_mean, dtype=float)
    if train_mean.shape != (inputs.shape[2],):
        raise ValueError(
            f"train_mean must hold one value per channel, shape ({inputs.shape[2]},); got {train_mean.shape}."
        )
    if not fractions or any(not 0 < f <= 1 for f in fractions):
        raise ValueError(f"fractions must be values in (0, 1]; got {list(fractions)}.")
    return inputs, np.abs(saliency).reshape(len(inputs), -1), train_mean


def _mse(model_fn: Callable[[np.ndarray], np.ndarray], inputs: np.ndarray, targets: np.ndarray) -> float:
    forecast = np.asarray(model_fn(inputs), dtype=float)
    targets = np.asarray(targets, dtype=float)
    if forecast.shape != targets.shape:
        raise ValueError(f"model_fn returned shape {forecast.shape}; targets have shape {targets.shape}.")
    return float(np.mean((forecast - targets) ** 2))


def _erasure_curve(
    model_fn: Callable[[np.ndarray], np.ndarray],
    inputs: np.ndarray,
    targets: np.ndarray,
    saliency: np.ndarray,
    fractions: Sequence[float],
    baseline: Baseline,
    train_mean: np.ndarray,
    keep_top: bool,
    seed: int,
) -> dict[float, float]:
    inputs, flat, train_mean = _check_faithfulness_inputs(inputs, targets, saliency, fractions, train_mean)
    reference = _mse(model_fn, inputs, targets)
    rng = np.random.default_rng(seed)
    temporal = np.asarray(saliency).ndim == 2
    changes = {}
    for fraction in fractions:
        top = _top_cells(flat, fraction, rng).reshape(inputs.shape[:2] if temporal else inputs.shape)
        perturbed = perturb(inputs, ~top if keep_top else top, baseline, train_mean)
        changes[float(fraction)] = _mse(model_fn, perturbed, targets) - reference
    return changes


def comprehensiveness(
    model_fn: Callable[[np.ndarray], np.ndarray],
    inputs: np.ndarray,
    targets: np.ndarray,
    saliency: np.ndarray,
    fractions: Sequence[float] = (0.1, 0.2, 0.5),
    baseline: Baseline = "train_mean",
    train_mean: np.ndarray | None = None,
    seed: int = 0,
) -> dict[float, float]:
    """Increase of the forecast MSE when each window's top-``k`` cells are replaced by a baseline.

    Parameters
    ----------
    model_fn
        Maps ``(W, L, C)`` windows to forecasts of the shape of ``targets``.
    inputs
        ``(W, L, C)`` input windows.
    targets
        The true values the forecasts are compared with, e.g. ``(W, H, n_targets)``.
    saliency
        ``(W, L, C)``: cells are ranked; or ``(W, L)``: whole time steps are ranked and replaced. Absolute
        values are ranked; ties are broken at random (``seed``).
    fractions
        Shares of the cells (or steps) to replace; default 10, 20 and 50 %.
    baseline
        ``"train_mean"`` or ``"carry_forward"`` (see :func:`perturb`).
    train_mean
        ``(C,)`` per-channel training mean (required: the fill value of both baselines).
    seed
        Seed of the tie-breaking.

    Returns
    -------
    dict
        ``{fraction: MSE(perturbed) - MSE(original)}``; higher is better (the removed cells mattered).
    """
    if train_mean is None:
        raise ValueError("comprehensiveness needs train_mean, the per-channel training mean (the baseline value).")
    return _erasure_curve(model_fn, inputs, targets, saliency, fractions, baseline, train_mean, False, seed)


def sufficiency(
    model_fn: Callable[[np.ndarray], np.ndarray],
    inputs: np.ndarray,
    targets: np.ndarray,
    saliency: np.ndarray,
    fractions: Sequence[float] = (0.1, 0.2, 0.5),
    baseline: Baseline = "train_mean",
    train_mean: np.ndarray | None = None,
    seed: int = 0,
) -> dict[float, float]:
    """Increase of the forecast MSE when every cell *except* each window's top-``k`` is replaced.

    Same arguments as :func:`comprehensiveness`. Lower is better (the kept cells suffice).
    """
    if train_mean is None:
        raise ValueError("sufficiency needs train_mean, the per-channel training mean (the baseline value).")
    return _erasure_curve(model_fn, inputs, targets, saliency, fractions, baseline, train_mean, True, seed)


def faithfulness(
    model_fn: Callable[[np.ndarray], np.ndarray],
    inputs: np.ndarray,
    targets: np.ndarray,
    saliency: np.ndarray,
    train_mean: np.ndarray,
    fractions: Sequence[float] = (0.1, 0.2, 0.5),
    baseline: Baseline = "train_mean",
    seed: int = 0,
) -> dict[str, float]:
    """Comprehensiveness and sufficiency of a map and of a random map of the same shape (the control).

    Returns
    -------
    dict
        ``"comprehensiveness"`` and ``"sufficiency"`` (means over ``fractions``), the same for the random
        control (``"random_comprehensiveness"``, ``"random_sufficiency"``), and every per-fraction value
        (``"comprehensiveness@0.1"``, ...).
    """
    result: dict[str, float] = {}
    control = random_saliency(np.shape(saliency), seed)
    for prefix, candidate in (("", saliency), ("random_", control)):
        for name, function in (("comprehensiveness", comprehensiveness), ("sufficiency", sufficiency)):
            curve = function(model_fn, inputs, targets, candidate, fractions, baseline, train_mean, seed)
            result[f"{prefix}{name}"] = float(np.mean(list(curve.values())))
            for fraction, value in curve.items():
                result[f"{prefix}{name}@{fraction:g}"] = value
    return result
