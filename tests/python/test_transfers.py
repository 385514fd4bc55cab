"""The download engine (pyserver/transfers): parallel chunked transfers through a proxy that
breaks connections, resume after `kill -9`, verification, cancel, overwrite policies, and
containment of every class of hostile remote name (Azurite, local workspaces, any backend)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from azurite import connection_string, port_of
from conftest import RemoteStore
from faultproxy import FaultProxy, Faults

from pyserver.backends import Catalog
from pyserver.backends.base import FileEntry
from pyserver.config import Settings
from pyserver.errors import Cancelled, Conflict, PermissionDenied, Unavailable, UnsafePath
from pyserver.transfers import Options, Progress, download
from pyserver.transfers.engine import transfer
from pyserver.transfers.names import local_name, local_parts
from pyserver.transfers.plan import make_plan
from pyserver.transfers.progress import ProgressPrinter, Tracker, format_eta
from pyserver.uris import file_uri

MiB = 1 << 20
CONTAINER = "transfers"
ROOT = "azureml://datastores/xfer/paths/"
FAST = Options(concurrency=8, chunk_bytes=4 * MiB, chunked_from=8 * MiB, piece_bytes=1 * MiB,
               backoff_s=0.05, backoff_max_s=0.5)  # fmt: skip
REPO = Path(__file__).resolve().parents[2]

HOSTILE_BLOBS = {  # blob name → where it must land under dest (None: refused)
    "hostile/ok.txt": "hostile/ok.txt",
    "hostile//lead.txt": "hostile/lead.txt",
    "hostile/C:evil.txt": "hostile/C_evil.txt",
    "hostile/\\\\server\\share.txt": "hostile/server/share.txt",  # Azure: `\` → `/`
    "hostile/..\\..\\win.txt": None,  # stored as hostile/../../win.txt
    "hostile/%2e%2e/pct.txt": None,
    "hostile/%2E%2e": None,
    "hostile/tab\t.txt": "hostile/tab_.txt",
    "hostile/del\x7f.txt": "hostile/del_.txt",
    "hostile/CON": "hostile/CON_",
    "hostile/nul.txt": "hostile/nul_.txt",
    "hostile/Com1.tar.gz": "hostile/Com1_.tar.gz",
    "hostile/lpt9": "hostile/lpt9_",
    "hostile/trailing.": "hostile/trailing_",
    "hostile/space ": "hostile/space_",
}
LONG = "é" * 200 + ".txt"  # 404 bytes of UTF-8


def payload(size: int, seed: int) -> bytes:
    block = hashlib.sha256(str(seed).encode()).digest() * 2048  # 64 KiB
    return (block * (size // len(block) + 1))[:size]


@pytest.fixture(scope="module")
def blobs(azurite_store: RemoteStore) -> dict[str, bytes]:
    from azure.storage.blob import BlobServiceClient, ContentSettings

    service = BlobServiceClient.from_connection_string(azurite_store.connection_string)
    container = service.get_container_client(CONTAINER)
    if not container.exists():
        container.create_container()
    files: dict[str, bytes] = {
        "big/big.bin": os.urandom(64 * MiB),
        "resume/r.bin": os.urandom(32 * MiB),
        "md5/good.txt": b"good\n",
        "md5/bad.txt": b"bad\n",
        "same/a.txt": b"same\n",
        **{f"many/f-{index:03d}.txt": f"small {index}\n".encode() * 50 for index in range(200)},
        **{name: name.encode() for name in HOSTILE_BLOBS},
        f"hostile/{LONG}": b"long",
    }
    from concurrent.futures import ThreadPoolExecutor

    def put(item: tuple[str, bytes]) -> None:
        container.upload_blob(item[0], item[1], overwrite=True, max_concurrency=4)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, files.items()))
    big = container.get_blob_client("big/big.bin")  # staged blocks: no Content-MD5 of its own
    big.set_http_headers(ContentSettings(content_md5=hashlib.md5(files["big/big.bin"]).digest()))
    bad = container.get_blob_client("md5/bad.txt")
    bad.set_http_headers(ContentSettings(content_md5=hashlib.md5(b"something else").digest()))
    files["hostile/\\\\server\\share.txt"] = files.pop("hostile/\\\\server\\share.txt")
    return files


@pytest.fixture
def proxy(azurite_store: RemoteStore) -> Iterator[FaultProxy]:
    with FaultProxy(port_of(azurite_store.connection_string)) as running:
        yield running


@pytest.fixture
def cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh block cache, outside tmp_path (whose whole tree the tests inspect)."""
    folder = tmp_path_factory.mktemp("block-cache")
    monkeypatch.setenv("AML_ARTIFACTS_BLOCK_CACHE", str(folder))
    return folder


