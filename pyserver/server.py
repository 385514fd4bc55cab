"""The language server: one handler per method of docs/protocol.md, each a thin shell around
`service`. Blocking work runs in threads so the request loop stays responsive."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

from . import __version__, hover, protocol, service
from .backends import Catalog
from .config import Settings
from .errors import ArtifactError
from .previews.budget import Budget
from .transfers import Progress
from .uris import LocalPath, parse_uri
from .workers.pool import PreviewPool

log = logging.getLogger(__name__)
T = TypeVar("T")
PROGRESS_INTERVAL_S = 0.1
POOL_WARM_DELAY_S = 0.3


class ArtifactServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("aml-artifacts", __version__)
        self.catalog = Catalog()
        self.settings = Settings()
        # Previews run in worker processes (docs/security.md); spawned after `initialized`.
        # They get the server's Azure tokens with each request instead of signing in again.
        self.previews = PreviewPool(tokens=self._tokens_for)

    def _tokens_for(self, uri: str) -> dict[str, tuple[str, float]]:
        """The Azure tokens a preview of `uri` may need: none for a local path (renewing
        one near its expiry could run `az`, a second, before a local hover)."""
        try:
            local = isinstance(parse_uri(uri), LocalPath)
        except ArtifactError:
            local = True  # the worker reports the bad URI
        return {} if local else self.catalog.tokens.snapshot()

    def opened_folders(self) -> list[Path]:
        folders = [to_fs_path(f.uri) for f in self.workspace.folders.values()]
        return [Path(f) for f in folders if f]

    def reconfigure(self, settings: Settings | None = None) -> None:
        self.settings = settings or self.settings
        folders = self.opened_folders()
        self.catalog.configure(self.settings, folders)
        self.previews.configure(self.settings, folders)
        self.protocol.notify(protocol.DID_CHANGE_ROOTS, {})


server = ArtifactServer()


async def _call(function: Callable[[], T]) -> T:
    """Run blocking work in a thread; turn our errors into JSON-RPC errors the user can read."""
    try:
        return await asyncio.to_thread(function)
    except ArtifactError as error:
        raise JsonRpcException(error.message, error.code, error.to_data()) from None
    except JsonRpcException:
        raise
    except Exception as error:
        log.error("internal error\n%s", traceback.format_exc())
        raise JsonRpcException(
            f"Internal error ({type(error).__name__}: {error}). The server log has details.",
            -32603,
            {"kind": "Internal"},
        ) from None


@server.feature(types.INITIALIZE)
def initialize(ls: ArtifactServer, params: types.InitializeParams) -> None:
    ls.settings = Settings.from_json(params.initialization_options)
    ls.catalog.configure(ls.settings, ls.opened_folders())
    ls.previews.configure(ls.settings, ls.opened_folders())


@server.feature(types.INITIALIZED)
def initialized(ls: ArtifactServer, params: types.InitializedParams) -> None:
    # Warm the preview workers once the first requests (roots, the first children) are
    # answered: started together, their imports would slow those down. A preview asked for
    # earlier starts the pool itself.
    asyncio.get_running_loop().call_later(POOL_WARM_DELAY_S, _start_previews, ls)


def _start_previews(ls: ArtifactServer) -> None:
    try:
        ls.previews.start()
    except ArtifactError as error:  # reported again to the first preview that needs a worker
        log.error("%s", error.message)


@server.feature(types.SHUTDOWN)
def shutdown(ls: ArtifactServer, params: Any) -> None:
    ls.previews.close()


@server.feature(types.EXIT)
def exit_server(ls: ArtifactServer, params: Any) -> None:
    ls.previews.close()


@server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
def did_change_configuration(
    ls: ArtifactServer, params: types.DidChangeConfigurationParams
) -> None:
    ls.reconfigure(Settings.from_json(protocol.plain(params.settings)))


@server.feature(types.WORKSPACE_DID_CHANGE_WORKSPACE_FOLDERS)
def did_change_folders(ls: ArtifactServer, params: types.DidChangeWorkspaceFoldersParams) -> None:
    ls.reconfigure()


@server.feature(protocol.ROOTS)
async def roots(ls: ArtifactServer, params: Any) -> dict[str, Any]:
    def run() -> dict[str, Any]:
        if protocol.wants_refresh(params):
            ls.catalog.refresh()
        return service.roots(ls.catalog)

    return await _call(run)


@server.feature(protocol.CHILDREN)
async def children(ls: ArtifactServer, params: Any) -> dict[str, Any]:
    def run() -> dict[str, Any]:
        request = protocol.ChildrenParams.parse(params)
        if request.refresh:
            ls.catalog.refresh(request.uri)
        return service.children(
            ls.catalog, request.uri, request.page_token, request.page_size, request.run_filter
        )

    return await _call(run)


@server.feature(protocol.PREVIEW)
async def preview(ls: ArtifactServer, params: Any) -> dict[str, Any]:
    request = await _call(lambda: protocol.PreviewParams.parse(params))
    return await _isolated_preview(ls, request.uri, request.budget)


async def _isolated_preview(ls: ArtifactServer, uri: str, budget: Budget) -> dict[str, Any]:
    """A preview in the worker pool. On `$/cancelRequest` the worker gets a moment to finish
    (it then stays warm), else it is killed and replaced: the pool is never left stuck."""
    cancel = threading.Event()
    work = asyncio.ensure_future(_call(lambda: ls.previews.preview(uri, budget, cancel)))
    try:
        return await asyncio.shield(work)
    except asyncio.CancelledError:
        cancel.set()
        work.add_done_callback(_ignore_outcome)
        raise


def _ignore_outcome(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()  # retrieved: no "exception was never retrieved" warning


@server.feature(protocol.DOWNLOAD)
async def download(ls: ArtifactServer, params: Any) -> dict[str, Any]:
    request = await _call(lambda: protocol.DownloadParams.parse(params))
    cancel = threading.Event()
    reporter = _ProgressReporter(ls, request.work_done_token, request.uri)
    work = asyncio.ensure_future(
        _call(
            lambda: service.download_to(
                ls.catalog,
                request.uri,
                request.dest,
                request.overwrite,
                reporter.report,
                cancel,
                policy=request.policy,
                settings=ls.settings,
                as_workspace=request.as_workspace,
            )
        )
    )
    try:
        result = await asyncio.shield(work)
    except asyncio.CancelledError:
        cancel.set()  # the thread stops at its next chunk and removes its partial file
        with contextlib.suppress(Exception):
            await work
        reporter.end("Cancelled")
        raise
    except Exception:
        reporter.end("Failed")
        raise
    failed = len(result.get("failures", []))
    reporter.end(f"Downloaded {result['files']} files" + (f", {failed} failed" if failed else ""))
    return result


@server.feature(types.TEXT_DOCUMENT_HOVER)
async def hover_artifact(ls: ArtifactServer, params: types.HoverParams) -> types.Hover | None:
    document = ls.workspace.get_text_document(params.text_document.uri)
    lines = document.lines
    if params.position.line >= len(lines):
        return None
    found = hover.string_at(lines[params.position.line], params.position.character)
    if found is None:
        return None
    text, start, end = found
    document_dir = Path(document.path).parent if document.path else None

    def resolve() -> str | None:
        return hover.resolve_artifact(text, ls.catalog, document_dir, ls.opened_folders())

    try:
        uri = await _call(resolve)
        if uri is None:
            return None
        markdown = (await _isolated_preview(ls, uri, Budget()))["markdown"]
    except JsonRpcException as error:
        markdown = f"⚠️ {error.message}"
    line = params.position.line
    return types.Hover(
        contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=markdown),
        range=types.Range(types.Position(line, start), types.Position(line, end)),
    )


SIGN_IN_CANCEL_GRACE_S = 2.0


@server.feature(protocol.SIGN_IN)
async def sign_in(ls: ArtifactServer, params: Any) -> dict[str, Any]:
    """A browser sign-in the user asked for (docs/protocol.md): its credential comes first from
    then on, and every workspace is checked again. `$/cancelRequest` ends the wait at once."""
    from .backends.browser_sign_in import BrowserSignIn, workspace_tenant

    def prepare() -> BrowserSignIn:
        request = protocol.SignInParams.parse(params)
        tenant = request.tenant_id or workspace_tenant(ls.catalog.azureml, request.uri)
        return BrowserSignIn(ls.catalog.tokens, tenant, request.timeout_ms / 1000)

    attempt = await _call(prepare)

    def run() -> dict[str, Any]:
        result = attempt.run()
        ls.catalog.refresh()  # workspace checks and listings made without this sign-in
        return result

    work = asyncio.ensure_future(_call(run))
    try:
        return await asyncio.shield(work)
    except asyncio.CancelledError:
        await asyncio.to_thread(attempt.cancel)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.shield(work), SIGN_IN_CANCEL_GRACE_S)
        work.add_done_callback(_ignore_outcome)
        raise


class _ProgressReporter:
    """Work-done progress for one download, fed from the transfer thread and throttled."""

    def __init__(self, ls: ArtifactServer, token: str | int | None, uri: str) -> None:
        self._ls = ls
        self._token = token
        self._loop = asyncio.get_running_loop()
        self._last = 0.0
        if token is not None:
            title = f"Downloading {uri.rstrip('/').rsplit('/', 1)[-1]}"
            ls.work_done_progress.begin(
                token, types.WorkDoneProgressBegin(title=title, cancellable=True, percentage=0)
            )

    def report(self, progress: Progress) -> None:
        now = time.monotonic()
        if self._token is None or (
            now - self._last < PROGRESS_INTERVAL_S and not progress.finished
        ):
            return
        self._last = now
        # "3/10 files · 1.2 MB of 4.0 MB · 35.2 MB/s · 4 s left" (transfers/progress.py)
        value = types.WorkDoneProgressReport(
            message=progress.message(), percentage=progress.percentage
        )
        self._loop.call_soon_threadsafe(self._ls.work_done_progress.report, self._token, value)

    def end(self, message: str) -> None:
        if self._token is not None:
            self._ls.work_done_progress.end(self._token, types.WorkDoneProgressEnd(message=message))


def serve() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    # pygls logs every message body at INFO: noise today, secrets once credentials flow.
    logging.getLogger("pygls").setLevel(logging.WARNING)
    log.info("aml-artifacts %s serving on stdio (Python %s)", __version__, sys.version.split()[0])
    try:
        server.start_io()
    finally:
        server.previews.close()  # the client went away without `exit`: no orphan workers


__all__ = ["ArtifactServer", "serve", "server"]
