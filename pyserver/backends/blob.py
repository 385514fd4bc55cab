"""Blob-storage datastores configured in `amlArtifacts.datastores`, addressed as
`azureml://datastores/<name>/paths/<path>` (docs/uris.md).

Listing is hierarchical and paged by Azure itself (prefix + "/" delimiter, Azure's
continuation token is our `nextPageToken`); reads are ranged, in fixed blocks kept in a
`BlockCache`. azure.* is imported only when a datastore is first used.

Listing and metadata go through the azure-storage-blob SDK; the ranged reads, and the HEAD
requests that give `stat` and `open` a blob's size and ETag, are plain HTTP requests (`Range`,
`If-Match`, `x-ms-version`) over a pool of kept-alive connections (`_Direct`), 1 to 3 ms
cheaper per request than the SDK's pipeline, which is most of a preview's cost: a SAS URL as
given, a read SAS generated once per container from an account key, or `Authorization:
Bearer` with a token credential. Readers fetch a blob's head and tail with its first read,
and `prefetch` several ranges at once, concurrently (previews name the ranges they are about
to read)."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from functools import partial
from typing import TYPE_CHECKING, Any, NamedTuple, NoReturn, TypeVar
from urllib.parse import quote, urlsplit

from ..config import DatastoreConfig
from ..errors import (
    ArtifactError,
    CorruptArtifact,
    InvalidParams,
    NotFound,
    PermissionDenied,
    Unavailable,
    Unsupported,
)
from ..model import Node, Page
from .aml_auth import TokenProvider
from .base import FileEntry
from .blockcache import BlockCache, blob_key
from .https import pool_manager, proxy_for

if TYPE_CHECKING:
    from azure.storage.blob import BlobClient, ContainerClient

log = logging.getLogger(__name__)
_T = TypeVar("_T")

# Measured with `python -m bench.remote --block-sizes` (cold previews from Azurite; fetched
# bytes / ranged GETs): 500 MB HDF5 16 KiB 1.22 MiB/22, 32 KiB 1.43/19, 64 KiB 1.93/19,
# 128 KiB 2.80/18; 200 MB checkpoint 16 KiB 0.18/4, 32 KiB 0.24/4, 64 KiB 0.34/4, 128 KiB
# 0.46/4. Previews read scattered small ranges, so bigger blocks mostly fetch unused bytes,
# smaller ones add round trips: 32 KiB meets both byte goals (2 MiB, 1 MiB) with room to spare.
BLOCK_SIZE = 32 << 10
# A read this large (downloads read 1 MiB at a time) goes straight to storage, uncached: a
# download must not flush the blocks of recent previews out of the cache.
DIRECT_READ_BYTES = 1 << 20
CONNECT_TIMEOUT_S = 10
READ_TIMEOUT_S = 60
# `python -m bench.remote --requests` (Azurite, 2 cores): one 32 KiB ranged read costs 2.96 ms
# through the SDK's download_blob, 1.69 ms as a plain GET on a kept-alive connection; 20
# scattered blocks take 40 ms one by one, 29 ms as one prefetch. Azurite serves about one
# request per ms however many are in flight: concurrency pays far more against real storage,
# where a request is a network round trip. Ranged GETs of one prefetch run this many at once:
PREFETCH_WORKERS = 8
POOL_CONNECTIONS = 16  # kept alive per host: downloads read with 8 threads, prefetch with 8
# Small reads that follow the previous fetch (a scan) fetch this many more blocks at most,
# doubling from 1 on each further step.
READAHEAD_BLOCKS = 4
# A read of a blob's first block fetches this much of its start, and of its end, at once
# (concurrently); a read of its last block, this much of its end. Previews read the start
# first, where formats keep their headers (a torch checkpoint's data.pkl) and where they probe
# for an HDF5 superblock (up to 64 KiB in, previews/detect.py); several formats read the end
# next (a zip's central directory, a checkpoint's of up to ~500 tensors; a parquet footer).
HEAD_BYTES = (64 << 10) + 8
TAIL_BYTES = 64 << 10
CLOSE_FLUSH_S = 10.0  # at most this long waiting for the block cache's disk writes at close
SAS_LIFETIME_S = 3600  # of a read SAS generated from an account key
RENEW_BEFORE_S = 600  # a generated SAS is renewed this long before it expires
# A blob's properties from `stat` serve an `open` of it this soon after (stat then open is
# how every preview starts): one request fewer. Reads are If-Match that ETag anyway.
PROPERTIES_REUSE_S = 2.0
RETRY_DELAYS_S = (0.0, 0.5)  # before each retry of a failed GET (cut connection, 5xx)
_RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})
_STORAGE_SCOPE = "https://storage.azure.com/.default"
_SAS_SIGNATURE = re.compile(r"(?i)\b(sig|AccountKey|SharedAccessSignature)=[^&;\s\"']+")


def datastore_uri(name: str, path: str = "") -> str:
    """The canonical URI of a node: it parses back (uris.parse_uri) to the same name and path."""
    return f"azureml://datastores/{quote(name, safe='')}/paths/{quote(path, safe='/')}"


def redact(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return _SAS_SIGNATURE.sub(lambda match: f"{match[1]}=***", text)


class NetworkStats:
    """Bytes and requests of ranged reads (body bytes): for tests and benchmarks."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.bytes = 0
        self.requests = 0

    def add(self, count: int) -> None:
        with self._lock:
            self.bytes += count
            self.requests += 1


