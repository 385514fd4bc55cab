"""Azure ML workspaces through the real azureml-core and azure-identity code, against the
stand-in service (tests/python/amlstandin) with the stand-in `az` first on PATH, and the
artifact bytes in Azurite. Every non-local request goes to a dead proxy: it would fail."""

from __future__ import annotations

import json
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
    WS_URI,
    AmlEnvironment,
    artifact_blob,
    dead_port,
    served_workspace,
)
from amlstandin.state import Datastore
from conftest import RemoteStore
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient
from test_server import request

from pyserver import service
from pyserver.backends import Catalog
from pyserver.config import Settings
from pyserver.errors import ArtifactError, NotFound
from pyserver.model import Node, RunFilter

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
    with served_workspace(folder, azurite_store.connection_string, files, timeout_s=2) as env:
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
        ("Datastores", "datastores"),
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


def all_pages(catalog: Catalog, uri: str, size: int, run_filter: RunFilter) -> list[Node]:
    seen: list[Node] = []
    token = None
    while True:
        page = catalog.children(uri, token, size, run_filter)
        assert len(page.items) <= size
        seen.extend(page.items)
        token = page.next_page_token
        if token is None:
            return seen


def test_run_filter_by_status_is_applied_by_the_service(
    catalog: Catalog, aml: AmlEnvironment
) -> None:
    uri = f"{WS_URI}/experiments/many"
    runs = all_pages(catalog, uri, 250, RunFilter(("Failed", "Canceled")))
    assert len(runs) == 800 and {n.status for n in runs} == {"Failed", "Canceled"}
    starts = [n.modified or "" for n in runs]
    assert starts == sorted(starts, reverse=True)
    queries = aml.standin.calls("runs:query")
    assert len(queries) == 4  # the service filtered: one request per page
    assert queries[0].body["filter"] == (
        "(ParentRunId eq null) and (Status eq Failed or Status eq Canceled)"
    )
    # Unfiltered listing of the same experiment is not mixed up with it (cache, tokens).
    assert len(catalog.children(uri, None, 100).items) == 100


def test_run_filter_by_tag_and_status(catalog: Catalog, aml: AmlEnvironment) -> None:
    uri = f"{WS_URI}/experiments/many"
    even = all_pages(catalog, uri, 500, RunFilter(("Completed",), "parity", "even"))
    assert len(even) == 400 and {n.status for n in even} == {"Completed"}
    assert 'Tags/parity eq "even"' in aml.standin.calls("runs:query")[0].body["filter"]
    best = catalog.children(uri, None, 100, RunFilter(tag_key="best"))
    assert [n.name for n in best.items] == ["sweep 1500", "sweep 1000", "sweep 500", "sweep 0"]
    assert best.next_page_token is None
    assert (
        "(Tags/best ne null or Tags/best eq null)"
        in (aml.standin.calls("runs:query")[-1].body["filter"])
    )


def test_run_filter_the_service_cannot_spell_is_applied_over_its_pages(
    catalog: Catalog, aml: AmlEnvironment
) -> None:
    uri = f"{WS_URI}/experiments/many"
    run_filter = RunFilter(tag_key="owner/team", tag_value="vision")
    first = catalog.children(uri, None, 3, run_filter)
    assert [n.name for n in first.items] == ["sweep 1757", "sweep 1507", "sweep 1257"]
    assert first.next_page_token is not None
    assert aml.standin.calls("runs:query")[0].body["filter"] == "(ParentRunId eq null)"
    runs = all_pages(catalog, uri, 3, run_filter)
    assert [n.name for n in runs][-1] == "sweep 7" and len(runs) == 8
    # Service pages of FILTER_SERVICE_PAGE runs: a page of ours needed 1 to 4 of them.
    assert {q.body["top"] for q in aml.standin.calls("runs:query")} == {500}
    assert len(aml.standin.calls("runs:query")) <= 4 * 4
    nothing = catalog.children(uri, None, 10, RunFilter(tag_key="owner/team", tag_value="x"))
    assert nothing.items == [] and nothing.next_page_token is None


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
    # A version on one of the workspace's datastores lists its files from there (one file).
    assert iris[0].has_children and iris[0].downloadable
    files = catalog.children(iris[0].uri).items
    assert [(n.name, n.kind, n.uri) for n in files] == [
        ("iris.csv", "file", f"{WS_URI}/datastores/workspaceblobstore/paths/iris/v2/iris.csv")
    ]
    assert catalog.open(files[0].uri).read_range(0, 100).count(b"setosa") == 2
    # `remote` is not registered in the workspace: amlArtifacts.datastores has it.
    nested = catalog.children(catalog.children(datasets[1].uri).items[0].uri).items
    assert [(n.name, n.kind) for n in nested] == [("a", "folder"), ("e.txt", "file")]
    assert nested[0].uri == "azureml://datastores/remote/paths/nested/a"


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


