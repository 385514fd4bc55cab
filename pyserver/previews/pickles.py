"""Which globals a pickle would import, found by walking its opcodes. Nothing is imported or
called: the bytes are only parsed (stdlib pickletools)."""

from __future__ import annotations

import io
import pickletools
from dataclasses import dataclass, field
from typing import Any

# Globals that rebuild plain data: a pickle importing only these cannot run code.
SAFE_GLOBALS = frozenset(
    {
        "builtins.set",
        "builtins.frozenset",
        "builtins.list",
        "builtins.dict",
        "builtins.tuple",
        "builtins.bytearray",
        "builtins.bytes",
        "builtins.complex",
        "builtins.slice",
        "builtins.range",
        "builtins.int",
        "builtins.float",
        "builtins.str",
        "builtins.bool",
        "__builtin__.set",
        "collections.OrderedDict",
        "collections.defaultdict",
        "collections.deque",
        "_codecs.encode",
        "datetime.datetime",
        "datetime.date",
        "datetime.time",
        "datetime.timedelta",
        "datetime.timezone",
        "numpy.core.multiarray._reconstruct",
        "numpy._core.numeric._frombuffer",
        "numpy.core.numeric._frombuffer",
        "numpy._core.multiarray._reconstruct",
        "numpy.core.multiarray.scalar",
        "numpy._core.multiarray.scalar",
        "numpy.ndarray",
        "numpy.dtype",
        "torch._utils._rebuild_tensor_v2",
        "torch._utils._rebuild_parameter",
        "torch._utils._rebuild_tensor",
        "torch.FloatStorage",
        "torch.DoubleStorage",
        "torch.HalfStorage",
        "torch.BFloat16Storage",
        "torch.LongStorage",
        "torch.IntStorage",
        "torch.ShortStorage",
        "torch.CharStorage",
        "torch.ByteStorage",
        "torch.BoolStorage",
        "torch.storage.UntypedStorage",
        "torch.Size",
    }
)
# Modules whose import or call can run code or touch the system.
DANGEROUS_MODULES = frozenset(
    {
        "os",
        "posix",
        "nt",
        "subprocess",
        "sys",
        "socket",
        "shutil",
        "importlib",
        "runpy",
        "pty",
        "webbrowser",
        "timeit",
        "pip",
        "code",
        "codeop",
        "commands",
        "ctypes",
        "multiprocessing",
        "asyncio",
        "pickle",
        "_pickle",
        "marshal",
        "types",
        "operator",
        "functools",
        "numpy.f2py",
        "torch.hub",
        "shelve",
        "tempfile",
        "urllib",
        "http",
        "requests",
        "platform",
        "signal",
    }
)
DANGEROUS_BUILTINS = frozenset(
    {
        "eval",
        "exec",
        "compile",
        "open",
        "__import__",
        "getattr",
        "setattr",
        "delattr",
        "globals",
        "locals",
        "vars",
        "input",
        "breakpoint",
        "memoryview",
    }
)
_STRING_OPS = {
    "SHORT_BINUNICODE",
    "BINUNICODE",
    "BINUNICODE8",
    "UNICODE",
    "STRING",
    "SHORT_BINSTRING",
    "BINSTRING",
}


@dataclass
class PickleScan:
    protocol: int = 0
    globals: list[str] = field(default_factory=list)
    opcodes: int = 0
    complete: bool = False
    error: str | None = None

    @property
    def verdict(self) -> str:
        if any(is_dangerous(name) for name in self.globals):
            return "unsafe"
        if all(name in SAFE_GLOBALS for name in self.globals) and self.complete:
            return "safe"
        return "unknown"

    def findings(self) -> list[dict[str, Any]]:
        found = []
        for name in dict.fromkeys(self.globals):
            if is_dangerous(name):
                found.append(
                    {
                        "severity": "danger",
                        "global": name,
                        "message": f"imports {name}, which can run code or touch the system",
                    }
                )
            elif name not in SAFE_GLOBALS:
                found.append(
                    {
                        "severity": "warning",
                        "global": name,
                        "message": f"imports {name}: not known to be harmless",
                    }
                )
        return found


def is_dangerous(name: str) -> bool:
    module, _, attribute = name.rpartition(".")
    if module in ("builtins", "__builtin__"):
        return attribute in DANGEROUS_BUILTINS
    return any(module == m or module.startswith(m + ".") for m in DANGEROUS_MODULES)


def scan_pickle(data: bytes) -> PickleScan:
    """Walk every pickle in `data` (files can hold several in a row)."""
    scan = PickleScan()
    stream = io.BytesIO(data)
    while stream.tell() < len(data):
        if not _scan_one(stream, scan):
            break
    return scan


def _scan_one(stream: io.BytesIO, scan: PickleScan) -> bool:
    strings: list[str] = []
    memo: dict[Any, str] = {}
    memo_count = 0
    last_string: str | None = None  # the string on top of the stack, if the top is one
    scan.complete = False
    try:
        for opcode, argument, _ in pickletools.genops(stream):
            scan.opcodes += 1
            name = opcode.name
            top, last_string = last_string, None
            if name == "PROTO":
                scan.protocol = max(scan.protocol, int(argument or 0))
            elif name in _STRING_OPS:
                strings.append(str(argument))
                last_string = str(argument)
            elif name in ("MEMOIZE", "PUT", "BINPUT", "LONG_BINPUT"):
                key = memo_count if name == "MEMOIZE" else argument
                memo_count += name == "MEMOIZE"
                if top is not None:
                    memo[key] = top
                last_string = top
            elif name in ("GET", "BINGET", "LONG_BINGET") and argument in memo:
                strings.append(memo[argument])
                last_string = memo[argument]
            elif name in ("GLOBAL", "INST"):
                scan.globals.append(str(argument).replace(" ", "."))
            elif name == "STACK_GLOBAL":
                module, attribute = (strings[-2], strings[-1]) if len(strings) >= 2 else ("?", "?")
                scan.globals.append(f"{module}.{attribute}")
            elif name == "STOP":
                scan.complete = True
                return True
    except Exception as error:  # pickletools raises ValueError and others on bad bytes
        scan.error = str(error) or type(error).__name__
    return False
