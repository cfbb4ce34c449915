"""The neuralforecast peers of the forecast benchmark (PatchTST, iTransformer): windows, conversion, a quick run."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from support import noisy_sine

pytest.importorskip("neuralforecast", reason='neuralforecast is not installed (pip install "crossscale_ext[bench]")')

from crossscale_ext.benchmarks.harness import evaluate_windows  # noqa: E402
from crossscale_ext.benchmarks.nf_peers import (  # noqa: E402
    NF_MODELS,
    QUICK_TEST_WINDOWS,
    _long_frame,
    build_nf_model,
    lr_factor,
    make_windows,
    peer_setting,
    predict_windows,
    run_neuralforecast_peer,
    steps_per_epoch,
)
from crossscale_ext.datasets.long_horizon import LongHorizonData, count_windows  # noqa: E402

L = 96


def _toy_data(n_channels: int = 3, train_rows: int = 1200, val_rows: int = 400, test_rows: int = 500
              ) -> LongHorizonData:
    """A LongHorizonData with load_long_horizon's borders (val and test start L rows early) on a noisy sine."""
    series = noisy_sine(length=train_rows + val_rows + test_rows, n_components=n_channels)
    b1, b2, b3 = train_rows, train_rows + val_rows, train_rows + val_rows + test_rows
    borders = {"train": (0, b1), "val": (b1 - L, b2), "test": (b2 - L, b3)}
    return LongHorizonData(name="toy", train=series[:b1], val=series[b1 - L : b2], test=series[b2 - L : b3],
                           scaler=None, columns=list(series.columns), borders=borders, input_length=L)


def test_make_windows_are_the_windows_evaluate_windows_scores(trainer_kwargs):
    from darts.models import NLinearModel

    horizon = 12
    series = noisy_sine(length=L + horizon + 40, n_components=2)
    inputs, targets = make_windows(series.values(), L, horizon)
    assert len(inputs) == count_windows(len(series), L, horizon) == 41
    values = series.values()
    for i in (0, 17, 40):  # window i: inputs rows [i, i + L), targets rows [i + L, i + L + H)
        np.testing.assert_array_equal(inputs[i], values[i : i + L])
        np.testing.assert_array_equal(targets[i], values[i + L : i + L + horizon])
    # a fitted Darts model forecasting exactly these inputs reproduces evaluate_windows' MSE / MAE on these targets
    model = NLinearModel(input_chunk_length=L, output_chunk_length=horizon, n_epochs=1, random_state=0,
                         pl_trainer_kwargs=trainer_kwargs)
    model.fit(noisy_sine(length=300, n_components=2, seed=1), verbose=False)
    scores = evaluate_windows(model, series, horizon, windows_per_chunk=16)
    windows = [series[i : i + L] for i in range(len(inputs))]
    for window, expected in zip(windows, inputs):
        np.testing.assert_array_equal(window.values(), expected)
    forecasts = np.stack([f.values() for f in model.predict(horizon, series=windows, verbose=False)])
    errors = forecasts.astype(np.float64) - targets
    assert scores.n_windows == len(inputs)
    assert scores.mse == pytest.approx(float(np.mean(errors**2)), rel=1e-5)
    assert scores.mae == pytest.approx(float(np.mean(np.abs(errors))), rel=1e-5)


@pytest.mark.filterwarnings("ignore:.*removed from hparams.*")
@pytest.mark.parametrize("model_name", NF_MODELS)
def test_batched_prediction_equals_neuralforecast_predict(model_name, trainer_kwargs):
    from neuralforecast.tsdataset import TimeSeriesDataset

    horizon, n_channels, test_rows = 12, 3, 150
    values = noisy_sine(length=500, n_components=n_channels).values()
    model, *_ = build_nf_model(model_name, "toy", horizon, n_series=n_channels, n_train_windows=64, epochs=1,
                               patience=1, trainer_kwargs=trainer_kwargs)
    dataset, *_ = TimeSeriesDataset.from_df(_long_frame(values, [f"c{i:03d}" for i in range(n_channels)]))
    model.fit(dataset, val_size=40, test_size=test_rows - L)
    theirs = np.asarray(model.predict(dataset, test_size=test_rows - L, step_size=1))  # series-major, window, step
    inputs, _ = make_windows(values[-test_rows:], L, horizon)
    mine = predict_windows(model, inputs, batch_size=7)
    assert mine.shape == (count_windows(test_rows, L, horizon), horizon, n_channels)
    np.testing.assert_allclose(mine, theirs.reshape(n_channels, len(inputs), horizon).transpose(1, 2, 0), atol=1e-5)


