"""Bad input to CrossScaleNetModel raises a clear error that names the problem and the fix; a failed fit / update
leaves both wrappers as they were."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from darts.utils.timeseries_generation import linear_timeseries
from support import TINY, noisy_sine

from crossscale_ext import CrossScaleNetForecaster, CrossScaleNetModel


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


# ---------------------------------------------------------------- a failed fit / update leaves the previous state
def _predictions(model: CrossScaleNetModel, series) -> np.ndarray:
    return model.predict(8, series=series).values()


def _weights(model: CrossScaleNetModel) -> dict:
    return {name: value.detach().clone() for name, value in model.model.state_dict().items()}


def _assert_same_weights(model: CrossScaleNetModel, weights: dict) -> None:
    current = model.model.state_dict()
    assert current.keys() == weights.keys()
    for name, value in weights.items():
        assert torch.equal(current[name], value), name


def test_failed_fit_on_bad_input_keeps_the_fitted_darts_model(trainer_kwargs):
    series = noisy_sine(length=200)
    model = make(trainer_kwargs).fit(series)
    before, weights, module = _predictions(model, series), _weights(model), model.model
    broken = series.with_values(np.where(np.arange(200)[:, None] == 7, np.inf, series.values()))
    with pytest.raises(ValueError, match="infinite"):
        model.fit(broken)
    assert model.model is module
    _assert_same_weights(model, weights)
    np.testing.assert_array_equal(_predictions(model, series), before)


def test_diverging_refit_keeps_the_fitted_darts_model(trainer_kwargs):
    from crossscale_ext.darts_model import TrainingDivergedError

    series = noisy_sine(length=200)
    model = make(trainer_kwargs).fit(series)
    before, weights, trainer = _predictions(model, series), _weights(model), model.trainer
    # a further fit keeps training the fitted module in place; lr 1e8 makes that training diverge
    model.model.optimizer_kwargs = {"lr": 1e8}
    with pytest.raises(TrainingDivergedError):
        model.fit(series, epochs=3)
    _assert_same_weights(model, weights)
    assert model.trainer is trainer
    np.testing.assert_array_equal(_predictions(model, series), before)
    # the model is still usable: training at a sane rate continues from the restored weights
    model.model.optimizer_kwargs = {"lr": 1e-3}
    model.fit(series, epochs=2)
    assert np.isfinite(_predictions(model, series)).all()


def test_fit_that_fails_mid_training_restores_the_weights(trainer_kwargs):
    import pytorch_lightning as pl

    class FailAfterThreeSteps(pl.Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            if trainer.global_step >= 3:
                raise RuntimeError("simulated failure after 3 optimiser steps")

    series = noisy_sine(length=300)
    model = make(trainer_kwargs).fit(series)
    before, weights = _predictions(model, series), _weights(model)
    trainer = pl.Trainer(max_epochs=2, callbacks=[FailAfterThreeSteps()], **trainer_kwargs)
    with pytest.raises(RuntimeError, match="simulated failure"):
        model.fit(series, trainer=trainer)
    _assert_same_weights(model, weights)  # the three steps taken in place are undone
    np.testing.assert_array_equal(_predictions(model, series), before)


def test_failed_first_fit_leaves_the_darts_model_unfitted(trainer_kwargs):
    from crossscale_ext.darts_model import TrainingDivergedError

    model = CrossScaleNetModel(**(TINY | {"n_epochs": 3, "optimizer_kwargs": {"lr": 1e8}}),
                               pl_trainer_kwargs=trainer_kwargs)
    with pytest.raises(TrainingDivergedError):
        model.fit(noisy_sine(length=200))
    assert model.model is None and model.training_series is None
    with pytest.raises(ValueError, match="must be fitted before"):
        model.predict(8, series=noisy_sine(length=100))


def _sk_y(length: int = 120, seed: int = 0) -> pd.DataFrame:
    values = noisy_sine(length=length, seed=seed).values()[:, 0] + 2.0
    return pd.DataFrame({"a": values}, index=pd.date_range("2024-01-01", periods=length, freq="h"))


def _sk_forecaster(trainer_kwargs, **kwargs) -> CrossScaleNetForecaster:
    small = {key: TINY[key] for key in ("input_chunk_length", "output_chunk_length", "n_scales", "base_patch_length",
                                        "moving_avg_kernel", "d_model", "n_epochs", "batch_size", "random_state")}
    return CrossScaleNetForecaster(**(small | {"pl_trainer_kwargs": trainer_kwargs} | kwargs))


def _sk_state(forecaster: CrossScaleNetForecaster) -> tuple:
    return (forecaster.predict(fh=[1, 2, 3, 12]), forecaster.cutoff, forecaster.darts_model_,
            forecaster._cur_y.copy())


def _assert_same_sk_state(forecaster: CrossScaleNetForecaster, state: tuple) -> None:
    prediction, cutoff, darts_model, seen_y = state
    assert forecaster.is_fitted
    assert forecaster.cutoff.equals(cutoff)
    assert forecaster.darts_model_ is darts_model
    pd.testing.assert_frame_equal(forecaster._cur_y, seen_y)
    pd.testing.assert_frame_equal(forecaster.predict(fh=[1, 2, 3, 12]), prediction)


def test_failed_sktime_fit_keeps_the_previous_fit(trainer_kwargs):
    from crossscale_ext.darts_model import TrainingDivergedError

    forecaster = _sk_forecaster(trainer_kwargs).fit(_sk_y())
    state = _sk_state(forecaster)
    broken = _sk_y(seed=1)
    broken.iloc[5, 0] = np.inf
    with pytest.raises(ValueError, match="infinite values"):
        forecaster.fit(broken)
    _assert_same_sk_state(forecaster, state)
    with pytest.raises(ValueError, match="needs at least 40 to fit"):
        forecaster.fit(_sk_y(length=30))
    _assert_same_sk_state(forecaster, state)
    # a refit whose training diverges (sktime's fit resets the forecaster first: the reset is undone as well)
    forecaster.optimizer_kwargs = {"lr": 1e8}
    with pytest.raises(TrainingDivergedError):
        forecaster.fit(_sk_y(seed=2))
    _assert_same_sk_state(forecaster, state)


def test_failed_sktime_fit_of_an_unfitted_forecaster_leaves_it_unfitted(trainer_kwargs):
    forecaster = _sk_forecaster(trainer_kwargs)
    with pytest.raises(ValueError, match="infinite values"):
        forecaster.fit(_sk_y().replace(_sk_y().iloc[3, 0], np.inf))
    assert not forecaster.is_fitted
    with pytest.raises(TypeError, match="y must be given to fit"):
        forecaster.fit(None)


@pytest.mark.parametrize("update_epochs", [0, 2])
def test_failed_sktime_update_keeps_the_previous_state(trainer_kwargs, update_epochs):
    from crossscale_ext.darts_model import TrainingDivergedError

    y = _sk_y(length=160)
    forecaster = _sk_forecaster(trainer_kwargs, update_epochs=update_epochs).fit(y.iloc[:120])
    state = _sk_state(forecaster)
    weights = _weights(forecaster.darts_model_)
    bad = y.iloc[120:].copy()
    bad.iloc[3, 0] = -np.inf
    for update_params in (False, True):  # bad input: the cutoff must not move
        with pytest.raises(ValueError, match="infinite values"):
            forecaster.update(bad, update_params=update_params)
        _assert_same_sk_state(forecaster, state)
    # a retraining that diverges: a fresh model (update_epochs=0) or the fitted one fine-tuned in place
    if update_epochs == 0:
        forecaster.optimizer_kwargs = {"lr": 1e8}
    else:
        forecaster.darts_model_.model.optimizer_kwargs = {"lr": 1e8}
    with pytest.raises(TrainingDivergedError):
        forecaster.update(y.iloc[120:], update_params=True)
    _assert_same_sk_state(forecaster, state)
    _assert_same_weights(forecaster.darts_model_, weights)


def test_non_finite_forecast_is_raised_not_returned(trainer_kwargs):
    """Finite inputs too large for float32 arithmetic (1e30: its square overflows) gave a NaN forecast silently."""
    model = make(trainer_kwargs).fit(noisy_sine(length=100))
    with pytest.raises(ValueError, match=r"forecast of series\[0\] holds 8 non-finite value\(s\).*Scale the series"):
        model.predict(8, series=noisy_sine(length=100) * 1e30)


def test_inputs_are_cast_to_the_model_precision(trainer_kwargs):
    """float64 inputs to a float32 model were a raw torch dtype error; float16 ones are trained in float32."""
    series = noisy_sine(length=100)
    model = make(trainer_kwargs).fit(series)
    expected = model.predict(8, series=series).values()
    np.testing.assert_allclose(model.predict(8, series=series.astype(np.float64)).values(), expected, rtol=1e-6)
    past = linear_timeseries(length=100, start=series.start_time(), freq="h")  # float64
    mixed = make(trainer_kwargs).fit(series, past_covariates=past)  # float32 target, float64 covariates
    assert np.isfinite(mixed.predict(8, series=series, past_covariates=past).values()).all()
    half = make(trainer_kwargs).fit(series.astype(np.float16))
    assert next(half.model.parameters()).dtype == torch.float32


def test_historical_forecasts_and_backtest_check_their_inputs(trainer_kwargs):
    """historical_forecasts / backtest bypass predict(): the same checks, cast and finite-forecast guard apply."""
    series = noisy_sine(length=100)
    model = make(trainer_kwargs).fit(series)
    values = series.values().copy()
    values[50, 0] = np.inf
    with pytest.raises(ValueError, match=r"series\[0\] has 1 infinite value\(s\).*Replace them"):
        model.historical_forecasts(series.with_values(values), retrain=False, forecast_horizon=8)
    with pytest.raises(ValueError, match="missing"):
        model.backtest(series.with_values(np.where(np.isinf(values), np.nan, values)), retrain=False,
                       forecast_horizon=8)
    expected = model.historical_forecasts(series, retrain=False, forecast_horizon=8, last_points_only=False)
    cast = model.historical_forecasts(series.astype(np.float64), retrain=False, forecast_horizon=8,
                                      last_points_only=False)  # float64 into a float32 model
    assert len(cast) == len(expected)
    np.testing.assert_allclose(cast[-1].values(), expected[-1].values(), rtol=1e-5)
    with pytest.raises(ValueError, match="non-finite value"):
        model.historical_forecasts(series * 1e30, retrain=False, forecast_horizon=8)
