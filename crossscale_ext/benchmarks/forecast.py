"""``crossscale bench forecast``: long-horizon accuracy and cost against Darts peers, in one run.

Trains CrossScaleNet with the recommended recipe (:func:`crossscale_ext.training.training_recipe`): the reference
setup of the paper's scripts (Adam, the ``lradj=type1`` schedule, up to 20 epochs, early stopping with patience 3
on the validation loss, batch 32, dropout 0.1, d_model 32, lookback 96) with the learning rate chosen on the
validation split (1e-3 up to H = 192, 1e-4 beyond); ``--crossscale-lr 1e-4`` is the reference recipe exactly.
The Darts peers DLinear, NLinear,
TSMixer and TiDE get the *same trainer* (epochs, schedule, early stopping, batch, best-validation weights restored),
each set as its paper sets it; PatchTST and iTransformer (neuralforecast, optional) their papers' own settings
(:mod:`crossscale_ext.benchmarks.nf_peers`). For every (data set, horizon, model) it
reports test MSE / MAE over every test window (standard protocol, see
:mod:`crossscale_ext.datasets.long_horizon`), the parameter count, training seconds per epoch, prediction latency
for 1 and 32 series and the peak memory increase, measured with :mod:`crossscale_ext.benchmarks.harness`.
Results go to ``results.csv`` and ``results.md``.

Example::

    crossscale bench forecast --dataset ETTh1 ETTh2 --horizons 96 192 336 720 --data-dir ../shared/data

Torch uses one intra-op thread unless ``--threads N`` is given (``crossscale --threads N bench forecast`` or
``crossscale bench forecast ... --threads N``: one option of the ``crossscale`` command).
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import statistics
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from crossscale_ext.training import (
    RECOMMENDED_LEARNING_RATE,
    RECOMMENDED_MAX_HORIZON,
    REFERENCE_LEARNING_RATE,
)

MODELS: tuple[str, ...] = ("CrossScaleNet", "DLinear", "NLinear", "TSMixer", "TiDE")
#: peers through neuralforecast (the optional ``bench`` extra), run by :mod:`crossscale_ext.benchmarks.nf_peers`
NF_MODELS: tuple[str, ...] = ("PatchTST", "iTransformer")
DEFAULT_HORIZONS: tuple[int, ...] = (96, 192, 336, 720)
INPUT_LENGTH = 96
BATCH_SIZE = 32
SCHEDULES: tuple[str, ...] = ("reference", "exponential")

#: Learning rates of the peers' published scripts for the data sets they tuned; others fall back to "default".
#: DLinear / NLinear: the LTSF-Linear scripts (ETTh1 0.005, ETTh2 0.05, ETTm1 1e-4, ETTm2 1e-3, Weather 1e-4,
#: Exchange 5e-4). TSMixer and TiDE: 1e-3 (their papers' rates, 1e-4 and 3.8e-5 for ETTh1, were tuned for a
#: constant rate over up to 100 epochs, batch 512 for TiDE, and a 512 / 720-step lookback; with the shared
#: halving schedule 1e-4 leaves TSMixer far from converged, see docs/benchmarks/forecast.md).
PEER_LEARNING_RATES: dict[str, dict[str, float]] = {
    "DLinear": {"ETTh1": 5e-3, "ETTh2": 5e-2, "ETTm1": 1e-4, "ETTm2": 1e-3, "Weather": 1e-4, "Exchange": 5e-4,
                "default": 1e-3},
    "NLinear": {"ETTh1": 5e-3, "ETTh2": 5e-2, "ETTm1": 1e-4, "ETTm2": 1e-3, "Weather": 1e-4, "Exchange": 5e-4,
                "default": 1e-3},
    "TSMixer": {"default": 1e-3},
    "TiDE": {"default": 1e-3},
}


@dataclass
class BenchmarkRow:
    """One (data set, horizon, model) result; every figure is measured in this run."""

    dataset: str
    horizon: int
    model: str
    mse: float
    mae: float
    n_test_windows: int
    parameters: int
    epochs_run: int
    best_epoch: int
    train_seconds_per_epoch: float
    latency_ms_batch1: float
    latency_ms_batch32: float
    peak_memory_mb: float
    learning_rate: float
    val_mse: float = float("nan")
    val_mae: float = float("nan")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the options of ``crossscale bench forecast`` on ``parser``."""
    from crossscale_ext.datasets.long_horizon import DATA_DIR_ENV, DATASETS

    parser.add_argument("--dataset", nargs="+", default=["ETTh1"], choices=sorted(DATASETS), metavar="NAME",
                        help=f"data sets, among {', '.join(DATASETS)} (default: ETTh1)")
    parser.add_argument("--horizons", nargs="+", type=int, default=list(DEFAULT_HORIZONS), metavar="H",
                        help="forecast horizons (default: 96 192 336 720)")
    parser.add_argument("--models", nargs="+", default=None, choices=MODELS + NF_MODELS, metavar="MODEL",
                        help=f"models, among {', '.join(MODELS + NF_MODELS)} (default: all; {' and '.join(NF_MODELS)} "
                             "need neuralforecast: pip install 'crossscale_ext[bench]', and are left out, with a "
                             "message, when it is not installed)")
    parser.add_argument("--epochs", type=int, default=20, help="maximum epochs for every model (default: 20)")
    parser.add_argument("--patience", type=int, default=3,
                        help="early-stopping patience on the validation loss (default: 3)")
    parser.add_argument("--schedule", choices=SCHEDULES, default="reference",
                        help="learning-rate schedule of every model: 'reference' = the authors' (and LTSF-Linear's) "
                             "lradj=type1, the rate halved after every epoch from epoch 2 on; 'exponential' = "
                             "ExponentialLR(--lr-gamma), stepped after every epoch (default: reference)")
    parser.add_argument("--lr-gamma", type=float, default=0.5,
                        help="with --schedule exponential: the factor applied after every epoch (default: 0.5)")
    parser.add_argument("--batch-size", type=int, default=BATCH_SIZE,
                        help=f"training batch size of every model (default: {BATCH_SIZE})")
    parser.add_argument("--crossscale-lr", type=float, default=None,
                        help=f"CrossScaleNet's initial learning rate (default: the recommended recipe's, "
                             f"{RECOMMENDED_LEARNING_RATE:g} up to H = {RECOMMENDED_MAX_HORIZON}, "
                             f"{REFERENCE_LEARNING_RATE:g} beyond; {REFERENCE_LEARNING_RATE:g} everywhere is the "
                             "reference scripts')")
    parser.add_argument("--crossscale-d-model", type=int, default=32, help="CrossScaleNet width (default: 32)")
    parser.add_argument("--crossscale-option", action="append", default=[], metavar="NAME=VALUE",
                        help="extra CrossScaleNetModel argument (Python literal value), e.g. channel_mixing=False or "
                             "instance_norm=False; repeat for several")
    parser.add_argument("--crossscale-label", default="CrossScaleNet", metavar="NAME",
                        help="model name of CrossScaleNet's rows in the results, to tell variants apart when runs are "
                             "merged, e.g. 'CrossScaleNet (reference)' (default: CrossScaleNet; the cell counts "
                             "compare the rows named CrossScaleNet with the other models, leaving rows named "
                             "'CrossScaleNet (...)' out)")
    parser.add_argument("--seed", type=int, default=0, help="random seed of every model (default: 0)")
    parser.add_argument("--no-test", action="store_true",
                        help="score the validation split only (val_mse / val_mae) and leave the test split untouched: "
                             "for choosing settings; test MSE / MAE are then NaN")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run for CI: 1 epoch on 1024 training rows, 128 validation and 256 test windows, "
                             "horizon 96 unless --horizons is given; numbers are not benchmark results")
    parser.add_argument("--merge", nargs="+", type=Path, default=None, metavar="CSV",
                        help="train nothing: merge the results.csv files of earlier runs (e.g. one per data set, run "
                             "in parallel) into one report in --out")
    parser.add_argument("--out", type=Path, default=Path("forecast_benchmark"),
                        help="folder for results.csv and results.md (default: ./forecast_benchmark)")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help=f"folder with the benchmark CSV files (default: ${DATA_DIR_ENV}, else download "
                             "through darts.datasets)")