class BlobDatastores:
    """The Backend of every configured blob datastore; URIs carry the datastore's name."""

    def __init__(
        self,
        stores: tuple[DatastoreConfig, ...] = (),
        cache: BlockCache | None = None,
        block_size: int = BLOCK_SIZE,
        tokens: TokenProvider | None = None,
    ) -> None:
        self._stores: dict[str, _Store] = {}
        # Signs in the stores that have no secret (identity-based): shared with the workspaces.
        self.tokens = tokens or TokenProvider()
        self._cache = cache
        self.block_size = block_size
        self.network = NetworkStats()
        self._lock = threading.Lock()
        self._pools: dict[str, Any] = {}  # proxy URL ("": none) -> urllib3 pool manager
        self._proxies: dict[str, str] = {}  # scheme://host:port -> its proxy ("": direct)
        self._recent: dict[tuple[str, str], tuple[float, Any]] = {}  # stat's properties
        self.configure(stores)

    def configure(self, stores: tuple[DatastoreConfig, ...]) -> None:
        if stores == tuple(store.config for store in self._stores.values()):
            return  # unchanged (a workspace datastore is configured on each use): keep all
        with self._lock:
            self._recent.clear()
        old, tokens = self._stores, self.tokens
        self._stores = {
            c.name: old[c.name] if c.name in old and old[c.name].config == c else _Store(c, tokens)
            for c in stores
        }

    @property
    def cache(self) -> BlockCache:
        if self._cache is None:
            self._cache = BlockCache()
        return self._cache

    def handles(self, name: str) -> bool:
        return name in self._stores

    def http(self, url: str) -> Any:
        """The kept-alive connections for ranged GETs of `url`: through the proxy the
        environment names for it (HTTPS_PROXY, NO_PROXY, ... as the SDK's requests does), else
        direct; None without urllib3 (reads then go through the SDK)."""
        try:
            import urllib3
        except ImportError:  # azure-core brings it (through requests): not expected
            return None
        origin = "/".join(url.split("/", 3)[:3])
        with self._lock:  # reading the environment costs more than the rest of a small read
            proxy = self._proxies.get(origin)
        if proxy is None:
            proxy = proxy_for(url)
        with self._lock:
            self._proxies[origin] = proxy
            pool = self._pools.get(proxy)
            if pool is None:
                timeout = urllib3.Timeout(connect=CONNECT_TIMEOUT_S, read=READ_TIMEOUT_S)
                pool = self._pools[proxy] = pool_manager(
                    proxy, num_pools=8, maxsize=POOL_CONNECTIONS, retries=False, timeout=timeout
                )
            return pool

    def run_concurrently(self, calls: Sequence[Callable[[], None]]) -> list[BaseException | None]:
        """Run the calls, at most PREFETCH_WORKERS at a time; what each raised (None: done)."""

        def guarded(call: Callable[[], None]) -> BaseException | None:
            try:
                call()
            except Exception as error:
                return error
            return None

        if len(calls) <= 1:
            return [guarded(call) for call in calls]
        return list(_executor().map(guarded, calls))

    def _properties(self, store: _Store, client: BlobClient) -> Any:
        """The size, ETag and modification time of the blob (None: there is no such blob),
        from a plain HEAD request when reads are plain GETs (~3 ms cheaper than the SDK's
        pipeline, and its connection then serves the reads), else from the SDK."""
        direct = store.direct(client)
        http = self.http(direct.url) if direct is not None else None
        if direct is None or http is None:
            return _blob_properties(client)
        return direct.properties(http)

    def _remember(self, name: str, path: str, props: Any) -> None:
        with self._lock:
            if len(self._recent) > 64:
                self._recent.clear()
            self._recent[(name, path)] = (time.monotonic(), props)

    def _recall(self, name: str, path: str) -> Any:
        """Properties `stat` got for this blob a moment ago (once), else None."""
        with self._lock:
            seen = self._recent.pop((name, path), None)
        if seen is None or time.monotonic() - seen[0] > PROPERTIES_REUSE_S:
            return None
        return seen[1]

    # -- Backend interface (paths inside a datastore) ------------------------------------

    def roots(self) -> list[Node]:
        return [store.root_node() for store in self._stores.values()]

    def stat(self, name: str, path: str) -> Node:
        store = self._store(name)
        if not path:
            return store.root_node()
        uri = datastore_uri(name, path)
        with store.errors(uri):
            props = self._properties(store, store.container.get_blob_client(path))
            if props is not None:
                self._remember(name, path, props)
                return _file_node(name, path, props)
            if _any_blob(store.container, path + "/"):
                return _folder_node(name, path)
        raise NotFound(f"{uri} does not exist (moved or deleted?): refresh the view.", uri)

    def children(self, name: str, path: str, page_token: str | None, page_size: int) -> Page:
        store = self._store(name)
        prefix = f"{path}/" if path else ""
        uri = datastore_uri(name, path)
        with store.errors(uri, page_token=page_token):
            pages = store.container.walk_blobs(
                name_starts_with=prefix, delimiter="/", results_per_page=page_size
            ).by_page(continuation_token=page_token or None)
            items: list[Node] = []
            for item in next(pages, []):
                relative = item.name[len(prefix) :]
                if type(item).__name__ == "BlobPrefix":
                    folder = relative.rstrip("/")
                    if folder:
                        items.append(_folder_node(name, f"{prefix}{folder}", dataset=not path))
                elif relative and not relative.endswith("/"):  # "a/" = a folder marker blob
                    items.append(_file_node(name, item.name, item))
            token: str | None = getattr(pages, "continuation_token", None) or None
            # Nothing under it: a file (no children), or a folder that is gone.
            gone = not items and not token and not page_token and bool(path)
            if gone and _blob_properties(store.container.get_blob_client(path)) is None:
                raise NotFound(f"{uri} does not exist (moved or deleted?): refresh.", uri)
        return Page(items, token)

    def metadata(self, name: str, path: str) -> dict[str, Any]:
        store = self._store(name)
        if not path:
            return {"account": store.account_url, "container": store.config.container}
        uri = datastore_uri(name, path)
        with store.errors(uri):
            props = _blob_properties(store.container.get_blob_client(path))
        if props is None:
            return {}
        settings = props.content_settings
        md5 = settings.content_md5
        return {
            "size": props.size,
            "contentType": settings.content_type,
            "etag": props.etag,
            "lastModified": _iso(props.last_modified),
            "contentMD5": md5.hex() if isinstance(md5, (bytes, bytearray)) else None,
        }

    def open(self, name: str, path: str) -> BlobRangeReader:
        store = self._store(name)
        uri = datastore_uri(name, path)
        if not path:
            raise InvalidParams(f"{uri} is a datastore, not a file.", uri)
        with store.errors(uri):
            client = store.container.get_blob_client(path)
            props = self._recall(name, path)
            if props is None:
                props = self._properties(store, client)
            if props is None:
                if _any_blob(store.container, path + "/"):
                    raise InvalidParams(f"{uri} is a folder, not a file.", uri)
                raise NotFound(f"{uri} does not exist (moved or deleted?): refresh the view.", uri)
        key = blob_key(store.account_url, store.config.container, path, str(props.etag))
        return BlobRangeReader(
            client, int(props.size), str(props.etag), key, self.cache, self, store, uri
        )

    def open_listed(self, name: str, path: str, size: int, etag: str) -> BlobRangeReader:
        """A reader of the blob version a listing returned, without a properties request
        (downloads of many small files): reads are If-Match that ETag, so a blob changed
        since fails its reads instead of mixing versions."""
        store = self._store(name)
        uri = datastore_uri(name, path)
        with store.errors(uri):
            client = store.container.get_blob_client(path)
        key = blob_key(store.account_url, store.config.container, path, etag)
        return BlobRangeReader(client, size, etag, key, self.cache, self, store, uri)

    def open_url(self, url: str, uri: str) -> BlobRangeReader:
        """A blob reached through a signed URL (an Azure ML artifact's `contentUri`), read
        through the same block cache. The URL is a secret: it never appears in a message."""
        store = _SignedUrlStore(url, self.tokens)
        with store.errors(uri):
            client = store.blob_client()
            props = self._properties(store, client)
            if props is None:
                raise NotFound(f"{uri} does not exist (moved or deleted?): refresh the view.", uri)
        key = blob_key(store.account_url, client.container_name, client.blob_name, str(props.etag))
        return BlobRangeReader(
            client, int(props.size), str(props.etag), key, self.cache, self, store, uri
        )

    def walk(self, name: str, path: str) -> Iterator[FileEntry]:
        store = self._store(name)
        uri = datastore_uri(name, path)
        with store.errors(uri):
            if path:
                props = _blob_properties(store.container.get_blob_client(path))
                if props is not None:
                    yield FileEntry(
                        (path.rsplit("/", 1)[-1],), uri, int(props.size), **_listed(props)
                    )
                    return
            prefix = f"{path}/" if path else ""
            top = path.rsplit("/", 1)[-1] if path else name
            found = 0
            for blob in store.container.list_blobs(name_starts_with=prefix):
                relative = blob.name[len(prefix) :]
                if not relative or relative.endswith("/"):
                    continue
                found += 1
                parts = (top, *relative.split("/"))
                yield FileEntry(
                    parts, datastore_uri(name, blob.name), int(blob.size), **_listed(blob)
                )
        if not found and path:
            raise NotFound(f"{uri} does not exist (moved or deleted?): refresh the view.", uri)

    def _store(self, name: str) -> _Store:
        store = self._stores.get(name)
        if store is None:
            raise NotFound(missing_datastore(name) + ".")
        return store


