"""One small filesystem-like interface every backend implements (in the spirit of fsspec's
ls / info / open): paged, hierarchical listing and random-access reads."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..errors import InvalidParams
from ..model import Node, Page

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


class RangeReader(Protocol):
    """Random access to one file's bytes; remote backends serve each call with a ranged read."""

    @property
    def size(self) -> int: ...

    def read_range(self, offset: int, length: int) -> bytes: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class FileEntry:
    """A file found under a folder being downloaded: where it goes (relative parts, still
    untrusted) and where it comes from."""

    relative_parts: tuple[str, ...]
    uri: str
    size: int  # 0 when the listing has no sizes (Azure ML artifacts): the reader has it
    # Optional, when the listing has them (downloads skip identical files, verify MD5):
    md5: bytes | None = None  # Content-MD5
    modified: float | None = None  # POSIX timestamp
    etag: str | None = None  # the version listed (a download opens it without a request)
    # A signed URL the bytes can be read from without asking the service for one (Azure ML
    # artifacts: the prefix listing gives each file's `contentUri`). A secret: never shown.
    url: str | None = field(default=None, repr=False, compare=False)


class Backend(Protocol):
    def roots(self) -> list[Node]: ...

    def stat(self, uri: str) -> Node: ...

    def children(self, uri: str, page_token: str | None, page_size: int) -> Page: ...

    def metadata(self, uri: str) -> dict[str, Any]:
        """What the service knows about a node (run.json, model.json, ...), for previews."""
        ...

    def open(self, uri: str) -> RangeReader: ...

    def walk(self, uri: str) -> Iterator[FileEntry]: ...


def paginate(items: list[Node], page_token: str | None, page_size: int) -> Page:
    """Offset paging for backends that hold the whole sorted listing (local folders)."""
    start = _decode_token(page_token)
    end = start + page_size
    token = f"offset:{end}" if end < len(items) else None
    return Page(items[start:end], token)


def clamp_page_size(page_size: int | None) -> int:
    if page_size is None:
        return DEFAULT_PAGE_SIZE
    if not isinstance(page_size, int) or page_size < 1:
        raise InvalidParams(f"pageSize must be a positive integer, got {page_size!r}.")
    return min(page_size, MAX_PAGE_SIZE)


def _decode_token(page_token: str | None) -> int:
    if page_token is None:
        return 0
    prefix, _, number = str(page_token).partition(":")
    if prefix != "offset" or not number.isdigit():
        raise InvalidParams(f"Invalid pageToken {page_token!r}: pass back the server's token.")
    return int(number)
