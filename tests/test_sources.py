"""Source URLs: what is accepted (exact normalised fields), what is refused (exact messages, never a
password), masking of URLs and free text, and property tests over generated URLs and arbitrary text."""

from __future__ import annotations

import re
import subprocess
import unicodedata
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from rtsp_notebook.errors import InvalidURLError
from rtsp_notebook.media.sources import (
    DEMO_PATTERNS,
    SECRET_QUERY_KEYS,
    Source,
    mask_text,
    mask_url,
    parse_source,
)

PW = "hunter2-Secret"  # the password of every hostile URL below; no message may show it
USE = "use rtsp://, rtsps:// or demo://."
PATTERNS = (
    "cellauto, color, colorspectrum, gradients, life, mandelbrot, pal100bars, pal75bars, perlin, rgbtestsrc, "
    "sierpinski, smptebars, smptehdbars, testsrc, testsrc2, yuvtestsrc, zoneplate"
)

# The pinned messages.
NOT_STRING = "The stream URL must be a string, not {}."
EMPTY = "The stream URL is empty; use rtsp://, rtsps:// or demo://, as in rtsp://192.168.1.10:554/stream1."
TOO_LONG = "The stream URL is too long ({} characters); at most 2048 are allowed."
BAD_CHAR = (
    "The stream URL contains {} at position {}; remove it "
    "(write a space in a user name, password or path as %20)."
)
DASH = f"The stream URL must not start with '-'; {USE}"
NO_SCHEME = f"The stream URL has no scheme; {USE}"
UNSUPPORTED = f"The stream URL has an unsupported scheme; {USE}"
SCHEME = "The scheme '{}' is not supported; " + USE
NO_SLASHES = "The URL must start with 'rtsp://' and the host, as in rtsp://192.168.1.10:554/stream1."
DEMO_NO_SLASHES = (
    "A demo URL must start with 'demo://' and a pattern, as in demo://testsrc2?size=1280x720&fps=25."
)
FRAGMENT = (
    "The stream URL must not contain a fragment ('#'); remove it, or percent-encode '#' in a user name or "
    "password as %23."
)
AT_AFTER_HOST = (
    "The URL has an '@' after the host; percent-encode '@' as %40, and '/', '?' or '#' in a user name or "
    "password as %2F, %3F, %23."
)
TWO_ATS = (
    "The URL has more than one '@' before the host; percent-encode '@' in the user name or password as %40."
)
EMPTY_USER = (
    "The user name before '@' is empty; write user:password@ before the host, or leave the credentials out."
)
BAD_PERCENT = "The user name or password has a '%' not followed by two hex digits; write '%' as %25."
PORT = "The port must be a number from 1 to 65535, as in rtsp://192.168.1.10:554/."
NO_HOST = "The URL has no host; write the camera's address after '//', as in rtsp://192.168.1.10:554/stream1."
BAD_IPV6 = (
    "The host in brackets is not a valid IPv6 address (zone IDs are not supported); "
    "write it as in rtsp://[2001:db8::1]:554/stream1."
)
BARE_IPV6 = "An IPv6 host must be written in brackets, as in rtsp://[2001:db8::1]:554/stream1."
BAD_IPV4 = (
    "The host looks like an IPv4 address but is not one; use four numbers from 0 to 255 without leading "
    "zeros, as in 192.168.1.10."
)
BAD_HOST = (
    "The host is not a valid name or address; use letters, digits, hyphens and dots (labels of 1 to 63 "
    "characters, 253 in all; international names in punycode, xn--...), an IPv4 address or an IPv6 address "
    "in brackets."
)
DEMO_CREDENTIALS = "A demo URL takes no user name, password or port; write demo://<pattern>."
DEMO_UNKNOWN = f"Unknown demo pattern; use one of: {PATTERNS}."
DEMO_NO_PATTERN = f"The demo URL has no pattern; use one of: {PATTERNS}."
DEMO_PATH = "A demo URL takes no path; options go in the query, as in demo://testsrc2?size=1280x720&fps=25."
DEMO_OPTIONS = (
    "A demo URL accepts only the options size=WxH and fps=N, as in demo://testsrc2?size=1280x720&fps=25."
)
DEMO_TWICE = "The demo option '{}' is given more than once."
DEMO_SIZE = (
    "The demo size must be WxH with even numbers, width 16 to 3840 and height 16 to 2160, "
    "as in size=1280x720."
)
DEMO_FPS = "The demo fps must be a whole number from 1 to 60, as in fps=25."

