"""Property-based fuzzing of the pickle reader and everything downstream of it (verdict,
structure tree): on random bytes and on mutated real pickles, only PickleError escapes and
every example finishes well within a second. Derandomized, so CI runs are reproducible."""

from __future__ import annotations

import collections
import datetime
import json
import pickle
import time

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyserver.previews.pickle_vm import PickleError, read_pickles
from pyserver.previews.pickled import describe, pickle_file_section, structure
from pyserver.previews.safety import assess

CORPUS = [
    pickle.dumps(value, protocol=protocol)
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1)
    for value in (
        {"a": [1, 2.5, "x"], "b": (None, True), "c": {1, 2}},
        collections.OrderedDict(w=np.arange(4, dtype=np.float32)),
        [datetime.datetime(2024, 1, 2), b"\x00\xff", frozenset({"q"})],
        list(range(300)),
        {"nested": [[[["deep"]]]], "big": 2**80, "neg": -7},
    )
] + [
    b"\x80\x04\x8c\x02os\x8c\x06system\x93(\x8c\x04trueTR.",  # deliberately broken payload
    b"cos\nsystem\n(S'true'\ntR.",
]
SETTINGS = settings(
    max_examples=500,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def check(data: bytes) -> None:
    """The whole pipeline on `data`: only PickleError may escape, and quickly."""
    started = time.monotonic()
    try:
        pickles = read_pickles(data, deadline=started + 0.8)
    except PickleError as error:
        pickles = [*error.pickles, *([error.partial] if error.partial else [])]
    assess(pickles, truncated=True)
    for one in pickles:
        describe(one.value)
        json.dumps(structure(one.value))
    section = pickle_file_section(data, deadline=started + 0.8)
    assert section.verdict in ("safe", "unsafe", "unknown")
    assert time.monotonic() - started < 1.0


@SETTINGS
@given(st.binary(max_size=3000))
def test_random_bytes(data: bytes) -> None:
    check(data)


@SETTINGS
@given(
    st.binary(min_size=0, max_size=200),
    st.sampled_from([b"\x80\x02", b"\x80\x04", b"\x80\x05", b"(", b"}", b"]", b""]),
)
def test_random_opcodes_after_a_plausible_start(body: bytes, start: bytes) -> None:
    check(start + body)


@SETTINGS
@given(
    st.sampled_from(CORPUS),
    st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(0, 255)), max_size=6),
    st.integers(0, 1 << 16),
)
def test_mutated_pickles(source: bytes, flips: list[tuple[int, int]], cut: int) -> None:
    data = bytearray(source)
    for position, byte in flips:
        data[position % len(data)] = byte
    check(bytes(data[: max(1, cut % (len(data) + 1))]))


@SETTINGS
@given(st.sampled_from(CORPUS), st.sampled_from(CORPUS), st.integers(0, 4096), st.integers(0, 4096))
def test_spliced_pickles(first: bytes, second: bytes, left: int, right: int) -> None:
    check(first[: left % (len(first) + 1)] + second[right % (len(second) + 1) :])
