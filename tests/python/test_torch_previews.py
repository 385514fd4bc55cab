"""PyTorch previews on files written by the real torch: zip checkpoints, whole modules,
TorchScript, legacy files, and hostile archives. The preview path never imports torch; the
tests use it only to write files and to compute the expected values."""

from __future__ import annotations

import struct
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers import preview

from pyserver.errors import CorruptArtifact

torch = pytest.importorskip("torch")


def tensors(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["name"]: t for t in result["tensors"]}


def expected_stats(t: Any) -> dict[str, float]:
    values = t.detach().float().numpy().astype(np.float64)
    return {
        "min": float(values.min()),
        "max": float(values.max()),
        "mean": float(values.mean()),
        "std": float(values.std()),
    }


def assert_stats(found: dict[str, Any], t: Any) -> None:
    assert "stats" in found, found
    want = expected_stats(t)
    for key, value in want.items():
        assert found["stats"][key] == pytest.approx(value, rel=1e-5, abs=1e-6), key
    assert found["stats"].get("nan", 0) == 0


@pytest.fixture(scope="module")
def net_cls() -> Any:
    from pyserver.demo.models import SimpleNet

    return SimpleNet


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, net_cls: Any) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("torch")
    torch.manual_seed(0)
    net = net_cls()
    out: dict[str, Any] = {"root": root, "net": net}

    out["state"] = {k: v.clone() for k, v in net.state_dict().items()}
    torch.save(net.state_dict(), root / "state.pt")

    optimizer = torch.optim.Adam(net.parameters(), lr=0.01)
    net(torch.randn(8, 4)).sum().backward()
    optimizer.step()
    checkpoint = {"epoch": 3, "model": net.state_dict(), "optimizer": optimizer.state_dict()}
    out["optimizer"] = optimizer.state_dict()
    torch.save(checkpoint, root / "checkpoint.pt")

    torch.save(net, root / "model.pt")

    nested = {"a": [torch.ones(2), {"b": torch.zeros(3, 2)}], "c": (torch.arange(4),)}
    out["nested"] = nested
    torch.save(nested, root / "nested.pt")

    dtypes = {
        "bf16": torch.randn(5, 7).to(torch.bfloat16),
        "fp16": torch.randn(3, 3).half(),
        "f64": torch.randn(6).double(),
        "i64": torch.arange(-5, 10, dtype=torch.int64),
        "i8": torch.tensor([-3, 0, 7], dtype=torch.int8),
        "u8": torch.tensor([0, 200, 255], dtype=torch.uint8),
        "flag": torch.tensor([True, False, True, True]),
    }
    out["dtypes"] = dtypes
    torch.save(dtypes, root / "dtypes.pt")

    base = torch.arange(24, dtype=torch.float32).reshape(4, 6) * 0.5 - 3
    views = {
        "base": base,
        "t": base.T,
        "col": base[:, 2],
        "block": base[1:3, 2:5],
        "step": base.view(-1)[3::5],
    }
    out["views"] = views
    torch.save(views, root / "views.pt")
    torch.save(views, root / "legacy.pt", _use_new_zipfile_serialization=False)
    torch.save(net.state_dict(), root / "legacy_state.pt", _use_new_zipfile_serialization=False)

    torch.jit.save(torch.jit.script(net_cls()), str(root / "scripted.pt"))
    return out


# --- zip checkpoints ---------------------------------------------------------------------


def test_state_dict_lists_every_tensor_with_stats(files: dict[str, Any]) -> None:
    result = preview(files["root"] / "state.pt")
    assert result["kind"] == "torch-zip"
    assert result["safety"]["verdict"] == "safe"
    found = tensors(result)
    state = files["state"]
    assert list(found) == list(state)
    for name, t in state.items():
        assert found[name]["dtype"] == "float32"
        assert found[name]["shape"] == list(t.shape)
        assert found[name]["numel"] == t.numel()
        assert found[name]["storageBytes"] == t.numel() * 4
        assert_stats(found[name], t)
    assert result["totals"] == {
        "tensors": 4,
        "parameters": 131,
        "elements": 131,
        "bytes": 524,
        "storages": 4,
    }
    assert result["summary"].startswith("PyTorch checkpoint (zip) · 4 tensors · 131 params · ")
    assert result["summary"].count("B") == 1  # the file size, once (appended by _result)
    assert "| `fc1.weight` | float32 | 16×4 | 64 |" in result["markdown"]
    assert 0 < result["bytesRead"] < 8 * 1024


