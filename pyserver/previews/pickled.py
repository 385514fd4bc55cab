"""Pickle files (plain, or gzip/bzip2/xz/zstd-compressed): read by pickle_vm, never loaded.

The preview is a structure tree of the description pickle_vm rebuilds: types, dict keys,
lengths, scalars, numpy arrays as dtype + shape (+ values when small, rebuilt from the raw
bytes with numpy.frombuffer), pandas frames as shape + columns, other objects as
`module.Class` with their state fields. `describe` and `summarize` are reused by the PyTorch
previewer. Every string that comes from the file is escaped (markdown.py).
"""

from __future__ import annotations

import bz2
import datetime
import io
import lzma
import math
import re
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .binary import preview_binary
from .budget import BudgetedReader, BudgetExceeded
from .markdown import code_span, escape, format_size
from .pickle_model import Call, ExtensionRef, Global, PersistentRef
from .pickle_vm import (
    OutOfBandBuffer,
    PickleError,
    Skipped,
    Truncated,
    Unpickled,
    looks_like_pickle,
    read_pickles,
    read_pickles_from,
)
from .safety import assess, render
from .section import Section, read_up_to_budget

__all__ = [
    "COMPRESSIONS",
    "describe",
    "preview_pickle",
    "structure",
    "summarize",
]

COMPRESSIONS = {"gzip": "gzip", "bzip2": "bzip2", "xz": "xz", "zstd": "zstd"}
_MAX_INFLATED = 8 << 20
_MAX_PICKLES_SHOWN = 8
_MAX_LINES = 160
_MAX_NODES = 400
_SMALL_ARRAY = 64  # arrays with at most this many elements show their values


# -- the preview ---------------------------------------------------------------------------


def preview_pickle(reader: BudgetedReader, kind: str) -> Section:
    """kind "pickle", or a compressed kind whose content may be a pickle."""
    compression = COMPRESSIONS.get(kind)
    if compression is None:
        return _sparse_section(reader)
    data, truncated = read_up_to_budget(reader)
    cap = min(4 * reader.budget.max_bytes, _MAX_INFLATED)
    inflated, cut, problem = _inflate(compression, data, cap)
    if not looks_like_pickle(inflated[:4096], whole=len(inflated) <= 4096):
        section = preview_binary(reader, kind)
        note = f"decompressed {format_size(len(inflated))}: not a pickle"
        if problem:
            note += f" ({problem})"
        section.lines.append(escape(note, 300))
        section.fields["compression"] = compression
        return section
    # Decompressed data is in memory: read as a whole (no sparse reading).
    return pickle_file_section(inflated, truncated or cut, compression, reader.deadline)


def _sparse_section(reader: BudgetedReader) -> Section:
    """A plain pickle file read through ranged reads: only the windows its opcodes need; big
    string and bytes arguments (array data) are jumped over, never fetched."""
    refused = False

    def fetch(offset: int, length: int) -> bytes:
        nonlocal refused
        length = min(length, reader.size - offset)
        if length > reader.remaining:  # read what the budget still allows, then stop
            refused = True
            length = reader.remaining
        if length <= 0:
            return b""
        try:
            return reader.read_range(offset, length)
        except BudgetExceeded:  # the time budget
            refused = True
            return b""

    error: PickleError | None = None
    try:
        pickles = read_pickles_from(fetch, reader.size, deadline=reader.deadline)
    except PickleError as failure:
        error = failure
        pickles = [*failure.pickles, *([failure.partial] if failure.partial else [])]
    return _section(pickles, error, reader.size, refused, None)


def pickle_file_section(
    data: bytes | memoryview,
    truncated: bool = False,
    compression: str | None = None,
    deadline: float | None = None,
) -> Section:
    """The section for the bytes of a pickle file (already decompressed)."""
    error: PickleError | None = None
    try:
        pickles = read_pickles(data, deadline=deadline)
    except PickleError as failure:
        error = failure
        pickles = [*failure.pickles, *([failure.partial] if failure.partial else [])]
    return _section(pickles, error, len(data), truncated, compression)


