"""Saliency of a seed ensemble: the gradient maps of the mean forecast of several fitted models.

The gradient of a mean forecast is the mean of the members' signed gradients; the tests check the pass against
that identity (computed from each model alone), the checks of the members, and the sktime forecaster's
``saliency(ensemble=...)``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from support import assert_float32_close, assert_frames_close, noisy_sine, tiny_model

from crossscale_ext import CrossScaleNetForecaster
from crossscale_ext.explainability import SaliencyRequest, _prepare_pass, point_forecast


@pytest.fixture(scope="module")
def trio():
    series = noisy_sine(length=200, n_components=2)
    target, past = series["c0"], series["c1"]
    models = [tiny_model(random_state=seed).fit(target, past_covariates=past) for seed in (0, 1, 2)]
    return models, target, past


def _signed_gradient(model, target, past, stride: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Inputs, point forecast and signed ``d sum(forecast) / d input`` of one model alone, every stride-th window."""
    from darts.utils.data.torch_datasets.utils import _batch_collate_fn_predict

    plan = _prepare_pass(model, target, past, None, SaliencyRequest(windows="all", stride=stride, maps="gradient"),
                         stacklevel=2)
    batch = _batch_collate_fn_predict([plan.dataset[j] for j in range(len(plan.dataset))])
    inputs = torch.cat([batch.past_target, batch.past_covariates], dim=2).float().requires_grad_(True)
    network = model.model.network
    network.eval()
    forecast = point_forecast(model, inputs, batch.past_target.shape[2])[2]
    (grad,) = torch.autograd.grad(forecast.sum(), inputs)
    return inputs.detach().numpy(), forecast.detach().numpy(), grad.numpy()


def test_the_ensemble_maps_are_those_of_the_mean_forecast(trio):
    models, target, past = trio
    result = models[0].saliency(target, past_covariates=past, windows="all", stride=5, inputs=True,
                                maps=("gradient", "aligned_input_x_gradient"), ensemble=models[1:])
    parts = [_signed_gradient(m, target, past, stride=5) for m in models]
    inputs = parts[0][0]
    forecast = np.mean([p[1] for p in parts], axis=0)
    grad = np.mean([p[2] for p in parts], axis=0)
    assert result.metadata["ensemble_size"] == 3
    assert_float32_close(result.forecast, forecast)
    assert_float32_close(result.inputs, inputs)
    assert_float32_close(result.gradient, np.abs(grad))
    contribution = (inputs - inputs.mean(axis=1, keepdims=True)) * grad
    aligned = np.clip(contribution * np.sign(contribution.sum(axis=(1, 2), keepdims=True)), 0.0, None)
    assert_float32_close(result.aligned_input_x_gradient, aligned)
    # not a single member's map
    assert not np.allclose(result.gradient, np.abs(parts[0][2]), rtol=1e-2)


def test_defaults_without_an_ensemble_are_unchanged_and_the_defaults_with_one_are_gradient_maps(trio):
    models, target, past = trio
    alone = models[0].saliency(target, past_covariates=past)
    assert alone.metadata["ensemble_size"] == 1 and alone.per_step is not None
    last = models[0].saliency(target, past_covariates=past, ensemble=[models[1]])
    assert last.gradient is not None and last.input_x_gradient is not None and last.aligned_input_x_gradient is not None
    assert last.per_step is None and last.paper is None and last.per_component is None
    every = models[0].saliency(target, past_covariates=past, windows="all", ensemble=[models[1]])
    assert every.gradient is not None and every.input_x_gradient is None
    chunks = list(models[0].iter_saliency(target, past_covariates=past, ensemble=[models[1]], windows_per_chunk=40))
    assert_float32_close(np.concatenate([c.gradient for c in chunks]), every.gradient)


def test_an_ensemble_of_one_extra_copy_of_the_same_weights_gives_the_single_model_maps(trio):
    models, target, past = trio
    twin = tiny_model(random_state=0).fit(target, past_covariates=past)  # the same seed: the same weights
    alone = models[0].saliency(target, past_covariates=past, maps="gradient")
    paired = models[0].saliency(target, past_covariates=past, maps="gradient", ensemble=[twin])
    assert_float32_close(paired.gradient, alone.gradient)
    assert_float32_close(paired.forecast, alone.forecast)


def test_bad_ensembles_are_refused_with_the_reason(trio):
    models, target, past = trio
    model = models[0]
    with pytest.raises(ValueError, match="attention"):
        model.saliency(target, past_covariates=past, maps="per_step", ensemble=[models[1]])
    with pytest.raises(ValueError, match="gradients=False"):
        model.saliency(target, past_covariates=past, gradients=False, ensemble=[models[1]])
    with pytest.raises(ValueError, match="itself"):
        model.saliency(target, past_covariates=past, ensemble=[model])
    with pytest.raises(ValueError, match="twice"):
        model.saliency(target, past_covariates=past, ensemble=[models[1], models[1]])
    with pytest.raises(TypeError, match="list of fitted models"):
        model.saliency(target, past_covariates=past, ensemble=models[1])
    with pytest.raises(TypeError, match="every member must be"):
        model.saliency(target, past_covariates=past, ensemble=["model"])
    with pytest.raises(ValueError, match="must be fitted"):
        model.saliency(target, past_covariates=past, ensemble=[tiny_model()])
    other_window = tiny_model(input_chunk_length=16, base_patch_length=4).fit(target, past_covariates=past)
    with pytest.raises(ValueError, match="input_chunk_length 16"):
        model.saliency(target, past_covariates=past, ensemble=[other_window])
    no_covariates = tiny_model().fit(target)
    with pytest.raises(ValueError, match="uses_past_covariates"):
        model.saliency(target, past_covariates=past, ensemble=[no_covariates])


