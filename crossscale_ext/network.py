"""CrossScaleNet as a plain PyTorch module (no Darts, no sktime).

The network follows the authors' reference implementation
(``models/CrossScaleNet.py`` in mribrahim/LMS-TSF): reversible instance normalisation, a fixed
sinusoidal positional encoding, average-pooled scales, moving-average decomposition, gated scale
encoders with channel mixing, and cross-patch attention whose keys are the network's own scale-0
(highest-resolution) forecast. The forward pass returns the forecast *and* every attention map, so
both wrappers (:class:`~crossscale_ext.darts_model.CrossScaleNetModel` and
:class:`~crossscale_ext.sktime_forecaster.CrossScaleNetForecaster`) and the saliency code share it.

Extensions beyond the reference (all off, or neutral, by default):

- ``n_targets`` < ``n_channels``: the trailing channels are inputs only (covariates); the forecast
  keeps the first ``n_targets`` channels (the reference's "MS" mode keeps one channel the same way).
- ``n_future_covariates`` / ``n_static_covariates``: a linear layer per horizon step (future) and a
  linear offset (static) are added to the normalised forecast, as in Darts' NLinear / DLinear.
- ``nr_params`` > 1: the final projection emits ``nr_params`` values per step and channel, for
  likelihoods (quantiles, distribution parameters). With ``nr_params=1`` it is the reference layer.
- ``covariate_path="lagged"`` (the default) or ``"linear"`` (see
  :class:`~crossscale_ext.config.ArchitectureConfig`): a linear layer from the covariate channels of the
  window, as given, to the forecast, added after the target's instance normalisation is inverted, so a
  covariate's lagged value reaches the target linearly; it exists only when there are covariate channels
  (``n_targets < n_channels``). ``"none"`` is the reference layout.
- ``scale_fusion="sum"``: the scales' weighted forecasts are summed instead of fused by the reference's linear
  layer from ``n_scales * H`` to ``H`` steps (most of the parameters at long horizons). ``"linear"`` (the default)
  is the reference layer.

This module imports torch only (no Darts, no sktime): ``import crossscale_ext.network`` stays light.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from crossscale_ext import _fork  # noqa: F401  (forked children run torch on one thread)
from crossscale_ext.config import ArchitectureConfig, check_int

__all__ = [
    "CrossScaleNet",
    "CrossScaleNetOutput",
    "CrossPatchAttention",
    "DistributedLag",
    "ScaleEncoder",
    "SeriesDecomposition",
    "ReversibleInstanceNorm",
    "sinusoidal_positional_encoding",
    "lagged_difference",
]


class CrossScaleNetOutput(NamedTuple):
    """What :meth:`CrossScaleNet.forward` returns.

    Attributes
    ----------
    forecast
        ``(B, H, n_targets, nr_params)``, in the scale of the input (instance norm inverted).
    patch_attention
        One tensor per scale ``s = 1 .. n_scales - 1``, shape ``(B, P, P)``: row ``i`` is the query
        patch, column ``j`` the key patch (keys from the stretched scale-0 forecast, values from input
        patch ``j``). Rows sum to 1.
    local_attention
        One tensor per scale ``s >= 1``, shape ``(B, P, p_s, p_s)``: attention among the ``p_s``
        steps inside each patch (keys from the stretched scale-0 seasonal forecast). Rows sum to 1.
    scale_weights
        ``sigmoid(w)`` of shape ``(n_scales,)``: the weight of every scale's prediction.
    """

    forecast: torch.Tensor
    patch_attention: list[torch.Tensor]
    local_attention: list[torch.Tensor]
    scale_weights: torch.Tensor


#: branch index of the seasonal and the trend encoder in each :class:`ScaleEncoder` of the network
SEASONAL, TREND = 0, 1


def lagged_difference(x: torch.Tensor, dim: int = 1) -> torch.Tensor:
    """First difference along time with the first step kept: ``D(x)_t = x_t - x_(t-1)``, ``D(x)_0 = x_0``.

    Parameters
    ----------
    x
        Any tensor, e.g. ``(B, T, C)``.
    dim
        The time axis (default 1).
    """
    along_last = x.movedim(dim, -1)
    previous = F.pad(along_last, (1, -1))  # shifted one step later, a zero first
    return (along_last - previous).movedim(-1, dim)


def sinusoidal_positional_encoding(length: int, width: int) -> torch.Tensor:
    """Fixed sinusoidal encoding ``E[t, 2k] = sin(t w_k)``, ``E[t, 2k+1] = cos(t w_k)``, ``w_k = 10000^(-2k/C)``.

    Returns a ``(length, width)`` tensor; odd widths drop the last cosine column, as the reference does.
    """
    position = torch.arange(length, dtype=torch.float32).unsqueeze(1)
    frequencies = torch.exp(torch.arange(0, width, 2, dtype=torch.float32) * (-math.log(10000.0) / width))
    encoding = torch.zeros(length, width)
    encoding[:, 0::2] = torch.sin(position * frequencies)
    encoding[:, 1::2] = torch.cos(position * frequencies[: width // 2])
    return encoding


class ReversibleInstanceNorm(nn.Module):
    """RevIN: per-sample, per-channel standardisation over time, affine, statistics detached.

    Parameters
    ----------
    n_channels
        Number of channels ``C``.
    eps
        Added to the variance (default 1e-5, as the reference).
    """

    def __init__(self, n_channels: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.affine_weight = nn.Parameter(torch.ones(n_channels))
        self.affine_bias = nn.Parameter(torch.zeros(n_channels))

    def statistics(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The detached ``(center, stdev)`` of ``x`` ``(B, T, C)``, each ``(B, 1, C)``."""
        variance, mean = torch.var_mean(x.detach(), dim=1, keepdim=True, unbiased=False)
        return mean, torch.sqrt(variance + self.eps)

    def normalize(
        self, x: torch.Tensor, offset: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return ``(x_normalised + offset, center, stdev)`` for ``x`` of shape ``(B, T, C)``.

        ``center`` is the subtracted ``(B, 1, C)`` statistic, the window mean. ``offset`` (e.g. a
        positional encoding ``(T, C)``) is added in the same pass.
        """
        center, stdev = self.statistics(x)
        scale = self.affine_weight / stdev  # (B, 1, C): one multiply-add over the window instead of four passes
        shift = self.affine_bias - center * scale
        if offset is not None:
            shift = shift + offset
        return torch.addcmul(shift, x, scale), center, stdev

    def denormalize(
        self, y: torch.Tensor, center: torch.Tensor, stdev: torch.Tensor, n_channels: int,
        center_weight: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Invert :meth:`normalize` on the first ``n_channels`` channels of ``y`` ``(B, H, n_channels, K)``.

        ``center_weight`` ``(n_channels,)``, if given, weights the centre that is added back (1 re-adds it fully).
        """
        scale = stdev[:, :, :n_channels, None] / (self.affine_weight[:n_channels, None] + self.eps * self.eps)
        center = center[:, :, :n_channels, None]
        if center_weight is not None:
            center = center * center_weight[:, None]
        return torch.addcmul(center - self.affine_bias[:n_channels, None] * scale, y, scale)


class SeriesDecomposition(nn.Module):
    """Moving-average trend / seasonal split, ends padded by repetition, stride 1.

    The moving average is computed from a running sum (one cumulative sum and one difference), whatever the
    kernel size.

    Parameters
    ----------
    kernel_size
        Odd window length of the moving average (reference: 25).
    """

    def __init__(self, kernel_size: int) -> None:
        super().__init__()
        self.kernel_size = kernel_size

    def trend(self, x: torch.Tensor, dim: int = 1) -> torch.Tensor:
        """The moving average of ``x`` along ``dim`` (same shape as ``x``)."""
        along_last = x.movedim(dim, -1)
        rows = along_last if along_last.dim() == 3 else along_last.reshape(-1, 1, along_last.shape[-1])
        pad = (self.kernel_size - 1) // 2
        padded = F.pad(rows, (pad, pad), mode="replicate")
        # centred on the first value before summing, so the running sum stays small and float32 keeps its precision;
        # the centre cancels in the average, so no gradient flows through it
        centre = rows[..., :1].detach()
        running = F.pad((padded - centre).cumsum(-1), (1, 0))
        window_sums = running[..., self.kernel_size :] - running[..., : -self.kernel_size]
        trend = torch.add(centre, window_sums, alpha=1.0 / self.kernel_size)
        return trend.reshape(along_last.shape).movedim(-1, dim)

    def forward(self, x: torch.Tensor, dim: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(seasonal, trend)`` for ``x`` of shape ``(B, T, C)`` (time along ``dim``, default 1)."""
        trend = self.trend(x, dim)
        return x - trend, trend


class ScaleEncoder(nn.Module):
    """Gated temporal MLP, optional channel mixing, then a linear head from ``length`` to ``horizon`` steps.

    ``M = Dropout(Linear(d->L)(ReLU(Linear(L->d)(U))))`` along time per channel; ``G = M * D(U)``;
    ``U' = U + G (+ Dropout(MLP_C(G)) when mixing channels)``; output ``Linear(L->H)(U')``.

    One module holds ``n_branches`` encoders of the same shape with their own weights (the network's seasonal
    encoder is branch 0 and its trend encoder branch 1 at every scale): each weight has a leading branch axis
    and the branches run as one batched matrix product per layer.

    Parameters
    ----------
    length
        Number of input steps at this scale.
    horizon
        Number of forecast steps.
    n_channels
        Number of channels.
    d_model
        Hidden width of both MLPs.
    dropout
        Dropout rate after each MLP.
    channel_mixing
        Whether to add the channel MLP.
    n_branches
        Number of encoders held (default 1).

    Attributes
    ----------
    temporal_in_weight, temporal_in_bias, temporal_out_weight, temporal_out_bias
        The temporal MLP, ``(n_branches, d_model, length)`` then ``(n_branches, length, d_model)``.
    channel_in_weight, channel_in_bias, channel_out_weight, channel_out_bias
        The channel MLP (absent without channel mixing), ``(n_branches, d_model, C)`` then ``(n_branches, C, d_model)``.
    head_weight, head_bias
        The head, ``(n_branches, horizon, length)``.
    """

    #: each weight's name in the layout with one ``nn.Linear`` per encoder (``seasonal_encoders.{s}.<name>``)
    LEGACY_NAMES: dict[str, str] = {
        "temporal_in": "temporal.0", "temporal_out": "temporal.2", "channel_in": "channel.0",
        "channel_out": "channel.2", "head": "head",
    }

    def __init__(
        self, length: int, horizon: int, n_channels: int, d_model: int, dropout: float, channel_mixing: bool,
        n_branches: int = 1, initialise: bool = True,
    ) -> None:
        super().__init__()
        self.n_branches = n_branches
        self.channel_mixing = channel_mixing
        self.shapes = {"temporal_in": (d_model, length), "temporal_out": (length, d_model)}
        if channel_mixing:
            self.shapes.update(channel_in=(d_model, n_channels), channel_out=(n_channels, d_model))
        self.shapes["head"] = (horizon, length)
        for name, (n_out, n_in) in self.shapes.items():
            self.register_parameter(f"{name}_weight", nn.Parameter(torch.empty(n_branches, n_out, n_in)))
            self.register_parameter(f"{name}_bias", nn.Parameter(torch.empty(n_branches, n_out)))
        self.dropout = nn.Dropout(dropout)
        if initialise:
            for branch in range(n_branches):
                self.initialise_branch(branch)

    @torch.no_grad()
    def initialise_branch(self, branch: int) -> None:
        """Draw one branch's weights as ``nn.Linear`` does, layer by layer (temporal, channel, head)."""
        for name, (n_out, n_in) in self.shapes.items():
            layer = nn.Linear(n_in, n_out)
            getattr(self, f"{name}_weight")[branch] = layer.weight
            getattr(self, f"{name}_bias")[branch] = layer.bias

    def _linear(self, name: str, u: torch.Tensor, along_rows: bool = False) -> torch.Tensor:
        """One ``Linear`` per branch on ``u`` ``(n_branches, N, n_in)`` (``along_rows``: ``(n_branches, n_in, N)``)."""
        weight, bias = getattr(self, f"{name}_weight"), getattr(self, f"{name}_bias")
        if along_rows:
            return torch.baddbmm(bias.unsqueeze(2), weight, u)
        return torch.baddbmm(bias.unsqueeze(1), u, weight.transpose(1, 2))

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        """Map ``(n_branches, C, B, length)`` (channels first, time last) to ``(n_branches, C, B, horizon)``."""
        branches, channels, batch, length = u.shape
        rows = u.reshape(branches, channels * batch, length)  # every (channel, window) series is a row
        hidden = self._linear("temporal_in", rows).relu_()
        gate = self.dropout(self._linear("temporal_out", hidden)).view_as(u) * lagged_difference(u, dim=-1)
        out = u + gate
        if self.channel_mixing:  # over the channel axis: (d, C) @ (C, B * length) per branch
            columns = gate.view(branches, channels, batch * length)
            hidden = self._linear("channel_in", columns, along_rows=True).relu_()
            out = out + self.dropout(self._linear("channel_out", hidden, along_rows=True)).view_as(u)
        return self._linear("head", out.view(branches, channels * batch, length)).view(branches, channels, batch, -1)


class CrossPatchAttention(nn.Module):
    """Single-head patch (global) and intra-patch (local) attention, fused by addition.

    Patch attention mean-pools each patch of query, key and value and attends between patches; local
    attention attends between the ``patch_length`` steps inside each patch. Sequences whose length is
    not a multiple of ``patch_length`` are zero-padded at the end and cropped afterwards.

    Parameters
    ----------
    n_channels
        Width ``C`` of the tokens (the projections are ``Linear(C, C)``).
    patch_length
        Steps per patch.
    """

    def __init__(self, n_channels: int, patch_length: int) -> None:
        super().__init__()
        self.patch_length = patch_length
        self.scale = math.sqrt(n_channels)
        self.patch_query = nn.Linear(n_channels, n_channels)
        self.patch_key = nn.Linear(n_channels, n_channels)
        self.patch_value = nn.Linear(n_channels, n_channels)
        self.local_query = nn.Linear(n_channels, n_channels)
        self.local_key = nn.Linear(n_channels, n_channels)
        self.local_value = nn.Linear(n_channels, n_channels)

    def _patches(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, T, C)`` to ``(B, P, p, C)``, zero-padding the end."""
        batch, length, channels = x.shape
        pad = (-length) % self.patch_length
        if pad:
            x = F.pad(x, (0, 0, 0, pad))
        return x.reshape(batch, -1, self.patch_length, channels)

    def forward(
        self, query: torch.Tensor, patch_keys: torch.Tensor, local_keys: torch.Tensor, values: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Attend; all inputs ``(B, T, C)``.

        Returns
        -------
        context
            ``(B, T, C)``: patch context broadcast to every step of its patch plus local context.
        patch_attention
            ``(B, P, P)``.
        local_attention
            ``(B, P, p, p)``.
        """
        batch, length, channels = query.shape
        q, k_patch, k_local = (self._patches(t) for t in (query, patch_keys, local_keys))
        v = q if values is query else self._patches(values)

        pooled_q = q.mean(dim=2)
        pooled_v = pooled_q if v is q else v.mean(dim=2)
        q_p, k_p, v_p = self.patch_query(pooled_q), self.patch_key(k_patch.mean(dim=2)), self.patch_value(pooled_v)
        patch_attention = torch.softmax(q_p @ k_p.transpose(-2, -1) / self.scale, dim=-1)
        patch_context = (patch_attention @ v_p).unsqueeze(2)  # (B, P, 1, C): broadcast over steps

        q_l, k_l, v_l = self.local_query(q), self.local_key(k_local), self.local_value(v)
        local_attention = torch.softmax(q_l @ k_l.transpose(-2, -1) / self.scale, dim=-1)
        context = patch_context + local_attention @ v_l
        return context.reshape(batch, -1, channels)[:, :length], patch_attention, local_attention


class DistributedLag(nn.Module):
    """Covariates to targets through one kernel over lags shared by every forecast step (a transfer function).

    Forecast step ``h`` (0-based) of target ``k`` is ``sum_c sum_j w[k, c, lag(j, h)] * x[j, c]`` over the input
    steps ``j``, where ``lag(j, h) = (L - 1 - j) + h`` counts the steps from input ``j`` to forecast step ``h``
    (0 = one step before it). A covariate that acts on the target ``l`` steps later has one weight at lag
    ``l`` for every forecast step, instead of one weight per (input step, forecast step) pair as in a dense
    layer: ``C * (L + H - 1)`` weights per target and output parameter instead of ``C * L * H``. Zero-initialised.

    Parameters
    ----------
    input_length, output_length
        ``L`` and ``H``.
    n_covariates
        Covariate channels ``C``.
    n_outputs
        Targets times likelihood parameters.
    """

    def __init__(self, input_length: int, output_length: int, n_covariates: int, n_outputs: int) -> None:
        super().__init__()
        self.n_outputs = n_outputs
        self.kernel = nn.Parameter(torch.zeros(n_outputs, n_covariates, input_length + output_length - 1))
        steps = torch.arange(output_length)[:, None] + (input_length - 1 - torch.arange(input_length))[None, :]
        self.register_buffer("lag_index", steps, persistent=False)  # (H, L)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map covariates ``(B, L, C)`` to ``(B, H, n_outputs)``."""
        weights = self.kernel[:, :, self.lag_index]  # (K, C, H, L)
        return torch.einsum("blc,kchl->bhk", x, weights)


def _stretch(x: torch.Tensor, length: int) -> torch.Tensor:
    """Linearly interpolate ``(..., T)`` along its last axis (time) to ``(..., length)``."""
    return F.interpolate(x, size=length, mode="linear")


class CrossScaleNet(nn.Module):
    """CrossScaleNet: a multi-scale forecaster that returns its forecast and its cross-scale patch attention.

    The attention is the paper's temporal saliency and is returned with every forward pass; the map the package
    recommends reading is the gradient of the forecast with respect to the input (:mod:`crossscale_ext.saliency`).

    Parameters
    ----------
    input_length
        Lookback ``L`` (input_chunk_length). Must be a multiple of ``2 ** (n_scales - 1)`` and at least
        ``2 * base_patch_length``.
    output_length
        Horizon ``H`` (output_chunk_length).
    n_channels
        Number of input channels ``C`` (targets first, then covariates observed over the lookback).
    n_targets
        Number of leading channels to forecast. Default ``None``: all ``n_channels``.
    n_future_covariates
        Width of the future covariates passed to :meth:`forward` (known over the horizon). Default 0.
    n_static_covariates
        Flattened width of the static covariates passed to :meth:`forward`. Default 0.
    nr_params
        Values per forecast step and target (1 for a point forecast, the likelihood's parameter count
        otherwise). Default 1.
    config
        The architecture hyperparameters (:class:`~crossscale_ext.config.ArchitectureConfig`); or give them as
        keyword arguments (``n_scales``, ``base_patch_length``, ``moving_avg_kernel``, ``d_model``, ``dropout``,
        ``channel_mixing``, ``instance_norm``, ``covariate_path``), documented there. Default: the package
        default ``ArchitectureConfig()``.

    Raises
    ------
    ValueError
        When a parameter is out of range or the lookback cannot be split into the scales and patches.

    Examples
    --------
    >>> import torch
    >>> net = CrossScaleNet(input_length=96, output_length=24, n_channels=3)
    >>> out = net(torch.randn(8, 96, 3))
    >>> tuple(out.forecast.shape), tuple(out.patch_attention[0].shape)
    ((8, 24, 3, 1), (8, 6, 6))
    """

    def __init__(
        self,
        input_length: int,
        output_length: int,
        n_channels: int,
        n_targets: int | None = None,
        n_future_covariates: int = 0,
        n_static_covariates: int = 0,
        nr_params: int = 1,
        config: ArchitectureConfig | None = None,
        **architecture: Any,
    ) -> None:
        super().__init__()
        if config is not None and architecture:
            raise ValueError(
                f"Pass the architecture either as config=ArchitectureConfig(...) or as keyword arguments, not both "
                f"(got config and {sorted(architecture)})."
            )
        config = config if config is not None else ArchitectureConfig(**architecture)
        config.validate(input_length, output_length)
        config = config.resolved(input_length)  # the moving-average kernel's default depends on the window
        n_targets = n_channels if n_targets is None else n_targets
        for name, value, low in (
            ("n_channels", n_channels, 1),
            ("n_targets", n_targets, 1),
            ("n_future_covariates", n_future_covariates, 0),
            ("n_static_covariates", n_static_covariates, 0),
            ("nr_params", nr_params, 1),
        ):
            check_int(name, value, low)
        if n_targets > n_channels:
            raise ValueError(f"n_targets={n_targets} exceeds n_channels={n_channels}; use n_targets <= n_channels.")
        n_scales, base_patch_length, d_model = config.n_scales, config.base_patch_length, config.d_model
        dropout, channel_mixing = config.dropout, config.channel_mixing

        self.config = config
        self.input_length = input_length
        self.output_length = output_length
        self.n_channels = n_channels
        self.n_targets = n_targets
        self.nr_params = nr_params
        self.n_scales = n_scales
        self.scale_lengths = [input_length // 2**s for s in range(n_scales)]
        self.patch_lengths = [base_patch_length // 2**s for s in range(n_scales)]

        self.instance_norm = (
            ReversibleInstanceNorm(n_channels) if config.instance_norm else None
        )
        self.register_buffer(
            "positional_encoding", sinusoidal_positional_encoding(input_length, n_channels), persistent=False
        )
        self.decomposition = SeriesDecomposition(config.moving_avg_kernel)
        # one module per scale holds its seasonal (branch 0) and trend (branch 1) encoders; drawn in the order of
        # separate modules (every seasonal encoder, then every trend encoder), so a seed gives the same weights
        self.scale_encoders = nn.ModuleList(
            ScaleEncoder(length, output_length, n_channels, d_model, dropout, channel_mixing, n_branches=2,
                         initialise=False)
            for length in self.scale_lengths
        )
        for branch in (SEASONAL, TREND):
            for encoder in self.scale_encoders:
                encoder.initialise_branch(branch)
        self.attention = nn.ModuleList(CrossPatchAttention(n_channels, p) for p in self.patch_lengths[1:])
        self.scale_weights = nn.Parameter(torch.ones(n_scales))
        self.projection = (
            nn.Linear(n_scales * output_length, output_length * nr_params)
            if config.scale_fusion == "linear"
            else nn.Linear(1, nr_params)  # "sum": one (weight, bias) per likelihood parameter, shared by every step
        )
        n_covariates = n_channels - n_targets
        self.covariate_projection: nn.Module | None = None
        if n_covariates and config.covariate_path == "linear":
            self.covariate_projection = nn.Sequential(
                nn.Flatten(1), nn.Linear(input_length * n_covariates, output_length * n_targets * nr_params)
            )
        elif n_covariates and config.covariate_path == "lagged":
            self.covariate_projection = DistributedLag(input_length, output_length, n_covariates, n_targets * nr_params)
        # With a covariate path and instance norm, the window mean that the norm adds back to the forecast is
        # weighted by a learnable gate per target, started at config.mean_gate_init (1: the reference).
        self.mean_gate = (
            nn.Parameter(torch.full((n_targets,), float(config.mean_gate_init)))
            if self.covariate_projection is not None and config.instance_norm
            else None
        )
        self.future_projection = (
            nn.Linear(n_future_covariates, n_targets * nr_params) if n_future_covariates else None
        )
        self.static_projection = (
            nn.Linear(n_static_covariates, n_targets * nr_params) if n_static_covariates else None
        )

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Unpickle, converting a network pickled with one module per encoder to the stacked :class:`ScaleEncoder`.

        Whole pickled networks (sktime saves hold one) of the package's first releases have ``seasonal_encoders`` and
        ``trend_encoders`` (one ``nn.Linear`` per layer); their weights, and their dropout modules (Darts may have
        replaced them by Monte Carlo dropout), move into ``scale_encoders``.
        """
        super().__setstate__(state)
        modules = self._modules
        if "seasonal_encoders" not in modules or "scale_encoders" in modules:
            return
        seasonal, trend = modules.pop("seasonal_encoders"), modules.pop("trend_encoders")
        config = self.config
        encoders = []
        for s, pair in enumerate(zip(seasonal, trend, strict=True)):
            encoder = ScaleEncoder(self.scale_lengths[s], self.output_length, self.n_channels, config.d_model,
                                   config.dropout, config.channel_mixing, n_branches=2, initialise=False)
            old = [dict(branch.named_modules()) for branch in pair]
            for name, legacy in ScaleEncoder.LEGACY_NAMES.items():
                if name not in encoder.shapes:
                    continue
                for kind in ("weight", "bias"):
                    stacked = torch.stack([getattr(layers[legacy], kind).detach() for layers in old])
                    setattr(encoder, f"{name}_{kind}", nn.Parameter(stacked))
            encoder.dropout = pair[SEASONAL].temporal[3]
            encoder.train(pair[SEASONAL].training)
            encoders.append(encoder)
        self.scale_encoders = nn.ModuleList(encoders)

    def _load_from_state_dict(self, state_dict: dict[str, torch.Tensor], prefix: str, *args: Any) -> None:
        """Load state_dicts with one module per encoder too, into the stacked :class:`ScaleEncoder` weights.

        In that layout (saved models of the package's first releases) the keys are
        ``seasonal_encoders.{s}.temporal.0.weight``, ``trend_encoders.{s}.temporal.0.weight`` and so on
        (:attr:`ScaleEncoder.LEGACY_NAMES`); they become branches 0 and 1 of ``scale_encoders.{s}.temporal_in_weight``.
        """
        for s in range(self.n_scales):
            for name, legacy in ScaleEncoder.LEGACY_NAMES.items():
                for kind in ("weight", "bias"):
                    keys = [f"{prefix}{group}.{s}.{legacy}.{kind}" for group in ("seasonal_encoders", "trend_encoders")]
                    if all(key in state_dict for key in keys):
                        state_dict[f"{prefix}scale_encoders.{s}.{name}_{kind}"] = torch.stack(
                            [state_dict.pop(key) for key in keys]
                        )
        super()._load_from_state_dict(state_dict, prefix, *args)

    def scale_tokens(
        self, x: torch.Tensor
    ) -> tuple[list[torch.Tensor], torch.Tensor | None, torch.Tensor | None]:
        """Normalise ``x`` ``(B, L, C)``, add the positional encoding and pool it into the scales.

        Returns
        -------
        scales
            ``n_scales`` tensors ``(B, L / 2**s, C)``: the tokens each scale (and its attention) sees.
        center, stdev
            The instance-norm statistics ``(B, 1, C)``: the subtracted centre (window mean or last value) and
            the scale (None without instance norm).
        """
        if x.dim() != 3 or x.shape[1:] != (self.input_length, self.n_channels):
            raise ValueError(
                f"x must have shape (batch, {self.input_length}, {self.n_channels}); got {tuple(x.shape)}."
            )
        center = stdev = None
        if self.instance_norm is not None:
            tokens, center, stdev = self.instance_norm.normalize(x, offset=self.positional_encoding)
        else:
            tokens = x + self.positional_encoding
        scales = [tokens]
        for length in self.scale_lengths[1:]:  # average pooling by 2 along time
            scales.append(scales[-1].view(x.shape[0], length, 2, self.n_channels).mean(dim=2))
        return scales, center, stdev

    def encode_scale(self, s: int, u: torch.Tensor) -> torch.Tensor:
        """Decompose the tokens ``u`` ``(B, L_s, C)`` and run scale ``s``'s seasonal and trend encoders.

        Returns ``(2, C, B, H)``: the seasonal (index :data:`SEASONAL`) and trend (:data:`TREND`) forecasts, channels
        first (the encoders' layout, in which both their temporal and their channel layers are single matrix
        products).
        """
        seasonal, trend = self.decomposition(u.permute(2, 0, 1), dim=-1)
        return self.scale_encoders[s](torch.stack((seasonal, trend)))

    def forward(
        self,
        x: torch.Tensor,
        future_covariates: torch.Tensor | None = None,
        static_covariates: torch.Tensor | None = None,
    ) -> CrossScaleNetOutput:
        """Forecast from a batch of input windows.

        Parameters
        ----------
        x
            ``(B, input_length, n_channels)``; targets first.
        future_covariates
            ``(B, h, n_future_covariates)`` with ``h <= output_length`` (zero-padded to the horizon), or
            None when the network has no future covariates.
        static_covariates
            ``(B, ...)`` with ``n_static_covariates`` values per sample, or None.

        Returns
        -------
        CrossScaleNetOutput
        """
        batch = x.shape[0]
        scales, center, stdev = self.scale_tokens(x)  # (B, L_s, C): the attention's tokens
        weights = torch.sigmoid(self.scale_weights)
        encoded = self.encode_scale(0, scales[0])
        seasonal_0 = encoded[SEASONAL]
        predictions = [weights[0] * encoded.sum(dim=0)]  # (C, B, H) per scale
        patch_attention, local_attention = [], []
        for s in range(1, self.n_scales):
            # keys: the scale-0 forecast and its seasonal part, stretched to this scale's length
            length = self.scale_lengths[s]
            patch_keys = _stretch(predictions[0], length).permute(1, 2, 0)
            local_keys = _stretch(seasonal_0, length).permute(1, 2, 0)
            context, a_patch, a_local = self.attention[s - 1](scales[s], patch_keys, local_keys, scales[s])
            patch_attention.append(a_patch)
            local_attention.append(a_local)
            predictions.append(weights[s] * self.encode_scale(s, context).sum(dim=0))

        if self.config.scale_fusion == "linear":
            fused = torch.cat(predictions, dim=-1)[: self.n_targets]  # (n_targets, B, n_scales * H)
        else:
            fused = torch.stack(predictions).sum(dim=0)[: self.n_targets, :, :, None]  # (n_targets, B, H, 1)
        out = self.projection(fused).view(self.n_targets, batch, self.output_length, self.nr_params)
        out = out.permute(1, 2, 0, 3)  # (B, H, n_targets, K)

        if self.future_projection is not None:
            if future_covariates is None:
                raise ValueError("This network was built with future covariates; pass future_covariates.")
            future_covariates = F.pad(future_covariates, (0, 0, 0, self.output_length - future_covariates.shape[1]))
            out = out + self.future_projection(future_covariates).reshape(
                batch, self.output_length, self.n_targets, self.nr_params
            )
        if self.static_projection is not None:
            if static_covariates is None:
                raise ValueError("This network was built with static covariates; pass static_covariates.")
            out = out + self.static_projection(static_covariates.reshape(batch, -1)).reshape(
                batch, 1, self.n_targets, self.nr_params
            )
        if self.instance_norm is not None:
            out = self.instance_norm.denormalize(out, center, stdev, self.n_targets, center_weight=self.mean_gate)
        if self.covariate_projection is not None:
            # on the covariates as given and after the target's normalisation is inverted: a covariate's lagged
            # value then reaches the target linearly, which a map between normalised windows cannot do (the
            # target's window statistics would divide it)
            out = out + self.covariate_projection(x[:, :, self.n_targets :]).reshape(
                batch, self.output_length, self.n_targets, self.nr_params
            )
        return CrossScaleNetOutput(out, patch_attention, local_attention, weights)