def _section(
    pickles: list[Unpickled],
    error: PickleError | None,
    size: int,
    truncated: bool,
    compression: str | None,
) -> Section:
    """`size`: bytes of pickle data (the file, or what it decompressed to); `truncated`: the
    data was cut short (byte budget, decompression cap)."""
    more = bool(pickles) and pickles[-1].complete and pickles[-1].end < size and not error
    safety = assess(pickles, truncated=truncated or more)
    findings = safety.findings
    verdict = safety.verdict
    if error is not None:
        findings.append(
            {
                "severity": "warning",
                "global": None,
                "call": None,
                "message": f"malformed pickle: {error}; what precedes the error was read",
            }
        )
        verdict = "unknown" if verdict == "safe" else verdict
    readable = [p for p in pickles if p.complete or p.value is not None]
    protocol = max((p.protocol for p in pickles), default=0)
    title = "Pickle" if compression is None else f"Pickle ({compression})"
    if len(readable) == 1:
        summary = f"{title} · {summarize(readable[0].value)} · protocol {protocol}"
    elif readable:
        summary = f"{title} · {len(readable)} pickles · protocol {protocol}"
    else:
        summary = f"{title} · unreadable"
    imported = list(dict.fromkeys(g.qualname for p in pickles for g in p.globals))
    count = f"{len(pickles)} {'pickle' if len(pickles) == 1 else 'pickles'}"
    # Only numbers from the reader here: nothing to escape.
    skipped = sum(p.skipped for p in pickles)
    lines = [
        f"Pickle (protocol {protocol}) · {count} · {sum(p.ops for p in pickles)} opcodes"
        + (f" · decompressed {format_size(size)}" if compression else "")
        + (f" · {format_size(skipped)} of array or byte data not read" if skipped else ""),
        f"**imports** {', '.join(code_span(g, 120) for g in imported[:12])}"
        + (" …" if len(imported) > 12 else "")
        if imported
        else "imports nothing",
    ]
    trees: list[dict[str, Any]] = []
    for index, one in enumerate(readable[:_MAX_PICKLES_SHOWN]):
        tree = describe(one.value)
        if len(readable) > 1:
            tree.insert(0, f"**pickle {index + 1}** · bytes {one.start}–{one.end}")
        if not one.complete:
            tree.append("… (the data ends before this pickle does)")
        lines.append("\n".join(tree))
        trees.append(structure(one.value))
    if len(readable) > _MAX_PICKLES_SHOWN:
        lines.append(escape(f"… and {len(readable) - _MAX_PICKLES_SHOWN} more pickles"))
    if error is not None:
        lines.append(escape(f"stopped at a malformed opcode: {error}", 300))
    fields: dict[str, Any] = {
        "protocol": protocol,
        "globals": imported[:200],
        "pickles": len(pickles),
        "structure": trees[0] if len(trees) == 1 else trees,
    }
    if compression:
        fields["compression"] = compression
    if skipped:
        fields["skippedBytes"] = skipped
    incomplete = any(not p.complete for p in pickles)
    return Section(
        "pickle",
        summary,
        lines,
        verdict=verdict,
        findings=findings,
        truncated=truncated or incomplete or more or error is not None,
        fields=fields,
    )


