"""The malicious suite: hostile pickles are previewed (never loaded); the verdict is `unsafe`,
the finding names the global and renders the call, and the canary file never appears.
Also the safe side: plain data, numpy state dicts and pandas frames are `safe`; a user class
is `unknown`, named."""

from __future__ import annotations

import collections
import datetime
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import malicious
import numpy as np
import pytest

from pyserver import service
from pyserver.backends import Catalog
from pyserver.previews.budget import Budget
from pyserver.previews.pickle_model import Global
from pyserver.previews.pickle_vm import read_pickles
from pyserver.previews.safety import assess, classify
from pyserver.uris import file_uri


def preview(path: Path) -> dict[str, Any]:
    return service.preview(Catalog(), file_uri(path), Budget())


def finding_for(result: dict[str, Any], name: str) -> dict[str, Any]:
    findings = result["safety"]["findings"]
    matches = [f for f in findings if f["global"] == name]
    assert matches, f"no finding names {name}: {json.dumps(findings, indent=1)}"
    return matches[0]


@pytest.mark.parametrize("payload", sorted(malicious.PAYLOADS))
def test_payload_is_unsafe_named_and_never_runs(payload: str, tmp_path: Path) -> None:
    canary = tmp_path / f"CANARY_{payload}"
    data, name, call_text = malicious.PAYLOADS[payload](str(canary))
    artifact = tmp_path / f"{payload}.pkl"
    artifact.write_bytes(data)
    result = preview(artifact)
    assert result["safety"]["verdict"] == "unsafe", result["safety"]
    assert "UNSAFE" in result["markdown"]
    found = finding_for(result, name)
    assert found["severity"] == "danger"
    assert call_text in (found["call"] or "") + found["message"], found
    assert not canary.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [artifact.name]


def test_call_is_rendered_with_its_arguments(tmp_path: Path) -> None:
    canary = tmp_path / "CANARY"
    data, _, _ = malicious.os_system(str(canary))
    (only,) = assess(read_pickles(data)).findings
    assert only["global"] == "posix.system"
    assert only["call"] == f"posix.system('touch {canary}')"
    assert only["call"] in only["message"]


def test_long_arguments_are_cut_short() -> None:
    data = malicious.pkl(malicious.call(malicious.sglob("os", "system"), malicious.u("x" * 5000)))
    (only,) = assess(read_pickles(data)).findings
    assert only["call"].startswith("os.system('xxx") and len(only["call"]) <= 120


def test_nested_pickle_is_scanned_and_its_payload_reported(tmp_path: Path) -> None:
    canary = tmp_path / "CANARY"
    data, _, _ = malicious.nested_loads(str(canary))
    findings = assess(read_pickles(data)).findings
    inner = [f for f in findings if f["global"] == "posix.system"]
    assert inner and inner[0]["message"].startswith("inside the pickle given to pickle.loads")
    assert f"touch {canary}" in inner[0]["call"]


def test_payload_in_a_second_pickle_after_a_harmless_one(tmp_path: Path) -> None:
    data, _, _ = malicious.second_pickle(str(tmp_path / "CANARY"))
    first, second = read_pickles(data)
    assert assess([first]).verdict == "safe"
    assert assess([first, second]).verdict == "unsafe"
    result = preview(_write(tmp_path / "two.pkl", data))
    assert "2 pickles" in result["summary"]


def test_memo_tricks_name_the_real_global() -> None:
    for build in (malicious.memo_binget, malicious.memo_dup_pop, malicious.memo_put_overwrite):
        data, name, _ = build("/nonexistent/CANARY")
        (one,) = read_pickles(data)
        assert [g.qualname for g in one.globals] == [name]


def test_a_pickle_named_pt_is_read_as_a_pickle(tmp_path: Path) -> None:
    canary = tmp_path / "CANARY"
    data, _, _ = malicious.os_system(str(canary))
    for suffix in (".pt", ".pth"):
        result = preview(_write(tmp_path / f"model{suffix}", data))
        assert result["kind"] == "pickle" and result["safety"]["verdict"] == "unsafe"
    assert not canary.exists()


def test_gzip_compressed_payload_names_its_compression(tmp_path: Path) -> None:
    data, _, _ = malicious.gzipped(str(tmp_path / "CANARY"))
    result = preview(_write(tmp_path / "model.pkl.gz", data))
    assert result["kind"] == "pickle" and result["compression"] == "gzip"
    assert result["summary"].startswith("Pickle (gzip)")


@pytest.mark.parametrize("payload", ["os_system", "memo_put_overwrite", "gzipped", "nested_loads"])
def test_cli_preview_reports_unsafe_in_a_subprocess(payload: str, tmp_path: Path) -> None:
    canary = tmp_path / "CANARY"
    data, name, _ = malicious.PAYLOADS[payload](str(canary))
    artifact = _write(tmp_path / "evil.pkl", data)
    run = subprocess.run(
        [sys.executable, "-m", "pyserver", "preview", "--json", str(artifact)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ},
    )
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["safety"]["verdict"] == "unsafe"
    assert any(f["global"] == name for f in result["safety"]["findings"])
    assert not canary.exists()


