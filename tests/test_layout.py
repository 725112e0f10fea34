"""The layout is the architecture: each subpackage says what lives in it, and imports only go one way.

    media/     the data path (camera → FFmpeg → relay → subscribers): errors and _compat from outside
    store/     the SQLite store: media.sources (URL validation and masking), errors, _compat
    api/       the stream API, its route table and the viewer conversation: anything but notebook/
    notebook/  what runs in a kernel: anything
and nothing in the package imports jupyter_server; tornado only in the kernel's REST transport.
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