def _inflate(compression: str, data: bytes, cap: int) -> tuple[bytes, bool, str | None]:
    """Up to `cap` decompressed bytes; True when cut short (cap, or input ends early); a
    problem message when the stream is corrupt."""
    source = io.BytesIO(data)
    stream: Any
    if compression == "gzip":
        stream = _GzipStream(data)
    elif compression == "bzip2":
        stream = bz2.BZ2File(source)
    elif compression == "xz":
        stream = lzma.LZMAFile(source)  # noqa: SIM115 - closed below
    else:
        import zstandard  # lazily: only compressed pickles need it

        stream = zstandard.ZstdDecompressor().stream_reader(source, read_across_frames=True)
    chunks: list[bytes] = []
    total = 0
    problem = None
    try:
        while total < cap:
            chunk = stream.read(min(64 * 1024, cap - total))
            if not chunk:
                return b"".join(chunks), False, None
            chunks.append(chunk)
            total += len(chunk)
    except (EOFError, OSError, ValueError, lzma.LZMAError, zlib.error) as failure:
        problem = str(failure) or type(failure).__name__
    except Exception as failure:  # zstandard.ZstdError and other codec errors
        problem = str(failure) or type(failure).__name__
    finally:
        stream.close()
    return b"".join(chunks), True, problem


class _GzipStream:
    """Streaming gzip (several members in a row, like gzip.open) with bounded output."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._pending = data

    def read(self, size: int) -> bytes:
        while True:
            out = self._inflater.decompress(self._pending, size)
            self._pending = self._inflater.unconsumed_tail
            if out:
                return out
            if self._inflater.eof:
                rest = self._inflater.unused_data
                if not rest.strip(b"\x00"):
                    return b""
                self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
                self._pending = rest
                continue
            if not self._pending:
                raise EOFError("compressed data ends before the end of the stream")

    def close(self) -> None:
        self._pending = b""


# -- recognising what a description stands for --------------------------------------------


@dataclass
class _Shape:
    type: str  # "dict", "numpy.ndarray", "mymodule.MyClass"
    info: str = ""  # "5 keys", "float64 (3, 4)"
    children: list[tuple[str, Any]] = field(default_factory=list)
    values: str | None = None  # small rendered contents, shown as code


def summarize(value: Any) -> str:
    """One line, plain text (escape before use): "dict · 5 keys", "numpy.ndarray · float64
    (3, 4)"."""
    shape = _shape(value)
    info = shape.info if len(shape.info) <= 60 else shape.info[:59] + "…"
    return f"{shape.type} · {info}" if info else shape.type


def describe(value: Any, *, depth: int = 4, items: int = 12) -> list[str]:
    """A markdown bullet tree (already escaped) of a description, bounded in depth, items
    per container and total lines."""
    lines: list[str] = []
    _describe(value, "", 0, depth, items, lines, set())
    return lines


def _describe(
    value: Any,
    label: str,
    level: int,
    depth: int,
    items: int,
    lines: list[str],
    path: set[int],
) -> None:
    if len(lines) >= _MAX_LINES:
        if lines[-1] != "- …":
            lines.append("- …")
        return
    indent = "  " * level
    prefix = f"{indent}- {code_span(label, 80)}: " if label else f"{indent}- "
    if id(value) in path and isinstance(value, (list, dict, set, Call)):
        lines.append(f"{prefix}*recursive reference*")
        return
    shape = _shape(value)
    text = f"{prefix}**{escape(shape.type, 100)}**"
    if shape.info:
        text += f" · {escape(shape.info, 160)}"
    if shape.values is not None:
        text += f" {code_span(shape.values, 240)}"
    lines.append(text)
    if not shape.children:
        return
    if level + 1 >= depth:
        lines.append(f"{indent}  - …")
        return
    path.add(id(value))
    for key, child in shape.children[:items]:
        _describe(child, key, level + 1, depth, items, lines, path)
        if len(lines) >= _MAX_LINES:
            break
    path.discard(id(value))
    if len(shape.children) > items and len(lines) < _MAX_LINES:
        lines.append(f"{indent}  - … {len(shape.children) - items} more")


def structure(value: Any, *, depth: int = 4, items: int = 12) -> dict[str, Any]:
    """A JSON-able tree of the description (for the structured preview), bounded in size."""
    budget = [_MAX_NODES]
    return _structure(value, depth, items, budget, set())


