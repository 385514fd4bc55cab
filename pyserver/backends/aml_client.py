"""One Azure ML workspace through azureml-core (SDK v1): the few REST calls the tree needs,
one page at a time, with the service's own continuation tokens, and the SDK's failures
turned into messages the user can act on.

azureml-core's generated REST client (the one its Experiment, Run and Model classes use) is
called directly so that every listing is one request for one page: the high-level helpers
(`Experiment.get_runs`, `Run.get_file_names`) walk every page before returning.
azureml is imported on first use, in the calling thread (never on the request loop)."""

from __future__ import annotations

import logging
import os
import re
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, NoReturn

from ..config import WorkspaceConfig
from ..errors import ArtifactError, InvalidParams, NotFound, PermissionDenied, Unavailable
from ..model import RunFilter
from .aml_auth import SIGN_IN_ADVICE, NotSignedIn, TokenProvider, azureml_authentication

log = logging.getLogger(__name__)

TIMEOUT_ENV = "AML_ARTIFACTS_REQUEST_TIMEOUT_S"
DEFAULT_TIMEOUT_S = 30.0
REQUEST_RETRIES = 1
ARTIFACT_ORIGIN = "ExperimentRun"


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    experiment_id: str | None
    status: str | None
    display_name: str | None
    start: datetime | None
    end: datetime | None
    created: datetime | None
    parent_id: str | None
    root_id: str | None
    data_container_id: str
    run_type: str | None
    tags: dict[str, str] = field(default_factory=dict)
    properties: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelInfo:
    name: str
    version: int
    framework: str | None
    framework_version: str | None
    url: str | None
    run_id: str | None
    experiment_name: str | None
    description: str | None
    created: datetime | None
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DatasetInfo:
    dataset_id: str
    name: str
    dataset_type: str | None
    description: str | None
    latest_version: str | None
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DatasetVersionInfo:
    dataset_id: str
    version: str
    datastore: str | None
    path: str | None
    file_type: str | None
    created: datetime | None
    notes: str | None


@dataclass(frozen=True)
class DatastoreInfo:
    """A datastore registered in the workspace. The secret (an account key or a SAS token) is
    set only when the service returned it (`datastore(name)`); never logged, never kept on
    disk (repr leaves it out)."""

    name: str
    store_type: str  # "AzureBlob", "AzureDataLakeGen2", "AzureFile", "AzureSqlDatabase", ...
    account_name: str | None
    container: str | None
    endpoint: str | None  # "core.windows.net", or "<host>:<port>" of a storage emulator
    protocol: str | None
    credential_type: str | None
    account_key: str | None = field(default=None, repr=False)
    sas_token: str | None = field(default=None, repr=False)

    @property
    def is_blob(self) -> bool:
        """Readable through the blob API (an ADLS Gen2 file system is a blob container)."""
        return self.store_type in BLOB_DATASTORE_TYPES and bool(
            self.account_name and self.container
        )


BLOB_DATASTORE_TYPES = ("AzureBlob", "AzureDataLakeGen2")


_ODATA_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,256}$")


def run_filter_expression(run_filter: RunFilter) -> tuple[str | None, bool]:
    """The run history query filter for what of `run_filter` the service can apply, in the
    OData subset azureml-core's `Experiment.get_runs` sends (`(Status eq X or ...)`,
    `(Tags/k eq "v")`, a tag's existence as it spells it), and whether that is all of it. A
    tag name or value that does not fit is left out (the caller filters the runs it gets)."""
    exact = True
    clauses = []
    if run_filter.statuses:
        clauses.append("(" + " or ".join(f"Status eq {s}" for s in run_filter.statuses) + ")")
    key, value = run_filter.tag_key, run_filter.tag_value
    if key is not None and _ODATA_NAME.match(key):
        if value is None:
            clauses.append(f"(Tags/{key} ne null or Tags/{key} eq null)")
        elif '"' not in value and "\\" not in value:
            clauses.append(f'(Tags/{key} eq "{value}")')
        else:
            exact = False
    elif key is not None:
        exact = False
    return " and ".join(clauses) or None, exact


