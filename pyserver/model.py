"""The records that cross the protocol: tree nodes and pages of them (docs/protocol.md)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Node:
    uri: str
    name: str
    kind: str
    has_children: bool
    size: int | None = None
    modified: str | None = None
    status: str | None = None
    duration_ms: int | None = None
    description: str | None = None
    error: str | None = None
    downloadable: bool = False

    def to_json(self) -> dict[str, Any]:
        """camelCase keys, unset fields left out."""
        raw = asdict(self)
        return {_camel(key): value for key, value in raw.items() if value is not None}


@dataclass(frozen=True)
class Page:
    items: list[Node] = field(default_factory=list)
    next_page_token: str | None = None

    def to_json(self) -> dict[str, Any]:
        result: dict[str, Any] = {"items": [node.to_json() for node in self.items]}
        if self.next_page_token is not None:
            result["nextPageToken"] = self.next_page_token
        return result


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)
