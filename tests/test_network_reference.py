"""The network computes the same function as the version the fixture was saved from.

``tests/data/network_reference.pt`` holds, for a few small configurations (the package default with past, future
and static covariates and a quantile output; the reference architecture; the linear covariate path with summed
scales and last-value centring, which the current network refuses; no instance norm),
the state_dict, fixed inputs and the forecast and every
attention tensor returned by the network at commit 8e83f20, and the gradient of the forecast's sum with respect to
the input (``tests/data/make_network_reference.py``). Loading those state_dicts also checks that saved models of that
version still load.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from crossscale_ext.network import SEASONAL, TREND, CrossScaleNet, ScaleEncoder, SeriesDecomposition

FIXTURE = Path(__file__).parent / "data" / "network_reference.pt"
SAVED = torch.load(FIXTURE, weights_only=True)["cases"]
#: The network's architecture arguments of every saved case, without the removed ``instance_norm_center``.
LAYOUTS = {name: {k: v for k, v in case["kwargs"].items() if k != "instance_norm_center"}
           for name, case in SAVED.items()}
#: The cases the current network computes: every one but those saved with last-value centring.
CASES = {name: case for name, case in SAVED.items() if case["kwargs"].get("instance_norm_center", "mean") == "mean"}


def assert_close(actual: torch.Tensor, expected: torch.Tensor) -> None:
    """Float32 comparison across code paths and CPUs: rtol 1e-4, atol scaled to the values."""
    atol = 1e-5 * float(expected.abs().max()) + 1e-7
    torch.testing.assert_close(actual, expected, rtol=1e-4, atol=atol)


@pytest.mark.parametrize("name", sorted(CASES))
def test_same_forecast_attention_and_gradient_as_the_saved_network(name: str) -> None:
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
    inputs = case["x"].clone().requires_grad_(True)  # the gradient saliency map's quantity
    (gradient,) = torch.autograd.grad(net(inputs, case["future_covariates"], case["static_covariates"]).forecast.sum(),
                                      inputs)
    assert_close(gradient, case["input_gradient"])


def test_a_case_saved_with_the_removed_centring_is_refused_by_name() -> None:
    removed = [case["kwargs"] for name, case in SAVED.items() if name not in CASES]
    assert len(removed) == 1
    with pytest.raises(ValueError, match="instance_norm_center='last' was removed"):
        CrossScaleNet(**removed[0])


@pytest.mark.parametrize("name", sorted(SAVED))
def test_saved_weights_keep_their_values_in_the_current_layout(name: str) -> None:
    legacy = SAVED[name]["state_dict"]
    net = CrossScaleNet(**LAYOUTS[name])
    net.load_state_dict(legacy)
    current = net.state_dict()
    # the encoders' weights are stacked (seasonal first, then trend); every other key is unchanged
    for s in range(net.n_scales):
        for name_now, name_before in ScaleEncoder.LEGACY_NAMES.items():
            for kind in ("weight", "bias"):
                stacked = current.pop(f"scale_encoders.{s}.{name_now}_{kind}", None)
                before = [legacy.get(f"{group}.{s}.{name_before}.{kind}") for group in ("seasonal_encoders",
                                                                                        "trend_encoders")]
                if stacked is None:  # no channel mixing
                    assert before == [None, None]
                    continue
                torch.testing.assert_close(stacked[SEASONAL], before[0], rtol=0, atol=0)
                torch.testing.assert_close(stacked[TREND], before[1], rtol=0, atol=0)
    assert sorted(current) == sorted(k for k in legacy if not k.startswith(("seasonal_enc", "trend_enc")))
    for key, value in current.items():
        torch.testing.assert_close(value, legacy[key], rtol=0, atol=0)
    # and the current layout loads back (strict)
    again = CrossScaleNet(**LAYOUTS[name])
    again.load_state_dict(net.state_dict())
    for key, value in again.state_dict().items():
        torch.testing.assert_close(value, net.state_dict()[key], rtol=0, atol=0)


def test_same_seed_draws_the_same_weights_as_separate_encoders() -> None:
    """A seed gives the weights the version with one module per encoder drew (same initialisation order)."""
    case = CASES["reference_small"]
    torch.manual_seed(7)
    net = CrossScaleNet(**case["kwargs"])
    torch.manual_seed(7)
    reference = _separate_encoder_draws(net)
    for s, encoder in enumerate(net.scale_encoders):
        for branch in (SEASONAL, TREND):
            for layer_name in encoder.shapes:
                expected_weight, expected_bias = reference[branch][s][layer_name]
                torch.testing.assert_close(getattr(encoder, f"{layer_name}_weight")[branch], expected_weight)
                torch.testing.assert_close(getattr(encoder, f"{layer_name}_bias")[branch], expected_bias)


def _separate_encoder_draws(net: CrossScaleNet) -> list[list[dict[str, tuple[torch.Tensor, torch.Tensor]]]]:
    """The draws of one ``nn.Linear`` per layer, every seasonal encoder first, then every trend encoder."""
    draws = []
    for _branch in (SEASONAL, TREND):
        per_scale = []
        for encoder in net.scale_encoders:
            layers = {}
            for layer_name, (n_out, n_in) in encoder.shapes.items():
                linear = torch.nn.Linear(n_in, n_out)
                layers[layer_name] = (linear.weight.detach(), linear.bias.detach())
            per_scale.append(layers)
        draws.append(per_scale)
    return draws


def test_fixture_stays_small() -> None:
    assert FIXTURE.stat().st_size < 400_000


@pytest.mark.parametrize("dim", [1, -1])
def test_running_sum_moving_average_matches_average_pooling(dim: int) -> None:
    torch.manual_seed(0)
    x = torch.randn(3, 720, 4) + 1000.0  # a long window far from zero: the running sum must not lose precision
    x = x if dim == 1 else x.transpose(1, 2).contiguous()
    kernel, pad = 25, 12
    along_time = x if dim == -1 else x.transpose(1, 2)
    padded = torch.cat([along_time[..., :1].expand(-1, -1, pad), along_time, along_time[..., -1:].expand(-1, -1, pad)],
                       dim=-1)
    expected = torch.nn.functional.avg_pool1d(padded, kernel, stride=1)
    expected = expected if dim == -1 else expected.transpose(1, 2)
    seasonal, trend = SeriesDecomposition(kernel)(x, dim=dim)
    torch.testing.assert_close(trend, expected, rtol=1e-6, atol=1e-4)
    torch.testing.assert_close(seasonal + trend, x)


def test_saved_weights_load_inside_a_parent_module() -> None:
    """As in a Lightning checkpoint, where the network's keys start with ``network.``."""
    case = CASES["default_covariates"]
    parent = torch.nn.Module()
    parent.network = CrossScaleNet(**case["kwargs"])
    parent.load_state_dict({f"network.{key}": value for key, value in case["state_dict"].items()})
    parent.eval()
    with torch.no_grad():
        out = parent.network(case["x"], case["future_covariates"], case["static_covariates"])
    assert_close(out.forecast, case["forecast"])


def test_network_pickled_with_one_module_per_encoder_unpickles_and_forecasts_the_same() -> None:
    """sktime saves pickle the whole network; one pickled at commit 8e83f20 (``make_pickled_network.py``)."""
    saved = torch.load(Path(__file__).parent / "data" / "network_pickled_8e83f20.pt", weights_only=False)
    net = saved["network"]
    assert "seasonal_encoders" not in net._modules and len(net.scale_encoders) == net.n_scales
    with torch.no_grad():
        assert_close(net(saved["x"]).forecast, saved["forecast"])
    assert not net.training and not net.scale_encoders[0].training
    # and it pickles again in the current layout
    import io

    buffer = io.BytesIO()
    torch.save(net, buffer)
    buffer.seek(0)
    again = torch.load(buffer, weights_only=False)
    with torch.no_grad():
        assert_close(again(saved["x"]).forecast, saved["forecast"])
