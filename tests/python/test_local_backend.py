from pathlib import Path

import pytest
from helpers import write_json

from pyserver.backends import Catalog
from pyserver.config import Settings
from pyserver.errors import InvalidParams, NotFound
from pyserver.model import RunFilter
from pyserver.protocol import ChildrenParams
from pyserver.uris import file_uri


def catalog_for(*folders: Path, opened: tuple[Path, ...] = ()) -> Catalog:
    return Catalog(Settings(local_workspaces=folders), opened)


def names(catalog: Catalog, path: Path, **kwargs: object) -> list[str]:
    return [node.name for node in catalog.children(file_uri(path), **kwargs).items]  # type: ignore[arg-type]


def test_roots_show_configured_and_opened_workspaces(small_workspace: Path, tmp_path: Path) -> None:
    missing = tmp_path / "gone"
    foreign = tmp_path / "js-project"
    write_json(foreign / "workspace.json", {"name": "not ours"})
    roots = catalog_for(small_workspace, missing, opened=(foreign, small_workspace)).roots()
    assert [(r.name, r.kind, r.has_children) for r in roots] == [
        ("small", "workspace", True),
        ("gone", "workspace", False),
    ]
    assert roots[0].error is None
    assert "Folder not found" in (roots[1].error or "")


def test_an_opened_folder_that_is_a_workspace_is_a_root(small_workspace: Path) -> None:
    roots = catalog_for(opened=(small_workspace,)).roots()
    assert [r.uri for r in roots] == [file_uri(small_workspace)]


def test_configured_folder_without_workspace_json_explains_why(tmp_path: Path) -> None:
    (tmp_path / "plain").mkdir()
    (root,) = catalog_for(tmp_path / "plain").roots()
    assert "has no workspace.json" in (root.error or "")


def test_workspace_lists_its_groups(small_workspace: Path) -> None:
    catalog = catalog_for(small_workspace)
    nodes = catalog.children(file_uri(small_workspace)).items
    assert [(n.name, n.kind) for n in nodes] == [
        ("Experiments", "experiments"),
        ("Datasets", "datasets"),
        ("Models", "models"),
        ("Datastores", "datastores"),
    ]


def test_runs_newest_first_with_pipeline_steps_nested(small_workspace: Path) -> None:
    catalog = catalog_for(small_workspace)
    exp = small_workspace / "experiments" / "exp"
    runs = catalog.children(file_uri(exp)).items
    # broken has no start time: it sorts last; step1/step2 are not in the experiment.
    assert [r.name for r in runs] == ["new", "pipe", "old run", "broken"]
    old = runs[2]
    assert (old.kind, old.status, old.duration_ms, old.description) == (
        "run",
        "Completed",
        123_000,
        "old",
    )
    assert names(catalog, exp / "pipe") == ["prep_data", "train"]


def test_corrupt_run_json_marks_the_node_and_keeps_its_files(small_workspace: Path) -> None:
    catalog = catalog_for(small_workspace)
    broken = next(
        n
        for n in catalog.children(file_uri(small_workspace / "experiments" / "exp")).items
        if n.name == "broken"
    )
    assert broken.error is not None and "run.json is not valid JSON" in broken.error
    assert broken.has_children and broken.downloadable


def test_run_lists_folders_first_and_hides_run_json(small_workspace: Path) -> None:
    catalog = catalog_for(small_workspace)
    run = small_workspace / "experiments" / "exp" / "old"
    assert names(catalog, run) == ["outputs"]
    nodes = catalog.children(file_uri(run / "outputs")).items
    assert [(n.name, n.kind, n.size) for n in nodes] == [
        ("sub", "folder", None),
        ("notes.txt", "file", 12),
    ]


def test_versions_newest_first_with_framework(small_workspace: Path) -> None:
    catalog = catalog_for(small_workspace)
    versions = catalog.children(file_uri(small_workspace / "models" / "m")).items
    assert [(v.name, v.kind, v.description) for v in versions] == [
        ("2", "modelVersion", "PyTorch 2.13.0"),
        ("1", "modelVersion", "PyTorch 2.13.0"),
    ]
    assert names(catalog, small_workspace / "models" / "m" / "2") == ["weights.bin"]


def test_datastore_top_level_folders_are_datasets(small_workspace: Path) -> None:
    catalog = catalog_for(small_workspace)
    (node,) = catalog.children(file_uri(small_workspace / "datastores" / "blob")).items
    assert (node.name, node.kind, node.description) == ("iris", "folder", "dataset")


def test_paging_walks_every_item_once(tmp_path: Path) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(25):
        (folder / f"f{i:02}.txt").write_text("x")
    catalog = Catalog()
    seen, token = [], None
    while True:
        page = catalog.children(file_uri(folder), token, 10)
        seen += [n.name for n in page.items]
        token = page.next_page_token
        if token is None:
            break
    assert seen == [f"f{i:02}.txt" for i in range(25)]


