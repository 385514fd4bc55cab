"""Registered datasets and models, and the workspace's default blob datastore."""

from __future__ import annotations

import json
import random
import shutil
from datetime import datetime, timedelta
from pathlib import Path

from ._files import csv_text, iso, write_bytes, write_json, write_text
from .classifier import EXPERIMENT as CLASSIFIER_EXPERIMENT
from .classifier import ClassifierOutputs
from .images import draw_animal
from .iris import HEADER, iris_rows
from .pipeline import EXPERIMENT as PIPELINE_EXPERIMENT
from .pipeline import PipelineOutputs
from .training import TORCH_VERSION

DATASTORE = "workspaceblobstore"


def _iris_csv(version: int) -> str:
    rows = iris_rows()
    if version == 1:
        return csv_text(HEADER, rows)
    # Version 2 adds the split column a later prep script introduced.
    rng = random.Random(2)  # noqa: S311 - reproducible demo data, not security
    return csv_text(
        (*HEADER, "split"), ((*r, "test" if rng.random() < 0.2 else "train") for r in rows)
    )


def _animal_files() -> dict[str, bytes]:
    return {
        f"{kind}s/{kind}_{i + 1:02d}.png": draw_animal(kind, i)
        for kind in ("cat", "dog")
        for i in range(3)
    }


def build_datastore(root: Path) -> None:
    store = root / "datastores" / DATASTORE
    write_text(store / "iris" / "iris.csv", _iris_csv(1))
    for name, data in _animal_files().items():
        write_bytes(store / "animals" / name, data)
    for part in range(2):
        stamps = (f"2024-11-20T0{part}:{minute:02d}:00Z" for minute in range(0, 60, 15))
        events = ({"ts": ts, "level": "INFO", "event": "ingest", "rows": 50} for ts in stamps)
        text = "".join(json.dumps(event) + "\n" for event in events)
        write_text(store / "raw_logs" / "ingest" / f"part-{part:05d}.jsonl", text)


def _dataset(
    root: Path, name: str, version: int, kind: str, created: datetime, description: str
) -> Path:
    folder = root / "datasets" / name / str(version)
    source = f"azureml://datastores/{DATASTORE}/paths/{name}/"
    write_json(
        folder / "dataset.json",
        {
            "name": name,
            "version": version,
            "type": kind,
            "description": description,
            "created": iso(created),
            "tags": {"source": source},
        },
    )
    return folder


def build_datasets(root: Path, now: datetime) -> None:
    for version, days in ((1, 30), (2, 10)):
        description = "Fisher's iris measurements (150 flowers)"
        if version == 2:
            description += ", with a train/test split column"
        folder = _dataset(
            root, "iris", version, "tabular", now - timedelta(days=days), description=description
        )
        write_text(folder / "iris.csv", _iris_csv(version))
    folder = _dataset(
        root,
        "animals",
        1,
        "file",
        now - timedelta(days=21),
        description="Hand-drawn cat and dog faces, one folder per label",
    )
    for name, data in _animal_files().items():
        write_bytes(folder / name, data)


def _register(
    root: Path, name: str, version: int, files: list[Path], info: dict[str, object]
) -> None:
    folder = root / "models" / name / str(version)
    write_json(folder / "model.json", {"name": name, "version": version, **info})
    for file in files:
        shutil.copyfile(file, folder / file.name)


def build_models(root: Path, classifier: ClassifierOutputs, pipeline: PipelineOutputs) -> None:
    pytorch = {"framework": "PyTorch", "framework_version": TORCH_VERSION}
    weights = classifier.outputs / "simple_model_weights.pth"
    _register(
        root,
        "simple-torch-model",
        1,
        [weights],
        {
            **pytorch,
            "run_id": classifier.run_id,
            "experiment": CLASSIFIER_EXPERIMENT,
            "description": "SimpleNet iris classifier (state_dict)",
            "created": iso(classifier.finished + timedelta(minutes=3)),
            "tags": {"accuracy": str(classifier.accuracy)},
        },
    )
    whole = [pipeline.model_dir / "model.pth", pipeline.model_dir / "config.json"]
    _register(
        root,
        "simple-torch-model",
        2,
        whole,
        {
            **pytorch,
            "run_id": pipeline.train_run_id,
            "experiment": PIPELINE_EXPERIMENT,
            "description": "SimpleNet from the nightly pipeline (whole module + config.json)",
            "created": iso(pipeline.finished + timedelta(minutes=2)),
            "tags": {"accuracy": str(pipeline.accuracy), "stage": "production"},
        },
    )
    pickled = classifier.outputs / "models" / "my_model.pkl"
    _register(
        root,
        "pickle-model",
        1,
        [pickled],
        {
            "framework": "Custom",
            "framework_version": None,
            "run_id": classifier.run_id,
            "experiment": CLASSIFIER_EXPERIMENT,
            "description": "Logistic regression weights as a pickled dict",
            "created": iso(classifier.finished + timedelta(minutes=4)),
            "tags": {},
        },
    )
