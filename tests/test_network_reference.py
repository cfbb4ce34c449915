"""The network computes the same function as the version the fixture was saved from.

``tests/data/network_reference.pt`` holds, for a few small configurations (the package default with past, future
and static covariates and a quantile output; the reference architecture; the linear covariate path with summed
scales and last-value centring; no instance norm), the state_dict, fixed inputs and the forecast and every
attention tensor returned by the network at commit 8e83f20 (``tests/data/make_network_reference.py``). Loading
those state_dicts also checks that saved models of that version still load.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from crossscale_ext.network import CrossScaleNet

FIXTURE = Path(__file__).parent / "data" / "network_reference.pt"
CASES = torch.load(FIXTURE, weights_only=True)["cases"]


def assert_close(actual: torch.Tensor, expected: torch.Tensor) -> None:
    """Float32 comparison across code paths and CPUs: rtol 1e-4, atol scaled to the values."""
    atol = 1e-5 * float(expected.abs().max()) + 1e-7
    torch.testing.assert_close(actual, expected, rtol=1e-4, atol=atol)


@pytest.mark.parametrize("name", sorted(CASES))
def test_same_forecast_and_attention_as_the_saved_network(name: str) -> None:
    case = CASES[name]
    net = CrossScaleNet(**case["kwargs"])
    net.load_state_dict(case["state_dict"])  # strict: the old keys and shapes load
    net.eval()
    with torch.no_grad():
        out = net(case["x"], case["future_covariates"], case["static_covariates"])
    assert_close(out.forecast, case["forecast"])
    assert_close(out.scale_weights, case["scale_weights"])
    assert len(out.patch_attention) == len(case["patch_attention"]) == net.n_scales - 1
    for actual, expected in zip(out.patch_attention, case["patch_attention"], strict=True):
        assert_close(actual, expected)
    for actual, expected in zip(out.local_attention, case["local_attention"], strict=True):
        assert_close(actual, expected)


@pytest.mark.parametrize("name", sorted(CASES))
def test_state_dict_round_trip_keeps_the_saved_keys(name: str) -> None:
    case = CASES[name]
    net = CrossScaleNet(**case["kwargs"])
    net.load_state_dict(case["state_dict"])
    saved = net.state_dict()
    assert sorted(saved) == sorted(case["state_dict"])
    for key, value in case["state_dict"].items():
        assert saved[key].shape == value.shape, key
        torch.testing.assert_close(saved[key], value, rtol=0, atol=0)


def test_fixture_stays_small() -> None:
    assert FIXTURE.stat().st_size < 400_000
