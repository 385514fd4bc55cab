"""Downloads from blob storage (a real Azurite): our engine (pyserver/transfers) against the
Azure SDK, in the same run, on the same blobs.

Inputs (generated once, cached in `$AML_BENCH_DATA` or bench/.data/download-v1/, uploaded
once into an Azurite whose data lives beside them): one 1 GiB blob (random bytes, no
Content-MD5) and 1 000 small files (4 to 12 KB).

Each measurement runs in a fresh subprocess (so that its peak RSS, `ru_maxrss`, is its own)
into an empty folder; median of RUNS wall times, the largest peak RSS:
- big, ours: `service.download_to` of the datastore URI (default settings: 8 in flight,
  8 MiB chunks); reference: `BlobClient.download_blob(max_concurrency=8).readinto(file)`.
- 1 000 files, ours: the folder's URI; reference: a per-file SDK loop (`list_blobs`, then
  `download_blob().readall()` into a file, one after the other).

- 1 000 files of a run, through Azure ML (the stand-in service of the tests,
  tests/python/amlstandin, with the bytes in the same Azurite; the run is seeded by
  tests/python/amlruns.py): ours, `service.download_to` of the run's `outputs` URI (what
  `aml-artifacts download` and the explorer's Download… call); reference: azureml-core's
  `Run(...).download_files(prefix="outputs", output_directory=...)`. Both timed from the
  first service request (azureml-core imported and the workspace object made before; the
  stand-in `az` signs in inside the timing for both).

Goals: big file at least 1.0 times the SDK reference; 1 000 files at least 3 times the
loop; the run's 1 000 files at least 1.5 times azureml-core; peak RSS at most 150 MB."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ._common import REPO_DIR, data_dir, median

VERSION = 1
CONTAINER = "download-bench"
BIG_BLOB = "big/one-gib.bin"
BIG_SIZE = 1 << 30
MANY = 1000
MANY_PREFIX = "many"
RUNS = 3
RSS_GOAL_MB = 150
AML_EXPERIMENT = "bench"
AML_RUN = "bench-many"
AML_SETTING_ENV = "AML_BENCH_WORKSPACE"  # the children's workspace setting (JSON)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench download")
    parser.add_argument("--measure", help=argparse.SUPPRESS)  # in the child process
    parser.add_argument("--conn", help=argparse.SUPPRESS)
    parser.add_argument("--dest", help=argparse.SUPPRESS)
    parser.add_argument("--runs", type=int, default=RUNS)
    parser.add_argument(
        "--aml-only", action="store_true", help="only the Azure ML run comparison (no 1 GiB blob)"
    )
    args = parser.parse_args(argv if argv is not None else [])
    if args.measure:
        _child(args.measure, args.conn, Path(args.dest))
        return
    folder = data_dir() / f"download-v{VERSION}"
    folder.mkdir(parents=True, exist_ok=True)
    big = None if args.aml_only else _big_input(folder)
    from .remote import _azurite_module  # here: the measuring children import only this file

    azurite = _azurite_module()  # also puts tests/python on sys.path (amlstandin, amlruns)
    scratch = Path(tempfile.mkdtemp(prefix="run-", dir=folder))
    try:
        with azurite.azurite(folder / "azurite") as connection_string:
            ok = True
            if big is not None:
                _upload(connection_string, big)
                ok = _run(connection_string, scratch, args.runs)
            ok = _run_aml(connection_string, scratch, args.runs) and ok
        print(f"download: all goals {'met' if ok else 'NOT met'}")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _run(connection_string: str, scratch: Path, runs: int) -> bool:
    print(
        f"download: Azurite → local disk, each run a fresh subprocess into an empty folder, "
        f"median of {runs}; peak RSS = largest ru_maxrss"
    )
    results: dict[str, tuple[float, float]] = {}
    for kind in ("ours-big", "sdk-big", "ours-many", "sdk-loop"):
        times, peaks = [], []
        for run in range(runs):
            dest = scratch / f"{kind}-{run}"
            seconds, peak = _measure(kind, connection_string, dest)
            times.append(seconds)
            peaks.append(peak)
            shutil.rmtree(dest, ignore_errors=True)
        results[kind] = (median(times), max(peaks))
    big_mb = BIG_SIZE / 1e6
    many_bytes = _many_bytes()
    print(f"{'case':<44} {'time':>8} {'MB/s':>9} {'peak RSS':>9}")
    labels = {
        "ours-big": "1 GiB blob, ours (8 in flight, 8 MiB chunks)",
        "sdk-big": "1 GiB blob, SDK max_concurrency=8",
        "ours-many": "1 000 files, ours (8 in flight)",
        "sdk-loop": "1 000 files, SDK per-file loop",
    }
    for kind, (seconds, peak) in results.items():
        size = big_mb if "big" in kind else many_bytes / 1e6
        print(f"{labels[kind]:<44} {seconds:7.2f}s {size / seconds:9.1f} {peak:7.0f}MB")
    big_ratio = results["sdk-big"][0] / results["ours-big"][0]
    many_ratio = results["sdk-loop"][0] / results["ours-many"][0]
    peak = max(results["ours-big"][1], results["ours-many"][1])
    goals = [
        (
            f"big file {big_ratio:.2f}× the SDK max_concurrency=8 reference",
            big_ratio >= 1.0,
            "≥ 1.0×",
        ),
        (f"1 000 files {many_ratio:.2f}× the per-file loop", many_ratio >= 3.0, "≥ 3×"),
        (f"peak RSS {peak:.0f} MB", peak <= RSS_GOAL_MB, f"≤ {RSS_GOAL_MB} MB"),
    ]
    for text, met, goal in goals:
        print(f"  {'met    ' if met else 'NOT met'} {text} (goal {goal})")
    return all(met for _, met, _ in goals)


def _run_aml(connection_string: str, scratch: Path, runs: int) -> bool:
    """The run's 1 000 files through the Azure ML stand-in: ours against azureml-core."""
    from amlruns import add_run_with_files
    from amlstandin.environment import aml_environment

    files = {f"outputs/f-{index:04d}.bin": _many_content(index) for index in range(MANY)}
    results: dict[str, tuple[float, float]] = {}
    with aml_environment(scratch / "aml", connection_string, {}) as env:
        add_run_with_files(env, AML_EXPERIMENT, AML_RUN, files)
        extra = {
            **env.environment(os.environ.get("PATH", "")),
            AML_SETTING_ENV: json.dumps(env.workspace_setting()),
        }
        for kind in ("ours-aml", "azureml-core"):
            times, peaks = [], []
            for run in range(runs):
                dest = scratch / f"{kind}-{run}"
                seconds, peak = _measure(kind, connection_string, dest, extra)
                times.append(seconds)
                peaks.append(peak)
                shutil.rmtree(dest, ignore_errors=True)
            results[kind] = (median(times), max(peaks))
    size = _many_bytes() / 1e6
    labels = {
        "ours-aml": "run's 1 000 files, ours (8 in flight)",
        "azureml-core": "run's 1 000 files, azureml-core download_files",
    }
    print(f"download: a run's {MANY} files through the Azure ML stand-in, median of {runs}")
    for kind, (seconds, peak) in results.items():
        print(f"{labels[kind]:<44} {seconds:7.2f}s {size / seconds:9.1f} {peak:7.0f}MB")
    ratio = results["azureml-core"][0] / results["ours-aml"][0]
    peak = results["ours-aml"][1]
    goals = [
        (f"run's 1 000 files {ratio:.2f}× azureml-core's download_files", ratio >= 1.5, "≥ 1.5×"),
        (f"peak RSS {peak:.0f} MB (Azure ML run)", peak <= RSS_GOAL_MB, f"≤ {RSS_GOAL_MB} MB"),
    ]
    for text, met, goal in goals:
        print(f"  {'met    ' if met else 'NOT met'} {text} (goal {goal})")
    return all(met for _, met, _ in goals)


