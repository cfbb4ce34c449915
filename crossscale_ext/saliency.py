"""Temporal saliency from CrossScaleNet's attention: the maps and the :class:`SaliencyResult` container.

Three maps are built from one forward pass (no gradients), for every input window:

``paper``
    The reference implementation's map (SPEC section 6): for each scale ``s >= 1`` the attention each
    key patch receives (patch attention averaged over query patches), times ``sigmoid(w_s)``, linearly
    interpolated to the input length and normalised to sum 1; summed over scales. Its resolution is one
    patch (16 input steps by default) and scale 0 contributes nothing. Because each scale's map is
    normalised, ``sigmoid(w_s)`` cancels: every scale counts equally. Sums to ``n_scales - 1``.
``per_step``
    The patch attention refined by the local attention: at scale ``s`` the mass of key patch ``j`` is
    split over its ``p_s`` steps in proportion to the local attention each step receives as a key
    inside patch ``j`` (averaged over the patch's queries); zero-padded steps are dropped. A step of
    scale ``s`` averages ``2**s`` input steps, so its mass is spread evenly over them. Scales are
    averaged with weights ``sigmoid(w_s)``. Sums to 1 per window.
``per_component``
    ``(time x input component)``: the per-step map split across the input channels (targets, then past
    covariates, then historic future covariates) in proportion to each channel's share of the local
    value vectors at that step, ``|u[t, c]| * ||W_v[:, c]||`` (the norm of channel ``c``'s contribution
    to the value that the attention weighs, as in Kobayashi et al., 2020, "Attention is not only a
    weight"). Summing it over components gives ``per_step``. It says which channel carries the
    attended values, not a causal effect of the channel on the forecast.

What the maps do not tell you: the scale-0 encoders read the whole window without attention, so a
forecast can rest on steps that receive little attention; the keys are the model's own forecast
stretched over the input length, so with short horizons (fewer forecast steps than patches) the key
patches are nearly equal and the maps blur toward uniform, and with ``output_chunk_length = 1`` they are
exactly uniform. :func:`attention_is_informative` flags these cases and the wrappers warn.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from crossscale_ext.network import CrossScaleNet, CrossScaleNetOutput

__all__ = [
    "SaliencyResult",
    "SaliencyMaps",
    "ShortHorizonWarning",
    "attention_is_informative",
    "compute_maps",
    "paper_map",
    "per_step_map",
]


class ShortHorizonWarning(UserWarning):
    """The horizon is too short for the attention keys to differ between patches (maps near uniform)."""


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
        f"CrossScaleNet's keys are its own forecast stretched over the input window: {detail}. Use "
        f"output_chunk_length >= {max(n_patches, 2)} (and predict fewer steps if you need a short horizon) "
        "for saliency that carries information."
    )


@dataclass
class SaliencyMaps:
    """Saliency of a batch of windows, as numpy arrays (``W`` windows, ``L`` input steps, ``C`` channels)."""

    paper: np.ndarray  # (W, L)
    per_step: np.ndarray  # (W, L)
    per_component: np.ndarray  # (W, L, C)
    patch_attention: list[np.ndarray]  # per scale s >= 1: (W, P, P)
    local_attention: list[np.ndarray]  # per scale s >= 1: (W, P, p_s, p_s)
    scale_weights: np.ndarray  # (n_scales,)


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


@torch.no_grad()
def compute_maps(network: CrossScaleNet, x: torch.Tensor, output: CrossScaleNetOutput) -> SaliencyMaps:
    """All saliency maps for the windows ``x`` ``(B, L, C)`` given the network's ``output`` on them."""
    weights = output.scale_weights
    paper = paper_map(output.patch_attention, weights, network.input_length)
    per_step = per_step_map(output.patch_attention, output.local_attention, weights, network.input_length)
    per_component = per_component_map(network, network.scale_tokens(x)[0], output)
    return SaliencyMaps(
        paper=paper.float().cpu().numpy(),
        per_step=per_step.float().cpu().numpy(),
        per_component=per_component.float().cpu().numpy(),
        patch_attention=[a.float().cpu().numpy() for a in output.patch_attention],
        local_attention=[a.float().cpu().numpy() for a in output.local_attention],
        scale_weights=weights.float().cpu().numpy(),
    )


def concatenate_maps(parts: list[SaliencyMaps]) -> SaliencyMaps:
    """Join the maps of consecutive batches along the window axis."""
    return SaliencyMaps(
        paper=np.concatenate([p.paper for p in parts]),
        per_step=np.concatenate([p.per_step for p in parts]),
        per_component=np.concatenate([p.per_component for p in parts]),
        patch_attention=[np.concatenate(a) for a in zip(*(p.patch_attention for p in parts))],
        local_attention=[np.concatenate(a) for a in zip(*(p.local_attention for p in parts))],
        scale_weights=parts[0].scale_weights,
    )


