"""How tests/data/network_pickled_8e83f20.pt was written (a whole network pickled at commit 8e83f20).

sktime saves pickle the whole network; tests/test_network_reference.py unpickles this one with the current code and
compares its forecast with the one it gave when saved::

    python tests/data/make_pickled_network.py
"""

from pathlib import Path

import torch

import crossscale_ext.network as network

OUT = Path(__file__).parent / "network_pickled_8e83f20.pt"


def main() -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    net = network.CrossScaleNet(input_length=32, output_length=8, n_channels=3, n_targets=2, n_scales=3,
                                base_patch_length=8, moving_avg_kernel=5, d_model=8)
    generator = torch.Generator().manual_seed(11)
    with torch.no_grad():
        for parameter in net.parameters():
            parameter.add_(0.1 * torch.randn(parameter.shape, generator=generator))
    net.eval()
    x = torch.randn(4, 32, 3, generator=generator)
    with torch.no_grad():
        forecast = net(x).forecast
    torch.save({"network": net, "x": x, "forecast": forecast}, OUT)
    print(f"{OUT}: {OUT.stat().st_size} bytes")


if __name__ == "__main__":
    main()
