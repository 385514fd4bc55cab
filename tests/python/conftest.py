"""Shared fixtures: a demo workspace written by the real libraries (once per session) and a
small hand-made workspace for the edge cases."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


# -- Azurite: a real blob storage emulator, one per session ----------------------------------

BLOB_CONTAINER = "artifacts"
MANY_BLOBS = 1200
REMOTE_MB = 24


@dataclass(frozen=True)
class RemoteStore:
    """Azurite with the session's fixtures uploaded; `settings` names it datastore "remote"."""

    connection_string: str
    container: str
    files: dict[str, bytes | Path]  # blob name → content (small) or local copy (big)

    def datastore(self, name: str = "remote", **override: Any) -> dict[str, Any]:
        return {
            "name": name,
            "container": self.container,
            "connectionString": self.connection_string,
            **override,
        }


@pytest.fixture(scope="session")
def azurite_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RemoteStore]:
    from azurite import azurite

    folder = tmp_path_factory.mktemp("azurite")
    with azurite(folder / "data") as connection_string:
        files = _remote_fixtures(folder / "fixtures")
        _upload(connection_string, BLOB_CONTAINER, files)
        yield RemoteStore(connection_string, BLOB_CONTAINER, files)


@pytest.fixture
def block_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh block cache for one test (never the user's ~/.cache)."""
    folder = tmp_path / "block-cache"
    monkeypatch.setenv("AML_ARTIFACTS_BLOCK_CACHE", str(folder))
    return folder


def _remote_fixtures(folder: Path) -> dict[str, bytes | Path]:
    files: dict[str, bytes | Path] = {
        f"many/file-{index:04d}.txt": f"blob {index}\n".encode() for index in range(MANY_BLOBS)
    }
    files.update(
        {
            "top.txt": b"at the top\n",
            "nested/e.txt": b"e\n",
            "nested/a/d.txt": b"d\n",
            "nested/a/b/c.txt": b"c\n",
            "nested/a/b/deeper/f.txt": b"f\n",
            "download/small.txt": b"hello remote\n",
            "download/sub/big.bin": bytes(range(256)) * (12 * 1024 + 17),  # 3 MiB + a bit
            "download/sub/empty.bin": b"",
        }
    )
    folder.mkdir(parents=True, exist_ok=True)
    files["outputs/data.h5"] = _make_hdf5(folder / "data.h5", REMOTE_MB << 20)
    files["outputs/model.pt"] = _make_checkpoint(folder / "model.pt", REMOTE_MB << 20)
    return files


def _make_hdf5(path: Path, target: int) -> Path:
    import h5py
    import numpy as np

    rng = np.random.default_rng(0)
    rows = target // (2 * 256 * 4)
    with h5py.File(path, "w") as f:
        f.attrs["created"] = "2026-01-01T00:00:00Z"
        for name in ("train", "val"):
            group = f.create_group(name)
            group.attrs["rows"] = rows
            data = group.create_dataset(
                "features", shape=(rows, 256), dtype="f4", chunks=(512, 256)
            )
            for start in range(0, rows, 4096):
                stop = min(rows, start + 4096)
                data[start:stop] = rng.standard_normal((stop - start, 256), dtype=np.float32)
            group.create_dataset("labels", data=np.arange(rows) % 10)
        meta = f.create_group("meta")
        meta.create_dataset("class_names", data=[f"class-{i}" for i in range(10)])
    return path


def _make_checkpoint(path: Path, target: int) -> Path:
    import torch

    generator = torch.Generator().manual_seed(0)
    layers = 20
    rows = max(1, target // (layers * 512 * 4))
    model = {
        f"layers.{i}.weight": torch.randn(rows, 512, generator=generator) for i in range(layers)
    }
    model.update({f"layers.{i}.bias": torch.zeros(rows) for i in range(layers)})
    torch.save({"epoch": 3, "model": model, "config": {"lr": 1e-3}}, path)
    return path


def _upload(connection_string: str, container: str, files: dict[str, bytes | Path]) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from azure.storage.blob import BlobServiceClient

    service = BlobServiceClient.from_connection_string(connection_string)
    client = service.create_container(container)

    def put(item: tuple[str, bytes | Path]) -> None:
        name, content = item
        if isinstance(content, Path):
            with content.open("rb") as stream:
                client.upload_blob(name, stream, overwrite=True, max_concurrency=4)
        else:
            client.upload_blob(name, content, overwrite=True)

    with ThreadPoolExecutor(10) as pool:
        list(pool.map(put, files.items()))
