"""Figures through the real server extension: a ``jupyter server`` process, its WebSocket and REST API.

    python -m bench.server [--runs 7] [--json bench/results/server.json]

* cold: WebSocket connect (stream idle, no relay) → first binary bytes that complete an I-frame's start;
* warm: a second WebSocket on the running stream → its first binary bytes (PAT, PMT, I-frame);
* ffmpeg_for_20: FFmpeg processes under the server while 20 WebSockets view one stream, and after;
* thumbnails: cache hit / while streaming (refresh, from the relay) / idle camera (refresh, one-shot grab)
  / hung camera (SIGSTOP, no relay: refresh → the last frame marked stale once the grab's deadline passed).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import statistics
import tempfile
import time
import urllib.request
from pathlib import Path

import psutil
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

from bench._report import arguments, report
from rtsp_notebook.media.mpegts import PacketAligner, TsAnalyzer
from tests.harness.camera import TestCamera
from tests.harness.server import Server


def ms(values: list[float]) -> float:
    return round(statistics.median(values) * 1000, 1)


class Client:
    def __init__(self, server: Server) -> None:
        self.server = server
        self.ws_base = server.base.replace("http://", "ws://")

    def rest(self, method: str, path: str, body: object = None) -> tuple[float, bytes]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.server.base + "rtsp/api/" + path, data=data, method=method)
        request.add_header("Authorization", "token secret-token")
        t0 = time.perf_counter()
        with urllib.request.urlopen(request, timeout=30) as response:
            content = response.read()
        return time.perf_counter() - t0, content

    async def connect(self, sid: str):
        url = f"{self.ws_base}rtsp/ws/stream?id={sid}"
        return await websocket_connect(HTTPRequest(url, headers={"Authorization": "token secret-token"}))

    async def first_iframe(self, sid: str) -> tuple[float, object]:
        t0 = time.perf_counter()
        conn = await self.connect(sid)
        aligner, analyzer = PacketAligner(), TsAnalyzer()
        while True:
            msg = await conn.read_message()
            if isinstance(msg, bytes):
                analyzer.feed(aligner.feed(msg))
                if analyzer.keyframes:
                    return time.perf_counter() - t0, conn

    async def first_bytes(self, sid: str) -> tuple[float, object]:
        t0 = time.perf_counter()
        conn = await self.connect(sid)
        while not isinstance(await conn.read_message(), bytes):
            pass
        return time.perf_counter() - t0, conn


def ffmpeg_count(pid: int) -> int:
    count = 0
    for child in psutil.Process(pid).children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess):  # it ended between the listing and now
            count += "ffmpeg" in child.name()
    return count


async def wait_no_ffmpeg(pid: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while ffmpeg_count(pid) and time.monotonic() < deadline:  # noqa: ASYNC110 - another process
        await asyncio.sleep(0.05)


async def measure(runs: int) -> dict[str, object]:
    camera = TestCamera(keyint=25).start()
    tmp = Path(tempfile.mkdtemp())
    server = Server(tmp, extra=["--RtspNotebookApp.idle_timeout=0.2", "--RtspNotebookApp.thumbnail_ttl=60"])
    client = Client(server)
    samples: dict[str, list[float]] = {
        k: [] for k in ("cold", "warm", "thumb_hit", "thumb_streaming", "thumb_idle", "thumb_hung")
    }
    counts: dict[str, int] = {}
    try:
        _, body = client.rest("POST", "streams", {"url": camera.url})
        sid = json.loads(body)["id"]
        for _ in range(runs):
            await wait_no_ffmpeg(server.proc.pid)
            samples["thumb_idle"].append(client.rest("POST", f"streams/{sid}/thumbnail/refresh")[0])
            samples["thumb_hit"].append(client.rest("GET", f"streams/{sid}/thumbnail")[0])
            cold, first = await client.first_iframe(sid)
            samples["cold"].append(cold)
            await asyncio.sleep(1.2)  # let the relay's keyframe cache hold a GOP (a measuring setup)
            warm, second = await client.first_bytes(sid)
            samples["warm"].append(warm)
            samples["thumb_streaming"].append(client.rest("POST", f"streams/{sid}/thumbnail/refresh")[0])
            first.close()
            second.close()
        await wait_no_ffmpeg(server.proc.pid)  # no relay left: the thumbnail must come from a grab
        camera.pause()
        try:
            hung, body = client.rest("POST", f"streams/{sid}/thumbnail/refresh")
        finally:
            camera.resume()
        if not json.loads(body).get("stale"):
            raise RuntimeError(f"a hung camera's thumbnail was not the stale last frame: {body[:200]!r}")
        samples["thumb_hung"].append(hung)  # once: it lasts the grab's deadline (5 s)
        await wait_no_ffmpeg(server.proc.pid)
        conns = await asyncio.gather(*(client.first_bytes(sid) for _ in range(20)))
        counts["ffmpeg_during_20_viewers"] = ffmpeg_count(server.proc.pid)
        for _, conn in conns:
            conn.close()
        await wait_no_ffmpeg(server.proc.pid)
        counts["ffmpeg_after_20_viewers_left"] = ffmpeg_count(server.proc.pid)
    finally:
        server.stop()
        camera.stop()
    return {
        "command": f"python -m bench.server --runs {runs}",
        "median_ms": {k: ms(v) for k, v in samples.items()},
        "counts": counts,
        "samples_s": {k: [round(x, 4) for x in v] for k, v in samples.items()},
    }


def main() -> None:
    args = arguments(__doc__, "server", runs=7)
    result = asyncio.run(measure(args.runs))
    report(result, {**result["median_ms"], **result["counts"]}, args.json)  # type: ignore[dict-item]


if __name__ == "__main__":
    main()
