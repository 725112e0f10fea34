"""CPU: the server per extra viewer, and FFmpeg per profile, with the predecessor's FFmpeg beside it.

    python -m bench.cpu [--short] [--json bench/results/cpu.json]

Fan-out: a real ``jupyter server`` process (``tests.harness.server.Server``) relays
``demo://testsrc2?size=640x360&fps=25`` in the grid profile (MPEG-1 at 15 fps, ≈ 1 Mb/s); 1, then 10, then
50 WebSocket viewers (20 with ``--short``) in this process read everything it sends. For each count, once
every viewer has bytes and a settling second has passed, the server process's own CPU (user + system from
``/proc``, psutil; not its FFmpeg child) over a fixed window. Per extra viewer:
(CPU at N - CPU at 1) / (N - 1).

FFmpeg: the GStreamer test camera at 1280x720 and 1920x1080, 25 fps, a keyframe a second, pattern ``smpte``
scrolled 4 pixels a frame (busy and moving; ``--full`` adds ``ball`` and ``snow`` at 720p). The in-process
relay's FFmpeg for the source (the camera's H.264 copied: the one camera session), the grid and the full
profile (MPEG-1 transcodes fed from the source relay), the predecessor's FFmpeg argv, and an FFmpeg that only
decodes the camera (``-f null``: the H.264 decoding every profile pays) read it at the same time; over a fixed
window, each one's CPU (cores), the pictures a second it wrote and its bitrate, and the camera's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
from tornado.websocket import WebSocketClientConnection

from bench._common import Sink, cpu_seconds, predecessor_argv
from bench._report import report
from bench.server import Client, ffmpeg_count
from rtsp_notebook.media.ffmpeg import Profile, find_ffmpeg
from rtsp_notebook.media.mpegts import PacketAligner, TsAnalyzer
from rtsp_notebook.media.process import FFmpegProcess
from tests.harness.camera import TestCamera
from tests.harness.helpers import engine_for, wait_until
from tests.harness.server import Server

FANOUT_SOURCE = "demo://testsrc2?size=640x360&fps=25"
SIZES = {"720p25": (1280, 720), "1080p25": (1920, 1080)}
PATTERN = ("smpte", 4)  # (videotestsrc pattern, pixels a frame it scrolls)
EXTRA_PATTERNS = (("ball", 0), ("snow", 0))  # at 720p, in the full run


class Viewer:
    """A WebSocket viewer that reads every message and counts the binary bytes."""

    def __init__(self, conn: WebSocketClientConnection) -> None:
        self.conn = conn
        self.bytes = 0
        self._task = asyncio.get_running_loop().create_task(self._run())

    @classmethod
    async def open(cls, client: Client, sid: str) -> Viewer:
        return cls(await client.connect(sid))

    async def _run(self) -> None:
        while (msg := await self.conn.read_message()) is not None:
            if isinstance(msg, bytes):
                self.bytes += len(msg)

    async def close(self) -> None:
        self.conn.close()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


async def fanout(steps: tuple[int, ...], window: float, tmp: Path) -> dict[str, Any]:
    server = Server(tmp, extra=["--RtspNotebookApp.idle_timeout=0.5"])
    children: dict[int, psutil.Process] = {}  # FFmpeg under the server, killed if it is left behind
    viewers: list[Viewer] = []
    rows: list[dict[str, Any]] = []
    try:
        client = Client(server)
        _, body = client.rest("POST", "streams", {"url": FANOUT_SOURCE})
        sid = json.loads(body)["id"]
        for n in steps:
            viewers += await asyncio.gather(*(Viewer.open(client, sid) for _ in range(n - len(viewers))))
            await wait_until(lambda v=viewers: all(x.bytes for x in v), 30, "bytes for every viewer")
            children.update({p.pid: p for p in psutil.Process(server.proc.pid).children(recursive=True)})
            await asyncio.sleep(1.0)  # settle: the new viewers' keyframe caches are sent
            c0, b0, t0 = cpu_seconds(server.proc.pid), [v.bytes for v in viewers], time.monotonic()
            await asyncio.sleep(window)  # the measurement window
            wall = time.monotonic() - t0
            used = cpu_seconds(server.proc.pid) - c0
            got = [(v.bytes - b) * 8 / wall / 1e6 for v, b in zip(viewers, b0, strict=True)]
            rows.append({
                "viewers": n,
                "window_s": round(wall, 2),
                "server_cpu_percent": round(used / wall * 100, 2),
                "mbit_s_per_viewer_min": round(min(got), 3),
                "mbit_s_per_viewer_max": round(max(got), 3),
                "ffmpeg_processes": ffmpeg_count(server.proc.pid),
            })  # fmt: skip
            print(f"  fan-out: {n} viewers, server {rows[-1]['server_cpu_percent']} % of a core", flush=True)
        stats = json.loads(client.rest("GET", "stats")[1])
    finally:
        for viewer in viewers:
            await viewer.close()
        with contextlib.suppress(psutil.Error):
            children.update({p.pid: p for p in psutil.Process(server.proc.pid).children(recursive=True)})
        server.stop()
        for proc in children.values():
            with contextlib.suppress(psutil.Error):
                if proc.is_running():
                    proc.kill()
    base = rows[0]
    per_viewer = {
        str(r["viewers"]): round(
            (r["server_cpu_percent"] - base["server_cpu_percent"]) / (r["viewers"] - base["viewers"]), 3
        )
        for r in rows[1:]
    }
    return {
        "source": f"{FANOUT_SOURCE}, grid profile",
        "relay_kbps": [row.get("kbps") for row in stats],
        "steps": rows,
        "per_extra_viewer_percent": per_viewer,
    }


def decode_only_argv(ffmpeg: str, url: str) -> list[str]:
    """FFmpeg that only reads and decodes the camera: the floor under every profile's cost."""
    return [
        ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-rtsp_transport", "tcp",
        "-flags", "low_delay", "-i", url, "-an", "-f", "null", "-",
    ]  # fmt: skip


