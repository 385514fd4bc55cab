"""Zip and tar archives: listings read from the central directory / member headers, never
extracted. A zip holding a `data.pkl` is a torch checkpoint (torchfiles.py); a zip whose
members are all `.npy` is a NumPy `.npz`. Member names are untrusted: they are escaped, and
names that would land outside an extraction folder (zip-slip) are flagged."""

from __future__ import annotations

import io
import re
import tarfile
import zipfile
from typing import IO, Any

from ..errors import CorruptArtifact
from .arrays import (
    MAX_HEADER,
    NpyError,
    dtype_text,
    header_length,
    object_finding,
    parse_header,
)
from .budget import BudgetedReader, BudgetExceeded, ReaderFile
from .markdown import code_span, escape, format_size, table
from .section import Section
from .stats import array_stats, corner, format_stats, values_block
from .torchfiles import preview_torch_zip

ZIP_LISTING = 25
TAR_MEMBERS = 500  # member headers read at most
NPZ_MEMBERS = 40
NPZ_VALUES_MAX = 64 * 1024  # members at most this big get a head and statistics
# Members whose loading may run code: the archive is then "unknown", not "safe".
_CODE_SUFFIXES = (
    ".pkl",
    ".pickle",
    ".pt",
    ".pth",
    ".ckpt",
    ".bin",
    ".joblib",
    ".jbl",
    ".sav",
    ".dill",
    ".cloudpickle",
    ".npy",
    ".npz",
    ".py",
    ".pyc",
    ".so",
    ".dll",
    ".dylib",
    ".exe",
    ".sh",
    ".bat",
    ".ps1",
    ".jar",
    ".whl",
    ".egg",
    ".keras",
    ".h5",  # Keras Lambda layers hold marshalled code
    ".zip",
    ".tar",
    ".gz",
)
_DRIVE = re.compile(r"^[A-Za-z]:")


def unsafe_member_name(name: str) -> str | None:
    """Why extracting a member called `name` could write outside the destination, or None."""
    if "\x00" in name:
        return "contains a NUL byte"
    if name.startswith(("/", "\\")):
        return "is an absolute path"
    if _DRIVE.match(name):
        return "starts with a drive letter"
    if ".." in re.split(r"[/\\]", name):
        return "climbs out with '..'"
    return None


def preview_zip(reader: BudgetedReader, kind: str) -> Section:
    try:
        archive = zipfile.ZipFile(ReaderFile(reader))
    except zipfile.BadZipFile as error:
        raise CorruptArtifact(
            f"Corrupt zip archive ({error}). The file may be truncated or corrupt."
        ) from None
    names = archive.namelist()
    pickles = [n for n in names if n.endswith("/data.pkl") or n == "data.pkl"]
    if pickles:
        return preview_torch_zip(reader, archive.infolist(), pickles[0])
    files = [n for n in names if not n.endswith("/")]
    if files and all(n.endswith(".npy") for n in files):
        return _npz_section(archive)
    return _zip_section(archive)


# --- plain zip --------------------------------------------------------------------------


def _zip_section(archive: zipfile.ZipFile) -> Section:
    infos = archive.infolist()
    total = sum(i.file_size for i in infos)
    packed = sum(i.compress_size for i in infos)
    rows, entries = [], []
    for info in infos[:ZIP_LISTING]:
        size = "folder" if info.is_dir() else format_size(info.file_size)
        rows.append([code_span(info.filename), size, format_size(info.compress_size)])
    for info in infos[:200]:
        entries.append(
            {
                "name": info.filename,
                "size": info.file_size,
                "compressedSize": info.compress_size,
                "dir": info.is_dir(),
            }
        )
    if len(infos) > ZIP_LISTING:
        rows.append([f"… {len(infos) - ZIP_LISTING} more", "", ""])
    section = Section(
        "zip",
        f"Zip archive · {len(infos)} entries · {format_size(total)} unpacked",
        [table(["name", "size", "compressed"], rows)] if rows else ["empty archive"],
        fields={
            "entries": len(infos),
            "totalSize": total,
            "compressedSize": packed,
            "members": entries,
        },
        truncated=len(infos) > ZIP_LISTING,
    )
    _check_members(section, [i.filename for i in infos])
    if any(i.flag_bits & 0x1 for i in infos):
        section.findings.append(
            {"severity": "info", "message": "some members are encrypted: contents not readable"}
        )
    return section