def settings_for(port: int) -> dict[str, Any]:
    store = {"name": "xfer", "container": CONTAINER, "connectionString": connection_string(port)}
    return {"datastores": [store]}


def catalog_via(proxy: FaultProxy) -> Catalog:
    return Catalog(Settings.from_json(settings_for(proxy.port)))


def files_under(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() or path.is_symlink()
    }


def tree(root: Path) -> set[Path]:
    """Every path under root (links not followed)."""
    found = set()
    for folder, dirs, names in os.walk(root):
        found.update(Path(folder) / name for name in dirs + names)
    return found


def assert_nothing_outside(before: set[Path], root: Path, dest: Path) -> None:
    """What appeared under root since `before` is all inside dest."""
    for path in tree(root) - before:
        assert path == dest or dest in path.parents, path


# -- engine: parallel, chunked, verified, through faults ---------------------------------


def test_big_blob_survives_dropped_connections(
    blobs: dict[str, bytes], proxy: FaultProxy, tmp_path: Path, cache: Path
) -> None:
    proxy.faults = Faults(drop_after=3 * MiB, drops_left=6)
    seen: list[Progress] = []
    result = download(
        catalog_via(proxy), ROOT + "big/big.bin", tmp_path, on_progress=seen.append, options=FAST
    )
    data = (tmp_path / "big.bin").read_bytes()
    assert hashlib.sha256(data).digest() == hashlib.sha256(blobs["big/big.bin"]).digest()
    assert (result.files, result.bytes, result.failures) == (1, 64 * MiB, ())
    assert proxy.drops == 6
    assert files_under(tmp_path).keys() == {"big.bin"}  # no temporary file left
    assert seen[-1].files_done == 1 and seen[-1].bytes_done == 64 * MiB
    assert any(p.bytes_per_s > 0 and p.eta_s is not None for p in seen)


def test_many_small_files_in_flight_with_resets(
    blobs: dict[str, bytes], proxy: FaultProxy, tmp_path: Path, cache: Path
) -> None:
    proxy.faults = Faults(drop_after=2000, drops_left=4, reset=True)
    result = download(catalog_via(proxy), ROOT + "many", tmp_path, options=FAST)
    assert (result.files, result.failures) == (200, ())
    got = files_under(tmp_path / "many")
    assert got == {name[5:]: data for name, data in blobs.items() if name.startswith("many/")}
    assert proxy.drops == 4


