"""Download a file or folder into a destination folder.

Every file goes to a temporary name beside its target and is renamed only when complete and
its size verified; every target path is checked to stay inside the destination before
anything is written."""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from urllib.parse import unquote

from ..backends import Catalog
from ..backends.base import FileEntry
from ..errors import AlreadyExists, Cancelled, CorruptArtifact, UnsafePath

CHUNK_BYTES = 1 << 20
_DRIVE = re.compile(r"^[A-Za-z]:")


@dataclass(frozen=True)
class DownloadResult:
    path: str
    files: int
    bytes: int


@dataclass(frozen=True)
class Progress:
    files_done: int
    files_total: int
    bytes_done: int
    bytes_total: int


def download(
    catalog: Catalog,
    uri: str,
    dest: Path,
    overwrite: bool = False,
    on_progress: Callable[[Progress], None] | None = None,
    cancel: threading.Event | None = None,
) -> DownloadResult:
    dest = dest.expanduser().absolute()
    entries = list(catalog.walk(uri))
    top_name = entries[0].relative_parts[0] if entries else _last_segment(catalog.canonical(uri))
    top = safe_target(dest, (top_name,))
    plan = [(safe_target(dest, entry.relative_parts), entry) for entry in entries]
    if top.exists() and not overwrite:
        raise AlreadyExists(f"{top} already exists: choose another folder, or overwrite it.", uri)
    dest.mkdir(parents=True, exist_ok=True)
    if not entries:
        top.mkdir(exist_ok=True)
    total = sum(entry.size for entry in entries)
    report = on_progress or _ignore
    done_bytes = 0
    for index, (target, entry) in enumerate(plan):
        progress_at = partial(_progress_at, report, index, len(plan), done_bytes, total)
        done_bytes += _copy(catalog, entry, target, cancel or threading.Event(), progress_at)
        report(Progress(index + 1, len(plan), done_bytes, total))
    return DownloadResult(str(top), len(plan), done_bytes)


def safe_target(dest: Path, parts: tuple[str, ...]) -> Path:
    """`dest` joined with remote names, refusing any that could point elsewhere."""
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
    resolved_dest = dest.resolve()
    if resolved_dest not in target.resolve().parents:
        raise UnsafePath(
            f"Refusing to write {target}: it resolves outside {dest} "
            "(a symbolic link in the destination?)."
        )
    return target


def _copy(
    catalog: Catalog,
    entry: FileEntry,
    target: Path,
    cancel: threading.Event,
    on_bytes: Callable[[int], object],
) -> int:
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.part")
    reader = catalog.open(entry.uri)
    written = 0
    try:
        with open(temporary, "wb") as out:
            while written < reader.size:
                if cancel.is_set():
                    raise Cancelled(f"Download of {entry.uri} was cancelled.", entry.uri)
                chunk = reader.read_range(written, CHUNK_BYTES)
                if not chunk:
                    break
                out.write(chunk)
                written += len(chunk)
                on_bytes(written)
        if written != reader.size:
            raise CorruptArtifact(
                f"{entry.uri} ended after {written} of {reader.size} bytes: "
                "it changed or was truncated while downloading. Try again."
            )
        os.replace(temporary, target)
    finally:
        reader.close()
        temporary.unlink(missing_ok=True)
    return written


def _progress_at(
    report: Callable[[Progress], None],
    files_done: int,
    files_total: int,
    base: int,
    total: int,
    written: int,
) -> None:
    report(Progress(files_done, files_total, base + written, total))


def _ignore(progress: Progress) -> None:
    pass


def _last_segment(uri: str) -> str:
    return unquote(uri.rstrip("/").rsplit("/", 1)[-1])
