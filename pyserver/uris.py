"""Parse the URI forms of docs/uris.md into typed locations."""

from __future__ import annotations

import os.path
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit
from urllib.request import url2pathname

from .errors import InvalidParams


@dataclass(frozen=True)
class LocalPath:
    path: Path


@dataclass(frozen=True)
class DatastorePath:
    datastore: str
    path: str
    workspace: str | None = None  # "<subscription>/<resource group>/<workspace>" when spelled out


@dataclass(frozen=True)
class RunArtifact:
    run_id: str
    path: str
    workspace: str | None = None


@dataclass(frozen=True)
class ModelVersion:
    name: str
    version: str
    workspace: str | None = None
    path: str = ""  # a file or folder inside the version (long form only)


@dataclass(frozen=True)
class WorkspaceItem:
    """A node of an Azure ML workspace that no official URI form names (docs/uris.md):
    the workspace itself, its groups, an experiment, a run (`jobs/<run>`), a model, a dataset
    or one of its versions."""

    workspace: str  # "<subscription>/<resource group>/<workspace>"
    kind: str
    name: str = ""
    version: str = ""


Location = LocalPath | DatastorePath | RunArtifact | ModelVersion | WorkspaceItem

_WORKSPACE = re.compile(
    r"^azureml://subscriptions/([^/]+)/resourcegroups/([^/]+)/workspaces/([^/]+)/?(.*)$",
    re.IGNORECASE,
)
# What follows the workspace in the long forms (docs/uris.md), "" for the workspace itself.
_IN_WORKSPACE: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^datastores/([^/]+)/paths/?(.*)$", re.IGNORECASE), "datastorePath"),
    (re.compile(r"^jobs/([^/]+)/outputs/artifacts/paths/?(.*)$", re.IGNORECASE), "runPath"),
    (re.compile(r"^models/([^/]+)/versions/([^/]+)(?:/paths/?(.*))?$", re.IGNORECASE), "model"),
    (re.compile(r"^jobs/([^/]+)/?$", re.IGNORECASE), "run"),
    (re.compile(r"^experiments/([^/]+)/?$", re.IGNORECASE), "experiment"),
    (re.compile(r"^models/([^/]+)/?$", re.IGNORECASE), "model"),
    (re.compile(r"^datasets/([^/]+)/versions/([^/]+)/?$", re.IGNORECASE), "datasetVersion"),
    (re.compile(r"^datasets/([^/]+)/?$", re.IGNORECASE), "dataset"),
    (re.compile(r"^(experiments|models|datasets|datastores)/?$", re.IGNORECASE), "group"),
    (re.compile(r"^$"), "workspace"),
]
_SHORT_DATASTORE = re.compile(r"^azureml://datastores/([^/]+)/paths/?(.*)$", re.IGNORECASE)
_JOB_OUTPUT = re.compile(r"^azureml://jobs/([^/]+)/outputs/artifacts/paths/?(.*)$", re.IGNORECASE)
_MODEL = re.compile(r"^azureml:([^:/]+):([^:/]+)$")
_MLFLOW_RUN = re.compile(r"^runs:/([^/]+)/?(.*)$")


def parse_uri(text: str, cwd: Path | None = None) -> Location:
    """Any accepted form, or a plain path (relative to `cwd`)."""
    if not isinstance(text, str) or not text.strip() or "\x00" in text:
        raise InvalidParams(f"Not a valid artifact URI or path: {text!r}.")
    text = text.strip()
    if match := _WORKSPACE.match(text):
        return _in_workspace(text, *match.groups())
    if match := _SHORT_DATASTORE.match(text):
        return DatastorePath(unquote(match[1]), _clean(match[2]))
    if match := _JOB_OUTPUT.match(text):
        return RunArtifact(unquote(match[1]), _clean(match[2]))
    if match := _MLFLOW_RUN.match(text):
        return RunArtifact(unquote(match[1]), _clean(match[2]))
    if match := _MODEL.match(text):
        return ModelVersion(match[1], match[2])
    if text.lower().startswith("file:"):
        return LocalPath(_file_uri_to_path(text))
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]+:", text) and not re.match(r"^[a-zA-Z]:[\\/]", text):
        raise InvalidParams(f"Unsupported URI {text!r}: see docs/uris.md for the accepted forms.")
    path = Path(text).expanduser()
    if not path.is_absolute():
        path = (cwd or Path.cwd()) / path
    return LocalPath(Path(_normalise(path)))


def _in_workspace(text: str, sub: str, group: str, name: str, rest: str) -> Location:
    workspace = "/".join(unquote(part) for part in (sub, group, name))
    for pattern, kind in _IN_WORKSPACE:
        match = pattern.match(rest)
        if match is None:
            continue
        parts = [unquote(part) if part is not None else None for part in match.groups()]
        if kind == "datastorePath":
            return DatastorePath(str(parts[0]), _clean(str(parts[1])), workspace)
        if kind == "runPath":
            return RunArtifact(str(parts[0]), _clean(str(parts[1])), workspace)
        if kind == "model" and len(parts) == 3:
            return ModelVersion(str(parts[0]), str(parts[1]), workspace, _clean(parts[2] or ""))
        if kind == "group":
            return WorkspaceItem(workspace, str(parts[0]).lower())
        return WorkspaceItem(
            workspace, kind, str(parts[0]) if parts else "", str(parts[1]) if len(parts) > 1 else ""
        )
    raise InvalidParams(f"Unsupported URI {text!r}: see docs/uris.md for the accepted forms.")


def workspace_uri(subscription: str, resource_group: str, name: str) -> str:
    """The long-form prefix of every node of an Azure ML workspace."""
    parts = (quote(part, safe="") for part in (subscription, resource_group, name))
    return "azureml://subscriptions/{}/resourcegroups/{}/workspaces/{}".format(*parts)


def file_uri(path: Path) -> str:
    return path.absolute().as_uri()


def _file_uri_to_path(text: str) -> Path:
    parts = urlsplit(text)
    if parts.netloc not in ("", "localhost"):
        raise InvalidParams(f"Remote file URI {text!r} is not supported: use a local path.")
    return Path(_normalise(Path(url2pathname(parts.path))))


def _normalise(path: Path) -> str:
    # Collapse "." and ".." without resolving symlinks: the URI names what the user sees.
    return os.path.normpath(str(path))


def _clean(path: str) -> str:
    """A remote relative path: decoded, no leading or trailing slash."""
    return unquote(path).strip("/")