def _structure(
    value: Any, depth: int, items: int, budget: list[int], path: set[int]
) -> dict[str, Any]:
    budget[0] -= 1
    shape = _shape(value)
    node: dict[str, Any] = {"type": shape.type[:200]}
    if shape.info:
        node["summary"] = shape.info[:200]
    if shape.values is not None:
        node["values"] = shape.values[:400]
    if id(value) in path and isinstance(value, (list, dict, set, Call)):
        node["recursive"] = True
        return node
    if shape.children and depth > 1 and budget[0] > 0:
        path.add(id(value))
        children = []
        for key, child in shape.children[:items]:
            if budget[0] <= 0:
                break
            children.append({"key": key[:200], **_structure(child, depth - 1, items, budget, path)})
        path.discard(id(value))
        node["children"] = children
        if len(shape.children) > len(children):
            node["more"] = len(shape.children) - len(children)
    return node


def _shape(value: Any) -> _Shape:
    if value is None or isinstance(value, (bool, float, complex)):
        return _Shape(type(value).__name__, repr(value))
    if isinstance(value, int):
        bits = value.bit_length()
        return _Shape("int", repr(value) if bits <= 128 else f"{bits}-bit integer")
    if isinstance(value, str):
        return _Shape("str", f"{len(value)} chars", values=repr(value[:120]))
    if isinstance(value, (bytes, bytearray, memoryview)):
        name = "bytearray" if isinstance(value, bytearray) else "bytes"
        return _Shape(name, f"{len(value)} bytes", values=repr(bytes(value[:40])))
    if isinstance(value, Truncated):
        return _Shape(value.kind, f"cut off: {value.available} of {value.declared} bytes read")
    if isinstance(value, Skipped):
        return _Shape(
            value.kind,
            f"{value.length} bytes · not read",
            values=repr(value.head[:40]) if value.head else None,
        )
    if isinstance(value, (list, tuple)):
        return _Shape(
            type(value).__name__,
            f"{len(value)} items",
            [(f"[{i}]", v) for i, v in enumerate(value[:100])],
        )
    if isinstance(value, (set, frozenset)):
        return _Shape(
            type(value).__name__, f"{len(value)} items", [("", v) for v in list(value)[:100]]
        )
    if isinstance(value, dict):
        return _Shape("dict", f"{len(value)} keys", _entries(value.items()))
    if isinstance(value, Global):
        return _Shape("global", value.qualname)
    if isinstance(value, PersistentRef):
        return _Shape("persistent id", render(value.pid))
    if isinstance(value, ExtensionRef):
        return _Shape("extension code", str(value.code))
    if isinstance(value, OutOfBandBuffer):
        return _Shape("out-of-band buffer", f"#{value.index}")
    if isinstance(value, Call):
        return _call_shape(value)
    return _Shape(type(value).__name__)


def _entries(pairs: Any) -> list[tuple[str, Any]]:
    out = []
    for key, value in pairs:
        out.append((key if isinstance(key, str) else render(key, 80), value))
        if len(out) >= 100:
            break
    return out


def _call_shape(call: Call) -> _Shape:
    name = call.qualname
    special = _RECOGNISERS.get(name)
    if special is not None:
        try:
            shape = special(call)
        except Exception:  # a hostile description that does not fit the expected form
            shape = None
        if shape is not None:
            return shape
    return _object_shape(call)


def _object_shape(call: Call) -> _Shape:
    """A generic object: `module.Class` with its arguments and state fields."""
    cls = call.func
    if (
        isinstance(cls, Global)
        and cls.qualname in ("copyreg._reconstructor", "copy_reg._reconstructor")
        and call.args
    ):
        cls = call.args[0]
    type_name = cls.qualname if isinstance(cls, Global) else f"result of {render(cls, 80)}"
    children: list[tuple[str, Any]] = []
    state = call.state
    if isinstance(state, tuple) and len(state) == 2 and isinstance(state[1], dict):
        # (__dict__, __slots__ values)
        if isinstance(state[0], dict):
            children += _entries(state[0].items())
        children += _entries(state[1].items())
    elif isinstance(state, dict):
        children += _entries(state.items())
    elif state is not None:
        children.append(("state", state))
    children += [(f"[{i}]", v) for i, v in enumerate(call.items[:100])]
    children += _entries(call.entries)
    info = ""
    args = call.args[1:] if cls is not call.func else call.args
    if args or call.kwargs:
        info = render(Call(Global("", ""), tuple(args), call.kwargs), 100)[1:]
        info = "args " + info
    if not call.built and call.state is not None:
        info = (info + " · " if info else "") + "state not applied"
    return _Shape(type_name, info, children)


