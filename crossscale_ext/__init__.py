"""crossscale_ext: CrossScaleNet, interpretable multi-scale forecasting for Darts and sktime.

The network (:class:`CrossScaleNet`) is a plain PyTorch module that returns its forecast and its
cross-scale attention; :class:`CrossScaleNetModel` wraps it as a Darts ``TorchForecastingModel`` with
``saliency()`` and ``explain()``.
"""

from crossscale_ext.darts_model import CrossScaleNetExplainabilityResult, CrossScaleNetModel
from crossscale_ext.network import CrossScaleNet, CrossScaleNetOutput
from crossscale_ext.saliency import SaliencyResult, ShortHorizonWarning
from crossscale_ext.sktime_forecaster import CrossScaleNetForecaster

__version__ = "0.1.0"

__all__ = [
    "CrossScaleNet",
    "CrossScaleNetOutput",
    "CrossScaleNetModel",
    "CrossScaleNetExplainabilityResult",
    "CrossScaleNetForecaster",
    "SaliencyResult",
    "ShortHorizonWarning",
    "__version__",
]