# Every message parse_source can give, as patterns: nothing from the URL but numbers and known names.
MESSAGE_PATTERNS = [
    re.compile(re.escape(m).replace(r"\{\}", "{}").format(*groups))
    for m, groups in [
        (NOT_STRING, [r"\w+"]),
        (TOO_LONG, [r"\d+"]),
        (BAD_CHAR, [r"(a|an) [a-z ]+ \(U\+[0-9A-F]{4,6}\)", r"\d+"]),
        (SCHEME, [r"[a-z]+"]),
        (DEMO_TWICE, ["(size|fps)"]),
    ]
]
FIXED_MESSAGES = {
    EMPTY, DASH, NO_SCHEME, UNSUPPORTED, NO_SLASHES, NO_SLASHES.replace("rtsp", "rtsps"), DEMO_NO_SLASHES,
    FRAGMENT, AT_AFTER_HOST, TWO_ATS, EMPTY_USER, BAD_PERCENT, PORT, NO_HOST, BAD_IPV6, BARE_IPV6, BAD_IPV4,
    BAD_HOST, DEMO_CREDENTIALS, DEMO_UNKNOWN, DEMO_NO_PATTERN, DEMO_PATH, DEMO_OPTIONS, DEMO_SIZE, DEMO_FPS,
}  # fmt: skip


def is_known_message(message: str) -> bool:
    return message in FIXED_MESSAGES or any(p.fullmatch(message) for p in MESSAGE_PATTERNS)


def fields(source: Source) -> dict[str, Any]:
    return {name: getattr(source, name) for name in Source.__dataclass_fields__}


def camera(url: str, host: str, port: int | None = None, user: str | None = None, password: str | None = None,
           path: str = "") -> dict[str, Any]:  # fmt: skip
    return {
        "url": url, "scheme": url.split(":", 1)[0], "host": host, "port": port, "username": user,
        "password": password, "path": path, "pattern": None, "demo_size": (1280, 720), "demo_fps": 25,
    }  # fmt: skip


def demo(
    url: str, pattern: str, size: tuple[int, int] = (1280, 720), fps: int = 25, path: str = ""
) -> dict[str, Any]:
    return {
        "url": url, "scheme": "demo", "host": "", "port": None, "username": None, "password": None,
        "path": path, "pattern": pattern, "demo_size": size, "demo_fps": fps,
    }  # fmt: skip


LABEL63 = "a" * 63
ACCEPTED = [
    (
        "rtsp://192.168.1.10:554/stream1",
        camera("rtsp://192.168.1.10:554/stream1", "192.168.1.10", 554, path="/stream1"),
    ),
    (
        "RTSP://Admin:S3cr%40t@Cam.Example.COM:8554/Live/Main?channel=1",
        camera(
            "rtsp://Admin:S3cr%40t@cam.example.com:8554/Live/Main?channel=1",
            "cam.example.com",
            8554,
            "Admin",
            "S3cr@t",
            "/Live/Main?channel=1",
        ),
    ),
    ("rtsps://cam.example.com/live", camera("rtsps://cam.example.com/live", "cam.example.com", path="/live")),
    ("rtsp://[2001:DB8::1]:554/s", camera("rtsp://[2001:db8::1]:554/s", "2001:db8::1", 554, path="/s")),
    ("rtsp://[::ffff:10.0.0.1]/", camera("rtsp://[::ffff:10.0.0.1]/", "::ffff:10.0.0.1", path="/")),
    ("rtsp://viewer@10.0.0.5/", camera("rtsp://viewer@10.0.0.5/", "10.0.0.5", user="viewer", path="/")),
    ("rtsp://viewer:@cam/", camera("rtsp://viewer:@cam/", "cam", user="viewer", password="", path="/")),
    ("rtsp://u:pa:ss@cam/", camera("rtsp://u:pa:ss@cam/", "cam", user="u", password="pa:ss", path="/")),
    (
        "rtsp://u%3Ax:p%3A%2F%3F%23%25%40%20@cam/x",
        camera(
            "rtsp://u%3Ax:p%3A%2F%3F%23%25%40%20@cam/x", "cam", user="u:x", password="p:/?#%@ ", path="/x"
        ),
    ),
    ("rtsp://u:pässwörd@cam", camera("rtsp://u:pässwörd@cam", "cam", user="u", password="pässwörd")),
    ("rtsp://cam", camera("rtsp://cam", "cam")),
    ("rtsp://cam?token=abc", camera("rtsp://cam?token=abc", "cam", path="?token=abc")),
    ("rtsp://cam:1/", camera("rtsp://cam:1/", "cam", 1, path="/")),
    ("rtsp://cam:65535", camera("rtsp://cam:65535", "cam", 65535)),
    ("rtsp://cam:0554", camera("rtsp://cam:0554", "cam", 554)),
    ("rtsp://localhost/a%20b;x=1", camera("rtsp://localhost/a%20b;x=1", "localhost", path="/a%20b;x=1")),
    ("rtsp://my-cam.lan-2.local/", camera("rtsp://my-cam.lan-2.local/", "my-cam.lan-2.local", path="/")),
    (
        f"rtsp://{LABEL63}.b-c.xn--p1ai/",
        camera(f"rtsp://{LABEL63}.b-c.xn--p1ai/", f"{LABEL63}.b-c.xn--p1ai", path="/"),
    ),
    ("rtsp://cam1/", camera("rtsp://cam1/", "cam1", path="/")),
    ("demo://testsrc2", demo("demo://testsrc2", "testsrc2")),
    (
        "DEMO://SmpteBars?size=640x360&fps=15",
        demo("demo://smptebars?size=640x360&fps=15", "smptebars", (640, 360), 15, "?size=640x360&fps=15"),
    ),
    (
        "demo://mandelbrot?fps=1&size=3840X2160",
        demo(
            "demo://mandelbrot?fps=1&size=3840X2160", "mandelbrot", (3840, 2160), 1, "?fps=1&size=3840X2160"
        ),
    ),
    (
        "demo://life?size=16x16&fps=60",
        demo("demo://life?size=16x16&fps=60", "life", (16, 16), 60, "?size=16x16&fps=60"),
    ),
]


