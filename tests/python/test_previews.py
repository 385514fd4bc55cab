"""Previews of files written by the real libraries (the demo workspace) and of bad input."""

import pickletools
from pathlib import Path

import pytest

from pyserver import service
from pyserver.backends import Catalog
from pyserver.errors import CorruptArtifact
from pyserver.previews.budget import Budget
from pyserver.previews.markdown import code_span, escape
from pyserver.uris import file_uri


def newest_completed_run(workspace: Path) -> Path:
    catalog = Catalog()
    runs = catalog.children(file_uri(workspace / "experiments" / "train-classifier")).items
    run = next(r for r in runs if r.status == "Completed")
    return Path(run.uri.removeprefix("file://"))


def preview(path: Path, **budget: int) -> dict[str, object]:
    return service.preview(Catalog(), file_uri(path), Budget(**budget))


@pytest.mark.parametrize(
    ("relative", "kind", "verdict", "text"),
    [
        ("outputs/data/my_data.hdf5", "hdf5", "safe", "`my_dataset` dataset 1000×100 float64"),
        ("outputs/models/my_model.pkl", "pickle", "safe", "Pickle (protocol"),
        ("outputs/simple_model_weights.pth", "torch-zip", "safe", "PyTorch checkpoint (zip)"),
        ("outputs/simple_model.pth", "torch-zip", "unknown", "SimpleNet"),
        ("outputs/model_scripted.pt", "torchscript", "unknown", "TorchScript archive"),
        ("outputs/untrusted/evil.pkl", "pickle", "unsafe", "system"),
        ("outputs/metrics.csv", "csv", "safe", "epoch"),
    ],
)
def test_detects_and_summarises_demo_files(
    demo_workspace: Path, relative: str, kind: str, verdict: str, text: str
) -> None:
    result = preview(newest_completed_run(demo_workspace) / relative)
    assert result["kind"] == kind
    assert result["safety"]["verdict"] == verdict  # type: ignore[index]
    assert text in result["summary"] or text in result["markdown"]  # type: ignore[operator]
    assert 0 < result["bytesRead"] <= 1 << 20  # type: ignore[operator]


def test_evil_pickle_is_reported_and_never_run(demo_workspace: Path, tmp_path: Path) -> None:
    evil = newest_completed_run(demo_workspace) / "outputs" / "untrusted" / "evil.pkl"
    ops = {op.name for op, _, _ in pickletools.genops(evil.read_bytes())}
    assert "REDUCE" in ops  # it really is a payload
    result = preview(evil)
    (finding,) = result["safety"]["findings"]  # type: ignore[index]
    assert finding["severity"] == "danger" and finding["global"].endswith(".system")
    assert "UNSAFE" in result["markdown"]  # type: ignore[operator]


def test_format_comes_from_bytes_not_the_name(tmp_path: Path) -> None:
    fake = tmp_path / "model.pth"
    fake.write_text("just text\n")
    assert preview(fake)["kind"] == "text"


def test_truncated_hdf5_gets_a_clear_error(demo_workspace: Path, tmp_path: Path) -> None:
    source = (
        newest_completed_run(demo_workspace) / "outputs" / "data" / "my_data.hdf5"
    ).read_bytes()
    cut = tmp_path / "cut.h5"
    cut.write_bytes(source[:3000])
    with pytest.raises(CorruptArtifact, match="truncated or corrupt"):
        preview(cut)


def test_byte_budget_is_honoured_and_reported(tmp_path: Path) -> None:
    import pickle

    big = tmp_path / "big.pkl"
    big.write_bytes(pickle.dumps(list(range(200_000))))
    result = preview(big, max_bytes=64 * 1024)
    assert result["truncated"] is True
    assert result["bytesRead"] <= 64 * 1024  # type: ignore[operator]


def test_run_preview_shows_status_and_metrics(demo_workspace: Path) -> None:
    result = preview(newest_completed_run(demo_workspace))
    assert result["kind"] == "run"
    assert "Completed" in result["markdown"] and "**metrics**" in result["markdown"]  # type: ignore[operator]


def test_artifact_strings_are_escaped(tmp_path: Path) -> None:
    assert escape("<img src=x onerror=alert(1)>") == "\\<img src=x onerror=alert\\(1\\)\\>"
    assert escape("[click](http://evil)") == "\\[click\\]\\(http\\:\\/\\/evil\\)".replace(
        "\\/", "/"
    )
    assert code_span("a`b") == "``a`b``"
    hostile = tmp_path / "<script>alert(1)<script>.txt"
    hostile.write_text("x")
    assert "<script>" not in preview(hostile)["markdown"]  # type: ignore[operator]


class VanishingReader:
    """A file deleted between open and read, as a remote blob can be."""

    size = 100

    def read_range(self, offset: int, length: int) -> bytes:
        raise FileNotFoundError(2, "No such file or directory")

    def close(self) -> None:
        pass


def test_file_vanishing_mid_preview_is_not_found_not_corrupt() -> None:
    from pyserver.errors import NotFound
    from pyserver.previews.preview import preview_file

    with pytest.raises(NotFound, match="no longer exists"):
        preview_file("file:///x.pkl", "x.pkl", VanishingReader(), Budget())


def test_summary_is_plain_text_escaped_once_in_markdown(tmp_path: Path) -> None:
    import numpy as np

    path = tmp_path / "a.npy"
    np.save(path, np.zeros((2, 3), dtype="<f8"))
    result = preview(path)
    assert result["summary"].startswith("NumPy array · <f8 · shape (2, 3)")  # type: ignore[union-attr]
    assert "\\\\" not in result["markdown"]  # type: ignore[operator]
    assert "\\<f8" in result["markdown"]  # type: ignore[operator]
