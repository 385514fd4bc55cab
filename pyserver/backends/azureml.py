"""Azure ML workspaces (SDK v1, azureml-core): experiments, runs and their outputs and logs,
models and datasets, from `amlArtifacts.workspaces` and the `config.json` /
`.azureml/config.json` of the opened folders.

Metadata comes from the workspace's REST services through azureml-core (aml_client.py);
bytes come from blob storage: a file's signed `contentUri` is read with the block-cached
ranged reader of blob.py, so every preview works on remote files and reads little.

Tree (URIs in docs/uris.md, all in the long form with the workspace spelled out):

    workspace → Experiments → experiment → run → child runs, outputs/, logs/ → ... → files
              → Models → model → version → files
              → Datasets → dataset → version (file / tabular) → its files on its datastore
              → Datastores → datastore → folders (top level: datasets) → ... → files

Run folders are listed from the artifact service, which pages a flat prefix listing: a page
of a folder's direct children is built from as many service pages as it takes, never from
the whole run. Listings are cached for LISTING_TTL_S; `refresh` drops a workspace's cache.

A workspace's blob datastores are read with blob.py (`BlobDatastores`, sharing the block
cache): the datastore service gives the account, container and secret (account key or SAS,
kept in memory only, never logged); node URIs are rewritten to the workspace's long form."""

from __future__ import annotations

import base64
import binascii
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

from ..config import DatastoreConfig, WorkspaceConfig
from ..errors import ArtifactError, InvalidParams, NotFound, Unavailable, Unsupported
from ..model import Node, Page, RunFilter, run_duration_ms
from ..uris import (
    DatastorePath,
    Location,
    ModelVersion,
    RunArtifact,
    WorkspaceItem,
    workspace_uri,
)
from .aml_auth import TokenProvider
from .aml_client import (
    ARTIFACT_ORIGIN,
    AmlClient,
    DatasetInfo,
    DatasetVersionInfo,
    DatastoreInfo,
    ModelInfo,
    RunInfo,
    run_filter_expression,
)
from .base import FileEntry, RangeReader
from .blob import BlobDatastores, BlobRangeReader

log = logging.getLogger(__name__)
T = TypeVar("T")

LISTING_TTL_S = 30.0
PROBE_TTL_S = 30.0
PROBE_WORKERS = 4
FILTER_PAGES = 20  # service pages read for one filtered page, at most
FILTER_SERVICE_PAGE = 500  # runs per service page when runs are filtered here
RUN_FOLDERS = ("outputs", "logs")
CONFIG_DIRS = (".azureml", "aml_config", "")
GROUPS = (
    ("experiments", "Experiments"),
    ("models", "Models"),
    ("datasets", "Datasets"),
    ("datastores", "Datastores"),
)
SHORT_DATASTORE = "azureml://datastores/"


def find_workspace_configs(folders: Sequence[Path]) -> list[WorkspaceConfig]:
    """The `config.json` azureml-core's `Workspace.from_config()` would find from each folder:
    `.azureml/config.json`, `aml_config/config.json`, then `config.json`, each searched in the
    folder and then its parents."""
    found: list[WorkspaceConfig] = []
    for folder in folders:
        for subdir in CONFIG_DIRS:
            config = _config_above(folder, subdir)
            if config is not None:
                found.append(config)
                break
    return found


