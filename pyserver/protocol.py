"""Parameters of the custom `artifacts/*` requests, parsed and checked (docs/protocol.md)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from .errors import InvalidParams
from .model import RunFilter
from .previews.budget import DEFAULT_MAX_BYTES, DEFAULT_TIMEOUT_MS, Budget

MAX_PREVIEW_BYTES = 64 << 20
MAX_TIMEOUT_MS = 60_000

ROOTS = "artifacts/roots"
CHILDREN = "artifacts/children"
PREVIEW = "artifacts/preview"
DOWNLOAD = "artifacts/download"
DID_CHANGE_ROOTS = "artifacts/didChangeRoots"
SIGN_IN = "artifacts/signIn"

Policy = Literal["ask", "skip", "overwrite"]
DOWNLOAD_POLICIES: tuple[Policy, ...] = ("ask", "skip", "overwrite")


def as_dict(params: Any) -> dict[str, Any]:
    """pygls hands custom params over as nested namedtuples; turn them back into dicts."""
    if params is None:
        return {}
    if hasattr(params, "_asdict"):
        return {key: plain(value) for key, value in params._asdict().items()}
    if isinstance(params, dict):
        return params
    raise InvalidParams("Parameters must be a JSON object.")


def plain(value: Any) -> Any:
    """Nested namedtuples (how pygls hands over untyped JSON) back to dicts and lists."""
    if hasattr(value, "_asdict"):
        return as_dict(value)
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    return value


def wants_refresh(params: Any) -> bool:
    """`refresh: true`: drop cached remote listings first (docs/protocol.md)."""
    return as_dict(params).get("refresh") is True


@dataclass(frozen=True)
class ChildrenParams:
    uri: str
    page_token: str | None
    page_size: int | None
    refresh: bool = False
    run_filter: RunFilter | None = None  # `filter`: which runs an experiment lists

    @classmethod
    def parse(cls, params: Any) -> ChildrenParams:
        raw = as_dict(params)
        size = raw.get("pageSize")
        if size is not None and (not isinstance(size, int) or isinstance(size, bool)):
            raise InvalidParams(f"pageSize must be an integer, got {size!r}.")
        token = raw.get("pageToken")
        if token is not None and not isinstance(token, str):
            raise InvalidParams("pageToken must be the string the server returned.")
        run_filter = parse_run_filter(raw.get("filter"))
        return cls(_uri(raw), token, size, raw.get("refresh") is True, run_filter)


MAX_FILTER_STATUSES = 32
_STATUS = re.compile(r"^[A-Za-z]{1,40}$")


def parse_run_filter(raw: Any) -> RunFilter | None:
    """`{status?: string[], tag?: "key" | "key=value"}`, or None when it filters nothing."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise InvalidParams("filter must be an object: {status?: string[], tag?: string}.")
    statuses = raw.get("status")
    if statuses is None:
        statuses = []
    if isinstance(statuses, str):
        statuses = [statuses]
    if not isinstance(statuses, list) or len(statuses) > MAX_FILTER_STATUSES:
        raise InvalidParams("filter.status must be a list of run statuses, e.g. ['Failed'].")
    for status in statuses:
        if not isinstance(status, str) or not _STATUS.match(status):
            raise InvalidParams(f"filter.status: {status!r} is not a run status (e.g. Failed).")
    tag = raw.get("tag")
    key = value = None
    if tag is not None:
        if not isinstance(tag, str) or len(tag) > 1024:
            raise InvalidParams("filter.tag must be a string: key or key=value.")
        key, equals, rest = tag.partition("=")
        key = key.strip()
        value = rest.strip() if equals else None
        if not key:
            if equals or tag.strip():
                raise InvalidParams("filter.tag needs a tag name: key or key=value.")
            key = None  # "" filters nothing
    run_filter = RunFilter(tuple(dict.fromkeys(statuses)), key, value if key else None)
    return run_filter if run_filter.active else None


@dataclass(frozen=True)
class PreviewParams:
    uri: str
    budget: Budget

    @classmethod
    def parse(cls, params: Any) -> PreviewParams:
        raw = as_dict(params)
        max_bytes = _bounded(raw, "maxBytes", DEFAULT_MAX_BYTES, MAX_PREVIEW_BYTES)
        timeout = _bounded(raw, "timeoutMs", DEFAULT_TIMEOUT_MS, MAX_TIMEOUT_MS)
        return cls(_uri(raw), Budget(max_bytes=max_bytes, timeout_ms=timeout))


@dataclass(frozen=True)
class DownloadParams:
    uri: str
    dest: str
    overwrite: bool
    work_done_token: str | int | None
    # `onConflict` ("ask" | "skip" | "overwrite"); absent: "overwrite" when `overwrite` is
    # true, else "ask" (the `overwrite` boolean of the first protocol version still works).
    policy: Policy = "ask"
    # `asWorkspace`: `dest` is a local workspace the run / model / dataset version goes into.
    as_workspace: bool = False

    @classmethod
    def parse(cls, params: Any) -> DownloadParams:
        raw = as_dict(params)
        dest = raw.get("dest")
        if not isinstance(dest, str) or not dest.strip():
            raise InvalidParams("dest must be the path of the destination folder.")
        token = raw.get("workDoneToken")
        overwrite = raw.get("overwrite") is True
        asked = raw.get("onConflict")
        if asked is None:
            asked = "overwrite" if overwrite else "ask"
        policy = next((known for known in DOWNLOAD_POLICIES if known == asked), None)
        if policy is None:
            raise InvalidParams(
                f"onConflict must be one of {', '.join(DOWNLOAD_POLICIES)}, got {asked!r}."
            )
        return cls(
            _uri(raw),
            dest,
            overwrite,
            token if isinstance(token, (str, int)) else None,
            policy,
            raw.get("asWorkspace") is True,
        )


SIGN_IN_METHODS = ("browser",)
SIGN_IN_TIMEOUT_MS = (300_000, 1_000, 900_000)  # default, minimum, maximum


@dataclass(frozen=True)
class SignInParams:
    """`{method: "browser", tenantId?, uri?, timeoutMs?}`: `uri` is the node the user signed
    in from (its workspace's config.json may name the tenant)."""

    method: str
    tenant_id: str | None
    uri: str | None
    timeout_ms: int

    @classmethod
    def parse(cls, params: Any) -> SignInParams:
        raw = as_dict(params)
        method = raw.get("method")
        if method not in SIGN_IN_METHODS:
            raise InvalidParams(
                f"method must be one of {', '.join(SIGN_IN_METHODS)}, got {method!r} "
                "(the Azure CLI signs in with `az login` in a terminal)."
            )
        tenant = raw.get("tenantId")
        if tenant is not None and (not isinstance(tenant, str) or not tenant.strip()):
            raise InvalidParams("tenantId must be a tenant ID or domain name.")
        uri = raw.get("uri")
        if uri is not None and not isinstance(uri, str):
            raise InvalidParams("uri must be the URI of a node (see docs/uris.md).")
        default, low, high = SIGN_IN_TIMEOUT_MS
        timeout = max(low, _bounded(raw, "timeoutMs", default, high))
        return cls(method, tenant.strip() if tenant else None, uri or None, timeout)


def _uri(raw: dict[str, Any]) -> str:
    uri = raw.get("uri")
    if not isinstance(uri, str) or not uri.strip():
        raise InvalidParams("uri is required: the URI of a node (see docs/uris.md).")
    return uri


def _bounded(raw: dict[str, Any], key: str, default: int, maximum: int) -> int:
    value = raw.get(key, default)
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InvalidParams(f"{key} must be a positive integer, got {value!r}.")
    return min(value, maximum)
