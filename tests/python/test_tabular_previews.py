"""CSV / TSV, JSON, JSON Lines and Parquet previews of files written by the real libraries."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import CountingReader, preview

from pyserver.errors import CorruptArtifact
from pyserver.previews.budget import MAX_MARKDOWN_CHARS, Budget
from pyserver.previews.markdown import escape
from pyserver.previews.preview import preview_file
from pyserver.uris import file_uri

HOSTILE = ["<script>alert(1)</script>", "a|b", "[x](javascript:y)", "**bold**", "`tick`"]


def table_rows(markdown: str) -> list[list[str]]:
    """The rows of every markdown table, split on unescaped pipes the way GFM does."""
    rows = []
    for line in markdown.splitlines():
        if line.startswith("| ") and not line.startswith("|---"):
            cells = [c.strip() for c in _split_unescaped(line.strip()[1:-1])]
            rows.append(cells)
    return rows


def _split_unescaped(line: str) -> list[str]:
    cells, current, escaped = [], "", False
    for ch in line:
        if ch == "|" and not escaped:
            cells.append(current)
            current = ""
        else:
            current += ch
        escaped = ch == "\\" and not escaped
    return [*cells, current]


def assert_no_raw_markup(markdown: str) -> None:
    assert "<script>" not in markdown
    assert "](javascript" not in markdown
    assert "**bold**" not in markdown


# ---------------------------------------------------------------- CSV


def frame(rows: int = 30) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "epoch": range(rows),
            "loss": [round(1 / (i + 1), 4) for i in range(rows)],
            "label": [HOSTILE[i % len(HOSTILE)] for i in range(rows)],
        }
    )


@pytest.mark.parametrize(
    ("separator", "label"), [(",", "CSV"), ("\t", "TSV"), (";", "semicolon"), ("|", "pipe")]
)
def test_delimited_files_by_pandas(tmp_path: Path, separator: str, label: str) -> None:
    path = tmp_path / "data.txt"  # the name says nothing: the content decides
    frame().to_csv(path, sep=separator, index=False)
    result = preview(path)
    assert result["kind"] == "csv"
    assert result["delimiter"] == separator
    assert label in result["summary"]
    assert result["hasHeader"] is True
    assert result["columns"] == ["epoch", "loss", "label"]
    assert (result["columnCount"], result["rowCount"]) == (3, 30)
    assert "3 columns · 30 rows" in result["summary"]
    assert result["truncated"] is False
    rows = table_rows(result["markdown"])
    assert rows[0] == ["epoch", "loss", "label"]
    assert len(rows) == 11  # header + the first ten rows
    assert all(len(row) == 3 for row in rows)  # a `|` in a cell never adds a column
    assert rows[1][:2] == ["0", "1\\.0"]
    assert rows[2][2] == escape("a|b")
    assert_no_raw_markup(result["markdown"])


def test_quoted_fields_with_newlines_and_delimiters(tmp_path: Path) -> None:
    path = tmp_path / "quoted.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "comment", "score"])
        writer.writerow([1, "line one\nline two, with comma", 0.5])
        writer.writerow([2, 'she said "hi"', 0.75])
        writer.writerow([3, "plain", 1.0])
    result = preview(path)
    assert result["kind"] == "csv" and result["rowCount"] == 3
    rows = table_rows(result["markdown"])
    assert rows[1] == ["1", "line one line two, with comma", "0\\.5"]
    assert rows[2][1] == 'she said "hi"'


def test_headerless_csv_gets_numbered_columns(tmp_path: Path) -> None:
    path = tmp_path / "raw.csv"
    path.write_text("".join(f"{i},{i * 2},{i * 3}\n" for i in range(20)))
    result = preview(path)
    assert result["kind"] == "csv" and result["hasHeader"] is False
    assert result["columns"] == ["column 1", "column 2", "column 3"]
    assert result["rowCount"] == 20


def test_wide_csv_caps_columns_and_long_cells(tmp_path: Path) -> None:
    path = tmp_path / "wide.csv"
    wide = pd.DataFrame({f"field{i}": ["v" * 500] * 5 for i in range(30)})
    wide.to_csv(path, index=False)
    result = preview(path)
    assert result["columnCount"] == 30
    rows = table_rows(result["markdown"])
    assert len(rows[0]) == 12
    assert all(len(cell) <= 40 for row in rows for cell in row)
    assert "18 more columns not shown" in result["markdown"]
    assert len(result["markdown"]) <= MAX_MARKDOWN_CHARS


def test_big_csv_reads_head_and_tail_only(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    rows = 1_300_000
    pd.DataFrame(
        {
            "id": np.arange(rows),
            "value": np.linspace(0, 1, rows),
            "label": np.array(HOSTILE * (rows // len(HOSTILE))),
        }
    ).to_csv(path, index=False)
    size = path.stat().st_size
    assert size > 40_000_000
    reader = CountingReader(path)
    result = preview_file(file_uri(path), "big.csv", reader, Budget())
    assert result["kind"] == "csv" and result["truncated"] is True
    assert result["bytesRead"] < 100 * 1024
    assert any(offset + length == size for offset, length in reader.reads)  # the tail
    assert result["rowCount"] is None and result["rowsAtLeast"] > 1000
    assert abs(result["rowEstimate"] - rows) < rows * 0.2
    assert "≥" in result["summary"] and "estimated" in result["summary"]
    table = table_rows(result["markdown"])
    assert table[1][0] == "0" and table[-1][0] == str(rows - 1)  # head and tail rows
    assert ["…", "…", "…"] in table
    assert_no_raw_markup(result["markdown"])


def test_demo_metrics_csv(demo_workspace: Path) -> None:
    path = next(demo_workspace.rglob("metrics.csv"))
    result = preview(path)
    assert result["kind"] == "csv" and result["columns"][0] == "epoch"
    assert result["rowCount"] > 1


@pytest.mark.parametrize(
    "text",
    [
        "hello\nworld\n",
        "The quick brown fox, as they say.\nJumped over the lazy dog, twice.\nThe end, really.\n",
        "".join(f"2026-01-01 10:00:{i:02d},{i * 7:03d} INFO step {i}\n" for i in range(30)),
    ],
)
def test_prose_and_logs_stay_text(tmp_path: Path, text: str) -> None:
    path = tmp_path / "notes.csv"  # the extension alone does not make a CSV
    path.write_text(text)
    assert preview(path)["kind"] == "text"


# ---------------------------------------------------------------- JSON


def test_json_object(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    value = {
        "learning_rate": 0.001,
        "layers": [64, 32, 10],
        "name": "<script>alert(1)</script>",
        "nested": {"a": 1, "b": 2},
        "flag": True,
        "nothing": None,
        "a|b": "[x](javascript:y)",
    }
    path.write_text(json.dumps(value, indent=2))
    result = preview(path)
    assert result["kind"] == "json" and result["topLevel"] == "object"
    assert result["keys"] == list(value)
    assert "object · 7 keys" in result["summary"]
    rows = table_rows(result["markdown"])
    assert rows[0] == ["key", "type", "value"]
    assert ["learning\\_rate", "number", "0\\.001"] in rows
    assert ["layers", "array · 3 items", "\\[64,32,10\\]"] in rows
    assert ["flag", "boolean", "true"] in rows
    assert all(len(row) == 3 for row in rows)
    assert_no_raw_markup(result["markdown"])


def test_json_array_of_records_is_a_table(tmp_path: Path) -> None:
    path = tmp_path / "records.json"
    frame(25).to_json(path, orient="records")
    result = preview(path)
    assert result["kind"] == "json" and result["length"] == 25
    assert "array · 25 items of object" in result["summary"]
    rows = table_rows(result["markdown"])
    assert rows[0] == ["epoch", "loss", "label"] and len(rows) == 11
    assert "15 more items" in result["markdown"]
    assert_no_raw_markup(result["markdown"])


def test_json_scalar_and_mixed_array(tmp_path: Path) -> None:
    scalar = tmp_path / "n.json"
    scalar.write_text('"just a string"')
    # a lone string is plain text to the sniffer; that is honest too
    assert preview(scalar)["kind"] == "text"
    mixed = tmp_path / "m.json"
    mixed.write_text(json.dumps([1, "two", [3], {"four": 4}]))
    result = preview(mixed)
    assert result["kind"] == "json" and result["length"] == 4
    assert "array · 4 items" in result["summary"]


def test_truncated_json_shows_structure_found_so_far(tmp_path: Path) -> None:
    path = tmp_path / "big.json"
    value = {f"key{i}": list(range(50)) for i in range(8000)}
    path.write_text(json.dumps(value))
    assert path.stat().st_size > 1 << 20
    result = preview(path, max_bytes=256 * 1024)
    assert result["kind"] == "json" and result["truncated"] is True
    assert result["bytesRead"] <= 256 * 1024
    assert result["valid"] is None and result["membersFound"] > 100
    assert "truncated" in result["summary"] and "so far" in result["summary"]
    assert result["keys"][:3] == ["key0", "key1", "key2"]
    assert "array · 50 items" in result["markdown"]


def test_json_cut_in_the_file_itself_is_invalid(tmp_path: Path) -> None:
    path = tmp_path / "cut.json"
    path.write_text(json.dumps({"a": 1, "b": [1, 2, 3], "c": "x" * 100})[:40])
    result = preview(path)
    assert result["kind"] == "json" and result["valid"] is False
    assert "invalid" in result["summary"] and "2 top-level keys" in result["summary"]
    assert "Invalid JSON" in result["markdown"]


def test_invalid_json(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{"a": 1, "b": 2,, "c": <script>}\n')
    result = preview(path)
    assert result["kind"] == "json" and result["valid"] is False
    assert "line 1, column 17" in result["error"]
    assert result["keys"] == ["a", "b"]
    before_the_code_block = result["markdown"].split("```")[0]
    assert "Invalid JSON" in before_the_code_block
    assert_no_raw_markup(before_the_code_block)


def test_not_json_at_all_stays_text(tmp_path: Path) -> None:
    for content in ("{not json\n", "[INFO] started\n[INFO] done\n"):
        path = tmp_path / "x.json"
        path.write_text(content)
        assert preview(path)["kind"] == "text", content


# ---------------------------------------------------------------- JSON Lines


def test_json_lines_flat_records(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    frame(40).to_json(path, orient="records", lines=True)
    result = preview(path)
    assert result["kind"] == "jsonl" and result["recordCount"] == 40
    assert result["keys"] == ["epoch", "loss", "label"]
    rows = table_rows(result["markdown"])
    assert rows[0] == ["epoch", "loss", "label"] and len(rows) == 11
    assert all(len(row) == 3 for row in rows)
    assert_no_raw_markup(result["markdown"])


def test_json_lines_nested_records_are_listed(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    lines = [json.dumps({"event": {"type": "x", "n": i}, "tags": [i, "<b>"]}) for i in range(5)]
    path.write_text("\n".join(lines) + "\n")
    result = preview(path)
    assert result["kind"] == "jsonl" and result["recordCount"] == 5
    assert "\\<b\\>" in result["markdown"] and "<b>" not in result["markdown"]


def test_big_json_lines_estimate(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    frame(200_000).to_json(path, orient="records", lines=True)
    result = preview(path)
    assert result["kind"] == "jsonl" and result["truncated"] is True
    assert result["recordCount"] is None and result["recordsAtLeast"] > 100
    assert abs(result["recordEstimate"] - 200_000) < 40_000


# ---------------------------------------------------------------- Parquet


def test_parquet_schema_rows_and_metadata(tmp_path: Path) -> None:
    path = tmp_path / "table.bin"
    df = frame(100)
    df["when"] = pd.date_range("2026-01-01", periods=100, freq="h")
    df.to_parquet(path, compression="snappy", row_group_size=30)
    result = preview(path)
    assert result["kind"] == "parquet" and result["safety"]["verdict"] == "safe"
    assert (result["rowCount"], result["rowGroups"], result["columnCount"]) == (100, 4, 4)
    assert result["compression"] == ["SNAPPY"]
    assert [c["name"] for c in result["columns"]] == ["epoch", "loss", "label", "when"]
    assert result["columns"][0]["type"] == "int64"
    assert "100 rows · 4 columns · 4 row groups" in result["summary"]
    markdown = result["markdown"]
    rows = table_rows(markdown)
    assert ["epoch", "loss", "label", "when"] in rows
    assert ["0", "1\\.0", escape(HOSTILE[0], 40), "2026\\-01\\-01 00\\:00\\:00"] in rows
    assert "pandas" in result["metadataKeys"]
    assert "written by pandas" in markdown
    assert result["truncated"] is False
    assert_no_raw_markup(markdown)


def test_parquet_many_columns_and_hostile_names(tmp_path: Path) -> None:
    path = tmp_path / "wide.parquet"
    data = {f"c{i}": np.arange(20) * i for i in range(60)}
    data["a|b <script>"] = np.arange(20)
    pd.DataFrame(data).to_parquet(path, compression="zstd")
    result = preview(path)
    assert result["columnCount"] == 61 and result["compression"] == ["ZSTD"]
    header = next(row for row in table_rows(result["markdown"]) if row[0] == "c0")
    assert len(header) == 12  # the first-rows table is capped
    assert "49 more columns not shown" in result["markdown"]
    assert "21 more columns" in result["markdown"]  # the schema lists 40
    assert len(result["markdown"]) <= MAX_MARKDOWN_CHARS


def test_parquet_custom_metadata_is_escaped(tmp_path: Path) -> None:
    path = tmp_path / "meta.parquet"
    table = pa.table({"x": [1, 2, 3]})
    table = table.replace_schema_metadata({"note": "[click](javascript:x) <img>" + "z" * 500})
    pq.write_table(table, path)
    result = preview(path)
    assert "note" in result["metadataKeys"]
    assert "\\[click\\]" in result["markdown"] and "<img>" not in result["markdown"]


def test_big_parquet_reads_footer_and_little_else(tmp_path: Path) -> None:
    path = tmp_path / "big.parquet"
    rows = 2_500_000
    rng = np.random.default_rng(0)
    pd.DataFrame(
        {
            "a": rng.random(rows),
            "b": rng.random(rows),
            "c": rng.integers(0, 1 << 40, rows),
            "d": rng.random(rows),
            "s": rng.choice(["x", "y", "z"], rows),
        }
    ).to_parquet(path, compression="snappy", row_group_size=500_000)
    size = path.stat().st_size
    assert size > 80_000_000
    reader = CountingReader(path)
    result = preview_file(file_uri(path), "big.parquet", reader, Budget())
    assert (result["rowCount"], result["rowGroups"]) == (rows, 5)
    assert result["bytesRead"] <= 1 << 20
    assert "Schema only" in result["markdown"]  # row group 0 needs more than the budget
    assert result["truncated"] is True
    # with a bigger budget the first rows come from the first pages, not the whole group
    reader = CountingReader(path)
    result = preview_file(file_uri(path), "big.parquet", reader, Budget(max_bytes=16 << 20))
    assert result["bytesRead"] < 8 << 20
    assert len(table_rows(result["markdown"].split("**Schema**")[0])) > 10


def test_truncated_parquet_is_a_clear_error(tmp_path: Path) -> None:
    whole = tmp_path / "whole.parquet"
    frame(50).to_parquet(whole)
    for cut in (whole.read_bytes()[:200], b"PAR1" + b"\x00" * 100, b"PAR1"):
        path = tmp_path / "cut.parquet"
        path.write_bytes(cut)
        with pytest.raises(CorruptArtifact, match="truncated or corrupt"):
            preview(path)


def test_empty_parquet(tmp_path: Path) -> None:
    path = tmp_path / "empty.parquet"
    pd.DataFrame({"a": pd.Series([], dtype="int64")}).to_parquet(path)
    result = preview(path)
    assert result["rowCount"] == 0 and result["columnCount"] == 1


def test_dense_markup_never_overflows_the_hover(tmp_path: Path) -> None:
    """Cells made of markdown specials double in size when escaped: tables lose rows rather
    than the hover being cut mid-table."""
    nasty = "|<>[]()*_`#" * 10
    df = pd.DataFrame({f"{nasty}{i}": [nasty] * 20 for i in range(15)})
    paths = {
        "csv": tmp_path / "n.csv",
        "json": tmp_path / "n.json",
        "jsonl": tmp_path / "n.jsonl",
        "parquet": tmp_path / "n.parquet",
    }
    df.to_csv(paths["csv"], index=False)
    df.to_json(paths["json"], orient="records")
    df.to_json(paths["jsonl"], orient="records", lines=True)
    df.to_parquet(paths["parquet"])
    for kind, path in paths.items():
        result = preview(path)
        assert result["kind"] == kind
        assert len(result["markdown"]) <= MAX_MARKDOWN_CHARS, kind
        assert result["truncated"] is False, kind
        tables = [table_rows(block) for block in result["markdown"].split("\n\n")]
        tables = [rows for rows in tables if rows]
        assert tables, kind
        for rows in tables:
            assert all(len(row) == len(rows[0]) for row in rows), kind
