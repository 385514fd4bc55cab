"""Sparse reading (pickle_vm.read_pickles_from: windows fetched on demand, big arguments jumped
over) and the fast paths of the stack machine (runs of numbers and strings decoded at once),
checked against the objects that were pickled - never by loading anything."""

from __future__ import annotations

import math
import pickle
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyserver import service
from pyserver.backends import Catalog
from pyserver.previews import pickle_vm
from pyserver.previews.budget import Budget
from pyserver.previews.pickle_model import Call
from pyserver.previews.pickle_vm import (
    PickleError,
    Skipped,
    Truncated,
    Unpickled,
    read_pickle,
    read_pickles,
    read_pickles_from,
)
from pyserver.previews.pickled import describe, pickle_file_section
from pyserver.uris import file_uri

SETTINGS = settings(
    max_examples=300,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


class Recorder:
    """A fetch callback over bytes that records every read (and may stop after `limit`)."""

    def __init__(self, data: bytes, limit: int | None = None) -> None:
        self.data = data
        self.limit = limit
        self.reads: list[tuple[int, int]] = []

    @property
    def fetched(self) -> int:
        return sum(length for _, length in self.reads)

    def __call__(self, offset: int, length: int) -> bytes:
        if self.limit is not None:
            length = max(0, min(length, self.limit - self.fetched))
        chunk = self.data[offset : offset + length]
        self.reads.append((offset, len(chunk)))
        return chunk


def same(rebuilt: Any, original: Any) -> bool:
    """Exact structural equality: types too (1 is not True), bytes may come back as a view."""
    if isinstance(original, bytes) and isinstance(rebuilt, memoryview):
        return rebuilt.tobytes() == original
    if type(rebuilt) is not type(original):
        return False
    if isinstance(original, float):
        return rebuilt == original and math.copysign(1, rebuilt) == math.copysign(1, original)
    if isinstance(original, (list, tuple)):
        return len(rebuilt) == len(original) and all(
            same(a, b) for a, b in zip(rebuilt, original, strict=True)
        )
    if isinstance(original, dict):
        return list(rebuilt) == list(original) and all(
            same(rebuilt[key], value) for key, value in original.items()
        )
    return bool(rebuilt == original)


# -- differential: the rebuilt value is the object that was pickled ----------------------------

_floats = st.floats(allow_nan=False)
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(-300, 70_000),  # BININT1 / BININT2 / BININT
    _floats,
    st.text(),
    st.text(st.characters(max_codepoint=127), max_size=20),  # ASCII: the string runs
    st.text(st.characters(categories=["Cs"]), max_size=3),  # lone surrogates
)
_keys = st.one_of(st.text(max_size=8), st.integers(), st.booleans(), st.none(), _floats)


def _containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.lists(children, max_size=40),
        st.tuples(children),
        st.tuples(children, children, children),
        st.lists(children, max_size=6).map(tuple),
        st.dictionaries(_keys, children, max_size=12),
    )


_plain = st.recursive(_scalars, _containers, max_leaves=200)
# Homogeneous runs, the shapes the fast paths are for (and their edges).
_runs = st.one_of(
    st.lists(st.integers(0, 255), min_size=1, max_size=3000),
    st.lists(st.integers(0, 65535), min_size=1, max_size=3000),
    st.lists(st.integers(-(2**31), 2**31 - 1), min_size=1, max_size=3000),
    st.lists(_floats, min_size=1, max_size=3000),
    st.lists(st.text(st.characters(max_codepoint=127), max_size=300), min_size=1, max_size=3000),
    st.lists(st.sampled_from(["a", "é", "", "x" * 255, "y" * 256]), max_size=300),
)


@SETTINGS
@given(st.one_of(_plain, _runs), st.integers(0, 5))
def test_plain_data_is_rebuilt_exactly(value: Any, protocol: int) -> None:
    data = pickle.dumps(value, protocol=protocol)
    one = read_pickle(data)
    assert one.complete and one.end == len(data) and not one.calls
    assert same(one.value, value), (protocol, value)


