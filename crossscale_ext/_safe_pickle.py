"""Safe loading of :class:`~crossscale_ext.sktime_forecaster.CrossScaleNetForecaster` saves (sktime's format).

sktime saves an estimator with ``pickle`` (``save()`` returns ``(cls, pickle bytes)`` or writes a zip file holding
``_metadata``, the pickled class, and ``_obj``, the pickled estimator) and loads it with ``pickle.loads``, which
runs whatever code the file names. This module unpickles both parts with Darts' restricted unpickler
(``darts.utils.serialization``, the one behind ``CrossScaleNetModel.load``): a global that a file names is accepted
only when Darts' audited policy allows it (numpy / pandas / torch data containers, torch modules, optimisers,
Darts' own classes, Lightning callbacks, ...), when it was registered with
``darts.utils.serialization.add_safe_globals`` (this package registers its model, network and config classes when
``crossscale_ext.darts_model`` is imported), or when it is one of the few further names a forecaster's save needs
(:data:`FORECASTER_GLOBALS`). Torch tensors inside a plain pickle are stored as nested ``torch.save`` bytes that torch
would load with ``weights_only=False``; they are loaded with ``weights_only=True`` instead, so a nested payload
cannot run code either.

What this cannot guard: ``sktime.base.load(path)`` unpickles ``_metadata`` with plain ``pickle`` *before* it calls
``CrossScaleNetForecaster.load_from_path``; a file whose ``_metadata`` is crafted runs its code there, before any
code of this package. Load files you did not make with ``CrossScaleNetForecaster.load_from_path(path)``, which reads
``_metadata`` safely too.
"""

from __future__ import annotations

import io
import pickle
import pickletools
import zipfile
import zlib
from pathlib import Path
from typing import Any

__all__ = ["FORECASTER_GLOBALS", "UnsafeFileError", "load_forecaster_bytes", "load_forecaster_zip"]

#: Globals a ``CrossScaleNetForecaster`` pickle needs beyond Darts' safe-loading policy and this package's classes
#: registered with Darts: the forecaster and its adapter, Darts' Monte Carlo dropout layer (an ``nn.Dropout``),
#: sktime's forecasting horizon and dtype-kind enum, pandas' ``FrozenList`` (the names and codes of a ``MultiIndex``,
#: for panels; a ``list`` rebuilt from a list) and torch's parameter rebuild (``nn.Parameter`` from a tensor).
FORECASTER_GLOBALS: frozenset[str] = frozenset({
    "crossscale_ext.sktime_forecaster.CrossScaleNetForecaster",
    "crossscale_ext._sktime_adapter.DartsAdapter",
    "darts.utils.torch.MonteCarloDropout",
    "sktime.forecasting.base._fh.ForecastingHorizon",
    "sktime.datatypes._dtypekind.DtypeKind",
    "pandas.api.typing.FrozenList",
    "pandas.core.indexes.frozen.FrozenList",
    "torch._utils._rebuild_parameter",
    # numpy arrays under pickle protocol 5 (cloudpickle's): an array from a bytes buffer
    "numpy._core.numeric._frombuffer",
    "numpy.core.numeric._frombuffer",
})

# Tensors in a plain pickle: torch's reduction stores each storage as ``torch.save`` bytes rebuilt by this function,
# which would call ``torch.load(..., weights_only=False)``: replaced by a ``weights_only=True`` load.
_NESTED_TORCH_LOAD = "torch.storage._load_from_bytes"


class UnsafeFileError(ValueError):
    """A file the safe loader refuses: not a complete CrossScaleNetForecaster save, or it names unsafe globals."""


def _load_storage_weights_only(data: bytes) -> Any:
    import torch

    return torch.load(io.BytesIO(data), weights_only=True)


def _restricted_loads(data: bytes, allowed_exact: frozenset[str] | None = None) -> Any:
    """Unpickle ``data`` with Darts' restricted unpickler (``allowed_exact``: accept only these globals)."""
    from darts.utils.serialization.base import RestrictedUnpickler
    from darts.utils.serialization.registry import _get_user_safe_globals

    import crossscale_ext.darts_model  # noqa: F401 - registers the package's classes with Darts' safe loader

    class _Unpickler(RestrictedUnpickler):
        def find_class(self, module: str, name: str) -> Any:
            qualname = f"{module}.{name}"
            if allowed_exact is not None:
                if qualname in allowed_exact:
                    return pickle.Unpickler.find_class(self, module, name)
                raise pickle.UnpicklingError(f"global {qualname!r} is not allowed here")
            if qualname == _NESTED_TORCH_LOAD:
                return _load_storage_weights_only
            if qualname in FORECASTER_GLOBALS:
                return pickle.Unpickler.find_class(self, module, name)
            return super().find_class(module, name)

    return _Unpickler(io.BytesIO(data), extra_user_globals=_get_user_safe_globals()).load()


