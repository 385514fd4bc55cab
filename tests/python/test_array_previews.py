"""NumPy .npy and safetensors previews: headers parsed, values read by range, never loaded."""

from __future__ import annotations

import struct
import time
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pytest
from helpers import preview
from safetensors.numpy import save_file

from pyserver.errors import CorruptArtifact
from pyserver.previews.arrays import parse_header
from pyserver.previews.detect import detect_kind


def save(path: Path, array: Any, **options: Any) -> Path:
    np.save(path, array, **options)
    return path


# --- .npy ---------------------------------------------------------------------------------


def test_1d_array_head_and_stats(tmp_path: Path) -> None:
    result = preview(save(tmp_path / "a.npy", np.arange(20.0)))
    assert result["kind"] == "numpy" and result["safety"]["verdict"] == "safe"
    assert result["summary"].startswith("NumPy array · <f8 · shape (20,)")
    assert result["stats"] == {
        "min": 0.0,
        "max": 19.0,
        "mean": 9.5,
        "std": pytest.approx(5.766, rel=1e-3),
        "nan": 0,
        "inf": 0,
    }
    assert "[0. 1. 2. 3. 4. 5. 6. 7. 8. 9.]" in result["markdown"]


def test_stats_count_nan_and_inf_and_keep_integers_exact(tmp_path: Path) -> None:
    floats = np.array([1.0, np.nan, -np.inf, 3.0, np.inf])
    result = preview(save(tmp_path / "f.npy", floats))
    assert result["stats"] == {"min": 1.0, "max": 3.0, "mean": 2.0, "std": 1.0, "nan": 1, "inf": 2}
    assert "min 1 · max 3 · mean 2 · std 1 · 1 NaN · 2 inf" in result["markdown"]
    big = 2**53 + 1  # not a float64
    ints = preview(save(tmp_path / "i.npy", np.array([big, -3], dtype="<i8")))
    assert ints["stats"]["max"] == big and ints["stats"]["min"] == -3
    assert f"max {big}" in ints["markdown"]
    empty = preview(save(tmp_path / "n.npy", np.array([np.nan, np.inf])))
    assert empty["stats"] == {"nan": 1, "inf": 1}


@pytest.mark.parametrize("order", ["C", "F"])
def test_2d_corner_in_both_orders(tmp_path: Path, order: Literal["C", "F"]) -> None:
    array = np.asarray(np.arange(200, dtype="<i4").reshape(10, 20), order=order)
    result = preview(save(tmp_path / "a.npy", array))
    assert result["fortranOrder"] is (order == "F")
    assert "[[ 0  1  2  3  4  5  6  7]\n [20 21 22 23 24 25 26 27]" in result["markdown"]


@pytest.mark.parametrize("order", ["C", "F"])
def test_big_nd_array_reads_only_its_corner(tmp_path: Path, order: Literal["C", "F"]) -> None:
    array = np.asarray(np.arange(3 * 500 * 7000, dtype="<f4").reshape(3, 500, 7000), order=order)
    path = save(tmp_path / "big.npy", array)
    result = preview(path)
    assert result["bytesRead"] < 8 * 1024
    assert "stats" not in result
    assert result["corner"] == array[0, :5, :8].tolist()


def test_structured_and_big_endian_dtypes(tmp_path: Path) -> None:
    dtype = np.dtype([("a", "<i4"), ("b", ">f8"), ("c", "S2")])
    result = preview(save(tmp_path / "s.npy", np.array([(1, 2.5, b"ab")], dtype=dtype)))
    assert result["dtype"] == "[('a', '<i4'), ('b', '>f8'), ('c', '|S2')]"
    assert "(1, 2.5, b'ab')" in result["markdown"]
    assert "stats" not in result
    swapped = preview(save(tmp_path / "be.npy", np.arange(4, dtype=">i2")))
    assert swapped["stats"]["max"] == 3.0


@pytest.mark.parametrize("version", [(1, 0), (2, 0), (3, 0)])
def test_header_versions(tmp_path: Path, version: tuple[int, int]) -> None:
    path = tmp_path / "v.npy"
    array = np.arange(6, dtype="<u2").reshape(2, 3)
    with path.open("wb") as handle:
        np.lib.format.write_array(handle, array, version=version)
    result = preview(path)
    assert result["version"] == f"{version[0]}.{version[1]}" and result["shape"] == [2, 3]


