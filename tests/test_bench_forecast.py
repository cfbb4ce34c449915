"""``crossscale bench forecast``: one smoke run through the command line (slow), argument checks, the harness."""

from __future__ import annotations

import csv
import math

import pytest

from crossscale_ext import cli
from crossscale_ext.benchmarks.forecast import BenchmarkRow, format_markdown
from crossscale_ext.benchmarks.harness import PeakMemory


@pytest.mark.slow
def test_quick_run_through_the_command_line(shared_data_dir, tmp_path, capsys):
    status = cli.main(["bench", "forecast", "--quick", "--dataset", "ETTh1", "--models", "CrossScaleNet", "DLinear",
                       "--data-dir", str(shared_data_dir), "--out", str(tmp_path), "--threads", "1"])
    assert status == 0
    with open(tmp_path / "results.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["dataset"], r["horizon"], r["model"]) for r in rows] == [("ETTh1", "96", "CrossScaleNet"),
                                                                       ("ETTh1", "96", "DLinear")]
    for row in rows:
        assert int(row["n_test_windows"]) == 256
        assert int(row["epochs_run"]) == 1 and int(row["best_epoch"]) == 1
        assert int(row["parameters"]) > 0
        for key in ("mse", "mae", "train_seconds_per_epoch", "latency_ms_batch1", "latency_ms_batch32"):
            assert math.isfinite(float(row[key])) and float(row[key]) > 0, key
        assert 0 <= float(row["peak_memory_mb"]) < 4096  # measured (NaN if the block never closed), and sane
    assert float(rows[0]["mse"]) < 2.0  # scaled data: even one epoch does better than a wild guess
    report = (tmp_path / "results.md").read_text()
    assert "Quick smoke run" in report and "| CrossScaleNet |" in report and "| DLinear |" in report
    assert "crossscale bench forecast --dataset ETTh1" in report and "--threads 1" in report
    assert "ETTh1, H = 96 (256 test windows)" in capsys.readouterr().out


