"""The stand-in Azure ML v1 REST service: a stdlib HTTP server in a thread serving the subset
of routes azureml-core calls (history, artifact, modelmanagement, dataset, discovery), with
per-route fault injection and the bearer token's `exp` checked on every call.

Unknown routes answer 404 and are remembered in `unknown` (that is how the calls azureml-core
makes were found: run it, read `unknown`)."""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from .fake_az import jwt_claims
from .state import Workspace

WS = (
    r"/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)"
    r"/providers/Microsoft\.MachineLearningServices/workspaces/(?P<ws>[^/]+)"
)
ARTIFACT_PAGE = 500
DEFAULT_RUN_PAGE = 100


@dataclass
class Fault:
    """Answer `status` (or wait `delay` seconds first) for requests whose path matches."""

    pattern: str
    status: int | None = None
    delay: float = 0.0
    times: int | None = None  # None: every time
    body: dict[str, Any] | None = None
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        return re.search(self.pattern, f"{method} {path}") is not None


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    status: int = 0
    elapsed: float = 0.0


@dataclass
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Callable[..., tuple[int, Any]]


class StandinError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"error": {"code": code, "message": message}}


class AmlStandin:
    """`with AmlStandin(blob_sas=...) as service:` serves on `service.url`."""

    def __init__(self, blob_sas: Callable[[str], str] | None = None) -> None:
        self.workspaces: dict[tuple[str, str, str], Workspace] = {}
        self.faults: list[Fault] = []
        self.requests: list[Request] = []
        self.unknown: list[str] = []
        self.denied_subjects: set[str] = set()
        self.artifact_page = ARTIFACT_PAGE
        # blob name in the artifact container → a readable URL with a SAS (set from Azurite)
        self.blob_sas = blob_sas or (lambda name: f"http://127.0.0.1:9/none/{name}")
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.routes = self._routes()

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> AmlStandin:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                standin._handle(self, "GET")

            def do_POST(self) -> None:
                standin._handle(self, "POST")

            def do_PUT(self) -> None:
                standin._handle(self, "PUT")

            def do_PATCH(self) -> None:
                standin._handle(self, "PATCH")

            def do_DELETE(self) -> None:
                standin._handle(self, "DELETE")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> AmlStandin:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def environment(self) -> dict[str, str]:
        """What points azureml-core at this service instead of Azure."""
        return {
            "AZUREML_CURRENT_CLOUD": "AzureCloud",
            "AZUREML_SERVICE_ENDPOINT": self.url,
            "AZUREML_MMS_TEST_ENDPOINT": self.url,
            "AZUREML_DISCOVERY_SERVICE_ENDPOINT": f"{self.url}/discovery",
            "AZUREML_DEFAULT_RETRIES": "0",
        }

    # -- seeding and faults --------------------------------------------------------------

    def add_workspace(self, subscription: str, resource_group: str, name: str) -> Workspace:
        workspace = Workspace(subscription, resource_group, name)
        self.workspaces[workspace.key] = workspace
        return workspace

    def fail(
        self,
        pattern: str,
        status: int | None = None,
        delay: float = 0.0,
        times: int | None = None,
        body: dict[str, Any] | None = None,
    ) -> Fault:
        fault = Fault(pattern, status, delay, times, body)
        with self._lock:
            self.faults.append(fault)
        return fault

    @contextmanager
    def faulty(
        self, pattern: str, status: int | None = None, delay: float = 0.0
    ) -> Iterator[Fault]:
        fault = self.fail(pattern, status, delay)
        try:
            yield fault
        finally:
            with self._lock:
                self.faults.remove(fault)

    def clear(self) -> None:
        with self._lock:
            self.faults.clear()
            self.requests.clear()
            self.unknown.clear()

    def calls(self, pattern: str = "") -> list[Request]:
        with self._lock:
            return [r for r in self.requests if re.search(pattern, f"{r.method} {r.path}")]

    # -- request handling ----------------------------------------------------------------

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        started = time.monotonic()
        parts = urlsplit(handler.path)
        path = unquote(parts.path)
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        request = Request(method, path, parse_qs(parts.query), body)
        with self._lock:
            self.requests.append(request)
        try:
            status, payload = self._dispatch(handler, request)
        except StandinError as error:
            status, payload = error.status, error.body
        request.status = status
        request.elapsed = time.monotonic() - started
        data = json.dumps(payload).encode()
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json; charset=utf-8")
            handler.send_header("Content-Length", str(len(data)))
            if status == 401:
                handler.send_header("WWW-Authenticate", 'Bearer error="invalid_token"')
            handler.end_headers()
            handler.wfile.write(data)
        except OSError:  # the client gave up (timeout tests)
            pass

    def _dispatch(self, handler: BaseHTTPRequestHandler, request: Request) -> tuple[int, Any]:
        fault = self._fault(request)
        if fault is not None:
            if fault.delay:
                time.sleep(fault.delay)
            if fault.status is not None:
                return fault.status, fault.body or _error_body(fault.status)
        if request.path == "/discovery":
            return 200, self._discovery()
        self._authenticate(handler.headers.get("Authorization") or "")
        for route in self.routes:
            if route.method != request.method:
                continue
            match = route.pattern.fullmatch(request.path)
            if match is None:
                continue
            groups = match.groupdict()
            workspace = self._workspace(groups.pop("sub"), groups.pop("rg"), groups.pop("ws"))
            return route.handler(workspace, request, **groups)
        with self._lock:
            self.unknown.append(f"{request.method} {request.path}")
        return 404, {"error": {"code": "RouteNotFound", "message": f"No route {request.path}"}}

    def _fault(self, request: Request) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.matches(request.method, request.path):
                    if fault.times is not None and fault.hits >= fault.times:
                        continue
                    fault.hits += 1
                    return fault
        return None

    def _authenticate(self, header: str) -> None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise StandinError(
                401, "AuthenticationFailed", "Authentication information is missing."
            )
        try:
            claims = jwt_claims(token)
        except (ValueError, IndexError):
            raise StandinError(
                401, "InvalidAuthenticationToken", "The token is malformed."
            ) from None
        exp = claims.get("exp")
        now = int(time.time())
        if not isinstance(exp, int) or exp <= now:
            raise StandinError(
                401,
                "ExpiredAuthenticationToken",
                f"The access token expiry UTC time '{exp}' is earlier than current UTC time "
                f"'{now}'.",
            )
        if claims.get("sub") in self.denied_subjects:
            raise StandinError(
                403,
                "AuthorizationFailed",
                f"The client '{claims.get('sub')}' does not have authorization to perform "
                "action 'Microsoft.MachineLearningServices/workspaces/experiments/read'.",
            )

    def _workspace(self, sub: str, rg: str, name: str) -> Workspace:
        workspace = self.workspaces.get((sub.lower(), rg.lower(), name.lower()))
        if workspace is None:
            raise StandinError(
                404,
                "WorkspaceNotFound",
                f"Workspace {name} not found in resource group {rg} of subscription {sub}.",
            )
        return workspace

    def _discovery(self) -> dict[str, str]:
        base = self.url
        return {
            name: base
            for name in (
                "api",
                "catalog",
                "experimentation",
                "gallery",
                "history",
                "hyperdrive",
                "labeling",
                "modelmanagement",
                "pipelines",
                "studio",
            )
        }

    # -- routes --------------------------------------------------------------------------

    def _routes(self) -> list[Route]:
        history = "/history/v1.0" + WS
        artifact = "/artifact/v2.0" + WS + "/artifacts"
        mms = "/modelmanagement/v1.0" + WS
        dataset = "/dataset/v1.0" + WS + "/datasets"
        table: list[tuple[str, str, Callable[..., tuple[int, Any]]]] = [
            ("POST", history + "/experiments:query", self.experiments_query),
            ("GET", history + "/experiments/(?P<name>[^/]+)", self.experiment_get),
            ("GET", history + "/experimentids/(?P<exp_id>[^/]+)", self.experiment_by_id),
            ("POST", history + "/experiments/(?P<name>[^/]+)/runs:query", self.runs_query),
            ("POST", history + "/experimentids/(?P<exp_id>[^/]+)/runs:query", self.runs_query),
            (
                "GET",
                history + "/experiments/(?P<name>[^/]+)/runs/(?P<run_id>[^/]+)/children",
                self.run_children,
            ),
            ("GET", history + "/experiments/(?P<name>[^/]+)/runs/(?P<run_id>[^/]+)", self.run_get),
            (
                "GET",
                history + "/experimentids/(?P<exp_id>[^/]+)/runs/(?P<run_id>[^/]+)",
                self.run_get,
            ),
            ("GET", history + "/runs/(?P<run_id>[^/]+)", self.run_get),
            (
                "GET",
                artifact + "/contentinfo/(?P<origin>[^/]+)/(?P<container>[^/]+)/(?P<path>.+)",
                self.artifact_contentinfo,
            ),
            (
                "GET",
                artifact
                + "/prefix/contentinfo/(?P<origin>[^/]+)/(?P<container>[^/]+)/(?P<path>.*)",
                self.artifact_prefix_contentinfo,
            ),
            (
                "GET",
                artifact + "/(?P<origin>[^/]+)/(?P<container>[^/]+)(?:/(?P<path>.*))?",
                self.artifact_list,
            ),
            ("GET", mms + "/models", self.models_list),
            ("GET", mms + "/models/(?P<model_id>[^/]+)", self.model_get),
            ("GET", mms + "/assets/(?P<asset_id>[^/]+)", self.asset_get),
            ("GET", dataset, self.datasets_list),
            ("GET", dataset + "/query/name=(?P<name>[^/]+)", self.dataset_by_name),
            ("GET", dataset + "/(?P<dataset_id>[^/]+)/definitions", self.dataset_definitions),
            (
                "GET",
                dataset + "/(?P<dataset_id>[^/]+)/definitions/(?P<version>[^/]+)",
                self.dataset_definition,
            ),
            ("GET", "/datastore/v1.0" + WS + "/datastores", self.datastores_list),
            ("GET", "/datastore/v1.0" + WS + "/datastores/(?P<name>[^/]+)", self.datastore_get),
        ]
        return [
            Route(method, re.compile(pattern, re.IGNORECASE), handler)
            for method, pattern, handler in table
        ]

    # history

    def experiments_query(self, ws: Workspace, request: Request) -> tuple[int, Any]:
        query = request.body or {}
        experiments = sorted(ws.experiments.values(), key=lambda e: e.created, reverse=True)
        names = _filter_names(query.get("filter"))
        if names is not None:
            experiments = [e for e in experiments if e.name in names]
        items, token = _page(
            [e.to_json() for e in experiments], query.get("continuationToken"), query.get("top")
        )
        return 200, {"value": items, "continuationToken": token}

    def experiment_get(self, ws: Workspace, request: Request, name: str) -> tuple[int, Any]:
        experiment = ws.experiments.get(name)
        if experiment is None:
            raise StandinError(404, "ExperimentNotFound", f"Experiment {name} not found.")
        return 200, experiment.to_json()

    def experiment_by_id(self, ws: Workspace, request: Request, exp_id: str) -> tuple[int, Any]:
        experiment = ws.experiment_by_id(exp_id)
        if experiment is None:
            raise StandinError(404, "ExperimentNotFound", f"Experiment {exp_id} not found.")
        return 200, experiment.to_json()

    def runs_query(
        self, ws: Workspace, request: Request, name: str | None = None, exp_id: str | None = None
    ) -> tuple[int, Any]:
        experiment = ws.experiments.get(name or "") if name else ws.experiment_by_id(exp_id or "")
        if experiment is None:
            raise StandinError(404, "ExperimentNotFound", f"Experiment {name or exp_id} not found.")
        query = request.body or {}
        runs = [r for r in experiment.runs.values() if _run_matches(r, query.get("filter"))]
        runs = _order_runs(runs, query.get("orderby"))
        items, token = _page(
            [r.to_json() for r in runs], query.get("continuationToken"), query.get("top")
        )
        return 200, {"value": items, "continuationToken": token}

    def run_children(
        self, ws: Workspace, request: Request, name: str, run_id: str
    ) -> tuple[int, Any]:
        experiment = ws.experiments.get(name)
        if experiment is None or run_id not in experiment.runs:
            raise StandinError(404, "RunNotFound", f"Run {run_id} not found.")
        runs = [r for r in experiment.runs.values() if r.parent_id == run_id]
        runs = _order_runs(runs, _first(request.query, "$orderby"))
        top = _first(request.query, "$top")
        items, token = _page(
            [r.to_json() for r in runs],
            _first(request.query, "continuationToken"),
            int(top) if top else None,
        )
        return 200, {"value": items, "continuationToken": token}

    def run_get(
        self,
        ws: Workspace,
        request: Request,
        run_id: str,
        name: str | None = None,
        exp_id: str | None = None,
    ) -> tuple[int, Any]:
        run = ws.find_run(run_id)
        if run is None:
            raise StandinError(404, "RunNotFound", f"Run {run_id} was not found.")
        return 200, run.to_json()

    # artifacts

    def artifact_list(
        self, ws: Workspace, request: Request, origin: str, container: str, path: str | None = None
    ) -> tuple[int, Any]:
        paths = ws.list_artifacts(origin, container, path or "")
        items, token = _page(
            [_artifact(origin, container, p) for p in paths],
            _first(request.query, "continuationToken"),
            self.artifact_page,
        )
        return 200, {"value": items, "continuationToken": token}

    def artifact_contentinfo(
        self, ws: Workspace, request: Request, origin: str, container: str, path: str
    ) -> tuple[int, Any]:
        if path not in ws.list_artifacts(origin, container, path):
            raise StandinError(404, "ArtifactNotFound", f"Artifact {path} not found.")
        return 200, self._content(origin, container, path)

    def artifact_prefix_contentinfo(
        self, ws: Workspace, request: Request, origin: str, container: str, path: str
    ) -> tuple[int, Any]:
        paths = ws.list_artifacts(origin, container, path)
        items, token = _page(
            [self._content(origin, container, p) for p in paths],
            _first(request.query, "continuationToken"),
            self.artifact_page,
        )
        return 200, {"value": items, "continuationToken": token}

    def _content(self, origin: str, container: str, path: str) -> dict[str, Any]:
        return {
            "contentUri": self.blob_sas(f"{origin}/{container}/{path}"),
            "origin": origin,
            "container": container,
            "path": path,
        }

    # models

    def models_list(self, ws: Workspace, request: Request) -> tuple[int, Any]:
        models = list(ws.models)
        name = _first(request.query, "name")
        if name:
            models = [m for m in models if m.name == name]
        if _first(request.query, "latestVersionOnly") == "true":
            latest: dict[str, Any] = {}
            for model in models:
                if model.name not in latest or model.version > latest[model.name].version:
                    latest[model.name] = model
            models = list(latest.values())
        models.sort(key=lambda m: (m.created, m.version), reverse=True)
        count = _first(request.query, "count")
        items, token = _page(
            [m.to_json() for m in models],
            _first(request.query, "$skipToken"),
            int(count) if count else None,
        )
        next_link = None
        if token:
            next_link = f"{self.url}{request.path}?$skipToken={token}"
        return 200, {"value": items, "continuationToken": token, "nextLink": next_link}

    def model_get(self, ws: Workspace, request: Request, model_id: str) -> tuple[int, Any]:
        for model in ws.models:
            if model.model_id == model_id:
                return 200, model.to_json()
        raise StandinError(404, "ModelNotFound", f"Model {model_id} not found.")

    def asset_get(self, ws: Workspace, request: Request, asset_id: str) -> tuple[int, Any]:
        for model in ws.models:
            if model.asset_id == asset_id:
                return 200, model.asset_json()
        raise StandinError(404, "AssetNotFound", f"Asset {asset_id} not found.")

    # datasets

    def datasets_list(self, ws: Workspace, request: Request) -> tuple[int, Any]:
        datasets = sorted(ws.datasets.values(), key=lambda d: d.name)
        size = _first(request.query, "pageSize")
        items, token = _page(
            [d.to_json() for d in datasets],
            _first(request.query, "continuationToken"),
            int(size) if size else None,
        )
        return 200, {"value": items, "continuationToken": token, "nextLink": None}

    def dataset_by_name(self, ws: Workspace, request: Request, name: str) -> tuple[int, Any]:
        dataset = ws.datasets.get(name)
        if dataset is None:
            raise StandinError(404, "DatasetNotFound", f"Dataset {name} not found.")
        version = _first(request.query, "versionId")
        if version and version != "latest":
            chosen = [v for v in dataset.versions if str(v.version) == version]
            if not chosen:
                raise StandinError(404, "DatasetNotFound", f"{name} version {version} not found.")
            return 200, dataset.to_json(chosen[0])
        return 200, dataset.to_json()

    def _dataset(self, ws: Workspace, dataset_id: str) -> Any:
        for dataset in ws.datasets.values():
            if dataset.dataset_id == dataset_id:
                return dataset
        raise StandinError(404, "DatasetNotFound", f"Dataset {dataset_id} not found.")

    def dataset_definitions(
        self, ws: Workspace, request: Request, dataset_id: str
    ) -> tuple[int, Any]:
        dataset = self._dataset(ws, dataset_id)
        versions = sorted(dataset.versions, key=lambda v: v.version, reverse=True)
        size = _first(request.query, "pageSize")
        items, token = _page(
            [dataset.definition_json(v) for v in versions],
            _first(request.query, "continuationToken"),
            int(size) if size else None,
        )
        return 200, {"value": items, "continuationToken": token, "nextLink": None}

    def dataset_definition(
        self, ws: Workspace, request: Request, dataset_id: str, version: str
    ) -> tuple[int, Any]:
        dataset = self._dataset(ws, dataset_id)
        for candidate in dataset.versions:
            if str(candidate.version) == version:
                return 200, dataset.definition_json(candidate)
        raise StandinError(404, "DatasetNotFound", f"Version {version} not found.")

    def datastores_list(self, ws: Workspace, request: Request) -> tuple[int, Any]:
        stores = sorted(ws.datastores.values(), key=lambda d: d.name)
        secret = _first(request.query, "includeSecret") != "false"
        count = _first(request.query, "count")
        items, token = _page(
            [d.to_json(secret) for d in stores],
            _first(request.query, "continuationToken"),
            int(count) if count else None,
        )
        return 200, {"value": items, "continuationToken": token, "nextLink": None}

    def datastore_get(self, ws: Workspace, request: Request, name: str) -> tuple[int, Any]:
        store = ws.datastores.get(name)
        if store is None:
            raise StandinError(404, "DatastoreNotFound", f"Datastore {name} not found.")
        return 200, store.to_json()


