import threading
from pathlib import Path

import pytest

from pyserver.backends import Catalog
from pyserver.errors import AlreadyExists, Cancelled, UnsafePath
from pyserver.transfers import Progress, download, safe_target
from pyserver.uris import file_uri


def test_downloads_a_folder_with_verified_files(small_workspace: Path, tmp_path: Path) -> None:
    source = small_workspace / "experiments" / "exp" / "old" / "outputs"
    seen: list[Progress] = []
    result = download(Catalog(), file_uri(source), tmp_path / "dest", on_progress=seen.append)
    assert (result.path, result.files, result.bytes) == (
        str(tmp_path / "dest" / "outputs"),
        2,
        1036,
    )
    assert (tmp_path / "dest" / "outputs" / "sub" / "a.bin").read_bytes() == bytes(range(256)) * 4
    assert seen[-1] == Progress(2, 2, 1036, 1036)
    assert not list((tmp_path / "dest").rglob("*.part"))


def test_refuses_to_overwrite_unless_asked(small_workspace: Path, tmp_path: Path) -> None:
    source = small_workspace / "experiments" / "exp" / "old" / "outputs" / "notes.txt"
    (tmp_path / "notes.txt").write_text("keep me")
    with pytest.raises(AlreadyExists):
        download(Catalog(), file_uri(source), tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "keep me"
    download(Catalog(), file_uri(source), tmp_path, overwrite=True)
    assert (tmp_path / "notes.txt").read_text() == "hello\nworld\n"


def test_cancel_leaves_no_partial_file(tmp_path: Path) -> None:
    big = tmp_path / "src" / "big.bin"
    big.parent.mkdir()
    big.write_bytes(b"\x01" * (5 << 20))
    cancel = threading.Event()

    def cancel_after_first_chunk(progress: Progress) -> None:
        if progress.bytes_done:
            cancel.set()

    with pytest.raises(Cancelled):
        download(
            Catalog(),
            file_uri(big),
            tmp_path / "out",
            on_progress=cancel_after_first_chunk,
            cancel=cancel,
        )
    assert list((tmp_path / "out").iterdir()) == []


@pytest.mark.parametrize("name", ["..", ".", "", "a/b", "..\\x", "C:evil", "nul\x00", "/etc"])
def test_hostile_remote_names_never_leave_the_destination(tmp_path: Path, name: str) -> None:
    with pytest.raises(UnsafePath):
        safe_target(tmp_path, ("folder", name))


def test_symlink_in_destination_cannot_redirect_writes(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "link").symlink_to(outside)
    with pytest.raises(UnsafePath, match="resolves outside"):
        safe_target(dest, ("link", "file.txt"))