@pytest.mark.parametrize(("url", "expected"), ACCEPTED)
def test_accepted_urls_have_exact_normalised_fields(url: str, expected: dict[str, Any]) -> None:
    source = parse_source(url)
    assert fields(source) == expected
    assert parse_source(source.url) == source  # normalising is idempotent


@pytest.mark.parametrize("pattern", sorted(DEMO_PATTERNS))
def test_every_demo_pattern_is_accepted(pattern: str) -> None:
    assert parse_source(f"demo://{pattern}").pattern == pattern


def test_every_demo_pattern_runs_in_ffmpeg() -> None:
    ffmpeg = pytest.importorskip("imageio_ffmpeg").get_ffmpeg_exe()

    def argv(pattern: str) -> list[str]:
        graph = f"{pattern}=size=640x360:rate=25"
        return [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i", graph,
                "-frames:v", "3", "-f", "null", "-"]  # fmt: skip

    io: dict[str, Any] = {
        "stdin": subprocess.DEVNULL,
        "stdout": subprocess.DEVNULL,
        "stderr": subprocess.PIPE,
    }
    procs = {p: subprocess.Popen(argv(p), **io) for p in sorted(DEMO_PATTERNS)}
    failed = {}
    for pattern, proc in procs.items():
        try:
            _, err = proc.communicate(timeout=30)
        finally:
            proc.kill()
            proc.wait()
        if proc.returncode:
            failed[pattern] = err.decode(errors="replace")[-300:]
    assert failed == {}


