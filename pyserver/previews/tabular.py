"""Delimited text (CSV, TSV, semicolon or pipe separated), JSON and JSON Lines.

`text.py` reads the sample and asks `classify` what it is; the bytes decide, never the
file name. Every cell, key and value from the artifact goes through `escape`.
"""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Any

from .budget import BudgetedReader
from .markdown import code_block, escape, format_size, table
from .section import Section
from .text import (
    HEAD_LINES,
    TextSample,
    clean_line,
    read_more,
    read_tail,
    split_lines,
    text_section,
)

DELIMITERS = ",\t;|"
_DELIMITER_NAMES = {",": "comma", "\t": "tab", ";": "semicolon", "|": "pipe"}
SNIFF_CHARS = 16 * 1024
SNIFFER_CHARS = 4 * 1024
CHECK_ROWS = 50
TABLE_ROWS = 10
TAIL_ROWS = 3
MAX_COLUMNS = 12
CELL_CHARS = 40
TABLE_CHARS = 8000  # a table bigger than this loses rows, so the hover keeps its end
JSON_MAX_BYTES = 1 << 20
JSON_CHUNK = 256 * 1024
JSON_KEYS = 20
JSON_SCAN_ITEMS = 100_000
_JSON_START = re.compile(r'\s*(?:\{\s*["}]|\[\s*[-0-9{\["tfn\]])')
_WS = re.compile(r"\s*")
_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d$")
_MILLIS = re.compile(r"\d{3}(?:\d{3})?(?!\d)")
_SPACE_WORD = re.compile(r" [^\W\d_]")


# ---------------------------------------------------------------- classification


def classify(sample: TextSample) -> str | None:
    """ "json", "jsonl", "csv" or None (plain text)."""
    text = sample.text()
    if _looks_like_jsonl(sample, text):
        return "jsonl"
    if _JSON_START.match(text) and _json_plausible(text, sample.complete):
        return "json"
    if _sniff(text, sample.complete) is not None:
        return "csv"
    return None


def preview_classified(reader: BudgetedReader, sample: TextSample, kind: str) -> Section:
    if kind == "json":
        return preview_json(reader, sample)
    if kind == "jsonl":
        return preview_jsonl(reader, sample)
    return preview_csv(reader, sample)


def _complete_lines(sample: TextSample, text: str) -> list[str]:
    lines = split_lines(text)
    if not sample.complete and lines:
        lines = lines[:-1]
    return lines


def _looks_like_jsonl(sample: TextSample, text: str) -> bool:
    lines = [line.strip() for line in _complete_lines(sample, text)[:CHECK_ROWS]]
    lines = [line for line in lines if line]
    if len(lines) < 2 or not all(line[0] in "{[" for line in lines):
        return False
    try:
        values = [json.loads(line) for line in lines]
    except (ValueError, RecursionError):
        return False
    return all(isinstance(v, (dict, list)) for v in values)


def _json_plausible(text: str, complete: bool) -> bool:
    """Valid JSON, or JSON with at least one member parsed before an error or the cut."""
    if complete:
        try:
            json.loads(text)
            return True
        except (ValueError, RecursionError):
            pass
    scan = _scan_prefix(text, limit=2)
    return bool(scan["members"]) and (scan["separated"] or scan["closed"])


# ---------------------------------------------------------------- CSV


def _sniff(text: str, complete: bool) -> csv.Dialect | type[csv.Dialect] | None:
    """A dialect that splits the first rows into ≥ 2 columns, consistently."""
    sample = text[:SNIFF_CHARS]
    if len(text) > SNIFF_CHARS or not complete:
        cut = max(sample.rfind("\n"), sample.rfind("\r"))
        sample = sample[: cut + 1] if cut > 0 else sample
    if "\n" not in sample and "\r" not in sample:
        return None  # a table has rows
    candidates: list[csv.Dialect | type[csv.Dialect]] = []
    try:
        # The sniffer's regular expressions are superlinear on hostile input: a short sample.
        sniffed = csv.Sniffer().sniff(_lines_within(sample, SNIFFER_CHARS), delimiters=DELIMITERS)
        if sniffed.delimiter in DELIMITERS:
            candidates.append(sniffed)
    except csv.Error:
        pass
    candidates += [_plain(delimiter) for delimiter in DELIMITERS]
    for dialect in candidates:
        rows = _rows(sample, dialect, CHECK_ROWS, complete=True)
        if _consistent(rows):
            plain = _plain(dialect.delimiter)  # the cells as written, leading spaces kept
            if not _log_or_prose(_rows(sample, plain, CHECK_ROWS, complete=True)):
                return dialect
    return None