def parse_model_options(options: Sequence[str]) -> dict[str, Any]:
    """Parse ``NAME=VALUE`` strings (values as Python literals) into keyword arguments.

    Raises
    ------
    ValueError
        When an option has no ``=`` or its value is not a Python literal.
    """
    import ast

    parsed: dict[str, Any] = {}
    for option in options:
        name, separator, value = option.partition("=")
        if not separator or not name.strip().isidentifier():
            raise ValueError(f"--crossscale-option expects NAME=VALUE (e.g. channel_mixing=False); got {option!r}.")
        try:
            parsed[name.strip()] = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError) as error:
            raise ValueError(f"--crossscale-option {option!r}: the value must be a Python literal ({error}).") from None
    return parsed


def _validate(args: argparse.Namespace) -> None:
    for name in ("epochs", "patience", "crossscale_d_model", "batch_size"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be at least 1; got {value}.")
    if any(h < 1 for h in args.horizons):
        raise ValueError(f"--horizons must be positive integers; got {args.horizons}.")
    if not 0 < args.lr_gamma <= 1:
        raise ValueError(f"--lr-gamma must be in (0, 1]; got {args.lr_gamma}.")
    if args.crossscale_lr is not None and args.crossscale_lr <= 0:
        raise ValueError(f"--crossscale-lr must be positive; got {args.crossscale_lr}.")
    parse_model_options(args.crossscale_option)


# --------------------------------------------------------------------------- models
def peer_learning_rate(model: str, dataset: str) -> float:
    """Learning rate used for a peer on a data set (see :data:`PEER_LEARNING_RATES`)."""
    rates = PEER_LEARNING_RATES[model]
    return rates.get(dataset, rates["default"])


def build_model(
    model: str,
    dataset: str,
    horizon: int,
    epochs: int,
    patience: int,
    seed: int = 0,
    lr_gamma: float = 0.5,
    crossscale_lr: float | None = None,
    crossscale_d_model: int = 32,
    trainer_kwargs: dict[str, Any] | None = None,
    crossscale_options: dict[str, Any] | None = None,
    schedule: str = "reference",
    batch_size: int = BATCH_SIZE,
) -> tuple[Any, Any, Any, float]:
    """Build one benchmark model with the shared trainer settings.

    Every model trains with the recommended recipe (:func:`~crossscale_ext.training.training_recipe`: the
    ``lradj=type1`` schedule and early stopping on the validation loss), with ``epochs``, ``batch_size``, the learning
    rate and the schedule as given.

    Parameters
    ----------
    model
        One of :data:`MODELS`.
    dataset
        Data set name (selects the peers' published learning rates and TSMixer's depth).
    horizon
        Output chunk length.
    epochs, patience
        Maximum epochs and early-stopping patience on the validation loss.
    seed
        ``random_state`` of the model.
    lr_gamma
        With ``schedule="exponential"``: the factor of the ``ExponentialLR`` schedule, stepped after every epoch.
    crossscale_lr, crossscale_d_model
        CrossScaleNet's learning rate (``None``: the recommended recipe's for ``horizon``) and width.
    trainer_kwargs
        Extra ``pl_trainer_kwargs`` (e.g. ``{"accelerator": "gpu", "devices": [0]}``); callbacks are added.
    crossscale_options
        Extra ``CrossScaleNetModel`` arguments (e.g. ``{"channel_mixing": False}``), overriding the reference ones
        and the shared trainer settings (e.g. ``optimizer_cls``).
    schedule
        ``"reference"``: the authors' ``lradj=type1`` (:mod:`crossscale_ext.training`), which the LTSF-Linear scripts
        of DLinear / NLinear use too; ``"exponential"``: ``ExponentialLR(lr_gamma)``.
    batch_size
        Training batch size.

    Returns
    -------
    tuple
        ``(darts_model, epoch_timer, best_weights, learning_rate)``.
    """
    import torch
    from darts.models import DLinearModel, NLinearModel, TiDEModel, TSMixerModel

    from crossscale_ext._lightning import QUIET_TRAINER_KWARGS
    from crossscale_ext.benchmarks.harness import training_callbacks
    from crossscale_ext.darts_model import CrossScaleNetModel
    from crossscale_ext.training import training_recipe

    if model not in MODELS:
        raise ValueError(f"Unknown model {model!r}; choose among {', '.join(MODELS)}.")
    if schedule not in SCHEDULES:
        raise ValueError(f"Unknown schedule {schedule!r}; choose among {', '.join(SCHEDULES)}.")
    recipe = training_recipe("recommended", early_stopping_patience=patience, horizon=horizon)
    if model == "CrossScaleNet":
        learning_rate = recipe["optimizer_kwargs"]["lr"] if crossscale_lr is None else crossscale_lr
    else:
        learning_rate = peer_learning_rate(model, dataset)
    timer, best = training_callbacks()
    pl_kwargs = {**QUIET_TRAINER_KWARGS, "accelerator": "cpu", **(trainer_kwargs or {})}
    pl_kwargs["callbacks"] = [*pl_kwargs.get("callbacks", []), *recipe.pop("pl_trainer_kwargs")["callbacks"], timer,
                              best]
    common: dict[str, Any] = {
        **recipe,
        "input_chunk_length": INPUT_LENGTH,
        "output_chunk_length": horizon,
        "batch_size": batch_size,
        "n_epochs": epochs,
        "optimizer_cls": torch.optim.Adam,
        "optimizer_kwargs": {"lr": float(learning_rate)},
        "random_state": seed,
        "pl_trainer_kwargs": pl_kwargs,
    }
    if schedule == "exponential":
        common.update(lr_scheduler_cls=torch.optim.lr_scheduler.ExponentialLR, lr_scheduler_kwargs={"gamma": lr_gamma})
    if model == "CrossScaleNet":
        architecture = {"d_model": crossscale_d_model, "dropout": 0.1, "n_scales": 4, "base_patch_length": 16,
                        "moving_avg_kernel": 25, **(crossscale_options or {})}
        built = CrossScaleNetModel(**{**common, **architecture})
    elif model == "DLinear":  # LTSF-Linear: one linear layer shared by all channels ("individual=False")
        built = DLinearModel(shared_weights=True, kernel_size=25, const_init=False, **common)
    elif model == "NLinear":  # LTSF-Linear: subtract the last value, one shared linear layer
        built = NLinearModel(shared_weights=True, normalize=True, const_init=False, **common)
    elif model == "TSMixer":  # TSMixer paper's block (RevIN, batch norm, ReLU), Darts' 2-block width-64 size
        built = TSMixerModel(hidden_size=64, ff_size=64, num_blocks=2, dropout=0.1, norm_type="TimeBatchNorm2d",
                             activation="ReLU", use_reversible_instance_norm=True, **common)
    else:  # TiDE paper, ETTh1 row of its hyper-parameter table
        built = TiDEModel(hidden_size=256, num_encoder_layers=2, num_decoder_layers=2, decoder_output_dim=8,
                          temporal_decoder_hidden=128, dropout=0.3, use_layer_norm=True,
                          use_reversible_instance_norm=True, **common)
    return built, timer, best, learning_rate


def run_one(
    model_name: str,
    data: Any,
    horizon: int,
    args: argparse.Namespace,
    train: Any,
    val: Any,
    test: Any,
    trainer_kwargs: dict[str, Any] | None = None,
) -> BenchmarkRow:
    """Train, evaluate and time one model on one data set and horizon."""
    from crossscale_ext.benchmarks.harness import PeakMemory, evaluate_windows, latency_ms

    model, timer, best, learning_rate = build_model(
        model_name, data.name, horizon, epochs=args.epochs, patience=args.patience, seed=args.seed,
        lr_gamma=args.lr_gamma, crossscale_lr=args.crossscale_lr, crossscale_d_model=args.crossscale_d_model,
        trainer_kwargs=trainer_kwargs, crossscale_options=parse_model_options(args.crossscale_option),
        schedule=args.schedule, batch_size=args.batch_size,
    )
    with PeakMemory() as memory:
        model.fit(train, val_series=val, verbose=False)
        if best.state is not None:
            model.model.load_state_dict(best.state)
        val_scores = evaluate_windows(model, val, horizon)
        scores = None if args.no_test else evaluate_windows(model, test, horizon)
    parameters = sum(p.numel() for p in model.model.parameters())
    repeats = 2 if args.quick else 5
    last_window = test[-INPUT_LENGTH:]
    windows32 = [test[i : i + INPUT_LENGTH] for i in range(32)]
    return BenchmarkRow(
        dataset=data.name,
        horizon=horizon,
        model=args.crossscale_label if model_name == "CrossScaleNet" else model_name,
        mse=float("nan") if scores is None else scores.mse,
        mae=float("nan") if scores is None else scores.mae,
        n_test_windows=0 if scores is None else scores.n_windows,
        parameters=int(parameters),
        epochs_run=len(timer.seconds),
        best_epoch=best.best_epoch,
        train_seconds_per_epoch=statistics.mean(timer.seconds) if timer.seconds else float("nan"),
        latency_ms_batch1=latency_ms(model, [last_window], horizon, repeats),
        latency_ms_batch32=latency_ms(model, windows32, horizon, repeats),
        peak_memory_mb=memory.megabytes,
        learning_rate=learning_rate,
        val_mse=val_scores.mse,
        val_mae=val_scores.mae,
    )


# --------------------------------------------------------------------------- output
_HEADER = ("model", "MSE", "MAE", "val MSE", "params", "s/epoch", "epochs (best)", "pred ms b1", "pred ms b32",
           "peak MB", "lr")


def format_markdown(rows: Sequence[BenchmarkRow], command: str, quick: bool) -> str:
    """A markdown report: one table per data set and horizon, then the average MSE / MAE over horizons."""
    lines = ["# Long-horizon forecasting benchmark", "", f"Command: `{command}`", "",
             f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}, "
             f"{platform.system()} {platform.release()}", ""]
    if quick:
        lines += ["**Quick smoke run (--quick): tiny training and test subsets; these are not benchmark results.**",
                  ""]
    for dataset in dict.fromkeys(r.dataset for r in rows):
        for horizon in sorted({r.horizon for r in rows if r.dataset == dataset}):
            group = [r for r in rows if r.dataset == dataset and r.horizon == horizon]
            lines += [f"## {dataset}, H = {horizon} ({group[0].n_test_windows} test windows)", "",
                      "| " + " | ".join(_HEADER) + " |", "|" + "---|" * len(_HEADER)]
            for r in group:
                lines.append(
                    f"| {r.model} | {r.mse:.4f} | {r.mae:.4f} | {r.val_mse:.4f} | {r.parameters:,} | "
                    f"{r.train_seconds_per_epoch:.1f} | "
                    f"{r.epochs_run} ({r.best_epoch}) | {r.latency_ms_batch1:.1f} | {r.latency_ms_batch32:.1f} | "
                    f"{r.peak_memory_mb:.0f} | {r.learning_rate:g} |"
                )
            lines.append("")
        horizons = sorted({r.horizon for r in rows if r.dataset == dataset})
        if len(horizons) > 1:
            lines += [f"## {dataset}, average over H in {horizons}", "", "| model | MSE | MAE |", "|---|---|---|"]
            for model in dict.fromkeys(r.model for r in rows if r.dataset == dataset):
                group = [r for r in rows if r.dataset == dataset and r.model == model]
                if len(group) == len(horizons):
                    lines.append(f"| {model} | {statistics.mean(r.mse for r in group):.4f} | "
                                 f"{statistics.mean(r.mae for r in group):.4f} |")
            lines.append("")
    lines += summary_markdown(rows)
    return "\n".join(lines)


