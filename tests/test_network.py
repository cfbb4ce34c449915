"""The plain PyTorch network, without Darts or sktime."""

from __future__ import annotations

import pytest
import torch

from crossscale_ext import ArchitectureConfig, CrossScaleNet
from crossscale_ext.network import (
    SEASONAL,
    TREND,
    DistributedLag,
    SeriesDecomposition,
    lagged_difference,
    sinusoidal_positional_encoding,
)


def test_reference_configuration_parameter_count():
    # C=7, d_model=32, L=96, H=96: the authors' reference model has 100,866 parameters (100.9K)
    net = CrossScaleNet(input_length=96, output_length=96, n_channels=7)
    assert sum(p.numel() for p in net.parameters()) == 100_866


def test_shapes_of_forecast_and_attention():
    net = CrossScaleNet(input_length=96, output_length=24, n_channels=3, n_targets=2, nr_params=3)
    out = net(torch.randn(5, 96, 3))
    assert out.forecast.shape == (5, 24, 2, 3)
    assert len(out.patch_attention) == len(out.local_attention) == 3
    for s, (a_p, a_l) in enumerate(zip(out.patch_attention, out.local_attention), start=1):
        assert a_p.shape == (5, 6, 6)
        p = 16 // 2**s
        assert a_l.shape == (5, 6, p, p)
    assert out.scale_weights.shape == (4,)


def test_attention_rows_sum_to_one():
    net = CrossScaleNet(input_length=64, output_length=16, n_channels=2)
    out = net(torch.randn(3, 64, 2))
    for a in out.patch_attention + out.local_attention:
        torch.testing.assert_close(a.sum(-1), torch.ones_like(a.sum(-1)))
        assert (a >= 0).all()


def test_padding_when_scale_is_not_a_multiple_of_the_patch():
    # L=40 with base patch 16: 3 patches, the last one zero-padded and cropped
    net = CrossScaleNet(input_length=40, output_length=8, n_channels=1, n_scales=2, base_patch_length=16)
    out = net(torch.randn(2, 40, 1))
    assert out.patch_attention[0].shape == (2, 3, 3)
    assert out.forecast.shape == (2, 8, 1, 1)


def test_gradients_reach_scale0_encoders_through_the_keys():
    torch.manual_seed(0)
    net = CrossScaleNet(input_length=64, output_length=16, n_channels=2, dropout=0.0)
    with torch.no_grad():  # cut the direct path: scale 0's block of the final projection is zero
        net.projection.weight[:, :16] = 0.0
    net(torch.randn(4, 64, 2)).forecast.pow(2).mean().backward()
    # only the keys (scale-0 forecast and its seasonal part) connect scale 0 to the output now
    assert net.scale_encoders[0].head_weight.grad[SEASONAL].abs().sum() > 0
    assert net.scale_encoders[0].head_weight.grad[TREND].abs().sum() > 0
    assert net.attention[0].patch_key.weight.grad.abs().sum() > 0
    assert net.attention[0].local_key.weight.grad.abs().sum() > 0


def test_same_seed_same_output():
    x = torch.randn(2, 96, 4)

    def build():
        torch.manual_seed(123)
        return CrossScaleNet(input_length=96, output_length=12, n_channels=4).eval()

    torch.testing.assert_close(build()(x).forecast, build()(x).forecast)


def test_instance_norm_makes_forecast_shift_equivariant():
    torch.manual_seed(0)
    net = CrossScaleNet(input_length=32, output_length=8, n_channels=1, n_scales=2, base_patch_length=8,
                        moving_avg_kernel=5).eval()
    x = torch.randn(2, 32, 1)
    torch.testing.assert_close(net(x + 100.0).forecast, net(x).forecast + 100.0, atol=1e-3, rtol=1e-4)


def test_removed_last_value_centring_is_refused_by_name():
    with pytest.raises(ValueError, match="instance_norm_center='last' was removed"):
        CrossScaleNet(input_length=32, output_length=8, n_channels=1, n_scales=2, base_patch_length=8,
                      moving_avg_kernel=5, instance_norm_center="last")


def test_future_and_static_covariates_change_the_forecast():
    torch.manual_seed(0)
    net = CrossScaleNet(input_length=32, output_length=8, n_channels=3, n_targets=1, n_future_covariates=2,
                        n_static_covariates=4, n_scales=2, base_patch_length=8, moving_avg_kernel=5).eval()
    x, fut, stat = torch.randn(2, 32, 3), torch.randn(2, 8, 2), torch.randn(2, 1, 4)
    base = net(x, fut, stat).forecast
    assert not torch.allclose(base, net(x, fut + 1.0, stat).forecast)
    assert not torch.allclose(base, net(x, fut, stat + 1.0).forecast)
    # a shorter future window (n < output_length at the end of the data) is zero-padded
    assert net(x, fut[:, :5], stat).forecast.shape == (2, 8, 1, 1)
    with pytest.raises(ValueError, match="future_covariates"):
        net(x, None, stat)


