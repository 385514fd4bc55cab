"""Previews in worker processes (pyserver/workers): real processes that really crash, hang and
run out of memory; each failure costs one request, the pool replaces the worker and nothing is
left behind (no zombie, no orphan)."""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import ClientServerConfig, LanguageClient

from pyserver import service
from pyserver.backends import Catalog
from pyserver.config import Settings
from pyserver.errors import ArtifactError, Cancelled, CorruptArtifact, PreviewFailed
from pyserver.previews.budget import Budget
from pyserver.protocol import as_dict
from pyserver.uris import file_uri
from pyserver.workers import pool as pool_module
from pyserver.workers.frames import FrameError, read_frame, write_frame
from pyserver.workers.pool import PreviewPool
from pyserver.workers.worker import TEST_HOOK_PREFIX, TEST_HOOKS_ENV, _ran_out_of_memory

pytestmark = pytest.mark.skipif(
    sys.platform != "linux", reason="uses /proc and RLIMIT_AS (Linux); the pool itself is portable"
)

CRASH = TEST_HOOK_PREFIX + "crash"
HANG = TEST_HOOK_PREFIX + "hang"
ALLOC = TEST_HOOK_PREFIX + "alloc"


def sleep_hook(ms: int) -> str:
    return f"{TEST_HOOK_PREFIX}sleep:{ms}"


# -- process bookkeeping (no psutil: /proc) ----------------------------------------------------


def children_of(pid: int) -> dict[int, str]:
    """{child pid: state letter} of every preview worker whose parent is `pid`. Other children
    of the test process (Azurite, a stand-in `az` run by a credential's background refresh)
    come and go on their own schedule and are not the pool's business."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        is_worker = b"pyserver.workers.worker" in command or fields[0] == "Z"
        if int(fields[1]) == pid and is_worker:
            found[int(entry.name)] = fields[0]
    return found


def exists(pid: int) -> bool:
    """Some thread of `pid` still runs. A killed multi-threaded process shows its leader as a
    zombie while other threads are still exiting, and cannot be reaped until they are gone."""
    try:
        threads = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return False
    for thread in threads:
        try:
            state = (thread / "stat").read_text()
        except OSError:
            continue
        if state[state.rindex(")") + 2] != "Z":
            return True
    return False


def wait_until(condition: Any, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return bool(condition())


def assert_no_strays(pool: PreviewPool, before: set[int]) -> None:
    """Our children are exactly the pool's live workers: none dead-but-unreaped, none lost."""
    mine = {pid: state for pid, state in children_of(os.getpid()).items() if pid not in before}
    assert "Z" not in mine.values(), mine
    assert set(mine) == set(pool.pids())


@pytest.fixture
def hooks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TEST_HOOKS_ENV, "1")


@pytest.fixture
def pool(hooks: None, small_workspace: Path) -> Iterator[PreviewPool]:
    before = set(children_of(os.getpid()))
    pool = PreviewPool(Settings(local_workspaces=(small_workspace,), preview_memory_mb=768))
    pool.start()
    yield pool
    workers = pool.pids()
    pool.close()
    assert not any(exists(pid) for pid in workers)
    assert set(children_of(os.getpid())) <= before


def notes(workspace: Path) -> str:
    return file_uri(workspace / "experiments" / "exp" / "old" / "outputs" / "notes.txt")


# -- the wire format ---------------------------------------------------------------------------


def test_frames_round_trip_and_garbage_is_refused() -> None:
    stream = io.BytesIO()
    write_frame(stream, {"op": "preview", "uri": "file:///x/ü"})
    write_frame(stream, {"ok": {"n": [1, 2.5, None]}})
    stream.seek(0)
    assert read_frame(stream) == {"op": "preview", "uri": "file:///x/ü"}
    assert read_frame(stream) == {"ok": {"n": [1, 2.5, None]}}
    assert read_frame(stream) is None
    for garbage in (b"\x00\x00\x00\x05{}", b"\x00\x00\x00\x02[]", b"\xff\xff\xff\xff", b"\x00\x00"):
        with pytest.raises(FrameError):
            read_frame(io.BytesIO(garbage))


def test_memory_error_is_recognised_behind_a_wrapped_error() -> None:
    try:
        try:
            raise MemoryError
        except MemoryError:
            raise CorruptArtifact("could not be read") from None
    except CorruptArtifact as wrapped:
        assert _ran_out_of_memory(wrapped)
    assert not _ran_out_of_memory(CorruptArtifact("plain"))


