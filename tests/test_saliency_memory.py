"""Saliency over long series in bounded memory: chunked iteration, a choice of maps, storage precision, bookkeeping.

Nothing here measures resident memory (RSS depends on the allocator and on what else runs): the memory tests check
the bookkeeping instead, that a result holds exactly the arrays asked for, that batches never exceed the batch
size, and that the Python-side allocations of a call (numpy arrays are traced by ``tracemalloc``) stay within the
result's own size plus a small margin. The RSS figures are in ``docs/benchmarks/memory.md``
(``crossscale bench memory``).
"""

from __future__ import annotations

import gc
import sys
import tracemalloc
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from darts.utils.timeseries_generation import linear_timeseries
from support import TINY, assert_float32_close, assert_frames_close, noisy_sine, tiny_model

from crossscale_ext import explainability
from crossscale_ext.benchmarks.memory import expected_windows, result_nbytes
from crossscale_ext.saliency import MAP_NAMES, SaliencyMemoryWarning, SaliencyResult

L, H = TINY["input_chunk_length"], TINY["output_chunk_length"]
ARRAYS = ("paper", "per_step", "per_component", "gradient", "input_x_gradient", "forecast", "inputs", "input_index",
          "forecast_index")


@pytest.fixture(scope="module")
def fitted():
    """A tiny model fit on a two-component series with one past covariate (3 input channels)."""
    series = noisy_sine(length=300, n_components=2)
    past = linear_timeseries(length=300, start=series.start_time(), freq="h").astype("float32")
    model = tiny_model(batch_size=64).fit(series[:200], past_covariates=past[:200])
    return model, series, past


@pytest.fixture(scope="module")
def full(fitted):
    """The one-shot result of every window, with every map."""
    model, series, past = fitted
    return model.saliency(series, past_covariates=past, windows="all", maps="all", inputs=True)


def assert_same_windows(parts: list[SaliencyResult], whole: SaliencyResult, exact: bool) -> None:
    """``parts`` hold exactly the windows of ``whole``, in order, value for value."""
    assert sum(p.n_windows for p in parts) == whole.n_windows
    assert [p.metadata["first_window"] for p in parts] == list(np.cumsum([0] + [p.n_windows for p in parts[:-1]]))

    def check(a: np.ndarray, b: np.ndarray) -> None:
        if exact or not np.issubdtype(b.dtype, np.floating):
            np.testing.assert_array_equal(a, b)
        else:  # other batches: float32 paths differ between CPUs
            assert_float32_close(a, b)

    for name in ARRAYS:
        if getattr(whole, name) is None:
            assert all(getattr(p, name) is None for p in parts)
            continue
        check(np.concatenate([getattr(p, name) for p in parts]), getattr(whole, name))
    for name in ("patch_attention", "local_attention"):
        if getattr(whole, name) is None:
            assert all(getattr(p, name) is None for p in parts)
            continue
        for s, values in enumerate(getattr(whole, name)):
            check(np.concatenate([getattr(p, name)[s] for p in parts]), values)
    for part in parts:
        np.testing.assert_array_equal(part.scale_weights, whole.scale_weights)
        assert part.component_names == whole.component_names and part.target_names == whole.target_names


