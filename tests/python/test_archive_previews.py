"""Zip, tar and .npz listings: read from directories and headers, never extracted."""

from __future__ import annotations

import gzip
import io
import re
import tarfile
import zipfile
from pathlib import Path
from typing import Literal

import numpy as np
import pytest
from helpers import preview

from pyserver.errors import CorruptArtifact
from pyserver.previews.archives import preview_tar_stream, unsafe_member_name

HOSTILE = ["../evil.txt", "/abs.txt", "C:\\win.txt", "a/../../up.txt", "`tick`[x](http://e)<b>.csv"]


def outside_code_spans(markdown: str) -> str:
    return re.sub(r"(`+)(?!`).*?(?<!`)\1(?!`)", "", markdown)


# --- zip ------------------------------------------------------------------------------------


def test_zip_listing_sizes_and_totals(tmp_path: Path) -> None:
    path = tmp_path / "a.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("data/a.csv", "x,y\n" * 1000)
        archive.writestr("data/b.txt", "hello")
        archive.writestr("empty/", "")
    result = preview(path)
    assert result["kind"] == "zip" and result["safety"]["verdict"] == "safe"
    assert result["summary"].startswith("Zip archive · 3 entries · 3.9 KiB unpacked")
    assert result["entries"] == 3 and result["totalSize"] == 4005
    assert result["compressedSize"] < 4005
    members = {m["name"]: m for m in result["members"]}
    assert members["empty/"]["dir"] is True and members["data/b.txt"]["size"] == 5
    assert "| `data/a.csv` | 3.9 KiB |" in result["markdown"]


def test_zip_slip_names_are_escaped_and_flagged(tmp_path: Path) -> None:
    path = tmp_path / "slip.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("ok.txt", "fine")
        for name in HOSTILE:
            archive.writestr(name, "x")
    result = preview(path)
    flagged = {f.get("member") for f in result["safety"]["findings"] if f["severity"] == "warning"}
    assert flagged == {"../evil.txt", "/abs.txt", "C:\\win.txt", "a/../../up.txt"}
    outside = outside_code_spans(result["markdown"])
    assert "<b>" not in outside and "](" not in outside


def test_zip_with_code_bearing_members_is_unknown(tmp_path: Path) -> None:
    path = tmp_path / "models.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("model.pkl", b"\x80\x04N.")
    result = preview(path)
    assert result["safety"]["verdict"] == "unknown"


def test_long_zip_listing_is_capped(tmp_path: Path) -> None:
    path = tmp_path / "many.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for i in range(300):
            archive.writestr(f"f{i:03d}.txt", "x")
    result = preview(path)
    assert result["entries"] == 300 and result["truncated"] is True
    assert "… 275 more" in result["markdown"] and len(result["members"]) == 200


def test_truncated_zip_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "a.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("a.txt", "x" * 10_000)
    cut = tmp_path / "cut.zip"
    cut.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(CorruptArtifact, match="truncated or corrupt"):
        preview(cut)


@pytest.mark.parametrize(
    ("name", "unsafe"),
    [
        ("a/b.txt", False),
        ("..a/b", False),
        ("../x", True),
        ("a\\..\\x", True),
        ("/etc/passwd", True),
        ("\\\\server\\share", True),
        ("D:x", True),
        ("a\x00b", True),
    ],
)
def test_unsafe_member_names(name: str, unsafe: bool) -> None:
    assert (unsafe_member_name(name) is not None) is unsafe


# --- npz ------------------------------------------------------------------------------------