# -- helpers --------------------------------------------------------------------------------


def _first(query: dict[str, list[str]], key: str) -> str | None:
    values = query.get(key)
    return values[0] if values else None


def _page(items: list[Any], token: str | None, top: int | None) -> tuple[list[Any], str | None]:
    start = 0
    if token:
        try:
            start = int(json.loads(base64.b64decode(token))["offset"])
        except (ValueError, KeyError, TypeError):
            raise StandinError(400, "BadContinuationToken", "Invalid continuation token.") from None
    size = top if top and top > 0 else DEFAULT_RUN_PAGE
    stop = start + size
    next_token = None
    if stop < len(items):
        next_token = base64.b64encode(json.dumps({"offset": stop}).encode()).decode()
    return items[start:stop], next_token


def _artifact(origin: str, container: str, path: str) -> dict[str, Any]:
    return {
        "artifactId": f"{origin}/{container}/{path}",
        "origin": origin,
        "container": container,
        "path": path,
        "etag": '"0x1"',
        "createdTime": "2026-01-01T00:00:00.000000Z",
    }


def _error_body(status: int) -> dict[str, Any]:
    codes = {
        401: ("AuthenticationFailed", "Authentication failed."),
        403: ("AuthorizationFailed", "The client does not have authorization to perform this."),
        404: ("NotFound", "The resource was not found."),
        429: ("TooManyRequests", "Too many requests."),
        500: ("InternalServerError", "An internal server error occurred."),
        503: ("ServiceUnavailable", "The service is unavailable."),
    }
    code, message = codes.get(status, ("Error", f"Error {status}."))
    return {"error": {"code": code, "message": message}}


