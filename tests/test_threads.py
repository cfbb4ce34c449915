"""Threads sharing one fitted model get exactly what sequential calls get (Darts model and sktime forecaster).

Every inference pass (``predict``, ``historical_forecasts``, the saliency pass, the sktime forecaster's forecasts)
runs under one process-wide re-entrant lock, ``crossscale_ext.darts_model.INFERENCE_LOCK``. Without it, Darts'
prediction parameters on the shared Lightning module, its train / eval state and torch's global generator (reseeded
in every ``predict``) are shared between the threads, and the results mix (measured before the lock: 42 of 72
calls differed or failed with 4 threads).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from darts.utils.likelihood_models.torch import QuantileRegression
from support import FLOAT32_RTOL, float32_atol, noisy_sine, tiny_model

from crossscale_ext import CrossScaleNetForecaster, explainability
from crossscale_ext.darts_model import INFERENCE_LOCK

N_THREADS, ROUNDS = 4, 3


def _run_concurrently(jobs: dict[str, Callable[[], np.ndarray]]) -> tuple[dict[str, np.ndarray], list, list]:
    """Sequential results, then ``N_THREADS`` threads x ``ROUNDS`` rounds of every job (each thread in its own order).

    Returns the sequential results, the mismatches ``(thread, job)`` and the exceptions raised in the threads.
    """
    expected = {name: job() for name, job in jobs.items()}
    names = list(jobs)
    mismatches, errors = [], []
    start = threading.Barrier(N_THREADS)

    def worker(i: int) -> None:
        order = names[i % len(names):] + names[: i % len(names)]
        try:
            start.wait()
            for _ in range(ROUNDS):
                for name in order:
                    # a call mixed up with another thread's differs grossly; float32 kernels may differ in the
                    # last bits from call to call on some CPUs (memory alignment), so compare at the float32 tolerance
                    got = jobs[name]()
                    if got.shape != expected[name].shape or not np.allclose(
                        got, expected[name], rtol=FLOAT32_RTOL, atol=float32_atol(expected[name])
                    ):
                        mismatches.append((i, name))
        except Exception as error:  # noqa: BLE001 - reported by the test
            errors.append((i, repr(error)))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(N_THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not any(thread.is_alive() for thread in threads), "a thread did not finish (deadlock?)"
    return expected, mismatches, errors


def test_the_lock_is_the_saliency_pass_lock():
    assert INFERENCE_LOCK is explainability.INFERENCE_LOCK  # predict and saliency exclude each other
    with INFERENCE_LOCK, INFERENCE_LOCK:  # re-entrant: predict inside historical_forecasts, sktime inside Darts
        pass


def test_darts_model_predict_and_saliency_from_threads_match_sequential_calls():
    series = noisy_sine(length=260)
    model = tiny_model(dropout=0.2).fit(series)
    quantile = tiny_model(likelihood=QuantileRegression([0.1, 0.5, 0.9])).fit(series)
    jobs = {
        "predict": lambda: model.predict(8).values(),
        "autoregressive": lambda: model.predict(20).values(),
        "mc_dropout": lambda: model.predict(8, num_samples=10, mc_dropout=True, random_state=1).all_values(),
        "quantile_samples": lambda: quantile.predict(12, num_samples=20, random_state=2).all_values(),
        "historical": lambda: np.stack([f.values() for f in model.historical_forecasts(
            series, start=200, forecast_horizon=8, retrain=False, stride=10, show_warnings=False)]),
        "saliency_last": lambda: model.saliency().temporal_map("gradient"),
        "saliency_all": lambda: model.saliency(windows="all", stride=25, maps="per_component").per_component,
    }
    expected, mismatches, errors = _run_concurrently(jobs)
    assert not errors, errors
    assert not mismatches, mismatches
    assert expected["mc_dropout"].shape == (8, 1, 10)


def test_sktime_forecaster_from_threads_matches_sequential_calls():
    index = pd.period_range("2000-01", periods=120, freq="M")
    y = pd.Series(np.sin(np.arange(120) / 4.0) + 0.05 * np.random.default_rng(0).normal(size=120), index=index)
    X = pd.DataFrame({"x": np.cos(np.arange(120) / 7.0)}, index=index)
    future = pd.period_range(index[-1] + 1, periods=12, freq="M")
    X_future = pd.DataFrame({"x": np.cos(np.arange(120, 132) / 7.0)}, index=future)
    forecaster = CrossScaleNetForecaster(
        input_chunk_length=32, output_chunk_length=8, n_scales=3, base_patch_length=8, moving_avg_kernel=7,
        d_model=16, n_epochs=1, random_state=0, quantiles=[0.1, 0.5, 0.9], num_samples=20,
    ).fit(y, X=X)
    jobs = {
        "predict": lambda: forecaster.predict(fh=[1, 2, 3], X=X_future).to_numpy(),
        "quantiles_beyond_horizon": lambda: forecaster.predict_quantiles(
            fh=list(range(1, 13)), X=X_future, alpha=[0.1, 0.9]).to_numpy(),
        "saliency": lambda: forecaster.saliency(kind="gradient").to_numpy(),
        "saliency_all": lambda: forecaster.saliency(windows="all", kind="per_step").to_numpy(),
    }
    _, mismatches, errors = _run_concurrently(jobs)
    assert not errors, errors
    assert not mismatches, mismatches


def test_sktime_threads_forecasting_different_horizons_each_get_their_own():
    """sktime's ``_check_fh`` writes ``fh`` to the estimator and reads it back; threads must not swap horizons.

    A tiny GIL switch interval makes a thread switch between that write and the read likely.
    """
    index = pd.period_range("2000-01", periods=120, freq="M")
    y = pd.Series(np.sin(np.arange(120) / 4.0), index=index)
    forecaster = CrossScaleNetForecaster(
        input_chunk_length=32, output_chunk_length=8, n_scales=3, base_patch_length=8, moving_avg_kernel=7,
        d_model=16, n_epochs=1, random_state=0,
    ).fit(y)
    horizons = [list(range(1, k)) for k in (3, 6, 9, 12)]
    expected = {len(fh): forecaster.predict(fh=fh) for fh in horizons}
    wrong, errors = [], []

    def worker(fh: list[int]) -> None:
        try:
            for _ in range(30):
                got = forecaster.predict(fh=fh)
                if not got.index.equals(expected[len(fh)].index):
                    wrong.append((len(fh), len(got)))
        except Exception as error:  # noqa: BLE001 - reported by the test
            errors.append(repr(error))

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=worker, args=(fh,)) for fh in horizons]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
    finally:
        sys.setswitchinterval(interval)
    assert not errors, errors
    assert not wrong, wrong


@pytest.mark.slow
def test_many_threads_many_calls():
    """A longer run of the Darts case: 8 threads, each 10 rounds of predict / historical forecasts / saliency."""
    global N_THREADS, ROUNDS
    previous = N_THREADS, ROUNDS
    N_THREADS, ROUNDS = 8, 10
    try:
        test_darts_model_predict_and_saliency_from_threads_match_sequential_calls()
    finally:
        N_THREADS, ROUNDS = previous
