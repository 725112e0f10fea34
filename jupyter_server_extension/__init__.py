"""The Jupyter server extension of rtsp-notebook: a thin adapter over ``rtsp_notebook``'s core.

It hosts the relay, the REST API and the stream WebSocket inside the Jupyter server (issue 4).
"""