@SETTINGS
@given(
    st.recursive(
        st.one_of(_scalars, st.binary(max_size=40)),
        lambda c: st.one_of(
            _containers(c),
            st.frozensets(st.one_of(st.integers(), st.text(max_size=5)), max_size=8),
            st.sets(st.one_of(st.integers(), st.binary(max_size=5)), max_size=8),
        ),
        max_leaves=100,
    ),
    st.integers(4, 5),
)
def test_bytes_and_sets_are_rebuilt_exactly(value: Any, protocol: int) -> None:
    one = read_pickle(pickle.dumps(value, protocol=protocol))
    assert one.complete and same(one.value, value)


def test_runs_are_cut_by_the_op_limit_exactly() -> None:
    for value in (list(range(5000)), [0.5] * 5000, [f"w{i}" for i in range(5000)]):
        data = pickle.dumps(value, protocol=4)
        ops = read_pickle(data).ops
        assert read_pickle(data, max_ops=ops).value == value
        with pytest.raises(PickleError, match=f"more than {ops - 1} opcodes"):
            read_pickle(data, max_ops=ops - 1)


def test_string_runs_keep_the_memo_right() -> None:
    words = [f"token-{i}" for i in range(2000)]
    value = {"words": words, "again": words[::-1], "first": words[0]}
    data = pickle.dumps(value, protocol=4)
    assert same(read_pickle(data).value, value)
    # A BINPUT into a slot MEMOIZE uses next: each MEMOIZE of the run then overwrites that
    # same slot (the memo does not grow), as CPython's unpickler does.
    hostile = b"\x80\x04]\x94(Nq\x020" + b"".join(b"\x8c\x01%c\x94" % c for c in b"abcd")
    one = read_pickle(hostile + b"h\x02e.")
    assert one.complete and one.value == ["a", "b", "c", "d", "d"]


# -- sparse reading ---------------------------------------------------------------------------


def numpy_pickle(rows: int = 20_000) -> tuple[bytes, dict[str, Any]]:
    rng = np.random.default_rng(0)
    value = {
        "embeddings": rng.standard_normal((rows, 16), dtype=np.float32),
        "ids": np.arange(rows, dtype=np.int64),
        "labels": (np.arange(rows) % 10).astype(np.int32),
        "classes": [f"class-{i}" for i in range(10)],
        "meta": {"created": "2024-01-01", "dim": 16},
    }
    return pickle.dumps(value, protocol=5), value


def test_big_arguments_are_skipped_not_fetched() -> None:
    data, value = numpy_pickle()
    fetch = Recorder(data)
    (one,) = read_pickles_from(fetch, len(data))
    assert one.complete and one.end == len(data)
    assert list(one.value) == list(value)
    assert one.value["classes"] == value["classes"] and one.value["meta"] == value["meta"]
    raw = one.value["embeddings"].args[0]
    assert isinstance(raw, Skipped) and raw.kind == "bytearray"
    assert raw.length == value["embeddings"].nbytes
    assert data[raw.offset : raw.offset + len(raw.head)] == raw.head
    assert one.skipped == sum(value[k].nbytes for k in ("embeddings", "ids", "labels"))
    assert fetch.fetched < 50_000 < len(data) // 10
    for offset, length in fetch.reads:  # nothing fetched is array data past the head
        for name in ("embeddings", "ids", "labels"):
            skipped = one.value[name].args[0]
            assert (
                offset + length <= skipped.offset + pickle_vm.FIRST_WINDOW
                or offset >= skipped.offset + skipped.length
            )


def test_the_preview_of_a_big_numpy_pickle_reads_little(tmp_path: Path) -> None:
    data, _ = numpy_pickle(rows=200_000)  # 16 MB
    path = tmp_path / "arrays.pkl"
    path.write_bytes(data)
    result = service.preview(Catalog(), file_uri(path), Budget())
    assert result["summary"].startswith("Pickle · dict · 5 keys")
    assert result["safety"]["verdict"] == "safe" and result["truncated"] is False
    assert result["bytesRead"] < 64 * 1024
    markdown = result["markdown"]
    assert "float32 \\(200000, 16\\) · values not read" in markdown
    assert "int64 \\(200000,\\) · values not read" in markdown
    assert "not read" in markdown and "'class-0'" in markdown


