"""Settings: the `amlArtifacts.*` VS Code settings without the prefix (docs/protocol.md)."""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import InvalidParams

log = logging.getLogger(__name__)

CONFIG_ENV = "AML_ARTIFACTS_CONFIG"

# Preview worker pool (pyserver/workers): how many processes, and each one's address-space cap.
PREVIEW_WORKERS = (2, 1, 16)  # default, minimum, maximum
PREVIEW_MEMORY_MB = (2048, 256, 1 << 20)
# Downloads (pyserver/transfers): files and chunks in flight, and the chunk size of big files.
DOWNLOAD_CONCURRENCY = (8, 1, 64)
DOWNLOAD_CHUNK_MB = (8, 1, 256)


@dataclass(frozen=True)
class DatastoreConfig:
    """One entry of `amlArtifacts.datastores`: a blob container reachable without a workspace.
    Exactly one way in: `connection_string`, else `account_url` with a SAS token, an account
    key, or (neither) the server's Azure sign-in (aml_auth). Secrets stay out of repr."""

    name: str
    container: str
    account_url: str | None = None
    connection_string: str | None = field(default=None, repr=False)
    sas_token: str | None = field(default=None, repr=False)
    account_key: str | None = field(default=None, repr=False)

    @classmethod
    def from_json(cls, raw: Any, index: int) -> DatastoreConfig | None:
        """The entry, or None (logged, never with its secrets) when it is unusable."""
        label = f"datastores[{index}]"
        if not isinstance(raw, dict):
            log.warning("Ignoring %s: expected an object, got %s", label, type(raw).__name__)
            return None
        name, container = raw.get("name"), raw.get("container")
        if not isinstance(name, str) or not _DATASTORE_NAME.match(name):
            log.warning("Ignoring %s: name must be letters, digits, '_', '-' or '.'", label)
            return None
        label = f"{label} ({name})"
        if not isinstance(container, str) or not container.strip():
            log.warning("Ignoring %s: container is missing", label)
            return None
        account_url, conn = raw.get("accountUrl"), raw.get("connectionString")
        account_url = account_url.strip() if isinstance(account_url, str) else None
        conn = conn.strip() if isinstance(conn, str) else None
        if not conn and not account_url:
            log.warning("Ignoring %s: give accountUrl (+ credential) or connectionString", label)
            return None
        if account_url and not account_url.lower().startswith(("https://", "http://")):
            log.warning("Ignoring %s: accountUrl must start with https://", label)
            return None
        if account_url and "?" in account_url:
            log.warning(
                "Ignoring %s: put the SAS token in credential.sasToken, not in accountUrl", label
            )
            return None
        credential = raw.get("credential")
        sas = key = None
        if isinstance(credential, dict):
            sas = (
                credential.get("sasToken") if isinstance(credential.get("sasToken"), str) else None
            )
            key = (
                credential.get("accountKey")
                if isinstance(credential.get("accountKey"), str)
                else None
            )
            if not sas and not key:
                log.warning("Ignoring %s: credential needs sasToken or accountKey", label)
                return None
        elif credential is not None:
            log.warning("Ignoring %s: credential must be an object", label)
            return None
        return cls(
            name,
            container.strip(),
            account_url or None,
            conn or None,
            sas.strip().lstrip("?") if sas else None,
            key.strip() if key else None,
        )

    def to_json(self) -> dict[str, Any]:
        raw: dict[str, Any] = {"name": self.name, "container": self.container}
        if self.account_url:
            raw["accountUrl"] = self.account_url
        if self.connection_string:
            raw["connectionString"] = self.connection_string
        if self.sas_token:
            raw["credential"] = {"sasToken": self.sas_token}
        elif self.account_key:
            raw["credential"] = {"accountKey": self.account_key}
        return raw

    def secrets(self) -> list[str]:
        """What must never appear in a message or a log line."""
        found = [s for s in (self.sas_token, self.account_key) if s]
        for part in (self.connection_string or "").split(";"):
            key, _, value = part.partition("=")
            if key.strip().lower() in ("accountkey", "sharedaccesssignature") and value:
                found.append(value)
        return found


