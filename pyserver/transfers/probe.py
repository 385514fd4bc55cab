"""Whether a file already in the destination is the remote one, when the listing cannot say
(Azure ML artifact listings give a signed URL but no size, no checksum, no date).

One tiny ranged GET of the remote file (`PROBE_BYTES`) answers with its size, Content-MD5,
and Last-Modified, and almost no body. The local file is the same when its size matches and
then its MD5 does (when the remote file has one), else when its modification time is the
remote's Last-Modified (what a download sets on the files it writes). Anything that cannot
be told (an error, no checksum and no date) counts as different: the policy settles it."""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

from ..backends import Catalog, RangeReader
from ..backends.base import FileEntry
from ..errors import ArtifactError, Cancelled, PermissionDenied

PROBE_BYTES = 1
MTIME_SLACK_S = 2.0  # FAT and exFAT keep modification times to 2 s
HASH_BLOCK = 4 << 20


def unlisted(entry: FileEntry) -> bool:
    """The listing gave nothing to compare with (a size of 0 for want of one)."""
    return entry.size == 0 and entry.md5 is None and entry.modified is None


def identical(
    catalog: Catalog,
    files: Sequence[tuple[FileEntry, Path]],
    workers: int,
    cancel: threading.Event | None = None,
) -> list[bool]:
    """For each (remote file, existing local regular file): are they the same? Cancelled
    when `cancel` is set."""
    if not files:
        return []
    with ThreadPoolExecutor(max(1, min(workers, len(files))), "download-probe") as pool:
        return list(pool.map(partial(_identical, catalog, cancel or threading.Event()), files))


def _identical(catalog: Catalog, cancel: threading.Event, file: tuple[FileEntry, Path]) -> bool:
    if cancel.is_set():
        raise Cancelled("The download was cancelled.")
    entry, target = file
    try:
        reader = _open(catalog, entry)
    except ArtifactError:
        return False
    try:
        return same_as_remote(reader, target)
    except OSError:
        return False
    finally:
        reader.close()


def _open(catalog: Catalog, entry: FileEntry) -> RangeReader:
    """The remote file through the listing's signed URL (its first byte only), else (no URL,
    or an expired one) through the backend."""
    if entry.url is not None:
        from ..backends.signed import open_signed

        try:
            return open_signed(entry.url, entry.uri, PROBE_BYTES)
        except PermissionDenied:
            pass
    return catalog.open(entry.uri)


def same_as_remote(reader: RangeReader, target: Path) -> bool:
    info = os.stat(target)
    if reader.size != info.st_size:
        return False
    md5 = getattr(reader, "md5", None)
    if isinstance(md5, bytes):
        return file_md5(target) == md5
    modified = getattr(reader, "modified", None)
    return isinstance(modified, float) and abs(info.st_mtime - modified) <= MTIME_SLACK_S


def file_md5(path: Path) -> bytes:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    try:
        return fd_md5(fd, os.fstat(fd).st_size)
    finally:
        os.close(fd)


def fd_md5(fd: int, size: int, cancel: threading.Event | None = None) -> bytes:
    """MD5 of the first `size` bytes of an open file; Cancelled when `cancel` is set."""
    digest = hashlib.md5(usedforsecurity=False)
    position = os.lseek(fd, 0, os.SEEK_SET)  # read, not pread: also on Windows
    while position < size:
        if cancel is not None and cancel.is_set():
            raise Cancelled("cancelled")
        block = os.read(fd, min(HASH_BLOCK, size - position))
        if not block:
            break
        digest.update(block)
        position += len(block)
    return digest.digest()