def test_optimizer_checkpoint_names_nested_state(files: dict[str, Any]) -> None:
    result = preview(files["root"] / "checkpoint.pt")
    assert result["safety"]["verdict"] == "safe"
    assert result["topLevelKeys"] == ["epoch", "model", "optimizer"]
    found = tensors(result)
    assert "model.fc1.weight" in found and "model.fc2.bias" in found
    state = files["optimizer"]["state"]
    for index, slot in state.items():
        for key in ("exp_avg", "exp_avg_sq"):
            name = f"optimizer.state.{index}.{key}"
            assert found[name]["shape"] == list(slot[key].shape)
            assert_stats(found[name], slot[key])
    assert found["optimizer.state.0.step"]["shape"] == []
    assert result["totals"]["parameters"] == 131  # optimizer state is not counted as such
    assert result["totals"]["elements"] == 131 * 3 + 4
    assert "131 params" in result["summary"]
    markdown = result["markdown"]
    assert "**131** parameters \\(\\+ 266 optimizer state\\)" in markdown
    assert "| `epoch` | 3 |" in markdown
    assert "| `optimizer` | dict · 12 tensors · 2 keys |" in markdown


def test_whole_model_pickle_shows_the_module_tree(files: dict[str, Any]) -> None:
    result = preview(files["root"] / "model.pt")
    assert result["kind"] == "torch-zip"
    assert result["safety"]["verdict"] == "unknown"
    named = [f.get("global") for f in result["safety"]["findings"]]
    assert "pyserver.demo.models.SimpleNet" in named
    assert "SimpleNet" in result["summary"]
    markdown = result["markdown"]
    assert "- `pyserver.demo.models.SimpleNet` · 131 params" in markdown
    assert "  - **fc1**: `Linear` · 80 params" in markdown
    assert "  - **relu**: `ReLU` · 0 params" in markdown
    root = result["modules"][0]
    assert [c["name"] for c in root["children"]] == ["fc1", "relu", "fc2"]
    assert list(tensors(result)) == ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    assert result["totals"]["parameters"] == 131


def test_nested_containers_get_dotted_names(files: dict[str, Any]) -> None:
    result = preview(files["root"] / "nested.pt")
    found = tensors(result)
    assert list(found) == ["a.0", "a.1.b", "c.0"]
    assert found["c.0"]["dtype"] == "int64"
    assert found["c.0"]["stats"]["max"] == 3
    assert found["a.1.b"]["shape"] == [3, 2]


@pytest.mark.parametrize("name", ["bf16", "fp16", "f64", "i64", "i8", "u8", "flag"])
def test_stats_match_numpy_for_each_dtype(files: dict[str, Any], name: str) -> None:
    result = preview(files["root"] / "dtypes.pt")
    found = tensors(result)[name]
    t = files["dtypes"][name]
    assert found["dtype"] == str(t.dtype).removeprefix("torch.")
    assert found["shape"] == list(t.shape)
    assert_stats(found, t)


def test_views_sharing_a_storage_honour_offset_and_stride(files: dict[str, Any]) -> None:
    result = preview(files["root"] / "views.pt")
    found = tensors(result)
    for name, t in files["views"].items():
        assert found[name]["shape"] == list(t.shape)
        if name != "base":
            assert found[name]["stride"] == list(t.stride())
            assert found[name]["storageOffset"] == t.storage_offset()
        assert_stats(found[name], t)
    assert result["totals"]["storages"] == 1
    assert result["totals"]["bytes"] == 96


# --- TorchScript, legacy -------------------------------------------------------------------


def test_torchscript_archive_shows_code_and_is_unknown(files: dict[str, Any]) -> None:
    result = preview(files["root"] / "scripted.pt")
    assert result["kind"] == "torchscript"
    assert result["safety"]["verdict"] == "unknown"
    findings = result["safety"]["findings"]
    messages = " ".join(f["message"] for f in findings)
    assert "TorchScript code (code/ in this archive) runs when" in messages
    assert "classes: pyserver.demo.models.SimpleNet, torch.nn.modules.linear.Linear" in messages
    assert not any(f.get("global", "").startswith("__torch__") for f in findings)
    assert result["summary"].startswith("TorchScript archive · SimpleNet · 4 tensors")
    markdown = result["markdown"]
    assert "```python\ndef forward(self: __torch__.pyserver.demo.models.SimpleNet," in markdown
    assert result["classes"]["pyserver.demo.models.SimpleNet"] == ["forward"]
    assert list(tensors(result)) == ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    assert "stats" in tensors(result)["fc1.weight"]


