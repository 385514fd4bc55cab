"""Blob datastores (amlArtifacts.datastores) against a real Azurite: paged hierarchical
listing, ranged previews with the block cache, downloads and the errors users see."""

from __future__ import annotations

import base64
import logging
import time
from pathlib import Path
from typing import Any

import pytest
from azurite import ACCOUNT_KEY, account_url, free_port, port_of
from conftest import MANY_BLOBS, RemoteStore

from pyserver import service
from pyserver.backends import Catalog
from pyserver.backends.blob import BlobDatastores, datastore_uri, redact
from pyserver.backends.blockcache import BlockCache
from pyserver.config import DatastoreConfig, Settings
from pyserver.errors import CorruptArtifact, NotFound, PermissionDenied, Unavailable
from pyserver.uris import DatastorePath, parse_uri

MiB = 1 << 20
ROOT = "azureml://datastores/remote/paths/"


def catalog_for(store: RemoteStore, *extra: dict[str, Any]) -> Catalog:
    return Catalog(Settings.from_json({"datastores": [store.datastore(), *extra]}))


@pytest.fixture
def catalog(azurite_store: RemoteStore, block_cache: Path) -> Catalog:
    return catalog_for(azurite_store)


def names(catalog: Catalog, uri: str) -> list[tuple[str, str, str | None]]:
    page = catalog.children(uri, None, 1000)
    return [(n.name, n.kind, n.description) for n in page.items]


# -- listing -----------------------------------------------------------------------------


def test_roots_list_each_configured_datastore_without_a_request(
    azurite_store: RemoteStore,
) -> None:
    broken = {"name": "offline", "container": "x", "accountUrl": "http://127.0.0.1:9/acct"}
    roots = catalog_for(azurite_store, broken).roots()
    assert [(n.name, n.kind, n.uri, n.has_children) for n in roots] == [
        ("remote", "datastore", ROOT, True),
        ("offline", "datastore", "azureml://datastores/offline/paths/", True),
    ]
    assert roots[0].description == "blob · devstoreaccount1/artifacts"


def test_hierarchical_listing_with_datasets_at_the_top(catalog: Catalog) -> None:
    assert names(catalog, ROOT) == [
        ("download", "folder", "dataset"),
        ("many", "folder", "dataset"),
        ("nested", "folder", "dataset"),
        ("outputs", "folder", "dataset"),
        ("top.txt", "file", None),
    ]
    assert names(catalog, ROOT + "nested") == [("a", "folder", None), ("e.txt", "file", None)]
    assert names(catalog, ROOT + "nested/a") == [("b", "folder", None), ("d.txt", "file", None)]
    assert names(catalog, ROOT + "nested/a/b") == [
        ("deeper", "folder", None),
        ("c.txt", "file", None),
    ]


def test_paging_follows_azure_continuation_tokens(catalog: Catalog) -> None:
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        page = catalog.children(ROOT + "many", token, 100)
        pages += 1
        assert len(page.items) == 100
        seen += [node.name for node in page.items]
        token = page.next_page_token
        if token is None:
            break
    assert pages == MANY_BLOBS // 100
    assert seen == [f"file-{index:04d}.txt" for index in range(MANY_BLOBS)]


def test_node_uris_round_trip(catalog: Catalog) -> None:
    for node in catalog.children(ROOT + "nested/a", None, 10).items:
        location = parse_uri(node.uri)
        assert isinstance(location, DatastorePath)
        assert catalog.canonical(node.uri) == node.uri
        assert catalog.stat(node.uri) == node
    long_form = (
        "azureml://subscriptions/s/resourcegroups/rg/workspaces/w/datastores/remote/paths/top.txt"
    )
    assert catalog.canonical(long_form) == ROOT + "top.txt"
    odd = datastore_uri("remote", "a dir/100% #1.txt")
    assert parse_uri(odd) == DatastorePath("remote", "a dir/100% #1.txt")
    assert datastore_uri("remote", "a dir/100% #1.txt") == odd


