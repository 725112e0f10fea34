"""Broken upstreams, for the error cases: small real servers on 127.0.0.1 that are not a working camera.

Each is a context manager that binds a free port, serves from a background thread and, on exit, closes its
listening socket and every connection it accepted, and joins its threads. A server owns its threads, so it is
used the same way from sync and async tests (entering and leaving it never waits on the event loop)::

    with SilentPort() as up:          # accepts TCP connections, never answers
        up.url                        # rtsp://127.0.0.1:<port>/cam
    with HttpServer(status=404):      # a web server on the camera's port (keep_alive=True: a lenient one)
    with JunkServer():                # random bytes, then close (reset=True: with a TCP reset)
    with RtspStatusServer(status=460, reason="Only aggregate operation allowed", method="PLAY"):
    unresolvable_url()                # rtsp://camera.invalid:554/cam (RFC 2606: .invalid never resolves)
    stop_mid_stream(camera)           # the real GStreamer camera (tests/harness/camera.py) leaves its clients

``connections`` counts the accepted connections and ``requests`` holds the request lines the HTTP and RTSP
servers read (``"DESCRIBE rtsp://... RTSP/1.0"``), e.g. to count attempts.

Everything a camera can do wrong that the real GStreamer camera can do (a wrong password, basic or digest; a
wrong path; UDP only; no TLS; stopping; hanging) is done with the real camera, ``tests/harness/camera.py``.
"""

from __future__ import annotations

import contextlib
import os
import random
import selectors
import signal
import socket
import struct
import threading
from http import HTTPStatus
from types import TracebackType
from typing import TYPE_CHECKING, ClassVar, TypeVar

if TYPE_CHECKING:
    from tests.harness.camera import TestCamera

__all__ = [
    "UNRESOLVABLE_HOST",
    "HttpServer",
    "JunkServer",
    "RtspStatusServer",
    "SilentPort",
    "stop_mid_stream",
    "unresolvable_url",
]

HOST = "127.0.0.1"
UNRESOLVABLE_HOST = "camera.invalid"  # RFC 2606 / RFC 6761: names under .invalid never resolve
READ_SIZE = 65536
MAX_HEAD = 65536  # a request head longer than this is not one

_U = TypeVar("_U", bound="_Upstream")


def unresolvable_url(path: str = "/cam", port: int = 554, scheme: str = "rtsp") -> str:
    """A camera URL whose host name never resolves (``rtsp://camera.invalid:554/cam``).

    Raises ``AssertionError`` if this machine's resolver answers for it anyway (a resolver that forges
    answers would make the case meaningless).
    """
    with contextlib.suppress(socket.gaierror):
        found = socket.getaddrinfo(UNRESOLVABLE_HOST, port, type=socket.SOCK_STREAM)
        raise AssertionError(f"{UNRESOLVABLE_HOST} resolves on this machine: {found}")
    return f"{scheme}://{UNRESOLVABLE_HOST}:{port}{path}"


def stop_mid_stream(camera: TestCamera, *, kill: bool = False) -> None:
    """Make the real camera go away under its clients, who then read the end of their RTSP connection.

    By default the camera's server stops the way it does on SIGTERM: it closes each client's connection,
    like a camera rebooting. ``kill=True`` sends SIGKILL instead (a crash: the kernel closes the sockets).
    Either way the camera is reaped and can be started again on the same port with ``camera.start()``.
    (A camera that hangs with its connections open is ``camera.pause()``.)
    """
    if kill and camera.pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(camera.pid, signal.SIGKILL)  # its own process group (start_new_session)
    camera.stop()