# numpy -------------------------------------------------------------------------------------

_DTYPE_CODE = re.compile(r"[<>|=]?[a-zA-Z]{1,2}\d{0,3}")


def _numpy() -> Any:
    import numpy  # the preview path may use numpy on raw bytes (never numpy.load)

    return numpy


def _dtype(desc: Any) -> tuple[Any, str] | None:
    """(numpy dtype or None, label) for a pickled `numpy.dtype(...)` description."""
    if not (isinstance(desc, Call) and desc.qualname == "numpy.dtype" and desc.args):
        return None
    code = desc.args[0]
    if not isinstance(code, str) or not _DTYPE_CODE.fullmatch(code):
        return None, render(code, 40)
    state = desc.state if isinstance(desc.state, tuple) else ()
    order = state[1] if len(state) > 1 and state[1] in ("<", ">", "|", "=") else "="
    if len(state) > 3 and state[3] is not None:  # named fields: a structured dtype
        return None, f"structured {render(state[3], 60)}"
    try:
        dtype = _numpy().dtype(code)
        if order in "<>":
            dtype = dtype.newbyteorder(order)
    except Exception:
        return None, code
    label = str(dtype) if dtype.byteorder in ("=", "|") or dtype.isnative else dtype.str
    return dtype, label


def _array(dtype_info: tuple[Any, str] | None, shape: Any, raw: Any, fortran: bool) -> _Shape:
    dtype, label = dtype_info if dtype_info else (None, "?")
    dims = shape if isinstance(shape, tuple) and all(isinstance(d, int) for d in shape) else None
    info = f"{label} {dims if dims is not None else render(shape, 40)}"
    result = _Shape("numpy.ndarray", info)
    count = math.prod(dims) if dims is not None else -1
    if isinstance(raw, Truncated):
        result.info += f" · data cut off ({raw.available} of {raw.declared} bytes read)"
        return result
    if isinstance(raw, Skipped):  # sparse reading jumped over the data: dtype + shape only
        result.info += " · values not read"
        return result
    if isinstance(raw, list):  # an object array: its elements are pickled one by one
        result.children = [(f"[{i}]", v) for i, v in enumerate(raw[:100])]
        return result
    data = _raw_bytes(raw)
    if (
        dtype is not None
        and dims is not None
        and data is not None
        and 0 <= count <= _SMALL_ARRAY
        and dtype.kind not in "OV"
        and len(data) >= count * dtype.itemsize
    ):
        np = _numpy()
        values = np.frombuffer(data, dtype=dtype, count=count).reshape(
            dims, order="F" if fortran else "C"
        )
        with np.printoptions(threshold=_SMALL_ARRAY, linewidth=200, precision=6):
            result.values = np.array2string(values, separator=", ").replace("\n", " ")
    return result


def _raw_bytes(raw: Any) -> bytes | memoryview | None:
    if isinstance(raw, (bytes, memoryview)):
        return raw
    if isinstance(raw, bytearray):
        return bytes(raw)
    if isinstance(raw, Call) and raw.qualname == "_codecs.encode" and raw.args:
        text = raw.args[0]
        if isinstance(text, str):
            return text.encode("latin-1", "replace")
    if isinstance(raw, Call) and raw.qualname in ("builtins.bytearray", "builtins.bytes"):
        if raw.args and isinstance(raw.args[0], str):
            return raw.args[0].encode("latin-1", "replace")
        return _raw_bytes(raw.args[0]) if raw.args else b""
    return None


