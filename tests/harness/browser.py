"""A real JupyterLab server and Debian's Chromium, for the widget's browser tests.

``LabServer`` runs ``jupyter lab`` under ``/user/test/`` with a token, its own runtime, config, settings and
workspace directories, a fresh stream store, and the kernel started without a "Select Kernel" dialog; the same
server serves Notebook 7 at ``notebooks/``. ``NotebookPage`` drives one notebook in a Playwright page::

    with LabServer(tmp_path).start() as server, sync_playwright() as pw:
        browser = launch_chromium(pw)
        server.write_notebook("demo", ["6 * 7"])
        nb = NotebookPage(browser.new_page(), server, "demo.ipynb").open()
        nb.run_all()
        nb.wait_for_cells_done()
        nb.page.get_by_text("42").wait_for()
        assert not nb.errors()

Playwright's sync API keeps its event loop marked as running in this thread while it is started: no asyncio
loop can run here meanwhile (run async clients in a thread).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

import nbformat
import psutil

import rtsp_notebook

from .helpers import POLL, _polls, wait_until_sync
from .screens import screen_path

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Error, Page, Playwright

__all__ = [
    "BASE_URL",
    "CHROMIUM",
    "CHROMIUM_ARGS",
    "KNOWN_PAGE_ERRORS",
    "TOKEN",
    "ApiError",
    "LabServer",
    "NotebookPage",
    "Response",
    "browser_available",
    "launch_chromium",
    "write_notebook",
]

TOKEN = "browser-test-token"
BASE_URL = "/user/test/"
CHROMIUM = "/usr/bin/chromium"
# measured to work with Debian's Chromium under the pinned Playwright (TESTING.md)
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
# Notebook 7 logs this page error of its own on load
KNOWN_PAGE_ERRORS = ("reading 'schema'",)
# user settings of the JupyterLab and Notebook 7 front ends: the notebook's kernel starts without a
# "Select Kernel" dialog (without it the cells silently never run), and no news or update popups
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension:tracker": {"autoStartDefaultKernel": True},
    "@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False},
}
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
KERNEL_MARK = "ipykernel_launcher"  # in the command line of every python3 kernel the server starts
# the server and its kernels import the rtsp_notebook these tests import, whatever the current directory
PACKAGE_ROOT = Path(rtsp_notebook.__file__).resolve().parent.parent


def browser_available() -> tuple[bool, str]:
    """Whether the browser tests can run here, and if not, why."""
    if not Path(CHROMIUM).exists():
        return False, f"{CHROMIUM} not found (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        return False, f"the playwright package is missing ({exc}); pip install -e '.[test]'"
    return True, ""


def launch_chromium(playwright: Playwright, *args: str) -> Browser:
    """Debian's headless Chromium (never a browser downloaded by ``playwright install``)."""
    return playwright.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=[*CHROMIUM_ARGS, *args], timeout=60_000
    )


def write_notebook(root: Path, name: str, cells: Sequence[str], *, kernelspec: bool = True) -> Path:
    """``root/<name>.ipynb`` with one code cell per source; returns its path. Without ``kernelspec`` in its
    metadata, the front ends start the default kernel only because of ``LAB_SETTINGS``."""
    nb = nbformat.v4.new_notebook()
    if kernelspec:
        nb.metadata["kernelspec"] = KERNELSPEC
    nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    path = root / (name if name.endswith(".ipynb") else f"{name}.ipynb")
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


class ApiError(Exception):
    """An HTTP answer of 400 or more from the server."""

    def __init__(self, method: str, url: str, status: int, body: Any) -> None:
        super().__init__(f"{method} {url}: HTTP {status}: {body!r}"[:2000])
        self.status = status
        self.body = body


@dataclass(frozen=True)
class Response:
    status: int
    body: Any  # parsed JSON, else the text


