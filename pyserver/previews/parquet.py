"""Parquet tables, through pyarrow over the ranged reader: the footer gives the schema, row
counts, row groups, codecs and key-value metadata; the first rows come from the first pages
of the first row group only, when the byte budget allows."""

from __future__ import annotations

import json
from typing import Any

from .budget import BudgetedReader, BudgetExceeded, ReaderFile
from .markdown import code_span, escape, format_size, table
from .section import Section
from .tabular import fit_table

HEAD_ROWS = 10
MAX_COLUMNS = 12
SCHEMA_COLUMNS = 40
CELL_CHARS = 40
METADATA_KEYS = 10
ROWS_CHARS = 5000  # with the schema and metadata, the hover stays within 12 000 characters
SCHEMA_CHARS = 3000
STREAM_BUFFER = 64 * 1024  # read column chunks page by page, not whole


def preview_parquet(reader: BudgetedReader, kind: str) -> Section:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        return Section("parquet", "Parquet table", ["Install pyarrow to see its schema and rows."])
    parquet = pq.ParquetFile(ReaderFile(reader), buffer_size=STREAM_BUFFER, pre_buffer=False)
    meta = parquet.metadata
    schema = parquet.schema_arrow
    names = list(schema.names)
    codecs: list[str] = []
    group_bytes = 0
    if meta.num_row_groups:
        first = meta.row_group(0)
        for index in range(first.num_columns):
            column = first.column(index)
            group_bytes += column.total_compressed_size
            if column.compression not in codecs:
                codecs.append(str(column.compression))
    fields: dict[str, Any] = {
        "columns": [
            {"name": n[:100], "type": str(schema.field(n).type)[:100]} for n in names[:100]
        ],
        "columnCount": len(names),
        "rowCount": meta.num_rows,
        "rowGroups": meta.num_row_groups,
        "compression": codecs,
        "createdBy": meta.created_by,
        "formatVersion": str(meta.format_version),
    }
    summary = (
        f"Parquet table · {meta.num_rows:,} rows · {len(names)} columns · "
        f"{meta.num_row_groups} row group{'s' if meta.num_row_groups != 1 else ''}"
    )
    blocks = [_overview(meta, codecs, group_bytes)]
    shown_columns = names[:MAX_COLUMNS]
    truncated = False
    if meta.num_rows and meta.num_row_groups and shown_columns:
        try:
            batch = next(
                parquet.iter_batches(
                    batch_size=HEAD_ROWS,
                    row_groups=[0],
                    columns=shown_columns,
                    use_threads=False,
                ),
                None,
            )
        except BudgetExceeded:
            batch = None
            truncated = True
            blocks.append(
                escape(
                    "First rows not shown: the first pages of row group 0 "
                    f"({format_size(group_bytes)} compressed in all) do not fit in the "
                    "remaining byte budget. Schema only.",
                    400,
                )
            )
        if batch is not None:
            blocks.append(_rows_table(batch.to_pylist(), shown_columns))
            if len(names) > MAX_COLUMNS:
                blocks.append(f"*{len(names) - MAX_COLUMNS} more columns not shown*")
    blocks.append(_schema_table(schema, names))
    metadata_block = _metadata(meta.metadata or {}, fields)
    if metadata_block:
        blocks.append(metadata_block)
    return Section("parquet", summary, blocks, truncated=truncated, fields=fields)


def _overview(meta: Any, codecs: list[str], group_bytes: int) -> str:
    rows = [
        ["Rows", f"{meta.num_rows:,}"],
        ["Row groups", f"{meta.num_row_groups:,}"],
        ["Compression", escape(", ".join(codecs) or "none")],
    ]
    if meta.num_row_groups:
        first = meta.row_group(0)
        rows.append(
            [
                "Row group 0",
                escape(f"{first.num_rows:,} rows, {format_size(group_bytes)} compressed"),
            ]
        )
    if meta.created_by:
        rows.append(["Created by", escape(str(meta.created_by), 80)])
    return table(["", ""], rows)


def _schema_table(schema: Any, names: list[str]) -> str:
    rows = [
        [escape(name, 60), escape(str(schema.field(name).type), 60)]
        for name in names[:SCHEMA_COLUMNS]
    ]
    rendered = fit_table(["column", "type"], rows, [], SCHEMA_CHARS)
    shown = rendered.count("\n") - 1
    text = "**Schema**\n\n" + rendered
    if len(names) > shown:
        text += f"\n\n*… {len(names) - shown} more columns*"
    return text


def _rows_table(records: list[dict[str, Any]], columns: list[str]) -> str:
    rows = [[_cell(record.get(column)) for column in columns] for record in records]
    return fit_table([escape(c, CELL_CHARS) for c in columns], rows, [], ROWS_CHARS)


def _cell(value: Any) -> str:
    if value is None:
        return "∅"
    if isinstance(value, bytes):
        value = repr(value[:CELL_CHARS])
    return escape(str(value), CELL_CHARS)


def _metadata(metadata: dict[bytes, bytes], fields: dict[str, Any]) -> str:
    lines = []
    keys = []
    for key, value in list(metadata.items())[:METADATA_KEYS]:
        name = key.decode("utf-8", "replace")
        keys.append(name[:100])
        if key == b"pandas":
            text = _pandas_summary(value)
        elif key == b"ARROW:schema":
            text = f"Arrow schema ({format_size(len(value))}, base64)"
        else:
            text = value.decode("utf-8", "replace")
        lines.append(f"- {code_span(name, 60)}: {escape(text, 160)}")
    fields["metadataKeys"] = keys
    if len(metadata) > METADATA_KEYS:
        lines.append(f"- … {len(metadata) - METADATA_KEYS} more keys")
    return "**Key-value metadata**\n\n" + "\n".join(lines) if lines else ""


def _pandas_summary(value: bytes) -> str:
    try:
        info = json.loads(value)
    except (ValueError, RecursionError):
        return f"pandas metadata ({format_size(len(value))}, not valid JSON)"
    if not isinstance(info, dict):
        return "pandas metadata (unexpected shape)"
    index = [c if isinstance(c, str) else "range index" for c in info.get("index_columns", [])]
    columns = info.get("columns", [])
    parts = [f"pandas {info.get('pandas_version', '?')}"]
    if isinstance(columns, list):
        parts.append(f"{len(columns)} columns")
    if index:
        parts.append("index: " + ", ".join(str(i) for i in index[:5]))
    return "written by " + " · ".join(parts)
