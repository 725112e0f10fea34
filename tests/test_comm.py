"""The widget's kernel fallback (``rtsp_notebook.notebook.comm``) against the real camera and service:
requests are routed with the REST API's statuses and JSON, stream sockets carry the camera's MPEG-TS with
the WebSocket's messages, and acknowledgement-based flow control holds back, drops and finally disconnects
a page that stops acknowledging.

The bridge's ``send`` is a recording function here: a real comm needs a kernel and a browser at its other
end (``test_widget_kernel.py`` runs those). The test thread plays the kernel's main thread (``handle``);
the bridge answers from the process's loop thread, as in a kernel.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import rtsp_notebook as rn
from rtsp_notebook.api import routes
from rtsp_notebook.api.service import StreamService
from rtsp_notebook.engine import EngineConfig
from rtsp_notebook.errors import (
    AuthError,
    ConflictError,
    FFmpegNotFoundError,
    InvalidInputError,
    InvalidURLError,
    LimitError,
    ProbeFailedError,
    SourceTimeoutError,
    StoreError,
    StreamNotFoundError,
    status_for,
)
from rtsp_notebook.media.relay import RelayConfig
from rtsp_notebook.notebook.comm import WINDOW, KernelBridge
from rtsp_notebook.notebook.runtime import local_service, loop_thread
from rtsp_notebook.notebook.widget import Grid

from .harness.helpers import wait_until_sync

PASSWORD = "comm-s3cret"
PACKET = 188


class Page:
    """The page's side of the comm: records what the bridge sends and sends what a page would."""

    def __init__(self) -> None:
        self.messages: list[tuple[dict[str, Any], list[bytes]]] = []
        self._lock = threading.Lock()
        self._ids = 0
        self.bridge: KernelBridge | None = None

    def send(self, content: dict[str, Any], buffers: list[bytes]) -> None:  # the bridge's send
        json.dumps(content)  # what ipykernel sends must be JSON
        with self._lock:
            self.messages.append((content, list(buffers)))

    def of(self, kind: str, **match: Any) -> list[tuple[dict[str, Any], list[bytes]]]:
        with self._lock:
            found = list(self.messages)
        return [
            (c, b) for c, b in found if c["type"] == kind and all(c.get(k) == v for k, v in match.items())
        ]

    def request(self, method: str, path: str, body: Any = None, timeout: float = 15) -> tuple[int, Any]:
        assert self.bridge is not None
        self._ids += 1
        rid = f"r{self._ids}"
        self.bridge.handle({"type": "request", "id": rid, "method": method, "path": path, "body": body})
        answers = wait_until_sync(
            lambda: self.of("response", id=rid), timeout, f"the answer to {method} {path}"
        )
        content = answers[0][0]
        return content["status"], content["body"]

    def post(self, **content: Any) -> None:
        assert self.bridge is not None
        self.bridge.handle(content)

    def data(self, sid: str) -> list[bytes]:
        return [b[0] for _, b in self.of("data", sid=sid)]

    def texts(self, sid: str) -> list[dict[str, Any]]:
        return [json.loads(c["text"]) for c, _ in self.of("message", sid=sid)]

    def ack_all(self, sid: str, acked: int) -> int:
        """Acknowledge every data byte received beyond ``acked``; returns the new total."""
        total = sum(len(d) for d in self.data(sid))
        if total > acked:
            self.post(type="ack", sid=sid, bytes=total - acked)
        return total

    def everything(self) -> str:
        with self._lock:
            return json.dumps([c for c, _ in self.messages])


@pytest.fixture
def make_service(tmp_path) -> Iterator[Callable[..., StreamService]]:
    """A stream service on its own store, on the process's loop thread; closed (FFmpeg stopped) after the
    test. Not the per-store singleton of ``local_service``: these tests change relay limits."""
    thread = loop_thread()
    opened: list[StreamService] = []

    def make(**relay: Any) -> StreamService:
        config = EngineConfig(relay=RelayConfig(**{"idle_timeout": 0.5, **relay}))
        service = StreamService.open(tmp_path / f"comm-{len(opened)}.db", config=config)
        opened.append(service)
        return service

    yield make
    for service in opened:
        thread.run(service.close(), timeout=30)


@pytest.fixture
def page() -> Iterator[Page]:
    page = Page()
    yield page
    if page.bridge is not None:
        page.bridge.close()