def test_kill_9_then_resume_fetches_only_the_missing_chunks(
    blobs: dict[str, bytes], proxy: FaultProxy, tmp_path: Path, cache: Path
) -> None:
    size = len(blobs["resume/r.bin"])
    proxy.faults = Faults(rate=12 * MiB)
    config = tmp_path / "config.json"
    config.write_text(json.dumps(settings_for(proxy.port)))
    dest = tmp_path / "dest"
    env = {**os.environ, "PYTHONPATH": str(REPO), "AML_ARTIFACTS_BLOCK_CACHE": str(cache)}
    command = [sys.executable, "-m", "pyserver", "--config", str(config), "download"]
    process = subprocess.Popen(
        [*command, "--chunk-mb", "4", ROOT + "resume/r.bin", str(dest)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    done: list[int] = []
    deadline = time.monotonic() + 30
    while len(done) < 3 and time.monotonic() < deadline:
        for sidecar in dest.glob(".r.bin.*.part.json") if dest.exists() else []:
            with contextlib.suppress(OSError, ValueError):
                done = json.loads(sidecar.read_text())["done"]
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert 3 <= len(done) < 8, done
    assert not (dest / "r.bin").exists()
    assert len(list(dest.glob(".r.bin.*.part"))) == 1  # kept for the resume

    proxy.faults = Faults()
    proxy.reset_counters()
    result = download(catalog_via(proxy), ROOT + "resume/r.bin", dest, options=FAST)
    assert (dest / "r.bin").read_bytes() == blobs["resume/r.bin"]
    assert result.fetched_bytes <= size - len(done) * 4 * MiB
    # Through the wire (headers, properties and listing included): clearly less than the file.
    assert proxy.bytes_down < size - len(done) * 4 * MiB + (256 << 10) < 0.95 * size
    assert files_under(dest).keys() == {"r.bin"}


def test_failed_file_keeps_its_chunks_and_a_changed_blob_restarts(
    blobs: dict[str, bytes], proxy: FaultProxy, tmp_path: Path, cache: Path
) -> None:
    from azure.storage.blob import BlobServiceClient

    proxy.faults = Faults(drop_after=100 << 10, drops_left=100_000)  # no piece gets through
    stubborn = Options(**{**FAST.__dict__, "retries": 1})
    result = download(catalog_via(proxy), ROOT + "big/big.bin", tmp_path, options=stubborn)
    assert result.files == 0 and len(result.failures) == 1
    assert result.failures[0].path == str(tmp_path / "big.bin")
    assert not (tmp_path / "big.bin").exists()
    stale = list(tmp_path.glob(".big.bin.*.part"))
    assert len(stale) == 1

    service = BlobServiceClient.from_connection_string(connection_string(proxy.upstream_port))
    changed = payload(20 * MiB, 7)
    service.get_blob_client(CONTAINER, "changed/big.bin").upload_blob(changed, overwrite=True)
    # Same target name, another remote version (another ETag): start over, drop the stale.
    proxy.faults = Faults()
    proxy.reset_counters()
    again = download(catalog_via(proxy), ROOT + "changed/big.bin", tmp_path, options=FAST)
    assert again.failures == () and (tmp_path / "big.bin").read_bytes() == changed
    assert proxy.bytes_down >= len(changed)
    assert files_under(tmp_path).keys() == {"big.bin"}


def test_cancel_stops_at_once_and_leaves_nothing_at_final_names(
    blobs: dict[str, bytes], proxy: FaultProxy, tmp_path: Path, cache: Path
) -> None:
    proxy.faults = Faults(rate=4 * MiB)
    cancel = threading.Event()
    cancelled_at: list[float] = []

    def on_progress(progress: Progress) -> None:
        if progress.bytes_done > 2 * MiB and not cancel.is_set():
            cancelled_at.append(time.monotonic())
            cancel.set()

    with pytest.raises(Cancelled):
        download(catalog_via(proxy), ROOT + "big", tmp_path, on_progress=on_progress,
                 cancel=cancel, options=FAST)  # fmt: skip
    assert time.monotonic() - cancelled_at[0] < 3
    assert files_under(tmp_path) == {}  # no final file, no temporary file (a user's cancel)


def test_md5_mismatch_is_reported_and_not_placed(
    blobs: dict[str, bytes], tmp_path: Path, azurite_store: RemoteStore, cache: Path
) -> None:
    catalog = Catalog(Settings.from_json(settings_for(port_of(azurite_store.connection_string))))
    result = download(catalog, ROOT + "md5", tmp_path, options=FAST)
    assert result.files == 1
    assert [(f.uri, f.path) for f in result.failures] == [
        (ROOT + "md5/bad.txt", str(tmp_path / "md5" / "bad.txt"))
    ]
    assert "Content-MD5" in result.failures[0].reason
    assert files_under(tmp_path) == {"md5/good.txt": b"good\n"}
    assert result.to_json()["failures"][0]["reason"] == result.failures[0].reason


def test_a_file_deleted_after_listing_is_reported_gone_and_the_rest_placed(
    blobs: dict[str, bytes], tmp_path: Path, azurite_store: RemoteStore, cache: Path
) -> None:
    from azure.storage.blob import BlobServiceClient

    container = BlobServiceClient.from_connection_string(
        azurite_store.connection_string
    ).get_container_client(CONTAINER)
    for name in ("vanish/keep.txt", "vanish/gone.txt"):
        container.upload_blob(name, name.encode(), overwrite=True)
    catalog = Catalog(Settings.from_json(settings_for(port_of(azurite_store.connection_string))))
    plan = make_plan(catalog, ROOT + "vanish", tmp_path, "ask")
    container.delete_blob("vanish/gone.txt")  # between the listing and the transfer
    tracker = Tracker(len(plan.items), sum(item.entry.size for item in plan.items), None)
    outcome = transfer(catalog, plan.dest, plan.items, tracker, threading.Event(), FAST)
    # Azure answers the read pinned to the listed ETag with 404, Azurite with 412.
    assert [f.uri for f in outcome.failures] == [ROOT + "vanish/gone.txt"]
    assert outcome.failures[0].reason in (
        "no longer in storage (moved or deleted after it was listed)",
        f"{ROOT}vanish/gone.txt changed while it was being read: preview or download it again.",
    )
    assert files_under(tmp_path) == {"vanish/keep.txt": b"vanish/keep.txt"}


def test_a_local_file_deleted_after_listing_is_reported_gone(tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    (source / "keep.txt").write_bytes(b"keep")
    (source / "gone.txt").write_bytes(b"gone")
    catalog, dest = Catalog(), tmp_path / "dest"
    plan = make_plan(catalog, file_uri(source), dest, "ask")
    (source / "gone.txt").unlink()
    tracker = Tracker(len(plan.items), sum(item.entry.size for item in plan.items), None)
    outcome = transfer(catalog, plan.dest, plan.items, tracker, threading.Event(), FAST)
    assert [(Path(f.path).name, f.reason) for f in outcome.failures] == [
        ("gone.txt", "no longer in storage (moved or deleted after it was listed)")
    ]
    assert files_under(dest) == {"source/keep.txt": b"keep"}


# -- overwrite policies and identical files ------------------------------------------------


def test_identical_remote_files_are_skipped_and_policies_settle_the_rest(
    blobs: dict[str, bytes], tmp_path: Path, azurite_store: RemoteStore, cache: Path
) -> None:
    catalog = Catalog(Settings.from_json(settings_for(port_of(azurite_store.connection_string))))
    first = download(catalog, ROOT + "same", tmp_path, options=FAST)
    assert (first.files, first.skipped) == (1, 0)
    again = download(catalog, ROOT + "same", tmp_path, options=FAST)
    assert (again.files, again.skipped) == (0, 1)
    (tmp_path / "same" / "a.txt").write_bytes(b"edited")
    with pytest.raises(Conflict) as conflict:
        download(catalog, ROOT + "same", tmp_path, options=FAST)
    assert conflict.value.to_data()["conflicts"] == ["same/a.txt"]
    assert conflict.value.to_data()["kind"] == "AlreadyExists"
    kept = download(catalog, ROOT + "same", tmp_path, policy="skip", options=FAST)
    assert (kept.files, kept.skipped) == (0, 1)
    assert (tmp_path / "same" / "a.txt").read_bytes() == b"edited"
    replaced = download(catalog, ROOT + "same", tmp_path, overwrite=True, options=FAST)
    assert (replaced.files, (tmp_path / "same" / "a.txt").read_bytes()) == (1, b"same\n")


def test_local_policies(tmp_path: Path) -> None:
    source = tmp_path / "src" / "run"
    source.mkdir(parents=True)
    (source / "a.txt").write_text("a")
    (source / "b.txt").write_text("b")
    dest = tmp_path / "dest"
    download(Catalog(), file_uri(source), dest)
    assert download(Catalog(), file_uri(source), dest).skipped == 2  # size + mtime
    (dest / "run" / "a.txt").write_text("mine")
    (dest / "run" / "b.txt").unlink()
    with pytest.raises(Conflict, match="1 file already exist"):
        download(Catalog(), file_uri(source), dest)
    assert not (dest / "run" / "b.txt").exists()  # `ask`: nothing written before the answer
    skip = download(Catalog(), file_uri(source), dest, policy="skip")
    assert (skip.files, skip.skipped, (dest / "run" / "a.txt").read_text()) == (1, 1, "mine")
    assert download(Catalog(), file_uri(source), dest, policy="overwrite").files == 1
    assert (dest / "run" / "a.txt").read_text() == "a"


# -- containment ---------------------------------------------------------------------------


def test_hostile_blob_names_are_mapped_or_refused(
    blobs: dict[str, bytes], tmp_path: Path, azurite_store: RemoteStore, cache: Path
) -> None:
    catalog = Catalog(Settings.from_json(settings_for(port_of(azurite_store.connection_string))))
    dest = tmp_path / "dest"
    before = tree(tmp_path)
    result = download(catalog, ROOT + "hostile", dest, options=FAST)
    expected = {local: name.encode() for name, local in HOSTILE_BLOBS.items() if local}
    got = files_under(dest)
    long_names = [name for name in got if name.endswith(".txt") and "é" in name]
    assert len(long_names) == 1 and got.pop(long_names[0]) == b"long"
    assert len(Path(long_names[0]).name.encode()) <= 255
    assert got == expected
    refused = {failure.uri.split("/paths/hostile/", 1)[1] for failure in result.failures}
    assert refused == {"../../win.txt", "%252e%252e/pct.txt", "%252E%252e"}
    assert_nothing_outside(before, tmp_path, dest)


class FakeReader:
    def __init__(self, data: bytes, faults: list[BaseException | int]) -> None:
        self.data = data
        self.faults = faults
        self.etag = "v1"

    @property
    def size(self) -> int:
        return len(self.data)

    def read_range(self, offset: int, length: int) -> bytes:
        if self.faults:
            fault = self.faults.pop(0)
            if isinstance(fault, BaseException):
                raise fault
            return self.data[offset : offset + fault]  # a short read
        return self.data[offset : offset + length]

    def close(self) -> None:
        pass


class FakeCatalog:
    """Any backend: names exactly as given (NUL, `..`, absolute, UNC...), scripted faults."""

    def __init__(self, files: dict[tuple[str, ...], bytes]) -> None:
        self.files = files
        self.faults: dict[str, list[BaseException | int]] = {}
        self.opened: list[str] = []

    def uri(self, parts: tuple[str, ...]) -> str:
        return "fake://" + "/".join(parts).encode("unicode_escape").decode()

    def walk(self, uri: str) -> Iterator[FileEntry]:
        for parts, data in self.files.items():
            yield FileEntry(parts, self.uri(parts), len(data))

    def open(self, uri: str) -> FakeReader:
        self.opened.append(uri)
        data = next(d for p, d in self.files.items() if self.uri(p) == uri)
        return FakeReader(data, self.faults.setdefault(uri, []))

    def canonical(self, uri: str) -> str:
        return uri


def test_every_hostile_name_class_from_any_backend_stays_inside(tmp_path: Path) -> None:
    names = {
        ("top", "..", "escape.txt"): None,
        ("top", ".", "dot.txt"): None,
        ("top", "%2e%2e", "pct.txt"): None,
        ("top", "%252E%252E"): None,
        ("top", "", "etc", "passwd"): "top/etc/passwd",
        ("top", "/abs.txt"): "top/_abs.txt",
        ("top", "..\\..\\win.txt"): "top/.._.._win.txt",
        ("top", "C:\\Windows\\x.txt"): "top/C__Windows_x.txt",
        ("top", "\\\\server\\share"): "top/__server_share",
        ("top", "nul\x00.txt"): "top/nul_.txt",
        ("top", "bell\x07"): "top/bell_",
        ("top", "con"): "top/con_",
        ("top", "Aux.json"): "top/Aux_.json",
        ("top", "LPT¹"): "top/LPT¹_",
        ("top", "dots..."): "top/dots___",
        ("top", "x" * 300 + ".bin"): None,  # checked below: shortened
    }
    files = {parts: "/".join(parts).encode() for parts in names}
    files[("top", "con_")] = b"collides with con"
    catalog = FakeCatalog(files)
    dest = tmp_path / "dest"
    before = tree(tmp_path)
    result = download(catalog, "fake://top", dest, options=FAST)  # type: ignore[arg-type]
    got = files_under(dest)
    for parts, local in names.items():
        if local is not None:
            assert got.pop(local) == "/".join(parts).encode(), local
    shortened = [name for name in got if name.startswith("top/xxx")]
    assert len(shortened) == 1 and shortened[0].endswith(".bin")
    assert len(Path(shortened[0]).name.encode()) <= 255
    assert set(got) == set(shortened)
    reasons = {failure.uri: failure.reason for failure in result.failures}
    assert any("same as" in reason for reason in reasons.values())  # con vs con_
    assert sum("parent or current" in reason for reason in reasons.values()) == 4
    assert_nothing_outside(before, tmp_path, dest)


def test_local_workspace_symlinks_are_not_followed_out(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    source = tmp_path / "src" / "run"
    (source / "sub").mkdir(parents=True)
    (source / "sub" / "real.txt").write_text("real")
    (source / "leak.txt").symlink_to(outside / "secret.txt")
    (source / "leakdir").symlink_to(outside)
    (source / "inner.txt").symlink_to(source / "sub" / "real.txt")
    for name in ("a\\b.txt", "C:x.txt", "ctrl\x01.txt", "CON", "aux.log", "trail.", "%2e%2e"):
        (source / name).write_text(name)
    dest = tmp_path / "dest"
    before = tree(tmp_path)
    result = download(Catalog(), file_uri(source), dest)
    got = files_under(dest / "run")
    assert "secret" not in [data.decode() for data in got.values()]
    assert got == {
        "sub/real.txt": b"real",
        "inner.txt": b"real",
        "a_b.txt": b"a\\b.txt",
        "C_x.txt": b"C:x.txt",
        "ctrl_.txt": b"ctrl\x01.txt",
        "CON_": b"CON",
        "aux_.log": b"aux.log",
        "trail_": b"trail.",
    }
    assert [Path(f.path).name for f in result.failures] == ["%2e%2e"]
    assert_nothing_outside(before, tmp_path, dest)


def test_symlinks_in_the_destination_do_not_redirect_writes(tmp_path: Path) -> None:
    source = tmp_path / "src" / "top"
    (source / "sub").mkdir(parents=True)
    (source / "sub" / "x.txt").write_text("x")
    (source / "y.txt").write_text("y")
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "dest"
    (dest / "top").mkdir(parents=True)
    (dest / "top" / "sub").symlink_to(outside)
    (dest / "top" / "y.txt").symlink_to(outside / "y.txt")  # a link at a final name
    result = download(Catalog(), file_uri(source), dest, policy="overwrite")
    assert [Path(f.path).name for f in result.failures] == ["x.txt"]
    assert "outside" in result.failures[0].reason
    assert list(outside.iterdir()) == []
    assert not (dest / "top" / "y.txt").is_symlink()
    assert (dest / "top" / "y.txt").read_text() == "y"


@pytest.mark.parametrize(
    ("name", "mapped"),
    [
        ("con", "con_"),
        ("CON.tar.gz", "CON_.tar.gz"),
        ("com9", "com9_"),
        ("console", "console"),
        ("a:b", "a_b"),  # drive-relative on Windows
        ("run:1", "run:1"),
        ("C:", "C_"),
        ("x.", "x_"),
        ("x. .", "x___"),
        ("...", "___"),
        ("%41%2e", "%41%2e"),  # kept: only `.` / `..` (however encoded) are refused
        ("é" * 128, None),
    ],
)
def test_name_mapping(name: str, mapped: str | None) -> None:
    result = local_name(name, windows=False)
    if mapped is None:
        assert len(result.encode()) <= 255 and result.startswith("é")
    else:
        assert result == mapped
    assert local_name("a:b?", windows=True) == "a_b_"


@pytest.mark.parametrize("parts", [("..",), (".",), ("%2e%2E",), ("",), ("", ""), (". ",)])
def test_refused_names(parts: tuple[str, ...]) -> None:
    with pytest.raises(UnsafePath):
        local_parts(parts)


# -- faults from any backend ---------------------------------------------------------------


def test_retries_short_reads_and_renewal_then_reports_what_still_fails(tmp_path: Path) -> None:
    files = {("top", "flaky.bin"): payload(3 * MiB, 1), ("top", "dead.bin"): b"d" * 100,
             ("top", "fine.txt"): b"fine", ("top", "expired.bin"): b"e" * 10}  # fmt: skip
    catalog = FakeCatalog(files)
    flaky = catalog.uri(("top", "flaky.bin"))
    catalog.faults[flaky] = [Unavailable("503"), ConnectionResetError(), 1000, TimeoutError()]
    catalog.faults[catalog.uri(("top", "dead.bin"))] = [Unavailable("down")] * 50
    catalog.faults[catalog.uri(("top", "expired.bin"))] = [PermissionDenied("expired")]
    result = download(catalog, "fake://top", tmp_path, options=FAST)  # type: ignore[arg-type]
    assert files_under(tmp_path) == {
        "top/flaky.bin": files[("top", "flaky.bin")],
        "top/fine.txt": b"fine",
        "top/expired.bin": b"e" * 10,
    }
    assert [(Path(f.path).name, f.reason) for f in result.failures] == [("dead.bin", "down")]
    assert catalog.opened.count(catalog.uri(("top", "expired.bin"))) == 2  # renewed once


# -- progress --------------------------------------------------------------------------------


def test_progress_message_speed_and_eta() -> None:
    now = [0.0]
    seen: list[Progress] = []
    tracker = Tracker(4, 100 * MiB, seen.append, clock=lambda: now[0])
    now[0] = 1.0
    tracker.fetched(10 * MiB)
    now[0] = 2.0
    tracker.fetched(10 * MiB)
    tracker.file_done()
    tracker.file_done(skipped=True)
    progress = tracker.snapshot()
    assert progress.bytes_per_s == pytest.approx(10 * MiB)
    assert progress.eta_s == pytest.approx(8)
    assert progress.message() == (
        "2/4 files · 21.0 MB of 104.9 MB · 10.5 MB/s · 8 s left · 1 skipped"
    )
    assert format_eta(3725) == "1 h 02 min" and format_eta(75) == "1 min 15 s"


def test_cli_progress_is_a_bar_on_a_terminal_and_lines_elsewhere() -> None:
    import io

    progress = Progress(1, 2, 50, 100, 10.0, 5.0)
    tty = io.StringIO()
    bar = ProgressPrinter(tty, tty=True, interval_s=0)
    bar.update(progress)
    bar.close()
    assert tty.getvalue().startswith("\r[############------------]  50% 1/2 files")
    assert tty.getvalue().endswith("\n")
    plain = io.StringIO()
    lines = ProgressPrinter(plain, tty=False, interval_s=0)
    lines.update(progress)
    assert plain.getvalue() == "50% 1/2 files · 50 B of 100 B · 10 B/s · 5 s left\n"


def test_cli_lists_failures_and_exits_1(
    blobs: dict[str, bytes], tmp_path: Path, azurite_store: RemoteStore
) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps(settings_for(port_of(azurite_store.connection_string))))
    env = {**os.environ, "PYTHONPATH": str(REPO), "AML_ARTIFACTS_BLOCK_CACHE": str(tmp_path / "c")}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pyserver",
            "--config",
            str(config),
            "download",
            ROOT + "md5",
            str(tmp_path / "out"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "FAILED" in done.stderr and "bad.txt" in done.stderr and "Content-MD5" in done.stderr
    assert "1 files" in done.stdout
