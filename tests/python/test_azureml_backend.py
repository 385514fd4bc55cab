"""Azure ML workspaces through the real azureml-core and azure-identity code, against the
stand-in service (tests/python/amlstandin) with the stand-in `az` first on PATH, and the
artifact bytes in Azurite. Every non-local request goes to a dead proxy: it would fail."""

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import pytest_lsp
from amlstandin.environment import (
    MANY_FILES,
    MANY_RUNS,
    RESOURCE_GROUP,
    SUBSCRIPTION,
    WORKSPACE,
    AmlEnvironment,
    aml_environment,
    artifact_blob,
    dead_port,
)
from conftest import RemoteStore
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient
from test_server import request

from pyserver import service
from pyserver.backends import Catalog
from pyserver.config import Settings
from pyserver.errors import ArtifactError, NotFound
from pyserver.model import Node

WS_URI = (
    f"azureml://subscriptions/{SUBSCRIPTION}/resourcegroups/{RESOURCE_GROUP}/workspaces/{WORKSPACE}"
)
NOTES = b"remote notes\n"


@pytest.fixture(scope="module")
def aml(
    azurite_store: RemoteStore, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AmlEnvironment]:
    files: dict[str, bytes | Path] = {
        artifact_blob("train-1", "outputs/data.h5"): azurite_store.files["outputs/data.h5"],
        artifact_blob("train-1", "outputs/notes.txt"): NOTES,
        artifact_blob("train-1", "outputs/sub/deep/x.txt"): b"x\n",
        artifact_blob("train-1", "logs/std_log.txt"): b"log line\n",
    }
    folder = tmp_path_factory.mktemp("aml")
    with (
        aml_environment(folder, azurite_store.connection_string, files) as env,
        pytest.MonkeyPatch.context() as patch,
    ):
        for key, value in env.environment(os.environ["PATH"]).items():
            patch.setenv(key, value)
        patch.setenv("AML_ARTIFACTS_REQUEST_TIMEOUT_S", "2")
        yield env


@pytest.fixture(autouse=True)
def fresh_service(aml: AmlEnvironment) -> Iterator[None]:
    aml.standin.clear()
    aml.standin.denied_subjects.clear()
    aml.az.set(expires_in=3600)
    yield
    aml.standin.clear()


def make_catalog(aml: AmlEnvironment, store: RemoteStore, **extra: object) -> Catalog:
    settings = {
        "workspaces": [aml.workspace_setting()],
        "datastores": [store.datastore()],
        **extra,
    }
    return Catalog(Settings.from_json(settings))


@pytest.fixture
def catalog(aml: AmlEnvironment, azurite_store: RemoteStore, block_cache: Path) -> Catalog:
    return make_catalog(aml, azurite_store)


def names(nodes: list[Node]) -> list[str]:
    return [node.name for node in nodes]


def child(catalog: Catalog, uri: str, name: str) -> Node:
    page = catalog.children(uri, None, 1000)
    return next(node for node in page.items if node.name == name)


# -- tree ----------------------------------------------------------------------------------


