"""What the stand-in Azure ML service knows: workspaces, experiments, runs, artifacts, models
and datasets, seeded by the tests. Shapes follow azureml/_restclient/models/*.py."""

from __future__ import annotations

import bisect
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

EPOCH = datetime(2026, 1, 1, tzinfo=timezone.utc)


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class Run:
    run_id: str
    experiment: Experiment
    status: str = "Completed"
    start: datetime = EPOCH
    duration: timedelta | None = timedelta(minutes=5)
    display_name: str | None = None
    parent_id: str | None = None
    root_id: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    properties: dict[str, str] = field(default_factory=dict)
    run_type: str = "azureml.scriptrun"
    number: int = 0

    @property
    def end(self) -> datetime | None:
        return None if self.duration is None else self.start + self.duration

    def to_json(self) -> dict[str, Any]:
        return {
            "runNumber": self.number,
            "rootRunId": self.root_id or self.run_id,
            "experimentId": self.experiment.experiment_id,
            "createdUtc": iso(self.start - timedelta(seconds=30)),
            "userId": "user",
            "runId": self.run_id,
            "parentRunId": self.parent_id,
            "status": self.status,
            "startTimeUtc": iso(self.start),
            "endTimeUtc": iso(self.end),
            "name": None,
            "displayName": self.display_name,
            "dataContainerId": f"dcid.{self.run_id}",
            "description": None,
            "hidden": False,
            "runType": self.run_type,
            "properties": dict(self.properties),
            "target": "cpu-cluster",
            "tags": dict(self.tags),
        }


@dataclass
class Experiment:
    name: str
    experiment_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    created: datetime = EPOCH
    runs: dict[str, Run] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "experimentId": self.experiment_id,
            "name": self.name,
            "description": None,
            "createdUtc": iso(self.created),
            "archivedTime": None,
            "tags": {},
        }


@dataclass
class ModelVersion:
    name: str
    version: int
    origin: str
    container: str
    prefix: str  # the asset's artifact prefix inside (origin, container)
    framework: str | None = None
    framework_version: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    run_id: str | None = None
    experiment_name: str | None = None
    created: datetime = EPOCH
    description: str | None = None
    asset_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    @property
    def model_id(self) -> str:
        return f"{self.name}:{self.version}"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.model_id,
            "name": self.name,
            "framework": self.framework,
            "frameworkVersion": self.framework_version,
            "version": self.version,
            "url": f"aml://asset/{self.asset_id}",
            "mimeType": "application/octet-stream",
            "description": self.description,
            "createdTime": iso(self.created),
            "modifiedTime": iso(self.created),
            "unpack": False,
            "runId": self.run_id,
            "experimentName": self.experiment_name,
            "kvTags": dict(self.tags),
            "properties": {},
            "datasets": [],
            "derivedModelIds": [],
        }

    def asset_json(self) -> dict[str, Any]:
        return {
            "id": self.asset_id,
            "name": self.name,
            "type": "MLModel",
            "description": self.description,
            "artifacts": [{"prefix": f"{self.origin}/{self.container}/{self.prefix}"}],
            "kvTags": dict(self.tags),
            "properties": {},
            "runid": self.run_id,
            "meta": {},
            "createdTime": iso(self.created),
        }


@dataclass
class DatasetVersion:
    version: int
    datastore: str
    relative_path: str
    file_type: str = "GenericCSV"
    created: datetime = EPOCH
    notes: str | None = None


@dataclass
class Dataset:
    name: str
    dataset_type: str  # "file" | "tabular"
    versions: list[DatasetVersion] = field(default_factory=list)
    dataset_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    description: str | None = None
    tags: dict[str, str] = field(default_factory=dict)

    def definition_json(self, version: DatasetVersion) -> dict[str, Any]:
        return {
            "datasetId": self.dataset_id,
            "versionId": str(version.version),
            "datasetDefinitionState": {"state": "active"},
            "dataflow": "{}",
            "dataPath": {
                "datastoreName": version.datastore,
                "relativePath": version.relative_path,
            },
            "notes": version.notes,
            "etag": f"etag-{version.version}",
            "createdTime": iso(version.created),
            "modifiedTime": iso(version.created),
            "fileType": version.file_type,
            "properties": {},
        }

    def to_json(self, version: DatasetVersion | None = None) -> dict[str, Any]:
        latest = version or max(self.versions, key=lambda v: v.version)
        return {
            "datasetId": self.dataset_id,
            "datasetState": {"state": "active"},
            "latest": self.definition_json(latest),
            "createdTime": iso(EPOCH),
            "modifiedTime": iso(latest.created),
            "etag": "etag",
            "name": self.name,
            "description": self.description,
            "tags": dict(self.tags),
            "isVisible": True,
            "datasetType": self.dataset_type,
        }


