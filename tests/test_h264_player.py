"""H264Player (js/src/h264/) in Debian's Chromium: WebCodecs decodes in a Worker, which draws on an
OffscreenCanvas.

A local HTTP server on 127.0.0.1 (a secure context) serves a tiny page, H264Player bundled by js/build.mjs's
worker-text plugin (the Worker inlined as a Blob URL, as in widget.js), and MPEG-TS from the project's FFmpeg:
live (``-re`` testsrc2 with a clock, libx264) or whole files. The page builds the player with a fake socket
that fetches that TS and hands it over in whole packets, as the relay's stream socket does. Measured figures
(decode rate in the Worker, first bytes to first picture, frames dropped under a backlog) are printed and
written to ``h264-figures.json`` in the test's tmp_path beside the screenshot ``h264-canvas-*.png``.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .harness.browser import CHROMIUM, CHROMIUM_ARGS
from .harness.helpers import wait_until_sync
from .harness.require import REQUIRE_CAMERA_ENV

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

JS = Path(__file__).resolve().parent.parent / "js"
FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf")
FPS = 25
LIVE_ARGS = {  # libx264 settings of the live streams
    "baseline": ["-preset", "ultrafast", "-tune", "zerolatency", "-profile:v", "baseline"],
    "high": ["-preset", "veryfast", "-profile:v", "high", "-bf", "2"],  # B-frames: no zerolatency
}
X264_PROFILES = {"Constrained Baseline": 0x42, "High": 0x64}
X264_CONSTRAINTS = {"Constrained Baseline": 0xC0, "High": 0x00}


def _required() -> bool:
    return os.environ.get(REQUIRE_CAMERA_ENV) == "1"


# -- the player's bundle -------------------------------------------------------------------------------------

BUNDLE_SCRIPT = """
import * as esbuild from 'esbuild';
import { workerTextPlugin } from './build.mjs';
const workers = new Map();
await esbuild.build({
  absWorkingDir: process.cwd(), entryPoints: ['src/h264/player.js'], outfile: process.argv[1], bundle: true,
  format: 'esm', platform: 'browser', target: 'es2020', minify: true, logLevel: 'warning',
  plugins: [workerTextPlugin({ minify: true, sourcemap: false }, workers)],
});
console.log(JSON.stringify([...workers].map(([file, { bytes }]) => ({ file, bytes }))));
"""


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """js/src/h264/player.js bundled with build.mjs's worker-text plugin (minified, as widget.js is)."""
    node = shutil.which("node")
    if node is None or not (JS / "node_modules" / "esbuild").is_dir():
        if _required():
            pytest.fail("node and js/node_modules are required (npm --prefix js ci)", pytrace=False)
        pytest.skip("node or js/node_modules missing (npm --prefix js ci)")
    out = tmp_path_factory.mktemp("h264-bundle") / "h264-player.js"
    done = subprocess.run(
        [node, "--input-type=module", "-e", BUNDLE_SCRIPT, str(out)],
        cwd=JS,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    workers = json.loads(done.stdout.strip().splitlines()[-1])
    assert [Path(w["file"]) for w in workers] == [Path("src/h264/worker.js")]
    return out.read_bytes()


# -- FFmpeg --------------------------------------------------------------------------------------------------


def _video_filter() -> list[str]:
    """testsrc2 moves by itself; a clock (the stream time) shows in the screenshot when the font is there."""
    if not FONT.exists():
        return []
    clock = (
        f"drawtext=fontfile={FONT}:text='%{{pts\\:hms}}':fontsize=40:fontcolor=white:box=1:boxcolor=black@0.7"
        ":x=16:y=16"
    )
    return ["-vf", clock]


def ffmpeg_argv(
    ffmpeg: str, *, size: str, x264: list[str], gop: int, live: bool, frames: int = 0
) -> list[str]:
    return [
        ffmpeg, "-hide_banner", "-nostdin", "-nostats", "-loglevel", "info",
        *(["-re"] if live else []),
        "-f", "lavfi", "-i", f"testsrc2=size={size}:rate={FPS}", *_video_filter(),
        *(["-frames:v", str(frames)] if frames else []),
        "-c:v", "libx264", *x264, "-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0",
        "-flush_packets", "1", "-f", "mpegts", "pipe:1",
    ]  # fmt: skip


def x264_codec_string(log: str) -> str:
    """The codec string x264's own log line ("profile High, level 3.0, ...") implies."""
    found = re.search(r"\[libx264 @ \w+\] profile ([^,]+), level (\d)\.(\d)", log)
    assert found, log
    profile, level = found[1], int(found[2]) * 10 + int(found[3])
    return f"avc1.{X264_PROFILES[profile]:02x}{X264_CONSTRAINTS[profile]:02x}{level:02x}"


# -- the page and its server ---------------------------------------------------------------------------------

PAGE = """<!doctype html>
<meta charset="utf-8"><title>H264Player</title>
<body style="margin: 0; background: #333">
<script type="module">
import { H264Player, h264Supported } from './h264-player.js';

const PACKET = 188;
window.h264Supported = h264Supported;

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) { out.set(part, at); at += part.length; }
  return out;
}

// A player whose socket fetches `url` and hands it over in whole TS packets: as it streams, or (holdMs)
// the first holdMs of it in one message, or (whole) the whole file in one message.
window.play = (url, { holdMs = 0, whole = false } = {}) => {
  const h = {
    messages: [], infos: [], stats: [], errors: [], unsupported: [], sent: [], frames: 0, closed: null,
    firstBytesAt: null, firstDrawnAt: null, releasedAt: null, socketClose: null, afterDestroy: 0, url: null,
  };
  const canvas = document.createElement('canvas');
  canvas.id = 'video';
  document.body.append(canvas);
  const controller = new AbortController();
  async function feed(socket) {
    let response;
    try {
      response = await fetch(url, { signal: controller.signal });
    } catch {
      return;
    }
    socket.readyState = 1;
    socket.onopen?.({});
    socket.onmessage?.({ data: JSON.stringify({ type: 'video_start', codec: 'h264' }) });
    const deliver = (bytes) => {
      if (h.firstBytesAt === null) h.firstBytesAt = performance.now();
      const own = bytes.buffer.byteLength === bytes.length ? bytes.buffer : bytes.slice().buffer;
      socket.onmessage?.({ data: own }); // an ArrayBuffer of its own: the player transfers it
    };
    if (whole) {
      const bytes = new Uint8Array(await response.arrayBuffer());
      h.releasedAt = performance.now();
      deliver(bytes);
      return;
    }
    const reader = response.body.getReader();
    let carry = new Uint8Array(0);
    const held = [];
    let heldFrom = null;
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        const joined = concat(carry, value);
        const cut = joined.length - (joined.length % PACKET);
        carry = joined.slice(cut);
        if (cut === 0) continue;
        const packets = joined.slice(0, cut);
        if (holdMs > 0 && h.releasedAt === null) {
          heldFrom ??= performance.now();
          held.push(packets);
          if (performance.now() - heldFrom < holdMs) continue;
          h.releasedAt = performance.now();
          deliver(concat(...held));
          continue;
        }
        deliver(packets);
      }
    } catch {
      // aborted by close()
    }
  }
  const connect = () => {
    const socket = {
      binaryType: 'blob', readyState: 0, onopen: null, onmessage: null, onclose: null,
      send(text) { h.sent.push(text); },
      close(code, reason) {
        h.socketClose = { code, reason };
        socket.readyState = 3;
        controller.abort();
      },
    };
    feed(socket);
    return socket;
  };
  const player = new H264Player(canvas, connect, { webgl: true }, {
    onMessage: (message) => h.messages.push(message),
    onFrame: () => { h.frames += 1; },
    onClose: (event) => { h.closed = event; },
    onStreamInfo: (info) => h.infos.push(info),
    onStats: (stats) => {
      const t = performance.now();
      if (stats.drawn > 0 && h.firstDrawnAt === null) h.firstDrawnAt = t;
      h.stats.push({ t, ...stats });
    },
    onUnsupported: (message, codec) => h.unsupported.push([message, codec]),
    onDecoderError: (message) => h.errors.push(message),
  });
  player.worker.addEventListener('message', () => { if (player.destroyed) h.afterDestroy += 1; });
  window.player = player;
  window.h = h;
};
</script>
"""

# the harness's state in the page, without the (long) stats list
SUMMARY = """() => {
  const {stats, ...rest} = window.h;
  return {...rest, last: stats.length ? stats[stats.length - 1] : null, url: window.player.url,
          canvas: [window.player.canvas.width, window.player.canvas.height]};
}"""


class MediaServer:
    """HTTP on 127.0.0.1: the page, the bundle, TS files, and live TS from an FFmpeg per request (stopped when
    the page goes away, and all of them by ``stop()``)."""

    def __init__(self, bundle: bytes, ffmpeg: str, log_dir: Path) -> None:
        self.bundle = bundle
        self.ffmpeg = ffmpeg
        self.log_dir = log_dir
        self.files: dict[str, bytes] = {}
        self.live: dict[str, list[str]] = {}  # name -> FFmpeg argv
        self.procs: list[subprocess.Popen[bytes]] = []
        self.logs: dict[str, Path] = {}
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="media-server", daemon=True)

    def start(self) -> MediaServer:
        self.thread.start()
        return self

    def url(self, path: str = "", host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}/{path}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass  # no access log on the test's output

            def do_GET(self) -> None:
                path = self.path.split("?")[0].lstrip("/")
                if path in ("", "index.html"):
                    self._send(PAGE.encode(), "text/html")
                elif path == "h264-player.js":
                    self._send(server.bundle, "text/javascript")
                elif path.startswith("files/") and path[6:] in server.files:
                    self._send(server.files[path[6:]], "video/mp2t")
                elif path.startswith("live/") and path[5:] in server.live:
                    server._stream_live(self, path[5:])
                else:
                    self.send_error(404)

            def _send(self, body: bytes, content_type: str) -> None:
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

        return Handler

    def _stream_live(self, handler: BaseHTTPRequestHandler, name: str) -> None:
        log = self.log_dir / f"ffmpeg-{name}.log"
        with log.open("wb") as stderr:  # a file: nobody has to drain it
            proc = subprocess.Popen(
                self.live[name], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr
            )
        with self.lock:
            self.procs.append(proc)
            self.logs[name] = log
        handler.send_response(200)
        handler.send_header("Content-Type", "video/mp2t")
        handler.send_header("Cache-Control", "no-store")
        handler.end_headers()  # no length: the body ends when the connection closes
        assert proc.stdout is not None
        try:
            while chunk := proc.stdout.read1(65536):
                handler.wfile.write(chunk)
                handler.wfile.flush()
        except (OSError, ValueError):
            pass  # the page closed the socket, or stop() closed the pipe
        finally:
            _stop(proc)

    def running(self) -> list[subprocess.Popen[bytes]]:
        with self.lock:
            return [p for p in self.procs if p.poll() is None]

    def stop(self) -> None:
        with self.lock:
            procs = list(self.procs)
        for proc in procs:
            _stop(proc)
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(10)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """terminate → wait → kill → wait; idempotent. FFmpeg ignores SIGTERM while its stdout pipe is full: the
    pipe is drained meanwhile."""
    if proc.poll() is None:
        proc.terminate()
        deadline = time.monotonic() + 3
        while proc.poll() is None and time.monotonic() < deadline:
            with contextlib.suppress(OSError, ValueError):
                if proc.stdout is not None:
                    proc.stdout.read1(65536)
            time.sleep(0.01)  # the poll interval of a deadline wait
        if proc.poll() is None:
            proc.kill()
    proc.wait(10)
    if proc.stdout is not None:
        with contextlib.suppress(OSError):
            proc.stdout.close()


