"""Each layer imports only the layers below it (README.md, "Layout"): every `ticker` import of every
module, at the top and inside functions, parsed with ast.

Order: core < {scraper, db} < kinds < stories < jobs < schedules < {cli, web}. Stories may import
core, db and kinds only. The package root `ticker/__init__.py` (version, user agent) counts as core;
`ticker/__main__.py` as cli. cli and web are peers: neither imports the other (`ticker serve` finds
`ticker/web/` by path)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYER_FOLDERS = {
    "core": ROOT / "ticker" / "core",
    "scraper": ROOT / "scraper",
    "db": ROOT / "db",
    "kinds": ROOT / "ticker" / "kinds",
    "stories": ROOT / "ticker" / "stories",
    "jobs": ROOT / "ticker" / "jobs",
    "schedules": ROOT / "schedules",
    "cli": ROOT / "ticker" / "cli",
    "web": ROOT / "ticker" / "web",
}
RANK = {
    "core": 0,
    "scraper": 1,
    "db": 1,
    "kinds": 2,
    "stories": 3,
    "jobs": 4,
    "schedules": 5,
    "cli": 6,
    "web": 6,
}
# Layers a layer may import beyond the rank rule's "every lower rank, and itself".
NARROWER = {"stories": {"core", "db", "kinds", "stories"}}
# (importing module, imported module) -> why it is allowed although it runs upward or sideways.
EXCEPTIONS: dict[tuple[str, str], str] = {}


def allowed(layer: str) -> set[str]:
    if layer in NARROWER:
        return NARROWER[layer]
    return {other for other, rank in RANK.items() if rank < RANK[layer]} | {layer}


def layer_of_module(dotted: str) -> str:
    """The layer of an imported `ticker...` module: ticker.core.base -> core, ticker -> core."""
    parts = dotted.split(".")
    if len(parts) == 1:
        return "core"  # the package root: __version__, USER_AGENT
    if parts[1] not in RANK:
        raise AssertionError(f"{dotted} is in no layer: move it into one (README.md, Layout)")
    return parts[1]


def modules() -> list[tuple[str, Path]]:
    found = [
        (layer, path) for layer, folder in LAYER_FOLDERS.items() for path in sorted(folder.rglob("*.py"))
    ]
    found.append(("core", ROOT / "ticker" / "__init__.py"))
    found.append(("cli", ROOT / "ticker" / "__main__.py"))
    return found


def ticker_imports(path: Path) -> list[tuple[int, str]]:
    """(line, imported module) for every `ticker` import in the file, wherever it stands."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "ticker"]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] != "ticker":
                continue
            if node.module == "ticker":  # `from ticker import core`: the named sub-package's layer
                found += [
                    (node.lineno, f"ticker.{a.name}" if a.name in RANK else "ticker") for a in node.names
                ]
            else:
                found.append((node.lineno, node.module))
        elif isinstance(node, ast.ImportFrom) and node.level > 0:
            found.append((node.lineno, "." * node.level + (node.module or "")))
    return found


def test_every_ticker_file_is_in_a_layer():
    """No module left in ticker/ outside a layer sub-package."""
    loose = sorted(
        p.name for p in (ROOT / "ticker").glob("*.py") if p.name not in {"__init__.py", "__main__.py"}
    )
    assert loose == []


@pytest.mark.parametrize(
    ("layer", "path"), modules(), ids=lambda v: str(v.relative_to(ROOT)) if isinstance(v, Path) else v
)
def test_imports_only_downward(layer: str, path: Path):
    relative = str(path.relative_to(ROOT))
    wrong = []
    for line, module in ticker_imports(path):
        if module.startswith("."):
            wrong.append(f"{relative}:{line} relative import {module}: write ticker.<layer>...")
            continue
        target = layer_of_module(module)
        if target not in allowed(layer) and (relative, module) not in EXCEPTIONS:
            wrong.append(f"{relative}:{line} ({layer}) imports {module} ({target})")
    assert wrong == []


def test_the_checker_sees_imports_inside_functions(tmp_path):
    """The walk finds an import nested in a function, as well as a module-level one."""
    sample = tmp_path / "sample.py"
    sample.write_text("from ticker.core import base\n\ndef f():\n    from ticker.cli import errors\n")
    assert ticker_imports(sample) == [(1, "ticker.core"), (4, "ticker.cli")]
    assert layer_of_module("ticker.cli.errors") not in allowed("jobs")