def test_stat_file_folder_datastore_and_missing(catalog: Catalog) -> None:
    file = catalog.stat(ROOT + "top.txt")
    assert (file.kind, file.size, file.has_children, file.downloadable) == ("file", 11, False, True)
    assert file.modified and file.modified.endswith("Z")
    folder = catalog.stat(ROOT + "nested/a/b")
    assert (folder.kind, folder.name, folder.has_children) == ("folder", "b", True)
    assert catalog.stat(ROOT).kind == "datastore"
    with pytest.raises(NotFound):
        catalog.stat(ROOT + "nested/nope")
    with pytest.raises(NotFound):
        catalog.children(ROOT + "nested/nope")
    assert catalog.children(ROOT + "top.txt").items == []


def test_metadata_comes_from_blob_properties(catalog: Catalog) -> None:
    meta = catalog.metadata(ROOT + "nested/e.txt")
    assert meta["size"] == 2 and meta["etag"] and meta["lastModified"].endswith("Z")
    assert len(meta["contentMD5"]) == 32
    assert catalog.metadata(ROOT)["container"] == "artifacts"


def test_unknown_datastore_says_how_to_add_it(catalog: Catalog) -> None:
    with pytest.raises(NotFound, match=r"No datastore named elsewhere.*amlArtifacts\.datastores"):
        catalog.stat("azureml://datastores/elsewhere/paths/x.txt")


def test_local_workspace_datastores_keep_working(small_workspace: Path, catalog: Catalog) -> None:
    catalog.configure(
        Settings.from_json(
            {"localWorkspaces": [str(small_workspace)], "datastores": []},
        )
    )
    assert catalog.stat("azureml://datastores/blob/paths/iris").kind == "folder"


# -- previews and the block cache ----------------------------------------------------------


def test_remote_hdf5_preview_reads_little_and_is_cached(
    azurite_store: RemoteStore, block_cache: Path
) -> None:
    catalog = catalog_for(azurite_store)
    uri = ROOT + "outputs/data.h5"
    first = service.preview(catalog, uri)
    assert first["kind"] == "hdf5"
    assert "features" in first["markdown"] and "class_names" in first["markdown"]
    assert first["bytesRead"] <= 2 * MiB
    fetched = catalog.blob.network.bytes
    assert 0 < fetched <= 2 * MiB, fetched
    # The same process again (memory), then another process (disk: a new catalog and cache).
    assert service.preview(catalog, uri)["markdown"] == first["markdown"]
    assert catalog.blob.network.bytes == fetched
    other = catalog_for(azurite_store)
    assert service.preview(other, uri)["markdown"] == first["markdown"]
    assert other.blob.network.bytes == 0
    assert any(block_cache.iterdir())


def test_remote_checkpoint_preview_reads_under_a_mebibyte(
    azurite_store: RemoteStore, block_cache: Path
) -> None:
    catalog = catalog_for(azurite_store)
    uri = ROOT + "outputs/model.pt"
    first = service.preview(catalog, uri)
    assert "layers.19.weight" in first["markdown"]
    assert first["safety"]["verdict"] == "safe"
    assert first["bytesRead"] <= MiB
    assert 0 < catalog.blob.network.bytes <= MiB
    other = catalog_for(azurite_store)
    assert service.preview(other, uri)["markdown"] == first["markdown"]
    assert other.blob.network.bytes == 0