class _Upstream:
    """A TCP server on 127.0.0.1: one thread accepts, one thread per connection runs :meth:`handle`."""

    scheme = "rtsp"

    def __init__(self, *, path: str = "/cam", join_timeout: float = 5.0) -> None:
        self.path = path
        self.join_timeout = join_timeout
        self.connections = 0  # accepted so far
        self.requests: list[str] = []  # request lines read (HTTP and RTSP servers)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._listener: socket.socket | None = None
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        self._accepter: threading.Thread | None = None
        self._open: set[socket.socket] = set()
        self._handlers: list[threading.Thread] = []
        self._port = 0

    # --- addresses --------------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if not self._port:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return self._port

    @property
    def url(self) -> str:
        return self.url_with()

    def url_with(
        self, user: str | None = None, password: str | None = None, *, scheme: str | None = None
    ) -> str:
        """This server's URL, optionally with credentials or another scheme (e.g. ``rtsps``)."""
        userinfo = "" if user is None else f"{user}:{password}@" if password is not None else f"{user}@"
        return f"{scheme or self.scheme}://{userinfo}{HOST}:{self.port}{self.path}"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} port={self._port or None} connections={self.connections}>"

    # --- life cycle -------------------------------------------------------------------------------------

    def start(self: _U) -> _U:
        if self._listener is not None:
            return self
        self._stopping.clear()
        self._listener = socket.create_server((HOST, 0), backlog=64)
        self._port = self._listener.getsockname()[1]
        self._wake_r, self._wake_w = socket.socketpair()
        self._accepter = threading.Thread(
            target=self._accept_loop, name=f"{type(self).__name__}-{self._port}", daemon=True
        )
        self._accepter.start()
        return self

    def stop(self) -> None:
        """Close the listening socket and every connection, and join the threads. Idempotent."""
        if self._listener is None:
            return
        self._stopping.set()
        assert self._wake_w is not None and self._accepter is not None
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")
        self._accepter.join(self.join_timeout)
        with self._lock:
            conns = list(self._open)
            handlers = list(self._handlers)
        for conn in conns:  # wakes a handler blocked in recv()
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        for thread in handlers:
            thread.join(self.join_timeout)
        with self._lock:
            conns = list(self._open)
            self._open.clear()
            self._handlers.clear()
        for conn in conns:
            conn.close()
        for sock in (self._listener, self._wake_r, self._wake_w):
            if sock is not None:
                sock.close()
        self._listener = self._wake_r = self._wake_w = None
        self._accepter = None
        stuck = [t.name for t in handlers if t.is_alive()]
        if stuck:
            raise RuntimeError(f"{type(self).__name__}: threads still running after stop: {stuck}")

    def __enter__(self: _U) -> _U:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _accept_loop(self) -> None:
        assert self._listener is not None and self._wake_r is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self._listener, selectors.EVENT_READ)
            selector.register(self._wake_r, selectors.EVENT_READ)
            while not self._stopping.is_set():
                for key, _events in selector.select():
                    if key.fileobj is not self._listener or self._stopping.is_set():
                        continue
                    try:
                        conn, _addr = self._listener.accept()
                    except OSError:
                        continue
                    conn.setblocking(True)
                    thread = threading.Thread(
                        target=self._run_handler,
                        args=(conn,),
                        name=f"{type(self).__name__}-conn",
                        daemon=True,
                    )
                    with self._lock:
                        self.connections += 1
                        self._open.add(conn)
                        self._handlers.append(thread)
                    thread.start()

    def _run_handler(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            self.handle(conn)
        self._close(conn)

    def _close(self, conn: socket.socket) -> None:
        with self._lock:
            self._open.discard(conn)
        conn.close()

    # --- for the handlers -------------------------------------------------------------------------------

    def handle(self, conn: socket.socket) -> None:
        raise NotImplementedError

    @staticmethod
    def _finish(conn: socket.socket, linger: float = 1.0) -> None:
        """End our side gently: FIN after what we sent, then read what the client still sends (a close with
        unread data would send RST, and the client might lose our answer)."""
        with contextlib.suppress(OSError):
            conn.shutdown(socket.SHUT_WR)
            conn.settimeout(linger)
            while conn.recv(READ_SIZE):
                pass

    def _read_head(self, conn: socket.socket, buffer: bytearray) -> bytes | None:
        """The next request head (up to the empty line) from ``buffer`` and ``conn``; None at EOF."""
        while True:
            end = buffer.find(b"\r\n\r\n")
            if end >= 0:
                head = bytes(buffer[: end + 4])
                del buffer[: end + 4]
                line = head.split(b"\r\n", 1)[0].decode("latin-1")
                with self._lock:
                    self.requests.append(line)
                return head
            if len(buffer) > MAX_HEAD:
                return None
            data = conn.recv(READ_SIZE)
            if not data:
                return None
            buffer.extend(data)


class SilentPort(_Upstream):
    """Accepts TCP connections and never answers (reads and drops what the client sends), like a camera
    whose RTSP service hangs, or a port that something else holds. ``received`` counts the bytes read."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.received = 0

    def handle(self, conn: socket.socket) -> None:
        while data := conn.recv(READ_SIZE):
            with self._lock:
                self.received += len(data)


class HttpServer(_Upstream):
    """A web server on the camera's port: answers a request with ``HTTP/1.1 <status>`` and a small HTML page
    (a camera's web interface, or a URL with the wrong port), then closes the connection.

    ``keep_alive=True`` is a lenient server that keeps the connection and answers every request on it. FFmpeg
    takes the ``HTTP/1.1 200 OK`` line for a request from the server and answers it ``RTSP/1.0 501 Not
    Implemented``, which this server answers again, and so on: the two talk forever with nothing on FFmpeg's
    stderr, and FFmpeg's ``-timeout`` (silence) never fires. (nginx and Python's ``http.server`` answer a
    ``RTSP/1.0`` request line with 400 and close, the default.)
    """

    def __init__(self, status: int = 200, *, keep_alive: bool = False, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.status = HTTPStatus(status)
        self.keep_alive = keep_alive

    def handle(self, conn: socket.socket) -> None:
        title = f"{self.status.value} {self.status.phrase}"
        body = (
            f"<!DOCTYPE html>\n<html><head><title>{title}</title></head>"
            f"<body><h1>{title}</h1><p>IP Camera web interface</p></body></html>\n"
        ).encode()
        answer = (
            f"HTTP/1.1 {title}\r\nServer: test-httpd\r\nContent-Type: text/html; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\nConnection: {'keep-alive' if self.keep_alive else 'close'}"
            "\r\n\r\n"
        ).encode() + body
        buffer = bytearray()
        while self._read_head(conn, buffer) is not None:
            conn.sendall(answer)
            if not self.keep_alive:
                self._finish(conn)
                return


class JunkServer(_Upstream):
    """Answers every connection with ``size`` random bytes (after the client's first bytes, or at once if
    it sends none within ``wait`` seconds), then closes it. The bytes come from ``random.Random(seed)``:
    the same junk each run (a new seed per connection: ``seed + n``).

    The close is gentle by default (FIN, and what the client still sends is read): FFmpeg then reports
    ``End of file``. ``reset=True`` closes with a TCP reset instead, and FFmpeg reports ``Connection reset by
    peer``; a server that closes with the client's request unread does that too, by chance of timing.
    """

    def __init__(
        self, size: int = 4096, seed: int = 12, wait: float = 2.0, *, reset: bool = False, **kwargs: object
    ) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.size = size
        self.seed = seed
        self.wait = wait
        self.reset = reset
        self._served = 0

    def handle(self, conn: socket.socket) -> None:
        with self._lock:
            n = self._served
            self._served += 1
        conn.settimeout(self.wait)
        with contextlib.suppress(TimeoutError):
            conn.recv(READ_SIZE)
        conn.settimeout(None)
        conn.sendall(random.Random(self.seed + n).randbytes(self.size))
        if self.reset:  # SO_LINGER 0: close() sends RST
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        else:
            self._finish(conn)


class RtspStatusServer(_Upstream):
    """A minimal fake RTSP server that answers one method with an RTSP error status.

    The one fake camera in the tests: real RTSP servers do not produce a status such as 460 ("Only aggregate
    operation allowed") or 462 on demand, so this server plays a camera well enough to get a client to that
    method: OPTIONS, DESCRIBE (an SDP for one H.264 video track, the SPS/PPS of the GStreamer test camera
    at 640x360), SETUP over TCP interleaved (a request for UDP gets 461 Unsupported transport), PLAY,
    GET_PARAMETER and TEARDOWN; and answers ``method`` with ``status reason`` instead. It sends no media: a
    PLAY it accepts is followed by silence. Everything else a camera does wrong is done with the real one.
    """

    SDP = (
        "v=0\r\n"
        "o=- 1 1 IN IP4 127.0.0.1\r\n"
        "s=Fake camera\r\n"
        "t=0 0\r\n"
        "a=control:*\r\n"
        "a=range:npt=now-\r\n"
        "m=video 0 RTP/AVP 96\r\n"
        "c=IN IP4 0.0.0.0\r\n"
        "a=rtpmap:96 H264/90000\r\n"
        "a=framerate:25\r\n"
        "a=fmtp:96 packetization-mode=1;profile-level-id=42c01e;"
        "sprop-parameter-sets=Z0LAHtoCgL/lwFqDAwNSgAAAAwCAAAAZR4sXUA==,aM48gA==\r\n"
        "a=control:stream=0\r\n"
    )
    METHODS: ClassVar[tuple[str, ...]] = ("OPTIONS", "DESCRIBE", "SETUP", "PLAY", "GET_PARAMETER", "TEARDOWN")
    SESSION = "4a3c1f7e"

    def __init__(
        self,
        status: int = 460,
        reason: str = "Only aggregate operation allowed",
        method: str = "PLAY",
        **kwargs: object,
    ) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        if method not in self.METHODS:
            raise ValueError(f"method must be one of {self.METHODS}, not {method!r}")
        self.status = status
        self.reason = reason
        self.method = method

    def handle(self, conn: socket.socket) -> None:
        buffer = bytearray()
        while True:
            while buffer[:1] == b"$":  # interleaved data from the client (RTCP receiver reports)
                while len(buffer) < 4:
                    if not (data := conn.recv(READ_SIZE)):
                        return
                    buffer.extend(data)
                size = 4 + int.from_bytes(buffer[2:4], "big")
                while len(buffer) < size:
                    if not (data := conn.recv(READ_SIZE)):
                        return
                    buffer.extend(data)
                del buffer[:size]
            head = self._read_head(conn, buffer)
            if head is None:
                return
            lines = head.decode("latin-1").split("\r\n")
            method, _, rest = lines[0].partition(" ")
            url = rest.rsplit(" ", 1)[0]
            headers = {}
            for line in lines[1:]:
                name, sep, value = line.partition(":")
                if sep:
                    headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length", "0") or 0)
            while len(buffer) < length:
                if not (data := conn.recv(READ_SIZE)):
                    return
                buffer.extend(data)
            del buffer[:length]
            conn.sendall(self._answer(method, url, headers))
            if method == "TEARDOWN":
                self._finish(conn)
                return

    def _answer(self, method: str, url: str, headers: dict[str, str]) -> bytes:
        cseq = headers.get("cseq", "0")
        extra: list[str] = []
        body = ""
        if method == self.method:
            status, reason = self.status, self.reason
        elif method == "OPTIONS":
            status, reason = 200, "OK"
            extra.append("Public: " + ", ".join(self.METHODS))
        elif method == "DESCRIBE":
            status, reason = 200, "OK"
            body = self.SDP
            extra += ["Content-Type: application/sdp", f"Content-Base: {url.rstrip('/')}/"]
        elif method == "SETUP":
            transport = headers.get("transport", "")
            if "RTP/AVP/TCP" not in transport.upper():
                status, reason = 461, "Unsupported transport"
            else:
                status, reason = 200, "OK"
                interleaved = next(
                    (p for p in transport.split(";") if p.startswith("interleaved=")), "interleaved=0-1"
                )
                extra += [
                    f"Transport: RTP/AVP/TCP;unicast;{interleaved}",
                    f"Session: {self.SESSION};timeout=60",
                ]
        elif method in ("PLAY", "GET_PARAMETER", "TEARDOWN"):
            status, reason = 200, "OK"
            if method == "PLAY":
                extra += [f"Session: {self.SESSION}", "Range: npt=now-"]
        else:
            status, reason = 501, "Not Implemented"
        head = [f"RTSP/1.0 {status} {reason}", f"CSeq: {cseq}", "Server: fake-rtsp", *extra]
        if body:
            head.append(f"Content-Length: {len(body.encode())}")
        return ("\r\n".join(head) + "\r\n\r\n" + body).encode()
