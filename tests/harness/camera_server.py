"""The test camera: a GStreamer RTSP server serving a synthetic live stream on 127.0.0.1.

Runs under Debian's ``/usr/bin/python3`` (the GObject bindings live there, not in the project's venv), as a
child process of ``tests/harness/camera.py``. When it serves, it prints exactly one line to stdout::

    READY rtsp://127.0.0.1:<port><mount>

Errors go to stderr with a nonzero exit status. SIGTERM and SIGINT stop the main loop and exit 0; so does the
end of stdin with ``--exit-on-stdin-eof``, which also makes it read commands, one per line, from stdin:

    pattern NAME      switch the picture to videotestsrc's pattern NAME (``white``, ``black``, ``ball``, ...)

answered on stdout by ``PATTERN NAME <epoch seconds of the switch>``, then by ``FRAME NAME <epoch seconds>``
when the source's first picture of the new pattern leaves it (for ``black`` and ``white`` the picture's
centre is checked, so it is the first picture in the new colour; for other patterns it is the first
picture after the switch), or ``FRAME NAME -`` when no client is watching (no picture is being made). A bad
command is answered by ``ERROR <why>``. The pattern is kept for the clients that come later.

    clients           count the RTSP clients (TCP connections the server holds; FFmpeg opens one per session)

answered on stdout by ``CLIENTS <now> <peak>``: the clients connected now, and the most that were connected
at once since the camera started (so that a session that came and went between two questions still shows).

With ``--user`` the camera asks for a login, by ``--auth basic`` (the default) or ``--auth digest`` (most IP
cameras). The password may come from ``$RTSP_TEST_CAMERA_PASSWORD`` instead of ``--password``, which keeps it
out of ``ps``. ``--request-log PATH`` appends a line per DESCRIBE to PATH (``DESCRIBE login`` when it carries
credentials, else ``DESCRIBE none``), for tests that count login attempts. The stream is one shared media that
answers "not seekable", like a real camera: late clients wait for the next key frame (every ``--keyint``
frames, 2 s by default).

    /usr/bin/python3 tests/harness/camera_server.py --port 0 --width 640 --height 360 --fps 25 --pattern ball
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
import time

try:
    import gi

    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtsp", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib, Gst, GstRtsp, GstRtspServer
except (ImportError, ValueError) as exc:  # pragma: no cover - depends on the machine
    print(f"camera_server: GStreamer RTSP server bindings are missing: {exc}", file=sys.stderr)
    sys.exit(3)

ROLE = "camera-user"
PASSWORD_ENV = "RTSP_TEST_CAMERA_PASSWORD"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="GStreamer RTSP test camera")
    parser.add_argument("--port", type=int, default=0, help="TCP port; 0 lets the system choose a free one")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=360)
    parser.add_argument("--fps", type=int, default=25)
    parser.add_argument(
        "--pattern", default="ball", help="videotestsrc pattern: ball, snow, smpte, black, ..."
    )
    parser.add_argument(
        "--horizontal-speed", type=int, default=0, help="scroll the pattern this many pixels per frame"
    )
    parser.add_argument("--codec", choices=("h264", "h265", "mjpeg"), default="h264")
    parser.add_argument("--user", default=None)
    parser.add_argument(
        "--auth", choices=("basic", "digest"), default="basic", help="how --user logs in (cameras: digest)"
    )
    parser.add_argument(
        "--password", default=None, help=f"password (default: ${PASSWORD_ENV}, which keeps it out of ps)"
    )
    parser.add_argument("--mount", default="/cam")
    parser.add_argument("--keyint", type=int, default=None, help="frames between key frames (default 2*fps)")
    parser.add_argument(
        "--bframes", type=int, default=0, help="B-frames between references (no zerolatency tuning then)"
    )
    parser.add_argument(
        "--protocols", choices=("tcp+udp", "udp", "tcp"), default="tcp+udp", help="RTP transports offered"
    )
    parser.add_argument(
        "--request-log",
        default=None,
        help="append a line per DESCRIBE to this file: 'DESCRIBE login' (credentials), else 'DESCRIBE none'",
    )
    parser.add_argument(
        "--exit-on-stdin-eof",
        action="store_true",
        help="stop when stdin ends: the parent holds a pipe to it, so the camera never outlives the tests",
    )
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error("--port must be within 0..65535")
    if args.width <= 0 or args.height <= 0 or args.fps <= 0:
        parser.error("--width, --height and --fps must be positive")
    if args.keyint is not None and args.keyint <= 0:
        parser.error("--keyint must be positive")
    if args.bframes < 0:
        parser.error("--bframes must not be negative")
    if args.password is None and args.user is not None:
        args.password = os.environ.get(PASSWORD_ENV)
    if (args.user is None) != (args.password is None):
        parser.error("--user and --password go together")
    if not args.mount.startswith("/") or any(c.isspace() for c in args.mount):
        parser.error("--mount must start with '/' and hold no spaces")
    return args


def pipeline_description(args: argparse.Namespace) -> str:
    """The media's bin description, without the parentheses the factory wants around it."""
    keyint = args.keyint if args.keyint is not None else 2 * args.fps
    speed = f"horizontal-speed={args.horizontal_speed} " if args.horizontal_speed else ""
    source = (
        f"videotestsrc name=src is-live=true pattern={args.pattern} {speed}"
        f"! video/x-raw,format=I420,width={args.width},height={args.height},framerate={args.fps}/1 "
        "! timeoverlay"
    )
    if args.codec == "h264" and args.bframes:
        # like many real cameras: B-frames (zerolatency would turn them off) and a lookahead
        encode = (
            f"x264enc speed-preset=ultrafast bframes={args.bframes} b-adapt=false key-int-max={keyint} "
            "! video/x-h264,profile=main ! rtph264pay name=pay0 pt=96 config-interval=1"
        )
    elif args.codec == "h264":
        encode = (
            f"x264enc tune=zerolatency speed-preset=ultrafast key-int-max={keyint} "
            "! rtph264pay name=pay0 pt=96 config-interval=1"
        )
    elif args.codec == "mjpeg":
        # what old and cheap cameras send: every picture a JPEG (RTP/JPEG, RFC 2435); no keyframes to wait for
        encode = "jpegenc quality=70 ! rtpjpegpay name=pay0 pt=26"
    else:
        # zerolatency: no B-frames and no lookahead, so each frame leaves the encoder at once.
        encode = (
            f"x265enc tune=zerolatency speed-preset=ultrafast key-int-max={keyint} "
            "! rtph265pay name=pay0 pt=96 config-interval=1"
        )
    return f"{source} ! {encode}"


