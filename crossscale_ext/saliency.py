"""Saliency of CrossScaleNet's forecasts: the maps and the :class:`SaliencyResult` container.

Two families of maps come out of one batched pass over the input windows (see
:mod:`crossscale_ext.explainability`).

Gradient maps (one backward pass per batch; the recommended reading, :data:`RECOMMENDED_MAP`):

``gradient``
    ``(time x input component)``: ``|d forecast / d input|``, the point forecast summed over its steps and
    targets. It says how much the forecast moves per unit change of each input cell, through every path of
    the network (scale 0, the attention, the covariate path). The instance-normalisation statistics are
    constants of the derivative, as they are in training.
``input_x_gradient``
    ``|(input - window mean) * d forecast / d input|``: the first-order change of the forecast if the cell
    were replaced by its channel's window mean.
``aligned_input_x_gradient``
    The cells of ``input_x_gradient`` that push the forecast the way the whole window pushes it (the signed
    contributions that agree with their sum; the others are 0). On real data it is the map whose top cells move
    the forecast most when removed (docs/benchmarks/faithfulness.md).

Attention maps (no gradients; the paper's):

``paper``
    The reference implementation's map: for each scale ``s >= 1`` the attention each key patch receives
    (patch attention averaged over query patches), times ``sigmoid(w_s)``, linearly interpolated to the
    input length and normalised to sum 1; summed over scales. Its resolution is one patch (16 input steps
    by default) and scale 0 contributes nothing. Because each scale's map is normalised, ``sigmoid(w_s)``
    cancels: every scale counts equally. Sums to ``n_scales - 1``.
``per_step``
    The patch attention refined by the local attention: at scale ``s`` the mass of key patch ``j`` is
    split over its ``p_s`` steps in proportion to the local attention each step receives as a key
    inside patch ``j`` (averaged over the patch's queries); zero-padded steps are dropped. A step of
    scale ``s`` averages ``2**s`` input steps, so its mass is spread evenly over them. Scales are
    averaged with weights ``sigmoid(w_s)``. Sums to 1 per window.
``per_component``
    ``(time x input component)``: the per-step map split across the input channels (targets, then past
    covariates, then historic future covariates) in proportion to each channel's share of the local
    value vectors at that step, ``|u[t, c]| * ||W_v[:, c]||`` (Kobayashi et al., 2020, "Attention is not
    only a weight"). Summing it over components gives ``per_step``. It says which channel carries the
    attended values, not a causal effect of the channel on the forecast.

What the attention maps do not tell you: the scale-0 encoders read the whole window without attention, so
a forecast can rest on steps that receive little attention; the keys are the model's own forecast
stretched over the input length, so with short horizons (fewer forecast steps than patches) the key
patches are nearly equal and the maps blur toward uniform, and with ``output_chunk_length = 1`` they are
exactly uniform. :func:`attention_is_informative` flags these cases and the wrappers warn. The gradient
maps have neither limit; they describe the trained network, which is only as right as its fit.

Choosing maps and bounding memory: a pass computes and stores only the maps it is asked for (``maps=`` of
``saliency()``; names in :data:`MAP_NAMES`, with ``raw_attention`` the per-scale attention weights behind
:meth:`SaliencyResult.per_scale`). Maps are stored as float32 by default (the network's own precision unless it
was trained in float64); a result always holds the point forecast and the windows' time stamps. Per window and
input component the maps cost ``4 * L`` bytes each in float32 (see ``docs/saliency.md``, "Long series and
memory", for measured totals).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from crossscale_ext.maps import (
    ATTENTION_MAP_NAMES,
    CELL_MAPS,
    GRADIENT_MAP_NAMES,
    MAP_NAMES,
    MAP_REGISTRY,
    RECOMMENDED_MAP,
    TEMPORAL_MAPS,
    MapSpec,
    map_label,
)
from crossscale_ext.network import CrossScaleNet, CrossScaleNetOutput

__all__ = [
    "SaliencyResult",
    "SaliencyMaps",
    "PanelSaliency",
    "PanelAccumulator",
    "ShortHorizonWarning",
    "SaliencyMemoryWarning",
    "MAP_NAMES",
    "ATTENTION_MAP_NAMES",
    "GRADIENT_MAP_NAMES",
    "attention_is_informative",
    "attention_maps",
    "gradient_maps",
    "maps_of_gradient",
    "RECOMMENDED_MAP",
    "ALL_WINDOWS_DEFAULT_MAPS",
    "MAP_REGISTRY",
    "MapSpec",
    "map_label",
    "paper_map",
    "per_step_map",
]


class ShortHorizonWarning(UserWarning):
    """The horizon is too short for the attention keys to differ between patches (maps near uniform)."""


class SaliencyMemoryWarning(UserWarning):
    """A one-shot saliency call is about to hold a large result; fewer maps or ``iter_saliency`` would bound it."""


def attention_is_informative(output_length: int, n_patches: int) -> bool:
    """Whether stretched forecasts of ``output_length`` steps can give ``n_patches`` distinct key patches.

    With one forecast step every key patch is identical and the attention is exactly uniform; with
    fewer forecast steps than patches, neighbouring key patches are interpolations of the same points
    and the maps are blurred. Both return False.
    """
    return output_length >= n_patches and output_length > 1


def short_horizon_message(output_length: int, n_patches: int) -> str:
    """The warning text for an uninformative horizon."""
    if output_length == 1:
        detail = "with output_chunk_length=1 every key patch is the same, so the attention is exactly uniform"
    else:
        detail = (
            f"output_chunk_length={output_length} is shorter than the number of patches ({n_patches}), so "
            "neighbouring key patches interpolate the same forecast points and the maps blur toward uniform"
        )
    return (
        f"CrossScaleNet's attention keys are its own forecast stretched over the input window: {detail}. The "
        "attention maps (paper, per_step, per_component) carry no information here; the gradient maps are not "
        f"affected. For informative attention maps use output_chunk_length >= {max(n_patches, 2)} (and predict "
        "fewer steps if you need a short horizon)."
    )


#: Storage precisions of the maps.
STORAGE_DTYPES = ("float32", "float64")


#: The maps a ``windows="all"`` pass keeps when ``maps`` is not given: the recommended map and the paper's two
#: temporal attention maps. Every window's full set (``maps="all"``) takes about 3.5 times the memory.
ALL_WINDOWS_DEFAULT_MAPS = (RECOMMENDED_MAP, "paper", "per_step")


def check_maps(
    maps: str | Sequence[str] | None, gradients: bool = True, windows: str = "last"
) -> tuple[str, ...]:
    """The validated, ordered map names of a saliency request.

    ``maps=None`` (the default) depends on ``windows``: the last window keeps every map; a ``windows="all"``
    pass keeps :data:`ALL_WINDOWS_DEFAULT_MAPS`, which bounds its memory on long series. ``maps="all"`` is
    every map. Gradient maps are left out of both defaults when ``gradients=False``.

    Raises
    ------
    ValueError
        For an empty selection, an unknown name, or a gradient map with ``gradients=False``.
    TypeError
        When ``maps`` is neither None, a string nor a sequence of strings.
    """
    if maps is None or (isinstance(maps, str) and maps == "all"):
        wanted = MAP_NAMES if maps == "all" or windows == "last" else ALL_WINDOWS_DEFAULT_MAPS
        return tuple(m for m in wanted if gradients or m not in GRADIENT_MAP_NAMES)
    if isinstance(maps, str):
        maps = (maps,)
    if not isinstance(maps, Sequence | set | frozenset) or not all(isinstance(m, str) for m in maps):
        raise TypeError(f"maps must be None, 'all', a map name or a sequence of map names from {list(MAP_NAMES)}; "
                        f"got {maps!r}.")
    unknown = [m for m in maps if m not in MAP_NAMES]
    if unknown:
        raise ValueError(f"Unknown saliency map(s) {unknown}: maps must be chosen from {list(MAP_NAMES)} (or 'all').")
    if not maps:
        raise ValueError(f"maps is empty: choose at least one of {list(MAP_NAMES)} (or None for the default).")
    if not gradients and any(m in GRADIENT_MAP_NAMES for m in maps):
        raise ValueError(
            f"maps={tuple(maps)!r} asks for gradient maps but gradients=False: pass gradients=True or leave "
            f"{list(GRADIENT_MAP_NAMES)} out of maps."
        )
    return tuple(m for m in MAP_NAMES if m in maps)


def check_storage_dtype(dtype: Any) -> np.dtype:
    """``dtype`` (``"float32"`` or ``"float64"``, or the numpy / torch type) as a numpy dtype; ValueError otherwise."""
    if isinstance(dtype, torch.dtype):
        dtype = str(dtype).removeprefix("torch.")
    try:
        resolved = np.dtype(dtype)
    except TypeError:
        resolved = None
    if resolved is None or resolved.name not in STORAGE_DTYPES:
        raise ValueError(f"dtype must be one of {list(STORAGE_DTYPES)} (the maps' storage precision); got {dtype!r}.")
    return resolved


@dataclass
class SaliencyMaps:
    """Saliency of a batch of windows, as numpy arrays (``W`` windows, ``L`` input steps, ``C`` channels).

    A map that was not asked for (``maps=`` of the pass) is None.
    """

    paper: np.ndarray | None = None  # (W, L)
    per_step: np.ndarray | None = None  # (W, L)
    per_component: np.ndarray | None = None  # (W, L, C)
    patch_attention: list[np.ndarray] | None = None  # per scale s >= 1: (W, P, P)
    local_attention: list[np.ndarray] | None = None  # per scale s >= 1: (W, P, p_s, p_s)
    scale_weights: np.ndarray | None = None  # (n_scales,)
    gradient: np.ndarray | None = None  # (W, L, C)
    input_x_gradient: np.ndarray | None = None  # (W, L, C)
    aligned_input_x_gradient: np.ndarray | None = None  # (W, L, C)


def _to_input_resolution(step_map: torch.Tensor, factor: int) -> torch.Tensor:
    """Spread each step of a pooled scale evenly over the ``factor`` input steps it averages."""
    return step_map.repeat_interleave(factor, dim=1) / factor


def paper_map(patch_attention: list[torch.Tensor], scale_weights: torch.Tensor, input_length: int) -> torch.Tensor:
    """The reference implementation's temporal importance, ``(B, L)`` (see the module docstring)."""
    total = 0.0
    for s, attention in enumerate(patch_attention, start=1):
        received = attention.mean(dim=1) * scale_weights[s]  # (B, P)
        stretched = F.interpolate(received.unsqueeze(1), size=input_length, mode="linear").squeeze(1)
        total = total + stretched / stretched.sum(dim=1, keepdim=True)
    return total


