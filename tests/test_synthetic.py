"""The synthetic saliency data sets: construction, ground-truth masks, splits, validation; the lag-copy series."""

from __future__ import annotations

import numpy as np
import pytest

from crossscale_ext.datasets.synthetic import SYN_SPECS, ground_truth_masks, lag_copy_series, make_syn, make_synthetic


def test_table_1_of_the_paper():
    assert list(SYN_SPECS) == [f"SYN{i}" for i in range(1, 9)]
    assert SYN_SPECS["SYN1"].lags == tuple(range(1, 16))
    assert SYN_SPECS["SYN2"].lags == (1, 2, 3, 4, 5, 9, 10, 15, 16, 18, 20, 25, 26, 35, 36, 50, 51, 52, 91, 92, 93,
                                      94, 95)
    assert SYN_SPECS["SYN7"].lags == (60,) + tuple(range(62, 70))
    assert SYN_SPECS["SYN8"].lags == tuple(range(48, 58)) + tuple(range(71, 78))
    assert SYN_SPECS["SYN8"].features == (0, 1, 2) and SYN_SPECS["SYN8"].noise == 0.11
    assert SYN_SPECS["SYN3"].features == (1, 2) and SYN_SPECS["SYN3"].noise == 0.08


def test_hand_computed_mask_of_a_two_step_forecast():
    # y_t depends on x0_{t-3}; window of 5 steps ending at T; steps T+1 and T+2.
    masks = ground_truth_masks([0], [3], n_features=2, input_length=5, horizon=2)
    expected = np.zeros((2, 5, 3), dtype=bool)
    expected[0, 5 - 3, 1] = True  # h=1: x0_{T-2} is window lag 3, row 2
    expected[1, 5 - 2, 1] = True  # h=2: x0_{T-1} is window lag 2, row 3
    np.testing.assert_array_equal(masks, expected)


def test_one_step_mask_is_the_table_and_multi_step_mask_widens_toward_lag_1():
    one_step = make_syn("SYN6", horizon=1, length=600)
    lags = [96 - row for row in np.flatnonzero(one_step.lag_mask)]
    assert sorted(lags) == list(range(48, 58))
    assert not one_step.mask[:, 0].any()  # the target's own past is not in the generator
    assert one_step.mask[:, [1, 3]].any(axis=0).all() and not one_step.mask[:, [2, 4, 5]].any()

    six_step = make_syn("SYN6", horizon=6, length=600)
    lags = [96 - row for row in np.flatnonzero(six_step.lag_mask)]
    assert sorted(lags) == list(range(43, 58))  # l - h + 1 for h = 1..6
    np.testing.assert_array_equal(six_step.mask, six_step.step_masks.any(axis=0))


def test_target_follows_the_documented_formula():
    ds = make_synthetic([0, 2], [2, 5], noise=0.0, length=300, input_length=8, horizon=2, seed=3)
    y = ds.target.values()[:, 0]
    x = ds.covariates.values()
    t = np.arange(10, 300)
    expected = (x[t - 2, 0] + x[t - 5, 0] + x[t - 2, 2] + x[t - 5, 2]) / np.sqrt(4)
    np.testing.assert_allclose(y[t], expected, atol=1e-5)


def test_noise_level_and_unit_variance_signal():
    ds = make_synthetic([1], [1, 2, 3], noise=0.5, length=20000, input_length=8, horizon=2, seed=0)
    assert ds.target.values().std() == pytest.approx(np.sqrt(1 + 0.25), rel=0.03)


def test_irreducible_mse_by_hand():
    # lags 1..4, horizon 3: steps 1, 2, 3 miss 0, 1, 2 of the 4 terms -> (0 + 1/4 + 2/4) / 3 + noise^2
    ds = make_synthetic([0], [1, 2, 3, 4], noise=0.1, length=400, input_length=8, horizon=3)
    assert ds.irreducible_mse == pytest.approx(0.25 + 0.01)
    assert make_syn("SYN6", length=400).irreducible_mse == pytest.approx(0.05**2)  # every lag >= horizon


def test_seeded_and_reproducible():
    a, b, c = make_syn("SYN2", seed=5, length=500), make_syn("SYN2", seed=5, length=500), make_syn("SYN2", seed=6,
                                                                                                  length=500)
    np.testing.assert_array_equal(a.values(), b.values())
    assert not np.allclose(a.values(), c.values())