REFUSED = [
    # not a string, empty, too long
    (None, NOT_STRING.format("NoneType")),
    (b"rtsp://cam/", NOT_STRING.format("bytes")),
    (554, NOT_STRING.format("int")),
    ("", EMPTY),
    ("rtsp://cam/" + "a" * 2038, TOO_LONG.format(2049)),
    # whitespace, control and invisible characters
    (f"rtsp://admin:{PW}@cam/ x", BAD_CHAR.format("a space (U+0020)", 33)),
    (f" rtsp://admin:{PW}@cam/", BAD_CHAR.format("a space (U+0020)", 1)),
    (f"rtsp://admin:{PW}@cam/\r\nCSeq: 2", BAD_CHAR.format("a line break (U+000D)", 33)),
    (f"rtsp://admin:{PW}@cam/\n-i file:/etc/passwd", BAD_CHAR.format("a line break (U+000A)", 33)),
    (f"rtsp://admin:{PW}@cam/\x00", BAD_CHAR.format("a control character (U+0000)", 33)),
    (f"rtsp://admin:{PW}@cam/\t", BAD_CHAR.format("a control character (U+0009)", 33)),
    (f"rtsp://admin:{PW}@cam/\x7f", BAD_CHAR.format("a control character (U+007F)", 33)),
    (f"rtsp://admin:{PW}@ca\u200bm/", BAD_CHAR.format("an invisible formatting character (U+200B)", 31)),
    (
        f"rtsp://admin:{PW}@cam/\u202egpj.exe",
        BAD_CHAR.format("an invisible formatting character (U+202E)", 33),
    ),
    (f"rtsp://admin:{PW}@cam/\ufeff", BAD_CHAR.format("an invisible formatting character (U+FEFF)", 33)),
    (f"rtsp://admin:{PW}@cam/\u00a0", BAD_CHAR.format("a space (U+00A0)", 33)),
    (f"rtsp://admin:{PW}@cam/\u2028", BAD_CHAR.format("a line break (U+2028)", 33)),
    (f"rtsp://admin:{PW}@cam/\u3000", BAD_CHAR.format("a space (U+3000)", 33)),
    (f"rtsp://admin:{PW}@cam/\ud800", BAD_CHAR.format("a control character (U+D800)", 33)),
    # argument injection and other schemes
    (f"-i rtsp://admin:{PW}@cam/", BAD_CHAR.format("a space (U+0020)", 3)),
    (f"-rtsp://admin:{PW}@cam/", DASH),
    ("-f", DASH),
    ("file:/etc/passwd", SCHEME.format("file")),
    ("FILE:///etc/passwd", SCHEME.format("file")),
    (f"http://admin:{PW}@cam/video", SCHEME.format("http")),
    (f"https://admin:{PW}@cam/video", SCHEME.format("https")),
    ("concat:rtsp://cam/a|file:/etc/passwd", SCHEME.format("concat")),
    ("subfile,,start,0,end,0,,:/etc/passwd", NO_SCHEME),
    ("subfile:/etc/passwd", SCHEME.format("subfile")),
    ("pipe:0", SCHEME.format("pipe")),
    ("data:text/plain;base64,AAAA", SCHEME.format("data")),
    ("udp://0.0.0.0:5000", SCHEME.format("udp")),
    ("tcp://cam:554", SCHEME.format("tcp")),
    (f"ftp://admin:{PW}@cam/x", SCHEME.format("ftp")),
    (f"admin:{PW}@cam/stream", UNSUPPORTED),
    (f"{PW}:x@cam", UNSUPPORTED),
    ("rtspx://cam/", UNSUPPORTED),
    ("cam.local/stream1", NO_SCHEME),
    ("192.168.1.10:554/stream1", NO_SCHEME),
    ("//cam/stream", NO_SCHEME),
    ("rtsp:/cam/stream", NO_SLASHES),
    (f"rtsp:admin:{PW}@cam", NO_SLASHES),
    ("rtsps:cam", NO_SLASHES.replace("rtsp", "rtsps")),
    ("demo:testsrc", DEMO_NO_SLASHES),
    # authority
    (f"rtsp://admin:{PW}@cam:0/", PORT),
    (f"rtsp://admin:{PW}@cam:65536/", PORT),
    (f"rtsp://admin:{PW}@cam:abc/", PORT),
    (f"rtsp://admin:{PW}@cam:/", PORT),
    (f"rtsp://admin:{PW}@cam:+554/", PORT),
    (f"rtsp://admin:{PW}@cam:\u0665\u0665\u0664/", PORT),  # Arabic-Indic digits
    (f"rtsp://admin:{PW}@cam:5540000/", PORT),
    (f"rtsp://admin:{PW}@[::1]:0/", PORT),
    (f"rtsp://admin:{PW}@/stream", NO_HOST),
    (f"rtsp://admin:{PW}@:554/stream", NO_HOST),
    ("rtsp:///stream", NO_HOST),
    ("rtsp://", NO_HOST),
    (f"rtsp://admin:{PW}@[::1/", BAD_IPV6),
    (f"rtsp://admin:{PW}@[::g]/", BAD_IPV6),
    (f"rtsp://admin:{PW}@[10.0.0.1]/", BAD_IPV6),
    (f"rtsp://admin:{PW}@[fe80::1%25eth0]/", BAD_IPV6),
    (f"rtsp://admin:{PW}@[::1]x/", BAD_IPV6),
    (f"rtsp://admin:{PW}@fe80::1/", BARE_IPV6),
    (f"rtsp://admin:{PW}@256.1.1.1/", BAD_IPV4),
    (f"rtsp://admin:{PW}@010.0.0.1/", BAD_IPV4),
    (f"rtsp://admin:{PW}@10.0.0/", BAD_IPV4),
    (f"rtsp://admin:{PW}@1234/", BAD_IPV4),
    (f"rtsp://admin:{PW}@cam_1/", BAD_HOST),
    (f"rtsp://admin:{PW}@-cam/", BAD_HOST),
    (f"rtsp://admin:{PW}@cam-/", BAD_HOST),
    (f"rtsp://admin:{PW}@cam..local/", BAD_HOST),
    (f"rtsp://admin:{PW}@cam.local./", BAD_HOST),
    (f"rtsp://admin:{PW}@{'a' * 64}.local/", BAD_HOST),
    (f"rtsp://admin:{PW}@{'.'.join(['a' * 63] * 4)}/", BAD_HOST),
    (f"rtsp://admin:{PW}@café.local/", BAD_HOST),
    (f"rtsp://admin:{PW}@cam\\evil/", BAD_HOST),
    # userinfo
    (f"rtsp://admin:{PW}@home@cam/", TWO_ATS),
    (f"rtsp://admin@corp:{PW}@cam/", TWO_ATS),
    (f"rtsp://admin:{PW}/x@cam/", AT_AFTER_HOST),
    (f"rtsp://admin:{PW}?x@cam/", AT_AFTER_HOST),
    (f"rtsp://cam/stream?email=admin@{PW}", AT_AFTER_HOST),
    (f"rtsp://:{PW}@cam/", EMPTY_USER),
    ("rtsp://@cam/", EMPTY_USER),
    (f"rtsp://admin:{PW}%@cam/", BAD_PERCENT),
    (f"rtsp://admin:{PW}%zz@cam/", BAD_PERCENT),
    # fragment
    (f"rtsp://admin:{PW}@cam/#frag", FRAGMENT),
    (f"rtsp://admin:{PW}#@cam/", FRAGMENT),
    ("demo://testsrc#x", FRAGMENT),
    # demo
    ("demo://", DEMO_NO_PATTERN),
    ("demo://nosuchpattern", DEMO_UNKNOWN),
    ("demo://movie", DEMO_UNKNOWN),
    ("demo://nullsrc", DEMO_UNKNOWN),
    ("demo://testsrc,drawtext=text=x", DEMO_UNKNOWN),
    ("demo://testsrc=size=1x1", DEMO_UNKNOWN),
    (f"demo://admin:{PW}@testsrc", DEMO_CREDENTIALS),
    ("demo://testsrc:8554", DEMO_CREDENTIALS),
    ("demo://testsrc/", DEMO_PATH),
    ("demo://testsrc/x?size=640x360", DEMO_PATH),
    ("demo://testsrc?size=641x360", DEMO_SIZE),
    ("demo://testsrc?size=640x361", DEMO_SIZE),
    ("demo://testsrc?size=14x14", DEMO_SIZE),
    ("demo://testsrc?size=3842x360", DEMO_SIZE),
    ("demo://testsrc?size=640x2162", DEMO_SIZE),
    ("demo://testsrc?size=640", DEMO_SIZE),
    ("demo://testsrc?size=640x360x2", DEMO_SIZE),
    ("demo://testsrc?size=", DEMO_SIZE),
    ("demo://testsrc?fps=0", DEMO_FPS),
    ("demo://testsrc?fps=61", DEMO_FPS),
    ("demo://testsrc?fps=2.5", DEMO_FPS),
    ("demo://testsrc?fps=", DEMO_FPS),
    ("demo://testsrc?rate=25", DEMO_OPTIONS),
    ("demo://testsrc?fps", DEMO_OPTIONS),
    ("demo://testsrc?FPS=25", DEMO_OPTIONS),
    ("demo://testsrc?fps=25&", DEMO_OPTIONS),
    (f"demo://testsrc?token={PW}", DEMO_OPTIONS),
    ("demo://testsrc?fps=25&fps=30", DEMO_TWICE.format("fps")),
]


