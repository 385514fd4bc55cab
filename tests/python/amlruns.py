"""Runs with real files in the stand-in Azure ML environment (amlstandin.environment), shared
by the tests and the benchmarks (bench/download.py puts tests/python on sys.path):

- `add_run_with_files`: upload a run's artifacts to Azurite in parallel (about 5 ms a blob
  one by one) and register the run and its artifact listing with the stand-in;
- hostile names: the stand-in lists any name (`..`, `\\`, NUL, ...), which Azurite cannot
  always store as a blob name; `blobs` maps such a listed name to a safe blob name whose
  bytes the stand-in then serves (its `contentUri`)."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from amlstandin.environment import ARTIFACT_CONTAINER, AmlEnvironment, artifact_blob
from amlstandin.service import AmlStandin
from amlstandin.state import Run


class AliasedBlobs:
    """The stand-in's `blob_sas` (blob name → signed URL), with some names served from
    other blobs."""

    def __init__(self, inner: Callable[[str], str]) -> None:
        self.inner = inner
        self.aliases: dict[str, str] = {}

    def __call__(self, name: str) -> str:
        return self.inner(self.aliases.get(name, name))


def serve_blobs_as(standin: AmlStandin, aliases: dict[str, str]) -> None:
    """The stand-in serves blob `aliases[name]` when asked for the content of `name`."""
    if not isinstance(standin.blob_sas, AliasedBlobs):
        standin.blob_sas = AliasedBlobs(standin.blob_sas)
    standin.blob_sas.aliases.update(aliases)


def upload_blobs(env: AmlEnvironment, blobs: dict[str, bytes], workers: int = 16) -> None:
    """Blobs of the workspace's artifact container, uploaded in parallel."""
    from azure.storage.blob import BlobServiceClient

    service = BlobServiceClient.from_connection_string(env.connection_string)
    container = service.get_container_client(ARTIFACT_CONTAINER)

    def put(item: tuple[str, bytes]) -> None:
        container.upload_blob(item[0], item[1], overwrite=True)

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(put, blobs.items()))


def add_run_with_files(
    env: AmlEnvironment,
    experiment: str,
    run_id: str,
    files: dict[str, bytes],
    blobs: dict[str, str] | None = None,
    **run_fields: Any,
) -> Run:
    """Register run `run_id` of `experiment` listing `files` (artifact path → bytes). A path
    in `blobs` is stored (and served) under that blob name instead of its own
    (`ExperimentRun/dcid.<run_id>/<path>`): for names blob storage cannot hold."""
    blobs = blobs or {}
    stored = {blobs.get(path) or artifact_blob(run_id, path): data for path, data in files.items()}
    upload_blobs(env, stored)
    if blobs:
        serve_blobs_as(
            env.standin, {artifact_blob(run_id, path): blob for path, blob in blobs.items()}
        )
    run = env.workspace.add_run(experiment, run_id, **run_fields)
    env.workspace.add_run_artifacts(run_id, list(files))
    return run


__all__ = ["AliasedBlobs", "add_run_with_files", "serve_blobs_as", "upload_blobs"]
