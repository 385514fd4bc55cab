"""Downloads from an Azure ML workspace (the stand-in service with real azureml-core, bytes in
Azurite): "Download to Local Workspace" of runs with pipeline steps, model versions and
dataset versions, browsed offline afterwards with the local backend; and hostile artifact
names served by the stand-in's listings (names Azurite cannot store as blobs), which stay
inside the destination or are refused with a reason."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pickle
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import unquote

import pytest
from amlruns import add_run_with_files
from amlstandin.environment import (
    ARTIFACT_CONTAINER,
    WS_URI,
    AmlEnvironment,
    artifact_blob,
    served_workspace,
)
from amlstandin.state import EPOCH
from azurite import port_of
from conftest import RemoteStore
from faultproxy import FaultProxy, Faults

from pyserver import cli, service
from pyserver.backends import Catalog
from pyserver.backends.local import WORKSPACE_FORMAT
from pyserver.backends.signed import open_signed
from pyserver.config import Settings
from pyserver.errors import Conflict, CorruptArtifact, InvalidParams, UnsafePath
from pyserver.transfers import Options, download
from pyserver.uris import file_uri

PIPE = {  # run id → (parent, files)
    "pipe-m": (None, {"logs/azureml/executionlogs.txt": b"pipeline log\n"}),
    "pipe-m-prep": ("pipe-m", {"outputs/prepared.csv": b"a,b\n1,2\n3,4\n"}),
    "pipe-m-train": ("pipe-m", {"outputs/model.pkl": pickle.dumps({"w": [1.0, 2.0]})}),
    "pipe-m-train-sub": ("pipe-m-train", {"outputs/sub/x.txt": b"nested step\n"}),
}
TRAIN_FILES = {  # the artifacts the stand-in's seed lists for train-1 (models: outputs/)
    "outputs/data.h5": b"small stand-in of data.h5\n",
    "outputs/notes.txt": b"remote notes\n",
    "outputs/sub/deep/x.txt": b"x\n",
    "logs/std_log.txt": b"log line\n",
}
LONG = "é" * 200 + ".txt"  # 404 bytes of UTF-8: shortened
HOSTILE = {  # artifact path the stand-in lists → where it lands under dest (None: refused)
    "outputs/ok.txt": "outputs/ok.txt",
    "outputs/../../escape.txt": None,
    "outputs/./dot.txt": None,
    "outputs/sub/../../../up.txt": None,
    "logs/../../../../tmp/evil.txt": None,
    "outputs/%2e%2e/pct.txt": None,
    "outputs/%252E%252e": None,
    # Read through the signed URL the listing gives: asked for by name, azureml-core's URL
    # handling would drop the empty segment and the tab and ask for another file.
    "outputs//abs.txt": "outputs/abs.txt",
    "outputs/tab\t.txt": "outputs/tab_.txt",
    "outputs/..\\..\\win.txt": "outputs/.._.._win.txt",
    "outputs/C:\\Windows\\evil.txt": "outputs/C__Windows_evil.txt",
    "outputs/C:evil.txt": "outputs/C_evil.txt",
    "outputs/\\\\server\\share\\x.txt": "outputs/__server_share_x.txt",
    "outputs/CON": "outputs/CON_",
    "outputs/nul.txt": "outputs/nul_.txt",
    "outputs/Com1.tar.gz": "outputs/Com1_.tar.gz",
    "outputs/lpt¹": "outputs/lpt¹_",
    "outputs/bell\x07.txt": "outputs/bell_.txt",
    "outputs/nul\x00byte.txt": "outputs/nul_byte.txt",
    "outputs/del\x7f.txt": "outputs/del_.txt",
    "outputs/esc\x1b[31m.txt": "outputs/esc_[31m.txt",
    "outputs/trailing.": "outputs/trailing_",
    f"outputs/{LONG}": "LONG",
}
HOSTILE_ROOT = "/etc/passwd-abs"  # listed outside outputs/ and logs/: not part of the run
MiB = 1 << 20
EDGE = {  # run edge-1: read through the signed links of the listing
    "outputs/empty.bin": b"",
    "outputs/big.bin": os.urandom(20 * MiB),  # chunked (16 MiB and more)
    "outputs/bad-md5.txt": b"stored\n",  # its Content-MD5 is of other bytes
    **{f"outputs/small/{index:02d}.txt": f"small {index}\n".encode() * 40 for index in range(40)},
}
FAST = Options(concurrency=8, chunk_bytes=4 * MiB, chunked_from=8 * MiB, piece_bytes=1 * MiB,
               backoff_s=0.05, backoff_max_s=0.5)  # fmt: skip


@pytest.fixture(scope="module")
def aml(
    azurite_store: RemoteStore, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AmlEnvironment]:
    folder = tmp_path_factory.mktemp("aml-downloads")
    files = {artifact_blob("train-1", path): data for path, data in TRAIN_FILES.items()}
    with served_workspace(folder, azurite_store.connection_string, dict(files)) as env:
        for offset, (run_id, (parent, run_files)) in enumerate(PIPE.items()):
            add_run_with_files(
                env,
                "pipes",
                run_id,
                run_files,
                parent_id=parent,
                start=EPOCH + timedelta(minutes=offset),
                display_name=run_id.removeprefix("pipe-m-") if parent else "pipeline m",
                tags={"stage": "dev"},
                run_type="azureml.PipelineRun" if parent is None else "azureml.StepRun",
            )
        hostile = {name: name.encode() for name in HOSTILE}
        hostile[HOSTILE_ROOT] = b"never downloaded"
        safe = {name: f"hostile-blobs/{index}" for index, name in enumerate(hostile)}
        add_run_with_files(env, "hostile", "hostile-1", hostile, blobs=safe)
        add_run_with_files(env, "..", "dotdot-1", {"outputs/a.txt": b"a\n"})
        add_run_with_files(env, "edge", "edge-1", EDGE)
        _set_md5(env, artifact_blob("edge-1", "outputs/bad-md5.txt"), b"other bytes")
        add_run_with_files(env, "C:..\\..\\evil", "drive-1", {"outputs/a.txt": b"a\n"})
        yield env


def _set_md5(env: AmlEnvironment, blob: str, content: bytes) -> None:
    from azure.storage.blob import BlobServiceClient, ContentSettings

    client = BlobServiceClient.from_connection_string(env.connection_string).get_blob_client(
        ARTIFACT_CONTAINER, blob
    )
    client.set_http_headers(ContentSettings(content_md5=hashlib.md5(content).digest()))


@pytest.fixture
def catalog(aml: AmlEnvironment, block_cache: Path) -> Catalog:
    aml.standin.clear()
    return Catalog(Settings.from_json({"workspaces": [aml.workspace_setting()]}))


def offline(root: Path) -> Catalog:
    """The local backend alone, with `root` as its only workspace."""
    return Catalog(Settings.from_json({"localWorkspaces": [str(root)]}))


def names(catalog: Catalog, path: Path) -> list[tuple[str, str]]:
    return [(n.name, n.kind) for n in catalog.children(file_uri(path), None, 1000).items]


def read_json(path: Path) -> dict[str, object]:
    value = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(value, dict)
    return value


def files_under(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def tree(root: Path) -> set[Path]:
    found = set()
    for folder, dirs, files in os.walk(root):
        found.update(Path(folder) / name for name in dirs + files)
    return found


def assert_nothing_outside(before: set[Path], root: Path, dest: Path) -> None:
    for path in tree(root) - before:
        assert path == dest or dest in path.parents, path


# -- Download to Local Workspace -------------------------------------------------------------


def test_pipeline_run_into_a_local_workspace_then_browsed_offline(
    catalog: Catalog, aml: AmlEnvironment, tmp_path: Path
) -> None:
    root = tmp_path / "mirror"
    result = service.download_to(catalog, f"{WS_URI}/jobs/pipe-m", str(root), as_workspace=True)
    run_dir = root / "experiments" / "pipes" / "pipe-m"
    size = sum(len(data) for _, files in PIPE.values() for data in files.values())
    assert result == {"path": str(run_dir), "files": 4, "bytes": size, "workspace": str(root)}
    assert read_json(root / "workspace.json")["format"] == WORKSPACE_FORMAT
    runs = root / "experiments" / "pipes"
    assert sorted(p.name for p in runs.iterdir()) == sorted(PIPE)  # steps: sibling folders
    record = read_json(run_dir / "run.json")
    assert record == {
        "display_name": "pipeline m",
        "status": "Completed",
        "start_time": "2026-01-01T00:00:00Z",
        "end_time": "2026-01-01T00:05:00Z",
        "run_type": "azureml.PipelineRun",
        "tags": {"stage": "dev"},
        "properties": {},
        "source": f"{WS_URI}/jobs/pipe-m",
    }
    assert read_json(runs / "pipe-m-train-sub" / "run.json")["parent_id"] == "pipe-m-train"
    assert (runs / "pipe-m-prep" / "outputs" / "prepared.csv").read_bytes() == b"a,b\n1,2\n3,4\n"

    aml.standin.clear()
    local = offline(root)
    assert [(n.name, n.kind, n.error) for n in local.roots()] == [("mirror", "workspace", None)]
    assert names(local, root / "experiments") == [("pipes", "experiment")]
    assert names(local, runs) == [("pipeline m", "run")]  # the steps are under their parent
    assert names(local, run_dir) == [
        ("prep", "run"),
        ("train", "run"),
        ("logs", "folder"),
    ]
    assert names(local, runs / "pipe-m-train") == [("train-sub", "run"), ("outputs", "folder")]
    node = local.stat(file_uri(run_dir))
    assert (node.status, node.duration_ms, node.modified) == (
        "Completed",
        300_000,
        "2026-01-01T00:00:00Z",
    )
    csv = service.preview(local, file_uri(runs / "pipe-m-prep" / "outputs" / "prepared.csv"))
    assert csv["kind"] == "csv" and csv["columns"] == ["a", "b"]
    # The hover's short form finds the run in the local workspace, with no service call.
    pickled = service.preview(local, "runs:/pipe-m-train/outputs/model.pkl")
    assert pickled["kind"] == "pickle" and pickled["safety"]["verdict"] == "safe"
    assert aml.standin.calls() == []


def test_again_asks_then_skips_and_keeps_the_metadata_fresh(
    catalog: Catalog, tmp_path: Path
) -> None:
    root = tmp_path / "mirror"
    uri = f"{WS_URI}/jobs/pipe-m-train"
    first = service.download_to(catalog, uri, str(root), as_workspace=True)
    assert first["files"] == 2
    step = root / "experiments" / "pipes" / "pipe-m-train"
    (step / "run.json").write_text("{}")
    (step / "outputs" / "model.pkl").write_bytes(b"changed here")  # x.txt stays identical
    with pytest.raises(Conflict) as asked:
        service.download_to(catalog, uri, str(root), as_workspace=True)
    assert asked.value.conflicts == ["experiments/pipes/pipe-m-train/outputs/model.pkl"]
    assert read_json(step / "run.json") == {}  # nothing written before the answer
    skipped = service.download_to(catalog, uri, str(root), as_workspace=True, policy="skip")
    assert (skipped["files"], skipped["skipped"]) == (0, 2)
    assert read_json(step / "run.json")["parent_id"] == "pipe-m"


def test_model_versions_folder_and_one_file_into_a_local_workspace(
    catalog: Catalog, aml: AmlEnvironment, tmp_path: Path
) -> None:
    root = tmp_path / "mirror"
    classifier = service.download_to(
        catalog, f"{WS_URI}/models/classifier/versions/3", str(root), as_workspace=True
    )
    version = root / "models" / "classifier" / "3"
    assert classifier["path"] == str(version) and classifier["files"] == 3
    assert "failures" not in classifier
    assert files_under(version) == {
        "model.json": (version / "model.json").read_bytes(),
        "data.h5": b"small stand-in of data.h5\n",
        "notes.txt": b"remote notes\n",
        "sub/deep/x.txt": b"x\n",
    }
    assert read_json(version / "model.json") == {
        "name": "classifier",
        "version": 3,
        "framework": "PyTorch",
        "framework_version": "2.13.0",
        "run_id": "train-1",
        "experiment": "train",
        "created": "2026-01-04T03:00:00Z",
        "tags": {"stage": "prod"},
        "source": f"{WS_URI}/models/classifier/versions/3",
    }
    # A version that is one file: the file goes inside the version folder.
    notes = service.download_to(catalog, "azureml:notes:1", str(root), as_workspace=True)
    assert notes["files"] == 1
    assert (root / "models" / "notes" / "1" / "notes.txt").read_bytes() == b"remote notes\n"

    aml.standin.clear()
    local = offline(root)
    models = root / "models"
    assert names(local, models) == [("classifier", "model"), ("notes", "model")]
    node = local.stat(file_uri(version))
    assert (node.kind, node.description) == ("modelVersion", "PyTorch 2.13.0")
    assert names(local, version) == [("sub", "folder"), ("data.h5", "file"), ("notes.txt", "file")]
    text = service.preview(local, "azureml:notes:1")
    assert text["kind"] == "modelVersion" and "- notes\\.txt" in text["markdown"]
    file = service.preview(local, file_uri(models / "notes" / "1" / "notes.txt"))
    assert file["kind"] == "text" and "remote notes" in file["markdown"]
    assert aml.standin.calls() == []


def test_a_one_file_model_version_downloads_as_a_folder_with_its_file(
    catalog: Catalog, tmp_path: Path
) -> None:
    result = service.download_to(catalog, f"{WS_URI}/models/notes/versions/1", str(tmp_path))
    assert (result["path"], result["files"]) == (str(tmp_path / "1"), 1)
    assert (tmp_path / "1" / "notes.txt").read_bytes() == b"remote notes\n"
    alone = service.download_to(
        catalog, f"{WS_URI}/models/notes/versions/1/paths/notes.txt", str(tmp_path / "file")
    )
    assert (tmp_path / "file" / "notes.txt").read_bytes() == b"remote notes\n"
    assert alone["files"] == 1


def test_dataset_version_into_a_local_workspace(
    catalog: Catalog, aml: AmlEnvironment, tmp_path: Path
) -> None:
    root = tmp_path / "mirror"
    result = service.download_to(
        catalog, f"{WS_URI}/datasets/iris/versions/2", str(root), as_workspace=True
    )
    version = root / "datasets" / "iris" / "2"
    assert (result["path"], result["files"]) == (str(version), 1)
    record = read_json(version / "dataset.json")
    assert {k: record[k] for k in ("name", "version", "type", "datastore", "notes")} == {
        "name": "iris",
        "version": 2,
        "type": "tabular",
        "datastore": "workspaceblobstore",
        "notes": "cleaned",
    }
    local = offline(root)
    assert local.stat(file_uri(version)).description == "tabular"
    assert names(local, version) == [("iris.csv", "file")]
    csv = service.preview(local, file_uri(version / "iris.csv"))
    assert csv["kind"] == "csv" and csv["columnCount"] == 2


def test_only_runs_and_versions_and_only_into_a_local_workspace(
    catalog: Catalog, tmp_path: Path
) -> None:
    with pytest.raises(InvalidParams, match="Only runs, model versions and dataset versions"):
        service.download_to(
            catalog,
            f"{WS_URI}/jobs/train-1/outputs/artifacts/paths/outputs",
            str(tmp_path / "a"),
            as_workspace=True,
        )
    other = tmp_path / "other"
    other.mkdir()
    (other / "workspace.json").write_text('{"name": "something else"}')
    with pytest.raises(InvalidParams, match="not a local workspace's"):
        service.download_to(catalog, f"{WS_URI}/jobs/train-1", str(other), as_workspace=True)
    assert sorted(p.name for p in other.iterdir()) == ["workspace.json"]
    assert not (tmp_path / "a").exists()


def test_hostile_experiment_names_are_mapped_or_refused(catalog: Catalog, tmp_path: Path) -> None:
    root = tmp_path / "mirror"
    before = tree(tmp_path)
    with pytest.raises(UnsafePath, match="parent or current folder"):
        service.download_to(catalog, f"{WS_URI}/jobs/dotdot-1", str(root), as_workspace=True)
    result = service.download_to(catalog, f"{WS_URI}/jobs/drive-1", str(root), as_workspace=True)
    assert result["path"] == str(root / "experiments" / "C_.._.._evil" / "drive-1")
    assert_nothing_outside(before, tmp_path, root)


def test_local_run_with_steps_into_another_local_workspace(
    small_workspace: Path, tmp_path: Path
) -> None:
    root = tmp_path / "copy"
    catalog = offline(small_workspace)
    source = small_workspace / "experiments" / "exp"
    result = service.download_to(catalog, file_uri(source / "pipe"), str(root), as_workspace=True)
    assert result["workspace"] == str(root) and result["files"] == 0
    copy = root / "experiments" / "exp"
    assert sorted(p.name for p in copy.iterdir()) == ["pipe", "step1", "step2"]
    assert read_json(copy / "step1" / "run.json") == {
        **read_json(source / "step1" / "run.json"),
        "source": file_uri(source / "step1"),
    }
    old = service.download_to(catalog, file_uri(source / "old"), str(root), as_workspace=True)
    assert old["files"] == 2  # run.json is written from the metadata, not copied
    assert names(offline(root), copy) == [("pipe", "run"), ("old run", "run")]
    model = service.download_to(
        catalog, file_uri(small_workspace / "models" / "m" / "2"), str(root), as_workspace=True
    )
    assert model["files"] == 1
    assert read_json(root / "models" / "m" / "2" / "model.json")["framework"] == "PyTorch"
    before = files_under(small_workspace)
    with pytest.raises(InvalidParams, match="already is"):  # into the workspace it is in
        service.download_to(
            catalog, file_uri(source / "old"), str(small_workspace), as_workspace=True
        )
    assert files_under(small_workspace) == before


def test_cli_download_as_workspace(
    small_workspace: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = small_workspace / "experiments" / "exp" / "old"
    code = cli.main(["download", file_uri(run), str(tmp_path / "mirror"), "--as-workspace"])
    out, err = capsys.readouterr()
    assert code == 0
    assert out.startswith(f"{tmp_path / 'mirror' / 'experiments' / 'exp' / 'old'}\t2 files")
    assert "amlArtifacts.localWorkspaces" in err
    assert (tmp_path / "mirror" / "experiments" / "exp" / "old" / "run.json").exists()


# -- hostile names in the artifact service's listings ----------------------------------------


def check_hostile(got: dict[str, bytes], prefix: str) -> None:
    """`got` (relative path → bytes) holds each mapped name's file under `prefix`."""
    long_names = [name for name in got if "é" in name]
    assert len(long_names) == 1 and got.pop(long_names[0]) == f"outputs/{LONG}".encode()
    assert len(Path(long_names[0]).name.encode()) <= 255
    mapped = {name: local for name, local in HOSTILE.items() if local not in (None, "LONG")}
    assert got == {f"{prefix}{local}": name.encode() for name, local in mapped.items()}