def test_workspace_tree_experiments_runs_pipeline_children_and_outputs(
    catalog: Catalog, aml: AmlEnvironment
) -> None:
    roots = catalog.roots()
    assert [(n.name, n.kind, n.uri, n.error) for n in roots if n.kind == "workspace"] == [
        (WORKSPACE, "workspace", WS_URI, None)
    ]
    groups = catalog.children(WS_URI).items
    assert [(n.name, n.kind) for n in groups] == [
        ("Experiments", "experiments"),
        ("Models", "models"),
        ("Datasets", "datasets"),
    ]
    experiments = catalog.children(groups[0].uri).items
    assert set(names(experiments)) == {"many", "pipelines", "train"}

    pipelines = child(catalog, groups[0].uri, "pipelines")
    runs = catalog.children(pipelines.uri).items
    assert names(runs) == ["pipe-1"]  # steps are under their parent, not in the experiment
    steps = catalog.children(runs[0].uri).items
    assert [(n.name, n.kind) for n in steps] == [
        ("prep", "run"),
        ("train", "run"),
        ("eval", "run"),
        ("outputs", "folder"),
        ("logs", "folder"),
    ]
    assert steps[0].description == "pipe-1-prep" and steps[0].status == "Completed"

    train = child(catalog, groups[0].uri, "train")
    first = child(catalog, train.uri, "first training")
    assert first.uri == f"{WS_URI}/jobs/train-1"
    assert (first.status, first.duration_ms, first.modified) == (
        "Completed",
        300_000,
        "2026-01-04T00:00:00Z",
    )
    outputs = child(catalog, first.uri, "outputs")
    assert outputs.uri == f"{WS_URI}/jobs/train-1/outputs/artifacts/paths/outputs"
    listing = catalog.children(outputs.uri).items
    assert [(n.name, n.kind) for n in listing] == [
        ("data.h5", "file"),
        ("notes.txt", "file"),
        ("sub", "folder"),
    ]
    deep = catalog.children(catalog.children(listing[2].uri).items[0].uri).items
    assert [(n.name, n.uri) for n in deep] == [
        ("x.txt", f"{WS_URI}/jobs/train-1/outputs/artifacts/paths/outputs/sub/deep/x.txt")
    ]
    assert aml.standin.unknown == []


def test_two_thousand_runs_are_paged_newest_first_with_continuation_tokens(
    catalog: Catalog, aml: AmlEnvironment
) -> None:
    uri = f"{WS_URI}/experiments/many"
    seen: list[Node] = []
    token = None
    pages = 0
    while True:
        page = catalog.children(uri, token, 250)
        seen.extend(page.items)
        pages += 1
        token = page.next_page_token
        if token is None:
            break
    assert pages == MANY_RUNS // 250 and len(seen) == MANY_RUNS
    ids = [n.description or n.name for n in seen]
    assert len(set(ids)) == MANY_RUNS
    assert seen[0].name == "sweep 1999" and seen[-1].name == "sweep 0"
    starts = [n.modified or "" for n in seen]
    assert starts == sorted(starts, reverse=True)
    assert {n.status for n in seen} == {"Completed", "Failed", "Canceled", "Running"}
    queries = aml.standin.calls("runs:query")
    assert len(queries) == pages  # one request per page, never the whole experiment
    assert all(q.body["top"] == 250 for q in queries)


def test_first_page_of_a_10000_file_folder_is_one_request_and_fast(
    catalog: Catalog, aml: AmlEnvironment
) -> None:
    run = f"{WS_URI}/jobs/train-big"
    catalog.stat(run)  # the run itself, as the tree has it before its folders are opened
    aml.standin.clear()
    started = time.perf_counter()
    page = catalog.children(f"{run}/outputs/artifacts/paths/outputs", None, 100)
    elapsed = time.perf_counter() - started
    print(f"\nfirst page of a {MANY_FILES}-file run folder: {elapsed * 1000:.0f} ms")
    assert names(page.items) == [f"file-{i:05d}.txt" for i in range(100)]
    assert len(aml.standin.calls("/artifact/")) == 1
    assert elapsed <= 0.5
    # The rest, page by page, ends with the subfolder after the 10 000 files.
    items = list(page.items)
    token = page.next_page_token
    while token:
        more = catalog.children(f"{run}/outputs/artifacts/paths/outputs", token, 1000)
        items.extend(more.items)
        token = more.next_page_token
    assert len(items) == MANY_FILES + 1
    assert (items[-1].name, items[-1].kind) == ("zz", "folder")