def test_settings_for_the_pool_round_trip_and_are_clamped(tmp_path: Path) -> None:
    settings = Settings(local_workspaces=(tmp_path,), preview_workers=3, preview_memory_mb=1024)
    assert Settings.from_json(json.loads(json.dumps(settings.to_json()))) == settings
    assert Settings.from_json({"previewWorkers": 0, "previewMemoryMB": 1}) == Settings(
        preview_workers=1, preview_memory_mb=256
    )
    assert Settings.from_json({"previewWorkers": "many", "previewMemoryMB": True}) == Settings()


# -- the pool ----------------------------------------------------------------------------------


def test_preview_in_a_worker_equals_the_in_process_preview(
    pool: PreviewPool, small_workspace: Path
) -> None:
    uri = notes(small_workspace)
    in_process = service.preview(Catalog(Settings(local_workspaces=(small_workspace,))), uri)
    assert pool.preview(uri) == json.loads(json.dumps(in_process))
    # Settings reach the workers: a run URI needs the configured workspace.
    assert pool.preview("runs:/old/outputs/notes.txt")["summary"] == in_process["summary"]


def test_errors_come_back_as_the_same_class_code_and_message(
    pool: PreviewPool, small_workspace: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\xff" * 100)
    catalog = Catalog(Settings(local_workspaces=(small_workspace,)))
    for uri in (file_uri(bad), file_uri(tmp_path / "gone.pkl"), "nonsense://x"):
        with pytest.raises(ArtifactError) as expected:
            service.preview(catalog, uri)
        with pytest.raises(ArtifactError) as got:
            pool.preview(uri)
        assert type(got.value) is type(expected.value)
        assert (got.value.code, got.value.message, got.value.to_data()) == (
            expected.value.code,
            expected.value.message,
            expected.value.to_data(),
        )


def test_a_crash_fails_one_request_and_the_worker_is_replaced(
    pool: PreviewPool, small_workspace: Path
) -> None:
    before = set(children_of(os.getpid())) - set(pool.pids())
    pool.preview(notes(small_workspace))
    workers = pool.pids()
    with pytest.raises(PreviewFailed) as crashed:
        pool.preview(CRASH)
    assert crashed.value.code == -31008
    assert crashed.value.to_data() == {"kind": "PreviewFailed", "uri": CRASH, "reason": "crashed"}
    assert "crashed its worker process (signal SIGSEGV)" in crashed.value.message
    assert "malformed" in crashed.value.message
    assert pool.preview(notes(small_workspace))["kind"] == "text"
    assert len(pool.pids()) == 2 and pool.pids() != workers
    gone = set(workers) - set(pool.pids())
    assert len(gone) == 1 and not exists(gone.pop())
    assert_no_strays(pool, before)


def test_a_hang_is_stopped_after_its_time_budget(pool: PreviewPool, small_workspace: Path) -> None:
    before = set(children_of(os.getpid())) - set(pool.pids())
    pool.preview(notes(small_workspace))
    workers = pool.pids()
    start = time.monotonic()
    with pytest.raises(PreviewFailed) as hung:
        pool.preview(HANG, Budget(timeout_ms=200))
    elapsed = time.monotonic() - start
    assert 0.2 + pool_module.GRACE_MS / 1000 <= elapsed < 0.2 + pool_module.GRACE_MS / 1000 + 2
    assert hung.value.to_data()["reason"] == "timeout"
    assert "did not finish in 200 ms" in hung.value.message
    assert pool.preview(notes(small_workspace))["kind"] == "text"
    assert pool.pids() != workers
    assert_no_strays(pool, before)


def test_running_out_of_memory_fails_one_request(pool: PreviewPool, small_workspace: Path) -> None:
    before = set(children_of(os.getpid())) - set(pool.pids())
    pool.preview(notes(small_workspace))
    workers = pool.pids()
    with pytest.raises(PreviewFailed) as blown:
        pool.preview(ALLOC)
    assert blown.value.to_data()["reason"] == "memory"
    assert "needed more than 768 MB" in blown.value.message
    assert "previewMemoryMB" in blown.value.message
    assert pool.preview(notes(small_workspace))["kind"] == "text"
    assert pool.pids() != workers
    assert_no_strays(pool, before)


def test_more_requests_than_workers_queue_and_all_complete(pool: PreviewPool) -> None:
    results: list[dict[str, Any]] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(pool.preview(sleep_hook(400)))
        except BaseException as error:
            errors.append(error)

    pool.preview(sleep_hook(1))
    pool.preview(sleep_hook(1))  # both workers are warm
    threads = [threading.Thread(target=run) for _ in range(pool.size + 1)]
    start = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    elapsed = time.monotonic() - start
    assert not errors and len(results) == pool.size + 1
    assert len({result["pid"] for result in results}) == pool.size
    assert 0.8 <= elapsed < 5  # two rounds: the third request waited for a free worker


def test_cancel_keeps_a_worker_that_finishes_and_replaces_one_that_does_not(
    pool: PreviewPool,
) -> None:
    def cancelled_after(uri: str, delay_s: float) -> BaseException | dict[str, Any]:
        cancel = threading.Event()
        threading.Timer(delay_s, cancel.set).start()
        try:
            return pool.preview(uri, Budget(timeout_ms=30_000), cancel)
        except ArtifactError as error:
            return error

    pool.preview(sleep_hook(1))
    workers = pool.pids()
    quick = cancelled_after(sleep_hook(150), 0.05)  # finishes within the cancel grace
    assert isinstance(quick, dict)
    assert pool.pids() == workers
    start = time.monotonic()
    stuck = cancelled_after(HANG, 0.1)
    assert isinstance(stuck, Cancelled) and stuck.code == -32800
    assert time.monotonic() - start < 0.1 + pool_module.CANCEL_GRACE_S + 1
    assert pool.pids() != workers
    assert pool.preview(sleep_hook(1))["kind"] == "test"


def test_a_worker_that_dies_while_idle_is_replaced(pool: PreviewPool) -> None:
    pool.preview(sleep_hook(1))
    pool.preview(sleep_hook(1))
    workers = pool.pids()
    for pid in workers:
        os.kill(pid, signal.SIGKILL)
    assert wait_until(lambda: not any(exists(pid) for pid in workers))
    assert pool.preview(sleep_hook(1))["kind"] == "test"
    assert not set(pool.pids()) & set(workers)


def test_new_pool_size_and_memory_cap_replace_the_workers(pool: PreviewPool) -> None:
    pool.preview(sleep_hook(1))
    workers = pool.pids()
    pool.configure(Settings(preview_workers=3, preview_memory_mb=600), [])
    assert len(pool.pids()) == 3 and not set(pool.pids()) & set(workers)
    assert all(
        "--memory-mb=600" in Path(f"/proc/{pid}/cmdline").read_bytes().decode()
        for pid in pool.pids()
    )
    with pytest.raises(PreviewFailed) as blown:
        pool.preview(ALLOC)
    assert "needed more than 600 MB" in blown.value.message
    pool.configure(Settings(preview_workers=3, preview_memory_mb=600), [])  # same shape
    assert len(pool.pids()) == 3


def test_hooks_are_off_without_the_test_environment_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(TEST_HOOKS_ENV, raising=False)
    pool = PreviewPool()
    try:
        with pytest.raises(ArtifactError) as refused:
            pool.preview(CRASH)
        assert not isinstance(refused.value, PreviewFailed)  # an ordinary bad-URI error
        workers = pool.pids()
    finally:
        pool.close()
    assert len(workers) == 2 and not any(exists(pid) for pid in workers)


# -- through the real language server ----------------------------------------------------------


@pytest_lsp.fixture(
    config=ClientServerConfig(
        server_command=[sys.executable, "-m", "pyserver", "serve"],
        server_env={**os.environ, TEST_HOOKS_ENV: "1"},
    )
)
async def client(lsp_client: LanguageClient, small_workspace: Path):  # type: ignore[no-untyped-def]
    await lsp_client.initialize_session(
        types.InitializeParams(
            capabilities=types.ClientCapabilities(),
            initialization_options={"localWorkspaces": [str(small_workspace)]},
        )
    )
    yield
    await lsp_client.shutdown_session()


async def test_a_crashing_preview_fails_one_request_and_the_server_goes_on(
    client: LanguageClient, small_workspace: Path
) -> None:
    with pytest.raises(JsonRpcException) as crashed:
        await client.protocol.send_request_async("artifacts/preview", {"uri": CRASH})
    assert crashed.value.code == -31008
    assert as_dict(crashed.value.data) == {
        "kind": "PreviewFailed",
        "uri": CRASH,
        "reason": "crashed",
    }
    assert "SIGSEGV" in crashed.value.message
    roots = as_dict(await client.protocol.send_request_async("artifacts/roots", {}))
    assert roots["items"]
    uri = notes(small_workspace)
    preview = as_dict(await client.protocol.send_request_async("artifacts/preview", {"uri": uri}))
    assert preview["kind"] == "text"


async def test_a_cancelled_hanging_preview_does_not_block_the_next_ones(
    client: LanguageClient, small_workspace: Path
) -> None:
    pending = asyncio.ensure_future(
        client.protocol.send_request_async(
            "artifacts/preview", {"uri": HANG, "timeoutMs": 60_000}, msg_id="hang"
        )
    )
    await asyncio.sleep(0.3)
    client.protocol.notify("$/cancelRequest", types.CancelParams(id="hang"))
    with pytest.raises(JsonRpcException) as cancelled:
        await asyncio.wait_for(pending, 10)
    assert cancelled.value.code == -32800
    uri = notes(small_workspace)
    for _ in range(3):  # more than the pool size: the hung worker was freed
        preview = await asyncio.wait_for(
            client.protocol.send_request_async("artifacts/preview", {"uri": uri}), 10
        )
        assert as_dict(preview)["kind"] == "text"


def lsp(message: dict[str, Any]) -> bytes:
    body = json.dumps({"jsonrpc": "2.0", **message}).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def read_response(stream: Any, request_id: int) -> dict[str, Any]:
    while True:
        length = 0
        while (line := stream.readline().strip()) != b"":
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        if not length:
            raise EOFError("server closed its output")
        message = json.loads(stream.read(length))
        if message.get("id") == request_id and "method" not in message:
            return message  # type: ignore[no-any-return]


def start_server_with_workers(workspace: Path) -> tuple[subprocess.Popen[bytes], list[int]]:
    server = subprocess.Popen(
        [sys.executable, "-m", "pyserver", "serve"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env={**os.environ, TEST_HOOKS_ENV: "1"},
    )
    assert server.stdin and server.stdout
    options = {"localWorkspaces": [str(workspace)]}
    params = {"processId": None, "rootUri": None, "capabilities": {}}
    server.stdin.write(
        lsp(
            {
                "id": 1,
                "method": "initialize",
                "params": {**params, "initializationOptions": options},
            }
        )
    )
    server.stdin.write(lsp({"method": "initialized", "params": {}}))
    server.stdin.write(
        lsp({"id": 2, "method": "artifacts/preview", "params": {"uri": notes(workspace)}})
    )
    server.stdin.flush()
    assert read_response(server.stdout, 2)["result"]["kind"] == "text"
    workers = list(children_of(server.pid))
    assert len(workers) == 2
    return server, workers


def test_server_exit_leaves_no_worker_behind(small_workspace: Path) -> None:
    server, workers = start_server_with_workers(small_workspace)
    assert server.stdin
    server.stdin.write(lsp({"id": 3, "method": "shutdown"}))
    server.stdin.write(lsp({"method": "exit"}))
    server.stdin.close()
    try:
        assert server.wait(10) == 0
        assert wait_until(lambda: not any(exists(pid) for pid in workers), 5)
    finally:
        kill_leftovers(server, workers)


@pytest.mark.parametrize("busy", [False, True], ids=["idle", "busy"])
def test_workers_exit_when_the_server_is_killed(small_workspace: Path, busy: bool) -> None:
    server, workers = start_server_with_workers(small_workspace)
    if busy:
        assert server.stdin
        hang = {"uri": HANG, "timeoutMs": 60_000}
        server.stdin.write(lsp({"id": 3, "method": "artifacts/preview", "params": hang}))
        server.stdin.flush()
        time.sleep(0.5)
    server.kill()
    server.wait(10)
    try:
        # Idle workers see their stdin close; a busy one notices its parent changed.
        assert wait_until(lambda: not any(exists(pid) for pid in workers), 5)
    finally:
        kill_leftovers(server, workers)


def kill_leftovers(server: subprocess.Popen[bytes], workers: list[int]) -> None:
    """After a failed assertion: leave no process of ours running."""
    if server.poll() is None:
        server.kill()
        server.wait(10)
    for pid in workers:
        if exists(pid):
            os.kill(pid, signal.SIGKILL)


def test_cli_previews_in_process_and_says_clearly_when_a_preview_fails(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], small_workspace: Path
) -> None:
    from pyserver import cli

    def broken(*args: Any) -> dict[str, Any]:
        raise RuntimeError("boom")

    monkeypatch.setattr(service, "preview", broken)
    assert cli.main(["preview", notes(small_workspace)]) == 1
    assert capsys.readouterr().err.startswith(
        f"aml-artifacts: The preview of {notes(small_workspace)} failed (RuntimeError: boom)."
    )
