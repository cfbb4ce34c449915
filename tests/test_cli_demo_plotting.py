"""The command line, the demo, plot_saliency / plot_forecast and the README's code examples."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import matplotlib
import numpy as np
import pytest
import torch
from support import noisy_sine, tiny_model

from crossscale_ext.cli import build_parser, main
from crossscale_ext.plotting import plot_forecast, plot_saliency

matplotlib.use("Agg")
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def fitted():
    series = noisy_sine(length=150, n_components=2)
    model = tiny_model(d_model=8).fit(series)
    return series, model.saliency(windows="all", maps="all", inputs=True)


@pytest.fixture(scope="module")
def saliency_result(fitted):
    return fitted[1]


def test_plot_saliency_draws_every_panel(saliency_result):
    import matplotlib.pyplot as plt

    truth = np.zeros((32, 2), dtype=bool)
    truth[10:14, 0] = True
    fig = plot_saliency(saliency_result, window=3, ground_truth=truth)
    assert len(fig.axes) == 4 + 2  # series, heatmap, truth, scales, and the two colour bars
    heatmap = fig.axes[1].images[0].get_array()
    # the default heatmap is the recommended map, the gradient
    np.testing.assert_allclose(np.asarray(heatmap)[:, :32], saliency_result.gradient[3].T, rtol=1e-6)
    plt.close(fig)
    fig = plot_saliency(saliency_result, window=3, kind="per_component", per_scale=False)
    np.testing.assert_allclose(np.asarray(fig.axes[1].images[0].get_array())[:, :32],
                               saliency_result.per_component[3].T, rtol=1e-6)
    plt.close(fig)
    fig = plot_saliency(saliency_result, kind="per_step", per_scale=False)
    assert len(fig.axes) == 3
    plt.close(fig)
    fig = plot_saliency(saliency_result, kind="gradient", per_scale=False)
    np.testing.assert_allclose(np.asarray(fig.axes[1].images[0].get_array())[:, :32],
                               saliency_result.gradient[-1].T, rtol=1e-6)
    plt.close(fig)
    with pytest.raises(ValueError, match="kind must be one of"):
        plot_saliency(saliency_result, kind="heat")
    with pytest.raises(ValueError, match="ground_truth must have 32 rows"):
        plot_saliency(saliency_result, ground_truth=np.zeros((10, 2)))


def test_plot_saliency_of_a_partial_result(fitted):
    """A result computed with maps= draws what it holds, and says what it lacks."""
    import matplotlib.pyplot as plt

    series, _ = fitted
    model = tiny_model(d_model=8).fit(series)
    partial = model.saliency(maps=["gradient"])
    fig = plot_saliency(partial)  # gradient heatmap, no per-scale panel (no attention maps held)
    assert len(fig.axes) == 2 + 1
    np.testing.assert_allclose(np.asarray(fig.axes[1].images[0].get_array())[:, :32], partial.gradient[-1].T,
                               rtol=1e-6)
    plt.close(fig)
    with pytest.raises(ValueError, match="does not hold the 'per_step' map"):
        plot_saliency(partial, kind="per_step")
    with pytest.raises(ValueError, match="per_scale=True needs the raw_attention"):
        plot_saliency(partial, per_scale=True)


def test_plot_saliency_legends_sit_outside_the_curves(saliency_result):
    import matplotlib.pyplot as plt

    fig = plot_saliency(saliency_result)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for ax in (fig.axes[0], fig.axes[2]):  # the series panel and the per-scale panel
        legend = ax.get_legend()
        assert legend is not None
        # the legend sits above the plotting area: it cannot hide a peak
        assert legend.get_window_extent(renderer).y0 >= ax.get_window_extent(renderer).y1 - 1
    plt.close(fig)


def test_plot_forecast_draws_forecasts_on_the_time_axis(fitted):
    import matplotlib.pyplot as plt

    series, result = fitted
    fig = plot_forecast(result, actual=series)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "time" and ax.get_ylabel() == "value"
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert labels == ["c0 (actual)", "forecast"]
    horizon = result.forecast.shape[1]
    forecast_lines = [line for line in ax.get_lines() if line.get_color() == "tab:red"]
    # default: non-overlapping windows ending with the last one, over the last 200 steps at most
    expected = list(range(result.n_windows - 1, -1, -horizon))[: 200 // horizon][::-1]
    assert len(forecast_lines) == len(expected) > 1
    for line, window in zip(forecast_lines, expected):
        np.testing.assert_allclose(line.get_ydata(), result.forecast[window, :, 0], rtol=1e-6)
        assert list(line.get_xdata()) == list(result.forecast_index[window])
    plt.close(fig)
    fig = plot_forecast(result, windows=[0, 5], target=1)  # no actual series: the inputs are drawn
    labels = [text.get_text() for text in fig.axes[0].get_legend().get_texts()]
    assert labels == ["c1 (input)", "forecast"]
    plt.close(fig)
    with pytest.raises(ValueError, match="target must be in 0..1"):
        plot_forecast(result, target=2)


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
    assert "demo" in out and "bench" in out and "--threads" in out


def test_threads_is_one_global_option_set_before_the_command():
    parser = build_parser(("demo",))
    assert parser.parse_args(["demo"]).threads == 1
    assert parser.parse_args(["--threads", "3", "demo"]).threads == 3
    assert parser.parse_args(["demo", "--threads", "2"]).threads == 2
    assert build_parser(("bench", "forecast")).parse_args(["bench", "forecast", "--threads", "4"]).threads == 4
    saliency = build_parser(("bench", "saliency"))  # a command with its own --threads: the same option
    assert saliency.parse_args(["--threads", "3", "bench", "saliency"]).threads == 3
    assert saliency.parse_args(["bench", "saliency"]).threads == 1
    with pytest.raises(SystemExit):
        parser.parse_args(["--threads", "0", "demo"])
    try:  # the command's own check fails after the threads were set
        with pytest.raises(SystemExit, match="unknown data set"):
            main(["--threads", "2", "bench", "saliency", "--datasets", "SYN9"])
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(1)


def test_demo_quick_run_is_quiet_and_writes_plots_and_scores(tmp_path):
    """The demo as a user runs it: a new process, output not a terminal (no progress bar), one thread."""
    completed = subprocess.run(
        [sys.executable, "-m", "crossscale_ext", "--threads", "1", "demo", "--quick", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    out, err = completed.stdout, completed.stderr
    assert re.search(r"CrossScaleNet\s+\d+\.\d{3}", out)
    assert re.search(r"gradient map \(recommended\)\s+0\.\d{3}\s+0\.\d{3}", out), out
    assert re.search(r"input x gradient map\s+0\.\d{3}\s+0\.\d{3}", out), out
    assert re.search(r"per-step map\s+0\.\d{3}\s+-", out), out
    for noise in ("GPU available", "Tip", "Epoch", "Warning", "it/s"):  # banner, tips, progress bar, warnings
        assert noise not in out + err, f"{noise!r} in the demo's output:\n{out}\n{err}"
    assert (tmp_path / "forecast.png").stat().st_size > 10_000
    assert (tmp_path / "saliency.png").stat().st_size > 10_000


def _readme_python_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


@pytest.mark.parametrize("index", range(len(_readme_python_blocks())))
def test_readme_examples_run(index, trainer_kwargs):
    block = _readme_python_blocks()[index]
    code = block.replace("n_epochs=20", f"n_epochs=1, pl_trainer_kwargs={trainer_kwargs!r}")
    namespace: dict = {}
    exec(compile(code, f"README.md python block {index}", "exec"), namespace)
    saliency = namespace["saliency"]
    frame = saliency.to_dataframe() if hasattr(saliency, "to_dataframe") else saliency
    input_length = int(re.search(r"input_chunk_length=(\d+)", block).group(1))
    assert len(frame) == input_length  # one row per input step of the last window
    assert np.isfinite(frame.to_numpy(dtype=float)).all()
