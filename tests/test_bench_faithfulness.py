"""``crossscale bench faithfulness``: the command, a tiny run on real data, and its helpers."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from support import noisy_sine, tiny_model

from crossscale_ext.benchmarks.faithfulness import (
    CANDIDATES,
    _config_from_args,
    _format_args,
    _Network,
    _padding_held_constant,
    candidate_map,
    randomized_weights,
)
from crossscale_ext.cli import build_parser, main


def test_command_is_registered_with_its_options(tmp_path):
    args = build_parser(("bench", "faithfulness")).parse_args(
        ["bench", "faithfulness", "--datasets", "ETTh1", "Exchange", "--horizons", "24", "96", "--seeds", "0", "1",
         "--split", "val", "--windows", "50", "--settings", "target", "all", "--out", str(tmp_path)]
    )
    assert args.datasets == ["ETTh1", "Exchange"] and args.horizons == [24, 96] and args.splits == ["val"]
    assert args.n_windows == 50 and args.settings == ["target", "all"]
    with pytest.raises(SystemExit):
        build_parser(("bench", "faithfulness")).parse_args(["bench", "faithfulness", "--split", "train"])
    with pytest.raises(SystemExit, match="unknown data set"):
        main(["bench", "faithfulness", "--datasets", "ETTh9", "--out", str(tmp_path)])
    with pytest.raises(SystemExit, match="unknown candidate"):
        main(["bench", "faithfulness", "--candidates", "lime", "--out", str(tmp_path)])
    with pytest.raises(SystemExit, match="--windows must be at least 1"):
        main(["bench", "faithfulness", "--windows", "0", "--out", str(tmp_path)])
    with pytest.raises(SystemExit, match="--mean-gate-init must be in"):
        main(["bench", "faithfulness", "--mean-gate-init", "2", "--out", str(tmp_path)])


def test_mean_gate_start_reaches_the_config_and_the_reproduce_line(tmp_path):
    parser = build_parser(("bench", "faithfulness"))
    default = parser.parse_args(["bench", "faithfulness", "--out", str(tmp_path)])
    assert _config_from_args(default).mean_gate_init == 1.0
    assert "--mean-gate-init" not in _format_args(default)
    zero = parser.parse_args(["bench", "faithfulness", "--mean-gate-init", "0", "--out", str(tmp_path)])
    assert _config_from_args(zero).mean_gate_init == 0.0
    assert "--mean-gate-init 0 " in _format_args(zero)


@pytest.mark.slow
def test_tiny_run_writes_every_output(tmp_path, shared_data_dir, capsys):
    """A smoke run on ETTh1, two seeds, 1 epoch, 4 validation windows (about 40 s on 2 busy cores)."""
    out = tmp_path / "faith"
    code = main(["bench", "faithfulness", "--datasets", "ETTh1", "--seeds", "0", "1", "--epochs", "1",
                 "--max-samples", "64", "--windows", "4", "--ablation-windows", "1", "--horizons", "8",
                 "--split", "val", "--candidates", "ig4", "grad_nopad", "--data-dir", str(shared_data_dir),
                 "--out", str(out), "--no-progress"])
    assert code == 0
    assert "reproduce: crossscale bench faithfulness --datasets ETTh1" in capsys.readouterr().out
    frame = pd.read_csv(out / "results.csv")
    methods = set(frame["method"])
    assert {"gradient", "input_x_gradient", "paper", "per_step", "per_component", "cand:ig4", "cand:grad_nopad",
            "IntegratedGradients", "NoiseTunnel (SmoothGrad)", "FeatureAblation", "random", "recency"} <= methods
    assert set(frame["split"]) == {"val"} and set(frame["seed"]) == {0, 1}
    random = frame[frame["method"] == "random"]
    assert np.allclose(random["mean_del@0.05_xrandom"], 1.0)
    recency = frame[frame["method"] == "recency"]
    assert np.allclose(recency["mean_del@0.05_xrecency"], 1.0)
    gradient = frame[frame["method"] == "gradient"]
    assert (gradient["mean_del@0.05"] > 0).all() and gradient["randomization"].between(-1, 1).all()
    stability = pd.read_csv(out / "stability.csv")
    recency_agreement = stability[stability["method"] == "recency"]
    assert np.allclose(recency_agreement["seed_spearman"], 1.0)  # the trivial map does not depend on the model
    payload = json.loads((out / "results.json").read_text())
    assert payload["command"].startswith("crossscale bench faithfulness") and payload["rows"]
    text = (out / "results.md").read_text()
    assert "Reproduce: `crossscale bench faithfulness" in text and "Choice on validation windows" in text
    # --merge of a finished run gives back its rows and its choice
    assert main(["bench", "faithfulness", "--merge", str(out), "--out", str(tmp_path / "merged")]) == 0
    merged = pd.read_csv(tmp_path / "merged" / "results.csv")
    assert len(merged) == len(frame) and set(merged["method"]) == methods
    assert "Pick (the recommended map)" in (tmp_path / "merged" / "results.md").read_text()


@pytest.fixture(scope="module")
def network():
    series = noisy_sine(200, n_components=2)
    model = tiny_model()
    model.fit(series)
    return _Network(model), series.values()[:32][None].astype(np.float32).repeat(3, axis=0)


def test_candidates_are_maps_of_the_right_shape(network):
    net, inputs = network
    plain = candidate_map(net, inputs, "grad")
    for name in CANDIDATES:
        value = candidate_map(net, inputs, name)
        assert value.shape == inputs.shape and (value >= 0).all() and np.isfinite(value).all(), name
    # eight integration steps on a network that is nearly linear between the window mean and the window: close
    # to |(x - mean) * gradient|, the package's input_x_gradient
    centred = np.abs(inputs - inputs.mean(axis=1, keepdims=True))
    assert np.corrcoef(candidate_map(net, inputs, "cand:ig8").ravel(), (centred * plain).ravel())[0, 1] > 0.9
    with pytest.raises(ValueError, match="unknown candidate"):
        candidate_map(net, inputs, "lime")


def test_padding_held_constant_changes_only_the_window_ends_gradient(network):
    net, inputs = network
    plain = candidate_map(net, inputs, "grad")
    with _padding_held_constant():
        forecast_inside = net.predict(inputs)
    nopad = candidate_map(net, inputs, "cand:grad_nopad")
    assert np.allclose(forecast_inside, net.predict(inputs), rtol=1e-5, atol=1e-6)  # the forecast is the same
    assert not np.allclose(plain, nopad)


def test_randomized_weights_are_restored(network):
    net, inputs = network
    before = net.predict(inputs)
    with randomized_weights(net.network, seed=0):
        inside = net.predict(inputs)
    assert not np.allclose(before, inside)
    assert np.array_equal(before, net.predict(inputs))
