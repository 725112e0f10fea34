"""What importing the package costs and exposes."""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import rtsp_notebook

ROOT = Path(__file__).resolve().parent.parent
SERVER_SOURCE = "jupyter_server_extension"  # the folder in the repo, never an import name
SERVER_PACKAGE = "rtsp_notebook.server"  # its import name in every install


def test_import_loads_neither_tornado_nor_jupyter_server():
    code = (
        "import sys, rtsp_notebook; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('tornado', 'jupyter_server', 'pandas', 'anywidget', 'ipywidgets')); "
        "print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"


def test_public_names_are_pinned():
    assert sorted(rtsp_notebook.__all__) == sorted([
        "AmbiguousLabelError", "AuthError", "CameraNotFoundError", "ConflictError", "Engine", "EngineConfig",
        "ExtensionMissingError", "FFmpegExitError", "FFmpegNotFoundError", "Grid", "Hub",
        "InvalidInputError", "InvalidURLError",
        "LimitError", "LocalFallbackWarning", "Profile", "RelayConfig", "RelayState", "RtspNotebookError",
        "ServerError", "ServerPermissionError", "ServerUnavailableError", "SourceError", "SourceTimeoutError",
        "StoreError", "Stream", "StreamNotFoundError", "TransportRefusedError", "UnreachableError",
        "UnsupportedError", "__version__", "connect", "mask_url", "parse_source",
        # what cam.record / clip / timelapse and frames() return, and the error of a taken file name
        "FrameReader", "FrameSets", "OutputExistsError", "Recording", "RecordingResult", "Timelapse",
        "TimelapseResult",
    ])  # fmt: skip
    for name in rtsp_notebook.__all__:
        assert hasattr(rtsp_notebook, name), name


def test_ci_runs_the_readme_test_command():
    from pathlib import Path

    root = Path(__file__).parent.parent
    readme = (root / "README.md").read_text()
    command = ".ci/install && .venv/bin/python -m pytest"
    assert f"```bash\n{command}\n```" in readme
    steps = [line for line in (root / ".ci" / "run").read_text().splitlines() if line and line[0] not in "#"]
    # CI: the install, the linters as gates, then exactly the README's test command
    assert steps[-3:] == [".ci/install", ".ci/lint", ".venv/bin/python -m pytest"]


def _server_sources() -> list[str]:
    return sorted(path.name for path in (ROOT / SERVER_SOURCE).glob("*.py"))


def test_the_server_extension_is_imported_as_rtsp_notebook_server():
    """This install (editable in CI): the extension point names rtsp_notebook.server.app, and it imports."""
    (point,) = rtsp_notebook._jupyter_server_extension_points()
    assert point["module"] == f"{SERVER_PACKAGE}.app"
    module = importlib.import_module(point["module"])
    assert module.__name__ == point["module"] and module.RtspNotebookApp is point["app"]
    assert point["app"].name == "rtsp_notebook"  # the key in jupyter_server_config.d/rtsp_notebook.json
    for name in _server_sources():  # every module, relative imports included, under the one name
        importlib.import_module(f"{SERVER_PACKAGE}.{name.removesuffix('.py')}".removesuffix(".__init__"))
    config = json.loads((ROOT / SERVER_SOURCE / "jupyter_server_config.d" / "rtsp_notebook.json").read_text())
    assert config == {"ServerApp": {"jpserver_extensions": {"rtsp_notebook": True}}}


def test_nothing_imports_the_server_extension_by_its_folder_name():
    """No wheel has the folder's name as a package, so no code may import it by that name.

    An editable install puts the project root on sys.path, where that import would still work.
    """
    by_folder_name = re.compile(rf"^\s*(from|import) {SERVER_SOURCE}\b|[\"']{SERVER_SOURCE}\.", re.MULTILINE)
    offenders = [
        str(path.relative_to(ROOT))
        for folder in ("rtsp_notebook", SERVER_SOURCE, "tests", "bench", "notebooks")
        for path in sorted((ROOT / folder).rglob("*"))
        if path.suffix in (".py", ".ipynb")
        and path != Path(__file__).resolve()
        and by_folder_name.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel of the source tree, built by pip in an isolated environment with hatchling from the registry.

    The build hooks are off (HATCH_BUILD_NO_HOOKS): the widget bundle is tests/test_build.py's business, and
    where the server extension ships comes from pyproject.toml alone.
    """
    out = tmp_path_factory.mktemp("wheel")
    env = {**os.environ, "HATCH_BUILD_NO_HOOKS": "true"}
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)]
    done = subprocess.run(command, cwd=out, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    (built,) = out.glob("*.whl")
    return built


@pytest.mark.timeout(300)
def test_the_wheel_ships_the_server_extension_inside_rtsp_notebook(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    top_level = {name.split("/")[0] for name in names}
    assert SERVER_SOURCE not in top_level
    assert {name for name in top_level if not name.startswith("rtsp_notebook")} == set(), top_level
    shipped = sorted(name.rsplit("/", 1)[1] for name in names if name.startswith("rtsp_notebook/server/"))
    assert shipped == _server_sources()  # the config json is shared data, not a package file
    config = "etc/jupyter/jupyter_server_config.d/rtsp_notebook.json"
    assert [name for name in names if name.endswith(f".data/data/{config}")]


@pytest.mark.timeout(300)
def test_the_wheels_extension_point_names_a_module_that_imports(wheel, tmp_path):
    """The unpacked wheel alone (no project root on sys.path): what `jupyter server extension list` checks."""
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    code = f"""
import importlib, sys
root, site = {str(ROOT)!r}, {str(site)!r}
sys.path[:] = [site] + [p for p in sys.path if p not in ('', root)]
sys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ != 'ServerPackageFinder']  # editable's
try:
    import {SERVER_SOURCE}
except ModuleNotFoundError:
    pass
else:
    raise SystemExit('{SERVER_SOURCE} imports: ' + {SERVER_SOURCE}.__file__)
import rtsp_notebook
(point,) = rtsp_notebook._jupyter_server_extension_points()
module = importlib.import_module(point['module'])
assert module.__file__.startswith(site + '/rtsp_notebook/server/'), module.__file__
from jupyter_server.extension.manager import ExtensionPackage
package = ExtensionPackage(name='rtsp_notebook', enabled=True)
assert package.validate(), package
print(point['module'], module.__name__)
"""
    command = [sys.executable, "-c", code]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    assert done.stdout.split() == [f"{SERVER_PACKAGE}.app", f"{SERVER_PACKAGE}.app"]
