"""A pickle reader that rebuilds a *description* of what a pickle holds without importing or
calling anything.

It is a real stack machine over the opcodes of protocols 0-5 (the same semantics as CPython's
unpickler: marks, memo, framing, out-of-band buffers), except that every import becomes a
`Global`, every call or instantiation a `Call`, every persistent id a `PersistentRef` and
every extension code an `ExtensionRef` (see pickle_model.py). Plain data is rebuilt as plain
Python.

Guarantees on hostile bytes: `PickleError` is the only exception that escapes; time is bounded
by `max_ops` and `deadline`; nothing deep is ever hashed (a 200 000-deep tuple used as a dict
key would crash CPython's `hash`); big byte strings are zero-copy `memoryview` slices.
Data that ends before STOP is not an error: the pickle comes back with `complete=False` and a
best-effort value (pending items put where the next opcode would most likely have put them).

Sparse reading (`read_pickles_from`): the machine works on a window of the file and asks a
`fetch(offset, length)` callback for more when an opcode runs past it. A big string or bytes
argument (>= BIG_BYTES) that is not already in the window is not read at all: it becomes a
`Skipped` placeholder (kind, length, file offset, first bytes) and parsing resumes just after
it, so a 100 MB pickle of numpy arrays is described from a few tens of KB.

Speed: runs of the same fixed-size opcode (BININT1, BININT2, BININT, BINFLOAT: what a list of
numbers is made of) are found with one strided slice and decoded by struct in C; runs of short
strings with their MEMOIZE / BINPUT are decoded in a tight inner loop.
"""

from __future__ import annotations

import _compat_pickle
import codecs
import contextlib
import copyreg
import itertools
import operator
import re
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .pickle_model import Call, ExtensionRef, Global, PersistentRef

__all__ = [
    "BIG_BYTES",
    "Fetch",
    "OutOfBandBuffer",
    "PickleError",
    "Skipped",
    "Truncated",
    "Unpickled",
    "looks_like_pickle",
    "read_pickle",
    "read_pickles",
    "read_pickles_from",
]

# Byte strings at least this long come back as read-only memoryview slices of the input.
BIG_BYTES = 64 * 1024
# Upper bound on elements put into containers (guards against amplification tricks).
MAX_ELEMENTS = 20_000_000
# A dict key / set member is hashed only if it is this small and shallow (CPython's tuple
# hash recurses in C without a depth guard, and is not cached: shared sub-tuples are
# rehashed exponentially often).
_MAX_KEY_NODES = 10_000
_MAX_KEY_DEPTH = 200
_CHECK_EVERY = 1024  # ops (and container items) between two deadline checks
# Sparse reading: the first window, the window after a skipped argument (what follows one is
# usually small: the next array's header), the growth factor and the largest window.
FIRST_WINDOW = 32 * 1024
WINDOW_AFTER_SKIP = 4 * 1024
_WINDOW_GROWTH = 4
MAX_WINDOW = 1 << 20
_SKIPPED_HEAD = 256  # bytes of a skipped argument kept (when they were in the window)
# Runs of the same fixed-size opcode decoded at once: at most this many per batch.
_RUN_MAX = 512

# fetch(offset, length) -> up to `length` bytes of the file at `offset` (fewer at its end, or
# when a budget refuses more; b"" when nothing more can be read).
Fetch = Callable[[int, int], bytes]


@dataclass(eq=False)
class OutOfBandBuffer:
    """NEXT_BUFFER: the data lives outside the pickle (protocol 5); `index` counts them."""

    index: int
    readonly: bool = False


@dataclass(frozen=True)
class Truncated:
    """A string or bytes argument cut off by the end of the data (budget-truncated input)."""

    kind: str  # "bytes", "str" or "bytearray"
    declared: int  # length the opcode announced
    available: int  # bytes that were actually there
    head: bytes = b""  # the first bytes that were there (at most 64)


@dataclass(frozen=True)
class Skipped:
    """A big string or bytes argument that sparse reading jumped over: present in the file
    (the pickle goes on after it) but not read. `head` holds its first bytes when they were
    already in hand (at most 256, possibly none)."""

    kind: str  # "bytes", "str" or "bytearray"
    length: int  # the argument's length in bytes
    offset: int  # where it starts in the file
    head: bytes = b""


@dataclass
class Unpickled:
    value: Any  # the rebuilt description (plain python + pickle_model symbols)
    protocol: int
    globals: list[Global]  # every global imported, in order
    calls: list[Call]  # every Call created, in order
    start: int
    end: int  # just past STOP (or where the data ran out)
    complete: bool  # False when the data ran out before STOP
    extensions: list[ExtensionRef] = field(default_factory=list)  # unresolved EXT codes
    # Opcodes that would mutate an imported object itself (BUILD/APPEND/SETITEM on a Global):
    # (opcode name, the Global or ExtensionRef).
    mutations: list[tuple[str, Any]] = field(default_factory=list)
    ops: int = 0  # opcodes executed
    buffers: int = 0  # out-of-band buffers referenced
    skipped: int = 0  # bytes of arguments jumped over by sparse reading (see Skipped)


class PickleError(Exception):
    """Malformed or hostile pickle bytes, or a bound (ops, time, size) reached.

    `partial` is what was read of the failing pickle up to the error (its globals and calls
    matter: the real unpickler would have imported and called them before failing);
    `pickles` the complete pickles read before it by `read_pickles`."""

    def __init__(
        self,
        message: str,
        *,
        offset: int | None = None,
        partial: Unpickled | None = None,
    ) -> None:
        super().__init__(message if offset is None else f"{message} (at byte {offset})")
        self.offset = offset
        self.partial = partial
        self.pickles: list[Unpickled] = []


