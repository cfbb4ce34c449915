"""``crossscale_ext.faithfulness``: the deletion check of a fitted model's saliency map, and its helpers."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from support import noisy_sine, tiny_model

from crossscale_ext.faithfulness import (
    CHECKABLE_MAPS,
    COMPARED_MAPS,
    SaliencyCheck,
    _rank,
    check_saliency,
    deletion_effects,
    lag_profile,
    rank_correlation,
    recency_map,
    seed_stability,
    top_overlap,
)
from crossscale_ext.metrics import random_saliency

VERDICTS = ("trustworthy on this data", "partly trustworthy on this data", "no better than recency on this data",
            "no better than random on this data", "unstable across retrained models")


# ------------------------------------------------------------------------------------------- numpy helpers
def _last_steps_forecast(x: np.ndarray) -> np.ndarray:
    """A forecast that rests on exactly three cells: the last three steps of channel 0."""
    return x[:, -3:, 0].sum(axis=1, keepdims=True)


@pytest.fixture
def windows() -> np.ndarray:
    return np.random.default_rng(1).normal(size=(400, 20, 3)).astype(np.float32)


def test_a_map_on_the_cells_the_forecast_rests_on_beats_random(windows):
    oracle = np.zeros(windows.shape)
    oracle[:, -3:, 0] = 1.0
    fractions = (0.05, 0.1)  # 3 and 6 of the 60 cells
    mine = deletion_effects(_last_steps_forecast, windows, oracle, fractions)
    random = deletion_effects(_last_steps_forecast, windows, random_saliency(windows.shape, seed=3), fractions)
    # removing exactly the three cells replaces their sum by three window means
    expected = np.abs(windows[:, -3:, 0].sum(axis=1) - 3 * windows[:, :, 0].mean(axis=1)).mean()
    assert mine["del@0.05"] == pytest.approx(expected, rel=1e-5)
    assert mine["del@0.05"] > 5 * random["del@0.05"]
    # keeping only them recovers the forecast exactly; random cells recover little of it
    assert mine["ins@0.05"] == pytest.approx(1.0)
    assert random["ins@0.05"] < 0.5


def test_random_against_random_is_about_one(windows):
    first = deletion_effects(_last_steps_forecast, windows, random_saliency(windows.shape, seed=10), (0.1, 0.2))
    second = deletion_effects(_last_steps_forecast, windows, random_saliency(windows.shape, seed=11), (0.1, 0.2))
    for fraction in (0.1, 0.2):
        assert first[f"del@{fraction:g}"] / second[f"del@{fraction:g}"] == pytest.approx(1.0, abs=0.25)


def test_recency_map_is_the_oracle_of_a_last_steps_forecast(windows):
    recency = recency_map(windows.shape)
    assert recency.shape == windows.shape
    assert (np.diff(recency, axis=1) > 0).all() and (recency[:, :, 0] == recency[:, :, 2]).all()
    # 5 % of 60 cells = 3 cells, all at the last step: one of them (channel 0) matters on average
    scores = deletion_effects(_last_steps_forecast, windows, recency, (0.05, 0.15), targets=np.zeros((400, 1)))
    assert scores["ins@0.15"] == pytest.approx(1.0)  # the last three steps, every channel, are kept
    assert "dmse@0.05" in scores


def test_carry_reference_keeps_the_last_kept_value(windows):
    oracle = np.zeros(windows.shape)
    oracle[:, -1, 0] = 1.0
    scores = deletion_effects(_last_steps_forecast, windows, oracle, (0.01,), reference="carry")
    assert scores["del@0.01"] == pytest.approx(np.abs(windows[:, -1, 0] - windows[:, -2, 0]).mean(), rel=1e-5)


def test_rank_agreement_helpers():
    rng = np.random.default_rng(0)
    a = rng.random((5, 10, 2))
    assert np.allclose(rank_correlation(a, a), 1.0)
    assert np.allclose(rank_correlation(a, -a), -1.0)
    assert np.isnan(rank_correlation(np.ones((1, 4)), a[:1, :2, :2].reshape(1, 4))).all()
    assert np.allclose(top_overlap(a, a, 0.1), 1.0)
    assert lag_profile(a).shape == (10,)
    same = seed_stability([a, a])
    assert same == pytest.approx({"seed_spearman": 1.0, "seed_topk": 1.0, "seed_profile": 1.0})
    unrelated = seed_stability([rng.random((200, 10, 2)), rng.random((200, 10, 2))])
    assert abs(unrelated["seed_spearman"]) < 0.1
    assert np.isnan(seed_stability([a])["seed_spearman"])
    with pytest.raises(ValueError, match="different shapes"):
        seed_stability([a, a[:2]])


def test_helpers_reject_bad_input(windows):
    with pytest.raises(ValueError, match="does not fit"):
        deletion_effects(_last_steps_forecast, windows, np.ones((4, 20, 3)))
    with pytest.raises(ValueError, match=r"in \(0, 1\)"):
        deletion_effects(_last_steps_forecast, windows, np.ones(windows.shape), (0.0, 0.5))
    with pytest.raises(ValueError, match="reference must be one of"):
        deletion_effects(_last_steps_forecast, windows, np.ones(windows.shape), reference="zero")
    with pytest.raises(ValueError, match="NaN"):
        deletion_effects(_last_steps_forecast, windows, np.full(windows.shape, np.nan))
    with pytest.raises(ValueError, match="windows"):
        deletion_effects(_last_steps_forecast, windows[0], np.ones(windows.shape[1:]))
    with pytest.raises(ValueError, match="shape"):
        recency_map((3, 4))


# ------------------------------------------------------------------------------------------ the Darts check
@pytest.fixture(scope="module")
def fitted():
    """A tiny model whose target is a lagged copy of its covariate, with a second seed; and the data."""
    covariate = noisy_sine(400, period=17.0, noise=0.3, seed=1)
    values = np.roll(covariate.values()[:, 0], 5)[:, None]
    target = covariate.with_values(values.astype(np.float32)).with_columns_renamed("c0", "y")
    models = []
    for seed in (0, 1):
        model = tiny_model(random_state=seed, n_epochs=2)
        model.fit(target[:300], past_covariates=covariate[:300])
        models.append(model)
    return models, target, covariate


def test_check_numbers_are_what_they_claim(fitted):
    (model, other), target, covariate = fitted
    check = check_saliency(model, target[250:], past_covariates=covariate, n_windows=20, seeds_models=[model, other],
                           kind="gradient")
    assert isinstance(check, SaliencyCheck) and check.kind == "gradient" and check.reference == "mean"
    assert check.alternatives == {}
    assert 10 <= check.n_windows <= 20
    for fraction in check.fractions:
        assert check.ratio_random[fraction] == pytest.approx(check.deletion[fraction] / check.random[fraction])
        assert check.ratio_recency[fraction] == pytest.approx(check.deletion[fraction] / check.recency[fraction])
    # the gradient points at cells the forecast rests on: removing them moves it more than removing random cells
    assert check.ratio_random[0.05] > 1.5
    assert check.n_seed_models == 2 and -1 <= check.seed_spearman <= 1 and 0 <= check.seed_topk <= 1
    assert check.verdict.startswith(VERDICTS)
    frame = check.to_dataframe()
    assert list(frame["fraction"]) == [0.05, 0.1, 0.2] and len(frame) == 3
    assert np.allclose(frame["ratio_random"], frame["deletion"] / frame["random"])
    assert frame.attrs["verdict"] == check.verdict
    figure = check.plot()
    assert len(figure.axes[0].lines) == 3
    assert "SaliencyCheck(kind='gradient'" in repr(check)


def test_by_default_the_check_compares_maps_and_returns_the_one_that_holds_up_best(fitted):
    (model, other), target, covariate = fitted
    check = check_saliency(model, target[250:], past_covariates=covariate, n_windows=20, seeds_models=[other])
    assert {check.kind, *check.alternatives} == set(COMPARED_MAPS)
    (alternative,) = check.alternatives.values()
    # the same windows and baselines for both; the returned map ranks first (verdict, then ratio to recency)
    assert alternative.random == check.random and alternative.recency == check.recency
    assert _rank(check) <= _rank(alternative)
    assert check.verdict != alternative.verdict and repr(check.kind) in check.verdict
    frame = check.comparison()
    assert list(frame.index) == [check.kind, alternative.kind]
    assert frame.loc[alternative.kind, "ratio_recency@0.05"] == pytest.approx(alternative.ratio_recency[0.05])
    assert frame.loc[check.kind, "verdict"] == check.verdict
    # compared alone, each map gives the numbers it gave in the comparison
    alone = check_saliency(model, target[250:], past_covariates=covariate, n_windows=20, seeds_models=[other],
                           kind=alternative.kind)
    assert alone.deletion == pytest.approx(alternative.deletion)
    assert alone.seed_spearman == pytest.approx(alternative.seed_spearman)


def test_the_same_model_twice_agrees_perfectly(fitted):
    (model, _), target, covariate = fitted
    check = check_saliency(model, target[250:], past_covariates=covariate, n_windows=10, seeds_models=[model],
                           kind="input_x_gradient", reference="carry", fractions=(0.1,))
    assert check.seed_spearman == pytest.approx(1.0) and check.seed_profile == pytest.approx(1.0)
    assert check.seed_topk == pytest.approx(1.0)


def test_every_map_kind_can_be_checked(fitted):
    (model, _), target, covariate = fitted
    for kind in CHECKABLE_MAPS:
        check = check_saliency(model, target[250:], past_covariates=covariate, kind=kind, n_windows=5,
                               fractions=(0.1,), random_draws=1)
        assert np.isfinite(check.deletion[0.1]) and check.deletion[0.1] >= 0


def test_future_covariates_are_used_for_the_perturbed_forecasts():
    series = noisy_sine(300, seed=2)
    future = noisy_sine(340, period=11.0, seed=3)
    model = tiny_model(n_epochs=1)
    model.fit(series, future_covariates=future)
    # the check recomputes the forecasts of the unperturbed windows and raises if they differ from saliency()'s
    check = check_saliency(model, series, future_covariates=future, n_windows=8, fractions=(0.1, 0.2))
    assert check.n_windows >= 8


def test_bad_input_gives_clear_errors(fitted):
    (model, _), target, covariate = fitted
    good = {"series": target[250:], "past_covariates": covariate}
    with pytest.raises(ValueError, match="kind must be one of"):
        check_saliency(model, kind="attention", **good)
    with pytest.raises(ValueError, match="without repeats"):
        check_saliency(model, kind=["gradient", "gradient"], **good)
    with pytest.raises(ValueError, match="kind must be one of"):
        check_saliency(model, kind=[], **good)
    with pytest.raises(ValueError, match="fractions"):
        check_saliency(model, fractions=(0.1, 1.0), **good)
    with pytest.raises(ValueError, match="fractions"):
        check_saliency(model, fractions=(), **good)
    with pytest.raises(ValueError, match="n_windows must be a positive integer"):
        check_saliency(model, n_windows=0, **good)
    with pytest.raises(ValueError, match="reference must be one of"):
        check_saliency(model, reference="zero", **good)
    with pytest.raises(ValueError, match="not fitted"):
        check_saliency(tiny_model(), **good)
    with pytest.raises(TypeError, match="CrossScaleNetModel"):
        check_saliency("model", **good)
    with pytest.raises(TypeError, match="one Darts TimeSeries"):
        check_saliency(model, [target], past_covariates=covariate)
    with pytest.raises(ValueError, match="at least one window"):
        check_saliency(model, target[:30], past_covariates=covariate)
    longer = tiny_model(input_chunk_length=48).fit(target[:300], past_covariates=covariate[:300])
    with pytest.raises(ValueError, match="same configuration"):
        check_saliency(model, seeds_models=[longer], **good)


def test_both_wrappers_run_the_check_on_their_own_data(trainer_kwargs):
    import pandas as pd
    from support import noisy_sine, tiny_model

    from crossscale_ext import CrossScaleNetForecaster, SaliencyCheck

    series = noisy_sine(length=160)
    model = tiny_model(pl_trainer_kwargs=trainer_kwargs).fit(series)
    check = model.check_saliency(series, n_windows=20)
    assert isinstance(check, SaliencyCheck) and isinstance(check.verdict, str)
    assert len(check.to_dataframe()) == 3  # one row per removed fraction
    y = pd.DataFrame({"y": np.sin(np.arange(90) / 3.0)}, index=pd.period_range("2000-01", periods=90, freq="M"))
    params = {"input_chunk_length": 32, "output_chunk_length": 8, "n_scales": 3, "base_patch_length": 8,
              "d_model": 8, "n_epochs": 1, "pl_trainer_kwargs": trainer_kwargs}
    forecaster = CrossScaleNetForecaster(**params, random_state=0).fit(y)
    other = CrossScaleNetForecaster(**params, random_state=1).fit(y)
    sk_check = forecaster.check_saliency(n_windows=10, seeds_models=[other])
    assert isinstance(sk_check, SaliencyCheck) and sk_check.kind in COMPARED_MAPS
    assert sk_check.seed_spearman is not None and len(sk_check.alternatives) == 1
    panel_y = pd.concat({"a": y, "b": y}, names=["unit"])
    with pytest.raises(ValueError, match="checks one series"):
        CrossScaleNetForecaster(**params).fit(panel_y).check_saliency()