@dataclass
class Datastore:
    """A registered datastore. `endpoint` is the storage suffix ("core.windows.net"), or
    "<host>:<port>" of a storage emulator (Azurite); the secret is returned only by `get`
    (and by `list` with includeSecret=true), as the service does."""

    name: str
    container: str
    account_name: str = "devstoreaccount1"
    store_type: str = "AzureBlob"
    endpoint: str = "core.windows.net"
    protocol: str = "https"
    account_key: str | None = field(default=None, repr=False)
    sas_token: str | None = field(default=None, repr=False)
    is_default: bool = False

    def to_json(self, include_secret: bool = True) -> dict[str, Any]:
        credential_type = "AccountKey" if self.account_key else "Sas" if self.sas_token else "None"
        section: dict[str, Any] = {
            "accountName": self.account_name,
            "containerName": self.container,
            "endpoint": self.endpoint,
            "protocol": self.protocol,
            "credentialType": credential_type,
            "isSas": bool(self.sas_token),
        }
        if include_secret:
            section["accountKey"] = self.account_key
            section["sasToken"] = self.sas_token
            section["credential"] = self.account_key or self.sas_token
        raw: dict[str, Any] = {
            "name": self.name,
            "dataStoreType": self.store_type,
            "isDefault": self.is_default,
            "hasBeenValidated": True,
            "tags": {},
        }
        if self.store_type in ("AzureBlob", "AzureFile", "AzureDataLakeGen2"):
            raw["azureStorageSection"] = section
        elif self.store_type == "AzureSqlDatabase":
            raw["azureSqlDatabaseSection"] = {"serverName": "sql", "databaseName": self.container}
        return raw


class Workspace:
    """One workspace's content. Artifacts are paths per (origin, container), kept sorted like
    the service lists them; their bytes (when a test reads them) live in Azurite under
    `<origin>/<container>/<path>` of the workspace's artifact container."""

    def __init__(self, subscription: str, resource_group: str, name: str) -> None:
        self.subscription = subscription
        self.resource_group = resource_group
        self.name = name
        self.workspace_id = str(uuid.uuid4())
        self.experiments: dict[str, Experiment] = {}
        self.artifacts: dict[tuple[str, str], list[str]] = {}
        self.models: list[ModelVersion] = []
        self.datasets: dict[str, Dataset] = {}
        self.datastores: dict[str, Datastore] = {}

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.subscription.lower(), self.resource_group.lower(), self.name.lower())

    # -- seeding -------------------------------------------------------------------------

    def experiment(self, name: str) -> Experiment:
        if name not in self.experiments:
            self.experiments[name] = Experiment(name, created=EPOCH)
        return self.experiments[name]

    def add_run(self, experiment: str, run_id: str, **fields: Any) -> Run:
        exp = self.experiment(experiment)
        parent = fields.get("parent_id")
        if parent and "root_id" not in fields:
            fields["root_id"] = exp.runs[parent].root_id or parent
        run = Run(run_id, exp, number=len(exp.runs) + 1, **fields)
        exp.runs[run_id] = run
        return run

    def add_artifacts(self, origin: str, container: str, paths: list[str]) -> None:
        listing = self.artifacts.setdefault((origin, container), [])
        for path in paths:
            index = bisect.bisect_left(listing, path)
            if index == len(listing) or listing[index] != path:
                listing.insert(index, path)

    def add_run_artifacts(self, run_id: str, paths: list[str]) -> None:
        self.add_artifacts("ExperimentRun", f"dcid.{run_id}", paths)

    def add_model(self, model: ModelVersion) -> ModelVersion:
        self.models.append(model)
        return model

    def add_dataset(self, dataset: Dataset) -> Dataset:
        self.datasets[dataset.name] = dataset
        return dataset

    def add_datastore(self, datastore: Datastore) -> Datastore:
        self.datastores[datastore.name] = datastore
        return datastore

    # -- queries -------------------------------------------------------------------------

    def find_run(self, run_id: str) -> Run | None:
        for experiment in self.experiments.values():
            if run_id in experiment.runs:
                return experiment.runs[run_id]
        return None

    def experiment_by_id(self, experiment_id: str) -> Experiment | None:
        for experiment in self.experiments.values():
            if experiment.experiment_id == experiment_id:
                return experiment
        return None

    def list_artifacts(self, origin: str, container: str, prefix: str) -> list[str]:
        listing = self.artifacts.get((origin, container), [])
        start = bisect.bisect_left(listing, prefix)
        stop = bisect.bisect_left(listing, prefix + "\U0010ffff")
        return listing[start:stop]
