"""The ``crossscale`` command line: ``crossscale demo`` and ``crossscale bench {saliency,forecast}``.

Each sub-command lives in its own module, which exposes ``add_arguments(parser)`` and ``run(args) -> int``;
this file only wires them together. Only the module of the command being run is imported, so
``crossscale --help`` stays fast and one command's dependencies never break another.
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
        "saliency against ground truth on SYN1-SYN8, against post-hoc explainers and TFT",
    ),
    ("bench", "forecast"): (
        "crossscale_ext.benchmarks.forecast",
        "long-horizon accuracy and speed on real data against Darts peers",
    ),
    ("bench", "lagcopy"): (
        "crossscale_ext.benchmarks.lagcopy",
        "does the saliency point at the lag a series copies? (maps and occlusion)",
    ),
}


def build_parser(selected: tuple[str, ...] | None = None) -> argparse.ArgumentParser:
    """The argument parser; only the ``selected`` command's module is imported to add its options."""
    parser = argparse.ArgumentParser(
        prog="crossscale", description="CrossScaleNet: multi-scale forecasting with attention as temporal saliency."
    )
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
    return parser


def _selected_command(argv: Sequence[str]) -> tuple[str, ...] | None:
    """The command path that ``argv`` starts with, if any."""
    for path in COMMANDS:
        if tuple(argv[: len(path)]) == path:
            return path
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(_selected_command(argv)).parse_args(argv)
    module = importlib.import_module(args._module)
    return int(module.run(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