class _OutOfData(Exception):
    pass


_unpack_i = struct.Struct("<i").unpack_from
_unpack_I = struct.Struct("<I").unpack_from
_unpack_Q = struct.Struct("<Q").unpack_from
_unpack_H = struct.Struct("<H").unpack_from
_unpack_d = struct.Struct(">d").unpack_from
_utf8 = codecs.utf_8_decode

_LEAF_KEYS = (frozenset, ExtensionRef, Truncated, Skipped)
_SCALAR_KEYS = (
    str,
    int,
    float,
    bool,
    bytes,
    type(None),
    Global,
    Call,
    PersistentRef,
    OutOfBandBuffer,
)
# Fixed-size argument lengths, to tell "the data ran out" from "the stack ran out".
_ARG_SIZE = {
    0x71: 1,
    0x4B: 1,
    0x8C: 1,
    0x68: 1,
    0x4A: 4,
    0x47: 8,
    0x95: 8,
    0x4D: 2,
    0x58: 4,
    0x8D: 8,
    0x43: 1,
    0x42: 4,
    0x8E: 8,
    0x96: 8,
    0x72: 4,
    0x6A: 4,
    0x80: 1,
    0x8A: 1,
    0x8B: 4,
    0x55: 1,
    0x54: 4,
    0x82: 1,
    0x83: 2,
    0x84: 4,
}


# Every opcode byte of protocols 0-5: a pickle may start with any of them (PROTO is optional).
_OPCODE_BYTES = frozenset(b"()*.0123BCFGIJKLMNPQRSTUVXabcdeghijlopqrstu}]") | frozenset(
    range(0x80, 0x99)
)
_ABSURD_LENGTH = 256 << 20


def looks_like_pickle(head: bytes | memoryview, *, whole: bool = False) -> bool:
    """Whether `head` (the first bytes of a file; `whole` when it is the entire file) reads
    as a pickle. Protocol 0 pickles are ASCII text: anything that would import and call
    something before the data ends or breaks counts, as the real unpickler would run it."""
    buf, view = _prepare(head)
    if len(buf) >= 2 and buf[0] == 0x80 and buf[1] <= 5:
        return True
    if not buf or buf[0] not in _OPCODE_BYTES:
        return False
    machine = _Machine(buf, view, 0, 0, 100_000, None)
    try:
        one = machine.run()
    except PickleError as error:
        partial = error.partial
        return partial is not None and bool(partial.calls or partial.mutations)
    if one.complete or one.calls or one.mutations:
        return True
    # Cut off by the end of the sample: a pickle unless the sample is the whole file, or the
    # cut is a length no real file has (text starting "The ..." reads as a 1.9 GB BINSTRING).
    return not whole and machine.cut <= _ABSURD_LENGTH


def read_pickles(
    data: bytes | bytearray | memoryview,
    *,
    max_pickles: int = 64,
    max_ops: int = 5_000_000,
    deadline: float | None = None,
) -> list[Unpickled]:
    """The pickles stored one after another in `data` (a second one may hide a payload).

    A last pickle cut off by the end of the data comes back with complete=False. A malformed
    one raises PickleError whose `pickles` holds the ones before it and `partial` what was
    read of it. Stops after `max_pickles` (check `result[-1].end < len(data)`)."""
    buf, view = _prepare(data)
    return _read_all(buf, view, None, len(buf), max_pickles, max_ops, deadline)


def read_pickles_from(
    fetch: Fetch,
    size: int,
    *,
    max_pickles: int = 64,
    max_ops: int = 5_000_000,
    deadline: float | None = None,
) -> list[Unpickled]:
    """`read_pickles` on a file of `size` bytes read through `fetch(offset, length)`, in
    windows, from offset 0: only the bytes the opcodes need are fetched. Big string and bytes
    arguments not already in hand come back as `Skipped` (never fetched). When `fetch` stops
    giving bytes (a budget), the last pickle comes back with complete=False."""
    source = _Source(fetch, size)
    data = source.read(0, 0)
    return _read_all(data, memoryview(data), source, size, max_pickles, max_ops, deadline)


def read_pickle(
    data: bytes | bytearray | memoryview,
    offset: int = 0,
    *,
    max_ops: int = 5_000_000,
    deadline: float | None = None,
) -> Unpickled:
    """Read one pickle starting at `offset`. `deadline` is a `time.monotonic()` value."""
    buf, view = _prepare(data)
    return _Machine(buf, view, 0, offset, max_ops, deadline).run()


def _read_all(
    buf: bytes,
    view: memoryview,
    source: _Source | None,
    size: int,
    max_pickles: int,
    max_ops: int,
    deadline: float | None,
) -> list[Unpickled]:
    found: list[Unpickled] = []
    base = pos = 0
    ops_left = max_ops
    while base + pos < size and len(found) < max_pickles:
        machine = _Machine(buf, view, base, pos, ops_left, deadline, source)
        try:
            one = machine.run()
        except PickleError as error:
            error.pickles = found
            raise
        found.append(one)
        if not one.complete:
            break
        # The next pickle starts where this one stopped, in the window it stopped in.
        buf, view, base, pos = machine.buf, machine.view, machine.base, machine.pos
        ops_left -= one.ops
    return found