def _per_step_at_scale(patch_attention: torch.Tensor, local_attention: torch.Tensor, length: int) -> torch.Tensor:
    """Per-step mass ``(B, length)`` at one scale, summing to 1."""
    patch_received = patch_attention.mean(dim=1)  # (B, P)
    local_received = local_attention.mean(dim=2)  # (B, P, p): each key step's share, sums to 1 per patch
    steps = (patch_received.unsqueeze(-1) * local_received).flatten(1)[:, :length]
    return steps / steps.sum(dim=1, keepdim=True)


def per_step_map(
    patch_attention: list[torch.Tensor],
    local_attention: list[torch.Tensor],
    scale_weights: torch.Tensor,
    input_length: int,
) -> torch.Tensor:
    """Per-step saliency ``(B, L)``: patch attention refined by local attention, scales averaged."""
    weights = scale_weights[1:] / scale_weights[1:].sum()
    total = 0.0
    for s, (a_patch, a_local) in enumerate(zip(patch_attention, local_attention), start=1):
        steps = _per_step_at_scale(a_patch, a_local, input_length // 2**s)
        total = total + weights[s - 1] * _to_input_resolution(steps, 2**s)
    return total


def per_component_map(
    network: CrossScaleNet, scale_inputs: list[torch.Tensor], output: CrossScaleNetOutput
) -> torch.Tensor:
    """Per-(step, component) saliency ``(B, L, C)``; summing over components gives :func:`per_step_map`."""
    weights = output.scale_weights[1:] / output.scale_weights[1:].sum()
    total = 0.0
    for s, (a_patch, a_local) in enumerate(zip(output.patch_attention, output.local_attention), start=1):
        length = network.input_length // 2**s
        steps = _per_step_at_scale(a_patch, a_local, length)  # (B, Ls)
        value_norms = network.attention[s - 1].local_value.weight.norm(dim=0)  # (C,)
        contribution = scale_inputs[s].abs() * value_norms  # (B, Ls, C)
        share = contribution / contribution.sum(dim=2, keepdim=True).clamp_min(1e-12)
        cells = steps.unsqueeze(-1) * share
        total = total + weights[s - 1] * cells.repeat_interleave(2**s, dim=1) / 2**s
    return total


def attention_maps(
    network: CrossScaleNet,
    x: torch.Tensor,
    output: CrossScaleNetOutput,
    maps: Sequence[str] = ATTENTION_MAP_NAMES,
    dtype: Any = np.float32,
) -> SaliencyMaps:
    """The attention maps for the windows ``x`` ``(B, L, C)`` given the network's ``output`` on them.

    Only the attention maps named in ``maps`` are computed (the others stay None; names outside
    :data:`ATTENTION_MAP_NAMES` are ignored); they are stored as ``dtype``.
    """
    with torch.no_grad():
        weights = output.scale_weights.detach()
        patch = [a.detach() for a in output.patch_attention]
        local = [a.detach() for a in output.local_attention]
        result = SaliencyMaps(scale_weights=_numpy(weights, dtype))
        if "paper" in maps:
            result.paper = _numpy(paper_map(patch, weights, network.input_length), dtype)
        if "per_step" in maps:
            result.per_step = _numpy(per_step_map(patch, local, weights, network.input_length), dtype)
        if "per_component" in maps:
            detached = CrossScaleNetOutput(output.forecast.detach(), patch, local, weights)
            per_component = per_component_map(network, network.scale_tokens(x.detach())[0], detached)
            result.per_component = _numpy(per_component, dtype)
        if "raw_attention" in maps:
            result.patch_attention = [_numpy(a, dtype) for a in patch]
            result.local_attention = [_numpy(a, dtype) for a in local]
    return result


def _numpy(t: torch.Tensor, dtype: Any = np.float32) -> np.ndarray:
    return t.detach().cpu().numpy().astype(dtype, copy=False)


def gradient_maps(
    inputs: torch.Tensor,
    point_forecast: torch.Tensor,
    maps: Sequence[str] = GRADIENT_MAP_NAMES,
    dtype: Any = np.float32,
) -> dict[str, np.ndarray]:
    """The gradient maps named in ``maps``, ``(B, L, C)`` each, of ``point_forecast`` with respect to ``inputs``.

    ``point_forecast`` ``(B, H, n_targets)`` must have been computed from ``inputs`` ``(B, L, C)`` with autograd
    on. The forecast is summed over its steps and targets (one backward pass for the whole batch; windows do
    not interact, so each window gets the gradient of its own forecast), then, with
    ``c = (input - window mean) * d sum(forecast) / d input``:

    - ``gradient = |d sum(forecast) / d input|``;
    - ``input_x_gradient = |c|``: the first-order change of the forecast if the cell were replaced by its
      channel's mean over the window (the baseline that instance normalisation makes neutral);
    - ``aligned_input_x_gradient = max(c * sign(sum of c over the window), 0)``: the cells that push the forecast
      the way the whole window pushes it; cells that pull the other way get 0.

    Only ``inputs`` receive gradients (``torch.autograd.grad``): the parameters' ``.grad`` stay untouched. Returns
    ``{name: map}`` for the names of ``maps`` that are gradient maps, stored as ``dtype``.
    """
    if not any(name in GRADIENT_MAP_NAMES for name in maps):
        return {}
    (grad,) = torch.autograd.grad(point_forecast.sum(), inputs)
    return maps_of_gradient(inputs, grad, maps, dtype)


def maps_of_gradient(
    inputs: torch.Tensor, grad: torch.Tensor, maps: Sequence[str] = GRADIENT_MAP_NAMES, dtype: Any = np.float32
) -> dict[str, np.ndarray]:
    """The gradient maps named in ``maps`` from the signed gradient ``grad`` of the summed forecast, ``(B, L, C)``.

    The formulas of :func:`gradient_maps`, which calls this after its backward pass. Given the mean of several
    models' signed gradients, it gives the maps of their mean forecast (a seed ensemble's).
    """
    wanted = [name for name in GRADIENT_MAP_NAMES if name in maps]
    out: dict[str, np.ndarray] = {}
    if "gradient" in wanted:
        out["gradient"] = _numpy(grad.abs(), dtype)
    if "input_x_gradient" in wanted or "aligned_input_x_gradient" in wanted:
        centred = inputs.detach() - inputs.detach().mean(dim=1, keepdim=True)
        contribution = centred * grad
        if "input_x_gradient" in wanted:
            out["input_x_gradient"] = _numpy(contribution.abs(), dtype)
        if "aligned_input_x_gradient" in wanted:
            direction = torch.sign(contribution.sum(dim=(1, 2), keepdim=True))
            out["aligned_input_x_gradient"] = _numpy((contribution * direction).clamp_min(0.0), dtype)
    return out


#: Temporal maps ``(W, L)`` a result can hold, and cell maps ``(W, L, C)``.
@dataclass(kw_only=True, repr=False)
class SaliencyResult(SaliencyMaps):
    """Saliency of one series over one or more input windows.

    Every map is None when the pass was not asked for it (``maps=`` of ``saliency()``; by default every map is
    computed, the gradient maps unless ``gradients=False``); :attr:`available_maps` lists those held. Maps are
    float32 unless the pass was called with ``dtype="float64"``.

    Attributes
    ----------
    paper
        ``(W, L)``: the reference implementation's attention map (patch resolution), sums to ``n_scales - 1``.
    per_step
        ``(W, L)``: patch attention refined by local attention, sums to 1.
    per_component
        ``(W, L, C)``: ``per_step`` split over input components, sums to 1.
    gradient
        ``(W, L, C)``: ``|d forecast / d input|``, the forecast summed over its steps and targets; None when
        computed with ``gradients=False``. Its sum over components is the ``gradient`` column of
        :meth:`to_dataframe`. The map to read first (see the saliency guide).
    input_x_gradient
        ``(W, L, C)``: ``|(input - window mean) * d forecast / d input|``; None with ``gradients=False``.
    aligned_input_x_gradient
        ``(W, L, C)``: the cells of ``input_x_gradient`` that push the forecast the way the whole window does (the
        others 0); None with ``gradients=False``.
    patch_attention, local_attention
        Raw attention per scale ``s >= 1``: ``(W, P, P)`` and ``(W, P, p_s, p_s)`` (the ``raw_attention`` map).
    scale_weights
        ``sigmoid(w_s)`` of every scale, ``(n_scales,)``.
    input_index
        ``(W, L)`` array of the input windows' time stamps (or integers for a RangeIndex series).
    forecast_index
        ``(W, H)`` array of the forecast windows' time stamps.
    forecast
        ``(W, H, n_targets)``: the point forecast of each window (the median for quantile models).
    component_names
        Input components in the network's channel order: target, past covariates, historic future
        covariates.
    target_names
        The target components.
    informative
        False when the horizon is too short for the *attention* maps to differ between patches (see
        :func:`attention_is_informative`); the gradient maps are not affected.
    inputs
        ``(W, L, C)``: the input windows' values (components as ``component_names``), or None (``inputs=False``).
    metadata
        Where the windows come from: ``series_index`` (position of the series in the call) and ``first_window``
        (position of the first window among that series' windows; not 0 for the later chunks of
        ``iter_saliency``).
    """

    input_index: np.ndarray
    forecast_index: np.ndarray
    forecast: np.ndarray
    component_names: list[str]
    target_names: list[str]
    informative: bool = True
    inputs: np.ndarray | None = None
    metadata: dict = field(default_factory=dict)

    def __repr__(self) -> str:
        length = self.input_index.shape[1]
        span = f"{self.forecast_index[0, 0]} .. {self.forecast_index[-1, 0]}" if self.n_windows else "-"
        return (
            f"SaliencyResult(windows={self.n_windows}, input_length={length}, forecast_starts={span}, "
            f"components={self.component_names}, maps={list(self.available_maps)}, "
            f"informative_attention={self.informative})"
        )

    @property
    def n_windows(self) -> int:
        """Number of input windows."""
        return self.forecast.shape[0]

    @property
    def available_maps(self) -> tuple[str, ...]:
        """Names of the maps this result holds, in the order of :data:`MAP_NAMES` but ``raw_attention`` left out.

        By default ``paper``, ``per_step``, ``per_component``, ``gradient`` and ``input_x_gradient`` (the last
        two unless switched off); a pass with ``maps=`` holds only those asked for. Whether the raw attention
        weights are held: :attr:`has_raw_attention`.
        """
        return tuple(name for name in MAP_NAMES if name != "raw_attention" and getattr(self, name) is not None)

    @property
    def has_raw_attention(self) -> bool:
        """Whether the per-scale attention weights (``patch_attention``, ``local_attention``) are held."""
        return self.patch_attention is not None and self.local_attention is not None

    def _missing(self, kind: str) -> ValueError:
        if kind in GRADIENT_MAP_NAMES and not any(getattr(self, m) is not None for m in GRADIENT_MAP_NAMES):
            hint = "it was computed with gradients=False or without it in maps"
        else:
            hint = "it was computed without it in maps (a windows='all' pass keeps fewer maps by default)"
        return ValueError(
            f"This result holds no {kind!r} map: {hint} (it holds {list(self.available_maps)}). Call saliency(..., "
            f"maps=(..., {kind!r})) or saliency(..., maps='all') for every map (with gradients=True, the default, "
            "for the gradient maps)."
        )

    def temporal_map(self, kind: str = RECOMMENDED_MAP) -> np.ndarray:
        """A map over time, ``(W, L)``: ``paper``, ``per_step``, or a cell map summed over components.

        ``kind`` defaults to :data:`RECOMMENDED_MAP`; any name of :data:`TEMPORAL_MAPS`.
        """
        if kind in CELL_MAPS:
            return self.component_map(kind).sum(axis=2)
        if kind in TEMPORAL_MAPS:
            values = getattr(self, kind)
            if values is None:
                raise self._missing(kind)
            return values
        raise ValueError(f"kind must be one of {list(TEMPORAL_MAPS)}; got {kind!r}.")

    def component_map(self, kind: str = RECOMMENDED_MAP) -> np.ndarray:
        """A map over (time, input component), ``(W, L, C)``.

        ``kind`` defaults to :data:`RECOMMENDED_MAP`; any name of :data:`CELL_MAPS` (``gradient``,
        ``input_x_gradient``, or the attention map ``per_component``).
        """
        if kind not in CELL_MAPS:
            raise ValueError(f"kind must be one of {list(CELL_MAPS)}; got {kind!r}.")
        values = getattr(self, kind)
        if values is None:
            raise self._missing(kind)
        return values

    def importance(self, kind: str = RECOMMENDED_MAP) -> pd.DataFrame:
        """Each input component's share of a cell map, one row per window (indexed by forecast start).

        ``kind`` defaults to :data:`RECOMMENDED_MAP`. Rows sum to 1.
        """
        totals = self.component_map(kind).sum(axis=1)
        totals = totals / np.clip(totals.sum(axis=1, keepdims=True), 1e-30, None)
        return pd.DataFrame(
            totals,
            index=pd.Index(self.forecast_index[:, 0], name="forecast_start"),
            columns=pd.Index(self.component_names, name=map_label(kind)),
        )

    def _window(self, window: int) -> int:
        if not -self.n_windows <= window < self.n_windows:
            raise IndexError(f"window={window} is out of range for {self.n_windows} window(s).")
        return window % self.n_windows

    def to_dataframe(
        self, window: int | None = -1, components: str | Sequence[str] | None = None
    ) -> pd.DataFrame:
        """Saliency as a DataFrame aligned to the input time stamps, one column per map (and component).

        Parameters
        ----------
        window
            Which window (default -1, the last). ``None`` stacks every window, indexed by
            ``(forecast_start, time)``.
        components
            Which cell maps also get one column per input component: a name of :data:`CELL_MAPS`, a
            sequence of them, or ``"all"`` (every cell map the result holds). Default (None):
            :data:`RECOMMENDED_MAP` when the result holds it, else the first cell map it holds.

        Returns
        -------
        pandas.DataFrame
            First one column per map the result holds, summed over components, labelled by
            :func:`map_label` (``gradient``, ``input_x_gradient``, ``attention_paper``,
            ``attention_per_step``, ``attention_per_component``); then, for each map of ``components``, one
            column per input component labelled ``"{label}:{component}"`` (e.g. ``gradient:x0``,
            ``attention_per_component:x0``). The ``attention_`` prefix marks the paper's attention maps.
        """
        if components is None:
            held = [name for name in CELL_MAPS if getattr(self, name) is not None]
            cell_names = held[:1]
        elif isinstance(components, str) and components == "all":
            cell_names = [name for name in CELL_MAPS if getattr(self, name) is not None]
        else:
            wanted = (components,) if isinstance(components, str) else tuple(components)
            unknown = [name for name in wanted if name not in CELL_MAPS]
            if unknown:
                raise ValueError(f"components must be 'all' or names from {list(CELL_MAPS)}; got {components!r}.")
            cell_names = [name for name in CELL_MAPS if name in wanted]
        cells = [self.component_map(name) for name in cell_names]
        names = [name for name in TEMPORAL_MAPS if name in self.available_maps]
        if window is None:
            rows = slice(None)
            index = pd.MultiIndex.from_arrays(
                [np.repeat(self.forecast_index[:, 0], self.input_index.shape[1]), self.input_index.ravel()],
                names=["forecast_start", "time"],
            )
        else:
            rows = slice(self._window(window), self._window(window) + 1)
            index = pd.Index(self.input_index[rows][0], name="time")
        columns = [self.temporal_map(name)[rows].reshape(-1, 1) for name in names]
        columns += [values[rows].reshape(-1, values.shape[2]) for values in cells]
        labels = [map_label(name) for name in names]
        labels += [map_label(name, component) for name in cell_names for component in self.component_names]
        return pd.DataFrame(np.concatenate(columns, axis=1), index=index, columns=labels)

    def to_timeseries(self, window: int = -1, components: str | Sequence[str] | None = None):
        """Saliency of one window as a Darts ``TimeSeries`` over the input time stamps.

        The columns are those of :meth:`to_dataframe`.
        """
        from darts import TimeSeries

        frame = self.to_dataframe(window, components)
        return TimeSeries.from_times_and_values(
            times=frame.index if isinstance(frame.index, pd.DatetimeIndex) else _integer_index(frame.index),
            values=frame.to_numpy(),
            columns=list(frame.columns),
        )

    def per_scale(self, window: int = -1) -> np.ndarray:
        """Per-step attention map of each attended scale ``s >= 1`` at input resolution, ``(n_scales - 1, L)``.

        Row ``s - 1`` is scale ``s``'s map before the scales are averaged (each row sums to 1); the
        ``per_step`` map is their average weighted by ``sigmoid(w_s)``. Needs the ``raw_attention`` map.
        """
        if not self.has_raw_attention:
            raise self._missing("raw_attention")
        w = self._window(window)
        length = self.input_index.shape[1]
        rows = []
        for s, (a_patch, a_local) in enumerate(zip(self.patch_attention, self.local_attention), start=1):
            steps = _per_step_at_scale(
                torch.from_numpy(a_patch[w : w + 1]), torch.from_numpy(a_local[w : w + 1]), length // 2**s
            )
            rows.append(_to_input_resolution(steps, 2**s)[0].numpy())
        return np.stack(rows)

    def lag_profile(self, kind: str = RECOMMENDED_MAP) -> np.ndarray:
        """Mean temporal saliency by lag over all windows, ``(L,)``.

        Entry ``l - 1`` is lag ``l`` (lag 1 = the last input step); ``kind``: any name of :meth:`temporal_map`,
        by default :data:`RECOMMENDED_MAP`.
        """
        return self.temporal_map(kind).mean(axis=0)[::-1]


def _integer_index(values: pd.Index) -> pd.RangeIndex:
    """Integer time stamps (of a RangeIndex series, possibly with a step) as the RangeIndex they came from."""
    step = int(values[1] - values[0]) if len(values) > 1 else 1
    return pd.RangeIndex(int(values[0]), int(values[-1]) + step, step)


def warn_if_uninformative(output_length: int, n_patches: int, stacklevel: int = 3) -> bool:
    """Warn with :class:`ShortHorizonWarning` when the maps cannot be informative; return informativeness."""
    informative = attention_is_informative(output_length, n_patches)
    if not informative:
        warnings.warn(short_horizon_message(output_length, n_patches), ShortHorizonWarning, stacklevel=stacklevel)
    return informative


@dataclass
class PanelSaliency:
    """Which inputs and lags matter across every series of a panel, overall and per group of series.

    Built from the maps of every explained window (summed as they stream, so memory does not grow with the
    panel): by ``CrossScaleNetModel.panel_saliency`` and ``CrossScaleNetForecaster.panel_saliency``.

    Attributes
    ----------
    kind
        The map summarised (by default :data:`RECOMMENDED_MAP`).
    lag_profile
        ``DataFrame``, index ``lag`` (1 = the last input step), one column per group: the map summed over input
        components and averaged over the group's windows.
    importance
        ``DataFrame``, one row per group, one column per input component: each component's share of the map over
        the group's windows (rows sum to 1). None for a map over time only (``paper``, ``per_step``).
    n_windows
        ``Series``: the windows summarised per group.
    """

    kind: str
    lag_profile: pd.DataFrame
    importance: pd.DataFrame | None
    n_windows: pd.Series

    def plot(self, max_groups: int = 10, figsize: tuple[float, float] | None = None) -> Any:
        """Lag profile (each group's normalised to sum 1) and component shares of up to ``max_groups`` groups."""
        import matplotlib.pyplot as plt

        groups = list(self.lag_profile.columns)[:max_groups]
        panels = 2 if self.importance is not None else 1
        fig, axes = plt.subplots(1, panels, figsize=figsize or (6 * panels, 3.6), squeeze=False,
                                 constrained_layout=True)
        ax = axes[0, 0]
        for group in groups:
            profile = self.lag_profile[group]
            total = float(profile.sum())
            ax.plot(profile.index, profile / total if total > 0 else profile, lw=1.4, label=str(group))
        ax.set_xlabel("lag (steps before the forecast)")
        ax.set_ylabel(f"share of the {self.kind} map")
        if len(groups) > 1:
            ax.legend(fontsize="small")
        if self.importance is not None:
            ax = axes[0, 1]
            shares = self.importance.loc[groups]
            image = ax.imshow(shares.to_numpy(), aspect="auto", cmap="viridis")
            ax.set_yticks(range(len(groups)), [str(g) for g in groups])
            ax.set_xticks(range(shares.shape[1]), [str(c) for c in shares.columns], rotation=45, ha="right")
            ax.set_title("input component shares", fontsize=9)
            fig.colorbar(image, ax=ax)
        fig.suptitle(f"Panel saliency ({self.kind}), {int(self.n_windows.sum()):,} windows")
        return fig


class PanelAccumulator:
    """Sums the maps of streamed :class:`SaliencyResult` chunks per group into a :class:`PanelSaliency`."""

    def __init__(self, kind: str = RECOMMENDED_MAP) -> None:
        if kind not in TEMPORAL_MAPS:
            raise ValueError(f"kind must be one of {list(TEMPORAL_MAPS)}; got {kind!r}.")
        self.kind = kind
        self._sums: dict[Any, list] = {}
        self._components: list[str] | None = None

    def add(self, result: SaliencyResult, group: Any = "all") -> None:
        """Add every window of ``result`` to ``group``."""
        temporal = result.temporal_map(self.kind).astype(np.float64)
        cells = result.component_map(self.kind).astype(np.float64) if self.kind in CELL_MAPS else None
        self._components = self._components or list(result.component_names)
        lags, shares, count = self._sums.setdefault(group, [0.0, 0.0, 0])
        self._sums[group] = [
            lags + temporal.sum(axis=0)[::-1],
            shares + (cells.sum(axis=(0, 1)) if cells is not None else 0.0),
            count + result.n_windows,
        ]

    def result(self) -> PanelSaliency:
        """The summary of everything added so far."""
        if not self._sums or all(count == 0 for _, _, count in self._sums.values()):
            raise ValueError("No window was summarised: the panel holds no window to explain.")
        groups = list(self._sums)
        counts = pd.Series([self._sums[g][2] for g in groups], index=pd.Index(groups, name="group"), name="windows")
        length = len(np.atleast_1d(next(s[0] for s in self._sums.values() if s[2])))
        profile = pd.DataFrame(
            {g: np.asarray(self._sums[g][0], dtype=np.float64) / max(self._sums[g][2], 1) for g in groups},
            index=pd.RangeIndex(1, length + 1, name="lag"),
        )
        importance = None
        if self.kind in CELL_MAPS:
            totals = np.stack([np.broadcast_to(self._sums[g][1], (len(self._components),)) for g in groups])
            shares = totals / np.clip(totals.sum(axis=1, keepdims=True), 1e-30, None)
            importance = pd.DataFrame(shares, index=counts.index, columns=pd.Index(self._components, name=self.kind))
        return PanelSaliency(kind=self.kind, lag_profile=profile, importance=importance, n_windows=counts)
