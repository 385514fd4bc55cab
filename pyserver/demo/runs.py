"""Run folders: Azure ML style ids, run.json, and the std_log.txt a training script prints."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime, timedelta
from pathlib import Path

from ._files import csv_text, iso, write_json, write_text
from .training import Epoch

# Run ids stay the same on every regeneration (so it rewrites the same folders): their
# timestamp part counts back from this fixed instant, not from now.
_ID_EPOCH = 1732100000


def run_id(experiment: str, index: int, ago: timedelta) -> str:
    """`<experiment>_<unix time>_<8 hex>`, the id azureml-core gives a submitted run."""
    digest = hashlib.sha256(f"{experiment}/{index}".encode()).hexdigest()[:8]
    return f"{experiment}_{_ID_EPOCH - int(ago.total_seconds())}_{digest}"


def step_run_id(experiment: str, step: str) -> str:
    """Pipeline step runs get a GUID as id on Azure ML."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"aml-artifacts-demo/{experiment}/{step}"))


def write_run(
    run_dir: Path,
    *,
    display_name: str,
    status: str,
    start: datetime,
    end: datetime | None,
    parent_id: str | None = None,
    tags: dict[str, str] | None = None,
    metrics: dict[str, float | list[float]] | None = None,
    properties: dict[str, str] | None = None,
) -> Path:
    times = {"start_time": iso(start)} | ({"end_time": iso(end)} if end else {})
    write_json(
        run_dir / "run.json",
        {
            "display_name": display_name,
            "status": status,
            **times,  # a run still going has no end_time
            "parent_id": parent_id,
            "tags": tags or {},
            "metrics": metrics or {},
            "properties": properties or {},
        },
    )
    return run_dir


def history_metrics(history: list[Epoch]) -> dict[str, float | list[float]]:
    """Per-epoch lists as `run.log(name, value)` leaves them, plus the final scalars."""
    if not history:
        return {}
    metrics: dict[str, float | list[float]] = {
        name: [row[name] for row in history] for name in ("train_loss", "val_loss", "val_accuracy")
    }
    metrics["accuracy"] = history[-1]["val_accuracy"]
    metrics["best_val_accuracy"] = max(row["val_accuracy"] for row in history)
    return metrics


def metrics_csv(history: list[Epoch]) -> str:
    columns = ("epoch", "train_loss", "val_loss", "val_accuracy")
    rows = ([int(row["epoch"]), *(row[c] for c in columns[1:])] for row in history)
    return csv_text(columns, rows)


class LogWriter:
    """Builds a std_log.txt whose timestamps advance from the run's start."""

    def __init__(self, start: datetime) -> None:
        self.clock = start
        self.lines: list[str] = []

    def log(self, message: str, *, after: float = 0.4, level: str = "INFO") -> None:
        self.clock += timedelta(seconds=after)
        stamp = self.clock.strftime("%Y-%m-%d %H:%M:%S,") + f"{self.clock.microsecond // 1000:03d}"
        self.lines.append(f"{stamp} {level} {message}")

    def raw(self, text: str) -> None:
        self.lines.extend(text.rstrip("\n").split("\n"))

    def epochs(self, history: list[Epoch], *, seconds_each: float) -> None:
        for row in history:
            self.log(
                f"epoch {int(row['epoch']):3d}/{len(history)}"
                f"  train_loss={row['train_loss']:.4f}  val_loss={row['val_loss']:.4f}"
                f"  val_accuracy={row['val_accuracy']:.4f}",
                after=seconds_each,
            )

    def write(self, path: Path) -> Path:
        return write_text(path, "\n".join(self.lines) + "\n")


def script_preamble(log: LogWriter, run: str, script: str, framework: str) -> None:
    log.log(f"Starting the job {run}", after=2.1)
    log.log(f"Working directory: /mnt/azureml/cr/j/{run[-8:]}/exe/wd", after=0.2)
    log.log(f"Running: python {script}", after=0.3)
    log.log(f"Python 3.10.14, {framework}, device: cpu", after=3.7)