@pytest.mark.parametrize("compressed", [False, True])
def test_npz_lists_arrays_from_member_headers(tmp_path: Path, compressed: bool) -> None:
    path = tmp_path / "a.npz"
    save = np.savez_compressed if compressed else np.savez
    save(path, x=np.arange(5), y=np.ones((3, 4), dtype="<f4"), big=np.zeros((200, 200)))
    result = preview(path)
    assert result["kind"] == "npz" and result["safety"]["verdict"] == "safe"
    assert result["summary"].startswith("NumPy archive (.npz) · 3 arrays")
    arrays = {a["name"]: a for a in result["arrays"]}
    assert arrays["y"]["dtype"] == "<f4" and arrays["y"]["shape"] == [3, 4]
    assert arrays["x"]["stats"]["max"] == 4.0
    assert "stats" not in arrays["big"]  # 320 KB: header only
    assert ("deflated" in result["markdown"]) is compressed
    assert result["bytesRead"] < 64 * 1024


def test_npz_object_array_is_flagged(tmp_path: Path) -> None:
    path = tmp_path / "o.npz"
    np.savez_compressed(path, x=np.arange(3), o=np.array([1, "a"], dtype=object))
    result = preview(path)
    assert result["safety"]["verdict"] == "unknown"
    assert any("'o' is an object array" in f["message"] for f in result["safety"]["findings"])


def test_corrupt_npz_member_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("x.npy", b"\x93NUMPY\x01\x00\x10\x00{'descr': nope}")
    with pytest.raises(CorruptArtifact, match=r"Corrupt \.npz"):
        preview(path)


# --- tar ------------------------------------------------------------------------------------


def make_tar(path: Path, mode: Literal["w", "w:gz"] = "w") -> Path:
    with tarfile.open(path, mode) as archive:
        for name, data in [("dir/a.txt", b"abc"), ("../up.txt", b"x"), ("b.dat", b"\0" * 5000)]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        for name, target, kind in [
            ("link", "../../etc/passwd", tarfile.SYMTYPE),
            ("dir/ok", "../b.dat", tarfile.SYMTYPE),
            ("abs", "/etc/shadow", tarfile.LNKTYPE),
        ]:
            info = tarfile.TarInfo(name)
            info.type, info.linkname = kind, target
            archive.addfile(info)
    return path


def test_tar_listing_types_links_and_flags(tmp_path: Path) -> None:
    result = preview(make_tar(tmp_path / "a.tar"))
    assert result["kind"] == "tar" and result["safety"]["verdict"] == "safe"
    assert result["summary"].startswith("Tar archive · 6 members · 4.9 KiB")
    members = {m["name"]: m for m in result["members"]}
    assert members["link"] == {
        "name": "link",
        "type": "symlink",
        "size": 0,
        "target": "../../etc/passwd",
    }
    assert members["abs"]["type"] == "hard link"
    messages = " ".join(f["message"] for f in result["safety"]["findings"])
    assert "'../up.txt' climbs out" in messages
    assert "'link' → '../../etc/passwd'" in messages and "'abs' → '/etc/shadow'" in messages
    assert "dir/ok" not in messages  # ../b.dat from dir/ stays inside
    assert "| `link` | symlink → `../../etc/passwd` |" in result["markdown"]


def test_tar_reads_headers_only(tmp_path: Path) -> None:
    path = tmp_path / "big.tar"
    with tarfile.open(path, "w") as archive:
        for i in range(20):
            info = tarfile.TarInfo(f"blob{i}.bin")
            info.size = 1 << 20
            archive.addfile(info, io.BytesIO(b"\0" * (1 << 20)))
    result = preview(path)
    assert result["entries"] == 20 and result["bytesRead"] < 64 * 1024


def test_truncated_tar_is_a_clear_error(tmp_path: Path) -> None:
    good = make_tar(tmp_path / "a.tar").read_bytes()
    cut = tmp_path / "cut.tar"
    cut.write_bytes(good[:300])
    with pytest.raises(CorruptArtifact):
        preview(cut)


def test_tar_stream_helper_lists_a_gzipped_tar(tmp_path: Path) -> None:
    path = make_tar(tmp_path / "a.tar.gz", "w:gz")
    with gzip.open(path, "rb") as stream:
        section = preview_tar_stream(stream, "Gzipped tar archive")
    assert section.fields["entries"] == 6 and section.summary.startswith("Gzipped tar archive")