async def count_output(proc: FFmpegProcess, counts: dict[str, int]) -> None:
    aligner, analyzer = PacketAligner(), TsAnalyzer()
    while chunk := await proc.read(30):
        counts["bytes"] += len(chunk)
        analyzer.feed(aligner.feed(chunk))
        counts["frames"] = analyzer.frames


async def ffmpeg_cpu(size: str, pattern: tuple[str, int], window: float, tmp: Path) -> dict[str, Any]:
    """Cores used by the relay's FFmpeg per profile and by the predecessor's, on one camera at once."""
    ffmpeg = find_ffmpeg().path
    width, height = SIZES[size]
    name, speed = pattern
    camera = TestCamera(width=width, height=height, fps=25, pattern=name, horizontal_speed=speed, keyint=25)
    with camera:
        async with engine_for(tmp) as engine:
            stream = await engine.add_stream(camera.url)
            sinks = {
                p.value: Sink(await engine.subscribe(stream.id, p)) for p in (Profile.GRID, Profile.FULL)
            }
            # the camera's own video, copied: the source relay, which also feeds the two transcodes
            sinks[Profile.SOURCE.value] = Sink(await engine.subscribe(stream.id, Profile.GRID, "h264"))
            pred = await FFmpegProcess.spawn(predecessor_argv(ffmpeg, camera.url), name="predecessor")
            decode = await FFmpegProcess.spawn(decode_only_argv(ffmpeg, camera.url), name="decode only")
            pred_counts = {"bytes": 0, "frames": 0}
            counter = asyncio.create_task(count_output(pred, pred_counts))
            try:

                def counts() -> dict[str, tuple[int, int]]:
                    out = {k: (s.bytes, s.frames) for k, s in sinks.items()}
                    return {**out, "predecessor": (pred_counts["bytes"], pred_counts["frames"])}

                await wait_until(
                    lambda: all(f >= 10 for _, f in counts().values()), 60, "every FFmpeg's pictures"
                )
                await asyncio.sleep(1.0)  # settle
                pids = {"predecessor": pred.pid, "decode_only": decode.pid, "camera": camera.pid or 0}
                for profile in (Profile.GRID, Profile.FULL, Profile.SOURCE):  # no substream here
                    relay = engine.relay(stream.id, profile)
                    assert relay is not None and relay.process is not None
                    pids[profile.value] = relay.process.pid
                c0 = {k: cpu_seconds(pid) for k, pid in pids.items()}
                n0, t0 = counts(), time.monotonic()
                await asyncio.sleep(window)  # the measurement window
                wall = time.monotonic() - t0
                c1, n1 = {k: cpu_seconds(pid) for k, pid in pids.items()}, counts()
            finally:
                counter.cancel()
                await pred.stop()
                await decode.stop()
                for sink in sinks.values():
                    await sink.stop()
    out: dict[str, Any] = {
        "input": f"{size} {name}" + (f" scrolling {speed} px/frame" if speed else ""),
        "size": size,
        "pattern": name,
    }
    for key in pids:
        out[key] = {"core": round((c1[key] - c0[key]) / wall, 4)}
        if key in n0:
            out[key]["fps"] = round((n1[key][1] - n0[key][1]) / wall, 1)
            out[key]["mbit_s"] = round((n1[key][0] - n0[key][0]) * 8 / wall / 1e6, 2)
    out["window_s"] = round(wall, 2)
    print(
        f"  FFmpeg CPU {out['input']}: source (copy) {out['source']['core']}, grid {out['grid']['core']}, "
        f"full {out['full']['core']}, "
        f"predecessor {out['predecessor']['core']} core (camera {out['camera']['core']})",
        flush=True,
    )
    return out


async def measure(short: bool, tmp: Path) -> dict[str, Any]:
    window = 4.0 if short else 10.0
    steps = (1, 10, 20) if short else (1, 10, 50)
    (tmp / "server").mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {"fanout": await fanout(steps, window, tmp / "server")}
    runs = [(size, PATTERN) for size in SIZES]
    if not short:
        runs += [("720p25", p) for p in EXTRA_PATTERNS]
    result["ffmpeg"] = [await ffmpeg_cpu(size, pattern, window, tmp) for size, pattern in runs]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--short", action="store_true", help="4 s windows, 20 viewers at most")
    parser.add_argument("--json", type=Path, default=Path("bench/results/cpu.json"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        result = asyncio.run(measure(args.short, Path(tmp)))
    rows = {
        f"server CPU % per extra viewer ({n})": v
        for n, v in result["fanout"]["per_extra_viewer_percent"].items()
    }
    for run in result["ffmpeg"]:
        for key in ("grid", "full", "predecessor"):
            rows[f"{run['input']}: {key} (cores)"] = run[key]["core"]
    report(result, rows, args.json)


if __name__ == "__main__":
    main()
