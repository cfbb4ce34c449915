"""CrossScaleNetForecaster's save / load: a safe default that refuses crafted, truncated and foreign files.

sktime's ``save`` pickles; its ``load_from_path`` / ``load_from_serial`` unpickle with plain pickle, which runs any
code a file names. The forecaster overrides both with Darts' restricted unpickler (:mod:`crossscale_ext._safe_pickle`);
``trusted=True`` is the explicit opt-in. ``sktime.base.load(path)`` itself unpickles the file's ``_metadata`` before
our code runs: the last test records that gap, which the docs state. (The Darts side, ``CrossScaleNetModel.load``,
refuses its three unsafe files in ``tests/test_darts_model.py``.)
"""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import pytorch_lightning as pl
import torch
from sktime.base import load
from sktime.forecasting.naive import NaiveForecaster

from crossscale_ext import CrossScaleNetForecaster

FH = [1, 2, 10]


class _RunsCode:
    """Unpickling it calls ``os.system(command)``: the crafted payload (the command would create a file)."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


class _OpensFile:
    """Unpickling it calls ``open(path, "w")`` (creates the file): a payload without a shell."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return open, (self.path, "w")


class _NestedTorchPayload:
    """Unpickles through torch's storage rebuild, whose bytes hold a second pickle that runs a command."""

    def __init__(self, command: str) -> None:
        self.inner = pickle.dumps(_RunsCode(command))

    def __reduce__(self):
        return torch.storage._load_from_bytes, (self.inner,)


class _MyCallback(pl.Callback):
    """A user's own Lightning callback: not on the safe loader's allow-list (defined in a test module)."""


@pytest.fixture(scope="module")
def fitted() -> CrossScaleNetForecaster:
    index = pd.period_range("2000-01", periods=100, freq="M")
    y = pd.Series(np.sin(np.arange(100) / 4.0) + 0.05 * np.random.default_rng(0).normal(size=100), index=index)
    forecaster = CrossScaleNetForecaster(
        input_chunk_length=32, output_chunk_length=8, n_scales=3, base_patch_length=8, moving_avg_kernel=7,
        d_model=16, n_epochs=1, random_state=0, quantiles=[0.1, 0.5, 0.9], num_samples=16,
    )
    return forecaster.fit(y)


def _forecasts(forecaster: CrossScaleNetForecaster) -> list[np.ndarray]:
    return [
        forecaster.predict(fh=FH).to_numpy(),
        forecaster.predict_quantiles(fh=FH, alpha=[0.1, 0.9]).to_numpy(),
        forecaster.saliency(kind="gradient").to_numpy(),
    ]


def _zip(path: Path, metadata: bytes, obj: bytes) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("_metadata", metadata)
        archive.writestr("_obj", obj)
    return path


# ---------------------------------------------------------------------------------------------- round trips
def test_file_round_trip_predicts_the_same(fitted, tmp_path):
    expected = _forecasts(fitted)
    fitted.save(tmp_path / "forecaster")
    for loaded in (load(str(tmp_path / "forecaster")),  # sktime's entry point dispatches to our load_from_path
                   CrossScaleNetForecaster.load_from_path(tmp_path / "forecaster.zip"),
                   CrossScaleNetForecaster.load_from_path(str(tmp_path / "forecaster"))):
        assert isinstance(loaded, CrossScaleNetForecaster)
        for got, want in zip(_forecasts(loaded), expected):
            np.testing.assert_array_equal(got, want)


def test_in_memory_round_trip_predicts_the_same(fitted):
    expected = _forecasts(fitted)
    serial = fitted.save()
    for loaded in (load(serial), CrossScaleNetForecaster.load_from_serial(serial[1])):
        for got, want in zip(_forecasts(loaded), expected):
            np.testing.assert_array_equal(got, want)


def test_cloudpickle_and_protocol_5_saves_load_safely(fitted, tmp_path):
    pytest.importorskip("cloudpickle")
    expected = fitted.predict(fh=FH).to_numpy()
    fitted.save(tmp_path / "cloud", serialization_format="cloudpickle")
    loaded = CrossScaleNetForecaster.load_from_path(tmp_path / "cloud.zip")
    np.testing.assert_array_equal(loaded.predict(fh=FH).to_numpy(), expected)
    protocol_5 = CrossScaleNetForecaster.load_from_serial(pickle.dumps(fitted, protocol=5))
    np.testing.assert_array_equal(protocol_5.predict(fh=FH).to_numpy(), expected)


def test_panel_round_trip_predicts_the_same(tmp_path):
    """A panel in sktime's nested format (as its estimator checks use) pickles pandas' FrozenList: accepted."""
    from sktime.utils._testing.panel import _make_panel_X

    y = _make_panel_X(n_instances=2, n_timepoints=40, n_columns=1, random_state=0, all_positive=True)
    forecaster = CrossScaleNetForecaster(input_chunk_length=16, output_chunk_length=4, n_scales=2,
                                         base_patch_length=4, moving_avg_kernel=5, d_model=8, n_epochs=1,
                                         random_state=0).fit(y, fh=[1, 2])
    expected = forecaster.predict()
    assert b"FrozenList" in pickle.dumps(forecaster)
    forecaster.save(tmp_path / "panel")
    pd.testing.assert_frame_equal(load(str(tmp_path / "panel")).predict(), expected)


def test_unfitted_forecaster_round_trip():
    forecaster = CrossScaleNetForecaster(input_chunk_length=32, output_chunk_length=8, n_scales=3,
                                         base_patch_length=8, moving_avg_kernel=7, loss_fn=torch.nn.L1Loss())
    loaded = CrossScaleNetForecaster.load_from_serial(forecaster.save()[1])
    assert repr(loaded.get_params()) == repr(forecaster.get_params())