_DATASTORE_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,255}$")
_AZURE_NAME = re.compile(r"^[A-Za-z0-9_.()-]{1,260}$")


@dataclass(frozen=True)
class WorkspaceConfig:
    """An Azure ML workspace: an entry of `amlArtifacts.workspaces`, or a `config.json` /
    `.azureml/config.json` found in an opened folder (`source` says which file)."""

    subscription_id: str
    resource_group: str
    name: str
    source: str | None = field(default=None, compare=False)

    @property
    def key(self) -> tuple[str, str, str]:
        """Azure resource names are case-insensitive."""
        return (self.subscription_id.lower(), self.resource_group.lower(), self.name.lower())

    @classmethod
    def from_json(cls, raw: Any, label: str, source: str | None = None) -> WorkspaceConfig | None:
        """The entry (camelCase keys, or config.json's snake_case ones), or None (logged)."""
        if not isinstance(raw, dict):
            log.warning("Ignoring %s: expected an object, got %s", label, type(raw).__name__)
            return None
        values = []
        for keys in (
            ("subscriptionId", "subscription_id"),
            ("resourceGroup", "resource_group"),
            ("name", "workspaceName", "workspace_name"),
        ):
            value = next((raw[k] for k in keys if isinstance(raw.get(k), str)), "").strip()
            if not _AZURE_NAME.match(value):
                log.warning("Ignoring %s: %s is missing or not a valid name", label, keys[0])
                return None
            values.append(value)
        return cls(values[0], values[1], values[2], source=source)

    def to_json(self) -> dict[str, Any]:
        return {
            "subscriptionId": self.subscription_id,
            "resourceGroup": self.resource_group,
            "name": self.name,
        }


@dataclass(frozen=True)
class Settings:
    local_workspaces: tuple[Path, ...] = ()
    preview_workers: int = PREVIEW_WORKERS[0]
    preview_memory_mb: int = PREVIEW_MEMORY_MB[0]
    datastores: tuple[DatastoreConfig, ...] = ()
    workspaces: tuple[WorkspaceConfig, ...] = ()
    download_concurrency: int = DOWNLOAD_CONCURRENCY[0]
    download_chunk_mb: int = DOWNLOAD_CHUNK_MB[0]

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
            datastores=_datastores(raw.get("datastores")),
            workspaces=_workspaces(raw.get("workspaces")),
            download_concurrency=_bounded_int(raw, "downloadConcurrency", *DOWNLOAD_CONCURRENCY),
            download_chunk_mb=_bounded_int(raw, "downloadChunkMB", *DOWNLOAD_CHUNK_MB),
        )

    def to_json(self) -> dict[str, Any]:
        """The settings object `from_json` reads back to an equal Settings (the preview
        workers are configured with it)."""
        return {
            "localWorkspaces": [str(path) for path in self.local_workspaces],
            "previewWorkers": self.preview_workers,
            "previewMemoryMB": self.preview_memory_mb,
            "datastores": [store.to_json() for store in self.datastores],
            "workspaces": [workspace.to_json() for workspace in self.workspaces],
            "downloadConcurrency": self.download_concurrency,
            "downloadChunkMB": self.download_chunk_mb,
        }


def _workspaces(raw: Any) -> tuple[WorkspaceConfig, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        log.warning("workspaces must be a list of objects, got %s", type(raw).__name__)
        return ()
    found: dict[tuple[str, str, str], WorkspaceConfig] = {}
    for index, entry in enumerate(raw):
        workspace = WorkspaceConfig.from_json(entry, f"workspaces[{index}]")
        if workspace is not None:
            found.setdefault(workspace.key, workspace)
    return tuple(found.values())


def _datastores(raw: Any) -> tuple[DatastoreConfig, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        log.warning("datastores must be a list of objects, got %s", type(raw).__name__)
        return ()
    stores: dict[str, DatastoreConfig] = {}
    for index, entry in enumerate(raw):
        store = DatastoreConfig.from_json(entry, index)
        if store is None:
            continue
        if store.name in stores:
            log.warning("Ignoring datastores[%d]: the name %s is used twice", index, store.name)
            continue
        stores[store.name] = store
    return tuple(stores.values())


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