@pytest.mark.parametrize(("url", "message"), REFUSED)
def test_refused_urls_have_exact_messages_without_secrets(url: object, message: str) -> None:
    with pytest.raises(InvalidURLError) as caught:
        parse_source(url)
    error = caught.value
    assert error.message == message == str(error)
    assert error.code == "INVALID_URL"
    assert error.to_dict() == {"code": "INVALID_URL", "message": message}
    for secret in (PW, quote(PW, safe=""), "admin"):
        assert secret not in error.message
    assert is_known_message(error.message)


def test_refused_table_is_large_and_every_message_is_known() -> None:
    assert len(REFUSED) >= 40
    assert all(is_known_message(message) for _, message in REFUSED)


MASKED = [
    ("rtsp://admin:pw@cam/x", "rtsp://admin:***@cam/x"),
    ("RTSP://Admin:p%40ss@Cam:554/x?a=1", "RTSP://Admin:***@Cam:554/x?a=1"),
    ("rtsp://admin:p@ss@cam/x", "rtsp://admin:***@cam/x"),  # invalid, yet masked to the last '@'
    ("rtsp://admin:a:b@c@cam", "rtsp://admin:***@cam"),
    ("rtsp://admin@cam/x", "rtsp://admin@cam/x"),
    ("rtsp://admin:@cam/x", "rtsp://admin:@cam/x"),
    ("rtsp://cam:554/x", "rtsp://cam:554/x"),
    ("rtsp://cam/x?token=abc&channel=1", "rtsp://cam/x?token=***&channel=1"),
    ("rtsp://cam/x?Channel=1&PassWord=abc", "rtsp://cam/x?Channel=1&PassWord=***"),
    ("rtsp://cam/x?%70wd=abc&%4B%65%59=def", "rtsp://cam/x?%70wd=***&%4B%65%59=***"),
    ("rtsp://cam/x?api_key=a=b&sig=", "rtsp://cam/x?api_key=***&sig="),
    ("rtsp://cam/x?a=1;auth=abc;b=2&c=3", "rtsp://cam/x?a=1;auth=***&c=3"),
    ("rtsp://u:p@cam/x?SECRET=s#token=t", "rtsp://u:***@cam/x?SECRET=***#token=t"),
    ("rtsp://cam/x?tokens=abc&mykey=1&key", "rtsp://cam/x?tokens=abc&mykey=1&key"),
    ("//u:p@cam/x", "//u:***@cam/x"),
    ("not a url ?access_token=abc", "not a url ?access_token=***"),
    ("", ""),
    ("demo://testsrc2?size=640x360", "demo://testsrc2?size=640x360"),
    ("http://u:pw@host/a?signature=x", "http://u:***@host/a?signature=***"),
]