def test_finished_rows_are_written_before_a_later_run_fails(tmp_path, monkeypatch):
    from types import SimpleNamespace

    import crossscale_ext.datasets.long_horizon as long_horizon
    from crossscale_ext.benchmarks import forecast

    monkeypatch.setattr(long_horizon, "load_long_horizon",
                        lambda name, length, data_dir=None: SimpleNamespace(name=name, train=0, val=0, test=0))

    def run_one(model_name, data, horizon, *args, **kwargs):
        if model_name == "NLinear":
            raise RuntimeError("killed")
        return BenchmarkRow(data.name, horizon, model_name, 0.5, 0.4, 10, 5, 3, 2, 1.0, 1.0, 2.0, 0.0, 0.005)

    monkeypatch.setattr(forecast, "run_one", run_one)
    with pytest.raises(RuntimeError, match="killed"):
        cli.main(["bench", "forecast", "--dataset", "ETTh1", "--horizons", "96", "--models", "DLinear", "NLinear",
                  "--out", str(tmp_path)])
    with open(tmp_path / "results.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["model"], r["mse"]) for r in rows] == [("DLinear", "0.5")]
    assert "| DLinear |" in (tmp_path / "results.md").read_text()


def test_invalid_arguments_are_rejected(tmp_path):
    with pytest.raises(ValueError, match="--epochs must be at least 1"):
        cli.main(["bench", "forecast", "--epochs", "0", "--out", str(tmp_path)])
    with pytest.raises(ValueError, match="--lr-gamma"):
        cli.main(["bench", "forecast", "--lr-gamma", "1.5", "--out", str(tmp_path)])
    with pytest.raises(ValueError, match="NAME=VALUE"):
        cli.main(["bench", "forecast", "--crossscale-option", "channel_mixing", "--out", str(tmp_path)])
    with pytest.raises(SystemExit):
        cli.main(["bench", "forecast", "--models", "Prophet"])
    with pytest.raises(SystemExit):  # the global --threads, accepted after the command too
        cli.main(["bench", "forecast", "--threads", "0", "--out", str(tmp_path)])


def test_model_options_are_python_literals():
    from crossscale_ext.benchmarks.forecast import parse_model_options

    assert parse_model_options(["channel_mixing=False", "d_model=64"]) == {"channel_mixing": False, "d_model": 64}
    with pytest.raises(ValueError, match="Python literal"):
        parse_model_options(["channel_mixing=maybe"])


def test_markdown_averages_over_horizons():
    rows = [BenchmarkRow("ETTh1", h, "DLinear", mse, mse, 10, 5, 3, 2, 1.0, 1.0, 2.0, 0.0, 0.005)
            for h, mse in ((96, 0.3), (192, 0.5))]
    text = format_markdown(rows, "crossscale bench forecast", quick=False)
    assert "## ETTh1, average over H in [96, 192]" in text
    assert "| DLinear | 0.4000 | 0.4000 |" in text


def test_peak_memory_sees_an_allocation():
    import numpy as np

    with PeakMemory() as memory:
        block = np.ones(64 * 1024 * 1024 // 8)  # 64 MB, touched
        block.sum()
    del block
    assert memory.megabytes > 32


def _row(dataset: str, horizon: int, model: str, mse: float) -> BenchmarkRow:
    return BenchmarkRow(dataset, horizon, model, mse, mse, 10, 5, 3, 2, 1.0, 1.0, 2.0, 0.0, 0.005, mse + 0.1, mse)


def test_cell_summary_counts_where_crossscalenet_wins():
    from crossscale_ext.benchmarks.forecast import cell_summary, summary_markdown

    rows = [_row("ETTh1", 96, "CrossScaleNet", 0.37), _row("ETTh1", 96, "DLinear", 0.38),
            _row("ETTh1", 96, "NLinear", 0.39), _row("ETTh1", 96, "TiDE", 0.36),      # TiDE best, CSN beats linear
            _row("ETTh1", 192, "CrossScaleNet", 0.45), _row("ETTh1", 192, "DLinear", 0.44),
            _row("ETTh1", 192, "NLinear", 0.46),                                       # DLinear best
            _row("ETTh2", 96, "CrossScaleNet", 0.28), _row("ETTh2", 96, "TSMixer", 0.30),  # CSN best, no linear
            _row("ETTh2", 192, "CrossScaleNet", 0.30)]                                 # alone: not a cell
    assert cell_summary(rows) == {"cells": 3, "best": 1, "linear_cells": 2, "beats_linear": 1}
    text = "\n".join(summary_markdown(rows))
    assert "1 of 3 cells" in text and "below both DLinear and NLinear: 1 of 2 cells" in text
    assert summary_markdown([_row("ETTh1", 96, "CrossScaleNet", 0.3)]) == []
    # a variant of the counted model (another recipe's rows) is not its peer: it neither wins the cell nor counts it
    variants = rows + [_row("ETTh2", 96, "CrossScaleNet (reference)", 0.20),
                       _row("ETTh2", 192, "CrossScaleNet (lr 1e-3)", 0.10)]
    assert cell_summary(variants) == cell_summary(rows)
    assert cell_summary(variants, "CrossScaleNet (reference)")["best"] == 1


def test_results_round_trip_and_merge(tmp_path):
    from crossscale_ext.benchmarks.forecast import read_results, write_results

    first = [_row("ETTh1", 96, "CrossScaleNet", 0.4), _row("ETTh1", 96, "DLinear", 0.38)]
    second = [_row("ETTh2", 96, "CrossScaleNet", 0.29)]
    write_results(first, tmp_path / "a", "cmd a", quick=False)
    write_results(second, tmp_path / "b", "cmd b", quick=False)
    assert read_results([tmp_path / "a" / "results.csv"]) == first
    status = cli.main(["bench", "forecast", "--merge", str(tmp_path / "a" / "results.csv"),
                       str(tmp_path / "b" / "results.csv"), "--out", str(tmp_path / "merged")])
    assert status == 0
    assert read_results([tmp_path / "merged" / "results.csv"]) == first + second
    report = (tmp_path / "merged" / "results.md").read_text()
    assert "## ETTh2, H = 96" in report and "--merge" in report
    (tmp_path / "bad.csv").write_text("dataset,colour\nETTh1,red\n")
    with pytest.raises(ValueError, match="unknown column 'colour'"):
        read_results([tmp_path / "bad.csv"])


def test_reference_schedule_is_the_benchmark_default():
    import torch

    from crossscale_ext.benchmarks.forecast import build_model
    from crossscale_ext.training import ReferenceLRSchedule

    model, *_ = build_model("NLinear", "ETTh1", 24, epochs=1, patience=1)
    assert model.model_params["lr_scheduler_cls"] is torch.optim.lr_scheduler.LambdaLR
    assert isinstance(model.model_params["lr_scheduler_kwargs"]["lr_lambda"], ReferenceLRSchedule)
    model, *_ = build_model("NLinear", "ETTh1", 24, epochs=1, patience=1, schedule="exponential", lr_gamma=0.8)
    assert model.model_params["lr_scheduler_kwargs"] == {"gamma": 0.8}
    with pytest.raises(ValueError, match="Unknown schedule"):
        build_model("NLinear", "ETTh1", 24, epochs=1, patience=1, schedule="cosine")
    # CrossScaleNet: the recommended recipe's rate per horizon unless --crossscale-lr is given
    assert build_model("CrossScaleNet", "ETTh1", 96, epochs=1, patience=1)[3] == 1e-3
    assert build_model("CrossScaleNet", "ETTh1", 336, epochs=1, patience=1)[3] == 1e-4
    assert build_model("CrossScaleNet", "ETTh1", 336, epochs=1, patience=1, crossscale_lr=3e-4)[3] == 3e-4


def test_crossscale_label_names_the_rows_and_is_in_the_command():
    import argparse

    from crossscale_ext.benchmarks.forecast import _command_line, add_arguments

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--crossscale-lr", "1e-4", "--crossscale-label", "CrossScaleNet (reference)"])
    assert args.crossscale_label == "CrossScaleNet (reference)"
    assert "--crossscale-label 'CrossScaleNet (reference)'" in _command_line(args)
    assert "--crossscale-label" not in _command_line(parser.parse_args([]))


def test_crossscale_options_override_the_shared_trainer_settings():
    import torch

    from crossscale_ext.benchmarks.forecast import build_model

    adamw = {"optimizer_cls": torch.optim.AdamW, "optimizer_kwargs": {"lr": 1e-3, "weight_decay": 0.05}}
    model, *_ = build_model("CrossScaleNet", "ETTh1", 24, epochs=1, patience=1, crossscale_options=adamw)
    assert model.model_params["optimizer_cls"] is torch.optim.AdamW
    assert model.model_params["optimizer_kwargs"] == {"lr": 1e-3, "weight_decay": 0.05}
    default, *_ = build_model("CrossScaleNet", "ETTh1", 24, epochs=1, patience=1)
    assert default.model_params["optimizer_cls"] is torch.optim.Adam
    assert default.model_params["optimizer_kwargs"] == {"lr": 1e-3}
    assert default.model_params["n_epochs"] == 1 and default.model_params["batch_size"] == 32


def test_weight_decay_experiment_switches_crossscalenet_to_adamw_only():
    import importlib.util
    from pathlib import Path

    import torch

    path = Path(__file__).resolve().parents[1] / "experiments" / "weight_decay.py"
    spec = importlib.util.spec_from_file_location("weight_decay_experiment", path)
    experiment = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(experiment)
    build_model = experiment.with_weight_decay(0.05)
    model, *_ = build_model("CrossScaleNet", "ETTh1", 24, epochs=1, patience=1)
    assert model.model_params["optimizer_cls"] is torch.optim.AdamW
    assert model.model_params["optimizer_kwargs"] == {"lr": 1e-3, "weight_decay": 0.05}
    peer, *_ = build_model("DLinear", "ETTh1", 24, epochs=1, patience=1)
    assert peer.model_params["optimizer_cls"] is torch.optim.Adam
    with pytest.raises(ValueError, match="weight decay must be 0 or more"):
        experiment.with_weight_decay(-1.0)
