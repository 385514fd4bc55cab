"""Signing in with a browser, the last resort and only when the user asks for it
(`artifacts/signIn`): azure-identity's InteractiveBrowserCredential (MSAL's authorization-code
flow with a loopback redirect), whose credential then comes first in the server's
TokenProvider for its life, refreshed silently from MSAL's in-memory cache and never opening a
browser again by itself. Tokens, codes and PKCE verifiers are never logged."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import subprocess
import threading
import webbrowser
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode, urlsplit

from ..errors import ArtifactError, Cancelled, InvalidParams, Unsupported
from .aml_auth import NotSignedIn, TokenProvider

if TYPE_CHECKING:
    from .azureml import AzureMLWorkspaces

log = logging.getLogger(__name__)

# What azureml-core asks for (`for_audience("https://management.core.windows.net/")`): signing
# in for exactly this scope leaves MSAL's cache holding the first token it needs.
ARM_SCOPE = "https://management.core.windows.net/.default"
BROWSER_TIMEOUT_S = 300  # azure-identity's own default: time for the user to sign in
BROWSER_LAUNCH_WAIT_S = 5.0
USE_CLI_INSTEAD = "Use az login instead."
_NO_BROWSER = (
    "no web browser could be opened where the AzureML Artifacts server runs (a remote, SSH "
    "or container host has none; the browser's answer must also reach this machine's "
    "localhost). `az login --use-device-code` works there"
)
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*")
_TENANT = re.compile(r"^[A-Za-z0-9.-]{1,100}$")
_QUIET_NAME = "aml-artifacts-quiet"

_sign_in_lock = threading.Lock()  # one browser sign-in at a time per process
_active: BrowserSignIn | None = None
_quiet_registered = False


class BrowserSignIn:
    """One interactive sign-in with azure-identity's InteractiveBrowserCredential: `run()`
    blocks (a worker thread) until the user signed in, refused, gave up (`timeout_s`), or
    `cancel()` was called from another thread. On success the credential comes first in
    `tokens` (it refreshes silently from then on and never opens a browser by itself)."""

    def __init__(self, tokens: TokenProvider, tenant_id: str | None, timeout_s: float) -> None:
        if tenant_id is not None and not _TENANT.match(tenant_id):
            raise InvalidParams("tenantId must be a tenant ID (a GUID) or a domain name.")
        self.tokens = tokens
        self.tenant_id = tenant_id or "organizations"
        self.timeout_s = max(1, round(timeout_s))
        self._cancelled = threading.Event()
        self._lock = threading.Lock()
        self._redirect: tuple[str, str] | None = None  # (loopback redirect URI, flow's state)

    def run(self) -> dict[str, Any]:
        try:
            from azure.core.exceptions import ClientAuthenticationError
            from azure.identity import CredentialUnavailableError, InteractiveBrowserCredential
        except ImportError:
            raise Unsupported(
                "Signing in to Azure needs azure-identity: "
                "pip install 'azureml-artifact-explorer[azure]'."
            ) from None
        global _active
        if not _sign_in_lock.acquire(blocking=False):
            raise NotSignedIn(
                "A browser sign-in is already waiting for you: finish it in the browser, or "
                f"cancel it. {USE_CLI_INSTEAD}"
            )
        try:
            _active = self
            logging.getLogger("azure.identity").setLevel(logging.WARNING)
            _register_quiet_browser()
            authority, known = authority_host()
            credential = InteractiveBrowserCredential(
                tenant_id=self.tenant_id,
                authority=authority,
                # MSAL validates an authority it does not know against login.microsoftonline.com:
                # a private cloud's (or a test's) authority host cannot be validated that way.
                disable_instance_discovery=None if known else True,
                # After this sign-in, get_token only refreshes silently: a hover or a tree
                # expansion never opens a browser.
                disable_automatic_authentication=True,
                timeout=self.timeout_s,
            )
            try:
                record = credential.authenticate(scopes=[ARM_SCOPE])
            except CredentialUnavailableError as error:
                reason = _NO_BROWSER if "browser" in str(error) else None
                raise self._failed(error, reason) from None
            except ClientAuthenticationError as error:
                if "timed out" in str(error).lower():
                    reason = (
                        f"no answer from the browser within {self.timeout_s} s"
                        if not self._cancelled.is_set()
                        else None
                    )
                    raise self._failed(error, reason) from None
                raise self._failed(error) from None
            except Exception as error:  # the authority's configuration, the network, the port
                raise self._failed(error) from None
            if self._cancelled.is_set():
                raise Cancelled("Browser sign-in was cancelled.")
            self.tokens.sign_in_first(credential)
            log.info("signed in with a browser (tenant %s)", record.tenant_id)
            return {
                "method": "browser",
                "account": record.username,
                "tenantId": record.tenant_id,
                "authority": record.authority,
            }
        finally:
            _active = None
            _sign_in_lock.release()

    def cancel(self) -> None:
        """Stop waiting: the loopback redirect gets the answer a browser gives when the user
        cancels, so the real redirect server (and MSAL) end the flow at once."""
        self._cancelled.set()
        with self._lock:
            redirect = self._redirect
        if redirect is None:
            return  # not opened yet (it stops at the timeout otherwise)
        uri, state = redirect
        answer = urlencode(
            {"error": "cancelled", "error_description": "cancelled by the user", "state": state}
        )
        from urllib.request import ProxyHandler, build_opener

        # A loopback http address, never through a proxy; refused when the flow ended meanwhile.
        with contextlib.suppress(OSError):
            build_opener(ProxyHandler({})).open(f"{uri}?{answer}", timeout=5).close()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def opened(self, url: str) -> None:
        """The authorize URL handed to the browser: where its answer goes (for cancel())."""
        query = parse_qs(urlsplit(url).query)
        uri, state = query.get("redirect_uri", [""])[0], query.get("state", [""])[0]
        target = urlsplit(uri)
        if target.scheme == "http" and target.hostname in ("localhost", "127.0.0.1"):
            with self._lock:
                self._redirect = (uri, state)

    def _failed(self, error: Exception, reason: str | None = None) -> ArtifactError:
        if self._cancelled.is_set():
            return Cancelled("Browser sign-in was cancelled.")
        if reason is None:
            text = str(error).strip()
            first = text.splitlines()[0] if text else type(error).__name__
            first = first.removeprefix("Authentication failed: ")
            reason = _JWT.sub("<token>", first)[:300].rstrip(". ")
            if "AADSTS65004" in reason or "access_denied" in reason or "declined" in reason:
                reason = f"the sign-in was refused ({reason})"
        return NotSignedIn(f"Browser sign-in did not complete: {reason}. {USE_CLI_INSTEAD}")


def authority_host() -> tuple[str, bool]:
    """(the Azure AD authority host, whether it is one of Azure's own clouds). It is
    AZURE_AUTHORITY_HOST when set (sovereign and private clouds, as for every azure-identity
    credential), else the public cloud's."""
    from azure.identity import AzureAuthorityHosts

    configured = os.environ.get("AZURE_AUTHORITY_HOST", "").strip() or (
        AzureAuthorityHosts.AZURE_PUBLIC_CLOUD
    )
    host = urlsplit(configured if "//" in configured else f"https://{configured}").hostname or ""
    known = {
        value.lower()
        for name, value in vars(AzureAuthorityHosts).items()
        if name.isupper() and isinstance(value, str)
    }
    return configured, host.lower() in known


def workspace_tenant(workspaces: AzureMLWorkspaces, uri: str | None) -> str | None:
    """The tenant named by the config.json (`tenant_id`) of the workspace `uri` is in, else of
    every workspace when they all name the same one; None when unknown."""
    from ..uris import parse_uri
    from .azureml import find_workspace_configs

    configs = [*workspaces.configured, *find_workspace_configs(workspaces.opened_folders)]
    ref = None
    if uri:
        try:
            ref = getattr(parse_uri(uri), "workspace", None)
        except (ArtifactError, ValueError):
            ref = None
    if isinstance(ref, str):
        key = tuple(part.lower() for part in ref.split("/"))
        configs = [c for c in configs if c.key == key]
    tenants = {t for t in (_config_tenant(c.source) for c in configs) if t}
    return tenants.pop() if len(tenants) == 1 else None


def _config_tenant(config_file: str | None) -> str | None:
    if not config_file:
        return None
    try:
        raw = json.loads(Path(config_file).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    tenant = (raw.get("tenant_id") or raw.get("tenantId")) if isinstance(raw, dict) else None
    return tenant.strip() if isinstance(tenant, str) and _TENANT.match(tenant.strip()) else None


class _QuietBrowser(webbrowser.BaseBrowser):
    """The browser webbrowser would open, told where the sign-in's answer goes, and, for a
    command line (BROWSER, xdg-open, ...), started with its standard input and output away
    from ours: they are the language server's JSON-RPC channel, and launchers print there."""

    def __init__(self, inner: webbrowser.BaseBrowser) -> None:
        super().__init__(_QUIET_NAME)
        self.inner = inner

    def open(self, url: str, new: int = 0, autoraise: bool = True) -> bool:
        active = _active
        if active is not None:
            if active.cancelled:
                return False  # cancelled before the browser opened: do not open it
            active.opened(url)
        if not isinstance(self.inner, webbrowser.GenericBrowser):
            return self.inner.open(url, new, autoraise)  # these keep our stdout already
        args = [str(arg).replace("%s", url) for arg in getattr(self.inner, "args", ["%s"])]
        try:
            process = subprocess.Popen(
                [self.inner.name, *args],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                close_fds=True,
                start_new_session=True,
            )
        except OSError:
            return False
        try:  # a launcher returns at once; a browser in the foreground keeps running
            return process.wait(BROWSER_LAUNCH_WAIT_S) == 0
        except subprocess.TimeoutExpired:
            threading.Thread(target=process.wait, daemon=True).start()  # reaped later
            return True


def _register_quiet_browser() -> None:
    global _quiet_registered
    if _quiet_registered:
        return
    try:
        inner = webbrowser.get()
    except webbrowser.Error:
        return  # no browser here: azure-identity says so (or tries WSL's PowerShell)
    webbrowser.register(_QUIET_NAME, None, _QuietBrowser(inner), preferred=True)
    _quiet_registered = True


__all__ = ["ARM_SCOPE", "BrowserSignIn", "authority_host", "workspace_tenant"]
