"""CrossScaleNetModel as a Darts TorchForecastingModel."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from darts import TimeSeries
from darts.metrics import mse
from darts.utils.likelihood_models.torch import QuantileRegression
from darts.utils.timeseries_generation import datetime_attribute_timeseries, linear_timeseries
from support import noisy_sine, tiny_model

from crossscale_ext import CrossScaleNetModel


def small_model(trainer_kwargs, **kwargs) -> CrossScaleNetModel:
    """support.tiny_model with this test's Lightning settings."""
    return tiny_model(pl_trainer_kwargs=trainer_kwargs, **kwargs)


def test_learns_a_noisy_sine(trainer_kwargs):
    series = noisy_sine(length=600, noise=0.1)
    train, test = series[:-48], series[-48:]
    model = small_model(trainer_kwargs, n_epochs=15, optimizer_kwargs={"lr": 3e-3})
    model.fit(train)
    error = mse(test, model.predict(48))
    # the noise alone has MSE 0.01; predicting the mean (0) would give ~0.5; a good model is near the noise
    assert error < 0.05, error


def test_multivariate_and_global_model(trainer_kwargs):
    a, b = noisy_sine(length=200, n_components=2), noisy_sine(length=180, n_components=2, seed=1)
    model = small_model(trainer_kwargs).fit([a, b])
    preds = model.predict(20, series=[a, b])
    assert [p.width for p in preds] == [2, 2]
    assert [len(p) for p in preds] == [20, 20]  # n > output_chunk_length: auto-regressive
    assert preds[0].start_time() == a.end_time() + a.freq


def test_past_future_and_static_covariates(trainer_kwargs):
    target = noisy_sine(length=200)
    target = target.with_static_covariates(pd.DataFrame({"site": [1.0], "size": [3.0]}))
    past = linear_timeseries(length=200, start=target.start_time(), freq="h").astype("float32")
    future = datetime_attribute_timeseries(
        pd.date_range(target.start_time(), periods=260, freq="h"), attribute="hour", one_hot=False
    ).astype("float32") / 23.0
    model = small_model(trainer_kwargs).fit(target, past_covariates=past, future_covariates=future)
    net = model.model.network
    assert net.n_channels == 3  # target + past covariate + historic future covariate
    assert net.future_projection.in_features == 1
    assert net.static_projection.in_features == 2
    pred = model.predict(8)
    assert pred.width == 1 and len(pred) == 8
    # the future covariates over the horizon change the forecast
    changed = model.predict(8, series=target, past_covariates=past, future_covariates=future * 5.0)
    assert not np.allclose(pred.values(), changed.values())
    # the saliency maps cover the input window's channels: target, past covariate, historic future covariate
    # (future covariates over the horizon and static covariates are inputs of the forecast, not of the maps)
    result = model.saliency()
    assert result.component_names == ["c0", "linear", "hour"]
    assert result.gradient.shape == (1, 32, 3) and np.isfinite(result.gradient).all()
    np.testing.assert_allclose(result.forecast[0], pred.values(), rtol=1e-4, atol=1e-5)
    # the lagged covariate path reads the past covariate and the historic future covariate directly
    assert net.covariate_projection.kernel.shape[1] == 2


def test_probabilistic_quantile_regression_and_mc_dropout(trainer_kwargs):
    series = noisy_sine(length=200)
    model = small_model(trainer_kwargs, likelihood=QuantileRegression([0.1, 0.5, 0.9])).fit(series)
    pred = model.predict(8, num_samples=200)
    assert pred.n_samples == 200
    q10, q90 = pred.quantile(0.1).values(), pred.quantile(0.9).values()
    assert (q90 >= q10).all() and (q90 - q10).mean() > 0
    params = model.predict(8, predict_likelihood_parameters=True)
    assert params.width == 3

    deterministic = small_model(trainer_kwargs, dropout=0.3).fit(series)
    samples = deterministic.predict(8, num_samples=20, mc_dropout=True)
    assert samples.n_samples == 20 and np.isfinite(samples.all_values()).all()
    assert samples.all_values().std(axis=2).mean() > 0  # dropout makes the samples differ


def test_trainer_optimizer_scheduler_pass_through(trainer_kwargs):
    from pytorch_lightning.callbacks import Callback

    class CountEpochs(Callback):
        def __init__(self):
            self.epochs = 0

        def on_train_epoch_end(self, trainer, pl_module):
            self.epochs += 1

    counter = CountEpochs()
    model = small_model(
        trainer_kwargs | {"callbacks": [counter]},
        n_epochs=2,
        optimizer_cls=torch.optim.SGD,
        optimizer_kwargs={"lr": 0.01},
        lr_scheduler_cls=torch.optim.lr_scheduler.ExponentialLR,
        lr_scheduler_kwargs={"gamma": 0.5},
    ).fit(noisy_sine(length=150))
    assert counter.epochs == 2
    assert isinstance(model.model.optimizers().optimizer, torch.optim.SGD)
    assert model.model.lr_schedulers().get_last_lr()[0] == pytest.approx(0.01 * 0.5**2)


def test_same_random_state_same_forecast(trainer_kwargs):
    series = noisy_sine(length=150)
    first = small_model(trainer_kwargs, random_state=7).fit(series).predict(8)
    second = small_model(trainer_kwargs, random_state=7).fit(series).predict(8)
    np.testing.assert_allclose(first.values(), second.values())


