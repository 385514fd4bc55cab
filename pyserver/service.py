"""The operations of docs/protocol.md as plain functions over a Catalog, shared by the
language server and the CLI so both give the same answers."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from .backends import Catalog
from .config import Settings
from .model import RunFilter
from .previews.budget import Budget
from .transfers import Options, Policy, Progress, download
from .transfers.workspace import download_to_workspace

NODE_PREVIEW_CHILDREN = 50


def roots(catalog: Catalog) -> dict[str, Any]:
    return {"items": [node.to_json() for node in catalog.roots()]}


def children(
    catalog: Catalog,
    uri: str,
    page_token: str | None = None,
    page_size: int | None = None,
    run_filter: RunFilter | None = None,
) -> dict[str, Any]:
    return catalog.children(uri, page_token, page_size, run_filter).to_json()


def preview(catalog: Catalog, uri: str, budget: Budget | None = None) -> dict[str, Any]:
    # The format readers load only where previews run (workers, CLI), not at server start.
    from .previews.preview import preview_file, preview_node

    budget = budget or Budget()
    node = catalog.stat(uri)
    if node.kind != "file":
        listing = (
            catalog.children(uri, None, NODE_PREVIEW_CHILDREN).items if node.has_children else []
        )
        return preview_node(node, catalog.metadata(uri), listing)
    reader = catalog.open(uri)
    try:
        result = preview_file(node.uri, node.name, reader, budget)
    finally:
        reader.close()
    fetched = getattr(reader, "network_bytes", None)
    if isinstance(fetched, int):  # remote readers: bytes that crossed the network (cache misses)
        result["networkBytes"] = fetched
    return result


class Previews(Protocol):
    """Where previews run: `InProcessPreviews` (the CLI: a crash ends only that command) or
    `workers.pool.PreviewPool` (the server: a crash, hang or memory blow-up fails one request)."""

    def preview(
        self, uri: str, budget: Budget | None = None, cancel: threading.Event | None = None
    ) -> dict[str, Any]: ...


class InProcessPreviews:
    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def preview(
        self, uri: str, budget: Budget | None = None, cancel: threading.Event | None = None
    ) -> dict[str, Any]:
        return preview(self.catalog, uri, budget)


def download_to(
    catalog: Catalog,
    uri: str,
    dest: str,
    overwrite: bool = False,
    on_progress: Callable[[Progress], None] | None = None,
    cancel: threading.Event | None = None,
    *,
    policy: Policy | None = None,
    settings: Settings | None = None,
    as_workspace: bool = False,
) -> dict[str, Any]:
    """`{path, files, bytes}`, plus `skipped` and `failures` when there are some. With
    `as_workspace`, `dest` is a local workspace folder the run, model version or dataset
    version goes into (docs/local-workspace.md); the result then has `workspace` too."""
    settings = settings or Settings()
    options = Options(
        concurrency=settings.download_concurrency, chunk_bytes=settings.download_chunk_mb << 20
    )
    if as_workspace:
        mirrored = download_to_workspace(
            catalog,
            uri,
            Path(dest),
            on_progress,
            cancel,
            policy=policy or ("overwrite" if overwrite else "ask"),
            options=options,
        )
        return mirrored.to_json()
    result = download(
        catalog, uri, Path(dest), overwrite, on_progress, cancel, policy=policy, options=options
    )
    return result.to_json()
