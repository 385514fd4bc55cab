"""A whole stand-in Azure ML environment for tests, benchmarks and the e2e harness: Azurite
holds the artifact bytes, the stand-in service answers azureml-core, the stand-in `az` signs
in. `environment()` is what a process needs to talk to them and to nothing else."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest

from .fake_az import FakeAz
from .service import AmlStandin
from .state import EPOCH, Dataset, DatasetVersion, Datastore, ModelVersion, Workspace

SUBSCRIPTION = "11111111-2222-3333-4444-555555555555"
RESOURCE_GROUP = "rg-ml"
WORKSPACE = "ws-main"
WS_URI = (
    f"azureml://subscriptions/{SUBSCRIPTION}/resourcegroups/{RESOURCE_GROUP}/workspaces/{WORKSPACE}"
)
ARTIFACT_CONTAINER = "azureml"
MANY_RUNS = 2000
MANY_FILES = 10_000
# Blobs of the workspace's default datastore (the artifact container) that datasets name.
DATASTORE_FILES = {
    "iris/v1/iris.csv": b"sepal_length,species\n5.1,setosa\n",
    "iris/v2/iris.csv": b"sepal_length,species\n5.1,setosa\n4.9,setosa\n",
}


def dead_port() -> int:
    """A local port nothing listens on (bound then closed): a proxy that refuses."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class AmlEnvironment:
    standin: AmlStandin
    az: FakeAz
    workspace: Workspace
    home: Path
    connection_string: str

    def environment(self, path: str) -> dict[str, str]:
        """Variables for a process using the stand-ins: `path` is the PATH to extend. Every
        HTTP(S) request to a non-local host goes to a dead local proxy and fails."""
        proxy = f"http://127.0.0.1:{dead_port()}"
        return {
            **self.standin.environment(),
            "PATH": f"{self.az.bin_dir}:{path}",
            "HOME": str(self.home),
            "AZURE_CONFIG_DIR": str(self.home / ".azure"),
            "HTTP_PROXY": proxy,
            "HTTPS_PROXY": proxy,
            "http_proxy": proxy,
            "https_proxy": proxy,
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
        }

    def workspace_setting(self) -> dict[str, str]:
        return {"subscriptionId": SUBSCRIPTION, "resourceGroup": RESOURCE_GROUP, "name": WORKSPACE}

    def register_datastore(
        self, name: str, container: str, credential: str = "key", default: bool = False
    ) -> Datastore:
        """Register an Azurite container as a blob datastore of the workspace, with the
        account key (`credential="key"`), a read + list container SAS ("sas") or no secret
        ("none": identity-based). Its endpoint is Azurite's `host:port` (an emulator)."""
        return self.workspace.add_datastore(
            emulator_datastore(self.connection_string, name, container, credential, default)
        )


def emulator_datastore(
    connection_string: str, name: str, container: str, credential: str, default: bool = False
) -> Datastore:
    from azure.storage.blob import ContainerSasPermissions, generate_container_sas

    fields = dict(part.split("=", 1) for part in connection_string.split(";") if "=" in part)
    endpoint = urlsplit(fields["BlobEndpoint"])
    account, key = fields["AccountName"], fields["AccountKey"]
    sas = None
    if credential == "sas":
        sas = generate_container_sas(
            account,
            container,
            account_key=key,
            permission=ContainerSasPermissions(read=True, list=True),
            expiry=datetime.now(timezone.utc) + timedelta(hours=2),
        )
    return Datastore(
        name,
        container,
        account,
        endpoint=endpoint.netloc,
        protocol=endpoint.scheme,
        account_key=key if credential == "key" else None,
        sas_token=sas,
        is_default=default,
    )


@contextmanager
def aml_environment(
    folder: Path, connection_string: str, files: dict[str, bytes | Path]
) -> Iterator[AmlEnvironment]:
    """Seed a workspace (see `seed`), upload `files` (artifact blob name → content) to the
    Azurite of `connection_string`, and serve."""
    from azure.storage.blob import BlobSasPermissions, BlobServiceClient, generate_blob_sas

    service = BlobServiceClient.from_connection_string(connection_string)
    container = service.get_container_client(ARTIFACT_CONTAINER)
    if not container.exists():
        container.create_container()
    for name, content in files.items():
        if isinstance(content, Path):
            with content.open("rb") as stream:
                container.upload_blob(name, stream, overwrite=True, max_concurrency=4)
        else:
            container.upload_blob(name, content, overwrite=True)
    account = service.account_name
    key = service.credential.account_key
    base = f"{service.url.rstrip('/')}/{ARTIFACT_CONTAINER}"

    def signed(blob: str) -> str:
        sas = generate_blob_sas(
            account,
            ARTIFACT_CONTAINER,
            blob,
            account_key=key,
            permission=BlobSasPermissions(read=True),
            expiry=datetime.now(timezone.utc) + timedelta(hours=2),
        )
        return f"{base}/{quote(blob, safe='/')}?{sas}"

    az = FakeAz(folder / "az")
    home = folder / "home"
    home.mkdir(parents=True, exist_ok=True)
    for name, content in DATASTORE_FILES.items():
        container.upload_blob(name, content, overwrite=True)
    with AmlStandin(blob_sas=signed) as standin:
        workspace = seed(standin)
        env = AmlEnvironment(standin, az, workspace, home, connection_string)
        env.register_datastore("workspaceblobstore", ARTIFACT_CONTAINER, default=True)
        yield env


