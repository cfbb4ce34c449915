"""crossscale_ext: CrossScaleNet, interpretable multi-scale forecasting for Darts and sktime.

The network (:class:`CrossScaleNet`) is a plain PyTorch module that returns its forecast and its
cross-scale attention; :class:`CrossScaleNetModel` wraps it as a Darts ``TorchForecastingModel`` and
:class:`CrossScaleNetForecaster` as an sktime forecaster, both with ``saliency()`` and ``explain()``.

The public names are imported lazily (PEP 562): ``import crossscale_ext`` loads neither torch, Darts nor
sktime; the first use of a name loads the module that defines it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "ArchitectureConfig": "crossscale_ext.config",
    "REFERENCE_ARCHITECTURE": "crossscale_ext.config",
    "CrossScaleNet": "crossscale_ext.network",
    "CrossScaleNetOutput": "crossscale_ext.network",
    "CrossScaleNetModel": "crossscale_ext.darts_model",
    "CrossScaleNetExplainabilityResult": "crossscale_ext.explainability",
    "CrossScaleNetForecaster": "crossscale_ext.sktime_forecaster",
    "CrossScaleNetExplainer": "crossscale_ext.explainability",
    "find_crossscale_forecaster": "crossscale_ext.sktime_forecaster",
    "pipeline_saliency": "crossscale_ext.sktime_forecaster",
    "check_saliency": "crossscale_ext.faithfulness",
    "SaliencyCheck": "crossscale_ext.faithfulness",
    "RECOMMENDED_MAP": "crossscale_ext.maps",
    "SaliencyResult": "crossscale_ext.saliency",
    "ShortHorizonWarning": "crossscale_ext.saliency",
    "SaliencyMemoryWarning": "crossscale_ext.saliency",
    "TrainingDivergedError": "crossscale_ext.darts_model",
    "plot_saliency": "crossscale_ext.plotting",
    "plot_forecast": "crossscale_ext.plotting",
}

__all__ = [
    "ArchitectureConfig",
    "REFERENCE_ARCHITECTURE",
    "CrossScaleNet",
    "CrossScaleNetOutput",
    "CrossScaleNetModel",
    "CrossScaleNetExplainabilityResult",
    "CrossScaleNetForecaster",
    "CrossScaleNetExplainer",
    "find_crossscale_forecaster",
    "pipeline_saliency",
    "check_saliency",
    "SaliencyCheck",
    "RECOMMENDED_MAP",
    "SaliencyResult",
    "ShortHorizonWarning",
    "SaliencyMemoryWarning",
    "TrainingDivergedError",
    "plot_saliency",
    "plot_forecast",
    "__version__",
]

if TYPE_CHECKING:  # pragma: no cover
    from crossscale_ext.config import REFERENCE_ARCHITECTURE, ArchitectureConfig
    from crossscale_ext.darts_model import CrossScaleNetModel, TrainingDivergedError
    from crossscale_ext.explainability import CrossScaleNetExplainabilityResult, CrossScaleNetExplainer
    from crossscale_ext.faithfulness import SaliencyCheck, check_saliency
    from crossscale_ext.maps import RECOMMENDED_MAP
    from crossscale_ext.network import CrossScaleNet, CrossScaleNetOutput
    from crossscale_ext.plotting import plot_forecast, plot_saliency
    from crossscale_ext.saliency import SaliencyMemoryWarning, SaliencyResult, ShortHorizonWarning
    from crossscale_ext.sktime_forecaster import (
        CrossScaleNetForecaster,
        find_crossscale_forecaster,
        pipeline_saliency,
    )


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'crossscale_ext' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
