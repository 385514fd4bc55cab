"""safetensors files: an 8-byte little-endian header length, a JSON header naming every
tensor (dtype, shape, byte range), then the raw bytes. Nothing in it is code."""

from __future__ import annotations

import json
import math
import struct
from typing import Any

from ..errors import CorruptArtifact
from .budget import BudgetedReader, BudgetExceeded
from .markdown import code_span, escape, table
from .section import Section
from .stats import HEAD, array_stats, format_stats, values_block, widen_bfloat16

MAX_HEADER = 100_000_000  # the safetensors library's own limit
LISTED = 40
SAMPLED_MAX_BYTES = 64 * 1024  # tensors at most this big get a head and statistics
SAMPLED = 8
ITEMSIZE = {
    "BOOL": 1,
    "U8": 1,
    "I8": 1,
    "F8_E4M3": 1,
    "F8_E5M2": 1,
    "F8_E8M0": 1,
    "I16": 2,
    "U16": 2,
    "F16": 2,
    "BF16": 2,
    "I32": 4,
    "U32": 4,
    "F32": 4,
    "I64": 8,
    "U64": 8,
    "F64": 8,
    "C64": 8,
}
_NUMPY = {
    "BOOL": "|b1",
    "U8": "|u1",
    "I8": "|i1",
    "I16": "<i2",
    "U16": "<u2",
    "F16": "<f2",
    "I32": "<i4",
    "U32": "<u4",
    "F32": "<f4",
    "I64": "<i8",
    "U64": "<u8",
    "F64": "<f8",
}


def looks_like_safetensors(head: bytes, size: int | None = None) -> bool:
    """An 8-byte little-endian length N, then `{"` (or `{}`); N fits in the file."""
    if len(head) < 10 or head[8:9] != b"{" or head[9:10] not in (b'"', b"}", b" "):
        return False
    (length,) = struct.unpack("<Q", head[:8])
    return 2 <= length <= MAX_HEADER and (size is None or length + 8 <= size)


def preview_safetensors(reader: BudgetedReader, kind: str) -> Section:
    head = reader.read_range(0, 8)
    if len(head) < 8:
        raise CorruptArtifact("Corrupt safetensors file: shorter than its 8-byte header length.")
    (length,) = struct.unpack("<Q", head)
    if length > MAX_HEADER or length + 8 > reader.size:
        raise CorruptArtifact(
            f"Corrupt safetensors file: the header claims {length} bytes but the file has "
            f"{reader.size}. The file may be truncated."
        )
    raw = reader.read_range(8, length)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise CorruptArtifact(
            f"Corrupt safetensors file: its header is not JSON ({error}). "
            "The file may be truncated or corrupt."
        ) from None
    if not isinstance(header, dict):
        raise CorruptArtifact("Corrupt safetensors file: its header is not a JSON object.")
    data_start, data_size = 8 + length, reader.size - 8 - length
    metadata = header.pop("__metadata__", None)
    tensors, problems = _tensors(header, data_size)
    section = _section(tensors, metadata, problems, data_size)
    _sample(reader, tensors, data_start, section)
    return section


def _tensors(header: dict[str, Any], data_size: int) -> tuple[list[dict[str, Any]], list[str]]:
    tensors: list[dict[str, Any]] = []
    problems: list[str] = []
    for name, info in header.items():
        if not isinstance(info, dict):
            problems.append(f"{name!r:.80}: entry is not an object")
            continue
        dtype, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
        if (
            not isinstance(dtype, str)
            or not isinstance(shape, list)
            or not all(isinstance(n, int) and n >= 0 for n in shape)
            or not isinstance(offsets, list)
            or len(offsets) != 2
            or not all(isinstance(n, int) for n in offsets)
        ):
            problems.append(f"{name!r:.80}: malformed dtype, shape or data_offsets")
            continue
        numel = math.prod(shape)
        begin, end = offsets
        tensor = {
            "name": name,
            "dtype": dtype,
            "shape": shape,
            "numel": numel,
            "begin": begin,
            "end": end,
        }
        itemsize = ITEMSIZE.get(dtype)
        if itemsize is None:
            problems.append(f"{name!r:.80}: unknown dtype {dtype!r:.20}")
        elif end - begin != numel * itemsize:
            problems.append(
                f"{name!r:.80}: byte range holds {end - begin} bytes, shape needs "
                f"{numel * itemsize}"
            )
        if not 0 <= begin <= end <= data_size:
            problems.append(f"{name!r:.80}: byte range {begin}–{end} is outside the data")
            tensor["invalid"] = True
        tensors.append(tensor)
    tensors.sort(key=lambda t: (t["begin"], t["name"]))
    return tensors, problems


