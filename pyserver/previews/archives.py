"""Zip archives (a torch checkpoint is one) and their listings."""

from __future__ import annotations

import zipfile

from .budget import BudgetedReader, ReaderFile
from .markdown import code_span
from .section import Section
from .torchfiles import preview_torch_zip

ZIP_LISTING = 25


def preview_zip(reader: BudgetedReader, kind: str) -> Section:
    try:
        archive = zipfile.ZipFile(ReaderFile(reader))
    except zipfile.BadZipFile as error:
        return Section("zip", f"Corrupt zip archive ({error})", verdict="unknown")
    names = archive.namelist()
    pickles = [n for n in names if n.endswith("/data.pkl") or n == "data.pkl"]
    if pickles:
        return preview_torch_zip(archive, names, pickles[0])
    listing = [f"- {code_span(n)}" for n in names[:ZIP_LISTING]]
    if len(names) > ZIP_LISTING:
        listing.append(f"- … {len(names) - ZIP_LISTING} more")
    return Section(
        "zip",
        f"Zip archive · {len(names)} entries",
        ["\n".join(listing)],
        verdict="unknown",
        fields={"entries": len(names)},
    )
