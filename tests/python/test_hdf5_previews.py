"""Deep HDF5 previews over files written by h5py (and hdf5plugin filters)."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import h5py
import hdf5plugin
import numpy as np
import pytest
from helpers import preview

from pyserver.errors import CorruptArtifact
from pyserver.previews.budget import Budget

HOSTILE = "<script>alert(1)</script> [click](http://evil) `tick`"


def nodes(tree: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = {tree["path"]: tree}
    for child in tree.get("children", []):
        found.update(nodes(child))
    return found


@pytest.fixture(scope="module")
def rich(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("h5") / "rich.h5"
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:
        f.attrs["title"] = HOSTILE
        f.attrs["long"] = "y" * 5000
        f.attrs["array"] = np.arange(100)
        f.attrs[HOSTILE] = 1
        g = f.create_group("grp")
        g.attrs["version"] = 2
        g.create_dataset(
            "gz",
            data=rng.normal(size=(200, 300)),
            chunks=(50, 50),
            compression="gzip",
            compression_opts=4,
            shuffle=True,
        )
        g.create_dataset("lzf", data=np.arange(1000, dtype="i4"), chunks=(100,), compression="lzf")
        g.create_dataset(
            "blosc",
            data=np.arange(10_000, dtype="f4").reshape(100, 100),
            chunks=(20, 20),
            **hdf5plugin.Blosc(cname="zstd", clevel=5),
        )
        g.create_dataset("zstd", data=np.arange(5000.0), chunks=(500,), **hdf5plugin.Zstd())
        f.create_dataset("cube", data=np.arange(240.0).reshape(4, 6, 10))
        f.create_dataset("scalar", data=3.5)
        f.create_dataset("empty", shape=(0, 5), dtype="f8")
        f.create_dataset("null", data=h5py.Empty("f4"))
        f.create_dataset("vlen", data=["a", "bb", "<b>x</b>"], dtype=h5py.string_dtype())
        f.create_dataset(
            "compound", data=np.array([(1, 2.0), (3, 4.0)], dtype=[("a", "i4"), ("b", "f8")])
        )
        f.create_dataset("nan", data=np.array([1.0, np.nan, 3.0]))
        f.create_dataset("refs", data=[f.ref], dtype=h5py.ref_dtype)
        f.create_dataset("ragged", (2,), dtype=h5py.vlen_dtype(np.dtype("i4")))
        f.create_dataset(
            "colour",
            data=np.array([0, 1], dtype="u1"),
            dtype=h5py.enum_dtype({"RED": 0, "GREEN": 1}, basetype="u1"),
        )
        f["soft"] = h5py.SoftLink("/grp/gz")
        f["dangling"] = h5py.SoftLink("/nowhere")
        f["ext"] = h5py.ExternalLink("missing_file.h5", "/whatever")
        g["up"] = f  # a hard-link cycle back to the root
        g["alias"] = g["lzf"]
    return path


def test_tree_lists_groups_datasets_links_and_counts(rich: Path) -> None:
    result = preview(rich)
    assert result["kind"] == "hdf5" and result["safety"]["verdict"] == "safe"
    assert result["summary"].startswith("HDF5 file · 14 datasets · 1 group · 3 links")
    tree = nodes(result["tree"])
    assert tree["/soft"] == {
        "name": "soft",
        "path": "/soft",
        "type": "softlink",
        "target": "/grp/gz",
    }
    assert tree["/ext"]["type"] == "externallink" and tree["/ext"]["file"] == "missing_file.h5"
    assert tree["/grp/up"]["type"] == "hardlink" and tree["/grp/up"]["target"] == "/"
    assert tree["/grp/lzf"]["type"] == "hardlink" and tree["/grp/lzf"]["target"] == "/grp/alias"
    assert "external link → `missing_file.h5`:`/whatever` (not opened)" in result["markdown"]
    assert "soft link → `/grp/gz`" in result["markdown"]
    assert result["truncated"] is False


def test_dataset_layout_filters_and_attributes(rich: Path) -> None:
    result = preview(rich)
    tree = nodes(result["tree"])
    gz = tree["/grp/gz"]
    assert gz["shape"] == [200, 300] and gz["chunks"] == [50, 50]
    assert [f["name"] for f in gz["filters"]] == ["shuffle", "gzip"]
    assert gz["compression"] == ["gzip"]
    assert tree["/grp/alias"]["compression"] == ["lzf"]
    assert tree["/grp/blosc"]["compression"] == ["blosc"]
    assert tree["/grp/zstd"]["compression"] == ["zstd"]
    assert "`gz` dataset 200×300 float64 · chunks 50×50 · shuffle" in result["markdown"]
    assert tree["/grp"]["attrs"] == [{"name": "version", "value": "2"}]
    long = next(a for a in result["tree"]["attrs"] if a["name"] == "long")
    assert len(long["value"]) <= 120 and long["value"].endswith("…")


def test_corners_decode_every_filter_and_match_h5py(rich: Path) -> None:
    tree = nodes(preview(rich)["tree"])
    with h5py.File(rich) as f:
        assert tree["/grp/gz"]["corner"] == f["grp/gz"][:5, :8].tolist()
        assert tree["/grp/blosc"]["corner"] == f["grp/blosc"][:5, :8].tolist()
        assert tree["/grp/zstd"]["corner"] == list(range(10))
        assert tree["/grp/alias"]["corner"] == list(range(10))
        assert tree["/cube"]["corner"] == f["cube"][0, :5, :8].tolist()
    assert tree["/scalar"]["corner"] == 3.5
    assert tree["/grp/alias"]["stats"] == {
        "min": 0.0,
        "max": 999.0,
        "mean": 499.5,
        "std": pytest.approx(288.675, rel=1e-4),
        "nan": 0,
        "inf": 0,
    }
    assert tree["/nan"]["stats"]["nan"] == 1 and tree["/nan"]["stats"]["max"] == 3.0
    assert "stats" not in tree["/grp/gz"]  # 480 KB: too big for statistics


def test_exotic_dtypes_are_described_not_crashed_on(rich: Path) -> None:
    result = preview(rich)
    tree = nodes(result["tree"])
    assert tree["/vlen"]["dtype"] == "variable-length utf-8 string"
    assert tree["/vlen"]["corner"] == "['a', 'bb', '<b>x</b>']"
    assert tree["/compound"]["dtype"] == "compound {a: int32, b: float64}"
    assert "stats" not in tree["/compound"]
    assert tree["/refs"]["dtype"] == "object reference" and "corner" not in tree["/refs"]
    assert (
        tree["/ragged"]["dtype"].startswith("variable-length") and "corner" not in tree["/ragged"]
    )
    assert tree["/colour"]["dtype"].startswith("enum")
    assert tree["/empty"]["sample"] == "empty" and tree["/null"]["shape"] is None
    assert "<b>x</b>" not in result["markdown"].replace("```", "").split("vlen")[0]


def test_hostile_attribute_names_and_values_are_escaped(rich: Path) -> None:
    markdown = preview(rich)["markdown"]
    assert "<script>" not in markdown
    assert "[click](http://evil)" not in markdown
    escaped = "\\<script\\>alert\\(1\\)\\</script\\> \\[click\\]\\(http\\:"
    assert markdown.count(escaped) == 2  # the name and the value of an attribute


def test_hostile_member_names_stay_inside_code_spans(tmp_path: Path) -> None:
    path = tmp_path / "names.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset(HOSTILE, data=np.arange(3))
        f.create_group("[g](http://evil)").attrs["<img src=x>"] = "<img src=x onerror=alert(1)>"
        f["link"] = h5py.SoftLink("/<script>")
    markdown = preview(path)["markdown"]
    outside = re.sub(r"(`+)(?!`).*?(?<!`)\1(?!`)", "", markdown)
    assert "<" not in outside.replace("\\<", "")
    assert "](" not in outside.replace("\\]\\(", "")


def test_external_link_target_is_never_opened(rich: Path, tmp_path: Path) -> None:
    # The target exists now and would crash a reader that followed it: it is never opened.
    (rich.parent / "missing_file.h5").write_bytes(b"not hdf5 at all")
    try:
        result = preview(rich)
    finally:
        (rich.parent / "missing_file.h5").unlink()
    assert nodes(result["tree"])["/ext"]["type"] == "externallink"


def test_external_raw_storage_and_virtual_datasets_are_not_read(tmp_path: Path) -> None:
    raw = tmp_path / "raw.bin"
    raw.write_bytes(np.arange(10, dtype="<f8").tobytes())
    source = tmp_path / "source.h5"
    with h5py.File(source, "w") as f:
        f["data"] = np.arange(4.0)
    path = tmp_path / "links.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("external", shape=(10,), dtype="<f8", external=[(str(raw), 0, 80)])
        layout = h5py.VirtualLayout(shape=(4,), dtype="f8")
        layout[:] = h5py.VirtualSource(str(source), "data", shape=(4,))
        f.create_virtual_dataset("virtual", layout)
    result = preview(path)
    tree = nodes(result["tree"])
    assert tree["/external"]["external"] == [str(raw)] and "corner" not in tree["/external"]
    assert tree["/virtual"]["layout"] == "virtual" and "corner" not in tree["/virtual"]
    assert "not opened" in tree["/external"]["sample"]
    assert "not opened" in tree["/virtual"]["sample"]
    raw.unlink()  # a reader that followed either would now fail, not say "not opened"
    source.unlink()
    again = nodes(preview(path)["tree"])
    assert "not opened" in again["/external"]["sample"]
    assert "not opened" in again["/virtual"]["sample"]


def test_userblock_file_is_detected_and_read(tmp_path: Path) -> None:
    path = tmp_path / "userblock.h5"
    with h5py.File(path, "w", userblock_size=512) as f:
        f["x"] = np.arange(3)
    with path.open("r+b") as handle:
        handle.write(b"#!/bin/sh\necho user block\n")
    result = preview(path)
    assert result["kind"] == "hdf5"
    assert nodes(result["tree"])["/x"]["corner"] == [0, 1, 2]


def test_demo_wording_kept(demo_workspace: Path) -> None:
    path = next(demo_workspace.rglob("my_data.hdf5"))
    result = preview(path)
    assert result["summary"].startswith("HDF5 file · 3 datasets")
    assert "`my_dataset` dataset 1000×100 float64" in result["markdown"]


def test_small_budget_skips_slices_and_says_so(rich: Path) -> None:
    result = preview(rich, max_bytes=40 * 1024)
    assert result["truncated"] is True
    assert result["bytesRead"] <= 40 * 1024
    assert "not sampled" in result["markdown"] or "Preview stopped" in result["markdown"]


def test_tiny_budget_stops_cleanly(rich: Path) -> None:
    result = preview(rich, max_bytes=6000)
    assert result["truncated"] is True and result["bytesRead"] <= 6000


def test_many_members_and_deep_nesting_are_capped(tmp_path: Path) -> None:
    path = tmp_path / "wide.h5"
    with h5py.File(path, "w") as f:
        for i in range(450):
            f.create_group(f"g{i:03d}")
        deep = f.create_group("deep")
        for _ in range(30):
            deep = deep.create_group("d")
    result = preview(path)
    assert result["truncated"] is True
    assert result["items"] <= 400
    assert len(result["markdown"]) <= Budget().max_markdown_chars + 10


def test_truncated_file_is_a_clear_error(rich: Path, tmp_path: Path) -> None:
    cut = tmp_path / "cut.h5"
    cut.write_bytes(rich.read_bytes()[: rich.stat().st_size // 2])
    with pytest.raises(CorruptArtifact, match="truncated or corrupt"):
        preview(cut)


def test_big_file_stays_within_budget(tmp_path: Path) -> None:
    path = tmp_path / "big.h5"
    block = np.random.default_rng(1).normal(size=(1024, 1024)).astype("f4")
    with h5py.File(path, "w") as f:
        contiguous = f.create_dataset("contiguous", shape=(16 * 1024, 1024), dtype="f4")
        gz = f.create_dataset(
            "gz",
            shape=(16 * 1024, 1024),
            dtype="f4",
            chunks=(256, 256),
            compression="gzip",
            compression_opts=1,
        )
        for i in range(16):
            contiguous[i * 1024 : (i + 1) * 1024] = block
            gz[i * 1024 : (i + 1) * 1024] = block
    assert path.stat().st_size > 100 << 20
    started = time.perf_counter()
    result = preview(path)
    elapsed = time.perf_counter() - started
    assert result["bytesRead"] <= 1 << 20
    tree = nodes(result["tree"])
    assert tree["/contiguous"]["corner"] == block[:5, :8].tolist()
    assert tree["/gz"]["corner"] == block[:5, :8].tolist()
    assert elapsed < 2.0