def test_reader_coalesces_contiguous_missing_blocks(catalog: Catalog) -> None:
    reader = catalog.open(ROOT + "download/sub/big.bin")
    block = catalog.blob.block_size
    expected = bytes(range(256)) * (12 * 1024 + 17)
    assert reader.size == len(expected)
    base = 10 * block  # away from the head and the tail (fetched with their first read)
    assert reader.read_range(base + 100, 10) == expected[base + 100 : base + 110]
    assert (catalog.blob.network.requests, catalog.blob.network.bytes) == (1, block)
    # Blocks 10 (cached) .. 15: one request for blocks 11-15.
    assert (
        reader.read_range(base + 1000, 5 * block) == expected[base + 1000 : base + 1000 + 5 * block]
    )
    assert (catalog.blob.network.requests, catalog.blob.network.bytes) == (2, 6 * block)
    # Blocks 12-15 cached, 16 and 17 missing: one request for both.
    assert (
        reader.read_range(base + 2 * block, 6 * block)
        == expected[base + 2 * block : base + 8 * block]
    )
    assert (catalog.blob.network.requests, catalog.blob.network.bytes) == (3, 8 * block)
    assert reader.read_range(len(expected) - 5, 100) == expected[-5:]
    assert reader.read_range(len(expected), 10) == b""


