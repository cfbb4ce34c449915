"""The architecture hyperparameters of CrossScaleNet, defined, documented and validated once.

:class:`ArchitectureConfig` is the single definition used by the plain network
(:class:`~crossscale_ext.network.CrossScaleNet`), the Darts model
(:class:`~crossscale_ext.darts_model.CrossScaleNetModel`) and the sktime forecaster
(:class:`~crossscale_ext.sktime_forecaster.CrossScaleNetForecaster`). The wrappers keep explicit
constructor parameters (Darts records them to save and load models, sktime's estimator contract demands
them) and build an ``ArchitectureConfig`` from them, so every range check and every error message lives
here; their docstrings are filled from :func:`parameter_docs`, so the parameters are documented once too.

This module imports neither Darts nor sktime nor torch (numpy only).
"""

from __future__ import annotations

import re
import warnings
from dataclasses import MISSING, InitVar, asdict, dataclass, field, fields, replace
from typing import Any, Literal

import numpy as np

__all__ = [
    "ArchitectureConfig",
    "REFERENCE_ARCHITECTURE",
    "InvalidIntegerError",
    "check_int",
    "check_removed_center",
    "fill_parameter_docs",
    "parameter_docs",
]

#: The reference implementation's moving-average kernel, the default for windows of 26 steps or more.
REFERENCE_MOVING_AVG_KERNEL = 25

CovariatePath = Literal["none", "linear", "lagged"]
ScaleFusion = Literal["linear", "sum"]


def _doc(text: str) -> Any:
    return {"doc": " ".join(text.split())}


class InvalidIntegerError(TypeError, ValueError):
    """An argument that must be a whole number is not one (a float, a bool, a string, ...)."""


def check_int(name: str, value: Any, low: int = 1, allow_none: bool = False) -> int | None:
    """``value`` as an ``int`` if it is an integer (numpy integers too, not bools) of at least ``low``.

    The package's one check of integer arguments. ``None`` passes through when ``allow_none``.

    Raises
    ------
    InvalidIntegerError
        (a ``TypeError`` and a ``ValueError``) when ``value`` is not an integer.
    ValueError
        When it is below ``low``.
    """
    if allow_none and value is None:
        return None
    wanted = "a positive integer" if low == 1 else f"an integer >= {low}"
    message = f"{name} must be {wanted}{' or None' if allow_none else ''}; got {value!r}."
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise InvalidIntegerError(message)
    if value < low:
        raise ValueError(message)
    return int(value)


def check_removed_center(value: Any, saved: bool = False) -> None:
    """Accept the removed ``instance_norm_center`` argument at its only remaining value, ``"mean"``.

    The instance normalisation subtracts the window mean. ``None`` (not given) passes; ``"mean"`` passes with a
    ``FutureWarning`` when passed by the caller (silently when read from a saved model, ``saved=True``).

    Raises
    ------
    ValueError
        For any other value (``"last"``, the window's last value), naming the removal and the fix.
    """
    if value is None or (value == "mean" and saved):
        return
    if value == "mean":
        warnings.warn(
            "instance_norm_center is deprecated and will be removed: the instance normalisation always subtracts "
            "the window mean, so instance_norm_center='mean' changes nothing. Drop the argument.",
            FutureWarning,
            stacklevel=4,
        )
        return
    raise ValueError(
        f"instance_norm_center={value!r} was removed from crossscale_ext: the instance normalisation subtracts the "
        "window mean (centring on the last value did not improve validation error, docs/benchmarks/forecast.md). "
        "Drop the argument; a model saved with instance_norm_center='last' must be retrained."
    )


