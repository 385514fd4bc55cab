"""The pickle reader (pickle_vm) and the pickle preview (pickled), on files written by the real
libraries: every protocol, memo and recursion, numpy, pandas, compressed and truncated files,
hostile strings. Nothing is ever loaded."""

from __future__ import annotations

import bz2
import collections
import datetime
import gzip
import json
import lzma
import pickle
import re
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pyserver import service
from pyserver.backends import Catalog
from pyserver.previews.budget import Budget
from pyserver.previews.detect import detect_kind
from pyserver.previews.pickle_model import Call, Global
from pyserver.previews.pickle_vm import (
    PickleError,
    Truncated,
    looks_like_pickle,
    read_pickle,
    read_pickles,
)
from pyserver.previews.pickled import describe, pickle_file_section, structure, summarize
from pyserver.uris import file_uri

PROTOCOLS = range(pickle.HIGHEST_PROTOCOL + 1)


def preview(path: Path, **budget: int) -> dict[str, Any]:
    return service.preview(Catalog(), file_uri(path), Budget(**budget))


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


# -- the stack machine --------------------------------------------------------------------------

PLAIN = [
    None,
    True,
    False,
    0,
    1,
    -1,
    255,
    256,
    65535,
    65536,
    -(2**31),
    2**31,
    2**64,
    -(2**100),
    1.5,
    float("inf"),
    "",
    "héllo ✓",
    "x" * 300,
    [],
    [1, [2, [3]]],
    (),
    (1,),
    (1, 2),
    (1, 2, 3),
    (1, 2, 3, 4),
    {},
    {"a": 1, 2: "b", (1, 2): [3]},
    list(range(3000)),
    {i: str(i) for i in range(2500)},
]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_plain_values_are_rebuilt_exactly(protocol: int) -> None:
    for value in PLAIN:
        data = pickle.dumps(value, protocol=protocol)
        one = read_pickle(data)
        assert (
            one.complete
            and one.end == len(data)
            and one.protocol == (protocol if protocol >= 2 else 0)
        )
        assert one.value == value and type(one.value) is type(value), (protocol, value)
        assert one.globals == [] and one.calls == []


@pytest.mark.parametrize("protocol", [3, 4, 5])
def test_bytes_and_sets_are_plain_from_protocols_that_have_opcodes_for_them(
    protocol: int,
) -> None:
    assert read_pickle(pickle.dumps(b"\x00ab", protocol=protocol)).value == b"\x00ab"
    if protocol >= 4:
        assert read_pickle(pickle.dumps({1, 2}, protocol=protocol)).value == {1, 2}
        assert read_pickle(pickle.dumps(frozenset({3}), protocol=protocol)).value == {3}
    if protocol == 5:
        assert read_pickle(pickle.dumps(bytearray(b"xy"), protocol=5)).value == bytearray(b"xy")


@pytest.mark.parametrize("protocol", [0, 1, 2])
def test_old_protocols_rebuild_bytes_and_sets_with_calls(protocol: int) -> None:
    one = read_pickle(pickle.dumps({"b": b"\xffa", "s": {1}}, protocol=protocol))
    assert [g.qualname for g in one.globals] == ["_codecs.encode", "builtins.set"]
    assert isinstance(one.value["b"], Call) and one.value["b"].args == ("ÿa", "latin1")
    assert summarize(one.value["s"]) == "set · 1 items"


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_memo_keeps_shared_and_recursive_references(protocol: int) -> None:
    shared = [1, 2]
    loop: list[Any] = ["me"]
    loop.append(loop)
    one = read_pickle(pickle.dumps({"a": shared, "b": shared, "loop": loop}, protocol=protocol))
    assert one.value["a"] is one.value["b"]
    assert one.value["loop"][1] is one.value["loop"]
    lines = describe(one.value)
    assert any("recursive reference" in line for line in lines)
    json.dumps(structure(one.value))  # bounded and JSON-able despite the cycle


def test_objects_become_symbols_with_their_state() -> None:
    value = collections.OrderedDict(a=1)
    one = read_pickle(pickle.dumps(value, protocol=2))
    call = one.value
    assert isinstance(call, Call) and call.func == Global("collections", "OrderedDict")
    assert call.entries == [("a", 1)] and one.calls == [call]
    when = read_pickle(pickle.dumps(datetime.datetime(2024, 5, 6, 7, 8, 9), protocol=4)).value
    assert summarize(when) == "datetime · 2024-05-06T07:08:09"


