"""Serve the stand-in Azure ML environment for the e2e tests and by hand:

    cd tests/python && python -m amlstandin --folder /tmp/aml --env-file /tmp/aml/env.json

starts Azurite and the stand-in service (seeded as amlstandin.environment.seed, with a small
HDF5 file as train-1's outputs/data.h5), writes `{"env": {...}, "workspace": {...}, "az":
{"state", "calls"}}` to the env file (the variables a process needs, the
amlArtifacts.workspaces entry, the stand-in `az`'s files), and serves until its standard input
closes or it is terminated. `--signed-out` starts with the stand-in `az` logged out (until
`az login`)."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from pathlib import Path

from .environment import aml_environment, artifact_blob


def _small_hdf5(path: Path) -> Path:
    import h5py
    import numpy as np

    with h5py.File(path, "w") as f:
        f.attrs["created"] = "2026-01-01T00:00:00Z"
        group = f.create_group("train")
        group.create_dataset("features", data=np.arange(4096, dtype="f4").reshape(256, 16))
        group.create_dataset("labels", data=np.arange(256) % 10)
    return path


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m amlstandin")
    parser.add_argument("--folder", required=True)
    parser.add_argument("--env-file", required=True)
    parser.add_argument("--signed-out", action="store_true", help="start with `az` logged out")
    args = parser.parse_args()
    folder = Path(args.folder)
    folder.mkdir(parents=True, exist_ok=True)
    from azurite import azurite

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    files: dict[str, bytes | Path] = {
        artifact_blob("train-1", "outputs/data.h5"): _small_hdf5(folder / "data.h5"),
        artifact_blob("train-1", "outputs/notes.txt"): b"remote notes\n",
    }
    with (
        azurite(folder / "azurite") as connection_string,
        aml_environment(folder, connection_string, files) as env,
    ):
        values = env.environment(os.environ.get("PATH", ""))
        if args.signed_out:
            env.az.set(mode="logged-out")
        az = {"state": str(env.az.state_file), "calls": str(env.az.calls_file)}
        temporary = Path(args.env_file + ".tmp")
        temporary.write_text(
            json.dumps({"env": values, "workspace": env.workspace_setting(), "az": az})
        )
        os.replace(temporary, args.env_file)
        print(f"amlstandin: serving on {env.standin.url}", file=sys.stderr, flush=True)

        def wait_for_eof() -> None:
            sys.stdin.read()
            stop.set()

        threading.Thread(target=wait_for_eof, daemon=True).start()
        stop.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
