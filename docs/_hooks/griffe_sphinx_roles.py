"""Griffe extension for the API pages: Sphinx roles become cross-references, builtin docstrings go.

The package's docstrings use Sphinx roles (``:class:`X```, ``:meth:`X```, ``:func:`X```, ``:data:`X```,
``:mod:`X```, ``:attr:`X```, ``:exc:`X```), which mkdocstrings shows as literal text. When the package is
loaded, this extension rewrites every role into an optional mkdocs-autorefs reference: a link where the site
documents the target, plain code where it does not (private helpers, Darts, torch). The docstrings in
``crossscale_ext/`` stay as they are.

The API pages inspect the package at run time (``force_inspection``: the models' docstrings are filled in
when the module is imported), so a module constant without a docstring of its own inherits the docstring of
its type (``dict() -> new empty dictionary``, ``int([x]) -> integer``, ...). Those docstrings are removed, so
the constant is not shown (mkdocstrings leaves out members without a docstring). Inspection also lists the
classes and functions a module imports (``SaliencyResult`` in ``crossscale_ext.plotting``) as its own: those
that the module does not export in ``__all__`` are left out (references to them point at their home anyway).

Loaded by ``mkdocs.yml`` (``plugins: mkdocstrings: handlers: python: options: extensions``); kept out of the
site by ``exclude_docs``.
"""

from __future__ import annotations

import builtins
import html
import importlib
import re
import types
from typing import Any

import griffe

ROLE = re.compile(
    r":(?:py:)?(?P<role>class|meth|func|data|mod|attr|exc|obj|const):"
    r"`(?P<body>[^`]+)`"
)
EXPLICIT_TITLE = re.compile(r"^(?P<title>.+?)\s*<(?P<target>[^<>]+)>$")

BUILTIN_DOCSTRINGS = {
    t.__doc__.strip()
    for t in [*vars(builtins).values(), *vars(types).values()]
    if isinstance(t, type) and isinstance(t.__doc__, str)
}


def _imported(module: griffe.Module) -> list[str]:
    """The package's classes and functions that ``module`` imports without exporting them in ``__all__``."""
    if module.parent is None:
        return []  # the package's own lazy public names
    try:
        exported = set(getattr(importlib.import_module(module.path), "__all__", ()))
    except Exception:  # noqa: BLE001 (a module that does not import documents nothing)
        return []
    return [
        member.path
        for name, member in module.members.items()
        if member.is_alias and name not in exported and member.target_path.startswith(f"{module.package.path}.")
    ]


def _resolve(obj: griffe.Object, target: str) -> str:
    """The full path of ``target`` as seen from ``obj``'s scope; ``target`` itself if it cannot be found."""
    head, _, rest = target.partition(".")
    try:
        found = obj.resolve(head)
    except (griffe.NameResolutionError, AttributeError, KeyError):
        return target
    return f"{found}.{rest}" if rest else found


def _reference(obj: griffe.Object, match: re.Match[str]) -> str:
    body = match["body"].strip()
    explicit = EXPLICIT_TITLE.match(body)
    if explicit:
        title, target = explicit["title"], explicit["target"].strip()
    else:
        target = body
        title = None
    short = target.startswith("~")
    target = target.lstrip("~").lstrip(".")
    if title is None:
        title = target.rsplit(".", 1)[-1] if short else target
    identifier = _resolve(obj, target)
    return f'<autoref identifier="{html.escape(identifier)}" optional><code>{html.escape(title)}</code></autoref>'


def _objects(obj: griffe.Object, seen: set[str]) -> Any:
    if obj.path in seen:
        return
    seen.add(obj.path)
    yield obj
    for member in list(obj.members.values()):
        if member.is_alias:
            continue
        yield from _objects(member, seen)


class SphinxRoles(griffe.Extension):
    """Rewrite Sphinx roles into autorefs and drop builtin types' docstrings from constants."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        """Process every object of the package once it is loaded."""
        objects = list(_objects(pkg, set()))
        for obj in objects:
            docstring = obj.docstring
            if docstring is None:
                continue
            if obj.is_attribute and docstring.value.strip() in BUILTIN_DOCSTRINGS:
                obj.docstring = None
                continue
            value = ROLE.sub(lambda match, obj=obj: _reference(obj, match), docstring.value)
            if value != docstring.value:
                obj.docstring = griffe.Docstring(
                    value,
                    lineno=docstring.lineno,
                    endlineno=docstring.endlineno,
                    parent=obj,
                    parser=docstring.parser,
                    parser_options=docstring.parser_options,
                )
        for module in [obj for obj in objects if obj.is_module]:
            for path in _imported(module):
                del module.members[path.rpartition(".")[2]]
