"""How tests/data/network_reference.pt was written (from the network at commit 8e83f20).

The file pins the network's function: tests/test_network_reference.py loads its weights into the current network and
compares forecasts, attention and the gradient of the forecast with respect to the input. Re-running this script
overwrites the pinned outputs with the current network's, so run it only to add a case, from a checkout whose
outputs are known to be right::

    python tests/data/make_network_reference.py
"""

from pathlib import Path

import torch

import crossscale_ext.network as network
from crossscale_ext.config import REFERENCE_ARCHITECTURE

OUT = Path(__file__).parent / "network_reference.pt"


def make_case(cases: dict, name: str, kwargs: dict, batch: int, horizon_given: int | None = None) -> None:
    """Build the network, move every parameter off its initial value, run it in eval mode, store it all."""
    net = network.CrossScaleNet(**kwargs)
    generator = torch.Generator().manual_seed(len(cases) + 1)
    with torch.no_grad():  # perturbed, so that zero-initialised gates and kernels matter too
        for parameter in net.parameters():
            parameter.add_(0.1 * torch.randn(parameter.shape, generator=generator))
    net.eval()
    x = torch.randn(batch, kwargs["input_length"], kwargs["n_channels"], generator=generator) * 2 + 1
    n_future, n_static = kwargs.get("n_future_covariates", 0), kwargs.get("n_static_covariates", 0)
    future = (torch.randn(batch, horizon_given or net.output_length, n_future, generator=generator)
              if n_future else None)
    static = torch.randn(batch, 1, n_static, generator=generator) if n_static else None
    with torch.no_grad():
        out = net(x, future, static)
    inputs = x.clone().requires_grad_(True)  # the gradient saliency map: d sum(forecast) / d input
    (input_gradient,) = torch.autograd.grad(net(inputs, future, static).forecast.sum(), inputs)
    cases[name] = {
        "kwargs": kwargs, "state_dict": {k: v.clone() for k, v in net.state_dict().items()},
        "x": x, "future_covariates": future, "static_covariates": static,
        "forecast": out.forecast, "patch_attention": list(out.patch_attention),
        "local_attention": list(out.local_attention), "scale_weights": out.scale_weights,
        "input_gradient": input_gradient,
    }


def main() -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    cases: dict = {}
    # package default with past, future and static covariates, a 3-value output, L not a multiple of the patch
    make_case(cases, "default_covariates", dict(
        input_length=36, output_length=12, n_channels=4, n_targets=2, n_future_covariates=2, n_static_covariates=3,
        nr_params=3, n_scales=3, base_patch_length=8, moving_avg_kernel=5, d_model=8), batch=5, horizon_given=9)
    make_case(cases, "reference_small", dict(
        input_length=64, output_length=16, n_channels=3, **{**REFERENCE_ARCHITECTURE.as_dict(), "d_model": 8}),
        batch=4)
    make_case(cases, "linear_covariates_sum_last", dict(
        input_length=48, output_length=10, n_channels=3, n_targets=1, covariate_path="linear", scale_fusion="sum",
        instance_norm_center="last", n_scales=2, base_patch_length=8, moving_avg_kernel=7, d_model=6,
        channel_mixing=False), batch=3)
    make_case(cases, "no_instance_norm", dict(
        input_length=32, output_length=8, n_channels=2, instance_norm=False, n_scales=4, base_patch_length=8,
        moving_avg_kernel=9, d_model=4), batch=2)
    torch.save({"torch_version": str(torch.__version__), "commit": "8e83f20", "cases": cases}, OUT)
    print(f"{OUT}: {OUT.stat().st_size} bytes")


if __name__ == "__main__":
    main()