@dataclass(frozen=True)
class ArchitectureConfig:
    """CrossScaleNet's architecture hyperparameters (everything but the data's dimensions).

    Every field is described in :func:`parameter_docs`; :meth:`validate` checks them against a lookback
    and horizon. ``ArchitectureConfig()`` is the package default; :data:`REFERENCE_ARCHITECTURE` is the
    authors' reference layout (``covariate_path="none"``).

    Examples
    --------
    >>> config = ArchitectureConfig(n_scales=3, base_patch_length=8)
    >>> config.validate(input_length=48, output_length=12)
    >>> config.n_patches(48)
    6
    """

    n_scales: int = field(
        default=4,
        metadata=_doc("Number of scales: the input and ``n_scales - 1`` average-pooled (factor 2) versions."),
    )
    base_patch_length: int = field(
        default=16,
        metadata=_doc(
            "Patch length at the input resolution; scale ``s`` uses ``base_patch_length / 2**s`` so every scale "
            "has the same number of patches. A multiple of ``2 ** (n_scales - 1)``."
        ),
    )
    moving_avg_kernel: int | None = field(
        default=None,
        metadata=_doc(
            "Odd kernel of the moving average that splits trend from seasonality (the same at every scale), at "
            "most ``input_chunk_length``. ``None`` (default): the reference's 25 when ``input_chunk_length >= "
            "26``; for a shorter window the largest odd kernel of at most half of it (11 for 24 steps, 7 for "
            "16), so that every valid ``input_chunk_length`` works with the defaults."
        ),
    )
    d_model: int = field(default=32, metadata=_doc("Hidden width of the encoders' temporal and channel MLPs."))
    dropout: float = field(
        default=0.1,
        metadata=_doc("Dropout rate of the encoders (Monte Carlo dropout with Darts' ``mc_dropout=True``)."),
    )
    channel_mixing: bool = field(
        default=True,
        metadata=_doc(
            "Mix channels inside every scale encoder; ``False`` is the reference's channel-independent mode."
        ),
    )
    instance_norm: bool = field(
        default=True,
        metadata=_doc(
            "Reversible instance normalisation (RevIN) of every input channel, inverted on the forecast, as in "
            "the reference. Leave Darts' ``use_reversible_instance_norm`` at ``False`` unless you also want the "
            "target normalised before the network."
        ),
    )
    covariate_path: CovariatePath = field(
        default="lagged",
        metadata=_doc(
            "How covariate channels (inputs that are not forecast) reach the target. ``'none'``: only through "
            "the encoders' channel mixing, the reference layout. ``'lagged'`` (default): also a distributed-lag "
            "(transfer-function) layer, one weight per (covariate, lag) shared by every forecast step, applied to "
            "the covariates as given and added to the forecast after the target's instance normalisation is "
            "inverted, whose re-added window mean is then weighted by a learnable gate (``mean_gate_init``; treating "
            "target and covariate channels separately, an open question of the paper). ``'linear'``: the same "
            "with a dense map (one weight per input step and forecast step, ``H`` times more). Without covariates "
            "all three are the same network."
        ),
    )

    mean_gate_init: float = field(
        default=1.0,
        metadata=_doc(
            "Starting value of the learnable gate on each target's window mean, which the instance normalisation "
            "re-adds to the forecast; used with a covariate path (``'lagged'``, ``'linear'``) and covariate "
            "channels. ``1.0`` (default): re-added in full, as the reference's RevIN; right for a target whose own "
            "level persists, as most real series (the rest of the network sees the window without its mean and "
            "cannot make up a level left out: ETTh1, OT with six covariates, ``H = 24``, 5 epochs: test MSE 0.065 "
            "from 1, 0.88 from 0). ``0.0``: for a target that its covariates drive and whose level says nothing "
            "of its future, as the synthetic sets SYN1-SYN8: started at 1 there, the covariates' weights learn to "
            "cancel the mean, which spreads the gradient map over every lag (SYN3: AUROC 0.64 against 1.00)."
        ),
    )
    scale_fusion: ScaleFusion = field(
        default="linear",
        metadata=_doc(
            "How the scales' forecasts become one. ``'linear'`` (default, the reference): one linear layer from "
            "the ``n_scales * H`` stacked steps to the ``H`` forecast steps, shared by the channels "
            "(``n_scales * H * H`` weights, 2.1 million at ``H = 720``). ``'sum'``: the sum of the scales' "
            "weighted forecasts (each scale keeps its ``sigmoid`` weight), then one weight and bias per likelihood "
            "parameter, shared by every step and channel (2 weights for a point forecast)."
        ),
    )
    #: Removed: the instance normalisation subtracts the window mean. ``"mean"`` is accepted with a
    #: ``FutureWarning``; ``"last"`` raises a ``ValueError`` (see :func:`check_removed_center`).
    instance_norm_center: InitVar[str | None] = None

    def __post_init__(self, instance_norm_center: str | None) -> None:
        check_removed_center(instance_norm_center)
        check_int("n_scales", self.n_scales, 2)
        check_int("base_patch_length", self.base_patch_length, 1)
        if self.moving_avg_kernel is not None:
            check_int("moving_avg_kernel", self.moving_avg_kernel, 1)
        check_int("d_model", self.d_model, 1)
        for name in ("channel_mixing", "instance_norm"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be True or False; got {getattr(self, name)!r}.")
        dropout = self.dropout
        if isinstance(dropout, bool) or not isinstance(dropout, int | float) or not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be a float in [0, 1); got {dropout!r}.")
        if self.covariate_path not in ("none", "linear", "lagged"):
            raise ValueError(
                "covariate_path must be 'none' (the reference layout), 'linear' or 'lagged'; "
                f"got {self.covariate_path!r}."
            )
        gate = self.mean_gate_init
        if isinstance(gate, bool) or not isinstance(gate, int | float) or not 0.0 <= gate <= 1.0:
            raise ValueError(
                f"mean_gate_init must be a number in [0, 1] (1: the window mean re-added in full, the reference; "
                f"0: a target its covariates drive); got {gate!r}."
            )
        if self.scale_fusion not in ("linear", "sum"):
            raise ValueError(
                f"scale_fusion must be 'linear' (the reference layer) or 'sum'; got {self.scale_fusion!r}."
            )
        factor = 2 ** (self.n_scales - 1)
        if self.base_patch_length % factor:
            valid = max(factor, round(self.base_patch_length / factor) * factor)
            raise ValueError(
                f"base_patch_length={self.base_patch_length} must be a multiple of 2**(n_scales-1)={factor} so "
                f"that every scale has a whole patch length, e.g. base_patch_length={valid}."
            )
        if self.moving_avg_kernel is not None and self.moving_avg_kernel % 2 == 0:
            raise ValueError(
                f"moving_avg_kernel={self.moving_avg_kernel} must be odd so the trend keeps the series length; "
                f"use {self.moving_avg_kernel + 1}."
            )

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Unpickle; a config saved with ``instance_norm_center="mean"`` loads, one with ``"last"`` is refused."""
        state = dict(state)
        check_removed_center(state.pop("instance_norm_center", None), saved=True)
        self.__dict__.update(state)

    def validate(self, input_length: int, output_length: int) -> None:
        """Check that a lookback and horizon fit these scales, patches and kernel.

        Raises
        ------
        ValueError
            Naming the fix, e.g. the nearest valid ``input_chunk_length``.
        """
        check_int("input_chunk_length", input_length, 1)
        check_int("output_chunk_length", output_length, 1)
        factor = 2 ** (self.n_scales - 1)
        if input_length % factor:
            valid = max(factor, round(input_length / factor) * factor)
            raise ValueError(
                f"input_chunk_length={input_length} cannot be halved {self.n_scales - 1} times "
                f"(n_scales={self.n_scales}): it must be a multiple of {factor}, e.g. input_chunk_length={valid}, "
                "or use fewer scales."
            )
        if input_length < 2 * self.base_patch_length:
            shorter = (input_length // 2) // factor * factor
            fix = f"base_patch_length <= {shorter}" if shorter >= factor else "fewer scales (n_scales)"
            raise ValueError(
                f"input_chunk_length={input_length} holds fewer than two patches of base_patch_length="
                f"{self.base_patch_length}, so the patch attention would be constant: use {fix} or a longer "
                "input_chunk_length."
            )
        if self.moving_avg_kernel is not None and self.moving_avg_kernel > input_length:
            raise ValueError(
                f"moving_avg_kernel={self.moving_avg_kernel} is longer than the input window "
                f"(input_chunk_length={input_length}): use an odd kernel <= "
                f"{input_length - (input_length % 2 == 0)}."
            )

    def kernel_for(self, input_length: int) -> int:
        """The moving-average kernel used for ``input_length``: ``moving_avg_kernel``, or its default when None.

        The default is :data:`REFERENCE_MOVING_AVG_KERNEL` (25) for ``input_length >= 26`` and the largest odd
        kernel of at most ``input_length // 2`` for shorter windows.
        """
        if self.moving_avg_kernel is not None:
            return self.moving_avg_kernel
        if input_length > REFERENCE_MOVING_AVG_KERNEL:
            return REFERENCE_MOVING_AVG_KERNEL
        half = max(1, input_length // 2)
        return half if half % 2 else half - 1

    def resolved(self, input_length: int) -> ArchitectureConfig:
        """A copy with the moving-average kernel for ``input_length`` filled in (see :meth:`kernel_for`)."""
        return replace(self, moving_avg_kernel=self.kernel_for(input_length))

    def n_patches(self, input_length: int) -> int:
        """Number of patches per scale, ``ceil(input_length / base_patch_length)``."""
        return -(-input_length // self.base_patch_length)

    def as_dict(self) -> dict[str, Any]:
        """The fields as a plain dict (keyword arguments of the wrappers)."""
        return asdict(self)

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> ArchitectureConfig:
        """Build from a dict that may hold other keys too (e.g. a wrapper's ``get_params()``)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in params.items() if k in names})


#: The authors' reference layout (``models/CrossScaleNet.py`` of mribrahim/LMS-TSF): use it to reproduce the paper.
REFERENCE_ARCHITECTURE = ArchitectureConfig(covariate_path="none", moving_avg_kernel=REFERENCE_MOVING_AVG_KERNEL)


def parameter_docs(style: Literal["darts", "sktime"] = "darts", indent: int = 8) -> str:
    """The architecture parameters' documentation, for the wrappers' docstrings.

    Parameters
    ----------
    style
        ``"darts"``: ``name`` / description with ``Default: ...`` (Darts' model docstrings); ``"sktime"``:
        ``name : type, default=...`` (sktime's numpydoc style).
    indent
        Spaces before every parameter name (descriptions get four more).
    """
    pad, body = " " * indent, " " * (indent + 4)
    lines: list[str] = []
    for f in fields(ArchitectureConfig):
        default = f.default if f.default is not MISSING else None
        doc = f.metadata["doc"]
        types = {"int": "int", "float": "float", "bool": "bool", "int | None": "int or None"}
        type_name = types.get(str(f.type), "str")
        if style == "sktime":
            lines.append(f"{pad}{f.name} : {type_name}, default={default!r}")
            lines.append(f"{body}{doc}")
        else:
            lines.append(f"{pad}{f.name}")
            lines.append(f"{body}{doc} Default: ``{default!r}``.")
    return "\n".join(lines)


def fill_parameter_docs(doc: str, style: Literal["darts", "sktime"]) -> str:
    """``doc`` with its ``{architecture_parameters}`` line replaced by :func:`parameter_docs`, at the line's indent."""
    match = re.search(r"^([ \t]*)\{architecture_parameters\}$", doc, flags=re.MULTILINE)
    if match is None:
        raise RuntimeError("The docstring has no {architecture_parameters} line to fill.")
    return doc[: match.start()] + parameter_docs(style=style, indent=len(match.group(1))) + doc[match.end() :]