def test_big_bytes_in_hand_stay_views_and_skipped_ones_are_described() -> None:
    data = pickle.dumps({"blob": b"z" * 200_000, "after": 1}, protocol=4)
    whole = read_pickle(data).value["blob"]
    assert isinstance(whole, memoryview) and whole.obj is data
    (one,) = read_pickles_from(Recorder(data), len(data))
    blob = one.value["blob"]
    assert isinstance(blob, Skipped) and blob.length == 200_000 and one.value["after"] == 1
    assert blob.head == b"z" * len(blob.head) and 0 < len(blob.head) <= 256
    tree = "\n".join(describe(one.value))
    assert "200000 bytes · not read" in tree


def test_a_budget_that_stops_fetching_gives_an_incomplete_pickle() -> None:
    value = {f"k{i}": list(range(20)) for i in range(5000)}
    data = pickle.dumps(value, protocol=4)
    fetch = Recorder(data, limit=40_000)
    (one,) = read_pickles_from(fetch, len(data))
    assert not one.complete and fetch.fetched == 40_000 and one.end == 40_000
    assert 100 < len(one.value) < len(value)
    # A cut string argument becomes Truncated, as with in-memory data.
    data = pickle.dumps(["x" * 50_000, 1], protocol=4)
    (cut,) = read_pickles_from(Recorder(data, limit=30_000), len(data))
    assert not cut.complete and isinstance(cut.value[0], Truncated)
    assert cut.value[0].available == 30_000 - data.index(b"xxxx")
    assert cut.value[0] == read_pickle(data[:30_000]).value[0]


def test_an_argument_past_the_end_of_the_file_is_cut_not_skipped() -> None:
    data = pickle.dumps([b"q" * 300_000, 5], protocol=4)[:100_000]
    (one,) = read_pickles_from(Recorder(data), len(data))
    assert not one.complete and isinstance(one.value[0], Truncated)


def test_pickles_in_a_row_and_errors_with_sparse_reading() -> None:
    data = pickle.dumps(1) + pickle.dumps([b"y" * 100_000, "tail"], protocol=4) + pickle.dumps(3)
    found = read_pickles_from(Recorder(data), len(data))
    assert [p.complete for p in found] == [True, True, True] and found[-1].end == len(data)
    assert found[1].value[1] == "tail" and found[2].value == 3
    assert found[1].start == found[0].end and found[2].start == found[1].end
    broken = pickle.dumps(1) + b"\x80\x04\x8c\x02os\x8c\x06system\x93\xff."
    with pytest.raises(PickleError, match="unknown opcode 0xff") as caught:
        read_pickles_from(Recorder(broken), len(broken))
    assert caught.value.offset == len(broken) - 2
    assert [p.value for p in caught.value.pickles] == [1]


def _outcome(read: Any) -> Any:
    try:
        found: list[Unpickled] = read()
    except PickleError as error:
        found = [*error.pickles, *([error.partial] if error.partial else [])]
        outcome: Any = ("error", str(error))
    else:
        outcome = ("ok",)
    return outcome, [
        (p.start, p.end, p.complete, p.ops, p.protocol, describe(p.value, depth=8, items=50))
        for p in found
    ]


def _tiny_windows(monkeypatch: pytest.MonkeyPatch, size: int) -> None:
    monkeypatch.setattr(pickle_vm, "FIRST_WINDOW", size)
    monkeypatch.setattr(pickle_vm, "WINDOW_AFTER_SKIP", size)
    monkeypatch.setattr(pickle_vm, "MAX_WINDOW", size)
    monkeypatch.setattr(pickle_vm, "_WINDOW_GROWTH", 1)