def _section(
    tensors: list[dict[str, Any]], metadata: Any, problems: list[str], data_size: int
) -> Section:
    params = sum(t["numel"] for t in tensors)
    dtypes: dict[str, int] = {}
    for tensor in tensors:
        dtypes[tensor["dtype"]] = dtypes.get(tensor["dtype"], 0) + tensor["numel"]
    dtype_summary = ", ".join(f"{d}" for d in sorted(dtypes, key=lambda d: -dtypes[d])[:3])
    summary = f"safetensors · {len(tensors)} tensors · {_count(params)} values"
    if dtype_summary:
        summary += f" · {dtype_summary}"
    rows = []
    for tensor in tensors[:LISTED]:
        shape = "×".join(str(n) for n in tensor["shape"]) or "scalar"
        rows.append(
            [
                code_span(tensor["name"]),
                escape(tensor["dtype"], 20),
                shape,
                f"{tensor['numel']:,}",
                f"{tensor['begin']}–{tensor['end']}",
            ]
        )
    if len(tensors) > LISTED:
        rows.append([f"… {len(tensors) - LISTED} more", "", "", "", ""])
    lines = []
    if isinstance(metadata, dict) and metadata:
        meta_rows = [
            [code_span(str(k), 80), escape(str(v), 200)] for k, v in list(metadata.items())[:12]
        ]
        if len(metadata) > 12:
            meta_rows.append(["…", f"{len(metadata) - 12} more"])
        lines.append("**metadata**\n\n" + table(["key", "value"], meta_rows))
    lines.append(
        table(["tensor", "dtype", "shape", "values", "bytes"], rows) if rows else "no tensors"
    )
    fields: dict[str, Any] = {
        "tensors": tensors[:500],
        "tensorCount": len(tensors),
        "values": params,
        "dataBytes": data_size,
        "dtypes": dtypes,
    }
    if isinstance(metadata, dict):
        fields["metadata"] = {str(k)[:200]: str(v)[:1000] for k, v in list(metadata.items())[:50]}
    section = Section("safetensors", summary, lines, fields=fields, truncated=len(tensors) > LISTED)
    for problem in problems[:10]:
        section.findings.append({"severity": "warning", "message": problem})
    if metadata is not None and not isinstance(metadata, dict):
        section.findings.append({"severity": "warning", "message": "__metadata__ is not an object"})
    return section


def _sample(
    reader: BudgetedReader, tensors: list[dict[str, Any]], data_start: int, section: Section
) -> None:
    import numpy as np

    shown = 0
    for tensor in tensors:
        if shown >= SAMPLED:
            break
        size = tensor["end"] - tensor["begin"]
        dtype = _NUMPY.get(tensor["dtype"]) or ("<u2" if tensor["dtype"] == "BF16" else None)
        if (
            dtype is None
            or tensor.get("invalid")
            or size == 0
            or size > SAMPLED_MAX_BYTES
            or size != tensor["numel"] * ITEMSIZE[tensor["dtype"]]
        ):
            continue
        try:
            data = reader.read_range(data_start + tensor["begin"], size)
        except BudgetExceeded:
            section.truncated = True
            return
        array = np.frombuffer(data, dtype=dtype)
        if tensor["dtype"] == "BF16":  # the top half of a float32
            array = widen_bfloat16(array)
        array = array.reshape(tensor["shape"])
        stats = array_stats(array)
        if stats:
            tensor["stats"] = stats
        shown += 1
        head = array if array.ndim == 0 else array.reshape(-1)[:HEAD]
        title = f"**{code_span(tensor['name'])}**"
        if stats:
            title += f" · {escape(format_stats(stats))}"
        section.lines.append(f"{title}\n\n{values_block(head)}")


def _count(values: int) -> str:
    for limit, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if values >= limit:
            return f"{values / limit:.1f} {unit}"
    return str(values)
