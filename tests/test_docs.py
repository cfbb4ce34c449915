"""The documentation: what the pages say and how the built site reads.

Fast tests (they only read files): every line of a fenced code block in README.md and docs/ fits 88
characters, and no page narrates how it was made (issue numbers, sessions).

Marked ``docs``: not in the default run; ``python -m pytest -m docs`` (CI runs it). The site builds in strict
mode (broken links, missing pages and bad docstrings fail); the API pages show no literal Sphinx roles and no
builtin types' docstrings; where Chromium is installed, the home page's first screen at 1280 x 800 holds the
install line, ``crossscale demo`` and the demo's picture. Not with ``--quiet``: mkdocs 1.6 then stops counting
warnings and strict mode passes anything.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC_FILES = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])
CODE_WIDTH = 88
#: the README's two commands (the main job and the tests) stay one line each, to paste on a fresh machine
ONE_LINE_COMMANDS = (
    "python3 -m venv .venv && . .venv/bin/activate && pip install torch==2.13.0 && pip install -e . "
    "&& crossscale demo",
    "python3 -m venv .venv && . .venv/bin/activate && pip install torch==2.13.0 && pip install -e \".[dev]\" "
    "&& python -m pytest",
)

FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})")


def fenced_code_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line without the fence's indentation) of every line inside a fenced code block."""
    lines, inside, fence, indent = [], False, "", 0
    for number, line in enumerate(text.splitlines(), start=1):
        match = FENCE.match(line)
        if not inside:
            if match:
                inside, fence, indent = True, match["fence"], len(match["indent"].expandtabs(4))
            continue
        if match and match["fence"].startswith(fence) and not line[match.end():].strip():
            inside = False
            continue
        expanded = line.expandtabs(4)
        stripped = len(expanded) - len(expanded.lstrip(" "))
        lines.append((number, expanded[min(indent, stripped):]))
    return lines


def test_fenced_code_lines_parser():
    text = "a\n```bash\nx\n  y\n```\n- item\n\n    ```py\n    z = 1\n    ```\n"
    assert fenced_code_lines(text) == [(3, "x"), (4, "  y"), (9, "z = 1")]