def request_timeout() -> float:
    raw = os.environ.get(TIMEOUT_ENV, "").strip()
    try:
        value = float(raw) if raw else DEFAULT_TIMEOUT_S
    except ValueError:
        value = DEFAULT_TIMEOUT_S
    return value if value > 0 else DEFAULT_TIMEOUT_S


class AmlClient:
    """azureml-core for one workspace. Thread-safe: the REST clients are made once."""

    def __init__(self, config: WorkspaceConfig, tokens: TokenProvider) -> None:
        self.config = config
        self.tokens = tokens
        self._lock = threading.Lock()
        self._workspace: Any = None
        self._clients: dict[str, Any] = {}

    @property
    def label(self) -> str:
        return f"workspace {self.config.name}"

    # -- azureml-core objects ------------------------------------------------------------

    def _rest(self, service: str) -> Any:
        """azureml-core's REST client for "history", "artifacts", "models" or "datasets"."""
        with self._lock:
            client = self._clients.get(service)
            if client is not None:
                return client
            workspace = self._sdk_workspace()
        context = workspace.service_context
        getter = {
            "history": context._get_run_history_restclient,
            "artifacts": context._get_artifacts_restclient,
            "models": context._get_modelmanagement_restclient,
            "datasets": context._get_run_history_restclient,  # datasets share the history host
        }[service]
        client = getter()
        config = client.config
        config.connection.timeout = request_timeout()
        config.retry_policy.retries = REQUEST_RETRIES
        config.retry_policy.backoff_factor = 0.5
        config.retry_policy.policy.raise_on_status = False  # the last answer, with its status
        with self._lock:
            self._clients[service] = client
        return client

    def _sdk_workspace(self) -> Any:
        if self._workspace is None:
            os.environ.setdefault("AZUREML_DEFAULT_RETRIES", "1")  # discovery: no 32 s backoff
            logging.getLogger("azureml").setLevel(logging.WARNING)
            logging.getLogger("msrest").setLevel(logging.WARNING)
            try:
                from azureml.core import Workspace
            except ImportError:
                raise ArtifactError(
                    "Azure ML workspaces need azureml-core: "
                    "pip install 'azureml-artifact-explorer[azure]'."
                ) from None
            config = self.config
            self._workspace = Workspace(
                config.subscription_id,
                config.resource_group,
                config.name,
                auth=azureml_authentication(self.tokens),
                _disable_service_check=True,
            )
        return self._workspace

    def _scope(self) -> tuple[str, str, str]:
        config = self.config
        return config.subscription_id, config.resource_group, config.name

    def call(self, service: str, operation: str, *args: Any, what: str, **kwargs: Any) -> Any:
        """One REST operation of azureml-core (`client.<group>.<operation>`), errors mapped.
        `what` names the object for a 404 ("experiment train")."""
        try:
            group, _, name = operation.partition(".")
            client = self._rest(service)
            return getattr(getattr(client, group), name)(*self._scope(), *args, **kwargs)
        except ArtifactError:
            raise
        except Exception as error:
            self._raise(error, what)

    # -- operations ----------------------------------------------------------------------

    def probe(self) -> None:
        """One cheap call that needs access to the workspace: sign-in, access, existence."""
        self.experiments_page(None, 1)

    def experiments_page(self, token: str | None, size: int) -> tuple[list[Any], str | None]:
        from azureml._restclient.models import ExperimentQueryParamsDto

        # As azureml-core's Experiment.list asks (the service may ignore `top`: its own page
        # size, with a continuation token, is what we return).
        query = ExperimentQueryParamsDto(continuation_token=token, top=size, view_type="ActiveOnly")
        page = self.call("history", "experiment.get_by_query", query_params=query, what=self.label)
        return list(page.value or []), page.continuation_token

    def runs_page(
        self, experiment: str, token: str | None, size: int, filter_expression: str | None = None
    ) -> tuple[list[RunInfo], str | None]:
        from azureml._restclient.models import QueryParamsDto

        top_level = "(ParentRunId eq null)"
        expression = f"{top_level} and {filter_expression}" if filter_expression else top_level
        query = QueryParamsDto(
            filter=expression, continuation_token=token, orderby="StartTimeUtc desc", top=size
        )
        page = self.call(
            "history",
            "run.get_by_query",
            experiment,
            query_params=query,
            what=f"experiment {experiment}",
        )
        return [_run(dto) for dto in page.value or []], page.continuation_token

    def child_runs_page(
        self, experiment: str, run_id: str, token: str | None, size: int
    ) -> tuple[list[RunInfo], str | None]:
        page = self.call(
            "history",
            "run.get_child",
            experiment,
            run_id,
            continuation_token=token,
            orderby=["StartTimeUtc asc"],
            top=size,
            what=f"run {run_id}",
        )
        return [_run(dto) for dto in page.value or []], page.continuation_token

    def run(self, run_id: str) -> RunInfo:
        dto = self.call("history", "run.get_workspace_run", run_id, what=f"run {run_id}")
        return _run(dto)

    def experiment_name(self, experiment_id: str) -> str:
        dto = self.call(
            "history", "experiment.get_by_id", experiment_id, what=f"experiment {experiment_id}"
        )
        return str(dto.name)

    def artifacts_page(
        self, origin: str, container: str, prefix: str, token: str | None
    ) -> tuple[list[str], str | None]:
        """Paths under `prefix` (all depths, the service's page size and order)."""
        if prefix:
            page = self.call(
                "artifacts",
                "artifact.list_in_path",
                origin,
                container,
                prefix,
                continuation_token=token,
                what=f"{container}/{prefix}",
            )
        else:
            page = self.call(
                "artifacts",
                "artifact.list_in_container",
                origin,
                container,
                continuation_token=token,
                what=container,
            )
        return [str(item.path) for item in page.value or []], page.continuation_token

    def content_uri(self, origin: str, container: str, path: str) -> str:
        """A read-only SAS URL of the artifact's blob. Secret: never log it."""
        info = self.call(
            "artifacts",
            "artifact.get_content_information",
            origin,
            container,
            path,
            what=path,
        )
        return str(info.content_uri)

    def artifact_contents_page(
        self, origin: str, container: str, prefix: str, token: str | None
    ) -> tuple[list[tuple[str, str]], str | None]:
        """(path, read-only SAS URL) of the artifacts under `prefix` (all depths, the
        service's page size and order): what azureml-core's `download_files` lists. The URLs
        are secrets: never log them."""
        page = self.call(
            "artifacts",
            "artifact.list_sas_by_prefix",
            origin,
            container,
            prefix,
            continuation_token=token,
            what=f"{container}/{prefix}" if prefix else container,
        )
        items = [(str(item.path), str(item.content_uri)) for item in page.value or []]
        return items, page.continuation_token

    def models_page(
        self, name: str | None, token: str | None, size: int, latest_only: bool
    ) -> tuple[list[ModelInfo], str | None]:
        page = self.call(
            "models",
            "ml_models.list_query",
            name=name,
            count=max(20, min(size, 255)),  # the service's bounds, as Model.list checks them
            skip_token=token,
            latest_version_only=latest_only,
            order_by="CreatedAtDesc",
            what=f"model {name}" if name else self.label,
        )
        token = getattr(page, "continuation_token", None) or _skip_token(
            getattr(page, "next_link", None)
        )
        return [_model(dto) for dto in page.value or []], token

    def model(self, name: str, version: str) -> ModelInfo:
        dto = self.call(
            "models", "ml_models.query_by_id", f"{name}:{version}", what=f"model {name}:{version}"
        )
        return _model(dto)

    def model_artifacts(self, model: ModelInfo) -> list[tuple[str, str, str]]:
        """(origin, container, prefix) of each artifact a model version holds."""
        url = model.url or ""
        if not url.startswith("aml://asset/"):
            raise NotFound(
                f"Model {model.name}:{model.version} is stored at {url or 'an unknown place'}, "
                "which this explorer cannot list."
            )
        asset_id = url[len("aml://asset/") :]
        asset = self.call(
            "models", "assets.query_by_id", asset_id, what=f"model {model.name}:{model.version}"
        )
        found = []
        for artifact in asset.artifacts or []:
            reference = artifact.prefix or artifact.id or ""
            parts = str(reference).split("/", 2)
            if len(parts) == 3:
                found.append((parts[0], parts[1], parts[2].strip("/")))
        return found

    def datasets_page(self, token: str | None, size: int) -> tuple[list[DatasetInfo], str | None]:
        page = self.call(
            "datasets",
            "dataset.list",
            continuation_token=token,
            page_size=size,
            include_latest_definition=True,
            what=self.label,
        )
        return [_dataset(dto) for dto in page.value or []], page.continuation_token

    def dataset(self, name: str) -> DatasetInfo:
        dto = self.call("datasets", "dataset.get_dataset_by_name", name, what=f"dataset {name}")
        return _dataset(dto)

    def dataset_versions_page(
        self, dataset_id: str, token: str | None, size: int
    ) -> tuple[list[DatasetVersionInfo], str | None]:
        page = self.call(
            "datasets",
            "dataset.get_all_dataset_definitions",
            dataset_id,
            continuation_token=token,
            page_size=size,
            what=f"dataset {dataset_id}",
        )
        versions = [_dataset_version(dto) for dto in page.value or []]
        versions.sort(key=lambda v: _version_number(v.version), reverse=True)
        return versions, page.continuation_token

    def dataset_version(self, dataset_id: str, version: str) -> DatasetVersionInfo:
        dto = self.call(
            "datasets",
            "dataset.get_dataset_definition",
            dataset_id,
            version,
            what=f"dataset version {version}",
        )
        return _dataset_version(dto)

    def datastores_page(
        self, token: str | None, size: int
    ) -> tuple[list[DatastoreInfo], str | None]:
        """One page of the workspace's datastores, without their secrets."""
        page = self.call(
            "datasets",  # the datastore service shares the history host too
            "data_stores.list",
            continuation_token=token,
            count=size,
            include_secret=False,
            what=self.label,
        )
        infos = [_datastore(dto, with_secret=False) for dto in page.value or []]
        return infos, page.continuation_token

    def datastore(self, name: str) -> DatastoreInfo:
        """One datastore, with the secret the service gives for it (if any)."""
        dto = self.call("datasets", "data_stores.get", name, what=f"datastore {name}")
        return _datastore(dto, with_secret=True)

    # -- errors --------------------------------------------------------------------------

    def _raise(self, error: Exception, what: str) -> NoReturn:
        made = aml_error(error, self.config, what)
        if isinstance(made, NotSignedIn):
            self.tokens.forget()
        log.info("%s: %s → %s (%s)", self.label, what, type(error).__name__, type(made).__name__)
        raise made from None


