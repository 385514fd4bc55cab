"""Tensors found in a torch pickle, and their statistics, without importing torch.

The pickle is read symbolically (pickle_model): a tensor is a `Call` of one of torch's
`_rebuild_*` functions whose storage is a `PersistentRef`. This module walks the value,
names every tensor by its path (`model.fc1.weight`, `optimizer.state.0.exp_avg`), and
computes min/max/mean/std from the storage bytes with numpy when asked.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from .pickle_model import Call, Global, PersistentRef
from .stats import array_stats, widen_bfloat16

# Storage class (torch.<Name>) -> (dtype, element size).
STORAGE_DTYPES: dict[str, tuple[str, int]] = {
    "FloatStorage": ("float32", 4),
    "DoubleStorage": ("float64", 8),
    "HalfStorage": ("float16", 2),
    "BFloat16Storage": ("bfloat16", 2),
    "LongStorage": ("int64", 8),
    "IntStorage": ("int32", 4),
    "ShortStorage": ("int16", 2),
    "CharStorage": ("int8", 1),
    "ByteStorage": ("uint8", 1),
    "BoolStorage": ("bool", 1),
    "ComplexFloatStorage": ("complex64", 8),
    "ComplexDoubleStorage": ("complex128", 16),
    "QInt8Storage": ("qint8", 1),
    "QUInt8Storage": ("quint8", 1),
    "QInt32Storage": ("qint32", 4),
    "QUInt4x2Storage": ("quint4x2", 1),
    "QUInt2x4Storage": ("quint2x4", 1),
    "UntypedStorage": ("uint8", 1),
}
# dtype global (torch.<name>) -> (canonical dtype, element size).
DTYPES: dict[str, tuple[str, int]] = {
    "float32": ("float32", 4),
    "float": ("float32", 4),
    "float64": ("float64", 8),
    "double": ("float64", 8),
    "float16": ("float16", 2),
    "half": ("float16", 2),
    "bfloat16": ("bfloat16", 2),
    "int64": ("int64", 8),
    "long": ("int64", 8),
    "int32": ("int32", 4),
    "int": ("int32", 4),
    "int16": ("int16", 2),
    "short": ("int16", 2),
    "int8": ("int8", 1),
    "uint8": ("uint8", 1),
    "uint16": ("uint16", 2),
    "uint32": ("uint32", 4),
    "uint64": ("uint64", 8),
    "bool": ("bool", 1),
    "complex32": ("complex32", 4),
    "chalf": ("complex32", 4),
    "complex64": ("complex64", 8),
    "cfloat": ("complex64", 8),
    "complex128": ("complex128", 16),
    "cdouble": ("complex128", 16),
    "float8_e4m3fn": ("float8_e4m3fn", 1),
    "float8_e4m3fnuz": ("float8_e4m3fnuz", 1),
    "float8_e5m2": ("float8_e5m2", 1),
    "float8_e5m2fnuz": ("float8_e5m2fnuz", 1),
    "float8_e8m0fnu": ("float8_e8m0fnu", 1),
    "float4_e2m1fn_x2": ("float4_e2m1fn_x2", 1),
    "qint8": ("qint8", 1),
    "quint8": ("quint8", 1),
    "qint32": ("qint32", 4),
}
# dtypes numpy can compute statistics on (bfloat16 is widened by hand).
NUMPY_DTYPES = {
    "float32": "f4",
    "float64": "f8",
    "float16": "f2",
    "bfloat16": "u2",
    "int64": "i8",
    "int32": "i4",
    "int16": "i2",
    "int8": "i1",
    "uint8": "u1",
    "uint16": "u2",
    "uint32": "u4",
    "uint64": "u8",
    "bool": "u1",
}
_REBUILD = "torch._utils."
_MAX_DIMS = 64
MAX_VISITS = 200_000
MAX_DEPTH = 100
_MANGLE = re.compile(r"\.___torch_mangle_\d+")


@dataclass(slots=True)
class Storage:
    key: str
    dtype: str
    itemsize: int
    numel: int  # elements as announced by the persistent id
    location: str
    view: Any = None  # legacy view metadata, when there was one

    @property
    def nbytes(self) -> int:
        return self.numel * self.itemsize


@dataclass(slots=True)
class TensorInfo:
    name: str
    dtype: str
    shape: tuple[int, ...]
    stride: tuple[int, ...]
    offset: int  # in elements
    storage: Storage | None
    kind: str = "tensor"  # tensor | parameter | quantized | meta | other
    alias_of: str | None = None  # the same tensor object reached under another name
    stats: dict[str, Any] | None = None
    note: str | None = None

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def span(self) -> int:
        """Elements of the storage the tensor covers, from its offset."""
        span = 1
        for n, step in zip(self.shape, self.stride, strict=True):
            if n == 0:
                return 0
            span += (n - 1) * step
        return span

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "dtype": self.dtype,
            "shape": list(self.shape),
            "numel": self.numel,
            "storageBytes": self.storage.nbytes if self.storage else 0,
        }
        if self.storage is not None:
            out["storageKey"] = self.storage.key
            if self.storage.location != "cpu":
                out["device"] = self.storage.location
            if self.offset or self.stride != contiguous_stride(self.shape):
                out["stride"] = list(self.stride)
                out["storageOffset"] = self.offset
        if self.kind != "tensor":
            out["kind"] = self.kind
        if self.alias_of is not None:
            out["aliasOf"] = self.alias_of
        if self.stats is not None:
            out["stats"] = self.stats
        if self.note:
            out["note"] = self.note
        return out


@dataclass
class ModuleNode:
    """An nn.Module (or TorchScript module) found in the pickle: its class and children."""

    name: str
    cls: str
    children: list[ModuleNode] = field(default_factory=list)
    parameters: int = 0  # elements of its own parameters and buffers


@dataclass
class Walk:
    tensors: list[TensorInfo] = field(default_factory=list)
    modules: list[ModuleNode] = field(default_factory=list)  # roots
    visits: int = 0
    depth: int = 0
    cut: bool = False
    _seen: dict[int, str] = field(default_factory=dict)
    _tensor_names: dict[int, str] = field(default_factory=dict)


def contiguous_stride(shape: tuple[int, ...]) -> tuple[int, ...]:
    stride, step = [], 1
    for n in reversed(shape):
        stride.append(step)
        step *= max(n, 1)
    return tuple(reversed(stride))


def find_tensors(value: Any, max_visits: int = MAX_VISITS) -> Walk:
    walk = Walk()
    _visit(value, "", walk, max_visits, None)
    return walk


def _join(prefix: str, key: Any) -> str:
    text = key if isinstance(key, str) else key_text(key)
    return f"{prefix}.{text}" if prefix else text


def key_text(key: Any) -> str:
    """A dict key or index as it appears in a tensor's dotted name."""
    if isinstance(key, str):
        return key
    if isinstance(key, (int, float, bool)) or key is None:
        return str(key)
    if isinstance(key, tuple):
        return "(" + ",".join(key_text(k) for k in key[:4]) + ")"
    if isinstance(key, Global):
        return key.qualname
    return f"<{type(key).__name__}>"


