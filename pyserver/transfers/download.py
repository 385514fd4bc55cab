"""Download a file or folder into a destination folder: plan (plan.py: names mapped and
contained, identical files skipped, conflicts settled by the policy), then transfer
(engine.py: parallel, chunked, resumable, verified, atomic rename), with progress
(progress.py). Files that fail are listed in the result; the others are complete."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..backends import Catalog
from ..errors import InvalidParams, UnsafePath
from .engine import Options, transfer
from .plan import POLICIES, Failure, Policy, contained, make_plan
from .progress import Progress, Tracker

_DRIVE = re.compile(r"^[A-Za-z]:")


@dataclass(frozen=True)
class DownloadResult:
    path: str
    files: int  # files written by this download
    bytes: int  # their bytes
    skipped: int = 0  # files already there (identical, or kept by the `skip` policy)
    failures: tuple[Failure, ...] = field(default=())
    fetched_bytes: int = 0  # bytes that crossed the network (less than `bytes` on resume)
    workspace: str | None = None  # a download into a local workspace: its root folder

    def to_json(self) -> dict[str, Any]:
        """The protocol's result: `skipped`, `failures` and `workspace` only when set."""
        result: dict[str, Any] = {"path": self.path, "files": self.files, "bytes": self.bytes}
        if self.skipped:
            result["skipped"] = self.skipped
        if self.failures:
            result["failures"] = [failure.to_json() for failure in self.failures]
        if self.workspace is not None:
            result["workspace"] = self.workspace
        return result


def download(
    catalog: Catalog,
    uri: str,
    dest: Path,
    overwrite: bool = False,
    on_progress: Callable[[Progress], None] | None = None,
    cancel: threading.Event | None = None,
    *,
    policy: Policy | None = None,
    options: Options | None = None,
) -> DownloadResult:
    """`policy` (default: `overwrite` when `overwrite`, else `ask`) settles existing files
    that differ: `ask` raises Conflict (errors.py) before anything is written, `skip` keeps
    them, `overwrite` replaces them. Identical files are always skipped (with `ask` and
    `overwrite`, also those of listings without sizes: plan.py asks the remote file)."""
    policy = policy or ("overwrite" if overwrite else "ask")
    if policy not in POLICIES:
        raise InvalidParams(f"onConflict must be one of {', '.join(POLICIES)}, got {policy!r}.")
    cancel = cancel or threading.Event()
    options = options or Options()
    plan = make_plan(catalog, uri, dest, policy, probes=options.concurrency, cancel=cancel)
    plan.dest.mkdir(parents=True, exist_ok=True)
    empty_folder = not (plan.items or plan.skipped or plan.failures)
    if empty_folder and contained(plan.dest, plan.top) is None:
        plan.top.mkdir(exist_ok=True)
    tracker = Tracker(
        len(plan.items) + len(plan.skipped) + len(plan.failures),
        sum(item.entry.size for item in plan.items),
        on_progress,
    )
    for _ in plan.skipped:
        tracker.file_done(skipped=True)
    for _ in plan.failures:
        tracker.file_failed(0)
    outcome = transfer(catalog, plan.dest, plan.items, tracker, cancel, options)
    if on_progress is not None:
        on_progress(tracker.snapshot())
    return DownloadResult(
        str(plan.top),
        len(outcome.downloaded),
        outcome.bytes,
        len(plan.skipped),
        tuple(plan.failures + outcome.failures),
        tracker.bytes_fetched,
    )


def safe_target(dest: Path, parts: tuple[str, ...]) -> Path:
    """`dest` joined with already-safe names (names.local_parts), refusing any that could
    point elsewhere: a last check, never a substitute for the mapping."""
    for part in parts:
        if (
            not part
            or part in (".", "..")
            or "/" in part
            or "\\" in part
            or "\x00" in part
            or _DRIVE.match(part)
        ):
            raise UnsafePath(
                f"Refusing to write {'/'.join(parts)!r}: the name {part!r} could "
                "place a file outside the download folder."
            )
    target = dest.joinpath(*parts)
    reason = contained(dest, target)
    if reason is not None:
        raise UnsafePath(f"Refusing to write {target}: {reason}.")
    return target


__all__ = ["DownloadResult", "Failure", "Options", "Progress", "download", "safe_target"]