def aml_error(error: Exception, config: WorkspaceConfig, what: str) -> ArtifactError:
    """An exception from azureml-core, msrest or requests → a message the user can act on,
    with its `error_kind`."""
    made = _aml_error(error, config, what)
    if made.error_kind is None and made is not error:
        made.error_kind = _ERROR_KINDS.get(made.kind)
    return made


# The cause of a mapped error by its kind, where aml_error did not say more precisely.
_ERROR_KINDS = {
    "NotSignedIn": "notSignedIn",
    "PermissionDenied": "forbidden",
    "NotFound": "notFound",
    "Unavailable": "serverError",
}


def _aml_error(error: Exception, config: WorkspaceConfig, what: str) -> ArtifactError:
    workspace = (
        f"workspace {config.name} (resource group {config.resource_group}, "
        f"subscription {config.subscription_id})"
    )
    status, code, message = _http_details(error)
    if status == 401:
        if "expired" in f"{code} {message}".lower():
            expired = NotSignedIn(
                f"Your Azure sign-in has expired for {workspace}. Sign in again with "
                "`az login`, then Retry."
            )
            expired.error_kind = "expired"
            return expired
        return NotSignedIn(
            f"Azure ML did not accept your sign-in for {workspace}"
            f"{f' ({code})' if code else ''}. {SIGN_IN_ADVICE}"
        )
    if status == 403:
        return PermissionDenied(
            f"No access to {workspace}{f' ({code})' if code else ''}: your account needs a role "
            "on the workspace (Reader, or AzureML Data Scientist). Ask its owner, or sign in "
            "with another account (`az login`), then Retry."
        )
    if status == 404:
        if "workspace" in f"{code} {message}".lower() or what == f"workspace {config.name}":
            return NotFound(
                f"Workspace {config.name} was not found in resource group "
                f"{config.resource_group} of subscription {config.subscription_id}: check "
                "amlArtifacts.workspaces (or the config.json) and that you are signed in to "
                "the right tenant."
            )
        return NotFound(
            f"{what[:1].upper()}{what[1:]} was not found in {config.name} (deleted?): "
            "refresh the view."
        )
    if status == 400 and "continuation" in f"{code} {message}".lower():
        return InvalidParams("Invalid pageToken: pass back the server's token.")
    if status is not None and (status >= 500 or status in (408, 429)):
        return Unavailable(
            f"Azure ML answered {status}{f' ({code})' if code else ''} for {workspace}: the "
            "service had a problem. Retry in a minute."
        )
    if status is not None:
        return Unavailable(
            f"Azure ML answered {status}{f' ({code})' if code else ''} for {what} in {workspace}."
        )
    if _is_timeout(error):
        timeout = Unavailable(
            f"Azure ML did not answer within {request_timeout():.0f} s for {workspace}: "
            "check your network or proxy, then Retry."
        )
        timeout.error_kind = "unreachable"
        return timeout
    if _is_connection_error(error):
        unreachable = Unavailable(
            f"Cannot reach Azure ML for {workspace}: check your network connection or proxy "
            "settings, then Retry."
        )
        unreachable.error_kind = "unreachable"
        return unreachable
    if isinstance(error, ArtifactError):
        return error
    first = (str(error).strip().splitlines() or [type(error).__name__])[0][:300]
    return Unavailable(f"Azure ML failed for {what} in {workspace} ({first}). Retry.")


