"""Models saved by crossscale_ext 0.1.0 (tests/data/saved_v0_1_0, made at commit 8e83f20) still load and forecast.

The files hold a Darts ``CrossScaleNetModel`` (``save``: ``darts_model.pt`` and its ``.ckpt``) and an sktime
``CrossScaleNetForecaster`` (``save``: a zip), both tiny, with the forecasts and gradient map they gave when saved.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from support import assert_float32_close

SAVED = Path(__file__).resolve().parent / "data" / "saved_v0_1_0"


def expected() -> dict:
    return json.loads((SAVED / "expected.json").read_text())


def test_darts_model_of_the_previous_version_loads_and_forecasts_the_same():
    from crossscale_ext import CrossScaleNetModel

    model = CrossScaleNetModel.load(str(SAVED / "darts_model.pt"))
    assert_float32_close(model.predict(8).values(), np.asarray(expected()["darts_predict"]))
    assert_float32_close(model.saliency(maps="gradient").gradient[0], np.asarray(expected()["darts_gradient"]))


def test_sktime_forecaster_of_the_previous_version_loads_and_forecasts_the_same():
    from sktime.base import load

    forecaster = load(SAVED / "sktime_forecaster.zip")
    assert_float32_close(forecaster.predict().to_numpy(), np.asarray(expected()["sktime_predict"]))
    assert list(forecaster.saliency().columns) == ["a"]


def test_the_removed_centring_option_loads_at_mean_and_is_refused_at_last():
    import pytest

    from crossscale_ext import ArchitectureConfig, CrossScaleNetModel

    model = CrossScaleNetModel.load(str(SAVED / "darts_model.pt"))
    assert "instance_norm_center" not in model.model_params and not hasattr(model, "instance_norm_center")
    with pytest.warns(FutureWarning, match="instance_norm_center is deprecated"):
        passed = CrossScaleNetModel(16, 4, n_scales=2, base_patch_length=4, instance_norm_center="mean")
    assert "instance_norm_center" not in passed.model_params
    with pytest.raises(ValueError, match="instance_norm_center='last' was removed"):
        CrossScaleNetModel(16, 4, n_scales=2, base_patch_length=4, instance_norm_center="last")
    config = ArchitectureConfig.__new__(ArchitectureConfig)  # what unpickling a config saved with "last" runs
    with pytest.raises(ValueError, match="instance_norm_center='last' was removed"):
        config.__setstate__({**ArchitectureConfig().as_dict(), "instance_norm_center": "last"})