@pytest.fixture
def media(bundle: bytes, ffmpeg_path: str, tmp_path: Path) -> Iterator[MediaServer]:
    server = MediaServer(bundle, ffmpeg_path, tmp_path).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def figures(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """Measured figures of the test: printed and written to h264-figures.json in its tmp_path."""
    found: dict[str, Any] = {}
    yield found
    if found:
        (tmp_path / "h264-figures.json").write_text(json.dumps(found, indent=2))
        print("\nH264Player figures:", json.dumps(found))


def open_page(page: Page, media: MediaServer) -> Page:
    page_errors: list[str] = []
    page.on("pageerror", lambda error: page_errors.append(str(error)))
    page.goto(media.url())
    page.wait_for_function("() => typeof window.play === 'function'", timeout=10_000)
    assert page_errors == []
    return page


def summary(page: Page) -> dict[str, Any]:
    return dict(page.evaluate(SUMMARY))


def stats_since(page: Page, t: float) -> list[dict[str, Any]]:
    return list(page.evaluate("(t) => window.h.stats.filter((s) => s.t >= t)", t))


def canvas_pixels(page: Page) -> Any:
    """The canvas as the page shows it (the main thread cannot read an OffscreenCanvas's placeholder)."""
    import numpy as np
    from PIL import Image

    png = page.locator("#video").screenshot()
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int16)


