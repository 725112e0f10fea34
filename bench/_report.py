"""What every bench command shares: its ``--runs`` / ``--json`` options, the JSON file and the table."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def arguments(doc: str | None, name: str, runs: int) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=runs)
    parser.add_argument("--json", type=Path, default=Path(f"bench/results/{name}.json"))
    return parser.parse_args()


def report(result: Mapping[str, Any], rows: Mapping[str, Any], path: Path, unit: str = "") -> None:
    """Write ``result`` as JSON to ``path`` and print ``rows`` as a two-column table."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2))
    width = max(len(k) for k in rows)
    for name, value in rows.items():
        sys.stdout.write(f"{name.ljust(width)}  {value:>10}{unit}\n")
    sys.stdout.write(f"JSON: {path}\n")