# -- the workspace's own datastores ---------------------------------------------------------

DATASTORES = f"{WS_URI}/datastores"


@pytest.fixture
def registered(aml: AmlEnvironment, azurite_store: RemoteStore) -> Iterator[AmlEnvironment]:
    """`remote` (the session's Azurite container, by SAS) and `sqldb` (not blob) registered in
    the workspace for one test."""
    aml.register_datastore("remote", azurite_store.container, credential="sas")
    aml.workspace.add_datastore(Datastore("sqldb", "db", store_type="AzureSqlDatabase"))
    yield aml
    aml.workspace.datastores.pop("remote")
    aml.workspace.datastores.pop("sqldb")


def test_workspace_datastores_group_lists_registered_datastores(
    catalog: Catalog, registered: AmlEnvironment
) -> None:
    stores = catalog.children(DATASTORES).items
    assert [(n.name, n.kind, n.has_children, n.description) for n in stores] == [
        ("remote", "datastore", True, "blob · devstoreaccount1/artifacts"),
        ("sqldb", "datastore", False, "AzureSqlDatabase · not browsable"),
        ("workspaceblobstore", "datastore", True, "blob · devstoreaccount1/azureml"),
    ]
    assert stores[2].uri == f"{DATASTORES}/workspaceblobstore/paths/"
    listed = registered.standin.calls("GET /datastore/")
    assert len(listed) == 1 and listed[0].query["includeSecret"] == ["false"]
    # One page at a time, with the service's continuation token.
    first = catalog.children(DATASTORES, None, 2)
    assert names(first.items) == ["remote", "sqldb"] and first.next_page_token
    rest = catalog.children(DATASTORES, first.next_page_token, 2)
    assert names(rest.items) == ["workspaceblobstore"] and rest.next_page_token is None
    with pytest.raises(ArtifactError) as sql:
        catalog.children(stores[1].uri)
    assert "AzureSqlDatabase: only blob" in sql.value.message
    assert registered.standin.unknown == []


def test_workspace_datastore_folders_files_previews_and_downloads(
    catalog: Catalog, registered: AmlEnvironment, tmp_path: Path
) -> None:
    store = f"{DATASTORES}/remote/paths/"
    top = catalog.children(store, None, 1000).items
    datasets = [(n.name, n.description) for n in top if n.kind == "folder"]
    assert ("nested", "dataset") in datasets and ("outputs", "dataset") in datasets
    assert ("top.txt", "file") in [(n.name, n.kind) for n in top]
    nested = catalog.children(f"{store}nested").items
    assert [(n.name, n.kind, n.uri) for n in nested] == [
        ("a", "folder", f"{store}nested/a"),
        ("e.txt", "file", f"{store}nested/e.txt"),
    ]
    assert catalog.stat(f"{store}nested/e.txt").size == 2
    assert catalog.open(f"{store}nested/e.txt").read_range(0, 10) == b"e\n"
    assert catalog.stat(store).description == "blob · devstoreaccount1/artifacts"
    preview = service.preview(catalog, f"{store}outputs/data.h5")
    assert preview["kind"] == "hdf5" and 0 < preview["networkBytes"] <= 2 << 20
    result = service.download_to(catalog, f"{store}nested/a", str(tmp_path))
    assert result["files"] == 3
    assert (tmp_path / "a" / "b" / "deeper" / "f.txt").read_bytes() == b"f\n"
    # The dataset on it now lists through the workspace's datastore, with long URIs.
    version = catalog.children(f"{WS_URI}/datasets/nested").items[0]
    assert catalog.children(version.uri).items[0].uri == f"{store}nested/a"
    assert catalog.canonical(f"{store}nested/a") == f"{store}nested/a"
    # The secret was asked for once (then cached), and only by name.
    gets = registered.standin.calls("GET /datastore/.*/datastores/remote$")
    assert len(gets) == 1


