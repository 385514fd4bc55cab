"""Downloads from blob storage (a real Azurite): our engine (pyserver/transfers) against the
Azure SDK and azureml-core, in the same run, on the same blobs.

Inputs (generated once, cached in `$AML_BENCH_DATA` or bench/.data/download-v1/, uploaded
once into an Azurite whose data lives beside them): one 1 GiB blob (random bytes, no
Content-MD5) and 1 000 small files (4 to 12 KB).

Three comparisons, each ours against a reference:
- big: `service.download_to` of the blob's datastore URI (default settings: 8 in flight,
  8 MiB chunks) / `BlobClient.download_blob(max_concurrency=8).readinto(file)`. Both timed
  after importing azure.storage.blob (our blob backend imports it at first use).
- many: the folder of 1 000 files / a plain per-file SDK loop: one container client,
  `list_blobs`, then `download_blob(name).readinto(file)` for each file, one after the other.
- aml: the 1 000 files of a run through Azure ML (the stand-in service of the tests,
  tests/python/amlstandin, bytes in the same Azurite, the run seeded by
  tests/python/amlruns.py), `service.download_to` of the run's `outputs` URI (what
  `aml-artifacts download` and the explorer's Download… call) / azureml-core's
  `Run(...).download_files(prefix="outputs", output_directory=...)`. Both timed from the
  first service request (azureml-core imported and the workspace object made before; the
  stand-in `az` signs in inside the timing for both).

Each measurement runs in a fresh subprocess (its peak RSS, VmHWM, is its own) into an
empty folder, after a warm-up round that is not counted (the first read of the 1 GiB blob
comes from disk, the next ones from the page cache). A round measures ours and the
reference back to back (in alternating order), so that both see the same load on a shared
machine; a comparison's ratio is the median of the rounds' ratios (reference time / our
time). Also shown: the CPU seconds Azurite spent serving each case. Its Node process serves
one request at a time, about 1 ms of CPU for a small file: on a small machine that bounds
what any amount of concurrency can gain, which `--only many-rtt` (not run by default: the
same 1 000 files with 5 ms added to each answer, as a network round trip to real storage
would) shows without that bound.

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
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ._common import REPO_DIR, data_dir, find_process, median, process_cpu_s

VERSION = 1
CONTAINER = "download-bench"
BIG_BLOB = "big/one-gib.bin"
BIG_SIZE = 1 << 30
MANY = 1000
MANY_PREFIX = "many"
RUNS = 5
RSS_GOAL_MB = 150
AML_EXPERIMENT = "bench"
AML_RUN = "bench-many"
AML_SETTING_ENV = "AML_BENCH_WORKSPACE"  # the children's workspace setting (JSON)


@dataclass(frozen=True)
class Comparison:
    ours: str  # the child's --measure kind
    reference: str
    ours_label: str
    reference_label: str
    what: str  # in the goal line
    goal: float | None  # reference time / our time, at least (None: shown, no goal)
    latency_s: float = 0.0  # added to each answer, by a proxy between client and Azurite


COMPARISONS = {
    "big": Comparison(
        "ours-big", "sdk-big", "1 GiB blob, ours (8 in flight, 8 MiB chunks)",
        "1 GiB blob, SDK max_concurrency=8", "big file", 1.0,
    ),
    "many": Comparison(
        "ours-many", "sdk-loop", "1 000 files, ours (8 in flight)",
        "1 000 files, SDK per-file loop", "1 000 files", 3.0,
    ),
    "aml": Comparison(
        "ours-aml", "azureml-core", "run's 1 000 files, ours (8 in flight)",
        "run's 1 000 files, azureml-core", "run's 1 000 files", 1.5,
    ),
    # Not run by default: a network round trip per answer, as against real storage, where
    # Azurite's own cost per request (≈ 1 ms of one core) no longer bounds the comparison.
    "many-rtt": Comparison(
        "ours-many", "sdk-loop", "1 000 files, 5 ms per answer, ours",
        "1 000 files, 5 ms per answer, SDK loop", "1 000 files at 5 ms per answer", None,
        latency_s=0.005,
    ),
}  # fmt: skip
DEFAULT = ("big", "many", "aml")


@dataclass(frozen=True)
class Sample:
    seconds: float
    peak_mb: float
    server_cpu_s: float | None  # Azurite's CPU time during the measurement


Measure = Callable[[Comparison, str, Path], Sample]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.download")
    parser.add_argument("--measure", help=argparse.SUPPRESS)  # in the child process
    parser.add_argument("--conn", help=argparse.SUPPRESS)
    parser.add_argument("--dest", help=argparse.SUPPRESS)
    parser.add_argument("--runs", type=int, default=RUNS, help=f"rounds (default {RUNS})")
    parser.add_argument(
        "--only",
        default=",".join(DEFAULT),
        help=f"comparisons to run, comma-separated: {', '.join(COMPARISONS)} (default: "
        f"{','.join(DEFAULT)})",
    )
    parser.add_argument("--aml-only", action="store_true", help="same as --only aml")
    args = parser.parse_args(argv if argv is not None else [])
    if args.measure:
        _child(args.measure, args.conn, Path(args.dest))
        return
    names = ["aml"] if args.aml_only else [name for name in args.only.split(",") if name]
    unknown = sorted(set(names) - set(COMPARISONS))
    if unknown:
        choices = ", ".join(COMPARISONS)
        parser.error(f"unknown comparison {', '.join(unknown)}; choose from {choices}")
    ok = _run({name: COMPARISONS[name] for name in names}, args.runs)
    print(f"download: all goals {'met' if ok else 'NOT met'}")


def _run(comparisons: dict[str, Comparison], runs: int) -> bool:
    folder = data_dir() / f"download-v{VERSION}"
    folder.mkdir(parents=True, exist_ok=True)
    big = _big_input(folder) if "big" in comparisons else None
    from .remote import _azurite_module  # here: the measuring children import only this file

    azurite = _azurite_module()  # also puts tests/python on sys.path (amlstandin, amlruns)
    scratch = Path(tempfile.mkdtemp(prefix="run-", dir=folder))
    try:
        with (
            azurite.azurite(folder / "azurite") as connection_string,
            _aml_service(connection_string, scratch)
            if "aml" in comparisons
            else contextlib.nullcontext({}) as extra_env,
            _latency_proxy(connection_string, comparisons.values()) as proxied,
        ):
            _upload(connection_string, big)
            port = urlsplit(_endpoint(connection_string)).port
            server = find_process("--blobPort", str(port))

            def measure(comparison: Comparison, kind: str, dest: Path) -> Sample:
                connection = proxied if comparison.latency_s else connection_string
                before = process_cpu_s(server)
                seconds, peak = _measure(kind, connection, dest, extra_env)
                after = process_cpu_s(server)
                used = after - before if after is not None and before is not None else None
                return Sample(seconds, peak, used)

            samples = _rounds(comparisons, runs, measure, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(
        f"download: Azurite → local disk, {runs} rounds (ours and the reference back to back, "
        "each a fresh subprocess into an empty folder) after one not counted (warm-up); "
        "medians, peak RSS = largest VmHWM of a measured process"
    )
    return all([_report(comparison, samples[name]) for name, comparison in comparisons.items()])


@contextlib.contextmanager
def _aml_service(connection_string: str, scratch: Path) -> Any:
    """The Azure ML stand-in with the run of MANY files: the children's environment."""
    from amlruns import add_run_with_files
    from amlstandin.environment import aml_environment

    files = {f"outputs/f-{index:04d}.bin": _many_content(index) for index in range(MANY)}
    with aml_environment(scratch / "aml", connection_string, {}) as env:
        add_run_with_files(env, AML_EXPERIMENT, AML_RUN, files)
        yield {
            **env.environment(os.environ.get("PATH", "")),
            AML_SETTING_ENV: json.dumps(env.workspace_setting()),
        }