def test_object_array_is_flagged_and_never_loaded(tmp_path: Path) -> None:
    path = save(tmp_path / "o.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    result = preview(path)
    assert result["safety"]["verdict"] == "unknown"
    assert any("object array" in f["message"] for f in result["safety"]["findings"])


def test_object_array_with_a_payload_is_unsafe(tmp_path: Path) -> None:
    """The element pickle names os.system: reported from its opcodes, never run."""
    header = b"{'descr': '|O', 'fortran_order': False, 'shape': (1,), }"
    header += b" " * (64 - 10 - len(header) - 1) + b"\n"
    payload = b"\x80\x02cos\nsystem\nX\x02\x00\x00\x00id\x85R."
    path = tmp_path / "evil.npy"
    path.write_bytes(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + payload)
    result = preview(path)
    assert result["safety"]["verdict"] == "unsafe"


def test_corrupt_and_truncated_npy_give_clear_errors(tmp_path: Path) -> None:
    good = save(tmp_path / "g.npy", np.arange(1000.0)).read_bytes()
    cut = tmp_path / "cut.npy"
    cut.write_bytes(good[:500])
    with pytest.raises(CorruptArtifact, match=r"Truncated \.npy"):
        preview(cut)
    bad = tmp_path / "bad.npy"
    bad.write_bytes(good[:10] + b"{'descr': __import__('os')}".ljust(len(good) - 10))
    with pytest.raises(CorruptArtifact, match=r"Corrupt \.npy"):
        preview(bad)
    version = tmp_path / "v9.npy"
    version.write_bytes(b"\x93NUMPY\x09\x00" + good[8:])
    with pytest.raises(CorruptArtifact, match="version 9"):
        preview(version)


def test_parse_header_never_evaluates() -> None:
    text = b"{'descr': (lambda: 1)(), 'fortran_order': False, 'shape': ()}"
    with pytest.raises(ValueError, match="not a dict literal"):
        parse_header(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text)


def test_big_npy_stays_within_budget(tmp_path: Path) -> None:
    path = tmp_path / "big.npy"
    array = np.lib.format.open_memmap(path, mode="w+", dtype="<f8", shape=(25_000, 1_000))
    array[:5, :8] = np.arange(40).reshape(5, 8)
    array.flush()
    del array
    assert path.stat().st_size > 190 << 20
    started = time.perf_counter()
    result = preview(path)
    assert time.perf_counter() - started < 1.0
    assert result["bytesRead"] <= 1 << 20
    assert "[[ 0.  1.  2.  3.  4.  5.  6.  7.]" in result["markdown"]


# --- safetensors ----------------------------------------------------------------------------


def test_safetensors_header_tensors_and_metadata(tmp_path: Path) -> None:
    path = tmp_path / "m.safetensors"
    tensors = {
        "layer.weight": np.arange(16, dtype="<f4").reshape(4, 4),
        "layer.bias": np.zeros(3, dtype="<f2"),
        "big": np.zeros((300, 300), dtype="<f4"),
    }
    save_file(tensors, str(path), metadata={"format": "np", "note": "<script>[x](http://e)"})
    result = preview(path)
    assert result["kind"] == "safetensors" and result["safety"]["verdict"] == "safe"
    assert result["summary"].startswith("safetensors · 3 tensors · 90.0 k values")
    by_name = {t["name"]: t for t in result["tensors"]}
    weight = by_name["layer.weight"]
    assert weight["dtype"] == "F32" and weight["shape"] == [4, 4] and weight["numel"] == 16
    assert weight["end"] - weight["begin"] == 64
    assert weight["stats"]["max"] == 15.0
    assert "stats" not in by_name["big"]  # 360 KB: not read
    assert result["metadata"] == {"format": "np", "note": "<script>[x](http://e)"}
    assert "<script>" not in result["markdown"] and "](" not in result["markdown"]
    assert result["bytesRead"] < 8192


def test_safetensors_bf16_is_decoded(tmp_path: Path) -> None:
    values = np.array([1.0, -2.0, 0.5], dtype="<f4")
    raw = (values.view("<u4") >> 16).astype("<u2").tobytes()
    header = b'{"t":{"dtype":"BF16","shape":[3],"data_offsets":[0,6]}}'
    path = tmp_path / "bf.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header + raw)
    result = preview(path)
    assert result["tensors"][0]["stats"]["min"] == -2.0


def test_safetensors_detection_needs_a_sane_length() -> None:
    assert detect_kind(struct.pack("<Q", 40) + b'{"a": 1}') == "safetensors"
    # A length prefix that looks like the gzip magic is still safetensors.
    assert detect_kind(b"\x1f\x8b\x00\x00\x00\x00\x00\x00" + b'{"x":') == "safetensors"
    assert detect_kind(struct.pack("<Q", 1 << 40) + b'{"a": 1}') != "safetensors"


def test_inconsistent_tensor_ranges_are_warnings(tmp_path: Path) -> None:
    header = (
        b'{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,12]},'
        b'"b":{"dtype":"F32","shape":[1],"data_offsets":[100,104]}}'
    )
    path = tmp_path / "odd.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header + b"\x00" * 16)
    messages = [f["message"] for f in preview(path)["safety"]["findings"]]
    assert any("shape needs 16" in m for m in messages)
    assert any("outside the data" in m for m in messages)


def test_corrupt_safetensors_give_clear_errors(tmp_path: Path) -> None:
    path = tmp_path / "m.safetensors"
    save_file({"w": np.ones((64, 64), dtype="<f4")}, str(path))
    data = path.read_bytes()
    (length,) = struct.unpack("<Q", data[:8])
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(data[: 8 + length // 2])
    with pytest.raises(CorruptArtifact, match="truncated"):
        preview(cut)
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(data[:8] + b'{"w": nonsense' + data[8 + 14 :])
    with pytest.raises(CorruptArtifact, match="not JSON"):
        preview(broken)