def _prepare(data: bytes | bytearray | memoryview) -> tuple[bytes, memoryview]:
    """The data as bytes (fast to index and slice) and as a read-only byte view (big
    arguments come back as zero-copy slices of it)."""
    if type(data) is bytes:
        return data, memoryview(data)
    view = data if isinstance(data, memoryview) else memoryview(data)
    if view.format != "B" or view.ndim != 1:
        view = view.cast("B")
    view = view if view.readonly else view.toreadonly()
    return view.tobytes(), view


class _Source:
    """Where sparse reading gets the next window: growing windows while reading on, a small
    one after a skipped argument."""

    def __init__(self, fetch: Fetch, size: int) -> None:
        self.fetch = fetch
        self.size = size
        self.window = FIRST_WINDOW

    def read(self, offset: int, need: int, *, after_skip: bool = False) -> bytes:
        """At least `need` bytes at `offset` when the file (and fetch) allow."""
        if after_skip:
            self.window = WINDOW_AFTER_SKIP
        length = min(max(need, self.window), self.size - offset)
        self.window = min(self.window * _WINDOW_GROWTH, MAX_WINDOW)
        if length <= 0:
            return b""
        data = self.fetch(offset, length)
        return data if type(data) is bytes else bytes(data)


class _Malformed(Exception):
    pass


