"""A blob datastore through the real language server: listed from initializationOptions and
previewed in the preview worker pool, with the block cache shared by the workers."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import pytest_lsp
from conftest import RemoteStore
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient
from test_server import request

SERVER = ClientServerConfig(server_command=[sys.executable, "-m", "pyserver", "serve"])
ROOT = "azureml://datastores/remote/paths/"


@pytest.fixture(autouse=True)
def shared_block_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Set before the server starts (autouse fixtures come first): its workers inherit it."""
    folder = tmp_path / "block-cache"
    monkeypatch.setenv("AML_ARTIFACTS_BLOCK_CACHE", str(folder))
    return folder


@pytest_lsp.fixture(config=SERVER)
async def client(lsp_client: LanguageClient, azurite_store: RemoteStore):  # type: ignore[no-untyped-def]
    await lsp_client.initialize_session(
        types.InitializeParams(
            capabilities=types.ClientCapabilities(),
            initialization_options={"datastores": [azurite_store.datastore()], "previewWorkers": 2},
        )
    )
    yield
    await lsp_client.shutdown_session()


async def test_remote_datastore_is_listed_and_previewed_in_workers(
    client: LanguageClient, shared_block_cache: Path
) -> None:
    roots = await request(client, "artifacts/roots", {})
    assert [(n["name"], n["kind"]) for n in roots["items"]] == [("remote", "datastore")]
    outputs = await request(client, "artifacts/children", {"uri": ROOT + "outputs"})
    assert [n["name"] for n in outputs["items"]] == ["data.h5", "model.pt"]
    uri = outputs["items"][0]["uri"]
    first = await request(client, "artifacts/preview", {"uri": uri})
    assert first["kind"] == "hdf5" and "features" in first["markdown"]
    assert 0 < first["networkBytes"] <= 2 << 20
    assert any(shared_block_cache.iterdir())
    # Whichever worker takes them, later previews are served by the shared block cache.
    for _ in range(3):
        again = await request(client, "artifacts/preview", {"uri": uri})
        assert (again["markdown"], again["networkBytes"]) == (first["markdown"], 0)
