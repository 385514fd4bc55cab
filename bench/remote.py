"""Remote previews over blob storage (a real Azurite) against downloading the whole blob.

Inputs (generated once with the real libraries by bench/preview.py's generators, cached in
`$AML_BENCH_DATA` or bench/.data/remote-v1/, uploaded once into an Azurite whose data lives
beside them): a ~500 MB HDF5 file and a ~200 MB torch checkpoint.

Preview: `service.preview` of the blob datastore URI, in process, default budget, a fresh
catalog (new connection) and a fresh, empty block-cache folder every run: the first hover of
a file nobody previewed. Reported: bytes fetched from storage (network), bytes the preview
asked for, wall time; median of PREVIEW_RUNS. References, in the same run, median of
DOWNLOAD_RUNS each: the SDK's `download_blob(max_concurrency=8).readinto(file)` of the whole
blob, and our own download (`service.download_to` of the same URI, pyserver/transfers). Ratio
= the faster reference's median / preview median.

Through the server (SERVER_RUNS, each a new `aml-artifacts serve` with an empty block cache,
the datastore in its initializationOptions, one preview worker warmed up by a preview of a
small text blob): `artifacts/preview` of each file's URI, client-side wall time: the first
hover of a file in a running explorer. The answer's markdown must be the in-process
preview's (what is measured in process is what users get).

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
PREVIEW_RUNS = 11  # a preview takes tens of ms: noisy on a shared machine
DOWNLOAD_RUNS = 3
SERVER_RUNS = 5
WARM_UP_BLOB = "warm-up.txt"  # previewed first by each server, not measured
SERVER_TIMEOUT_S = 120
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
    download_s: list[float] = field(default_factory=list)  # the SDK's
    ours_s: list[float] = field(default_factory=list)  # service.download_to
    server_s: list[float] = field(default_factory=list)
    server_fetched: list[int] = field(default_factory=list)  # the answer's networkBytes
    markdown: str = ""  # of the in-process preview
    server_same: bool = True  # every server answer had that markdown
    size: int = 0

    @property
    def reference_s(self) -> float:
        """The goal's reference: downloading the whole file with azure-storage-blob
        (`download_blob(max_concurrency=8)`, median). Our own download, about twice as fast,
        is printed beside it."""
        return median(self.download_s)


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
    if WARM_UP_BLOB not in present:
        container.upload_blob(WARM_UP_BLOB, b"a small text file\n")
    for item in work:
        if present.get(item.blob) == item.size:
            continue
        print(f"remote: uploading {item.blob} to Azurite ...", flush=True)
        with (folder / item.blob).open("rb") as stream:
            container.upload_blob(item.blob, stream, overwrite=True, max_concurrency=8)


@dataclass
class Preview:
    seconds: float
    fetched: int  # bytes from storage (every ranged GET)
    requests: int  # ranged GETs
    read: int  # bytes the preview asked for (bytesRead)
    markdown: str


def datastores(connection_string: str) -> dict[str, Any]:
    """The settings naming the bench's container datastore "bench"."""
    store = {"name": "bench", "container": CONTAINER, "connectionString": connection_string}
    return {"datastores": [store]}


def uri_of(blob: str) -> str:
    return f"azureml://datastores/bench/paths/{blob}"


def preview_once(
    connection_string: str, item: Item, scratch: Path, block_size: int | None = None
) -> Preview:
    from pyserver import service
    from pyserver.backends import Catalog
    from pyserver.backends.blob import BLOCK_SIZE
    from pyserver.backends.blockcache import BlockCache
    from pyserver.config import Settings

    cache_dir = Path(tempfile.mkdtemp(prefix="blocks-", dir=scratch))
    catalog = Catalog(Settings.from_json(datastores(connection_string)))
    catalog.blob._cache = BlockCache(cache_dir)
    catalog.blob.block_size = block_size or BLOCK_SIZE
    try:
        start = time.perf_counter()
        result = service.preview(catalog, uri_of(item.blob))
        elapsed = time.perf_counter() - start
    finally:
        shutil.rmtree(cache_dir, ignore_errors=True)
    _check(item, result)
    network = catalog.blob.network
    return Preview(
        elapsed, network.bytes, network.requests, int(result["bytesRead"]), result["markdown"]
    )


