"""``crossscale bench memory``: peak memory and wall time of ``saliency(windows="all")`` on a long series.

A small but realistic model (``input_chunk_length`` 96, ``output_chunk_length`` 24, ``d_model`` 16, one epoch on the
first ``--train-steps`` steps) is trained once on a synthetic series of ``--steps`` steps and ``--components``
components (noisy sines with an hourly DatetimeIndex) and saved. Each setting (the saliency options, see
:data:`SETTINGS`) then runs in a fresh Python process that loads the model, rebuilds the series and explains every
window, so one setting's memory never counts against another. Per setting the command records:

- ``windows``: the windows explained, checked against ``steps - L - H + 1 ``(or the strided count): a window
  dropped anywhere fails the run;
- ``held_mb``: the bytes of the arrays of the result (for the iterator, of its largest chunk);
- ``extra_peak_mb``: the additional peak resident memory of the call (:class:`~.harness.PeakMemory`);
- ``process_peak_mb``: the process's peak resident memory (``VmHWM``: Python, torch, the model, the series and the
  call), the figure compared with the 2 GB target;
- ``seconds`` and ``cpu_seconds``: wall time and CPU time (user + system) of the call; on a machine shared with
  other jobs the CPU time is the steadier figure.

The results go to ``OUT/memory.json`` and ``OUT/memory.md`` with the command line and the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["SETTINGS", "add_arguments", "run", "result_nbytes"]

#: name -> (how to call, keyword arguments of ``saliency`` / ``iter_saliency``)
SETTINGS: dict[str, tuple[str, dict[str, Any]]] = {
    "default": ("saliency", {}),
    "every_map": ("saliency", {"maps": "all", "inputs": True}),
    "float64": ("saliency", {"maps": "all", "inputs": True, "dtype": "float64"}),
    "stride4": ("saliency", {"maps": "all", "inputs": True, "stride": 4}),
    "gradient": ("saliency", {"maps": ["gradient"], "inputs": False}),
    "paper": ("saliency", {"maps": ["paper"], "inputs": False}),
    "attention": ("saliency", {"maps": ["paper", "per_step", "per_component"], "inputs": False}),
    "iter": ("iter_saliency", {"maps": "all", "inputs": True, "windows_per_chunk": 10_000}),
}
DEFAULT_SETTINGS = ["default", "every_map", "stride4", "gradient", "paper", "attention", "iter"]

INPUT_LENGTH, HORIZON = 96, 24


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's options."""
    parser.add_argument("--steps", type=int, default=200_000, help="length of the explained series (default: 200000)")
    parser.add_argument("--components", type=int, default=8, help="components of the series (default: 8)")
    parser.add_argument("--train-steps", type=int, default=5_000,
                        help="the model is trained for one epoch on this many first steps (default: 5000)")
    parser.add_argument("--batch-size", type=int, default=256,
                        help="the model's batch size, also the saliency pass's (default: 256)")
    parser.add_argument("--settings", nargs="+", default=DEFAULT_SETTINGS, choices=sorted(SETTINGS),
                        help=f"which settings to run (default: {' '.join(DEFAULT_SETTINGS)})")
    parser.add_argument("--seed", type=int, default=0, help="seed of data and model (default: 0)")
    parser.add_argument("--out", type=Path, default=None, help="write OUT/memory.json and OUT/memory.md")


def make_series(steps: int, components: int, seed: int):
    """The synthetic float32 series: noisy sines (period 24, one phase per component), hourly DatetimeIndex."""
    import numpy as np
    import pandas as pd
    from darts import TimeSeries

    rng = np.random.default_rng(seed)
    t = np.arange(steps)[:, None]
    values = np.sin(2 * np.pi * t / 24 + 0.7 * np.arange(components)[None, :]) + 0.1 * rng.normal(
        size=(steps, components)
    )
    times = pd.date_range("2000-01-01", periods=steps, freq="h")
    return TimeSeries.from_times_and_values(times, values.astype("float32"), columns=[f"c{i}" for i in
                                                                                       range(components)])


