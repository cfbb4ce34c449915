"""Fork safety: every process forked from one that uses CrossScaleNet runs torch on one thread.

Torch's OpenMP thread pool does not survive ``fork()``: once the parent has run a multi-threaded torch
operation, a forked child that runs one waits for the parent's threads for ever. sktime's
``evaluate(..., backend="multiprocessing")``, joblib's fork-based backends and ``multiprocessing`` with the
``fork`` start method all fork. Importing this module (the network does) registers a hook that sets one torch
thread in every forked child before it runs anything, as torch's own ``DataLoader`` workers do; a child that
needs more threads can call ``torch.set_num_threads`` itself. Spawned processes (``loky``, ``spawn``) start
fresh and are not affected.
"""

from __future__ import annotations

import os

import torch

__all__: list[str] = []


def _one_torch_thread_in_child() -> None:
    """Run in every forked child: torch's inherited thread pool is unusable there, so use one thread."""
    torch.set_num_threads(1)


if hasattr(os, "register_at_fork"):  # POSIX; on Windows nothing forks
    os.register_at_fork(after_in_child=_one_torch_thread_in_child)
