"""Identity-based datastores (no key, no SAS): bytes read with the server's own Azure sign-in.

A second Azurite serves HTTPS with a self-signed certificate (trusted through
REQUESTS_CA_BUNDLE, as behind a corporate proxy) and checks Azure AD bearer tokens
(`--oauth basic`: issuer, audience and lifetime). Tokens come from the stand-in `az` through
azure-identity's real AzureCliCredential; the workspace metadata from the Azure ML stand-in."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from amlstandin.environment import (
    WS_URI,
    AmlEnvironment,
    artifact_blob,
    served_workspace,
)
from azurite import azurite, port_of, self_signed_certificate

from pyserver import service
from pyserver.backends import Catalog
from pyserver.config import Settings
from pyserver.errors import ArtifactError

STORE_URI = f"{WS_URI}/datastores/identity/paths/"
FILES = {"shared/readme.txt": b"read with a bearer token\n", "shared/sub/n.bin": bytes(range(256))}


@pytest.fixture(scope="module")
def aml(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AmlEnvironment]:
    folder = tmp_path_factory.mktemp("identity")
    cert, key = self_signed_certificate(folder / "tls")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("REQUESTS_CA_BUNDLE", str(cert))
        with azurite(folder / "data", oauth_tls=(cert, key)) as connection_string:
            artifacts = {artifact_blob("train-1", "outputs/notes.txt"): b"over https\n"}
            with served_workspace(folder / "aml", connection_string, artifacts) as env:
                _upload(connection_string, "identity", FILES)
                env.register_datastore("identity", "identity", credential="none")
                yield env


def _upload(connection_string: str, container: str, files: dict[str, bytes]) -> None:
    from azure.storage.blob import BlobServiceClient

    client = BlobServiceClient.from_connection_string(connection_string)
    store = client.get_container_client(container)
    if not store.exists():
        store.create_container()
    for name, content in files.items():
        store.upload_blob(name, content, overwrite=True)


@pytest.fixture(autouse=True)
def signed_in(aml: AmlEnvironment, block_cache: Path) -> Iterator[None]:
    aml.az.set(expires_in=3600)
    yield
    aml.az.set(expires_in=3600)


def storage_token_calls(aml: AmlEnvironment) -> int:
    return sum("storage.azure.com" in call for call in aml.az.calls())


def catalog_for(aml: AmlEnvironment, *datastores: dict[str, str]) -> Catalog:
    settings = {"workspaces": [aml.workspace_setting()], "datastores": list(datastores)}
    return Catalog(Settings.from_json(settings))


def test_workspace_datastore_without_secret_reads_with_the_az_sign_in(
    aml: AmlEnvironment, tmp_path: Path
) -> None:
    catalog = catalog_for(aml)
    before = storage_token_calls(aml)
    listed = catalog.children(f"{STORE_URI}shared").items
    assert [(node.name, node.kind) for node in listed] == [
        ("sub", "folder"),
        ("readme.txt", "file"),
    ]
    assert catalog.open(f"{STORE_URI}shared/readme.txt").read_range(0, 4) == b"read"
    preview = service.preview(catalog, f"{STORE_URI}shared/readme.txt")
    assert preview["kind"] == "text" and "bearer token" in preview["markdown"]
    result = service.download_to(catalog, f"{STORE_URI}shared", str(tmp_path))
    assert result["files"] == 2 and not result.get("failures")
    assert (tmp_path / "shared" / "sub" / "n.bin").read_bytes() == FILES["shared/sub/n.bin"]
    # One token for storage, cached across listing, ranged reads and the download.
    assert storage_token_calls(aml) - before == 1
    # The run artifacts' signed links are HTTPS too: our pooled reads trust the same bundle.
    notes = f"{WS_URI}/jobs/train-1/outputs/artifacts/paths/outputs/notes.txt"
    assert catalog.open(notes).read_range(0, 100) == b"over https\n"


def test_configured_datastore_without_credential_shares_the_sign_in(aml: AmlEnvironment) -> None:
    account = f"https://127.0.0.1:{port_of(aml.connection_string)}/devstoreaccount1"
    catalog = catalog_for(aml, {"name": "direct", "container": "identity", "accountUrl": account})
    before = storage_token_calls(aml)
    direct = "azureml://datastores/direct/paths/shared/readme.txt"
    assert catalog.open(direct).read_range(0, 100) == FILES["shared/readme.txt"]
    assert catalog.open(f"{STORE_URI}shared/sub/n.bin").read_range(0, 3) == bytes([0, 1, 2])
    assert storage_token_calls(aml) - before == 1  # one sign-in for both


def test_expired_storage_token_asks_to_sign_in_and_retry_recovers(aml: AmlEnvironment) -> None:
    catalog = catalog_for(aml)
    catalog.children(WS_URI)  # the workspace itself signs in while tokens are good
    aml.az.set(expires_in=-60)  # `az` now hands out tokens that expired a minute ago
    with pytest.raises(ArtifactError) as refused:
        catalog.children(f"{STORE_URI}shared")
    assert refused.value.kind == "PermissionDenied"
    assert (
        "az login" in refused.value.message and "Storage Blob Data Reader" in refused.value.message
    )
    aml.az.set(expires_in=3600)  # signed in again: Retry works without restarting anything
    assert len(catalog.children(f"{STORE_URI}shared").items) == 2


def test_logged_out_says_not_signed_in(aml: AmlEnvironment) -> None:
    aml.az.set(mode="logged-out")
    catalog = catalog_for(aml)
    account = f"https://127.0.0.1:{port_of(aml.connection_string)}/devstoreaccount1"
    direct = catalog_for(aml, {"name": "direct", "container": "identity", "accountUrl": account})
    for target, uri in (
        (catalog, f"{STORE_URI}shared"),
        (direct, "azureml://datastores/direct/paths/shared"),
    ):
        with pytest.raises(ArtifactError) as refused:
            target.children(uri)
        assert refused.value.kind == "NotSignedIn", refused.value.message
        assert "az login" in refused.value.message


def test_storage_rejects_requests_without_a_valid_token(aml: AmlEnvironment) -> None:
    """The emulator really checks the bearer token (else the tests above prove nothing)."""
    import urllib3

    account = f"https://127.0.0.1:{port_of(aml.connection_string)}/devstoreaccount1"
    http = urllib3.PoolManager(ca_certs=os.environ["REQUESTS_CA_BUNDLE"])
    url = f"{account}/identity/shared/readme.txt"
    assert http.request("GET", url).status in (401, 403, 404)
    bad = {"Authorization": "Bearer not-a-jwt", "x-ms-version": "2021-08-06"}
    assert http.request("GET", url, headers=bad).status in (401, 403)


def test_untrusted_certificate_names_the_fix(
    aml: AmlEnvironment, monkeypatch: pytest.MonkeyPatch
) -> None:
    import certifi

    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())  # without the emulator's cert
    account = f"https://127.0.0.1:{port_of(aml.connection_string)}/devstoreaccount1"
    catalog = catalog_for(aml, {"name": "direct", "container": "identity", "accountUrl": account})
    for attempt in (
        lambda: catalog.children("azureml://datastores/direct/paths/shared"),
        lambda: catalog.open("azureml://datastores/direct/paths/shared/readme.txt"),
    ):
        with pytest.raises(ArtifactError) as refused:
            attempt()
        assert refused.value.kind == "Unavailable"
        assert "certificate" in refused.value.message
        assert "REQUESTS_CA_BUNDLE" in refused.value.message
