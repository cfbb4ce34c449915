"""The command line, the demo, plot_saliency and the README's code examples."""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from support import noisy_sine

from crossscale_ext import CrossScaleNetModel
from crossscale_ext.cli import main
from crossscale_ext.plotting import plot_saliency

matplotlib.use("Agg")
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def saliency_result():
    from support import QUIET_TRAINER

    series = noisy_sine(length=150, n_components=2)
    model = CrossScaleNetModel(input_chunk_length=32, output_chunk_length=8, n_scales=3, base_patch_length=8,
                               moving_avg_kernel=7, d_model=8, n_epochs=1, pl_trainer_kwargs=dict(QUIET_TRAINER))
    return model.fit(series).saliency(windows="all")


def test_plot_saliency_draws_every_panel(saliency_result):
    import matplotlib.pyplot as plt

    truth = np.zeros((32, 2), dtype=bool)
    truth[10:14, 0] = True
    fig = plot_saliency(saliency_result, window=3, ground_truth=truth)
    assert len(fig.axes) == 4 + 2  # series, heatmap, truth, scales, and the two colour bars
    heatmap = fig.axes[1].images[0].get_array()
    np.testing.assert_allclose(np.asarray(heatmap)[:, :32], saliency_result.per_component[3].T, rtol=1e-6)
    plt.close(fig)
    fig = plot_saliency(saliency_result, kind="per_step", per_scale=False)
    assert len(fig.axes) == 3
    plt.close(fig)
    with pytest.raises(ValueError, match="kind must be one of"):
        plot_saliency(saliency_result, kind="heat")
    with pytest.raises(ValueError, match="ground_truth must have 32 rows"):
        plot_saliency(saliency_result, ground_truth=np.zeros((10, 2)))


def test_per_scale_maps_average_to_per_step(saliency_result):
    scales = saliency_result.per_scale(0)
    assert scales.shape == (2, 32)
    np.testing.assert_allclose(scales.sum(axis=1), 1.0, rtol=1e-5)
    weights = saliency_result.scale_weights[1:] / saliency_result.scale_weights[1:].sum()
    np.testing.assert_allclose(weights @ scales, saliency_result.per_step[0], rtol=1e-5)
    assert saliency_result.inputs.shape == (saliency_result.n_windows, 32, 2)


def test_cli_help_lists_the_commands(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "demo" in out and "bench" in out


def test_demo_quick_run_writes_plots_and_scores(tmp_path, capsys):
    assert main(["demo", "--quick", "--no-progress", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"CrossScaleNet\s+\d+\.\d{3}", out)
    assert re.search(r"per-step map\s+0\.\d{3}", out)
    assert (tmp_path / "forecast.png").stat().st_size > 10_000
    assert (tmp_path / "saliency.png").stat().st_size > 10_000


def _readme_python_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


@pytest.mark.parametrize("index", range(len(_readme_python_blocks())))
def test_readme_examples_run(index, trainer_kwargs):
    code = _readme_python_blocks()[index].replace("n_epochs=20", f"n_epochs=1, pl_trainer_kwargs={trainer_kwargs!r}")
    namespace: dict = {}
    exec(compile(code, f"README.md python block {index}", "exec"), namespace)
    assert namespace["saliency"] is not None