def check_pipeline(description: str) -> None:
    """Build the pipeline once so a bad pattern or a missing encoder fails now, not at the first client."""
    try:
        pipeline = Gst.parse_launch_full(description, None, Gst.ParseFlags.FATAL_ERRORS)
    except GLib.Error as exc:
        raise SystemExit(f"camera_server: invalid pipeline: {exc.message}\n  {description}") from None
    pipeline.set_state(Gst.State.NULL)


class Picture:
    """The pattern of the live media's videotestsrc, switched at run time by ``pattern NAME`` commands.

    A shared factory makes one media at a time (a new one when clients come back after all left): each
    new media's source starts with the current pattern, and a buffer probe on its output reports the
    first picture of a new pattern.
    """

    LUMA = {"white": True, "black": False}  # the centre of the picture is bright / dark

    def __init__(self, args: argparse.Namespace) -> None:
        self.pattern = args.pattern
        self.width, self.height = args.width, args.height
        self.sources: list[Gst.Element] = []
        self.pending: str | None = None  # a switched pattern whose first picture is still to come
        self.lock = threading.Lock()
        probe = Gst.ElementFactory.make("videotestsrc", None)
        values = probe.find_property("pattern").enum_class.__enum_values__.values()
        self.known = {v.value_nick for v in values}

    def attach(self, media: GstRtspServer.RTSPMedia) -> None:
        src = media.get_element().get_by_name("src")
        Gst.util_set_object_arg(src, "pattern", self.pattern)
        src.get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, self._on_buffer)
        with self.lock:
            self.sources.append(src)
        media.connect("unprepared", lambda _media: self._detach(src))

    def _detach(self, src: Gst.Element) -> None:
        with self.lock:
            if src in self.sources:
                self.sources.remove(src)

    def switch(self, name: str) -> None:
        if name not in self.known:
            print(f"ERROR unknown pattern {name!r}", flush=True)
            return
        with self.lock:
            self.pattern = name
            self.pending = name if self.sources else None
            for src in self.sources:
                Gst.util_set_object_arg(src, "pattern", name)
            print(f"PATTERN {name} {time.time():.6f}", flush=True)
            if not self.sources:
                print(f"FRAME {name} -", flush=True)

    def _on_buffer(self, _pad: Gst.Pad, info: Gst.PadProbeInfo) -> Gst.PadProbeReturn:
        name = self.pending
        if name is None:
            return Gst.PadProbeReturn.OK
        at = time.time()
        bright = self.LUMA.get(name)
        if bright is not None:  # I420: the luma plane comes first, its rows 4-byte aligned
            buffer = info.get_buffer()
            ok, mapped = buffer.map(Gst.MapFlags.READ)
            if not ok:
                return Gst.PadProbeReturn.OK
            try:
                stride = (self.width + 3) & ~3
                luma = mapped.data[(self.height // 2) * stride + self.width // 2]
            finally:
                buffer.unmap(mapped)
            if (luma > 128) != bright:
                return Gst.PadProbeReturn.OK
        with self.lock:
            if self.pending != name:
                return Gst.PadProbeReturn.OK
            self.pending = None
        print(f"FRAME {name} {at:.6f}", flush=True)
        return Gst.PadProbeReturn.OK

    def command(self, line: str) -> None:
        words = line.split()
        if len(words) == 2 and words[0] == "pattern":
            self.switch(words[1])
        elif words:
            print(f"ERROR unknown command {line!r}", flush=True)


class Clients:
    """The RTSP clients the server holds: each one from its ``client-connected`` signal to its ``closed``
    signal (the end of its TCP connection, whatever ended it: a TEARDOWN, a kill, the server)."""

    def __init__(self, server: GstRtspServer.RTSPServer) -> None:
        self.connected: set[GstRtspServer.RTSPClient] = set()
        self.peak = 0  # the most clients connected at once since the start
        server.connect("client-connected", self._on_connected)

    def _on_connected(self, _server: object, client: GstRtspServer.RTSPClient) -> None:
        self.connected.add(client)
        self.peak = max(self.peak, len(self.connected))
        client.connect("closed", self._on_closed)

    def _on_closed(self, client: GstRtspServer.RTSPClient) -> None:
        self.connected.discard(client)  # a set: a second "closed" of one client changes nothing

    def report(self) -> None:
        print(f"CLIENTS {len(self.connected)} {self.peak}", flush=True)


def build_server(
    args: argparse.Namespace, description: str, picture: Picture | None = None
) -> GstRtspServer.RTSPServer:
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))

    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(f"( {description} )")
    factory.set_shared(True)
    if args.protocols != "tcp+udp":  # e.g. VLC's RTSP server and older cameras: RTP over UDP only
        lower = GstRtsp.RTSPLowerTrans.UDP if args.protocols == "udp" else GstRtsp.RTSPLowerTrans.TCP
        factory.set_protocols(lower)
    factory.connect("media-configure", _on_media_configure)
    if picture is not None:
        factory.connect("media-configure", lambda _factory, media: picture.attach(media))

    if args.user is not None:
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, ROLE)
        if args.auth == "digest":
            auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
            auth.add_digest(args.user, args.password, token)
        else:
            auth.add_basic(GstRtspServer.RTSPAuth.make_basic(args.user, args.password), token)
        # No default token: a request without (valid) credentials has no role, so the server answers 401.
        server.set_auth(auth)
        permissions = GstRtspServer.RTSPPermissions()
        permissions.add_permission_for_role(ROLE, GstRtspServer.RTSP_PERM_MEDIA_FACTORY_ACCESS, True)
        permissions.add_permission_for_role(ROLE, GstRtspServer.RTSP_PERM_MEDIA_FACTORY_CONSTRUCT, True)
        factory.set_permissions(permissions)

    server.get_mount_points().add_factory(args.mount, factory)
    return server


