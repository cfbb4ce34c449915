"""Training recipes: the authors' schedule (``lradj=type1``) as a Darts option, and the recommended recipe.

The reference scripts (Adam, lr 1e-4) call ``adjust_learning_rate`` after every epoch with ``epoch + 1``; with
``lradj=type1`` it sets the rate to ``lr0 * 0.5 ** (epoch - 1)``. So epochs 1 and 2 both run at ``lr0`` and the
halving starts after epoch 2: epoch ``k`` (1-based) runs at ``lr0 * 0.5 ** max(0, k - 2)``. Darts' closest
built-in, ``ExponentialLR(gamma=0.5)``, halves one epoch earlier.

>>> from crossscale_ext.training import reference_schedule_kwargs
>>> kwargs = reference_schedule_kwargs()            # pass to CrossScaleNetModel(..., **kwargs)
>>> sorted(kwargs)
['lr_scheduler_cls', 'lr_scheduler_kwargs', 'optimizer_kwargs']

:func:`training_recipe` gives a whole recipe (optimiser, schedule, epochs, batch, early stopping) by name:
``"reference"`` is the authors' scripts', ``"recommended"`` the same with the learning rate chosen on validation
splits (``docs/benchmarks/forecast.md`` has the search and its numbers).

Importing this module is light: torch and Lightning are imported by the functions that need them.
"""

from __future__ import annotations

from typing import Any

from crossscale_ext.config import check_int

__all__ = [
    "RECIPES",
    "RECOMMENDED_LEARNING_RATE",
    "RECOMMENDED_MAX_HORIZON",
    "REFERENCE_LEARNING_RATE",
    "ReferenceLRSchedule",
    "fast_optimizer_kwargs",
    "recommended_learning_rate",
    "reference_schedule_kwargs",
    "training_recipe",
]

#: The reference scripts' initial learning rate (``run.py``'s default; no script overrides it).
REFERENCE_LEARNING_RATE = 1e-4
#: The initial rate of the recommended recipe for horizons up to :data:`RECOMMENDED_MAX_HORIZON`; longer horizons
#: keep the reference rate. Chosen on the ETTh1 validation split with the reference schedule: among 1e-4, 3e-4, 1e-3
#: and 3e-3 at H = 96 (1e-3 lowest), then 1e-4 against 1e-3 at every horizon (1e-3 lower at 96 and, barely, 192;
#: 1e-4 lower at 336 and 720): docs/benchmarks/forecast.md, "Choosing the recipe".
RECOMMENDED_LEARNING_RATE = 1e-3
#: The longest horizon (output_chunk_length) for which the recommended recipe uses RECOMMENDED_LEARNING_RATE.
RECOMMENDED_MAX_HORIZON = 192
#: The recipes :func:`training_recipe` knows.
RECIPES: tuple[str, ...] = ("recommended", "reference")


def recommended_learning_rate(horizon: int | None = None) -> float:
    """The recommended recipe's initial learning rate for a horizon (``output_chunk_length``).

    :data:`RECOMMENDED_LEARNING_RATE` (1e-3) up to :data:`RECOMMENDED_MAX_HORIZON` (192) steps, the reference
    rate (1e-4) beyond: on validation data the higher rate overfits long horizons within an epoch or two.
    ``None`` (horizon unknown) gives the short-horizon rate.

    >>> recommended_learning_rate(96), recommended_learning_rate(336)
    (0.001, 0.0001)
    """
    check_int("horizon", horizon, allow_none=True)
    if horizon is not None and horizon > RECOMMENDED_MAX_HORIZON:
        return REFERENCE_LEARNING_RATE
    return RECOMMENDED_LEARNING_RATE


