"""Stream source URLs: validation, normalisation and masking of credentials.

``parse_source`` is the gate every URL passes before FFmpeg sees it: it accepts ``rtsp://`` and
``rtsps://`` cameras and ``demo://<pattern>`` synthetic cameras (FFmpeg lavfi), and refuses anything
else with an ``InvalidURLError`` whose message names the problem and what is allowed, never the URL
or its credentials. ``mask_url`` and ``mask_text`` replace passwords and secret query values with
``***`` in any string; ``Source.secrets`` lists the forms a source's secrets can take in such text.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote, unquote, unquote_plus

from ..errors import InvalidURLError

__all__ = [
    "DEMO_PATTERNS",
    "MAX_URL_LENGTH",
    "SECRET_QUERY_KEYS",
    "Source",
    "mask_text",
    "mask_url",
    "parse_source",
]

Scheme = Literal["rtsp", "rtsps", "demo"]

MAX_URL_LENGTH = 2048
MASK = "***"
DEMO_DEFAULT_SIZE = (1280, 720)
DEMO_DEFAULT_FPS = 25

#: lavfi video sources that take ``size`` and ``rate`` (checked with the FFmpeg 9.0 of imageio-ffmpeg;
#: older FFmpeg builds may lack the newest ones, such as zoneplate and perlin).
DEMO_PATTERNS: frozenset[str] = frozenset({
    "cellauto", "color", "colorspectrum", "gradients", "life", "mandelbrot", "pal75bars", "pal100bars",
    "perlin", "rgbtestsrc", "sierpinski", "smptebars", "smptehdbars", "testsrc", "testsrc2",
    "yuvtestsrc", "zoneplate",
})  # fmt: skip

#: Query keys whose values are masked, compared case-insensitively after percent-decoding.
SECRET_QUERY_KEYS = frozenset({
    "password", "pwd", "passwd", "pass", "token", "key", "auth", "secret", "signature", "sig",
    "apikey", "api_key", "access_token",
})  # fmt: skip

_SCHEMES: dict[str, Scheme] = {"rtsp": "rtsp", "rtsps": "rtsps", "demo": "demo"}
# Schemes a message may name; any other is "an unsupported scheme" (it may be a user name).
_KNOWN_SCHEMES = frozenset({
    "async", "cache", "concat", "concatf", "crypto", "data", "fd", "file", "ftp", "ftps", "gopher",
    "hls", "http", "https", "icecast", "javascript", "mms", "mmsh", "mmst", "pipe", "rist", "rtmp",
    "rtmps", "rtp", "rtspt", "rtspu", "sftp", "smb", "srt", "srtp", "subfile", "tcp", "tee", "tls",
    "udp", "unix", "ws", "wss", "zmq",
})  # fmt: skip
_BAD_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zs", "Zl", "Zp"})
_LINE_BREAKS = frozenset("\n\r\x0b\x0c\x1c\x1d\x1e\x85")
_KINDS = {
    "Zs": "a space",
    "Zl": "a line break",
    "Zp": "a line break",
    "Cf": "an invisible formatting character",
}

_SCHEME_RE = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")
_AUTHORITY_START_RE = re.compile(r"(?:[A-Za-z][A-Za-z0-9+.\-]*:)?//")
_URL_IN_TEXT_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s\"'`<>]*")
_LABEL_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?")
_DIGITS_RE = re.compile(r"[0-9]{1,5}")
_BAD_PERCENT_RE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_DEMO_SIZE_RE = re.compile(r"([0-9]{1,4})[xX]([0-9]{1,4})")

_USE = "use rtsp://, rtsps:// or demo://"
_EXAMPLE = "rtsp://192.168.1.10:554/stream1"
_DEMO_EXAMPLE = "demo://testsrc2?size=1280x720&fps=25"


def _split(url: str) -> tuple[str, str, str]:
    """``url`` as (``scheme://``, authority, rest); the first two are empty when there is no ``//``.

    The authority runs to the first '/', '?' or '#', as in RFC 3986 and FFmpeg's ``av_url_split``.
    """
    match = _AUTHORITY_START_RE.match(url)
    if match is None:
        return "", "", url
    start = match.end()
    end = min((i for i in (url.find(c, start) for c in "/?#") if i != -1), default=len(url))
    return url[:start], url[start:end], url[end:]


def _secret_spans(query: str) -> list[tuple[int, int]]:
    """Spans in ``query`` (without its '?') of the values of secret parameters.

    Parameters are split on '&'; a ';'-separated one inside is found too, and its value then runs to
    the next '&' so that nothing after a secret key stays visible.
    """
    spans: list[tuple[int, int]] = []
    pos = 0
    for part in query.split("&"):
        sub = pos
        for item in part.split(";"):
            key, eq, _ = item.partition("=")
            if eq and unquote(key).strip().casefold() in SECRET_QUERY_KEYS:
                spans.append((sub + len(key) + 1, pos + len(part)))
                break
            sub += len(item) + 1
        pos += len(part) + 1
    return spans


def _mask_query(rest: str) -> str:
    start = rest.find("?") + 1
    if not start:
        return rest
    end = rest.find("#", start)
    end = len(rest) if end == -1 else end
    query, out, last = rest[start:end], [rest[:start]], 0
    for a, b in _secret_spans(query):
        if a < b:
            out += [query[last:a], MASK]
            last = b
    return "".join(out) + query[last:] + rest[end:]


def mask_url(url: str) -> str:
    """``url`` with its password and the values of secret query parameters replaced by ``***``.

    Works on any string and never raises; the user name is kept, and a URL without credentials is
    returned unchanged. The password is everything between the first ':' of the userinfo and the last
    '@' of the authority.
    """
    head, authority, rest = _split(url)
    at = authority.rfind("@")
    colon = authority.find(":", 0, max(at, 0))
    if at != -1 and colon != -1 and colon + 1 < at:
        authority = authority[: colon + 1] + MASK + authority[at:]
    return head + authority + _mask_query(rest)


def mask_text(text: str, secrets: Iterable[str] = ()) -> str:
    """Free text (FFmpeg's stderr, a log line) with every URL masked and every given secret replaced."""
    text = _URL_IN_TEXT_RE.sub(lambda m: mask_url(m.group(0)), text)
    ordered = sorted({s for s in secrets if s}, key=len, reverse=True)
    return re.sub("|".join(map(re.escape, ordered)), MASK, text) if ordered else text


def _forms(written: str, *, plus: bool = False) -> list[str]:
    """A secret as written, percent-decoded and re-encoded (also with '+' read as a space if ``plus``)."""
    decoded = [unquote(written), *([unquote_plus(written)] if plus else [])]
    return [written, *decoded, *(quote(d, safe="") for d in decoded)]


@dataclass(frozen=True, repr=False)
class Source:
    """A validated stream source. ``url`` holds the password and is only for FFmpeg; show ``masked``."""

    url: str  # scheme and host lower-cased, otherwise as given
    scheme: Scheme
    host: str  # lower-cased; an IPv6 address without its brackets; "" for demo
    port: int | None
    username: str | None  # percent-decoded
    password: str | None  # percent-decoded
    path: str  # path and query as given
    pattern: str | None = None  # demo only
    demo_size: tuple[int, int] = DEMO_DEFAULT_SIZE
    demo_fps: int = DEMO_DEFAULT_FPS

    @property
    def masked(self) -> str:
        return mask_url(self.url)

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every form (as written, decoded, re-encoded) of the password and of secret query values."""
        userinfo, at, _ = _split(self.url)[1].rpartition("@")
        _, colon, written = userinfo.partition(":")
        forms = _forms(written) if at and colon else []
        query = self.path.partition("?")[2]
        forms += [f for a, b in _secret_spans(query) for f in _forms(query[a:b], plus=True)]
        return tuple(dict.fromkeys(f for f in forms if f))

    def without_credentials(self) -> str:
        """The URL for display: no user name or password, and secret query values masked."""
        head, authority, rest = _split(self.url)
        return mask_url(head + authority.rpartition("@")[2] + rest)

    def __repr__(self) -> str:
        return f"Source({self.masked!r})"

    def __str__(self) -> str:
        return self.masked


def _check_characters(url: str) -> None:
    for index, char in enumerate(url):
        category = unicodedata.category(char)
        if category in _BAD_CATEGORIES or char.isspace():
            kind = "a line break" if char in _LINE_BREAKS else _KINDS.get(category, "a control character")
            raise InvalidURLError(
                f"The stream URL contains {kind} (U+{ord(char):04X}) at position {index + 1}; remove it "
                "(write a space in a user name, password or path as %20)."
            )


def _is_ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return "%" not in text


def _check_host(host: str) -> str:
    """The host lower-cased (IPv6 without brackets); raises when it is no name or address."""
    if host.startswith("["):
        if not (host.endswith("]") and _is_ipv6(host[1:-1])):
            raise InvalidURLError(
                "The host in brackets is not a valid IPv6 address (zone IDs are not supported); "
                "write it as in rtsp://[2001:db8::1]:554/stream1."
            )
        return host[1:-1].lower()
    if not host:
        raise InvalidURLError(
            f"The URL has no host; write the camera's address after '//', as in {_EXAMPLE}."
        )
    if ":" in host:
        raise InvalidURLError(
            "An IPv6 host must be written in brackets, as in rtsp://[2001:db8::1]:554/stream1."
        )
    labels = host.split(".")
    if labels[-1].isascii() and labels[-1].isdigit():
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            raise InvalidURLError(
                "The host looks like an IPv4 address but is not one; use four numbers from 0 to 255 "
                "without leading zeros, as in 192.168.1.10."
            ) from None
    elif len(host) > 253 or not all(_LABEL_RE.fullmatch(label) for label in labels):
        raise InvalidURLError(
            "The host is not a valid name or address; use letters, digits, hyphens and dots (labels of "
            "1 to 63 characters, 253 in all; international names in punycode, xn--...), an IPv4 address "
            "or an IPv6 address in brackets."
        )
    return host.lower()


def _parse_camera(url: str, scheme: Scheme) -> Source:
    _, authority, rest = _split(url)
    if "@" in rest:
        raise InvalidURLError(
            "The URL has an '@' after the host; percent-encode '@' as %40, and '/', '?' or '#' in a "
            "user name or password as %2F, %3F, %23."
        )
    if authority.count("@") > 1:
        raise InvalidURLError(
            "The URL has more than one '@' before the host; percent-encode '@' in the user name or "
            "password as %40."
        )
    userinfo, at, hostport = authority.rpartition("@")
    username = password = None
    if at:
        written_user, colon, written_password = userinfo.partition(":")
        if not written_user:
            raise InvalidURLError(
                "The user name before '@' is empty; write user:password@ before the host, or leave "
                "the credentials out."
            )
        if _BAD_PERCENT_RE.search(userinfo):
            raise InvalidURLError(
                "The user name or password has a '%' not followed by two hex digits; write '%' as %25."
            )
        username = unquote(written_user)
        password = unquote(written_password) if colon else None
    host_written, port_written = hostport, None
    if hostport.startswith("[") and "]:" in hostport:
        host_written, _, port_written = hostport.partition("]:")
        host_written += "]"
    elif not hostport.startswith("[") and hostport.count(":") == 1:
        host_written, _, port_written = hostport.partition(":")
    port = None
    if port_written is not None:
        if not _DIGITS_RE.fullmatch(port_written) or not 1 <= int(port_written) <= 65535:
            raise InvalidURLError(
                "The port must be a number from 1 to 65535, as in rtsp://192.168.1.10:554/."
            )
        port = int(port_written)
    host = _check_host(host_written)
    port_part = "" if port_written is None else f":{port_written}"
    normal = f"{scheme}://{userinfo}{at}{host_written.lower()}{port_part}{rest}"
    return Source(normal, scheme, host, port, username, password, rest)


def _parse_demo(url: str) -> Source:
    _, pattern, rest = _split(url)
    pattern = pattern.lower()
    choices = ", ".join(sorted(DEMO_PATTERNS))
    if "@" in pattern or ":" in pattern:
        raise InvalidURLError("A demo URL takes no user name, password or port; write demo://<pattern>.")
    if pattern not in DEMO_PATTERNS:
        what = "Unknown demo pattern" if pattern else "The demo URL has no pattern"
        raise InvalidURLError(f"{what}; use one of: {choices}.")
    if rest and not rest.startswith("?"):
        raise InvalidURLError(f"A demo URL takes no path; options go in the query, as in {_DEMO_EXAMPLE}.")
    options: dict[str, str] = {}
    for item in rest[1:].split("&") if rest[1:] else []:
        key, eq, value = item.partition("=")
        if not eq or key not in ("size", "fps"):
            raise InvalidURLError(
                f"A demo URL accepts only the options size=WxH and fps=N, as in {_DEMO_EXAMPLE}."
            )
        if key in options:
            raise InvalidURLError(f"The demo option '{key}' is given more than once.")
        options[key] = value
    size, fps = DEMO_DEFAULT_SIZE, DEMO_DEFAULT_FPS
    if "size" in options:
        match = _DEMO_SIZE_RE.fullmatch(options["size"])
        size = (int(match.group(1)), int(match.group(2))) if match else (0, 0)
        if not (16 <= size[0] <= 3840 and 16 <= size[1] <= 2160 and size[0] % 2 == size[1] % 2 == 0):
            raise InvalidURLError(
                "The demo size must be WxH with even numbers, width 16 to 3840 and height 16 to 2160, "
                "as in size=1280x720."
            )
    if "fps" in options:
        fps = int(options["fps"]) if _DIGITS_RE.fullmatch(options["fps"]) else 0
        if not 1 <= fps <= 60:
            raise InvalidURLError("The demo fps must be a whole number from 1 to 60, as in fps=25.")
    return Source(f"demo://{pattern}{rest}", "demo", "", None, None, None, rest, pattern, size, fps)


def parse_source(url: object) -> Source:
    """Validate and normalise a stream URL; raises InvalidURLError with a message that is safe to show."""
    if not isinstance(url, str):
        raise InvalidURLError(f"The stream URL must be a string, not {type(url).__name__}.")
    if not url:
        raise InvalidURLError(f"The stream URL is empty; {_USE}, as in {_EXAMPLE}.")
    if len(url) > MAX_URL_LENGTH:
        raise InvalidURLError(
            f"The stream URL is too long ({len(url)} characters); at most {MAX_URL_LENGTH} are allowed."
        )
    _check_characters(url)
    if url.startswith("-"):
        raise InvalidURLError(f"The stream URL must not start with '-'; {_USE}.")
    match = _SCHEME_RE.match(url)
    if match is None:
        raise InvalidURLError(f"The stream URL has no scheme; {_USE}.")
    name = match.group(1).lower()
    scheme = _SCHEMES.get(name)
    if scheme is None:
        if name in _KNOWN_SCHEMES:
            raise InvalidURLError(f"The scheme '{name}' is not supported; {_USE}.")
        raise InvalidURLError(f"The stream URL has an unsupported scheme; {_USE}.")
    if not url[match.end() :].startswith("//"):
        if scheme == "demo":
            raise InvalidURLError(
                f"A demo URL must start with 'demo://' and a pattern, as in {_DEMO_EXAMPLE}."
            )
        example = _EXAMPLE.replace("rtsp", scheme, 1)
        raise InvalidURLError(f"The URL must start with '{scheme}://' and the host, as in {example}.")
    if "#" in url:
        raise InvalidURLError(
            "The stream URL must not contain a fragment ('#'); remove it, or percent-encode '#' in a "
            "user name or password as %23."
        )
    return _parse_demo(url) if scheme == "demo" else _parse_camera(url, scheme)
