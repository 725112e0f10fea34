"""Test infrastructure that the tests and the bench (``python -m bench``) share; nothing here is a test.

    camera.py, camera_server.py  the GStreamer RTSP test camera (``TestCamera``) and its server script
    browser.py                   a real ``jupyter lab`` (``LabServer``), Chromium, ``NotebookPage``
    grid.py                      the grid widget seen from a page: tiles, phases, frame counters, pixels
    server.py                    a real ``jupyter server`` process (``Server``)
    helpers.py                   deadline waits, subscription readers, engines, FFmpeg children
    require.py                   skip (or, in CI, fail) a test whose camera or browser cannot run here
    fixtures.py, loop.py,        pytest plugins (browser fixtures; pytest-jupyter's loop off where Playwright
    jp_server.py                 runs; the in-process server's config and viewers), registered once by
                                 ``tests/conftest.py``'s ``pytest_plugins``

Test modules import from here, never from each other; bench imports from ``tests`` only this package
(tests/test_layout.py pins both).
"""
