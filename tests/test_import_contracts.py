"""Import contracts (what import-linter's forbidden contracts would check), run in CI:
engine never reaches cli, tui, textual or rich; cli never reaches tui or textual.

Every import statement is read from the source, function-local ones included, so a lazy
import cannot slip past; and each package is imported in a fresh process to check what
actually gets loaded.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CONTRACTS = {
    "engine": ("cli", "tui", "textual", "rich"),
    "cli": ("tui", "textual"),
}


def imported_modules(path: Path, package: str) -> set[str]:
    """Absolute names of every module ``path`` imports (relative imports resolved)."""
    tree = ast.parse(path.read_text(), str(path))
    here = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    parts = here.split(".")
    if path.name == "__init__.py":
        parts = parts[:-1]
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = parts[:len(parts) - node.level + (1 if path.name == "__init__.py" else 0)]
                mod = ".".join([*base, *([node.module] if node.module else [])])
            else:
                mod = node.module or ""
            out.add(mod)
            out.update(f"{mod}.{a.name}" for a in node.names)
    return out


def violations(package: str, forbidden: tuple[str, ...]) -> list[str]:
    bad = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for mod in imported_modules(path, package):
            top = mod.split(".")[0]
            if top in forbidden:
                bad.append(f"{path.relative_to(ROOT)} imports {mod}")
    return bad


@pytest.mark.parametrize("package", CONTRACTS)
def test_source_imports_respect_the_contract(package: str) -> None:
    assert violations(package, CONTRACTS[package]) == []


def test_the_checker_sees_a_lazy_import(tmp_path: Path) -> None:
    # the check must be able to fail: a function-local import is found
    probe = ROOT / "engine" / "_contract_probe.py"
    probe.write_text("def f():\n    from tui import app\n    import textual.widgets\n")
    try:
        bad = violations("engine", CONTRACTS["engine"])
    finally:
        probe.unlink()
    assert any("imports tui" in b for b in bad) and any("textual.widgets" in b for b in bad)


@pytest.mark.parametrize("package", CONTRACTS)
def test_importing_every_module_loads_nothing_forbidden(package: str) -> None:
    modules = sorted(".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
                     for p in (ROOT / package).rglob("*.py") if p.name != "__main__.py")
    code = ("import importlib, sys\n"
            f"for m in {modules!r}: importlib.import_module(m)\n"
            "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, check=True, timeout=300).stdout.split()
    assert not set(out) & set(CONTRACTS[package]), set(out) & set(CONTRACTS[package])