def _reconstruct(call: Call) -> _Shape | None:
    state = call.state
    if not (isinstance(state, tuple) and len(state) in (4, 5)):
        return None
    if len(state) == 5:
        _, shape, desc, fortran, raw = state
    else:
        shape, desc, fortran, raw = state
    return _array(_dtype(desc), shape, raw, bool(fortran))


def _frombuffer(call: Call) -> _Shape | None:
    if len(call.args) != 4:
        return None
    buffer, desc, shape, order = call.args
    if isinstance(buffer, OutOfBandBuffer):
        shape_ = _array(_dtype(desc), shape, None, order == "F")
        shape_.info += " · data out of band"
        return shape_
    return _array(_dtype(desc), shape, buffer, order == "F")


def _scalar(call: Call) -> _Shape | None:
    if len(call.args) != 2:
        return None
    info = _dtype(call.args[0])
    data = _raw_bytes(call.args[1])
    if info is None or info[0] is None or data is None or info[0].kind in "OV":
        return _Shape("numpy scalar", info[1] if info else "")
    value = _numpy().frombuffer(data, dtype=info[0], count=1)[0]
    return _Shape(f"numpy.{info[0].name}", repr(value.item()))


def _dtype_shape(call: Call) -> _Shape | None:
    info = _dtype(call)
    return _Shape("numpy.dtype", info[1]) if info else None


# containers rebuilt by a call ---------------------------------------------------------------


def _ordered_dict(call: Call) -> _Shape:
    pairs = list(call.entries)
    if call.args and isinstance(call.args[0], list):  # protocol 0/1: a list of [key, value]
        pairs += [tuple(p) for p in call.args[0] if isinstance(p, (list, tuple)) and len(p) == 2]
    return _Shape("OrderedDict", f"{len(pairs)} keys", _entries(pairs))


def _defaultdict(call: Call) -> _Shape:
    factory = render(call.args[0], 60) if call.args else "None"
    return _Shape(
        "defaultdict", f"{len(call.entries)} keys · default {factory}", _entries(call.entries)
    )


def _counter(call: Call) -> _Shape | None:
    counts = call.args[0] if call.args else call.state
    if not isinstance(counts, dict):
        return None
    return _Shape("Counter", f"{len(counts)} keys", _entries(counts.items()))


def _sequence(kind: str) -> Callable[[Call], _Shape | None]:
    def shape(call: Call) -> _Shape | None:
        content = call.args[0] if call.args else []
        if not isinstance(content, (list, tuple, set, frozenset)):
            return None
        values = list(content) + list(call.items)
        return _Shape(
            kind, f"{len(values)} items", [(f"[{i}]", v) for i, v in enumerate(values[:100])]
        )

    return shape


def _bytes_call(call: Call) -> _Shape | None:
    data = _raw_bytes(call)
    if data is None:
        return None
    name = "bytearray" if call.qualname == "builtins.bytearray" else "bytes"
    return _Shape(name, f"{len(data)} bytes", values=repr(bytes(data[:40])))


def _plain_call(label: str) -> Callable[[Call], _Shape | None]:
    def shape(call: Call) -> _Shape | None:
        return _Shape(label, render(Call(Global("", ""), call.args, call.kwargs), 100)[1:])

    return shape


def _datetime(call: Call) -> _Shape | None:
    kind = call.qualname.rpartition(".")[2]
    cls = {"datetime": datetime.datetime, "date": datetime.date, "time": datetime.time}[kind]
    data = _raw_bytes(call.args[0]) if call.args else None
    if data is None or len(data) not in (4, 6, 10):
        return None
    # The date/time constructors parse their own pickled state: a fixed-size byte string.
    value = cls(bytes(data))
    note = " (with time zone)" if len(call.args) > 1 and call.args[1] is not None else ""
    return _Shape(kind, value.isoformat() + note)


