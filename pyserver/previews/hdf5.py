"""HDF5 files, through h5py over the ranged reader."""

from __future__ import annotations

from typing import Any

from .budget import BudgetedReader, ReaderFile
from .markdown import code_span, escape
from .section import Section

HDF5_ITEMS = 40


def preview_hdf5(reader: BudgetedReader, kind: str) -> Section:
    try:
        import h5py
    except ImportError:
        return Section("hdf5", "HDF5 file", ["Install h5py to see its groups and datasets."])
    rows: list[str] = []
    with h5py.File(ReaderFile(reader), "r") as handle:
        handle.visititems(lambda name, item: _hdf5_row(rows, name, item))
    datasets = sum(1 for row in rows if "dataset" in row)
    shown = rows[:HDF5_ITEMS]
    return Section(
        "hdf5",
        f"HDF5 file · {datasets} datasets",
        ["\n".join(shown)],
        truncated=len(rows) > HDF5_ITEMS,
        fields={"items": len(rows)},
    )


def _hdf5_row(rows: list[str], name: str, item: Any) -> None:
    depth = name.count("/")
    label = code_span(name.rsplit("/", 1)[-1])
    if hasattr(item, "shape"):
        shape = "×".join(str(n) for n in item.shape) or "scalar"
        rows.append(f"{'  ' * depth}- {label} dataset {shape} {escape(str(item.dtype))}")
    else:
        rows.append(f"{'  ' * depth}- {label} group")