def missing_datastore(name: str) -> str:
    return f"No datastore named {name}: add it to amlArtifacts.datastores"


class BlobRangeReader:
    """Random access to one blob at the ETag seen at open: every block is fetched with
    If-Match, so a blob replaced while being read fails the read instead of mixing versions."""

    def __init__(
        self,
        client: BlobClient,
        size: int,
        etag: str,
        key: str,
        cache: BlockCache,
        backend: BlobDatastores,
        store: _Store,
        uri: str,
    ) -> None:
        self._client = client
        self._size = size
        self.etag = etag
        self._key = key
        self._cache = cache
        self._block = backend.block_size
        self._backend = backend
        self._store = store
        self._uri = uri
        self.network_bytes = 0
        self._count_lock = threading.Lock()
        self._direct: _Direct | None = None
        self._http: Any = None
        self._direct_known = False
        self._after_fetch = -1  # the block after the last one fetched (readahead)
        self._ahead = 0

    @property
    def size(self) -> int:
        return self._size

    def read_range(self, offset: int, length: int) -> bytes:
        offset = max(0, offset)
        end = min(self._size, offset + max(0, length))
        if end <= offset:
            return b""
        if end - offset >= DIRECT_READ_BYTES:
            return self._fetch(offset, end - offset)
        block = self._block
        first, last = offset // block, (end - 1) // block
        blocks: dict[int, bytes] = {}
        missing = self._missing(range(first, last + 1), blocks)
        if missing:
            runs = list(_runs(missing))
            runs[-1] = self._read_ahead(*runs[-1], small=end - offset <= block // 2)
            self._after_fetch = runs[-1][1]
            runs = self._with_head_and_tail(runs)
            blocks.update(self._fetch_runs(runs, strict=True))
        joined = b"".join(blocks[index] for index in range(first, last + 1))
        skip = offset - first * block
        return joined[skip : skip + (end - offset)]

    def prefetch(self, ranges: Iterable[tuple[int, int]]) -> None:
        """Fetch the blocks of these (offset, length) ranges that are not cached yet, several
        requests at once: a preview names what it is about to read, then reads it from the
        cache. Only a hint: what fails here is fetched again (and reported) by the read."""
        block = self._block
        indices: set[int] = set()
        for offset, length in ranges:
            offset = max(0, offset)
            end = min(self._size, offset + max(0, length))
            if end <= offset or end - offset >= DIRECT_READ_BYTES:
                continue  # nothing, or a read that bypasses the cache anyway
            indices.update(range(offset // block, (end - 1) // block + 1))
        missing = self._missing(sorted(indices), {})
        if missing:
            self._fetch_runs(list(_runs(missing)), strict=False)

    def close(self) -> None:
        # Blocks are written to disk behind the reads: on disk when the reader is done with,
        # for the other processes (preview workers) that share the cache.
        self._cache.flush(CLOSE_FLUSH_S)

    def read_uncached(self, offset: int, length: int) -> bytes:
        """One ranged request, bypassing the block cache (downloads: their bytes are written
        to a file once, caching them would only evict the blocks of previews)."""
        end = min(self._size, max(0, offset) + max(0, length))
        return self._fetch(max(0, offset), end - max(0, offset)) if end > offset else b""

    def _block_length(self, index: int) -> int:
        return min(self._block, self._size - index * self._block)

    def _missing(self, indices: Iterable[int], found: dict[int, bytes]) -> list[int]:
        """The indices not in the cache (sorted as given); `found` gets the others."""
        missing: list[int] = []
        for index in indices:
            cached = self._cache.get(self._key, index, self._block_length(index))
            if cached is None:
                missing.append(index)
            else:
                found[index] = cached
        return missing

    def _with_head_and_tail(self, runs: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """The runs of blocks a read fetches, with the uncached blocks of the blob's head and
        tail (HEAD_BYTES, TAIL_BYTES) when it reads its first block, of its tail when it reads
        its last."""
        blocks = -(-self._size // self._block)
        reads_head, reads_tail = runs[0][0] == 0, runs[-1][1] == blocks
        if not (reads_head or reads_tail):
            return runs
        wanted = {index for start, stop in runs for index in range(start, stop)}
        if reads_head:
            wanted.update(self._uncached(0, -(-HEAD_BYTES // self._block)))
        wanted.update(self._uncached(blocks - -(-TAIL_BYTES // self._block), blocks))
        return list(_runs(sorted(wanted)))

    def _read_ahead(self, start: int, stop: int, small: bool) -> tuple[int, int]:
        """A small read right after the previous fetch is a scan (format probes, a text read
        forward): fetch up to READAHEAD_BLOCKS more blocks with it, as long as not cached."""
        if not small or start != self._after_fetch:
            self._ahead = 0
            return start, stop
        self._ahead = min(READAHEAD_BLOCKS, max(1, 2 * self._ahead))
        return start, self._uncached_until(stop, stop + self._ahead)

    def _cached(self, index: int) -> bool:
        return self._cache.get(self._key, index, self._block_length(index)) is not None

    def _uncached(self, start: int, stop: int) -> list[int]:
        """The blocks of [start, stop) (within the blob) not cached."""
        blocks = -(-self._size // self._block)
        return [i for i in range(max(0, start), min(stop, blocks)) if not self._cached(i)]

    def _uncached_until(self, stop: int, limit: int) -> int:
        """`stop` moved forward towards `limit` (within the blob) over blocks not cached."""
        limit = min(limit, -(-self._size // self._block))
        while stop < limit and not self._cached(stop):
            stop += 1
        return stop

    def _fetch_runs(self, runs: list[tuple[int, int]], strict: bool) -> dict[int, bytes]:
        """Fetch each run of contiguous blocks with one request, the runs concurrently, and
        cache the blocks. `strict`: raise what the first failed run raised (else ignore)."""
        block = self._block
        got: dict[int, bytes] = {}

        def fetch(start: int, stop: int) -> None:
            data = self._fetch(start * block, min(stop * block, self._size) - start * block)
            for index in range(start, stop):
                piece = data[(index - start) * block : (index - start + 1) * block]
                got[index] = piece
                self._cache.put(self._key, index, piece)

        calls = [partial(fetch, start, stop) for start, stop in runs]
        for error in self._backend.run_concurrently(calls):
            if error is None:
                continue
            if strict:
                raise error
            log.debug("prefetch of %s failed (%s): read later", self._uri, type(error).__name__)
        return got

    def _fetch(self, offset: int, length: int) -> bytes:
        with self._store.errors(self._uri):
            if not self._direct_known:
                self._direct = self._store.direct(self._client)
                if self._direct is not None:
                    self._http = self._backend.http(self._direct.url)
                self._direct_known = True
            if self._direct is not None and self._http is not None:
                data = self._direct.get(self._http, offset, length, self.etag)
            else:
                data = self._sdk_get(offset, length)
        with self._count_lock:
            self.network_bytes += len(data)
        self._backend.network.add(len(data))
        if len(data) != length:
            raise CorruptArtifact(
                f"{self._uri} returned {len(data)} of {length} bytes at offset {offset}: "
                "it changed while being read. Try again.",
                self._uri,
            )
        return data

    def _sdk_get(self, offset: int, length: int) -> bytes:
        from azure.core import MatchConditions

        data: bytes = self._client.download_blob(
            offset=offset,
            length=length,
            etag=self.etag,
            match_condition=MatchConditions.IfNotModified,
        ).readall()
        return data


class _HttpStatus(Exception):
    """A ranged GET answered with an error status (mapped by `_Store.errors`)."""

    def __init__(self, status: int, code: str) -> None:
        super().__init__(f"HTTP {status} {code}")
        self.status_code = status
        self.error_code = code


class _Properties(NamedTuple):
    """What `stat` and `open` need of a blob, as a HEAD request gives it (the SDK's
    BlobProperties has the same attributes)."""

    size: int
    etag: str
    last_modified: datetime | None


class _ConnectionFailed(Exception):
    """A ranged GET found no server, lost its connection or timed out (after retries). Its
    message never holds the URL: a SAS URL is a secret."""


class _Direct:
    """Ranged GETs of one blob as plain HTTP requests. `auth()` gives the query string (a SAS)
    and headers (a bearer token) of each request, renewed by the store when near expiry."""

    def __init__(
        self, url: str, version: str, auth: Callable[[], tuple[str, dict[str, str]]]
    ) -> None:
        self.url = url
        self._version = version
        self._auth = auth

    def get(self, http: Any, offset: int, length: int, etag: str) -> bytes:
        headers = {"Range": f"bytes={offset}-{offset + length - 1}", "If-Match": etag}
        return self._retried(lambda url, sent: self._once(http, url, sent, length), headers)

    def properties(self, http: Any) -> _Properties | None:
        """The blob's properties from a HEAD request; None when there is no such blob."""
        return self._retried(lambda url, headers: self._head(http, url, headers), {})

    def _retried(self, request: Callable[[str, dict[str, str]], _T], headers: dict[str, str]) -> _T:
        """`request(url, headers)` with the credential and version, retried after a cut
        connection or a status worth retrying (RETRY_DELAYS_S)."""
        from urllib3.exceptions import HTTPError

        query, auth_headers = self._auth()
        url = f"{self.url}?{query}" if query else self.url
        headers = {**auth_headers, **headers, "x-ms-version": self._version}
        failure: Exception | None = None
        for delay in (*RETRY_DELAYS_S, None):
            try:
                return request(url, headers)
            except HTTPError as error:  # refused, reset, cut short, timed out
                failure = _ConnectionFailed(type(error).__name__)
            except _HttpStatus as error:
                if error.status_code not in _RETRY_STATUS:
                    raise
                failure = error
            if delay is None:
                break
            log.info("blob request failed (%s): retrying", failure)
            if delay:
                time.sleep(delay)
        assert failure is not None
        raise failure from None

    @staticmethod
    def _head(http: Any, url: str, headers: dict[str, str]) -> _Properties | None:
        response = http.request("HEAD", url, headers=headers, redirect=False, retries=False)
        status, found = int(response.status), response.headers
        if status == 200:
            modified = found.get("Last-Modified")
            return _Properties(
                int(found["Content-Length"]),
                str(found["ETag"]),
                parsedate_to_datetime(modified) if modified else None,
            )
        code = str(found.get("x-ms-error-code") or "")
        if status == 404 and "container" not in code.lower():
            return None
        raise _HttpStatus(status, code)

    @staticmethod
    def _once(http: Any, url: str, headers: dict[str, str], length: int) -> bytes:
        response = http.request(
            "GET", url, headers=headers, preload_content=False, redirect=False, retries=False
        )
        try:
            status = int(response.status)
            declared = response.headers.get("Content-Length")
            if status in (200, 206) and (declared is None or int(declared) <= length):
                data: bytes = response.read()
                return data
            code = str(response.headers.get("x-ms-error-code") or "")
            if status in (200, 206):  # the whole blob instead of the range: never read it
                response.close()
                raise _HttpStatus(status, "RangeIgnored")
            response.drain_conn()
            raise _HttpStatus(status, code)
        finally:
            response.release_conn()


_EXECUTOR: ThreadPoolExecutor | None = None
_EXECUTOR_LOCK = threading.Lock()


def _executor() -> ThreadPoolExecutor:
    """The threads of concurrent ranged reads, one pool per process: starting a thread costs
    up to a few ms on a busy machine, too much to pay on each preview."""
    global _EXECUTOR
    with _EXECUTOR_LOCK:
        if _EXECUTOR is None:
            _EXECUTOR = ThreadPoolExecutor(PREFETCH_WORKERS, "blob-read")
        return _EXECUTOR


class _Store:
    """One configured datastore and its (lazily created) container client."""

    def __init__(self, config: DatastoreConfig, tokens: TokenProvider) -> None:
        self.config = config
        self._tokens = tokens
        self._client: ContainerClient | None = None
        self._lock = threading.Lock()
        self._sas: dict[str, tuple[float, str]] = {}  # container -> (expiry, read SAS)

    @property
    def account_url(self) -> str:
        if self.config.account_url:
            return self.config.account_url.rstrip("/")
        fields = {}
        for part in (self.config.connection_string or "").split(";"):
            key, _, value = part.partition("=")
            fields[key.strip().lower()] = value.strip()
        if fields.get("blobendpoint"):
            return fields["blobendpoint"].split("?")[0].rstrip("/")
        account = fields.get("accountname") or "?"
        protocol = fields.get("defaultendpointsprotocol") or "https"
        return f"{protocol}://{account}.blob.{fields.get('endpointsuffix') or 'core.windows.net'}"

    def root_node(self) -> Node:
        account = _account_name(self.account_url)
        return Node(
            datastore_uri(self.config.name),
            self.config.name,
            "datastore",
            True,
            description=f"blob · {account}/{self.config.container}",
            downloadable=True,
        )

    @property
    def container(self) -> ContainerClient:
        with self._lock:
            if self._client is None:
                self._client = self._connect()
            return self._client

    def _connect(self) -> ContainerClient:
        try:
            from azure.storage.blob import BlobServiceClient, LinearRetry
        except ImportError:
            raise Unsupported(
                "Blob datastores need azure-storage-blob: "
                "pip install 'azureml-artifact-explorer[azure]'."
            ) from None
        logging.getLogger("azure").setLevel(logging.WARNING)  # per-request INFO lines
        options: dict[str, Any] = {
            # The SDK's default (15 s, then 18 s, ...) leaves a hover hanging for a minute.
            "retry_policy": LinearRetry(
                backoff=1, retry_total=2, random_jitter_range=0, retry_connect=1
            ),
            "connection_timeout": CONNECT_TIMEOUT_S,
            "read_timeout": READ_TIMEOUT_S,
        }
        config = self.config
        if config.connection_string:
            service = BlobServiceClient.from_connection_string(config.connection_string, **options)
        else:
            credential: Any
            if config.sas_token:
                credential = config.sas_token
            elif config.account_key:
                credential = {
                    "account_name": _account_name(self.account_url),
                    "account_key": config.account_key,
                }
            else:  # identity-based: the server's sign-in (`az login`, ...), its tokens cached
                credential = self._tokens.sdk_credential()
            service = BlobServiceClient(self.account_url, credential=credential, **options)
        return service.get_container_client(config.container)

    def direct(self, client: BlobClient) -> _Direct | None:
        """How to read this blob with plain ranged GETs, with the client's own credential;
        None: only through the SDK (a credential of a kind not handled here)."""
        base = client.url.split("?", 1)[0]
        version = str(client.api_version)
        credential = client.credential
        if credential is None:  # a SAS in the URL (or a public container): as it is
            query = client.url.partition("?")[2]
            return _Direct(base, version, lambda: (query, {}))
        if getattr(credential, "account_key", None) and getattr(credential, "account_name", None):
            name = (str(client.container_name), str(client.blob_name))
            account, key = str(credential.account_name), str(credential.account_key)
            return _Direct(base, version, lambda: (self._read_sas(account, key, name[0]), {}))
        if callable(getattr(credential, "get_token", None)):
            return _Direct(base, version, lambda: ("", self._bearer(credential)))
        return None

    def _read_sas(self, account: str, key: str, container: str) -> str:
        """A read-only SAS for the container, made from the account key (no request), reused
        until RENEW_BEFORE_S before it expires: one for all its blobs (making one costs more
        than reading a small file). A secret: never logged."""
        now = time.time()
        with self._lock:
            held = self._sas.get(container)
            if held is not None and held[0] - now > RENEW_BEFORE_S:
                return held[1]
        from azure.storage.blob import ContainerSasPermissions, generate_container_sas

        expiry = now + SAS_LIFETIME_S
        sas = generate_container_sas(
            account,
            container,
            account_key=key,
            permission=ContainerSasPermissions(read=True),
            expiry=datetime.fromtimestamp(expiry, timezone.utc),
        )
        with self._lock:
            self._sas[container] = (expiry, sas)
        return sas

    @staticmethod
    def _bearer(credential: Any) -> dict[str, str]:
        """`Authorization: Bearer` from the token credential (the TokenProvider's cache)."""
        return {"Authorization": f"Bearer {credential.get_token(_STORAGE_SCOPE).token}"}

    @contextmanager
    def errors(self, uri: str, page_token: str | None = None) -> Iterator[None]:
        """Azure's exceptions → errors the user can act on, with every secret redacted."""
        try:
            yield
        except ArtifactError as error:
            error.message = redact(error.message, self.config.secrets())
            raise
        except Exception as error:
            self._raise(error, uri, page_token)

    def _raise(self, error: Exception, uri: str, page_token: str | None) -> NoReturn:
        from azure.core import exceptions as azure_errors

        status = getattr(error, "status_code", None)
        code = str(getattr(error, "error_code", None) or "")
        code = code.rsplit(".", 1)[-1] if code.startswith("StorageErrorCode.") else code
        name, container = self.config.name, self.config.container
        secrets = self.config.secrets()
        unreachable = (
            azure_errors.ServiceRequestError,
            azure_errors.ServiceResponseError,
            _ConnectionFailed,
        )
        log.info("datastore %s: %s (status %s, %s)", name, type(error).__name__, status, code)
        made: ArtifactError
        if isinstance(error, azure_errors.ResourceModifiedError) or status == 412:
            made = CorruptArtifact(
                f"{uri} changed while it was being read: preview or download it again.", uri
            )
        elif isinstance(error, azure_errors.ResourceNotFoundError) or status == 404:
            if "container" in code.lower():
                made = NotFound(
                    f"The container {container} does not exist in {self.account_url}: "
                    f"check datastore {name} in amlArtifacts.datastores.",
                    uri,
                )
            else:
                made = NotFound(f"{uri} does not exist (moved or deleted?): refresh the view.", uri)
        elif isinstance(error, azure_errors.ClientAuthenticationError) or status in (401, 403):
            if not secrets:  # a revoked or expired sign-in: Retry asks for a fresh token
                self._tokens.forget()
            made = PermissionDenied(
                f"Access to {self.title} ({self.account_url}, container {container}) was "
                f"refused{f' ({code})' if code else ''}: {self._auth_advice()}",
                uri,
            )
        elif isinstance(error, unreachable) and _untrusted_certificate(error):
            made = Unavailable(
                f"The TLS certificate of {self.account_url} ({self.title}) is not trusted: "
                "behind a TLS-inspecting proxy, set REQUESTS_CA_BUNDLE to your organisation's "
                "CA bundle, then retry.",
                uri,
            )
        elif isinstance(error, unreachable):
            made = Unavailable(
                f"Cannot reach {self.account_url} ({self.title}): check the address, your "
                "network or proxy, then retry.",
                uri,
            )
        elif status == 400 and page_token:
            made = InvalidParams(f"Invalid pageToken for {uri}: pass back the server's token.", uri)
        elif isinstance(error, (azure_errors.AzureError, _HttpStatus)):
            made = Unavailable(
                f"Blob storage answered {status or 'an error'}{f' ({code})' if code else ''} "
                f"for {uri}: retry later.",
                uri,
            )
        else:
            raise error
        made.message = redact(made.message, secrets)
        raise made from None

    @property
    def title(self) -> str:
        return f"datastore {self.config.name}"

    def _auth_advice(self) -> str:
        config = self.config
        if config.sas_token:
            return "check that its SAS token is valid, not expired, and allows read and list."
        if config.account_key:
            return "check its account key (the storage account's Access keys)."
        if config.connection_string:
            return "check the key or SAS token in its connection string."
        return (
            "sign in with `az login` (or set a service principal's AZURE_* variables) and make "
            "sure you hold the Storage Blob Data Reader role on the account."
        )


class _SignedUrlStore(_Store):
    """One blob behind a SAS URL that Azure ML handed out (artifact `contentUri`)."""

    def __init__(self, url: str, tokens: TokenProvider) -> None:
        parts = urlsplit(url)
        path = parts.path.strip("/").split("/")
        host = parts.hostname or ""
        emulator = host in ("localhost", "127.0.0.1") or host.replace(".", "").isdigit()
        account = f"{parts.scheme}://{parts.netloc}" + (f"/{path[0]}" if emulator else "")
        container = path[1] if emulator and len(path) > 1 else path[0]
        config = DatastoreConfig("artifacts", container, account, sas_token=parts.query)
        super().__init__(config, tokens)
        self._url = url

    @property
    def title(self) -> str:
        return "the workspace's artifact storage"

    def blob_client(self) -> BlobClient:
        from azure.storage.blob import BlobClient, LinearRetry

        logging.getLogger("azure").setLevel(logging.WARNING)
        # urllib3 logs every URL at DEBUG, signature included: never below INFO here.
        pool_log = logging.getLogger("urllib3.connectionpool")
        pool_log.setLevel(max(pool_log.getEffectiveLevel(), logging.INFO))
        return BlobClient.from_blob_url(
            self._url,
            retry_policy=LinearRetry(
                backoff=1, retry_total=2, random_jitter_range=0, retry_connect=1
            ),
            connection_timeout=CONNECT_TIMEOUT_S,
            read_timeout=READ_TIMEOUT_S,
        )

    def _auth_advice(self) -> str:
        return "the signed link Azure ML gave for it expired or was revoked: refresh and retry."


def _untrusted_certificate(error: BaseException) -> bool:
    """A failed TLS handshake, as the SDK (requests) or our own pooled reads report it."""
    text = f"{error!r} {error}".lower()
    return "ssl" in text and ("certificate" in text or "sslerror" in text)


def _account_name(account_url: str) -> str:
    parts = urlsplit(account_url)
    host = parts.hostname or ""
    if host in ("localhost", "127.0.0.1") or host.replace(".", "").isdigit():
        return parts.path.strip("/").split("/")[0]  # emulator style: http://host:port/<account>
    return host.split(".")[0]


def _blob_properties(client: BlobClient) -> Any:
    """The blob's properties, or None when there is no blob of that name."""
    from azure.core.exceptions import ResourceNotFoundError

    try:
        return client.get_blob_properties()
    except ResourceNotFoundError as error:
        if "container" in str(getattr(error, "error_code", "") or "").lower():
            raise
        return None


def _any_blob(container: ContainerClient, prefix: str) -> bool:
    """Whether a virtual folder exists: a one-item probe, never a full listing."""
    pages = container.list_blobs(name_starts_with=prefix, results_per_page=1).by_page()
    return any(True for _ in next(pages, []))


def _file_node(name: str, path: str, props: Any) -> Node:
    return Node(
        datastore_uri(name, path),
        path.rsplit("/", 1)[-1],
        "file",
        False,
        size=int(props.size),
        modified=_iso(props.last_modified),
        downloadable=True,
    )


def _folder_node(name: str, path: str, dataset: bool = False) -> Node:
    """Top-level folders of a datastore are datasets (the hi-ml convention, as local.py)."""
    return Node(
        datastore_uri(name, path),
        path.rsplit("/", 1)[-1],
        "folder",
        True,
        description="dataset" if dataset else None,
        downloadable=True,
    )


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def _listed(props: Any) -> dict[str, Any]:
    """Content-MD5 and modification time of a listed blob, for downloads (transfers/)."""
    md5 = getattr(getattr(props, "content_settings", None), "content_md5", None)
    modified = getattr(props, "last_modified", None)
    return {
        "md5": bytes(md5) if isinstance(md5, (bytes, bytearray)) and md5 else None,
        "modified": modified.timestamp() if isinstance(modified, datetime) else None,
        "etag": str(props.etag) if getattr(props, "etag", None) else None,
    }


def _runs(indices: list[int]) -> Iterator[tuple[int, int]]:
    """Sorted indices → (start, stop) of each contiguous run."""
    start = previous = None
    for index in indices:
        if start is None or previous is None:
            start = previous = index
        elif index == previous + 1:
            previous = index
        else:
            yield start, previous + 1
            start = previous = index
    if start is not None and previous is not None:
        yield start, previous + 1


__all__ = ["BlobDatastores", "BlobRangeReader", "datastore_uri", "missing_datastore", "redact"]
