"""Plots: a saliency figure (one window's input and forecast, with the maps beneath it) and a forecast figure.

- :func:`plot_saliency`: one window, its input and forecast on top, the saliency heatmaps beneath.
- :func:`plot_forecast`: the forecasts of several windows over the actual series.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from crossscale_ext.maps import CELL_MAPS, MAP_REGISTRY, RECOMMENDED_MAP, TEMPORAL_MAPS
from crossscale_ext.saliency import SaliencyResult

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = ["plot_saliency", "plot_forecast"]



def plot_saliency(
    result: SaliencyResult,
    window: int = -1,
    kind: str | None = None,
    per_scale: bool | None = None,
    ground_truth: np.ndarray | None = None,
    figsize: tuple[float, float] | None = None,
    title: str | None = None,
) -> Figure:
    """Draw one window: its input and forecast on top, the saliency beneath it as a heatmap.

    Parameters
    ----------
    result
        A :class:`~crossscale_ext.saliency.SaliencyResult` (from ``CrossScaleNetModel.saliency`` or
        ``CrossScaleNetForecaster``).
    window
        Which window of ``result`` to draw. Default: ``-1``, the last.
    kind
        The heatmap: ``"gradient"`` (the recommended map) or ``"input_x_gradient"`` (time x input component,
        from the gradients), or one of the paper's attention maps, ``"per_component"`` (time x input
        component), ``"per_step"`` or ``"paper"`` (one row each). Default ``None``:
        :data:`~crossscale_ext.maps.RECOMMENDED_MAP` when the result holds it (computed with
        ``gradients=True``, the default), else the first map it holds.
    per_scale
        Add a panel with the per-step map of every attended scale (``SaliencyResult.per_scale``), and the
        ``paper`` and ``per_step`` maps as lines. Default ``None``: when the result holds them (a result computed
        with ``maps=`` may not); ``True`` asks for the panel and raises if the result lacks those maps.
    ground_truth
        Optional ``(L, C)`` or ``(L,)`` mask of the truly important cells, drawn as a heatmap beside the
        saliency (synthetic data). Default: ``None``.
    figsize
        Matplotlib figure size. Default: chosen from the number of panels.
    title
        Figure title. Default: the forecast start.

    Returns
    -------
    matplotlib.figure.Figure
        The figure (not shown; call ``fig.savefig(path)`` or display it in a notebook).

    Raises
    ------
    ValueError
        For an unknown ``kind``, a ``kind`` (or ``per_scale=True`` panel) whose map the result does not hold
        (computed with ``maps=``), or a ``ground_truth`` whose shape does not match the window.
    """
    import matplotlib.pyplot as plt

    if not isinstance(result, SaliencyResult):
        raise TypeError(f"result must be a SaliencyResult; got {type(result).__name__}.")
    available = result.available_maps
    if kind is None:
        kind = next((k for k in (RECOMMENDED_MAP, *TEMPORAL_MAPS) if k in available), None)
        if kind is None:
            raise ValueError("The result holds no map to draw; compute it with maps=None (all maps).")
    if kind not in TEMPORAL_MAPS:
        raise ValueError(f"kind must be one of {list(TEMPORAL_MAPS)}; got {kind!r}.")
    if kind not in available:
        raise ValueError(f"The result does not hold the {kind!r} map (it holds {list(available)}); choose one of "
                         f"those as kind, or compute the saliency with maps=None or a maps= that includes {kind!r}.")
    has_scale_maps = result.has_raw_attention and {"per_step", "paper"} <= set(available)
    if per_scale is None:
        per_scale = has_scale_maps
    elif per_scale and not has_scale_maps:
        raise ValueError("per_scale=True needs the raw_attention, per_step and paper maps, which this result does "
                         "not hold; compute the saliency with maps=None, or pass per_scale=False.")
    w = result._window(window)
    length = result.input_index.shape[1]
    if kind in CELL_MAPS:
        heat, rows = result.component_map(kind)[w].T, list(result.component_names)
    else:
        heat, rows = getattr(result, kind)[w][None, :], [kind]
    truth = None
    if ground_truth is not None:
        truth = np.asarray(ground_truth, dtype=float)
        truth = truth[:, None] if truth.ndim == 1 else truth
        if truth.shape[0] != length:
            raise ValueError(f"ground_truth must have {length} rows (one per input step); got shape {truth.shape}.")
        truth = truth.T

    panels = ["series", "heat"] + (["truth"] if truth is not None else []) + (["scales"] if per_scale else [])
    heights = {"series": 3.0, "heat": max(1.2, 0.35 * len(rows)), "truth": max(1.2, 0.35 * truth.shape[0])
               if truth is not None else 0.0, "scales": 2.2}
    fig, axes = plt.subplots(
        len(panels), 1, figsize=figsize or (11, sum(heights[p] for p in panels) + 0.8), sharex=True,
        gridspec_kw={"height_ratios": [heights[p] for p in panels]}, constrained_layout=True,
    )
    axes = dict(zip(panels, np.atleast_1d(axes)))
    horizon = result.forecast_index.shape[1]
    input_x, forecast_x = np.arange(length), np.arange(length, length + horizon)

    ax = axes["series"]
    if result.inputs is not None:
        for c, name in enumerate(result.component_names):
            is_target = name in result.target_names
            ax.plot(input_x, result.inputs[w, :, c], lw=1.6 if is_target else 0.9, alpha=1.0 if is_target else 0.6,
                    label=name)
    for t, name in enumerate(result.target_names):
        ax.plot(forecast_x, result.forecast[w, :, t], ls="--", lw=1.6, label=f"{name} forecast")
    ax.axvline(length - 0.5, color="grey", lw=0.8)
    _legend_above(ax, ncol=len(result.component_names) + len(result.target_names))
    ax.set_ylabel("value")

    def _heatmap(axis, values: np.ndarray, labels: list[str], label: str) -> None:
        padded = np.concatenate([values, np.full((values.shape[0], horizon), np.nan)], axis=1)
        image = axis.imshow(padded, aspect="auto", cmap="viridis", interpolation="nearest",
                            extent=(-0.5, length + horizon - 0.5, len(labels) - 0.5, -0.5))
        axis.set_yticks(range(len(labels)), labels, fontsize=8)
        axis.set_ylabel(label)
        fig.colorbar(image, ax=axis, pad=0.01, fraction=0.03)

    note = "recommended" if kind == RECOMMENDED_MAP else f"{MAP_REGISTRY[kind].family} map"
    _heatmap(axes["heat"], heat, rows, f"{kind}\n({note})")
    if truth is not None:
        truth_rows = rows if truth.shape[0] == len(rows) else [f"c{i}" for i in range(truth.shape[0])]
        _heatmap(axes["truth"], truth, truth_rows, "ground\ntruth")
    if per_scale:
        ax = axes["scales"]
        scales = result.per_scale(w)
        for s, row in enumerate(scales, start=1):
            ax.plot(input_x, row, lw=0.9, alpha=0.8, label=f"scale {s} (weight {result.scale_weights[s]:.2f})")
        ax.plot(input_x, result.per_step[w], color="black", lw=1.6, label="per_step")
        paper = result.paper[w] / max(result.paper[w].sum(), 1e-12)
        ax.plot(input_x, paper, color="black", ls=":", lw=1.4, label="paper (normalised)")
        ax.set_ylabel("paper's attention\nper step (not the\nrecommended map)", fontsize=8)
        _legend_above(ax, ncol=len(scales) + 2)

    ticks = np.linspace(0, length + horizon - 1, 7).round().astype(int)
    times = np.concatenate([result.input_index[w], result.forecast_index[w]])
    last = axes[panels[-1]]
    last.set_xticks(ticks, [str(times[t])[:16] for t in ticks], fontsize=7, rotation=20)
    last.set_xlabel("time (input window | forecast)")
    fig.suptitle(title or f"CrossScaleNet saliency, forecast from {str(result.forecast_index[w][0])[:16]}"
                 + ("" if result.informative else "  [horizon too short: maps near uniform]"))
    return fig


def _legend_above(ax, ncol: int) -> None:
    """A legend in a row above the axes: outside the plotting area, so it never hides a peak of the curves."""
    ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), borderaxespad=0.2, ncol=max(1, min(ncol, 7)),
              fontsize=7, frameon=False)


def plot_forecast(
    result: SaliencyResult,
    actual: Any = None,
    windows: Sequence[int] | None = None,
    last_steps: int = 200,
    target: int = 0,
    figsize: tuple[float, float] = (10, 3.5),
    title: str | None = None,
) -> Figure:
    """Draw the forecasts of several windows over the actual series, on the series' own time axis.

    Parameters
    ----------
    result
        A :class:`~crossscale_ext.saliency.SaliencyResult` of several windows (e.g.
        ``model.saliency(series, windows="all")``): its ``forecast`` and ``forecast_index`` are drawn.
    actual
        The actual series to draw beneath the forecasts: a Darts ``TimeSeries`` (its ``target``-th component)
        or ``None`` (default), which draws the target's values from the windows' inputs.
    windows
        Which windows to draw. Default: non-overlapping windows (every ``horizon``-th) ending with the last,
        over the last ``last_steps`` forecast steps.
    last_steps
        With ``windows=None``: how many time steps back from the last forecast the windows cover. Default: 200.
    target
        Which target component to draw. Default: 0, the first.
    figsize
        Matplotlib figure size. Default: ``(10, 3.5)``.
    title
        Axes title. Default: says how many windows and steps are drawn.

    Returns
    -------
    matplotlib.figure.Figure
        The figure, with axis labels (``time``, ``value``) and a legend; not shown (``fig.savefig(path)``).

    Raises
    ------
    TypeError
        When ``result`` is not a ``SaliencyResult``.
    ValueError
        For a ``target`` the result does not have, or a window index out of range.
    """
    import matplotlib.pyplot as plt

    if not isinstance(result, SaliencyResult):
        raise TypeError(f"result must be a SaliencyResult; got {type(result).__name__}.")
    n_targets = result.forecast.shape[2]
    if not 0 <= target < n_targets:
        raise ValueError(f"target must be in 0..{n_targets - 1} (the result has {n_targets} target(s)); got {target}.")
    horizon = result.forecast.shape[1]
    if windows is None:
        last = result.n_windows - 1
        count = max(1, int(last_steps) // horizon)
        windows = range(last, max(-1, last - count * horizon), -horizon)[::-1]
    windows = [result._window(w) for w in windows]
    name = result.target_names[target]

    fig, ax = plt.subplots(figsize=figsize, constrained_layout=True)
    if actual is not None:
        times = actual.time_index
        values = actual.values(copy=False)[:, target]
        first = min(result.input_index[w][0] for w in windows)
        end = max(result.forecast_index[w][-1] for w in windows)
        keep = np.asarray((times >= first) & (times <= end))
        ax.plot(times[keep], values[keep], color="black", lw=0.8, label=f"{name} (actual)")
    elif result.inputs is not None:
        column = result.component_names.index(name) if name in result.component_names else target
        for i, w in enumerate(windows):
            ax.plot(result.input_index[w], result.inputs[w, :, column], color="black", lw=0.8,
                    label=f"{name} (input)" if i == 0 else None)
    for i, w in enumerate(windows):
        ax.plot(result.forecast_index[w], result.forecast[w, :, target], color="tab:red", lw=1.4,
                label="forecast" if i == 0 else None)
    ax.set_xlabel("time")
    ax.set_ylabel("value")
    ax.set_title(title or f"{len(windows)} forecast window(s) of {horizon} steps")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, fontsize=8)
    return fig
