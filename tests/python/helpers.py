"""Small helpers the tests share."""

from __future__ import annotations

import json
from pathlib import Path


def write_json(path: Path, value: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value), encoding="utf-8")
    return path
