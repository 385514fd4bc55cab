"""The demo workspace generator, checked with the real libraries that read its files."""

from __future__ import annotations

import csv
import json
import pickletools
import re
import subprocess
import sys
import zipfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from pyserver.demo import WORKSPACE_FORMAT, _check_destination, create_demo_workspace

h5py = pytest.importorskip("h5py")
torch = pytest.importorskip("torch")
Image = pytest.importorskip("PIL.Image")

NOW = datetime.now(timezone.utc).replace(microsecond=0)
STATE_DICT_KEYS = {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"}


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("demo") / "workspace"
    assert create_demo_workspace(target, now=NOW) == target
    return target


def read_json(path: Path) -> dict:
    value = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(value, dict), path
    return value


def runs(root: Path, experiment: str) -> dict[str, dict]:
    folder = root / "experiments" / experiment
    return {run.name: read_json(run / "run.json") for run in sorted(folder.iterdir())}


def parse_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)


def newest_completed(root: Path) -> Path:
    completed = {
        k: v for k, v in runs(root, "train-classifier").items() if v["status"] == "Completed"
    }
    run_id = max(completed, key=lambda k: completed[k]["start_time"])
    return root / "experiments" / "train-classifier" / run_id


def pickle_globals(data: bytes) -> list[tuple[str, str]]:
    """The (module, name) pairs a pickle would import, read at the opcode level."""
    found, strings = [], []
    for opcode, arg, _ in pickletools.genops(data):
        if opcode.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE"):
            strings.append(arg)
        elif opcode.name == "STACK_GLOBAL":
            found.append((strings[-2], strings[-1]))
        elif opcode.name in ("GLOBAL", "INST"):
            module, name = arg.split(" ", 1)
            found.append((module, name))
    return found


