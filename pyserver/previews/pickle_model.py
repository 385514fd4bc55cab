"""The values a pickle is rebuilt into when it is read without importing or calling anything.

Plain data becomes plain Python (None, bool, int, float, str, bytes, bytearray, list, tuple,
dict, set, frozenset). Everything the real unpickler would import or call stays symbolic:

- `Global`: a `module.name` the pickle would import (GLOBAL, STACK_GLOBAL, INST, OBJ).
- `Call`: what calling or instantiating it would produce (REDUCE, NEWOBJ, NEWOBJ_EX, INST,
  OBJ), with the arguments and whatever BUILD, APPENDS and SETITEMS later apply to it.
- `PersistentRef`: a persistent id (torch uses them for storages), left unresolved.
- `ExtensionRef`: an extension-registry code (EXT1/2/4), which names a global indirectly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Global:
    module: str
    name: str

    @property
    def qualname(self) -> str:
        return f"{self.module}.{self.name}"


@dataclass(eq=False)
class Call:
    func: Any  # usually a Global; may be anything a hostile pickle puts on the stack
    args: tuple[Any, ...] = ()
    kwargs: dict[Any, Any] | None = None
    opcode: str = "REDUCE"
    state: Any = None  # the BUILD argument, when there was one
    built: bool = False
    items: list[Any] = field(default_factory=list)  # APPEND / APPENDS / ADDITEMS
    entries: list[tuple[Any, Any]] = field(default_factory=list)  # SETITEM / SETITEMS

    @property
    def qualname(self) -> str:
        return self.func.qualname if isinstance(self.func, Global) else "<computed callable>"


@dataclass(eq=False)
class PersistentRef:
    pid: Any


@dataclass(frozen=True)
class ExtensionRef:
    code: int