class LabServer:
    """``jupyter lab`` in a child process; ``stop()`` leaves none of its processes (kernels, FFmpeg)."""

    def __init__(self, tmp: Path, *, extension: bool = True, extra_args: Sequence[str] = ()) -> None:
        self.root = tmp / "notebooks"  # the server's root dir: the notebooks
        self.state = tmp / "jupyter"  # runtime, config, settings, workspaces, store, log
        self.extension = extension
        self.extra_args = list(extra_args)
        self.token = TOKEN
        self.base = ""  # http://127.0.0.1:<port>/user/test/ once started
        self.log_path = self.state / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    # lifecycle

    def start(self, timeout: float = 60.0) -> LabServer:
        runtime, settings, workspaces = (self.state / d for d in ("runtime", "user-settings", "workspaces"))
        for path in (self.root, runtime, settings, workspaces, self.state / "config"):
            path.mkdir(parents=True, exist_ok=True)
        for plugin, values in LAB_SETTINGS.items():
            package, _, name = plugin.partition(":")
            target = settings / package / f"{name}.jupyterlab-settings"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(values))
        env = {
            **os.environ,
            "JUPYTER_RUNTIME_DIR": str(runtime),
            # user config out of the way; sys.prefix/etc/jupyter (which enables the extension) still applies
            "JUPYTER_CONFIG_DIR": str(self.state / "config"),
            # Notebook 7 reads its settings from these (it has no command-line option of LabApp's)
            "JUPYTERLAB_SETTINGS_DIR": str(settings),
            "JUPYTERLAB_WORKSPACES_DIR": str(workspaces),
            "RTSP_NOTEBOOK_DB": str(self.state / "streams.db"),  # kernels inherit it
            "PYTHONPATH": os.pathsep.join(filter(None, [str(PACKAGE_ROOT), os.environ.get("PYTHONPATH")])),
        }
        argv = [
            sys.executable, "-m", "jupyterlab", "--ip=127.0.0.1", "--port=0", "--no-browser", "--allow-root",
            f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={self.root}",
            f"--ServerApp.base_url={BASE_URL}", "--LabApp.expose_app_in_browser=True",
            "--JupyterNotebookApp.expose_app_in_browser=True",
            f"--LabApp.user_settings_dir={settings}", f"--LabApp.workspaces_dir={workspaces}",
            "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            *([] if self.extension else ["--ServerApp.jpserver_extensions=rtsp_notebook=False"]),
            *self.extra_args,
        ]  # fmt: skip
        with self.log_path.open("wb") as log:  # a file, not a pipe nobody drains
            self.proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        try:
            info = wait_until_sync(lambda: self._runtime_info(runtime), timeout, "the server's runtime file")
            self.base = info["url"].rstrip("/") + "/"
            # the runtime file can appear before the server listens
            wait_until_sync(self._answers, timeout, "the server to accept connections")
        except BaseException:
            self.stop()
            raise
        return self

    def __enter__(self) -> LabServer:
        return self if self.proc else self.start()

    def __exit__(
        self, typ: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _runtime_info(self, runtime: Path) -> dict[str, Any] | None:
        assert self.proc is not None
        path = runtime / f"jpserver-{self.proc.pid}.json"
        if path.exists():
            with contextlib.suppress(json.JSONDecodeError):  # caught while being written
                return dict(json.loads(path.read_text()))
        assert self.proc.poll() is None, f"the server exited ({self.proc.returncode}):\n{self.log_tail()}"
        return None

    def _answers(self) -> bool:
        try:
            return self.request("GET", "api/status").status == 200
        except urllib.error.URLError as exc:
            if not isinstance(exc.reason, ConnectionRefusedError):
                raise
            assert self.proc and self.proc.poll() is None, f"the server exited:\n{self.log_tail()}"
            return False

    def stop(self, timeout: float = 30.0) -> None:
        """Shut the server down (it shuts its kernels down), then kill whatever of its tree is left.
        Idempotent."""
        proc = self.proc
        if proc is None:
            return
        tree = self.descendants()
        if proc.poll() is None and self.base:
            with contextlib.suppress(OSError, ApiError):  # OSError includes URLError
                self.request("POST", "api/shutdown", timeout=5)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout)
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        _, alive = psutil.wait_procs(tree, timeout=5)
        for child in alive:
            with contextlib.suppress(psutil.NoSuchProcess):
                child.kill()
        psutil.wait_procs(alive, timeout=5)

    def log_tail(self, chars: int = 4000) -> str:
        """The end of the server's log (stdout and stderr)."""
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except FileNotFoundError:
            return ""

    # HTTP

    def url(self, path: str = "") -> str:
        """``{base}<path>`` with the token as a query argument, for a browser."""
        sep = "&" if "?" in path else "?"
        return f"{self.base}{path}{sep}token={self.token}"

    def request(self, method: str, path: str, body: Any = None, *, timeout: float = 30.0) -> Response:
        """``method {base}<path>`` with the token; any HTTP status is returned, connection errors raise."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("Authorization", f"token {self.token}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with self._opener.open(request, timeout=timeout) as answer:
                return _response(answer.status, answer.headers.get_content_type(), answer.read())
        except urllib.error.HTTPError as exc:
            with exc:
                return _response(exc.code, exc.headers.get_content_type(), exc.read())

    def checked(self, method: str, path: str, body: Any = None) -> Any:
        """The JSON answer of ``method {base}<path>``; ``ApiError`` for an HTTP error."""
        answer = self.request(method, path, body)
        if answer.status >= 400:
            raise ApiError(method, self.base + path, answer.status, answer.body)
        return answer.body

    def api(self, method: str, path: str, body: Any = None) -> Any:
        """The extension's REST API: ``method {base}rtsp/api/<path>``; ``ApiError`` for an HTTP error."""
        return self.checked(method, "rtsp/api/" + path, body)

    # what runs in the server

    def descendants(self) -> list[psutil.Process]:
        """The server's child processes, recursively (kernels, FFmpeg, ...), alive now."""
        if self.proc is None:
            return []
        try:
            return psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    def kernel_processes(self) -> list[psutil.Process]:
        return [p for p in self.descendants() if _cmdline_has(p, KERNEL_MARK)]

    def ffmpeg_processes(self) -> list[psutil.Process]:
        return [p for p in self.descendants() if _name_has(p, "ffmpeg")]

    def shutdown_kernels(self, timeout: float = 30.0) -> None:
        """Delete every session and kernel through the REST API and wait until no kernel process is left."""
        for session in self.checked("GET", "api/sessions"):
            self.request("DELETE", f"api/sessions/{session['id']}")  # shuts its kernel down
        for kernel in self.checked("GET", "api/kernels"):
            self.request("DELETE", f"api/kernels/{kernel['id']}")
        wait_until_sync(lambda: not self.checked("GET", "api/kernels"), timeout, "no kernel in api/kernels")
        wait_until_sync(lambda: not self.kernel_processes(), timeout, "the kernel processes to exit")

    def reset(self, timeout: float = 30.0) -> None:
        """Between two tests on one server: no kernel, no stream in the store, no FFmpeg running."""
        self.shutdown_kernels(timeout)
        if self.extension:
            for stream in self.api("GET", "streams"):
                self.request("DELETE", f"rtsp/api/streams/{stream['id']}")  # stops its relays
        wait_until_sync(lambda: not self.ffmpeg_processes(), timeout, "the server's FFmpeg processes to stop")

    def write_notebook(self, name: str, cells: Sequence[str], *, kernelspec: bool = True) -> Path:
        """A notebook of code cells in the server's root dir (see ``write_notebook``)."""
        return write_notebook(self.root, name, cells, kernelspec=kernelspec)


