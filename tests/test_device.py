"""Every tensor the network and the saliency maps create is on the input's device.

Each op run during the forward pass, the attention maps and the gradient maps is recorded (a
``TorchDispatchMode``) with the device of every tensor it returns. Besides the CPU (and CUDA when present), the
network runs on torch's ``meta`` device, which has shapes but no data: a tensor created on the CPU by mistake
(a constant built without ``device=``) then shows up as a CPU tensor among meta ones, so the check bites on a
machine without a GPU too. The maps' final copy to numpy is replaced by a recorder of the device it receives.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

import crossscale_ext.saliency as saliency
from crossscale_ext.network import CrossScaleNet

DEVICES = ["cpu", "meta"] + (["cuda"] if torch.cuda.is_available() else [])


class DeviceRecorder(TorchDispatchMode):
    """Records ``(op, device)`` for every tensor returned by every op dispatched inside the ``with`` block."""

    def __init__(self) -> None:
        super().__init__()
        self.created: list[tuple[str, torch.device]] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        self.created += [(str(func), t.device) for t in tree_leaves(out) if isinstance(t, torch.Tensor)]
        return out


def _elsewhere(recorder: DeviceRecorder, device: torch.device) -> list[tuple[str, torch.device]]:
    return [(op, d) for op, d in recorder.created if d.type != device.type]


@pytest.mark.parametrize("device", DEVICES)
def test_forward_and_maps_create_tensors_on_the_input_device(device: str, monkeypatch) -> None:
    torch.manual_seed(0)
    net = CrossScaleNet(input_length=32, output_length=8, n_channels=3, n_targets=2, n_future_covariates=1,
                        n_static_covariates=2, n_scales=3, base_patch_length=8, moving_avg_kernel=5, d_model=8)
    net = net.to(device)
    target = torch.device(device)
    x = torch.randn(4, 32, 3, device=device, requires_grad=True)
    future = torch.randn(4, 6, 1, device=device)  # shorter than the horizon: padded inside
    static = torch.randn(4, 1, 2, device=device)

    received: list[torch.device] = []

    def record_numpy(t: torch.Tensor, dtype=np.float32) -> np.ndarray:
        received.append(t.device)
        return np.zeros(tuple(t.shape), dtype=dtype)

    monkeypatch.setattr(saliency, "_numpy", record_numpy)
    with DeviceRecorder() as in_forward:
        out = net(x, future, static)
    with DeviceRecorder() as in_maps:
        saliency.attention_maps(net, x, out, maps=saliency.ATTENTION_MAP_NAMES)
        saliency.gradient_maps(x, out.forecast[..., 0], maps=saliency.GRADIENT_MAP_NAMES)

    assert len(in_forward.created) > 50 and len(in_maps.created) > 10  # the ops were seen
    assert _elsewhere(in_forward, target) == []
    assert _elsewhere(in_maps, target) == []
    assert received and all(d.type == target.type for d in received)
    assert out.forecast.device.type == target.type
    assert all(a.device.type == target.type for a in out.patch_attention + out.local_attention)
