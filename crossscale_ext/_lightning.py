"""Quiet PyTorch Lightning: trainer settings and one place that silences its console noise.

Used by the sktime forecaster (unless ``verbose=True``), the command line, the benchmarks and the tests.
Imports neither Lightning nor Darts.
"""

from __future__ import annotations

import logging
import threading
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


# quiet_lightning() may be entered by several threads at once (concurrent sktime calls): the first one in saves the
# logger levels and the warning filters and installs the quiet ones, the last one out restores them. (A plain
# warnings.catch_warnings() per call is not thread-safe: interleaved exits restore each other's filters.)
_QUIET_LOCK = threading.Lock()
_quiet_depth = 0
_saved_state: tuple[list[logging.Logger], list[int], list] | None = None


@contextmanager
def quiet_lightning() -> Iterator[None]:
    """Silence Lightning's info messages and harmless warnings inside the block; restore them after.

    Safe to enter from several threads at once: the settings stay quiet until the last block exits.
    """
    global _quiet_depth, _saved_state
    with _QUIET_LOCK:
        if _quiet_depth == 0:
            loggers = [logging.getLogger(name) for name in _LOGGERS]
            levels = [logger.level for logger in loggers]
            for logger in loggers:
                if logger.getEffectiveLevel() < logging.WARNING:
                    logger.setLevel(logging.WARNING)
            _saved_state = (loggers, levels, warnings.filters)
            warnings.filters = warnings.filters[:]
            warnings._filters_mutated()
            _add_filters()
        _quiet_depth += 1
    try:
        yield
    finally:
        with _QUIET_LOCK:
            _quiet_depth -= 1
            if _quiet_depth == 0 and _saved_state is not None:
                loggers, levels, filters = _saved_state
                warnings.filters = filters
                warnings._filters_mutated()
                for logger, level in zip(loggers, levels):
                    logger.setLevel(level)
                _saved_state = None


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
