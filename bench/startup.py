"""Time from spawning `aml-artifacts serve` to the answer of its first `artifacts/roots`.

Reference, measured in the same run: a bare `python -c pass` (the floor any Python server
pays). Goal (issue 2): median <= 0.8 s."""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ._common import LspServer, write_local_workspace

RUNS = 10
GOAL_S = 0.8


def time_first_roots(workspace: Path) -> float:
    start = time.perf_counter()
    with LspServer() as server:
        server.initialize({"localWorkspaces": [str(workspace)]})
        answer = server.request("artifacts/roots", {})
        elapsed = time.perf_counter() - start
        assert answer["result"]["items"], answer
    return elapsed


def time_bare_python() -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return time.perf_counter() - start


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        workspace = write_local_workspace(Path(folder))
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