def test_hostile_artifact_names_are_mapped_or_refused(
    catalog: Catalog, aml: AmlEnvironment, tmp_path: Path
) -> None:
    dest = tmp_path / "dest"
    before = tree(tmp_path)
    result = service.download_to(catalog, f"{WS_URI}/jobs/hostile-1", str(dest))
    check_hostile(files_under(dest), "hostile-1/")
    reasons = {unquote(f["uri"].split("/paths/", 1)[1]): f["reason"] for f in result["failures"]}
    refused = {name for name, local in HOSTILE.items() if local is None}
    assert set(reasons) == refused
    assert all("parent or current folder" in reasons[name] for name in refused)
    assert_nothing_outside(before, tmp_path, dest)


def test_hostile_artifact_names_into_a_local_workspace(catalog: Catalog, tmp_path: Path) -> None:
    root = tmp_path / "mirror"
    before = tree(tmp_path)
    result = service.download_to(catalog, f"{WS_URI}/jobs/hostile-1", str(root), as_workspace=True)
    run_dir = root / "experiments" / "hostile" / "hostile-1"
    got = files_under(run_dir)
    assert got.pop("run.json")
    check_hostile(got, "")
    assert len(result["failures"]) == sum(local is None for local in HOSTILE.values())
    assert_nothing_outside(before, tmp_path, root)
    outputs = offline(root).children(file_uri(run_dir / "outputs"), None, 1000).items
    assert len(outputs) == sum(local is not None for local in HOSTILE.values())


