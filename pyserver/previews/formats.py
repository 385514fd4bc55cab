"""Which reader previews which detected kind (see detect.py). One module per format."""

from __future__ import annotations

from collections.abc import Callable

from .archives import preview_zip
from .arrays import preview_numpy
from .binary import preview_binary
from .budget import BudgetedReader
from .hdf5 import preview_hdf5
from .images import preview_image
from .pickled import preview_pickle
from .section import Section
from .text import preview_text

Reader = Callable[[BudgetedReader, str], Section]

READERS: dict[str, Reader] = {
    "text": preview_text,
    "pickle": preview_pickle,
    "zip": preview_zip,
    "hdf5": preview_hdf5,
    "numpy": preview_numpy,
    "png": preview_image,
    "gif": preview_image,
}


def reader_for(kind: str) -> Reader:
    return READERS.get(kind, preview_binary)
