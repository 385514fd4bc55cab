"""One reader per detected format. Each turns a budgeted reader into a `Section`: a summary
line, markdown body lines, a safety verdict and kind-specific fields. None executes anything
stored in the file."""

from __future__ import annotations

import ast
import struct
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .budget import BudgetedReader, BudgetExceeded, ReaderFile
from .markdown import code_block, code_span, escape
from .pickles import PickleScan, scan_pickle

TEXT_HEAD_BYTES = 16 * 1024
TEXT_HEAD_LINES = 20
ZIP_LISTING = 25
HDF5_ITEMS = 40


@dataclass
class Section:
    kind: str
    summary: str
    lines: list[str] = field(default_factory=list)
    verdict: str = "safe"  # formats that hold no code are safe to open
    findings: list[dict[str, Any]] = field(default_factory=list)
    fields: dict[str, Any] = field(default_factory=dict)
    truncated: bool = False


def preview_text(reader: BudgetedReader, kind: str) -> Section:
    head = reader.read_range(0, TEXT_HEAD_BYTES)
    text = head.decode("utf-8", errors="replace")
    lines = text.splitlines()
    shown = lines[:TEXT_HEAD_LINES]
    truncated = len(lines) > TEXT_HEAD_LINES or reader.size > len(head)
    more = "+" if reader.size > len(head) else ""
    summary = f"Text · {len(lines)}{more} lines"
    return Section(
        "text",
        summary,
        [code_block("\n".join(shown))],
        truncated=truncated,
        fields={"lines": shown},
    )


def preview_pickle(reader: BudgetedReader, kind: str) -> Section:
    data, truncated = _read_up_to_budget(reader)
    scan = scan_pickle(data)
    return _pickle_section("pickle", f"Pickle (protocol {scan.protocol})", scan, truncated)


def preview_zip(reader: BudgetedReader, kind: str) -> Section:
    try:
        archive = zipfile.ZipFile(ReaderFile(reader))
    except zipfile.BadZipFile as error:
        return Section("zip", f"Corrupt zip archive ({error})", verdict="unknown")
    names = archive.namelist()
    pickles = [n for n in names if n.endswith("/data.pkl") or n == "data.pkl"]
    if pickles:
        return _torch_zip(archive, names, pickles[0])
    listing = [f"- {code_span(n)}" for n in names[:ZIP_LISTING]]
    if len(names) > ZIP_LISTING:
        listing.append(f"- … {len(names) - ZIP_LISTING} more")
    return Section(
        "zip",
        f"Zip archive · {len(names)} entries",
        ["\n".join(listing)],
        verdict="unknown",
        fields={"entries": len(names)},
    )


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


def preview_numpy(reader: BudgetedReader, kind: str) -> Section:
    head = reader.read_range(0, 4096)
    major = head[6]
    length_size = 2 if major == 1 else 4
    (length,) = struct.unpack("<H" if length_size == 2 else "<I", head[8 : 8 + length_size])
    header_text = head[8 + length_size : 8 + length_size + length].decode("latin-1")
    try:
        header = ast.literal_eval(header_text)  # a dict literal: parsed, never evaluated
    except (ValueError, SyntaxError):
        return Section("numpy", "Corrupt .npy header", verdict="unknown")
    dtype, shape = str(header.get("descr")), tuple(header.get("shape", ()))
    is_object = "O" in dtype
    summary = f"NumPy array · {dtype} · shape {shape}"
    section = Section("numpy", summary, fields={"dtype": dtype, "shape": list(shape)})
    if is_object:
        section.verdict = "unknown"
        section.findings.append(
            {
                "severity": "warning",
                "message": "object array: its elements are pickled; it is never loaded",
            }
        )
    return section


def preview_image(reader: BudgetedReader, kind: str) -> Section:
    head = reader.read_range(0, 32)
    size = None
    if kind == "png" and len(head) >= 24:
        size = struct.unpack(">II", head[16:24])
    elif kind == "gif" and len(head) >= 10:
        size = struct.unpack("<HH", head[6:10])
    dims = f" · {size[0]}×{size[1]}" if size else ""
    return Section(
        kind,
        f"{kind.upper()} image{dims}",
        fields={"width": size[0], "height": size[1]} if size else {},
    )


def preview_binary(reader: BudgetedReader, kind: str) -> Section:
    head = reader.read_range(0, 64)
    hex_head = " ".join(f"{byte:02x}" for byte in head)
    labels = {
        "gzip": "Gzip-compressed data",
        "bzip2": "Bzip2-compressed data",
        "xz": "XZ-compressed data",
        "zstd": "Zstandard-compressed data",
        "parquet": "Parquet table",
        "tar": "Tar archive",
        "torch-legacy": "PyTorch checkpoint (legacy format)",
        "jpeg": "JPEG image",
    }
    verdict = "unknown" if kind in ("gzip", "bzip2", "xz", "zstd", "torch-legacy") else "safe"
    return Section(kind, labels.get(kind, "Binary data"), [code_block(hex_head)], verdict=verdict)


def _torch_zip(archive: zipfile.ZipFile, names: list[str], data_pkl: str) -> Section:
    prefix = data_pkl[: -len("data.pkl")]
    scripted = any(n.startswith(prefix + "code/") for n in names)
    storages = [n for n in names if n.startswith(prefix + "data/") and not n.endswith("/")]
    with archive.open(data_pkl) as entry:
        data = entry.read(1 << 20)
    scan = scan_pickle(data)
    if scripted:
        title = "TorchScript archive"
    else:
        title = f"PyTorch checkpoint (zip) · {len(storages)} storages"
    section = _pickle_section("torchscript" if scripted else "torch-zip", title, scan, False)
    section.fields["storages"] = len(storages)
    return section


def _pickle_section(kind: str, title: str, scan: PickleScan, truncated: bool) -> Section:
    imported = list(dict.fromkeys(scan.globals))
    lines = [
        f"**imports** {', '.join(code_span(g) for g in imported[:12])}"
        if imported
        else "imports nothing"
    ]
    if scan.error:
        lines.append(f"stopped at a malformed opcode: {escape(scan.error)}")
    return Section(
        kind,
        title,
        lines,
        verdict=scan.verdict,
        findings=scan.findings(),
        truncated=truncated or not scan.complete,
        fields={"protocol": scan.protocol, "globals": imported},
    )


def _hdf5_row(rows: list[str], name: str, item: Any) -> None:
    depth = name.count("/")
    label = code_span(name.rsplit("/", 1)[-1])
    if hasattr(item, "shape"):
        shape = "×".join(str(n) for n in item.shape) or "scalar"
        rows.append(f"{'  ' * depth}- {label} dataset {shape} {escape(str(item.dtype))}")
    else:
        rows.append(f"{'  ' * depth}- {label} group")


def _read_up_to_budget(reader: BudgetedReader) -> tuple[bytes, bool]:
    chunks, offset = [], 0
    try:
        while offset < reader.size:
            chunk = reader.read_range(offset, 64 * 1024)
            chunks.append(chunk)
            offset += len(chunk)
    except BudgetExceeded:
        return b"".join(chunks), True
    return b"".join(chunks), False


READERS: dict[str, Callable[[BudgetedReader, str], Section]] = {
    "text": preview_text,
    "pickle": preview_pickle,
    "zip": preview_zip,
    "hdf5": preview_hdf5,
    "numpy": preview_numpy,
    "png": preview_image,
    "gif": preview_image,
}
