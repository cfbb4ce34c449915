"""Saliency from CrossScaleNetModel: shapes, sums, time alignment, every window, the Darts explain layout."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from darts import TimeSeries
from darts.utils.timeseries_generation import linear_timeseries
from support import noisy_sine

from crossscale_ext import CrossScaleNet, CrossScaleNetModel, SaliencyResult, ShortHorizonWarning
from crossscale_ext.saliency import attention_is_informative, compute_maps

SMALL = {"input_chunk_length": 32, "output_chunk_length": 8, "n_scales": 3, "base_patch_length": 8,
         "moving_avg_kernel": 7, "d_model": 16, "n_epochs": 1, "random_state": 0}


@pytest.fixture(scope="module")
def fitted():
    """A small model fit on a two-component series with one past covariate."""
    from support import QUIET_TRAINER

    series = noisy_sine(length=160, n_components=2)
    past = linear_timeseries(length=160, start=series.start_time(), freq="h").astype("float32")
    model = CrossScaleNetModel(**SMALL, pl_trainer_kwargs=dict(QUIET_TRAINER))
    model.fit(series, past_covariates=past)
    return model, series, past


def test_maps_of_the_plain_network_sum_as_documented():
    net = CrossScaleNet(input_length=64, output_length=16, n_channels=3, n_scales=3, base_patch_length=8).eval()
    x = torch.randn(5, 64, 3)
    maps = compute_maps(net, x, net(x))
    assert maps.paper.shape == maps.per_step.shape == (5, 64)
    assert maps.per_component.shape == (5, 64, 3)
    np.testing.assert_allclose(maps.paper.sum(axis=1), net.n_scales - 1, rtol=1e-5)
    np.testing.assert_allclose(maps.per_step.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(maps.per_component.sum(axis=2), maps.per_step, rtol=1e-4, atol=1e-7)
    assert (maps.per_step >= 0).all() and (maps.per_component >= 0).all()
    assert [a.shape for a in maps.patch_attention] == [(5, 8, 8), (5, 8, 8)]
    assert [a.shape for a in maps.local_attention] == [(5, 8, 4, 4), (5, 8, 2, 2)]


def test_last_window_is_the_one_predict_uses(fitted):
    model, series, past = fitted
    result = model.saliency()
    assert isinstance(result, SaliencyResult) and result.n_windows == 1
    assert result.component_names == ["c0", "c1", "linear"] and result.target_names == ["c0", "c1"]
    # the input window is the last 32 steps of the series, the forecast window the next 8
    np.testing.assert_array_equal(result.input_index[0], series.time_index[-32:].to_numpy())
    expected_forecast = pd.date_range(series.end_time() + series.freq, periods=8, freq=series.freq)
    np.testing.assert_array_equal(result.forecast_index[0], expected_forecast.to_numpy())
    np.testing.assert_allclose(result.forecast[0], model.predict(8).values(), rtol=1e-4, atol=1e-5)
    frame = result.to_dataframe()
    assert list(frame.columns) == ["paper", "per_step", "c0", "c1", "linear"]
    assert frame.index.equals(pd.DatetimeIndex(series.time_index[-32:], name="time"))
    ts = result.to_timeseries()
    assert ts.time_index.equals(series.time_index[-32:]) and ts.width == 5


def test_every_window_matches_historical_forecasts(fitted):
    model, series, past = fitted
    result = model.saliency(series, past_covariates=past, windows="all")
    forecasts = model.historical_forecasts(series, past_covariates=past, forecast_horizon=8, retrain=False,
                                           last_points_only=False, verbose=False)
    assert result.n_windows == len(forecasts) == 160 - 32 - 8 + 1
    for w in (0, 57, result.n_windows - 1):
        np.testing.assert_array_equal(result.forecast_index[w], forecasts[w].time_index.to_numpy())
        np.testing.assert_allclose(result.forecast[w], forecasts[w].values(), rtol=1e-4, atol=1e-5)
        # the input window ends right before the forecast starts
        assert result.input_index[w][-1] + series.freq == result.forecast_index[w][0]
    # nothing lost between batches: a batch size that does not divide the window count gives the same maps
    again = model.saliency(series, past_covariates=past, windows="all", batch_size=7)
    np.testing.assert_allclose(again.per_component, result.per_component, rtol=1e-5, atol=1e-8)
    stacked = result.to_dataframe(window=None)
    assert stacked.index.nlevels == 2 and len(stacked) == result.n_windows * 32


def test_start_and_stride_select_windows(fitted):
    model, series, past = fitted
    start = series.time_index[100]
    result = model.saliency(series, past_covariates=past, start=start, stride=5)
    assert result.forecast_index[0][0] == start
    assert result.n_windows == len(range(100, 160 - 8 + 1, 5))
    assert (np.diff(result.forecast_index[:, 0]) == 5 * series.freq).all()


def test_several_series_give_one_result_each(trainer_kwargs):
    a, b = noisy_sine(length=120), noisy_sine(length=150, seed=3, start="2025-01-01")
    model = CrossScaleNetModel(**SMALL, pl_trainer_kwargs=trainer_kwargs).fit([a, b])
    results = model.saliency([a, b], windows="all")
    assert [r.n_windows for r in results] == [120 - 40 + 1, 150 - 40 + 1]
    assert results[1].input_index[0][0] == b.start_time()
    with pytest.raises(ValueError, match="pass `series`"):
        model.saliency()


def test_short_horizon_warns_and_gives_uniform_maps(trainer_kwargs):
    assert not attention_is_informative(1, 4) and not attention_is_informative(3, 4)
    assert attention_is_informative(4, 4)
    series = noisy_sine(length=120)
    params = SMALL | {"output_chunk_length": 1}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ShortHorizonWarning)
        model = CrossScaleNetModel(**params, pl_trainer_kwargs=trainer_kwargs).fit(series)
    with pytest.warns(ShortHorizonWarning, match="output_chunk_length=1"):
        result = model.saliency()
    assert not result.informative
    # with one forecast step every key patch is identical: the patch attention is exactly uniform
    np.testing.assert_allclose(result.patch_attention[0], 1 / 4, rtol=1e-5)
    np.testing.assert_allclose(result.paper[0], (model.n_scales - 1) / 32, rtol=1e-4)


def test_explain_is_laid_out_like_tft_explainer(fitted):
    model, series, past = fitted
    explanation = model.explain()
    attention = explanation.get_attention()
    assert len(attention) == 32 + 8  # input window and forecast window, as TFTExplainer
    assert attention.start_time() == series.time_index[-32]
    assert list(attention.components) == ["paper", "per_step"]
    np.testing.assert_allclose(attention.values()[32:], 0.0)
    importance = explanation.get_encoder_importance()
    assert list(importance.columns) == ["c0", "c1", "linear"]
    np.testing.assert_allclose(importance.to_numpy().sum(), 1.0, rtol=1e-5)
    over_time = explanation.get_encoder_importance_over_time()
    assert over_time.time_index.equals(series.time_index[-32:])
    assert isinstance(explanation.get_saliency(), SaliencyResult)


def test_integer_indexed_series_align(trainer_kwargs):
    series = TimeSeries.from_values(noisy_sine(length=120).values(), )
    model = CrossScaleNetModel(**SMALL, pl_trainer_kwargs=trainer_kwargs).fit(series)
    result = model.saliency(windows="all")
    assert result.input_index[0].tolist() == list(range(32))
    assert result.forecast_index[-1].tolist() == list(range(112, 120))


def test_lag_profile_and_component_importance(fitted):
    model, series, past = fitted
    result = model.saliency(series, past_covariates=past, windows="all")
    profile = result.lag_profile("per_step")
    np.testing.assert_allclose(profile, result.per_step.mean(axis=0)[::-1])
    with pytest.raises(ValueError, match="kind must be one of"):
        result.lag_profile("nonsense")
    importance = result.component_importance
    assert importance.shape == (result.n_windows, 3)
    np.testing.assert_allclose(importance.sum(axis=1), 1.0, rtol=1e-4)
    with pytest.raises(IndexError, match="out of range"):
        result.to_dataframe(window=result.n_windows)
