"""What runs in a kernel: the loop thread (``runtime``), the hub and its transports (REST or in-process),
the frame reader, pandas tables, the grid widget and its comm bridge. It may import everything else; nothing
else imports it but ``rtsp_notebook.__init__``, which exposes ``connect``, ``Hub``, ``Stream`` and ``Grid``.
"""
