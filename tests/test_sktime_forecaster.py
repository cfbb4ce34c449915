"""CrossScaleNetForecaster: the sktime forecaster around CrossScaleNetModel."""

from __future__ import annotations

import copy
import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from darts import TimeSeries
from sktime.base import load
from sktime.datatypes import check_is_mtype
from sktime.forecasting.base import ForecastingHorizon
from support import assert_float32_close, assert_frames_close

from crossscale_ext import CrossScaleNetForecaster, find_crossscale_forecaster, pipeline_saliency

SMALL = {"input_chunk_length": 32, "output_chunk_length": 8, "n_scales": 3, "base_patch_length": 8,
         "moving_avg_kernel": 7, "d_model": 8, "n_epochs": 1, "batch_size": 32, "random_state": 0}
QUANTILES = [0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95]


def forecaster(trainer_kwargs, **kwargs) -> CrossScaleNetForecaster:
    return CrossScaleNetForecaster(**(SMALL | {"pl_trainer_kwargs": trainer_kwargs} | kwargs))


def make_index(kind: str, length: int, start: int = 0) -> pd.Index:
    if kind == "datetime":
        return pd.date_range("2024-01-01", periods=length, freq="h") + pd.Timedelta(hours=start)
    if kind == "period":
        return pd.period_range("2000-01", periods=length, freq="M") + start
    if kind == "range":
        return pd.RangeIndex(3 + start, 3 + start + length)
    return pd.Index(np.arange(3 + start, 3 + start + length), dtype="int64")


