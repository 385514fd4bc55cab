"""A warm pool of preview worker processes (worker.py), driven from the server's threads.

Each request borrows one idle worker (or waits for one), sends it one frame and waits for the
answer. A worker that dies (EOF on its pipe), overruns its time budget by GRACE_MS, or runs out
of memory costs that one request a `PreviewFailed` error; it is killed, reaped and replaced.
Errors a preview raises in the worker come back as the same `ArtifactError` subclass, so
clients see what an in-process preview would have said."""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..config import Settings
from ..errors import ArtifactError, Cancelled, PreviewFailed, Unavailable
from ..previews.budget import Budget
from .frames import FrameError, read_frame, write_frame

log = logging.getLogger(__name__)

GRACE_MS = 2000  # past the preview's own time budget, before the worker is killed
CANCEL_GRACE_S = 0.25  # a cancelled preview may still finish and keep its warm worker
READY_TIMEOUT_S = 60.0  # a cold start imports numpy and h5py from a possibly cold disk
POLL_S = 0.05
REAP_TIMEOUT_S = 5.0
# Numerical libraries reserve address space per thread; previews need none of their threads.
WORKER_ENV = {
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "MALLOC_ARENA_MAX": "2",
    "PYTHONUNBUFFERED": "1",
}
_SIGKILL: int | None = getattr(signal, "SIGKILL", None)
_PACKAGE_PARENT = str(Path(__file__).resolve().parents[2])


class _WorkerGone(Exception):
    """The worker process ended (or broke the framing) before it answered."""