# ---------------------------------------------------------------------------------------------- unsafe files
def _unsafe_files(tmp_path: Path, fitted: CrossScaleNetForecaster, marker: Path) -> dict[str, Path]:
    """The three unsafe files of the issue (crafted, truncated, foreign), plus variants, all legit-looking zips."""
    good = fitted.save(tmp_path / "good").filename
    metadata = pickle.dumps(CrossScaleNetForecaster)
    raw = Path(good).read_bytes()
    truncated = tmp_path / "truncated.zip"
    truncated.write_bytes(raw[: len(raw) // 2])
    NaiveForecaster().save(tmp_path / "foreign")
    with zipfile.ZipFile(good) as archive:
        obj = archive.read("_obj")
    return {
        "crafted": _zip(tmp_path / "crafted.zip", metadata, pickle.dumps(_RunsCode(f"touch {marker}"))),
        "crafted_nested_in_a_tensor": _zip(tmp_path / "nested.zip", metadata,
                                           pickle.dumps(_NestedTorchPayload(f"touch {marker}"))),
        "crafted_metadata": _zip(tmp_path / "crafted_metadata.zip", pickle.dumps(_RunsCode(f"touch {marker}")), obj),
        "truncated": truncated,
        "truncated_member": _zip(tmp_path / "truncated_member.zip", metadata, obj[: len(obj) // 2]),
        "foreign": tmp_path / "foreign.zip",
        "foreign_object_our_metadata": _zip(tmp_path / "foreign_obj.zip", metadata, pickle.dumps({"a": 1})),
        "not_a_zip": _write(tmp_path / "not_a_zip.zip", b"not a zip file at all"),
    }


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_the_safe_default_refuses_every_unsafe_file_and_no_code_runs(fitted, tmp_path):
    marker = tmp_path / "code_ran"
    refused = {}
    for name, path in _unsafe_files(tmp_path, fitted, marker).items():
        with pytest.raises(ValueError) as info:
            CrossScaleNetForecaster.load_from_path(path)
        refused[name] = str(info.value)
        assert not marker.exists(), f"{name}: the crafted command ran"
    assert len(refused) == 8
    assert "refuses" in refused["crafted"] and "trusted=True" in refused["crafted"]
    assert "refuses" in refused["crafted_nested_in_a_tensor"]
    assert "its _metadata names" in refused["crafted_metadata"] and "posix.system" in refused["crafted_metadata"]
    assert "truncated or corrupt" in refused["truncated"]
    assert "truncated or corrupt" in refused["truncated_member"]
    assert "NaiveForecaster" in refused["foreign"]
    assert "holds a dict, not a CrossScaleNetForecaster" in refused["foreign_object_our_metadata"]
    assert not marker.exists()


def test_sktime_load_refuses_a_crafted_estimator_behind_our_metadata(fitted, tmp_path):
    marker = tmp_path / "code_ran"
    files = _unsafe_files(tmp_path, fitted, marker)
    for name in ("crafted", "crafted_nested_in_a_tensor", "truncated_member", "foreign_object_our_metadata"):
        with pytest.raises(ValueError):
            load(files[name])  # sktime dispatches to CrossScaleNetForecaster.load_from_path
    assert not marker.exists()


def test_in_memory_saves_are_refused_the_same_way(fitted, tmp_path):
    marker = tmp_path / "code_ran"
    serial = fitted.save()[1]
    cases = {
        "crafted": pickle.dumps(_RunsCode(f"touch {marker}")),
        "crafted_nested_in_a_tensor": pickle.dumps(_NestedTorchPayload(f"touch {marker}")),
        "truncated": serial[: len(serial) // 2],
        "foreign": pickle.dumps(NaiveForecaster()),
        "not_bytes": "a string",
    }
    for data in cases.values():
        with pytest.raises(ValueError):
            CrossScaleNetForecaster.load_from_serial(data)
        with pytest.raises(ValueError):
            load((CrossScaleNetForecaster, data))
    assert not marker.exists()


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="no such file"):
        CrossScaleNetForecaster.load_from_path(tmp_path / "absent.zip")


def test_trusted_is_the_explicit_opt_in(tmp_path):
    forecaster = CrossScaleNetForecaster(input_chunk_length=32, output_chunk_length=8, n_scales=3,
                                         base_patch_length=8, moving_avg_kernel=7,
                                         pl_trainer_kwargs={"callbacks": [_MyCallback()]})
    path = forecaster.save(tmp_path / "own_callback").filename
    with pytest.raises(ValueError, match="_MyCallback"):
        CrossScaleNetForecaster.load_from_path(path)
    loaded = CrossScaleNetForecaster.load_from_path(path, trusted=True)
    assert isinstance(loaded.pl_trainer_kwargs["callbacks"][0], _MyCallback)
    serial = forecaster.save()[1]
    with pytest.raises(ValueError):
        CrossScaleNetForecaster.load_from_serial(serial)
    assert isinstance(CrossScaleNetForecaster.load_from_serial(serial, trusted=True), CrossScaleNetForecaster)


def test_documented_gap_sktime_load_unpickles_metadata_before_our_code(tmp_path):
    """``sktime.base.load(path)`` runs a crafted ``_metadata`` itself; ``load_from_path`` does not (see docs)."""
    marker = tmp_path / "opened_by_metadata"
    crafted = _zip(tmp_path / "crafted_metadata.zip", pickle.dumps(_OpensFile(str(marker))), b"")
    with pytest.raises(ValueError):
        CrossScaleNetForecaster.load_from_path(crafted)
    assert not marker.exists()
    with pytest.raises(Exception):  # noqa: B017, PT011 - what sktime raises after the payload ran does not matter
        load(crafted)
    assert marker.exists()  # the payload ran inside sktime.base.load, before any code of this package