@contextlib.contextmanager
def _latency_proxy(connection_string: str, comparisons: Iterable[Comparison]) -> Any:
    """A connection string through a proxy that delays each answer (tests/python/faultproxy),
    when a comparison asks for one; else the connection string as it is."""
    latency = max((comparison.latency_s for comparison in comparisons), default=0.0)
    if not latency:
        yield connection_string
        return
    from faultproxy import FaultProxy, Faults

    endpoint = _endpoint(connection_string)
    with FaultProxy(int(urlsplit(endpoint).port or 0), Faults(latency_s=latency)) as proxy:
        parts = urlsplit(endpoint)
        proxied = parts._replace(netloc=f"{parts.hostname}:{proxy.port}").geturl()
        yield connection_string.replace(endpoint, proxied)


def _rounds(
    comparisons: dict[str, Comparison], runs: int, measure: Measure, scratch: Path
) -> dict[str, dict[str, list[Sample]]]:
    """A first round, not counted, warms the caches (Azurite's files, Python's bytecode)."""
    samples: dict[str, dict[str, list[Sample]]] = {name: {} for name in comparisons}
    for run in range(-1, runs):
        for name, comparison in comparisons.items():
            pair = (comparison.ours, comparison.reference)
            for kind in pair if run % 2 == 0 else reversed(pair):
                dest = scratch / f"{name}-{kind}-{run}"
                sample = measure(comparison, kind, dest)
                if run >= 0:
                    samples[name].setdefault(kind, []).append(sample)
                shutil.rmtree(dest, ignore_errors=True)
    return samples


