"""The transfer engine: many files in flight and big files in parallel ranged chunks, written
with pwrite into a temporary file beside the target (preallocated when chunked), resumable,
verified, then renamed into place.

- A bounded set of threads (`Options.concurrency`) takes work from one queue: chunks of
  files already opened first, else the next file. Memory stays flat: a thread holds one
  piece (`piece_bytes`) at a time.
- Files of `chunked_from` bytes or more are split into `chunk_bytes` chunks. Their temporary
  name is `.<name>.<key>.part`, `key` a hash of (URI, remote identity, size), the identity
  being the blob's ETag (a local file: its mtime and size); a sidecar `<temp>.json` lists
  the chunks written (replaced atomically after each chunk). A new download of the same
  file after a crash or kill resumes from those chunks; when the remote file changed, the
  key differs and the stale temporary files are removed.
- A file the listing gives a signed URL for (Azure ML artifacts) is read through it
  (backends/signed.py: pooled connections, the first ranged GET gives the size, ETag and
  Content-MD5): no request to the service per file; an expired link is renewed through the
  backend's `open`.
- Verification: the size always (the bytes written, and the temporary file's size); the
  Content-MD5 when the listing (or the signed URL's first answer) has one — hashed while the
  bytes arrive for a file written in order (not chunked), re-read from disk for a chunked one.
  Only then the temporary file is renamed (os.replace) to its final name. A small file costs
  no more system calls than that: no preallocation, no sidecar, no second read.
- Faults: each piece is retried (exponential backoff with jitter, `retries` attempts) on
  connection errors, timeouts and 5xx; an expired link or token (PermissionDenied) reopens
  the file once. A file that still fails is reported and the others go on; its chunked
  temporary file is kept for a later resume (unless its content was wrong).
- Cancel: the threads stop before their next piece; every temporary file of an unfinished
  file is removed (a user's cancel), nothing reaches a final name."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import random
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from ..backends import Catalog, RangeReader
from ..errors import (
    ArtifactError,
    Cancelled,
    CorruptArtifact,
    NotFound,
    PermissionDenied,
    Unavailable,
)
from .names import short_name
from .plan import Containment, Failure, Item
from .probe import fd_md5
from .progress import Tracker

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)
MiB = 1 << 20
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_BINARY = getattr(os, "O_BINARY", 0)
SIDECAR_VERSION = 1


@dataclass(frozen=True)
class Options:
    concurrency: int = 8  # threads: files in flight + chunks of big files
    chunk_bytes: int = 8 * MiB  # resume unit of a big file
    chunked_from: int = 16 * MiB  # files this big are split into chunks
    piece_bytes: int = 8 * MiB  # one ranged read (what a thread holds in memory)
    retries: int = 6  # attempts per piece
    backoff_s: float = 0.25  # first retry delay (doubled each attempt, ± 50 % jitter)
    backoff_max_s: float = 8.0


@dataclass
class Outcome:
    downloaded: list[Item]
    bytes: int
    failures: list[Failure]


def transfer(
    catalog: Catalog,
    dest: Path,
    items: list[Item],
    tracker: Tracker,
    cancel: threading.Event,
    options: Options,
) -> Outcome:
    """Download every item to its target; Cancelled (after cleaning up) when `cancel` is set."""
    queue = _Queue(items, cancel)
    temps = _TempIndex()
    folders = _Folders(dest)
    jobs: list[_Job] = []
    jobs_lock = threading.Lock()

    def work() -> None:
        while (unit := queue.take()) is not None:
            if isinstance(unit, Item):
                job = _Job(unit, catalog, dest, tracker, cancel, options, temps, folders)
                with jobs_lock:
                    jobs.append(job)
                chunks: list[int] = []
                try:
                    chunks = job.prepare()
                finally:
                    queue.prepared([(job, index) for index in chunks[1:]])
                if chunks:
                    job.run_chunk(chunks[0])
            else:
                unit[0].run_chunk(unit[1])

    threads = [
        threading.Thread(target=work, name=f"download-{n}", daemon=True)
        for n in range(max(1, min(options.concurrency, len(items))))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for job in jobs:  # chunks never run (cancel): release and clean up
        job.abandon(cancelled=cancel.is_set())
    if cancel.is_set():
        raise Cancelled("The download was cancelled.")
    downloaded = [job.item for job in jobs if job.placed]
    failures = [job.failure for job in jobs if job.failure is not None]
    return Outcome(downloaded, sum(job.size for job in jobs if job.placed), failures)


class _Queue:
    """Chunks of opened files first, else the next file. A thread finding neither waits
    while another is opening a file (its chunks are coming)."""

    def __init__(self, items: Iterable[Item], cancel: threading.Event) -> None:
        self._cond = threading.Condition()
        self._files = iter(items)
        self._chunks: deque[tuple[_Job, int]] = deque()
        self._opening = 0
        self._cancel = cancel

    def take(self) -> Item | tuple[_Job, int] | None:
        with self._cond:
            while not self._cancel.is_set():
                if self._chunks:
                    return self._chunks.popleft()
                item = next(self._files, None)
                if item is not None:
                    self._opening += 1
                    return item
                if self._opening == 0:
                    return None
                self._cond.wait(0.1)
            return None

    def prepared(self, chunks: list[tuple[_Job, int]]) -> None:
        with self._cond:
            self._chunks.extend(chunks)
            self._opening -= 1
            self._cond.notify_all()


class _Job:
    """One file: opened, its temporary file prepared (or resumed), its chunks written by any
    thread; the thread finishing the last chunk verifies and places it."""

    def __init__(
        self,
        item: Item,
        catalog: Catalog,
        dest: Path,
        tracker: Tracker,
        cancel: threading.Event,
        options: Options,
        temps: _TempIndex,
        folders: _Folders,
    ) -> None:
        self.item = item
        self._temps = temps
        self._folders = folders
        self._catalog = catalog
        self._dest = dest
        self._tracker = tracker
        self._cancel = cancel
        self._options = options
        self._lock = threading.Lock()
        self._reader: RangeReader | None = None
        self._identity = ""
        self._fd = -1
        self.size = item.entry.size
        self._chunk = 1
        self._done: set[int] = set()
        self._remaining = 0
        self._written = 0  # bytes in the temporary file (resumed chunks included)
        self._md5: hashlib._Hash | None = None  # running Content-MD5 of a file written in order
        self._left = item.entry.size  # bytes not yet written (for the progress total)
        self.temp: Path | None = None
        self.sidecar: Path | None = None
        self.chunked = False
        self.placed = False
        self.failure: Failure | None = None
        self._keep_temp = False

    # -- preparing -------------------------------------------------------------------------

    def prepare(self) -> list[int]:
        """Open the file and its temporary file: the chunks left to write (none: placed or
        failed already)."""
        with self._failing_this_file():
            return self._prepare()
        return []

    def _prepare(self) -> list[int]:
        entry, target, options = self.item.entry, self.item.target, self._options
        open_listed = getattr(self._catalog, "open_listed", None)
        small = entry.size < options.chunked_from and entry.etag is not None
        if entry.url is not None:  # a signed URL from the listing: no service request
            self._reader = self._open_signed(entry.url)
        elif small and open_listed is not None:  # no properties request per small file
            self._reader = open_listed(entry)
        else:
            self._reader = self._retrying(lambda: self._catalog.open(entry.uri))
        self.size = self._reader.size
        self._tracker.add_total(self.size - entry.size)
        self._left = self.size
        self._identity = _identity(self._reader, entry.modified)
        reason = self._folders.prepare(target)
        if reason is not None:
            raise ArtifactError(f"refused: {reason}")
        key = hashlib.sha256(f"{entry.uri}|{self._identity}|{self.size}".encode()).hexdigest()
        base = f".{short_name(target.name, 200)}."
        self.temp = target.parent / f"{base}{key[:16]}.part"
        self.sidecar = target.parent / f"{self.temp.name}.json"
        self._temps.remove_stale(target.parent, base, self.temp.name)
        self.chunked = self.size >= options.chunked_from
        self._chunk = options.chunk_bytes if self.chunked else max(1, self.size)
        count = -(-self.size // self._chunk)
        resumed = self._resume_state(count) if self.chunked else None
        self._fd = _open_temp(self.temp, truncate=resumed is None)
        if resumed is not None:
            self._resumed(resumed)
        elif self.chunked:
            _preallocate(self._fd, self.size)
        elif isinstance(self._expected_md5(), bytes):  # written in order: hashed as it comes
            self._md5 = hashlib.md5(usedforsecurity=False)
        pending = [index for index in range(count) if index not in self._done]
        self._remaining = len(pending)
        if not pending:
            self._finish()
        return pending

    def _resumed(self, done: set[int]) -> None:
        self._done = done
        done_bytes = sum(self._chunk_range(index)[1] for index in done)
        self._left -= done_bytes
        self._written = done_bytes
        self._tracker.resumed(done_bytes)

    def _expected_md5(self) -> object:
        """The listing's Content-MD5, else the one the reader got with the bytes (signed URLs)."""
        listed = self.item.entry.md5
        return listed if listed is not None else getattr(self._reader, "md5", None)

    def _open_signed(self, url: str) -> RangeReader:
        """The listed signed URL, read with pooled connections, its first bytes with the
        open; when that link expired, a fresh one from the backend."""
        from ..backends.signed import FIRST_BYTES, open_signed

        uri, first = self.item.entry.uri, min(FIRST_BYTES, self._options.piece_bytes)
        try:
            reader: RangeReader = self._retrying(lambda: open_signed(url, uri, first))
        except PermissionDenied:
            reader = self._retrying(lambda: self._catalog.open(uri))
        return reader

    def _resume_state(self, count: int) -> set[int] | None:
        """The chunks a previous run completed, when its temporary file is for this very
        remote file (same key, size and chunking); else None (start over)."""
        assert self.temp is not None and self.sidecar is not None
        try:
            state = json.loads(self.sidecar.read_text(encoding="utf-8"))
            info = os.lstat(self.temp)
        except (OSError, ValueError):
            return None
        if (
            not isinstance(state, dict)
            or state.get("version") != SIDECAR_VERSION
            or state.get("identity") != self._identity
            or state.get("size") != self.size
            or state.get("chunk") != self._chunk
            or info.st_size != self.size
            or not os.path.isfile(self.temp)
            or os.path.islink(self.temp)
        ):
            return None
        done = state.get("done")
        if not isinstance(done, list):
            return None
        return {index for index in done if isinstance(index, int) and 0 <= index < count}

    # -- writing -------------------------------------------------------------------------

    def run_chunk(self, index: int) -> None:
        try:
            with self._failing_this_file(keep_fetched=self.chunked):
                if self.failure is None and not self._cancel.is_set():
                    self._write_chunk(index)
        finally:
            with self._lock:
                self._remaining -= 1
                last = self._remaining == 0
            if last and self.failure is None and not self._cancel.is_set():
                with self._failing_this_file():
                    self._finish()

    @contextlib.contextmanager
    def _failing_this_file(self, keep_fetched: bool = False) -> Iterator[None]:
        """Any error costs this one file (its reason listed at the end), never the whole
        download. `keep_fetched`: a storage error keeps the chunks written so far for resume."""
        try:
            yield
        except Cancelled:
            pass
        except Exception as error:
            if not isinstance(error, (ArtifactError, OSError)):  # a bug: the log has details
                log.exception("download of %s failed", self.item.entry.uri)
            self._fail(
                self._reason(error), keep_temp=keep_fetched and isinstance(error, ArtifactError)
            )

    def _reason(self, error: Exception) -> str:
        if isinstance(error, NotFound) and error.uri == self.item.entry.uri:
            return "no longer in storage (moved or deleted after it was listed)"
        if isinstance(error, ArtifactError):
            return error.message
        if isinstance(error, OSError):
            return f"cannot write {self.item.target}: {error.strerror or error}"
        return f"internal error ({type(error).__name__}: {error})"

    def _chunk_range(self, index: int) -> tuple[int, int]:
        start = index * self._chunk
        return start, min(self.size, start + self._chunk) - start

    def _write_chunk(self, index: int) -> None:
        start, length = self._chunk_range(index)
        position, end = start, start + length
        while position < end:
            if self._cancel.is_set():
                raise Cancelled("cancelled")
            size = min(self._options.piece_bytes, end - position)
            data: bytes = self._retrying(partial(self._read, position, size))
            _pwrite_all(self._fd, data, position)
            if self._md5 is not None:
                self._md5.update(data)
            position += len(data)
            self._tracker.fetched(len(data))
            with self._lock:
                self._left -= len(data)
                self._written += len(data)
        if self.chunked:
            with self._lock:
                self._done.add(index)
                self._save_state()

    def _read(self, offset: int, length: int) -> bytes:
        assert self._reader is not None
        read = getattr(self._reader, "read_uncached", None) or self._reader.read_range
        data: bytes = read(offset, length)
        if len(data) != length:
            raise _ShortRead(f"got {len(data)} of {length} bytes at offset {offset}")
        return data

    def _save_state(self) -> None:
        assert self.sidecar is not None
        state = {
            "version": SIDECAR_VERSION,
            "uri": self.item.entry.uri,
            "identity": self._identity,
            "size": self.size,
            "chunk": self._chunk,
            "done": sorted(self._done),
        }
        scratch = self.sidecar.with_name(self.sidecar.name + ".tmp")
        fd = _open_temp(scratch, truncate=True)
        try:
            os.write(fd, json.dumps(state).encode())
        finally:
            os.close(fd)
        os.replace(scratch, self.sidecar)

    # -- finishing -----------------------------------------------------------------------

    def _finish(self) -> None:
        """Verify and place the file (the last chunk's thread)."""
        assert self.temp is not None and self.sidecar is not None
        target = self.item.target
        self._verify()
        modified = _modified(self.item.entry.modified, self._reader)
        if modified is not None:
            with contextlib.suppress(OSError):
                os.utime(self._fd, (modified, modified))
        reason = self._folders.check(target)  # again, right before the rename
        if reason is not None:
            raise ArtifactError(f"refused: {reason}")
        self._close()
        os.replace(self.temp, target)
        if self.chunked:
            self.sidecar.unlink(missing_ok=True)
        self.placed = True
        self._tracker.file_done()

    def _verify(self) -> None:
        """The size (bytes written and on disk), then the Content-MD5 when there is one."""
        on_disk = os.fstat(self._fd).st_size
        if self._written != self.size or on_disk != self.size:
            raise CorruptArtifact(
                f"size check failed: {self._written} bytes written ({on_disk} on disk), "
                f"{self.size} expected"
            )
        expected = self._expected_md5()
        if not isinstance(expected, bytes):
            return
        if self._md5 is not None:
            digest = self._md5.digest()
        else:
            digest = fd_md5(self._fd, self.size, self._cancel)
        if digest != expected:
            self._keep_temp = False
            raise CorruptArtifact(
                f"Content-MD5 check failed (expected {expected.hex()}, got {digest.hex()}): "
                "the stored file does not match its checksum"
            )

    def _fail(self, reason: str, keep_temp: bool = False) -> None:
        with self._lock:
            if self.failure is not None or self.placed:
                return
            self.failure = Failure(self.item.entry.uri, str(self.item.target), reason)
            self._keep_temp = keep_temp
            left = self._left
        log.info("download of %s failed: %s", self.item.entry.uri, reason)
        self._tracker.file_failed(left)

    def abandon(self, cancelled: bool) -> None:
        """After the threads ended: close what is open; remove the temporary files unless
        they serve a later resume (a chunked file that failed on the network)."""
        if self.placed:
            return
        self._close()
        keep = self._keep_temp and self.failure is not None and not cancelled
        if not keep:
            for path in (self.temp, self.sidecar):
                if path is not None:
                    with contextlib.suppress(OSError):
                        path.unlink(missing_ok=True)
        if self.failure is None and not cancelled:  # never reached its last chunk
            self._fail("the download stopped before this file was complete")

    def _close(self) -> None:
        with self._lock:
            fd, self._fd = self._fd, -1
            reader, self._reader = self._reader, None
        if fd >= 0:
            os.close(fd)
        if reader is not None:
            with contextlib.suppress(Exception):
                reader.close()

    # -- retrying ------------------------------------------------------------------------

    def _retrying(self, call: Callable[[], Any]) -> Any:
        """`call` with retries on transient errors (backoff with jitter); an expired link or
        token reopens the file once (same identity required)."""
        options = self._options
        renewed = False
        attempt = 0
        while True:
            if self._cancel.is_set():
                raise Cancelled("cancelled")
            try:
                return call()
            except PermissionDenied:
                if renewed or self._reader is None:
                    raise
                renewed = True
                self._renew()
                continue
            except Exception as error:
                attempt += 1
                if not _transient(error) or attempt >= options.retries:
                    if isinstance(error, ArtifactError):
                        raise
                    raise Unavailable(
                        f"gave up after {attempt} attempts: {type(error).__name__}: {error}"
                    ) from None
                delay = min(options.backoff_max_s, options.backoff_s * 2 ** (attempt - 1))
                delay *= random.uniform(0.5, 1.5)  # noqa: S311 - jitter, not a secret
                log.info("retrying %s in %.2f s: %s", self.item.entry.uri, delay, error)
                if self._cancel.wait(delay):
                    raise Cancelled("cancelled") from None

    def _renew(self) -> None:
        """A fresh reader (new signed link / token); the file must not have changed."""
        fresh = self._catalog.open(self.item.entry.uri)
        if _identity(fresh, self.item.entry.modified) != self._identity or fresh.size != self.size:
            fresh.close()
            raise CorruptArtifact("the remote file changed while it was being downloaded")
        with self._lock:
            old, self._reader = self._reader, fresh
        if old is not None:
            old.close()


