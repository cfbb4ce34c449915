"""How tests/data/network_reference.pt was written (from the network at commit 8e83f20).

The file pins the network's function: tests/test_network_reference.py loads its weights into the current
network and compares forecasts and attention. Re-running this script overwrites the pinned outputs with the
current network's, so run it only to add a case, from a checkout whose outputs are known to be right.
"""
import torch
import crossscale_ext.network as N
from crossscale_ext.config import REFERENCE_ARCHITECTURE
torch.set_num_threads(1)
torch.manual_seed(0)
cases = {}
def case(name, net, batch, L, C, F_cov=0, S=0, h=None):
    g = torch.Generator().manual_seed(len(cases) + 1)
    # perturb parameters away from init so every parameter matters (zero-initialised gates etc.)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=g))
    net.eval()
    x = torch.randn(batch, L, C, generator=g) * 2 + 1
    fut = torch.randn(batch, h if h else net.output_length, F_cov, generator=g) if F_cov else None
    stat = torch.randn(batch, 1, S, generator=g) if S else None
    with torch.no_grad():
        out = net(x, fut, stat)
    cases[name] = {
        "kwargs": net._fixture_kwargs,
        "state_dict": {k: v.clone() for k, v in net.state_dict().items()},
        "x": x, "future_covariates": fut, "static_covariates": stat,
        "forecast": out.forecast, "patch_attention": list(out.patch_attention),
        "local_attention": list(out.local_attention), "scale_weights": out.scale_weights,
    }
def make(**kw):
    net = N.CrossScaleNet(**kw); net._fixture_kwargs = kw; return net
# package default, covariates (lagged path), future + static covariates, quantile output, L not multiple of patch
case("default_covariates", make(input_length=36, output_length=12, n_channels=4, n_targets=2,
     n_future_covariates=2, n_static_covariates=3, nr_params=3, n_scales=3, base_patch_length=8,
     moving_avg_kernel=5, d_model=8), batch=5, L=36, C=4, F_cov=2, S=3, h=9)
case("reference_small", make(input_length=64, output_length=16, n_channels=3, **{**REFERENCE_ARCHITECTURE.as_dict(), "d_model": 8}), batch=4, L=64, C=3)
case("linear_covariates_sum_last", make(input_length=48, output_length=10, n_channels=3, n_targets=1,
     covariate_path="linear", scale_fusion="sum", instance_norm_center="last", n_scales=2, base_patch_length=8,
     moving_avg_kernel=7, d_model=6, channel_mixing=False), batch=3, L=48, C=3)
case("no_instance_norm", make(input_length=32, output_length=8, n_channels=2, instance_norm=False, n_scales=4,
     base_patch_length=8, moving_avg_kernel=9, d_model=4), batch=2, L=32, C=2)
torch.save({"torch_version": str(torch.__version__), "commit": "8e83f20", "cases": cases}, "tests/data/network_reference.pt")
import os; print(os.path.getsize("tests/data/network_reference.pt"))
