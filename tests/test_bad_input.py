"""Bad input to CrossScaleNetModel raises a clear error that names the problem and the fix."""

from __future__ import annotations

import numpy as np
import pytest
from darts.utils.timeseries_generation import linear_timeseries
from support import TINY, noisy_sine

from crossscale_ext import CrossScaleNetModel


def make(trainer_kwargs) -> CrossScaleNetModel:
    return CrossScaleNetModel(**TINY, pl_trainer_kwargs=trainer_kwargs)


def test_series_too_short_to_fit(trainer_kwargs):
    with pytest.raises(ValueError, match=r"has 39 time steps.*at least 40 to fit.*longer series"):
        make(trainer_kwargs).fit(noisy_sine(length=39))


def test_series_too_short_to_predict_or_explain(trainer_kwargs):
    model = make(trainer_kwargs).fit(noisy_sine(length=100))
    with pytest.raises(ValueError, match="has 20 time steps.*at least 32 to predict"):
        model.predict(8, series=noisy_sine(length=20))
    with pytest.raises(ValueError, match="has 20 time steps.*at least 32 to compute saliency"):
        model.saliency(noisy_sine(length=20))
    with pytest.raises(ValueError, match="has 35 time steps.*at least 40 to compute saliency"):
        model.saliency(noisy_sine(length=35), windows="all")


def test_missing_values(trainer_kwargs):
    series = noisy_sine(length=100)
    values = series.values().copy()
    values[50] = np.nan
    broken = series.with_values(values)
    with pytest.raises(ValueError, match=r"series\[0\] has 1 missing \(NaN\).*MissingValuesFiller"):
        make(trainer_kwargs).fit(broken)
    model = make(trainer_kwargs).fit(series)
    with pytest.raises(ValueError, match="missing.*fill_missing_values"):
        model.predict(8, series=broken)
    past = linear_timeseries(length=100, start=series.start_time(), freq="h").astype("float32")
    past_values = past.values().copy()
    past_values[3] = np.nan
    with pytest.raises(ValueError, match=r"past_covariates\[0\] has 1 missing"):
        make(trainer_kwargs).fit(series, past_covariates=past.with_values(past_values))


def test_covariates_that_do_not_cover_the_span(trainer_kwargs):
    series = noisy_sine(length=100)
    past = linear_timeseries(length=100, start=series.start_time(), freq="h").astype("float32")
    future = linear_timeseries(length=108, start=series.start_time(), freq="h").astype("float32")
    model = make(trainer_kwargs).fit(series, past_covariates=past, future_covariates=future)
    # future covariates must reach the end of the forecast: darts names the span it needs
    with pytest.raises(ValueError, match="future_covariates.*(not|too short|sufficient|range)"):
        model.predict(8, series=series, past_covariates=past, future_covariates=future[:104])
    # past covariates that end before the target do not cover the input window
    with pytest.raises(ValueError, match="past_covariates.*(not|too short|sufficient|range)"):
        model.predict(8, series=series, past_covariates=past[:60], future_covariates=future)
    with pytest.raises(ValueError, match=r"future_covariates\[0\] spans .* must cover .*slice_intersect"):
        make(trainer_kwargs).fit(series, future_covariates=future[50:])
    with pytest.raises(ValueError, match=r"past_covariates\[0\] spans .* must cover 2024-01-01 00:00:00 to 2024-01-04"):
        make(trainer_kwargs).fit(series, past_covariates=past[:80])
    with pytest.raises(ValueError, match="one covariate series per target series"):
        make(trainer_kwargs).fit([series, series], past_covariates=[past])


def test_different_number_of_components_at_predict(trainer_kwargs):
    model = make(trainer_kwargs).fit(noisy_sine(length=100, n_components=2))
    with pytest.raises(ValueError, match="(component|dimension|width)"):
        model.predict(8, series=noisy_sine(length=100, n_components=3))
    with pytest.raises(ValueError, match="(component|dimension|width)"):
        model.saliency(noisy_sine(length=100, n_components=3))


def test_predict_saliency_and_explain_before_fit(trainer_kwargs):
    model = make(trainer_kwargs)
    for call in (lambda: model.predict(8, series=noisy_sine(100)), lambda: model.saliency(noisy_sine(100)),
                 lambda: model.explain(noisy_sine(100))):
        with pytest.raises(ValueError, match=r"must be fitted before.*call fit\(series\) first"):
            call()


def test_bad_saliency_arguments(trainer_kwargs):
    model = make(trainer_kwargs).fit(noisy_sine(length=100))
    with pytest.raises(ValueError, match="windows must be 'last' or 'all'"):
        model.saliency(windows="every")
    with pytest.raises(ValueError, match="stride must be a positive integer"):
        model.saliency(stride=0)
    with pytest.raises(TypeError, match="darts TimeSeries"):
        model.saliency(series=noisy_sine(100).values())


def test_diverging_training_stops_with_a_clear_error(trainer_kwargs):
    from crossscale_ext.darts_model import TrainingDivergedError

    model = CrossScaleNetModel(**(TINY | {"n_epochs": 3, "optimizer_kwargs": {"lr": 1e8}}),
                               pl_trainer_kwargs=trainer_kwargs)
    with pytest.raises(TrainingDivergedError, match=r"training diverged.*Lower the learning rate"):
        model.fit(noisy_sine(length=200))