class _ShortRead(Exception):
    pass


def _transient(error: Exception) -> bool:
    if isinstance(error, (Unavailable, _ShortRead, TimeoutError, ConnectionError)):
        return True
    if isinstance(error, CorruptArtifact):  # a short read; a changed blob (412) is final
        return "changed" not in error.message
    return isinstance(error, OSError)


def _modified(listed: float | None, reader: RangeReader | None) -> float | None:
    """The remote modification time the file gets: the listing's, else the reader's (the
    Last-Modified of a signed URL's answer), so that a later download can tell it unchanged."""
    if listed is not None:
        return listed
    seen = getattr(reader, "modified", None)
    return seen if isinstance(seen, float) else None


def _pwrite_all(fd: int, data: bytes, position: int) -> None:
    view = memoryview(data)
    written = 0
    while written < len(view):
        written += os.pwrite(fd, view[written:], position + written)


def _identity(reader: RangeReader, modified: float | None) -> str:
    etag = getattr(reader, "etag", None)
    if isinstance(etag, str) and etag:
        return etag
    return f"size={reader.size};modified={modified}"


def _open_temp(path: Path, truncate: bool) -> int:
    """A temporary file, never through a symbolic link; locked so that two downloads of the
    same file do not write it at once."""
    flags = os.O_RDWR | os.O_CREAT | _O_NOFOLLOW | _O_CLOEXEC | _O_BINARY
    fd = os.open(path, flags, 0o644)
    try:
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise Unavailable(
                    f"another download is writing {path.name} right now: try again later"
                ) from None
        if truncate:
            os.ftruncate(fd, 0)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _preallocate(fd: int, size: int) -> None:
    if size <= 0:
        return
    try:
        os.posix_fallocate(fd, 0, size)
    except (AttributeError, OSError):
        os.ftruncate(fd, size)


