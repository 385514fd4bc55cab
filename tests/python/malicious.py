"""Hostile pickles for the safety tests, built by hand (opcode by opcode) or by pickle.dumps of
an object whose __reduce__ names the payload. Nothing here is ever loaded: every payload
carries a canary path in its command, and the tests check the canary never appears."""

from __future__ import annotations

import functools
import gzip
import os
import pickle
import struct
import subprocess
from collections.abc import Callable
from typing import Any

STOP = b"."
MARK = b"("
TUPLE = b"t"
REDUCE = b"R"
POP = b"0"
DUP = b"2"
STACK_GLOBAL = b"\x93"
MEMOIZE = b"\x94"
BUILD = b"b"
EMPTY_DICT = b"}"


def proto(n: int) -> bytes:
    return b"\x80" + bytes([n])


def u(text: str) -> bytes:
    """A str push (SHORT_BINUNICODE or BINUNICODE)."""
    raw = text.encode()
    if len(raw) < 256:
        return b"\x8c" + bytes([len(raw)]) + raw
    return b"X" + struct.pack("<I", len(raw)) + raw


def binbytes(raw: bytes) -> bytes:
    return b"B" + struct.pack("<I", len(raw)) + raw


def put(key: int) -> bytes:
    return b"q" + bytes([key])


def get(key: int) -> bytes:
    return b"h" + bytes([key])


def glob(module: str, name: str) -> bytes:
    """GLOBAL, the protocol 0-3 text form."""
    return f"c{module}\n{name}\n".encode()


def sglob(module: str, name: str) -> bytes:
    """STACK_GLOBAL, protocol 4+."""
    return u(module) + u(name) + STACK_GLOBAL


def tup(*items: bytes) -> bytes:
    return MARK + b"".join(items) + TUPLE


def call(func: bytes, *args: bytes) -> bytes:
    return func + tup(*args) + REDUCE


def pkl(body: bytes, protocol: int = 4) -> bytes:
    return proto(protocol) + body + STOP


class Reduce:
    """pickle.dumps(Reduce(f, args)) is what a real attacker's object produces."""

    def __init__(self, func: Callable[..., Any], *args: Any) -> None:
        self.func, self.args = func, args

    def __reduce__(self) -> tuple[Any, ...]:
        return self.func, self.args


def dumps(func: Callable[..., Any], *args: Any, protocol: int = 4) -> bytes:
    return pickle.dumps(Reduce(func, *args), protocol=protocol)


def touch(canary: str) -> str:
    return f"touch {canary}"


# Each builder takes the canary path and returns (bytes, expected global, text of the call).
Payload = tuple[bytes, str, str]


def os_system(c: str) -> Payload:
    return dumps(os.system, touch(c)), "posix.system", f"posix.system('touch {c}')"


def os_system_by_hand(c: str) -> Payload:
    return pkl(call(glob("os", "system"), u(touch(c))), 2), "os.system", "os.system("


def posix_system(c: str) -> Payload:
    return pkl(call(sglob("posix", "system"), u(touch(c)))), "posix.system", "posix.system("


def subprocess_popen(c: str) -> Payload:
    data = dumps(subprocess.Popen, ["touch", c], protocol=2)
    return data, "subprocess.Popen", f"subprocess.Popen(['touch', '{c}'])"


def subprocess_check_output(c: str) -> Payload:
    data = dumps(subprocess.check_output, ["touch", c], protocol=5)
    return data, "subprocess.check_output", "subprocess.check_output(["


def builtins_eval(c: str) -> Payload:
    code = f"__import__('os').system('touch {c}')"
    return dumps(eval, code), "builtins.eval", "builtins.eval(\"__import__('os')"


def builtins_exec(c: str) -> Payload:
    code = f"import os; os.system('touch {c}')"
    return dumps(exec, code, protocol=0), "builtins.exec", 'builtins.exec("import os'


def import_getattr_chain(c: str) -> Payload:
    """getattr(__import__('os'), 'system')('touch ...'): the final callable is computed."""
    module = call(sglob("builtins", "__import__"), u("os"))
    system = call(sglob("builtins", "getattr"), module, u("system"))
    return pkl(call(system, u(touch(c)))), "builtins.getattr", "builtins.getattr("


def py2_builtin_eval(c: str) -> Payload:
    """`__builtin__` is Python 2's name: the real unpickler maps it to builtins."""
    data = pkl(call(glob("__builtin__", "eval"), u(f"__import__('os').system('touch {c}')")), 2)
    return data, "builtins.eval", "builtins.eval("


def py2_commands(c: str) -> Payload:
    """commands.getoutput: Python 2's module, mapped to subprocess by fix_imports."""
    data = pkl(call(glob("commands", "getoutput"), u(touch(c))), 2)
    return data, "subprocess.getoutput", "subprocess.getoutput('touch"


def timeit_timeit(c: str) -> Payload:
    import timeit

    stmt = f"__import__('os').system('touch {c}')"
    return dumps(timeit.timeit, stmt, "pass", None, 1), "timeit.timeit", "timeit.timeit("


def pip_main(c: str) -> Payload:
    data = pkl(call(sglob("pip", "main"), b"]" + MARK + u("install") + u(f"file://{c}") + b"e"))
    return data, "pip.main", "pip.main(['install'"


def runpy_run_path(c: str) -> Payload:
    import runpy

    return dumps(runpy.run_path, c + ".py"), "runpy.run_path", f"runpy.run_path('{c}.py')"