@dataclass
class SaliencyResult:
    """Saliency of one series over one or more input windows.

    Attributes
    ----------
    paper
        ``(W, L)``: the reference implementation's map (patch resolution), sums to ``n_scales - 1``.
    per_step
        ``(W, L)``: patch attention refined by local attention, sums to 1.
    per_component
        ``(W, L, C)``: ``per_step`` split over input components, sums to 1.
    patch_attention, local_attention
        Raw attention per scale ``s >= 1``: ``(W, P, P)`` and ``(W, P, p_s, p_s)``.
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
        False when the horizon is too short for the attention to differ between patches (see
        :func:`attention_is_informative`).
    inputs
        ``(W, L, C)``: the input windows' values (components as ``component_names``), or None.
    """

    paper: np.ndarray
    per_step: np.ndarray
    per_component: np.ndarray
    patch_attention: list[np.ndarray]
    local_attention: list[np.ndarray]
    scale_weights: np.ndarray
    input_index: np.ndarray
    forecast_index: np.ndarray
    forecast: np.ndarray
    component_names: list[str]
    target_names: list[str]
    informative: bool = True
    inputs: np.ndarray | None = None
    metadata: dict = field(default_factory=dict)

    @property
    def n_windows(self) -> int:
        """Number of input windows."""
        return self.per_step.shape[0]

    @property
    def component_importance(self) -> pd.DataFrame:
        """Per-component saliency summed over time, one row per window (indexed by forecast start)."""
        return pd.DataFrame(
            self.per_component.sum(axis=1),
            index=pd.Index(self.forecast_index[:, 0], name="forecast_start"),
            columns=self.component_names,
        )

    def _window(self, window: int) -> int:
        if not -self.n_windows <= window < self.n_windows:
            raise IndexError(f"window={window} is out of range for {self.n_windows} window(s).")
        return window % self.n_windows

    def to_dataframe(self, window: int | None = -1) -> pd.DataFrame:
        """Saliency as a DataFrame aligned to the input time stamps.

        Parameters
        ----------
        window
            Which window (default -1, the last). ``None`` stacks every window, indexed by
            ``(forecast_start, time)``.

        Returns
        -------
        pandas.DataFrame
            Columns ``paper``, ``per_step`` and one per input component (its per-component map).
        """
        if window is None:
            frames = [self.to_dataframe(w) for w in range(self.n_windows)]
            return pd.concat(frames, keys=list(self.forecast_index[:, 0]), names=["forecast_start", "time"])
        w = self._window(window)
        frame = pd.DataFrame(self.per_component[w], columns=self.component_names)
        frame.insert(0, "per_step", self.per_step[w])
        frame.insert(0, "paper", self.paper[w])
        frame.index = pd.Index(self.input_index[w], name="time")
        return frame

    def to_timeseries(self, window: int = -1):
        """Saliency of one window as a Darts ``TimeSeries`` over the input time stamps.

        The columns are those of :meth:`to_dataframe`.
        """
        from darts import TimeSeries

        frame = self.to_dataframe(window)
        return TimeSeries.from_times_and_values(
            times=frame.index if isinstance(frame.index, pd.DatetimeIndex) else pd.RangeIndex(
                frame.index[0], frame.index[-1] + 1
            ),
            values=frame.to_numpy(),
            columns=list(frame.columns),
        )

    def per_scale(self, window: int = -1) -> np.ndarray:
        """Per-step map of each attended scale ``s >= 1`` at input resolution, ``(n_scales - 1, L)``.

        Row ``s - 1`` is scale ``s``'s map before the scales are averaged (each row sums to 1); the
        ``per_step`` map is their average weighted by ``sigmoid(w_s)``.
        """
        w = self._window(window)
        length = self.per_step.shape[1]
        rows = []
        for s, (a_patch, a_local) in enumerate(zip(self.patch_attention, self.local_attention), start=1):
            steps = _per_step_at_scale(
                torch.from_numpy(a_patch[w : w + 1]), torch.from_numpy(a_local[w : w + 1]), length // 2**s
            )
            rows.append(_to_input_resolution(steps, 2**s)[0].numpy())
        return np.stack(rows)

    def lag_profile(self, kind: str = "per_step") -> np.ndarray:
        """Mean saliency by lag over all windows, ``(L,)``; entry ``l - 1`` is lag ``l`` (lag 1 = last input step)."""
        maps = {"paper": self.paper, "per_step": self.per_step}
        if kind not in maps:
            raise ValueError(f"kind must be one of {sorted(maps)}; got {kind!r}.")
        return maps[kind].mean(axis=0)[::-1]


def warn_if_uninformative(output_length: int, n_patches: int, stacklevel: int = 3) -> bool:
    """Warn with :class:`ShortHorizonWarning` when the maps cannot be informative; return informativeness."""
    informative = attention_is_informative(output_length, n_patches)
    if not informative:
        warnings.warn(short_horizon_message(output_length, n_patches), ShortHorizonWarning, stacklevel=stacklevel)
    return informative
