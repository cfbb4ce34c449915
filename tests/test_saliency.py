"""Saliency from CrossScaleNetModel: shapes, sums, time alignment, every window, the Darts explain layout."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from darts import TimeSeries
from darts.utils.timeseries_generation import linear_timeseries
from support import TINY, assert_float32_close, noisy_sine

from crossscale_ext import CrossScaleNet, CrossScaleNetModel, SaliencyResult, ShortHorizonWarning
from crossscale_ext.saliency import attention_is_informative, attention_maps

SMALL = TINY  # 32 input steps, 8 forecast steps, 3 scales of 8-step patches (4 patches)


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
    maps = attention_maps(net, x, net(x))
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
    # the recommended map first; the attention maps' columns say they are attention
    assert list(frame.columns) == [
        "gradient", "input_x_gradient", "aligned_input_x_gradient", "attention_paper", "attention_per_step",
        "attention_per_component", "gradient:c0", "gradient:c1", "gradient:linear",
    ]
    np.testing.assert_allclose(frame["gradient"], result.gradient[0].sum(axis=1), rtol=1e-6)
    np.testing.assert_allclose(frame[["gradient:c0", "gradient:c1", "gradient:linear"]], result.gradient[0])
    assert frame.index.equals(pd.DatetimeIndex(series.time_index[-32:], name="time"))
    every_cell = result.to_dataframe(components="all")
    assert [c for c in every_cell.columns if c.startswith("attention_per_component:")] == [
        "attention_per_component:c0", "attention_per_component:c1", "attention_per_component:linear"
    ]
    with pytest.raises(ValueError, match="components must be"):
        result.to_dataframe(components="paper")
    ts = result.to_timeseries()
    assert ts.time_index.equals(series.time_index[-32:]) and ts.width == 9


def test_every_window_matches_historical_forecasts(fitted):
    model, series, past = fitted
    result = model.saliency(series, past_covariates=past, windows="all", maps="all")
    forecasts = model.historical_forecasts(series, past_covariates=past, forecast_horizon=8, retrain=False,
                                           last_points_only=False, verbose=False)
    assert result.n_windows == len(forecasts) == 160 - 32 - 8 + 1
    for w in (0, 57, result.n_windows - 1):
        np.testing.assert_array_equal(result.forecast_index[w], forecasts[w].time_index.to_numpy())
        np.testing.assert_allclose(result.forecast[w], forecasts[w].values(), rtol=1e-4, atol=1e-5)
        # the input window ends right before the forecast starts
        assert result.input_index[w][-1] + series.freq == result.forecast_index[w][0]
    # nothing lost between batches: a batch size that does not divide the window count gives the same maps
    again = model.saliency(series, past_covariates=past, windows="all", batch_size=7, maps="all")
    assert_float32_close(again.per_component, result.per_component)
    assert_float32_close(again.gradient, result.gradient)
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
    assert list(attention.components) == ["gradient", "attention_paper", "attention_per_step"]
    np.testing.assert_allclose(attention.values()[32:], 0.0)
    importance = explanation.get_encoder_importance()
    assert list(importance.columns) == ["c0", "c1", "linear"] and importance.columns.name == "gradient"
    np.testing.assert_allclose(importance.to_numpy().sum(), 1.0, rtol=1e-5)
    # the importance is each input component's share of the gradient map (the recommended map)
    gradient = explanation.get_saliency().gradient[-1].sum(axis=0)
    np.testing.assert_allclose(importance.to_numpy()[0], gradient / gradient.sum(), rtol=1e-5)
    over_time = explanation.get_encoder_importance_over_time()
    assert over_time.time_index.equals(series.time_index[-32:])
    assert list(over_time.components) == ["c0", "c1", "linear"]
    np.testing.assert_allclose(over_time.values(), explanation.get_saliency().gradient[-1])
    assert isinstance(explanation.get_saliency(), SaliencyResult)


def test_integer_indexed_series_align(trainer_kwargs):
    series = TimeSeries.from_values(noisy_sine(length=120).values(), )
    model = CrossScaleNetModel(**SMALL, pl_trainer_kwargs=trainer_kwargs).fit(series)
    result = model.saliency(windows="all")
    assert result.input_index[0].tolist() == list(range(32))
    assert result.forecast_index[-1].tolist() == list(range(112, 120))


def test_lag_profile_and_importance(fitted):
    model, series, past = fitted
    result = model.saliency(series, past_covariates=past, windows="all")
    profile = result.lag_profile("per_step")
    np.testing.assert_allclose(profile, result.per_step.mean(axis=0)[::-1])
    with pytest.raises(ValueError, match="kind must be one of"):
        result.lag_profile("nonsense")
    importance = result.importance()
    assert importance.shape == (result.n_windows, 3)
    np.testing.assert_allclose(importance.sum(axis=1), 1.0, rtol=1e-4)
    with pytest.raises(IndexError, match="out of range"):
        result.to_dataframe(window=result.n_windows)


# ---------------------------------------------------------------------------------------------- gradient maps
def _manual_gradient(model, series, past, signed: bool = False):
    """|d sum(forecast) / d input| (or the signed derivative) of the last window, by autograd through the module."""
    module = model.model.eval()
    values = np.concatenate([series.values()[-32:], past.values()[-32:]], axis=1)
    inputs = torch.tensor(values[None], dtype=torch.float32, requires_grad=True)
    from darts.utils.data.torch_datasets.utils import PLModuleInput

    x_in = PLModuleInput(past_target=inputs[:, :, :2], past_covariates=inputs[:, :, 2:],
                         historic_future_covariates=None, future_covariates=None, static_covariates=None)
    module(x_in).prediction[..., 0].sum().backward()
    module.zero_grad(set_to_none=True)
    module.train()  # Darts shares its default loss module between models: leave it in train mode
    grad = inputs.grad[0].numpy()
    return (grad if signed else np.abs(grad)), values


def test_gradient_map_is_the_gradient_of_the_forecast(fitted):
    model, series, past = fitted
    result = model.saliency()
    expected, values = _manual_gradient(model, series, past)
    assert result.gradient.shape == result.input_x_gradient.shape == (1, 32, 3)
    np.testing.assert_allclose(result.gradient[0], expected, rtol=1e-4, atol=1e-7)
    centred = values - values.mean(axis=0, keepdims=True)
    np.testing.assert_allclose(result.input_x_gradient[0], np.abs(centred * expected), rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(result.temporal_map("gradient")[0], expected.sum(axis=1), rtol=1e-4, atol=1e-7)
    # the aligned map: the signed contributions that agree with their sum over the window, the others 0
    signed, _ = _manual_gradient(model, series, past, signed=True)
    contribution = centred * signed
    aligned = np.clip(contribution * np.sign(contribution.sum()), 0, None)
    assert_float32_close(result.aligned_input_x_gradient[0], aligned)
    assert (result.aligned_input_x_gradient[0] <= result.input_x_gradient[0] * (1 + 1e-4) + 1e-9).all()


def test_gradient_map_with_darts_reversible_instance_norm(trainer_kwargs):
    """With Darts' RINorm the map is taken with respect to the raw input, the norm inside the graph.

    As in training, the normalisation statistics are constants of the graph (both instance norms detach them).
    """
    from darts.utils.data.torch_datasets.utils import PLModuleInput

    series = noisy_sine(length=160)
    model = CrossScaleNetModel(**SMALL, use_reversible_instance_norm=True, pl_trainer_kwargs=trainer_kwargs).fit(series)
    result = model.saliency()
    raw = torch.tensor(series.values()[None, -32:], dtype=torch.float32, requires_grad=True)
    x_in = PLModuleInput(past_target=raw, past_covariates=None, historic_future_covariates=None,
                         future_covariates=None, static_covariates=None)
    model.model.eval()(x_in).prediction.sum().backward()  # io_processor applies RINorm inside forward
    model.model.train()
    np.testing.assert_allclose(result.gradient[0], raw.grad.abs()[0].numpy(), rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(result.forecast[0], model.predict(8).values(), rtol=1e-4, atol=1e-5)


def test_saliency_leaves_the_model_unchanged(fitted):
    model, series, past = fitted
    module = model.model
    module.train()
    module.zero_grad(set_to_none=True)
    before = {name: p.detach().clone() for name, p in module.named_parameters()}
    model.saliency(series, past_covariates=past, windows="all")
    assert module.training and all(m.training for m in module.modules())  # train / eval state restored
    assert all(p.grad is None for p in module.parameters())  # no parameter gradients kept
    for name, p in module.named_parameters():
        assert torch.equal(p, before[name]), name
    module.eval()
    # with MC dropout a forecast would change from call to call; saliency switches it off
    first, second = model.saliency().gradient, model.saliency().gradient
    module.train()
    np.testing.assert_array_equal(first, second)


def test_gradients_can_be_switched_off(fitted):
    model, series, past = fitted
    result = model.saliency(gradients=False)
    assert result.gradient is None and result.input_x_gradient is None
    assert "gradient" not in result.available_maps
    assert list(result.to_dataframe().columns) == [
        "attention_paper", "attention_per_step", "attention_per_component",
        "attention_per_component:c0", "attention_per_component:c1", "attention_per_component:linear",
    ]
    with pytest.raises(ValueError, match="gradients=True"):
        result.component_map("gradient")
    with pytest.raises(ValueError, match="gradients must be True or False"):
        model.saliency(gradients="yes")
    explanation = model.explain(gradients=False)
    assert list(explanation.get_attention().components) == ["attention_paper", "attention_per_step"]


def test_gradient_map_of_a_quantile_model_follows_the_median(trainer_kwargs):
    from darts.utils.likelihood_models.torch import QuantileRegression

    series = noisy_sine(length=160)
    model = CrossScaleNetModel(**SMALL, likelihood=QuantileRegression([0.1, 0.5, 0.9]),
                               pl_trainer_kwargs=trainer_kwargs).fit(series)
    result = model.saliency()
    median = model.predict(8, predict_likelihood_parameters=True).values()[:, 1]
    np.testing.assert_allclose(result.forecast[0, :, 0], median, rtol=1e-4, atol=1e-5)
    assert np.isfinite(result.gradient).all() and result.gradient.max() > 0


def test_result_repr_is_short(fitted):
    model, series, past = fitted
    text = repr(model.saliency(series, past_covariates=past, windows="all"))
    assert len(text.splitlines()) == 1 and "windows=121" in text and "gradient" in text


def test_component_views_of_every_map(fitted):
    model, series, past = fitted
    result = model.saliency(series, past_covariates=past, windows="all", maps="all")
    prefix = {"per_component": "attention_per_component", "gradient": "gradient",
              "input_x_gradient": "input_x_gradient"}
    for kind in ("per_component", "gradient", "input_x_gradient"):
        frame = result.to_dataframe(components=kind)
        columns = [f"{prefix[kind]}:{c}" for c in ("c0", "c1", "linear")]
        np.testing.assert_allclose(frame[columns].to_numpy(), result.component_map(kind)[-1], rtol=1e-6)
        shares = result.importance(kind)
        np.testing.assert_allclose(shares.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(result.lag_profile("gradient"), result.gradient.sum(axis=2).mean(axis=0)[::-1],
                               rtol=1e-6)
    with pytest.raises(ValueError, match="kind must be one of"):
        result.component_map("paper")


def test_every_reduction_defaults_to_the_recommended_map(fitted):
    """lag_profile, temporal_map, component_map, importance and to_dataframe read RECOMMENDED_MAP by default."""
    from crossscale_ext import RECOMMENDED_MAP

    assert RECOMMENDED_MAP == "gradient"
    model, series, past = fitted
    result = model.saliency(series, past_covariates=past, windows="all")
    np.testing.assert_array_equal(result.temporal_map(), result.temporal_map(RECOMMENDED_MAP))
    np.testing.assert_array_equal(result.component_map(), result.gradient)
    np.testing.assert_array_equal(result.lag_profile(), result.gradient.sum(axis=2).mean(axis=0)[::-1])
    pd.testing.assert_frame_equal(result.importance(), result.importance(RECOMMENDED_MAP))
    cells = [c for c in result.to_dataframe().columns if ":" in c]
    assert cells == ["gradient:c0", "gradient:c1", "gradient:linear"]


def test_all_windows_default_keeps_the_recommended_and_temporal_attention_maps(fitted):
    """windows="all" keeps less by default (memory); maps="all" and inputs=True keep everything."""
    model, series, past = fitted
    lean = model.saliency(series, past_covariates=past, windows="all")
    assert lean.available_maps == ("gradient", "paper", "per_step")
    assert lean.inputs is None and not lean.has_raw_attention
    full = model.saliency(series, past_covariates=past, windows="all", maps="all", inputs=True)
    assert full.available_maps == (
        "gradient", "input_x_gradient", "aligned_input_x_gradient", "paper", "per_step", "per_component"
    )
    assert full.has_raw_attention and full.inputs.shape == (full.n_windows, 32, 3)
    for name in lean.available_maps:
        np.testing.assert_array_equal(getattr(lean, name), getattr(full, name))
    last = model.saliency()  # the last window keeps every map and its inputs
    assert last.available_maps == full.available_maps and last.inputs is not None
    attention_only = model.saliency(series, past_covariates=past, windows="all", gradients=False)
    assert attention_only.available_maps == ("paper", "per_step")
    with pytest.raises(ValueError, match="inputs must be None, True or False"):
        model.saliency(inputs="yes")


def test_explainer_class_like_tft_explainer(fitted, trainer_kwargs):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from crossscale_ext import CrossScaleNetExplainer

    model, series, past = fitted
    explainer = CrossScaleNetExplainer(model)
    result = explainer.explain()
    expected = model.explain()
    np.testing.assert_array_equal(result.get_attention().values(), expected.get_attention().values())
    pd.testing.assert_frame_equal(result.get_encoder_importance(), expected.get_encoder_importance())
    # a foreground series and its covariates, as with TFTExplainer
    other = explainer.explain(series[:120], foreground_past_covariates=past[:120])
    assert other.get_attention().end_time() == series.time_index[119] + 8 * series.freq
    fig = explainer.plot_variable_selection(result, show_plot=False)
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] != [] and "gradient" in fig.axes[0].get_xlabel()
    plt.close(fig)
    fig = explainer.plot_attention(result, plot_type="all", show_plot=False)
    lines = fig.axes[0].get_lines()
    assert [line.get_label() for line in lines] == ["gradient", "attention_paper", "attention_per_step"]
    assert lines[0].get_xdata()[0] == -32 and len(fig.axes[1].images) == 1
    plt.close(fig)
    with pytest.raises(ValueError, match="horizons and target_components"):
        explainer.explain(horizons=[1])
    with pytest.raises(ValueError, match="plot_type must be"):
        explainer.plot_attention(result, plot_type="bars", show_plot=False)
    with pytest.raises(ValueError, match="explains a fitted CrossScaleNetModel; got NaiveSeasonal"):
        from darts.models import NaiveSeasonal

        CrossScaleNetExplainer(NaiveSeasonal().fit(series))
    several = CrossScaleNetModel(**SMALL, pl_trainer_kwargs=trainer_kwargs).fit([series[:100], series[50:]])
    with pytest.raises(ValueError, match="background"):
        CrossScaleNetExplainer(several)  # fit on several series: the background must be given
    both = CrossScaleNetExplainer(several, background_series=[series[:100], series[50:]]).explain()
    assert len(both.get_attention()) == 2


def test_many_series_are_batched_together_with_the_per_series_values(trainer_kwargs):
    """The pass batches windows across series (as predict does); each series' result equals its own pass."""
    panel = [noisy_sine(length=60, seed=i, start=f"2024-0{1 + i % 9}-01") for i in range(12)]
    model = CrossScaleNetModel(**SMALL | {"batch_size": 5}, pl_trainer_kwargs=trainer_kwargs).fit(panel[:3])
    together = model.saliency(panel)
    assert [r.metadata["series_index"] for r in together] == list(range(12))
    for i, result in enumerate(together):
        alone = model.saliency(panel[i])
        np.testing.assert_array_equal(result.input_index, alone.input_index)
        for name in ("gradient", "per_step", "forecast"):
            assert_float32_close(getattr(result, name), getattr(alone, name))
    every = model.saliency(panel, windows="all")
    chunks = list(model.iter_saliency(panel, windows_per_chunk=10))  # blocks that cross series boundaries
    assert sum(c.n_windows for c in chunks) == sum(r.n_windows for r in every)
    for i, result in enumerate(every):
        mine = [c for c in chunks if c.metadata["series_index"] == i]
        assert [c.metadata["first_window"] for c in mine] == list(np.cumsum([0] + [c.n_windows for c in mine[:-1]]))
        assert_float32_close(np.concatenate([c.gradient for c in mine]), result.gradient)