def _timedelta(call: Call) -> _Shape | None:
    if not all(isinstance(a, int) and abs(a) < 1 << 40 for a in call.args):
        return None
    return _Shape("timedelta", str(datetime.timedelta(*call.args)))


# torch ---------------------------------------------------------------------------------------

_STORAGE_DTYPES = {
    "FloatStorage": "float32",
    "DoubleStorage": "float64",
    "HalfStorage": "float16",
    "BFloat16Storage": "bfloat16",
    "LongStorage": "int64",
    "IntStorage": "int32",
    "ShortStorage": "int16",
    "CharStorage": "int8",
    "ByteStorage": "uint8",
    "BoolStorage": "bool",
    "ComplexFloatStorage": "complex64",
    "ComplexDoubleStorage": "complex128",
}


def _tensor(call: Call) -> _Shape | None:
    if len(call.args) < 3:
        return None
    storage, size = call.args[0], call.args[2]
    dtype = "?"
    if isinstance(storage, PersistentRef) and isinstance(storage.pid, tuple):
        for part in storage.pid:
            if isinstance(part, Global):
                dtype = _STORAGE_DTYPES.get(part.name, part.name)
                break
    dims = list(size) if isinstance(size, (tuple, list)) else render(size, 40)
    return _Shape("torch.Tensor", f"{dtype} {dims}")


def _parameter(call: Call) -> _Shape | None:
    if not call.args:
        return None
    inner = _shape(call.args[0])
    return _Shape("torch.nn.Parameter", inner.info)


# pandas ----------------------------------------------------------------------------------------


def _index_values(index: Any) -> Sequence[Any] | None:
    """The labels of a pickled pandas Index, when recognisable."""
    if not (isinstance(index, Call) and index.qualname == "pandas.core.indexes.base._new_Index"):
        return None
    if len(index.args) < 2 or not isinstance(index.args[1], dict):
        return None
    cls, params = index.args[0], index.args[1]
    if isinstance(cls, Global) and cls.name == "RangeIndex":
        start, stop, step = params.get("start", 0), params.get("stop"), params.get("step", 1)
        if isinstance(start, int) and isinstance(stop, int) and isinstance(step, int) and step:
            return range(start, stop, step)
        return None
    data = params.get("data")
    if isinstance(data, Call):
        if data.qualname == "numpy._core.multiarray._reconstruct" or data.qualname.endswith(
            "multiarray._reconstruct"
        ):
            state = data.state
            if isinstance(state, tuple) and len(state) == 5 and isinstance(state[4], list):
                return state[4]
            shape = _reconstruct(data)
            return None if shape is None else [shape.values] if shape.values else None
        return _arrow_strings(data)
    return None