def test_remote_hdf5_preview_reads_little(catalog: Catalog) -> None:
    uri = f"{WS_URI}/jobs/train-1/outputs/artifacts/paths/outputs/data.h5"
    started = time.perf_counter()
    result = service.preview(catalog, uri)
    elapsed = time.perf_counter() - started
    print(
        f"\nremote HDF5 preview of a run output ({result['size'] / 2**20:.0f} MiB): "
        f"{result['networkBytes'] / 2**20:.2f} MiB fetched in {elapsed * 1000:.0f} ms"
    )
    assert result["kind"] == "hdf5" and "features" in result["markdown"]
    assert 0 < result["networkBytes"] <= 2 << 20
    assert result["size"] > 20 << 20
    again = service.preview(catalog, uri)
    assert again["networkBytes"] == 0  # the block cache served it
    reader = catalog.open(f"{WS_URI}/jobs/train-1/outputs/artifacts/paths/outputs/notes.txt")
    assert reader.read_range(0, 100) == NOTES


def test_short_forms_resolve_in_the_configured_workspace(catalog: Catalog) -> None:
    long = f"{WS_URI}/jobs/train-1/outputs/artifacts/paths/outputs/notes.txt"
    assert catalog.canonical("runs:/train-1/outputs/notes.txt") == long
    assert (
        catalog.canonical("azureml://jobs/train-1/outputs/artifacts/paths/outputs/notes.txt")
        == long
    )
    assert catalog.canonical("azureml:classifier:2") == f"{WS_URI}/models/classifier/versions/2"
    assert service.preview(catalog, "runs:/train-1/outputs/notes.txt")["kind"] == "text"
    with pytest.raises(NotFound):
        catalog.canonical("runs:/no-such-run/outputs/x")


def test_models_versions_and_files(catalog: Catalog) -> None:
    models = catalog.children(f"{WS_URI}/models").items
    assert [(n.name, n.description) for n in models] == [
        ("classifier", "latest v3"),
        ("notes", "latest v1"),
    ]
    versions = catalog.children(f"{WS_URI}/models/classifier").items
    assert names(versions) == ["3", "2", "1"]
    assert versions[0].kind == "modelVersion"
    assert versions[0].description == "PyTorch 2.13.0 · run train-1 · stage=prod"
    files = catalog.children(versions[0].uri).items
    assert [(n.name, n.kind) for n in files] == [
        ("data.h5", "file"),
        ("notes.txt", "file"),
        ("sub", "folder"),
    ]
    assert files[1].uri == f"{WS_URI}/models/classifier/versions/3/paths/notes.txt"
    assert catalog.open(files[1].uri).read_range(0, 100) == NOTES
    assert catalog.metadata(versions[0].uri)["framework"] == "PyTorch"
    single = catalog.children(f"{WS_URI}/models/notes/versions/1").items
    assert [(n.name, n.kind) for n in single] == [("notes.txt", "file")]
    assert catalog.open(single[0].uri).read_range(0, 100) == NOTES


def test_datasets_versions_and_files(catalog: Catalog, azurite_store: RemoteStore) -> None:
    datasets = catalog.children(f"{WS_URI}/datasets").items
    assert [(n.name, n.description) for n in datasets] == [
        ("iris", "tabular · latest v2"),
        ("nested", "file · latest v1"),
    ]
    iris = catalog.children(datasets[0].uri).items
    assert [(n.name, n.kind, n.description) for n in iris] == [
        ("2", "datasetVersion", "tabular · workspaceblobstore/iris/v2/iris.csv · cleaned"),
        ("1", "datasetVersion", "tabular · workspaceblobstore/iris/v1/iris.csv"),
    ]
    assert not iris[0].has_children  # its datastore is not one of amlArtifacts.datastores
    nested = catalog.children(catalog.children(datasets[1].uri).items[0].uri).items
    assert [(n.name, n.kind) for n in nested] == [("a", "folder"), ("e.txt", "file")]