@pytest.mark.parametrize("path", DOC_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_code_blocks_fit_88_characters(path):
    wide = [f"{path.name}:{number} ({len(line)} chars): {line}"
            for number, line in fenced_code_lines(path.read_text())
            if len(line) > CODE_WIDTH and line not in ONE_LINE_COMMANDS]
    assert not wide, "code lines wider than 88 characters (move comments into the prose):\n" + "\n".join(wide)


def test_readme_keeps_its_two_one_line_commands():
    lines = [line for _, line in fenced_code_lines((ROOT / "README.md").read_text())]
    for command in ONE_LINE_COMMANDS:
        assert command in lines, command


#: the one way every page installs torch: the pinned version first (the CI machine's index serves the CPU
#: wheel), or the same with PyTorch's CPU or CUDA index
TORCH_INSTALLS = {
    "pip install torch==2.13.0",
    "pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu",
    "pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cu126",
}


@pytest.mark.parametrize("path", DOC_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_torch_is_installed_the_same_way_on_every_page(path):
    found = {match.group(0).strip() for match in re.finditer(r"pip install torch\b[^`&\n]*", path.read_text())}
    assert found <= TORCH_INSTALLS, found - TORCH_INSTALLS


#: words that narrate how a page was made rather than what was measured (dates, commands, machines instead)
HISTORY = re.compile(
    r"\bissue\s*#?\d+|\bthe issue\b|\bsessions?\b|\b(?:time|cpu) budget\b|\bthis round\b",
    re.IGNORECASE,
)


@pytest.mark.parametrize("path", DOC_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_project_history_words(path):
    found = [f"{path.name}:{number}: {match.group(0)!r} in {line.strip()[:120]}"
             for number, line in enumerate(path.read_text().splitlines(), start=1)
             for match in HISTORY.finditer(line)]
    assert not found, "project-history words (give dates, commands and machines instead):\n" + "\n".join(found)


# --- the built site (group "docs") -------------------------------------------------------------------------

def _mkdocs() -> str | None:
    return shutil.which("mkdocs") or (str(Path(sys.executable).parent / "mkdocs")
                                      if (Path(sys.executable).parent / "mkdocs").exists() else None)


@pytest.fixture(scope="module")
def built_site():
    """Build the site once for the docs tests: (mkdocs' exit code and output, the site folder)."""
    mkdocs = _mkdocs()
    if mkdocs is None:
        pytest.skip("mkdocs is not installed (pip install -e '.[docs]')")
    with tempfile.TemporaryDirectory() as tmp:
        site = Path(tmp) / "site"
        completed = subprocess.run(
            [mkdocs, "build", "--strict", "--site-dir", str(site)],
            cwd=ROOT, capture_output=True, text=True, timeout=600, env=os.environ | {"NO_MKDOCS_2_WARNING": "1"},
        )
        yield completed, site


@pytest.mark.docs
def test_docs_build_strict(built_site):
    completed, site = built_site
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "WARNING" not in completed.stderr, completed.stderr
    api = "".join(page.read_text() for page in sorted((site / "api").rglob("index.html")))
    assert len(api) > 50_000
    for documented in ("plot_forecast", "lag_copy_series", "evaluate_windows", "ArchitectureConfig"):
        assert documented in api, documented
    assert "__getstate__" not in api and "__setstate__" not in api  # private members are filtered out
    assert not (site / "benchmarks" / "forecast_runs" / "zero_init_gates.py").exists()  # experiments stay out
    assert not (site / "_hooks").exists()


#: the docstrings of builtin types, which an undocumented constant shows when its module is inspected
BUILTIN_DOCSTRINGS = ("dict() -> new empty dictionary", "int([x]) -> integer", "str(object='') -> str",
                      "Built-in mutable sequence", "Built-in immutable sequence", "bool(x) -> bool",
                      "frozenset() -> empty frozenset", "Convert a string or number to a floating point")
SPHINX_ROLE = re.compile(r":(?:py:)?(?:class|meth|func|data|mod|attr|exc|obj|const):`?")


@pytest.mark.docs
def test_api_pages_render_cross_references(built_site):
    completed, site = built_site
    assert completed.returncode == 0, completed.stdout + completed.stderr
    pages = sorted((site / "api").rglob("index.html"))
    assert len(pages) >= 8
    links = 0
    for page in pages:
        text = html.unescape(re.sub(r"<[^>]+>", "", page.read_text()))
        roles = sorted(set(SPHINX_ROLE.findall(text)))
        assert not roles, f"{page.relative_to(site)}: literal Sphinx roles {roles}"
        for builtin in BUILTIN_DOCSTRINGS:
            assert builtin not in text, f"{page.relative_to(site)}: builtin docstring {builtin!r}"
        links += page.read_text().count("autorefs-internal")
    assert links > 100  # the roles became links


CHROMIUM = Path("/usr/bin/chromium")
FIRST_SCREEN = (1280, 800)
#: text that must be on the home page's first screen, whole and unclipped
FIRST_SCREEN_TEXT = ("pip install torch==2.13.0", "pip install -e .", "crossscale demo")

_PROBE = """
<script>
window.addEventListener("load", function () {
  var needles = %s, found = {}, root = document.querySelector(".md-content");
  var nodes = [], text = "", walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  for (var node = walker.nextNode(); node; node = walker.nextNode()) {
    nodes.push([node, text.length]);
    text += node.data;
  }
  function locate(offset) {  // the text node and offset of a position in the page's text
    for (var i = nodes.length - 1; i >= 0; i--) {
      if (nodes[i][1] <= offset) return [nodes[i][0], offset - nodes[i][1]];
    }
  }
  needles.forEach(function (needle) {
    var at = text.indexOf(needle);
    if (at < 0) return;
    var start = locate(at), end = locate(at + needle.length - 1), range = document.createRange();
    range.setStart(start[0], start[1]);
    range.setEnd(end[0], end[1] + 1);
    var r = range.getBoundingClientRect(), y = window.scrollY;
    var box = start[0].parentElement.closest("pre, p, li, td") || root, b = box.getBoundingClientRect();
    found[needle] = {top: r.top + y, bottom: r.bottom + y, left: r.left, right: r.right, boxRight: b.right};
  });
  var img = root.querySelector("img[src*='demo_saliency']");
  if (img) {
    var i = img.getBoundingClientRect();
    found.image = {top: i.top + window.scrollY, bottom: i.bottom + window.scrollY, width: i.width};
  }
  found.viewport = {width: window.innerWidth, height: window.innerHeight};
  document.body.setAttribute("data-first-screen", JSON.stringify(found));
});
</script>
"""


@pytest.mark.docs
@pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is absent (apt-get install -y chromium)")
def test_home_page_first_screen(built_site, tmp_path):
    completed, site = built_site
    assert completed.returncode == 0, completed.stdout + completed.stderr
    page = site / "index.html"
    probe = site / "first_screen_probe.html"
    probe.write_text(page.read_text().replace("</body>", _PROBE % json.dumps(FIRST_SCREEN_TEXT) + "</body>"))
    width, height = FIRST_SCREEN
    dumped = subprocess.run(
        [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", f"--window-size={width},{height}",
         "--hide-scrollbars", "--virtual-time-budget=10000", "--dump-dom", probe.as_uri()],
        capture_output=True, text=True, timeout=180,
    )
    match = re.search(r'data-first-screen="([^"]*)"', dumped.stdout)
    assert match, f"the probe did not run: {dumped.stderr[-2000:]}"
    found = json.loads(html.unescape(match.group(1)))
    # Positions are measured from the top of the page at a layout width of 1280 px; the first screen is the
    # top 800 px (headless Chromium's --dump-dom may report a shorter inner height, which does not change the
    # layout).
    fold = height
    assert found["viewport"]["width"] == width, found["viewport"]
    for needle in FIRST_SCREEN_TEXT:
        assert needle in found, f"{needle!r} is not on the home page"
        box = found[needle]
        assert 0 <= box["top"] and box["bottom"] <= fold, f"{needle!r} is below the first screen: {box}"
        assert box["right"] <= box["boxRight"] + 1, f"{needle!r} is clipped: {box}"
    assert "image" in found, "the demo's picture is not on the home page"
    assert found["image"]["top"] < fold - 150 and found["image"]["width"] > 200, found["image"]
