"""Time from spawning `aml-artifacts serve` to the answer of its first `artifacts/roots`.

Reference, measured in the same run: a bare `python -c pass` (the floor any Python server
pays). Goal (issue 2): median <= 0.8 s."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any

RUNS = 10
GOAL_S = 0.8


def frame(message: dict[str, Any]) -> bytes:
    body = json.dumps(message).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def read_message(stream: IO[bytes]) -> dict[str, Any]:
    length = 0
    while (line := stream.readline().strip()) != b"":
        name, _, value = line.partition(b":")
        if name.lower() == b"content-length":
            length = int(value)
    return json.loads(stream.read(length))  # type: ignore[no-any-return]


def wait_for_response(stream: IO[bytes], request_id: int) -> dict[str, Any]:
    while True:
        message = read_message(stream)
        if message.get("id") == request_id:
            return message


def time_first_roots(workspace: Path) -> float:
    start = time.perf_counter()
    server = subprocess.Popen(
        [sys.executable, "-m", "pyserver", "serve"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert server.stdin and server.stdout
    server.stdin.write(
        frame(
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "initialize",
                "params": {
                    "processId": None,
                    "rootUri": None,
                    "capabilities": {},
                    "initializationOptions": {"localWorkspaces": [str(workspace)]},
                },
            }
        )
    )
    server.stdin.write(frame({"jsonrpc": "2.0", "method": "initialized", "params": {}}))
    server.stdin.write(
        frame({"jsonrpc": "2.0", "id": 2, "method": "artifacts/roots", "params": {}})
    )
    server.stdin.flush()
    answer = wait_for_response(server.stdout, 2)
    elapsed = time.perf_counter() - start
    assert answer["result"]["items"], answer
    server.stdin.write(frame({"jsonrpc": "2.0", "id": 3, "method": "shutdown"}))
    server.stdin.write(frame({"jsonrpc": "2.0", "method": "exit"}))
    server.stdin.close()
    server.wait(10)
    return elapsed


def time_bare_python() -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return time.perf_counter() - start


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        workspace = Path(folder)
        (workspace / "workspace.json").write_text(
            json.dumps(
                {"format": "aml-artifacts/local-workspace", "formatVersion": 1, "name": "bench"}
            )
        )
        time_first_roots(workspace)  # warm the OS file cache once
        server = statistics.median(time_first_roots(workspace) for _ in range(RUNS))
    bare = statistics.median(time_bare_python() for _ in range(RUNS))
    verdict = "meets" if server <= GOAL_S else "MISSES"
    print(
        f"startup: spawn → first artifacts/roots answer, median of {RUNS}: {server * 1000:.0f} ms "
        f"({verdict} the {GOAL_S * 1000:.0f} ms goal)"
    )
    print(
        f"startup: reference bare `python -c pass`, median of {RUNS}: {bare * 1000:.0f} ms; "
        f"ratio {server / bare:.1f}×"
    )


if __name__ == "__main__":
    main()
