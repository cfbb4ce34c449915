"""The documentation site builds in strict mode (broken links, missing pages and bad docstrings fail).

Marked ``docs``: not in the default run; ``python -m pytest -m docs`` (CI runs it). Not with ``--quiet``:
mkdocs 1.6 then stops counting warnings and strict mode passes anything.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.docs
@pytest.mark.skipif(shutil.which("mkdocs") is None and not (Path(sys.executable).parent / "mkdocs").exists(),
                    reason="mkdocs is not installed (pip install -e '.[docs]')")
def test_docs_build_strict(tmp_path):
    mkdocs = shutil.which("mkdocs") or str(Path(sys.executable).parent / "mkdocs")
    completed = subprocess.run(
        [mkdocs, "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT, capture_output=True, text=True, timeout=600, env=os.environ | {"NO_MKDOCS_2_WARNING": "1"},
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    api = (tmp_path / "site" / "api" / "index.html").read_text()
    assert len(api) > 50_000
    for documented in ("plot_forecast", "lag_copy_series", "evaluate_windows", "ArchitectureConfig"):
        assert documented in api, documented
    assert "__getstate__" not in api and "__setstate__" not in api  # private members are filtered out