def _response(status: int, content_type: str, raw: bytes) -> Response:
    text = raw.decode(errors="replace")
    if content_type == "application/json" and text:
        return Response(status, json.loads(text))
    return Response(status, text)


def _cmdline_has(proc: psutil.Process, mark: str) -> bool:
    try:
        return any(mark in part for part in proc.cmdline())
    except psutil.Error:
        return False


def _name_has(proc: psutil.Process, mark: str) -> bool:
    try:
        return mark in proc.name() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


# In the page: the notebook panel of a path among the main area's widgets (JupyterLab and Notebook 7 both
# expose their shell as window.jupyterapp.shell with widgets('main')).
_PANEL = """
function panelOf(path) {
  const app = window.jupyterapp;
  if (!app || !app.shell) return null;
  for (const widget of app.shell.widgets('main')) {
    if (widget.context && widget.context.path === path && widget.content && widget.sessionContext) {
      return widget;
    }
  }
  return null;
}
"""


def _js(body: str) -> str:
    """A page function of ``arg`` with ``panelOf`` in scope."""
    return f"(arg) => {{ {_PANEL}\n{body} }}"


_KERNEL_IDLE = _js("""
  const panel = panelOf(arg);
  const kernel = panel && panel.sessionContext.session && panel.sessionContext.session.kernel;
  return !!kernel && kernel.connectionStatus === 'connected' && kernel.status === 'idle';
""")
_STATE = _js("""
  const app = window.jupyterapp;
  const panel = panelOf(arg);
  const kernel = panel && panel.sessionContext.session && panel.sessionContext.session.kernel;
  return {
    app: !!app, panel: !!panel,
    kernel: kernel ? kernel.name + ' ' + kernel.connectionStatus + ' ' + kernel.status : null,
    dialog: Array.from(document.querySelectorAll('.jp-Dialog-header')).map(n => n.textContent),
    runAll: window.__rtspRunAll || null,
  };
""")
_RUN_ALL = _js("""
  const app = window.jupyterapp;
  const panel = panelOf(arg);
  app.shell.activateById(panel.id);
  const state = {done: false, ok: null, error: null};
  window.__rtspRunAll = state;
  app.commands.execute('notebook:run-all-cells').then(
    ok => { state.ok = ok; state.done = true; },
    err => { state.error = String(err); state.done = true; });
""")
_RUN_ALL_DONE = _js("""
  const state = window.__rtspRunAll;
  const panel = panelOf(arg);
  const kernel = panel && panel.sessionContext.session && panel.sessionContext.session.kernel;
  return !!state && state.done && !!kernel && kernel.status === 'idle';
""")
_CELLS = _js("return panelOf(arg).content.model.toJSON().cells;")
_EXECUTE = _js("""
  const kernel = panelOf(arg.path).sessionContext.session.kernel;
  const future = kernel.requestExecute({code: arg.code, store_history: false});
  const out = {stdout: '', stderr: '', error: null};
  future.onIOPub = msg => {
    const t = msg.header.msg_type, c = msg.content;
    if (t === 'stream') { out[c.name] += c.text; }
    else if (t === 'error') { out.error = c.ename + ': ' + c.evalue + '\\n' + c.traceback.join('\\n'); }
  };
  return future.done.then(() => out);
""")


