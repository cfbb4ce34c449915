"""The saliency maps' registry: every map's name, family, shape and column label, in one place.

Both wrappers, the saliency pass, plotting and the benchmarks read map names from here. There are two
families:

- ``gradient`` maps (``gradient``, ``input_x_gradient``, ``aligned_input_x_gradient``), from one backward
  pass: :data:`RECOMMENDED_MAP`
  is the one every entry point that reduces a result to one map reads by default;
- ``attention`` maps (``paper``, ``per_step``, ``per_component``, ``raw_attention``), the paper's, read
  from the attention weights. They are returned with every result, and their column labels carry the
  prefix ``attention_`` so that no attention column can be read as gradient importance.

How each map is built: :mod:`crossscale_ext.saliency`. This module imports neither torch, Darts nor sktime.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "ATTENTION_MAP_NAMES",
    "CELL_MAPS",
    "GRADIENT_MAP_NAMES",
    "MAP_NAMES",
    "MAP_REGISTRY",
    "RECOMMENDED_MAP",
    "TEMPORAL_MAPS",
    "MapSpec",
    "map_label",
]

MapFamily = Literal["gradient", "attention"]


@dataclass(frozen=True)
class MapSpec:
    """One saliency map: its name, family, shape and the label of its columns in frames.

    Attributes
    ----------
    name
        The name to ask for it by (``maps=`` of ``saliency()``, ``kind=`` of the result's methods).
    family
        ``"gradient"`` (from one backward pass; the recommended reading) or ``"attention"`` (the paper's).
    cells
        True for a ``(W, L, C)`` map over time and input component, False for a ``(W, L)`` map over time.
    label
        The column label in data frames and time series: the name, prefixed ``attention_`` for the
        attention maps, so that no attention column can be read as gradient importance. Per-component
        columns are ``"{label}:{component}"``.
    """

    name: str
    family: MapFamily
    cells: bool
    label: str


#: The map every entry point that reduces a result to one map reads by default: the gradient map, the one
#: that ranks the truly important inputs first where the ground truth is known (docs/benchmarks/saliency.md).
RECOMMENDED_MAP = "gradient"

#: Every map a saliency pass can compute, recommended first: name -> :class:`MapSpec`. ``raw_attention`` is
#: the per-scale attention weights (``patch_attention`` and ``local_attention``) behind
#: :meth:`~crossscale_ext.saliency.SaliencyResult.per_scale`; it has no frame columns.
MAP_REGISTRY: dict[str, MapSpec] = {
    spec.name: spec
    for spec in (
        MapSpec("gradient", "gradient", True, "gradient"),
        MapSpec("input_x_gradient", "gradient", True, "input_x_gradient"),
        MapSpec("aligned_input_x_gradient", "gradient", True, "aligned_input_x_gradient"),
        MapSpec("paper", "attention", False, "attention_paper"),
        MapSpec("per_step", "attention", False, "attention_per_step"),
        MapSpec("per_component", "attention", True, "attention_per_component"),
        MapSpec("raw_attention", "attention", False, "attention_raw"),
    )
}
#: Every map name, in the registry's order.
MAP_NAMES = tuple(MAP_REGISTRY)
#: Maps read from the attention weights (no backward pass; the paper's).
ATTENTION_MAP_NAMES = tuple(name for name, spec in MAP_REGISTRY.items() if spec.family == "attention")
#: Maps that need one backward pass per batch.
GRADIENT_MAP_NAMES = tuple(name for name, spec in MAP_REGISTRY.items() if spec.family == "gradient")
#: Maps over (time, input component), ``(W, L, C)``.
CELL_MAPS = tuple(name for name, spec in MAP_REGISTRY.items() if spec.cells)
#: Maps over time, ``(W, L)`` (a cell map gives one by summing over components).
TEMPORAL_MAPS = tuple(name for name in MAP_NAMES if name != "raw_attention")


def map_label(name: str, component: str | None = None) -> str:
    """The column label of map ``name`` (summed over components), or of one of its ``component`` columns."""
    label = MAP_REGISTRY[name].label
    return label if component is None else f"{label}:{component}"
