"""Remote previews over blob storage (a real Azurite) against downloading the whole blob.

Inputs (generated once with the real libraries by bench/preview.py's generators, cached in
`$AML_BENCH_DATA` or bench/.data/remote-v1/, uploaded once into an Azurite whose data lives
beside them): a ~500 MB HDF5 file and a ~200 MB torch checkpoint.

Preview: `service.preview` of the blob datastore URI, in process, default budget, a fresh
catalog (new connection) and a fresh, empty block-cache folder every run: the first hover of
a file nobody previewed. Reported: bytes fetched from storage (network), bytes the preview
asked for, wall time; median of PREVIEW_RUNS. Reference, in the same run:
`download_blob(max_concurrency=8).readinto(file)` of the whole blob. Ratio = download
median / preview median.

`python -m bench.remote --block-sizes 32,64,128` previews each file at those block sizes
(KiB) instead: how the block size was chosen (pyserver/backends/blob.py).

`python -m bench.remote --requests` measures one 32 KiB ranged read instead (median of
REQUEST_RUNS, scattered offsets of the HDF5 blob, connections kept alive): the SDK's
`download_blob(offset, length, etag).readall()` against the plain GET the readers use
(blob.py `_Direct`, same pool), and 20 scattered blocks read one by one against one
`prefetch` of them: why reads bypass the SDK, and what concurrency buys here.

Listing (also alone: `--listing`): the first page (100 entries) of a run's `outputs/` folder
holding 10 000 files, served by the stand-in Azure ML service of the tests
(tests/python/amlstandin, real azureml-core on both sides), against azureml-core's
`run.get_file_names()` on the same run; median of LISTING_RUNS, each with a fresh catalog
(the run already known, as when the tree shows it) and a fresh `Run` object.

Goals (issue 4): <= 2 MiB fetched for HDF5, <= 1 MiB for the checkpoint, a preview >= 20x
faster than the full download, the first page of a 10 000-file folder in <= 0.5 s."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._common import REPO_DIR, data_dir, median
from .preview import make_checkpoint, make_hdf5

GENERATOR_VERSION = "1"
PREVIEW_RUNS = 5
DOWNLOAD_RUNS = 3
CONTAINER = "bench"
MiB = 1 << 20
GOAL_HDF5_BYTES = 2 * MiB
GOAL_CHECKPOINT_BYTES = 1 * MiB
GOAL_SPEEDUP = 20.0
LISTING_RUNS = 5
GOAL_FIRST_PAGE_S = 0.5
REQUEST_RUNS = 50


@dataclass
class Item:
    label: str
    blob: str
    size_target: int
    goal_bytes: int
    make: Any
    preview_s: list[float] = field(default_factory=list)
    fetched: list[int] = field(default_factory=list)
    requests: list[int] = field(default_factory=list)
    read: list[int] = field(default_factory=list)
    download_s: list[float] = field(default_factory=list)
    size: int = 0


def items() -> list[Item]:
    return [
        Item("HDF5 500 MB", "data-500mb.h5", 500 * 10**6, GOAL_HDF5_BYTES, make_hdf5),
        Item(
            "checkpoint 200 MB",
            "checkpoint-200mb.pt",
            200 * 10**6,
            GOAL_CHECKPOINT_BYTES,
            make_checkpoint,
        ),
    ]


def _azurite_module() -> Any:
    sys.path.insert(0, str(REPO_DIR / "tests" / "python"))
    import azurite

    return azurite


def prepare(folder: Path, work: list[Item]) -> None:
    for item in work:
        path = folder / item.blob
        if not path.exists():
            print(f"remote: generating {path.name} ...", flush=True)
            item.make(path, item.size_target)
        item.size = path.stat().st_size


def upload(connection_string: str, folder: Path, work: list[Item]) -> None:
    from azure.core.exceptions import ResourceExistsError
    from azure.storage.blob import BlobServiceClient

    service = BlobServiceClient.from_connection_string(connection_string)
    container = service.get_container_client(CONTAINER)
    with contextlib.suppress(ResourceExistsError):
        container.create_container()
    present = {blob.name: blob.size for blob in container.list_blobs()}
    for item in work:
        if present.get(item.blob) == item.size:
            continue
        print(f"remote: uploading {item.blob} to Azurite ...", flush=True)
        with (folder / item.blob).open("rb") as stream:
            container.upload_blob(item.blob, stream, overwrite=True, max_concurrency=8)


def preview_once(
    connection_string: str, item: Item, scratch: Path, block_size: int | None = None
) -> tuple[float, int, int, int]:
    from pyserver import service
    from pyserver.backends import Catalog
    from pyserver.backends.blob import BLOCK_SIZE
    from pyserver.backends.blockcache import BlockCache
    from pyserver.config import Settings

    cache_dir = Path(tempfile.mkdtemp(prefix="blocks-", dir=scratch))
    settings = Settings.from_json(
        {
            "datastores": [
                {"name": "bench", "container": CONTAINER, "connectionString": connection_string}
            ]
        }
    )
    catalog = Catalog(settings)
    catalog.blob._cache = BlockCache(cache_dir)
    catalog.blob.block_size = block_size or BLOCK_SIZE
    try:
        start = time.perf_counter()
        result = service.preview(catalog, f"azureml://datastores/bench/paths/{item.blob}")
        elapsed = time.perf_counter() - start
    finally:
        shutil.rmtree(cache_dir, ignore_errors=True)
    if result["summary"].startswith("Preview stopped") or result.get("kind") in ("binary", None):
        raise RuntimeError(f"{item.blob}: unexpected preview {result['kind']}: {result['summary']}")
    network = catalog.blob.network
    return elapsed, network.bytes, network.requests, int(result["bytesRead"])


def download_once(connection_string: str, item: Item, scratch: Path) -> float:
    from azure.storage.blob import BlobServiceClient

    blob = BlobServiceClient.from_connection_string(connection_string).get_blob_client(
        CONTAINER, item.blob
    )
    target = scratch / f"download-{item.blob}"
    try:
        start = time.perf_counter()
        with target.open("wb") as out:
            blob.download_blob(max_concurrency=8).readinto(out)
        elapsed = time.perf_counter() - start
        if target.stat().st_size != item.size:
            raise RuntimeError(f"download of {item.blob} is incomplete")
        return elapsed
    finally:
        target.unlink(missing_ok=True)


def block_size_sweep(
    connection_string: str, work: list[Item], sizes: list[int], scratch: Path
) -> None:
    print("remote: block size sweep (median of 3 cold previews each)")
    print(f"{'file':<20}{'block':>8}{'fetched':>12}{'requests':>10}{'time ms':>10}")
    for item in work:
        for kib in sizes:
            runs = [preview_once(connection_string, item, scratch, kib << 10) for _ in range(3)]
            print(
                f"{item.label:<20}{kib:>6}Ki{median([r[1] for r in runs]) / MiB:>10.2f}Mi"
                f"{median([r[2] for r in runs]):>10.0f}{median([r[0] for r in runs]) * 1000:>10.0f}"
            )


def request_costs(connection_string: str, item: Item, scratch: Path) -> None:
    """Median cost of one ranged read: SDK pipeline vs plain pooled GET; and 20 scattered
    blocks one by one vs one concurrent prefetch."""
    import random

    from azure.core import MatchConditions

    from pyserver.backends import Catalog
    from pyserver.backends.blockcache import BlockCache
    from pyserver.config import Settings

    settings = Settings.from_json(
        {
            "datastores": [
                {"name": "bench", "container": CONTAINER, "connectionString": connection_string}
            ]
        }
    )
    catalog = Catalog(settings)
    catalog.blob._cache = BlockCache(Path(tempfile.mkdtemp(prefix="blocks-", dir=scratch)))
    reader: Any = catalog.open(f"azureml://datastores/bench/paths/{item.blob}")
    block = catalog.blob.block_size
    rng = random.Random(0)

    def offsets(count: int) -> list[int]:
        return [rng.randrange(reader.size // block) * block for _ in range(count)]

    def sdk(offset: int) -> None:
        reader._client.download_blob(
            offset=offset,
            length=block,
            etag=reader.etag,
            match_condition=MatchConditions.IfNotModified,
        ).readall()

    def plain(offset: int) -> None:
        reader._fetch(offset, block)

    print(f"remote: one {block >> 10} KiB ranged read of {item.blob}, median of {REQUEST_RUNS}")
    for label, call in (("SDK download_blob", sdk), ("plain pooled GET", plain)):
        for offset in offsets(5):  # warm: connections, imports
            call(offset)
        times = []
        for offset in offsets(REQUEST_RUNS):
            start = time.perf_counter()
            call(offset)
            times.append(time.perf_counter() - start)
        print(f"  {label:<20}{median(times) * 1000:>8.2f} ms")
    one_by_one, at_once = [], []
    for _ in range(7):
        batch = offsets(20)
        start = time.perf_counter()
        for offset in batch:
            plain(offset)
        one_by_one.append(time.perf_counter() - start)
        batch = offsets(20)
        start = time.perf_counter()
        reader.prefetch([(offset, block) for offset in batch])
        at_once.append(time.perf_counter() - start)
    print(
        f"  20 scattered blocks: one by one {median(one_by_one) * 1000:.1f} ms, one prefetch "
        f"{median(at_once) * 1000:.1f} ms (median of 7)"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench remote")
    parser.add_argument("--block-sizes", default="", help="KiB, comma separated: sweep instead")
    parser.add_argument("--requests", action="store_true", help="cost of one ranged read")
    parser.add_argument("--listing", action="store_true", help="only the run folder listing")
    args = parser.parse_args(argv if argv is not None else [])
    azurite = _azurite_module()
    folder = data_dir() / f"remote-v{GENERATOR_VERSION}"
    folder.mkdir(parents=True, exist_ok=True)
    work = items()
    scratch = Path(tempfile.mkdtemp(prefix="run-", dir=folder))
    try:
        if args.listing:
            with azurite.azurite(scratch / "azurite") as connection_string:
                listing(connection_string, scratch)
            return
        prepare(folder, work)
        with azurite.azurite(folder / "azurite") as connection_string:
            upload(connection_string, folder, work)
            if args.block_sizes:
                sizes = [int(size) for size in args.block_sizes.split(",")]
                block_size_sweep(connection_string, work, sizes, scratch)
                return
            if args.requests:
                request_costs(connection_string, work[0], scratch)
                return
            ok = run(connection_string, work, scratch, folder)
            ok = listing(connection_string, scratch) and ok
            print(f"remote: all goals {'met' if ok else 'NOT met'}")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def run(connection_string: str, work: list[Item], scratch: Path, folder: Path) -> bool:
    print(
        f"remote: first preview of a blob in Azurite (in process, fresh catalog and empty block "
        f"cache each run, median of {PREVIEW_RUNS}) vs download_blob(max_concurrency=8)"
        f".readinto(file) of the whole blob (median of {DOWNLOAD_RUNS}). Inputs: {folder}"
    )
    for item in work:  # warm-up: imports (h5py, azure) and Azurite's own caches
        preview_once(connection_string, item, scratch)
    for _ in range(PREVIEW_RUNS):
        for item in work:
            elapsed, fetched, requests, read = preview_once(connection_string, item, scratch)
            item.preview_s.append(elapsed)
            item.fetched.append(fetched)
            item.requests.append(requests)
            item.read.append(read)
    for _ in range(DOWNLOAD_RUNS):
        for item in work:
            item.download_s.append(download_once(connection_string, item, scratch))
    print(
        f"{'file':<20}{'size':>9}{'fetched':>11}{'% file':>8}{'reqs':>6}{'read':>10}"
        f"{'preview':>10}{'download':>10}{'ratio':>8}"
    )
    results = []
    ok = True
    for item in work:
        fetched = max(item.fetched)
        preview_s, download_s = median(item.preview_s), median(item.download_s)
        ratio = download_s / preview_s
        print(
            f"{item.label:<20}{item.size / MiB:>7.0f}Mi{fetched / MiB:>9.2f}Mi"
            f"{100 * fetched / item.size:>7.2f}%{median(item.requests):>6.0f}"
            f"{median(item.read) / MiB:>8.2f}Mi{preview_s * 1000:>8.0f}ms{download_s:>9.2f}s"
            f"{ratio:>7.0f}x"
        )
        bytes_ok = fetched <= item.goal_bytes
        speed_ok = ratio >= GOAL_SPEEDUP
        ok = ok and bytes_ok and speed_ok
        print(
            f"  goal: fetched <= {item.goal_bytes / MiB:.0f} MiB: {'met' if bytes_ok else 'MISSED'}"
            f"; >= {GOAL_SPEEDUP:.0f}x faster than the download: {'met' if speed_ok else 'MISSED'}"
        )
        results.append(
            {
                "file": item.label,
                "bytes": item.size,
                "fetchedBytes": item.fetched,
                "requests": item.requests,
                "bytesRead": item.read,
                "previewSeconds": item.preview_s,
                "downloadSeconds": item.download_s,
                "ratio": ratio,
            }
        )
    (data_dir() / "remote-results.json").write_text(json.dumps(results, indent=2))
    return ok


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def listing(connection_string: str, scratch: Path) -> bool:
    """First page of a 10 000-file run folder (this explorer) vs `run.get_file_names()`."""
    _azurite_module()  # tests/python on sys.path
    from amlstandin.environment import MANY_FILES, aml_environment

    from pyserver.backends import Catalog
    from pyserver.backends.aml_auth import TokenProvider, azureml_authentication
    from pyserver.config import Settings

    ours: list[float] = []
    sdk: list[float] = []
    with (
        aml_environment(scratch / "aml", connection_string, {}) as env,
        _environment(env.environment(os.environ.get("PATH", ""))),
    ):
        setting = env.workspace_setting()
        run_uri = (
            f"azureml://subscriptions/{setting['subscriptionId']}/resourcegroups/"
            f"{setting['resourceGroup']}/workspaces/{setting['name']}/jobs/train-big"
        )
        from azureml.core import Experiment, Run, Workspace

        tokens = TokenProvider()
        workspace = Workspace(
            setting["subscriptionId"],
            setting["resourceGroup"],
            setting["name"],
            auth=azureml_authentication(tokens),
            _disable_service_check=True,
        )
        experiment = Experiment(workspace, "train")
        for attempt in range(LISTING_RUNS + 1):  # the first: warm-up (imports, discovery)
            catalog = Catalog(Settings.from_json({"workspaces": [setting]}))
            catalog.azureml.tokens = tokens  # signed in already, as in a running server
            catalog.configure(Settings.from_json({"workspaces": [setting]}), [])
            catalog.stat(run_uri)
            start = time.perf_counter()
            page = catalog.children(f"{run_uri}/outputs/artifacts/paths/outputs", None, 100)
            elapsed = time.perf_counter() - start
            if len(page.items) != 100:
                raise RuntimeError(f"first page has {len(page.items)} entries")
            run = Run(experiment, "train-big")
            start = time.perf_counter()
            names = run.get_file_names()
            sdk_elapsed = time.perf_counter() - start
            if len(names) != MANY_FILES + 1:
                raise RuntimeError(f"get_file_names() gave {len(names)} names")
            if attempt:
                ours.append(elapsed)
                sdk.append(sdk_elapsed)
        requests = len(env.standin.calls("/artifact/"))
    first, whole = median(ours), median(sdk)
    ok = first <= GOAL_FIRST_PAGE_S
    print(
        f"remote: run folder of {MANY_FILES} files (stand-in service, median of {LISTING_RUNS}): "
        f"first page of 100 {first * 1000:.0f} ms vs run.get_file_names() {whole * 1000:.0f} ms "
        f"({whole / first:.0f}x; {requests} artifact requests in all)"
    )
    print(f"  goal: first page <= {GOAL_FIRST_PAGE_S} s: {'met' if ok else 'MISSED'}")
    (data_dir() / "remote-listing-results.json").write_text(
        json.dumps({"firstPageSeconds": ours, "getFileNamesSeconds": sdk}, indent=2)
    )
    return ok


if __name__ == "__main__":
    main(sys.argv[1:])
