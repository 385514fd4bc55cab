"""Writes the demo local workspace (docs/local-workspace.md) with the real libraries.

Importing this package stays cheap: torch, h5py, numpy and Pillow are imported only
when a workspace is generated.
"""

from __future__ import annotations

import importlib
import json
from datetime import datetime, timezone
from pathlib import Path

from ._files import write_json

__all__ = ["WORKSPACE_FORMAT", "create_demo_workspace"]

WORKSPACE_FORMAT = "aml-artifacts/local-workspace"
DEMO_NAME = "demo"
_REQUIRED = (("torch", "torch"), ("h5py", "h5py"), ("numpy", "numpy"), ("PIL", "pillow"))


def create_demo_workspace(root: Path, *, now: datetime | None = None) -> Path:
    """Write (or regenerate in place) the demo workspace under `root` and return `root`.

    `now` anchors the run times ("3 days ago"); it defaults to the current time.
    """
    _require_libraries()
    root = Path(root)
    _check_destination(root)
    moment = (now or datetime.now(timezone.utc)).astimezone(timezone.utc).replace(microsecond=0)

    import torch

    from . import assets, classifier, pipeline

    root.mkdir(parents=True, exist_ok=True)
    write_json(
        root / "workspace.json",
        {
            "format": WORKSPACE_FORMAT,
            "formatVersion": 1,
            "name": DEMO_NAME,
            "description": "Demo workspace written by `aml-artifacts demo-workspace`: runs, "
            "a pipeline, datasets, models and a datastore, all made with the real libraries.",
        },
    )
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: one thread is faster and bit-reproducible
    try:
        newest = classifier.build(root, moment)
        trained = pipeline.build(root, moment)
    finally:
        torch.set_num_threads(threads)
    assets.build_datastore(root)
    assets.build_datasets(root, moment)
    assets.build_models(root, newest, trained)
    return root


def _require_libraries() -> None:
    missing = []
    for module, package in _REQUIRED:
        try:
            importlib.import_module(module)
        except ImportError:
            missing.append(package)
    if missing:
        raise RuntimeError(
            f"The demo workspace is written with {', '.join(missing)}, which "
            f"{'is' if len(missing) == 1 else 'are'} not installed: "
            "pip install 'azureml-artifact-explorer[demo]'"
        )


def _check_destination(root: Path) -> None:
    """Only a new or empty folder, or an earlier demo workspace, may be written into."""
    if root.exists() and not root.is_dir():
        raise ValueError(f"{root} exists and is not a folder")
    if not root.exists() or not any(root.iterdir()):
        return
    manifest = root / "workspace.json"
    try:
        info = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        info = None
    if not isinstance(info, dict) or info.get("format") != WORKSPACE_FORMAT:
        raise ValueError(
            f"{root} is not empty and is not a local workspace (no workspace.json with "
            f'"format": "{WORKSPACE_FORMAT}"): choose a new or empty folder'
        )
    if info.get("name") != DEMO_NAME:
        raise ValueError(
            f"{root} is the local workspace {info.get('name')!r}, not a demo workspace: "
            "the demo would overwrite its files; choose a new or empty folder"
        )