def test_several_pickles_in_a_row() -> None:
    data = pickle.dumps({"a": 1}, protocol=2) + pickle.dumps([2], protocol=4) + pickle.dumps(3)
    found = read_pickles(data)
    assert [p.value for p in found] == [{"a": 1}, [2], 3]
    assert [p.start for p in found] == [0, found[0].end, found[1].end]
    assert found[-1].end == len(data)
    assert len(read_pickles(data, max_pickles=2)) == 2


def test_truncated_input_is_incomplete_not_an_error() -> None:
    data = pickle.dumps({"weights": list(range(5000)), "name": "x"}, protocol=4)
    cut = read_pickle(data[: len(data) // 2])
    assert not cut.complete and cut.end == len(data) // 2
    assert isinstance(cut.value, dict) and len(cut.value["weights"]) > 1000  # best effort
    last = read_pickles(pickle.dumps(1) + data[:100])
    assert [p.complete for p in last] == [True, False]


def test_big_bytes_are_views_of_the_input_not_copies() -> None:
    data = pickle.dumps(b"z" * 200_000, protocol=4)
    value = read_pickle(data).value
    assert isinstance(value, memoryview) and value.obj is data and len(value) == 200_000
    cut = read_pickle(data[:1000]).value
    assert isinstance(cut, Truncated) and (cut.declared, cut.available) == (200_000, 1000 - 7)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x80\x04R.", "stack underflow"),
        (b"\x80\x04h\x07.", "memo key 7 not found"),
        (b"\x80\x04}]K\x01s.", "unhashable dict key or set member: list"),
        (b"\x80\x04\xff.", "unknown opcode 0xff"),
        (b"\x80\x09N.", "unsupported pickle protocol 9"),
        (b"\x80\x04e.", "no MARK"),
        (b"\x80\x04}(K\x01u.", "odd number of items"),
        (b"\x80\x04K\x01K\x02a.", "APPEND on a int"),
        (b"I12x\n.", "malformed argument"),
    ],
)
def test_malformed_pickles_raise_pickle_error_only(data: bytes, message: str) -> None:
    with pytest.raises(PickleError, match=message) as caught:
        read_pickle(data)
    assert caught.value.partial is not None and not caught.value.partial.complete


def test_errors_keep_what_came_before_them() -> None:
    body = b"\x80\x04\x8c\x02os\x8c\x06system\x93(\x8c\x01xtR" + b"\xff"
    with pytest.raises(PickleError) as caught:
        read_pickles(pickle.dumps(1) + body + b".")
    assert [p.value for p in caught.value.pickles] == [1]
    assert caught.value.partial is not None
    assert [g.qualname for g in caught.value.partial.globals] == ["os.system"]


def test_a_deep_tuple_used_as_a_key_is_refused_not_hashed() -> None:
    # hash() of a 200 000-deep tuple crashes CPython (no recursion guard in tuplehash).
    depth = 200_000
    data = b"\x80\x04}" + b")" + b"\x85" * depth + b"N" + b"s."
    with pytest.raises(PickleError, match="too large to hash"):
        read_pickle(data)


def test_exponential_key_sharing_is_refused() -> None:
    # t = (t, t) forty times via the memo: hashing it would take 2**40 steps.
    body = b")\x940" + b"".join(b"h%c2\x86\x940" % i for i in range(40)) + b"h\x28"
    with pytest.raises(PickleError, match="too large to hash"):
        read_pickle(b"\x80\x04}" + body + b"Ns.")


def test_deeply_nested_lists_are_described_without_recursing() -> None:
    depth = 100_000
    data = b"\x80\x04" + b"]" * depth + b"a" * (depth - 1) + b"."
    value = read_pickle(data).value
    lines = describe(value, depth=5)
    assert len(lines) <= 10
    assert json.dumps(structure(value))


def test_ops_and_time_are_bounded() -> None:
    data = pickle.dumps(list(range(50_000)), protocol=2)
    with pytest.raises(PickleError, match="more than 1000 opcodes"):
        read_pickle(data, max_ops=1000)
    with pytest.raises(PickleError, match="time limit"):
        read_pickle(data, deadline=time.monotonic() - 1)


