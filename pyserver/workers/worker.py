"""A preview worker process: `python -m pyserver.workers.worker --memory-mb N --cwd DIR`.

Started by `pool.PreviewPool`. It caps its own address space, warms the preview modules, says
`{"ready": pid}` and then answers frames (frames.py) from stdin on its stdout:

    {"op": "configure", "settings": {...}, "folders": [...]}   no answer
    {"op": "preview", "uri", "maxBytes", "timeoutMs"}  → {"ok": Preview}
                                                       | {"error": {kind, code, message, uri}}
                                                       | {"failure": "memory", "retire": true}

It exits when stdin closes or its parent dies. Logs go to stderr (the server's stderr)."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import pkgutil
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import IO, Any

from .frames import read_frame, write_frame

log = logging.getLogger("pyserver.worker")

# Test-only: with this set to 1 in the worker's environment, preview URIs starting with
# TEST_HOOK_PREFIX make the worker crash, hang, exhaust its memory or sleep (docs/security.md).
TEST_HOOKS_ENV = "AML_ARTIFACTS_TEST_HOOKS"
TEST_HOOK_PREFIX = "aml-test-hook:"
# Third-party modules the previews import lazily; warmed here, never in the server.
WARM_MODULES = ("numpy", "h5py", "hdf5plugin", "zstandard", "pyarrow.parquet")
PARENT_POLL_S = 1.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pyserver.workers.worker")
    parser.add_argument("--memory-mb", type=int, default=0)
    parser.add_argument("--cwd", default=None)
    args = parser.parse_args(argv)
    frames_out = _take_stdout()
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format=f"%(levelname)s pyserver.worker[{os.getpid()}]: %(message)s",
    )
    _limit_resources(args.memory_mb)
    _exit_with_parent()
    if args.cwd:
        # Relative paths in URIs resolve as in the server. sys.path[0] stays the package
        # folder the pool started us in, so no module is ever imported from the user's folder.
        with contextlib.suppress(OSError):
            os.chdir(args.cwd)
    _warm()
    from ..backends import Catalog
    from ..config import Settings

    catalog = Catalog()
    write_frame(frames_out, {"ready": os.getpid()})
    frames_in = sys.stdin.buffer
    while (message := read_frame(frames_in)) is not None:
        op = message.get("op")
        if op == "configure":
            folders = [Path(folder) for folder in message.get("folders", [])]
            catalog.configure(Settings.from_json(message.get("settings")), folders)
        elif op == "preview":
            catalog.tokens.adopt(_tokens(message.get("tokens")))
            reply = _preview(catalog, message)
            write_frame(frames_out, reply)
            if reply.get("retire"):
                return 0
        else:
            log.warning("unknown request %r ignored", op)
    return 0


def _take_stdout() -> IO[bytes]:
    """Keep fd 1 for frames only: stray prints (ours or a C library's) go to stderr."""
    frames_fd = os.dup(sys.stdout.fileno())
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    return os.fdopen(frames_fd, "wb", buffering=0)


def _limit_resources(memory_mb: int) -> None:
    """Cap the address space so a runaway preview gets MemoryError (or dies) instead of
    swapping the machine; no core files (they would hold artifact bytes)."""
    try:
        import resource
    except ImportError:  # Windows: no rlimits; the pool's timeout still bounds a preview
        return
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_CORE, (0, resource.getrlimit(resource.RLIMIT_CORE)[1]))
    if memory_mb <= 0:
        return
    limit = memory_mb << 20
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    try:
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (ValueError, OSError) as error:  # macOS refuses RLIMIT_AS
        log.warning("cannot cap memory at %d MB (%s): previews run uncapped", memory_mb, error)


def _exit_with_parent() -> None:
    """Exit when the server goes away even if we are busy (an idle worker sees EOF on stdin)."""
    if os.name != "posix":
        return
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(PARENT_POLL_S)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _warm() -> None:
    """Import the preview code and the format libraries now, so the first hover is fast."""
    from .. import previews, service

    del service
    names = [
        f"{previews.__name__}.{module.name}" for module in pkgutil.iter_modules(previews.__path__)
    ]
    for name in [*names, *WARM_MODULES]:
        try:
            importlib.import_module(name)
        except Exception as error:  # optional library missing, or a module being edited
            log.info("not preloaded: %s (%s: %s)", name, type(error).__name__, error)


def _tokens(raw: Any) -> dict[str, tuple[str, float]]:
    """The server's Azure tokens from a preview message (secrets: never logged)."""
    if not isinstance(raw, dict):
        return {}
    return {
        str(scope): (str(held[0]), float(held[1]))
        for scope, held in raw.items()
        if isinstance(held, (list, tuple)) and len(held) == 2
    }


def _preview(catalog: Any, message: dict[str, Any]) -> dict[str, Any]:
    from .. import service
    from ..errors import ArtifactError
    from ..previews.budget import Budget

    uri = str(message.get("uri", ""))
    try:
        if os.environ.get(TEST_HOOKS_ENV) == "1" and uri.startswith(TEST_HOOK_PREFIX):
            return {"ok": _test_hook(uri[len(TEST_HOOK_PREFIX) :])}
        budget = Budget(max_bytes=int(message["maxBytes"]), timeout_ms=int(message["timeoutMs"]))
        return {"ok": service.preview(catalog, uri, budget)}
    except Exception as error:
        if _ran_out_of_memory(error):
            return {"failure": "memory", "retire": True}
        if isinstance(error, ArtifactError):
            return {"error": _error_payload(error.kind, error.code, error.message, error.uri)}
        log.error("internal error in a preview\n%s", traceback.format_exc())
        message_text = (
            f"Internal error ({type(error).__name__}: {error}). The server log has details."
        )
        return {"error": _error_payload("Internal", -32603, message_text, None)}


def _error_payload(kind: str, code: int, message: str, uri: str | None) -> dict[str, Any]:
    return {"kind": kind, "code": code, "message": message, "uri": uri}


def _ran_out_of_memory(error: BaseException | None) -> bool:
    """True when a MemoryError is behind `error` (previews wrap library errors in
    CorruptArtifact `from None`, which still keeps the original as __context__)."""
    seen = 0
    while error is not None and seen < 20:
        if isinstance(error, MemoryError):
            return True
        error = error.__cause__ or error.__context__
        seen += 1
    return False


def _test_hook(action: str) -> dict[str, Any]:
    """Misbehave on purpose, for tests/python/test_worker_pool.py. Never reachable unless
    the test-only environment variable is set."""
    if action == "crash":
        import ctypes

        ctypes.string_at(0)  # a real segmentation fault
    elif action == "hang":
        while True:
            time.sleep(3600)
    elif action == "alloc":
        hoard = []
        for _ in range(1 << 10):  # stops at 64 GB even where no rlimit applies
            hoard.append(bytearray(64 << 20))
    elif action.startswith("sleep:"):
        time.sleep(int(action.split(":", 1)[1]) / 1000)
    return {
        "uri": TEST_HOOK_PREFIX + action,
        "kind": "test",
        "summary": f"pid {os.getpid()}",
        "markdown": f"pid {os.getpid()}",
        "safety": {"verdict": "safe", "findings": []},
        "bytesRead": 0,
        "truncated": False,
        "pid": os.getpid(),
    }


if __name__ == "__main__":
    sys.exit(main())