# -- the tests -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("profile", "gop", "codec_string"),
    [("baseline", 25, "avc1.42c01e"), ("high", 250, "avc1.64001e")],
)
def test_plays_live_h264_then_destroy_ends_worker_and_socket(
    page: Page, media: MediaServer, ffmpeg_path: str, tmp_path: Path, figures: dict[str, Any],
    profile: str, gop: int, codec_string: str,
) -> None:  # fmt: skip
    media.live["cam"] = ffmpeg_argv(ffmpeg_path, size="640x360", x264=LIVE_ARGS[profile], gop=gop, live=True)
    open_page(page, media)
    assert page.evaluate("window.isSecureContext") is True
    assert page.evaluate("window.h264Supported('avc1.64001f')") is True
    page.evaluate("(url) => window.play(url)", media.url("live/cam"))
    page.wait_for_function("() => window.h.firstDrawnAt !== null", timeout=20_000)
    state = summary(page)
    # the stream info from the SPS: what x264 says it wrote
    assert x264_codec_string(media.logs["cam"].read_text()) == codec_string
    assert state["infos"] == [
        {"codecString": codec_string, "width": 640, "height": 360, "profileIdc": int(codec_string[5:7], 16),
         "levelIdc": int(codec_string[9:11], 16)}
    ]  # fmt: skip
    assert state["canvas"] == [640, 360]
    assert state["messages"] == [{"type": "video_start", "codec": "h264"}]  # JSON text goes to onMessage
    assert state["url"] is None  # the Blob URL is revoked once the Worker runs
    figures[f"{profile}_first_bytes_to_first_picture_ms"] = round(
        state["firstDrawnAt"] - state["firstBytesAt"], 1
    )

    # pictures at the live rate, and they change
    first = canvas_pixels(page)
    start = page.evaluate("performance.now()")
    page.wait_for_function("(t) => performance.now() > t + 2000", arg=start, polling=100)
    second = canvas_pixels(page)
    later = summary(page)
    assert first.shape == second.shape == (360, 640, 3)
    assert first.std() > 20, "the picture is not a flat colour"
    changed = float((abs(first - second).max(axis=2) > 24).mean())
    assert changed > 0.05, f"only {changed:.1%} of the pixels changed"
    # the 2 s between the screenshots (a screenshot holds the page's animation frames up)
    samples = [s for s in stats_since(page, start) if s["t"] <= start + 2000]
    first_s, last_s = samples[0], samples[-1]
    rate = (last_s["decoded"] - first_s["decoded"]) / ((last_s["t"] - first_s["t"]) / 1000)
    assert 0.8 * FPS <= rate <= 1.2 * FPS, f"{rate:.1f} pictures/s"
    drawn = last_s["drawn"] - first_s["drawn"]  # 25 pictures/s, 60 animation frames/s: nearly all drawn
    assert drawn >= 0.8 * (last_s["decoded"] - first_s["decoded"]), (first_s, last_s)
    assert later["last"]["lagMs"] < 300
    assert later["frames"] == later["last"]["decoded"]  # onFrame once per decoded picture
    assert later["errors"] == [] and later["unsupported"] == []
    figures[f"{profile}_live_fps"] = round(rate, 1)
    shot = tmp_path / f"h264-canvas-{profile}.png"
    page.locator("#video").screenshot(path=str(shot))
    print(f"\nscreenshot: {shot}")

    # pause resets the Worker (the relay starts again at its keyframe cache) and goes to the socket
    assert page.evaluate("window.player.send('pause')") is True
    assert summary(page)["sent"] == ['{"action":"pause"}']

    # destroy(): the Worker ends (Playwright sees it close), no message after it, the socket is closed
    assert len(page.workers) == 1
    assert page.workers[0].url.startswith("blob:")
    with page.workers[0].expect_event("close", timeout=10_000):
        page.evaluate("window.player.destroy()")
    assert page.workers == []
    state = summary(page)
    assert state["socketClose"] == {"code": 1000, "reason": "closed by the viewer"}
    assert state["closed"] is None  # onClose is only for a socket that closes by itself
    wait_until_sync(lambda: not media.running(), 10, "the live FFmpeg to stop once the socket closed")
    # a Worker still running would post stats with every picture (25 a second)
    with pytest.raises(AssertionError):
        wait_until_sync(lambda: summary(page)["afterDestroy"] > 0, 0.5, "a message after destroy()")
    assert summary(page)["frames"] == state["frames"]