def _check(item: Item, result: dict[str, Any]) -> None:
    if result["summary"].startswith("Preview stopped") or result.get("kind") in ("binary", None):
        raise RuntimeError(f"{item.blob}: unexpected preview {result['kind']}: {result['summary']}")


def server_previews_once(connection_string: str, work: list[Item], scratch: Path) -> None:
    """`artifacts/preview` of each item through a new server with an empty block cache, its
    preview worker warmed up by a preview of WARM_UP_BLOB first: client-side wall times."""
    from ._common import LspServer

    cache_dir = Path(tempfile.mkdtemp(prefix="server-blocks-", dir=scratch))
    try:
        with (
            _environment({"AML_ARTIFACTS_BLOCK_CACHE": str(cache_dir)}),
            LspServer(timeout_s=SERVER_TIMEOUT_S) as server,
        ):
            server.initialize({**datastores(connection_string), "previewWorkers": 1})
            server.request("artifacts/preview", {"uri": uri_of(WARM_UP_BLOB)})
            for item in work:
                uri = uri_of(item.blob)
                elapsed, answer = server.timed_request("artifacts/preview", {"uri": uri})
                if "result" not in answer:
                    raise RuntimeError(f"{item.blob}: the server answered {answer.get('error')}")
                _check(item, answer["result"])
                item.server_s.append(elapsed)
                item.server_fetched.append(int(answer["result"].get("networkBytes", -1)))
                item.server_same &= answer["result"]["markdown"] == item.markdown
    finally:
        shutil.rmtree(cache_dir, ignore_errors=True)


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


def download_ours_once(connection_string: str, item: Item, scratch: Path) -> float:
    """Our own download of the whole blob (what `aml-artifacts download` and the explorer's
    Download… run), default settings."""
    from pyserver import service
    from pyserver.backends import Catalog
    from pyserver.config import Settings

    settings = Settings.from_json(datastores(connection_string))
    catalog = Catalog(settings)
    target = Path(tempfile.mkdtemp(prefix="download-", dir=scratch))
    try:
        start = time.perf_counter()
        result = service.download_to(catalog, uri_of(item.blob), str(target), settings=settings)
        elapsed = time.perf_counter() - start
        if result["bytes"] != item.size or result.get("failures"):
            raise RuntimeError(f"our download of {item.blob} is incomplete: {result}")
        return elapsed
    finally:
        shutil.rmtree(target, ignore_errors=True)


def block_size_sweep(
    connection_string: str, work: list[Item], sizes: list[int], scratch: Path
) -> None:
    print("remote: block size sweep (median of 3 cold previews each)")
    print(f"{'file':<20}{'block':>8}{'fetched':>12}{'requests':>10}{'time ms':>10}")
    for item in work:
        for kib in sizes:
            runs = [preview_once(connection_string, item, scratch, kib << 10) for _ in range(3)]
            fetched = median([r.fetched for r in runs]) / MiB
            requests = median([r.requests for r in runs])
            print(
                f"{item.label:<20}{kib:>6}Ki{fetched:>10.2f}Mi"
                f"{requests:>10.0f}{median([r.seconds for r in runs]) * 1000:>10.0f}"
            )