def test_legacy_checkpoint_table_and_stats(files: dict[str, Any]) -> None:
    result = preview(files["root"] / "legacy.pt")
    assert result["kind"] == "torch-legacy"
    assert result["safety"]["verdict"] == "safe"
    found = tensors(result)
    for name, t in files["views"].items():
        assert found[name]["shape"] == list(t.shape)
        assert_stats(found[name], t)
    state = preview(files["root"] / "legacy_state.pt")
    names = tensors(state)
    assert list(names) == ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    for name, t in files["net"].state_dict().items():
        assert_stats(names[name], t)


def test_plain_pickle_named_pt_is_read_as_a_pickle(tmp_path: Path) -> None:
    path = tmp_path / "weights.pt"
    path.write_bytes(b"\x80\x04\x95\x0b\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\x01a\x94K\x01s.")
    result = preview(path)
    assert result["kind"] == "pickle"
    assert result["safety"]["verdict"] == "safe"


# --- budget and size -------------------------------------------------------------------------


def test_large_checkpoint_reads_under_one_mib(tmp_path: Path) -> None:
    torch.manual_seed(1)
    state = {}
    for i in range(25):  # ~200 MB: 25 x (2M floats) + small biases between them
        state[f"layer{i}.weight"] = torch.randn(2048, 1024)
        state[f"layer{i}.bias"] = torch.randn(1024)
    path = tmp_path / "big.pt"
    torch.save(state, path)
    assert path.stat().st_size > 200_000_000
    started = time.perf_counter()
    result = preview(path)
    elapsed = time.perf_counter() - started
    assert result["bytesRead"] <= 1 << 20
    assert elapsed < 1.0  # ~10 ms on a laptop; generous for loaded CI machines
    found = tensors(result)
    assert len(found) == 50 and result["totals"]["parameters"] == 25 * (2048 + 1) * 1024
    assert "stats" not in found["layer0.weight"]
    assert_stats(found["layer0.bias"], state["layer0.bias"])
    assert "too large for the read budget" in result["markdown"]
    assert result["summary"].startswith("PyTorch checkpoint (zip) · 50 tensors · 52.5 M params")


def test_small_budget_still_gives_the_listing(files: dict[str, Any]) -> None:
    result = preview(files["root"] / "checkpoint.pt", max_bytes=16 * 1024)
    assert result["bytesRead"] <= 16 * 1024
    assert "model.fc1.weight" in tensors(result)
    assert not any("stats" in t for t in result["tensors"])  # no room left for storages


# --- hostile and broken archives -----------------------------------------------------------

PAYLOAD = "cos\nsystem\n(S'touch {canary}'\ntR."


def rewrite(source: Path, target: Path, replace: dict[str, bytes], deflate: bool = False) -> None:
    """Copy a zip entry by entry (bytes only: nothing is loaded), replacing some entries."""
    method = zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(target, "w", method) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            for suffix, new in replace.items():
                if info.filename.endswith(suffix):
                    data = new
            dst.writestr(info.filename, data)


def patch_entry(path: Path, name: str, crc_xor: int = 0, flags_or: int = 0) -> None:
    """Corrupt the CRC and/or set flag bits of an entry, in both of its headers."""
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        local = archive.getinfo(name).header_offset
    central = raw.index(b"PK\x01\x02")
    while raw[central + 46 : central + 46 + len(name)] != name.encode():
        central = raw.index(b"PK\x01\x02", central + 4)
    for at, crc_at, flag_at in ((local, 14, 6), (central, 16, 8)):
        (crc,) = struct.unpack_from("<I", raw, at + crc_at)
        struct.pack_into("<I", raw, at + crc_at, crc ^ crc_xor)
        (flags,) = struct.unpack_from("<H", raw, at + flag_at)
        struct.pack_into("<H", raw, at + flag_at, flags | flags_or)
    path.write_bytes(bytes(raw))


