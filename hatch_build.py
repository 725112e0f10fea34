"""Hatch build hook: bundles the widget's JavaScript (`js/`) into `rtsp_notebook/static/` for every wheel.

Configured under `[tool.hatch.build.targets.wheel.hooks.custom]`, so it runs for wheels (standard and
editable: `pip install .`, `pip install -e .`, `python -m build`, a wheel from the sdist) and never for the
sdist, which ships the `js/` sources instead. Each run installs the locked npm packages (`npm ci`; `npm
install` when there is no lock file) and runs `npm run build` (esbuild, under a second); a build that
leaves any of the `ensured-targets` missing fails, so a wheel never ships without the bundle.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class WidgetBundleHook(BuildHookInterface):  # type: ignore[type-arg]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        root = Path(self.root)
        js_dir = root / str(self.config.get("js-dir", "js"))
        targets = [root / target for target in self.config.get("ensured-targets", [])]
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError(
                "building rtsp-notebook needs npm (Node.js 18 or later) to bundle the widget's JavaScript: "
                "install Node.js, or install a released wheel"
            )
        has_lock = (js_dir / "package-lock.json").is_file()
        install = [npm, "ci" if has_lock else "install", "--prefer-offline", "--no-audit", "--no-fund"]
        for command in (install, [npm, "run", "build"]):
            self.app.display_info(f"[widget bundle] {' '.join(command[1:])} (in {js_dir})")
            completed = subprocess.run(command, cwd=js_dir, check=False)
            if completed.returncode != 0:
                raise RuntimeError(
                    f"bundling the widget failed: `npm {' '.join(command[1:])}` in {js_dir} "
                    f"exited with {completed.returncode} (its output is above)"
                )
        missing = [str(target.relative_to(root)) for target in targets if not target.is_file()]
        if missing:
            raise RuntimeError(f"the widget build did not produce {', '.join(missing)}")
