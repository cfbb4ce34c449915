"""Scale: a global model over tens of series streams its windows; 2-process ddp_spawn trains as well as 1 process."""

from __future__ import annotations

import numpy as np
import pytest
from darts.utils.data.torch_datasets.training_dataset import SequentialTorchTrainingDataset
from support import QUIET_TRAINER, noisy_sine, tiny_model


class CountingDataset(SequentialTorchTrainingDataset):
    """Darts' training dataset, counting how many windows are cut from the series."""

    windows_cut = 0

    def __getitem__(self, index):
        type(self).windows_cut += 1
        return super().__getitem__(index)


def _series(n_series: int, length: int):
    return [noisy_sine(length, period=12 + i % 5, seed=i) for i in range(n_series)]


def _mse(model, series, trainer=None) -> float:
    """Mean squared error of the 8 steps after row 88 of every series."""
    inputs = [s[56:88] for s in series]
    forecasts = model.predict(8, series=inputs, trainer=trainer, verbose=False)
    return float(np.mean([(f.values() - s[88:96].values()) ** 2 for f, s in zip(forecasts, series)]))


def test_global_model_streams_windows_lazily():
    series = _series(40, 120)
    dataset = CountingDataset(series, input_chunk_length=32, output_chunk_length=8)
    CountingDataset.windows_cut = 0
    assert len(dataset) == 40 * (120 - 32 - 8 + 1)
    assert CountingDataset.windows_cut == 0  # building the dataset cuts nothing: it keeps the series only
    assert all(kept is original for kept, original in zip(dataset.series, series))

    model = tiny_model(batch_size=64)
    model.fit_from_dataset(dataset, verbose=False)
    # one epoch cut every window once, batch by batch, from the stored series (plus one sample Darts reads
    # first to size the network)
    assert CountingDataset.windows_cut == len(dataset) + 1
    forecasts = model.predict(8, series=[s[:88] for s in series], verbose=False)
    assert len(forecasts) == 40 and all(np.isfinite(f.values()).all() for f in forecasts)


@pytest.mark.slow
def test_ddp_spawn_two_cpu_processes_matches_one_process(monkeypatch):
    import pytorch_lightning as pl

    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the spawned workers inherit it: no thread oversubscription
    series = _series(12, 104)
    train = [s[:88] for s in series]
    single = tiny_model(n_epochs=5, batch_size=32)
    single.fit(train, verbose=False)
    # the same optimisation with two processes: per-process batch 16, so each step still averages 32 windows
    ddp_kwargs = {**QUIET_TRAINER, "devices": 2, "strategy": "ddp_spawn"}
    distributed = tiny_model(n_epochs=5, batch_size=16, pl_trainer_kwargs=ddp_kwargs)
    distributed.fit(train, verbose=False)

    # Lightning's ddp_spawn returns nothing from predict() to the main process: CrossScaleNetModel then
    # predicts in this process, so plain predict() and historical_forecasts() work after a ddp_spawn fit
    single_mse = _mse(single, series)
    distributed_mse = _mse(distributed, series)
    one_device = pl.Trainer(**QUIET_TRAINER, devices=1)
    assert distributed_mse == pytest.approx(_mse(distributed, series, trainer=one_device), rel=1e-5)
    forecasts = distributed.historical_forecasts(series[0], start=88, forecast_horizon=8, retrain=False,
                                                 verbose=False)
    assert len(forecasts) == 104 - 88 - 8 + 1
    naive_mse = float(np.mean([(s[88:96].values() - s[87:88].values()) ** 2 for s in series]))
    assert distributed_mse < 0.5 * naive_mse  # the weights trained in the workers came back
    assert distributed_mse == pytest.approx(single_mse, rel=0.25)