def test_malicious_data_pkl_with_wrong_crc_is_unsafe(files: dict[str, Any], tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    evil = tmp_path / "evil.pt"
    payload = PAYLOAD.format(canary=canary).encode()
    rewrite(files["root"] / "state.pt", evil, {"/data.pkl": payload})
    patch_entry(evil, "state/data.pkl", crc_xor=0xDEADBEEF)
    with zipfile.ZipFile(evil) as archive, pytest.raises(zipfile.BadZipFile):
        archive.read("state/data.pkl")  # a scanner relying on zipfile would give up here
    result = preview(evil)
    assert result["kind"] == "torch-zip"
    assert result["safety"]["verdict"] == "unsafe"
    findings = result["safety"]["findings"]
    assert any(f["severity"] == "danger" and f["global"].endswith("system") for f in findings)
    assert any("CRC does not match" in f["message"] for f in findings)
    assert "UNSAFE" in result["markdown"]
    assert not canary.exists()


@pytest.mark.parametrize("flags", [0x1, 0x8, 0x41, 0x809])
def test_odd_flag_bits_do_not_hide_a_payload(
    files: dict[str, Any], tmp_path: Path, flags: int
) -> None:
    canary = tmp_path / "canary"
    evil = tmp_path / "evil.pt"
    rewrite(files["root"] / "state.pt", evil, {"/data.pkl": PAYLOAD.format(canary=canary).encode()})
    patch_entry(evil, "state/data.pkl", flags_or=flags)
    result = preview(evil)
    assert result["safety"]["verdict"] == "unsafe"
    if flags & 1:
        assert any("encrypted" in f["message"] for f in result["safety"]["findings"])
    assert not canary.exists()


def test_second_data_pkl_is_scanned_too(files: dict[str, Any], tmp_path: Path) -> None:
    evil = tmp_path / "dup.pt"
    with zipfile.ZipFile(files["root"] / "state.pt") as src, zipfile.ZipFile(evil, "w") as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info.filename))
        with pytest.warns(UserWarning, match="Duplicate name"):
            dst.writestr("state/data.pkl", PAYLOAD.format(canary=tmp_path / "c").encode())
    result = preview(evil)
    assert result["safety"]["verdict"] == "unsafe"


def test_deflated_archive_is_still_read(files: dict[str, Any], tmp_path: Path) -> None:
    packed = tmp_path / "packed.pt"
    rewrite(files["root"] / "state.pt", packed, {}, deflate=True)
    result = preview(packed)
    assert result["safety"]["verdict"] == "safe"
    assert list(tensors(result)) == ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    assert "stats" not in tensors(result)["fc1.weight"]  # deflated storages are not inflated


def test_big_endian_storages(files: dict[str, Any], tmp_path: Path) -> None:
    swapped = tmp_path / "big_endian.pt"
    replace: dict[str, bytes] = {"/byteorder": b"big"}
    with zipfile.ZipFile(files["root"] / "dtypes.pt") as archive:
        for info in archive.infolist():
            if "/data/" in info.filename:
                key = info.filename.rsplit("/", 1)[1]
                replace[f"/data/{key}"] = archive.read(info.filename)
    # swap each storage by its element size, found from the tensors themselves
    sizes = {str(i): files["dtypes"][n].element_size() for i, n in enumerate(files["dtypes"])}
    for key, size in sizes.items():
        data = np.frombuffer(replace[f"/data/{key}"], dtype=f"<u{size}" if size > 1 else "u1")
        replace[f"/data/{key}"] = data.byteswap().tobytes() if size > 1 else data.tobytes()
    rewrite(files["root"] / "dtypes.pt", swapped, replace)
    found = tensors(preview(swapped))
    for name, t in files["dtypes"].items():
        assert_stats(found[name], t)


def test_truncated_checkpoint_is_a_clear_error(files: dict[str, Any], tmp_path: Path) -> None:
    data = (files["root"] / "checkpoint.pt").read_bytes()
    cut = tmp_path / "cut.pt"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptArtifact, match="truncated or corrupt"):
        preview(cut)


def test_garbage_data_pkl_is_a_clear_error(files: dict[str, Any], tmp_path: Path) -> None:
    broken = tmp_path / "broken.pt"
    rewrite(files["root"] / "state.pt", broken, {"/data.pkl": b"\x80\x02\xff\xfe garbage"})
    with pytest.raises(CorruptArtifact, match="not a readable pickle"):
        preview(broken)


