"""The records that cross the protocol: tree nodes and pages of them (docs/protocol.md)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

# Run statuses of a run still going: its duration counts up to now.
ACTIVE_STATUSES = frozenset(
    {
        "NotStarted",
        "Queued",
        "Preparing",
        "Starting",
        "Provisioning",
        "Running",
        "Finalizing",
        "CancelRequested",
    }
)


def run_duration_ms(start: datetime | None, end: datetime | None, status: str | None) -> int | None:
    """How long a run took, or has been going (active statuses); None when unknown."""
    if start is None:
        return None
    if end is None:
        if status not in ACTIVE_STATUSES:
            return None
        end = datetime.now(timezone.utc)
    return max(0, int((end - start).total_seconds() * 1000))


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
    # With `error`: why, machine-readable, so the client offers the right action ("Sign in",
    # "Retry"): notSignedIn | expired | forbidden | notFound | unreachable | serverError.
    error_kind: str | None = None

    def to_json(self) -> dict[str, Any]:
        """camelCase keys, unset fields left out."""
        raw = asdict(self)
        return {_camel(key): value for key, value in raw.items() if value is not None}


@dataclass(frozen=True)
class RunFilter:
    """Which runs of an experiment to list (`filter` of `artifacts/children`): any of
    `statuses` (none: every status) and, when `tag_key` is set, runs with that tag (and that
    value, when `tag_value` is set)."""

    statuses: tuple[str, ...] = ()
    tag_key: str | None = None
    tag_value: str | None = None

    @property
    def active(self) -> bool:
        return bool(self.statuses) or self.tag_key is not None

    def matches(self, status: str | None, tags: Any) -> bool:
        if self.statuses and status not in self.statuses:
            return False
        if self.tag_key is None:
            return True
        if not isinstance(tags, dict) or self.tag_key not in tags:
            return False
        return self.tag_value is None or str(tags[self.tag_key]) == self.tag_value

    def key(self) -> tuple[Any, ...]:
        """For caches and page tokens."""
        return (self.statuses, self.tag_key, self.tag_value)


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