class _Worker:
    def __init__(self, memory_mb: int, generation: int) -> None:
        self.memory_mb = memory_mb
        self.generation = generation
        self.config_version = -1
        self.ready = False
        self.stopped = False
        self.inbox: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pyserver.workers.worker",
                f"--memory-mb={memory_mb}",
                f"--cwd={os.getcwd()}",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=None,  # the server's stderr: the extension's output channel
            cwd=_PACKAGE_PARENT,  # sys.path[0] of the worker: never the user's folder
            env={**os.environ, **WORKER_ENV},
        )
        self.pid = self.process.pid
        threading.Thread(target=self._read, name=f"preview-worker-{self.pid}", daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        try:
            while (message := read_frame(self.process.stdout)) is not None:
                self.inbox.put(message)
        except (FrameError, OSError, ValueError) as error:
            log.warning("preview worker %d sent a broken frame: %s", self.pid, error)
        self.inbox.put(None)

    def alive(self) -> bool:
        return self.process.poll() is None

    def send(self, message: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        try:
            write_frame(self.process.stdin, message)
        except (OSError, ValueError, FrameError) as error:
            raise _WorkerGone(str(error)) from None

    def receive(
        self, deadline: float, cancel: threading.Event | None, cancel_grace_s: float
    ) -> dict[str, Any] | None:
        """The next message; None on timeout, or `cancel_grace_s` after a cancel; _WorkerGone
        when the worker ended."""
        cancelled = False
        while True:
            if not cancelled and cancel is not None and cancel.is_set():
                cancelled = True
                deadline = min(deadline, time.monotonic() + cancel_grace_s)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            try:
                message = self.inbox.get(timeout=min(remaining, POLL_S))
            except queue.Empty:
                continue
            if message is None:
                self.inbox.put(None)  # stays gone for any later reader
                raise _WorkerGone("end of stream")
            return message

    def wait_ready(self, cancel: threading.Event | None) -> None:
        if self.ready:
            return
        message = self.receive(time.monotonic() + READY_TIMEOUT_S, cancel, 0)
        if message is None:
            if cancel is not None and cancel.is_set():
                # Not started on anything: the worker stays in the pool and warms up.
                raise Cancelled("The preview was cancelled.")
            raise _WorkerGone(f"not ready after {READY_TIMEOUT_S:.0f} s")
        if "ready" not in message:
            raise _WorkerGone(f"unexpected first message {sorted(message)}")
        self.ready = True

    def stop(self) -> int | None:
        """Kill (if still running) and reap: no zombie is left behind. The exit status."""
        self.stopped = True
        if self.process.poll() is None:
            with contextlib.suppress(OSError):
                self.process.kill()
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        try:
            return self.process.wait(REAP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            log.error("preview worker %d did not exit after SIGKILL", self.pid)
            return None


class PreviewPool:
    """Runs `service.preview` in worker processes. Thread-safe; starts lazily."""

    def __init__(
        self,
        settings: Settings | None = None,
        opened_folders: Sequence[Path] = (),
        tokens: Callable[[str], dict[str, tuple[str, float]]] | None = None,
    ) -> None:
        self._tokens = tokens  # the server's Azure tokens a URI needs, sent with its preview
        self._lock = threading.Condition()
        self._idle: list[_Worker] = []
        self._busy: set[_Worker] = set()
        self._closed = False
        self._size = 0
        self._memory_mb = 0
        self._generation = 0
        self._config: dict[str, Any] = {}
        self._config_version = 0
        self.configure(settings or Settings(), opened_folders)

    @property
    def size(self) -> int:
        return self._size

    @property
    def memory_mb(self) -> int:
        return self._memory_mb

    def pids(self) -> list[int]:
        with self._lock:
            return sorted(worker.pid for worker in [*self._idle, *self._busy])

    def configure(self, settings: Settings, opened_folders: Sequence[Path]) -> None:
        """New settings reach each worker before its next preview; a new pool size or memory
        cap replaces the workers (idle ones now, busy ones when they finish)."""
        with self._lock:
            self._config = {
                "op": "configure",
                "settings": settings.to_json(),
                "folders": [str(folder) for folder in opened_folders],
            }
            self._config_version += 1
            shape = (settings.preview_workers, settings.preview_memory_mb)
            if shape == (self._size, self._memory_mb):
                return
            started = bool(self._idle or self._busy)
            self._size, self._memory_mb = shape
            self._generation += 1
            stale, self._idle = self._idle, []
        for worker in stale:
            worker.stop()
        if started:
            self.start()

    def start(self) -> None:
        """Spawn workers up to the pool size (they warm up in the background)."""
        with self._lock:
            self._top_up()

    def preview(
        self, uri: str, budget: Budget | None = None, cancel: threading.Event | None = None
    ) -> dict[str, Any]:
        budget = budget or Budget()
        worker = self._acquire(cancel)
        try:
            return self._run(worker, uri, budget, cancel)
        finally:
            self._release(worker)

    def close(self) -> None:
        """Stop every worker and reap it. Requests still running get an error."""
        with self._lock:
            self._closed = True
            workers = [*self._idle, *self._busy]
            self._idle.clear()
            self._lock.notify_all()
        for worker in workers:
            worker.stop()

    # -- internals -------------------------------------------------------------------------

    def _top_up(self) -> None:
        while not self._closed and len(self._idle) + len(self._busy) < self._size:
            try:
                self._idle.append(_Worker(self._memory_mb, self._generation))
            except OSError as error:
                log.error("cannot start a preview worker: %s", error)
                raise Unavailable(
                    f"Cannot start a preview worker process ({error.strerror or error}). "
                    "Check that the server's Python interpreter still exists."
                ) from None

    def _acquire(self, cancel: threading.Event | None) -> _Worker:
        with self._lock:
            while True:
                if self._closed:
                    raise Unavailable("The server is shutting down: previews are stopped.")
                if cancel is not None and cancel.is_set():
                    raise Cancelled("The preview was cancelled.")
                self._top_up()
                while self._idle:
                    worker = self._idle.pop(0)
                    if worker.alive():
                        self._busy.add(worker)
                        return worker
                    self._report_idle_death(worker)
                    self._top_up()
                self._lock.wait(POLL_S)

    def _report_idle_death(self, worker: _Worker) -> None:
        status = worker.stop()
        log.warning(
            "preview worker %d ended while idle (%s): replaced", worker.pid, _status(status)
        )

    def _release(self, worker: _Worker) -> None:
        with self._lock:
            self._busy.discard(worker)
            keep = (
                not worker.stopped
                and not self._closed
                and worker.generation == self._generation
                and worker.alive()
            )
            if keep:
                self._idle.insert(0, worker)  # most recently used first: warmest caches
            self._lock.notify_all()
        if not keep:
            worker.stop()
            with self._lock:
                if not self._closed:
                    with contextlib.suppress(Unavailable):
                        self._top_up()  # the replacement warms up while nobody waits
                    self._lock.notify_all()

    def _run(
        self, worker: _Worker, uri: str, budget: Budget, cancel: threading.Event | None
    ) -> dict[str, Any]:
        name = uri.rstrip("/").rsplit("/", 1)[-1] or uri
        try:
            worker.wait_ready(cancel)
            with self._lock:
                config, version = self._config, self._config_version
            if worker.config_version != version:
                worker.send(config)
                worker.config_version = version
            worker.send(
                {
                    "op": "preview",
                    "uri": uri,
                    "maxBytes": budget.max_bytes,
                    "timeoutMs": budget.timeout_ms,
                    "tokens": self._tokens(uri) if self._tokens is not None else {},
                }
            )
            deadline = time.monotonic() + (budget.timeout_ms + GRACE_MS) / 1000
            reply = worker.receive(deadline, cancel, CANCEL_GRACE_S)
        except _WorkerGone as gone:
            raise self._crash_error(worker, uri, name, str(gone)) from None
        if reply is None:
            status = worker.stop()
            if cancel is not None and cancel.is_set():
                log.info("preview worker %d stopped: its request was cancelled", worker.pid)
                raise Cancelled("The preview was cancelled.")
            log.warning(
                "preview worker %d stopped after %d ms without an answer (%s)",
                worker.pid,
                budget.timeout_ms + GRACE_MS,
                _status(status),
            )
            raise PreviewFailed(
                f"The preview of {name} did not finish in {budget.timeout_ms} ms, so its worker "
                "process was stopped. The file may be malformed, or its storage slow: try "
                "again with a larger timeoutMs.",
                uri,
                "timeout",
            )
        if reply.get("retire"):
            worker.stop()
        if reply.get("failure") == "memory":
            log.warning("preview worker %d ran out of memory: replaced", worker.pid)
            raise self._memory_error(uri, name)
        if "ok" in reply and isinstance(reply["ok"], dict):
            return reply["ok"]
        raise _rebuild_error(reply.get("error"), uri)

    def _crash_error(self, worker: _Worker, uri: str, name: str, why: str) -> ArtifactError:
        if self._closed:
            return Unavailable("The server is shutting down: previews are stopped.", uri)
        if not worker.ready:
            status = worker.stop()
            log.error(
                "preview worker %d failed to start (%s): %s", worker.pid, _status(status), why
            )
            return Unavailable(
                f"The preview worker process could not start ({_status(status)}). "
                "The server log has details.",
                uri,
            )
        status = worker.stop()
        log.warning(
            "preview worker %d died during a preview (%s): replaced", worker.pid, _status(status)
        )
        if _SIGKILL is not None and status == -_SIGKILL:
            return PreviewFailed(
                f"The preview of {name} was killed ({_status(status)}), most likely because the "
                "machine ran out of memory. The server is fine; the worker was replaced.",
                uri,
                "memory",
            )
        return PreviewFailed(
            f"The preview of {name} crashed its worker process ({_status(status)}); the file "
            "may be malformed. The server is fine; the worker was replaced.",
            uri,
            "crashed",
        )

    def _memory_error(self, uri: str, name: str) -> PreviewFailed:
        return PreviewFailed(
            f"The preview of {name} needed more than {self._memory_mb} MB of memory, so it was "
            "stopped. Raise amlArtifacts.previewMemoryMB to preview larger files.",
            uri,
            "memory",
        )


def _status(returncode: int | None) -> str:
    if returncode is None:
        return "still running"
    if returncode < 0:
        try:
            return f"signal {signal.Signals(-returncode).name}"
        except ValueError:
            return f"signal {-returncode}"
    return f"exit status {returncode}"


def _error_classes() -> dict[str, type[ArtifactError]]:
    found: dict[str, type[ArtifactError]] = {}
    pending: list[type[ArtifactError]] = [ArtifactError]
    while pending:
        cls = pending.pop()
        found.setdefault(cls.kind, cls)
        pending.extend(cls.__subclasses__())
    return found


def _rebuild_error(payload: Any, uri: str) -> ArtifactError:
    """The worker's error as the same ArtifactError subclass the in-process preview raises."""
    if not isinstance(payload, dict) or not isinstance(payload.get("message"), str):
        return ArtifactError(f"The preview worker gave an unreadable answer for {uri}.", uri)
    kind = str(payload.get("kind", "Internal"))
    cls = _error_classes().get(kind, ArtifactError)
    error = cls.__new__(cls)
    error_uri = payload.get("uri")
    ArtifactError.__init__(
        error, payload["message"], error_uri if isinstance(error_uri, str) else None
    )
    if cls is ArtifactError and kind != ArtifactError.kind:
        code = payload.get("code")
        error.kind = kind
        error.code = code if isinstance(code, int) else ArtifactError.code
    return error


__all__ = ["GRACE_MS", "PreviewPool"]