# -- run outputs through the signed links of the artifact listing -----------------------------


@contextlib.contextmanager
def signed_links(aml: AmlEnvironment, rewrite: Callable[[str, int], str]) -> Iterator[None]:
    """The stand-in's links rewritten: `rewrite(url, how many times this blob was asked)`."""
    original = aml.standin.blob_sas
    asked: dict[str, int] = {}

    def sign(name: str) -> str:
        asked[name] = asked.get(name, 0) + 1
        return rewrite(original(name), asked[name])

    aml.standin.blob_sas = sign
    try:
        yield
    finally:
        aml.standin.blob_sas = original


def test_run_outputs_through_dropped_connections_with_one_listing(
    catalog: Catalog, aml: AmlEnvironment, tmp_path: Path
) -> None:
    azurite = port_of(aml.connection_string)
    with (
        FaultProxy(azurite, Faults(drop_after=3 * MiB, drops_left=5, reset=True)) as proxy,
        signed_links(aml, lambda url, _: url.replace(f":{azurite}/", f":{proxy.port}/")),
    ):
        uri = f"{WS_URI}/jobs/edge-1/outputs/artifacts/paths/outputs"
        result = download(catalog, uri, tmp_path, options=FAST)
        assert proxy.drops == 5
    got = files_under(tmp_path / "outputs")
    expected = {name[len("outputs/") :]: data for name, data in EDGE.items()}
    assert got == {name: data for name, data in expected.items() if name != "bad-md5.txt"}
    assert [(f.path, f.reason[:23]) for f in result.failures] == [
        (str(tmp_path / "outputs" / "bad-md5.txt"), "Content-MD5 check faile")
    ]
    assert (result.files, result.bytes) == (len(EDGE) - 1, sum(map(len, got.values())))
    # One listing request for the whole folder, no request per file.
    assert len(aml.standin.calls("prefix/contentinfo")) == 1
    assert aml.standin.calls("GET .*/artifacts/contentinfo/") == []