def result_nbytes(result: Any) -> int:
    """Bytes of the numpy arrays a :class:`~crossscale_ext.saliency.SaliencyResult` holds."""
    total = 0
    for value in vars(result).values():
        arrays = value if isinstance(value, list) else [value]
        total += sum(getattr(a, "nbytes", 0) for a in arrays if hasattr(a, "dtype"))
    return total


def expected_windows(steps: int, stride: int) -> int:
    """Windows of ``windows="all"``: forecasts that fit inside the series, every ``stride``-th."""
    n = steps - INPUT_LENGTH - HORIZON + 1
    return -(-n // stride)


def _status_mb(field_name: str) -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field_name + ":"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def _worker(spec_json: str) -> None:
    """Run one setting in this (fresh) process and print its figures as one JSON line."""
    spec = json.loads(spec_json)
    import numpy as np
    import torch

    torch.set_num_threads(spec["threads"])
    from crossscale_ext._lightning import silence_lightning
    from crossscale_ext.benchmarks.harness import PeakMemory
    from crossscale_ext.darts_model import CrossScaleNetModel

    silence_lightning()
    model = CrossScaleNetModel.load(spec["model_path"])
    series = make_series(spec["steps"], spec["components"], spec["seed"])
    how, kwargs = SETTINGS[spec["setting"]]
    start, cpu_start = time.perf_counter(), time.process_time()
    with PeakMemory() as peak:
        if how == "saliency":
            result = model.saliency(series, windows="all", **kwargs)
            windows, held = result.n_windows, result_nbytes(result)
            firsts = [0]
        else:
            windows, held, firsts = 0, 0, []
            profile = np.zeros(INPUT_LENGTH)
            for chunk in model.iter_saliency(series, **kwargs):
                if chunk.metadata["first_window"] != windows:
                    raise RuntimeError(f"chunk starts at window {chunk.metadata['first_window']}, expected {windows}")
                firsts.append(chunk.metadata["first_window"])
                profile += chunk.temporal_map("gradient").sum(axis=0)  # a running reduction: the lag profile
                windows += chunk.n_windows
                held = max(held, result_nbytes(chunk))
                del chunk
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    print(json.dumps({
        "setting": spec["setting"], "call": how, "kwargs": kwargs, "windows": windows, "chunks": len(firsts),
        "held_mb": held / 2**20, "extra_peak_mb": peak.megabytes, "process_peak_mb": _status_mb("VmHWM"),
        "seconds": seconds, "cpu_seconds": cpu_seconds,
    }))


def _command(args: argparse.Namespace, threads: int) -> str:
    """The command line that reproduces this run."""
    out = f" --out {args.out}" if args.out is not None else ""
    return (f"crossscale --threads {threads} bench memory --steps {args.steps} --components {args.components} "
            f"--train-steps {args.train_steps} --batch-size {args.batch_size} --seed {args.seed} "
            f"--settings {' '.join(args.settings)}{out}")


def _machine() -> dict[str, Any]:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), cpu)
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "machine": platform.machine(), "python": platform.python_version(),
            "torch": torch.__version__, "torch_threads": torch.get_num_threads()}