def test_download_of_a_run_folder(catalog: Catalog, tmp_path: Path) -> None:
    result = service.download_to(
        catalog, f"{WS_URI}/jobs/train-1/outputs/artifacts/paths/outputs/sub", str(tmp_path)
    )
    assert result["files"] == 1
    assert (tmp_path / "sub" / "deep" / "x.txt").read_bytes() == b"x\n"


def test_listings_are_cached_and_refreshed_on_demand(catalog: Catalog, aml: AmlEnvironment) -> None:
    uri = f"{WS_URI}/experiments/pipelines"
    catalog.children(uri)
    catalog.children(uri)
    assert len(aml.standin.calls("runs:query")) == 1
    catalog.refresh(uri)
    catalog.children(uri)
    assert len(aml.standin.calls("runs:query")) == 2


def test_tokens_come_from_az_once_and_are_reused(
    aml: AmlEnvironment, azurite_store: RemoteStore, block_cache: Path
) -> None:
    before = len(aml.az.calls())
    catalog = make_catalog(aml, azurite_store)
    catalog.roots()
    catalog.children(f"{WS_URI}/experiments")
    catalog.children(f"{WS_URI}/experiments/pipelines")
    catalog.children(f"{WS_URI}/models")
    calls = aml.az.calls()[before:]
    assert len(calls) == 1
    assert calls[0].startswith("account get-access-token --output json")


def test_workspace_from_config_json_in_an_opened_folder(
    aml: AmlEnvironment, tmp_path: Path, block_cache: Path
) -> None:
    project = tmp_path / "project"
    (project / ".azureml").mkdir(parents=True)
    (project / "src").mkdir()
    config = {"subscription_id": SUBSCRIPTION, "resource_group": RESOURCE_GROUP}
    config["workspace_name"] = WORKSPACE
    (project / ".azureml" / "config.json").write_text(json.dumps(config))
    (tmp_path / "config.json").write_text(json.dumps({"unrelated": True}))
    catalog = Catalog(Settings(), [project / "src"])
    roots = [n for n in catalog.roots() if n.kind == "workspace"]
    assert [(n.name, n.uri, n.error) for n in roots] == [(WORKSPACE, WS_URI, None)]
    assert "config.json" in (roots[0].description or "")


# -- errors on the workspace node -----------------------------------------------------------


def workspace_error(catalog: Catalog) -> str:
    node = next(n for n in catalog.roots() if n.kind == "workspace")
    assert node.error is not None and not node.has_children
    assert "Traceback" not in node.error and len(node.error) < 400
    with pytest.raises(ArtifactError) as raised:  # opening it says the same
        catalog.children(node.uri)
    assert raised.value.message == node.error
    return node.error


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (401, "did not accept your sign-in"),
        (403, "No access to workspace ws-main"),
        (500, "answered 500 (InternalServerError)"),
        (503, "Retry in a minute"),
    ],
)
def test_service_errors_on_the_workspace_node(
    aml: AmlEnvironment, azurite_store: RemoteStore, status: int, expected: str
) -> None:
    aml.standin.fail("experiments:query", status)
    message = workspace_error(make_catalog(aml, azurite_store))
    assert expected in message
    if status in (401, 403):
        assert "az login" in message


def test_forbidden_account_on_the_workspace_node(
    aml: AmlEnvironment, azurite_store: RemoteStore
) -> None:
    aml.az.set(subject="intern@example.com")
    aml.standin.denied_subjects.add("intern@example.com")
    message = workspace_error(make_catalog(aml, azurite_store))
    assert "No access to workspace ws-main" in message and "(AuthorizationFailed)" in message


def test_unknown_workspace_on_the_workspace_node(
    aml: AmlEnvironment, azurite_store: RemoteStore
) -> None:
    settings = {"workspaces": [{**aml.workspace_setting(), "name": "ws-gone"}]}
    message = workspace_error(Catalog(Settings.from_json(settings)))
    assert message.startswith("Workspace ws-gone was not found in resource group rg-ml")