def test_historical_forecasts_and_backtest(trainer_kwargs):
    series = noisy_sine(length=160)
    model = small_model(trainer_kwargs).fit(series[:120])
    forecasts = model.historical_forecasts(series, start=120, forecast_horizon=8, stride=4, retrain=False,
                                           last_points_only=False, verbose=False)
    assert len(forecasts) == len(range(120, 160 - 8 + 1, 4))
    error = model.backtest(series, historical_forecasts=forecasts, metric=mse)
    assert np.isfinite(error)
    retrained = small_model(trainer_kwargs).backtest(series, start=140, forecast_horizon=8, stride=10, retrain=True,
                                                     metric=mse, verbose=False)
    assert np.isfinite(retrained)


def test_save_and_load_with_safe_default(tmp_path, trainer_kwargs):
    series = noisy_sine(length=150)
    model = small_model(trainer_kwargs, likelihood=QuantileRegression([0.2, 0.5, 0.8])).fit(series)
    path = tmp_path / "csn.pt"
    model.save(str(path))
    loaded = CrossScaleNetModel.load(str(path))  # no trusted=True needed
    np.testing.assert_allclose(
        model.predict(8, predict_likelihood_parameters=True).values(),
        loaded.predict(8, predict_likelihood_parameters=True).values(),
    )
    r1, r2 = model.saliency(), loaded.saliency()
    np.testing.assert_allclose(r1.per_step, r2.per_step)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_float32_and_float64(trainer_kwargs, dtype):
    series = noisy_sine(length=150).astype(dtype)
    model = small_model(trainer_kwargs).fit(series)
    assert next(model.model.parameters()).dtype == getattr(torch, dtype)
    pred = model.predict(8)
    assert pred.dtype == np.dtype(dtype)
    assert model.saliency().per_step.shape == (1, 32)


def test_darts_reversible_instance_norm_option(trainer_kwargs):
    series = noisy_sine(length=150) + 50.0
    model = small_model(trainer_kwargs, use_reversible_instance_norm=True).fit(series)
    assert np.isfinite(model.predict(8).values()).all()
    result = model.saliency()
    np.testing.assert_allclose(result.forecast[0, :, 0], model.predict(8).values()[:, 0], rtol=1e-4)


def test_constructor_validates_architecture():
    with pytest.raises(ValueError, match="multiple of 8"):
        CrossScaleNetModel(input_chunk_length=100, output_chunk_length=8)
    with pytest.raises(ValueError, match="fixed input_chunk_length"):
        CrossScaleNetModel(input_chunk_length=(32, 64), output_chunk_length=8)
    with pytest.raises(ValueError, match="must be odd"):
        CrossScaleNetModel(input_chunk_length=96, output_chunk_length=8, moving_avg_kernel=10)


def test_integer_index_series(trainer_kwargs):
    values = noisy_sine(length=150).values()
    series = TimeSeries.from_values(values)
    model = small_model(trainer_kwargs).fit(series)
    pred = model.predict(8)
    assert pred.start_time() == 150
    result = model.saliency()
    assert list(result.to_dataframe().index) == list(range(150 - 32, 150))


def test_prediction_after_a_spawning_strategy_runs_in_this_process(trainer_kwargs):
    from crossscale_ext._darts_module import single_process_trainer_params, spawns_processes

    model = small_model(trainer_kwargs | {"strategy": "ddp_spawn", "devices": 2})
    assert spawns_processes(model.trainer_params)
    trainer = model._init_trainer(trainer_params=single_process_trainer_params(model.trainer_params, verbose=False))
    assert trainer.num_devices == 1 and "Spawn" not in type(trainer.strategy).__name__
    assert not spawns_processes(small_model(trainer_kwargs).trainer_params)


def test_load_refuses_broken_and_crafted_files_with_a_clear_error(tmp_path, trainer_kwargs):
    import os
    import pickle

    model = small_model(trainer_kwargs).fit(noisy_sine(length=120))
    model.save(str(tmp_path / "good.pt"))
    marker = tmp_path / "code_ran"

    class RunsCode:  # a pickle that runs a command when unpickled
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    (tmp_path / "crafted.pt").write_bytes(pickle.dumps(RunsCode()))
    raw = (tmp_path / "good.pt").read_bytes()
    (tmp_path / "truncated.pt").write_bytes(raw[: len(raw) // 2])
    (tmp_path / "other.pt").write_bytes(pickle.dumps({"not": "a model"}))
    for name in ("crafted", "truncated", "other"):
        with pytest.raises(ValueError, match=rf"Cannot load .*{name}\.pt.*trusted=True only"):
            CrossScaleNetModel.load(str(tmp_path / f"{name}.pt"))
    assert not marker.exists()  # refused before any code ran
    with pytest.raises(ValueError, match="no such file"):
        CrossScaleNetModel.load(str(tmp_path / "missing.pt"))
    loaded = CrossScaleNetModel.load(str(tmp_path / "good.pt"))
    np.testing.assert_allclose(loaded.predict(8).values(), model.predict(8).values(), rtol=1e-5)


def test_mean_gate_init_reaches_the_network_and_survives_save_and_load(tmp_path, trainer_kwargs):
    target = noisy_sine(length=200) + 10.0
    past = linear_timeseries(length=200, start=target.start_time(), freq="h").astype("float32")
    model = small_model(trainer_kwargs, mean_gate_init=0.0, n_epochs=0)
    model.fit(target, past_covariates=past)
    assert model.model.network.mean_gate.detach().tolist() == [0.0]
    assert model.architecture.mean_gate_init == 0.0
    path = tmp_path / "gated.pt"
    model.save(str(path))
    loaded = CrossScaleNetModel.load(str(path))
    torch.testing.assert_close(loaded.model.network.mean_gate, model.model.network.mean_gate)
    np.testing.assert_allclose(loaded.predict(4).values(), model.predict(4).values(), rtol=1e-5)