def _visit(value: Any, path: str, walk: Walk, max_visits: int, module: ModuleNode | None) -> None:
    walk.visits += 1
    if walk.visits > max_visits or walk.depth >= MAX_DEPTH:
        walk.cut = True
        return
    walk.depth += 1
    try:
        _visit_value(value, path, walk, max_visits, module)
    finally:
        walk.depth -= 1


def _visit_value(
    value: Any, path: str, walk: Walk, max_visits: int, module: ModuleNode | None
) -> None:
    if isinstance(value, Call):
        tensor = _tensor(value, path)
        if tensor is not None:
            first = walk._tensor_names.setdefault(id(value), path)
            if first != path:
                tensor.alias_of = first
            walk.tensors.append(tensor)
            if module is not None and first == path:
                module.parameters += tensor.numel
            return
    if isinstance(value, (dict, list, tuple, set, frozenset, Call)):
        if id(value) in walk._seen:  # shared or recursive: walk each container once
            return
        walk._seen[id(value)] = path
    if isinstance(value, dict):
        for key, item in list(value.items()):
            _visit(item, _join(path, key), walk, max_visits, module)
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _visit(item, _join(path, index), walk, max_visits, module)
    elif isinstance(value, Call):
        _visit_call(value, path, walk, max_visits, module)