def _config_above(folder: Path, subdir: str) -> WorkspaceConfig | None:
    for directory in (folder, *folder.parents):
        candidate = directory / subdir / "config.json" if subdir else directory / "config.json"
        try:
            raw = json.loads(candidate.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        # Any project may have a config.json: only one naming a workspace counts.
        if isinstance(raw, dict) and ("subscription_id" in raw or "subscriptionId" in raw):
            return WorkspaceConfig.from_json(raw, str(candidate), source=str(candidate))
    return None


class _TtlCache:
    """Results of service calls for a short while, per workspace; thread-safe."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._items: dict[tuple[Any, ...], tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple[Any, ...], compute: Callable[[], T]) -> T:
        now = time.monotonic()
        with self._lock:
            hit = self._items.get(key)
            if hit is not None and hit[0] > now:
                value: T = hit[1]
                return value
        value = compute()
        with self._lock:
            self._items[key] = (time.monotonic() + self.ttl, value)
            if len(self._items) > 4096:
                self._items = {k: v for k, v in self._items.items() if v[0] > now}
        return value

    def put(self, key: tuple[Any, ...], value: Any) -> None:
        with self._lock:
            self._items[key] = (time.monotonic() + self.ttl, value)

    def peek(self, key: tuple[Any, ...]) -> Any:
        with self._lock:
            hit = self._items.get(key)
            return hit[1] if hit is not None and hit[0] > time.monotonic() else None

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


@dataclass
class _Probe:
    error: ArtifactError | None
    until: float


class _Workspace:
    """One configured workspace: its client, caches and last probe."""

    def __init__(self, config: WorkspaceConfig, tokens: TokenProvider) -> None:
        self.config = config
        self.client = AmlClient(config, tokens)
        self.cache = _TtlCache(LISTING_TTL_S)
        self.probe: _Probe | None = None
        self.uri = workspace_uri(config.subscription_id, config.resource_group, config.name)
        # Registered blob datastores read so far: name → a blob backend holding that one store.
        self.stores: dict[str, BlobDatastores] = {}
        self.stores_lock = threading.Lock()

    @property
    def ref(self) -> str:
        c = self.config
        return f"{c.subscription_id}/{c.resource_group}/{c.name}"


class AzureMLWorkspaces:
    """The Backend of every Azure ML workspace; bytes through `blob` (its block cache)."""

    def __init__(self, blob: BlobDatastores, tokens: TokenProvider | None = None) -> None:
        self.blob = blob
        self.tokens = tokens or blob.tokens
        self.configured: list[WorkspaceConfig] = []
        self.opened_folders: list[Path] = []
        self._workspaces: dict[tuple[str, str, str], _Workspace] = {}

    def configure(
        self, configs: Sequence[WorkspaceConfig], opened_folders: Sequence[Path] | None = None
    ) -> None:
        self.configured = list(configs)
        if opened_folders is not None:
            self.opened_folders = list(opened_folders)
        wanted: dict[tuple[str, str, str], WorkspaceConfig] = {}
        for config in [*self.configured, *find_workspace_configs(self.opened_folders)]:
            wanted.setdefault(config.key, config)
        old = self._workspaces
        self._workspaces = {
            key: old[key]
            if key in old and old[key].config == config
            else _Workspace(config, self.tokens)
            for key, config in wanted.items()
        }

    @property
    def active(self) -> bool:
        return bool(self._workspaces)

    def handles(self, location: Location) -> bool:
        if isinstance(location, WorkspaceItem):
            return True
        if isinstance(location, (RunArtifact, ModelVersion)):
            return location.workspace is not None or self.active
        if isinstance(location, DatastorePath):  # the long form, of a configured workspace
            return location.workspace is not None and self._find(location.workspace) is not None
        return False

    def refresh(self, location: Location | None = None) -> None:
        """Forget cached listings and probes (of the location's workspace, else of all)."""
        ref = getattr(location, "workspace", None) if location is not None else None
        targets = [self._find(ref)] if isinstance(ref, str) else list(self._workspaces.values())
        for workspace in targets:
            if workspace is not None:
                workspace.cache.clear()
                workspace.probe = None

    # -- Backend interface ---------------------------------------------------------------

    def roots(self) -> list[Node]:
        workspaces = list(self._workspaces.values())
        if not workspaces:
            return []
        with ThreadPoolExecutor(min(PROBE_WORKERS, len(workspaces))) as pool:
            errors = list(pool.map(self._probe, workspaces))
        return [
            self._workspace_node(ws, error) for ws, error in zip(workspaces, errors, strict=True)
        ]

    def stat(self, location: Location) -> Node:
        ws, location = self._resolve(location)
        if isinstance(location, WorkspaceItem):
            return self._stat_item(ws, location)
        if isinstance(location, RunArtifact):
            run = self._run(ws, location.run_id)
            if not location.path:
                return self._run_node(ws, run)
            kind = self._artifact_kind(ws, ARTIFACT_ORIGIN, run.data_container_id, location.path)
            return self._path_node(
                _run_path_uri(ws, run.run_id, location.path), location.path, kind
            )
        if isinstance(location, ModelVersion):
            model = self._model(ws, location.name, location.version)
            if not location.path:
                return self._model_version_node(ws, model)
            origin, container, path = self._model_path(ws, model, location.path)
            kind = self._artifact_kind(ws, origin, container, path)
            uri = _model_uri(ws, model.name, str(model.version), location.path)
            return self._path_node(uri, location.path, kind)
        if isinstance(location, DatastorePath):
            return self._datastore_stat(ws, location)
        raise NotFound(f"{location} is not in an Azure ML workspace.")

    def children(
        self,
        location: Location,
        page_token: str | None,
        page_size: int,
        run_filter: RunFilter | None = None,
    ) -> Page:
        ws, location = self._resolve(location)
        if isinstance(location, WorkspaceItem):
            if location.kind == "experiment" and run_filter is not None and run_filter.active:
                return self._filtered_runs(ws, location.name, run_filter, page_token, page_size)
            return self._item_children(ws, location, page_token, page_size)
        if isinstance(location, RunArtifact):
            run = self._run(ws, location.run_id)
            if not location.path:
                return self._run_children(ws, run, page_token, page_size)
            return self._folder_page(
                ws,
                ARTIFACT_ORIGIN,
                run.data_container_id,
                location.path,
                lambda path: _run_path_uri(ws, run.run_id, path),
                page_token,
                page_size,
            )
        if isinstance(location, ModelVersion):
            model = self._model(ws, location.name, location.version)
            return self._model_files(ws, model, location.path, page_token, page_size)
        if isinstance(location, DatastorePath):
            return self._datastore_children(ws, location, page_token, page_size)
        raise NotFound(f"{location} is not in an Azure ML workspace.")

    def metadata(self, location: Location) -> dict[str, Any]:
        ws, location = self._resolve(location)
        if isinstance(location, WorkspaceItem) and location.kind == "run":
            location = RunArtifact(location.name, "", ws.ref)
        if isinstance(location, RunArtifact) and not location.path:
            run = self._run(ws, location.run_id)
            return {
                "run_id": run.run_id,
                "status": run.status,
                "display_name": run.display_name,
                "start_time": _iso(run.start),
                "end_time": _iso(run.end),
                "parent_id": run.parent_id,
                "run_type": run.run_type,
                "tags": run.tags,
                "properties": run.properties,
                "experiment": self._experiment_or_none(ws, run),
            }
        if isinstance(location, ModelVersion) and not location.path:
            model = self._model(ws, location.name, location.version)
            return {
                "name": model.name,
                "version": model.version,
                "framework": model.framework,
                "framework_version": model.framework_version,
                "run_id": model.run_id,
                "experiment": model.experiment_name,
                "description": model.description,
                "created": _iso(model.created),
                "tags": model.tags,
            }
        if isinstance(location, WorkspaceItem) and location.kind == "datasetVersion":
            dataset = self._dataset(ws, location.name)
            version = self._dataset_version(ws, dataset, location.version)
            return {
                "name": dataset.name,
                "version": version.version,
                "type": dataset.dataset_type,
                "description": dataset.description,
                "created": _iso(version.created),
                "tags": dataset.tags,
                "datastore": version.datastore,
                "path": version.path,
                "notes": version.notes,
            }
        if isinstance(location, WorkspaceItem) and location.kind == "workspace":
            c = ws.config
            return {
                "subscription_id": c.subscription_id,
                "resource_group": c.resource_group,
                "workspace_name": c.name,
                "config": c.source,
            }
        if isinstance(location, DatastorePath):
            store, long = self._datastore_backend(ws, location.datastore)
            with _long_errors(ws, long):
                return store.metadata(location.datastore, location.path)
        return {}

    def open(self, location: Location) -> RangeReader:
        ws, location = self._resolve(location)
        if isinstance(location, RunArtifact) and location.path:
            run = self._run(ws, location.run_id)
            uri = _run_path_uri(ws, run.run_id, location.path)
            return self._open_artifact(
                ws, ARTIFACT_ORIGIN, run.data_container_id, location.path, uri
            )
        if isinstance(location, ModelVersion) and location.path:
            model = self._model(ws, location.name, location.version)
            origin, container, path = self._model_path(ws, model, location.path)
            uri = _model_uri(ws, model.name, str(model.version), location.path)
            return self._open_artifact(ws, origin, container, path, uri)
        if isinstance(location, DatastorePath):
            store, long = self._datastore_backend(ws, location.datastore)
            with _long_errors(ws, long):
                return store.open(location.datastore, location.path)
        raise InvalidParams(f"{self.canonical(location)} is not a file.")

    def open_listed(self, location: Location, size: int, etag: str) -> RangeReader:
        """A datastore blob at the version a listing gave (downloads: no properties request)."""
        ws, location = self._resolve(location)
        if not isinstance(location, DatastorePath):
            return self.open(location)
        store, long = self._datastore_backend(ws, location.datastore)
        with _long_errors(ws, long):
            reader: BlobRangeReader = store.open_listed(
                location.datastore, location.path, size, etag
            )
            return reader

    def walk(self, location: Location) -> Iterator[FileEntry]:
        ws, location = self._resolve(location)
        if isinstance(location, WorkspaceItem) and location.kind == "run":
            location = RunArtifact(location.name, "", ws.ref)
        if isinstance(location, WorkspaceItem) and location.kind == "datasetVersion":
            dataset = self._dataset(ws, location.name)
            version = self._dataset_version(ws, dataset, location.version)
            files = self._dataset_files(ws, version)
            if files is None:
                raise InvalidParams(f"Dataset {dataset.name}:{version.version} names no files.")
            location = files
        if isinstance(location, DatastorePath):
            store, long = self._datastore_backend(ws, location.datastore)
            with _long_errors(ws, long):
                for entry in store.walk(location.datastore, location.path):
                    yield replace(entry, uri=_long_uri(ws, entry.uri)) if long else entry
            return
        if isinstance(location, RunArtifact):
            run = self._run(ws, location.run_id)
            top = location.path.rsplit("/", 1)[-1] if location.path else run.run_id
            yield from self._walk_artifacts(
                ws,
                ARTIFACT_ORIGIN,
                run.data_container_id,
                location.path,
                top,
                lambda path: _run_path_uri(ws, run.run_id, path),
                "" if location.path else RUN_FOLDERS,
            )
            return
        if isinstance(location, ModelVersion):
            model = self._model(ws, location.name, location.version)
            top = location.path.rsplit("/", 1)[-1] if location.path else str(model.version)
            for origin, container, prefix in self._model_artifacts(ws, model):
                root = f"{prefix}/{location.path}".strip("/") if location.path else prefix
                name = prefix.rsplit("/", 1)[-1]
                if (
                    location.path == name
                    and self._artifact_kind(ws, origin, container, prefix) == "file"
                ):
                    root = prefix  # the file of a one-file version (its only child, `_model_path`)
                for entry in self._walk_artifacts(
                    ws,
                    origin,
                    container,
                    root,
                    top,
                    _model_file_uri(ws, model, prefix),
                    "",
                ):
                    if not location.path and entry.relative_parts == (top,):
                        entry = replace(entry, relative_parts=(top, name))  # a one-file version
                    yield entry
            return
        raise InvalidParams(f"{self.canonical(location)} cannot be downloaded.")

    def canonical(self, location: Location) -> str:
        ws, location = self._resolve(location)
        if isinstance(location, RunArtifact):
            if not location.path:
                return f"{ws.uri}/jobs/{quote(location.run_id, safe='')}"
            return _run_path_uri(ws, location.run_id, location.path)
        if isinstance(location, ModelVersion):
            return _model_uri(ws, location.name, location.version, location.path)
        if isinstance(location, WorkspaceItem):
            return _item_uri(ws, location)
        if isinstance(location, DatastorePath):
            return _datastore_path_uri(ws, location.datastore, location.path)
        raise NotFound(f"{location} is not in an Azure ML workspace.")

    # -- resolving -----------------------------------------------------------------------

    def _find(self, ref: str) -> _Workspace | None:
        key = tuple(part.lower() for part in ref.split("/"))
        return self._workspaces.get(key)  # type: ignore[arg-type]

    def _resolve(self, location: Location) -> tuple[_Workspace, Location]:
        ref = getattr(location, "workspace", None)
        if isinstance(ref, str):
            ws = self._find(ref)
            if ws is None:
                name = ref.rsplit("/", 1)[-1]
                raise NotFound(
                    f"Workspace {name} is not configured: add it to amlArtifacts.workspaces "
                    "or open a folder with its config.json."
                )
            return ws, location
        # A short form (azureml://jobs/..., runs:/..., azureml:<model>:<version>): the first
        # workspace that has it.
        if not self._workspaces:
            raise NotFound(f"No Azure ML workspace is configured to look up {location}.")
        last: ArtifactError | None = None
        for ws in self._workspaces.values():
            try:
                if isinstance(location, RunArtifact):
                    self._run(ws, location.run_id)
                    return ws, RunArtifact(location.run_id, location.path, ws.ref)
                if isinstance(location, ModelVersion):
                    self._model(ws, location.name, location.version)
                    return ws, ModelVersion(location.name, location.version, ws.ref, location.path)
            except NotFound as error:
                last = error
        raise last or NotFound(f"No configured workspace has {location}.")

    def _probe(self, ws: _Workspace) -> ArtifactError | None:
        """Whether the workspace can be used (signed in, access, exists), checked with one
        call and remembered for PROBE_TTL_S (or until a refresh)."""
        now = time.monotonic()
        if ws.probe is not None and ws.probe.until > now:
            return ws.probe.error
        error: ArtifactError | None = None
        try:
            ws.client.probe()
        except ArtifactError as failure:
            error = failure
        except Exception as failure:  # never a stack trace on a node
            log.warning("probing %s failed: %s", ws.config.name, type(failure).__name__)
            error = Unavailable(
                f"Cannot use workspace {ws.config.name} ({type(failure).__name__}). Retry."
            )
        if error is not None:
            error.uri = ws.uri
        ws.probe = _Probe(error, time.monotonic() + PROBE_TTL_S)
        return error

    def _run(self, ws: _Workspace, run_id: str) -> RunInfo:
        run: RunInfo = ws.cache.get(("run", run_id), lambda: ws.client.run(run_id))
        return run

    def _experiment_of(self, ws: _Workspace, run: RunInfo) -> str:
        if not run.experiment_id:
            raise NotFound(f"Run {run.run_id} names no experiment.")
        experiment_id = run.experiment_id
        name: str = ws.cache.get(
            ("experimentName", experiment_id), lambda: ws.client.experiment_name(experiment_id)
        )
        return name

    def _experiment_or_none(self, ws: _Workspace, run: RunInfo) -> str | None:
        try:
            return self._experiment_of(ws, run)
        except ArtifactError:
            return None

    def _model(self, ws: _Workspace, name: str, version: str) -> ModelInfo:
        model: ModelInfo = ws.cache.get(
            ("model", name, version), lambda: ws.client.model(name, version)
        )
        return model

    def _model_artifacts(self, ws: _Workspace, model: ModelInfo) -> list[tuple[str, str, str]]:
        """(origin, container, prefix) of each place the version's files are (a registered
        version never moves them: cached like the listings)."""
        artifacts: list[tuple[str, str, str]] = ws.cache.get(
            ("modelArtifacts", model.name, model.version),
            lambda: ws.client.model_artifacts(model),
        )
        return artifacts

    def _model_path(self, ws: _Workspace, model: ModelInfo, path: str) -> tuple[str, str, str]:
        artifacts = self._model_artifacts(ws, model)
        if not artifacts:
            raise NotFound(f"Model {model.name}:{model.version} holds no files.")
        origin, container, prefix = artifacts[0]
        single = self._artifact_kind(ws, origin, container, prefix) == "file"
        if single:  # the version is one file: its only child is that file's name
            if path != prefix.rsplit("/", 1)[-1]:
                raise NotFound(f"Model {model.name}:{model.version} has no file {path}.")
            return origin, container, prefix
        return origin, container, f"{prefix}/{path}".strip("/")

    # -- nodes ---------------------------------------------------------------------------

    def _workspace_node(self, ws: _Workspace, error: ArtifactError | None) -> Node:
        c = ws.config
        where = "config.json" if c.source else "settings"
        return Node(
            ws.uri,
            c.name,
            "workspace",
            error is None,
            description=f"Azure ML · {c.resource_group} ({where})",
            error=error.message if error else None,
            error_kind=(error.error_kind or "serverError") if error else None,
        )

    def _stat_item(self, ws: _Workspace, item: WorkspaceItem) -> Node:
        if item.kind == "workspace":
            error = self._probe(ws)
            return self._workspace_node(ws, error)
        if item.kind in ("experiments", "models", "datasets", "datastores"):
            return Node(_item_uri(ws, item), dict(GROUPS)[item.kind], item.kind, True)
        if item.kind == "experiment":
            return Node(_item_uri(ws, item), item.name, "experiment", True)
        if item.kind == "run":
            return self._run_node(ws, self._run(ws, item.name))
        if item.kind == "model":
            return Node(_item_uri(ws, item), item.name, "model", True)
        if item.kind == "dataset":
            return self._dataset_node(ws, self._dataset(ws, item.name))
        if item.kind == "datasetVersion":
            dataset = self._dataset(ws, item.name)
            version = self._dataset_version(ws, dataset, item.version)
            return self._dataset_version_node(ws, dataset, version)
        raise NotFound(f"{_item_uri(ws, item)} names nothing in workspace {ws.config.name}.")

    def _run_node(self, ws: _Workspace, run: RunInfo) -> Node:
        ws.cache.put(("run", run.run_id), run)
        name = run.display_name or run.run_id
        return Node(
            f"{ws.uri}/jobs/{quote(run.run_id, safe='')}",
            name,
            "run",
            True,
            modified=_iso(run.start),
            status=run.status,
            duration_ms=run_duration_ms(run.start, run.end, run.status),
            description=run.run_id if name != run.run_id else None,
            downloadable=True,
        )

    def _path_node(self, uri: str, path: str, kind: str) -> Node:
        name = path.rsplit("/", 1)[-1]
        return Node(uri, name, kind, kind == "folder", downloadable=True)

    def _model_version_node(self, ws: _Workspace, model: ModelInfo) -> Node:
        facts = []
        if model.framework:
            facts.append(" ".join(p for p in (model.framework, model.framework_version) if p))
        if model.run_id:
            facts.append(f"run {model.run_id}")
        facts.extend(f"{k}={v}" for k, v in sorted(model.tags.items())[:3])
        return Node(
            _model_uri(ws, model.name, str(model.version), ""),
            str(model.version),
            "modelVersion",
            True,
            modified=_iso(model.created),
            description=" · ".join(facts) or None,
            downloadable=True,
        )

    def _dataset_node(self, ws: _Workspace, dataset: DatasetInfo) -> Node:
        facts = [dataset.dataset_type or "dataset"]
        if dataset.latest_version:
            facts.append(f"latest v{dataset.latest_version}")
        return Node(
            _item_uri(ws, WorkspaceItem(ws.ref, "dataset", dataset.name)),
            dataset.name,
            "dataset",
            True,
            description=" · ".join(facts),
        )

    def _dataset_version_node(
        self, ws: _Workspace, dataset: DatasetInfo, version: DatasetVersionInfo
    ) -> Node:
        where = f"{version.datastore}/{version.path}" if version.datastore else None
        facts = [f for f in (dataset.dataset_type, where, version.notes) if f]
        files = self._dataset_files(ws, version)
        return Node(
            _item_uri(ws, WorkspaceItem(ws.ref, "datasetVersion", dataset.name, version.version)),
            version.version,
            "datasetVersion",
            files is not None,
            modified=_iso(version.created),
            description=" · ".join(facts) or None,
            downloadable=files is not None,
        )

    # -- listings ------------------------------------------------------------------------

    def _item_children(
        self, ws: _Workspace, item: WorkspaceItem, token: str | None, size: int
    ) -> Page:
        if item.kind == "workspace":
            error = self._probe(ws)
            if error is not None:
                raise type(error)(error.message, error.uri)
            return Page(
                [
                    Node(_item_uri(ws, WorkspaceItem(ws.ref, kind)), label, kind, True)
                    for kind, label in GROUPS
                ]
            )
        if item.kind == "experiments":
            experiments, next_token = ws.cache.get(
                ("experiments", token, size), lambda: ws.client.experiments_page(token, size)
            )
            nodes = [
                Node(
                    _item_uri(ws, WorkspaceItem(ws.ref, "experiment", str(e.name))),
                    str(e.name),
                    "experiment",
                    True,
                    modified=_iso(getattr(e, "created_utc", None)),
                )
                for e in experiments
            ]
            for experiment in experiments:
                ws.cache.put(
                    ("experimentName", str(experiment.experiment_id)), str(experiment.name)
                )
            return Page(nodes, next_token)
        if item.kind == "experiment":
            runs, next_token = ws.cache.get(
                ("runs", item.name, token, size),
                lambda: ws.client.runs_page(item.name, token, size),
            )
            return Page([self._run_node(ws, run) for run in runs], next_token)
        if item.kind == "run":
            return self._run_children(ws, self._run(ws, item.name), token, size)
        if item.kind == "models":
            models, next_token = ws.cache.get(
                ("models", token, size), lambda: ws.client.models_page(None, token, size, True)
            )
            nodes = [
                Node(
                    _item_uri(ws, WorkspaceItem(ws.ref, "model", m.name)),
                    m.name,
                    "model",
                    True,
                    description=f"latest v{m.version}",
                )
                for m in models
            ]
            return Page(nodes, next_token)
        if item.kind == "model":
            versions, next_token = ws.cache.get(
                ("modelVersions", item.name, token, size),
                lambda: ws.client.models_page(item.name, token, size, False),
            )
            for model in versions:
                ws.cache.put(("model", model.name, str(model.version)), model)
            versions = sorted(versions, key=lambda m: m.version, reverse=True)
            return Page([self._model_version_node(ws, m) for m in versions], next_token)
        if item.kind == "datasets":
            datasets, next_token = ws.cache.get(
                ("datasets", token, size), lambda: ws.client.datasets_page(token, size)
            )
            for dataset in datasets:
                ws.cache.put(("dataset", dataset.name), dataset)
            return Page([self._dataset_node(ws, d) for d in datasets], next_token)
        if item.kind == "dataset":
            dataset = self._dataset(ws, item.name)
            definitions, next_token = ws.cache.get(
                ("datasetVersions", dataset.dataset_id, token, size),
                lambda: ws.client.dataset_versions_page(dataset.dataset_id, token, size),
            )
            for definition in definitions:
                ws.cache.put(("datasetVersion", dataset.dataset_id, definition.version), definition)
            nodes = [self._dataset_version_node(ws, dataset, d) for d in definitions]
            return Page(nodes, next_token)
        if item.kind == "datasetVersion":
            dataset = self._dataset(ws, item.name)
            chosen = self._dataset_version(ws, dataset, item.version)
            files = self._dataset_files(ws, chosen)
            if files is None:
                return Page([])
            page = self._datastore_children(ws, files, token, size)
            if not page.items and token is None and files.path:
                node = self._datastore_stat(ws, files)  # the version is one file
                return Page([node] if node.kind == "file" else [])
            return page
        if item.kind == "datastores":
            stores, next_token = ws.cache.get(
                ("datastores", token, size), lambda: ws.client.datastores_page(token, size)
            )
            return Page([_datastore_node(ws, store) for store in stores], next_token)
        raise NotFound(f"{_item_uri(ws, item)} names nothing in workspace {ws.config.name}.")

    def _filtered_runs(
        self, ws: _Workspace, experiment: str, run_filter: RunFilter, token: str | None, size: int
    ) -> Page:
        """Top-level runs that pass `run_filter`, newest first. The service filters what its
        query language can say (statuses, a plain tag); the runs are checked here too, so a
        tag it cannot be asked about is filtered over its pages (FILTER_SERVICE_PAGE runs each,
        at most FILTER_PAGES of them per page of ours). Our token: the service page and the
        index in it."""
        expression, exact = run_filter_expression(run_filter)
        top = size if exact else max(size, FILTER_SERVICE_PAGE)
        service_token, skip, _ = _decode_token(token)
        items: list[Node] = []
        for _ in range(FILTER_PAGES):
            runs, next_service = ws.cache.get(
                ("runs", experiment, service_token, top, run_filter.key()),
                partial(ws.client.runs_page, experiment, service_token, top, expression),
            )
            for index in range(skip, len(runs)):
                run = runs[index]
                if not run_filter.matches(run.status, run.tags):
                    continue
                items.append(self._run_node(ws, run))
                if len(items) < size:
                    continue
                if index + 1 < len(runs):
                    return Page(items, _encode_token(service_token, index + 1, ""))
                return Page(items, _encode_token(next_service, 0, "") if next_service else None)
            if not next_service:
                return Page(items)
            service_token, skip = next_service, 0
        return Page(items, _encode_token(service_token, 0, ""))

    def _dataset(self, ws: _Workspace, name: str) -> DatasetInfo:
        dataset: DatasetInfo = ws.cache.get(("dataset", name), lambda: ws.client.dataset(name))
        return dataset

    def _dataset_version(
        self, ws: _Workspace, dataset: DatasetInfo, version: str
    ) -> DatasetVersionInfo:
        found: DatasetVersionInfo = ws.cache.get(
            ("datasetVersion", dataset.dataset_id, version),
            lambda: ws.client.dataset_version(dataset.dataset_id, version),
        )
        return found

    def _dataset_files(self, ws: _Workspace, version: DatasetVersionInfo) -> DatastorePath | None:
        """Where a version's files are: a path on one of the workspace's datastores."""
        if not version.datastore:
            return None
        return DatastorePath(version.datastore, (version.path or "").strip("/"), ws.ref)

    # -- datastores ----------------------------------------------------------------------

    def _datastore_info(self, ws: _Workspace, name: str) -> DatastoreInfo:
        info: DatastoreInfo = ws.cache.get(("datastore", name), lambda: ws.client.datastore(name))
        return info

    def _datastore_backend(self, ws: _Workspace, name: str) -> tuple[BlobDatastores, bool]:
        """The blob backend that reads datastore `name` of the workspace, and whether its
        URIs are rewritten to the workspace's long form (False: a datastore the workspace
        does not have, read from amlArtifacts.datastores with its short URIs)."""
        try:
            info = self._datastore_info(ws, name)
        except NotFound:
            if self.blob.handles(name):
                return self.blob, False
            raise NotFound(
                f"Workspace {ws.config.name} has no datastore {name} (deleted?), and "
                "amlArtifacts.datastores none of that name: refresh the view.",
                _datastore_path_uri(ws, name, ""),
            ) from None
        if not info.is_blob:
            raise Unsupported(
                f"Datastore {name} of workspace {ws.config.name} is {info.store_type}: only "
                "blob (and ADLS Gen2) datastores can be browsed.",
                _datastore_path_uri(ws, name, ""),
            )
        config = DatastoreConfig(
            name,
            str(info.container),
            _account_url(info),
            sas_token=info.sas_token,
            account_key=info.account_key,
        )
        with ws.stores_lock:
            store = ws.stores.get(name)
            if store is None:
                store = BlobDatastores(
                    cache=self.blob.cache, block_size=self.blob.block_size, tokens=self.tokens
                )
                store.network = self.blob.network  # one count of bytes fetched
                ws.stores[name] = store
            store.configure((config,))  # keeps the connected client unless the secret changed
        return store, True

    def _datastore_stat(self, ws: _Workspace, location: DatastorePath) -> Node:
        store, long = self._datastore_backend(ws, location.datastore)
        if long and not location.path:
            return _datastore_node(ws, self._datastore_info(ws, location.datastore))
        with _long_errors(ws, long):
            node = store.stat(location.datastore, location.path)
        return replace(node, uri=_long_uri(ws, node.uri)) if long else node

    def _datastore_children(
        self, ws: _Workspace, location: DatastorePath, token: str | None, size: int
    ) -> Page:
        store, long = self._datastore_backend(ws, location.datastore)
        with _long_errors(ws, long):
            page = store.children(location.datastore, location.path, token, size)
        if not long:
            return page
        items = [replace(node, uri=_long_uri(ws, node.uri)) for node in page.items]
        return Page(items, page.next_page_token)

    def _run_children(self, ws: _Workspace, run: RunInfo, token: str | None, size: int) -> Page:
        """Child runs (pipeline steps, in execution order), then outputs/ and logs/."""
        service_token = None
        if token is not None:
            if not token.startswith("runs:"):
                raise InvalidParams("Invalid pageToken: pass back the server's token.")
            service_token = token[len("runs:") :]
        experiment = self._experiment_of(ws, run)
        children, next_token = ws.cache.get(
            ("children", run.run_id, service_token, size),
            lambda: ws.client.child_runs_page(experiment, run.run_id, service_token, size),
        )
        nodes = [self._run_node(ws, child) for child in children]
        if next_token:
            return Page(nodes, f"runs:{next_token}")
        folders = [
            Node(_run_path_uri(ws, run.run_id, name), name, "folder", True, downloadable=True)
            for name in RUN_FOLDERS
        ]
        return Page(nodes + folders)

    def _model_files(
        self, ws: _Workspace, model: ModelInfo, path: str, token: str | None, size: int
    ) -> Page:
        artifacts = self._model_artifacts(ws, model)
        if not artifacts:
            return Page([])
        origin, container, prefix = artifacts[0]
        version = str(model.version)
        if not path and self._artifact_kind(ws, origin, container, prefix) == "file":
            name = prefix.rsplit("/", 1)[-1]
            return Page([self._path_node(_model_uri(ws, model.name, version, name), name, "file")])
        return self._folder_page(
            ws,
            origin,
            container,
            f"{prefix}/{path}".strip("/"),
            lambda full: _model_uri(ws, model.name, version, _relative(full, prefix)),
            token,
            size,
        )

    def _artifacts_page(
        self, ws: _Workspace, origin: str, container: str, prefix: str, token: str | None
    ) -> tuple[list[str], str | None]:
        page: tuple[list[str], str | None] = ws.cache.get(
            ("artifacts", origin, container, prefix, token),
            lambda: ws.client.artifacts_page(origin, container, prefix, token),
        )
        return page

    def _artifact_kind(self, ws: _Workspace, origin: str, container: str, path: str) -> str:
        """ "file" or "folder" from the first page of a prefix listing; NotFound when empty."""
        paths, _ = self._artifacts_page(ws, origin, container, path, None)
        if path in paths:
            return "file"
        if any(p.startswith(path + "/") for p in paths):
            return "folder"
        raise NotFound(f"{path} does not exist in {container} (moved or deleted?): refresh.")

    def _folder_page(
        self,
        ws: _Workspace,
        origin: str,
        container: str,
        folder: str,
        make_uri: Callable[[str], str],
        token: str | None,
        size: int,
    ) -> Page:
        """One page of a folder's direct children, collapsed from the service's flat prefix
        listing (sorted by path, so everything under a subfolder is contiguous). Our token
        says where to resume: the service page, the index in it, the last child returned."""
        prefix = f"{folder}/" if folder else ""
        service_token, skip, last = _decode_token(token)
        items: list[Node] = []
        while True:
            paths, next_service = self._artifacts_page(ws, origin, container, prefix, service_token)
            for index in range(skip, len(paths)):
                relative = paths[index][len(prefix) :]
                head, slash, _ = relative.partition("/")
                if not head or head == last:
                    continue
                last = head
                kind = "folder" if slash else "file"
                items.append(self._path_node(make_uri(prefix + head), prefix + head, kind))
                if len(items) < size:
                    continue
                rest = [p[len(prefix) :].partition("/")[0] for p in paths[index + 1 :]]
                if any(name != last for name in rest):
                    return Page(items, _encode_token(service_token, index + 1, last))
                if next_service:
                    return Page(items, _encode_token(next_service, 0, last))
                return Page(items)
            if not next_service:
                if not items and not token and folder:
                    self._artifact_kind(ws, origin, container, folder)  # NotFound when absent
                return Page(items)
            service_token, skip = next_service, 0

    def _walk_artifacts(
        self,
        ws: _Workspace,
        origin: str,
        container: str,
        root: str,
        top: str,
        make_uri: Callable[[str], str],
        only: str | tuple[str, ...],
    ) -> Iterator[FileEntry]:
        """Every file under `root` (a download lists the whole subtree, page by page).
        Sizes are unknown until a file is opened: 0 here. The listing gives each file's
        signed URL (`FileEntry.url`): a download reads it with no further service request."""
        prefix = f"{root}/" if root else ""
        token: str | None = None
        found = 0
        while True:
            items, token = ws.client.artifact_contents_page(origin, container, root, token)
            for path, url in items:
                if root and path == root:
                    yield FileEntry((top,), make_uri(path), 0, url=url)
                    found += 1
                    continue
                if not path.startswith(prefix):
                    continue
                relative = path[len(prefix) :]
                if only and relative.split("/", 1)[0] not in only:
                    continue
                found += 1
                yield FileEntry((top, *relative.split("/")), make_uri(path), 0, url=url)
            if not token:
                break
        if not found and root:
            raise NotFound(f"{root} does not exist in {container} (moved or deleted?): refresh.")

    def _open_artifact(
        self, ws: _Workspace, origin: str, container: str, path: str, uri: str
    ) -> RangeReader:
        url = ws.client.content_uri(origin, container, path)
        return self.blob.open_url(url, uri)


# -- URIs -------------------------------------------------------------------------------


def _run_path_uri(ws: _Workspace, run_id: str, path: str) -> str:
    return f"{ws.uri}/jobs/{quote(run_id, safe='')}/outputs/artifacts/paths/{quote(path, safe='/')}"


def _datastore_path_uri(ws: _Workspace, name: str, path: str) -> str:
    return f"{ws.uri}/datastores/{quote(name, safe='')}/paths/{quote(path, safe='/')}"


def _long_uri(ws: _Workspace, uri: str) -> str:
    """blob.py's short `azureml://datastores/<ds>/paths/<p>` → the workspace's long form."""
    if uri.startswith(SHORT_DATASTORE):
        return f"{ws.uri}/datastores/{uri[len(SHORT_DATASTORE) :]}"
    return uri


@contextmanager
def _long_errors(ws: _Workspace, long: bool) -> Iterator[None]:
    """blob.py's errors speak of amlArtifacts.datastores and short URIs: say the workspace."""
    try:
        yield
    except ArtifactError as error:
        if long:
            error.message = error.message.replace(SHORT_DATASTORE, f"{ws.uri}/datastores/").replace(
                "in amlArtifacts.datastores", f"registered in workspace {ws.config.name}"
            )
            if error.uri:
                error.uri = _long_uri(ws, error.uri)
        raise


def _account_url(info: DatastoreInfo) -> str:
    """`<protocol>://<account>.blob.<endpoint>`; an endpoint that is a local host (and port)
    is a storage emulator such as Azurite, addressed path-style: `http://<host:port>/<account>`."""
    protocol = (info.protocol or "https").lower()
    endpoint = (info.endpoint or "core.windows.net").strip("/")
    host = endpoint.rsplit(":", 1)[0] if endpoint.count(":") == 1 else endpoint
    if host in ("localhost", "127.0.0.1", "[::1]") or host.replace(".", "").isdigit():
        return f"{protocol}://{endpoint}/{info.account_name}"
    return f"{protocol}://{info.account_name}.blob.{endpoint}"


def _datastore_node(ws: _Workspace, info: DatastoreInfo) -> Node:
    uri = _datastore_path_uri(ws, info.name, "")
    if not info.is_blob:
        return Node(
            uri, info.name, "datastore", False, description=f"{info.store_type} · not browsable"
        )
    label = "blob" if info.store_type == "AzureBlob" else "ADLS Gen2"
    return Node(
        uri,
        info.name,
        "datastore",
        True,
        description=f"{label} · {info.account_name}/{info.container}",
        downloadable=True,
    )


def _model_uri(ws: _Workspace, name: str, version: str, path: str) -> str:
    uri = f"{ws.uri}/models/{quote(name, safe='')}/versions/{quote(version, safe='')}"
    return f"{uri}/paths/{quote(path, safe='/')}" if path else uri


def _item_uri(ws: _Workspace, item: WorkspaceItem) -> str:
    name = quote(item.name, safe="")
    if item.kind == "workspace":
        return ws.uri
    if item.kind in ("experiments", "models", "datasets", "datastores"):
        return f"{ws.uri}/{item.kind}"
    if item.kind == "experiment":
        return f"{ws.uri}/experiments/{name}"
    if item.kind == "run":
        return f"{ws.uri}/jobs/{name}"
    if item.kind == "model":
        return f"{ws.uri}/models/{name}"
    if item.kind == "dataset":
        return f"{ws.uri}/datasets/{name}"
    if item.kind == "datasetVersion":
        return f"{ws.uri}/datasets/{name}/versions/{quote(item.version, safe='')}"
    raise NotFound(f"Unknown workspace node kind {item.kind}.")


def _model_file_uri(ws: _Workspace, model: ModelInfo, prefix: str) -> Callable[[str], str]:
    def make(path: str) -> str:
        # A one-file version's file is named by its own name (`_model_path`).
        relative = _relative(path, prefix) or prefix.rsplit("/", 1)[-1]
        return _model_uri(ws, model.name, str(model.version), relative)

    return make


def _relative(path: str, prefix: str) -> str:
    return path[len(prefix) :].strip("/") if prefix and path.startswith(prefix) else path


def _encode_token(service_token: str | None, skip: int, last: str) -> str:
    raw = json.dumps({"t": service_token, "i": skip, "l": last}).encode()
    return "a:" + base64.urlsafe_b64encode(raw).decode()


def _decode_token(token: str | None) -> tuple[str | None, int, str]:
    if token is None:
        return None, 0, ""
    try:
        if not token.startswith("a:"):
            raise ValueError(token)
        raw = json.loads(base64.urlsafe_b64decode(token[2:]))
        service = raw["t"]
        return (str(service) if service else None), int(raw["i"]), str(raw["l"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise InvalidParams("Invalid pageToken: pass back the server's token.") from None


def _iso(value: object) -> str | None:
    if not isinstance(value, datetime):
        return None
    moment = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    text: str = moment.astimezone(timezone.utc).isoformat()
    return text.replace("+00:00", "Z")


__all__ = ["AzureMLWorkspaces", "find_workspace_configs"]
