"""The Jupyter server extension of rtsp-notebook: a thin adapter over ``rtsp_notebook``'s core.

It hosts the relay, the REST API and the stream WebSocket inside the Jupyter server (issue 4).

This folder is installed as the subpackage ``rtsp_notebook.server``, never as a top-level package: import
it by that name (its modules import each other relatively). A wheel ships it at ``rtsp_notebook/server/``;
an editable install maps that name to this folder (see hatch_build.py).
"""