def snapshot(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_workspace_json_identifies_the_folder(root: Path) -> None:
    info = read_json(root / "workspace.json")
    assert info["format"] == WORKSPACE_FORMAT == "aml-artifacts/local-workspace"
    assert info["formatVersion"] == 1
    assert info["name"] == "demo"
    assert info["description"]


def test_train_classifier_runs_cover_the_statuses(root: Path) -> None:
    found = runs(root, "train-classifier")
    statuses = [run["status"] for run in found.values()]
    assert len(found) >= 5
    assert statuses.count("Completed") >= 2
    assert {"Failed", "Running", "Canceled"} <= set(statuses)
    for run_id, run in found.items():
        assert re.fullmatch(r"train-classifier_\d{10}_[0-9a-f]{8}", run_id)
        assert run["display_name"] and run["parent_id"] is None
        start = parse_time(run["start_time"])
        assert NOW - timedelta(days=30) < start < NOW
        if run["status"] == "Running":
            assert "end_time" not in run
        else:
            assert start < parse_time(run["end_time"])
        assert all(isinstance(v, str) for v in run["tags"].values())
        for value in run["metrics"].values():
            assert isinstance(value, (int, float)) or all(isinstance(v, float) for v in value)
    assert any(isinstance(v, list) for run in found.values() for v in run["metrics"].values())


def test_newest_completed_run_started_days_ago(root: Path) -> None:
    run = read_json(newest_completed(root) / "run.json")
    assert timedelta(days=2) < NOW - parse_time(run["start_time"]) < timedelta(days=4)
    assert 0.8 < run["metrics"]["accuracy"] <= 1.0
    log = (newest_completed(root) / "logs" / "std_log.txt").read_text()
    assert "epoch  40/40" in log and "Saved outputs/simple_model.pth" in log


def test_failed_run_log_has_a_traceback(root: Path) -> None:
    experiment = root / "experiments" / "train-classifier"
    (failed,) = [k for k, v in runs(root, "train-classifier").items() if v["status"] == "Failed"]
    log = (experiment / failed / "logs" / "std_log.txt").read_text()
    assert "Traceback (most recent call last):" in log
    assert log.rstrip().endswith("No such file or directory: 'outputs/simple_model.pth'")


def test_other_completed_run_has_small_outputs(root: Path) -> None:
    experiment = root / "experiments" / "train-classifier"
    newest = newest_completed(root).name
    for run_id, run in runs(root, "train-classifier").items():
        if run["status"] == "Completed" and run_id != newest:
            outputs = sorted(p.name for p in (experiment / run_id / "outputs").iterdir())
            assert outputs == ["metrics.csv"]
            assert (experiment / run_id / "logs" / "std_log.txt").stat().st_size > 0


def test_hdf5_output(root: Path) -> None:
    with h5py.File(newest_completed(root) / "outputs" / "data" / "my_data.hdf5", "r") as f:
        dataset = f["my_dataset"]
        assert dataset.shape == (1000, 100)
        assert dataset.dtype == "float64"
        assert dataset.attrs["normalization"] == "zscore"
        assert f.attrs["created_by"] == "prep.py"
        assert isinstance(f["metadata"], h5py.Group)
        assert f["metadata/feature_means"].shape == (100,)
        assert f["metadata/feature_names"][0].decode() == "feature_000"


def test_state_dict_loads_with_weights_only(root: Path) -> None:
    state = torch.load(
        newest_completed(root) / "outputs" / "simple_model_weights.pth", weights_only=True
    )
    assert set(state) == STATE_DICT_KEYS
    assert tuple(state["fc1.weight"].shape) == (16, 4)


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")
def test_scripted_model_runs_forward(root: Path) -> None:
    model = torch.jit.load(str(newest_completed(root) / "outputs" / "model_scripted.pt"))
    assert tuple(model(torch.zeros(2, 4)).shape) == (2, 3)


def test_whole_module_pickles_simplenet_by_reference(root: Path) -> None:
    path = newest_completed(root) / "outputs" / "simple_model.pth"
    with zipfile.ZipFile(path) as archive:
        (data_pkl,) = [n for n in archive.namelist() if n.endswith("/data.pkl")]
        found = pickle_globals(archive.read(data_pkl))
    assert ("pyserver.demo.models", "SimpleNet") in found
    model = torch.load(path, weights_only=False)  # trusted: this test just wrote it
    weights = torch.load(path.with_name("simple_model_weights.pth"), weights_only=True)
    assert torch.equal(model.state_dict()["fc2.bias"], weights["fc2.bias"])


def test_pickled_dict_model(root: Path) -> None:
    data = (newest_completed(root) / "outputs" / "models" / "my_model.pkl").read_bytes()
    found = pickle_globals(data)
    assert ("datetime", "datetime") in found
    assert any(module.startswith("numpy") for module, _ in found)
    assert b"logistic_regression" in data


def test_evil_pickle_would_call_system_and_never_ran(root: Path) -> None:
    untrusted = newest_completed(root) / "outputs" / "untrusted"
    data = (untrusted / "evil.pkl").read_bytes()
    assert {name for _, name in pickle_globals(data)} == {"system"}
    assert b"echo 'this ran'" in data
    assert not (untrusted / "evil_pkl_was_loaded.txt").exists()
    assert [p.name for p in untrusted.iterdir()] == ["evil.pkl"]


def test_pipeline_steps_are_children_of_the_pipeline_run(root: Path) -> None:
    found = runs(root, "pipeline-train")
    (parent,) = [k for k, v in found.items() if v["parent_id"] is None]
    steps = {v["display_name"]: k for k, v in found.items() if v["parent_id"] == parent}
    assert set(steps) == {"prep_data", "train"} and len(found) == 3
    assert all(run["status"] == "Completed" for run in found.values())
    prep, train = found[steps["prep_data"]], found[steps["train"]]
    assert parse_time(prep["end_time"]) <= parse_time(train["start_time"])

    prepped = root / "experiments" / "pipeline-train" / steps["prep_data"] / "outputs" / "prepped"
    with (prepped / "train.csv").open() as f:
        assert len(list(csv.DictReader(f))) == 120
    with (prepped / "test.csv").open() as f:
        assert len(list(csv.DictReader(f))) == 30

    uri = f"azureml://jobs/{steps['prep_data']}/outputs/artifacts/paths/outputs/prepped"
    assert train["tags"]["input"] == uri
    train_dir = root / "experiments" / "pipeline-train" / steps["train"]
    assert uri in (train_dir / "logs" / "std_log.txt").read_text()
    assert (train_dir / "outputs" / "model" / "model.pth").is_file()


def test_registered_models(root: Path) -> None:
    models = root / "models"
    version = torch.__version__.split("+")[0]
    expected = {
        ("simple-torch-model", 1): {"simple_model_weights.pth"},
        ("simple-torch-model", 2): {"model.pth", "config.json"},
        ("pickle-model", 1): {"my_model.pkl"},
    }
    for (name, number), files in expected.items():
        folder = models / name / str(number)
        info = read_json(folder / "model.json")
        assert (info["name"], info["version"]) == (name, number)
        assert {p.name for p in folder.iterdir()} == files | {"model.json"}
        producer = root / "experiments" / info["experiment"] / info["run_id"]
        assert (producer / "run.json").is_file()
        if name == "simple-torch-model":
            assert (info["framework"], info["framework_version"]) == ("PyTorch", version)
    state = torch.load(models / "simple-torch-model" / "1" / "simple_model_weights.pth")
    assert set(state) == STATE_DICT_KEYS
    config = read_json(models / "simple-torch-model" / "2" / "config.json")
    assert config["classes"] == ["setosa", "versicolor", "virginica"]


def test_datasets(root: Path) -> None:
    iris = root / "datasets" / "iris"
    for number in (1, 2):
        info = read_json(iris / str(number) / "dataset.json")
        assert (info["name"], info["version"], info["type"]) == ("iris", number, "tabular")
        parse_time(info["created"])
    with (iris / "1" / "iris.csv").open() as f:
        v1 = list(csv.DictReader(f))
    with (iris / "2" / "iris.csv").open() as f:
        v2 = list(csv.DictReader(f))
    assert len(v1) == len(v2) == 150
    assert v1[0] == {
        "sepal_length": "5.1",
        "sepal_width": "3.5",
        "petal_length": "1.4",
        "petal_width": "0.2",
        "species": "setosa",
    }
    assert {row["species"] for row in v1} == {"setosa", "versicolor", "virginica"}
    assert set(v2[0]) - set(v1[0]) == {"split"}

    animals = root / "datasets" / "animals" / "1"
    assert read_json(animals / "dataset.json")["type"] == "file"
    images = sorted(animals.rglob("*.png"))
    assert {p.parent.name for p in images} == {"cats", "dogs"} and len(images) == 6
    for path in images:
        with Image.open(path) as image:
            assert image.format == "PNG" and image.size == (48, 48)


def test_datastore_top_level_folders_are_datasets(root: Path) -> None:
    store = root / "datastores" / "workspaceblobstore"
    assert {p.name for p in store.iterdir()} == {"iris", "animals", "raw_logs"}
    assert (store / "iris" / "iris.csv").read_bytes() == (
        root / "datasets" / "iris" / "1" / "iris.csv"
    ).read_bytes()
    assert len(list((store / "animals").rglob("*.png"))) == 6
    for line in next((store / "raw_logs").rglob("*.jsonl")).read_text().splitlines():
        json.loads(line)


def test_workspace_is_small(root: Path) -> None:
    total = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    assert total < 3 * 1024 * 1024


def test_regeneration_is_idempotent(root: Path) -> None:
    before = snapshot(root)
    create_demo_workspace(root, now=NOW + timedelta(hours=5))
    assert snapshot(root).keys() == before.keys()
    create_demo_workspace(root, now=NOW)
    assert snapshot(root) == before


def test_refuses_a_folder_that_is_not_a_local_workspace(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not a local workspace"):
        create_demo_workspace(tmp_path)
    (tmp_path / "workspace.json").write_text('{"format": "something-else"}')
    with pytest.raises(ValueError, match="not a local workspace"):
        create_demo_workspace(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "workspace.json"]
    with pytest.raises(ValueError, match="not a folder"):
        create_demo_workspace(tmp_path / "notes.txt")


def test_accepts_an_empty_folder(tmp_path: Path) -> None:
    _check_destination(tmp_path)  # no error: the generator may write here


def test_refuses_another_local_workspace(tmp_path: Path) -> None:
    manifest = {"format": WORKSPACE_FORMAT, "formatVersion": 1, "name": "team-mirror"}
    (tmp_path / "workspace.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="not a demo workspace"):
        create_demo_workspace(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["workspace.json"]


def test_missing_library_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(
        RuntimeError, match=r"h5py.*pip install 'azureml-artifact-explorer\[demo\]'"
    ):
        create_demo_workspace(tmp_path / "new")
    assert not (tmp_path / "new").exists()


def test_importing_the_package_does_not_import_heavy_libraries() -> None:
    code = (
        "import sys, pyserver.demo\n"
        "heavy = [m for m in ('torch', 'h5py', 'numpy', 'PIL') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    repo = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == ""