def _first_global(data: bytes) -> str | None:
    """The first global a pickle names (``module.name``), read from its opcodes without running it; None if unknown."""
    strings: list[str] = []
    try:
        for opcode, arg, _ in pickletools.genops(data):
            if isinstance(arg, str):
                strings.append(arg)
            if opcode.name == "GLOBAL":
                return str(arg).replace(" ", ".")
            if opcode.name == "STACK_GLOBAL" and len(strings) >= 2:
                return f"{strings[-2]}.{strings[-1]}"
    except Exception:  # noqa: BLE001 - a corrupt pickle: nothing to name
        return None
    return None


def _qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def load_forecaster_bytes(cls: type, data: Any, source: str, trusted: bool = False) -> Any:
    """Unpickle the estimator pickle ``data`` (``_obj``) and check that it is a ``cls``.

    Raises
    ------
    UnsafeFileError
        For anything that is not a complete, safe pickle of a ``cls`` (a ``ValueError``).
    """
    if not isinstance(data, bytes | bytearray):
        raise UnsafeFileError(
            f"{source}: expected the bytes of a pickled {cls.__name__} (the second element of "
            f"{cls.__name__}.save()); got {type(data).__name__}."
        )
    try:
        obj = pickle.loads(data) if trusted else _restricted_loads(bytes(data))
    except Exception as error:  # noqa: BLE001 - the unpickler raises many types; one clear error for all
        named = _first_global(bytes(data))
        raise UnsafeFileError(
            f"Cannot load {source} as a {cls.__name__}: {type(error).__name__}: {error}. It is not a complete "
            f"{cls.__name__} save (truncated or corrupt), or it names objects the safe loader refuses because "
            "unpickling them may run code"
            + (f" (its first global is {named})" if named else "")
            + ". Pass trusted=True only for a file you fully trust; to allow one more class of your own (e.g. a "
            "loss or callback), register it with darts.utils.serialization.add_safe_globals."
        ) from error
    if not isinstance(obj, cls):
        raise UnsafeFileError(
            f"{source} holds a {type(obj).__name__}, not a {cls.__name__}: load it with the loader of its own class "
            "(e.g. sktime.base.load for an sktime estimator you trust)."
        )
    return obj


def _zip_path(serial: Any) -> Any:
    """The ways sktime names a save: a ZipFile, a Path to the zip, or a str with or without ``.zip``."""
    if isinstance(serial, zipfile.ZipFile):
        return serial.filename or serial.fp
    if isinstance(serial, str):
        path = Path(serial)
        if not path.exists() and Path(serial + ".zip").exists():
            return Path(serial + ".zip")
        return path
    if isinstance(serial, Path):
        return serial
    raise TypeError(
        f"Expected the path of a save made by save(path) (str, pathlib.Path or zipfile.ZipFile); got "
        f"{type(serial).__name__}. For an in-memory save use load_from_serial."
    )


def load_forecaster_zip(cls: type, serial: Any, trusted: bool = False) -> Any:
    """Load a ``cls`` from a zip file written by sktime's ``save(path)``; both members unpickled safely.

    Raises
    ------
    UnsafeFileError
        When the file is missing, not a zip file, truncated or corrupt, misses ``_metadata`` or ``_obj``, names
        another class, or holds objects the safe loader refuses (a ``ValueError``).
    """
    path = _zip_path(serial)
    source = repr(str(path)) if isinstance(path, str | Path) else "the zip file"
    if isinstance(path, str | Path) and not Path(path).is_file():
        raise UnsafeFileError(f"Cannot load {source}: no such file. Give the path save(path) wrote (a .zip file).")
    try:
        with zipfile.ZipFile(path, "r") as archive:
            metadata = archive.read("_metadata")
            data = archive.read("_obj")
    except KeyError as error:
        raise UnsafeFileError(
            f"{source} is a zip file but not an sktime save: it lacks {error}. Give a file written by "
            f"{cls.__name__}.save(path)."
        ) from error
    except (zipfile.BadZipFile, EOFError, zlib.error, OSError, ValueError) as error:
        raise UnsafeFileError(
            f"Cannot load {source} as a {cls.__name__}: {type(error).__name__}: {error}. The file is not a complete "
            f"save written by {cls.__name__}.save(path) (truncated or corrupt, or not a zip file)."
        ) from error
    if not trusted:
        try:
            saved_cls = _restricted_loads(metadata, allowed_exact=frozenset({_qualname(cls)}))
        except Exception as error:  # noqa: BLE001 - one clear error for every refusal
            named = _first_global(metadata)
            raise UnsafeFileError(
                f"{source} is not a {cls.__name__} save: its _metadata "
                + (f"names {named}" if named else "is not a pickled class")
                + f" ({type(error).__name__}: {error}). Load a save of another estimator with that estimator's "
                "own loader, and only if you trust the file."
            ) from error
        if saved_cls is not cls:
            raise UnsafeFileError(f"{source} is a save of {_qualname(saved_cls)}, not of {_qualname(cls)}.")
    return load_forecaster_bytes(cls, data, f"{source} (member _obj)", trusted=trusted)
