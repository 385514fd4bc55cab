"""Download into a local workspace (docs/local-workspace.md): a run (with its pipeline steps),
a model version or a dataset version is written where the local backend looks for it, with
its metadata file, so that it can be browsed and previewed offline afterwards.

    <root>/workspace.json                                   written when missing
    <root>/experiments/<experiment>/<run_id>/run.json       + outputs/, logs/ (child runs:
                                                            sibling folders, `parent_id` set)
    <root>/models/<name>/<version>/model.json               + the version's files
    <root>/datasets/<name>/<version>/dataset.json           + the version's files

Every file goes through the same plan and engine as any download (names mapped or refused,
contained in the root, identical files skipped, conflicts settled by the policy, verified,
atomic rename); all the items share one transfer (one progress, one cancel). The metadata
files are written last, from the service's metadata, replacing older ones (atomic replace)."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..backends import Catalog
from ..backends.base import FileEntry
from ..backends.local import WORKSPACE_FILE, WORKSPACE_FORMAT, read_json_object
from ..errors import ArtifactError, Conflict, InvalidParams, UnsafePath
from ..model import Node
from ..uris import LocalPath, Location, ModelVersion, RunArtifact, WorkspaceItem, parse_uri
from .download import DownloadResult
from .engine import Options, transfer
from .names import local_name
from .plan import POLICIES, Plan, Policy, contained, make_plan
from .progress import Progress, Tracker

# Node kind → (group folder, metadata file).
KINDS = {
    "run": ("experiments", "run.json"),
    "modelVersion": ("models", "model.json"),
    "datasetVersion": ("datasets", "dataset.json"),
}
RUN_KEYS = (
    "display_name",
    "status",
    "start_time",
    "end_time",
    "parent_id",
    "run_type",
    "tags",
    "metrics",
    "properties",
)
MODEL_KEYS = (
    "name",
    "version",
    "framework",
    "framework_version",
    "run_id",
    "experiment",
    "description",
    "created",
    "tags",
)
DATASET_KEYS = (
    "name",
    "version",
    "type",
    "description",
    "created",
    "tags",
    "datastore",
    "path",
    "notes",
)
MAX_RUNS = 1000  # a run and its pipeline steps, at most
MAX_DEPTH = 8  # pipelines inside pipelines
CHILD_PAGE = 1000


@dataclass(frozen=True)
class _Item:
    """One node to put into the workspace: its files go to `folder`, `record` to its metadata
    file."""

    uri: str
    kind: str
    folder: Path  # <root>/<group>/<a>/<b>, each component a safe local name
    remote_name: str  # the remote name of the folder's last component (run id, version)
    record: dict[str, Any]
    local_source: bool  # a local workspace's folder (its own metadata file is not copied)

    @property
    def metadata_file(self) -> str:
        return KINDS[self.kind][1]


def download_to_workspace(
    catalog: Catalog,
    uri: str,
    root: Path,
    on_progress: Callable[[Progress], None] | None = None,
    cancel: threading.Event | None = None,
    *,
    policy: Policy = "ask",
    options: Options | None = None,
) -> DownloadResult:
    """Put the run, model version or dataset version `uri` into the local workspace `root`
    (created when missing). `policy` as for `download` (`ask` raises Conflict, listing the
    files of every item, before anything is written)."""
    if policy not in POLICIES:
        raise InvalidParams(f"onConflict must be one of {', '.join(POLICIES)}, got {policy!r}.")
    cancel = cancel or threading.Event()
    options = options or Options()
    root = root.expanduser().absolute()
    existing = _workspace_state(root)
    node = catalog.stat(uri)
    if node.kind not in KINDS:
        raise InvalidParams(
            f"Only runs, model versions and dataset versions can be downloaded into a local "
            f"workspace; {node.name} is {_a(node.kind)}. Use Download… for other items.",
            uri,
        )
    items = list(_items(catalog, node, root))
    plans = _plans(catalog, items, root, policy, uri, options, cancel)
    root.mkdir(parents=True, exist_ok=True)
    if existing is None:
        _write_json(root, root / WORKSPACE_FILE, _workspace_record(root))
    for item in items:
        _make_folder(root, item.folder)
    work = [entry for plan in plans for entry in plan.items]
    skipped = sum(len(plan.skipped) for plan in plans)
    refused = [failure for plan in plans for failure in plan.failures]
    tracker = Tracker(
        len(work) + skipped + len(refused), sum(i.entry.size for i in work), on_progress
    )
    for _ in range(skipped):
        tracker.file_done(skipped=True)
    for _ in refused:
        tracker.file_failed(0)
    outcome = transfer(catalog, root, work, tracker, cancel, options)
    for item in items:
        _write_json(root, item.folder / item.metadata_file, item.record)
    if on_progress is not None:
        on_progress(tracker.snapshot())
    return DownloadResult(
        str(items[0].folder),
        len(outcome.downloaded),
        outcome.bytes,
        skipped,
        tuple(refused + outcome.failures),
        tracker.bytes_fetched,
        workspace=str(root),
    )


# -- what goes where ------------------------------------------------------------------------


def _items(catalog: Catalog, node: Node, root: Path) -> Iterator[_Item]:
    """The node, then (runs) its pipeline steps, depth first, at most MAX_RUNS in all."""
    first = _item(catalog, node, root)
    yield first
    if node.kind != "run":
        return
    folder = first.folder.parent  # child runs are folders of the same experiment
    pending = [(node, 1)]
    seen = {first.remote_name}
    while pending:
        parent, depth = pending.pop()
        for child in _child_runs(catalog, parent.uri):
            item = _run_item(catalog, child, folder)
            if item.remote_name in seen:
                continue
            if len(seen) >= MAX_RUNS:
                raise InvalidParams(
                    f"{node.name} has more than {MAX_RUNS} pipeline steps: download the steps "
                    "you need one by one.",
                    node.uri,
                )
            seen.add(item.remote_name)
            yield item
            if depth < MAX_DEPTH:
                pending.append((child, depth + 1))


def _item(catalog: Catalog, node: Node, root: Path) -> _Item:
    if node.kind == "run":
        meta = catalog.metadata(node.uri)
        where = _source(catalog, node.uri)
        name = _text(meta.get("experiment"))
        if name is None and isinstance(where, LocalPath):
            name = where.path.parent.name  # experiments/<experiment>/<run>
        group = _component(root / "experiments", name or "Default")
        return _run_item(catalog, node, group, meta)
    meta = catalog.metadata(node.uri)
    where = _source(catalog, node.uri)
    name, version = _versioned(where, meta, node)
    keys = MODEL_KEYS if node.kind == "modelVersion" else DATASET_KEYS
    record = _record(meta, keys, isinstance(where, LocalPath))
    record["name"] = name
    record["version"] = int(version) if version.isdigit() else version
    record["source"] = catalog.canonical(node.uri)
    group = _component(root / KINDS[node.kind][0], name)
    return _Item(
        node.uri,
        node.kind,
        _component(group, version),
        version,
        record,
        isinstance(where, LocalPath),
    )


def _run_item(
    catalog: Catalog, node: Node, experiment_folder: Path, meta: dict[str, Any] | None = None
) -> _Item:
    meta = catalog.metadata(node.uri) if meta is None else meta
    where = _source(catalog, node.uri)
    run_id = _text(meta.get("run_id")) or _run_id(where, node)
    record = _record(meta, RUN_KEYS, isinstance(where, LocalPath))
    record["source"] = catalog.canonical(node.uri)
    return _Item(
        node.uri,
        "run",
        _component(experiment_folder, run_id),
        run_id,
        record,
        isinstance(where, LocalPath),
    )


def _record(meta: dict[str, Any], keys: tuple[str, ...], local: bool) -> dict[str, Any]:
    """The metadata file's content: a local workspace's whole file, else the known keys."""
    if local:
        return {key: value for key, value in meta.items() if key != "source"}
    return {key: meta[key] for key in keys if key in meta and meta[key] is not None}


def _child_runs(catalog: Catalog, uri: str) -> Iterator[Node]:
    token: str | None = None
    while True:
        page = catalog.children(uri, token, CHILD_PAGE)
        yield from (child for child in page.items if child.kind == "run")
        token = page.next_page_token
        if not token:
            return


def _source(catalog: Catalog, uri: str) -> Location:
    return parse_uri(catalog.canonical(uri))


def _run_id(where: Location, node: Node) -> str:
    if isinstance(where, LocalPath):
        return where.path.name
    if isinstance(where, WorkspaceItem) and where.name:
        return where.name
    if isinstance(where, RunArtifact):
        return where.run_id
    return node.description or node.name


def _versioned(where: Location, meta: dict[str, Any], node: Node) -> tuple[str, str]:
    """(name, version) of a model or dataset version."""
    if isinstance(where, (ModelVersion, WorkspaceItem)):
        name, version = where.name, where.version
    elif isinstance(where, LocalPath):
        name, version = where.path.parent.name, where.path.name
    else:
        name, version = "", node.name
    name = _text(meta.get("name")) or name
    version = _text(meta.get("version")) or version
    if not name or not version:
        raise InvalidParams(f"Cannot tell the name and version of {node.uri}.", node.uri)
    return name, version


def _text(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    text = str(value) if isinstance(value, (str, int)) else None
    return text or None


def _component(folder: Path, remote: str) -> Path:
    """`folder/<remote>` with the remote name mapped like any downloaded name."""
    try:
        return folder / local_name(remote)
    except UnsafePath as error:
        raise UnsafePath(
            f"Refusing to create a folder named {remote!r}: {error.message}.", None
        ) from None


def _relocate(item: _Item) -> Callable[[FileEntry], FileEntry | None]:
    """Listed files → `<folder>/...`: the listing's top folder is replaced by the item's (a
    dataset version's folder on its datastore, say); a one-file listing goes inside it. A
    local source's own metadata file is left out (it is written from its metadata)."""

    def move(entry: FileEntry) -> FileEntry | None:
        parts = entry.relative_parts
        rest = parts[1:] if len(parts) > 1 else parts
        if rest == (item.metadata_file,):
            if item.local_source:
                return None
            raise UnsafePath(
                f"its name is that of the metadata file {item.metadata_file} of the local "
                "workspace format"
            )
        return replace(entry, relative_parts=(item.remote_name, *rest))

    return move


def _plans(
    catalog: Catalog,
    items: list[_Item],
    root: Path,
    policy: Policy,
    uri: str,
    options: Options,
    cancel: threading.Event,
) -> list[Plan]:
    """One plan per item; with `ask`, one Conflict listing the conflicts of all of them."""
    plans: list[Plan] = []
    conflicts: list[str] = []
    for item in items:
        dest = item.folder.parent
        reason = contained(root, item.folder)
        if reason is not None:
            raise UnsafePath(f"Refusing to write into {item.folder}: {reason}.", item.uri)
        source = parse_uri(item.record["source"])
        if isinstance(source, LocalPath) and _same_folder(source.path, item.folder):
            raise InvalidParams(
                f"{item.folder} is where {item.uri} already is: choose another local workspace.",
                item.uri,
            )
        try:
            plan = make_plan(
                catalog,
                item.uri,
                dest,
                policy,
                _relocate(item),
                top_name=item.remote_name,
                probes=options.concurrency,
                cancel=cancel,
            )
        except Conflict as conflict:
            conflicts += [str((dest / name).relative_to(root)) for name in conflict.conflicts]
            continue
        plans.append(plan)
    if conflicts:
        shown = ", ".join(conflicts[:3]) + (
            f" and {len(conflicts) - 3} more" if len(conflicts) > 3 else ""
        )
        several = len(conflicts) != 1
        raise Conflict(
            f"{len(conflicts)} file{'s already exist' if several else ' already exists'} in "
            f"{root} and differ{'' if several else 's'} ({shown}): choose to overwrite or to "
            "skip existing files.",
            uri,
            conflicts,
        )
    return plans


def _same_folder(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


# -- the workspace's own files --------------------------------------------------------------


def _workspace_state(root: Path) -> dict[str, Any] | None:
    """The existing workspace.json, None when there is none; InvalidParams when `root` cannot
    be a local workspace (a file, or a workspace.json of something else)."""
    if root.exists() and not root.is_dir():
        raise InvalidParams(f"{root} is a file: choose a folder for the local workspace.")
    marker = root / WORKSPACE_FILE
    if not marker.exists() and not marker.is_symlink():
        return None
    try:
        if marker.is_symlink() or not marker.is_file():
            raise InvalidParams(f"{marker} is not a regular file.")
        record = read_json_object(marker)
    except (ArtifactError, OSError) as error:
        message = getattr(error, "message", None) or str(error)
        raise InvalidParams(
            f"{root} has a {WORKSPACE_FILE} that cannot be read ({message}): choose another "
            "folder, or fix the file.",
        ) from None
    if record.get("format") != WORKSPACE_FORMAT:
        raise InvalidParams(
            f"{root} has a {WORKSPACE_FILE} that is not a local workspace's (no "
            f'"format": "{WORKSPACE_FORMAT}"): choose another folder.'
        )
    return record


def _workspace_record(root: Path) -> dict[str, Any]:
    return {
        "format": WORKSPACE_FORMAT,
        "formatVersion": 1,
        "name": root.name or str(root),
        "description": "Downloaded with AzureML Artifact Explorer (Download to Local Workspace).",
    }


def _make_folder(root: Path, folder: Path) -> None:
    """Create `folder` (under root) one level at a time, never through a symbolic link."""
    current = root
    for part in folder.relative_to(root).parts:
        current = current / part
        if current.is_symlink():
            raise UnsafePath(f"Refusing to write into {current}: it is a symbolic link.")
        current.mkdir(exist_ok=True)


def _write_json(root: Path, target: Path, record: dict[str, Any]) -> None:
    """Write `record` to `target` (inside root) through a temporary file and a rename."""
    reason = contained(root, target)
    if reason is not None:
        raise UnsafePath(f"Refusing to write {target}: {reason}.")
    data = (json.dumps(record, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    temp = target.parent / f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(temp, flags, 0o644)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def _a(kind: str) -> str:
    return f"an {kind}" if kind[:1] in "aeiou" else f"a {kind}"


__all__ = ["KINDS", "download_to_workspace"]