@pytest.mark.parametrize(("url", "masked"), MASKED)
def test_mask_url(url: str, masked: str) -> None:
    assert mask_url(url) == masked


def test_mask_text_masks_urls_and_given_secrets() -> None:
    source = parse_source("rtsp://admin:p%40ss%20w@cam.local/live?token=t%2Bk+n&x=1")
    assert source.secrets == ("p%40ss%20w", "p@ss w", "t%2Bk+n", "t+k+n", "t+k n", "t%2Bk%2Bn", "t%2Bk%20n")
    stderr = (
        "[rtsp @ 0x55d0] method DESCRIBE failed: 401 Unauthorized\n"
        "Input #0, rtsp, from 'rtsp://admin:p%40ss%20w@cam.local/live?token=t%2Bk+n&x=1':\n"
        "rtsp://admin:p%40ss%20w@cam.local/live?token=t%2Bk+n&x=1: Server returned 401 Unauthorized\n"
        "auth with user admin password p@ss w, token t+k n failed; other=rtsp://u:zz@other/\n"
    )
    assert mask_text(stderr, source.secrets) == (
        "[rtsp @ 0x55d0] method DESCRIBE failed: 401 Unauthorized\n"
        "Input #0, rtsp, from 'rtsp://admin:***@cam.local/live?token=***&x=1':\n"
        "rtsp://admin:***@cam.local/live?token=***&x=1: Server returned 401 Unauthorized\n"
        "auth with user admin password ***, token *** failed; other=rtsp://u:***@other/\n"
    )
    assert mask_text("no secrets here", ()) == "no secrets here"
    assert mask_text("a ab abc", ["", "ab", "abc"]) == "a *** ***"  # longest first, empty ignored


def test_source_repr_str_and_display_forms_hide_the_password() -> None:
    source = parse_source(f"rtsp://Admin:{PW}@Cam.Local:554/live?Token=abc&channel=1")
    masked = "rtsp://Admin:***@cam.local:554/live?Token=***&channel=1"
    assert source.masked == str(source) == masked
    assert repr(source) == f"Source('{masked}')"
    assert source.without_credentials() == "rtsp://cam.local:554/live?Token=***&channel=1"
    assert source.secrets == (PW, "abc")
    assert f"{source}" == format(source) == masked
    assert PW not in repr([source]) and PW not in repr({"s": source})
    with pytest.raises(AttributeError):
        source.url = "rtsp://other/"  # type: ignore[misc]
    assert hash(source) == hash(parse_source(source.url))
    ipv6 = parse_source("rtsp://u:p@[2001:DB8::1]:8554/x")
    assert ipv6.without_credentials() == "rtsp://[2001:db8::1]:8554/x"
    assert parse_source("demo://testsrc").without_credentials() == "demo://testsrc"
    assert parse_source("demo://testsrc").secrets == ()