def importlib_import_module(c: str) -> Payload:
    module = call(sglob("importlib", "import_module"), u("os"))
    system = call(sglob("builtins", "getattr"), module, u("system"))
    return pkl(call(system, u(touch(c)))), "importlib.import_module", "import_module('os')"


def numpy_f2py(c: str) -> Payload:
    data = pkl(call(sglob("numpy.f2py.f2py2e", "run_main"), b"]" + MARK + u(c) + b"e"))
    return data, "numpy.f2py.f2py2e.run_main", "numpy.f2py.f2py2e.run_main(["


def operator_attrgetter(c: str) -> Payload:
    """attrgetter('system')(__import__('os'))('touch ...')"""
    getter = call(sglob("operator", "attrgetter"), u("system"))
    system = call(getter, call(sglob("builtins", "__import__"), u("os")))
    return pkl(call(system, u(touch(c)))), "operator.attrgetter", "operator.attrgetter('system')"


def operator_methodcaller(c: str) -> Payload:
    made = call(sglob("operator", "methodcaller"), u("system"), u(touch(c)))
    data = pkl(call(made, call(sglob("importlib", "import_module"), u("os"))))
    return data, "operator.methodcaller", "operator.methodcaller('system', 'touch "


def functools_partial(c: str) -> Payload:
    """partial(os.system, 'touch ...')() -- pickled by pickle itself, then called."""
    inner = pickle.dumps(functools.partial(os.system, touch(c)), protocol=2)
    body = inner[2:-1]  # without PROTO and STOP
    return pkl(body + b")" + REDUCE, 2), "functools.partial", "functools.partial(posix.system"


def memo_binget(c: str) -> Payload:
    """The names are memoized, popped, and fetched back with BINGET before STACK_GLOBAL."""
    body = u("posix") + put(0) + POP + u("system") + put(1) + POP + get(0) + get(1)
    return pkl(call(body + STACK_GLOBAL, u(touch(c)))), "posix.system", "posix.system("


def memo_dup_pop(c: str) -> Payload:
    """Module and name shuffled with DUP/POP so the last two strings seen are not them."""
    body = u("os") + DUP + POP + u("harmless") + POP + u("system") + STACK_GLOBAL
    return pkl(call(body, u(touch(c)))), "os.system", "os.system("


def memo_put_overwrite(c: str) -> Payload:
    """PUT 0 of a harmless module name, then PUT 0 again of 'os': GET 0 gives 'os'."""
    body = (
        u("collections")
        + put(0)
        + POP
        + u("os")
        + put(0)
        + POP
        + get(0)
        + u("system")
        + STACK_GLOBAL
    )
    return pkl(call(body, u(touch(c)))), "os.system", "os.system("


def dotted_name(c: str) -> Payload:
    """A dotted STACK_GLOBAL name walks attributes: collections -> _sys -> modules."""
    modules = sglob("collections", "_sys.modules")
    return pkl(call(modules, u(c))), "collections._sys.modules", "collections._sys.modules("


def second_pickle(c: str) -> Payload:
    harmless = pickle.dumps({"weights": [1.0, 2.0]}, protocol=4)
    return harmless + os_system(c)[0], "posix.system", "posix.system("


def protocol0_inst(c: str) -> Payload:
    """INST: `(S'touch ...'\\nios\\nsystem\\n.` -- the protocol 0 text form."""
    return f"(S'touch {c}'\nios\nsystem\n.".encode(), "os.system", "os.system('touch"


def protocol0_global(c: str) -> Payload:
    return f"cos\nsystem\n(S'touch {c}'\ntR.".encode(), "os.system", "os.system('touch"


def build_monkeypatch(c: str) -> Payload:
    """BUILD on an imported class sets attributes on it (tampering with the process)."""
    body = sglob("collections", "OrderedDict") + MARK + u("__doc__") + u(c) + b"d" + BUILD
    return pkl(body), "collections.OrderedDict", "BUILD"


def nested_loads(c: str) -> Payload:
    """pickle.loads(b'<another pickle calling os.system>')."""
    inner = os_system(c)[0]
    return pkl(call(sglob("pickle", "loads"), binbytes(inner))), "pickle.loads", "pickle.loads("


def torch_load_bytes(c: str) -> Payload:
    inner = os_system(c)[0]
    body = call(sglob("torch.storage", "_load_from_bytes"), binbytes(inner))
    return pkl(body), "torch.storage._load_from_bytes", "_load_from_bytes("


def gzipped(c: str) -> Payload:
    data, name, text = os_system(c)
    return gzip.compress(data), name, text


PAYLOADS: dict[str, Callable[[str], Payload]] = {
    f.__name__: f
    for f in (
        os_system,
        os_system_by_hand,
        posix_system,
        subprocess_popen,
        subprocess_check_output,
        builtins_eval,
        builtins_exec,
        import_getattr_chain,
        py2_builtin_eval,
        py2_commands,
        timeit_timeit,
        pip_main,
        runpy_run_path,
        importlib_import_module,
        numpy_f2py,
        operator_attrgetter,
        operator_methodcaller,
        functools_partial,
        memo_binget,
        memo_dup_pop,
        memo_put_overwrite,
        dotted_name,
        second_pickle,
        protocol0_inst,
        protocol0_global,
        build_monkeypatch,
        nested_loads,
        torch_load_bytes,
        gzipped,
    )
}


def extension_code() -> bytes:
    """EXT1 0x42 called with an argument: what it names depends on the loading process."""
    return pkl(b"\x82\x42" + tup(u("argument")) + REDUCE, 2)


def non_string_stack_global() -> bytes:
    return pkl(b"K\x01K\x02" + STACK_GLOBAL)
