"""What a download will do, decided before anything is written: every remote file's local
target (mapped by names.py and contained in the destination), which targets already hold
the same file (skipped), which hold another one (conflicts, settled by the policy). When the
listing cannot tell (no size: Azure ML artifacts), probe.py asks the remote file itself."""

from __future__ import annotations

import os
import stat
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import unquote

from ..backends import Catalog
from ..backends.base import FileEntry
from ..errors import Conflict, Unavailable, UnsafePath
from .names import local_name, local_parts
from .probe import file_md5, identical, unlisted

Policy = Literal["ask", "skip", "overwrite"]
POLICIES: tuple[Policy, ...] = ("ask", "skip", "overwrite")
LISTING_ATTEMPTS = 4
PROBES_IN_FLIGHT = 8


@dataclass(frozen=True)
class Failure:
    """A file that was not downloaded: its URI, its (intended) local path, and why."""

    uri: str
    path: str
    reason: str

    def to_json(self) -> dict[str, str]:
        return {"uri": self.uri, "path": self.path, "reason": self.reason}


@dataclass(frozen=True)
class Item:
    entry: FileEntry
    target: Path  # absolute, inside the destination


@dataclass
class Plan:
    dest: Path
    top: Path
    items: list[Item] = field(default_factory=list)  # to download
    skipped: list[Item] = field(default_factory=list)  # identical, or kept (policy skip)
    failures: list[Failure] = field(default_factory=list)  # refused names, collisions


# Where a listed file goes instead (a new entry), None to leave it out, or UnsafePath to
# refuse it (listed in the failures): how a download into a local workspace lays files out.
Relocate = Callable[[FileEntry], FileEntry | None]


def make_plan(
    catalog: Catalog,
    uri: str,
    dest: Path,
    policy: Policy,
    relocate: Relocate | None = None,
    top_name: str | None = None,
    probes: int = PROBES_IN_FLIGHT,
    cancel: threading.Event | None = None,
) -> Plan:
    """`top_name`: the remote name of the top folder when the listing is empty (default: the
    URI's last segment). `probes`: remote files asked at once whether an existing local file
    is theirs (listings without sizes); `cancel` stops that (Cancelled)."""
    dest = dest.expanduser().absolute()
    failures: list[Failure] = []
    entries = _listing(catalog, uri)
    if relocate is not None:
        entries, failures = _relocated(entries, relocate)
    if entries:
        top_name = entries[0].relative_parts[0]
    elif top_name is None:
        top_name = _last_segment(catalog.canonical(uri))
    try:
        top = dest / local_name(top_name)
    except UnsafePath as error:
        raise UnsafePath(f"Refusing to download {uri}: {error.message}.", uri) from None
    plan = Plan(dest, top, failures=failures)
    fold = os.name == "nt" or os.uname().sysname == "Darwin"  # case-insensitive filesystems
    claimed: dict[str, str] = {}
    conflicts: list[Item] = []
    unknown: list[Item] = []  # existing files the listing cannot compare with
    containment = Containment(dest)
    for entry in entries:
        try:
            parts = local_parts(entry.relative_parts)
        except UnsafePath as error:
            plan.failures.append(Failure(entry.uri, "/".join(entry.relative_parts), error.message))
            continue
        target = dest.joinpath(*parts)
        key = str(target).casefold() if fold else str(target)
        if key in claimed:
            reason = f"its local name is the same as that of {claimed[key]}"
            plan.failures.append(Failure(entry.uri, str(target), reason))
            continue
        claimed[key] = entry.uri
        outside = containment.check(target, remember=True)
        if outside is not None:
            plan.failures.append(Failure(entry.uri, str(target), outside))
            continue
        item = Item(entry, target)
        state = _existing(entry, target)
        if state == "absent":
            plan.items.append(item)
        elif state == "identical":
            plan.skipped.append(item)
        elif state == "folder":
            reason = "a folder of that name exists in the destination"
            plan.failures.append(Failure(entry.uri, str(target), reason))
        elif state == "unknown":
            unknown.append(item)
        else:
            conflicts.append(item)
    if policy == "skip":  # kept whatever they hold: nothing to ask the remote files
        conflicts += unknown
    else:
        existing = [(item.entry, item.target) for item in unknown]
        same = identical(catalog, existing, probes, cancel)
        plan.skipped += [item for item, alike in zip(unknown, same, strict=True) if alike]
        conflicts += [item for item, alike in zip(unknown, same, strict=True) if not alike]
    if conflicts and policy == "ask":
        names = [str(item.target.relative_to(dest)) for item in conflicts]
        shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        raise Conflict(
            f"{len(names)} file{'s already exist' if len(names) != 1 else ' already exists'} in "
            f"{dest} and differ{'s' if len(names) == 1 else ''} ({shown}): choose to overwrite "
            "or to skip existing files.",
            uri,
            names,
        )
    (plan.items if policy == "overwrite" else plan.skipped).extend(conflicts)
    return plan