def test_a_backlog_is_dropped_to_the_next_idr_then_it_plays_live(
    page: Page, media: MediaServer, ffmpeg_path: str, figures: dict[str, Any]
) -> None:
    media.live["cam"] = ffmpeg_argv(
        ffmpeg_path, size="640x360", x264=LIVE_ARGS["baseline"], gop=FPS, live=True
    )
    open_page(page, media)
    page.evaluate("(url) => window.play(url, {holdMs: 5000})", media.url("live/cam"))
    page.wait_for_function("() => window.h.releasedAt !== null", timeout=20_000, polling=50)
    page.wait_for_function("() => window.h.firstDrawnAt !== null", timeout=10_000)
    released = summary(page)["releasedAt"]
    # it catches up within a second: the live rate from then on, and the delay does not grow
    page.wait_for_function("(t) => performance.now() > t + 1000", arg=released, polling=50)
    caught_up = page.evaluate("performance.now()")
    page.wait_for_function("(t) => performance.now() > t + 3000", arg=caught_up, polling=100)
    samples = stats_since(page, caught_up)
    state = summary(page)
    last = state["last"]
    assert last["jumps"] >= 1, last
    # 5 s at 25 fps held back: at least the 3 whole GOPs before the last IDR in it were dropped
    assert last["dropped"] >= 3 * FPS, last
    window_s = (samples[-1]["t"] - samples[0]["t"]) / 1000
    rate = (samples[-1]["decoded"] - samples[0]["decoded"]) / window_s
    assert 0.8 * FPS <= rate <= 1.2 * FPS, f"{rate:.1f} pictures/s after the backlog"
    assert samples[-1]["dropped"] == samples[0]["dropped"], "nothing dropped once caught up"
    assert max(s["lagMs"] for s in samples) < 300, [s["lagMs"] for s in samples]
    # picture time against the page's clock: constant while playing live (the delay does not grow)
    offsets = [s["t"] - s["drawnTimestamp"] / 1000 for s in samples if s["drawnTimestamp"] >= 0]
    assert max(offsets) - min(offsets) < 150, f"delay moved by {max(offsets) - min(offsets):.0f} ms"
    first_after = next(s for s in stats_since(page, released) if s["decoded"] > 0)
    figures["backlog_5s_dropped_units"] = last["dropped"]
    figures["backlog_5s_jumps"] = last["jumps"]
    figures["backlog_release_to_picture_ms"] = round(first_after["t"] - released, 1)
    figures["backlog_rate_after_fps"] = round(rate, 1)
    figures["backlog_lag_after_max_ms"] = max(s["lagMs"] for s in samples)


