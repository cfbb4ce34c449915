"""Long-horizon loaders: standard borders, window counts, train-only scaling; the exact window evaluation.

The tests that read the benchmark files skip when the data folder is absent (see the README's "Benchmark data").
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from support import noisy_sine

from crossscale_ext.benchmarks.harness import evaluate_windows
from crossscale_ext.datasets.long_horizon import (
    DATA_DIR_ENV,
    DATASETS,
    count_windows,
    load_long_horizon,
    split_borders,
)


def test_etth1_window_count_and_borders(shared_data_dir):
    data = load_long_horizon("ETTh1", input_length=96, data_dir=shared_data_dir)
    assert data.borders == {"train": (0, 8640), "val": (8544, 11520), "test": (11424, 14400)}
    assert (len(data.train), len(data.val), len(data.test)) == (8640, 2976, 2976)
    assert data.n_windows(96) == 2785
    assert count_windows(len(data.test), 96, 96) == 2785
    assert [data.n_windows(h) for h in (192, 336, 720)] == [2689, 2545, 2161]
    assert data.columns == ["HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL", "OT"]
    assert data.train.dtype == np.float32 and data.test.dtype == np.float32
    # the test series starts L rows before the border: its first forecast step is row 11520 of the file
    assert data.test.time_index[96] == pd.Timestamp("2016-07-01") + pd.Timedelta(hours=11520)


def test_scaler_is_fit_on_training_rows_only(shared_data_dir):
    data = load_long_horizon("ETTh1", data_dir=shared_data_dir)
    raw = pd.read_csv(shared_data_dir / "ETTh1.csv").drop(columns="date").to_numpy()
    np.testing.assert_allclose(data.scaler.mean_, raw[:8640].mean(axis=0))
    np.testing.assert_allclose(data.scaler.scale_, raw[:8640].std(axis=0))
    assert not np.allclose(data.scaler.mean_, raw[:14400].mean(axis=0))
    expected_test = (raw[11424:14400] - raw[:8640].mean(axis=0)) / raw[:8640].std(axis=0)
    np.testing.assert_allclose(data.test.values(), expected_test, rtol=1e-5, atol=1e-5)


def test_minute_and_ratio_borders(shared_data_dir):
    ettm1 = load_long_horizon("ETTm1", data_dir=shared_data_dir)  # read from ETTm1.csv.gz
    assert ettm1.borders == {"train": (0, 34560), "val": (34464, 46080), "test": (45984, 57600)}
    assert ettm1.n_windows(96) == 11425
    exchange = load_long_horizon("Exchange", data_dir=shared_data_dir)
    n = 7588
    assert exchange.borders == {"train": (0, int(0.7 * n)), "val": (int(0.7 * n) - 96, n - int(0.2 * n)),
                                "test": (n - int(0.2 * n) - 96, n)}
    assert exchange.n_windows(96) == 1422
    assert split_borders("Weather", 52696)["test"] == (52696 - int(0.2 * 52696) - 96, 52696)


def test_data_dir_from_environment(shared_data_dir, monkeypatch):
    monkeypatch.setenv(DATA_DIR_ENV, str(shared_data_dir))
    data = load_long_horizon("ETTh2")
    assert data.source.endswith("ETTh2.csv")


def test_clear_errors(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="Unknown data set"):
        load_long_horizon("ETTh3", data_dir=tmp_path)
    with pytest.raises(ValueError, match="not a folder"):
        load_long_horizon("ETTh1", data_dir=tmp_path / "missing")
    with pytest.raises(ValueError, match="neither ETTh1.csv nor ETTh1.csv.gz"):
        load_long_horizon("ETTh1", data_dir=tmp_path)
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(ValueError, match=DATA_DIR_ENV):
        load_long_horizon("ETTh1")
    with pytest.raises(ValueError, match="at least 14400 rows"):
        split_borders("ETTh1", 1000)
    with pytest.raises(TypeError, match="horizon must be a positive integer"):
        count_windows(100, 10, 2.5)
    assert set(DATASETS) == {"ETTh1", "ETTh2", "ETTm1", "ETTm2", "Weather", "Exchange"}


def test_evaluate_windows_matches_brute_force(trainer_kwargs):
    from darts.models import NLinearModel

    series = noisy_sine(length=120, n_components=2)
    model = NLinearModel(input_chunk_length=16, output_chunk_length=6, n_epochs=1, pl_trainer_kwargs=trainer_kwargs,
                         random_state=0)
    model.fit(series[:80], verbose=False)
    scores = evaluate_windows(model, series, horizon=6, windows_per_chunk=7)  # several chunks, one partial
    assert scores.n_windows == count_windows(120, 16, 6) == 99
    windows = [series[i : i + 16] for i in range(scores.n_windows)]
    forecasts = model.predict(6, series=windows, verbose=False)
    errors = np.stack([f.values() - series[i + 16 : i + 22].values() for i, f in enumerate(forecasts)])
    assert scores.mse == pytest.approx(float(np.mean(errors**2)), rel=1e-5)
    assert scores.mae == pytest.approx(float(np.mean(np.abs(errors))), rel=1e-5)
    with pytest.raises(ValueError, match="output_chunk_length >= horizon"):
        evaluate_windows(model, series, horizon=7)


def test_data_sets_do_not_import_the_benchmarks():
    import crossscale_ext.datasets as datasets

    assert not hasattr(datasets, "evaluate_windows")  # scoring lives in crossscale_ext.benchmarks.harness
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        datasets.nothing  # noqa: B018
