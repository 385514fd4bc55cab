"""Shared by the benchmarks: speak LSP to a spawned `aml-artifacts serve`, and summarise timings."""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent


def data_dir() -> Path:
    """Where benchmarks cache generated inputs and write results (git-ignored by default)."""
    folder = Path(os.environ.get("AML_BENCH_DATA") or BENCH_DIR / ".data")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def frame(message: dict[str, Any]) -> bytes:
    body = json.dumps(message).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def read_message(stream: IO[bytes]) -> dict[str, Any]:
    length = 0
    while (line := stream.readline()).strip() != b"":
        name, _, value = line.partition(b":")
        if name.lower() == b"content-length":
            length = int(value)
    if not line and not length:
        raise EOFError("the server closed its output (it exited or crashed)")
    return json.loads(stream.read(length))  # type: ignore[no-any-return]


class LspServer:
    """A spawned `python -m pyserver serve`, driven synchronously over its stdio.

    `request` returns the whole response message (`result` or `error`); server-to-client
    requests are answered with a null result, notifications are skipped. With `timeout_s`, a
    server that does not answer a request in time is killed and `TimeoutError` raised."""

    def __init__(
        self, stderr: IO[bytes] | int = subprocess.DEVNULL, timeout_s: float | None = None
    ) -> None:
        self.timeout_s = timeout_s
        self._answers: dict[Any, dict[str, Any]] = {}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pyserver", "serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            cwd=REPO_DIR,
            start_new_session=True,  # its own process group: kill() also ends its workers
        )
        assert self.process.stdin and self.process.stdout
        self._stdin = self.process.stdin
        self._stdout = self.process.stdout
        self._next_id = 0

    def send(self, message: dict[str, Any]) -> None:
        self._stdin.write(frame({"jsonrpc": "2.0", **message}))
        self._stdin.flush()

    def notify(self, method: str, params: Any) -> None:
        self.send({"method": method, "params": params})

    def start_request(self, method: str, params: Any) -> int:
        self._next_id += 1
        self.send({"id": self._next_id, "method": method, "params": params})
        return self._next_id

    def wait_for(self, request_id: int) -> dict[str, Any]:
        fired = threading.Event()

        def kill() -> None:
            fired.set()
            self.kill()

        watchdog = threading.Timer(self.timeout_s or 0, kill)
        if self.timeout_s:
            watchdog.start()
        try:
            while request_id not in self._answers:
                message = read_message(self._stdout)
                if "method" in message and "id" in message:  # a request to the client
                    self.send({"id": message["id"], "result": None})
                elif "id" in message:  # answers may come out of order: keep them all
                    self._answers[message["id"]] = message
            return self._answers.pop(request_id)
        except (EOFError, OSError, ValueError) as error:
            if fired.is_set():
                raise TimeoutError(f"no answer within {self.timeout_s:.0f} s") from None
            raise EOFError(f"the server died: {error}") from None
        finally:
            watchdog.cancel()

    def request(self, method: str, params: Any) -> dict[str, Any]:
        return self.wait_for(self.start_request(method, params))

    def timed_request(self, method: str, params: Any) -> tuple[float, dict[str, Any]]:
        """Client-side wall time from sending the request to reading its response."""
        start = time.perf_counter()
        answer = self.request(method, params)
        return time.perf_counter() - start, answer

    def initialize(self, options: dict[str, Any] | None = None) -> None:
        """`initialize` + `initialized`, without waiting for the answer (the caller's next
        request waits behind it)."""
        self.start_request(
            "initialize",
            {
                "processId": os.getpid(),
                "rootUri": None,
                "capabilities": {},
                "initializationOptions": options or {},
            },
        )
        self.notify("initialized", {})

    def kill(self) -> None:
        """SIGKILL the server and whatever it spawned (its process group)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)

    def close(self) -> None:
        try:
            if self.process.poll() is None:
                self.request("shutdown", None)
                self.notify("exit", None)
                self._stdin.close()
                self.process.wait(10)
        except (OSError, EOFError, ValueError, subprocess.TimeoutExpired):
            pass
        finally:
            self.kill()  # leftover workers of a server that died or hung
            self.process.wait()
            self._stdout.close()

    def __enter__(self) -> LspServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (p90 of 7 samples is the 7th smallest)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def write_local_workspace(folder: Path, name: str = "bench") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "workspace.json").write_text(
        json.dumps({"format": "aml-artifacts/local-workspace", "formatVersion": 1, "name": name})
    )
    return folder


def find_process(*needles: str) -> int | None:
    """The pid of a process whose command line holds every needle as a whole argument
    (Linux: /proc); None when there is none or no /proc."""
    wanted = [needle.encode() for needle in needles]
    with contextlib.suppress(OSError):
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                arguments = Path(entry.path, "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if all(needle in arguments for needle in wanted):
                return int(entry.name)
    return None


def process_cpu_s(pid: int | None) -> float | None:
    """CPU seconds (user + system) process `pid` has used so far (Linux: /proc), else None."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