@pytest.mark.parametrize("window", [1, 2, 7, 64, 4096])
def test_windows_of_any_size_give_what_the_whole_data_gives(
    window: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    _tiny_windows(monkeypatch, window)
    values = [
        {"a": [1, 2.5, "x" * 300, b"\x00" * 70], "b": (None, True), "c": {1, 2}},
        list(range(3000)),
        [0.25] * 2000 + [f"s{i}" for i in range(600)],
        {"nested": [[[["deep"]]]], "big": 2**80, "neg": -7, "w": np.arange(5)},
    ]
    for protocol in range(6):
        for value in values:
            data = pickle.dumps(value, protocol=protocol)
            whole = _outcome(lambda data=data: read_pickles(data))
            sparse = _outcome(lambda data=data: read_pickles_from(Recorder(data), len(data)))
            assert sparse == whole, (protocol, value)
            assert whole[0] == ("ok",)


@SETTINGS
@given(st.binary(max_size=2000), st.sampled_from([b"", b"\x80\x04", b"\x80\x02(", b"}("]))
def test_sparse_reading_of_random_bytes_matches_whole_data(body: bytes, start: bytes) -> None:
    data = start + body
    with pytest.MonkeyPatch.context() as patch:
        _tiny_windows(patch, 5)
        sparse = _outcome(lambda: read_pickles_from(Recorder(data), len(data), max_ops=20_000))
    whole = _outcome(lambda: read_pickles(data, max_ops=20_000))
    assert sparse == whole


@SETTINGS
@given(st.one_of(_plain, _runs), st.integers(2, 5), st.integers(1, 300))
def test_sparse_reading_rebuilds_plain_data_exactly(value: Any, protocol: int, window: int) -> None:
    data = pickle.dumps(value, protocol=protocol)
    with pytest.MonkeyPatch.context() as patch:
        _tiny_windows(patch, window)
        (one,) = read_pickles_from(Recorder(data), len(data))
    assert one.complete and one.end == len(data) and same(one.value, value)


def test_compressed_pickles_are_read_in_memory() -> None:
    section = pickle_file_section(pickle.dumps({"blob": b"a" * 100_000}, protocol=4))
    assert "100000 bytes" in "\n".join(section.lines) and "not read" not in section.lines[0]


def test_sparse_reading_is_bounded_in_time() -> None:
    data = pickle.dumps(list(range(50_000)), protocol=2)
    with pytest.raises(PickleError, match="time limit"):
        read_pickles_from(Recorder(data), len(data), deadline=time.monotonic() - 1)


def test_calls_around_skipped_arguments_are_kept() -> None:
    data = pickle.dumps([np.zeros(50_000), np.ones(3)], protocol=4)
    (one,) = read_pickles_from(Recorder(data), len(data))
    big, small = one.value
    assert isinstance(big, Call) and isinstance(big.state[4], Skipped)
    assert isinstance(small.state[4], bytes) and len(small.state[4]) == 24


def test_a_call_on_a_skipped_argument_is_still_unsafe_and_says_what_was_not_read(
    tmp_path: Path,
) -> None:
    """The payload's argument is jumped over, not read; the call itself decides the verdict."""
    import struct

    canary = tmp_path / "ran"
    command = f"touch {canary} #".encode() + b"a" * 200_000
    payload = (
        b"\x80\x04\x8c\x02os\x94\x8c\x06system\x94\x93\x94"
        + b"X"
        + struct.pack("<I", len(command))
        + command
        + b"\x85R."
    )
    path = tmp_path / "model.pkl"
    path.write_bytes(payload)
    result = service.preview(Catalog(), file_uri(path), Budget())
    assert result["safety"]["verdict"] == "unsafe"
    (finding,) = [f for f in result["safety"]["findings"] if f["severity"] == "danger"]
    assert finding["global"] == "os.system"
    assert "not read" in finding["call"]
    assert result["bytesRead"] < 64 * 1024
    assert not canary.exists()
