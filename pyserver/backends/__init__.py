"""Routing URIs to backends. Today every location resolves to the local backend; remote
backends (Azure ML, blob datastores) plug in here."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ..config import Settings
from ..model import Node, Page
from ..uris import file_uri, parse_uri
from .base import FileEntry, RangeReader, clamp_page_size
from .local import LocalWorkspaces


class Catalog:
    """The one entry point the server, the CLI and the hover use for data."""

    def __init__(
        self, settings: Settings | None = None, opened_folders: Sequence[Path] = ()
    ) -> None:
        self.local = LocalWorkspaces()
        self.configure(settings or Settings(), opened_folders)

    def configure(self, settings: Settings, opened_folders: Sequence[Path] | None = None) -> None:
        self.local.configured = list(settings.local_workspaces)
        if opened_folders is not None:
            self.local.opened_folders = list(opened_folders)

    def canonical(self, uri: str) -> str:
        """The file URI a location resolves to (every accepted form, see docs/uris.md)."""
        return file_uri(self.local.resolve(parse_uri(uri)))

    def roots(self) -> list[Node]:
        return self.local.roots()

    def stat(self, uri: str) -> Node:
        return self.local.stat(self.canonical(uri))

    def children(
        self, uri: str, page_token: str | None = None, page_size: int | None = None
    ) -> Page:
        return self.local.children(self.canonical(uri), page_token, clamp_page_size(page_size))

    def metadata(self, uri: str) -> dict[str, Any]:
        return self.local.metadata(self.canonical(uri))

    def open(self, uri: str) -> RangeReader:
        return self.local.open(self.canonical(uri))

    def walk(self, uri: str) -> Iterator[FileEntry]:
        return self.local.walk(self.canonical(uri))


__all__ = ["Catalog", "FileEntry", "RangeReader"]