def _report(comparison: Comparison, samples: dict[str, list[Sample]]) -> bool:
    size_mb = (BIG_SIZE if comparison.ours == "ours-big" else _many_bytes()) / 1e6
    print(f"{'case':<46} {'time':>7} {'MB/s':>8} {'peak RSS':>9} {'Azurite CPU':>12}")
    for kind, label in (
        (comparison.ours, comparison.ours_label),
        (comparison.reference, comparison.reference_label),
    ):
        seconds = median([sample.seconds for sample in samples[kind]])
        peak = max(sample.peak_mb for sample in samples[kind])
        served = [s.server_cpu_s for s in samples[kind] if s.server_cpu_s is not None]
        server = f"{median(served):11.2f}s" if served else f"{'?':>12}"
        print(f"{label:<46} {seconds:6.2f}s {size_mb / seconds:8.1f} {peak:7.0f}MB {server}")
    pairs = zip(samples[comparison.ours], samples[comparison.reference], strict=True)
    ratios = [reference.seconds / ours.seconds for ours, reference in pairs]
    ratio = median(ratios)
    peak = max(sample.peak_mb for sample in samples[comparison.ours])
    each = " ".join(f"{value:.2f}" for value in ratios)
    speedup = f"{comparison.what} {ratio:.2f}× the reference (rounds: {each})"
    if comparison.goal is None:
        print(f"  (shown, no goal) {speedup}")
        return True
    goals = [
        (speedup, ratio >= comparison.goal, f"≥ {comparison.goal:g}×"),
        (f"peak RSS {peak:.0f} MB", peak <= RSS_GOAL_MB, f"≤ {RSS_GOAL_MB} MB"),
    ]
    for text, met, goal in goals:
        print(f"  {'met    ' if met else 'NOT met'} {text} (goal {goal})")
    return all(met for _, met, _ in goals)


def _endpoint(connection_string: str) -> str:
    fields = dict(part.split("=", 1) for part in connection_string.split(";") if "=" in part)
    return fields["BlobEndpoint"]


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
        import azure.storage.blob  # noqa: F401 - imported before the timing, as for the SDK's

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
                with target.open("wb") as out:
                    container.download_blob(blob.name).readinto(out)
        seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "peak_mb": _peak_rss_kb() * 1024 / 1e6}))


def _peak_rss_kb() -> int:
    """This process's peak RSS in KiB. Linux's VmHWM belongs to this program's own memory;
    ru_maxrss also keeps the peak of what was exec'd over (a fork of a big bench parent, as
    under `make bench` after the preview benchmark loaded a 1 GB checkpoint)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)  # KiB on Linux


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


def _upload(connection_string: str, big: Path | None) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from azure.core.exceptions import ResourceExistsError
    from azure.storage.blob import BlobServiceClient

    container = BlobServiceClient.from_connection_string(connection_string).get_container_client(
        CONTAINER
    )
    with contextlib.suppress(ResourceExistsError):
        container.create_container()
    present: dict[str, Any] = {blob.name: blob.size for blob in container.list_blobs()}
    if big is not None and present.get(BIG_BLOB) != BIG_SIZE:
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
