"""The layout is the architecture: each subpackage says what lives in it, and imports only go one way.

    media/     the data path (camera → FFmpeg → relay → subscribers): errors and _compat from outside
    store/     the SQLite store: media.sources (URL validation and masking), errors, _compat
    api/       the stream API, its route table and the viewer conversation: anything but notebook/
    notebook/  what runs in a kernel: anything
and nothing in the package imports jupyter_server; tornado only in the kernel's REST transport. Outside it:
    tests/harness/  what the tests and the bench share; bench/ imports from tests/ only this, and no module
                    imports a test module (fixtures come as plugins, registered by tests/conftest.py)
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "rtsp_notebook"
ALLOWED = {
    "media": ("rtsp_notebook.media", "rtsp_notebook.errors", "rtsp_notebook._compat"),
    "store": (
        "rtsp_notebook.store", "rtsp_notebook.media.sources", "rtsp_notebook.errors", "rtsp_notebook._compat",
    ),
    "api": (
        "rtsp_notebook.api", "rtsp_notebook.media", "rtsp_notebook.store", "rtsp_notebook.engine",
        "rtsp_notebook.thumbnails", "rtsp_notebook.errors", "rtsp_notebook._compat", "rtsp_notebook._version",
    ),
}  # fmt: skip


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[str]:
    """Every module ``path`` imports (relative imports resolved), at any depth (lazy ones included)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            found.append(module)
    return found


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=[_module_name(p) for p in MODULES])
def test_imports_go_one_way(path: Path) -> None:
    name = _module_name(path)
    imports = _imports(path)
    assert not [m for m in imports if m.split(".")[0] == "jupyter_server"], (
        "the core never imports jupyter_server"
    )
    if name != "rtsp_notebook.notebook.transports":
        assert not [m for m in imports if m.split(".")[0] == "tornado"], "tornado only in the REST transport"
    parts = name.split(".")
    allowed = ALLOWED.get(parts[1]) if len(parts) > 1 else None
    if allowed is None:
        return
    ours = [m for m in imports if m.split(".")[0] == "rtsp_notebook"]
    wrong = [m for m in ours if not any(m == a or m.startswith(a + ".") for a in allowed)]
    assert not wrong, f"{name} imports {wrong}; {parts[1]}/ may import only {allowed}"


@pytest.mark.parametrize("package", ["media", "store", "api", "notebook"])
def test_each_subpackage_says_what_lives_in_it(package: str) -> None:
    tree = ast.parse((PACKAGE / package / "__init__.py").read_text())
    doc = ast.get_docstring(tree)
    assert doc and len(doc.splitlines()) >= 2, f"rtsp_notebook/{package}/__init__.py needs a docstring"


ROOT = PACKAGE.parent


def _imported_names(path: Path) -> list[str]:
    """``_imports`` plus ``module.name`` for each ``from module import name`` (``from . import test_x``)."""
    found = _imports(path)
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.level and not node.module:
            found += [f"{_module_name(path).rpartition('.')[0]}.{alias.name}" for alias in node.names]
    return found


def test_bench_and_the_harness_import_from_tests_only_the_harness() -> None:
    paths = [*sorted((ROOT / "bench").rglob("*.py")), *sorted((ROOT / "tests" / "harness").rglob("*.py"))]
    wrong = {
        _module_name(p): bad
        for p in paths
        if (
            bad := [
                m
                for m in _imported_names(p)
                if m.split(".")[0] == "tests" and m.split(".")[:2] != ["tests", "harness"]
            ]
        )
    }
    assert not wrong, f"outside tests.harness: {wrong}"


def test_no_module_imports_a_test_module() -> None:
    paths = [*sorted((ROOT / "bench").rglob("*.py")), *sorted((ROOT / "tests").rglob("*.py"))]
    wrong = {
        _module_name(p): bad
        for p in paths
        if (
            bad := [
                m
                for m in _imported_names(p)
                if m.split(".")[0] == "tests" and any(part.startswith("test_") for part in m.split("."))
            ]
        )
    }
    assert not wrong, f"test modules imported (move what they share into tests/harness/): {wrong}"