def test_panel_saliency_sums_every_series_per_group(trainer_kwargs):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panel = [noisy_sine(length=60, seed=i, n_components=2) for i in range(6)]
    model = CrossScaleNetModel(**SMALL | {"batch_size": 4}, pl_trainer_kwargs=trainer_kwargs).fit(panel[:2])
    groups = ["north", "south"] * 3
    summary = model.panel_saliency(panel, groups=groups, windows="all", windows_per_chunk=7)
    results = model.saliency(panel, windows="all", maps="gradient")
    for group in ("north", "south"):
        mine = [r for r, g in zip(results, groups) if g == group]
        gradient = np.concatenate([r.gradient for r in mine])
        assert summary.n_windows[group] == len(gradient)
        assert_float32_close(summary.lag_profile[group].to_numpy(), gradient.sum(axis=2).mean(axis=0)[::-1])
        shares = gradient.sum(axis=(0, 1)) / gradient.sum()
        assert_float32_close(summary.importance.loc[group].to_numpy(), shares)
    assert list(summary.importance.columns) == ["c0", "c1"] and summary.kind == "gradient"
    overall = model.panel_saliency(panel)  # the last windows, one group
    assert list(overall.lag_profile.columns) == ["all"] and overall.n_windows["all"] == 6
    attention = model.panel_saliency(panel, kind="per_step")
    assert attention.importance is None and attention.lag_profile["all"].sum() == pytest.approx(1.0, rel=1e-5)
    fig = summary.plot()
    assert len(fig.axes) >= 2
    plt.close(fig)
    with pytest.raises(ValueError, match="one label per series"):
        model.panel_saliency(panel, groups=["a"])
    with pytest.raises(ValueError, match="kind must be one of"):
        model.panel_saliency(panel, kind="raw_attention")


def test_the_last_windows_of_many_series_go_through_few_batches(trainer_kwargs, monkeypatch):
    """12 series, batch size 5: 3 batched passes (one pass per series before the pass batched across series)."""
    from crossscale_ext import explainability

    panel = [noisy_sine(length=60, seed=i) for i in range(12)]
    model = CrossScaleNetModel(**SMALL | {"batch_size": 5}, pl_trainer_kwargs=trainer_kwargs).fit(panel[:2])
    batches = []
    original = explainability._explain_batch
    monkeypatch.setattr(explainability, "_explain_batch",
                        lambda *args, **kwargs: batches.append(1) or original(*args, **kwargs))
    results = model.saliency(panel)
    assert len(results) == 12 and len(batches) == 3
    batches.clear()
    chunks = list(model.iter_saliency(panel, windows="last", windows_per_chunk=5))
    assert [c.metadata["series_index"] for c in chunks] == list(range(12)) and len(batches) == 3