_CLAUSE = re.compile(r"^\s*([\w/.-]+)\s+(eq|ne)\s+(.+?)\s*$", re.IGNORECASE)
_TAG_EXISTS = re.compile(r"^\(?\s*Tags/([\w.-]+) ne null or Tags/\1 eq null\s*\)?$", re.IGNORECASE)


def _run_matches(run: Any, expression: str | None) -> bool:
    """The OData subset azureml-core sends: `and`-joined groups, each a `Field eq|ne value`
    clause or a parenthesised `or` of them; `(Tags/k ne null or Tags/k eq null)` is how
    `Experiment.get_runs(tags="k")` asks for runs that have tag k."""
    if not expression:
        return True
    for group in re.split(r"\s+and\s+", expression.strip(), flags=re.IGNORECASE):
        group = group.strip()
        exists = _TAG_EXISTS.match(group)
        if exists:
            if exists[1] not in run.tags:
                return False
            continue
        inner = group[1:-1] if group.startswith("(") and group.endswith(")") else group
        alternatives = re.split(r"\s+or\s+", inner, flags=re.IGNORECASE)
        results = [_clause_matches(run, clause) for clause in alternatives]
        known = [result for result in results if result is not None]
        if known and not any(known):
            return False
    return True


def _clause_matches(run: Any, clause: str) -> bool | None:
    match = _CLAUSE.match(clause.strip().strip("()"))
    if match is None:
        return None
    name, op, value = match.groups()
    actual: Any
    lowered = name.lower()
    if lowered == "parentrunid":
        actual = run.parent_id
    elif lowered == "rootrunid":
        actual = run.root_id or run.run_id
    elif lowered == "runid":
        actual = run.run_id
    elif lowered == "status":
        actual = run.status
    elif lowered.startswith("tags/"):
        actual = run.tags.get(name[5:])
    else:
        return None
    expected = None if value == "null" else value.strip("'\"")
    return (actual == expected) == (op.lower() == "eq")


def _filter_names(expression: str | None) -> set[str] | None:
    if not expression:
        return None
    names = re.findall(r"name\s+eq\s+'?([^'\s)]+)'?", expression, re.IGNORECASE)
    return set(names) if names else None


def _order_runs(runs: list[Any], orderby: Any) -> list[Any]:
    text = " ".join(orderby) if isinstance(orderby, list) else str(orderby or "StartTimeUtc desc")
    reverse = "desc" in text.lower()
    if "created" in text.lower():
        return sorted(runs, key=lambda r: (r.start, r.run_id), reverse=reverse)
    return sorted(runs, key=lambda r: (r.start, r.run_id), reverse=reverse)


__all__ = ["AmlStandin", "Fault", "StandinError"]