def test_tensor_names_are_escaped(tmp_path: Path) -> None:
    path = tmp_path / "names.pt"
    torch.save({"<img src=x onerror=alert(1)>`|": torch.ones(2), "a\nb": torch.ones(1)}, path)
    result = preview(path)
    # inside a code span, markup is shown, not interpreted
    assert "``<img src=x onerror=alert(1)>`\\|``" in result["markdown"]
    assert "| `a b` |" in result["markdown"]


# --- dtypes torch writes without a typed storage, tied weights -----------------------------


def test_untyped_storage_dtypes_and_tied_weights(tmp_path: Path) -> None:
    shared = torch.randn(4, 3)
    value = {
        "f8": torch.randn(6).to(torch.float8_e4m3fn),
        "u16": torch.tensor([0, 1, 2, 3, 4], dtype=torch.uint16),
        "c64": torch.zeros(2, dtype=torch.complex64),
        "encoder": shared,
        "decoder": shared,  # tied: the same tensor object, pickled once
    }
    path = tmp_path / "mixed.pt"
    torch.save(value, path)
    result = preview(path)
    assert result["safety"]["verdict"] == "safe"
    found = tensors(result)
    assert found["f8"]["dtype"] == "float8_e4m3fn" and found["f8"]["shape"] == [6]
    assert found["f8"]["storageBytes"] == 6 and "stats" not in found["f8"]
    assert found["u16"]["dtype"] == "uint16" and found["u16"]["storageBytes"] == 10
    assert found["u16"]["stats"]["max"] == 4
    assert found["c64"]["dtype"] == "complex64" and found["c64"]["storageBytes"] == 16
    assert found["decoder"]["aliasOf"] == "encoder"
    assert_stats(found["decoder"], shared)
    assert result["totals"]["tensors"] == 4  # the tied pair counts once
    assert "`decoder` = `encoder`" in result["markdown"]
    assert "2 of a dtype without statistics" in result["markdown"]


def test_data_pkl_larger_than_the_budget_is_truncated_not_safe(tmp_path: Path) -> None:
    path = tmp_path / "history.pt"
    torch.save({"w": torch.ones(2), "history": list(range(60_000)), "v": torch.ones(3)}, path)
    result = preview(path, max_bytes=64 * 1024)
    assert result["truncated"] is True
    assert result["safety"]["verdict"] == "unknown"  # the rest of the pickle was not seen
    assert result["bytesRead"] <= 64 * 1024
    assert list(tensors(result)) == ["w"]


# --- the tensor walk on hand-built pickle values (pickle_model) ------------------------------


def _tensor_call(key: str, shape: tuple[int, ...], stride: tuple[int, ...], offset: int = 0) -> Any:
    from pyserver.previews.pickle_model import Call, Global, PersistentRef

    numel = 1
    for n in shape:
        numel *= n
    ref = PersistentRef(("storage", Global("torch", "FloatStorage"), key, "cpu", numel + offset))
    rebuild = Global("torch._utils", "_rebuild_tensor_v2")
    ordered = Call(Global("collections", "OrderedDict"))
    return Call(rebuild, (ref, offset, shape, stride, False, ordered))


def test_walk_survives_cycles_sharing_and_depth() -> None:
    from pyserver.previews.torch_tensors import MAX_DEPTH, find_tensors

    t = _tensor_call("0", (2, 3), (3, 1))
    loop: list[Any] = [t]
    loop.append(loop)  # a list holding itself
    shared = {"w": t}
    deep: Any = t
    for _ in range(MAX_DEPTH + 50):
        deep = [deep]
    walk = find_tensors({"loop": loop, "a": shared, "b": shared, "deep": deep})
    names = [x.name for x in walk.tensors]
    assert names[:2] == ["loop.0", "a.w"]  # the shared dict is walked once
    assert walk.tensors[1].alias_of == "loop.0"
    assert walk.cut  # the deep nesting stopped, without a RecursionError


