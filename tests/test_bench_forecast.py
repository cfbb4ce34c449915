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
