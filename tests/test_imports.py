"""Import cost: the package and the plain network load only what they need; ``crossscale --help`` is light.

Each check runs in a fresh interpreter, since this test process has long imported everything.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("torch", "darts", "sktime", "pytorch_lightning")


def _loaded_after(code: str) -> dict[str, bool]:
    """Run ``code`` in a new interpreter; return which of the heavy packages it left in ``sys.modules``."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps({{name: name in sys.modules for name in {HEAVY!r}}}))"
    completed = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout.strip().splitlines()[-1])


def test_import_package_loads_no_torch_darts_or_sktime():
    loaded = _loaded_after("import crossscale_ext")
    assert not any(loaded.values()), loaded


def test_import_network_loads_torch_only():
    loaded = _loaded_after("import crossscale_ext.network")
    assert loaded["torch"]
    assert not loaded["darts"] and not loaded["sktime"], loaded


def test_cli_help_exits_zero_without_torch():
    script = shutil.which("crossscale") or str(Path(sys.executable).parent / "crossscale")
    if not Path(script).exists():
        pytest.skip("the crossscale script is not installed (pip install -e .)")
    completed = subprocess.run([script, "--help"], capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr
    assert "demo" in completed.stdout and "--threads" in completed.stdout
    loaded = _loaded_after(
        "import contextlib, io\nfrom crossscale_ext.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n    main(['--help'])"
    )
    assert not any(loaded.values()), loaded
