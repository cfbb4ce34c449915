"""The package's import structure, as docs/architecture.md draws it: layers, one direction, no cycle.

Every ``import`` / ``from ... import`` of a ``crossscale_ext`` module counts, at module level, under
``TYPE_CHECKING`` and inside functions alike.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "crossscale_ext"

#: Bottom to top. A module may import modules of its own layer or below, never above.
LAYERS: list[set[str]] = [
    {"config", "maps", "_lightning", "_fork", "checkpointing", "training", "metrics",
     "datasets", "datasets.synthetic", "datasets.long_horizon"},
    {"network"},
    {"saliency"},
    {"_darts_module"},
    {"explainability", "plotting", "faithfulness"},
    {"_darts_saliency"},
    {"darts_model"},
    {"_sktime_data"},
    {"_safe_pickle", "_sktime_adapter"},
    {"_sktime_saliency"},
    {"sktime_forecaster"},
    {"benchmarks", "demo", "cli", "__main__", ""},  # and every benchmarks.* module
]


def layer_of(name: str) -> int:
    """The layer of module ``name`` (every ``benchmarks.*`` module is in the top one)."""
    if name.startswith("benchmarks."):
        name = "benchmarks"
    return next(i for i, names in enumerate(LAYERS) if name in names)


def module_names() -> dict[str, Path]:
    names = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        names[name] = path
    return names


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The package modules ``name`` imports (names relative to the package; ``""`` is the package itself)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".") if package else []
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            elif node.module and (node.module == "crossscale_ext" or node.module.startswith("crossscale_ext.")):
                module = node.module.removeprefix("crossscale_ext").lstrip(".")
            else:
                continue
            for alias in node.names:
                candidate = f"{module}.{alias.name}".lstrip(".")
                found.add(candidate if candidate in known else module)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("crossscale_ext"):
                    found.add(alias.name.removeprefix("crossscale_ext").lstrip("."))
    return found - {name}


def graph() -> dict[str, set[str]]:
    names = module_names()
    return {name: imports_of(name, path, set(names)) for name, path in names.items()}


def test_every_module_has_a_layer():
    layered = set().union(*LAYERS)
    names = {name for name in module_names() if not name.startswith("benchmarks.")}
    assert names - layered == set(), "add the new module to LAYERS and to docs/architecture.md"
    assert layered - set(module_names()) == set(), "a module in LAYERS no longer exists"


def test_no_module_imports_a_module_above_it():
    upward = [
        f"{name} (layer {layer_of(name)}) imports {other} (layer {layer_of(other)})"
        for name, others in graph().items()
        for other in others
        if name != "" and layer_of(other) > layer_of(name)
    ]
    assert upward == []


def test_no_import_cycle():
    edges = {name: {o for o in others if o != ""} for name, others in graph().items() if name != ""}
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for other in sorted(edges.get(node, ())):
            if state.get(other) == 1:
                cycles.append(path[path.index(other):] + [other])
            elif other not in state:
                visit(other, path + [other])
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    assert cycles == []


def test_the_network_and_the_registry_import_no_wrapper():
    edges = graph()
    assert edges["network"] <= {"config", "_fork"}
    assert edges["maps"] == set() and edges["config"] == set()
    assert not any(other.startswith("benchmarks") for other in edges["datasets.long_horizon"])
