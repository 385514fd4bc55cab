"""Errors the user can act on. Each carries a JSON-RPC code (docs/protocol.md) and a message
that says what went wrong and what to do."""

from __future__ import annotations

from typing import Any


class ArtifactError(Exception):
    """Base class: `kind` names the error in `data.kind`, `code` is its JSON-RPC code."""

    code = -32603
    kind = "Internal"
    # Why a remote service refused, for a node's `errorKind` (docs/protocol.md): "notSignedIn",
    # "expired", "forbidden", "notFound", "unreachable" or "serverError"; None when unknown.
    error_kind: str | None = None

    def __init__(self, message: str, uri: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.uri = uri

    def to_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind}
        if self.uri is not None:
            data["uri"] = self.uri
        return data


class InvalidParams(ArtifactError):
    code = -32602
    kind = "InvalidParams"


class NotFound(ArtifactError):
    code = -31001
    kind = "NotFound"


class AlreadyExists(ArtifactError):
    code = -31002
    kind = "AlreadyExists"


class Conflict(AlreadyExists):
    """Files of a download exist at their targets and differ (overwrite policy `ask`):
    `data.conflicts` lists the first of them (relative to the destination),
    `data.conflictCount` how many there are."""

    MAX_LISTED = 20

    def __init__(self, message: str, uri: str | None, conflicts: list[str]) -> None:
        super().__init__(message, uri)
        self.conflicts = conflicts

    def to_data(self) -> dict[str, Any]:
        return {
            **super().to_data(),
            "conflicts": self.conflicts[: self.MAX_LISTED],
            "conflictCount": len(self.conflicts),
        }


class PermissionDenied(ArtifactError):
    code = -31003
    kind = "PermissionDenied"


class CorruptArtifact(ArtifactError):
    code = -31004
    kind = "CorruptArtifact"


class UnsafePath(ArtifactError):
    code = -31005
    kind = "UnsafePath"


class Unavailable(ArtifactError):
    code = -31006
    kind = "Unavailable"


class Unsupported(ArtifactError):
    code = -31007
    kind = "Unsupported"


class PreviewFailed(ArtifactError):
    """The process running a preview crashed, hung or ran out of memory (pyserver/workers).
    `data.reason` is "crashed", "timeout" or "memory"."""

    code = -31008
    kind = "PreviewFailed"

    def __init__(self, message: str, uri: str | None = None, reason: str = "crashed") -> None:
        super().__init__(message, uri)
        self.reason = reason

    def to_data(self) -> dict[str, Any]:
        return {**super().to_data(), "reason": self.reason}


class Cancelled(ArtifactError):
    code = -32800
    kind = "RequestCancelled"


def from_os_error(error: OSError, uri: str) -> ArtifactError:
    """Translate an OSError from a local read into the error the user sees."""
    reason = error.strerror or str(error)
    if isinstance(error, FileNotFoundError):
        return NotFound(f"{uri} no longer exists: it was moved or deleted. Refresh the view.", uri)
    if isinstance(error, PermissionError):
        return PermissionDenied(
            f"Permission denied reading {uri}: check the file's access rights.", uri
        )
    return Unavailable(f"Cannot read {uri}: {reason}.", uri)