def attach(page: Page, service: StreamService, **kwargs: Any) -> KernelBridge:
    page.bridge = KernelBridge(page.send, service, **kwargs)
    return page.bridge


def add_camera(page: Page, url: str, label: str = "Door") -> dict[str, Any]:
    status, stream = page.request("POST", "streams", {"url": url, "label": label})
    assert status == 201, stream
    return stream  # type: ignore[no-any-return]


def subscription_of(bridge: KernelBridge, sid: str) -> Any:
    sock = bridge.sockets.get(sid)
    return sock.viewer.subscription if sock is not None and sock.viewer is not None else None


def viewers(service: StreamService, stream_id: str) -> int:
    return int(loop_thread().run(service.stream_stats(stream_id))["viewers"])


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (ProbeFailedError(AuthError("the camera refused the user name or password")), 422),
        (InvalidURLError("x"), 400),
        (InvalidInputError("x"), 400),
        (StreamNotFoundError("x"), 404),
        (ConflictError("x"), 409),
        (LimitError("x"), 429),
        (SourceTimeoutError("x"), 503),
        (StoreError("x"), 500),
        (FFmpegNotFoundError("x"), 500),
    ],
)
def test_one_status_mapping_for_rest_and_comm(error, status):
    from rtsp_notebook.server import handlers

    assert status_for(error) == status
    assert handlers.answer is routes.answer  # the REST handlers answer through the comm's one route table


def test_requests_are_answered_like_the_rest_api(page, make_service, camera_factory):
    cam = camera_factory(user="admin", password=PASSWORD)
    attach(page, make_service())
    status, health = page.request("GET", "health")
    assert (status, health["status"], health["streams"]) == (200, "healthy", 0)

    status, body = page.request("POST", "streams", {"url": "file:///etc/passwd"})
    assert status == 400 and body["error"]["code"] == "INVALID_URL" and "rtsp://" in body["error"]["message"]
    stream = add_camera(page, cam.url)
    sid = stream["id"]
    assert (
        stream["url"] == cam.url.replace(PASSWORD, "***") and stream["ws_url"] == f"rtsp/ws/stream?id={sid}"
    )
    assert page.request("POST", "streams", {"url": cam.url})[1]["error"]["code"] == "CONFLICT"
    assert page.request("POST", "streams", {"url": cam.url})[0] == 409
    assert page.request("GET", "streams") == (200, [stream])
    assert page.request("GET", f"streams/{sid}") == (200, stream)

    status, renamed = page.request("PATCH", f"streams/{sid}", {"label": "Front door"})
    assert (status, renamed["label"]) == (200, "Front door")
    status, body = page.request("PATCH", f"streams/{sid}", {"colour": "red"})
    assert (status, body["error"]["code"]) == (400, "BAD_REQUEST")
    status, body = page.request("PATCH", f"streams/{sid}", ["not", "an", "object"])
    assert (status, body) == (
        400,
        {"error": {"code": "BAD_REQUEST", "message": "the request body must be a JSON object"}},
    )

    status, thumb = page.request("GET", f"streams/{sid}/thumbnail?format=json&width=320&refresh=true")
    assert status == 200 and thumb["data_url"].startswith("data:image/jpeg;base64,")
    assert (thumb["width"], thumb["height"]) == (320, 180)
    status, body = page.request("GET", f"streams/{sid}/thumbnail?format=json&width=5")
    assert (status, body["error"]["code"]) == (400, "BAD_REQUEST")
    status, body = page.request("GET", f"streams/{sid}/thumbnail")
    assert (status, body["error"]["code"]) == (400, "BAD_REQUEST") and "format=json" in body["error"][
        "message"
    ]
    assert page.request("POST", f"streams/{sid}/thumbnail/refresh")[0] == 200
    status, cache = page.request("GET", "thumbnails/cache/stats")
    assert status == 200 and cache["entries"] >= 1
    assert page.request("POST", "thumbnails/cache/clear")[0] == 200

    status, stats = page.request("GET", "stats")
    assert status == 200 and [s["label"] for s in stats] == ["Front door"]
    assert page.request("GET", f"streams/{sid}/stats")[0] == 200
    status, events = page.request("GET", "events")
    assert status == 200 and isinstance(events, list)

    assert page.request("GET", "streams/nope") == (
        404,
        {"error": {"code": "NOT_FOUND", "message": "no stream with id 'nope'"}},
    )
    status, body = page.request("GET", "no/such/route")
    assert (status, body["error"]["code"]) == (404, "NOT_FOUND")
    status, body = page.request("DELETE", "health")
    assert (status, body["error"]["code"]) == (405, "BAD_REQUEST") and "use GET" in body["error"]["message"]
    status, body = page.request("POST", "streams?probe=true", {"url": "rtsp://127.0.0.1:9/other"}, timeout=20)
    assert status == 422 and body["error"]["code"] in ("UNREACHABLE", "TIMEOUT")

    assert page.request("DELETE", f"streams/{sid}") == (204, None)
    assert page.request("GET", f"streams/{sid}")[0] == 404
    assert PASSWORD not in page.everything()