def test_expired_token_on_the_workspace_node(
    aml: AmlEnvironment, azurite_store: RemoteStore
) -> None:
    aml.az.set(expires_in=-60)
    message = workspace_error(make_catalog(aml, azurite_store))
    assert "sign-in has expired" in message and "az login" in message
    rejected = aml.standin.calls("experiments:query")
    assert rejected and {r.status for r in rejected} == {401}  # the service said so


def test_not_signed_in_on_the_workspace_node(
    aml: AmlEnvironment, azurite_store: RemoteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    aml.az.set(mode="logged-out")
    message = workspace_error(make_catalog(aml, azurite_store))
    assert message.startswith("Not signed in to Azure. Sign in with `az login`")
    aml.az.set()
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # no az at all
    assert workspace_error(make_catalog(aml, azurite_store)).startswith("Not signed in to Azure.")


def test_timeout_on_the_workspace_node(aml: AmlEnvironment, azurite_store: RemoteStore) -> None:
    aml.standin.fail("experiments:query", delay=5)
    started = time.monotonic()
    message = workspace_error(make_catalog(aml, azurite_store))
    assert "did not answer within 2 s" in message
    assert time.monotonic() - started < 15


def test_unreachable_service_on_the_workspace_node(
    aml: AmlEnvironment, azurite_store: RemoteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AZUREML_SERVICE_ENDPOINT", f"http://127.0.0.1:{dead_port()}")
    message = workspace_error(make_catalog(aml, azurite_store))
    assert message.startswith("Cannot reach Azure ML for workspace ws-main")


def test_errors_inside_the_tree_name_what_is_missing(catalog: Catalog) -> None:
    with pytest.raises(NotFound) as run:
        catalog.children(f"{WS_URI}/jobs/no-such-run")
    assert run.value.message.startswith("Run no-such-run was not found in ws-main")
    with pytest.raises(NotFound):
        catalog.children(f"{WS_URI}/jobs/train-1/outputs/artifacts/paths/outputs/nope")
    with pytest.raises(NotFound) as unknown:
        catalog.children(WS_URI.replace(WORKSPACE, "other"))
    assert "amlArtifacts.workspaces" in unknown.value.message
    # A workspace's datastore is read when amlArtifacts.datastores configures it.
    assert names(catalog.children(f"{WS_URI}/datastores/remote/paths/nested").items) == [
        "a",
        "e.txt",
    ]
    with pytest.raises(NotFound) as store:
        catalog.children(f"{WS_URI}/datastores/workspaceblobstore/paths/iris")
    assert "add it to amlArtifacts.datastores" in store.value.message


def test_non_local_hosts_are_unreachable_during_these_tests(aml: AmlEnvironment) -> None:
    """The guard the other tests rely on: a request that escaped to Azure would fail."""
    import requests

    with pytest.raises(requests.exceptions.ProxyError):
        requests.get("https://management.azure.com/", timeout=5)
    assert requests.get(f"{aml.standin.url}/discovery", timeout=5).status_code == 200


# -- settings and URIs (no service needed) ---------------------------------------------------


def test_workspace_settings_round_trip_and_skip_bad_entries(
    caplog: pytest.LogCaptureFixture,
) -> None:
    raw = {
        "workspaces": [
            {"subscriptionId": "s1", "resourceGroup": "rg", "name": "ws"},
            {"subscriptionId": "S1", "resourceGroup": "RG", "name": "WS"},  # the same, once
            {"subscriptionId": "s1", "resourceGroup": "rg"},
            {"subscription_id": "s2", "resource_group": "rg2", "workspace_name": "w2"},
            "nope",
        ]
    }
    settings = Settings.from_json(raw)
    assert [(w.subscription_id, w.resource_group, w.name) for w in settings.workspaces] == [
        ("s1", "rg", "ws"),
        ("s2", "rg2", "w2"),
    ]
    assert Settings.from_json(settings.to_json()) == settings
    assert "workspaces[2]" in caplog.text and "workspaces[4]" in caplog.text


@pytest.mark.parametrize(
    "uri",
    [
        WS_URI,
        f"{WS_URI}/experiments",
        f"{WS_URI}/experiments/my%20exp",
        f"{WS_URI}/jobs/run-1",
        f"{WS_URI}/jobs/run-1/outputs/artifacts/paths/outputs/a%20b.h5",
        f"{WS_URI}/models",
        f"{WS_URI}/models/clf",
        f"{WS_URI}/models/clf/versions/3",
        f"{WS_URI}/models/clf/versions/3/paths/sub/model.pt",
        f"{WS_URI}/datasets/iris",
        f"{WS_URI}/datasets/iris/versions/2",
    ],
)
def test_workspace_uris_round_trip_without_a_call(uri: str) -> None:
    settings = Settings.from_json(
        {
            "workspaces": [
                {"subscriptionId": SUBSCRIPTION, "resourceGroup": RESOURCE_GROUP, "name": WORKSPACE}
            ]
        }
    )
    assert Catalog(settings).canonical(uri) == uri


# -- through the language server (previews in the worker pool) -------------------------------

SERVER = ClientServerConfig(server_command=[sys.executable, "-m", "pyserver", "serve"])


@pytest_lsp.fixture(config=SERVER)
async def lsp(lsp_client: LanguageClient, aml: AmlEnvironment, block_cache: Path):  # type: ignore[no-untyped-def]
    await lsp_client.initialize_session(
        types.InitializeParams(
            capabilities=types.ClientCapabilities(),
            initialization_options={"workspaces": [aml.workspace_setting()], "previewWorkers": 1},
        )
    )
    yield
    await lsp_client.shutdown_session()


async def test_server_browses_the_workspace_and_previews_remote_hdf5_in_a_worker(
    lsp: LanguageClient, aml: AmlEnvironment
) -> None:
    roots = await request(lsp, "artifacts/roots", {})
    assert [(n["name"], n["kind"]) for n in roots["items"]] == [(WORKSPACE, "workspace")]
    runs = await request(lsp, "artifacts/children", {"uri": f"{WS_URI}/experiments/train"})
    assert [n["name"] for n in runs["items"]] == ["train-big", "first training"]
    outputs = await request(
        lsp,
        "artifacts/children",
        {"uri": f"{runs['items'][1]['uri']}/outputs/artifacts/paths/outputs"},
    )
    uri = outputs["items"][0]["uri"]
    preview = await request(lsp, "artifacts/preview", {"uri": uri})
    assert preview["kind"] == "hdf5" and 0 < preview["networkBytes"] <= 2 << 20
    before = len(aml.standin.calls("runs:query"))
    await request(lsp, "artifacts/children", {"uri": f"{WS_URI}/experiments/train"})
    assert len(aml.standin.calls("runs:query")) == before  # cached
    await request(
        lsp, "artifacts/children", {"uri": f"{WS_URI}/experiments/train", "refresh": True}
    )
    assert len(aml.standin.calls("runs:query")) == before + 1
    await request(lsp, "artifacts/roots", {"refresh": True})


def test_no_token_or_signed_link_is_logged(
    catalog: Catalog, aml: AmlEnvironment, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    caplog.set_level(logging.DEBUG)
    uri = f"{WS_URI}/jobs/train-1/outputs/artifacts/paths/outputs/notes.txt"
    catalog.children(f"{WS_URI}/experiments/train")
    assert catalog.open(uri).read_range(0, 5) == NOTES[:5]
    aml.standin.fail("contentinfo", 403, times=1)
    with pytest.raises(ArtifactError):
        catalog.open(uri.replace("notes.txt", "sub/deep/x.txt"))
    assert caplog.records  # something was logged, and nothing secret
    assert "eyJ" not in caplog.text  # a JWT
    assert not re.search(r"sig=(?!\*\*\*)", caplog.text)  # a SAS signature
