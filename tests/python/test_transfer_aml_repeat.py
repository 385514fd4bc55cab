"""Downloading an Azure ML run again (the stand-in service with real azureml-core, bytes in
Azurite): its artifact listing gives signed URLs but no sizes, so each existing local file is
compared with the remote one through a one-byte probe of its link (size, Content-MD5 or
Last-Modified). Identical files are skipped without transferring their bytes; a file changed
locally still goes through the policy (ask / skip / overwrite)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from amlruns import add_run_with_files
from amlstandin.environment import (
    ARTIFACT_CONTAINER,
    WS_URI,
    AmlEnvironment,
    artifact_blob,
    served_workspace,
)
from azurite import port_of
from conftest import RemoteStore
from faultproxy import FaultProxy

from pyserver import service
from pyserver.backends import Catalog
from pyserver.config import Settings
from pyserver.errors import Cancelled, Conflict
from pyserver.transfers import Options, download

KiB = 1 << 10
RUN = "repeat-1"
OUTPUTS = f"{WS_URI}/jobs/{RUN}/outputs/artifacts/paths/outputs"
FILES = {f"outputs/part-{index:02d}.bin": os.urandom(32 * KiB) for index in range(20)}
NO_MD5 = "outputs/blocks.bin"  # uploaded in blocks: no Content-MD5, only its Last-Modified
FILES[NO_MD5] = os.urandom(3 * 256 * KiB)
TOTAL = sum(map(len, FILES.values()))
HEADERS_PER_PROBE = 1 * KiB  # generous: a probe's answer is its headers and one byte
FAST = Options(concurrency=8, backoff_s=0.05, backoff_max_s=0.5)


@pytest.fixture(scope="module")
def aml(
    azurite_store: RemoteStore, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AmlEnvironment]:
    folder = tmp_path_factory.mktemp("aml-repeat")
    with served_workspace(folder, azurite_store.connection_string, {}) as env:
        add_run_with_files(env, "repeat", RUN, FILES)
        _upload_in_blocks(env, artifact_blob(RUN, NO_MD5), FILES[NO_MD5])
        yield env


def _upload_in_blocks(env: AmlEnvironment, blob: str, data: bytes) -> None:
    from azure.storage.blob import BlobBlock, BlobServiceClient

    client = BlobServiceClient.from_connection_string(env.connection_string).get_blob_client(
        ARTIFACT_CONTAINER, blob
    )
    ids = []
    for index, start in enumerate(range(0, len(data), 256 * KiB)):
        block_id = f"{index:08d}"
        client.stage_block(block_id, data[start : start + 256 * KiB])
        ids.append(BlobBlock(block_id))
    client.commit_block_list(ids)
    assert client.get_blob_properties().content_settings.content_md5 is None


@pytest.fixture
def proxy(aml: AmlEnvironment) -> Iterator[FaultProxy]:
    """The signed links of the listings lead through a proxy that counts the bytes."""
    azurite = port_of(aml.connection_string)
    original = aml.standin.blob_sas
    with FaultProxy(azurite) as counting:
        aml.standin.blob_sas = lambda name: original(name).replace(
            f":{azurite}/", f":{counting.port}/"
        )
        try:
            yield counting
        finally:
            aml.standin.blob_sas = original


@pytest.fixture
def catalog(aml: AmlEnvironment, block_cache: Path) -> Catalog:
    aml.standin.clear()
    return Catalog(Settings.from_json({"workspaces": [aml.workspace_setting()]}))


def files_under(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_a_second_download_of_a_run_skips_identical_files_without_their_bytes(
    aml: AmlEnvironment, catalog: Catalog, proxy: FaultProxy, tmp_path: Path
) -> None:
    first = download(catalog, OUTPUTS, tmp_path, options=FAST)
    assert (first.files, first.bytes, first.skipped) == (len(FILES), TOTAL, 0)
    assert proxy.bytes_down >= TOTAL
    proxy.reset_counters()

    again = service.download_to(catalog, OUTPUTS, str(tmp_path))  # policy: ask
    assert again == {
        "path": str(tmp_path / "outputs"),
        "files": 0,
        "bytes": 0,
        "skipped": len(FILES),
    }
    assert proxy.bytes_down <= len(FILES) * HEADERS_PER_PROBE  # not the files' bytes
    assert aml.standin.calls("GET .*/artifacts/contentinfo/") == []  # the listing's links
    expected = {name.removeprefix("outputs/"): data for name, data in FILES.items()}
    assert files_under(tmp_path / "outputs") == expected


def test_files_changed_locally_still_go_through_the_policy(
    catalog: Catalog, proxy: FaultProxy, tmp_path: Path
) -> None:
    download(catalog, OUTPUTS, tmp_path, options=FAST)
    outputs = tmp_path / "outputs"
    edited = outputs / "part-03.bin"  # same size, other bytes: its MD5 differs
    edited.write_bytes(b"x" * len(FILES["outputs/part-03.bin"]))
    rewritten = outputs / "blocks.bin"  # no remote MD5: its new modification time tells
    rewritten.write_bytes(b"y" * len(FILES[NO_MD5]))
    later = time.time() + 60  # edited a minute after the upload, not within the 2 s slack
    os.utime(rewritten, (later, later))

    with pytest.raises(Conflict) as asked:
        download(catalog, OUTPUTS, tmp_path, options=FAST)
    assert sorted(asked.value.conflicts) == ["outputs/blocks.bin", "outputs/part-03.bin"]
    assert edited.read_bytes().startswith(b"xxx")  # nothing written before the answer

    kept = download(catalog, OUTPUTS, tmp_path, policy="skip", options=FAST)
    assert (kept.files, kept.skipped) == (0, len(FILES))
    assert rewritten.read_bytes().startswith(b"yyy")

    proxy.reset_counters()
    replaced = download(catalog, OUTPUTS, tmp_path, policy="overwrite", options=FAST)
    assert (replaced.files, replaced.skipped) == (2, len(FILES) - 2)
    assert replaced.bytes == len(FILES["outputs/part-03.bin"]) + len(FILES[NO_MD5])
    assert proxy.bytes_down < replaced.bytes + len(FILES) * HEADERS_PER_PROBE
    expected = {name.removeprefix("outputs/"): data for name, data in FILES.items()}
    assert files_under(outputs) == expected


def test_cancel_stops_the_comparison_before_anything_is_written(
    catalog: Catalog, proxy: FaultProxy, tmp_path: Path
) -> None:
    download(catalog, OUTPUTS, tmp_path, options=FAST)
    before = files_under(tmp_path)
    proxy.reset_counters()
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        download(catalog, OUTPUTS, tmp_path, policy="overwrite", cancel=cancel, options=FAST)
    assert proxy.bytes_down == 0  # no remote file asked
    assert files_under(tmp_path) == before