def test_stack_global_takes_its_names_from_the_stack_even_via_the_memo() -> None:
    data = b"\x80\x04\x8c\x05posixq\x000\x8c\x06systemq\x010h\x00h\x01\x93."
    assert read_pickle(data).globals == [Global("posix", "system")]
    assert read_pickle(b"\x80\x04K\x01K\x02\x93.").globals == [Global("?", "?")]


def test_out_of_band_buffers_and_extension_codes_become_symbols() -> None:
    buffers: list[pickle.PickleBuffer] = []
    data = pickle.dumps(pickle.PickleBuffer(b"abc"), protocol=5, buffer_callback=buffers.append)
    assert type(read_pickle(data).value).__name__ == "OutOfBandBuffer"
    one = read_pickle(b"\x80\x02\x82\x42.")
    assert one.extensions and one.value.code == 0x42


# -- numpy, pandas, describe --------------------------------------------------------------------


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_small_numpy_arrays_show_dtype_shape_and_values(protocol: int) -> None:
    value = {"w": np.arange(6, dtype=np.float32).reshape(2, 3), "i": np.array([7, 8], ">i4")}
    section = pickle_file_section(pickle.dumps(value, protocol=protocol))
    tree = "\n".join(section.lines)
    assert "float32 \\(2, 3\\)" in tree and "[[0., 1., 2.],  [3., 4., 5.]]" in tree
    assert ">i4 \\(2,\\)" in tree and "[7, 8]" in tree
    assert section.verdict == "safe"
    assert section.fields["structure"]["children"][0]["type"] == "numpy.ndarray"


def test_numpy_scalars_and_big_arrays() -> None:
    value = {"step": np.int64(7), "big": np.zeros((300, 200))}
    section = pickle_file_section(pickle.dumps(value, protocol=4))
    tree = "\n".join(section.lines)
    assert "numpy\\.int64** · 7" in tree
    assert "float64 \\(300, 200\\)" in tree and "0., 0." not in tree


def test_a_big_numpy_array_is_described_without_reading_its_data(tmp_path: Path) -> None:
    data = pickle.dumps(np.zeros(1 << 20), protocol=4)  # 8 MiB
    result = preview(write(tmp_path / "a.pkl", data), max_bytes=256 * 1024)
    assert result["truncated"] is False and result["safety"]["verdict"] == "safe"
    assert "float64 \\(1048576,\\) · values not read" in result["markdown"]
    assert result["bytesRead"] < 64 * 1024 and result["skippedBytes"] == 8 << 20


def test_a_cut_numpy_array_says_how_much_was_read(tmp_path: Path) -> None:
    data = pickle.dumps(np.zeros(1 << 20), protocol=4)  # 8 MiB, the file ends inside it
    result = preview(write(tmp_path / "a.pkl", data[: 1 << 20]), max_bytes=256 * 1024)
    assert result["truncated"] is True and result["safety"]["verdict"] == "unknown"
    assert "float64 \\(1048576,\\) · data cut off" in result["markdown"]
    assert result["bytesRead"] <= 256 * 1024


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_pandas_frame_shows_shape_and_columns(protocol: int) -> None:
    pandas = pytest.importorskip("pandas")
    frame = pandas.DataFrame({"alpha": [1, 2, 3], "beta": ["x", "y", "z"], "gamma": [0.5] * 3})
    section = pickle_file_section(pickle.dumps(frame, protocol=protocol))
    assert section.summary.startswith("Pickle · pandas.DataFrame · 3 rows × 3 columns")
    tree = "\n".join(section.lines)
    assert "'alpha'" in tree and "'beta'" in tree and "'gamma'" in tree
    series = pickle_file_section(pickle.dumps(frame["alpha"], protocol=protocol))
    assert "pandas.Series · 3 rows · name 'alpha'" in series.summary


def test_describe_and_summarize_api() -> None:
    value = read_pickle(pickle.dumps({"a": [1, 2], "b": {"c": "d"}, "e": 1.5})).value
    assert summarize(value) == "dict · 3 keys"
    lines = describe(value, depth=2, items=2)
    assert lines[0] == "- **dict** · 3 keys"
    assert lines[1] == "  - `a`: **list** · 2 items"
    assert lines[-1] == "  - … 1 more"
    assert structure(value, depth=2)["children"][0] == {
        "key": "a",
        "type": "list",
        "summary": "2 items",
    }