class _Folders:
    """The target folders of one transfer: each made once and checked once against the
    destination (thousands of files share a few folders); `check` resolves a folder again."""

    def __init__(self, dest: Path) -> None:
        self._lock = threading.Lock()
        self._made: set[Path] = set()
        self._containment = Containment(dest)

    def prepare(self, target: Path) -> str | None:
        """Make the target's folder (once) and say why it is outside the destination."""
        folder = target.parent
        with self._lock:
            known = folder in self._made
        if not known:
            folder.mkdir(parents=True, exist_ok=True)
        with self._lock:
            self._made.add(folder)
            return self._containment.check(target, remember=True)

    def check(self, target: Path) -> str | None:
        with self._lock:
            return self._containment.check(target)


class _TempIndex:
    """The temporary files found in each target folder (listed once per folder and download,
    not once per file: folders of thousands of files)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._folders: dict[Path, list[str]] = {}

    def remove_stale(self, folder: Path, base: str, keep: str) -> None:
        """Temporary files of the same target for another version of the remote file."""
        with self._lock:
            names = self._folders.get(folder)
            if names is None:
                try:
                    listed = os.listdir(folder)
                except OSError:
                    listed = []
                names = [name for name in listed if name.startswith(".") and ".part" in name]
                self._folders[folder] = names
            stale = [name for name in names if _stale(name, base, keep)]
        for name in stale:
            with contextlib.suppress(OSError):
                (folder / name).unlink()


def _stale(name: str, base: str, keep: str) -> bool:
    rest = name[len(base) :]
    ours = rest.endswith((".part", ".part.json", ".part.json.tmp")) and len(rest) >= 21
    return ours and name.startswith(base) and not name.startswith(keep)
