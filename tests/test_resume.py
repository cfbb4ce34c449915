"""A training interrupted after some epochs resumes from Darts' last checkpoint and ends as an uninterrupted one.

The fast tests stop a training in-process after ``k`` epochs (``fit(epochs=k)`` writes the same checkpoint as epoch
``k`` of the full run), load the last checkpoint and fit again to ``n_epochs``; the slow test SIGKILLs a training
subprocess after a checkpoint appears and resumes in this process. The claim: same final validation loss within
1e-6 (measured: identical, and identical weights), on CPU, same machine and library versions, same ``random_state``.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from support import QUIET_TRAINER, TINY, noisy_sine

from crossscale_ext import CrossScaleNetModel
from crossscale_ext.checkpointing import EpochSeedCallback, epoch_seed

pytestmark = pytest.mark.filterwarnings("ignore:Checkpoint directory .* exists and is not empty")

#: the tolerance the docs state for the final validation loss of a resumed training (CPU, fixed seed)
TOLERANCE = 1e-6


def _data(length: int = 240):
    series = noisy_sine(length=length, noise=0.2)
    split = int(length * 0.75)
    return series[:split], series[split - TINY["input_chunk_length"]:]


def _model(work_dir: Path, name: str, n_epochs: int, **kwargs) -> CrossScaleNetModel:
    return CrossScaleNetModel(**(TINY | {
        "n_epochs": n_epochs, "dropout": 0.2, "save_checkpoints": True, "force_reset": True, "model_name": name,
        "work_dir": str(work_dir), "pl_trainer_kwargs": dict(QUIET_TRAINER),
    } | kwargs))


def _val_loss(model: CrossScaleNetModel) -> float:
    return float(model.trainer.callback_metrics["val_loss"])


def _weights(model: CrossScaleNetModel) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in model.model.parameters()])


def test_resumed_training_ends_like_the_uninterrupted_one(tmp_path):
    train, val = _data()
    full = _model(tmp_path, "full", n_epochs=4).fit(train, val_series=val)

    _model(tmp_path, "stopped", n_epochs=4).fit(train, val_series=val, epochs=2)  # stops after 2 of 4 epochs
    assert [p.name for p in (tmp_path / "stopped" / "checkpoints").glob("last-*")] == ["last-epoch=1.ckpt"]
    resumed = CrossScaleNetModel.load_from_checkpoint("stopped", work_dir=str(tmp_path), best=False)
    resumed.fit(train, val_series=val)

    assert resumed.model.epochs_trained == full.model.epochs_trained == 4
    assert abs(_val_loss(resumed) - _val_loss(full)) <= TOLERANCE
    assert torch.equal(_weights(resumed), _weights(full))  # measured: bit-identical on CPU
    np.testing.assert_array_equal(resumed.predict(8).values(), full.predict(8).values())


def _covariates():
    from darts.utils.timeseries_generation import datetime_attribute_timeseries

    times = pd.date_range(noisy_sine(length=1).start_time(), periods=300, freq="h")
    return datetime_attribute_timeseries(times, attribute="hour").astype("float32") / 23.0


@pytest.mark.parametrize("case", ["schedule_quantiles_covariates", "no_validation", "validation_every_2_epochs"])
def test_resumption_is_exact_in_other_settings(tmp_path, case):
    """The learning-rate schedule, a likelihood and covariates; no validation; validation every other epoch."""
    from darts.utils.likelihood_models.torch import QuantileRegression

    from crossscale_ext.training import reference_schedule_kwargs

    train, val = _data()
    model_kwargs, fit_kwargs = {
        "schedule_quantiles_covariates": (
            {"likelihood": QuantileRegression([0.1, 0.5, 0.9]), **reference_schedule_kwargs(1e-3)},
            {"val_series": val, "future_covariates": _covariates(), "val_future_covariates": _covariates()},
        ),
        "no_validation": ({}, {}),
        "validation_every_2_epochs": ({"nr_epochs_val_period": 2}, {"val_series": val}),
    }[case]
    full = _model(tmp_path, "full", n_epochs=4, **model_kwargs).fit(train, **fit_kwargs)
    _model(tmp_path, "stopped", n_epochs=4, **model_kwargs).fit(train, epochs=2, **fit_kwargs)
    resumed = CrossScaleNetModel.load_from_checkpoint("stopped", work_dir=str(tmp_path), best=False)
    resumed.fit(train, **fit_kwargs)
    assert torch.equal(_weights(resumed), _weights(full))
    if "val_series" in fit_kwargs:
        assert abs(_val_loss(resumed) - _val_loss(full)) <= TOLERANCE


def test_every_epoch_is_seeded_from_the_base_seed_and_the_epoch(tmp_path):
    train, val = _data()
    model = _model(tmp_path, "seeded", n_epochs=2)
    callbacks = [cb for cb in model.trainer_params["callbacks"] if isinstance(cb, EpochSeedCallback)]
    assert len(callbacks) == 1 and model.trainer_params["enable_checkpointing"] is True
    model.fit(train, val_series=val)
    base = callbacks[0].base_seed
    assert isinstance(base, int)
    assert epoch_seed(base, 0) != epoch_seed(base, 1)
    # the base seed is in the checkpoint, so a resumed training seeds its epochs as the first one did
    last = next((tmp_path / "seeded" / "checkpoints").glob("last-*.ckpt"))
    checkpoint = torch.load(last, weights_only=False)  # the test's own file
    assert checkpoint["callbacks"]["EpochSeedCallback"] == {"base_seed": base}


def test_fit_with_checkpoints_leaves_numpy_and_random_as_they_were(tmp_path):
    train, val = _data()
    np.random.seed(123)
    random.seed(123)
    expected_np, expected_py = np.random.rand(), random.random()
    np.random.seed(123)
    random.seed(123)
    _model(tmp_path, "global_state", n_epochs=2).fit(train, val_series=val)
    assert np.random.rand() == expected_np and random.random() == expected_py


def test_without_checkpoints_nothing_is_added(trainer_kwargs):
    model = CrossScaleNetModel(**(TINY | {"pl_trainer_kwargs": trainer_kwargs}))
    assert not any(isinstance(cb, EpochSeedCallback) for cb in model.trainer_params["callbacks"])


def test_checkpointing_model_saves_and_loads_with_the_safe_default(tmp_path):
    train, val = _data()
    model = _model(tmp_path, "saved", n_epochs=1).fit(train, val_series=val)
    model.save(str(tmp_path / "model.pt"))
    loaded = CrossScaleNetModel.load(str(tmp_path / "model.pt"))  # no trusted=True
    assert any(isinstance(cb, EpochSeedCallback) for cb in loaded.trainer_params["callbacks"])
    np.testing.assert_array_equal(loaded.predict(8).values(), model.predict(8).values())


def test_load_from_checkpoint_refuses_missing_and_truncated_checkpoints(tmp_path):
    with pytest.raises(ValueError, match="Could not find base model|No checkpoint"):
        CrossScaleNetModel.load_from_checkpoint("never_trained", work_dir=str(tmp_path), best=False)

    train, val = _data()
    _model(tmp_path, "broken", n_epochs=1).fit(train, val_series=val)
    for checkpoint in (tmp_path / "broken" / "checkpoints").glob("*.ckpt"):
        raw = checkpoint.read_bytes()
        checkpoint.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match="Cannot load the checkpoint .* truncated"):
        CrossScaleNetModel.load_from_checkpoint("broken", work_dir=str(tmp_path), best=False)


_CHILD = textwrap.dedent(
    """
    import sys
    import torch
    torch.set_num_threads(1)
    sys.path.insert(0, {tests!r})
    from crossscale_ext._lightning import silence_lightning
    silence_lightning()
    import test_resume as t
    train, val = t._data({length})
    t._model(t.Path({work_dir!r}), "killed", n_epochs={n_epochs}).fit(train, val_series=val)
    print("FINISHED", flush=True)
    """
)


@pytest.mark.slow
def test_training_killed_mid_way_resumes_to_the_same_validation_loss(tmp_path):
    """SIGKILL a training subprocess once a checkpoint of epoch >= 2 exists; resume here; compare."""
    length, n_epochs = 1200, 8  # about 0.5 s per epoch on one thread: the kill lands mid-training
    train, val = _data(length)
    checkpoints = tmp_path / "killed" / "checkpoints"
    script = _CHILD.format(tests=str(Path(__file__).parent), length=length, work_dir=str(tmp_path),
                           n_epochs=n_epochs)
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and child.poll() is None:
            done = [int(p.stem.split("=")[1]) for p in checkpoints.glob("last-epoch=*.ckpt")] if checkpoints.exists() \
                else []
            if done and max(done) >= 1:  # epochs 0 and 1 saved (0-based)
                break
            time.sleep(0.05)
        assert child.poll() is None, "the training subprocess ended before it could be killed"
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=60)
    finally:
        if child.poll() is None:
            os.kill(child.pid, signal.SIGKILL)
            child.wait(timeout=60)
    assert child.returncode == -signal.SIGKILL
    assert b"FINISHED" not in child.stdout.read()

    last = [int(p.stem.split("=")[1]) for p in checkpoints.glob("last-epoch=*.ckpt")]
    resumed_from = max(last) + 1  # epochs completed before the kill
    resumed = CrossScaleNetModel.load_from_checkpoint("killed", work_dir=str(tmp_path), best=False)
    assert 2 <= resumed_from < n_epochs
    resumed.fit(train, val_series=val)

    full = _model(tmp_path, "uninterrupted", n_epochs=n_epochs).fit(train, val_series=val)
    difference = abs(_val_loss(resumed) - _val_loss(full))
    print(f"resumed after {resumed_from} of {n_epochs} epochs: val_loss {_val_loss(resumed):.9f} vs "
          f"{_val_loss(full):.9f} uninterrupted, |difference| {difference:.3g}, "
          f"max |weight difference| {float((_weights(resumed) - _weights(full)).abs().max()):.3g}")
    assert difference <= TOLERANCE
    assert torch.equal(_weights(resumed), _weights(full))
