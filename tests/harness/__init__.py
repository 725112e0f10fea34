"""Test infrastructure that the tests and the bench (``python -m bench``) share; nothing here is a test.

    camera.py, camera_server.py  the GStreamer RTSP test camera (``TestCamera``) and its server script
    browser.py                   a real ``jupyter lab`` (``LabServer``), Chromium, ``NotebookPage``
    helpers.py                   deadline waits, subscription readers, engines, FFmpeg children
    fixtures.py, loop.py         pytest plugins, registered once by ``tests/conftest.py`` (``pytest_plugins``)

Test modules import from here, never from each other; bench imports from ``tests`` only this package.
"""
