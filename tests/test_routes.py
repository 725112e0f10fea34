"""The stream API's one route table: the REST handlers, the kernel comm and the REST client share it."""

from __future__ import annotations

import asyncio
import re

import pytest

from rtsp_notebook.api import routes
from rtsp_notebook.api.routes import API_PREFIX, ROUTE, ROUTES, Op, Route
from rtsp_notebook.api.service import STREAM_SOCKET, StreamService
from rtsp_notebook.server import handlers


def test_every_operation_has_one_route_and_a_service_method():
    assert [r.op for r in ROUTES] == list(Op)  # one row per operation, in the order of the enum
    assert set(ROUTE) == set(Op)
    for entry in ROUTES:  # what LocalTransport calls (a refresh is thumbnail(refresh=True))
        name = "thumbnail" if entry.op is Op.REFRESH_THUMBNAIL else entry.op.value
        assert callable(getattr(StreamService, name)), entry


def test_method_and_path_pairs_are_unique():
    pairs = [(m, r.path) for r in ROUTES for m in r.methods]
    assert len(pairs) == len(set(pairs))


def test_the_rest_handlers_serve_exactly_the_table():
    served = {item[0]: item[2]["methods"] for item in handlers.ROUTES if len(item) == 3}
    assert set(served) == {API_PREFIX + r.pattern for r in ROUTES}
    for entry in ROUTES:
        for method in entry.methods:
            assert served[API_PREFIX + entry.pattern][method] is entry
    assert [item[0] for item in handlers.ROUTES if len(item) == 2] == [STREAM_SOCKET]


@pytest.mark.parametrize("entry", ROUTES, ids=lambda r: r.op.value)
def test_client_urls_resolve_to_their_own_route(entry: Route):
    ident = "0123456789abcdef" if "{clip}" in entry.path else "ab12"  # a clip id has its own shape
    url = entry.url(ident, {"width": 320, "probe": None})
    assert url.endswith("?width=320") and "probe" not in url
    found, path_id = routes._find(entry.methods[0], url)
    assert found is entry
    assert path_id == (ident if "{" in entry.path else "")
    assert re.fullmatch(entry.pattern, url.split("?")[0] + "/")  # a trailing slash is the same route


def test_ids_are_quoted_in_urls():
    assert ROUTE[Op.GET_STREAM].url("a/b?c") == "streams/a%2Fb%3Fc"


@pytest.mark.parametrize(
    ("method", "path", "status", "message"),
    [
        ("DELETE", "health", 405, "DELETE is not allowed on health; use GET"),
        ("POST", "streams/ab12", 405, "POST is not allowed on streams/ab12; use GET, PATCH, PUT, DELETE"),
        ("GET", "streams/NOT-AN-ID", 404, "no stream with this id"),
        ("GET", "no/such/route", 404, "no API route 'no/such/route'"),
        ("GET", "clips/ab12", 404, "no clip with this id"),
        (
            "PUT",
            "clips/0123456789abcdef",
            405,
            "PUT is not allowed on clips/0123456789abcdef; use GET, DELETE",
        ),
        ("DELETE", "clips", 405, "DELETE is not allowed on clips; use GET"),
    ],
)
def test_refusals_come_before_the_service(method, path, status, message):
    # no service at all: a refused request never reaches one
    answer = asyncio.run(routes.route(None, method, path))  # type: ignore[arg-type]
    assert answer == (
        status,
        {"error": {"code": "BAD_REQUEST" if status == 405 else "NOT_FOUND", "message": message}},
    )