class _Run:
    """A run of one fixed-size opcode (`stride` bytes each: the opcode, then a number in
    struct format `code`), counted with a strided slice and decoded by struct in C."""

    def __init__(self, opcode: int, stride: int, code: str) -> None:
        self.opcode = bytes([opcode])
        self.stride = stride
        self.code = code
        self.structs: dict[int, struct.Struct] = {}

    def count(self, buf: bytes, at: int, size: int, most: int) -> int:
        """How many of the opcode follow one another from `at` (at most `most`), all within
        `buf[:size]`."""
        fits = max(1, min(most, 2 * _RUN_MAX, (size - at) // self.stride))
        probe = buf[at : at + self.stride * fits : self.stride]
        return fits - len(probe.lstrip(self.opcode))

    def decode(self, stack: list[Any], buf: bytes, at: int, count: int) -> None:
        """Push the `count` numbers of the run at `at` (in chunks of powers of two, each
        with its own cached struct: 'x' skips an opcode byte)."""
        chunk = _RUN_MAX
        while count:
            if count >= chunk:
                layout = self.structs.get(chunk)
                if layout is None:
                    layout = self.structs[chunk] = struct.Struct(
                        self.code[0] + ("x" + self.code[1]) * chunk
                    )
                stack.extend(layout.unpack_from(buf, at))
                at += self.stride * chunk
                count -= chunk
            else:
                chunk >>= 1


_INT2_RUN = _Run(0x4D, 3, "<H")
_INT4_RUN = _Run(0x4A, 5, "<i")
_FLOAT_RUN = _Run(0x47, 9, ">d")
_BYTE_RUN = _Run(0x4B, 2, "<B")  # counted like the others, decoded by slicing
# Dict keys of these exact types are hashed without any check.
_PLAIN_KEYS = frozenset({str, int, float, bool, type(None), bytes})


_STRING_RUN = re.compile(rb"(?:\x8c[\x00-\xff][\x00-\x7f]*\x94)+")
_AFTER_LENGTH = slice(1, None)
_first = operator.itemgetter(0)


def _string_run(buf: bytes, at: int, size: int, most: int) -> tuple[list[str], int] | None:
    """The strings (at most `most`) of a run of SHORT_BINUNICODE + MEMOIZE pairs with ASCII
    text at `at` in `buf[:size]`, and where they end; None when there is no such run (the
    opcodes then take the one-by-one path). Done in C: the run is matched by a regular
    expression, split at its MEMOIZE + SHORT_BINUNICODE boundaries (ASCII text holds neither
    byte), and every announced length is checked against the text found."""
    match = _STRING_RUN.match(buf, at, min(size, at + 260 * most))
    if match is None:
        return None
    stop = match.end()
    # Each part is the length byte (as a latin-1 character) followed by the text.
    parts = buf[at + 1 : stop - 1].decode("latin-1").split("\x94\x8c", most)
    if len(parts) > most:
        del parts[most:]
        stop = at + sum(map(len, parts)) + 2 * most
    words: list[str] = list(map(operator.getitem, parts, itertools.repeat(_AFTER_LENGTH)))
    if list(map(len, words)) != list(map(ord, map(_first, parts))):
        return None
    return words, stop


class _Machine:
    def __init__(
        self,
        buf: bytes,
        view: memoryview,
        base: int,
        pos: int,
        max_ops: int,
        deadline: float | None,
        source: _Source | None = None,
    ) -> None:
        # The window: `buf` (and `view`, the same bytes) hold the file from offset `base`.
        self.buf = buf
        self.view = view
        self.base = base
        self.source = source  # None: the data is all there is
        self.start = base + pos
        self.pos = pos  # in the window
        self.at = pos  # where the current opcode starts, in the window
        self.max_ops = max_ops
        self.deadline = deadline
        self.stack: list[Any] = []
        self.metastack: list[list[Any]] = []
        self.memo: dict[int, Any] = {}
        self.proto = 0
        self.globals: list[Global] = []
        self.calls: list[Call] = []
        self.extensions: list[ExtensionRef] = []
        self.mutations: list[tuple[str, Any]] = []
        self.ops = 0
        self.buffers = 0
        self.elements = 0
        self.cut = 0  # bytes missing from the argument the data ended in
        self.need = 0  # file offset the window must reach for the opcode that ran out
        self.jump = -1  # file offset to resume at after a skipped argument
        self.pending: Truncated | None = None  # placeholder for an argument the data cut
        self.skipped = 0

    # -- results ---------------------------------------------------------------------------

    def _result(self, value: Any, complete: bool) -> Unpickled:
        return Unpickled(
            value=value,
            protocol=self.proto,
            globals=self.globals,
            calls=self.calls,
            start=self.start,
            end=self.base + self.pos,
            complete=complete,
            extensions=self.extensions,
            mutations=self.mutations,
            ops=self.ops,
            buffers=self.buffers,
            skipped=self.skipped,
        )

    def run(self) -> Unpickled:
        while True:
            try:
                value = self._loop()
            except _OutOfData:
                if self._refill():
                    continue
                if self.pending is not None:
                    self.stack.append(self.pending)
                self.pos = len(self.buf)
                return self._result(self._close(), False)
            except _Malformed as error:
                message = str(error)
            except IndexError:
                message = "stack underflow (an opcode needs more values than the stack holds)"
            except RecursionError:
                message = "structure nested too deeply"
            except MemoryError:
                message = "out of memory rebuilding the pickle"
            except (
                ValueError,
                TypeError,
                OverflowError,
                UnicodeDecodeError,
                struct.error,
            ) as error:
                message = f"malformed argument: {error}"
            else:
                return self._result(value, True)
            raise PickleError(
                message, offset=self.base + self.at, partial=self._result(None, False)
            )

    def _refill(self) -> bool:
        """After the window ran out: move it on (sparse reading), True when there is more to
        read. The opcode that ran out is read again from its start, or, after a skipped
        argument, reading goes on just past it."""
        if self.pos > self.at and self.jump < 0:
            self.ops -= 1  # the opcode that ran out did not happen (yet)
        source = self.source
        if source is None:
            return False
        if self.jump >= 0:
            offset, self.jump = self.jump, -1
            self._window(source.read(offset, 0, after_skip=True), offset)
            return True
        held = self.base + len(self.buf)
        data = source.read(held, max(self.need - held, 1))
        if not data:
            return False
        self._window(self.buf[self.at :] + data, self.base + self.at)
        return True

    def _window(self, buf: bytes, base: int) -> None:
        self.buf = buf
        self.view = memoryview(buf)
        self.base = base
        self.pos = self.at = 0
        self.need = 0
        self.pending = None

    # -- helpers ---------------------------------------------------------------------------

    def _take(self, pos: int, n: int, kind: str = "") -> memoryview:
        """`n` bytes at `pos`. When the window ends first: with sparse reading, a big
        argument is skipped (a `Skipped` placeholder is pushed) and anything else waits for
        the window to move on; otherwise the read stops, with a `Truncated` placeholder for
        the argument (if `kind` is given)."""
        if n < 0:
            raise _Malformed("negative length")
        buf = self.buf
        end = pos + n
        if end > len(buf):
            source = self.source
            if kind and source is not None and n >= BIG_BYTES and self.base + end <= source.size:
                head = buf[pos : pos + _SKIPPED_HEAD]
                self.stack.append(Skipped(kind, n, self.base + pos, head))
                self.skipped += n
                self.jump = self.base + end
                raise _OutOfData
            self.cut = end - len(buf)
            self.need = self.base + end
            if kind:
                self.pending = Truncated(kind, n, len(buf) - pos, buf[pos : pos + 64])
            raise _OutOfData
        return self.view[pos:end]

    def _line(self, pos: int) -> tuple[bytes, int]:
        """The bytes up to the next newline, and the position after it."""
        buf = self.buf
        index = buf.find(b"\n", pos)
        if index < 0:
            self.need = self.base + len(buf) + 1
            raise _OutOfData
        return buf[pos:index], index + 1

    def _pop_mark(self) -> list[Any]:
        items = self.stack
        if not self.metastack:
            raise _Malformed("no MARK before an opcode that needs one")
        self.stack = self.metastack.pop()
        return items

    def _count(self, n: int) -> None:
        self.elements += n
        if self.elements > MAX_ELEMENTS:
            raise _Malformed(f"more than {MAX_ELEMENTS} container elements")

    def _key(self, key: Any) -> Any:
        """`key`, once known to be hashable cheaply and safely; _Malformed otherwise."""
        if isinstance(key, _SCALAR_KEYS) or type(key) in _LEAF_KEYS:
            return key
        if isinstance(key, tuple):
            budget = _MAX_KEY_NODES
            todo: list[tuple[Any, int]] = [(key, 0)]
            while todo:
                item, depth = todo.pop()
                budget -= 1
                if budget < 0 or depth > _MAX_KEY_DEPTH:
                    raise _Malformed("dict key or set member too large to hash")
                if isinstance(item, tuple):
                    todo.extend((sub, depth + 1) for sub in item)
                elif not (
                    isinstance(item, _SCALAR_KEYS)
                    or type(item) in _LEAF_KEYS
                    or (isinstance(item, memoryview) and item.readonly)
                ):
                    raise _Malformed(
                        f"unhashable {type(item).__name__} inside a dict key or set member"
                    )
            return key
        if isinstance(key, memoryview) and key.readonly:
            return key
        raise _Malformed(f"unhashable dict key or set member: {type(key).__name__}")

    def _tick(self) -> None:
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise _Malformed("time limit reached while reading the pickle")

    def _find_class(self, module: str, name: str) -> Global:
        # What CPython's Unpickler.find_class would import: Python 2 names are mapped for
        # protocols < 3 (fix_imports), e.g. __builtin__.eval -> builtins.eval.
        if self.proto < 3:
            if (module, name) in _compat_pickle.NAME_MAPPING:
                module, name = _compat_pickle.NAME_MAPPING[(module, name)]
            elif module in _compat_pickle.IMPORT_MAPPING:
                module = _compat_pickle.IMPORT_MAPPING[module]
        found = Global(module, name)
        self.globals.append(found)
        return found

    def _call(self, func: Any, args: Any, opcode: str, kwargs: Any = None) -> Call:
        if isinstance(args, list):
            args = tuple(args)
        elif not isinstance(args, tuple):
            args = (args,)
        if kwargs is not None and not isinstance(kwargs, dict):
            kwargs = {"**": kwargs}
        made = Call(func, args, kwargs, opcode)
        self.calls.append(made)
        return made

    def _mutate(self, opcode: str, target: Any) -> None:
        """An opcode applied to an imported object itself is recorded; to anything else that
        cannot take it, it is an error (as in CPython)."""
        if isinstance(target, (Global, ExtensionRef)):
            self.mutations.append((opcode, target))
        elif opcode != "BUILD":
            raise _Malformed(f"{opcode} on a {type(target).__name__}")

    def _append(self, items: list[Any], opcode: str) -> None:
        target = self.stack[-1]
        self._count(len(items))
        if isinstance(target, list):
            target.extend(items)
        elif isinstance(target, Call):
            target.items.extend(items)
        else:
            self._mutate(opcode, target)

    def _setitems(self, items: list[Any], opcode: str) -> None:
        target = self.stack[-1]
        if len(items) % 2:
            raise _Malformed(f"odd number of items for {opcode}")
        self._count(len(items) // 2)
        if isinstance(target, dict):
            keys = items[::2]
            if set(map(type, keys)) <= _PLAIN_KEYS:  # all cheap and safe to hash: in C
                target.update(zip(keys, items[1::2], strict=True))
                return
            key_of = self._key
            check = self.deadline is not None
            for i in range(0, len(items), 2):
                target[key_of(items[i])] = items[i + 1]
                if check and not i % _CHECK_EVERY:
                    self._tick()
        elif isinstance(target, Call):
            target.entries.extend(zip(items[::2], items[1::2], strict=True))
        else:
            self._mutate(opcode, target)

    def _dict(self, items: list[Any]) -> dict[Any, Any]:
        made: dict[Any, Any] = {}
        self.stack.append(made)
        self._setitems(items, "DICT")
        return self.stack.pop()  # type: ignore[no-any-return]

    def _additems(self, items: list[Any]) -> None:
        target = self.stack[-1]
        self._count(len(items))
        if isinstance(target, set):
            check = self.deadline is not None
            for i, item in enumerate(items):
                target.add(self._key(item))
                if check and not i % _CHECK_EVERY:
                    self._tick()
        elif isinstance(target, Call):
            target.items.extend(items)
        else:
            self._mutate("ADDITEMS", target)

    def _ext(self, code: int) -> Any:
        registered = copyreg._inverted_registry.get(code)  # type: ignore[attr-defined]
        if registered is not None:
            return self._find_class(*registered)
        ref = ExtensionRef(code)
        self.extensions.append(ref)
        return ref

    def _close(self) -> Any:
        """Data ran out: put pending marked items where they were most likely going."""
        stack = self.stack
        while self.metastack:
            items, stack = stack, self.metastack.pop()
            top = stack[-1] if stack else None
            if isinstance(top, list):
                top.extend(items)
            elif isinstance(top, dict):
                for i in range(0, len(items) - 1, 2):
                    with contextlib.suppress(_Malformed):
                        top[self._key(items[i])] = items[i + 1]
            elif isinstance(top, set):
                for item in items:
                    with contextlib.suppress(_Malformed):
                        top.add(self._key(item))
            elif isinstance(top, Call) and top.opcode != "REDUCE" and not top.built:
                top.items.extend(items)
            else:
                stack.append(tuple(items))
        if not stack:
            return None
        root = stack[0]
        if len(stack) == 2 and isinstance(root, Call) and not root.built and root.state is None:
            root.state = stack[1]  # most likely the argument of a BUILD that never came
        return root

    # -- the loop --------------------------------------------------------------------------

    def _loop(self) -> Any:
        buf = self.buf
        size = len(buf)
        # Below this, an opcode and its fixed-size argument (8 bytes at most) are in the
        # window, and so is the next opcode byte: checked once per opcode, not per read.
        near_end = size - 10
        memo = self.memo
        metastack = self.metastack
        max_ops = self.max_ops
        ops = self.ops
        next_check = min(max_ops + 1, ops + _CHECK_EVERY)
        take = self._take
        line = self._line
        pos = at = self.pos
        stack = self.stack
        try:
            while True:
                at = pos
                if pos > near_end and (pos >= size or pos + 1 + _ARG_SIZE.get(buf[pos], 0) > size):
                    raise _OutOfData
                op = buf[pos]
                pos += 1
                ops += 1
                if ops >= next_check:
                    if ops > max_ops:
                        raise _Malformed(f"more than {max_ops} opcodes")
                    self._tick()
                    next_check = min(max_ops + 1, ops + _CHECK_EVERY)
                # Most frequent opcodes first.
                if op == 0x94:  # MEMOIZE
                    memo[len(memo)] = stack[-1]
                elif op == 0x8C:  # SHORT_BINUNICODE, and the short strings right after it
                    end = pos + 1 + buf[pos]
                    if end > size:
                        take(pos + 1, buf[pos], "str")  # ends the window
                    if (
                        end < near_end
                        and buf[end] == 0x94
                        and buf[end + 1] == 0x8C
                        and (after := end + 3 + buf[end + 2]) < near_end
                        and buf[after] == 0x94
                        and buf[after + 1] == 0x8C
                    ):
                        # Three memoized strings in a row, or more: one bulk read (None
                        # when they are not all ASCII).
                        run = _string_run(buf, at, size, (next_check - ops + 1) // 2)
                        if run is not None:
                            words, pos = run
                            stack.extend(words)
                            count = len(words)
                            first = len(memo)
                            if memo.keys().isdisjoint(range(first, first + count)):
                                memo.update(zip(range(first, first + count), words, strict=True))
                            else:  # sparse memo keys (BINPUT/PUT): MEMOIZE one by one
                                for word in words:
                                    memo[len(memo)] = word
                            ops += 2 * count - 1
                            continue
                    word = buf[pos + 1 : end].decode("utf-8", "surrogatepass")
                    stack.append(word)
                    pos = end
                    # A run of short strings, each memoized or not (a list of names, dict
                    # keys), is read by this inner loop; it stops at any other opcode.
                    while pos < near_end and ops + 2 < next_check:
                        op = buf[pos]
                        if op == 0x94:  # MEMOIZE
                            memo[len(memo)] = word
                            pos += 1
                            ops += 1
                            op = buf[pos]
                        elif op == 0x71:  # BINPUT
                            memo[buf[pos + 1]] = word
                            pos += 2
                            ops += 1
                            op = buf[pos]
                        if op != 0x8C:
                            break
                        end = pos + 2 + buf[pos + 1]
                        if end > near_end:
                            break
                        at = pos
                        word = buf[pos + 2 : end].decode("utf-8", "surrogatepass")
                        stack.append(word)
                        pos = end
                        ops += 1
                elif op == 0x71:  # BINPUT
                    memo[buf[pos]] = stack[-1]
                    pos += 1
                elif op == 0x68:  # BINGET
                    try:
                        stack.append(memo[buf[pos]])
                    except KeyError:
                        raise _Malformed(f"memo key {buf[pos]} not found") from None
                    pos += 1
                elif op == 0x4B:  # BININT1 (a run of them at once)
                    if at < near_end and buf[pos + 1] == 0x4B:
                        count = _BYTE_RUN.count(buf, at, size, next_check - ops)
                        pos = at + 2 * count
                        stack.extend(buf[at + 1 : pos : 2])
                        ops += count - 1
                    else:
                        stack.append(buf[pos])
                        pos += 1
                elif op == 0x47:  # BINFLOAT (a run of them at once)
                    if at < near_end and buf[pos + 8] == 0x47:
                        count = _FLOAT_RUN.count(buf, at, size, next_check - ops)
                        _FLOAT_RUN.decode(stack, buf, at, count)
                        pos = at + 9 * count
                        ops += count - 1
                    else:
                        stack.append(_unpack_d(buf, pos)[0])
                        pos += 8
                elif op == 0x28:  # MARK
                    metastack.append(stack)
                    stack = self.stack = []
                elif op == 0x65:  # APPENDS
                    if not metastack:
                        raise _Malformed("no MARK before an opcode that needs one")
                    items = stack
                    stack = self.stack = metastack.pop()
                    target = stack[-1]
                    if type(target) is list:
                        self.elements += len(items)
                        if self.elements > MAX_ELEMENTS:
                            raise _Malformed(f"more than {MAX_ELEMENTS} container elements")
                        target.extend(items)
                    else:
                        self._append(items, "APPENDS")
                elif op == 0x5D or op == 0x7D:  # EMPTY_LIST, EMPTY_DICT
                    made: list[Any] | dict[Any, Any] = [] if op == 0x5D else {}
                    stack.append(made)
                    if at < near_end:  # with the MEMOIZE / BINPUT and MARK that follow
                        op = buf[pos]
                        if op == 0x94:
                            memo[len(memo)] = made
                            pos += 1
                            ops += 1
                            op = buf[pos]
                        elif op == 0x71:
                            memo[buf[pos + 1]] = made
                            pos += 2
                            ops += 1
                            op = buf[pos]
                        if op == 0x28:
                            metastack.append(stack)
                            stack = self.stack = []
                            pos += 1
                            ops += 1
                elif op == 0x75:  # SETITEMS
                    if not metastack:
                        raise _Malformed("no MARK before an opcode that needs one")
                    items = stack
                    stack = self.stack = metastack.pop()
                    target = stack[-1]
                    keys = items[::2]
                    if (
                        type(target) is dict
                        and 2 * len(keys) == len(items)
                        and set(map(type, keys)) <= _PLAIN_KEYS
                    ):  # all keys cheap and safe to hash: added in C
                        self.elements += len(keys)
                        if self.elements > MAX_ELEMENTS:
                            raise _Malformed(f"more than {MAX_ELEMENTS} container elements")
                        target.update(zip(keys, items[1::2], strict=True))
                    else:
                        self._setitems(items, "SETITEMS")
                elif op == 0x6A:  # LONG_BINGET
                    (key,) = _unpack_I(buf, pos)
                    try:
                        stack.append(memo[key])
                    except KeyError:
                        raise _Malformed(f"memo key {key} not found") from None
                    pos += 4
                elif op == 0x4A:  # BININT (a run of them at once)
                    if at < near_end and buf[pos + 4] == 0x4A:
                        count = _INT4_RUN.count(buf, at, size, next_check - ops)
                        _INT4_RUN.decode(stack, buf, at, count)
                        pos = at + 5 * count
                        ops += count - 1
                    else:
                        stack.append(_unpack_i(buf, pos)[0])
                        pos += 4
                elif op == 0x4D:  # BININT2 (a run of them at once)
                    if at < near_end and buf[pos + 2] == 0x4D:
                        count = _INT2_RUN.count(buf, at, size, next_check - ops)
                        _INT2_RUN.decode(stack, buf, at, count)
                        pos = at + 3 * count
                        ops += count - 1
                    else:
                        stack.append(_unpack_H(buf, pos)[0])
                        pos += 2
                elif op == 0x4E:  # NONE
                    stack.append(None)
                elif op == 0x88:  # NEWTRUE
                    stack.append(True)
                elif op == 0x89:  # NEWFALSE
                    stack.append(False)
                elif op == 0x58:  # BINUNICODE
                    (n,) = _unpack_I(buf, pos)
                    stack.append(str(take(pos + 4, n, "str"), "utf-8", "surrogatepass"))
                    pos += 4 + n
                elif op == 0x72:  # LONG_BINPUT
                    memo[_unpack_I(buf, pos)[0]] = stack[-1]
                    pos += 4
                elif op == 0x86:  # TUPLE2
                    second = stack.pop()
                    stack[-1] = (stack[-1], second)
                elif op == 0x85:  # TUPLE1
                    stack[-1] = (stack[-1],)
                elif op == 0x87:  # TUPLE3
                    third = stack.pop()
                    second = stack.pop()
                    stack[-1] = (stack[-1], second, third)
                elif op == 0x29:  # EMPTY_TUPLE
                    stack.append(())
                elif op == 0x95:  # FRAME: only a read-ahead hint
                    pos += 8
                elif op == 0x8D:  # BINUNICODE8
                    (n,) = _unpack_Q(buf, pos)
                    stack.append(str(take(pos + 8, n, "str"), "utf-8", "surrogatepass"))
                    pos += 8 + n
                elif op == 0x43:  # SHORT_BINBYTES
                    end = pos + 1 + buf[pos]
                    if end > size:
                        take(pos + 1, buf[pos], "bytes")  # ends the window
                    stack.append(buf[pos + 1 : end])
                    pos = end
                elif op == 0x42 or op == 0x8E:  # BINBYTES, BINBYTES8
                    width = 4 if op == 0x42 else 8
                    (n,) = (_unpack_I if op == 0x42 else _unpack_Q)(buf, pos)
                    raw = take(pos + width, n, "bytes")
                    stack.append(raw if n >= BIG_BYTES else raw.tobytes())
                    pos += width + n
                elif op == 0x96:  # BYTEARRAY8
                    (n,) = _unpack_Q(buf, pos)
                    raw = take(pos + 8, n, "bytearray")
                    stack.append(raw if n >= BIG_BYTES else bytearray(raw))
                    pos += 8 + n
                elif op == 0x61:  # APPEND
                    item = stack.pop()
                    self._append([item], "APPEND")
                elif op == 0x73:  # SETITEM
                    value = stack.pop()
                    key = stack.pop()
                    self._setitems([key, value], "SETITEM")
                elif op == 0x8F:  # EMPTY_SET
                    stack.append(set())
                elif op == 0x90:  # ADDITEMS
                    self._additems(self._pop_mark())
                    stack = self.stack
                elif op == 0x91:  # FROZENSET
                    items = self._pop_mark()
                    self._count(len(items))
                    self.stack.append(frozenset([self._key(item) for item in items]))
                    stack = self.stack
                elif op == 0x6C:  # LIST
                    items = self._pop_mark()
                    self._count(len(items))
                    self.stack.append(items)
                    stack = self.stack
                elif op == 0x74:  # TUPLE
                    items = self._pop_mark()
                    self._count(len(items))
                    self.stack.append(tuple(items))
                    stack = self.stack
                elif op == 0x64:  # DICT
                    made = self._dict(self._pop_mark())
                    self.stack.append(made)
                    stack = self.stack
                elif op == 0x52:  # REDUCE
                    args = stack.pop()
                    stack[-1] = self._call(stack[-1], args, "REDUCE")
                elif op == 0x62:  # BUILD
                    state = stack.pop()
                    target = stack[-1]
                    if isinstance(target, Call):
                        target.state = state
                        target.built = True
                    else:
                        self._mutate("BUILD", target)
                elif op == 0x93:  # STACK_GLOBAL
                    name = stack.pop()
                    module = stack.pop()
                    # CPython refuses non-strings; they are kept as a suspicious "?" import.
                    stack.append(
                        self._find_class(
                            module if isinstance(module, str) else "?",
                            name if isinstance(name, str) else "?",
                        )
                    )
                elif op == 0x63 or op == 0x69:  # GLOBAL, INST
                    module_line, pos = line(pos)
                    name_line, pos = line(pos)
                    cls = self._find_class(module_line.decode("utf-8"), name_line.decode("utf-8"))
                    if op == 0x63:
                        stack.append(cls)
                    else:
                        args = self._pop_mark()
                        self.stack.append(self._call(cls, tuple(args), "INST"))
                        stack = self.stack
                elif op == 0x81:  # NEWOBJ
                    args = stack.pop()
                    stack[-1] = self._call(stack[-1], args, "NEWOBJ")
                elif op == 0x92:  # NEWOBJ_EX
                    kwargs = stack.pop()
                    args = stack.pop()
                    stack[-1] = self._call(stack[-1], args, "NEWOBJ_EX", kwargs)
                elif op == 0x80:  # PROTO
                    proto = buf[pos]
                    pos += 1
                    if proto > 5:
                        raise _Malformed(f"unsupported pickle protocol {proto}")
                    self.proto = proto
                elif op == 0x2E:  # STOP
                    return stack.pop()
                elif op == 0x30:  # POP
                    if stack:
                        stack.pop()
                    else:
                        self._pop_mark()
                        stack = self.stack
                elif op == 0x31:  # POP_MARK
                    self._pop_mark()
                    stack = self.stack
                elif op == 0x32:  # DUP
                    stack.append(stack[-1])
                elif op == 0x8A:  # LONG1
                    n = buf[pos]
                    stack.append(int.from_bytes(take(pos + 1, n), "little", signed=True))
                    pos += 1 + n
                elif op == 0x8B:  # LONG4
                    (n,) = _unpack_i(buf, pos)
                    stack.append(int.from_bytes(take(pos + 4, n), "little", signed=True))
                    pos += 4 + n
                elif op == 0x55:  # SHORT_BINSTRING
                    n = buf[pos]
                    stack.append(_py2_string(take(pos + 1, n, "str").tobytes()))
                    pos += 1 + n
                elif op == 0x54:  # BINSTRING
                    (n,) = _unpack_i(buf, pos)
                    stack.append(_py2_string(take(pos + 4, n, "str").tobytes()))
                    pos += 4 + n
                elif op == 0x49:  # INT
                    text, pos = line(pos)
                    if text == b"00":
                        stack.append(False)
                    elif text == b"01":
                        stack.append(True)
                    else:
                        stack.append(int(text, 0))
                elif op == 0x4C:  # LONG
                    text, pos = line(pos)
                    stack.append(int(text[:-1] if text.endswith(b"L") else text, 0))
                elif op == 0x46:  # FLOAT
                    text, pos = line(pos)
                    stack.append(float(text))
                elif op == 0x53:  # STRING
                    text, pos = line(pos)
                    if len(text) < 2 or text[0] != text[-1] or text[:1] not in (b'"', b"'"):
                        raise _Malformed("the STRING opcode argument must be quoted")
                    stack.append(_py2_string(_escape_decode(text[1:-1])))
                elif op == 0x56:  # UNICODE
                    text, pos = line(pos)
                    stack.append(str(text, "raw-unicode-escape"))
                elif op == 0x70:  # PUT
                    text, pos = line(pos)
                    memo[int(text)] = stack[-1]
                elif op == 0x67:  # GET
                    text, pos = line(pos)
                    key = int(text)
                    if key not in memo:
                        raise _Malformed(f"memo key {key} not found")
                    stack.append(memo[key])
                elif op == 0x6F:  # OBJ
                    args = self._pop_mark()
                    if not args:
                        raise _Malformed("OBJ without a class")
                    cls = args.pop(0)
                    self.stack.append(self._call(cls, tuple(args), "OBJ"))
                    stack = self.stack
                elif op == 0x50:  # PERSID
                    text, pos = line(pos)
                    stack.append(PersistentRef(text.decode("ascii")))
                elif op == 0x51:  # BINPERSID
                    stack[-1] = PersistentRef(stack[-1])
                elif op == 0x82:  # EXT1
                    stack.append(self._ext(buf[pos]))
                    pos += 1
                elif op == 0x83:  # EXT2
                    stack.append(self._ext(_unpack_H(buf, pos)[0]))
                    pos += 2
                elif op == 0x84:  # EXT4
                    stack.append(self._ext(_unpack_i(buf, pos)[0]))
                    pos += 4
                elif op == 0x97:  # NEXT_BUFFER
                    stack.append(OutOfBandBuffer(self.buffers))
                    self.buffers += 1
                elif op == 0x98:  # READONLY_BUFFER
                    if isinstance(stack[-1], OutOfBandBuffer):
                        stack[-1].readonly = True
                    elif isinstance(stack[-1], bytearray):
                        stack[-1] = bytes(stack[-1])
                else:
                    raise _Malformed(f"unknown opcode 0x{op:02x}")
        finally:
            self.pos, self.ops, self.at = pos, ops, at


def _escape_decode(text: bytes) -> bytes:
    """The STRING argument's escapes decoded (bytes at run time, whatever the stubs say)."""
    decoded: Any = codecs.escape_decode(text)[0]
    return bytes(decoded)


def _py2_string(raw: bytes) -> str | bytes:
    """Python 2 `str` (STRING, BINSTRING, SHORT_BINSTRING): text when ASCII (as Python 3's
    unpickler decodes it by default), else the bytes (as encoding="bytes" would)."""
    try:
        return raw.decode("ascii")
    except UnicodeDecodeError:
        return raw
