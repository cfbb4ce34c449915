"""Saliency metrics, each checked against a case computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from crossscale_ext.metrics import (
    aup_aur,
    auprc,
    auroc,
    cell_scores,
    comprehensiveness,
    faithfulness,
    perturb,
    random_saliency,
    sufficiency,
    temporal_scores,
    weighted_precision_recall,
)

SALIENCY = np.array([0.9, 0.1, 0.8, 0.3])
MASK = np.array([True, False, False, True])


def test_auroc_by_hand():
    # positives 0.9, 0.3 against negatives 0.1, 0.8: 3 of the 4 pairs are ordered correctly
    assert auroc(SALIENCY, MASK) == pytest.approx(0.75)
    assert auroc(np.array([1.0, 1.0, 1.0, 1.0]), MASK) == pytest.approx(0.5)
    assert auroc(MASK.astype(float), MASK) == pytest.approx(1.0)


def test_auprc_by_hand():
    # ranking T, F, T, F: precision 1 at recall 0.5, precision 2/3 at recall 1 -> 0.5 * 1 + 0.5 * 2/3
    assert auprc(SALIENCY, MASK) == pytest.approx(0.5 + 1 / 3)


def test_window_average_and_pooled_differ_by_hand():
    saliency = np.array([[0.2, 0.1], [0.5, 0.4]])
    mask = np.array([True, False])  # shared by both windows
    assert auroc(saliency, mask) == pytest.approx(1.0)  # each window ranks its own cells perfectly
    # pooled: positives 0.2, 0.5 against negatives 0.1, 0.4: 3 of the 4 pairs are ordered correctly
    assert auroc(saliency, mask, average="pooled") == pytest.approx(0.75)
    # pooled AP: ranking 0.5 T, 0.4 F, 0.2 T, 0.1 F -> 0.5 * 1 + 0.5 * 2/3
    assert auprc(saliency, mask, average="pooled") == pytest.approx(0.5 + 1 / 3)


def test_per_window_masks_and_shape_errors():
    saliency = np.array([[0.2, 0.1], [0.5, 0.4]])
    assert auroc(saliency, np.array([[True, False], [False, True]])) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="does not match mask"):
        auroc(saliency, np.array([True, False, True]))
    with pytest.raises(ValueError, match="both important and unimportant"):
        auroc(saliency, np.array([True, True]))
    with pytest.raises(ValueError, match="NaN"):
        auroc(np.array([np.nan, 1.0]), np.array([True, False]))
    with pytest.raises(ValueError, match="average"):
        auroc(saliency, np.array([True, False]), average="macro")
    with pytest.raises(ValueError, match="boolean"):
        auroc(saliency, np.array([2, 0]))


def test_weighted_precision_recall_by_hand():
    # |s| rescaled to [0, 1]: [1, .75, .5, .25, 0], total 2.5; cumulative shares .4, .7, .9, 1, 1
    saliency = np.array([4.0, -3.0, 2.0, 1.0, 0.0])
    mask = np.array([True, False, True, False, False])
    precision, recall = weighted_precision_recall(saliency, mask, fractions=(0.3, 0.6, 0.9))
    # 30 %: top 1 cell; 60 %: top 2; 90 %: top 3 (exactly 90 %)
    np.testing.assert_allclose(precision, [1.0, 1.0 / 1.75, 1.5 / 2.25])
    np.testing.assert_allclose(recall, [1.0 / 1.5, 1.0 / 1.5, 1.0])
    aup, aur = aup_aur(saliency, mask, fractions=(0.3, 0.6, 0.9))
    assert aup == pytest.approx(0.3 * ((1 + 4 / 7) / 2 + (4 / 7 + 2 / 3) / 2))
    assert aur == pytest.approx(0.3 * ((2 / 3 + 2 / 3) / 2 + (2 / 3 + 1) / 2))


def test_aup_aur_of_a_perfect_map_and_of_a_constant_one():
    mask = np.zeros((3, 10), dtype=bool)
    mask[:, [2, 5, 7]] = True
    aup, aur = aup_aur(mask.astype(float), mask)
    assert aup == pytest.approx(0.8)  # precision 1 over the fractions 0.1 .. 0.9
    assert 0 < aur <= 0.8
    assert np.isnan(aup_aur(np.ones((3, 10)), mask)[0])  # a constant map has no weighted precision
    with pytest.raises(ValueError, match="fractions"):
        aup_aur(mask.astype(float), mask, fractions=(0.5,))


def test_temporal_scores_collapse_components_by_hand():
    saliency = np.array([[[1.0, -1.0], [0.0, 0.0], [0.5, 0.0]]])  # one window, 3 steps, 2 components
    mask = np.array([[True, False], [False, False], [False, False]])
    scores = temporal_scores(saliency, mask)  # time: [2, 0, 0.5] against [T, F, F]
    assert scores["auroc"] == pytest.approx(1.0) and scores["auprc"] == pytest.approx(1.0)
    cells = cell_scores(saliency, mask)  # cells: [1, -1, 0, 0, .5, 0]; only cell 0 is important and ranks first
    assert cells["auroc"] == pytest.approx(1.0)
    # a temporal map with a lag mask is used as given
    assert temporal_scores(np.array([[0.1, 0.3, 0.2]]), np.array([False, True, False]))["auroc"] == pytest.approx(1.0)


def test_perturb_baselines_by_hand():
    inputs = np.array([[[1.0], [2.0], [3.0], [4.0]]])
    mean = np.array([9.0])
    replace = np.array([[[False], [True], [False], [True]]])
    np.testing.assert_array_equal(perturb(inputs, replace, "train_mean", mean)[0, :, 0], [1, 9, 3, 9])
    np.testing.assert_array_equal(perturb(inputs, replace, "carry_forward", mean)[0, :, 0], [1, 1, 3, 3])
    first_removed = np.array([[[True], [False], [True], [True]]])
    np.testing.assert_array_equal(perturb(inputs, first_removed, "carry_forward", mean)[0, :, 0], [9, 2, 2, 2])
    # a (W, L) mask removes whole time steps
    two_channels = np.array([[[1.0, 10.0], [2.0, 20.0]]])
    np.testing.assert_array_equal(perturb(two_channels, np.array([[False, True]]), "train_mean",
                                          np.array([0.0, 5.0])), [[[1.0, 10.0], [0.0, 5.0]]])
    with pytest.raises(ValueError, match="baseline"):
        perturb(inputs, replace, "zeros", mean)


def _sum_model(inputs: np.ndarray) -> np.ndarray:
    """Forecast = sum of channel 0 over the window, shape (W, 1, 1)."""
    return inputs[:, :, 0].sum(axis=1)[:, None, None]


def test_comprehensiveness_and_sufficiency_by_hand():
    inputs = np.array([[[1.0], [2.0], [3.0], [4.0]]])
    targets = np.array([[[10.0]]])  # the unperturbed forecast is exact: reference MSE 0
    saliency = np.array([[[0.1], [0.2], [0.3], [0.9]]])
    mean = np.array([0.0])
    comp = comprehensiveness(_sum_model, inputs, targets, saliency, (0.25, 0.5), train_mean=mean)
    assert comp == pytest.approx({0.25: 16.0, 0.5: 49.0})  # forecasts 6 and 3
    suff = sufficiency(_sum_model, inputs, targets, saliency, (0.25, 0.5), train_mean=mean)
    assert suff == pytest.approx({0.25: 36.0, 0.5: 9.0})  # forecasts 4 and 7
    carried = comprehensiveness(_sum_model, inputs, targets, saliency, (0.25,), "carry_forward", mean)
    assert carried == pytest.approx({0.25: 1.0})  # 4 -> 3: forecast 9
    with pytest.raises(ValueError, match="train_mean"):
        comprehensiveness(_sum_model, inputs, targets, saliency)
    with pytest.raises(ValueError, match="saliency must be"):
        comprehensiveness(_sum_model, inputs, targets, saliency[:, :2], train_mean=mean)


def test_faithfulness_reports_the_random_control():
    rng = np.random.default_rng(0)
    inputs = rng.normal(size=(20, 8, 2))
    targets = _sum_model(inputs)
    oracle = np.zeros((20, 8, 2))
    oracle[:, :, 0] = np.abs(inputs[:, :, 0])  # the cells that move the forecast most
    scores = faithfulness(_sum_model, inputs, targets, oracle, np.zeros(2), fractions=(0.1, 0.5))
    assert scores["comprehensiveness"] == pytest.approx(
        np.mean([scores["comprehensiveness@0.1"], scores["comprehensiveness@0.5"]])
    )
    assert scores["comprehensiveness"] > scores["random_comprehensiveness"]
    assert scores["sufficiency"] < scores["random_sufficiency"]
    assert random_saliency((2, 3), seed=1).shape == (2, 3)
    np.testing.assert_array_equal(random_saliency((4,), seed=1), random_saliency((4,), seed=1))
