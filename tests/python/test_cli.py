"""The `aml-artifacts` command as a user runs it: a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from pyserver.uris import file_uri


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pyserver", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def test_ls_roots_from_config_file(small_workspace: Path, tmp_path: Path) -> None:
    config = tmp_path / "cfg.json"
    config.write_text(json.dumps({"localWorkspaces": [str(small_workspace)]}))
    result = cli("--config", str(config), "ls", "--json")
    assert result.returncode == 0, result.stderr
    assert [n["name"] for n in json.loads(result.stdout)["items"]] == ["small"]


def test_config_from_environment_as_inline_json(small_workspace: Path) -> None:
    env = {"AML_ARTIFACTS_CONFIG": json.dumps({"localWorkspaces": [str(small_workspace)]})}
    result = cli("ls", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("small\tworkspace")


def test_ls_a_plain_path_lists_runs_newest_first(small_workspace: Path) -> None:
    result = cli("ls", str(small_workspace / "experiments" / "exp"))
    assert [line.split("\t")[0] for line in result.stdout.splitlines()] == [
        "new",
        "pipe",
        "old run",
        "broken",
    ]


def test_preview_json_has_the_contract_fields(small_workspace: Path) -> None:
    notes = small_workspace / "experiments" / "exp" / "old" / "outputs" / "notes.txt"
    result = cli("preview", "--json", file_uri(notes))
    preview = json.loads(result.stdout)
    assert {"kind", "summary", "markdown", "safety", "bytesRead", "truncated"} <= preview.keys()
    assert preview["safety"]["verdict"] == "safe"


def test_download_then_refuse_to_clobber(small_workspace: Path, tmp_path: Path) -> None:
    model = "azureml:m:2"
    env = {"AML_ARTIFACTS_CONFIG": json.dumps({"localWorkspaces": [str(small_workspace)]})}
    first = cli("download", model, str(tmp_path), env=env)
    assert first.returncode == 0, first.stderr
    assert (tmp_path / "2" / "weights.bin").read_bytes() == b"\x00" * 10
    same = cli("download", model, str(tmp_path), env=env)  # identical: skipped
    assert same.returncode == 0 and "2 skipped" in same.stdout, same.stderr
    (tmp_path / "2" / "weights.bin").write_bytes(b"mine")
    second = cli("download", model, str(tmp_path), env=env)
    assert second.returncode == 1
    assert "already exist" in second.stderr and "Traceback" not in second.stderr
    assert "exists: 2/weights.bin" in second.stderr
    assert (tmp_path / "2" / "weights.bin").read_bytes() == b"mine"
    kept = cli("download", "--skip-existing", model, str(tmp_path), env=env)
    assert kept.returncode == 0 and (tmp_path / "2" / "weights.bin").read_bytes() == b"mine"
    replaced = cli("download", "--overwrite", model, str(tmp_path), env=env)
    assert replaced.returncode == 0
    assert (tmp_path / "2" / "weights.bin").read_bytes() == b"\x00" * 10


def test_errors_are_one_clear_line(tmp_path: Path) -> None:
    result = cli("preview", str(tmp_path / "missing.pkl"))
    assert result.returncode == 1
    assert result.stderr.startswith("aml-artifacts: ") and "does not exist" in result.stderr
    bad_config = cli("--config", str(tmp_path / "nope.json"), "ls")
    assert bad_config.returncode == 1 and "Cannot read configuration file" in bad_config.stderr


def test_server_imports_no_heavy_module() -> None:
    probe = (
        "import sys, pyserver.server, pyserver.cli; "
        "heavy = ('torch', 'h5py', 'numpy', 'azureml', 'adlfs', 'azure'); "
        "print([m for m in heavy if m in sys.modules])"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