@contextmanager
def served_workspace(
    folder: Path,
    connection_string: str,
    files: dict[str, bytes | Path],
    timeout_s: float = 5,
    **variables: str,
) -> Iterator[AmlEnvironment]:
    """`aml_environment`, with this process's environment pointed at it while it serves: the
    stand-in `az` first on PATH, every non-local host behind a dead proxy, Azure ML requests
    timing out after `timeout_s`, plus `variables`."""
    with (
        aml_environment(folder, connection_string, files) as env,
        pytest.MonkeyPatch.context() as patch,
    ):
        environment = {
            **env.environment(os.environ["PATH"]),
            "AML_ARTIFACTS_REQUEST_TIMEOUT_S": str(timeout_s),
            **variables,
        }
        for name, value in environment.items():
            patch.setenv(name, value)
        yield env


def seed(standin: AmlStandin) -> Workspace:
    """The workspace every test browses:

    - experiment `many`: MANY_RUNS runs, newest `many-1999`, statuses cycling Completed,
      Failed, Completed, Canceled, Running, tags from `_sweep_tags`;
    - experiment `pipelines`: `pipe-1` with steps `pipe-1-prep`, `pipe-1-train`, `pipe-1-eval`;
    - experiment `train`: `train-1` (outputs/data.h5, outputs/notes.txt, outputs/sub/deep/x.txt,
      logs/std_log.txt) and `train-big` (MANY_FILES files in outputs/, plus outputs/zz/last.txt);
    - models `classifier` 1-3 (PyTorch, from train-1's outputs/) and `notes` 1 (one file);
    - datasets `iris` (tabular, 2 versions, on `workspaceblobstore`, registered by
      aml_environment over the artifact container) and `nested` (file, on datastore `remote`,
      which tests register with `AmlEnvironment.register_datastore`)."""
    ws = standin.add_workspace(SUBSCRIPTION, RESOURCE_GROUP, WORKSPACE)
    statuses = ["Completed", "Failed", "Completed", "Canceled", "Running"]
    for index in range(MANY_RUNS):
        ws.add_run(
            "many",
            f"many-{index:04d}",
            start=EPOCH + timedelta(minutes=index),
            status=statuses[index % len(statuses)],
            duration=None if index % 5 == 4 else timedelta(seconds=30 + index),
            display_name=f"sweep {index}",
            tags=_sweep_tags(index),
        )
    ws.add_run(
        "pipelines", "pipe-1", start=EPOCH + timedelta(days=2), run_type="azureml.PipelineRun"
    )
    for offset, step in enumerate(("prep", "train", "eval")):
        ws.add_run(
            "pipelines",
            f"pipe-1-{step}",
            parent_id="pipe-1",
            start=EPOCH + timedelta(days=2, minutes=1 + offset),
            display_name=step,
        )
    ws.add_run("train", "train-1", start=EPOCH + timedelta(days=3), display_name="first training")
    ws.add_run_artifacts(
        "train-1",
        ["outputs/data.h5", "outputs/notes.txt", "outputs/sub/deep/x.txt", "logs/std_log.txt"],
    )
    ws.add_run("train", "train-big", start=EPOCH + timedelta(days=4))
    ws.add_run_artifacts(
        "train-big",
        [f"outputs/file-{i:05d}.txt" for i in range(MANY_FILES)] + ["outputs/zz/last.txt"],
    )
    for version in (1, 2, 3):
        ws.add_model(
            ModelVersion(
                "classifier",
                version,
                "ExperimentRun",
                "dcid.train-1",
                "outputs",
                framework="PyTorch",
                framework_version="2.13.0",
                tags={"stage": "prod" if version == 3 else "dev"},
                run_id="train-1",
                experiment_name="train",
                created=EPOCH + timedelta(days=3, hours=version),
            )
        )
    ws.add_model(
        ModelVersion(
            "notes", 1, "ExperimentRun", "dcid.train-1", "outputs/notes.txt", framework="Custom"
        )
    )
    ws.add_dataset(
        Dataset(
            "iris",
            "tabular",
            [
                DatasetVersion(1, "workspaceblobstore", "iris/v1/iris.csv"),
                DatasetVersion(2, "workspaceblobstore", "iris/v2/iris.csv", notes="cleaned"),
            ],
        )
    )
    ws.add_dataset(Dataset("nested", "file", [DatasetVersion(1, "remote", "nested")]))
    return ws


def _sweep_tags(index: int) -> dict[str, str]:
    """`parity` on every run, `best` on every 500th, `owner/team` (a name the run history
    query cannot spell) on every 250th from the 7th."""
    tags = {"parity": "odd" if index % 2 else "even"}
    if index % 500 == 0:
        tags["best"] = "yes"
    if index % 250 == 7:
        tags["owner/team"] = "vision"
    return tags


def artifact_blob(run_id: str, path: str) -> str:
    return f"ExperimentRun/dcid.{run_id}/{path}"


__all__ = [
    "AmlEnvironment",
    "aml_environment",
    "artifact_blob",
    "dead_port",
    "emulator_datastore",
    "seed",
]
