"""The authors' training schedule, as a Darts option: ``lradj=type1``.

The reference scripts (Adam, lr 1e-4) call ``adjust_learning_rate`` after every epoch with ``epoch + 1``; with
``lradj=type1`` it sets the rate to ``lr0 * 0.5 ** (epoch - 1)``. So epochs 1 and 2 both run at ``lr0`` and the
halving starts after epoch 2: epoch ``k`` (1-based) runs at ``lr0 * 0.5 ** max(0, k - 2)``. Darts' closest
built-in, ``ExponentialLR(gamma=0.5)``, halves one epoch earlier.

>>> from crossscale_ext.training import reference_schedule_kwargs
>>> kwargs = reference_schedule_kwargs()            # pass to CrossScaleNetModel(..., **kwargs)
>>> sorted(kwargs)
['lr_scheduler_cls', 'lr_scheduler_kwargs', 'optimizer_kwargs']

This module imports torch only.
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["ReferenceLRSchedule", "reference_schedule_kwargs"]


class ReferenceLRSchedule:
    """The factor of ``lradj=type1`` for ``torch.optim.lr_scheduler.LambdaLR``: ``0.5 ** max(0, epoch - 1)``.

    ``LambdaLR`` calls it with the number of finished epochs (0 before the first), so the rate is ``lr0`` for
    the first two epochs and halves after every later one. A class rather than a lambda so that models using it
    can be saved (pickled) and loaded.
    """

    def __call__(self, finished_epochs: int) -> float:
        return 0.5 ** max(0, finished_epochs - 1)

    def __repr__(self) -> str:
        return "ReferenceLRSchedule()"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ReferenceLRSchedule)

    def __hash__(self) -> int:
        return hash(ReferenceLRSchedule)


def reference_schedule_kwargs(learning_rate: float = 1e-4) -> dict[str, Any]:
    """Darts model arguments that reproduce the reference optimiser and schedule (Adam is Darts' default).

    Parameters
    ----------
    learning_rate
        The initial rate ``lr0``. Default ``1e-4``, the reference scripts' value.

    Returns
    -------
    dict
        ``optimizer_kwargs``, ``lr_scheduler_cls`` (``LambdaLR``) and ``lr_scheduler_kwargs``; Darts steps the
        scheduler once per epoch. The reference also trains up to 20 epochs with early stopping (patience 3 on
        the validation loss) and batch 32: give ``n_epochs=20`` and a Lightning ``EarlyStopping`` callback with
        ``val_series`` yourself.
    """
    if isinstance(learning_rate, bool) or not isinstance(learning_rate, int | float) or not learning_rate > 0:
        raise ValueError(f"learning_rate must be a positive number; got {learning_rate!r}.")
    return {
        "optimizer_kwargs": {"lr": float(learning_rate)},
        "lr_scheduler_cls": torch.optim.lr_scheduler.LambdaLR,
        "lr_scheduler_kwargs": {"lr_lambda": ReferenceLRSchedule()},
    }