def test_building_blocks():
    x = torch.arange(6.0).reshape(1, 6, 1)
    torch.testing.assert_close(lagged_difference(x).flatten(), torch.tensor([0.0, 1, 1, 1, 1, 1]))
    seasonal, trend = SeriesDecomposition(3)(x)
    torch.testing.assert_close(trend.flatten(), torch.tensor([1 / 3, 1, 2, 3, 4, 14 / 3]))
    torch.testing.assert_close(seasonal + trend, x)
    pe = sinusoidal_positional_encoding(5, 3)
    assert pe.shape == (5, 3)
    torch.testing.assert_close(pe[:, 0], torch.sin(torch.arange(5.0)))
    torch.testing.assert_close(pe[:, 1], torch.cos(torch.arange(5.0)))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"input_length": 100}, r"multiple of 8, e.g. input_chunk_length=96"),
        ({"base_patch_length": 12}, r"base_patch_length=12 must be a multiple of"),
        ({"input_length": 24}, r"fewer than two patches"),
        ({"moving_avg_kernel": 24}, r"must be odd.*use 25"),
        ({"moving_avg_kernel": 101}, r"longer than the input window"),
        ({"n_scales": 1}, r"n_scales must be an integer >= 2"),
        ({"dropout": 1.5}, r"dropout must be a float in \[0, 1\)"),
        ({"n_targets": 9}, r"n_targets=9 exceeds n_channels=3"),
        ({"d_model": 0}, r"d_model must be a positive integer"),
    ],
)
def test_invalid_configuration_raises_with_a_fix(kwargs, message):
    params = {"input_length": 96, "output_length": 24, "n_channels": 3} | kwargs
    with pytest.raises(ValueError, match=message):
        CrossScaleNet(**params)


def test_wrong_input_shape_is_reported():
    net = CrossScaleNet(input_length=32, output_length=8, n_channels=2, n_scales=2, base_patch_length=8,
                        moving_avg_kernel=5)
    with pytest.raises(ValueError, match=r"x must have shape \(batch, 32, 2\)"):
        net(torch.randn(2, 30, 2))


# ------------------------------------------------------------------------------------------- scale fusion
def test_sum_fusion_is_the_weighted_sum_of_the_scale_forecasts():
    torch.manual_seed(0)
    net = CrossScaleNet(input_length=32, output_length=8, n_channels=3, n_scales=3, base_patch_length=8,
                        moving_avg_kernel=5, scale_fusion="sum", instance_norm=False).eval()
    linear = CrossScaleNet(input_length=32, output_length=720, n_channels=3, n_scales=3, base_patch_length=8,
                           moving_avg_kernel=5)
    summed = CrossScaleNet(input_length=32, output_length=720, n_channels=3, n_scales=3, base_patch_length=8,
                           moving_avg_kernel=5, scale_fusion="sum")
    # the reference layer holds n_scales * H * H + H weights; the sum two (a weight and a bias)
    count = sum(p.numel() for p in linear.parameters()) - sum(p.numel() for p in summed.parameters())
    assert count == (3 * 720 * 720 + 720) - 2
    with torch.no_grad():
        net.projection.weight.fill_(1.0)
        net.projection.bias.zero_()
        x = torch.randn(4, 32, 3)
        out = net(x)
        scales, _, _ = net.scale_tokens(x)
        # scale 0 needs no attention, so its forecast is its encoders' sum times its weight
        seasonal_and_trend = net.encode_scale(0, scales[0])  # (2, C, B, H)
        scale_0 = out.scale_weights[0] * seasonal_and_trend.sum(dim=0).permute(1, 2, 0)
        assert out.forecast.shape == (4, 8, 3, 1)
        # removing scale 0's share leaves the other scales' share, which depends on scale 0 only through attention
        assert not torch.allclose(out.forecast[..., 0], scale_0)
        net.scale_weights[1:] = -1e4  # sigmoid -> 0: only scale 0 remains
        torch.testing.assert_close(net(x).forecast[..., 0], scale_0)


# ------------------------------------------------------------------------------------------- covariate paths
def test_covariate_path_exists_only_with_covariates():
    for path in ("none", "linear", "lagged"):
        # no covariate channel (every channel a target): the network is the reference network
        torch.manual_seed(0)
        net = CrossScaleNet(input_length=96, output_length=96, n_channels=7, covariate_path=path)
        assert net.covariate_projection is None and net.mean_gate is None
        assert sum(p.numel() for p in net.parameters()) == 100_866
    with_covariates = CrossScaleNet(input_length=96, output_length=6, n_channels=6, n_targets=1,
                                    covariate_path="lagged")
    assert isinstance(with_covariates.covariate_projection, DistributedLag)
    assert with_covariates.covariate_projection.kernel.shape == (1, 5, 96 + 6 - 1)


