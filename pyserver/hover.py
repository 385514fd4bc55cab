"""Hover on a string literal that names an artifact: find the literal under the cursor and
the artifact it names."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path

from .backends import Catalog
from .backends.local import read_runs
from .errors import ArtifactError
from .uris import LocalPath, parse_uri

_STRING = re.compile(
    r"""(?P<prefix>[rRbBuUfF]{0,2})(?P<quote>['"])(?P<body>(?:\\.|(?!(?P=quote)).)*)(?P=quote)"""
)
_URI_PREFIXES = ("azureml:", "runs:/", "file:")


def string_at(line: str, column: int) -> tuple[str, int, int] | None:
    """The body of the string literal covering `column`, with its start and end columns."""
    for match in _STRING.finditer(line):
        if match.start() <= column < match.end():
            body = match["body"]
            return (body, match.start("body"), match.end("body")) if body else None
    return None


def resolve_artifact(
    text: str, catalog: Catalog, document_dir: Path | None, folders: Sequence[Path]
) -> str | None:
    """The URI of the artifact a literal names, or None when it names nothing we know."""
    if "\n" in text or len(text) > 1024:
        return None
    if text.startswith(_URI_PREFIXES):
        try:
            return catalog.canonical(text)
        except ArtifactError:
            return None
    for candidate in _path_candidates(text, catalog, document_dir, folders):
        if candidate.exists():
            return catalog.canonical(str(candidate))
    return None


def _path_candidates(
    text: str, catalog: Catalog, document_dir: Path | None, folders: Sequence[Path]
) -> Iterator[Path]:
    try:
        location = parse_uri(text, cwd=document_dir or Path("/"))
    except ArtifactError:
        return
    if not isinstance(location, LocalPath):
        return
    if Path(text).expanduser().is_absolute():
        yield location.path
        return
    for base in ([document_dir] if document_dir else []) + list(folders):
        yield base / text
    # "outputs/model.pth" as written inside a training script: the newest run that has it.
    for root in catalog.local.configured + catalog.local.opened_folders:
        yield from _in_runs(root / "experiments", text)


def _in_runs(experiments: Path, relative: str) -> Iterator[Path]:
    if not experiments.is_dir():
        return
    runs = [run for exp in experiments.iterdir() if exp.is_dir() for run in read_runs(exp)]
    runs.sort(key=lambda run: run.start_time, reverse=True)
    for run in runs:
        yield run.path / relative
