"""A test of meaning: does the saliency point at the lag a series copies?

The series copies its value ``K`` steps back (``y_t = 0.95 y_(t-K) + noise``), so a forecast of ``H`` steps
rests on the input lags ``K - H + 1 .. K`` and on nothing else. The first test checks that the trained
model does rest on them (occlusion), so the set-up is sound; the second checks that the recommended map,
``gradient``, peaks inside that span. The third asks the same of the per-step attention map and is an
expected failure: measured on this set-up (and on H = 24 and H = 48), the attention maps stay near uniform
and peak at the most recent lags, because the scale-0 encoders read every input step directly, without
attention, and the attention of the coarser scales is incidental to a fixed-lag dependence. See
docs/saliency.md. ``strict=True`` makes the suite fail if the attention starts to pass, so the
documentation is updated with it.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from crossscale_ext import CrossScaleNetModel
from crossscale_ext.datasets.synthetic import lag_copy_series

K, L, H = 48, 96, 8


@pytest.fixture(scope="module")
def lag_copy_model():
    from support import QUIET_TRAINER

    series = lag_copy_series(K, length=2200, seed=0)
    model = CrossScaleNetModel(input_chunk_length=L, output_chunk_length=H, n_epochs=6, random_state=0,
                               optimizer_kwargs={"lr": 1e-3}, pl_trainer_kwargs=dict(QUIET_TRAINER))
    model.fit(series[:2000])
    return model, series[1900:]


def test_the_model_rests_on_lag_k(lag_copy_model):
    """Occlusion: replacing the H input steps at lags K-H+1..K moves the forecast most."""
    model, test = lag_copy_model
    network = model.model.network.eval()
    values = test.values()[:, 0]
    windows = torch.tensor(np.stack([values[i:i + L] for i in range(0, len(values) - L, 4)]))[..., None]
    with torch.no_grad():
        base = network(windows).forecast
        change_by_block = {}
        for last_lag in range(H, L + 1, H):  # blocks of H lags: last_lag - H + 1 .. last_lag
            occluded = windows.clone()
            occluded[:, L - last_lag:L - last_lag + H] = windows.mean(dim=1, keepdim=True)
            change_by_block[last_lag] = (network(occluded).forecast - base).abs().mean().item()
    assert max(change_by_block, key=change_by_block.get) == K, change_by_block


def test_gradient_map_peaks_inside_the_copied_span(lag_copy_model):
    model, test = lag_copy_model
    result = model.saliency(test, windows="all")
    profile = result.lag_profile("gradient")  # entry l - 1 is lag l
    peak_lag = int(np.argmax(profile)) + 1
    assert K - H + 1 <= peak_lag <= K, f"gradient map peaks at lag {peak_lag}"
    # and more than twice the mass a flat map would put on the span (8 of 96 lags)
    span_share = profile[K - H : K].sum() / profile.sum()
    assert span_share > 2 * H / L, f"only {span_share:.2f} of the gradient mass on lags {K - H + 1}..{K}"


@pytest.mark.xfail(strict=True, reason="measured: the attention maps do not locate a fixed lag (module docstring)")
def test_per_step_saliency_peaks_at_lag_k(lag_copy_model):
    model, test = lag_copy_model
    profile = model.saliency(test, windows="all").lag_profile("per_step")  # entry l - 1 is lag l
    peak_lag = int(np.argmax(profile)) + 1
    assert K - H <= peak_lag <= K + 1, f"per-step map peaks at lag {peak_lag}"


def test_recommended_map_finds_the_lagged_covariates():
    """Regression guard of the recommended map's quality on a small synthetic case (fixed seed, ~3 s).

    The target is a sum of covariates x0 and x2 at lags 3-5 and 14-16; the default model (lagged covariate
    path) fits it near the noise floor and its gradient map ranks the true (lag, covariate) cells first. Measured
    when written: AUROC 1.000 over time and over cells, MSE 0.054 against a floor of 0.044; the reference layout
    (covariate_path="none") reached AUROC 0.59 and MSE 0.18 on the same data.
    """
    from support import QUIET_TRAINER

    from crossscale_ext.datasets.synthetic import make_synthetic
    from crossscale_ext.metrics import auroc
    from crossscale_ext.saliency import RECOMMENDED_MAP

    ds = make_synthetic(important_features=(0, 2), important_lags=(3, 4, 5, 14, 15, 16), noise=0.05, length=900,
                        n_features=3, input_length=32, horizon=4, seed=0)
    model = CrossScaleNetModel(input_chunk_length=32, output_chunk_length=4, n_scales=2, base_patch_length=8,
                               moving_avg_kernel=5, d_model=16, n_epochs=8, optimizer_kwargs={"lr": 1e-2},
                               mean_gate_init=0.0, random_state=0, pl_trainer_kwargs=dict(QUIET_TRAINER))
    model.fit(ds.train_target, past_covariates=ds.train_covariates)
    result = model.saliency(ds.test_target, past_covariates=ds.test_covariates, windows="all")
    _, targets = ds.windows("test")
    mse = float(np.mean((result.forecast.reshape(targets.shape) - targets) ** 2))
    assert mse <= 2 * ds.irreducible_mse + 0.02, mse
    assert auroc(result.temporal_map(RECOMMENDED_MAP), ds.lag_mask) >= 0.95
    assert auroc(result.component_map(RECOMMENDED_MAP), ds.mask) >= 0.95