def _lines_within(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = max(text.rfind("\n", 0, limit), text.rfind("\r", 0, limit))
    return text[: cut + 1] if cut > 0 else text[:limit]


def _plain(delimiter: str) -> type[csv.Dialect]:
    return type(f"Plain{ord(delimiter)}", (csv.excel,), {"delimiter": delimiter})


def _log_or_prose(rows: list[list[str]]) -> bool:
    """Consistent columns that are still not a table: log lines whose timestamps carry
    milliseconds after a comma (Python's logging), or sentences split at their commas."""
    stamped = sum(
        1 for row in rows if _TIMESTAMP.search(row[0]) and len(row) > 1 and _MILLIS.match(row[1])
    )
    if stamped >= 0.8 * len(rows):
        return True
    later = [cell for row in rows for cell in row[1:]]
    spaced = sum(1 for cell in later if _SPACE_WORD.match(cell))
    words = sum(len(cell.split()) for row in rows for cell in row)
    cells = sum(len(row) for row in rows)
    return bool(later) and spaced >= 0.9 * len(later) and words >= 2 * cells


def _rows(
    text: str, dialect: csv.Dialect | type[csv.Dialect], limit: int | None, complete: bool
) -> list[list[str]]:
    rows: list[list[str]] = []
    try:
        for row in csv.reader(io.StringIO(text, newline=""), dialect):
            if row:
                rows.append(row)
            if limit is not None and len(rows) > limit:
                break
    except csv.Error:
        pass
    if not complete and rows and (limit is None or len(rows) <= limit):
        rows = rows[:-1]  # the last row of a cut sample may be partial
    return rows[:limit] if limit is not None else rows


def _consistent(rows: list[list[str]]) -> bool:
    if len(rows) < 2 or len(rows[0]) < 2:
        return False
    width = len(rows[0])
    return sum(1 for row in rows if len(row) == width) >= 0.9 * len(rows)


def _has_header(sample: str, rows: list[list[str]]) -> bool:
    try:
        if csv.Sniffer().has_header(sample):
            return True
    except csv.Error:
        pass
    # The sniffer votes no on all-text tables; a first row of distinct names over numbers
    # is still a header.
    first, rest = rows[0], rows[1:]
    return (
        len(set(first)) == len(first)
        and not any(_is_number(cell) for cell in first)
        and any(_is_number(cell) for row in rest for cell in row)
    )


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def preview_csv(reader: BudgetedReader, sample: TextSample) -> Section:
    text = sample.text()
    dialect = _sniff(text, sample.complete)
    if dialect is None:  # classify said yes; the same text says the same
        return text_section(reader, sample)
    delimiter = dialect.delimiter
    rows = _rows(text, dialect, None, sample.complete)
    header = _has_header(_lines_within(text, SNIFFER_CHARS), rows[: CHECK_ROWS + 1])
    width = max(len(row) for row in rows[:CHECK_ROWS])
    names = rows[0] if header else [f"column {i + 1}" for i in range(width)]
    data = rows[1:] if header else rows
    tail_rows: list[list[str]] = []
    if not sample.complete:
        read_tail(reader, sample)
        if sample.tail:
            lines = split_lines(sample.text(sample.tail))[1:]  # the first is partial
            parsed = _rows("".join(lines), dialect, None, complete=True)
            tail_rows = [row for row in parsed if len(row) == len(names)][-TAIL_ROWS:]
    label = "TSV" if delimiter == "\t" else "CSV"
    if delimiter not in ",\t":
        label += f" ({_DELIMITER_NAMES[delimiter]}-separated)"
    fields: dict[str, Any] = {
        "delimiter": delimiter,
        "hasHeader": header,
        "columns": [name[:100] for name in names[:100]],
        "columnCount": len(names),
        "encoding": sample.encoding,
    }
    if sample.complete:
        fields["rowCount"] = len(data)
        count = f"{len(data):,} row{'s' if len(data) != 1 else ''}"
    else:
        consumed = sum(sample.byte_length(line) for line in _complete_lines(sample, text))
        estimate = round(len(rows) * (sample.size - sample.bom) / consumed) if consumed else 0
        estimate -= 1 if header else 0
        fields.update(rowCount=None, rowsAtLeast=len(data), rowEstimate=estimate)
        count = f"≥ {len(data):,} rows (≈ {estimate:,} estimated from size)"
    summary = f"{label} · {len(names)} column{'s' if len(names) != 1 else ''} · {count}"
    shown = [[_cell(c) for c in row[:MAX_COLUMNS]] for row in data[:TABLE_ROWS]]
    headers = [_cell(name) for name in names[:MAX_COLUMNS]]
    blocks = []
    if shown or tail_rows:
        tail_cells = [[_cell(c) for c in row[:MAX_COLUMNS]] for row in tail_rows]
        if tail_cells:
            shown.append(["…"] * len(headers))
        blocks.append(fit_table(headers, _pad(shown, len(headers)), tail_cells))
    elif header:
        blocks.append(table(headers, []))
    notes = []
    if len(names) > MAX_COLUMNS:
        notes.append(f"{len(names) - MAX_COLUMNS} more columns not shown")
    if not sample.complete:
        notes.append(
            f"read the first {format_size(len(sample.head))}"
            + (f" and the last {format_size(len(sample.tail))}" if sample.tail else "")
            + f" of {format_size(sample.size)}"
        )
    if notes:
        blocks.append("*" + escape("; ".join(notes), 300) + "*")
    return Section("csv", summary, blocks, truncated=not sample.complete, fields=fields)


def _cell(value: str) -> str:
    return escape(value, CELL_CHARS)


def _pad(rows: list[list[str]], width: int) -> list[list[str]]:
    return [row + [""] * (width - len(row)) if len(row) < width else row for row in rows]


def fit_table(
    headers: list[str], rows: list[list[str]], tail: list[list[str]], limit: int = TABLE_CHARS
) -> str:
    """A table no longer than `limit` characters: tail rows go first, then the head's last."""
    tail = _pad(tail, len(headers))
    rendered = table(headers, rows + tail)
    while len(rendered) > limit and len(rows) + len(tail) > 1:
        if tail:
            tail = tail[1:]
            if not tail and rows and rows[-1][0] == "…":
                rows = rows[:-1]
        else:
            rows = rows[:-1]
        rendered = table(headers, rows + tail)
    return rendered


# ---------------------------------------------------------------- JSON


def _scan_prefix(text: str, limit: int = JSON_SCAN_ITEMS) -> dict[str, Any]:
    """The top-level members of a (possibly cut or invalid) JSON object or array, parsed
    one by one until the text ends or stops making sense."""
    decoder = json.JSONDecoder()
    position = _WS.match(text).end()  # type: ignore[union-attr]
    is_object = text[position : position + 1] == "{"
    closer = "}" if is_object else "]"
    position += 1
    members: list[tuple[str | None, Any]] = []
    count, separated, closed = 0, False, False
    while True:
        position = _WS.match(text, position).end()  # type: ignore[union-attr]
        if text[position : position + 1] == closer and not separated:
            closed = True
            break
        separated = False
        key = None
        try:
            if is_object:
                if text[position : position + 1] != '"':
                    break
                key, position = decoder.raw_decode(text, position)
                position = _WS.match(text, position).end()  # type: ignore[union-attr]
                if text[position : position + 1] != ":":
                    break
                position = _WS.match(text, position + 1).end()  # type: ignore[union-attr]
            value, position = decoder.raw_decode(text, position)
        except (ValueError, RecursionError):
            break
        count += 1
        if len(members) < JSON_KEYS:
            members.append((key, value))
        position = _WS.match(text, position).end()  # type: ignore[union-attr]
        following = text[position : position + 1]
        if following == ",":
            separated = True
            position += 1
        elif following == closer:
            closed = True
            break
        else:
            break
        if count >= limit:
            break
    return {
        "object": is_object,
        "members": members,
        "count": count,
        "separated": separated,
        "closed": closed,
    }


def _is_cut(error: json.JSONDecodeError, text: str) -> bool:
    """Whether a parse error is explained by the text ending (a budget cut), not bad JSON."""
    return error.pos >= len(text.rstrip()) - 6 or error.msg.startswith("Unterminated string")


def preview_json(reader: BudgetedReader, sample: TextSample) -> Section:
    if not sample.complete:
        read_more(reader, sample, JSON_MAX_BYTES, JSON_CHUNK)
    text = sample.text()
    fields: dict[str, Any] = {"encoding": sample.encoding}
    try:
        value = json.loads(text)
    except RecursionError:
        return Section("json", "JSON · nested too deeply to show", truncated=True, fields=fields)
    except json.JSONDecodeError as error:
        return _broken_json(sample, text, error, fields)
    blocks, summary = _describe_top(value)
    fields.update(topLevel=_type_name(value), valid=True)
    if isinstance(value, dict):
        fields["keys"] = [k[:100] for k in list(value)[:100]]
    elif isinstance(value, list):
        fields["length"] = len(value)
    return Section("json", f"JSON · {summary}", blocks, fields=fields)


def _broken_json(
    sample: TextSample, text: str, error: json.JSONDecodeError, fields: dict[str, Any]
) -> Section:
    scan = _scan_prefix(text)
    cut = not sample.complete and _is_cut(error, text)
    noun = "keys" if scan["object"] else "items"
    found = f"{scan['count']:,} top-level {noun} found"
    if cut:
        summary = f"JSON {'object' if scan['object'] else 'array'} · truncated · {found} so far"
        intro = (
            f"*Read the first {format_size(len(sample.head))} of "
            f"{format_size(sample.size)} (the byte budget); the structure found so far:*"
        )
    else:
        summary = f"JSON · invalid · {found} before the error"
        intro = escape(f"Invalid JSON: {error.msg} (line {error.lineno}, column {error.colno})")
    blocks = [intro]
    if scan["members"]:
        blocks.append(_members_table(scan["object"], scan["members"], TABLE_CHARS // 2))
    if not cut:
        lines = split_lines(text)[:HEAD_LINES]
        blocks.append(code_block("\n".join(clean_line(line) for line in lines)))
    fields.update(
        topLevel="object" if scan["object"] else "array",
        valid=None if cut else False,
        membersFound=scan["count"],
        error=None if cut else f"{error.msg} (line {error.lineno}, column {error.colno})",
    )
    if scan["object"]:
        fields["keys"] = [str(k)[:100] for k, _ in scan["members"]]
    return Section("json", summary, blocks, truncated=cut, fields=fields)


def _describe_top(value: Any) -> tuple[list[str], str]:
    if isinstance(value, dict):
        summary = f"object · {len(value):,} key{'s' if len(value) != 1 else ''}"
        blocks = [_members_table(True, list(value.items())[:JSON_KEYS])] if value else []
        if len(value) > JSON_KEYS:
            blocks.append(f"*… {len(value) - JSON_KEYS:,} more keys*")
        return blocks, summary
    if isinstance(value, list):
        kinds = sorted({_type_name(v) for v in value})
        summary = f"array · {len(value):,} item{'s' if len(value) != 1 else ''}"
        if kinds:
            summary += f" of {' / '.join(kinds)}"
        records = _records_table(value[:TABLE_ROWS])
        if records is None:
            members: list[tuple[str | None, Any]] = [(None, v) for v in value[:JSON_KEYS]]
            records = _members_table(False, members) if members else ""
        blocks = [records] if records else []
        if len(value) > TABLE_ROWS:
            blocks.append(f"*… {len(value) - TABLE_ROWS:,} more items*")
        return blocks, summary
    return [code_block(clean_line(json.dumps(value, ensure_ascii=False), 2000))], _type_name(value)


def _members_table(
    is_object: bool, members: list[tuple[str | None, Any]], limit: int = TABLE_CHARS
) -> str:
    rows = []
    for index, (key, value) in enumerate(members):
        name = escape(str(key), 60) if is_object else str(index)
        rows.append([name, escape(_type_detail(value), 60), escape(_small(value), 80)])
    return fit_table(["key" if is_object else "index", "type", "value"], rows, [], limit)


def _records_table(records: list[Any]) -> str | None:
    """Objects whose values are mostly scalars, as a table; None for anything else."""
    if not records or not all(isinstance(r, dict) for r in records):
        return None
    columns: list[str] = []
    for record in records:
        columns += [k for k in record if k not in columns]
    if not columns:
        return None
    nested = sum(1 for r in records for v in r.values() if isinstance(v, (dict, list)))
    if nested > sum(len(r) for r in records) // 2:
        return None
    headers = [_cell(str(c)) for c in columns[:MAX_COLUMNS]]
    rows = [[_cell(_small(r[c])) if c in r else "" for c in columns[:MAX_COLUMNS]] for r in records]
    rendered = fit_table(headers, rows, [])
    if len(columns) > MAX_COLUMNS:
        rendered += f"\n\n*{len(columns) - MAX_COLUMNS} more keys not shown*"
    return rendered


def _type_name(value: Any) -> str:
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    return "number"


def _type_detail(value: Any) -> str:
    name = _type_name(value)
    if isinstance(value, dict):
        return f"{name} · {len(value)} key{'s' if len(value) != 1 else ''}"
    if isinstance(value, (list, str)):
        return f"{name} · {len(value)} {'items' if isinstance(value, list) else 'chars'}"
    return name


def _small(value: Any) -> str:
    """A value in a few characters: strings as they are, the rest as compact JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        keys = ", ".join(str(k) for k in list(value)[:5])
        return "{" + keys + (", …" if len(value) > 5 else "") + "}"
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text if len(text) <= 80 else text[:79] + "…"


# ---------------------------------------------------------------- JSON Lines


def preview_jsonl(reader: BudgetedReader, sample: TextSample) -> Section:
    text = sample.text()
    lines = [line for line in _complete_lines(sample, text) if line.strip()]
    records: list[Any] = []
    bad = 0
    for line in lines:
        try:
            records.append(json.loads(line))
        except (ValueError, RecursionError):
            bad += 1
    fields: dict[str, Any] = {"encoding": sample.encoding, "keys": []}
    if sample.complete:
        fields["recordCount"] = len(lines)
        count = f"{len(lines):,} records"
    else:
        consumed = sum(sample.byte_length(line) for line in _complete_lines(sample, text))
        estimate = round(len(lines) * sample.size / consumed) if consumed else 0
        fields.update(recordCount=None, recordsAtLeast=len(lines), recordEstimate=estimate)
        count = f"≥ {len(lines):,} records (≈ {estimate:,} estimated from size)"
    blocks = []
    shown = records[:TABLE_ROWS]
    rendered = _records_table(shown)
    if rendered is None:
        rendered = "\n".join(f"- {escape(_json(r), 160)}" for r in shown)
    else:
        columns: list[str] = []
        for record in shown:
            columns += [k for k in record if k not in columns]
        fields["keys"] = [c[:100] for c in columns[:100]]
    blocks.append(rendered)
    if bad:
        blocks.append(f"⚠️ {bad:,} line{'s' if bad != 1 else ''} in the sample are not valid JSON")
    if not sample.complete:
        blocks.append(
            f"*Read the first {format_size(len(sample.head))} of {format_size(sample.size)}.*"
        )
    return Section(
        "jsonl", f"JSON Lines · {count}", blocks, truncated=not sample.complete, fields=fields
    )


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
