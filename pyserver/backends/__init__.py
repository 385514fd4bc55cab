"""Routing URIs to backends: `azureml://datastores/<name>/...` naming a datastore of
`amlArtifacts.datastores` goes to the blob backend (backends/blob.py); the forms of an Azure
ML workspace (configured in `amlArtifacts.workspaces` or found in a config.json), the long
datastore form `azureml://subscriptions/.../workspaces/<w>/datastores/...` included, go to the
workspace backend (backends/azureml.py); every other form resolves in the local workspaces
(backends/local.py). See docs/uris.md."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ..config import Settings
from ..errors import NotFound
from ..model import Node, Page, RunFilter
from ..uris import DatastorePath, Location, ModelVersion, RunArtifact, file_uri, parse_uri
from .aml_auth import TokenProvider
from .azureml import AzureMLWorkspaces
from .base import FileEntry, RangeReader, clamp_page_size
from .blob import BlobDatastores, datastore_uri, missing_datastore
from .local import LocalWorkspaces


class Catalog:
    """The one entry point the server, the CLI and the hover use for data."""

    def __init__(
        self, settings: Settings | None = None, opened_folders: Sequence[Path] = ()
    ) -> None:
        self.local = LocalWorkspaces()
        # One sign-in for workspaces and identity-based datastores.
        self.tokens = TokenProvider()
        self.blob = BlobDatastores(tokens=self.tokens)
        self.azureml = AzureMLWorkspaces(self.blob, self.tokens)
        self.configure(settings or Settings(), opened_folders)

    def configure(self, settings: Settings, opened_folders: Sequence[Path] | None = None) -> None:
        self.local.configured = list(settings.local_workspaces)
        self.blob.configure(settings.datastores)
        if opened_folders is not None:
            self.local.opened_folders = list(opened_folders)
        self.azureml.configure(settings.workspaces, opened_folders)

    def canonical(self, uri: str) -> str:
        """The URI a location resolves to (every accepted form, see docs/uris.md): a
        configured datastore's `azureml://datastores/...` URI, a workspace's long form, else
        a file URI."""
        remote = self._remote(uri)
        if remote is not None:
            return datastore_uri(*remote)
        workspace = self._workspace(uri)
        if workspace is not None:
            return self.azureml.canonical(workspace)
        return file_uri(self._local_path(uri))

    def roots(self) -> list[Node]:
        return self.local.roots() + self.azureml.roots() + self.blob.roots()

    def refresh(self, uri: str | None = None) -> None:
        """Forget cached remote listings (of the URI's workspace, else of every workspace)."""
        location = parse_uri(uri) if uri else None
        self.azureml.refresh(location)

    def stat(self, uri: str) -> Node:
        remote = self._remote(uri)
        if remote is not None:
            return self.blob.stat(*remote)
        workspace = self._workspace(uri)
        if workspace is not None:
            return self.azureml.stat(workspace)
        return self.local.stat(self.canonical(uri))

    def children(
        self,
        uri: str,
        page_token: str | None = None,
        page_size: int | None = None,
        run_filter: RunFilter | None = None,
    ) -> Page:
        """`run_filter` applies to the runs of an experiment; other nodes ignore it."""
        size = clamp_page_size(page_size)
        remote = self._remote(uri)
        if remote is not None:
            return self.blob.children(*remote, page_token, size)
        workspace = self._workspace(uri)
        if workspace is not None:
            return self.azureml.children(workspace, page_token, size, run_filter)
        return self.local.children(self.canonical(uri), page_token, size, run_filter)

    def metadata(self, uri: str) -> dict[str, Any]:
        remote = self._remote(uri)
        if remote is not None:
            return self.blob.metadata(*remote)
        workspace = self._workspace(uri)
        if workspace is not None:
            return self.azureml.metadata(workspace)
        return self.local.metadata(self.canonical(uri))

    def open(self, uri: str) -> RangeReader:
        remote = self._remote(uri)
        if remote is not None:
            return self.blob.open(*remote)
        workspace = self._workspace(uri)
        if workspace is not None:
            return self.azureml.open(workspace)
        return self.local.open(self.canonical(uri))

    def open_listed(self, entry: FileEntry) -> RangeReader:
        """`open(entry.uri)`, without a request when the listing gave the blob's ETag."""
        remote = self._remote(entry.uri) if entry.etag else None
        if remote is not None and entry.etag:
            return self.blob.open_listed(*remote, entry.size, entry.etag)
        workspace = self._workspace(entry.uri) if entry.etag else None
        if isinstance(workspace, DatastorePath) and entry.etag:
            return self.azureml.open_listed(workspace, entry.size, entry.etag)
        return self.open(entry.uri)

    def walk(self, uri: str) -> Iterator[FileEntry]:
        remote = self._remote(uri)
        if remote is not None:
            return self.blob.walk(*remote)
        workspace = self._workspace(uri)
        if workspace is not None:
            return self.azureml.walk(workspace)
        return self.local.walk(self.canonical(uri))

    def _remote(self, uri: str) -> tuple[str, str] | None:
        """(datastore, path) when the URI names a configured blob datastore: the short form,
        or the long form of a workspace that is not configured (a configured workspace reads
        its own datastores)."""
        location = parse_uri(uri)
        if isinstance(location, DatastorePath) and self.blob.handles(location.datastore):
            if self.azureml.handles(location):
                return None
            return location.datastore, location.path
        return None

    def _workspace(self, uri: str) -> Location | None:
        """The location when an Azure ML workspace serves it. The short forms (`runs:/...`,
        `azureml://jobs/...`, `azureml:<model>:<version>`) go to a local workspace that has
        them first (no network), then to the configured workspaces."""
        location = parse_uri(uri)
        if not self.azureml.handles(location):
            return None
        short = isinstance(location, (RunArtifact, ModelVersion)) and location.workspace is None
        if short and (self.local.configured or self.local.opened_folders):
            try:
                self.local.resolve(location)
                return None
            except NotFound:
                pass
        return location

    def _local_path(self, uri: str) -> Path:
        location = parse_uri(uri)
        try:
            return self.local.resolve(location)
        except NotFound as error:
            if isinstance(location, DatastorePath):
                raise NotFound(
                    f"{missing_datastore(location.datastore)} (no local workspace has it).",
                    uri,
                ) from None
            raise error from None


__all__ = ["Catalog", "FileEntry", "RangeReader"]