def test_hostile_strings_are_escaped(tmp_path: Path) -> None:
    hostile = {
        "<script>alert(1)</script>": "[click](http://evil)",
        "`` ```\n# heading": "<img src=x onerror=alert(1)>",
        "*bold* _it_": b"<b>",
    }
    result = preview(write(tmp_path / "h.pkl", pickle.dumps(hostile)))
    markdown = result["markdown"]
    outside_code = re.sub(r"(`+)(?:(?!\1).)*?\1", "", markdown)
    for raw in ("<script>", "<img", "](http", "*bold*", "\n# heading", "<b>"):
        assert raw not in outside_code, raw
    assert "\n# heading" not in markdown  # newlines inside strings are flattened
    assert json.dumps(result["structure"])


# -- files: detection, compression, budget ------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "compress"),
    [
        ("gzip", gzip.compress),
        ("bzip2", bz2.compress),
        ("xz", lzma.compress),
        ("zstd", lambda data: __import__("zstandard").ZstdCompressor().compress(data)),
    ],
)
def test_compressed_pickles_are_previewed_as_pickles(
    name: str, compress: Any, tmp_path: Path
) -> None:
    data = pickle.dumps(collections.OrderedDict(a=[1, 2], b="x"), protocol=4)
    result = preview(write(tmp_path / f"p.{name}", compress(data)))
    assert result["kind"] == "pickle" and result["compression"] == name
    assert result["summary"].startswith(f"Pickle ({name}) · OrderedDict · 2 keys")
    assert result["safety"]["verdict"] == "safe"


def test_compressed_non_pickle_is_plain_compressed_data(tmp_path: Path) -> None:
    result = preview(write(tmp_path / "notes.gz", gzip.compress(b"hello world\n" * 100)))
    assert result["kind"] == "gzip" and result["summary"].startswith("Gzip-compressed data")
    assert "not a pickle" in result["markdown"]


def test_decompression_is_capped(tmp_path: Path) -> None:
    bomb = gzip.compress(pickle.dumps(b"\x00" * (64 << 20), protocol=4), compresslevel=9)
    started = time.perf_counter()
    result = preview(write(tmp_path / "bomb.pkl.gz", bomb))
    assert time.perf_counter() - started < 5
    assert result["kind"] == "pickle" and result["truncated"] is True
    assert result["safety"]["verdict"] == "unknown"


def test_truncated_gzip_pickle_is_marked(tmp_path: Path) -> None:
    data = gzip.compress(pickle.dumps([str(i) * 10 for i in range(50_000)], protocol=4))
    result = preview(write(tmp_path / "cut.pkl.gz", data[: len(data) // 3]))
    assert result["kind"] == "pickle" and result["truncated"] is True


def test_budget_truncation_is_honest(tmp_path: Path) -> None:
    data = pickle.dumps({f"k{i}": list(range(20)) for i in range(20_000)}, protocol=4)
    result = preview(write(tmp_path / "big.pkl", data), max_bytes=64 * 1024)
    assert result["truncated"] is True and result["bytesRead"] <= 64 * 1024
    assert result["safety"]["verdict"] == "unknown"
    assert "the data ends before this pickle does" in result["markdown"]


def test_protocol_0_pickles_are_pickles_even_though_they_are_text() -> None:
    for value in ({"a": 1}, [1, "x"], datetime.date(2020, 1, 1), "text"):
        assert detect_kind(pickle.dumps(value, protocol=0)) == "pickle"
    payload = b"N0cos\nsystem\n(S'true'\ntR."
    assert detect_kind(payload) == "pickle"
    hidden = b"V" + b"y" * 5000 + b"\n0cos\nsystem\n(S'true'\ntR."
    assert detect_kind(hidden[:4096]) == "pickle"


@pytest.mark.parametrize(
    "text",
    [
        b"category,value\n1,2\n3,4\n",
        b"The quick brown fox jumps over the lazy dog.\n" * 100,
        b'{"a": 1}\n',
        b"cd repo\nmake\n",
        b"import os\nprint(1)\n",
        b"def f():\n    return 1\n",
        b"# Title\n\nSome text.\n",
    ],
)
def test_text_is_not_mistaken_for_a_pickle(text: bytes) -> None:
    assert detect_kind(text[:4096]) == "text"
    assert not looks_like_pickle(text[:4096], whole=len(text) < 4096)