def _on_media_configure(_factory: GstRtspServer.RTSPMediaFactory, media: GstRtspServer.RTSPMedia) -> None:
    # A live camera cannot seek, but videotestsrc says it can. The server then turns the "Range: npt=0-" of
    # each PLAY (FFmpeg sends one) into a flushing seek of the shared pipeline, which resets every other
    # client's stream and, with two clients starting at once, sometimes drops one. Answer "not seekable".
    payloader = media.get_element().get_by_name("pay0")
    payloader.get_static_pad("src").add_probe(Gst.PadProbeType.QUERY_UPSTREAM, _not_seekable)


def _not_seekable(_pad: Gst.Pad, info: Gst.PadProbeInfo) -> Gst.PadProbeReturn:
    query = info.get_query()
    if query is not None and query.type == Gst.QueryType.SEEKING:
        return Gst.PadProbeReturn.HANDLED  # answered with the query's defaults: not seekable
    return Gst.PadProbeReturn.OK


def log_requests(server: GstRtspServer.RTSPServer, path: str) -> None:
    """Append a line per DESCRIBE request to ``path`` (``DESCRIBE login`` when it carries an Authorization
    header: a login attempt, failed or not), so that tests count a client's attempts at the camera."""

    def on_describe(_client: object, ctx: GstRtspServer.RTSPContext) -> GstRtsp.RTSPStatusCode:
        result, _value = ctx.request.get_header(GstRtsp.RTSPHeaderField.AUTHORIZATION, 0)
        with open(path, "a", encoding="utf-8") as log:
            log.write("DESCRIBE login\n" if result == GstRtsp.RTSPResult.OK else "DESCRIBE none\n")
        return GstRtsp.RTSPStatusCode.OK

    def on_client(_server: object, client: GstRtspServer.RTSPClient) -> None:
        client.connect("pre-describe-request", on_describe)

    server.connect("client-connected", on_client)