def _check_members(section: Section, names: list[str], code: bool = True) -> None:
    """Zip-slip names are warnings; members that may hold code make the verdict unknown."""
    hostile = [(n, why) for n in names if (why := unsafe_member_name(n))]
    for name, why in hostile[:10]:
        section.findings.append(
            {
                "severity": "warning",
                "message": f"member {name!r:.120} {why}: extracting it naively would write "
                "outside the destination folder",
                "member": name,
            }
        )
    if len(hostile) > 10:
        section.findings.append(
            {"severity": "warning", "message": f"{len(hostile) - 10} more members like these"}
        )
    risky = [n for n in names if code and n.lower().endswith(_CODE_SUFFIXES)]
    if risky:
        section.verdict = "unknown"
        section.findings.append(
            {
                "severity": "info",
                "message": f"{len(risky)} members may hold code when loaded "
                f"(e.g. {risky[0]!r:.80}); preview each after extracting",
            }
        )


# --- npz ----------------------------------------------------------------------------------


def _npz_section(archive: zipfile.ZipFile) -> Section:
    infos = [i for i in archive.infolist() if not i.is_dir()]
    rows: list[list[str]] = []
    arrays: list[dict[str, Any]] = []
    blocks: list[str] = []
    objects: list[str] = []
    truncated = False
    for info in infos[:NPZ_MEMBERS]:
        name = info.filename[: -len(".npy")]
        packing = "deflated" if info.compress_type == zipfile.ZIP_DEFLATED else "stored"
        try:
            with archive.open(info) as member:
                head = member.read(12)
                total = header_length(head)
                if total > MAX_HEADER:
                    raise NpyError(f"header of {total} bytes is implausibly long")
                head += member.read(total - len(head))
                header = parse_header(head)
                values = None
                small = not header.is_object and header.nbytes <= NPZ_VALUES_MAX
                if small:
                    values = member.read(header.nbytes)
        except BudgetExceeded:
            truncated = True
            rows.append([code_span(name), "not read: byte budget", "", "", ""])
            break
        except (NpyError, zipfile.BadZipFile, EOFError, ValueError) as error:
            raise CorruptArtifact(
                f"Corrupt .npz archive: member {info.filename!r:.80} is not a valid .npy "
                f"({error}). The file may be truncated or corrupt."
            ) from None
        dtype = dtype_text(header.dtype)
        shape = "×".join(str(n) for n in header.shape) or "scalar"
        record: dict[str, Any] = {
            "name": name,
            "dtype": dtype,
            "shape": list(header.shape),
            "fortranOrder": header.fortran_order,
            "size": info.file_size,
            "compressedSize": info.compress_size,
        }
        if header.is_object:
            objects.append(name)
            record["object"] = True
        if values is not None and len(values) == header.nbytes:
            _npz_values(header, values, record, blocks, name)
        arrays.append(record)
        rows.append(
            [
                code_span(name),
                escape(dtype, 80) + (" ⚠️ object" if header.is_object else ""),
                shape,
                format_size(info.file_size),
                packing,
            ]
        )
    if len(infos) > NPZ_MEMBERS:
        truncated = True
        rows.append([f"… {len(infos) - NPZ_MEMBERS} more", "", "", "", ""])
    section = Section(
        "npz",
        f"NumPy archive (.npz) · {len(infos)} arrays",
        [table(["array", "dtype", "shape", "size", "packing"], rows), *blocks],
        truncated=truncated,
        fields={"arrays": arrays, "entries": len(infos)},
    )
    if objects:
        section.verdict = "unknown"
        for name in objects[:8]:
            section.findings.append(object_finding(f"array {name!r:.80}"))
    _check_members(section, [i.filename for i in infos], code=False)
    return section


def _npz_values(
    header: Any, values: bytes, record: dict[str, Any], blocks: list[str], name: str
) -> None:
    import numpy as np

    array = np.frombuffer(values, dtype=header.dtype, count=header.count).reshape(
        header.shape, order="F" if header.fortran_order else "C"
    )
    stats = array_stats(array)
    if stats:
        record["stats"] = stats
    if len(blocks) >= 8 or array.ndim > 2:
        return
    title = f"**{code_span(name)}**" + (f" · {escape(format_stats(stats))}" if stats else "")
    blocks.append(f"{title}\n\n{values_block(corner(array))}")