class NotebookPage:
    """One notebook in a Playwright page, in JupyterLab (``ui="lab"``) or Notebook 7 (``ui="notebook"``).

    Page errors and console errors are recorded from creation on; ``errors()`` returns them without the ones
    the front ends log on their own."""

    def __init__(
        self, page: Page, server: LabServer, path: str, ui: Literal["lab", "notebook"] = "lab"
    ) -> None:
        self.page = page
        self.server = server
        self.path = path
        self.ui = ui
        self.page_errors: list[str] = []
        self.console_errors: list[str] = []
        page.on("pageerror", self._on_page_error)
        page.on("console", self._on_console)

    def _on_page_error(self, error: Error) -> None:
        # a stack starts with "name: message"
        self.page_errors.append(error.stack or f"{error.name}: {error.message}")

    def _on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.console_errors.append(message.text)

    @property
    def url(self) -> str:
        if self.ui == "lab":  # reset: a fresh workspace, not the tabs an earlier page left open
            return self.server.url(f"lab/tree/{self.path}?reset")
        return self.server.url(f"notebooks/{self.path}")

    def open(self, timeout: float = 60.0) -> NotebookPage:
        """Load the notebook and wait until its kernel is connected and idle."""
        if self.ui == "notebook":
            # JupyterLab's page handler writes the path of lab/tree/<path> into the page config the server
            # shares with Notebook 7, whose page then tries to open it in a file browser it lacks ("Command
            # 'filebrowser:open-path' not registered"): a plain lab page sets it back to "".
            self.server.checked("GET", "lab")
        self.page.goto(self.url, timeout=timeout * 1000)
        self.wait_kernel_idle(timeout)
        return self

    def _wait(self, script: str, arg: Any, timeout: float, what: str) -> None:
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        try:
            self.page.wait_for_function(script, arg=arg, timeout=timeout * 1000, polling=50)
        except PlaywrightTimeout:
            raise AssertionError(
                f"timed out after {timeout} s waiting for {what} in {self.ui} ({self.path}); "
                f"page state {self.state()}; errors {self.errors()}"
            ) from None

    def state(self) -> Any:
        """The app, the panel, its kernel, open dialogs and the last run-all, as the page shows them (for
        failure messages)."""
        try:
            return self.page.evaluate(_STATE, self.path)
        except Exception as exc:  # noqa: BLE001 - a diagnostic, never the failure itself
            return f"unreadable: {exc}"

    def wait_kernel_idle(self, timeout: float = 60.0) -> None:
        self._wait(_KERNEL_IDLE, self.path, timeout, "the notebook's kernel to be idle")

    def run_all(self) -> None:
        """Start 'Run All Cells' (it returns at once; see ``wait_for_cells_done``)."""
        self.page.evaluate(_RUN_ALL, self.path)

    def wait_for_cells_done(self, timeout: float = 60.0, *, check: bool = True) -> list[dict[str, Any]]:
        """Wait until the run of all cells finished and the kernel is idle; returns the cells (nbformat
        dicts). With ``check``, a cell's error output or a cell left unexecuted fails here."""
        self._wait(_RUN_ALL_DONE, self.path, timeout, "all cells to run")
        cells = self.cells()
        if check:
            run = self.page.evaluate("() => window.__rtspRunAll")
            assert run["error"] is None, f"'Run All Cells' failed: {run['error']}"
            code = [c for c in cells if c["cell_type"] == "code"]
            failed = [o for c in code for o in c["outputs"] if o["output_type"] == "error"]
            assert not failed, "a cell raised:\n" + "\n".join(
                f"{o['ename']}: {o['evalue']}\n" + "\n".join(o["traceback"]) for o in failed
            )
            assert all(c["execution_count"] for c in code), f"cells left unexecuted: {cells}"
        return cells

    def run_all_and_wait(self, timeout: float = 60.0) -> list[dict[str, Any]]:
        self.run_all()
        return self.wait_for_cells_done(timeout)

    def cells(self) -> list[dict[str, Any]]:
        """The notebook's cells as the page holds them (nbformat dicts, with outputs)."""
        return list(self.page.evaluate(_CELLS, self.path))

    def execute(self, code: str) -> str:
        """Run ``code`` in the notebook's kernel, outside any cell; returns its stdout, fails on an error."""
        out = self.page.evaluate(_EXECUTE, {"path": self.path, "code": code})
        assert out["error"] is None, out["error"]
        return str(out["stdout"])

    def wait_until(self, predicate: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
        """``wait_until_sync`` that lets Playwright work while it waits: its events (page errors, console
        messages, ``page.on`` handlers) reach Python only during a Playwright call, not in ``time.sleep``."""
        polls = _polls(predicate, timeout, what)
        while True:
            try:
                next(polls)
            except StopIteration as done:
                return done.value
            self.page.wait_for_timeout(POLL * 1000)

    def errors(self, ignore: Iterable[str] = ()) -> list[str]:
        """Page errors and console errors, without those containing one of ``KNOWN_PAGE_ERRORS`` or
        ``ignore``."""
        skip = (*KNOWN_PAGE_ERRORS, *ignore)
        return [e for e in (*self.page_errors, *self.console_errors) if not any(s in e for s in skip)]

    def screenshot(self, path: Path | str) -> Path:
        """The page as it looks now, to ``path`` and (as every screenshot) to the test's artifacts."""
        self.page.screenshot(path=str(path), full_page=True)
        shutil.copyfile(path, screen_path(Path(path).name))
        return Path(path)

    def shot(self, name: str) -> Path:
        """The page as it looks now, kept in the test's artifacts as ``NN-name.png`` (see screens.py)."""
        path = screen_path(name)
        self.page.screenshot(path=str(path), full_page=True)
        return path
