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
