"""The durable stream store: SQLite (WAL, mode 0600, versioned schema, soft delete), its async wrapper,
and the validation of labels and options. It imports ``media.sources`` (URL validation and masking) and
``rtsp_notebook.errors``, nothing from ``api`` or ``notebook``.
"""
