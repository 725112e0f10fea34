"""Crash-test writer: adds streams to a StreamStore in a loop, printing ``ack <id>`` after each add returns.

Usage: ``python store_writer.py <db path> <host prefix> [max adds]``. The test kills it with SIGKILL at
an arbitrary moment and then checks that every acknowledged id is in the database.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rtsp_notebook.store import StreamStore


def main(argv: list[str]) -> int:
    path, prefix = argv[1], argv[2]
    limit = int(argv[3]) if len(argv) > 3 else 100_000  # a safety net; the test kills the writer long before
    with StreamStore(path) as store:
        for n in range(limit):
            record = store.add(
                f"rtsp://writer:pw-{n}@{prefix}-{n}.example/stream", options={"keep_alive": True}
            )
            sys.stdout.write(f"ack {record.id}\n")
            sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
