"""PyTorch files: zip checkpoints and TorchScript archives, read without importing torch."""

from __future__ import annotations

import zipfile

from .pickled import pickle_section
from .pickles import scan_pickle
from .section import Section


def preview_torch_zip(archive: zipfile.ZipFile, names: list[str], data_pkl: str) -> Section:
    prefix = data_pkl[: -len("data.pkl")]
    scripted = any(n.startswith(prefix + "code/") for n in names)
    storages = [n for n in names if n.startswith(prefix + "data/") and not n.endswith("/")]
    with archive.open(data_pkl) as entry:
        data = entry.read(1 << 20)
    scan = scan_pickle(data)
    if scripted:
        title = "TorchScript archive"
    else:
        title = f"PyTorch checkpoint (zip) · {len(storages)} storages"
    section = pickle_section("torchscript" if scripted else "torch-zip", title, scan, False)
    section.fields["storages"] = len(storages)
    return section
