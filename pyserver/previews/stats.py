"""Statistics and leading values of numeric arrays, shared by every format that holds them:
.npy / .npz arrays, HDF5 datasets, safetensors and PyTorch tensors.

`array_stats` gives plain JSON numbers; `format_stats` and `values_block` the markdown.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from .markdown import code_block

CORNER_ROWS, CORNER_COLS, HEAD = 5, 8, 10
STAT_KEYS = ("min", "max", "mean", "std")
VALUES_CHARS = 2000  # the printed values are cut beyond this


def array_stats(array: Any) -> dict[str, Any] | None:
    """`min`, `max`, `mean` and `std` of the finite values, with `nan` and `inf` (either
    sign) counts. min and max stay integers for integer and boolean arrays, the rest are
    floats; a float too large for JSON becomes its string ("inf"). Only the counts when no
    value is finite; None for empty arrays and for dtypes that are not numbers (complex,
    strings, records, objects)."""
    import numpy as np

    dtype = array.dtype
    if dtype.kind not in "biuf" or dtype.names or array.size == 0:
        return None
    nan = inf = 0
    if dtype.kind == "f":
        values = np.asarray(array, dtype=np.float64).ravel()
        nan = int(np.isnan(values).sum())
        inf = int(np.isinf(values).sum())
        if nan or inf:
            values = values[np.isfinite(values)]
    else:
        values = np.asarray(array).ravel()
    if values.size == 0:
        return {"nan": nan, "inf": inf}
    wide = np.asarray(values, dtype=np.float64)
    integral = dtype.kind in "biu"
    return {
        "min": int(values.min()) if integral else _float(values.min()),
        "max": int(values.max()) if integral else _float(values.max()),
        "mean": _float(wide.mean()),
        "std": _float(wide.std()),
        "nan": nan,
        "inf": inf,
    }


def _float(value: Any) -> float | str:
    number = float(value)
    return number if math.isfinite(number) else str(number)


def format_number(value: Any, digits: int = 6) -> str:
    """A statistic for markdown: integers in full, floats to `digits` significant digits,
    a dash for a missing one."""
    if value is None:
        return "\u2013"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.{digits}g}" if math.isfinite(value) else str(value)
    return str(value)


def format_stats(stats: dict[str, Any], digits: int = 6) -> str:
    """`min 0 · max 19 · mean 9.5 · std 5.76628 · 2 NaN · 1 inf` (plain text: escape it)."""
    parts = [f"{key} {format_number(stats[key], digits)}" for key in STAT_KEYS if key in stats]
    if stats.get("nan"):
        parts.append(f"{stats['nan']} NaN")
    if stats.get("inf"):
        parts.append(f"{stats['inf']} inf")
    return " · ".join(parts)


def widen_bfloat16(bits: Any) -> Any:
    """bfloat16 values, given as their uint16 bit patterns, as float32 (their top half)."""
    import numpy as np

    return (bits.astype(np.uint32) << 16).view(np.float32)


# --- the leading values ------------------------------------------------------------------


def corner_index(shape: Sequence[int]) -> tuple[Any, ...]:
    """The index of the values shown: the first HEAD of a vector, the top-left
    CORNER_ROWS by CORNER_COLS of the last two axes (at index 0 of the others)."""
    if not shape:
        return ()
    if len(shape) == 1:
        return (slice(0, min(HEAD, shape[0])),)
    lead = (0,) * (len(shape) - 2)
    return (*lead, slice(0, min(CORNER_ROWS, shape[-2])), slice(0, min(CORNER_COLS, shape[-1])))


def corner(array: Any) -> Any:
    """The values shown of an in-memory array (a 0-d array stays as it is)."""
    return array if array.ndim == 0 else array[corner_index(array.shape)]


def corner_label(shape: Sequence[int]) -> str:
    """`corner [0, 0, :, :]` for arrays of more than two dimensions, else ''."""
    if len(shape) <= 2:
        return ""
    return "corner [" + ", ".join(["0"] * (len(shape) - 2) + [":", ":"]) + "]"


def values_text(values: Any) -> str:
    """Numeric values printed the way numpy does, bounded."""
    import numpy as np

    with np.printoptions(threshold=200, linewidth=120, precision=5, suppress=True):
        text = np.array2string(values, separator=" ") if values.ndim else repr(values.item())
    if len(text) > VALUES_CHARS:
        text = text[: VALUES_CHARS - 1] + "…"
    return text


def values_block(values: Any, shape: Sequence[int] | None = None) -> str:
    """A code block of `values`, labelled with the corner when `shape` (of the whole array)
    has more than two dimensions."""
    label = corner_label(shape or ())
    return (label + "\n\n" if label else "") + code_block(values_text(values))