def _visit_call(
    value: Call, path: str, walk: Walk, max_visits: int, module: ModuleNode | None
) -> None:
    state = value.state
    # BUILD with a (state, slotstate) pair: both are attribute dicts
    if (
        isinstance(state, tuple)
        and len(state) == 2
        and (state[0] is None or isinstance(state[0], dict))
        and isinstance(state[1], dict)
    ):
        state = {**(state[0] or {}), **state[1]}
    if not isinstance(state, dict) and _scripted(value):
        # A TorchScript module with its own __getstate__: whatever it returned.
        node = ModuleNode(path.rpartition(".")[2] or path, _class_name(value))
        (walk.modules if module is None else module.children).append(node)
        if state is not None:
            _visit(state, path, walk, max_visits, node)
        return
    if isinstance(state, dict) and _looks_like_module(value, state):
        node = ModuleNode(path.rpartition(".")[2] or path, _class_name(value))
        if module is None:
            walk.modules.append(node)
        else:
            module.children.append(node)
        for key in ("_parameters", "_buffers"):
            _visit_mapping(state.get(key), path, walk, max_visits, node)
        children = _mapping_items(state.get("_modules"))
        for key, child in children:
            _visit(child, _join(path, key), walk, max_visits, node)
        plain = ("_parameters", "_buffers", "_modules")
        for key, item in state.items():
            if key not in plain and isinstance(key, str) and not key.startswith("_"):
                _visit(item, _join(path, key), walk, max_visits, node)
        return
    # Containers rebuilt by a call (OrderedDict, defaultdict, ...): their entries and items.
    for key, item in value.entries:
        _visit(item, _join(path, key), walk, max_visits, module)
    for index, item in enumerate(value.items):
        _visit(item, _join(path, index), walk, max_visits, module)
    for index, item in enumerate(value.args):
        if isinstance(item, (dict, list, Call)) and not value.entries:
            _visit(
                item, path if len(value.args) == 1 else _join(path, index), walk, max_visits, module
            )
    if isinstance(state, dict):
        for key, item in state.items():
            _visit(item, _join(path, key), walk, max_visits, module)
    elif state is not None:
        _visit(state, path, walk, max_visits, module)


def _visit_mapping(mapping: Any, path: str, walk: Walk, max_visits: int, node: ModuleNode) -> None:
    for key, item in _mapping_items(mapping):
        _visit(item, _join(path, key), walk, max_visits, node)


def _mapping_items(mapping: Any) -> list[tuple[Any, Any]]:
    if isinstance(mapping, dict):
        return list(mapping.items())
    if isinstance(mapping, Call):
        return list(mapping.entries)
    return []


def _looks_like_module(value: Call, state: dict[Any, Any]) -> bool:
    if "_modules" in state and "training" in state:
        return True  # nn.Module.__dict__
    # TorchScript modules keep attributes flat; their classes live under __torch__.
    return _scripted(value)


def _scripted(value: Call) -> bool:
    return isinstance(value.func, Global) and value.func.module.startswith("__torch__")


def _class_name(value: Call) -> str:
    if isinstance(value.func, Global):
        module = unmangle(value.func.module.removeprefix("__torch__.").removeprefix("__torch__"))
        return f"{module}.{value.func.name}" if module else value.func.name
    return value.qualname


def unmangle(name: str) -> str:
    """TorchScript renames a second class of the same name `<module>.___torch_mangle_N`."""
    return _MANGLE.sub("", name)


def short_class(name: str) -> str:
    return name.rpartition(".")[2] or name


