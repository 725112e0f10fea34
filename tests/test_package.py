"""What importing the package costs and exposes."""

from __future__ import annotations

import subprocess
import sys

import rtsp_notebook


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
        "AuthError", "CameraNotFoundError", "ConflictError", "Engine", "EngineConfig",
        "ExtensionMissingError", "FFmpegExitError", "FFmpegNotFoundError", "Grid", "Hub",
        "InvalidInputError", "InvalidURLError",
        "LimitError", "LocalFallbackWarning", "Profile", "RelayConfig", "RelayState", "RtspNotebookError",
        "ServerError", "ServerPermissionError", "ServerUnavailableError", "SourceError", "SourceTimeoutError",
        "StoreError", "Stream", "StreamNotFoundError", "TransportRefusedError", "UnreachableError",
        "UnsupportedError", "__version__", "connect", "mask_url", "parse_source",
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