# ---- property tests ---------------------------------------------------------------------------------

FAST = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SUB_DELIMS = "!$&'()*+,;="
RAW_USER = st.text(alphabet="abcXYZ019-._~" + SUB_DELIMS, min_size=1)
RAW_PASSWORD = st.text(alphabet="abcXYZ019-._~:" + SUB_DELIMS, min_size=4)
LABEL = st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9-]{0,8}[A-Za-z0-9])?", fullmatch=True)
DNS_NAME = (
    st.lists(LABEL, min_size=1, max_size=4).map(".".join).filter(lambda h: not h.split(".")[-1].isdigit())
)
IPV4 = st.ip_addresses(v=4).map(str)
IPV6 = st.ip_addresses(v=6).flatmap(
    lambda ip: st.sampled_from([f"[{ip}]", f"[{str(ip).upper()}]", f"[{ip.exploded}]"])
)
PATH = st.one_of(
    st.sampled_from(["", "/", "/stream1", "/cam/realmonitor?channel=1&subtype=0", "/live.sdp", "?x=1"]),
    st.text(alphabet="abcXYZ0189-._~/!$'()*+,;=:%", max_size=20).map(lambda p: "/" + p),
)


def written(text: str, raw_ok: bool) -> str:
    """``text`` as it is written in the URL: raw when ``raw_ok`` and legal raw, otherwise percent-encoded."""
    return text if raw_ok and "%" not in text and "@" not in text else quote(text, safe="")


def sentinel_for(*texts: str) -> str:
    """A character in none of ``texts``, to stand for the mask while looking for a password."""
    return next(chr(c) for c in range(0xE000, 0xF900) if not any(chr(c) in t for t in texts))


@st.composite
def camera_urls(draw: st.DrawFn) -> dict[str, Any]:
    raw = draw(st.booleans())
    user = draw(RAW_USER if raw else st.text(min_size=1))
    password = draw(RAW_PASSWORD if raw else st.text(min_size=4))
    host = draw(st.one_of(DNS_NAME, IPV4, IPV6))
    port = draw(st.none() | st.integers(1, 65535))
    return {
        "scheme": draw(st.sampled_from(["rtsp", "rtsps", "RTSP", "Rtsps"])),
        "user": user, "password": password, "host": host, "port": port, "path": draw(PATH),
        "wuser": written(user, raw), "wpassword": written(password, raw),
    }  # fmt: skip


@FAST
@given(camera_urls())
def test_credentials_round_trip_and_never_show(case: dict[str, Any]) -> None:
    scheme, host, path = case["scheme"], case["host"], case["path"]
    port = "" if case["port"] is None else f":{case['port']}"
    url = f"{scheme}://{case['wuser']}:{case['wpassword']}@{host}{port}{path}"
    source = parse_source(url)
    assert (source.username, source.password) == (case["user"], case["password"])
    assert (source.scheme, source.host, source.port, source.path) == (
        scheme.lower(), host.lower().strip("[]"), case["port"], path
    )  # fmt: skip
    assert parse_source(source.url) == source

    masked = f"{scheme.lower()}://{case['wuser']}:***@{host.lower()}{port}{path}"
    text = f"ffmpeg: {url}: 401 Unauthorized"
    outputs = {
        "mask_url": mask_url(url), "masked": source.masked, "str": str(source), "repr": repr(source),
        "mask_text": mask_text(text, source.secrets), "without_credentials": source.without_credentials(),
    }  # fmt: skip
    as_written = f"{scheme}://{case['wuser']}:***@{host}{port}{path}"
    assert outputs["mask_url"] == as_written
    assert outputs["masked"] == outputs["str"] == masked
    assert outputs["repr"] == f"Source({masked!r})"
    assert outputs["without_credentials"] == f"{scheme.lower()}://{host.lower()}{port}{path}"
    forms = {case["password"], quote(case["password"], safe=""), case["wpassword"]}
    assert set(source.secrets) >= forms
    # What the outputs may legitimately hold: every part of the URL but the password, and the mask.
    others = f"{text.replace(url, masked)} {text.replace(url, as_written)} Source({masked!r})"
    for name, out in outputs.items():
        s = sentinel_for(out, others, *forms)
        for form in forms:
            if "*" not in form and form not in others.replace("***", s):
                assert form not in out.replace("***", s), name