@pytest.mark.parametrize("windows_per_chunk, exact", [(64, True), (37, False)])
def test_chunks_hold_exactly_the_windows_of_the_one_shot_call(fitted, full, windows_per_chunk, exact):
    model, series, past = fitted
    whole = full
    assert whole.n_windows == len(series) - L - H + 1
    parts = list(model.iter_saliency(series, past_covariates=past, windows_per_chunk=windows_per_chunk, maps="all",
                                     inputs=True))
    assert all(p.n_windows <= windows_per_chunk for p in parts)
    assert len(parts) == -(-whole.n_windows // windows_per_chunk)
    # a chunk size that is a multiple of the batch size (64) gives the same batches, so the same bits
    assert_same_windows(parts, whole, exact)


def test_chunks_of_several_series_and_strided_windows(fitted):
    model, series, past = fitted
    other = noisy_sine(length=150, n_components=2, seed=4, start="2025-01-01")
    other_past = linear_timeseries(length=150, start=other.start_time(), freq="h").astype("float32")
    kwargs = {"past_covariates": [past, other_past], "stride": 3, "maps": ("gradient", "per_step")}
    wholes = model.saliency([series, other], **kwargs)
    parts = list(model.iter_saliency([series, other], windows_per_chunk=20, **kwargs))
    for i, whole in enumerate(wholes):
        mine = [p for p in parts if p.metadata["series_index"] == i]
        assert whole.n_windows == -(-(len([series, other][i]) - L - H + 1) // 3)
        assert_same_windows(mine, whole, exact=False)
    # series after series, never interleaved
    assert [p.metadata["series_index"] for p in parts] == sorted(p.metadata["series_index"] for p in parts)


def test_iterator_restores_the_train_state_between_chunks(fitted):
    model, series, past = fitted
    network = model.model.network
    network.train()
    try:
        for chunk in model.iter_saliency(series, past_covariates=past, windows_per_chunk=50, maps="paper"):
            assert network.training, "the network is handed back in its own mode between chunks"
            assert chunk.n_windows > 0
    finally:
        network.eval()


@pytest.mark.parametrize("maps", [("paper",), ("per_step",), ("per_component",), ("gradient",),
                                  ("input_x_gradient",), ("raw_attention",), ("gradient", "paper")])
def test_a_subset_of_maps_gives_the_full_results_values(fitted, full, maps):
    model, series, past = fitted
    part = model.saliency(series, past_covariates=past, windows="all", maps=maps, inputs=False)
    assert part.inputs is None
    for name in MAP_NAMES:
        fields = ("patch_attention", "local_attention") if name == "raw_attention" else (name,)
        for field_name in fields:
            if name in maps:
                # one forward pass per batch either way: the same values
                expected, got = getattr(full, field_name), getattr(part, field_name)
                for e, g in zip(expected, got) if name == "raw_attention" else [(expected, got)]:
                    assert_float32_close(g, e)
            else:
                assert getattr(part, field_name) is None
    assert_float32_close(part.forecast, full.forecast)
    np.testing.assert_array_equal(part.input_index, full.input_index)
    assert part.available_maps == tuple(m for m in MAP_NAMES if m in maps and m != "raw_attention")
    assert part.has_raw_attention == ("raw_attention" in maps)


def test_attention_maps_alone_run_no_backward_pass(fitted, full, monkeypatch):
    model, series, past = fitted

    def no_backward(*args, **kwargs):
        raise AssertionError("a backward pass ran for attention maps only")

    monkeypatch.setattr(torch.autograd, "grad", no_backward)
    paper = model.saliency(series, past_covariates=past, windows="all", maps="paper")  # the paper's map alone
    np.testing.assert_array_equal(paper.paper, full.paper)
    assert paper.available_maps == ("paper",)


def test_views_of_a_partial_result_name_the_fix(fitted):
    model, series, past = fitted
    result = model.saliency(series, past_covariates=past, windows="all", maps="gradient")
    # gradient cells
    assert list(result.to_dataframe().columns) == ["gradient", *[f"gradient:{c}" for c in result.component_names]]
    assert result.lag_profile("gradient").shape == (L,)
    for call in (lambda: result.temporal_map("paper"), lambda: result.component_map("per_component"),
                 lambda: result.importance("input_x_gradient"), lambda: result.per_scale()):
        with pytest.raises(ValueError, match=r"holds no .* map.*maps="):
            call()
    attention_only = model.saliency(series, past_covariates=past, maps=("paper", "per_step"))
    assert list(attention_only.to_dataframe().columns) == ["attention_paper", "attention_per_step"]
    assert "windows=1" in repr(attention_only)


@pytest.mark.parametrize("kwargs, message", [
    ({"maps": ["nope"]}, "Unknown saliency map"),
    ({"maps": []}, "maps is empty"),
    ({"maps": [3]}, "maps must be None, 'all', a map name or a sequence"),
    ({"maps": "gradient", "gradients": False}, "gradients=False"),
    ({"dtype": "float16"}, "dtype must be one of"),
    ({"dtype": "int"}, "dtype must be one of"),
    ({"inputs": "no"}, "inputs must be None, True or False"),
])
def test_bad_options_are_refused_with_the_fix(fitted, kwargs, message):
    model, series, past = fitted
    with pytest.raises((ValueError, TypeError), match=message):
        model.saliency(series, past_covariates=past, **kwargs)
    with pytest.raises((ValueError, TypeError), match=message):
        model.iter_saliency(series, past_covariates=past, **kwargs)  # checked at the call, not at the first chunk


@pytest.mark.parametrize("chunk", [0, -1, 2.5, True, None])
def test_bad_chunk_size_is_refused(fitted, chunk):
    model, series, past = fitted
    with pytest.raises(ValueError, match="windows_per_chunk must be a positive integer"):
        model.iter_saliency(series, past_covariates=past, windows_per_chunk=chunk)


def test_float32_storage_keeps_a_float64_models_values(trainer_kwargs):
    series = noisy_sine(length=200, n_components=2).astype("float64")  # the network then runs in float64
    model = tiny_model(pl_trainer_kwargs=trainer_kwargs).fit(series)
    assert next(model.model.parameters()).dtype == torch.float64
    wide = model.saliency(series, windows="all", maps="all", inputs=True, dtype="float64")
    narrow = model.saliency(series, windows="all", maps="all", inputs=True)  # the default dtype
    for name in ARRAYS[:7]:
        assert getattr(wide, name).dtype == np.float64 and getattr(narrow, name).dtype == np.float32
        np.testing.assert_allclose(getattr(narrow, name), getattr(wide, name), rtol=2e-6, atol=1e-9)
        assert getattr(narrow, name).nbytes * 2 == getattr(wide, name).nbytes
    np.testing.assert_allclose(narrow.temporal_map("per_step").sum(axis=1), 1.0, rtol=1e-5)


def test_a_result_holds_exactly_the_arrays_asked_for(fitted, full):
    model, series, past = fitted
    channels, targets = 3, 2
    index_bytes = (L + H) * 8
    w = full.n_windows
    raw = (4 * 4 + 4 * 4 * 4) + (4 * 4 + 4 * 2 * 2)  # scales 1, 2: patch (4 x 4), local (4 patches x p x p)
    # paper, per_step; per_component, gradient, input_x_gradient, aligned_input_x_gradient, inputs
    per_window = 4 * (2 * L + 5 * L * channels + H * targets + raw) + index_bytes
    assert result_nbytes(full) == w * per_window + 4 * TINY["n_scales"]  # + the scale weights
    small = model.saliency(series, past_covariates=past, windows="all", maps="gradient", inputs=False)
    assert result_nbytes(small) == w * (4 * (L * channels + H * targets) + index_bytes) + 4 * TINY["n_scales"]


def test_batches_never_exceed_the_batch_size_and_no_window_is_dropped(fitted, monkeypatch):
    model, series, past = fitted
    seen = []
    original = explainability._explain_batch

    def spy(model_, x_in, *args, **kwargs):
        seen.append(x_in.past_target.shape[0])
        return original(model_, x_in, *args, **kwargs)

    monkeypatch.setattr(explainability, "_explain_batch", spy)
    result = model.saliency(series, past_covariates=past, windows="all", batch_size=7, maps="per_step")
    assert max(seen) == 7 and sum(seen) == result.n_windows == expected_windows_tiny(len(series))
    seen.clear()
    chunks = list(model.iter_saliency(series, past_covariates=past, batch_size=7, windows_per_chunk=10,
                                      maps="per_step"))
    assert max(seen) <= 7 and sum(seen) == sum(c.n_windows for c in chunks) == result.n_windows


@pytest.mark.parametrize("options", [{}, {"maps": "all", "inputs": True}, {"maps": "gradient", "inputs": False},
                                     {"maps": "raw_attention", "dtype": "float64"}])
def test_the_size_estimate_is_the_results_size(fitted, options):
    model, series, past = fitted
    request = explainability.SaliencyRequest(windows="all", **options)
    plan = explainability._prepare_pass(model, series, past, None, request, stacklevel=2)
    result = model.saliency(series, past_covariates=past, windows="all", **options)
    assert explainability._result_bytes(plan, result.n_windows) == result_nbytes(result)


def test_a_large_one_shot_call_warns_with_its_size_and_the_fix(fitted, full, monkeypatch):
    model, series, past = fitted
    monkeypatch.setattr(explainability, "LARGE_RESULT_BYTES", result_nbytes(full) - 1)
    with pytest.warns(SaliencyMemoryWarning, match=r"about to hold .* MB for 261 windows.*iter_saliency") as record:
        model.saliency(series, past_covariates=past, windows="all", maps="all", inputs=True)
    assert [w.filename for w in record if w.category is SaliencyMemoryWarning] == [__file__]  # points at the call
    with warnings.catch_warnings():
        warnings.simplefilter("error", SaliencyMemoryWarning)
        model.saliency(series, past_covariates=past, windows="all")  # the default keeps less: no warning
        iterated = model.iter_saliency(series, past_covariates=past, maps="all", inputs=True)
        assert sum(c.n_windows for c in iterated) == full.n_windows


def expected_windows_tiny(length: int, stride: int = 1) -> int:
    return -(-(length - L - H + 1) // stride)


def test_benchmark_counts_windows_like_the_model():
    assert expected_windows(200_000, 1) == 200_000 - 96 - 24 + 1
    assert expected_windows(1_000, 4) == -(-(1_000 - 119) // 4)


@pytest.mark.skipif(sys.platform == "win32", reason="tracemalloc figures are checked on Linux / macOS")
def test_a_long_series_allocates_about_its_result_and_no_more(trainer_kwargs):
    """3,000 steps x 4 components: numpy allocations peak near the result's size (no copy of it is made)."""
    series = noisy_sine(length=3_000, n_components=4)
    model = tiny_model(pl_trainer_kwargs=trainer_kwargs, batch_size=256).fit(series[:400])
    every = {"maps": "all", "inputs": True}
    model.saliency(series[:200], windows="all", **every)  # warm up lazy imports and caches outside the measurement
    gc.collect()
    tracemalloc.start()
    try:
        result = model.saliency(series, windows="all", **every)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    held = result_nbytes(result)
    assert result.n_windows == expected_windows_tiny(3_000)
    # the arrays of the result, one batch and the window bookkeeping (measured: 1.18 x the result of 9 MB); a pass
    # that concatenated per-batch pieces would peak at twice the result
    assert peak < 1.25 * held + 2**20, (peak / 2**20, held / 2**20)
    assert isinstance(result.to_dataframe(window=0), pd.DataFrame)


def test_sktime_iterator_chunks_concatenate_to_saliency_all(trainer_kwargs):
    from crossscale_ext import CrossScaleNetForecaster

    index = pd.date_range("2024-01-01", periods=80, freq="h")
    y = pd.DataFrame({"a": np.sin(np.arange(80) / 3.0), "b": np.cos(np.arange(80) / 5.0)}, index=index)
    X = pd.DataFrame({"x": np.linspace(0, 1, 80)}, index=index)
    fitted = CrossScaleNetForecaster(**(TINY | {"pl_trainer_kwargs": trainer_kwargs})).fit(y, X=X)
    for kind in ("gradient", "all"):
        whole = fitted.saliency(windows="all", kind=kind)
        chunks = list(fitted.iter_saliency(kind=kind, windows_per_chunk=16))
        assert len(chunks) == -(-(80 - L + 1) // 16)
        assert_frames_close(pd.concat(chunks), whole, check_freq=False)
    with pytest.raises(ValueError, match="windows_per_chunk must be a positive integer"):
        fitted.iter_saliency(windows_per_chunk=0)
    with pytest.raises(ValueError, match="kind must be one of"):
        fitted.iter_saliency(kind="nope")


@pytest.mark.slow
def test_bench_memory_command_writes_its_table(tmp_path, capsys):
    """``crossscale bench memory`` end to end on a short series (each setting in its own process: slow)."""
    import json

    from crossscale_ext.cli import main

    assert main(["bench", "memory", "--steps", "600", "--train-steps", "400", "--settings", "gradient", "iter",
                 "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "memory.json").read_text())
    assert [row["setting"] for row in report["results"]] == ["gradient", "iter"]
    assert all(row["windows"] == expected_windows(600, 1) for row in report["results"])
    assert all(row["process_peak_mb"] >= row["extra_peak_mb"] > 0 for row in report["results"])
    table = (tmp_path / "memory.md").read_text()
    assert "crossscale --threads" in table and "| gradient |" in table and "| iter |" in table
