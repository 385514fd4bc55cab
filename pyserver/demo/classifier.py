"""Experiment `train-classifier`: five runs covering the statuses people see in the studio."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from . import artifacts
from ._files import write_text
from .iris import iris_rows, train_test_split
from .runs import LogWriter, history_metrics, metrics_csv, run_id, script_preamble, write_run
from .training import TORCH_VERSION, fit_logistic_regression, synthetic_history, train_simple_net

EXPERIMENT = "train-classifier"
_PROPERTIES = {"azureml.runsource": "experiment", "azureml.git.branch": "main"}


@dataclass(frozen=True)
class ClassifierOutputs:
    run_id: str
    outputs: Path
    finished: datetime
    accuracy: float


def _tags(lr: float, epochs: int) -> dict[str, str]:
    return {"learning_rate": str(lr), "epochs": str(epochs), "optimizer": "adam"}


@dataclass(frozen=True)
class _Plan:
    index: int
    display_name: str
    status: str
    ago: timedelta
    lr: float
    epochs: int
    epochs_done: int
    seconds_per_epoch: float


# Only the newest completed run (index 3) really trains; these have made-up curves.
_PLANS = (
    _Plan(0, "amber_falcon_1", "Completed", timedelta(days=7, hours=2), 0.1, 20, 20, 14.0),
    _Plan(1, "quiet_harbor_2", "Failed", timedelta(days=5, hours=6, minutes=12), 0.05, 30, 0, 0),
    _Plan(
        2, "brisk_meadow_3", "Canceled", timedelta(days=4, hours=1, minutes=40), 0.001, 200, 37, 21
    ),
    _Plan(4, "swift_comet_5", "Running", timedelta(minutes=25), 0.005, 120, 61, 23.0),
)


def build(root: Path, now: datetime) -> ClassifierOutputs:
    exp = root / "experiments" / EXPERIMENT
    for plan in _PLANS:
        _synthetic_run(exp, now, plan)
    return _newest_completed(exp, now)


def _synthetic_run(exp: Path, now: datetime, plan: _Plan) -> None:
    rid = run_id(EXPERIMENT, plan.index, plan.ago)
    history = synthetic_history(plan.epochs, seed=plan.index, final_accuracy=0.88)
    history = history[: plan.epochs_done]
    log = LogWriter(now - plan.ago)
    command = f"train.py --epochs {plan.epochs} --lr {plan.lr}"
    script_preamble(log, rid, command, f"torch {TORCH_VERSION}")
    if plan.status == "Failed":
        log.log("Loading the initial weights from outputs/simple_model.pth", after=0.8)
        log.raw(_TRACEBACK.format(wd=f"/mnt/azureml/cr/j/{rid[-8:]}/exe/wd"))
    log.epochs(history, seconds_each=plan.seconds_per_epoch)
    if plan.status == "Canceled":
        log.log("Received SIGTERM: the run was canceled by user request", after=9, level="WARNING")
    if plan.status == "Completed":
        write_text(exp / rid / "outputs" / "metrics.csv", metrics_csv(history))
        log.log("Saved outputs/metrics.csv", after=0.3)
    log.write(exp / rid / "logs" / "std_log.txt")
    write_run(
        exp / rid,
        display_name=plan.display_name,
        status=plan.status,
        start=now - plan.ago,
        end=None if plan.status == "Running" else log.clock + timedelta(seconds=5),
        tags=_tags(plan.lr, plan.epochs),
        metrics={"learning_rate": plan.lr, **history_metrics(history)},
        properties=_PROPERTIES,
    )


def _newest_completed(exp: Path, now: datetime) -> ClassifierOutputs:
    ago, lr, epochs, display = timedelta(days=3, hours=4, minutes=5), 0.02, 40, "bright_lamp_4"
    rid = run_id(EXPERIMENT, 3, ago)
    run_dir, outputs = exp / rid, exp / rid / "outputs"
    rows = iris_rows()
    train, val = train_test_split(rows, seed=0)
    trained = train_simple_net(train, val, hidden=16, epochs=epochs, lr=lr, seed=0)
    log = LogWriter(now - ago)
    script_preamble(log, rid, f"train.py --epochs {epochs} --lr {lr}", f"torch {TORCH_VERSION}")
    log.log("Loaded 150 rows from azureml://datastores/workspaceblobstore/paths/iris/iris.csv")
    log.log(f"Train/validation split: {len(train)}/{len(val)}", after=0.1)
    log.epochs(trained.history, seconds_each=3.5)
    finished = log.clock + timedelta(seconds=5)

    regression = {**fit_logistic_regression(train), "trained_at": finished}
    artifacts.write_pickle(outputs / "models" / "my_model.pkl", regression)
    artifacts.write_hdf5(outputs / "data" / "my_data.hdf5", created=now - ago)
    artifacts.write_torch_checkpoints(outputs, trained.model.eval())
    write_text(outputs / "metrics.csv", metrics_csv(trained.history))
    artifacts.write_evil_pickle(outputs / "untrusted" / "evil.pkl")
    for name in (
        "models/my_model.pkl",
        "data/my_data.hdf5",
        "simple_model.pth",
        "simple_model_weights.pth",
        "model_scripted.pt",
        "metrics.csv",
    ):
        log.log(f"Saved outputs/{name}", after=0.2)
    log.log("Copied the vendor's file to outputs/untrusted/evil.pkl", after=0.1)
    log.write(run_dir / "logs" / "std_log.txt")

    accuracy = trained.history[-1]["val_accuracy"]
    metrics = {"learning_rate": lr, **history_metrics(trained.history)}
    write_run(
        run_dir,
        display_name=display,
        status="Completed",
        start=now - ago,
        end=log.clock + timedelta(seconds=3),
        tags=_tags(lr, epochs),
        metrics=metrics,
        properties=_PROPERTIES,
    )
    return ClassifierOutputs(rid, outputs, log.clock + timedelta(seconds=3), accuracy)


_TRACEBACK = """\
Traceback (most recent call last):
  File "{wd}/train.py", line 58, in <module>
    main()
  File "{wd}/train.py", line 41, in main
    model = torch.load(args.init_model)
            ^^^^^^^^^^^^^^^^^^^^^^^^^^^
  File "/azureml-envs/azureml_3f1e/lib/python3.10/site-packages/torch/serialization.py", \
line 1484, in load
    with _open_file_like(f, "rb") as opened_file:
         ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
  File "/azureml-envs/azureml_3f1e/lib/python3.10/site-packages/torch/serialization.py", \
line 759, in _open_file_like
    return _open_file(name_or_buffer, mode)
           ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
  File "/azureml-envs/azureml_3f1e/lib/python3.10/site-packages/torch/serialization.py", \
line 740, in __init__
    super().__init__(open(name, mode))
                     ^^^^^^^^^^^^^^^^
FileNotFoundError: [Errno 2] No such file or directory: 'outputs/simple_model.pth'
"""
