"""Quiet PyTorch Lightning: trainer settings and one place that silences its console noise.

Used by the sktime forecaster (unless ``verbose=True``), the command line, the benchmarks and the tests.
Imports neither Lightning nor Darts.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["QUIET_TRAINER_KWARGS", "quiet_lightning", "silence_lightning"]

#: Lightning ``Trainer`` settings with no progress bar, model summary, logger or checkpoints, for scripts and
#: tests: ``pl_trainer_kwargs={**QUIET_TRAINER_KWARGS, "accelerator": "cpu"}``.
QUIET_TRAINER_KWARGS: dict[str, Any] = {
    "enable_progress_bar": False,
    "enable_model_summary": False,
    "logger": False,
    "enable_checkpointing": False,
}

# Lightning's INFO messages ("GPU available ...", tips, the "💡 Tip" banner).
_LOGGERS = ("pytorch_lightning", "lightning.pytorch", "lightning_fabric", "lightning.fabric", "lightning")
# Warnings raised inside Lightning's loops (data-loader advice, internal deprecations).
_MODULES = r"(pytorch_lightning|lightning|lightning_fabric)(\..*)?"
# Messages that say nothing actionable on a CPU machine: torch's note that pinned memory needs an accelerator
# (Darts asks for it), Lightning's advice on loader workers, its "across ranks is zero" note for tiny validation
# sets, torch's LeafSpec deprecation raised inside Lightning, and the optional litlogger hint.
_MESSAGES = (
    ".*pin_memory.*",
    ".*does not have many workers.*",
    ".*across ranks is zero.*",
    ".*LeafSpec.*",
    ".*litlogger.*",
)


def _add_filters() -> None:
    warnings.filterwarnings("ignore", module=_MODULES)
    for message in _MESSAGES:
        warnings.filterwarnings("ignore", message=message)


@contextmanager
def quiet_lightning() -> Iterator[None]:
    """Silence Lightning's info messages and harmless warnings inside the block; restore them after."""
    loggers = [logging.getLogger(name) for name in _LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        if logger.getEffectiveLevel() < logging.WARNING:
            logger.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            _add_filters()
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def silence_lightning() -> None:
    """Silence Lightning's info messages and harmless warnings for the rest of the process (scripts, CLI).

    Imports Lightning first when it is installed: its import sets its logger to INFO, which would undo this.
    """
    try:
        import pytorch_lightning  # noqa: F401
    except ImportError:  # pragma: no cover - Lightning is a dependency; nothing to silence without it
        pass
    for name in _LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    _add_filters()
