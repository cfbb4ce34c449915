"""``crossscale bench speed``: a smoke run at tiny sizes through the command line, option checks, the baseline."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from crossscale_ext import cli
from crossscale_ext.benchmarks.speed import BASELINE, load_baseline_network, time_interleaved

TINY = ["--input-length", "32", "--horizon", "8", "--long-input-length", "64", "--long-horizon", "16",
        "--batch-size", "4", "--repeats", "1", "--fit-rows", "120", "--fit-epochs", "1", "--fit-repeats", "1",
        "--threads", "1"]
CHECKOUT = Path(__file__).resolve().parents[1]


def test_tiny_run_through_the_command_line(tmp_path, capsys):
    # the current checkout serves as its own baseline: the comparison machinery runs, imported under its own modules
    status = cli.main(["bench", "speed", *TINY, "--networks", "CrossScaleNet", "DLinear",
                       "--baseline", str(CHECKOUT), "--out", str(tmp_path)])
    assert status == 0
    report = json.loads((tmp_path / "speed.json").read_text())
    for shape in ("main shape", "long shape"):
        rows = report["networks"][shape]
        assert list(rows) == ["CrossScaleNet", BASELINE, "DLinear"]
        assert rows["CrossScaleNet"]["parameters"] == rows[BASELINE]["parameters"] > rows["DLinear"]["parameters"]
        for row in rows.values():
            for key in ("forward", "step (fused)", "step (default)"):
                assert math.isfinite(row[key]) and row[key] > 0, key
    assert set(report["saliency"]) == {"CrossScaleNet", BASELINE}
    assert all(row["saliency"] > 0 and row["forward"] > 0 for row in report["saliency"].values())
    assert set(report["darts"]) == {"CrossScaleNet", BASELINE, "DLinear"}
    for row in report["darts"].values():
        assert row["fit_s_per_epoch"] > 0 and row["predict_ms_1"] > 0 and row["predict_ms_32"] > 0
    assert set(report["growth"]) == {"CrossScaleNet", "DLinear"}  # the baseline is compared at the main shape only
    for row in report["growth"].values():
        assert set(row) == {f"{kind} {change}" for kind in ("forward", "step") for change in ("2L", "2H", "3C")} | {
            "series 32/1"}
        assert all(math.isfinite(ratio) and ratio > 0 for ratio in row.values())
    targets = {row["target"].split(" <=")[0]: row for row in report["targets"]}
    assert targets["training step"]["measured"] == "not measured"  # iTransformer was not asked for
    assert targets["Darts fit s/epoch"]["met"] in ("yes", "no")
    mine = report["darts"]["CrossScaleNet"]
    assert mine["saliency_windows"] == 120 - 32 - 8 + 1 and mine["saliency_s"] > 0 and mine["historical_s"] > 0
    for key in ("saliency pass", "saliency pass (every map)"):
        assert targets[key]["met"] in ("yes", "no"), key
    markdown = (tmp_path / "speed.md").read_text()
    assert "crossscale --threads 1 bench speed --input-length 32" in markdown and "| CrossScaleNet |" in markdown
    assert "**Targets**" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--device", "cpu", "--accelerator", "cpu"], "not both"),
        (["--device", "tpu"], "device"),
        (["--input-length", "36"], "input-length"),
        (["--baseline", "/nonexistent/checkout"], "no crossscale_ext/network.py"),
    ],
)
def test_invalid_options_are_rejected_with_the_reason(extra, message, capsys):
    with pytest.raises(SystemExit) as raised:
        cli.main(["bench", "speed", *TINY, *extra])
    assert message in str(raised.value)


def test_zero_repeats_is_an_argument_error(capsys):
    with pytest.raises(SystemExit):
        cli.main(["bench", "speed", "--repeats", "0"])
    assert "must be at least 1" in capsys.readouterr().err


def test_baseline_is_imported_beside_the_current_package():
    import crossscale_ext.network as current

    baseline = load_baseline_network(CHECKOUT)
    assert baseline is not current.CrossScaleNet  # a second copy of the module
    assert current.CrossScaleNet.__module__ == "crossscale_ext.network"
    import crossscale_ext.network as again

    assert again is current  # the current package's modules are back in place


def test_the_darts_model_builds_the_baseline_network_with_the_checkouts_own_config():
    """A checkout's network reads its own ``ArchitectureConfig``, whose fields may differ from the current one's."""
    import crossscale_ext.darts_model as darts_model
    from crossscale_ext.benchmarks.speed import _network_class_in_darts_model
    from crossscale_ext.config import ArchitectureConfig

    baseline = load_baseline_network(CHECKOUT)
    checkout_config = baseline.__init__.__globals__["ArchitectureConfig"]
    assert checkout_config is not ArchitectureConfig  # imported separately, from the checkout
    config = ArchitectureConfig(n_scales=3, base_patch_length=8, d_model=16)  # the kernel's default depends on L
    with _network_class_in_darts_model(baseline):
        network = darts_model.CrossScaleNet(input_length=32, output_length=8, n_channels=2, config=config)
    assert type(network) is baseline and type(network.config) is checkout_config
    assert network.config.moving_avg_kernel == config.resolved(32).moving_avg_kernel
    assert darts_model.CrossScaleNet is not baseline  # put back


def test_time_interleaved_runs_every_task_each_round():
    calls: list[str] = []
    timings = time_interleaved({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, repeats=3,
                               device="cpu", warmup=1)
    assert calls == ["a", "b"] + ["a", "b"] * 3  # one warm-up call of each, then interleaved rounds
    assert set(timings) == {"a", "b"} and all(ms >= 0 for ms in timings.values())


def test_bench_panel_prints_predict_and_saliency_per_panel_size(capsys):
    from crossscale_ext.cli import main

    assert main(["bench", "panel", "--series", "1", "3", "--repeats", "1"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert [row.split("|")[1].strip() for row in rows] == ["1", "3"]
    assert all(float(row.split("|")[4]) > 0 for row in rows)
