"""Fuzzing the torch readers on mutated real checkpoints: whatever the bytes, preview_file
either returns a preview or raises CorruptArtifact, quickly. Nothing else escapes."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyserver.errors import CorruptArtifact
from pyserver.previews.budget import Budget, BudgetedReader, BudgetExceeded
from pyserver.previews.preview import preview_file
from pyserver.previews.torchfiles import (
    TorchFormatError,
    preview_torch_legacy,
    preview_torch_zip,
)

torch = pytest.importorskip("torch")

PER_EXAMPLE_SECONDS = 1.0
FUZZ = settings(
    max_examples=300,
    derandomize=True,
    deadline=None,  # timed by hand below, with the budget's own bound
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)


class BytesReader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.size = len(data)

    def read_range(self, offset: int, length: int) -> bytes:
        return self.data[offset : offset + length]

    def close(self) -> None:
        pass


def _write_samples(root: Path) -> dict[str, bytes]:
    from pyserver.demo.models import SimpleNet

    torch.manual_seed(0)
    net = SimpleNet()
    base = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    samples = {
        "state": net.state_dict(),
        "mixed": {
            "epoch": 2,
            "views": [base, base.T, base[1:, 2:]],
            "half": torch.ones(3, dtype=torch.bfloat16),
            "flags": torch.tensor([True, False]),
        },
    }
    out: dict[str, bytes] = {}
    for name, value in samples.items():
        torch.save(value, root / f"{name}.pt")
        out[name] = (root / f"{name}.pt").read_bytes()
    torch.save(samples["mixed"], root / "legacy.pt", _use_new_zipfile_serialization=False)
    out["legacy"] = (root / "legacy.pt").read_bytes()
    torch.save(net, root / "model.pt")
    out["model"] = (root / "model.pt").read_bytes()
    return out


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    return _write_samples(tmp_path_factory.mktemp("torchfuzz"))


def _check(data: bytes) -> None:
    started = time.monotonic()
    try:
        result: dict[str, Any] = preview_file("file:///f.pt", "f.pt", BytesReader(data), Budget())
    except CorruptArtifact:
        pass
    else:
        assert result["safety"]["verdict"] in ("safe", "unsafe", "unknown")
        assert isinstance(result["markdown"], str)
    assert time.monotonic() - started < PER_EXAMPLE_SECONDS
    # The torch readers themselves (without the zip listing in front of them) raise only
    # their own documented errors, never an IndexError or struct.error from deep inside.
    budgeted = BudgetedReader(BytesReader(data), Budget())
    with contextlib.suppress(TorchFormatError, BudgetExceeded):
        if data[:2] == b"PK":
            preview_torch_zip(budgeted)
        else:
            preview_torch_legacy(budgeted, "torch-legacy")


mutation = st.lists(
    st.tuples(st.floats(0, 1, exclude_max=True), st.binary(min_size=1, max_size=8)),
    min_size=1,
    max_size=6,
)


def _mutate(data: bytes, edits: list[tuple[float, bytes]]) -> bytes:
    out = bytearray(data)
    for where, patch in edits:
        at = int(where * len(out))
        out[at : at + len(patch)] = patch
    return bytes(out)


@pytest.mark.parametrize("name", ["state", "mixed", "legacy", "model"])
def test_mutated_checkpoints(samples: dict[str, bytes], name: str) -> None:
    data = samples[name]

    @FUZZ
    @given(edits=mutation)
    def run(edits: list[tuple[float, bytes]]) -> None:
        _check(_mutate(data, edits))

    run()


@pytest.mark.parametrize("name", ["state", "legacy"])
def test_mutations_of_structure(samples: dict[str, bytes], name: str) -> None:
    """Where the interesting bytes are: the pickle, the headers and the directory."""
    data = samples[name]
    targets = [i for i in range(len(data) - 4) if data[i : i + 2] == b"PK"] or [0]

    @FUZZ
    @given(
        st.sampled_from(targets),
        st.integers(0, 45),
        st.binary(min_size=1, max_size=4),
        st.integers(0, len(data)),
    )
    def run(target: int, delta: int, patch: bytes, cut: int) -> None:
        mutated = bytearray(data)
        at = min(target + delta, len(mutated) - 1)
        mutated[at : at + len(patch)] = patch
        _check(bytes(mutated))
        _check(bytes(mutated[:cut]))

    run()