def test_members_are_left_as_they_were(trio):
    models, target, past = trio
    member = models[1]
    member.model.network.train()
    try:
        models[0].saliency(target, past_covariates=past, ensemble=[member])
        assert member.model.network.training
        assert all(p.grad is None for p in member.model.parameters())
    finally:
        member.model.network.eval()


def test_sktime_forecaster_saliency_of_an_ensemble():
    index = pd.period_range("2000-01", periods=120, freq="M")
    y = pd.Series(np.sin(np.arange(120) / 4.0) + 0.05 * np.random.default_rng(0).normal(size=120), index=index)
    X = pd.DataFrame({"x": np.cos(np.arange(120) / 7.0)}, index=index)
    settings = dict(input_chunk_length=32, output_chunk_length=8, n_scales=3, base_patch_length=8,
                    moving_avg_kernel=7, d_model=16, n_epochs=1)
    forecasters = [CrossScaleNetForecaster(**settings, random_state=seed).fit(y, X=X) for seed in (0, 1)]
    frame = forecasters[0].saliency(ensemble=forecasters[1:])
    alone = [f.saliency() for f in forecasters]
    assert list(frame.columns) == list(alone[0].columns) and frame.index.equals(alone[0].index)
    assert not np.allclose(frame.to_numpy(), alone[0].to_numpy(), rtol=1e-2)
    twin = forecasters[0].clone().fit(y, X=X)  # same seed, same weights: the ensemble's map is the model's own
    assert_frames_close(forecasters[0].saliency(ensemble=[twin]), alone[0])
    all_windows = forecasters[0].saliency(windows="all", ensemble=forecasters[1:])
    assert all_windows.index.equals(forecasters[0].saliency(windows="all").index)
    with pytest.raises(ValueError, match="attention"):
        forecasters[0].saliency(kind="per_step", ensemble=forecasters[1:])
    with pytest.raises(TypeError, match="CrossScaleNetForecaster"):
        forecasters[0].saliency(ensemble=[forecasters[1].darts_model_])
    other = CrossScaleNetForecaster(**settings, random_state=2).fit(y)
    with pytest.raises(ValueError, match="columns"):
        forecasters[0].saliency(ensemble=[other])


def test_check_saliency_of_an_ensemble(trio):
    models, target, past = trio
    check = models[0].check_saliency(target, past_covariates=past, n_windows=20, ensemble=models[1:])
    assert check.ensemble_size == 3 and "ensemble of 3 models" in check.verdict
    assert all(a.ensemble_size == 3 for a in check.alternatives.values())
    # an ensemble of the model and a copy of its weights is the model: the same deletion effects
    twin = tiny_model(random_state=0).fit(target, past_covariates=past)
    alone = models[0].check_saliency(target, past_covariates=past, n_windows=20, kind="gradient")
    paired = models[0].check_saliency(target, past_covariates=past, n_windows=20, kind="gradient", ensemble=[twin])
    for f in alone.fractions:
        assert paired.deletion[f] == pytest.approx(alone.deletion[f], rel=1e-4)
        assert paired.random[f] == pytest.approx(alone.random[f], rel=1e-4)
    with pytest.raises(ValueError, match="not both"):
        models[0].check_saliency(target, past_covariates=past, seeds_models=[models[1]], ensemble=[models[2]])
    with pytest.raises(ValueError, match="attention"):
        models[0].check_saliency(target, past_covariates=past, kind="per_step", ensemble=[models[1]])


def test_sktime_check_saliency_of_an_ensemble():
    index = pd.period_range("2000-01", periods=120, freq="M")
    y = pd.Series(np.sin(np.arange(120) / 4.0) + 0.05 * np.random.default_rng(0).normal(size=120), index=index)
    settings = dict(input_chunk_length=32, output_chunk_length=8, n_scales=3, base_patch_length=8,
                    moving_avg_kernel=7, d_model=16, n_epochs=1)
    forecasters = [CrossScaleNetForecaster(**settings, random_state=seed).fit(y) for seed in (0, 1)]
    check = forecasters[0].check_saliency(n_windows=10, ensemble=forecasters[1:])
    assert check.ensemble_size == 2
    with pytest.raises(ValueError, match="attention"):
        forecasters[0].check_saliency(kind="per_step", ensemble=forecasters[1:])
