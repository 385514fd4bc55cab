"""Parse the URI forms of docs/uris.md into typed locations."""

from __future__ import annotations

import os.path
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit
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


@dataclass(frozen=True)
class ModelVersion:
    name: str
    version: str


Location = LocalPath | DatastorePath | RunArtifact | ModelVersion

_LONG_DATASTORE = re.compile(
    r"^azureml://subscriptions/([^/]+)/resourcegroups/([^/]+)/workspaces/([^/]+)"
    r"/datastores/([^/]+)/paths/?(.*)$",
    re.IGNORECASE,
)
_SHORT_DATASTORE = re.compile(r"^azureml://datastores/([^/]+)/paths/?(.*)$", re.IGNORECASE)
_JOB_OUTPUT = re.compile(r"^azureml://jobs/([^/]+)/outputs/artifacts/paths/?(.*)$", re.IGNORECASE)
_MODEL = re.compile(r"^azureml:([^:/]+):([^:/]+)$")
_MLFLOW_RUN = re.compile(r"^runs:/([^/]+)/?(.*)$")


def parse_uri(text: str, cwd: Path | None = None) -> Location:
    """Any accepted form, or a plain path (relative to `cwd`)."""
    if not isinstance(text, str) or not text.strip() or "\x00" in text:
        raise InvalidParams(f"Not a valid artifact URI or path: {text!r}.")
    text = text.strip()
    if match := _LONG_DATASTORE.match(text):
        sub, group, workspace, store, path = match.groups()
        return DatastorePath(unquote(store), _clean(path), f"{sub}/{group}/{workspace}")
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
