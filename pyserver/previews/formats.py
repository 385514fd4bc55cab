"""Which reader previews which detected kind (see detect.py). One module per format."""

from __future__ import annotations

from collections.abc import Callable

from .archives import preview_tar, preview_zip
from .arrays import preview_numpy
from .binary import preview_binary
from .budget import BudgetedReader
from .hdf5 import preview_hdf5
from .images import preview_image
from .parquet import preview_parquet
from .pickled import preview_pickle
from .safetensors import preview_safetensors
from .section import Section
from .text import preview_text
from .torchfiles import preview_torch_legacy

Reader = Callable[[BudgetedReader, str], Section]

READERS: dict[str, Reader] = {
    "text": preview_text,
    "pickle": preview_pickle,
    # compressed files: previewed as pickles when their content is one (pickled.py)
    "gzip": preview_pickle,
    "bzip2": preview_pickle,
    "xz": preview_pickle,
    "zstd": preview_pickle,
    "zip": preview_zip,
    "hdf5": preview_hdf5,
    "numpy": preview_numpy,
    "safetensors": preview_safetensors,
    "tar": preview_tar,
    "png": preview_image,
    "gif": preview_image,
    "jpeg": preview_image,
    "webp": preview_image,
    "bmp": preview_image,
    "tiff": preview_image,
    "parquet": preview_parquet,
    "torch-legacy": preview_torch_legacy,
}


def reader_for(kind: str) -> Reader:
    return READERS.get(kind, preview_binary)