@pytest.mark.parametrize("model_name", NF_MODELS)
def test_quick_run_returns_finite_figures_on_every_test_window(model_name, trainer_kwargs):
    from crossscale_ext.benchmarks.forecast import BenchmarkRow

    row = run_neuralforecast_peer(model_name, _toy_data(), horizon=24, epochs=1, patience=1, quick=True,
                                  trainer_kwargs=trainer_kwargs, latency_repeats=1)
    BenchmarkRow(**row)  # exactly the benchmark's fields
    assert row["model"] == model_name and row["dataset"] == "toy" and row["horizon"] == 24
    assert row["n_test_windows"] == QUICK_TEST_WINDOWS
    assert row["epochs_run"] == 1 and row["best_epoch"] == 1
    assert row["parameters"] > 0
    for name in ("mse", "mae", "val_mse", "val_mae", "train_seconds_per_epoch", "latency_ms_batch1",
                 "latency_ms_batch32"):
        assert np.isfinite(row[name]) and row[name] > 0, name
    assert row["mse"] < 2.0  # a noisy sine of unit amplitude: far below the error of predicting garbage


def test_settings_and_epoch_conversion():
    patchtst = peer_setting("PatchTST", "ETTh1")
    assert patchtst.architecture["patch_len"] == 16 and patchtst.architecture["stride"] == 8
    assert patchtst.architecture["revin"] and not patchtst.architecture["revin_subtract_last"]
    assert patchtst.batch_size == 128 and patchtst.schedule == "type3"
    assert peer_setting("PatchTST", "ETTm1").schedule == "TST"
    assert peer_setting("iTransformer", "ETTh1").architecture["hidden_size"] == 256
    assert peer_setting("iTransformer", "ETTh1", horizon=720).architecture["hidden_size"] == 512
    assert peer_setting("iTransformer", "Weather").architecture["e_layers"] == 3
    assert steps_per_epoch(8449, 128) == 67 and steps_per_epoch(8449, 32) == 265
    # type1: two epochs at the initial rate, then halving; type3: four, then x 0.9
    assert [lr_factor("type1", e) for e in range(4)] == [1.0, 1.0, 0.5, 0.25]
    assert [lr_factor("type3", e) for e in range(5)] == pytest.approx([1.0, 1.0, 1.0, 1.0, 0.9])


def test_bad_input_names_the_problem(monkeypatch):
    data = _toy_data()
    with pytest.raises(ValueError, match="Unknown neuralforecast peer 'TimesNet'"):
        run_neuralforecast_peer("TimesNet", data, horizon=24)
    data.input_length = 48
    with pytest.raises(ValueError, match="input_length=96"):
        run_neuralforecast_peer("PatchTST", data, horizon=24)
    with pytest.raises(ValueError, match="too few for one window"):
        run_neuralforecast_peer("PatchTST", _toy_data(test_rows=10), horizon=24)  # 106 rows < L + H
    with pytest.raises(ValueError, match="lr_gamma"):
        build_nf_model("PatchTST", "toy", 24, n_series=3, n_train_windows=100, epochs=1, patience=1, lr_gamma=2.0)
    with pytest.raises(ValueError, match="values must be a"):
        make_windows(np.zeros(200), L, 24)
    monkeypatch.setitem(sys.modules, "neuralforecast.models", None)
    with pytest.raises(ImportError, match=r"crossscale_ext\[bench\]"):
        build_nf_model("PatchTST", "toy", 24, n_series=3, n_train_windows=100, epochs=1, patience=1)


def test_no_test_mode_scores_validation_only(trainer_kwargs):
    row = run_neuralforecast_peer("iTransformer", _toy_data(), horizon=24, epochs=1, patience=1, quick=True,
                                  trainer_kwargs=trainer_kwargs, latency_repeats=1, score_test=False)
    assert np.isnan(row["mse"]) and np.isnan(row["mae"]) and row["n_test_windows"] == 0
    assert np.isfinite(row["val_mse"]) and np.isfinite(row["val_mae"])