def _tensor(value: Call, path: str) -> TensorInfo | None:
    func = value.func
    if not isinstance(func, Global):
        return None
    name = func.qualname
    args = value.args
    if name == "torch._tensor._rebuild_from_type_v2" and len(args) >= 3:
        inner = args[0]
        if isinstance(inner, Global) and isinstance(args[2], tuple):
            tensor = _tensor(Call(inner, args[2]), path)
            if tensor is not None and isinstance(args[1], Global):
                tensor.note = f"subclass {args[1].qualname}"
            return tensor
        return None
    if not name.startswith(_REBUILD):
        return None
    kind = name[len(_REBUILD) :]
    if kind in ("_rebuild_parameter", "_rebuild_parameter_with_state") and args:
        data = args[0]
        inner = _tensor(data, path) if isinstance(data, Call) else None
        if inner is not None:
            inner.kind = "parameter"
        return inner
    if kind in ("_rebuild_tensor_v2", "_rebuild_tensor", "_rebuild_tensor_v3", "_rebuild_qtensor"):
        if len(args) < 4:
            return _other(path, kind, "too few arguments")
        storage_ref, offset, shape, stride = args[:4]
        dtype_override = None
        if kind == "_rebuild_tensor_v3" and len(args) >= 7 and isinstance(args[6], Global):
            dtype_override = DTYPES.get(args[6].name, (args[6].name, 0))
        storage = storage_from(storage_ref, dtype_override)
        if storage is None:
            return _other(path, kind, "storage is not a persistent reference")
        if not (_ints(shape) and _ints(stride) and len(shape) == len(stride)):
            return _other(path, kind, "shape or stride is not a tuple of integers")
        if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
            return _other(path, kind, "bad storage offset")
        tensor = TensorInfo(path, storage.dtype, tuple(shape), tuple(stride), offset, storage)
        if kind == "_rebuild_qtensor":
            tensor.kind = "quantized"
        if tensor.numel and offset + tensor.span > storage.numel:
            tensor.note = "extends past its storage"
        return tensor
    if kind == "_rebuild_meta_tensor_no_storage" and len(args) >= 3:
        dtype = args[0]
        shape, stride = args[1], args[2]
        if isinstance(dtype, Global) and _ints(shape) and _ints(stride):
            dt = DTYPES.get(dtype.name, (dtype.name, 0))[0]
            return TensorInfo(path, dt, tuple(shape), tuple(stride), 0, None, "meta")
    if kind.startswith("_rebuild"):
        return _other(path, kind, "not read")
    return None


def _other(path: str, kind: str, why: str) -> TensorInfo:
    return TensorInfo(path, "?", (), (), 0, None, "other", note=f"{kind}: {why}")


def _ints(value: Any) -> bool:
    return (
        isinstance(value, tuple)
        and len(value) <= _MAX_DIMS
        and all(type(v) is int and v >= 0 for v in value)
    )


def storage_from(ref: Any, dtype_override: tuple[str, int] | None = None) -> Storage | None:
    """A storage from its persistent id: ('storage', <type>, key, location, numel[, view])."""
    if not isinstance(ref, PersistentRef):
        return None
    pid = ref.pid
    if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
        return None
    storage_type, key, location, numel = pid[1:5]
    if not isinstance(numel, int) or isinstance(numel, bool) or numel < 0:
        return None
    if not isinstance(key, (str, int)):
        return None
    type_name = storage_type.name if isinstance(storage_type, Global) else ""
    dtype, itemsize = STORAGE_DTYPES.get(type_name, (type_name or "?", 0))
    untyped = type_name == "UntypedStorage"
    if untyped and dtype_override is not None and dtype_override[1]:
        dtype, itemsize = dtype_override
        numel //= itemsize  # an untyped storage counts bytes
    view = pid[5] if len(pid) > 5 else None
    return Storage(str(key), dtype, itemsize, numel, str(location), view)


# --- statistics -----------------------------------------------------------------------


def tensor_stats(tensor: TensorInfo, data: bytes, little_endian: bool) -> dict[str, Any] | None:
    """stats.array_stats of the tensor's elements; `data` holds the storage bytes from the
    tensor's offset (its span). None for dtypes numpy does not hold."""
    import numpy as np
    from numpy.lib.stride_tricks import as_strided

    storage = tensor.storage
    code = NUMPY_DTYPES.get(tensor.dtype)
    if storage is None or code is None or tensor.numel == 0:
        return None
    itemsize = storage.itemsize
    if len(data) < tensor.span * itemsize:
        return None
    dtype = np.dtype(("<" if little_endian else ">") + code) if itemsize > 1 else np.dtype(code)
    flat = np.frombuffer(data, dtype=dtype, count=tensor.span)
    if flat.dtype.byteorder not in ("=", "|"):
        flat = flat.astype(flat.dtype.newbyteorder("="))
    if tensor.dtype == "bfloat16":
        flat = widen_bfloat16(flat)
    strides = tuple(s * flat.itemsize for s in tensor.stride)
    values = as_strided(flat, shape=tensor.shape, strides=strides, writeable=False)
    if tensor.dtype == "bool":
        values = values != 0
    return array_stats(values)