def cell_summary(rows: Sequence[BenchmarkRow], model: str = "CrossScaleNet") -> dict[str, Any]:
    """Where ``model`` stands over the (data set, horizon) cells of ``rows``, by test MSE.

    Rows of ``model``'s own variants, named ``"<model> (...)"`` (``--crossscale-label``, e.g. ``"CrossScaleNet
    (reference)"``), are not its peers and are left out of the comparison.

    Returns
    -------
    dict
        ``cells`` (cells where ``model`` ran with at least one other model), ``best`` (cells where it has the
        lowest MSE of all models in the cell), ``linear_cells`` (cells that also hold DLinear and NLinear) and
        ``beats_linear`` (those where its MSE is below both).
    """
    cells = best = linear_cells = beats_linear = 0
    variant = f"{model} ("
    for key in dict.fromkeys((r.dataset, r.horizon) for r in rows):
        group = {r.model: r.mse for r in rows
                 if (r.dataset, r.horizon) == key and r.mse == r.mse and not r.model.startswith(variant)}
        if model not in group or len(group) < 2:
            continue
        cells += 1
        best += group[model] <= min(group.values())
        if "DLinear" in group and "NLinear" in group:
            linear_cells += 1
            beats_linear += group[model] < min(group["DLinear"], group["NLinear"])
    return {"cells": cells, "best": best, "linear_cells": linear_cells, "beats_linear": beats_linear}