def _drop_client(_server: object, _client: object, *_data: object) -> GstRtspServer.RTSPFilterResult:
    return GstRtspServer.RTSPFilterResult.REMOVE


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    Gst.init(None)
    description = pipeline_description(args)
    check_pipeline(description)
    picture = Picture(args)
    server = build_server(args, description, picture)
    clients = Clients(server)
    if args.request_log:
        log_requests(server, args.request_log)

    loop = GLib.MainLoop()
    source_id = server.attach(None)
    if source_id == 0:
        print(f"camera_server: cannot listen on 127.0.0.1:{args.port} (port in use?)", file=sys.stderr)
        return 2
    port = server.get_bound_port()
    if port <= 0:
        print("camera_server: the server reports no bound port", file=sys.stderr)
        return 2

    def on_signal(*_unused: object) -> bool:
        loop.quit()
        return GLib.SOURCE_CONTINUE

    for signum in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_HIGH, signum, on_signal)

    if args.exit_on_stdin_eof:
        pending = bytearray()

        def on_stdin(fd: int, condition: GLib.IOCondition) -> bool:
            data = b""
            if condition & GLib.IOCondition.IN:
                with contextlib.suppress(OSError):
                    data = os.read(fd, 4096)
            if data:
                pending.extend(data)
                while b"\n" in pending:  # commands, one per line
                    line, _, rest = bytes(pending).partition(b"\n")
                    pending[:] = rest
                    command = line.decode("utf-8", "replace")
                    if command.split() == ["clients"]:
                        clients.report()
                    else:
                        picture.command(command)
                return GLib.SOURCE_CONTINUE
            print("camera_server: stdin closed (parent gone), stopping", file=sys.stderr)
            loop.quit()
            return GLib.SOURCE_REMOVE

        watch = GLib.IOCondition.IN | GLib.IOCondition.HUP | GLib.IOCondition.ERR
        GLib.unix_fd_add_full(GLib.PRIORITY_DEFAULT, sys.stdin.fileno(), watch, on_stdin)

    print(f"READY rtsp://127.0.0.1:{port}{args.mount}", flush=True)
    loop.run()

    # Close the client connections and the listening socket before the process ends.
    server.client_filter(_drop_client)
    GLib.source_remove(source_id)
    return 0


if __name__ == "__main__":
    sys.exit(main())
