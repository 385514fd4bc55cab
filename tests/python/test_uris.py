from pathlib import Path

import pytest

from pyserver.errors import InvalidParams
from pyserver.uris import DatastorePath, LocalPath, ModelVersion, RunArtifact, file_uri, parse_uri


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("azureml://datastores/blob/paths/a/b.csv", DatastorePath("blob", "a/b.csv")),
        (
            "azureml://subscriptions/s/resourcegroups/rg/workspaces/w/datastores/blob/paths/x/",
            DatastorePath("blob", "x", "s/rg/w"),
        ),
        (
            "azureml://jobs/run_1/outputs/artifacts/paths/outputs/m.pkl",
            RunArtifact("run_1", "outputs/m.pkl"),
        ),
        ("runs:/run_1/outputs/model.pth", RunArtifact("run_1", "outputs/model.pth")),
        ("azureml:simple-torch-model:2", ModelVersion("simple-torch-model", "2")),
        ("file:///data/my%20ws/x.pkl", LocalPath(Path("/data/my ws/x.pkl"))),
        ("/data/a/../b.h5", LocalPath(Path("/data/b.h5"))),
    ],
)
def test_parses_every_documented_form(text: str, expected: object) -> None:
    assert parse_uri(text) == expected


def test_relative_paths_resolve_against_cwd(tmp_path: Path) -> None:
    assert parse_uri("outputs/x.pkl", cwd=tmp_path) == LocalPath(tmp_path / "outputs" / "x.pkl")


@pytest.mark.parametrize("text", ["", "   ", "s3://bucket/key", "a\x00b", "file://otherhost/x"])
def test_rejects_what_it_cannot_address(text: str) -> None:
    with pytest.raises(InvalidParams):
        parse_uri(text)


def test_file_uri_round_trips_hostile_names(tmp_path: Path) -> None:
    path = tmp_path / "we ird#%?name"
    assert parse_uri(file_uri(path)) == LocalPath(path)