def fast_optimizer_kwargs(optimizer_cls: type, optimizer_kwargs: dict[str, Any] | None) -> dict[str, Any]:
    """The optimiser arguments with torch's single-kernel (fused) implementation chosen, where it exists.

    CrossScaleNet has about eighty small parameter tensors; torch's default Adam updates them one by one, which
    took a fifth of a training step on one CPU thread. ``fused=True`` (Adam, AdamW, SGD and Adagrad, on CPU and
    GPU) updates them all in one kernel with the same arithmetic. It is added only when the class accepts it and
    the arguments choose no implementation themselves (``fused``, ``foreach`` or ``differentiable`` given):
    ``optimizer_kwargs={"fused": False}`` restores torch's default.

    Parameters
    ----------
    optimizer_cls
        The optimiser class (Darts' ``optimizer_cls``).
    optimizer_kwargs
        Its arguments (Darts' ``optimizer_kwargs``); not modified.

    Returns
    -------
    dict
        A new dict.

    Examples
    --------
    >>> import torch
    >>> fast_optimizer_kwargs(torch.optim.Adam, {"lr": 1e-3})
    {'lr': 0.001, 'fused': True}
    >>> fast_optimizer_kwargs(torch.optim.Adam, {"lr": 1e-3, "foreach": True})
    {'lr': 0.001, 'foreach': True}
    """
    import inspect

    kwargs = dict(optimizer_kwargs or {})
    chooses = {"fused", "foreach", "differentiable"} & set(kwargs)
    try:
        accepts_fused = "fused" in inspect.signature(optimizer_cls).parameters
    except (TypeError, ValueError):
        accepts_fused = False
    if accepts_fused and not chooses:
        kwargs["fused"] = True
    return kwargs


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
    import torch

    return {
        "optimizer_kwargs": {"lr": float(learning_rate)},
        "lr_scheduler_cls": torch.optim.lr_scheduler.LambdaLR,
        "lr_scheduler_kwargs": {"lr_lambda": ReferenceLRSchedule()},
    }


def training_recipe(
    recipe: str = "recommended", early_stopping_patience: int | None = 3, horizon: int | None = None
) -> dict[str, Any]:
    """Darts model arguments of a named training recipe.

    Both recipes use Adam, the reference schedule (``lradj=type1``, see :class:`ReferenceLRSchedule`), up to 20
    epochs, batch 32 and early stopping on the validation loss; they differ in the initial learning rate:

    - ``"reference"``: 1e-4, the authors' scripts (:data:`REFERENCE_LEARNING_RATE`);
    - ``"recommended"`` (default): :func:`recommended_learning_rate` of ``horizon``: 1e-3 up to 192 steps, 1e-4
      beyond, chosen on validation splits only.

    On the benchmark data the two rates are close, and validation and test disagree about them. The other data
    sets' validation splits prefer 1e-3 in most cells, at long horizons too. Their test splits prefer 1e-4 in most
    cells (``docs/benchmarks/forecast.md``, "What else was tried"). On your own data, try both recipes on a
    validation split that ends close to where you will forecast.

    Parameters
    ----------
    recipe
        ``"recommended"`` or ``"reference"``.
    early_stopping_patience
        Patience (epochs) of a ``pytorch_lightning`` ``EarlyStopping`` callback on ``val_loss``, added to
        ``pl_trainer_kwargs["callbacks"]``: the model must then be fit with ``val_series``. Default 3, the
        reference's. ``None`` leaves early stopping out (train all 20 epochs).
    horizon
        The model's ``output_chunk_length``, for the recommended recipe's rate; ``None``: the short-horizon rate.

    Returns
    -------
    dict
        ``optimizer_kwargs``, ``lr_scheduler_cls``, ``lr_scheduler_kwargs``, ``n_epochs``, ``batch_size`` and, with
        early stopping, ``pl_trainer_kwargs``. Merge your own trainer settings into that last one (e.g.
        ``kwargs["pl_trainer_kwargs"] |= {"accelerator": "gpu"}``). The benchmark also restores the weights of the
        best validation epoch; with Darts do that through ``save_checkpoints=True`` and
        ``CrossScaleNetModel.load_from_checkpoint(model_name, best=True)``.

    Raises
    ------
    ValueError
        For an unknown recipe or a patience that is not a positive integer.

    Examples
    --------
    >>> from crossscale_ext.training import training_recipe
    >>> kwargs = training_recipe("reference")
    >>> kwargs["optimizer_kwargs"], kwargs["n_epochs"], kwargs["batch_size"]
    ({'lr': 0.0001}, 20, 32)
    """
    if recipe not in RECIPES:
        raise ValueError(f"Unknown training recipe {recipe!r}; choose among {', '.join(map(repr, RECIPES))}.")
    rate = recommended_learning_rate(horizon) if recipe == "recommended" else REFERENCE_LEARNING_RATE
    kwargs = {**reference_schedule_kwargs(rate), "n_epochs": 20, "batch_size": 32}
    if early_stopping_patience is not None:
        check_int("early_stopping_patience", early_stopping_patience, allow_none=True)
        from pytorch_lightning.callbacks import EarlyStopping

        stopper = EarlyStopping(monitor="val_loss", patience=early_stopping_patience, mode="min")
        kwargs["pl_trainer_kwargs"] = {"callbacks": [stopper]}
    return kwargs