def request_costs(connection_string: str, item: Item, scratch: Path) -> None:
    """Median cost of one ranged read: SDK pipeline vs plain pooled GET; and 20 scattered
    blocks one by one vs one concurrent prefetch."""
    import random

    from azure.core import MatchConditions

    from pyserver.backends import Catalog
    from pyserver.backends.blockcache import BlockCache
    from pyserver.config import Settings

    catalog = Catalog(Settings.from_json(datastores(connection_string)))
    catalog.blob._cache = BlockCache(Path(tempfile.mkdtemp(prefix="blocks-", dir=scratch)))
    reader: Any = catalog.open(uri_of(item.blob))
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
        f"cache each run, median of {PREVIEW_RUNS}) vs the faster full download (median of "
        f"{DOWNLOAD_RUNS}) of download_blob(max_concurrency=8).readinto(file) and our own "
        f"(service.download_to); then through the server. Inputs: {folder}"
    )
    measure(connection_string, work, scratch)
    print(
        f"{'file':<20}{'size':>9}{'fetched':>11}{'% file':>8}{'reqs':>6}{'read':>10}"
        f"{'preview':>10}{'SDK':>9}{'x':>5}{'ours':>9}{'x':>5}"
    )
    ok = all([report(item) for item in work])
    results = [result_json(item) for item in work]
    (data_dir() / "remote-results.json").write_text(json.dumps(results, indent=2))
    return ok


def measure(connection_string: str, work: list[Item], scratch: Path) -> None:
    for item in work:  # warm-up: imports (h5py, azure) and Azurite's own caches
        preview_once(connection_string, item, scratch)
    for _ in range(PREVIEW_RUNS):
        for item in work:
            measured = preview_once(connection_string, item, scratch)
            item.preview_s.append(measured.seconds)
            item.fetched.append(measured.fetched)
            item.requests.append(measured.requests)
            item.read.append(measured.read)
            item.markdown = measured.markdown
    for _ in range(DOWNLOAD_RUNS):
        for item in work:
            item.download_s.append(download_once(connection_string, item, scratch))
            item.ours_s.append(download_ours_once(connection_string, item, scratch))
    for _ in range(SERVER_RUNS):
        server_previews_once(connection_string, work, scratch)


def report(item: Item) -> bool:
    """Print the item's figures and goals; whether they are met."""
    fetched = max(item.fetched)
    preview_s, reference_s = median(item.preview_s), item.reference_s
    ratio = reference_s / preview_s
    sdk_s, ours_s = median(item.download_s), median(item.ours_s)
    print(
        f"{item.label:<20}{item.size / MiB:>7.0f}Mi{fetched / MiB:>9.2f}Mi"
        f"{100 * fetched / item.size:>7.2f}%{median(item.requests):>6.0f}"
        f"{median(item.read) / MiB:>8.2f}Mi{preview_s * 1000:>8.0f}ms"
        f"{sdk_s:>8.2f}s{sdk_s / preview_s:>4.0f}x{ours_s:>8.2f}s{ours_s / preview_s:>4.0f}x"
    )
    server_s = median(item.server_s)
    print(
        f"  through the server (artifacts/preview, median of {SERVER_RUNS}): "
        f"{server_s * 1000:.0f} ms ({reference_s / server_s:.0f}x), reader fetched "
        f"{max(item.server_fetched) / MiB:.2f} MiB, markdown "
        f"{'the same as in process' if item.server_same else 'DIFFERENT from in process'}"
    )
    bytes_ok = fetched <= item.goal_bytes
    speed_ok = ratio >= GOAL_SPEEDUP
    print(
        f"  goal: fetched <= {item.goal_bytes / MiB:.0f} MiB: {'met' if bytes_ok else 'MISSED'}"
        f"; >= {GOAL_SPEEDUP:.0f}x faster than the SDK's download ({ratio:.0f}x): "
        f"{'met' if speed_ok else 'MISSED'} (against our own download: "
        f"{median(item.ours_s) / preview_s:.0f}x)"
    )
    return bytes_ok and speed_ok and item.server_same


def result_json(item: Item) -> dict[str, Any]:
    return {
        "file": item.label,
        "bytes": item.size,
        "fetchedBytes": item.fetched,
        "requests": item.requests,
        "bytesRead": item.read,
        "previewSeconds": item.preview_s,
        "downloadSeconds": item.download_s,
        "ourDownloadSeconds": item.ours_s,
        "serverPreviewSeconds": item.server_s,
        "serverNetworkBytes": item.server_fetched,
        "serverMarkdownSame": item.server_same,
        "ratio": item.reference_s / median(item.preview_s),
    }


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
