"""Signing in to Azure ML: azure-identity credentials (a service principal's AZURE_*
variables, `az login`, managed identity), with tokens cached until shortly before they
expire, handed to azureml-core as its `TokenAuthentication` and to the blob client of every
datastore without a secret of its own (one sign-in, one token cache for a whole server).

The last resort, an interactive browser sign-in the user asks for, is in browser_sign_in.py.

azure-identity and azureml are imported only when a workspace is first used. Tokens are
never logged."""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import TYPE_CHECKING, Any

from ..errors import ArtifactError, PermissionDenied, Unsupported

if TYPE_CHECKING:
    from azure.core.credentials import AccessToken, TokenCredential


log = logging.getLogger(__name__)

# A token is reused until this many seconds before it expires (azure-identity's CLI credential
# spawns `az` for every call otherwise, ~40 ms each, and azureml-core asks for every request).
REFRESH_MARGIN_S = 300
SIGN_IN_ADVICE = (
    "Sign in with `az login` (or set a service principal's AZURE_TENANT_ID, AZURE_CLIENT_ID "
    "and AZURE_CLIENT_SECRET), then Retry."
)


class NotSignedIn(PermissionDenied):
    """No credential could produce a token: the user has to sign in."""

    kind = "NotSignedIn"
    error_kind = "notSignedIn"


class TokenProvider:
    """Bearer tokens per scope from one azure-identity credential, cached. Thread-safe.

    `sign_in_first(credential)` puts a credential the user signed in with (the browser) before
    the others: tokens are then asked of it first, the others when it has none to give."""

    def __init__(self, credential: TokenCredential | None = None) -> None:
        self._credential = credential  # the usual chain (default_credential() when not given)
        self._first: TokenCredential | None = None  # a sign-in the user asked for
        self._chain: TokenCredential | None = None  # _first, then _credential
        self._tokens: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()
        self.requests = 0  # tokens asked of the credential (tests, diagnostics)

    @property
    def credential(self) -> TokenCredential:
        if self._credential is None:
            self._credential = default_credential()
        if self._first is None:
            return self._credential
        if self._chain is None:
            from azure.identity import ChainedTokenCredential

            self._chain = ChainedTokenCredential(self._first, self._credential)
        return self._chain

    def sign_in_first(self, credential: TokenCredential) -> None:
        """Ask `credential` first from now on (in memory, for this process's life), and drop
        the tokens cached from the others. Waits for a token request in flight: none is ever
        answered from a credential swapped out under it."""
        with self._lock:
            self._first = credential
            self._chain = None
            self._tokens.clear()

    def token(self, scope: str) -> str:
        return self.access(scope)[0]

    def access(self, scope: str) -> tuple[str, float]:
        """(token, expires_on) for `scope`, from the cache while it has 5 minutes left."""
        with self._lock:
            cached = self._tokens.get(scope)
            if cached is not None and cached[1] - REFRESH_MARGIN_S > time.time():
                return cached
            try:
                access = self.credential.get_token(scope)
            except ArtifactError:
                raise
            except Exception as error:
                raise sign_in_error(error) from None
            self.requests += 1
            held = self._tokens[scope] = (access.token, float(access.expires_on))
            return held

    def snapshot(self) -> dict[str, tuple[str, float]]:
        """A good token for every scope asked so far (renewed when near expiry; a scope
        whose renewal fails is left out): handed to the preview workers, so that a worker
        never signs in on its own (`az` takes about a second, a browser sign-in exists only
        in the server)."""
        with self._lock:
            scopes = list(self._tokens)
        held: dict[str, tuple[str, float]] = {}
        for scope in scopes:
            try:
                held[scope] = self.access(scope)
            except ArtifactError:
                continue
        return held

    def adopt(self, tokens: dict[str, tuple[str, float]]) -> None:
        """Take tokens the server already holds (see `snapshot`); any not given, or expired,
        still come from this process's own credential."""
        with self._lock:
            self._tokens.update(tokens)

    def forget(self) -> None:
        """Drop cached tokens (after the service said one was expired or revoked)."""
        with self._lock:
            self._tokens.clear()

    def for_audience(self, audience: str) -> str:
        """azureml-core asks by resource ("https://management.core.windows.net/")."""
        return self.token(audience.rstrip("/") + "/.default")

    def sdk_credential(self) -> CachedCredential:
        """A TokenCredential for Azure SDK clients (blob storage) served from this cache."""
        return CachedCredential(self)


class CachedCredential:
    """azure-core's TokenCredential protocol over a TokenProvider: an SDK client asks for
    every request, the provider answers from its cache."""

    def __init__(self, tokens: TokenProvider) -> None:
        self._tokens = tokens

    def get_token(self, *scopes: str, **_options: Any) -> AccessToken:
        from azure.core.credentials import AccessToken

        token, expires_on = self._tokens.access(scopes[0] if scopes else "")
        return AccessToken(token, int(expires_on))


def default_credential() -> TokenCredential:
    """The ways in users already have, in order: a service principal's environment variables,
    the Azure CLI login, a Kubernetes workload identity, a managed identity (each of the last
    two only where its environment advertises it: probing the instance metadata address
    elsewhere would wait for a timeout)."""
    try:
        from azure.identity import (
            AzureCliCredential,
            ChainedTokenCredential,
            EnvironmentCredential,
            ManagedIdentityCredential,
            WorkloadIdentityCredential,
        )
    except ImportError:
        raise Unsupported(
            "Azure ML workspaces need azure-identity and azureml-core: "
            "pip install 'azureml-artifact-explorer[azure]'."
        ) from None
    logging.getLogger("azure.identity").setLevel(logging.WARNING)
    chain: list[Any] = []
    if os.environ.get("AZURE_CLIENT_ID") and (
        os.environ.get("AZURE_CLIENT_SECRET") or os.environ.get("AZURE_CLIENT_CERTIFICATE_PATH")
    ):
        chain.append(EnvironmentCredential())
    chain.append(AzureCliCredential(process_timeout=20))
    if os.environ.get("AZURE_FEDERATED_TOKEN_FILE") and os.environ.get("AZURE_CLIENT_ID"):
        chain.append(WorkloadIdentityCredential())  # Kubernetes workload identity
    if os.environ.get("IDENTITY_ENDPOINT") or os.environ.get("MSI_ENDPOINT"):
        chain.append(ManagedIdentityCredential())
    return ChainedTokenCredential(*chain)


def sign_in_error(error: Exception) -> ArtifactError:
    """A credential's failure → what the user should do; never the token or a stack trace."""
    text = str(error)
    lowered = text.lower()
    if (
        "not found on path" in lowered
        or "az login" in lowered
        or "credentialunavailable" in (type(error).__name__.lower())
    ):
        return NotSignedIn(f"Not signed in to Azure. {SIGN_IN_ADVICE}")
    first = text.strip().splitlines()[0][:300] if text.strip() else type(error).__name__
    return NotSignedIn(f"Signing in to Azure failed ({first}). {SIGN_IN_ADVICE}")


def azureml_authentication(tokens: TokenProvider) -> Any:
    """azureml-core's TokenAuthentication fed by `tokens` (azureml imported here)."""
    from azureml.core.authentication import TokenAuthentication

    return TokenAuthentication(tokens.for_audience, cloud="AzureCloud")


__all__ = [
    "CachedCredential",
    "NotSignedIn",
    "TokenProvider",
    "azureml_authentication",
    "default_credential",
]