def _arrow_strings(array: Any) -> Sequence[Any] | None:
    """The strings of a pickled pandas ArrowStringArray (offsets + data buffers)."""
    state = array.state if isinstance(array, Call) else None
    restore = state.get("_pa_array") if isinstance(state, dict) else None
    if not (isinstance(restore, Call) and restore.qualname == "pyarrow.lib._restore_array"):
        return None
    spec = restore.args[0] if restore.args else None
    if not (isinstance(spec, tuple) and len(spec) >= 5 and isinstance(spec[4], list)):
        return None
    kind, length, _, offset, buffers = spec[:5]
    alias = kind.args[0] if isinstance(kind, Call) and kind.args else None
    if alias not in ("string", "large_string", "utf8", "large_utf8") or len(buffers) < 3:
        return None
    if not isinstance(length, int) or not isinstance(offset, int) or length > 10_000:
        return None
    raw = [_raw_bytes(b.args[0]) if isinstance(b, Call) and b.args else None for b in buffers[1:3]]
    if raw[0] is None or raw[1] is None:
        return None
    width = 8 if alias.startswith("large") else 4
    np = _numpy()
    offsets = np.frombuffer(
        raw[0], dtype=f"<i{width}", count=min(length + offset + 1, len(raw[0]) // width)
    )
    text = bytes(raw[1])
    out = []
    for i in range(offset, min(offset + length, len(offsets) - 1)):
        out.append(text[offsets[i] : offsets[i + 1]].decode("utf-8", "replace"))
    return out


def _frame(call: Call) -> _Shape | None:
    state = call.state
    manager = state.get("_mgr") if isinstance(state, dict) else None
    axes = _manager_axes(manager)
    kind = "DataFrame" if call.qualname.endswith("DataFrame") else "Series"
    if axes is None:
        return _Shape(f"pandas.{kind}")
    labels = [_index_values(a) for a in axes]
    if kind == "DataFrame" and len(labels) == 2:
        columns, rows = labels
        shape = f"{_length(rows)} rows × {_length(columns)} columns"
        children = [("columns", list(columns)[:100])] if columns is not None else []
        return _Shape("pandas.DataFrame", shape, children)
    name = state.get("_name") if isinstance(state, dict) else None
    info = f"{_length(labels[0])} rows" + (
        f" · name {render(name, 40)}" if name is not None else ""
    )
    return _Shape("pandas.Series", info)


def _length(labels: Sequence[Any] | None) -> str:
    return "?" if labels is None else str(len(labels))


def _manager_axes(manager: Any) -> list[Any] | None:
    if not isinstance(manager, Call):
        return None
    if len(manager.args) >= 2 and isinstance(manager.args[1], list):
        return manager.args[1]
    state = manager.state
    if isinstance(state, tuple):
        for part in state:
            if isinstance(part, dict):
                for version in part.values():
                    if isinstance(version, dict) and isinstance(version.get("axes"), list):
                        return version["axes"]  # type: ignore[no-any-return]
        if state and isinstance(state[0], list):
            return state[0]
    return None


def _index(call: Call) -> _Shape | None:
    values = _index_values(call)
    if values is None:
        return None
    cls = call.args[0]
    name = cls.name if isinstance(cls, Global) else "Index"
    return _Shape(f"pandas.{name}", f"{len(values)} labels", values=render(list(values)[:20], 200))


_RECOGNISERS: dict[str, Callable[[Call], _Shape | None]] = {
    **dict.fromkeys(
        ("numpy.core.multiarray._reconstruct", "numpy._core.multiarray._reconstruct"),
        _reconstruct,
    ),
    **dict.fromkeys(
        ("numpy.core.numeric._frombuffer", "numpy._core.numeric._frombuffer"), _frombuffer
    ),
    **dict.fromkeys(("numpy.core.multiarray.scalar", "numpy._core.multiarray.scalar"), _scalar),
    "numpy.dtype": _dtype_shape,
    "collections.OrderedDict": _ordered_dict,
    "collections.defaultdict": _defaultdict,
    "collections.Counter": _counter,
    "collections.deque": _sequence("deque"),
    "builtins.set": _sequence("set"),
    "builtins.frozenset": _sequence("frozenset"),
    "builtins.list": _sequence("list"),
    "builtins.tuple": _sequence("tuple"),
    "builtins.bytearray": _bytes_call,
    "builtins.bytes": _bytes_call,
    "_codecs.encode": _bytes_call,
    "builtins.complex": _plain_call("complex"),
    "builtins.slice": _plain_call("slice"),
    "builtins.range": _plain_call("range"),
    "decimal.Decimal": _plain_call("Decimal"),
    "fractions.Fraction": _plain_call("Fraction"),
    "datetime.datetime": _datetime,
    "datetime.date": _datetime,
    "datetime.time": _datetime,
    "datetime.timedelta": _timedelta,
    "torch._utils._rebuild_tensor": _tensor,
    "torch._utils._rebuild_tensor_v2": _tensor,
    "torch._utils._rebuild_parameter": _parameter,
    "pandas.DataFrame": _frame,
    "pandas.core.frame.DataFrame": _frame,
    "pandas.Series": _frame,
    "pandas.core.series.Series": _frame,
    "pandas.core.indexes.base._new_Index": _index,
}
