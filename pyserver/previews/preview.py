"""A file's preview (format from magic bytes, read within a budget) and the preview of a
run, folder or version (its metadata and what it holds)."""

from __future__ import annotations

import logging
from typing import Any

from ..backends.base import RangeReader
from ..errors import ArtifactError, CorruptArtifact, from_os_error
from ..model import Node
from .budget import Budget, BudgetedReader, BudgetExceeded
from .detect import HDF5_SIGNATURE, detect_kind, hdf5_probe_offsets
from .formats import reader_for
from .markdown import escape, format_size, table
from .section import Section

log = logging.getLogger(__name__)

DETECT_BYTES = 4096
_VERDICT_BADGE = {
    "safe": "✅ safe: loads no code",
    "unsafe": "⛔ **UNSAFE**: loading this file would run code",
    "unknown": "⚠️ unknown: imports code that is not known to be harmless",
}


def preview_file(uri: str, name: str, reader: RangeReader, budget: Budget) -> dict[str, Any]:
    budgeted = BudgetedReader(reader, budget)
    try:
        kind = _detect(budgeted)
        section = reader_for(kind)(budgeted, kind)
    except BudgetExceeded as reason:
        section = Section(
            "unknown", f"Preview stopped: {reason}", verdict="unknown", truncated=True
        )
    except ArtifactError:
        raise
    except (FileNotFoundError, PermissionError) as error:  # the file, not its format
        raise from_os_error(error, uri) from None
    except Exception as error:  # a format library choking on bad bytes
        log.info("preview of %s failed: %r", uri, error)
        raise CorruptArtifact(
            f"{name} could not be read as the format its bytes announce "
            f"({type(error).__name__}: {error}). The file may be truncated "
            "or corrupt.",
            uri,
        ) from None
    return _result(uri, name, section, budgeted, budget)


def preview_node(node: Node, metadata: dict[str, Any], children: list[Node]) -> dict[str, Any]:
    """A run, folder, version or workspace: what the service knows, and what it holds."""
    title = f"{_KIND_LABELS.get(node.kind, node.kind)} · {len(children)} items"
    blocks = [f"**{escape(node.name)}** · {escape(title)}"]
    if node.error:
        blocks.append(f"⚠️ {escape(node.error, 400)}")
    blocks += _metadata_lines(metadata)
    listing = [f"- {escape(c.name)}{'/' if c.has_children else ''}" for c in children[:15]]
    if listing:
        blocks.append("\n".join(listing + (["- …"] if len(children) > 15 else [])))
    return {
        "uri": node.uri,
        "kind": node.kind,
        "summary": title,
        "markdown": "\n\n".join(blocks),
        "safety": {"verdict": "safe", "findings": []},
        "bytesRead": 0,
        "truncated": len(children) > 15,
    }


_KIND_LABELS = {
    "run": "Run",
    "folder": "Folder",
    "workspace": "Workspace",
    "experiment": "Experiment",
    "experiments": "Experiments",
    "datasets": "Datasets",
    "models": "Models",
    "datastores": "Datastores",
    "dataset": "Dataset",
    "model": "Model",
    "datasetVersion": "Dataset version",
    "modelVersion": "Model version",
    "datastore": "Datastore",
}


def _detect(reader: BudgetedReader) -> str:
    head = reader.read_range(0, DETECT_BYTES)
    hdf5_at = None
    if not head.startswith(HDF5_SIGNATURE):
        for offset in hdf5_probe_offsets(reader.size):
            probe = (
                head[offset : offset + 8]
                if offset + 8 <= len(head)
                else reader.read_range(offset, 8)
            )
            if probe == HDF5_SIGNATURE:
                hdf5_at = offset
                break
    return detect_kind(head, hdf5_at)


def _metadata_lines(metadata: dict[str, Any]) -> list[str]:
    lines = []
    scalars = [(k, v) for k, v in metadata.items() if isinstance(v, (str, int, float)) and v != ""]
    if scalars:
        lines.append(table(["", ""], [[escape(k), escape(str(v))] for k, v in scalars[:12]]))
    for key in ("metrics", "tags"):
        values = metadata.get(key)
        if isinstance(values, dict) and values:
            rows = [[escape(str(k)), escape(_last(v))] for k, v in list(values.items())[:12]]
            lines.append(f"**{key}**\n\n" + table(["name", "value"], rows))
    return lines


def _last(value: Any) -> str:
    return str(value[-1]) if isinstance(value, list) and value else str(value)


def _result(
    uri: str, name: str, section: Section, reader: BudgetedReader, budget: Budget
) -> dict[str, Any]:
    summary = f"{section.summary} · {format_size(reader.size)}"
    parts = [f"**{escape(name)}** · {escape(summary)}", _VERDICT_BADGE[section.verdict]]
    parts += [f"- {escape(f['message'], 300)}" for f in section.findings[:8]]
    parts += section.lines
    markdown = "\n\n".join(parts)
    truncated = section.truncated
    if len(markdown) > budget.max_markdown_chars:
        markdown, truncated = markdown[: budget.max_markdown_chars] + "\n\n…", True
    return {
        "uri": uri,
        "kind": section.kind,
        "summary": summary,
        "markdown": markdown,
        "safety": {"verdict": section.verdict, "findings": section.findings},
        "bytesRead": reader.bytes_read,
        "truncated": truncated,
        "size": reader.size,
        **section.fields,
    }