def test_distributed_lag_shares_one_weight_per_lag_across_forecast_steps():
    layer = DistributedLag(input_length=5, output_length=3, n_covariates=2, n_outputs=1)
    with torch.no_grad():
        layer.kernel.copy_(torch.randn_like(layer.kernel))
    x = torch.randn(4, 5, 2)
    expected = torch.zeros(4, 3, 1)
    for h in range(3):
        for j in range(5):  # input step j is (4 - j) + h steps before forecast step h (0 = right before it)
            expected[:, h, 0] += (layer.kernel[0, :, (4 - j) + h] * x[:, j]).sum(dim=1)
    torch.testing.assert_close(layer(x), expected)


def test_lagged_covariate_path_represents_a_lagged_covariate_exactly():
    """y_(t) = 2 x_(t-3): with the kernel set to it, the forecast is exact whatever the encoders do."""
    net = CrossScaleNet(input_length=32, output_length=4, n_channels=2, n_targets=1, n_scales=2,
                        base_patch_length=8, moving_avg_kernel=5, covariate_path="lagged").eval()
    with torch.no_grad():
        for p in net.parameters():
            p.zero_()
        net.covariate_projection.kernel[0, 0, 2] = 2.0  # lag 3 = index 2 (index 0 is the step right before)
    series = torch.randn(40)
    x = torch.stack([torch.zeros(32), series[:32]], dim=1)[None]
    forecast = net(x).forecast[0, :, 0, 0]
    # forecast step h (0-based) is time 32 + h; it depends on x at 32 + h - 3, inside the window for h < 3
    torch.testing.assert_close(forecast[:3], 2.0 * series[29:32])


def test_config_object_or_keywords_but_not_both():
    config = ArchitectureConfig(n_scales=3, base_patch_length=8)
    net = CrossScaleNet(input_length=48, output_length=12, n_channels=2, config=config)
    assert net.config == config.resolved(48) and net.n_scales == 3
    assert net.config.moving_avg_kernel == 25  # the default kernel, resolved for the window
    with pytest.raises(ValueError, match="not both"):
        CrossScaleNet(input_length=48, output_length=12, n_channels=2, config=config, d_model=8)
    with pytest.raises(ValueError, match="covariate_path"):
        CrossScaleNet(input_length=48, output_length=12, n_channels=2, covariate_path="dense")


def test_without_covariates_the_default_is_the_reference_network():
    """ETT in the benchmark's multivariate mode has no covariate channel: default and reference are one network."""
    x = torch.randn(3, 96, 7)
    outputs = []
    for path in ("none", "lagged", "linear"):
        torch.manual_seed(0)
        net = CrossScaleNet(input_length=96, output_length=96, n_channels=7, covariate_path=path).eval()
        outputs.append(net(x).forecast)
    torch.testing.assert_close(outputs[0], outputs[1], rtol=0, atol=0)
    torch.testing.assert_close(outputs[0], outputs[2], rtol=0, atol=0)


# ------------------------------------------------------------------------------------------------ mean gate
@pytest.mark.parametrize("start", [1.0, 0.0, 0.25])
def test_mean_gate_starts_at_mean_gate_init_and_weights_the_re_added_window_mean(start):
    """The forecast is the gated window mean plus what the rest of the network adds; 1 (default) re-adds it fully."""
    torch.manual_seed(0)
    net = CrossScaleNet(input_length=32, output_length=4, n_channels=3, n_targets=1, n_scales=2,
                        base_patch_length=8, moving_avg_kernel=5, covariate_path="lagged",
                        mean_gate_init=start).eval()
    assert net.mean_gate.detach().tolist() == [start]
    x = torch.randn(5, 32, 3)
    shifted = x.clone()
    shifted[:, :, 0] += 10.0  # the target's level moves; the covariates stay
    moved = net(shifted).forecast - net(x).forecast
    torch.testing.assert_close(moved, torch.full_like(moved, 10.0 * start), rtol=1e-4, atol=1e-3)


def test_default_mean_gate_is_the_reference_re_adding_the_mean_in_full():
    net = CrossScaleNet(input_length=32, output_length=4, n_channels=3, n_targets=1, n_scales=2,
                        base_patch_length=8, moving_avg_kernel=5)
    assert net.mean_gate.detach().tolist() == [1.0]
    with pytest.raises(ValueError, match="mean_gate_init"):
        ArchitectureConfig(mean_gate_init=1.5)
    with pytest.raises(ValueError, match="mean_gate_init"):
        ArchitectureConfig(mean_gate_init=True)
