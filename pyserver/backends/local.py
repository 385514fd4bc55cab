"""Local workspace folders (docs/local-workspace.md): the embedded default and offline mirror.

Every node is addressed by the file URI of the folder or file that holds it; its kind follows
from where the path sits under the workspace root."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import ArtifactError, CorruptArtifact, InvalidParams, NotFound, from_os_error
from ..model import Node, Page, RunFilter, run_duration_ms
from ..uris import DatastorePath, LocalPath, Location, ModelVersion, RunArtifact, file_uri
from .base import FileEntry, paginate

log = logging.getLogger(__name__)

WORKSPACE_FILE = "workspace.json"
WORKSPACE_FORMAT = "aml-artifacts/local-workspace"
GROUPS = {
    "experiments": "Experiments",
    "datasets": "Datasets",
    "models": "Models",
    "datastores": "Datastores",
}
# The metadata file each kind keeps beside its files; shown on the node, not as a child.
METADATA_FILES = {"run": "run.json", "datasetVersion": "dataset.json", "modelVersion": "model.json"}
# Kinds under a group at depth 1 and 2: experiments/<e>/<run>, models/<m>/<version>, ...
_GROUP_LEVELS = {
    "experiments": ("experiment", "run"),
    "datasets": ("dataset", "datasetVersion"),
    "models": ("model", "modelVersion"),
    "datastores": ("datastore", "folder"),
}
_DOWNLOADABLE = {"run", "datasetVersion", "modelVersion", "datastore", "folder", "file"}


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    path: Path
    meta: dict[str, Any]
    error: str | None

    @property
    def parent_id(self) -> str | None:
        parent = self.meta.get("parent_id")
        return parent if isinstance(parent, str) and parent else None

    @property
    def status(self) -> str | None:
        status = self.meta.get("status")
        return status if isinstance(status, str) else None

    @property
    def start_time(self) -> str:
        start = self.meta.get("start_time")
        return start if isinstance(start, str) else ""


class LocalFileReader:
    """Random access to a local file with pread: no shared file position, safe across threads."""

    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_RDONLY)
        info = os.fstat(self._fd)
        self._size = info.st_size
        # Identity of this version (downloads resume only into the same version).
        self.etag = f"{info.st_mtime_ns:x}-{info.st_size:x}"

    @property
    def size(self) -> int:
        return self._size

    def read_range(self, offset: int, length: int) -> bytes:
        return os.pread(self._fd, max(0, length), offset)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class LocalWorkspaces:
    """Backend over plain local paths; paths inside a local workspace take its node kinds."""

    def __init__(
        self, configured: Sequence[Path] = (), opened_folders: Sequence[Path] = ()
    ) -> None:
        self.configured = list(configured)
        self.opened_folders = list(opened_folders)

    # -- Backend interface ---------------------------------------------------------------

    def roots(self) -> list[Node]:
        roots = [self._root_node(folder, explicit=True) for folder in self.configured]
        seen = set(self.configured)
        for folder in self.opened_folders:
            if folder not in seen and is_workspace(folder):
                roots.append(self._root_node(folder, explicit=False))
                seen.add(folder)
        return roots

    def stat(self, uri: str) -> Node:
        path = self._path(uri)
        root = self.workspace_root(path)
        kind = classify(root, path)
        if kind == "workspace" and root is not None:
            return self._root_node(root, explicit=True)
        if kind == "run":
            return self._run_node(read_run(path))
        return self._path_node(path, kind, root)

    def children(
        self,
        uri: str,
        page_token: str | None,
        page_size: int,
        run_filter: RunFilter | None = None,
    ) -> Page:
        path = self._path(uri)
        root = self.workspace_root(path)
        kind = classify(root, path)
        if kind == "workspace":
            items = self._group_nodes(path)
        elif kind == "experiment":
            items = self._top_level_runs(path, run_filter)
        elif kind == "run":
            items = self._child_runs(path) + self._entries(path, kind)
        else:
            items = self._entries(path, kind)
        return paginate(items, page_token, page_size)

    def metadata(self, uri: str) -> dict[str, Any]:
        path = self._path(uri)
        name = METADATA_FILES.get(classify(self.workspace_root(path), path))
        if name is None:
            return {}
        return read_json_object(path / name) if (path / name).exists() else {}

    def open(self, uri: str) -> LocalFileReader:
        path = self._path(uri)
        if path.is_dir():
            raise InvalidParams(f"{path} is a folder, not a file.", uri)
        try:
            return LocalFileReader(path)
        except OSError as error:
            raise from_os_error(error, uri) from None

    def walk(self, uri: str) -> Iterator[FileEntry]:
        path = self._path(uri)
        if path.is_file():
            info = path.stat()
            yield FileEntry((path.name,), file_uri(path), info.st_size, modified=info.st_mtime)
            return
        # Symbolic links are followed only when they stay inside the folder downloaded:
        # a link in a workspace never exports a file from elsewhere (os.walk does not
        # descend into linked folders).
        top = os.path.realpath(path)
        for folder, dirs, files in os.walk(path, onerror=_raise):
            dirs.sort()
            base = Path(folder)
            for name in sorted(files):
                file = base / name
                if not file.is_file():  # sockets, dangling symlinks: nothing to copy
                    continue
                if file.is_symlink() and not _is_within(Path(os.path.realpath(file)), Path(top)):
                    log.info("not following %s: it links outside %s", file, path)
                    continue
                info = file.stat()
                parts = (path.name, *file.relative_to(path).parts)
                yield FileEntry(parts, file_uri(file), info.st_size, modified=info.st_mtime)

    # -- Resolving Azure ML URI forms against local workspaces ---------------------------

    def resolve(self, location: Location) -> Path:
        if isinstance(location, LocalPath):
            return location.path
        for root in self._known_roots():
            found = _resolve_in(root, location)
            if found is not None and found.exists():
                return found
        raise NotFound(
            f"No local workspace holds {location}: check the name, or add the "
            "workspace folder to amlArtifacts.localWorkspaces."
        )

    def workspace_root(self, path: Path) -> Path | None:
        """The workspace a path is in: a known root, else the nearest folder above it that
        holds a workspace.json of our format."""
        known = [root for root in self._known_roots() if _is_within(path, root)]
        if known:
            return max(known, key=lambda root: len(root.parts))
        for folder in (path, *path.parents):
            if is_workspace(folder):
                return folder
        return None

    # -- Nodes ---------------------------------------------------------------------------

    def _known_roots(self) -> list[Path]:
        return self.configured + [f for f in self.opened_folders if f not in self.configured]

    def _path(self, uri: str) -> Path:
        path = uri_to_path(uri)
        if not path.exists():
            raise NotFound(f"{path} does not exist (moved or deleted?): refresh the view.", uri)
        return path

    def _root_node(self, folder: Path, explicit: bool) -> Node:
        uri = file_uri(folder)
        error = _workspace_problem(folder)
        name = folder.name or str(folder)
        if error is None:
            title = read_json_object(folder / WORKSPACE_FILE).get("name")
            name = title if isinstance(title, str) and title else name
        elif not folder.is_dir():
            return Node(uri, name, "workspace", False, description=str(folder), error=error)
        return Node(
            uri,
            name,
            "workspace",
            True,
            description=f"local · {folder}",
            error=error if explicit else None,
        )

    def _group_nodes(self, root: Path) -> list[Node]:
        return [
            Node(file_uri(root / folder), label, folder, _has_entries(root / folder))
            for folder, label in GROUPS.items()
            if (root / folder).is_dir()
        ]

    def _entries(self, folder: Path, parent_kind: str) -> list[Node]:
        root = self.workspace_root(folder)
        hidden = METADATA_FILES.get(parent_kind)
        try:
            entries = [e for e in os.scandir(folder) if e.name != hidden]
        except OSError as error:
            raise from_os_error(error, file_uri(folder)) from None
        nodes = []
        for entry in entries:
            path = Path(entry.path)
            kind = classify(root, path)
            try:
                nodes.append(
                    self._run_node(read_run(path))
                    if kind == "run"
                    else self._path_node(path, kind, root)
                )
            except NotFound:
                continue  # deleted between listing and stat
        if parent_kind in ("dataset", "model"):
            return sorted(nodes, key=lambda n: _version_key(n.name), reverse=True)
        return sorted(nodes, key=lambda n: (n.kind == "file", n.name.lower()))

    def _path_node(self, path: Path, kind: str, root: Path | None) -> Node:
        uri = file_uri(path)
        try:
            info = path.stat()
        except OSError as error:
            raise from_os_error(error, uri) from None
        if kind == "file":
            modified = _iso(info.st_mtime)
            return Node(
                uri, path.name, kind, False, size=info.st_size, modified=modified, downloadable=True
            )
        description, problem = _describe(path, kind, root)
        # A folder's mtime only says when an entry last changed: noise beside its name.
        return Node(
            uri,
            path.name,
            kind,
            _has_entries(path),
            description=description,
            error=problem,
            downloadable=kind in _DOWNLOADABLE,
        )

    def _run_node(self, run: RunRecord) -> Node:
        meta = run.meta
        name = meta.get("display_name") or run.run_id
        status = meta.get("status") if isinstance(meta.get("status"), str) else None
        return Node(
            file_uri(run.path),
            str(name),
            "run",
            True,
            modified=run.start_time or None,
            status=status,
            duration_ms=_duration_ms(meta, status),
            error=run.error,
            downloadable=True,
            description=run.run_id if name != run.run_id else None,
        )

    def _top_level_runs(self, experiment: Path, run_filter: RunFilter | None = None) -> list[Node]:
        runs = read_runs(experiment)
        ids = {run.run_id for run in runs}
        top = [run for run in runs if run.parent_id not in ids]
        if run_filter is not None:
            top = [run for run in top if run_filter.matches(run.status, run.meta.get("tags"))]
        top.sort(key=lambda run: run.start_time, reverse=True)
        return [self._run_node(run) for run in top]

    def _child_runs(self, run_path: Path) -> list[Node]:
        children = [r for r in read_runs(run_path.parent) if r.parent_id == run_path.name]
        children.sort(key=lambda run: run.start_time)  # pipeline steps in execution order
        return [self._run_node(run) for run in children]


# -- Module helpers (pure functions of paths) --------------------------------------------


def uri_to_path(uri: str) -> Path:
    from ..uris import parse_uri

    location = parse_uri(uri)
    if not isinstance(location, LocalPath):
        raise NotFound(f"{uri} is not a local path.", uri)
    return location.path


def is_workspace(folder: Path) -> bool:
    return _workspace_problem(folder) is None


def classify(root: Path | None, path: Path) -> str:
    """The node kind of a path, from where it sits under its workspace root."""
    if root is None or not _is_within(path, root):
        return "folder" if path.is_dir() else "file"
    parts = path.relative_to(root).parts
    if not parts:
        return "workspace"
    if not path.is_dir():
        return "file"
    levels = _GROUP_LEVELS.get(parts[0])
    if levels is None:
        return "folder"
    if len(parts) == 1:
        return parts[0]
    return levels[len(parts) - 2] if len(parts) <= 3 else "folder"


def read_json_object(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise
    except OSError as error:
        raise from_os_error(error, file_uri(path)) from None
    except UnicodeDecodeError:
        raise CorruptArtifact(f"{path.name} is not UTF-8 text: fix or remove the file.") from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise CorruptArtifact(
            f"{path.name} is not valid JSON ({error.msg} at line {error.lineno}, column "
            f"{error.colno}): fix or remove the file; the files beside it can still be browsed."
        ) from None
    if not isinstance(value, dict):
        raise CorruptArtifact(f"{path.name} must hold a JSON object, not {type(value).__name__}.")
    return value


def read_run(run_path: Path) -> RunRecord:
    try:
        return RunRecord(run_path.name, run_path, read_json_object(run_path / "run.json"), None)
    except FileNotFoundError:
        return RunRecord(run_path.name, run_path, {}, None)
    except ArtifactError as error:
        return RunRecord(run_path.name, run_path, {}, error.message)


def read_runs(experiment: Path) -> list[RunRecord]:
    try:
        folders = [Path(e.path) for e in os.scandir(experiment) if e.is_dir()]
    except OSError as error:
        raise from_os_error(error, file_uri(experiment)) from None
    return [read_run(folder) for folder in folders]


def _describe(path: Path, kind: str, root: Path | None) -> tuple[str | None, str | None]:
    """The metadata line of a model or dataset version, or why it cannot be read."""
    if kind not in ("modelVersion", "datasetVersion"):
        return ("dataset" if _is_datastore_dataset(root, path) else None), None
    try:
        meta = read_json_object(path / METADATA_FILES[kind])
    except FileNotFoundError:
        return None, None
    except ArtifactError as error:
        return None, error.message
    if kind == "modelVersion":
        framework = " ".join(
            str(meta[k]) for k in ("framework", "framework_version") if meta.get(k)
        )
        return framework or None, None
    return (str(meta["type"]) if meta.get("type") else None), None


def _workspace_problem(folder: Path) -> str | None:
    if not folder.exists():
        return (
            f"Folder not found: {folder}. Create it with `aml-artifacts demo-workspace`, "
            "or remove it from amlArtifacts.localWorkspaces."
        )
    if not folder.is_dir():
        return f"{folder} is a file, not a workspace folder."
    marker = folder / WORKSPACE_FILE
    if not marker.is_file():
        return (
            f"{folder} has no {WORKSPACE_FILE}: it is not a local workspace "
            "(see docs/local-workspace.md)."
        )
    try:
        fmt = read_json_object(marker).get("format")
    except (ArtifactError, OSError) as error:
        return getattr(error, "message", str(error))
    if fmt != WORKSPACE_FORMAT:
        return f'{marker} does not declare "format": "{WORKSPACE_FORMAT}".'
    return None


def _resolve_in(root: Path, location: Location) -> Path | None:
    if isinstance(location, RunArtifact):
        experiments = root / "experiments"
        if not experiments.is_dir():
            return None
        for experiment in experiments.iterdir():
            run = experiment / location.run_id
            if run.is_dir():
                return run / location.path if location.path else run
        return None
    if isinstance(location, ModelVersion):
        model = root / "models" / location.name
        if location.version == "latest" and model.is_dir():
            versions = sorted((p.name for p in model.iterdir()), key=_version_key)
            return model / versions[-1] if versions else None
        return model / location.version
    if isinstance(location, DatastorePath):
        store = root / "datastores" / location.datastore
        return store / location.path if location.path else store
    return None


def _is_within(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _is_datastore_dataset(root: Path | None, path: Path) -> bool:
    if root is None or not _is_within(path, root):
        return False
    parts = path.relative_to(root).parts
    return len(parts) == 3 and parts[0] == "datastores"


def _has_entries(folder: Path) -> bool:
    try:
        with os.scandir(folder) as entries:
            return any(True for _ in entries)
    except OSError:
        return False


def _version_key(name: str) -> tuple[int, str]:
    return (int(name), "") if name.isdigit() else (-1, name)


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).isoformat().replace("+00:00", "Z")


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _duration_ms(meta: dict[str, Any], status: str | None) -> int | None:
    start = _parse_time(meta.get("start_time"))
    return run_duration_ms(start, _parse_time(meta.get("end_time")), status)


def _raise(error: OSError) -> None:
    raise error