def vary_key(draw: st.DrawFn, key: str) -> str:
    out = []
    for char in key:
        char = draw(st.sampled_from([char.lower(), char.upper()]))
        style = draw(st.sampled_from(["raw", "raw", "upper", "lower"]))
        code = f"%{ord(char):02X}"
        out.append(char if style == "raw" else code if style == "upper" else code.lower())
    return "".join(out)


@FAST
@given(st.data(), st.sampled_from(sorted(SECRET_QUERY_KEYS)), st.text(min_size=4), st.sampled_from("&;"))
def test_secret_query_values_are_masked_whatever_the_key_spelling(
    data: st.DataObject, key: str, value: str, sep: str
) -> None:
    written_key = vary_key(data.draw, key)
    written_value = quote(value, safe="")
    url = f"rtsp://cam.local/stream?channel=1{sep}{written_key}={written_value}&subtype=0"
    source = parse_source(url)
    assert source.masked == f"rtsp://cam.local/stream?channel=1{sep}{written_key}=***&subtype=0"
    assert {written_value, value} <= set(source.secrets)
    out = mask_text(f"from '{url}' and {value}", source.secrets)
    s = sentinel_for(out, value, written_value)
    for form in {value, written_value}:
        others = f"from 'rtsp://cam.local/stream?channel=1{sep}{written_key}={s}&subtype=0' and"
        if "*" not in form and form not in others:
            assert form not in out.replace("***", s)


SCHEME_NAME = st.from_regex(r"[A-Za-z][A-Za-z0-9+.\-]{0,12}", fullmatch=True).filter(
    lambda s: s.lower() not in {"rtsp", "rtsps", "demo"}
)


@FAST
@given(SCHEME_NAME, st.sampled_from(["://", ":", ":/", "://admin:pw@"]), st.text(max_size=40))
def test_any_other_scheme_is_refused(scheme: str, sep: str, rest: str) -> None:
    with pytest.raises(InvalidURLError) as caught:
        parse_source(scheme + sep + rest)
    assert is_known_message(caught.value.message)


@FAST
@given(st.text(max_size=60))
def test_text_without_an_accepted_prefix_is_refused(text: str) -> None:
    assume(not text.lower().startswith(("rtsp://", "rtsps://", "demo://")))
    with pytest.raises(InvalidURLError):
        parse_source(text)


BAD_CHARS = st.one_of(
    st.characters(categories=["Cc", "Cf", "Zs", "Zl", "Zp"]),
    st.sampled_from([c for c in map(chr, range(0x3000 + 1)) if c.isspace()]),
)
GOOD_URLS = [url for url, _ in ACCEPTED]


@FAST
@given(st.sampled_from(GOOD_URLS), BAD_CHARS, st.data())
def test_any_control_or_whitespace_character_is_refused(url: str, char: str, data: st.DataObject) -> None:
    at = data.draw(st.integers(0, len(url)))
    bad = url[:at] + char + url[at:]
    with pytest.raises(InvalidURLError) as caught:
        parse_source(bad)
    category = unicodedata.category(char)
    assert caught.value.message.startswith("The stream URL contains "), category
    assert f"U+{ord(char):04X}) at position {at + 1};" in caught.value.message


PREFIXES = [
    "rtsp://",
    "rtsps://",
    "demo://",
    "RTSP://",
    "demo://testsrc?",
    "rtsp://u:p@",
    "rtsp://[",
    "rtsp://cam:",
]
URLISH = st.text(alphabet="abcAZ019:@/?#[]%.-_~=&;+!*'()xX \t\n\u200b", max_size=40)
ANY_TEXT = st.one_of(st.text(max_size=80), st.tuples(st.sampled_from(PREFIXES), URLISH).map("".join))


@FAST
@given(ANY_TEXT)
def test_only_invalid_url_error_escapes_and_masking_never_raises(text: str) -> None:
    try:
        source = parse_source(text)
    except InvalidURLError as error:
        assert is_known_message(error.message), error.message
    else:
        assert source.scheme in ("rtsp", "rtsps", "demo")
        assert parse_source(source.url) == source
        assert source.masked == mask_url(source.url)
        if source.password:
            assert ":***@" in source.masked
    assert isinstance(mask_url(text), str)
    assert isinstance(mask_text(text, [text[:3]]), str)


@FAST
@given(st.one_of(st.none(), st.integers(), st.binary(), st.lists(st.text()), st.floats()))
def test_non_strings_are_refused(value: object) -> None:
    with pytest.raises(InvalidURLError, match=r"^The stream URL must be a string, not \w+\.$"):
        parse_source(value)
