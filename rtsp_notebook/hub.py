"""``rn.connect()``: the streams of the Jupyter server this kernel runs under, from notebook cells.

The hub calls the server extension's REST API with the server's token (found through
``JPY_PARENT_PID``, the server that started this kernel, in Jupyter's runtime files). Calls block the
cell, never the server: they are plain HTTP requests from the kernel process.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import (
    ConflictError,
    InvalidInputError,
    InvalidURLError,
    LimitError,
    RtspNotebookError,
    StoreError,
    StreamNotFoundError,
    source_error_for_code,
)

if TYPE_CHECKING:
    import pandas as pd

    from .widget import Grid

__all__ = ["Hub", "ServerUnavailableError", "Stream", "connect"]

REQUEST_TIMEOUT_S = 30.0
_ERRORS: dict[str, type[RtspNotebookError]] = {
    cls.code: cls
    for cls in (
        InvalidURLError,
        InvalidInputError,
        StreamNotFoundError,
        ConflictError,
        LimitError,
        StoreError,
    )
}


class ServerUnavailableError(RtspNotebookError):
    """No Jupyter server with the rtsp-notebook extension could be reached."""

    code = "SERVER_UNAVAILABLE"


def _error(status: int, body: bytes) -> RtspNotebookError:
    try:
        error = json.loads(body)["error"]
        code, message = str(error["code"]), str(error["message"])
    except (ValueError, KeyError, TypeError):
        return RtspNotebookError(f"the server answered HTTP {status}")
    if status == 404 and code == "NOT_FOUND":
        return StreamNotFoundError(message)
    cls = _ERRORS.get(code) or source_error_for_code(code)
    return cls(message)


@dataclass(frozen=True)
class Stream:
    """A stream as the server lists it. ``url`` is masked: it never holds the password."""

    id: str
    label: str
    url: str
    state: str
    viewers: int
    last_error: str | None
    options: dict[str, Any] = field(default_factory=dict)
    created_at: str = ""
    updated_at: str = ""
    hub: Hub | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_api(cls, data: dict[str, Any], hub: Hub) -> Stream:
        return cls(
            id=data["id"], label=data["label"], url=data["url"], state=data.get("state", "idle"),
            viewers=int(data.get("viewers", 0)), last_error=data.get("last_error"),
            options=dict(data.get("options") or {}), created_at=data.get("created_at", ""),
            updated_at=data.get("updated_at", ""), hub=hub,
        )  # fmt: skip

    def _hub(self) -> Hub:
        if self.hub is None:
            raise RtspNotebookError("this Stream is not attached to a hub")
        return self.hub

    def update(self, *, label: str | None = None, url: str | None = None) -> Stream:
        """Change the label and/or the URL (running relays restart on a new URL); the new Stream."""
        body: dict[str, Any] = {}
        if label is not None:
            body["label"] = label
        if url is not None:
            body["url"] = url
        return self._hub()._stream("PATCH", f"streams/{self.id}", body)

    def remove(self) -> None:
        """Delete the stream: its relays stop and its viewers see ``ended``."""
        self._hub()._call("DELETE", f"streams/{self.id}")

    def __repr__(self) -> str:
        return f"<Stream {self.id} {self.label!r} {self.url} {self.state}>"


class Hub:
    """The streams of one Jupyter server with the rtsp-notebook extension."""

    def __init__(self, base_url: str, token: str = "") -> None:
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self._token = token
        self.api_url = self.base_url + "rtsp/api/"

    # -- HTTP --------------------------------------------------------------------------------------
    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.api_url + path, data=data, method=method)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if self._token:
            request.add_header("Authorization", f"token {self._token}")
        try:
            with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_S) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            raise _error(exc.code, exc.read()) from None
        except (urllib.error.URLError, OSError) as exc:
            raise ServerUnavailableError(
                f"cannot reach the Jupyter server at {self.base_url}: {exc}"
            ) from exc
        return json.loads(raw) if raw else None

    def _stream(self, method: str, path: str, body: Any = None) -> Stream:
        return Stream.from_api(self._call(method, path, body), self)

    # -- streams -----------------------------------------------------------------------------------
    def add(
        self,
        url: str,
        label: str | None = None,
        *,
        options: dict[str, Any] | None = None,
        probe: bool = False,
    ) -> Stream:
        """Store a stream (``probe=True`` connects to the camera first, up to 5 s)."""
        body: dict[str, Any] = {"url": url}
        if label is not None:
            body["label"] = label
        if options is not None:
            body["options"] = options
        return self._stream("POST", "streams" + ("?probe=true" if probe else ""), body)

    def list(self) -> list[Stream]:
        return [Stream.from_api(item, self) for item in self._call("GET", "streams")]

    def __iter__(self) -> Iterator[Stream]:
        return iter(self.list())

    def __getitem__(self, key: str) -> Stream:
        """A stream by id, or by label when no id matches."""
        streams = self.list()
        for stream in streams:
            if stream.id == key:
                return stream
        matches = [s for s in streams if s.label == key]
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise InvalidInputError(f"{len(matches)} streams are labelled {key!r}: use an id")
        raise StreamNotFoundError(f"no stream with the id or label {key!r}")

    def streams(self) -> pd.DataFrame:
        """One row per stream (masked URLs), with explicit dtypes."""
        import pandas as pd

        rows = [
            {"id": s.id, "label": s.label, "url": s.url, "state": s.state, "viewers": s.viewers,
             "last_error": s.last_error, "created_at": s.created_at, "updated_at": s.updated_at}
            for s in self.list()
        ]  # fmt: skip
        frame = pd.DataFrame(rows, columns=["id", "label", "url", "state", "viewers", "last_error",
                                            "created_at", "updated_at"])  # fmt: skip
        return frame.astype({"id": "string", "label": "string", "url": "string", "viewers": "int64",
                             "last_error": "string"}).assign(
            created_at=lambda f: pd.to_datetime(f["created_at"], utc=True),
            updated_at=lambda f: pd.to_datetime(f["updated_at"], utc=True),
        )  # fmt: skip

    def grid(self, streams: Any = (), *, columns: int | None = None, renderer: str = "auto") -> Grid:
        """The grid widget (display it, or leave it last in a cell)."""
        from .widget import Grid

        return Grid(streams, columns=columns, renderer=renderer)

    def __repr__(self) -> str:
        return f"<rtsp_notebook.Hub {self.base_url}>"


def _this_server() -> dict[str, Any] | None:
    """The running Jupyter server that started this kernel (JPY_PARENT_PID), if any."""
    from jupyter_server.serverapp import list_running_servers

    parent = os.environ.get("JPY_PARENT_PID")
    servers = list(list_running_servers())
    for info in servers:
        if parent and str(info.get("pid")) == parent:
            return dict(info)
    return None


def connect(url: str | None = None, token: str | None = None) -> Hub:
    """The hub of the Jupyter server this kernel runs under, or of the server at ``url``."""
    if url is None:
        info = _this_server()
        if info is None:
            raise ServerUnavailableError(
                "this kernel was not started by a running Jupyter server (no JPY_PARENT_PID match); "
                "pass connect(url=..., token=...)"
            )
        url, token = str(info["url"]), str(info.get("token") or "")
        url = url.replace("://0.0.0.0:", "://127.0.0.1:")
    hub = Hub(url, token or "")
    try:
        hub._call("GET", "health")
    except RtspNotebookError as exc:
        raise ServerUnavailableError(
            f"the Jupyter server at {hub.base_url} does not answer rtsp/api/health ({exc.message}): "
            "is rtsp-notebook installed in the server's environment?"
        ) from exc
    return hub
