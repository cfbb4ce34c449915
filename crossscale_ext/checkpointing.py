"""Resumable training: a Lightning callback that makes a resumed training draw the same random numbers.

Darts' checkpointing (``save_checkpoints=True``) saves the weights, the optimiser, the learning-rate scheduler and
Lightning's loop counters after every epoch, and ``CrossScaleNetModel.load_from_checkpoint(model_name, work_dir,
best=False)`` followed by ``fit`` continues from the last saved epoch up to ``n_epochs``. What it does not keep is the
random state: every ``fit`` call reseeds torch from the model's own generator (Darts' ``@random_method``), and the
random numbers of the next epoch (the order of the training windows, dropout) come from torch's global generator,
which the uninterrupted run had advanced through every earlier epoch, validation pass and data-loader start. So a
resumed run shuffles differently and ends with a different validation loss.

:class:`EpochSeedCallback` removes that dependence: at the start of every training epoch it seeds torch, numpy and
Python's ``random`` from a base seed and the epoch number alone, and it stores the base seed in every checkpoint.
Epoch ``k`` of a resumed run then draws exactly the random numbers epoch ``k`` of the uninterrupted run drew.
:class:`~crossscale_ext.darts_model.CrossScaleNetModel` adds it whenever ``save_checkpoints=True``. The generators of
numpy and ``random`` are given back as they were when the training ends (Darts' ``@random_method`` does the same for
torch), so the seeding is not visible outside ``fit``.

This module imports torch, numpy and pytorch_lightning only.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch

__all__ = ["EpochSeedCallback", "enable_resumable_checkpoints"]

_SEED_BOUND = 2**62


def epoch_seed(base_seed: int, epoch: int) -> int:
    """The seed of training epoch ``epoch`` (0-based) of a training with base seed ``base_seed``."""
    return int(np.random.SeedSequence([int(base_seed), int(epoch)]).generate_state(1, dtype=np.uint32)[0])


class EpochSeedCallback(pl.Callback):
    """Seed every training epoch from ``(base seed, epoch)`` and keep the base seed in the checkpoints.

    A fresh training draws its base seed from torch's generator when it starts (Darts seeds that generator from the
    model's ``random_state`` in ``fit``, so the base seed is reproducible); a training resumed from a checkpoint takes
    the base seed stored in it, and the epoch it resumes at from the checkpoint's loop counters. Epoch ``k`` draws its
    random numbers from torch, numpy and ``random`` seeded with ``epoch_seed(base_seed, k)``:

    - from epoch 2 of a training on, the seeding happens at the start of the epoch (``on_train_epoch_start``), before
      the epoch's data loader draws the batch order;
    - Lightning creates the data loader of the *first* epoch of a ``fit`` call before that hook, after its sanity
      check: that epoch is seeded at ``on_fit_start`` and again at ``on_sanity_check_end``, so that the sanity
      check's draws do not reach it, whether the epoch is epoch 0 or the first epoch after a resume.

    The numpy and ``random`` states are restored when the training ends or fails (torch's is restored by Darts'
    ``@random_method``). The callback pickles its base seed only, so a model that holds it can be saved and loaded
    (it is registered with Darts' safe loader).
    """

    def __init__(self) -> None:
        super().__init__()
        self.base_seed: int | None = None
        self._reset_transient()

    def _reset_transient(self) -> None:
        self._restored_epoch: int | None = None  # the epoch a restored training resumes at
        self._first_epoch: int | None = None  # the first epoch of the running fit, seeded before its data loader
        self._outer_states: tuple[Any, Any] | None = None

    # ------------------------------------------------------------------ checkpoint state
    def state_dict(self) -> dict[str, Any]:
        """The state saved in every Lightning checkpoint: the base seed."""
        return {"base_seed": self.base_seed}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Take the base seed of the checkpoint a training resumes from (Lightning calls it before ``on_fit_start``)."""
        base_seed = state_dict.get("base_seed")
        if base_seed is not None:
            self.base_seed = int(base_seed)
            if self._restored_epoch is None:
                self._restored_epoch = -1  # resolved by on_load_checkpoint; -1: unknown

    def on_load_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        """Read the epoch a training resumes at: the number of epochs the checkpoint's fit loop has processed."""
        try:
            epoch = int(checkpoint["loops"]["fit_loop"]["epoch_progress"]["current"]["processed"])
        except (KeyError, TypeError, ValueError):
            epoch = int(checkpoint.get("epoch", -1)) + 1
        self._restored_epoch = epoch

    # ------------------------------------------------------------------ hooks
    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Choose the base seed (new, or the checkpoint's) and seed the fit's first epoch."""
        restored = self._restored_epoch
        self._outer_states = (np.random.get_state(), random.getstate())
        if restored is None or self.base_seed is None:
            self.base_seed = int(torch.randint(0, _SEED_BOUND, (1,)).item())
            self._first_epoch = int(trainer.current_epoch)
        else:
            self._first_epoch = restored if restored >= 0 else None
        self._restored_epoch = None
        self._seed_first_epoch()

    def on_sanity_check_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Seed the first epoch again: the sanity check's validation pass drew from the generators."""
        self._seed_first_epoch()

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Seed this epoch, unless it is the fit's first, whose data loader already drew from the seeded state."""
        epoch = int(trainer.current_epoch)
        first, self._first_epoch = self._first_epoch, None
        if first is not None and first == epoch:
            return
        if self.base_seed is None:  # a trainer that skipped on_fit_start (not Lightning's): seed from torch
            self.base_seed = int(torch.randint(0, _SEED_BOUND, (1,)).item())
        self._seed(epoch)

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._restore_outer_states()

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        self._restore_outer_states()

    # ------------------------------------------------------------------ helpers
    def _seed_first_epoch(self) -> None:
        if self._first_epoch is not None and self.base_seed is not None:
            self._seed(self._first_epoch)

    def _seed(self, epoch: int) -> None:
        seed = epoch_seed(self.base_seed, epoch)
        torch.manual_seed(seed)
        np.random.seed(seed)
        random.seed(seed)

    def _restore_outer_states(self) -> None:
        if self._outer_states is not None:
            np_state, py_state = self._outer_states
            np.random.set_state(np_state)
            random.setstate(py_state)
        self._reset_transient()

    # ------------------------------------------------------------------ pickling
    def __getstate__(self) -> dict[str, Any]:
        """Pickle the base seed only (the rest is transient state of a running fit)."""
        return {"base_seed": self.base_seed}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.base_seed = state.get("base_seed")
        self._reset_transient()

    def __repr__(self) -> str:
        return f"EpochSeedCallback(base_seed={self.base_seed})"


def enable_resumable_checkpoints(trainer_params: dict[str, Any]) -> None:
    """Make a training with Darts' ``save_checkpoints=True`` resumable exactly; changes ``trainer_params`` in place.

    Adds an :class:`EpochSeedCallback` to the trainer's callbacks (unless one is there) and switches Lightning's
    checkpointing on (``QUIET_TRAINER_KWARGS`` switch it off, which Lightning would refuse together with Darts'
    checkpoint callbacks).
    """
    callbacks = trainer_params.setdefault("callbacks", [])
    if not any(isinstance(callback, EpochSeedCallback) for callback in callbacks):
        callbacks.append(EpochSeedCallback())
    trainer_params["enable_checkpointing"] = True
