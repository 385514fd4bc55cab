"""The files a training run leaves in outputs/, each written by the library people use."""

from __future__ import annotations

import os
import pickle
import shlex
import warnings
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch

from ._files import iso, write_bytes
from .models import SimpleNet


def write_pickle(path: Path, value: Any) -> Path:
    return write_bytes(path, pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))


def write_hdf5(path: Path, created: datetime) -> Path:
    rng = np.random.default_rng(42)
    data = rng.normal(loc=0.0, scale=1.0, size=(1000, 100))
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        f.attrs["created"] = iso(created)
        f.attrs["created_by"] = "prep.py"
        f.attrs["source"] = "azureml://datastores/workspaceblobstore/paths/raw_logs/"
        dataset = f.create_dataset("my_dataset", data=data)
        dataset.attrs["description"] = "1000 samples x 100 standardized features"
        dataset.attrs["normalization"] = "zscore"
        dataset.attrs["seed"] = 42
        metadata = f.create_group("metadata")
        metadata.attrs["version"] = 2
        metadata.create_dataset("feature_means", data=data.mean(axis=0))
        names = [f"feature_{i:03d}" for i in range(data.shape[1])]
        metadata.create_dataset("feature_names", data=names, dtype=h5py.string_dtype())
    return path


def write_torch_whole_model(path: Path, model: SimpleNet) -> Path:
    """Pickles the class by reference: loading needs pyserver.demo.models importable."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model, path)
    return path


def write_torch_checkpoints(outputs: Path, model: SimpleNet) -> None:
    """The three ways people save a model: whole module, state_dict, TorchScript."""
    write_torch_whole_model(outputs / "simple_model.pth", model)
    torch.save(model.state_dict(), outputs / "simple_model_weights.pth")
    with warnings.catch_warnings():
        # TorchScript is deprecated but still what many saved models are: the demo needs one.
        warnings.filterwarnings("ignore", message="`torch.jit", category=DeprecationWarning)
        torch.jit.save(torch.jit.script(model), str(outputs / "model_scripted.pt"))


class _ShellCommandOnLoad:
    """Pickles to a call of os.system: unpickling the file runs the command."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple[Callable[[str], int], tuple[str]]:
        return (os.system, (self.command,))


def canary_path(evil_pickle: Path) -> Path:
    """The file the malicious pickle's command would create: it must never exist."""
    return evil_pickle.with_name("evil_pkl_was_loaded.txt")


def write_evil_pickle(path: Path) -> Path:
    canary = canary_path(path).resolve()
    quoted = f'"{canary}"' if os.name == "nt" else shlex.quote(str(canary))
    return write_bytes(path, pickle.dumps(_ShellCommandOnLoad(f"echo 'this ran' > {quoted}")))