def test_a_first_read_of_the_start_fetches_head_and_tail_at_once(
    azurite_store: RemoteStore, tmp_path: Path
) -> None:
    from pyserver.backends.blob import HEAD_BYTES, TAIL_BYTES

    expected = bytes(range(256)) * (12 * 1024 + 17)
    size = len(expected)
    for first in ("head", "tail"):
        catalog = catalog_for(azurite_store)
        catalog.blob._cache = BlockCache(tmp_path / first)
        reader = catalog.open(ROOT + "download/sub/big.bin")
        block = catalog.blob.block_size
        head = -(-HEAD_BYTES // block) * block
        tail = size - (-(-size // block) - TAIL_BYTES // block) * block
        network = catalog.blob.network
        if first == "tail":  # a first read of the end fetches the tail alone
            assert reader.read_range(size - 22, 22) == expected[-22:]
            assert (network.requests, network.bytes) == (1, tail)
            continue
        assert reader.read_range(0, 4096) == expected[:4096]  # format detection
        assert (network.requests, network.bytes) == (2, head + tail)  # concurrently
        # What previews read next costs nothing: probes up to 64 KiB in, a zip's end records.
        assert reader.read_range(65536, 8) == expected[65536:65544]
        assert reader.read_range(size - 22, 22) == expected[-22:]
        assert reader.read_range(size - tail, 100) == expected[size - tail : size - tail + 100]
        assert network.requests == 2


def test_a_changed_blob_never_serves_stale_blocks(
    azurite_store: RemoteStore, catalog: Catalog
) -> None:
    from azure.storage.blob import BlobServiceClient

    blob = (
        BlobServiceClient.from_connection_string(azurite_store.connection_string)
        .get_container_client(azurite_store.container)
        .get_blob_client("changing/notes.txt")
    )
    blob.upload_blob(b"first version\n", overwrite=True)
    uri = ROOT + "changing/notes.txt"
    reader = catalog.open(uri)
    blob.upload_blob(b"second version\n", overwrite=True)
    with pytest.raises(CorruptArtifact, match="changed while it was being read"):
        reader.read_range(0, 5)  # If-Match: never half of one version and half of another
    assert "second version" in service.preview(catalog, uri)["markdown"]
    blob.upload_blob(b"third version\n", overwrite=True)  # its blocks are cached: a new ETag
    assert "third version" in service.preview(catalog, uri)["markdown"]


def test_block_cache_stays_within_its_bound(tmp_path: Path) -> None:
    cache = BlockCache(tmp_path, max_disk_bytes=10 * 65536, max_memory_bytes=2 * 65536)
    for index in range(30):
        cache.put("k", index, bytes([index]) * 65536)
    cache.evict()
    on_disk = sum(f.stat().st_size for f in (tmp_path / "k").iterdir())
    assert on_disk <= 10 * 65536
    assert cache.get("k", 29, 65536) == bytes([29]) * 65536
    assert cache.get("k", 0, 65536) is None
    assert cache.get("k", 29, 100) is None  # wrong length: never trusted


def test_block_cache_writes_behind_and_flushes(tmp_path: Path) -> None:
    one, two = BlockCache(tmp_path), BlockCache(tmp_path)
    for index in range(50):
        one.put("k", index, bytes([index]) * 1000)
    # Another cache of this process sees every block at once, written to disk yet or not.
    assert all(two.get("k", i, 1000) == bytes([i]) * 1000 for i in range(50))
    one.flush()
    assert (tmp_path / "k" / "49").read_bytes() == bytes([49]) * 1000
    assert len(list((tmp_path / "k").iterdir())) == 50  # no temporary files left


# -- downloads -----------------------------------------------------------------------------


def test_remote_folder_download(
    azurite_store: RemoteStore, catalog: Catalog, tmp_path: Path
) -> None:
    result = service.download_to(catalog, ROOT + "download", str(tmp_path / "dest"))
    top = tmp_path / "dest" / "download"
    assert result == {"path": str(top), "files": 3, "bytes": 3 * MiB + 17 * 256 + 13}
    for name in ("small.txt", "sub/big.bin", "sub/empty.bin"):
        expected = azurite_store.files[f"download/{name}"]
        assert isinstance(expected, bytes)
        assert (top / name).read_bytes() == expected
    assert sorted(p.name for p in top.rglob("*")) == ["big.bin", "empty.bin", "small.txt", "sub"]
    # Downloads read 1 MiB chunks straight from storage: the block cache keeps the previews'
    # blocks (only reads under a block, here the small file and the tail, go through it).
    cached = sum(f.stat().st_size for f in (tmp_path / "block-cache").rglob("*") if f.is_file())
    assert cached < 65536
    single = service.download_to(catalog, ROOT + "top.txt", str(tmp_path / "one"))
    assert (Path(single["path"]).read_bytes(), single["files"]) == (b"at the top\n", 1)


def test_download_of_a_missing_folder_is_not_found(catalog: Catalog, tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        service.download_to(catalog, ROOT + "no/such/folder", str(tmp_path))


# -- errors --------------------------------------------------------------------------------


def test_missing_blob_is_not_found(catalog: Catalog) -> None:
    with pytest.raises(NotFound, match="does not exist"):
        service.preview(catalog, ROOT + "outputs/missing.h5")
    with pytest.raises(NotFound):
        catalog.open(ROOT + "outputs/missing.h5")


def test_missing_container_is_not_found(azurite_store: RemoteStore, block_cache: Path) -> None:
    catalog = catalog_for(azurite_store, azurite_store.datastore("nocont", container="absent"))
    with pytest.raises(NotFound, match="container absent does not exist"):
        catalog.children("azureml://datastores/nocont/paths/")
    with pytest.raises(NotFound, match="container absent does not exist"):
        catalog.stat("azureml://datastores/nocont/paths/model.pt")


def test_stat_and_open_take_one_head_request_with_the_sdks_etag(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pyserver.backends.blob import _Direct

    heads: list[str] = []
    plain_head = _Direct._head

    def head(http: Any, url: str, headers: dict[str, str]) -> Any:
        heads.append(url)
        return plain_head(http, url, headers)

    monkeypatch.setattr(_Direct, "_head", staticmethod(head))
    uri = ROOT + "outputs/model.pt"
    node = catalog.stat(uri)
    reader = catalog.open(uri)  # with the properties stat just got: no second request
    assert len(heads) == 1
    metadata = catalog.metadata(uri)  # the SDK's properties
    assert reader.size == node.size == metadata["size"]
    # The same ETag text as the SDK's: blocks cached by either are found by the other.
    assert reader.etag == metadata["etag"]


def test_wrong_account_key_is_permission_denied_without_the_key(
    azurite_store: RemoteStore, block_cache: Path, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = base64.b64encode(b"not the key" * 6).decode()
    port = port_of(azurite_store.connection_string)
    by_key = {
        "name": "bykey",
        "container": azurite_store.container,
        "accountUrl": account_url(port),
        "credential": {"accountKey": wrong},
    }
    by_string = azurite_store.datastore(
        "bystring",
        connectionString=azurite_store.connection_string.replace(ACCOUNT_KEY, wrong),
    )
    catalog = catalog_for(azurite_store, by_key, by_string)
    caplog.set_level(logging.DEBUG)
    for name in ("bykey", "bystring"):
        for call in (catalog.stat, catalog.children):
            with pytest.raises(PermissionDenied) as denied:
                call(f"azureml://datastores/{name}/paths/top.txt")
            assert wrong not in denied.value.message
            assert "refused" in denied.value.message and "key" in denied.value.message
    assert wrong not in caplog.text


def test_unreachable_account_is_unavailable(block_cache: Path) -> None:
    closed = free_port()
    store = {
        "name": "gone",
        "container": "artifacts",
        "accountUrl": account_url(closed),
        "credential": {"sasToken": "sv=2024&sig=SECRETSIG"},
    }
    catalog = Catalog(Settings.from_json({"datastores": [store]}))
    start = time.monotonic()
    with pytest.raises(Unavailable) as unreachable:
        catalog.children("azureml://datastores/gone/paths/")
    assert f"Cannot reach {account_url(closed)}" in unreachable.value.message
    assert "SECRETSIG" not in unreachable.value.message
    assert time.monotonic() - start < 15


def test_no_credential_uses_azure_identity_lazily(block_cache: Path) -> None:
    backend = BlobDatastores(
        (DatastoreConfig("id", "c", account_url="https://example.invalid/acct"),)
    )
    assert backend.roots()[0].name == "id"  # no client, no credential yet


# -- settings ------------------------------------------------------------------------------


def test_datastore_settings_round_trip_and_skip_bad_entries_without_secrets(
    caplog: pytest.LogCaptureFixture,
) -> None:
    raw = {
        "datastores": [
            {"name": "a", "container": "c", "accountUrl": "https://a.blob.core.windows.net"},
            {
                "name": "b",
                "container": "c",
                "accountUrl": "https://b.blob.core.windows.net",
                "credential": {"sasToken": "?sv=1&sig=TOPSECRET"},
            },
            {"name": "c", "container": "c", "connectionString": "AccountName=x;AccountKey=KEY1;"},
            {"name": "bad/name", "container": "c", "connectionString": "AccountKey=KEY2"},
            {"name": "d", "connectionString": "AccountKey=KEY3"},
            {"name": "e", "container": "c", "accountUrl": "https://e?sig=KEY4"},
            {"name": "f", "container": "c", "accountUrl": "https://f", "credential": {"x": "KEY5"}},
            {"name": "a", "container": "dup", "accountUrl": "https://dup"},
            "nope",
        ]
    }
    caplog.set_level(logging.WARNING)
    settings = Settings.from_json(raw)
    assert [store.name for store in settings.datastores] == ["a", "b", "c"]
    assert settings.datastores[1].sas_token == "sv=1&sig=TOPSECRET"
    assert Settings.from_json(settings.to_json()) == settings
    assert "TOPSECRET" not in repr(settings) and "KEY1" not in repr(settings)
    for secret in ("KEY2", "KEY3", "KEY4", "KEY5"):
        assert secret not in caplog.text
    assert caplog.text.count("Ignoring datastores") == 6


def test_redact_hides_sas_signatures_and_known_secrets() -> None:
    text = "GET https://a/b?sv=1&sig=abc%2Bdef&se=2 AccountKey=xyz; token s3cr3t"
    assert redact(text, ["s3cr3t"]) == (
        "GET https://a/b?sv=1&sig=***&se=2 AccountKey=***; token ***"
    )


# -- prefetch and the plain ranged GET -------------------------------------------------------


def test_prefetch_fetches_the_missing_blocks_of_several_ranges_at_once(catalog: Catalog) -> None:
    reader = catalog.open(ROOT + "download/sub/big.bin")
    block = catalog.blob.block_size
    expected = bytes(range(256)) * (12 * 1024 + 17)
    network = catalog.blob.network
    assert reader.read_range(20 * block, 10) == expected[20 * block : 20 * block + 10]
    # Block 20 is cached; blocks 25, 29 and 30 are missing: one request for 25, one for 29-30.
    ranges = [(20 * block, 10), (25 * block + 7, 20), (29 * block + 5, block)]
    reader.prefetch(ranges)
    assert (network.requests, network.bytes) == (3, 4 * block)
    assert reader.read_range(25 * block + 7, 20) == expected[25 * block + 7 : 25 * block + 27]
    assert reader.read_range(29 * block, 2 * block) == expected[29 * block : 31 * block]
    reader.prefetch([(25 * block, block), (len(expected) + 10, 10), (-5, 0)])  # nothing to do
    assert (network.requests, network.bytes) == (3, 4 * block)


def test_budgeted_prefetch_asks_only_what_the_budget_allows() -> None:
    from pyserver.previews.budget import Budget, BudgetedReader

    class Remote:
        size = 10_000

        def __init__(self) -> None:
            self.asked: list[list[tuple[int, int]]] = []

        def read_range(self, offset: int, length: int) -> bytes:
            return bytes(length)

        def prefetch(self, ranges: list[tuple[int, int]]) -> None:
            self.asked.append(ranges)

        def close(self) -> None:
            pass

    remote = Remote()
    reader = BudgetedReader(remote, Budget(max_bytes=1000))
    reader.read_range(0, 300)
    # In the head already, then in order while the total fits in the 700 bytes left.
    ranges = [(10, 100), (1000, 400), (9990, 50), (2000, 400), (3000, 10)]
    assert reader.prefetch(ranges) == 410
    assert remote.asked == [[(1000, 400), (9990, 10)]]
    assert reader.bytes_read == 300  # a prefetch is not a read
    local = BudgetedReader(type("Local", (), {"size": 100, "close": lambda self: None})(), Budget())
    assert local.prefetch([(0, 10)]) == 0  # local readers have no prefetch: nothing happens
    late = BudgetedReader(remote, Budget(timeout_ms=0))
    time.sleep(0.01)
    assert late.prefetch([(1000, 10)]) == 0


@pytest.mark.parametrize("name", ["outputs/data.h5", "outputs/model.pt"])
def test_prefetching_previews_fetch_no_more_and_count_only_what_they_read(
    azurite_store: RemoteStore, block_cache: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    from pyserver.backends.blob import BlobRangeReader
    from pyserver.backends.local import LocalFileReader
    from pyserver.previews.budget import Budget
    from pyserver.previews.preview import preview_file

    local = azurite_store.files[name]
    assert isinstance(local, Path)
    for max_bytes in (1 << 20, 200_000):
        budget = Budget(max_bytes=max_bytes)
        reader = LocalFileReader(local)
        try:
            at_home = preview_file(ROOT + name, local.name, reader, budget)
        finally:
            reader.close()
        fetched = {}
        for prefetching in (True, False):
            if not prefetching:
                monkeypatch.delattr(BlobRangeReader, "prefetch")
            catalog = Catalog(Settings.from_json({"datastores": [azurite_store.datastore()]}))
            catalog.blob._cache = BlockCache(block_cache / f"{max_bytes}-{prefetching}")
            remote = service.preview(catalog, ROOT + name, budget)
            assert remote["markdown"] == at_home["markdown"]
            assert remote["bytesRead"] == at_home["bytesRead"] <= max_bytes  # reads only
            fetched[prefetching] = (catalog.blob.network.bytes, catalog.blob.network.requests)
            again = service.preview(catalog, ROOT + name, budget)  # all cached: nothing fetched
            assert again["markdown"] == remote["markdown"] and again["networkBytes"] == 0
        monkeypatch.undo()
        # Prefetch fetches what the reads would have (no more bytes), in fewer round trips.
        assert fetched[True][0] <= fetched[False][0], fetched


def raw_catalog(blob: Any, **credential: str) -> Catalog:
    store = {"name": "fake", "container": "c", "accountUrl": blob.account_url}
    store["credential"] = credential or {"sasToken": "sv=2024&sig=SECRETSIG"}
    return Catalog(Settings.from_json({"datastores": [store]}))


def test_plain_ranged_get_sends_range_if_match_version_and_the_sas(block_cache: Path) -> None:
    from fakeblob import fake_blob

    data = bytes(range(256)) * 1000
    with fake_blob(data) as blob:
        reader = raw_catalog(blob).blob.open_listed("fake", "dir/a b.bin", len(data), '"0x1"')
        assert reader.read_range(70_000, 100) == data[70_000:70_100]
        path, headers = blob.requests[0]
        assert path == "/acct/c/dir/a%20b.bin?sv=2024&sig=SECRETSIG"
        assert headers["range"] == "bytes=65536-98303" and headers["if-match"] == '"0x1"'
        assert headers["x-ms-version"]


@pytest.mark.parametrize(
    ("answers", "error", "message"),
    [
        ([(403, "AuthenticationFailed")], PermissionDenied, "refused (AuthenticationFailed)"),
        ([(401, "")], PermissionDenied, "refused"),
        ([(404, "BlobNotFound")], NotFound, "does not exist (moved or deleted?)"),
        ([(404, "ContainerNotFound")], NotFound, "The container c does not exist"),
        ([(412, "ConditionNotMet")], CorruptArtifact, "changed while it was being read"),
        ([(500, "InternalError")] * 3, Unavailable, "answered 500 (InternalError)"),
        ([(503, "ServerBusy"), (206, "")], None, ""),  # retried
        ([(206, "cut"), (206, "")], None, ""),  # a body cut short: retried
        ([(206, "cut")] * 3, Unavailable, "Cannot reach http://127.0.0.1"),
    ],
)
def test_plain_ranged_get_errors_map_to_artifact_errors_without_secrets(
    block_cache: Path,
    caplog: pytest.LogCaptureFixture,
    answers: list[tuple[int, str]],
    error: type[Exception] | None,
    message: str,
) -> None:
    from fakeblob import Answer, fake_blob

    caplog.set_level(logging.DEBUG)
    data = b"x" * 100_000
    with fake_blob(data) as blob:
        blob.script = [
            Answer(status, "" if code == "cut" else code, cut=code == "cut")
            for status, code in answers
        ]
        catalog = raw_catalog(blob)
        reader = catalog.blob.open_listed("fake", "a.bin", len(data), '"0x1"')
        if error is None:
            assert reader.read_range(10, 10) == data[10:20]
            assert len(blob.requests) == 2
            return
        with pytest.raises(error) as raised:
            reader.read_range(10, 10)
        assert message in raised.value.message
        assert len(blob.requests) == len(answers)  # retried only what may pass next time
    for text in (raised.value.message, caplog.text):
        assert "SECRETSIG" not in text


def test_plain_ranged_get_of_an_unreachable_account_is_unavailable(block_cache: Path) -> None:
    store = {
        "name": "gone",
        "container": "c",
        "accountUrl": account_url(free_port()),
        "credential": {"sasToken": "sv=2024&sig=SECRETSIG"},
    }
    catalog = Catalog(Settings.from_json({"datastores": [store]}))
    reader = catalog.blob.open_listed("gone", "a.bin", 100, '"0x1"')
    with pytest.raises(Unavailable, match="Cannot reach") as raised:
        reader.read_range(0, 10)
    assert "SECRETSIG" not in raised.value.message
    reader.prefetch([(0, 10)])  # a hint: what fails is left to the read


def test_plain_ranged_get_goes_through_the_proxy_the_environment_names(
    block_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fakeblob import fake_blob

    data = bytes(range(256)) * 100
    remote = f"http://127.0.0.2:{free_port()}/acct"  # nothing listens there: no DNS either
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY"):
        for variable in (name, name.lower()):
            monkeypatch.delenv(variable, raising=False)
    with fake_blob(data) as proxy:
        monkeypatch.setenv("HTTP_PROXY", f"http://user:pa%40ss@127.0.0.1:{proxy.port}")
        store = {"name": "far", "container": "c", "accountUrl": remote}
        store["credential"] = {"sasToken": "sv=2024&sig=SECRETSIG"}
        catalog = Catalog(Settings.from_json({"datastores": [store]}))
        reader = catalog.blob.open_listed("far", "a.bin", len(data), '"0x1"')
        assert reader.read_range(5, 10) == data[5:15]
        path, headers = proxy.requests[0]
        assert path == f"{remote}/c/a.bin?sv=2024&sig=SECRETSIG"  # asked of the proxy
        login = base64.b64encode(b"user:pa@ss").decode()
        assert headers["proxy-authorization"] == f"Basic {login}"
        # A host the environment exempts is reached directly (here: nothing listens there).
        monkeypatch.setenv("NO_PROXY", "127.0.0.2")
        direct = Catalog(Settings.from_json({"datastores": [store]}))
        with pytest.raises(Unavailable, match="Cannot reach"):
            direct.blob.open_listed("far", "a.bin", len(data), '"0x2"').read_range(5, 10)
        assert len(proxy.requests) == 1


def test_plain_ranged_get_with_a_token_credential_sends_a_bearer_token() -> None:
    from fakeblob import fake_blob

    from pyserver.backends.aml_auth import TokenProvider
    from pyserver.backends.blob import BlobDatastores, _Store

    calls: list[str] = []

    class Credential:
        def get_token(self, *scopes: str, **kwargs: Any) -> Any:
            calls.append(scopes[0])
            return type("Token", (), {"token": "TOKEN-1", "expires_on": time.time() + 3600})()

    tokens = TokenProvider(Credential())
    data = bytes(range(256)) * 1000
    with fake_blob(data) as blob:
        # The SDK takes token credentials over https only: its client is stood in for here.
        client = type(
            "Client",
            (),
            {
                "url": f"{blob.account_url}/c/a.bin",
                "api_version": "2025-01-05",
                "credential": tokens.sdk_credential(),
                "container_name": "c",
                "blob_name": "a.bin",
            },
        )()
        store = _Store(DatastoreConfig("fake", "c", blob.account_url), tokens)
        direct = store.direct(client)  # type: ignore[arg-type]
        assert direct is not None
        http = BlobDatastores().http(blob.account_url)
        assert direct.get(http, 0, 10, '"0x1"') == data[:10]
        assert direct.get(http, 200_000, 10, '"0x1"') == data[200_000:200_010]
        for path, headers in blob.requests:
            assert path == "/acct/c/a.bin"
            assert headers["authorization"] == "Bearer TOKEN-1"
            assert headers["x-ms-version"] == "2025-01-05"
    # Once: the server's token cache serves it until near expiry.
    assert calls == ["https://storage.azure.com/.default"]


def test_account_key_datastores_read_with_a_generated_read_sas(
    azurite_store: RemoteStore, block_cache: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    store = {
        "name": "bykey",
        "container": azurite_store.container,
        "accountUrl": account_url(port_of(azurite_store.connection_string)),
        "credential": {"accountKey": ACCOUNT_KEY},
    }
    catalog = catalog_for(azurite_store, store)
    expected = bytes(range(256)) * (12 * 1024 + 17)
    reader = catalog.open("azureml://datastores/bykey/paths/download/sub/big.bin")
    assert reader.read_range(1000, 100_000) == expected[1000:101_000]
    assert reader.read_range(2_000_000, 10) == expected[2_000_000:2_000_010]
    assert ACCOUNT_KEY not in caplog.text
    assert "sig=" not in caplog.text
