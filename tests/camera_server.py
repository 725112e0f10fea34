"""The test camera: a GStreamer RTSP server serving a synthetic live stream on 127.0.0.1.

Runs under Debian's ``/usr/bin/python3`` (the GObject bindings live there, not in the project's venv), as a
child process of ``tests/camera.py``. When it serves, it prints exactly one line to stdout::

    READY rtsp://127.0.0.1:<port><mount>

Errors go to stderr with a nonzero exit status. SIGTERM and SIGINT stop the main loop and exit 0; so does the
end of stdin with ``--exit-on-stdin-eof``. The password may come from ``$RTSP_TEST_CAMERA_PASSWORD`` instead
of ``--password``, which keeps it out of ``ps``. The stream is one shared media that answers "not seekable",
like a real camera: late clients wait for the next key frame (every ``--keyint`` frames, 2 s by default).

    /usr/bin/python3 tests/camera_server.py --port 0 --width 640 --height 360 --fps 25 --pattern ball
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys

try:
    import gi

    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib, Gst, GstRtspServer
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
    parser.add_argument("--codec", choices=("h264", "h265"), default="h264")
    parser.add_argument("--user", default=None)
    parser.add_argument(
        "--password", default=None, help=f"password (default: ${PASSWORD_ENV}, which keeps it out of ps)"
    )
    parser.add_argument("--mount", default="/cam")
    parser.add_argument("--keyint", type=int, default=None, help="frames between key frames (default 2*fps)")
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
    source = (
        f"videotestsrc is-live=true pattern={args.pattern} "
        f"! video/x-raw,format=I420,width={args.width},height={args.height},framerate={args.fps}/1 "
        "! timeoverlay"
    )
    if args.codec == "h264":
        encode = (
            f"x264enc tune=zerolatency speed-preset=ultrafast key-int-max={keyint} "
            "! rtph264pay name=pay0 pt=96 config-interval=1"
        )
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


def build_server(args: argparse.Namespace, description: str) -> GstRtspServer.RTSPServer:
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))

    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(f"( {description} )")
    factory.set_shared(True)
    factory.connect("media-configure", _on_media_configure)

    if args.user is not None:
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, ROLE)
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


def _drop_client(_server: object, _client: object, *_data: object) -> GstRtspServer.RTSPFilterResult:
    return GstRtspServer.RTSPFilterResult.REMOVE


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    Gst.init(None)
    description = pipeline_description(args)
    check_pipeline(description)
    server = build_server(args, description)

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

        def on_stdin(fd: int, condition: GLib.IOCondition) -> bool:
            data = b""
            if condition & GLib.IOCondition.IN:
                with contextlib.suppress(OSError):
                    data = os.read(fd, 4096)
            if data:
                return GLib.SOURCE_CONTINUE  # nothing is expected on stdin; ignore it
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