@pytest.mark.parametrize("size", ["640x360", "1280x720"])
def test_decode_rate_in_the_worker(
    page: Page, media: MediaServer, ffmpeg_path: str, figures: dict[str, Any], size: str
) -> None:
    """250 pictures (one 10 s GOP, so none is dropped) handed over at once: the Worker decodes them as fast as
    it can. Decoding must beat real time; the rate is a figure, not a limit. The last pictures stay behind:
    the last PES has no length (only a next one would end it), and B-frames wait for the ones after them."""
    frames = 250
    expected = frames - 5
    argv = ffmpeg_argv(ffmpeg_path, size=size, x264=LIVE_ARGS["high"], gop=frames, live=False, frames=frames)
    done = subprocess.run(argv, capture_output=True, timeout=60, check=True)
    media.files["clip.ts"] = done.stdout
    open_page(page, media)
    page.evaluate("(url) => window.play(url, {whole: true})", media.url("files/clip.ts"))
    page.wait_for_function(f"() => window.h.frames >= {expected}", timeout=30_000, polling=20)
    state = summary(page)
    assert state["last"]["dropped"] == 0 and state["errors"] == []
    stats = stats_since(page, 0)
    finished = next(s for s in stats if s["decoded"] >= expected)
    seconds = (finished["t"] - state["releasedAt"]) / 1000
    rate = finished["decoded"] / seconds
    assert rate > FPS, f"{rate:.0f} pictures/s is slower than real time"
    figures[f"decode_fps_{size}"] = round(rate)
    figures[f"first_bytes_to_first_picture_ms_{size}"] = round(
        state["firstDrawnAt"] - state["firstBytesAt"], 1
    )
    width, height = (int(v) for v in size.split("x"))
    assert state["canvas"] == [width, height]


