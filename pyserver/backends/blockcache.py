"""Fixed-size blocks of remote blobs, cached in memory (per process, LRU) and on disk (shared by
the server and its preview workers, so a second hover served by another worker is instant).

On disk: `<root>/<sha256(account|container|blob|etag)>/<block index>`, each written to a
temporary name and renamed, so a reader in another process sees a whole block or none. The
ETag is part of the key: a blob that changed never serves its old blocks. The total size is
bounded: past the limit, the least recently used blocks (file mtime, refreshed on every hit)
are deleted. `AML_ARTIFACTS_BLOCK_CACHE` relocates the cache (tests, benchmarks),
`AML_ARTIFACTS_BLOCK_CACHE_MB` bounds it.

Blocks are written to disk behind the fetches, by one thread per process (a write costs
~0.2 ms, ~10 % of a remote preview when made in line); until written, the process serves them
from memory. `flush()` waits for the writes (readers call it when closed), and so does the
process at exit."""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import logging
import os
import threading
import time
from collections import OrderedDict, deque
from pathlib import Path

log = logging.getLogger(__name__)

CACHE_DIR_ENV = "AML_ARTIFACTS_BLOCK_CACHE"
CACHE_MB_ENV = "AML_ARTIFACTS_BLOCK_CACHE_MB"
DEFAULT_DISK_BYTES = 1 << 30
DEFAULT_MEMORY_BYTES = 64 << 20
EVICT_TO = 0.8  # of the limit, once over it
STALE_TEMP_S = 3600.0
PENDING_MAX_BYTES = 64 << 20  # past this much waiting to be written, writes are made in line
EXIT_FLUSH_S = 10.0


def default_cache_dir() -> Path:
    configured = os.environ.get(CACHE_DIR_ENV, "").strip()
    if configured:
        return Path(configured).expanduser()
    base = os.environ.get("XDG_CACHE_HOME", "").strip() or str(Path.home() / ".cache")
    return Path(base).expanduser() / "aml-artifacts" / "blocks"


def default_disk_bytes() -> int:
    raw = os.environ.get(CACHE_MB_ENV, "").strip()
    if raw.isdigit() and int(raw) > 0:
        return int(raw) << 20
    return DEFAULT_DISK_BYTES


def blob_key(account: str, container: str, blob: str, etag: str) -> str:
    return hashlib.sha256(f"{account}|{container}|{blob}|{etag}".encode()).hexdigest()