def sine_frame(length: int = 80, columns=("a",), index_kind: str = "datetime", seed: int = 0,
               period: float = 12.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t = np.arange(length)[:, None]
    values = np.sin(2 * np.pi * t / period + np.arange(len(columns))) + 0.1 * rng.normal(size=(length, len(columns)))
    return pd.DataFrame(values + 2.0, index=make_index(index_kind, length), columns=list(columns))


def panel(lengths=(70, 60, 80), hierarchical: bool = False, columns=("a",)) -> pd.DataFrame:
    frames = {}
    for i, length in enumerate(lengths):
        frame = sine_frame(length, columns=columns, index_kind="datetime", seed=i)
        key = (f"g{i % 2}", f"s{i}") if hierarchical else f"s{i}"
        frames[key] = frame
    names = ["group", "series", "time"] if hierarchical else ["series", "time"]
    result = pd.concat(frames, names=names[:-1])
    result.index = result.index.set_names(names)
    return result


def darts_forecast(model, y_window: np.ndarray, n: int, covariates: np.ndarray | None = None) -> np.ndarray:
    """Forecast of the fitted Darts model itself on a window given on positions 0..L-1."""
    series = TimeSeries.from_values(y_window.astype(np.float32))
    future = None if covariates is None else TimeSeries.from_values(covariates.astype(np.float32))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", module="pytorch_lightning")  # Lightning's own deprecation notes
        return model.predict(n, series=series, future_covariates=future).values()


# ---------------------------------------------------------------- 2. index types, panels, X, fh, update
@pytest.mark.parametrize("index_kind", ["datetime", "period", "range", "int"])
def test_every_index_type_and_one_training_path(trainer_kwargs, index_kind):
    y = sine_frame(index_kind=index_kind)
    fitted = forecaster(trainer_kwargs).fit(y)
    fh = ForecastingHorizon([1, 2, 3, 12])  # 12 > output_chunk_length: auto-regressive
    pred = fitted.predict(fh)
    expected_type = {"datetime": pd.DatetimeIndex, "period": pd.PeriodIndex}.get(index_kind, pd.Index)
    assert isinstance(pred.index, expected_type)
    assert index_kind in ("datetime", "period") or pd.api.types.is_integer_dtype(pred.index.dtype)
    assert pred.index.equals(fh.to_absolute_index(fitted.cutoff))
    assert list(pred.columns) == ["a"]
    # the forecast is the Darts model's own forecast from the last input window, at the requested steps
    reference = darts_forecast(fitted.darts_model_, y.to_numpy()[-32:], 12)
    np.testing.assert_allclose(pred.to_numpy()[:, 0], reference[[0, 1, 2, 11], 0], rtol=1e-6)


@pytest.mark.parametrize("index_kind", ["datetime", "period", "int"])
def test_absolute_fh_equals_relative_fh(trainer_kwargs, index_kind):
    y = sine_frame(index_kind=index_kind)
    fitted = forecaster(trainer_kwargs).fit(y)
    relative = ForecastingHorizon([2, 5, 9])
    absolute = ForecastingHorizon(relative.to_absolute_index(fitted.cutoff), is_relative=False)
    pd.testing.assert_frame_equal(fitted.predict(relative), fitted.predict(absolute))


def test_timedelta_fh_and_off_grid_fh(trainer_kwargs):
    fitted = forecaster(trainer_kwargs).fit(sine_frame())  # hourly
    by_timedelta = fitted.predict(ForecastingHorizon(pd.to_timedelta([1, 3], unit="h"), is_relative=True))
    pd.testing.assert_frame_equal(by_timedelta, fitted.predict([1, 3]))
    off_grid = ForecastingHorizon(pd.DatetimeIndex([fitted.cutoff[0] + pd.Timedelta(minutes=90)]), is_relative=False)
    with pytest.raises(ValueError, match="not on the time grid of y"):
        fitted.predict(off_grid)


def test_series_name_and_multivariate_columns(trainer_kwargs):
    y = sine_frame(columns=("a",))["a"].rename("passengers")
    assert fitted_name(trainer_kwargs, y) == "passengers"
    y2 = sine_frame(columns=("a", "b"))
    pred = forecaster(trainer_kwargs).fit(y2).predict([1, 2])
    assert list(pred.columns) == ["a", "b"] and np.isfinite(pred.to_numpy()).all()


def fitted_name(trainer_kwargs, y: pd.Series) -> str:
    pred = forecaster(trainer_kwargs).fit(y).predict([1, 2])
    assert isinstance(pred, pd.Series)
    return pred.name


def test_panel_is_one_global_model_with_per_instance_cutoffs(trainer_kwargs):
    y = panel(lengths=(70, 60, 80))
    fitted = forecaster(trainer_kwargs).fit(y, fh=[1, 2, 10])
    pred = fitted.predict()
    assert check_is_mtype(pred, "pd-multiindex")
    assert list(pred.index.get_level_values("series").unique()) == ["s0", "s1", "s2"]
    for name, part in y.groupby(level="series"):
        times = part.index.get_level_values("time")
        got = pred.xs(name, level="series")
        # every instance is forecast from its own end, by the single global model
        expected_times = pd.date_range(times[-1], periods=11, freq="h")[[1, 2, 10]]
        assert list(got.index) == list(expected_times)
        reference = darts_forecast(fitted.darts_model_, part.to_numpy()[-32:], 10)
        np.testing.assert_allclose(got.to_numpy()[:, 0], reference[[0, 1, 9], 0], rtol=1e-6)


def test_hierarchical_y(trainer_kwargs):
    y = panel(lengths=(60, 60, 60, 60), hierarchical=True)
    pred = forecaster(trainer_kwargs).fit(y).predict([1, 2, 3])
    assert check_is_mtype(pred, "pd_multiindex_hier")
    assert pred.index.names == ["group", "series", "time"] and len(pred) == 12


def test_exogenous_X_is_future_covariates(trainer_kwargs):
    y = sine_frame(length=90)
    X = pd.DataFrame({"hour": np.arange(100) % 12 / 12.0, "trend": np.linspace(0, 1, 100)},
                     index=make_index("datetime", 100))
    fitted = forecaster(trainer_kwargs).fit(y, X=X.iloc[:90])
    network = fitted.darts_model_.model.network
    assert network.n_channels == 3  # y + X's past as input channels
    assert network.future_projection.in_features == 2  # X over the horizon
    fh = [1, 2, 3, 10]
    pred = fitted.predict(fh, X=X.iloc[90:])
    changed = fitted.predict(fh, X=X.iloc[90:] * 5.0)
    assert not np.allclose(pred.to_numpy(), changed.to_numpy())  # future X changes the forecast
    # the same as the Darts model given the last window and the future covariates
    reference = darts_forecast(fitted.darts_model_, y.to_numpy()[-32:], 10, X.to_numpy()[90 - 32:])
    np.testing.assert_allclose(pred.to_numpy()[:, 0], reference[[0, 1, 2, 9], 0], rtol=1e-6)
    # a short horizon needs X only for its own steps (the rest of the output chunk is padding)
    short = fitted.predict([1, 2], X=X.iloc[90:92])
    np.testing.assert_allclose(short.to_numpy(), pred.to_numpy()[:2], rtol=1e-6)


def test_update_without_refit_moves_the_window_not_the_weights(trainer_kwargs):
    y = sine_frame(length=100)
    fitted = forecaster(trainer_kwargs).fit(y.iloc[:80])
    weights = {k: v.clone() for k, v in fitted.darts_model_.model.state_dict().items()}
    fitted.update(y.iloc[80:], update_params=False)
    assert fitted.cutoff[0] == y.index[-1]
    for key, value in fitted.darts_model_.model.state_dict().items():
        assert torch.equal(value, weights[key])
    pred = fitted.predict([1, 2])
    assert pred.index[0] == y.index[-1] + pd.Timedelta(hours=1)
    reference = darts_forecast(fitted.darts_model_, y.to_numpy()[-32:], 2)
    np.testing.assert_allclose(pred.to_numpy(), reference, rtol=1e-6)


def test_update_with_refit_equals_fit_on_all_data(trainer_kwargs):
    y = sine_frame(length=100)
    updated = forecaster(trainer_kwargs).fit(y.iloc[:80])
    first_model = updated.darts_model_
    updated.update(y.iloc[80:], update_params=True)
    assert updated.darts_model_ is not first_model  # update_epochs=0: a fresh model on all data
    refit = forecaster(trainer_kwargs).fit(y)
    pd.testing.assert_frame_equal(updated.predict([1, 2, 3]), refit.predict([1, 2, 3]))


def test_update_with_fine_tuning_continues_training(trainer_kwargs):
    y = sine_frame(length=100)
    tuned = forecaster(trainer_kwargs, update_epochs=2).fit(y.iloc[:80])
    model = tuned.darts_model_
    weights = {k: v.clone() for k, v in model.model.state_dict().items()}
    tuned.update(y.iloc[80:], update_params=True)
    assert tuned.darts_model_ is model  # the same network, trained further
    changed = [not torch.equal(v, weights[k]) for k, v in model.model.state_dict().items()]
    assert any(changed)


def test_update_with_X(trainer_kwargs):
    y = sine_frame(length=100)
    X = pd.DataFrame({"x": np.cos(np.arange(110) / 3.0)}, index=make_index("datetime", 110))
    fitted = forecaster(trainer_kwargs).fit(y.iloc[:80], X=X.iloc[:80])
    fitted.update(y.iloc[80:], X=X.iloc[80:100], update_params=False)
    pred = fitted.predict([1, 2, 3], X=X.iloc[100:])
    reference = darts_forecast(fitted.darts_model_, y.to_numpy()[-32:], 8, X.to_numpy()[100 - 32:108])
    np.testing.assert_allclose(pred.to_numpy()[:, 0], reference[:3, 0], rtol=1e-6)


# ---------------------------------------------------------------- 3. probabilistic forecasts
def test_quantile_forecasts_and_intervals(trainer_kwargs):
    y = sine_frame(length=90, columns=("a", "b"))
    probabilistic = forecaster(trainer_kwargs, quantiles=QUANTILES, n_epochs=2, num_samples=200)
    assert probabilistic.get_tag("capability:pred_int") is True
    assert forecaster(trainer_kwargs).get_tag("capability:pred_int") is False
    probabilistic.fit(y)

    fh = [1, 2, 3]  # within output_chunk_length: read from the network's quantile outputs
    quantiles = probabilistic.predict_quantiles(fh, alpha=[0.1, 0.5, 0.9])
    assert list(quantiles.columns) == [(c, a) for c in ("a", "b") for a in (0.1, 0.5, 0.9)]
    for column in ("a", "b"):
        assert (quantiles[(column, 0.1)] <= quantiles[(column, 0.5)]).all()
        assert (quantiles[(column, 0.5)] <= quantiles[(column, 0.9)]).all()
    # predict is the median
    np.testing.assert_allclose(probabilistic.predict(fh).to_numpy(), quantiles.xs(0.5, axis=1, level=1).to_numpy())
    # trained levels are the network's outputs (sorted)
    params = probabilistic.darts_model_.predict(
        3, series=TimeSeries.from_values(y.to_numpy()[-32:].astype(np.float32)), predict_likelihood_parameters=True
    ).values().reshape(3, 2, len(QUANTILES))
    np.testing.assert_allclose(quantiles[("a", 0.1)].to_numpy(), np.sort(params, axis=-1)[:, 0, 1], rtol=1e-6)

    intervals = probabilistic.predict_interval(fh, coverage=[0.5, 0.9])
    assert intervals.shape == (3, 8)
    assert (intervals[("a", 0.9, "lower")] <= intervals[("a", 0.5, "lower")]).all()
    assert (intervals[("a", 0.5, "upper")] <= intervals[("a", 0.9, "upper")]).all()

    beyond = probabilistic.predict_quantiles([1, 12], alpha=[0.1, 0.9])  # sampled auto-regressive paths
    assert (beyond[("a", 0.1)] <= beyond[("a", 0.9)]).all()
    pd.testing.assert_frame_equal(beyond, probabilistic.predict_quantiles([1, 12], alpha=[0.1, 0.9]))


def test_point_forecaster_has_no_intervals(trainer_kwargs):
    fitted = forecaster(trainer_kwargs).fit(sine_frame())
    with pytest.raises(NotImplementedError, match="prediction intervals"):
        fitted.predict_interval([1, 2])


def test_quantiles_on_panels(trainer_kwargs):
    y = panel(lengths=(60, 70))
    fitted = forecaster(trainer_kwargs, quantiles=QUANTILES).fit(y)
    intervals = fitted.predict_interval([1, 2], coverage=0.8)
    assert check_is_mtype(intervals, "pd-multiindex")
    assert len(intervals) == 4 and (intervals.iloc[:, 0] <= intervals.iloc[:, 1]).all()


# ---------------------------------------------------------------- 4. saliency
def test_saliency_last_window_in_y_index_type(trainer_kwargs):
    y = sine_frame(length=80, index_kind="period")
    X = pd.DataFrame({"x1": np.cos(np.arange(80)), "x2": np.linspace(0, 1, 80)}, index=y.index)
    fitted = forecaster(trainer_kwargs).fit(y, X=X)
    saliency = fitted.saliency()  # the recommended map, the gradient: one column per input component
    assert isinstance(saliency.index, pd.PeriodIndex)
    assert list(saliency.index) == list(y.index[-32:])
    assert list(saliency.columns) == ["a", "x1", "x2"] and saliency.columns.name == "gradient"
    pd.testing.assert_frame_equal(saliency, fitted.saliency(kind="gradient"))
    every = fitted.saliency(kind="all")
    components = ["a", "x1", "x2"]
    cell_labels = ("gradient", "input_x_gradient", "aligned_input_x_gradient", "attention_per_component")
    assert list(every.columns) == [
        "gradient", "input_x_gradient", "aligned_input_x_gradient", "attention_paper", "attention_per_step",
        "attention_per_component", *[f"{label}:{c}" for label in cell_labels for c in components],
    ]
    attention_cells = [f"attention_per_component:{c}" for c in components]
    np.testing.assert_allclose(every[attention_cells].sum(axis=1), every["attention_per_step"], rtol=1e-5)
    assert every["attention_per_step"].sum() == pytest.approx(1.0, rel=1e-5)
    assert every["attention_paper"].sum() == pytest.approx(SMALL["n_scales"] - 1, rel=1e-5)
    assert_frames_close(fitted.saliency(kind="paper")["attention_paper"], every["attention_paper"])
    assert_frames_close(fitted.saliency(kind="per_step")["attention_per_step"], every["attention_per_step"])
    per_component = fitted.saliency(kind="per_component")
    assert list(per_component.columns) == attention_cells
    assert_frames_close(per_component, every[attention_cells])
    assert_float32_close(saliency.to_numpy(), every[[f"gradient:{c}" for c in components]].to_numpy())
    # exactly the Darts model's own SaliencyResult.to_dataframe(components="all") of that window, re-indexed
    result = darts_saliency(fitted, y.to_numpy()[-32:], X.to_numpy()[-32:])
    expected = result.to_dataframe(components="all")
    assert len(expected.columns) == len(every.columns)
    assert_float32_close(every.to_numpy(), expected.to_numpy())
    attention_only = fitted.saliency(kind="all", gradients=False)
    assert list(attention_only.columns) == [
        "attention_paper", "attention_per_step", "attention_per_component", *attention_cells
    ]
    assert_frames_close(attention_only, every[list(attention_only.columns)])


def darts_saliency(fitted: CrossScaleNetForecaster, y_window: np.ndarray, X_window: np.ndarray | None = None):
    """The fitted Darts model's own saliency of one input window (X over the forecast steps: zeros)."""
    covariates = None
    if X_window is not None:
        padded = np.concatenate([X_window, np.zeros((fitted.output_chunk_length, X_window.shape[1]))])
        covariates = TimeSeries.from_values(padded.astype(np.float32))
    return fitted.darts_model_.saliency(TimeSeries.from_values(y_window.astype(np.float32)),
                                        future_covariates=covariates)


@pytest.mark.parametrize("kind", ["gradient", "input_x_gradient"])
def test_saliency_gradient_kinds(trainer_kwargs, kind):
    y = sine_frame(length=80, columns=("a", "b"), index_kind="int")
    X = pd.DataFrame({"a": np.cos(np.arange(80) / 3.0)}, index=y.index)  # named like a y column: "X:a"
    fitted = forecaster(trainer_kwargs).fit(y, X=X)
    cells = fitted.saliency(kind=kind)
    assert list(cells.columns) == ["a", "b", "X:a"] and cells.columns.name == kind
    assert list(cells.index) == list(y.index[-32:]) and pd.api.types.is_integer_dtype(cells.index.dtype)
    assert (cells.to_numpy() >= 0).all() and cells.to_numpy().sum() > 0
    # the Darts model's cell map of that window; the row sums are the temporal map of kind="all"
    result = darts_saliency(fitted, y.to_numpy()[-32:], X.to_numpy()[-32:])
    assert_float32_close(cells.to_numpy(), result.component_map(kind)[-1])
    every = fitted.saliency(kind="all")
    assert_float32_close(cells.sum(axis=1).to_numpy(), every[kind].to_numpy())
    # every window, in y's index type, the last one equal to windows="last"
    windows = fitted.saliency(windows="all", kind=kind)
    assert windows.index.names == ["forecast_start", None]
    assert len(windows) == (80 - 32 + 1) * 32
    last = windows.xs(windows.index.get_level_values("forecast_start")[-1], level="forecast_start")
    # a batch of 49 windows and a batch of one: float32 paths differ between CPUs
    assert_float32_close(last.to_numpy(), cells.to_numpy())


def test_saliency_gradient_kind_needs_gradients(trainer_kwargs):
    fitted = forecaster(trainer_kwargs).fit(sine_frame(length=60))
    for kind in ("gradient", "input_x_gradient"):
        with pytest.raises(ValueError, match=r"gradients=False.*pass gradients=True or choose an attention kind"):
            fitted.saliency(kind=kind, gradients=False)
    with pytest.raises(ValueError, match="gradients must be True or False"):
        fitted.saliency(gradients="yes")
    # the attention kinds are the same with or without gradients
    assert_frames_close(fitted.saliency(kind="per_component", gradients=False), fitted.saliency(kind="per_component"))


@pytest.mark.parametrize("index_kind", ["datetime", "range"])
def test_saliency_all_windows(trainer_kwargs, index_kind):
    y = sine_frame(length=60, index_kind=index_kind)
    fitted = forecaster(trainer_kwargs).fit(y)
    saliency = fitted.saliency(windows="all", kind="per_step")
    assert saliency.index.names == ["forecast_start", None]
    starts = saliency.index.get_level_values("forecast_start").unique()
    assert len(starts) == 60 - 32 + 1  # every input window, the last one forecasting after the cutoff
    assert starts[0] == y.index[32] and starts[-1] == ForecastingHorizon([1]).to_absolute_index(fitted.cutoff)[0]
    last = saliency.xs(starts[-1], level="forecast_start")
    assert_frames_close(last, fitted.saliency(kind="per_step"), check_names=False, check_freq=False)
    if index_kind == "range":
        assert isinstance(fitted.saliency().index, pd.RangeIndex)


def test_saliency_panel_multiindex(trainer_kwargs):
    y = panel(lengths=(50, 45))
    fitted = forecaster(trainer_kwargs).fit(y)
    last = fitted.saliency()
    assert last.index.names == ["series", "time"] and len(last) == 2 * 32
    every = fitted.saliency(windows="all")
    assert every.index.names == ["series", "forecast_start", "time"]
    assert len(every) == ((50 - 32 + 1) + (45 - 32 + 1)) * 32


def test_saliency_summary_and_cheap_fitted_params(trainer_kwargs):
    y = sine_frame(length=70, columns=("a", "b"))
    X = pd.DataFrame({"x": np.cos(np.arange(70))}, index=y.index)
    fitted = forecaster(trainer_kwargs).fit(y, X=X)
    calls = []
    original = fitted._saliency_results
    fitted._saliency_results = lambda *args, **kwargs: calls.append(args) or original(*args, **kwargs)
    fitted_params = fitted.get_fitted_params()  # cheap: no saliency pass
    assert calls == [] and fitted_params["input_components"] == ["a", "b", "x"]
    assert fitted_params["darts_model"] is fitted.darts_model_
    del fitted._saliency_results
    params = fitted.saliency_summary()
    assert params["component_importance"].sum() == pytest.approx(1.0, rel=1e-5)
    assert list(params["saliency_per_step"].index) == list(range(1, 33))  # lag 1 = last input step
    assert params["saliency_per_step"].sum() == pytest.approx(1.0, rel=1e-5)
    assert params["n_saliency_windows"] == 70 - 32 + 1
    every = fitted.saliency(windows="all", kind="per_component")
    averaged = every.to_numpy().reshape(-1, 32, 3).mean(axis=0)
    assert_float32_close(params["saliency_per_component"].to_numpy()[::-1], averaged)
    # the gradient map by lag, and each input component's share of it
    gradient = fitted.saliency(windows="all", kind="gradient").to_numpy().reshape(-1, 32, 3).mean(axis=0)
    lag_profile = params["saliency_gradient"]
    assert isinstance(lag_profile, pd.Series) and lag_profile.index.name == "lag"
    assert list(lag_profile.index) == list(range(1, 33))
    assert_float32_close(lag_profile.to_numpy(), gradient.sum(axis=1)[::-1])
    importance = params["gradient_importance"]
    assert list(importance.index) == ["a", "b", "x"]
    assert importance.sum() == pytest.approx(1.0, rel=1e-6)
    assert_float32_close(importance.to_numpy(), gradient.sum(axis=0) / gradient.sum())
    assert set(params) >= {"saliency_gradient", "gradient_importance", "saliency_per_step", "saliency_paper",
                           "saliency_per_component", "component_importance", "n_saliency_windows"}


def test_saliency_needs_fit_and_valid_arguments(trainer_kwargs):
    from sktime.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        forecaster(trainer_kwargs).saliency()
    fitted = forecaster(trainer_kwargs).fit(sine_frame())
    with pytest.raises(ValueError, match="windows must be"):
        fitted.saliency(windows="first")
    with pytest.raises(ValueError, match="kind must be one of"):
        fitted.saliency(kind="attention")
    with pytest.raises(ValueError, match="kind must be one of"):
        fitted.saliency(kind="per_scale")


# ---------------------------------------------------------------- 5. persistence
def test_deepcopy_pickle_and_sktime_save_load_round_trip(trainer_kwargs, tmp_path):
    y = sine_frame(length=80)
    X = pd.DataFrame({"x": np.cos(np.arange(90) / 4.0)}, index=make_index("datetime", 90))
    fitted = forecaster(trainer_kwargs, quantiles=QUANTILES).fit(y, X=X.iloc[:80])
    fh, X_future = [1, 2, 3], X.iloc[80:]
    expected = fitted.predict(fh, X=X_future)
    expected_q = fitted.predict_quantiles(fh, X=X_future, alpha=[0.1, 0.9])
    expected_saliency = fitted.saliency()

    copies = [
        copy.deepcopy(fitted),
        pickle.loads(pickle.dumps(fitted)),
        load(fitted.save()),  # in-memory serialisation
    ]
    fitted.save(tmp_path / "csn")
    copies.append(load(tmp_path / "csn.zip"))  # save adds the .zip suffix
    weights = fitted.darts_model_.model.state_dict()
    for other in copies:
        restored = other.darts_model_.model.state_dict()  # the fitted Lightning module is re-attached
        assert restored.keys() == weights.keys() and all(torch.equal(restored[k], weights[k]) for k in weights)
        pd.testing.assert_frame_equal(other.predict(fh, X=X_future), expected)
        pd.testing.assert_frame_equal(other.predict_quantiles(fh, X=X_future, alpha=[0.1, 0.9]), expected_q)
        pd.testing.assert_frame_equal(other.saliency(), expected_saliency)


# ---------------------------------------------------------------- 6. sktime machinery
def test_transformed_target_forecaster_with_deseasonalizer(trainer_kwargs):
    from sktime.datasets import load_airline
    from sktime.forecasting.compose import TransformedTargetForecaster
    from sktime.transformations.series.detrend import Deseasonalizer

    y = load_airline()
    pipe = TransformedTargetForecaster([
        ("deseasonalize", Deseasonalizer(sp=12, model="multiplicative")),
        ("forecast", forecaster(trainer_kwargs)),
    ])
    pred = pipe.fit(y).predict([1, 2, 3])
    assert isinstance(pred.index, pd.PeriodIndex) and str(pred.index[0]) == "1961-01"
    assert np.isfinite(pred.to_numpy()).all()
    inner = pipe.forecaster_
    assert isinstance(inner, CrossScaleNetForecaster) and inner.is_fitted
    # the network was trained on the deseasonalised series (ratio to a seasonal factor near 1), not on y
    assert inner._cur_y.iloc[:, 0].std() < y.std()
    # saliency from the pipeline: the inner forecaster's maps, in the space it saw
    assert find_crossscale_forecaster(pipe) is inner
    assert_frames_close(pipeline_saliency(pipe), inner.saliency())
    assert_frames_close(pipeline_saliency(pipe, kind="per_step"), inner.saliency(kind="per_step"))


def test_pipeline_saliency_finds_the_forecaster_or_says_why(trainer_kwargs):
    from sktime.forecasting.compose import ForecastingPipeline, TransformedTargetForecaster
    from sktime.forecasting.naive import NaiveForecaster
    from sktime.transformations.series.exponent import ExponentTransformer

    y = sine_frame(length=70) + 2.0
    X = pd.DataFrame({"x": np.cos(np.arange(70))}, index=y.index)
    nested = ForecastingPipeline([
        ("square_x", ExponentTransformer(power=2)),
        ("inner", TransformedTargetForecaster([
            ("sqrt", ExponentTransformer(0.5)), ("net", forecaster(trainer_kwargs)),
        ])),
    ]).fit(y, X=X, fh=[1, 2])
    found = find_crossscale_forecaster(nested)
    assert found.is_fitted and list(pipeline_saliency(nested).columns) == ["a", "x"]
    assert find_crossscale_forecaster(found) is found
    # a forecaster fitted alone and then given to a pipeline: the pipeline's own fitted copy is the one found
    alone = forecaster(trainer_kwargs).fit(y)
    pipe = TransformedTargetForecaster([("sqrt", ExponentTransformer(0.5)), ("net", alone)]).fit(y, fh=[1, 2])
    assert find_crossscale_forecaster(pipe) is pipe.forecaster_ and pipe.forecaster_ is not alone
    unfitted = TransformedTargetForecaster([("sqrt", ExponentTransformer(0.5)), ("net", forecaster(trainer_kwargs))])
    with pytest.raises(ValueError, match="holds no fitted CrossScaleNetForecaster: fit it first"):
        pipeline_saliency(unfitted)
    naive = TransformedTargetForecaster([("sqrt", ExponentTransformer(0.5)), ("naive", NaiveForecaster())]).fit(y)
    with pytest.raises(ValueError, match="holds no fitted CrossScaleNetForecaster"):
        pipeline_saliency(naive)


def test_saliency_defaults_to_the_recommended_map(trainer_kwargs):
    import inspect

    from crossscale_ext import RECOMMENDED_MAP

    for method in (CrossScaleNetForecaster.saliency, CrossScaleNetForecaster.iter_saliency, pipeline_saliency):
        assert inspect.signature(method).parameters["kind"].default == RECOMMENDED_MAP
    fitted = forecaster(trainer_kwargs).fit(sine_frame(length=60))
    chunks = list(fitted.iter_saliency(windows_per_chunk=10))
    assert all(chunk.columns.name == RECOMMENDED_MAP for chunk in chunks)
    assert_frames_close(pd.concat(chunks), fitted.saliency(windows="all"), check_freq=False)


def test_grid_search_over_a_hyperparameter(trainer_kwargs):
    from sktime.forecasting.model_selection import ForecastingGridSearchCV
    from sktime.split import ExpandingWindowSplitter

    y = sine_frame(length=70)
    cv = ExpandingWindowSplitter(initial_window=50, step_length=10, fh=[1, 2])
    search = ForecastingGridSearchCV(
        forecaster(trainer_kwargs), cv=cv, param_grid={"d_model": [8, 16]}, backend=None  # sequential: fast in tests
    )
    search.fit(y)
    errors = search.cv_results_["mean_test_MeanAbsolutePercentageError"]
    assert len(errors) == 2 and np.isfinite(errors).all()
    assert search.best_params_ == search.cv_results_["params"][int(np.argmin(errors))]
    assert search.best_forecaster_.d_model == search.best_params_["d_model"] and search.best_forecaster_.is_fitted
    assert len(search.predict([1, 2])) == 2


def test_evaluate_with_expanding_window(trainer_kwargs):
    from sktime.forecasting.model_evaluation import evaluate
    from sktime.split import ExpandingWindowSplitter

    y = sine_frame(length=70)
    cv = ExpandingWindowSplitter(initial_window=50, step_length=5, fh=[1, 2, 3])
    results = evaluate(forecaster(trainer_kwargs), cv=cv, y=y)
    assert len(results) == len(list(cv.split(y))) == 4
    assert np.isfinite(results["test_MeanAbsolutePercentageError"]).all()


def test_forecasting_pipeline_with_exogenous_transformer(trainer_kwargs):
    from sklearn.preprocessing import StandardScaler
    from sktime.forecasting.compose import ForecastingPipeline
    from sktime.transformations.series.adapt import TabularToSeriesAdaptor

    y = sine_frame(length=80)
    X = pd.DataFrame({"x": 100.0 + 10 * np.cos(np.arange(90) / 3.0)}, index=make_index("datetime", 90))
    pipe = ForecastingPipeline([("scale_X", TabularToSeriesAdaptor(StandardScaler())),
                                ("forecast", forecaster(trainer_kwargs))])
    pred = pipe.fit(y, X=X.iloc[:80], fh=[1, 2, 3]).predict(X=X.iloc[80:])
    assert list(pred.index) == list(X.index[80:83])
    inner = pipe.forecaster_
    assert inner.get_fitted_params()["input_components"] == ["a", "x"]
    # the forecaster saw the scaled X: mean ~0 instead of ~100
    assert abs(inner._cur_X["x"].mean()) < 1.0


# ---------------------------------------------------------------- 7. clear errors
def test_y_too_short_says_how_long_it_must_be(trainer_kwargs):
    with pytest.raises(ValueError, match=r"has 30 time points, but CrossScaleNetForecaster needs at least 40 to fit"):
        forecaster(trainer_kwargs).fit(sine_frame(length=30))
    with pytest.raises(ValueError, match=r"instance s1\) has 20 time points.*at least 40"):
        forecaster(trainer_kwargs).fit(panel(lengths=(60, 20)))


def test_X_in_fit_but_missing_in_predict(trainer_kwargs):
    y = sine_frame(length=80)
    X = pd.DataFrame({"x": np.cos(np.arange(90))}, index=make_index("datetime", 90))
    fitted = forecaster(trainer_kwargs).fit(y, X=X.iloc[:80])
    with pytest.raises(ValueError, match=r"fit with exogenous X.*no X was passed.*Pass X covering"):
        fitted.predict([1, 2])
    with pytest.raises(ValueError, match=r"X lacks 2 of them.*Pass X covering"):
        fitted.predict([1, 2, 3], X=X.iloc[80:81])  # X must reach the last fh step
    with pytest.raises(ValueError, match=r"update needs X"):
        fitted.update(sine_frame(length=90).iloc[80:], update_params=False)


def test_X_with_different_columns(trainer_kwargs):
    y = sine_frame(length=80)
    X = pd.DataFrame({"x": np.cos(np.arange(90)), "z": np.sin(np.arange(90))}, index=make_index("datetime", 90))
    fitted = forecaster(trainer_kwargs).fit(y, X=X.iloc[:80])
    with pytest.raises(ValueError, match=r"different columns.*missing \['z'\], unexpected \['w'\]"):
        fitted.predict([1], X=X.iloc[80:].rename(columns={"z": "w"}))
    # the same columns in another order are fine
    reordered = fitted.predict([1], X=X.iloc[80:][["z", "x"]])
    pd.testing.assert_frame_equal(reordered, fitted.predict([1], X=X.iloc[80:]))


def test_X_passed_to_a_forecaster_fit_without_X_is_ignored_with_a_warning(trainer_kwargs):
    fitted = forecaster(trainer_kwargs).fit(sine_frame(length=80))
    X = pd.DataFrame({"x": np.ones(2)}, index=make_index("datetime", 82)[80:])
    with pytest.warns(UserWarning, match="fit without X"):
        pred = fitted.predict([1, 2], X=X)
    pd.testing.assert_frame_equal(pred, fitted.predict([1, 2]))


def test_in_sample_fh_is_refused_with_the_fix(trainer_kwargs):
    y = sine_frame(length=80)
    with pytest.raises(NotImplementedError, match=r"in-sample.*relative steps >= 1"):
        forecaster(trainer_kwargs).fit(y, fh=[-2, 1])
    fitted = forecaster(trainer_kwargs).fit(y)
    with pytest.raises(NotImplementedError, match=r"in-sample.*relative steps >= 1"):
        fitted.predict([0, 1])


def test_quantile_outside_trained_levels(trainer_kwargs):
    fitted = forecaster(trainer_kwargs, quantiles=[0.1, 0.5, 0.9]).fit(sine_frame())
    with pytest.raises(ValueError, match=r"outside the quantile levels.*Add the levels you need"):
        fitted.predict_interval([1], coverage=0.95)


def test_gaps_in_the_time_index(trainer_kwargs):
    y = sine_frame(length=80)
    with pytest.raises(ValueError, match="no regular frequency"):
        forecaster(trainer_kwargs).fit(y.drop(y.index[40]))
    y_int = sine_frame(length=80, index_kind="int")
    with pytest.raises(ValueError, match="not consecutive"):
        forecaster(trainer_kwargs).fit(y_int.drop(y_int.index[40]))


def test_invalid_hyperparameters_fail_at_construction():
    with pytest.raises(ValueError, match="multiple of 4"):
        CrossScaleNetForecaster(input_chunk_length=30, output_chunk_length=8, n_scales=3, base_patch_length=8)
    with pytest.raises(ValueError, match="must contain 0.5"):
        CrossScaleNetForecaster(quantiles=[0.1, 0.9])
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        CrossScaleNetForecaster(quantiles=[0.0, 0.5])
    with pytest.raises(ValueError, match="update_epochs"):
        CrossScaleNetForecaster(update_epochs=-1)


def test_architecture_errors_come_from_architecture_config():
    from crossscale_ext.config import ArchitectureConfig

    with pytest.raises(ValueError, match=r"input_chunk_length=48") as raised:
        CrossScaleNetForecaster(input_chunk_length=50, n_scales=4)
    with pytest.raises(ValueError) as expected:
        ArchitectureConfig(n_scales=4).validate(50, 24)
    assert str(raised.value) == str(expected.value)
    # the config's own range checks, e.g. of the new covariate_path, with the config's own messages
    for params in ({"covariate_path": "mlp"}, {"base_patch_length": 12}, {"dropout": 1.5}):
        with pytest.raises(ValueError) as raised:
            CrossScaleNetForecaster(**params)
        with pytest.raises(ValueError) as expected:
            ArchitectureConfig(**params)
        assert str(raised.value) == str(expected.value) and next(iter(params)) in str(raised.value)


def test_covariate_path_reaches_the_darts_model(trainer_kwargs):
    y = sine_frame(length=80)
    X = pd.DataFrame({"x": np.cos(np.arange(90) / 3.0)}, index=make_index("datetime", 90))
    assert CrossScaleNetForecaster().covariate_path == "lagged"  # the package default
    default = forecaster(trainer_kwargs).fit(y, X=X.iloc[:80])
    reference = forecaster(trainer_kwargs, covariate_path="none").fit(y, X=X.iloc[:80])
    linear = forecaster(trainer_kwargs, covariate_path="linear").fit(y, X=X.iloc[:80])
    assert default.darts_model_.architecture.covariate_path == "lagged"
    assert reference.darts_model_.architecture.covariate_path == "none"
    assert linear.darts_model_.architecture.covariate_path == "linear"
    assert linear.get_params()["covariate_path"] == "linear"

    def n_parameters(f):
        return sum(p.numel() for p in f.darts_model_.model.parameters())

    # the reference has no covariate path; the lagged one has one weight per lag, the dense one one per step pair
    assert n_parameters(reference) < n_parameters(default) < n_parameters(linear)
    pred = linear.predict([1, 2], X=X.iloc[80:])
    assert pred.shape == (2, 1) and np.isfinite(pred.to_numpy()).all()


def test_scale_fusion_reaches_the_darts_model(trainer_kwargs):
    y = sine_frame(length=80)
    assert CrossScaleNetForecaster().scale_fusion == "linear"  # the reference's
    assert "instance_norm_center" not in CrossScaleNetForecaster().get_params()
    summed = forecaster(trainer_kwargs, scale_fusion="sum").fit(y)
    assert summed.darts_model_.architecture.scale_fusion == "sum"
    assert summed.darts_model_.model.network.projection.in_features == 1
    pred = summed.predict([1, 2])
    assert pred.shape == (2, 1) and np.isfinite(pred.to_numpy()).all()


def test_docstring_documents_every_parameter_once():
    import inspect

    from crossscale_ext.config import parameter_docs

    doc = inspect.getdoc(CrossScaleNetForecaster)
    assert "{architecture_parameters}" not in doc
    section = doc.split("Parameters\n----------\n")[1].split("\n\nAttributes\n")[0]
    documented = [line.split(" : ")[0] for line in section.splitlines() if not line.startswith(" ") and " : " in line]
    assert documented == list(inspect.signature(CrossScaleNetForecaster).parameters)
    # the architecture entries are the config's, at the indentation of the other entries
    assert inspect.cleandoc("    x\n" + parameter_docs(style="sktime", indent=4)).split("\n", 1)[1] in doc
    assert "covariate_path : str, default='lagged'" in section


def test_docstring_example_runs():
    import doctest

    finder = doctest.DocTestFinder(recurse=False)
    (example,) = finder.find(CrossScaleNetForecaster, "CrossScaleNetForecaster",
                             globs={}, module=False)
    assert len(example.examples) >= 5
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        outcome = runner.run(example)
    assert outcome.failed == 0, f"{outcome.failed} of {outcome.attempted} docstring examples failed"


def test_importing_the_forecaster_does_not_import_darts():
    import subprocess
    import sys

    code = ("import sys, crossscale_ext.sktime_forecaster; "
            "print(sorted(m for m in ('darts', 'crossscale_ext.darts_model') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# ---------------------------------------------------------------- 8. bad input: named columns and the fix
def with_nan(frame: pd.DataFrame, column: str, rows) -> pd.DataFrame:
    frame = frame.copy()
    frame.loc[frame.index[rows], column] = np.nan
    return frame


def test_missing_values_in_y_name_the_columns_and_the_fix(trainer_kwargs):
    y = sine_frame(length=80, columns=("a", "b"))
    with pytest.raises(ValueError, match=r"y has missing values \(NaN\) in column\(s\) \{'b': 2\}.*ffill.*Imputer"):
        forecaster(trainer_kwargs).fit(with_nan(y, "b", [3, 9]))
    with pytest.raises(ValueError, match=r"y has missing values.*\{'a': 1\}"):  # a Series: its name
        forecaster(trainer_kwargs).fit(with_nan(y, "a", [5])["a"])
    with pytest.raises(ValueError, match=r"y has missing values.*\{'a': 1\}"):  # a panel
        forecaster(trainer_kwargs).fit(with_nan(panel(lengths=(60, 60)), "a", [70]))
    with pytest.raises(ValueError, match=r"y has missing values.*\{1: 2\}"):  # numpy: columns by position
        forecaster(trainer_kwargs).fit(with_nan(y, "b", [1, 2]).to_numpy())
    fitted = forecaster(trainer_kwargs).fit(y.iloc[:70])
    with pytest.raises(ValueError, match=r"y has missing values.*\{'a': 1\}.*Fill them first"):
        fitted.update(with_nan(y.iloc[70:], "a", [2]), update_params=False)
    assert fitted.cutoff[0] == y.index[69]  # nothing was appended


def test_missing_values_in_X_name_the_columns_and_the_fix(trainer_kwargs):
    y = sine_frame(length=80)
    X = pd.DataFrame({"x": np.cos(np.arange(90) / 3.0), "z": np.linspace(0, 1, 90)}, index=make_index("datetime", 90))
    with pytest.raises(ValueError, match=r"X has missing values \(NaN\) in column\(s\) \{'z': 1\}.*Pipeline"):
        forecaster(trainer_kwargs).fit(y, X=with_nan(X.iloc[:80], "z", [10]))
    fitted = forecaster(trainer_kwargs).fit(y, X=X.iloc[:80])
    with pytest.raises(ValueError, match=r"X has missing values.*\{'x': 2\}.*X\.ffill\(\)"):
        fitted.predict([1, 2], X=with_nan(X.iloc[80:], "x", [0, 1]))
    probabilistic = forecaster(trainer_kwargs, quantiles=[0.1, 0.5, 0.9]).fit(y, X=X.iloc[:80])
    with pytest.raises(ValueError, match=r"X has missing values.*\{'x': 1\}"):
        probabilistic.predict_interval([1], X=with_nan(X.iloc[80:], "x", [0]), coverage=0.8)


@pytest.mark.parametrize("dtype", ["object", "string", "category"])
def test_non_numeric_columns_name_the_columns_and_the_fix(trainer_kwargs, dtype):
    y = sine_frame(length=80, columns=("a", "b"))
    text_y = y.assign(b=y["b"].round(3).astype(str).astype(dtype))
    with pytest.raises(ValueError, match=r"y has non-numeric \(categorical\) column\(s\) \{'b': .*astype\(float\)"):
        forecaster(trainer_kwargs).fit(text_y)
    X = pd.DataFrame({"x": np.cos(np.arange(90) / 3.0), "day": ["mon", "tue", "wed"] * 30},
                     index=make_index("datetime", 90)).astype({"day": dtype})
    with pytest.raises(ValueError, match=r"X has non-numeric \(categorical\) column\(s\) \{'day': .*get_dummies"):
        forecaster(trainer_kwargs).fit(y, X=X.iloc[:80])
    # still the TypeError sktime's estimator checks expect
    with pytest.raises(TypeError, match="categorical"):
        forecaster(trainer_kwargs).fit(y, X=X.iloc[:80])
    fitted = forecaster(trainer_kwargs).fit(y, X=X[["x"]].iloc[:80])
    with pytest.raises(ValueError, match=r"X has non-numeric.*'x'"):
        fitted.predict([1], X=X[["x"]].iloc[80:].astype(str).astype(dtype))


def test_numeric_strings_are_fixed_by_astype_float(trainer_kwargs):
    y = sine_frame(length=80)
    text = y.astype(str)
    with pytest.raises(ValueError, match=r"astype\(float\)"):
        forecaster(trainer_kwargs).fit(text)
    pd.testing.assert_frame_equal(forecaster(trainer_kwargs).fit(text.astype(float)).predict([1, 2]),
                                  forecaster(trainer_kwargs).fit(y).predict([1, 2]))


def test_panel_saliency_groups_by_an_instance_level(trainer_kwargs):
    rows = []
    for region, store in [("north", "a"), ("north", "b"), ("south", "c")]:
        index = pd.MultiIndex.from_product([[region], [store], pd.RangeIndex(50)], names=["region", "store", "time"])
        rows.append(pd.DataFrame({"y": np.sin(np.arange(50) / (3.0 + len(rows)))}, index=index))
    y = pd.concat(rows)
    fitted = forecaster(trainer_kwargs).fit(y)
    summary = fitted.panel_saliency(groups="region")
    assert list(summary.lag_profile.columns) == ["north", "south"]
    assert summary.n_windows.to_dict() == {"north": 2, "south": 1}
    assert list(summary.importance.columns) == ["y"]
    by_store = fitted.panel_saliency(windows="all", groups=lambda key: key[1])
    assert by_store.n_windows.to_dict() == {"a": 50 - 32 + 1, "b": 50 - 32 + 1, "c": 50 - 32 + 1}
    with pytest.raises(ValueError, match="not an instance level of y"):
        fitted.panel_saliency(groups="city")
