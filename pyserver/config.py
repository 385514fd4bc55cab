"""Settings: the `amlArtifacts.*` VS Code settings without the prefix (docs/protocol.md)."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import InvalidParams

log = logging.getLogger(__name__)

CONFIG_ENV = "AML_ARTIFACTS_CONFIG"

# Preview worker pool (pyserver/workers): how many processes, and each one's address-space cap.
PREVIEW_WORKERS = (2, 1, 16)  # default, minimum, maximum
PREVIEW_MEMORY_MB = (2048, 256, 1 << 20)


@dataclass(frozen=True)
class Settings:
    local_workspaces: tuple[Path, ...] = ()
    preview_workers: int = PREVIEW_WORKERS[0]
    preview_memory_mb: int = PREVIEW_MEMORY_MB[0]

    @classmethod
    def from_json(cls, raw: Any) -> Settings:
        """Lenient: settings come from a user's settings.json, so a bad entry is logged and
        skipped rather than taking the whole configuration down."""
        if isinstance(raw, dict) and isinstance(raw.get("amlArtifacts"), dict):
            raw = raw["amlArtifacts"]
        if not isinstance(raw, dict):
            return cls()
        folders = raw.get("localWorkspaces") or []
        if not isinstance(folders, list):
            log.warning("localWorkspaces must be a list of folders, got %r", type(folders).__name__)
            folders = []
        paths = []
        for folder in folders:
            if isinstance(folder, str) and folder.strip():
                paths.append(Path(os.path.expanduser(folder.strip())).absolute())
            else:
                log.warning("Ignoring localWorkspaces entry %r: not a folder path", folder)
        return cls(
            local_workspaces=tuple(dict.fromkeys(paths)),
            preview_workers=_bounded_int(raw, "previewWorkers", *PREVIEW_WORKERS),
            preview_memory_mb=_bounded_int(raw, "previewMemoryMB", *PREVIEW_MEMORY_MB),
        )

    def to_json(self) -> dict[str, Any]:
        """The settings object `from_json` reads back to an equal Settings (the preview
        workers are configured with it)."""
        return {
            "localWorkspaces": [str(path) for path in self.local_workspaces],
            "previewWorkers": self.preview_workers,
            "previewMemoryMB": self.preview_memory_mb,
        }


def _bounded_int(raw: dict[str, Any], key: str, default: int, low: int, high: int) -> int:
    value = raw.get(key)
    if value is None:
        return default
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        log.warning("%s must be a whole number, got %r: using %d", key, value, default)
        return default
    if not low <= value <= high:
        log.warning("%s must be between %d and %d, got %d: clamped", key, low, high, value)
    return min(high, max(low, value))


def load_cli_settings(config_file: str | None) -> Settings:
    """`--config FILE`, else $AML_ARTIFACTS_CONFIG (a path, or the JSON text itself)."""
    source = config_file or os.environ.get(CONFIG_ENV, "")
    if not source.strip():
        return Settings()
    text = source if source.lstrip().startswith("{") else _read_config_file(source)
    try:
        return Settings.from_json(json.loads(text))
    except json.JSONDecodeError as error:
        raise InvalidParams(f"Configuration is not valid JSON ({error}): fix {source!r}.") from None


def _read_config_file(path: str) -> str:
    try:
        return Path(path).expanduser().read_text(encoding="utf-8")
    except OSError as error:
        raise InvalidParams(f"Cannot read configuration file {path}: {error.strerror}.") from None
