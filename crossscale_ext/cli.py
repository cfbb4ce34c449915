"""The ``crossscale`` command line: ``crossscale demo`` and ``crossscale bench {saliency,forecast,lagcopy}``.

Each sub-command lives in its own module, which exposes ``add_arguments(parser)`` and ``run(args) -> int``;
this file only wires them together. Only the module of the command being run is imported, so
``crossscale --help`` stays fast and one command's dependencies never break another.

One option is global: ``--threads N`` (default 1), the number of torch intra-op threads, set with
``torch.set_num_threads`` just before the command runs. It is accepted before or after the command name
(``crossscale --threads 2 demo`` or ``crossscale demo --threads 2``). One thread is the default because the
models are small: on 2 shared cores torch's default thread count made the demo take 189 s instead of 53 s.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

#: sub-command path -> (module, one-line help)
COMMANDS: dict[tuple[str, ...], tuple[str, str]] = {
    ("demo",): (
        "crossscale_ext.demo",
        "train on a synthetic series with known important lags; print accuracy and saliency scores; write plots",
    ),
    ("bench", "saliency"): (
        "crossscale_ext.benchmarks.saliency",
        "saliency maps against ground truth on SYN1-SYN8, against post-hoc explainers and TFT",
    ),
    ("bench", "forecast"): (
        "crossscale_ext.benchmarks.forecast",
        "long-horizon accuracy and speed on real data against Darts peers",
    ),
    ("bench", "lagcopy"): (
        "crossscale_ext.benchmarks.lagcopy",
        "does the saliency point at the lag a series copies? (maps and occlusion)",
    ),
    ("bench", "memory"): (
        "crossscale_ext.benchmarks.memory",
        "peak memory and wall time of saliency(windows='all') on a long series, per saliency option",
    ),
    ("bench", "speed"): (
        "crossscale_ext.benchmarks.speed",
        "training, inference and saliency speed of the network and the Darts model against peers, in one process",
    ),
    ("bench", "panel"): (
        "crossscale_ext.benchmarks.panel",
        "saliency of the last window of many series against predict of the same series",
    ),
    ("bench", "defaults"): (
        "crossscale_ext.benchmarks.defaults",
        "choose the covariate path and learning rate on validation data (SYN1-SYN8 train parts only)",
    ),
    ("bench", "faithfulness"): (
        "crossscale_ext.benchmarks.faithfulness",
        "do the saliency maps point at what the forecast rests on? deletion, seed stability, randomization (real data)",
    ),
}


DEFAULT_THREADS = 1
_THREADS_HELP = (f"torch intra-op threads (default: {DEFAULT_THREADS}; the models are small, and more threads than "
                 "free cores slow them down)")


def positive_int(text: str) -> int:
    """An argparse ``type``: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def build_parser(selected: tuple[str, ...] | None = None) -> argparse.ArgumentParser:
    """The argument parser; only the ``selected`` command's module is imported to add its options."""
    parser = argparse.ArgumentParser(
        prog="crossscale",
        description="CrossScaleNet forecasting with saliency maps: gradient (recommended) and the paper's attention.",
    )
    parser.add_argument("--threads", type=positive_int, default=DEFAULT_THREADS, metavar="N", help=_THREADS_HELP)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    groups: dict[str, argparse._SubParsersAction] = {}
    for path, (module_name, help_text) in COMMANDS.items():
        if len(path) == 1:
            sub = commands.add_parser(path[0], help=help_text, description=help_text)
        else:
            if path[0] not in groups:
                group = commands.add_parser(path[0], help=f"{path[0]} sub-commands")
                groups[path[0]] = group.add_subparsers(dest=f"{path[0]}_command", required=True, metavar="NAME")
            sub = groups[path[0]].add_parser(path[1], help=help_text, description=help_text)
        sub.set_defaults(_module=module_name)
        if path == selected:
            importlib.import_module(module_name).add_arguments(sub)
        _threads_after_command(sub)
    return parser


def _threads_after_command(sub: argparse.ArgumentParser) -> None:
    """Accept ``--threads N`` after the command name too, as the same option as the global one.

    A command that declares its own ``--threads`` keeps its declaration, but its default is suppressed, so the
    global value (``crossscale --threads N ...``, default 1) is used unless ``--threads`` follows the command.
    """
    own = [action for action in sub._actions if "--threads" in action.option_strings]
    if own:
        for action in own:
            action.default = argparse.SUPPRESS
    else:
        sub.add_argument("--threads", type=positive_int, default=argparse.SUPPRESS, metavar="N", help=_THREADS_HELP)


def _selected_command(argv: Sequence[str]) -> tuple[str, ...] | None:
    """The command path that ``argv`` starts with, if any."""
    for path in COMMANDS:
        if tuple(argv[: len(path)]) == path:
            return path
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(_selected_command(argv[_command_start(argv):])).parse_args(argv)
    module = importlib.import_module(args._module)
    import torch  # only now: --help and argument errors stay fast

    torch.set_num_threads(args.threads)
    return int(module.run(args) or 0)


def _command_start(argv: Sequence[str]) -> int:
    """Index of the command name in ``argv``, skipping the global options (``--threads N``)."""
    i = 0
    while i < len(argv) and argv[i].startswith("-"):
        i += 1 if "=" in argv[i] or argv[i] in ("-h", "--help") else 2
    return min(i, len(argv))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