# --- tar ----------------------------------------------------------------------------------


def preview_tar(reader: BudgetedReader, kind: str) -> Section:
    """An uncompressed tar: each member's 512-byte header is read, its data skipped."""
    return preview_tar_stream(ReaderFile(reader), "Tar archive", seekable=True)


def preview_tar_stream(
    stream: IO[bytes] | io.IOBase, label: str, seekable: bool = False
) -> Section:
    """The listing of a tar read from `stream` (for a compressed tar, a decompressing
    stream: members are then listed as far as the byte budget reaches)."""
    members: list[tarfile.TarInfo] = []
    truncated = False
    error: str | None = None
    try:
        with tarfile.open(fileobj=stream, mode="r:" if seekable else "r|") as archive:
            for member in archive:
                members.append(member)
                if len(members) >= TAR_MEMBERS:
                    truncated = True
                    break
    except BudgetExceeded:
        truncated = True
    except (tarfile.TarError, EOFError, OSError) as failure:
        if not members:
            raise CorruptArtifact(
                f"Corrupt tar archive ({failure}). The file may be truncated or corrupt."
            ) from None
        truncated, error = True, f"listing stopped: {failure}"
    return _tar_section(members, label, truncated, error)


def _tar_section(
    members: list[tarfile.TarInfo], label: str, truncated: bool, error: str | None
) -> Section:
    total = sum(m.size for m in members if m.isfile())
    rows, entries = [], []
    for member in members[:ZIP_LISTING]:
        kind = _tar_kind(member)
        if member.issym() or member.islnk():
            kind += f" → {code_span(member.linkname)}"
        rows.append([code_span(member.name), kind, _tar_size(member)])
    for member in members[:200]:
        entry: dict[str, Any] = {"name": member.name, "type": _tar_kind(member)}
        entry["size"] = member.size
        if member.issym() or member.islnk():
            entry["target"] = member.linkname
        entries.append(entry)
    more = "+" if truncated else ""
    if len(members) > ZIP_LISTING:
        rows.append([f"… {len(members) - ZIP_LISTING}{more} more", "", ""])
    lines = [table(["name", "type", "size"], rows)] if rows else ["empty archive"]
    if error:
        lines.append(f"⚠️ {escape(error)}")
    section = Section(
        "tar",
        f"{label} · {len(members)}{more} members · {format_size(total)}{more}",
        lines,
        truncated=truncated or len(members) > ZIP_LISTING,
        fields={"entries": len(members), "totalSize": total, "members": entries},
    )
    _check_members(section, [m.name for m in members])
    for member in members:
        if not (member.issym() or member.islnk()):
            continue
        why = _link_escape(member)
        if why:
            section.findings.append(
                {
                    "severity": "warning",
                    "message": f"link {member.name!r:.80} → {member.linkname!r:.80} {why}",
                    "member": member.name,
                }
            )
    if any(m.isdev() for m in members):
        section.findings.append(
            {"severity": "warning", "message": "holds device files: never extract as root"}
        )
    return section


def _link_escape(member: tarfile.TarInfo) -> str | None:
    """Why a link's target lies outside the archive: a hard link names a member from the
    archive root, a symbolic link a path from its own folder."""
    target = member.linkname
    if member.islnk():
        why = unsafe_member_name(target)
        return f"points outside the archive: its target {why}" if why else None
    if "\x00" in target or target.startswith(("/", "\\")) or _DRIVE.match(target):
        return "points outside the archive: its target is an absolute path"
    parts = [p for p in re.split(r"[/\\]", member.name)[:-1] if p not in ("", ".")]
    for part in re.split(r"[/\\]", target):
        if part == "..":
            if not parts:
                return "points outside the archive"
            parts.pop()
        elif part not in ("", "."):
            parts.append(part)
    return None


def _tar_kind(member: tarfile.TarInfo) -> str:
    if member.issym():
        return "symlink"
    if member.islnk():
        return "hard link"
    if member.isdir():
        return "folder"
    if member.isfile():
        return "file"
    if member.isdev():
        return "device"
    return "other"


def _tar_size(member: tarfile.TarInfo) -> str:
    return format_size(member.size) if member.isfile() else ""
