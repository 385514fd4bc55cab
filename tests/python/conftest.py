"""Shared fixtures: a demo workspace written by the real libraries (once per session) and a
small hand-made workspace for the edge cases."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import write_json

from pyserver.backends.local import WORKSPACE_FORMAT


@pytest.fixture(scope="session")
def demo_workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from pyserver.demo import create_demo_workspace

    return create_demo_workspace(tmp_path_factory.mktemp("demo") / "workspace")


@pytest.fixture
def small_workspace(tmp_path: Path) -> Path:
    """Three runs (one with two pipeline steps), one corrupt run.json, a model and a dataset."""
    root = tmp_path / "ws"
    write_json(
        root / "workspace.json", {"format": WORKSPACE_FORMAT, "formatVersion": 1, "name": "small"}
    )
    exp = root / "experiments" / "exp"
    runs = {
        "old": {
            "status": "Completed",
            "start_time": "2026-01-01T10:00:00Z",
            "end_time": "2026-01-01T10:02:03Z",
            "display_name": "old run",
        },
        "new": {
            "status": "Failed",
            "start_time": "2026-01-03T10:00:00Z",
            "end_time": "2026-01-03T10:00:30Z",
        },
        "pipe": {
            "status": "Completed",
            "start_time": "2026-01-02T10:00:00Z",
            "end_time": "2026-01-02T11:00:00Z",
        },
        "step2": {
            "status": "Completed",
            "start_time": "2026-01-02T10:30:00Z",
            "parent_id": "pipe",
            "display_name": "train",
        },
        "step1": {
            "status": "Completed",
            "start_time": "2026-01-02T10:01:00Z",
            "parent_id": "pipe",
            "display_name": "prep_data",
        },
    }
    for run_id, meta in runs.items():
        write_json(exp / run_id / "run.json", meta)
    (exp / "old" / "outputs" / "sub").mkdir(parents=True)
    (exp / "old" / "outputs" / "notes.txt").write_text("hello\nworld\n", encoding="utf-8")
    (exp / "old" / "outputs" / "sub" / "a.bin").write_bytes(bytes(range(256)) * 4)
    (exp / "broken").mkdir()
    (exp / "broken" / "run.json").write_text("{not json", encoding="utf-8")
    write_json(
        root / "models" / "m" / "1" / "model.json",
        {"framework": "PyTorch", "framework_version": "2.13.0"},
    )
    write_json(
        root / "models" / "m" / "2" / "model.json",
        {"framework": "PyTorch", "framework_version": "2.13.0"},
    )
    (root / "models" / "m" / "2" / "weights.bin").write_bytes(b"\x00" * 10)
    write_json(root / "datasets" / "iris" / "1" / "dataset.json", {"type": "tabular"})
    (root / "datasets" / "iris" / "1" / "iris.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    (root / "datastores" / "blob" / "iris").mkdir(parents=True)
    return root