def contained(dest: Path, target: Path) -> str | None:
    """Why `target` would land outside `dest` (lexically, or through the symbolic links that
    exist on the way), or None when it is inside."""
    return Containment(dest).check(target)


class Containment:
    """`contained` for many targets in one destination: the destination resolved once, and
    (with `remember`) each folder once. A check with `remember=False` resolves the folder
    again (right before a rename: a folder replaced by a link meanwhile is caught)."""

    def __init__(self, dest: Path) -> None:
        self._dest = os.path.normpath(dest)
        self._real_dest = os.path.realpath(dest)
        self._folders: dict[str, str | None] = {}

    def check(self, target: Path, remember: bool = False) -> str | None:
        if not _inside(os.path.normpath(target), self._dest):
            return "its path leaves the destination folder"
        folder = str(target.parent)
        if remember and folder in self._folders:
            return self._folders[folder]
        parent = os.path.realpath(folder)
        reason = None
        if parent != self._real_dest and not _inside(parent, self._real_dest):
            reason = "its folder resolves outside the destination (a symbolic link?)"
        if remember:
            self._folders[folder] = reason
        return reason


def _inside(path: str, folder: str) -> bool:
    """`path` is strictly inside `folder` (both absolute and normalised): a prefix test, as
    commonpath would decide it, a dozen times cheaper (it runs several times per file)."""
    path, folder = os.path.normcase(path), os.path.normcase(folder)
    return path != folder and path.startswith(os.path.join(folder, ""))


def _existing(entry: FileEntry, target: Path) -> str:
    """absent | identical | different | unknown (the listing cannot tell) | folder."""
    try:
        info = os.lstat(target)
    except FileNotFoundError:
        return "absent"
    except NotADirectoryError:
        return "different"
    if stat.S_ISDIR(info.st_mode):
        return "folder"
    if not stat.S_ISREG(info.st_mode):  # a symbolic link: replaced, never followed
        return "different"
    if unlisted(entry):
        return "unknown"
    return "identical" if same_file(entry, target, info) else "different"


def same_file(entry: FileEntry, target: Path, info: os.stat_result) -> bool:
    """Size and Content-MD5 when the listing has it; else size and a local copy at least as
    new as the remote file. Without either (listings without sizes), never the same: probe.py
    asks the remote file instead."""
    if entry.size != info.st_size or unlisted(entry):
        return False
    if entry.md5 is not None:
        return file_md5(target) == entry.md5
    return entry.modified is not None and info.st_mtime >= entry.modified


def _listing(catalog: Catalog, uri: str) -> list[FileEntry]:
    """Every file under `uri`; the listing starts over after a transient failure."""
    for attempt in range(LISTING_ATTEMPTS):
        try:
            return list(catalog.walk(uri))
        except Unavailable:
            if attempt == LISTING_ATTEMPTS - 1:
                raise
            time.sleep(0.5 * 2**attempt)
    raise AssertionError("unreachable")


def _relocated(
    entries: list[FileEntry], relocate: Relocate
) -> tuple[list[FileEntry], list[Failure]]:
    kept: list[FileEntry] = []
    refused: list[Failure] = []
    for entry in entries:
        try:
            moved = relocate(entry)
        except UnsafePath as error:
            refused.append(Failure(entry.uri, "/".join(entry.relative_parts), error.message))
            continue
        if moved is not None:
            kept.append(moved)
    return kept, refused


def _last_segment(uri: str) -> str:
    return unquote(uri.rstrip("/").rsplit("/", 1)[-1])