def test_h264_supported_only_in_a_secure_context(browser: Browser, media: MediaServer) -> None:
    """http://127.0.0.1 is a secure context; the same server as http://lab.test (127.0.0.1 too) is not."""
    ask = """async () => ({secure: window.isSecureContext,
        high: await window.h264Supported('avc1.64001f'), baseline: await window.h264Supported('avc1.42e01e'),
        h265: await window.h264Supported('hvc1.1.6.L93.B0'), bogus: await window.h264Supported('avc1.zz')})"""
    page = browser.new_page()
    try:
        open_page(page, media)
        assert page.evaluate(ask) == {
            "secure": True,
            "high": True,
            "baseline": True,
            "h265": False,
            "bogus": False,
        }
    finally:
        page.close()
    other = browser.browser_type.launch(
        executable_path=CHROMIUM,
        headless=True,
        args=[*CHROMIUM_ARGS, "--host-resolver-rules=MAP lab.test 127.0.0.1"],
        timeout=60_000,
    )
    try:
        page = other.new_page()
        page.goto(media.url(host="lab.test"))
        page.wait_for_function("() => typeof window.h264Supported === 'function'", timeout=10_000)
        assert page.evaluate(ask) == {
            "secure": False, "high": False, "baseline": False, "h265": False, "bogus": False,
        }  # fmt: skip
    finally:
        other.close()