def _markdown(report: dict[str, Any]) -> str:
    config = report["config"]
    machine = report["machine"]
    lines = [
        f"`saliency(windows=\"all\")` on {config['steps']:,} steps x {config['components']} components "
        f"(L = {INPUT_LENGTH}, H = {HORIZON}, d_model 16, trained 1 epoch on {config['train_steps']:,} steps, "
        f"batch size {config['batch_size']}).",
        "",
        f"Command: `{report['command']}`  ",
        f"Machine: {machine['cpu']}, {machine['cores']} cores shared with other jobs, Python {machine['python']}, "
        f"torch {machine['torch']} with {machine['torch_threads']} thread(s); {report['date']}.",
        "",
        "| setting | call | windows | result held (MB) | extra peak (MB) | process peak RSS (MB) | wall (s) | "
        "CPU (s) | <= 2 GB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in report["results"]:
        args = ", ".join(f"{k}={v!r}" for k, v in row["kwargs"].items())
        call = f"`{row['call']}({args})`" if args else f"`{row['call']}()`"
        held = f"{row['held_mb']:,.0f}" + (f" (largest of {row['chunks']} chunks)" if row["call"] == "iter_saliency"
                                           else "")
        ok = "yes" if row["process_peak_mb"] <= 2048 else "no"
        lines.append(f"| {row['setting']} | {call} | {row['windows']:,} | {held} | {row['extra_peak_mb']:,.0f} | "
                     f"{row['process_peak_mb']:,.0f} | {row['seconds']:.0f} | {row['cpu_seconds']:.0f} | {ok} |")
    lines += [
        "",
        "Every setting explained every window it was asked for (checked against the expected count). MB are MiB "
        "(2^20 bytes). *Result held*: the arrays of the returned result; *extra peak*: the additional peak resident "
        "memory of the call; *process peak RSS*: the whole process (Python, torch, Darts, the model, the series and "
        "the call), the figure the 2 GB target is checked against.",
    ]
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> int:
    """Train and save the model, run every setting in its own process, print and write the table. Returns 0."""
    import torch

    from crossscale_ext._lightning import QUIET_TRAINER_KWARGS, silence_lightning
    from crossscale_ext.darts_model import CrossScaleNetModel

    for name in ("steps", "components", "train_steps", "batch_size"):
        if getattr(args, name) < 1:
            raise SystemExit(f"crossscale bench memory: --{name.replace('_', '-')} must be positive.")
    if args.train_steps > args.steps or args.steps < INPUT_LENGTH + HORIZON:
        raise SystemExit("crossscale bench memory: need 120 <= --train-steps <= --steps.")
    silence_lightning()
    series = make_series(args.steps, args.components, args.seed)
    model = CrossScaleNetModel(
        input_chunk_length=INPUT_LENGTH, output_chunk_length=HORIZON, d_model=16, n_epochs=1,
        batch_size=args.batch_size, random_state=args.seed,
        pl_trainer_kwargs={**QUIET_TRAINER_KWARGS, "accelerator": "cpu"},
    )
    model.fit(series[: args.train_steps])
    del series
    results = []
    with tempfile.TemporaryDirectory() as folder:
        path = str(Path(folder) / "model.pt")
        model.save(path)
        for setting in args.settings:
            spec = {"setting": setting, "model_path": path, "steps": args.steps, "components": args.components,
                    "seed": args.seed, "threads": torch.get_num_threads()}
            code = f"from crossscale_ext.benchmarks.memory import _worker; _worker({json.dumps(spec)!r})"
            done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
            if done.returncode != 0:
                raise SystemExit(f"crossscale bench memory: setting {setting!r} failed:\n{done.stderr[-3000:]}")
            row = json.loads(done.stdout.strip().splitlines()[-1])
            stride = SETTINGS[setting][1].get("stride", 1)
            if row["windows"] != expected_windows(args.steps, stride):
                raise SystemExit(f"crossscale bench memory: setting {setting!r} explained {row['windows']} windows, "
                                 f"expected {expected_windows(args.steps, stride)}.")
            results.append(row)
            print(f"{setting}: {row['windows']} windows, held {row['held_mb']:.0f} MB, process peak "
                  f"{row['process_peak_mb']:.0f} MB, {row['seconds']:.0f} s", flush=True)
    report = {
        "command": _command(args, torch.get_num_threads()),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": _machine(),
        "config": {"steps": args.steps, "components": args.components, "train_steps": args.train_steps,
                   "batch_size": args.batch_size, "seed": args.seed},
        "results": results,
    }
    table = _markdown(report)
    print(table)
    from crossscale_ext.benchmarks.harness import write_report

    write_report(args.out, "memory", report, table)
    return 0
