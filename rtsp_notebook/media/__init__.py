"""The data path: camera → FFmpeg → relay → subscribers.

``sources`` (URLs, masking), ``ffmpeg`` (discovery and argv), ``process`` (supervision), ``classify``
(stderr → errors), ``mpegts`` (packets, keyframes), ``runner`` (a relay's FFmpeg runs, retries and keyframe
cache), ``relay`` and ``subscription`` (the fan-out), ``events``, ``stats``, ``probe`` and ``frames``
(one-shot decodes). It imports only ``rtsp_notebook.errors`` and ``rtsp_notebook._compat`` from outside
itself: nothing from ``store``, ``api`` or ``notebook``.
"""
