"""Experiment `pipeline-train`: a pipeline run whose steps prep_data -> train are child runs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from . import artifacts
from ._files import csv_text, write_json, write_text
from .iris import HEADER, SPECIES, iris_rows, train_test_split
from .runs import LogWriter, history_metrics, run_id, script_preamble, step_run_id, write_run
from .training import TORCH_VERSION, train_simple_net

EXPERIMENT = "pipeline-train"


@dataclass(frozen=True)
class PipelineOutputs:
    train_run_id: str
    model_dir: Path
    finished: datetime
    accuracy: float


def job_output_uri(run: str, path: str) -> str:
    return f"azureml://jobs/{run}/outputs/artifacts/paths/{path}"


def build(root: Path, now: datetime) -> PipelineOutputs:
    exp = root / "experiments" / EXPERIMENT
    start = now - timedelta(days=1, hours=20, minutes=30)
    parent = run_id(EXPERIMENT, 0, now - start)
    prep, train = step_run_id(EXPERIMENT, "prep_data"), step_run_id(EXPERIMENT, "train")
    step = {"azureml.runsource": "azureml.StepRun", "azureml.pipelinerunid": parent}

    prep_end = _prep_data(exp / prep, start + timedelta(seconds=40), parent, step)
    prepped = job_output_uri(prep, "outputs/prepped")
    model = _train(exp / train, prep_end + timedelta(seconds=25), parent, step, prepped)

    log = LogWriter(start)
    log.log(f"Submitted pipeline run {parent}", after=1.0)
    for name, step_id, ended in (("prep_data", prep, prep_end), ("train", train, model.finished)):
        log.log(f"Step {name} [{step_id}] status: Completed", after=(ended - log.clock).seconds)
    log.write(exp / parent / "logs" / "execution.txt")
    write_run(
        exp / parent,
        display_name="iris-training-pipeline",
        status="Completed",
        start=start,
        end=model.finished + timedelta(seconds=8),
        tags={"schedule": "nightly", "azureml.pipelineComponent": "pipelinerun"},
        metrics={"accuracy": model.accuracy},
        properties={"azureml.runsource": "azureml.PipelineRun"},
    )
    return model


def _prep_data(run_dir: Path, start: datetime, parent: str, props: dict[str, str]) -> datetime:
    train, test = train_test_split(iris_rows(), seed=3)
    outputs = run_dir / "outputs" / "prepped"
    write_text(outputs / "train.csv", csv_text(HEADER, train))
    write_text(outputs / "test.csv", csv_text(HEADER, test))
    log = LogWriter(start)
    script_preamble(log, run_dir.name, "prep.py --output outputs/prepped", "pandas 2.2.3")
    log.log("Read 150 rows from azureml://datastores/workspaceblobstore/paths/iris/iris.csv")
    log.log(f"Wrote outputs/prepped/train.csv ({len(train)} rows)", after=0.2)
    log.log(f"Wrote outputs/prepped/test.csv ({len(test)} rows)", after=0.1)
    log.write(run_dir / "logs" / "std_log.txt")
    end = log.clock + timedelta(seconds=3)
    write_run(
        run_dir,
        display_name="prep_data",
        status="Completed",
        start=start,
        end=end,
        parent_id=parent,
        metrics={"train_rows": len(train), "test_rows": len(test)},
        properties=props,
    )
    return end


def _train(
    run_dir: Path, start: datetime, parent: str, props: dict[str, str], prepped: str
) -> PipelineOutputs:
    train, test = train_test_split(iris_rows(), seed=3)
    epochs, lr, hidden = 50, 0.02, 32
    trained = train_simple_net(train, test, hidden=hidden, epochs=epochs, lr=lr, seed=1)
    model_dir = run_dir / "outputs" / "model"
    model_dir.mkdir(parents=True, exist_ok=True)
    artifacts.write_torch_whole_model(model_dir / "model.pth", trained.model.eval())
    config = {
        "in_features": 4,
        "hidden": hidden,
        "num_classes": len(SPECIES),
        "classes": list(SPECIES),
        "mean": trained.mean,
        "std": trained.std,
    }
    write_json(model_dir / "config.json", config)
    log = LogWriter(start)
    script_preamble(log, run_dir.name, f"train.py --data {prepped}", f"torch {TORCH_VERSION}")
    log.log(f"Input 'prepped' mounted from {prepped}", after=1.6)
    log.log(f"Loaded train.csv ({len(train)} rows) and test.csv ({len(test)} rows)")
    log.epochs(trained.history, seconds_each=2.5)
    log.log("Saved outputs/model/model.pth and outputs/model/config.json", after=0.4)
    log.write(run_dir / "logs" / "std_log.txt")
    end = log.clock + timedelta(seconds=4)
    write_run(
        run_dir,
        display_name="train",
        status="Completed",
        start=start,
        end=end,
        parent_id=parent,
        tags={"input": prepped, "learning_rate": str(lr)},
        metrics=history_metrics(trained.history),
        properties=props,
    )
    return PipelineOutputs(run_dir.name, model_dir, end, trained.history[-1]["val_accuracy"])
