"""Process accounting: the CPU of this bench's Chromium, of the Jupyter server's processes (FFmpeg, kernels)
and of the whole machine, and the processes to kill if the server could not stop them.

Chromium's processes: ``sync_playwright()`` starts Playwright's driver (``node ... run-driver``) as a child
of this process, and the driver launches Chromium; the browser process is the driver's child whose
command line has no ``--type=`` and has Playwright's ``--user-data-dir=.../playwright_chromiumdev_profile-*``;
its descendants (zygotes, renderers, GPU and utility processes) are the rest of the tree. Other Chromiums
on the machine (other people's tests) hang under other drivers and are not counted; nor are Chromium's
two crashpad handlers, which detach to init (idle: they only wait for crashes). CPU is user + system time
from ``/proc/<pid>/stat`` (psutil) of each process alive at the window's start and end; a process that
starts during the window counts in full, one that ends during it is lost (counted in the JSON).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from tests.harness.browser import LabServer
from tests.harness.camera import TestCamera

Key = tuple[int, float]  # (pid, create time): a pid the kernel reused is another process


def chromium_tree() -> list[psutil.Process]:
    """This process's Chromium: the browser process under Playwright's driver, and its descendants."""
    out: list[psutil.Process] = []
    for driver in psutil.Process().children():
        with contextlib.suppress(psutil.Error):
            if "run-driver" not in driver.cmdline():
                continue
            for child in driver.children():
                with contextlib.suppress(psutil.Error):
                    argv = child.cmdline()
                    is_browser = (
                        "chromium" in child.name()
                        and not any(a.startswith("--type=") for a in argv)
                        and any(a.startswith("--user-data-dir=") and "playwright" in a for a in argv)
                    )
                    if is_browser:
                        out += [child, *child.children(recursive=True)]
    return out


def cpu_seconds(procs: Iterable[psutil.Process]) -> dict[Key, float]:
    times: dict[Key, float] = {}
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            t = proc.cpu_times()
            times[(proc.pid, proc.create_time())] = t.user + t.system
    return times


def thread_seconds(pid: int) -> dict[int, tuple[str, float]]:
    """CPU seconds (user + system) of each thread of ``pid``, with its name (``comm``): Chromium names its
    threads (CrRendererMain, DedicatedWorker thread, Compositor, ThreadPoolForeg..., Media)."""
    out: dict[int, tuple[str, float]] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = (task / "stat").read_text()
            name = stat[stat.index("(") + 1 : stat.rindex(")")]
            fields = stat[stat.rindex(")") + 2 :].split()
            out[int(task.name)] = (name, (int(fields[11]) + int(fields[12])) / tick)
    return out


def machine_busy() -> float:
    t = psutil.cpu_times()
    return float(sum(getattr(t, k, 0.0) for k in ("user", "nice", "system", "irq", "softirq", "steal")))


def sched(pid: int) -> tuple[float, float] | None:
    """Seconds the main thread of ``pid`` ran on a CPU, and waited on a run queue (Linux schedstat)."""
    try:
        on, wait, _ = Path(f"/proc/{pid}/task/{pid}/schedstat").read_text().split()
    except (OSError, ValueError):
        return None
    return int(on) / 1e9, int(wait) / 1e9


def percent(before: dict[Key, float], after: dict[Key, float], wall: float) -> dict[str, Any]:
    """CPU of a set of processes between two snapshots, as % of one core."""
    used = sum(t - before.get(k, 0.0) for k, t in after.items())
    return {
        "percent": round(used / wall * 100, 1),
        "processes": len(after),
        "lost": len(set(before) - set(after)),
    }


@dataclass
class Tracker:
    """Processes worth killing if the server dies before it could stop them (Ctrl-C reaches the whole
    process group: the server and its kernels may exit at once and leave their FFmpeg behind)."""

    seen: dict[Key, psutil.Process] = field(default_factory=dict)

    def note(self, procs: Iterable[psutil.Process]) -> None:
        for proc in procs:
            with contextlib.suppress(psutil.Error):
                self.seen[(proc.pid, proc.create_time())] = proc

    def kill_leftovers(self) -> None:
        alive = [p for p in self.seen.values() if p.is_running()]  # is_running checks the create time
        for proc in alive:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        psutil.wait_procs(alive, timeout=5)


def server_roles(server: LabServer, cameras: Sequence[TestCamera] = ()) -> dict[str, list[psutil.Process]]:
    """The Jupyter server and its descendants by role (jupyter server, ffmpeg, kernel, other), and the test
    cameras' processes (``camera``: GStreamer, one x264 encode per camera whatever its clients)."""
    assert server.proc is not None
    roles: dict[str, list[psutil.Process]] = {"jupyter server": [psutil.Process(server.proc.pid)]}
    for cam in cameras:
        with contextlib.suppress(psutil.Error, TypeError):
            roles.setdefault("camera", []).append(psutil.Process(cam.pid))
    for proc in server.descendants():
        with contextlib.suppress(psutil.Error):
            if "ffmpeg" in proc.name():
                role = "ffmpeg"
            elif any("ipykernel" in part for part in proc.cmdline()):
                role = "kernel"
            else:
                role = "other"
            roles.setdefault(role, []).append(proc)
    return roles