def _http_details(error: Exception) -> tuple[int | None, str, str]:
    response = getattr(error, "response", None)
    status = getattr(response, "status_code", None)
    if not isinstance(status, int):
        inner = getattr(error, "inner_exception", None) or error.__cause__
        if inner is not None and inner is not error and isinstance(inner, Exception):
            return _http_details(inner)
        return None, "", ""
    code = message = ""
    try:
        body = response.json() if response is not None else None
    except Exception:
        body = None
    if isinstance(body, dict):
        inner = body.get("error")
        detail: dict[str, Any] = inner if isinstance(inner, dict) else body
        code = str(detail.get("code") or "")
        message = str(detail.get("message") or "")
    return status, code, message


def _chain(error: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in seen and len(seen) < 8:
        seen.append(current)
        inner = getattr(current, "inner_exception", None)
        current = (
            inner
            if isinstance(inner, BaseException)
            else current.__cause__ or (current.__context__)
        )
    return seen


def _is_timeout(error: Exception) -> bool:
    import requests

    return any(
        isinstance(e, (requests.Timeout, TimeoutError)) or "timed out" in str(e).lower()
        for e in _chain(error)
    )


def _is_connection_error(error: Exception) -> bool:
    import requests

    return any(isinstance(e, (requests.ConnectionError, ConnectionError)) for e in _chain(error))


def _skip_token(next_link: str | None) -> str | None:
    if not next_link:
        return None
    from urllib.parse import parse_qs, urlsplit

    values = parse_qs(urlsplit(next_link).query).get("$skipToken")
    return values[0] if values else None


def _utc(value: Any) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _strings(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(k): str(v) for k, v in value.items()}


def _run(dto: Any) -> RunInfo:
    run_id = str(dto.run_id)
    return RunInfo(
        run_id=run_id,
        experiment_id=dto.experiment_id,
        status=dto.status,
        display_name=dto.display_name or None,
        start=_utc(dto.start_time_utc),
        end=_utc(dto.end_time_utc),
        created=_utc(dto.created_utc),
        parent_id=dto.parent_run_id or None,
        root_id=dto.root_run_id or None,
        data_container_id=dto.data_container_id or f"dcid.{run_id}",
        run_type=dto.run_type,
        tags=_strings(dto.tags),
        properties=_strings(dto.properties),
    )


def _model(dto: Any) -> ModelInfo:
    return ModelInfo(
        name=str(dto.name),
        version=int(dto.version or 0),
        framework=dto.framework,
        framework_version=dto.framework_version,
        url=dto.url,
        run_id=dto.run_id,
        experiment_name=dto.experiment_name,
        description=dto.description,
        created=_utc(dto.created_time),
        tags=_strings(dto.kv_tags),
    )


def _dataset(dto: Any) -> DatasetInfo:
    latest = getattr(dto, "latest", None)
    return DatasetInfo(
        dataset_id=str(dto.dataset_id),
        name=str(dto.name),
        dataset_type=dto.dataset_type,
        description=dto.description,
        latest_version=str(latest.version_id) if latest is not None else None,
        tags=_strings(dto.tags),
    )


def _dataset_version(dto: Any) -> DatasetVersionInfo:
    path = getattr(dto, "data_path", None)
    return DatasetVersionInfo(
        dataset_id=str(dto.dataset_id),
        version=str(dto.version_id),
        datastore=getattr(path, "datastore_name", None),
        path=getattr(path, "relative_path", None),
        file_type=dto.file_type,
        created=_utc(dto.created_time),
        notes=dto.notes,
    )


def _datastore(dto: Any, with_secret: bool) -> DatastoreInfo:
    kind = getattr(dto.data_store_type, "value", dto.data_store_type)
    section = getattr(dto, "azure_storage_section", None)

    def text(name: str) -> str | None:
        value = getattr(section, name, None) if section is not None else None
        value = getattr(value, "value", value)  # enums
        return str(value) if value else None

    credential_type = text("credential_type")
    key = sas = None
    if with_secret and section is not None:
        key, sas = text("account_key"), text("sas_token")
        if not key and not sas and text("credential"):
            if getattr(section, "is_sas", False) or (credential_type or "").lower() == "sas":
                sas = text("credential")
            elif (credential_type or "").lower() == "accountkey":
                key = text("credential")
    return DatastoreInfo(
        name=str(dto.name),
        store_type=str(kind or "Unknown"),
        account_name=text("account_name"),
        container=text("container_name"),
        endpoint=text("endpoint"),
        protocol=text("protocol"),
        credential_type=credential_type,
        account_key=key,
        sas_token=sas.lstrip("?") if sas else None,
    )


def _version_number(version: str) -> tuple[int, str]:
    return (int(version), "") if version.isdigit() else (-1, version)


__all__ = [
    "ARTIFACT_ORIGIN",
    "AmlClient",
    "DatasetInfo",
    "DatasetVersionInfo",
    "DatastoreInfo",
    "ModelInfo",
    "RunInfo",
    "aml_error",
    "run_filter_expression",
]