def test_splits_and_windows():
    ds = make_syn("SYN1", length=400, horizon=6, train_fraction=0.7)
    assert ds.train_end == 280 and len(ds.train_target) == 280 and len(ds.test_target) == 120
    assert ds.test_covariates.start_time() == ds.test_target.start_time() == 280
    inputs, targets = ds.windows("test")
    assert inputs.shape == (120 - 96 - 6 + 1, 96, 6) and targets.shape == (19, 6, 1)
    values = ds.values()
    np.testing.assert_array_equal(inputs[3], values[283:379])
    np.testing.assert_array_equal(targets[3, :, 0], values[379:385, 0])
    np.testing.assert_allclose(ds.train_mean(), values[:280].mean(axis=0), rtol=1e-6)
    with pytest.raises(ValueError, match="part must be"):
        ds.windows("validation")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"important_features": [5]}, "important_features must hold integers in"),
        ({"important_features": []}, "must not be empty"),
        ({"important_lags": [0, 3]}, "important_lags must hold integers in"),
        ({"important_lags": [97]}, "important_lags must hold integers in"),
        ({"important_lags": [3, 3]}, "duplicates"),
        ({"noise": -0.1}, "noise must be"),
        ({"length": 150}, "use length >="),
        ({"covariate_ar": 1.0}, "covariate_ar"),
        ({"horizon": 0}, "horizon must be"),
    ],
)
def test_validation(kwargs, message):
    params = {"important_features": [0], "important_lags": [1, 2], "noise": 0.1} | kwargs
    with pytest.raises(ValueError, match=message):
        make_synthetic(**params)


def test_make_syn_rejects_unknown_names_and_fixed_parameters():
    with pytest.raises(ValueError, match="choose one of"):
        make_syn("SYN9")
    with pytest.raises(TypeError, match="make_synthetic"):
        make_syn("SYN1", noise=0.5)
    assert make_syn("syn3", length=400).name == "SYN3"


def test_autoregressive_covariates_keep_a_unit_variance_signal():
    ds = make_synthetic([0], [1, 2], noise=0.0, length=5000, input_length=8, horizon=2, covariate_ar=0.8)
    assert ds.target.values().std() == pytest.approx(1.0, rel=1e-3)
    assert np.corrcoef(ds.covariates.values()[1:, 0], ds.covariates.values()[:-1, 0])[0, 1] > 0.7


def test_darts_path_windows_match_saliency_windows():
    from support import tiny_model

    ds = make_synthetic([0, 1], [3, 9], noise=0.05, length=300, input_length=32, horizon=4, seed=0)
    model = tiny_model(output_chunk_length=4, d_model=8)
    model.fit(ds.train_target, past_covariates=ds.train_covariates)
    result = model.saliency(ds.test_target, past_covariates=ds.test_covariates, windows="all", maps="all")
    inputs, targets = ds.windows("test")
    assert result.per_component.shape == inputs.shape
    assert result.per_component.shape[1:] == ds.mask.shape
    assert result.component_names == ds.component_names
    network = model.model.network.eval()
    import torch

    with torch.no_grad():
        forecast = network(torch.as_tensor(inputs)).forecast[..., 0].numpy()
    np.testing.assert_allclose(forecast, result.forecast, atol=1e-4)
    assert result.forecast_index[0, 0] == ds.train_end + 32


def test_lag_copy_series_follows_its_formula():
    series = lag_copy_series(5, length=40, seed=2)
    assert len(series) == 40 and series.dtype == np.float32 and series.n_components == 1
    y = series.values()[:, 0].astype(float)
    rng = np.random.default_rng(2)
    first = rng.normal(size=5)
    noise = rng.normal(size=35)
    np.testing.assert_allclose(y[:5], first, rtol=1e-6)
    np.testing.assert_allclose(y[5:], 0.95 * y[:-5] + 0.3 * noise, rtol=1e-5, atol=1e-6)
    copied = lag_copy_series(5, length=40, seed=2, coefficient=1.0, noise=0.0).values()[:, 0]
    np.testing.assert_array_equal(copied[5:], copied[:-5])  # a pure copy repeats every 5 steps
    with pytest.raises(ValueError, match="length >= 4 \\* lag"):
        lag_copy_series(48, length=100)