def summary_markdown(rows: Sequence[BenchmarkRow], model: str = "CrossScaleNet") -> list[str]:
    """The counts of :func:`cell_summary` as a short markdown section (empty when there is nothing to compare)."""
    summary = cell_summary(rows, model)
    if not summary["cells"]:
        return []
    lines = [f"## Where {model} stands (test MSE)", "",
             f"- lowest MSE of all models in the cell: {summary['best']} of {summary['cells']} cells"]
    if summary["linear_cells"]:
        lines.append(f"- below both DLinear and NLinear: {summary['beats_linear']} of {summary['linear_cells']} cells")
    return lines + [""]


def read_results(paths: Sequence[Path]) -> list[BenchmarkRow]:
    """Rows of ``results.csv`` files written by earlier runs, in file order (for merging parallel runs)."""
    from dataclasses import fields

    kinds = {f.name: f.type for f in fields(BenchmarkRow)}
    rows: list[BenchmarkRow] = []
    for path in paths:
        with open(path, newline="") as handle:
            for record in csv.DictReader(handle):
                values = {}
                for name, value in record.items():
                    if name not in kinds:
                        raise ValueError(f"{path}: unknown column {name!r}; is it a crossscale bench forecast file?")
                    values[name] = value if kinds[name] == "str" else (
                        int(value) if kinds[name] == "int" else float(value))
                rows.append(BenchmarkRow(**values))
    return rows