def test_a_socket_streams_the_camera_with_the_websockets_messages(page, make_service, camera):
    service = make_service()
    attach(page, service)
    stream = add_camera(page, camera.url)
    page.post(type="open", sid="s1", stream_id=stream["id"], profile="grid")
    wait_until_sync(lambda: page.of("open", sid="s1"), 10, "the socket to open")
    acked = 0

    def flowing(more: int) -> Callable[[], bool]:
        target = acked + more

        def check() -> bool:
            nonlocal acked
            acked = page.ack_all("s1", acked)  # the page acknowledges what it got
            return acked >= target

        return check

    wait_until_sync(flowing(100_000), 20, "100 kB of video")
    chunks = page.data("s1")
    assert all(len(c) % PACKET == 0 and c[0] == 0x47 for c in chunks), "whole TS packets"
    texts = page.texts("s1")
    assert {"type": "status", "phase": "playing"} in texts
    start = next(t for t in texts if t["type"] == "video_start")
    assert (start["codec"], start["width"], start["height"]) == ("mpeg1video", 640, 360)
    assert viewers(service, stream["id"]) == 1

    # actions as WebSocket text frames: pause, a bad one (the socket stays), resume, stop
    page.post(type="action", sid="s1", text='{"action": "pause"}')
    wait_until_sync(lambda: {"type": "status", "phase": "paused"} in page.texts("s1"), 10, "paused")
    assert subscription_of(page.bridge, "s1").paused
    page.post(type="action", sid="s1", text="dance")
    wait_until_sync(lambda: any(t.get("code") == "BAD_REQUEST" for t in page.texts("s1")), 10, "BAD_REQUEST")
    assert not any(t.get("fatal") for t in page.texts("s1")) and not page.of("closed", sid="s1")
    page.post(type="action", sid="s1", text='{"action": "resume"}')
    wait_until_sync(flowing(20_000), 10, "video after resume")
    page.post(type="action", sid="s1", text='{"action": "stop"}')
    wait_until_sync(lambda: {"type": "status", "phase": "stopped"} in page.texts("s1"), 10, "stopped")
    wait_until_sync(lambda: viewers(service, stream["id"]) == 0, 10, "the stopped socket to unsubscribe")

    # the page closes it: the bridge forgets it
    page.post(type="close", sid="s1")
    wait_until_sync(lambda: "s1" not in page.bridge.sockets, 10, "the socket to go")
    assert not page.of("closed", sid="s1")  # the page closed it: nothing to tell


def test_refused_sockets_close_before_opening(page, make_service, camera):
    attach(page, make_service())
    stream = add_camera(page, camera.url)
    page.post(type="open", sid="gone", stream_id="nope", profile="grid")
    page.post(type="open", sid="huge", stream_id=stream["id"], profile="huge")
    wait_until_sync(lambda: page.of("closed", sid="gone") and page.of("closed", sid="huge"), 10, "refusals")
    gone, huge = page.of("closed", sid="gone")[0][0], page.of("closed", sid="huge")[0][0]
    assert (gone["code"], gone["reason"]) == (4404, "no stream with this id")
    assert huge["code"] == 4400 and "unknown profile 'huge'" in huge["reason"]
    assert not page.of("open") and page.bridge.sockets == {}


