"""``crossscale bench saliency``: the command, its outputs and its helpers."""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest

from crossscale_ext.benchmarks.saliency import _shap_to_cells, _subset, markdown_tables
from crossscale_ext.cli import build_parser, main


def test_command_is_registered_with_its_options(tmp_path):
    args = build_parser(("bench", "saliency")).parse_args(
        ["bench", "saliency", "--datasets", "SYN1", "SYN6", "--epochs", "3", "--seeds", "0", "1", "--quick",
         "--out", str(tmp_path), "--methods", "attention", "random"]
    )
    assert args.datasets == ["SYN1", "SYN6"] and args.epochs == 3 and args.seeds == [0, 1]
    assert args.quick and args.methods == ["attention", "random"]
    with pytest.raises(SystemExit):
        build_parser(("bench", "saliency")).parse_args(["bench", "saliency", "--methods", "lime"])
    with pytest.raises(SystemExit, match="unknown data set"):
        main(["bench", "saliency", "--datasets", "SYN9", "--out", str(tmp_path)])


@pytest.mark.slow
def test_quick_run_writes_every_output(tmp_path):
    """The CI smoke run: every method on one small set, 1 epoch (about 30-40 s on 2 busy cores)."""
    out = tmp_path / "bench"
    assert main(["bench", "saliency", "--quick", "--out", str(out), "--no-progress"]) == 0
    frame = pd.read_csv(out / "results.csv")
    methods = set(frame["method"])
    assert {"CrossScaleNet paper", "CrossScaleNet per_step", "CrossScaleNet per_component", "IntegratedGradients",
            "FeatureAblation", "SHAP (Darts ShapExplainer)", "random", "TFT attention"} <= methods
    assert (frame["dataset"] == "SYN6").all()
    for column in ("auroc_time", "auprc_time", "aur_time"):
        assert frame[column].notna().all() and frame[column].between(0, 1).all(), column
    assert frame["aup_time"].notna().all() and frame["aup_time"].between(0, 0.8).all()
    for column in ("mse", "mae", "explain_seconds"):
        assert (frame[column] > 0).all() and np.isfinite(frame[column]).all(), column
    # one epoch on SYN6 already forecasts better than the unit-variance target's spread
    assert (frame.loc[frame["model"] == "CrossScaleNet", "mse"] < 1.0).all()
    cells = frame[frame["method"].isin(["CrossScaleNet per_component", "IntegratedGradients", "random"])]
    assert cells["auroc_cell"].notna().all()
    csn = frame[frame["model"] == "CrossScaleNet"]
    assert csn[["comprehensiveness", "sufficiency", "random_comprehensiveness",
                "comprehensiveness_carry_forward"]].notna().all().all()
    payload = json.loads((out / "results.json").read_text())
    assert payload["command"].startswith("crossscale bench saliency --quick")
    assert payload["machine"]["cpu_count"] == os.cpu_count() and payload["cases"][0]["predict_seconds"] > 0
    text = (out / "results.md").read_text()
    assert "| SYN6 | CrossScaleNet per_step |" in text and "img/SYN6_seed0.png" in text
    assert (out / "img" / "SYN6_seed0.png").stat().st_size > 1000


def test_a_single_method_without_the_attention_group(tmp_path):
    out = tmp_path / "bench"
    assert main(["bench", "saliency", "--quick", "--methods", "random", "--out", str(out), "--no-progress"]) == 0
    frame = pd.read_csv(out / "results.csv")
    assert list(frame["method"]) == ["random"]
    assert frame.loc[0, "auroc_time"] == pytest.approx(0.5, abs=0.1) and frame.loc[0, "mse"] > 0


def test_markdown_tables_average_seeds_and_mark_extrapolated_times():
    rows = [
        {"dataset": "SYN1", "method": "m", "seed": s, "windows": 4, "extrapolated": True, "mse": v,
         "explain_seconds_all_windows": 2.0 * v}
        for s, v in ((0, 1.0), (1, 3.0))
    ]
    table, summary = markdown_tables(rows)
    assert "| SYN1 | m | 4 | 2.000 |" in table  # MSE averaged over the two seeds
    assert "4.00*" in table  # seconds, extrapolated
    assert summary.splitlines()[0].startswith("| method | AUROC t")


def test_subset_is_even_and_bounded():
    np.testing.assert_array_equal(_subset(10, None), np.arange(10))
    np.testing.assert_array_equal(_subset(10, 3), [0, 4, 9])  # 4.5 rounds to even
    np.testing.assert_array_equal(_subset(3, 10), [0, 1, 2])


def test_shap_feature_names_are_placed_by_lag_and_component():
    names = ["y_target_lag-2", "y_target_lag-1", "x0_pastcov_lag-2", "x0_pastcov_lag-1"]
    cells = _shap_to_cells(np.array([1.0, 2.0, 3.0, 4.0]), names, ["y", "x0"], length=2)
    np.testing.assert_array_equal(cells, [[1.0, 3.0], [2.0, 4.0]])  # row 1 = lag 1
    with pytest.raises(ValueError, match="Unexpected SHAP feature"):
        _shap_to_cells(np.array([1.0]), ["z_target_lag-1"], ["y", "x0"], length=2)


def test_lagcopy_scores_every_map_on_a_small_run(tmp_path, capsys):
    """``crossscale bench lagcopy`` end to end, small: one horizon, one epoch, a short window."""
    args = ["bench", "lagcopy", "--lag", "16", "--horizons", "8", "--input-length", "32", "--epochs", "1",
            "--out", str(tmp_path)]
    assert main(args) == 0
    table = (tmp_path / "lagcopy.md").read_text()
    rows = [line for line in table.splitlines() if line.startswith("| 8 |")]
    assert [row.split("|")[4].strip() for row in rows] == [
        "paper", "per_step", "gradient", "input_x_gradient", "aligned_input_x_gradient"]
    for row in rows:
        peak, share = row.split("|")[5:7]
        assert 1 <= int(peak) <= 32 and 0.0 <= float(share) <= 1.0