def write_results(rows: Sequence[BenchmarkRow], out: Path, command: str, quick: bool) -> tuple[Path, Path]:
    """Write ``results.csv`` and ``results.md`` into ``out``; returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    csv_path, md_path = out / "results.csv", out / "results.md"
    with open(csv_path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(asdict(rows[0]).keys()))
        writer.writeheader()
        for row in rows:
            writer.writerow(asdict(row))
    md_path.write_text(format_markdown(rows, command, quick) + "\n")
    return csv_path, md_path


def _quick_subsets(data: Any, horizon: int) -> tuple[Any, Any, Any]:
    """The --quick subsets: the last 1024 training rows, 128 validation and 256 test windows."""
    train = data.train[-1024:]
    val = data.val[: INPUT_LENGTH + horizon + 127]
    test = data.test[: INPUT_LENGTH + horizon + 255]
    return train, val, test


def run(args: argparse.Namespace) -> int:
    """Run ``crossscale bench forecast``; returns the exit status (0 on success)."""
    _validate(args)
    if args.merge:
        rows = read_results(args.merge)
        if not rows:
            raise ValueError(f"--merge: no rows in {', '.join(map(str, args.merge))}.")
        command = "crossscale bench forecast --merge " + " ".join(map(str, args.merge))
        csv_path, md_path = write_results(rows, args.out, command, quick=False)
        print(f"Merged {len(rows)} rows into {csv_path} and {md_path}")
        return 0
    from tqdm.auto import tqdm

    from crossscale_ext._lightning import silence_lightning
    from crossscale_ext.datasets.long_horizon import load_long_horizon

    silence_lightning()
    command = _command_line(args)
    if args.quick:
        args.epochs = 1
        if args.horizons == list(DEFAULT_HORIZONS):
            args.horizons = [96]
    if args.models is None:
        args.models = list(MODELS) + (list(NF_MODELS) if neuralforecast_available() else [])
        if not neuralforecast_available():
            print(f"Note: {' and '.join(NF_MODELS)} left out: neuralforecast is not installed "
                  "(pip install 'crossscale_ext[bench]').", file=sys.stderr)
    datasets = {name: load_long_horizon(name, INPUT_LENGTH, data_dir=args.data_dir) for name in args.dataset}
    tasks = [(d, h, m) for d in args.dataset for h in args.horizons for m in args.models]
    rows: list[BenchmarkRow] = []
    progress = tqdm(tasks, desc="bench forecast", unit="run", file=sys.stderr)
    for dataset, horizon, model_name in progress:
        progress.set_postfix_str(f"{dataset} H={horizon} {model_name}")
        data = datasets[dataset]
        if args.quick:
            train, val, test = _quick_subsets(data, horizon)
        else:
            train, val, test = data.train, data.val, data.test
        if model_name in NF_MODELS:
            from crossscale_ext.benchmarks.nf_peers import run_neuralforecast_peer

            row = BenchmarkRow(**run_neuralforecast_peer(
                model_name, data, horizon, epochs=args.epochs, patience=args.patience, seed=args.seed,
                quick=args.quick, lr_gamma=None if args.schedule == "reference" else args.lr_gamma,
                score_test=not args.no_test))
        else:
            row = run_one(model_name, data, horizon, args, train, val, test)
        rows.append(row)
        # after every run, so a grid stopped part-way (killed, out of time) keeps every finished row
        csv_path, md_path = write_results(rows, args.out, command, args.quick)
        progress.write(f"{dataset} H={horizon} {model_name}: MSE {row.mse:.4f} MAE {row.mae:.4f} "
                       f"({row.epochs_run} epochs, {row.train_seconds_per_epoch:.1f} s/epoch)")
    print(format_markdown(rows, command, args.quick))
    print(f"\nWrote {csv_path} and {md_path}")
    return 0


def neuralforecast_available() -> bool:
    """Whether the optional neuralforecast peers can run (``pip install 'crossscale_ext[bench]'``)."""
    import importlib.util

    return importlib.util.find_spec("neuralforecast") is not None


def _command_line(args: argparse.Namespace) -> str:
    """The ``crossscale bench forecast`` command that reproduces ``args``."""
    models = ["--models", *args.models] if args.models is not None else []  # None: every installed model
    parts = ["crossscale bench forecast", "--dataset", *args.dataset, "--horizons", *map(str, args.horizons),
             *models, "--epochs", str(args.epochs), "--patience", str(args.patience),
             "--schedule", args.schedule, "--lr-gamma", f"{args.lr_gamma:g}", "--batch-size", str(args.batch_size),
             *([] if args.crossscale_lr is None else ["--crossscale-lr", f"{args.crossscale_lr:g}"]),
             "--crossscale-d-model", str(args.crossscale_d_model), "--seed", str(args.seed)]
    if args.crossscale_label != "CrossScaleNet":
        parts += ["--crossscale-label", repr(args.crossscale_label)]
    for option in args.crossscale_option:
        parts += ["--crossscale-option", option]
    if getattr(args, "threads", None) is not None:  # the global option (crossscale --threads N), set by the CLI
        parts += ["--threads", str(args.threads)]
    if args.no_test:
        parts.append("--no-test")
    if args.quick:
        parts.append("--quick")
    if args.data_dir is not None:
        parts += ["--data-dir", str(args.data_dir)]
    return " ".join(parts)
