"""Reading a blob through a signed URL (an Azure ML artifact's `contentUri`, given for every
file by the artifact service's prefix listing) with as few requests as possible: what a
download of thousands of small run outputs needs.

- One connection pool per proxy per process (urllib3: keep-alive connections, the
  environment's proxy settings — `HTTPS_PROXY`, `NO_PROXY`, ... as requests reads them — and
  CA bundle — `REQUESTS_CA_BUNDLE`, else certifi's), not one client per file.
- Opening is the first ranged GET (`FIRST_BYTES`): it gives the size (`Content-Range`), the
  ETag, the blob's Content-MD5 (`x-ms-blob-content-md5`), its Last-Modified and the first
  bytes, so a small file costs one request and no properties (HEAD) request. Later reads are
  ranged GETs pinned to that ETag (`If-Match`): a blob replaced meanwhile fails instead of
  mixing versions.
- The URL holds a secret (its SAS): it never appears in a message or a log line (urllib3
  logs URLs at DEBUG: kept at INFO or above)."""

from __future__ import annotations

import base64
import binascii
import re
import threading
from email.utils import parsedate_to_datetime
from typing import Any

from ..errors import ArtifactError, CorruptArtifact, NotFound, PermissionDenied, Unavailable
from .https import pool_manager, proxy_for

FIRST_BYTES = 1 << 20
CONNECT_TIMEOUT_S = 10
READ_TIMEOUT_S = 60
POOL_SIZE = 64  # connections kept per host (downloads run up to 64 transfers at once)
_RANGE = re.compile(r"bytes (?:\d+-\d+|\*)/(\d+)")

_pools: dict[str, Any] = {}  # proxy URL ("" for none) → urllib3 pool manager
_proxies: dict[tuple[str, str], str] = {}  # (scheme, host) → proxy URL or ""
_lock = threading.Lock()


def pool_for(url: str) -> Any:
    """The pool manager that reaches `url` (through the proxy the environment names for its
    host, if any), made on first use."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    key = (parts.scheme, parts.netloc)
    with _lock:
        proxy = _proxies.get(key)
    if proxy is None:
        proxy = proxy_for(url)
        with _lock:
            _proxies[key] = proxy
    with _lock:
        pool = _pools.get(proxy)
        if pool is None:
            pool = _pools[proxy] = pool_manager(proxy, num_pools=16, maxsize=POOL_SIZE, block=False)
        return pool


class SignedUrlReader:
    """Random access to the blob behind a signed URL, at the version seen at open."""

    def __init__(
        self,
        url: str,
        uri: str,
        size: int,
        etag: str | None,
        md5: bytes | None,
        first: bytes,
        modified: float | None = None,
    ) -> None:
        self._url = url
        self._uri = uri
        self._size = size
        self.etag = etag
        self.md5 = md5  # the blob's Content-MD5, when it has one
        self.modified = modified  # its Last-Modified (POSIX time), when the answer gave it
        self._first: bytes | None = first
        self._lock = threading.Lock()

    @property
    def size(self) -> int:
        return self._size

    def read_range(self, offset: int, length: int) -> bytes:
        offset = max(0, offset)
        end = min(self._size, offset + max(0, length))
        if end <= offset:
            return b""
        with self._lock:
            first = self._first
            if first is not None and offset == 0 and end >= len(first):
                self._first = None  # read once (a download reads each byte once)
        if first is not None and end <= len(first):
            return first[offset:end]
        if first is not None and offset < len(first):
            return first[offset:] + self._get(len(first), end)
        return self._get(offset, end)

    read_uncached = read_range  # nothing is cached but the first bytes

    def close(self) -> None:
        self._first = None

    def _get(self, start: int, end: int) -> bytes:
        headers = {"Range": f"bytes={start}-{end - 1}"}
        if self.etag:
            headers["If-Match"] = self.etag
        response = _request(self._url, self._uri, headers)
        if response.status not in (200, 206):
            raise _error(response.status, self._uri)
        data: bytes = response.data
        if response.status == 200:  # the whole blob (a server ignoring Range)
            data = data[start:end]
        return data


def open_signed(url: str, uri: str, first_bytes: int = FIRST_BYTES) -> SignedUrlReader:
    """Open the blob of a signed URL with its first ranged GET. Errors: PermissionDenied (the
    link expired or was revoked), NotFound, Unavailable (network, 5xx, throttling)."""
    response = _request(url, uri, {"Range": f"bytes=0-{max(1, first_bytes) - 1}"})
    status, headers = response.status, response.headers
    etag, modified = headers.get("ETag"), _time(headers.get("Last-Modified"))
    if status == 416:  # a range of an empty blob
        if _total(headers.get("Content-Range")) == 0:
            return SignedUrlReader(url, uri, 0, etag, None, b"", modified)
        raise Unavailable(f"Reading {uri} failed: the service refused the range.", uri)
    if status not in (200, 206):
        raise _error(status, uri)
    data: bytes = response.data
    size = len(data) if status == 200 else _total(headers.get("Content-Range"))
    if size is None:
        raise Unavailable(f"Reading {uri} failed: the service gave no size.", uri)
    md5 = _md5(
        headers.get("x-ms-blob-content-md5")
        or (headers.get("Content-MD5") if status == 200 else None)
    )
    return SignedUrlReader(url, uri, size, etag, md5, data, modified)


def _request(url: str, uri: str, headers: dict[str, str]) -> Any:
    """One GET, no retries (the caller retries), the body read whole."""
    import urllib3
    from urllib3.exceptions import HTTPError, TimeoutError

    timeout = urllib3.Timeout(connect=CONNECT_TIMEOUT_S, read=READ_TIMEOUT_S)
    try:
        return pool_for(url).request(
            "GET", url, headers=headers, timeout=timeout, retries=False, redirect=False
        )
    except TimeoutError:
        raise Unavailable(f"Reading {uri} timed out: retry.", uri) from None
    except (HTTPError, OSError) as error:  # connection refused, reset, DNS, TLS, a cut body
        raise Unavailable(f"Reading {uri} failed ({type(error).__name__}): retry.", uri) from None


def _error(status: int, uri: str) -> ArtifactError:
    if status == 403:
        return PermissionDenied(
            f"Reading {uri} was refused: the signed link Azure ML gave for it expired or was "
            "revoked. Refresh and retry.",
            uri,
        )
    if status == 404:
        return NotFound(f"{uri} does not exist (moved or deleted?): refresh the view.", uri)
    if status == 412:
        return CorruptArtifact(f"{uri} changed while it was being read: retry.", uri)
    if status in (408, 429) or status >= 500:
        return Unavailable(f"Reading {uri} failed: the storage service answered {status}.", uri)
    return ArtifactError(f"Reading {uri} failed: the storage service answered {status}.", uri)


def _total(content_range: str | None) -> int | None:
    match = _RANGE.fullmatch((content_range or "").strip())
    return int(match[1]) if match else None


def _time(value: str | None) -> float | None:
    """An HTTP date (`Last-Modified`) as a POSIX time."""
    try:
        return parsedate_to_datetime(value).timestamp() if value else None
    except (TypeError, ValueError):
        return None


def _md5(value: str | None) -> bytes | None:
    if not value:
        return None
    try:
        digest = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    return digest if len(digest) == 16 else None


__all__ = ["FIRST_BYTES", "SignedUrlReader", "open_signed", "pool_for"]
