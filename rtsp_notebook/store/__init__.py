"""The durable stream store: SQLite (``sqlite``: WAL, mode 0600, versioned schema, soft delete), its
async wrapper (``asyncstore``) and the validation of labels and options (``validation``). It imports
``media.sources`` (URL validation and masking) and ``rtsp_notebook.errors``, nothing from ``api`` or
``notebook``.
"""

from .asyncstore import AsyncStore
from .sqlite import SCHEMA_VERSION, StreamRecord, StreamStore, default_store_path
from .validation import (
    DEFAULT_OPTIONS,
    MAX_LABEL_LENGTH,
    MAX_OPTIONS_BYTES,
    STREAM_ID_RE,
    applicable_options,
    is_stream_id,
    label_key,
    validate_label,
    validate_options,
)

__all__ = [
    "DEFAULT_OPTIONS", "MAX_LABEL_LENGTH", "MAX_OPTIONS_BYTES", "SCHEMA_VERSION", "STREAM_ID_RE",
    "AsyncStore", "StreamRecord", "StreamStore", "applicable_options", "default_store_path", "is_stream_id",
    "label_key", "validate_label", "validate_options",
]  # fmt: skip