def test_walk_handles_hostile_tensor_arguments() -> None:
    from pyserver.previews.pickle_model import Call, Global, PersistentRef
    from pyserver.previews.torch_tensors import find_tensors

    rebuild = Global("torch._utils", "_rebuild_tensor_v2")
    ref = PersistentRef(("storage", Global("torch", "FloatStorage"), "0", "cpu", 4))
    value = {
        "neg": Call(rebuild, (ref, 0, (-1,), (1,), False, None)),
        "few": Call(rebuild, (ref,)),
        "nopid": Call(rebuild, ("x", 0, (2,), (1,), False, None)),
        "offset": Call(rebuild, (ref, True, (2,), (1,), False, None)),
        "past": Call(rebuild, (ref, 3, (2,), (1,), False, None)),
        "bigdims": Call(rebuild, (ref, 0, (1,) * 100, (1,) * 100, False, None)),
        "numel": Call(rebuild, (PersistentRef(("storage", None, "0", "cpu", "4")), 0, (1,), (1,))),
    }
    walk = find_tensors(value)
    found = {t.name: t for t in walk.tensors}
    assert all(found[n].kind == "other" for n in ("neg", "few", "nopid", "offset", "bigdims"))
    assert found["past"].note == "extends past its storage"
    assert found["numel"].kind == "other"


def test_walk_reads_v3_untyped_storages_and_subclasses() -> None:
    from pyserver.previews.pickle_model import Call, Global, PersistentRef
    from pyserver.previews.torch_tensors import find_tensors

    untyped = PersistentRef(("storage", Global("torch.storage", "UntypedStorage"), "3", "cpu", 12))
    v3 = Call(
        Global("torch._utils", "_rebuild_tensor_v3"),
        (untyped, 0, (3,), (1,), False, None, Global("torch", "float32")),
    )
    sub = Call(
        Global("torch._tensor", "_rebuild_from_type_v2"),
        (
            Global("torch._utils", "_rebuild_tensor_v2"),
            Global("mylib", "MyTensor"),
            (untyped, 1, (2,), (1,), False, None),
            {},
        ),
    )
    param = Call(Global("torch._utils", "_rebuild_parameter"), (v3, True, None))
    walk = find_tensors({"v3": v3, "sub": sub, "param": param})
    found = {t.name: t for t in walk.tensors}
    assert found["v3"].dtype == "float32" and found["v3"].storage is not None
    assert found["v3"].storage.numel == 3 and found["v3"].storage.nbytes == 12
    assert found["sub"].dtype == "uint8" and found["sub"].note == "subclass mylib.MyTensor"
    assert found["param"].kind == "parameter" and found["param"].shape == (3,)


def test_stats_for_strided_big_endian_bfloat16() -> None:
    from pyserver.previews.torch_tensors import find_tensors, tensor_stats

    values = np.array([1.5, -2.0, 3.25, 8.0, -0.5, 0.0], dtype=np.float32)
    bf16 = (values.view(np.uint32) >> 16).astype(">u2").tobytes()
    call = _tensor_call("0", (2, 2), (1, 3), offset=1)  # columns of a 2x3 view, from 1
    call.args[0].pid = (
        "storage",
        call.args[0].pid[1].__class__("torch", "BFloat16Storage"),
        "0",
        "cpu",
        6,
    )
    (tensor,) = find_tensors(call).tensors
    stats = tensor_stats(tensor, bf16[2:], little_endian=False)
    expect = values[1:].reshape(-1)[[0, 3, 1, 4]]  # elements 1, 4, 2, 5
    assert stats is not None
    assert stats["min"] == expect.min() and stats["max"] == expect.max()
    assert stats["mean"] == pytest.approx(float(expect.mean()))


class StatefulNet(torch.nn.Module):
    """A scripted module with its own __setstate__: TorchScript code that runs on load."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(3, 2)
        self.scale = 2.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x) * self.scale

    @torch.jit.export
    def __getstate__(self) -> tuple[torch.Tensor, float, bool]:
        return (self.lin.weight, self.scale, self.training)

    @torch.jit.export
    def __setstate__(self, state: tuple[torch.Tensor, float, bool]) -> None:
        self.scale = state[1] * 1.0
        self.training = state[2]


def test_torchscript_setstate_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "stateful.pt"
    torch.jit.save(torch.jit.script(StatefulNet()), str(path))
    result = preview(path)
    assert result["kind"] == "torchscript"
    assert result["safety"]["verdict"] == "unknown"
    messages = [f["message"] for f in result["safety"]["findings"]]
    assert any(
        "__setstate__ runs on torch.jit.load in" in m and "StatefulNet" in m for m in messages
    )
    assert "StatefulNet" in result["summary"]
    assert "StatefulNet.forward**\n\n```python\ndef forward(" in result["markdown"]