def test_the_window_holds_back_video_until_the_page_acknowledges(page, make_service, camera):
    window = 64 * 1024
    service = make_service()
    bridge = attach(page, service, window=window)
    assert WINDOW == 512 * 1024  # the default
    stream = add_camera(page, camera.url)
    page.post(type="open", sid="s1", stream_id=stream["id"], profile="full")

    def held_back() -> bool:
        sub = subscription_of(bridge, "s1")
        # the relay goes on producing, but nothing more is sent
        return (
            sub is not None
            and sub.queued_bytes > 0
            and sum(map(len, page.data("s1"))) == bridge.sockets["s1"].unacked
        )

    wait_until_sync(held_back, 20, "the window to fill")
    sent = page.data("s1")
    total = sum(map(len, sent))
    assert total <= window or len(sent) == 1, "at most a window unacknowledged (or one larger chunk alone)"
    page.post(type="ack", sid="s1", bytes=total)
    wait_until_sync(lambda: sum(map(len, page.data("s1"))) > total, 10, "more video after the ack")


def test_a_page_that_stops_acknowledging_drops_to_iframes_then_is_disconnected(page, make_service, camera):
    service = make_service(subscriber_budget=24 * 1024, stuck_timeout=3.0)
    bridge = attach(page, service, window=32 * 1024)
    stream = add_camera(page, camera.url)
    page.post(type="open", sid="s1", stream_id=stream["id"], profile="full")
    sub = wait_until_sync(lambda: subscription_of(bridge, "s1"), 10, "the subscription")
    closed = wait_until_sync(lambda: page.of("closed", sid="s1"), 20, "the stuck page to be disconnected")
    assert (closed[0][0]["code"], closed[0][0]["reason"]) == (1008, "too slow")
    assert sub.drops > 0 and sub.dropped_bytes > 0, "over its budget, the subscription dropped to an I-frame"
    wait_until_sync(lambda: viewers(service, stream["id"]) == 0 and not bridge.sockets, 10, "no viewer left")


def test_closing_the_bridge_closes_every_socket_and_sends_nothing_more(page, make_service, camera):
    service = make_service()
    bridge = attach(page, service)
    stream = add_camera(page, camera.url)
    for sid in ("a", "b"):
        page.post(type="open", sid=sid, stream_id=stream["id"], profile="grid")
    wait_until_sync(lambda: viewers(service, stream["id"]) == 2, 10, "two viewers")
    bridge.close()
    assert bridge.sockets == {} and viewers(service, stream["id"]) == 0
    count = len(page.messages)
    bridge.handle({"type": "request", "id": "late", "method": "GET", "path": "health", "body": None})
    page.post(type="open", sid="c", stream_id=stream["id"], profile="grid")
    loop_thread().call(lambda: None)  # anything dispatched to the loop before this has run
    assert not bridge._tasks and len(page.messages) == count, "a closed bridge answers nothing"
    bridge.close()  # idempotent


def test_the_grid_serves_its_local_hubs_streams_and_closes_its_bridge(tmp_path):
    hub = rn.connect(local=True, store=str(tmp_path / "hub.db"))
    grid = hub.grid()
    bridge = grid._bridge
    assert bridge._service is None, "nothing is opened until the page talks to the kernel"
    assert bridge._ready()[0] is hub.transport.service
    plain = Grid()
    assert plain._bridge._source is local_service  # without a hub: the default store's service, when asked
    for widget in (grid, plain):
        widget.close()
        assert widget._bridge.closed


def test_only_a_request_or_a_socket_starts_the_service(page):
    calls: list[str] = []

    def unavailable() -> StreamService:
        calls.append("service")
        raise FFmpegNotFoundError("no FFmpeg here")

    bridge = KernelBridge(page.send, unavailable)
    page.bridge = bridge
    for kind in ("ack", "action", "close"):
        bridge.handle({"type": kind, "sid": "s1", "bytes": 10, "text": "{}"})
    bridge.handle({"type": "dance"})
    assert calls == [] and page.messages == []
    # the service cannot start: the page learns why, as an API error or a refused socket
    assert page.request("GET", "health") == (
        500,
        {"error": {"code": "FFMPEG_MISSING", "message": "no FFmpeg here"}},
    )
    page.post(type="open", sid="s1", stream_id="abc", profile="grid")
    assert page.of("closed", sid="s1")[0][0] == {
        "type": "closed",
        "sid": "s1",
        "code": 4500,
        "reason": "no FFmpeg here",
    }
    assert calls == ["service", "service"]
