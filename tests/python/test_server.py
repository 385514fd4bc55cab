"""The server as a real language server process, driven over stdio by pytest-lsp."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import ClientServerConfig, LanguageClient

from pyserver.protocol import as_dict
from pyserver.uris import file_uri

SERVER = ClientServerConfig(server_command=[sys.executable, "-m", "pyserver", "serve"])


@pytest_lsp.fixture(config=SERVER)
async def client(lsp_client: LanguageClient, small_workspace: Path):  # type: ignore[no-untyped-def]
    lsp_client.workspace_root = small_workspace  # type: ignore[attr-defined]
    await lsp_client.initialize_session(
        types.InitializeParams(
            capabilities=types.ClientCapabilities(
                window=types.WindowClientCapabilities(work_done_progress=True)
            ),
            initialization_options={"localWorkspaces": [str(small_workspace)]},
        )
    )
    yield
    await lsp_client.shutdown_session()


async def request(
    client: LanguageClient, method: str, params: dict[str, Any], msg_id: str | None = None
) -> dict[str, Any]:
    result = await client.protocol.send_request_async(method, params, msg_id=msg_id)
    return as_dict(result)


async def test_roots_come_from_initialization_options(
    client: LanguageClient, small_workspace: Path
) -> None:
    result = await request(client, "artifacts/roots", {})
    assert [(n["name"], n["kind"], n["uri"]) for n in result["items"]] == [
        ("small", "workspace", file_uri(small_workspace))
    ]


async def test_children_are_paged(client: LanguageClient, small_workspace: Path) -> None:
    uri = file_uri(small_workspace / "experiments" / "exp")
    first = await request(client, "artifacts/children", {"uri": uri, "pageSize": 3})
    assert [n["name"] for n in first["items"]] == ["new", "pipe", "old run"]
    second = await request(
        client,
        "artifacts/children",
        {"uri": uri, "pageSize": 3, "pageToken": first["nextPageToken"]},
    )
    assert [n["name"] for n in second["items"]] == ["broken"]
    assert "nextPageToken" not in second
    assert "run.json is not valid JSON" in second["items"][0]["error"]


async def test_children_of_an_experiment_take_a_run_filter(
    client: LanguageClient, small_workspace: Path
) -> None:
    uri = file_uri(small_workspace / "experiments" / "exp")
    failed = await request(
        client, "artifacts/children", {"uri": uri, "filter": {"status": ["Failed"]}}
    )
    assert [n["name"] for n in failed["items"]] == ["new"]
    completed = await request(
        client,
        "artifacts/children",
        {"uri": uri, "filter": {"status": ["Completed", "Failed"], "tag": ""}},
    )
    assert [n["name"] for n in completed["items"]] == ["new", "pipe", "old run"]
    with pytest.raises(JsonRpcException) as bad:
        await request(client, "artifacts/children", {"uri": uri, "filter": {"status": "x y"}})
    assert bad.value.code == -32602


async def test_errors_carry_codes_and_kinds(client: LanguageClient, small_workspace: Path) -> None:
    with pytest.raises(JsonRpcException) as missing_uri:
        await request(client, "artifacts/children", {})
    assert missing_uri.value.code == -32602
    with pytest.raises(JsonRpcException) as deleted:
        await request(client, "artifacts/preview", {"uri": file_uri(small_workspace / "gone.pkl")})
    assert deleted.value.code == -31001
    assert as_dict(deleted.value.data)["kind"] == "NotFound"


async def test_corrupt_file_fails_one_request_and_the_server_goes_on(
    client: LanguageClient, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\xff" * 100)
    with pytest.raises(JsonRpcException) as corrupt:
        await request(client, "artifacts/preview", {"uri": file_uri(bad)})
    assert corrupt.value.code == -31004
    assert (await request(client, "artifacts/roots", {}))["items"]


async def test_preview_over_the_protocol(client: LanguageClient, small_workspace: Path) -> None:
    notes = small_workspace / "experiments" / "exp" / "old" / "outputs" / "notes.txt"
    result = await request(client, "artifacts/preview", {"uri": file_uri(notes)})
    size = notes.stat().st_size  # each byte counted once, though detection and text both read it
    assert (result["kind"], result["bytesRead"], result["truncated"]) == ("text", size, False)
    assert "hello" in result["markdown"]


async def test_configuration_change_updates_roots_and_notifies(
    client: LanguageClient, small_workspace: Path, tmp_path: Path
) -> None:
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(
            settings={"localWorkspaces": [str(small_workspace), str(tmp_path / "missing")]}
        )
    )
    await asyncio.wait_for(client.wait_for_notification("artifacts/didChangeRoots"), 5)
    result = await request(client, "artifacts/roots", {})
    assert [n["name"] for n in result["items"]] == ["small", "missing"]
    assert "Folder not found" in result["items"][1]["error"]


async def test_download_reports_progress_and_writes_the_file(
    client: LanguageClient, small_workspace: Path, tmp_path: Path
) -> None:
    outputs = small_workspace / "experiments" / "exp" / "old" / "outputs"
    client.progress_reports["dl-1"] = []
    result = await request(
        client,
        "artifacts/download",
        {"uri": file_uri(outputs), "dest": str(tmp_path), "workDoneToken": "dl-1"},
    )
    assert result == {"path": str(tmp_path / "outputs"), "files": 2, "bytes": 1036}
    assert (tmp_path / "outputs" / "notes.txt").read_text() == "hello\nworld\n"
    kinds = [report.kind for report in client.progress_reports["dl-1"]]
    assert kinds[0] == "begin" and kinds[-1] == "end"


async def test_download_refuses_to_overwrite(
    client: LanguageClient, small_workspace: Path, tmp_path: Path
) -> None:
    notes = small_workspace / "experiments" / "exp" / "old" / "outputs" / "notes.txt"
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(JsonRpcException) as exists:
        await request(client, "artifacts/download", {"uri": file_uri(notes), "dest": str(tmp_path)})
    assert exists.value.code == -31002
    assert (tmp_path / "notes.txt").read_text() == "mine"


async def test_cancelled_download_leaves_nothing_behind(
    client: LanguageClient, tmp_path: Path
) -> None:
    source = tmp_path / "src" / "huge.bin"
    source.parent.mkdir()
    with open(source, "wb") as handle:
        handle.truncate(8 << 30)  # sparse: reading is fast, copying all of it is not
    dest = tmp_path / "dest"
    pending = asyncio.ensure_future(
        request(
            client,
            "artifacts/download",
            {"uri": file_uri(source), "dest": str(dest)},
            msg_id="dl-cancel",
        )
    )
    for _ in range(200):
        if dest.exists() and any(dest.iterdir()):
            break
        await asyncio.sleep(0.02)
    client.protocol.notify("$/cancelRequest", types.CancelParams(id="dl-cancel"))
    with pytest.raises(JsonRpcException) as cancelled:
        await asyncio.wait_for(pending, 30)
    assert cancelled.value.code == -32800
    await asyncio.sleep(0.2)
    assert list(dest.iterdir()) == []


async def test_hover_on_a_path_string_in_a_training_script(
    client: LanguageClient, small_workspace: Path
) -> None:
    script = small_workspace / "train.py"
    text = 'print(open("outputs/notes.txt").read())\n'
    script.write_text(text)
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            types.TextDocumentItem(uri=file_uri(script), language_id="python", version=1, text=text)
        )
    )
    hover = await client.text_document_hover_async(
        types.HoverParams(types.TextDocumentIdentifier(file_uri(script)), types.Position(0, 15))
    )
    assert hover is not None
    assert isinstance(hover.contents, types.MarkupContent)
    assert "notes" in hover.contents.value and "hello" in hover.contents.value
    nothing = await client.text_document_hover_async(
        types.HoverParams(types.TextDocumentIdentifier(file_uri(script)), types.Position(0, 2))
    )
    assert nothing is None


async def test_download_conflicts_are_listed_then_skipped_on_request(
    client: LanguageClient, small_workspace: Path, tmp_path: Path
) -> None:
    outputs = small_workspace / "experiments" / "exp" / "old" / "outputs"
    dest = tmp_path / "dest"
    (dest / "outputs").mkdir(parents=True)
    (dest / "outputs" / "notes.txt").write_text("mine")
    params = {"uri": file_uri(outputs), "dest": str(dest), "onConflict": "ask"}
    with pytest.raises(JsonRpcException) as asked:
        await request(client, "artifacts/download", params)
    assert asked.value.code == -31002
    data = asked.value.data
    assert data["kind"] == "AlreadyExists"
    assert (data["conflicts"], data["conflictCount"]) == (["outputs/notes.txt"], 1)
    assert not (dest / "outputs" / "sub").exists()  # nothing written before the answer
    skipped = await request(client, "artifacts/download", {**params, "onConflict": "skip"})
    assert skipped == {"path": str(dest / "outputs"), "files": 1, "bytes": 1024, "skipped": 1}
    assert (dest / "outputs" / "notes.txt").read_text() == "mine"
    assert (dest / "outputs" / "sub" / "a.bin").read_bytes() == bytes(range(256)) * 4


async def test_download_as_workspace_writes_a_local_workspace(
    client: LanguageClient, small_workspace: Path, tmp_path: Path
) -> None:
    run = small_workspace / "experiments" / "exp" / "old"
    root = tmp_path / "mirror"
    client.progress_reports["ws-1"] = []
    result = await request(
        client,
        "artifacts/download",
        {"uri": file_uri(run), "dest": str(root), "asWorkspace": True, "workDoneToken": "ws-1"},
    )
    assert result == {
        "path": str(root / "experiments" / "exp" / "old"),
        "files": 2,
        "bytes": 1036,
        "workspace": str(root),
    }
    assert (root / "workspace.json").exists()
    assert (root / "experiments" / "exp" / "old" / "run.json").exists()
    kinds = [report.kind for report in client.progress_reports["ws-1"]]
    assert kinds[0] == "begin" and kinds[-1] == "end"