def test_workspace_datastore_secrets_are_never_logged_or_shown(
    catalog: Catalog, registered: AmlEnvironment, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    caplog.set_level(logging.DEBUG)
    key = registered.workspace.datastores["workspaceblobstore"].account_key
    sas = registered.workspace.datastores["remote"].sas_token
    assert key and sas
    catalog.children(f"{DATASTORES}/workspaceblobstore/paths/iris")
    catalog.children(f"{DATASTORES}/remote/paths/nested")
    # A revoked key: the message says what to do, and holds no secret.
    registered.workspace.datastores["workspaceblobstore"].account_key = "bm90IHRoZSBrZXk="
    catalog.refresh(WS_URI)
    try:
        with pytest.raises(ArtifactError) as refused:
            catalog.children(f"{DATASTORES}/workspaceblobstore/paths/iris")
    finally:
        registered.workspace.datastores["workspaceblobstore"].account_key = key
    message = refused.value.message
    assert "registered in workspace" in message or "account key" in message
    for secret in (key, sas, "bm90IHRoZSBrZXk="):
        assert secret not in caplog.text and secret not in message
    assert not re.search(r"sig=(?!\*\*\*)", caplog.text)


# -- errors on the workspace node -----------------------------------------------------------


def workspace_error(catalog: Catalog, error_kind: str) -> str:
    node = next(n for n in catalog.roots() if n.kind == "workspace")
    assert node.error is not None and not node.has_children
    assert node.error_kind == error_kind  # what the extension offers: Sign in, Retry
    assert node.to_json()["errorKind"] == error_kind
    assert "Traceback" not in node.error and len(node.error) < 400
    with pytest.raises(ArtifactError) as raised:  # opening it says the same
        catalog.children(node.uri)
    assert raised.value.message == node.error
    return node.error


@pytest.mark.parametrize(
    ("status", "expected", "error_kind"),
    [
        (401, "did not accept your sign-in", "notSignedIn"),
        (403, "No access to workspace ws-main", "forbidden"),
        (500, "answered 500 (InternalServerError)", "serverError"),
        (503, "Retry in a minute", "serverError"),
    ],
)
def test_service_errors_on_the_workspace_node(
    aml: AmlEnvironment, azurite_store: RemoteStore, status: int, expected: str, error_kind: str
) -> None:
    aml.standin.fail("experiments:query", status)
    message = workspace_error(make_catalog(aml, azurite_store), error_kind)
    assert expected in message
    if status in (401, 403):
        assert "az login" in message


def test_retry_after_the_problem_is_fixed_lists_the_workspace(
    aml: AmlEnvironment, azurite_store: RemoteStore
) -> None:
    aml.az.set(mode="logged-out")
    catalog = make_catalog(aml, azurite_store)
    workspace_error(catalog, "notSignedIn")
    aml.az.set()  # `az login`
    # What the extension's Retry sends: children of the workspace with refresh: true.
    catalog.refresh(WS_URI)
    assert names(catalog.children(WS_URI).items)[0] == "Experiments"
    node = next(n for n in catalog.roots() if n.kind == "workspace")
    assert (node.error, node.error_kind, node.has_children) == (None, None, True)


def test_forbidden_account_on_the_workspace_node(
    aml: AmlEnvironment, azurite_store: RemoteStore
) -> None:
    aml.az.set(subject="intern@example.com")
    aml.standin.denied_subjects.add("intern@example.com")
    message = workspace_error(make_catalog(aml, azurite_store), "forbidden")
    assert "No access to workspace ws-main" in message and "(AuthorizationFailed)" in message


def test_unknown_workspace_on_the_workspace_node(
    aml: AmlEnvironment, azurite_store: RemoteStore
) -> None:
    settings = {"workspaces": [{**aml.workspace_setting(), "name": "ws-gone"}]}
    message = workspace_error(Catalog(Settings.from_json(settings)), "notFound")
    assert message.startswith("Workspace ws-gone was not found in resource group rg-ml")


def test_expired_token_on_the_workspace_node(
    aml: AmlEnvironment, azurite_store: RemoteStore
) -> None:
    aml.az.set(expires_in=-60)
    message = workspace_error(make_catalog(aml, azurite_store), "expired")
    assert "sign-in has expired" in message and "az login" in message
    rejected = aml.standin.calls("experiments:query")
    assert rejected and {r.status for r in rejected} == {401}  # the service said so


def test_not_signed_in_on_the_workspace_node(
    aml: AmlEnvironment, azurite_store: RemoteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    aml.az.set(mode="logged-out")
    message = workspace_error(make_catalog(aml, azurite_store), "notSignedIn")
    assert message.startswith("Not signed in to Azure. Sign in with `az login`")
    aml.az.set()
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # no az at all
    catalog = make_catalog(aml, azurite_store)
    assert workspace_error(catalog, "notSignedIn").startswith("Not signed in to Azure.")


def test_timeout_on_the_workspace_node(aml: AmlEnvironment, azurite_store: RemoteStore) -> None:
    aml.standin.fail("experiments:query", delay=5)
    started = time.monotonic()
    message = workspace_error(make_catalog(aml, azurite_store), "unreachable")
    assert "did not answer within 2 s" in message
    assert time.monotonic() - started < 15


def test_unreachable_service_on_the_workspace_node(
    aml: AmlEnvironment, azurite_store: RemoteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AZUREML_SERVICE_ENDPOINT", f"http://127.0.0.1:{dead_port()}")
    message = workspace_error(make_catalog(aml, azurite_store), "unreachable")
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
    # A datastore the workspace does not have is read from amlArtifacts.datastores ...
    assert names(catalog.children(f"{WS_URI}/datastores/remote/paths/nested").items) == [
        "a",
        "e.txt",
    ]
    # ... else it is missing.
    with pytest.raises(NotFound) as store:
        catalog.children(f"{WS_URI}/datastores/gone/paths/iris")
    assert "Workspace ws-main has no datastore gone" in store.value.message
    with pytest.raises(NotFound) as path:
        catalog.children(f"{WS_URI}/datastores/workspaceblobstore/paths/nope")
    assert path.value.message.startswith(f"{WS_URI}/datastores/workspaceblobstore/paths/nope")


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
    signed_in = len(aml.az.calls())
    preview = await request(lsp, "artifacts/preview", {"uri": uri})
    assert preview["kind"] == "hdf5" and 0 < preview["networkBytes"] <= 2 << 20
    assert len(aml.az.calls()) == signed_in  # the worker used the server's token, no `az`
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


def test_token_snapshot_for_workers_renews_tokens_near_expiry(aml: AmlEnvironment) -> None:
    from pyserver.backends.aml_auth import TokenProvider

    tokens = TokenProvider()
    scope = "https://storage.azure.com/.default"
    aml.az.set(expires_in=3600)
    token = tokens.token(scope)
    calls = len(aml.az.calls())
    assert tokens.snapshot()[scope][0] == token and len(aml.az.calls()) == calls  # cached
    aml.az.set(expires_in=120)  # inside the 5-minute margin: renewed for the worker
    tokens.forget()
    tokens.token(scope)
    renewed = tokens.snapshot()
    assert scope in renewed and len(aml.az.calls()) == calls + 2
    aml.az.set(mode="logged-out")
    assert tokens.snapshot() == {}  # a renewal that fails is left out, not raised