@pytest.mark.parametrize("token", ["garbage", "offset:-1", "offset:"])
def test_bad_page_token_is_invalid_params(tmp_path: Path, token: str) -> None:
    with pytest.raises(InvalidParams):
        Catalog().children(file_uri(tmp_path), token, 10)


def test_deleted_file_is_not_found(tmp_path: Path) -> None:
    gone = tmp_path / "gone.txt"
    with pytest.raises(NotFound, match="does not exist"):
        Catalog().stat(file_uri(gone))


def test_azureml_forms_resolve_in_local_workspaces(small_workspace: Path) -> None:
    catalog = catalog_for(small_workspace)
    run_file = small_workspace / "experiments" / "exp" / "old" / "outputs" / "notes.txt"
    assert catalog.canonical("runs:/old/outputs/notes.txt") == file_uri(run_file)
    assert catalog.canonical(
        "azureml://jobs/old/outputs/artifacts/paths/outputs/notes.txt"
    ) == file_uri(run_file)
    assert catalog.canonical("azureml:m:latest") == file_uri(small_workspace / "models" / "m" / "2")
    assert catalog.canonical("azureml://datastores/blob/paths/iris") == file_uri(
        small_workspace / "datastores" / "blob" / "iris"
    )
    with pytest.raises(NotFound, match="No local workspace holds"):
        catalog.canonical("runs:/nope/x")


def test_paths_inside_an_unconfigured_workspace_still_get_kinds(small_workspace: Path) -> None:
    node = Catalog().stat(file_uri(small_workspace / "experiments" / "exp" / "old"))
    assert (node.kind, node.name, node.status) == ("run", "old run", "Completed")


def test_run_filter_by_status_and_tag(small_workspace: Path) -> None:
    exp = small_workspace / "experiments" / "exp"
    write_json(
        exp / "old" / "run.json",
        {"status": "Completed", "start_time": "2026-01-01T10:00:00Z", "tags": {"lr": "0.1"}},
    )
    write_json(
        exp / "pipe" / "run.json",
        {"status": "Completed", "start_time": "2026-01-02T10:00:00Z", "tags": {"lr": "0.2"}},
    )
    catalog = catalog_for(small_workspace)

    def filtered(run_filter: RunFilter, page_size: int | None = None) -> list[str]:
        page = catalog.children(file_uri(exp), None, page_size, run_filter)
        return [node.description or node.name for node in page.items]

    assert filtered(RunFilter(("Failed",))) == ["new"]
    assert filtered(RunFilter(("Completed", "Failed"))) == ["new", "pipe", "old"]
    assert filtered(RunFilter(tag_key="lr")) == ["pipe", "old"]
    assert filtered(RunFilter(("Completed",), "lr", "0.1")) == ["old"]
    assert filtered(RunFilter(tag_key="lr", tag_value="9")) == []
    # Pipeline steps are listed under their parent whatever the filter.
    steps = catalog.children(file_uri(exp / "pipe"), None, None, RunFilter(("Failed",)))
    assert [node.name for node in steps.items][:2] == ["prep_data", "train"]
    # Paging goes over the filtered runs.
    first = catalog.children(file_uri(exp), None, 1, RunFilter(("Completed",)))
    assert first.next_page_token is not None
    second = catalog.children(file_uri(exp), first.next_page_token, 1, RunFilter(("Completed",)))
    assert [n.name for n in first.items + second.items] == ["pipe", "old"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, None),
        ({}, None),
        ({"status": [], "tag": ""}, None),
        ({"status": ["Failed", "Failed", "Running"]}, RunFilter(("Failed", "Running"))),
        ({"status": "Failed"}, RunFilter(("Failed",))),
        ({"tag": "lr=0.1"}, RunFilter((), "lr", "0.1")),
        ({"tag": " lr = a=b "}, RunFilter((), "lr", "a=b")),
        ({"tag": "stage"}, RunFilter((), "stage", None)),
        ({"tag": "stage="}, RunFilter((), "stage", "")),
    ],
)
def test_children_filter_parameter(raw: object, expected: RunFilter | None) -> None:
    params = {"uri": "/x", "filter": raw} if raw is not None else {"uri": "/x"}
    assert ChildrenParams.parse(params).run_filter == expected


@pytest.mark.parametrize(
    "raw",
    [
        "Failed",
        {"status": [1]},
        {"status": ["Fail ed"]},
        {"status": ["x') or (1"]},
        {"tag": 3},
        {"tag": "=v"},
    ],
)
def test_bad_children_filter_is_invalid_params(raw: object) -> None:
    with pytest.raises(InvalidParams):
        ChildrenParams.parse({"uri": "/x", "filter": raw})
