"""One-off validation experiment (docs/benchmarks/forecast.md, "What else was tried"): zero-initialised gates.

CrossScaleNet's scale encoders add a gate to their input, ``U' = U + M(U) * D(U)``, with ``M`` a two-layer MLP
(and, mixing channels, ``U' += MLP_C(G)``). Here the last layer of both MLPs starts at zero, so at initialisation
every encoder is a linear map from its input to the horizon (as DLinear is) and the gates grow from zero as the
data demand. It is not a package option (it did not help); this script zeroes those layers in every
:class:`crossscale_ext.network.ScaleEncoder` of a new network and then runs the ``crossscale`` command line with its
arguments::

    python experiments/zero_init_gates.py --threads 1 bench forecast --no-test --dataset ETTh1 \
        --horizons 96 --models CrossScaleNet --epochs 20 --patience 3 --data-dir ../shared/data
"""

import sys

import torch

import crossscale_ext.network as network
from crossscale_ext.cli import main

_original_init = network.CrossScaleNet.__init__


def _zero_initialised_gates(self: network.CrossScaleNet, *args: object, **kwargs: object) -> None:
    _original_init(self, *args, **kwargs)
    with torch.no_grad():
        for encoder in self.modules():
            if not isinstance(encoder, network.ScaleEncoder):
                continue
            for name in ("temporal_out", "channel_out"):  # the MLPs' output layers, every branch
                if hasattr(encoder, f"{name}_weight"):
                    getattr(encoder, f"{name}_weight").zero_()
                    getattr(encoder, f"{name}_bias").zero_()


network.CrossScaleNet.__init__ = _zero_initialised_gates

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
