"""Statistics of torch checkpoints read with few requests: the storages of neighbouring tensors
are read as one range, scattered ones in at most STATS_READS ranges, and the values are still
torch's own. Files written by the real torch.save; remote copies in Azurite, where the
backend counts every ranged GET."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import RemoteStore
from helpers import CountingReader
from test_torch_previews import assert_stats, tensors

from pyserver import service
from pyserver.backends import Catalog
from pyserver.backends.blockcache import BlockCache
from pyserver.config import Settings
from pyserver.previews.budget import Budget, merge_ranges
from pyserver.previews.preview import preview_file
from pyserver.previews.torchfiles import MAX_STATS, STATS_READS

torch = pytest.importorskip("torch")

MiB = 1 << 20
CONTAINER = "torch-stats"  # its own: other tests list the session's container
ROOT = "azureml://datastores/stats/paths/"
BIG = 300_000  # float32 elements: 1.2 MB, more than a preview's whole read budget
SCATTERED = 10


def neighbours(path: Path, legacy: bool = False) -> dict[str, Any]:
    """MAX_STATS small tensors of several dtypes stored one after the other, between two big
    ones (away from the file's head and tail, which previews fetch anyway)."""
    generator = torch.Generator().manual_seed(0)
    state: dict[str, Any] = {"embedding.weight": torch.randn(BIG, generator=generator)}
    dtypes = [torch.float32, torch.float16, torch.bfloat16, torch.int64, torch.bool]
    for index in range(MAX_STATS):
        values = torch.randn(40 + 37 * index, generator=generator) * (index + 1)
        dtype = dtypes[index % len(dtypes)]
        state[f"blocks.{index}.scale"] = values > 0 if dtype == torch.bool else values.to(dtype)
    state["head.weight"] = torch.randn(BIG, generator=generator)
    torch.save(state, path, _use_new_zipfile_serialization=not legacy)
    return state


def scattered(path: Path) -> dict[str, Any]:
    """Small biases each stored between two big weights (as in bench/remote's checkpoint)."""
    generator = torch.Generator().manual_seed(1)
    state: dict[str, Any] = {}
    for index in range(SCATTERED):
        state[f"layers.{index}.weight"] = torch.randn(BIG, generator=generator)
        state[f"layers.{index}.bias"] = torch.randn(64 + index, generator=generator)
    torch.save(state, path)
    return state


@pytest.fixture(scope="module")
def checkpoints(
    azurite_store: RemoteStore, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[Path, dict[str, Any]]]:
    from azure.storage.blob import BlobServiceClient

    folder = tmp_path_factory.mktemp("stats-reads")
    made = {
        "neighbours.pt": neighbours(folder / "neighbours.pt"),
        "scattered.pt": scattered(folder / "scattered.pt"),
    }
    service_client = BlobServiceClient.from_connection_string(azurite_store.connection_string)
    container = service_client.create_container(CONTAINER)
    for name in made:
        with (folder / name).open("rb") as stream:
            container.upload_blob(name, stream)
    return {name: (folder / name, state) for name, state in made.items()}


def fresh_catalog(store: RemoteStore, cache: Path) -> Catalog:
    """A first hover: a new catalog (connections) and an empty block cache."""
    datastore = store.datastore("stats", container=CONTAINER)
    catalog = Catalog(Settings.from_json({"datastores": [datastore]}))
    catalog.blob._cache = BlockCache(cache)
    return catalog


def small_names(state: dict[str, Any]) -> list[str]:
    return [name for name, tensor in state.items() if tensor.numel() < BIG]


def test_neighbouring_storages_come_in_one_request(
    azurite_store: RemoteStore, checkpoints: dict[str, tuple[Path, dict[str, Any]]], tmp_path: Path
) -> None:
    _, state = checkpoints["neighbours.pt"]
    catalog = fresh_catalog(azurite_store, tmp_path / "cache")
    result = service.preview(catalog, ROOT + "neighbours.pt")
    found = tensors(result)
    for name in small_names(state):
        assert_stats(found[name], state[name])
    assert "stats" not in found["embedding.weight"] and "stats" not in found["head.weight"]
    # The head with data.pkl and the tail with the zip directory (one request each, at once),
    # then the MAX_STATS storages in one more.
    network = catalog.blob.network
    assert network.requests <= 3, network.requests
    assert network.bytes <= MiB


def test_scattered_storages_take_at_most_stats_reads_requests(
    azurite_store: RemoteStore, checkpoints: dict[str, tuple[Path, dict[str, Any]]], tmp_path: Path
) -> None:
    path, state = checkpoints["scattered.pt"]
    catalog = fresh_catalog(azurite_store, tmp_path / "cache")
    result = service.preview(catalog, ROOT + "scattered.pt")
    found = tensors(result)
    biases = small_names(state)
    with_stats = [name for name in biases if "stats" in found[name]]
    assert with_stats == biases[:STATS_READS]  # the first ones of the table
    for name in with_stats:
        assert_stats(found[name], state[name])
    assert f"{SCATTERED - STATS_READS} too far apart" in result["markdown"]
    network = catalog.blob.network
    assert network.requests <= 2 + STATS_READS, network.requests
    assert network.bytes <= MiB
    # The same statistics as the local file's, and a second hover fetches nothing.
    local = preview_file(ROOT + "scattered.pt", path.name, CountingReader(path), Budget())
    assert local["markdown"] == result["markdown"]
    again = service.preview(catalog, ROOT + "scattered.pt")
    assert (again["markdown"], again["networkBytes"]) == (result["markdown"], 0)


class PrefetchRecorder(CountingReader):
    """A local reader that also takes prefetch hints, as a remote one does, and records them
    with the number of reads made before."""

    def __init__(self, source: Path) -> None:
        super().__init__(source)
        self.prefetched: list[tuple[int, list[tuple[int, int]]]] = []

    def prefetch(self, ranges: list[tuple[int, int]]) -> None:
        self.prefetched.append((len(self.reads), list(ranges)))


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_statistics_of_neighbours_are_planned_as_one_range(tmp_path: Path, legacy: bool) -> None:
    path = tmp_path / "checkpoint.pt"
    state = neighbours(path, legacy)
    reader = PrefetchRecorder(path)
    result = preview_file(ROOT + path.name, path.name, reader, Budget())
    found = tensors(result)
    small = small_names(state)
    with_stats = [name for name in small if "stats" in found[name]]
    for name in with_stats:
        assert_stats(found[name], state[name])
    made, planned = reader.prefetched[-1]  # the statistics' plan comes last
    if legacy:
        # Legacy files store their storages in the order of their keys (memory addresses as
        # text): the two big ones may lie anywhere among the small ones.
        assert 1 <= len(planned) <= STATS_READS and with_stats
        assert with_stats == small or "too far apart" in result["markdown"]
    else:
        assert len(planned) == 1 and with_stats == small
    # Statistics read nothing outside the planned ranges (the head is read already).
    for offset, length in reader.reads[made:]:
        assert any(start <= offset and offset + length <= start + n for start, n in planned)
    assert len(reader.reads) > made


def test_merge_ranges_joins_overlapping_and_near_ranges() -> None:
    ranges = [(100, 10), (0, 10), (15, 5), (200, 50), (240, 5), (300, 0), (1000, 1)]
    assert merge_ranges(ranges, 5) == [(0, 20), (100, 10), (200, 50), (1000, 1)]
    assert merge_ranges(ranges, 100) == [(0, 250), (1000, 1)]
    assert merge_ranges([], 10) == []