class BlockCache:
    """Thread-safe; any number of processes may share `root`."""

    def __init__(
        self,
        root: Path | None = None,
        max_disk_bytes: int | None = None,
        max_memory_bytes: int = DEFAULT_MEMORY_BYTES,
    ) -> None:
        self.root = root or default_cache_dir()
        self.max_disk_bytes = max_disk_bytes or default_disk_bytes()
        self.max_memory_bytes = max_memory_bytes
        self._memory: OrderedDict[tuple[str, int], bytes] = OrderedDict()
        self._memory_bytes = 0
        self._lock = threading.Lock()
        self._written = 0
        self._disk_ok = True

    def get(self, key: str, index: int, expected_length: int) -> bytes | None:
        with self._lock:
            block = self._memory.get((key, index))
            if block is not None and len(block) == expected_length:
                self._memory.move_to_end((key, index))
                return block
        path = self.root / key / str(index)
        waiting = _WRITER.pending(str(path))
        if waiting is not None and len(waiting) == expected_length:
            return waiting  # put by this process (another cache object), not written yet
        try:
            block = path.read_bytes()
        except OSError:
            return None
        if len(block) != expected_length:  # truncated by a crash or another writer: refetch
            return None
        with contextlib.suppress(OSError):
            os.utime(path)
        self._remember(key, index, block)
        return block

    def put(self, key: str, index: int, block: bytes) -> None:
        self._remember(key, index, block)
        if self._disk_ok and not _WRITER.submit(self, key, index, block):
            self._write(key, index, block)

    def flush(self, timeout: float | None = None) -> None:
        """Wait until the blocks put so far (by any cache of this process) are on disk."""
        _WRITER.flush(timeout)

    def clear_memory(self) -> None:
        with self._lock:
            self._memory.clear()
            self._memory_bytes = 0

    def _remember(self, key: str, index: int, block: bytes) -> None:
        if len(block) > self.max_memory_bytes:
            return
        with self._lock:
            if (key, index) in self._memory:
                self._memory.move_to_end((key, index))
                return
            self._memory[(key, index)] = block
            self._memory_bytes += len(block)
            while self._memory_bytes > self.max_memory_bytes:
                _, dropped = self._memory.popitem(last=False)
                self._memory_bytes -= len(dropped)

    def _write(self, key: str, index: int, block: bytes) -> None:
        folder = self.root / key
        temporary = folder / f".{index}.{os.getpid()}.{threading.get_ident()}.tmp"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            temporary.write_bytes(block)
            os.replace(temporary, folder / str(index))
        except OSError as error:
            # A read-only or full disk costs speed, not correctness: keep going in memory.
            log.warning("block cache disabled: cannot write in %s (%s)", self.root, error.strerror)
            self._disk_ok = False
            with contextlib.suppress(OSError):
                temporary.unlink()
            return
        with self._lock:
            self._written += len(block)
            due = self._written >= self.max_disk_bytes // 8
            if due:
                self._written = 0
        if due:
            self._evict()

    def evict(self) -> None:
        """Delete the least recently used blocks until the cache is under its bound."""
        self.flush()
        self._evict()

    def _evict(self) -> None:
        files: list[tuple[float, int, Path]] = []
        now = time.time()
        try:
            folders = list(os.scandir(self.root))
        except OSError:
            return
        for folder in folders:
            with contextlib.suppress(OSError), os.scandir(folder.path) as entries:
                for entry in entries:
                    with contextlib.suppress(OSError):
                        info = entry.stat()
                        if entry.name.startswith("."):
                            if now - info.st_mtime > STALE_TEMP_S:  # left by a killed process
                                os.unlink(entry.path)
                            continue
                        files.append((info.st_mtime, info.st_size, Path(entry.path)))
        total = sum(size for _, size, _ in files)
        if total <= self.max_disk_bytes:
            return
        target = int(self.max_disk_bytes * EVICT_TO)
        for _, size, path in sorted(files):
            if total <= target:
                break
            with contextlib.suppress(OSError):
                path.unlink()
                total -= size
        for folder in folders:
            with contextlib.suppress(OSError):
                os.rmdir(folder.path)  # only succeeds when empty


class _WriteBehind:
    """The thread that writes blocks to disk behind the fetches (one per process, started on
    first use). What it has not written yet is served by `pending`."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._queue: deque[tuple[BlockCache, str, int, bytes, str]] = deque()
        self._pending: dict[str, bytes] = {}  # path -> block
        self._pending_bytes = 0
        self._writing = 0
        self._thread: threading.Thread | None = None

    def submit(self, cache: BlockCache, key: str, index: int, block: bytes) -> bool:
        """Queue the write; False when too much is waiting already (write it in line)."""
        path = str(cache.root / key / str(index))
        with self._changed:
            if self._pending_bytes + len(block) > PENDING_MAX_BYTES:
                return False
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="block-cache-writer", daemon=True
                )
                self._thread.start()
                atexit.register(self.flush, EXIT_FLUSH_S)
            previous = self._pending.get(path)
            self._pending[path] = block
            self._pending_bytes += len(block) - (len(previous) if previous is not None else 0)
            self._queue.append((cache, key, index, block, path))
            self._changed.notify_all()
        return True

    def pending(self, path: str) -> bytes | None:
        with self._changed:
            return self._pending.get(path)

    def flush(self, timeout: float | None = None) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._changed:
            while self._queue or self._writing:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return
                self._changed.wait(left)

    def _run(self) -> None:
        while True:
            with self._changed:
                while not self._queue:
                    self._changed.wait()
                cache, key, index, block, path = self._queue.popleft()
                self._writing += 1
            try:
                if cache._disk_ok:
                    cache._write(key, index, block)
            except Exception:  # never lose the thread: the block stays in memory only
                log.exception("block cache: writing %s failed", path)
            finally:
                with self._changed:
                    self._writing -= 1
                    if self._pending.get(path) is block:
                        del self._pending[path]
                        self._pending_bytes -= len(block)
                    self._changed.notify_all()


_WRITER = _WriteBehind()