def test_expired_links_of_the_listing_are_renewed_one_by_one(
    catalog: Catalog, aml: AmlEnvironment, tmp_path: Path
) -> None:
    def expired_first(url: str, asked: int) -> str:
        return url.replace("sig=", "sig=AAAA") if asked == 1 else url

    with signed_links(aml, expired_first):
        uri = f"{WS_URI}/jobs/edge-1/outputs/artifacts/paths/outputs/small"
        result = download(catalog, uri, tmp_path, options=FAST)
    assert (result.files, result.failures) == (40, ())
    assert files_under(tmp_path / "small") == {
        name[len("outputs/small/") :]: data
        for name, data in EDGE.items()
        if name.startswith("outputs/small/")
    }
    assert len(aml.standin.calls("GET .*/artifacts/contentinfo/")) == 40


def test_a_blob_replaced_while_read_through_its_link_fails_the_read(
    aml: AmlEnvironment,
) -> None:
    from azure.storage.blob import BlobServiceClient

    name = "edge/changing.bin"
    container = BlobServiceClient.from_connection_string(
        aml.connection_string
    ).get_container_client(ARTIFACT_CONTAINER)
    container.upload_blob(name, b"a" * (3 * MiB), overwrite=True)
    reader = open_signed(aml.standin.blob_sas(name), "edge://changing", first_bytes=MiB)
    assert (reader.size, reader.read_range(0, 10)) == (3 * MiB, b"a" * 10)
    assert reader.md5 is not None and reader.etag
    container.upload_blob(name, b"b" * (3 * MiB), overwrite=True)
    with pytest.raises(CorruptArtifact, match="changed"):
        reader.read_range(2 * MiB, 10)
    container.upload_blob("edge/empty.bin", b"", overwrite=True)
    empty = open_signed(aml.standin.blob_sas("edge/empty.bin"), "edge://empty")
    assert (empty.size, empty.read_range(0, 10)) == (0, b"")