@dataclass
class Snapshot:
    """CPU seconds so far: Chromium's tree (and each process's type), the server's processes by role, the
    main thread of each Chromium renderer (on CPU and waiting for a CPU, from ``/proc/.../schedstat``), and
    the whole machine."""

    at: float
    chromium: dict[Key, float]
    chromium_types: dict[Key, str]
    renderer_main: dict[Key, tuple[float, float]]
    renderer_threads: dict[Key, dict[int, tuple[str, float]]]
    server: dict[str, dict[Key, float]]
    busy: float

    @classmethod
    def take(cls, server: LabServer, cameras: Sequence[TestCamera] = ()) -> Snapshot:
        roles = server_roles(server, cameras)
        tree = chromium_tree()
        types: dict[Key, str] = {}
        for proc in tree:
            with contextlib.suppress(psutil.Error):
                kind = next((a[7:] for a in proc.cmdline() if a.startswith("--type=")), "browser")
                types[(proc.pid, proc.create_time())] = kind
        at = time.monotonic()
        chromium = cpu_seconds(tree)
        renderers = [k for k, kind in types.items() if kind == "renderer"]
        main = {k: on_wait for k in renderers if (on_wait := sched(k[0]))}
        threads = {k: thread_seconds(k[0]) for k in renderers}
        by_role = {role: cpu_seconds(procs) for role, procs in roles.items()}
        return cls(at, chromium, types, main, threads, by_role, machine_busy())

    def by_type(self, before: Snapshot, wall: float) -> dict[str, float]:
        """Chromium's CPU by process type (browser, renderer, gpu-process, utility, zygote), % of a core."""
        out: dict[str, float] = {}
        for key, t in self.chromium.items():
            kind = self.chromium_types.get(key, "?")
            out[kind] = out.get(kind, 0.0) + (t - before.chromium.get(key, 0.0)) / wall * 100
        return {k: round(v, 1) for k, v in sorted(out.items())}

    def busiest_renderer(self, before: Snapshot, wall: float) -> dict[str, float]:
        """The main thread of the renderer that worked most (the notebook's page): % of the wall time it
        ran on a CPU, and % it was ready to run but waited for one (the machine's other load)."""
        deltas = [
            (on - before.renderer_main[k][0], wait - before.renderer_main[k][1])
            for k, (on, wait) in self.renderer_main.items()
            if k in before.renderer_main
        ]
        if not deltas:
            return {}
        on, wait = max(deltas)
        return {"on_cpu_percent": round(on / wall * 100, 1), "waiting_percent": round(wait / wall * 100, 1)}

    def renderer_threads_since(self, before: Snapshot, wall: float) -> dict[str, float]:
        """The threads of the renderer that worked most, by name, % of a core (a name's threads summed:
        every H.264 tile's Worker is a ``DedicatedWorker thread``; ``threads`` counts them)."""
        best: dict[str, float] = {}
        for key, threads in self.renderer_threads.items():
            old = before.renderer_threads.get(key, {})
            by_name: dict[str, float] = {}
            counts: dict[str, int] = {}
            for tid, (name, t) in threads.items():
                # the main thread bears the process's name; ThreadPoolForeg1, 2, ... count as one
                label = "main thread" if tid == key[0] else name.rstrip("0123456789")
                by_name[label] = by_name.get(label, 0.0) + (t - old.get(tid, (name, 0.0))[1]) / wall * 100
                counts[label] = counts.get(label, 0) + 1
            if sum(by_name.values()) > sum(best.values()):
                ranked = sorted(by_name.items(), key=lambda item: -item[1])
                best = {f"{name} x{counts[name]}": round(value, 1) for name, value in ranked}
        return {k: v for k, v in best.items() if v >= 0.5}

    def chromium_since(self, before: Snapshot) -> dict[str, Any]:
        """What Chromium used from ``before`` to this snapshot (a CPU sample's fields)."""
        wall = self.at - before.at
        chromium = percent(before.chromium, self.chromium, wall)
        return {
            "window_s": round(wall, 2),
            "chromium_cpu_percent": chromium["percent"],
            "chromium_processes": chromium["processes"],
            "chromium_processes_lost": chromium["lost"],
            "chromium_cpu_by_type": self.by_type(before, wall),
            # all decoding runs on this one thread: it caps the grid, whatever the number of cores
            "renderer_main_thread": self.busiest_renderer(before, wall),
            "renderer_threads_percent": self.renderer_threads_since(before, wall),
        }

    def server_since(self, before: Snapshot) -> dict[str, Any]:
        """What the server's processes and the whole machine used from ``before`` to this snapshot."""
        wall = self.at - before.at
        return {
            "server_cpu_percent": {
                role: percent(before.server.get(role, {}), times, wall)["percent"]
                for role, times in self.server.items()
            },
            "ffmpeg_processes": len(self.server.get("ffmpeg", {})),
            "machine_busy_percent": round((self.busy - before.busy) / wall * 100, 1),
        }