def _measure(
    kind: str, connection_string: str, dest: Path, extra_env: dict[str, str] | None = None
) -> tuple[float, float]:
    command = [sys.executable, "-m", "bench.download", "--measure", kind]
    env = {**os.environ, **(extra_env or {}), "PYTHONPATH": str(REPO_DIR)}
    done = subprocess.run(
        [*command, "--conn", connection_string, "--dest", str(dest)],
        env=env,
        cwd=REPO_DIR,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{kind} failed: {done.stderr[-2000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return float(result["seconds"]), float(result["peak_mb"])


def _child(kind: str, connection_string: str, dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    os.environ["AML_ARTIFACTS_BLOCK_CACHE"] = str(dest / ".." / f".cache-{dest.name}")
    if kind in ("ours-aml", "azureml-core"):
        seconds = _child_aml(kind, dest)
    elif kind.startswith("ours"):
        from pyserver import service
        from pyserver.backends import Catalog
        from pyserver.config import Settings

        store = {"name": "bench", "container": CONTAINER, "connectionString": connection_string}
        settings = Settings.from_json({"datastores": [store]})
        path = BIG_BLOB if kind == "ours-big" else MANY_PREFIX
        start = time.perf_counter()
        result = service.download_to(
            Catalog(settings), f"azureml://datastores/bench/paths/{path}", str(dest),
            settings=settings,
        )  # fmt: skip
        seconds = time.perf_counter() - start
        if result.get("failures"):
            raise RuntimeError(f"failures: {result['failures'][:3]}")
    else:
        from azure.storage.blob import BlobServiceClient

        container = BlobServiceClient.from_connection_string(
            connection_string
        ).get_container_client(CONTAINER)
        start = time.perf_counter()
        if kind == "sdk-big":
            with (dest / "one-gib.bin").open("wb") as out:
                container.get_blob_client(BIG_BLOB).download_blob(max_concurrency=8).readinto(out)
        else:
            for blob in container.list_blobs(name_starts_with=f"{MANY_PREFIX}/"):
                target = dest / blob.name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(container.download_blob(blob.name).readall())
        seconds = time.perf_counter() - start
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(json.dumps({"seconds": seconds, "peak_mb": peak_kb * 1024 / 1e6}))


def _child_aml(kind: str, dest: Path) -> float:
    """One download of the run's outputs/ (MANY files) into `dest`; its wall time."""
    import azureml.core  # imported before timing, for both

    from pyserver.backends.aml_auth import TokenProvider, azureml_authentication

    setting = json.loads(os.environ[AML_SETTING_ENV])
    if kind == "ours-aml":
        from pyserver import service
        from pyserver.backends import Catalog
        from pyserver.config import Settings

        settings = Settings.from_json({"workspaces": [setting]})
        catalog = Catalog(settings)
        uri = (
            f"azureml://subscriptions/{setting['subscriptionId']}/resourcegroups/"
            f"{setting['resourceGroup']}/workspaces/{setting['name']}/jobs/{AML_RUN}"
            "/outputs/artifacts/paths/outputs"
        )
        start = time.perf_counter()
        result = service.download_to(catalog, uri, str(dest), settings=settings)
        seconds = time.perf_counter() - start
        if result.get("failures") or result["files"] != MANY:
            raise RuntimeError(f"{result['files']} files, failures: {result.get('failures')}")
    else:
        workspace = azureml.core.Workspace(
            setting["subscriptionId"],
            setting["resourceGroup"],
            setting["name"],
            auth=azureml_authentication(TokenProvider()),
            _disable_service_check=True,
        )
        experiment = azureml.core.Experiment(workspace, AML_EXPERIMENT)
        start = time.perf_counter()
        run = azureml.core.Run(experiment, AML_RUN)
        run.download_files(prefix="outputs", output_directory=str(dest))
        seconds = time.perf_counter() - start
    written = sum(1 for path in (dest / "outputs").iterdir() if path.is_file())
    if written != MANY:
        raise RuntimeError(f"{kind} wrote {written} files, not {MANY}")
    return seconds


def _big_input(folder: Path) -> Path:
    path = folder / "one-gib.bin"
    if not path.exists() or path.stat().st_size != BIG_SIZE:
        print("download: generating a 1 GiB input ...", flush=True)
        with path.open("wb") as out:
            for _ in range(BIG_SIZE >> 24):
                out.write(os.urandom(1 << 24))
    return path


def _many_content(index: int) -> bytes:
    return (f"file {index}\n" * 2000)[: 4000 + (index * 37) % 8000].encode()


def _many_bytes() -> int:
    return sum(len(_many_content(index)) for index in range(MANY))


def _upload(connection_string: str, big: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from azure.core.exceptions import ResourceExistsError
    from azure.storage.blob import BlobServiceClient

    container = BlobServiceClient.from_connection_string(connection_string).get_container_client(
        CONTAINER
    )
    with contextlib.suppress(ResourceExistsError):
        container.create_container()
    present: dict[str, Any] = {blob.name: blob.size for blob in container.list_blobs()}
    if present.get(BIG_BLOB) != BIG_SIZE:
        print("download: uploading the 1 GiB blob to Azurite ...", flush=True)
        with big.open("rb") as stream:
            container.upload_blob(BIG_BLOB, stream, overwrite=True, max_concurrency=8)
    missing = [i for i in range(MANY) if f"{MANY_PREFIX}/f-{i:04d}.bin" not in present]
    if missing:
        print(f"download: uploading {len(missing)} small files ...", flush=True)

        def put(index: int) -> None:
            name = f"{MANY_PREFIX}/f-{index:04d}.bin"
            container.upload_blob(name, _many_content(index), overwrite=True)

        with ThreadPoolExecutor(16) as pool:
            list(pool.map(put, missing))


if __name__ == "__main__":
    main(sys.argv[1:])