def test_extension_codes_are_never_safe() -> None:
    safety = assess(read_pickles(malicious.extension_code()))
    assert safety.verdict == "unknown"
    assert any("extension code 66" in f["message"] for f in safety.findings)


def test_non_string_stack_global_is_suspicious() -> None:
    safety = assess(read_pickles(malicious.non_string_stack_global()))
    assert safety.verdict == "unknown" and safety.findings[0]["global"] == "?.?"


@pytest.mark.parametrize(
    ("qualname", "severity"),
    [
        ("builtins.eval", "danger"),
        ("__builtin__.getattr", "danger"),
        ("os.path.join", "danger"),
        ("torch.hub.load", "danger"),
        ("torch.load", "danger"),
        ("numpy.load", "danger"),
        ("dill.loads", "danger"),
        ("joblib.load", "danger"),
        ("types.CodeType", "danger"),
        ("ctypes.CDLL", "danger"),
        ("pdb.run", "danger"),
        ("cProfile.run", "danger"),
        ("asyncio.subprocess.create_subprocess_shell", "danger"),
        ("_posixsubprocess.fork_exec", "danger"),
        ("shutil.rmtree", "danger"),
        ("socket.create_connection", "danger"),
        ("webbrowser.open", "danger"),
        ("numpy.__builtins__", "warning"),
        ("collections.OrderedDict", "safe"),
        ("numpy.core.multiarray._reconstruct", "safe"),
        ("numpy._core.multiarray._reconstruct", "safe"),
        ("torch._utils._rebuild_tensor_v2", "safe"),
        ("torch.FloatStorage", "safe"),
        ("torch.float32", "safe"),
        ("sklearn.linear_model.LogisticRegression", "warning"),
        ("posixpath.join", "warning"),
    ],
)
def test_classify(qualname: str, severity: str) -> None:
    module, _, name = qualname.rpartition(".")
    assert classify(Global(module, name))[0] == severity


def test_dunder_in_a_dotted_name_is_dangerous() -> None:
    assert classify(Global("numpy", "core.__builtins__.eval"))[0] == "danger"


# -- the safe side ----------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_plain_data_is_safe(protocol: int, tmp_path: Path) -> None:
    value = {
        "name": "run",
        "epochs": [1, 2, 3],
        "lr": 0.001,
        "when": datetime.datetime(2026, 1, 2, 3, 4, 5),
        "day": datetime.date(2026, 1, 2),
        "ordered": collections.OrderedDict(a=1),
        "tags": {"a", "b"},
        "frozen": frozenset({1}),
        "pair": (1, None, True),
        "raw": b"\x00\x01",
        "counts": collections.Counter("abca"),
        "queue": collections.deque([1, 2]),
        "by_default": collections.defaultdict(list, {"k": [1]}),
    }
    result = preview(_write(tmp_path / "data.pkl", pickle.dumps(value, protocol=protocol)))
    assert result["safety"] == {"verdict": "safe", "findings": []}


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_state_dict_of_numpy_arrays_is_safe(protocol: int, tmp_path: Path) -> None:
    state = collections.OrderedDict(
        (f"layer{i}.weight", np.ones((4, 3), dtype=np.float32) * i) for i in range(3)
    )
    state["step"] = np.int64(7)
    result = preview(_write(tmp_path / "state.pkl", pickle.dumps(state, protocol=protocol)))
    assert result["safety"]["verdict"] == "safe"


def test_pandas_frames_are_safe(tmp_path: Path) -> None:
    pandas = pytest.importorskip("pandas")
    frame = pandas.DataFrame({"a": [1, 2], "b": ["x", "y"], "c": [0.5, 1.5]})
    for protocol in (2, 4, 5):
        result = preview(_write(tmp_path / "frame.pkl", pickle.dumps(frame, protocol=protocol)))
        assert result["safety"]["verdict"] == "safe", result["safety"]


def test_user_class_is_unknown_and_named(tmp_path: Path) -> None:
    body = (
        malicious.sglob("sklearn.linear_model._logistic", "LogisticRegression")
        + b")\x81"
        + malicious.EMPTY_DICT
        + malicious.u("C")
        + b"G?\xf0\x00\x00\x00\x00\x00\x00s"
        + malicious.BUILD
    )
    result = preview(_write(tmp_path / "model.pkl", malicious.pkl(body)))
    assert result["safety"]["verdict"] == "unknown"
    found = finding_for(result, "sklearn.linear_model._logistic.LogisticRegression")
    assert found["severity"] == "warning"
    assert "LogisticRegression" in result["markdown"]


def test_truncated_pickle_is_never_safe(tmp_path: Path) -> None:
    data = pickle.dumps(list(range(100_000)), protocol=4)
    result = service.preview(
        Catalog(), file_uri(_write(tmp_path / "big.pkl", data)), Budget(max_bytes=64 * 1024)
    )
    assert result["truncated"] is True
    assert result["safety"]["verdict"] == "unknown"
    assert "read in part" in result["safety"]["findings"][0]["message"]


def test_truncated_payload_is_still_unsafe() -> None:
    data, _, _ = malicious.os_system("/nonexistent/CANARY")
    (cut,) = read_pickles(data[:-1])  # without STOP
    assert not cut.complete and assess([cut], truncated=True).verdict == "unsafe"


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path
