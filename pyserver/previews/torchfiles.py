"""PyTorch files: zip checkpoints, whole-model pickles, TorchScript archives and legacy
(pre-zip) checkpoints, read without importing torch and without running any pickle.

What is read, by range: the zip central directory, the pickles, the tiny `byteorder`
record, and the storage bytes of the few tensors whose statistics fit the byte budget.
Nothing else, whatever the size of the checkpoint.
"""

from __future__ import annotations

import re
import time
import zipfile
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from .budget import BudgetedReader, BudgetExceeded, merge_ranges
from .markdown import code_block, code_span, escape, format_size, table
from .pickle_model import Call, Global, PersistentRef
from .pickle_vm import PickleError, Unpickled, read_pickle
from .safety import assess
from .section import Section
from .stats import STAT_KEYS, format_number
from .torch_tensors import (
    ModuleNode,
    TensorInfo,
    Walk,
    find_tensors,
    key_text,
    short_class,
    tensor_stats,
    unmangle,
)
from .torch_zip import (
    DEFLATED,
    INLINE_START,
    STORED,
    ZipDirectory,
    ZipEntry,
    ZipFormatError,
    crc_matches,
    data_offset,
    directory_from_infos,
    entry_ranges,
    overhead,
    read_directory,
    read_entry,
)

MAX_ROWS = 40  # tensors in the markdown table
MAX_FIELD_TENSORS = 500  # tensors in the structured fields
MAX_STATS = 24  # tensors whose statistics are computed
# Statistics read at most this many separate ranges, storages at most STATS_MERGE_GAP apart
# joined into one (the gap costs less than another request). Each range is a request: against
# Azurite ~3 ms of a preview (it serves them one at a time), against Azure Storage a round
# trip (made concurrently). Cold previews of bench/remote's 200 MB checkpoint, whose 20 small
# tensors in the table each lie between 2.7 MB ones (medians of 50, interleaved): 2 reads
# 22.5 ms, 4 reads 27.8 ms, 8 reads 35.1 ms. The storages of most checkpoints' tables are
# neighbours: one or two ranges hold as many as the byte budget allows. STATS_READS per MiB
# of budget: 4 for a hover, more for the preview panel's larger budget.
STATS_READS = 4
STATS_MERGE_GAP = 64 * 1024
# Statistics stop this long after the preview started (remote reads are slow; the listing
# matters more than the numbers).
STATS_SECONDS = 0.3
RESERVE = 64 * 1024  # budget kept back for what follows the statistics
MAX_PICKLES = 8  # .pkl entries scanned besides data.pkl
MAX_CODE_CHARS = 4000
MAX_CODE_FILES = 6
MAX_CODE_READ = 64 * 1024  # bytes of one code file
MAX_TREE_LINES = 30
MAX_KEYS = 100
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001
_LEGACY_FIRST_READ = 64 * 1024
_TEXT_RECORD = 64


class TorchFormatError(ValueError):
    """The bytes announce a torch file but do not hold one that can be followed."""


# Why tensors of the table have no statistics, as the note under it says.
_SKIPPED = {
    "budget": "too large for the read budget",
    "dtype": "of a dtype without statistics",
    "reads": "too far apart (statistics make a few separate reads, more in the preview panel)",
    "other": "not read",
}


@dataclass
class _Stats:
    """Bookkeeping for the statistics pass."""

    computed: int = 0
    skipped: Counter[str] = field(default_factory=Counter)  # tensors, by a key of _SKIPPED
    notes: list[str] = field(default_factory=list)


@dataclass
class _StorageRead:
    """How the bytes of one tensor are read: the (offset, length) ranges reading them reads,
    and the read itself (the bytes from the tensor's offset; None, counted, when unreadable)."""

    ranges: list[tuple[int, int]]
    read: Callable[[], bytes | None]


# --- zip checkpoints and TorchScript ---------------------------------------------------


def preview_torch_zip(
    reader: BudgetedReader,
    listing: Sequence[str] | Sequence[zipfile.ZipInfo] | None = None,
    data_pkl: str | None = None,
) -> Section:
    """A zip archive that holds a `data.pkl`: a torch.save checkpoint or a TorchScript
    archive. `listing` is zipfile's infolist() when the caller already read the central
    directory (it is then not read again), else it is read here by range; `data_pkl` is a
    hint. Entries are read from their local headers, without zipfile's CRC checks."""
    started = time.monotonic()
    max_bytes = _max_bytes(reader)
    infos = [i for i in listing or () if isinstance(i, zipfile.ZipInfo)]
    if infos:
        directory = directory_from_infos(infos)
    else:
        try:
            directory = read_directory(reader, max_bytes // 2)
        except ZipFormatError as error:
            raise TorchFormatError(str(error)) from None
    prefix = _archive_prefix(directory, data_pkl)
    records = {e.name[len(prefix) :]: e for e in directory.entries if e.name.startswith(prefix)}
    scripted = "constants.pkl" in records  # torch.load's own test for a TorchScript zip
    findings: list[dict[str, Any]] = []
    main = records.get("data.pkl") or directory.by_name.get(data_pkl or "")
    if main is None:
        raise TorchFormatError("no data.pkl record in the archive")
    others = _other_pickles(directory, main)
    byteorder = records.get("byteorder")
    # Every record read before the statistics, fetched at once (remote files).
    first = min(reader.remaining - overhead(main), max_bytes)
    early = [(main, first), (byteorder, _TEXT_RECORD)]
    _prefetch_entries(reader, early + [(e, max_bytes // 8) for e in others[:MAX_PICKLES]])
    unpickled, data_truncated = _read_zip_pickle(reader, main, max_bytes, findings)
    pickles = [unpickled] if unpickled is not None else []
    truncated = data_truncated or directory.truncated
    truncated |= len(others) > MAX_PICKLES
    for entry in others[:MAX_PICKLES]:
        other, cut = _read_zip_pickle(reader, entry, max_bytes // 8, findings)
        truncated |= cut
        if other is not None:
            pickles.append(other)
    safety = assess(pickles, truncated=truncated)
    verdict = safety.verdict
    findings = list(safety.findings) + findings
    if scripted:
        findings = _torchscript_findings(findings)
        if verdict == "safe":
            verdict = "unknown"
    value = unpickled.value if unpickled is not None else None
    walk = find_tensors(value)
    little = _byteorder(reader, byteorder)
    stats = _Stats()
    if little is None:
        stats.notes.append("the byteorder record is unreadable: no statistics")
    storage_entries = {k[len("data/") :]: e for k, e in records.items() if k.startswith("data/")}

    def plan(tensor: TensorInfo, limit: int) -> _StorageRead | None:
        return _plan_zip_storage(reader, storage_entries, tensor, limit, stats)

    script = _read_torchscript(reader, records, walk, max_bytes) if scripted else None
    if little is not None:
        _compute_stats(reader, walk, plan, little, max_bytes, stats, started)
    kind = "torchscript" if scripted else "torch-zip"
    label = "TorchScript archive" if scripted else "PyTorch checkpoint (zip)"
    storage_bytes = {k: e.size for k, e in storage_entries.items()}
    section = _section(kind, label, value, walk, stats, storage_bytes, verdict, findings)
    section.truncated |= truncated
    if script is not None:
        _render_torchscript(section, script)
    section.fields["storages"] = len(storage_entries)
    section.fields["entries"] = directory.total_entries
    return section


def _torchscript_findings(findings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """torch.jit.load reads the pickles with TorchScript's own unpickler, which binds
    `__torch__.*` classes to the compiled code in code/ instead of importing Python modules:
    those are not Python imports, the code is. Anything else found stays as it is."""
    scripted = [
        str(f["global"])
        for f in findings
        if f.get("severity") != "danger" and str(f.get("global", "")).startswith("__torch__.")
    ]
    kept = [f for f in findings if str(f.get("global", "")) not in scripted]
    message = (
        "TorchScript code (code/ in this archive) runs when the module's methods are "
        "called, and its __setstate__ methods run on torch.jit.load"
    )
    if scripted:
        unique = list(dict.fromkeys(unmangle(n.removeprefix("__torch__.")) for n in scripted))
        names = ", ".join(unique[:4])
        more = f" and {len(unique) - 4} more" if len(unique) > 4 else ""
        message += f"; classes: {names}{more}"
    return [{"severity": "warning", "message": message}, *kept]


def _archive_prefix(directory: ZipDirectory, data_pkl: str | None) -> str:
    """torch names records after the first entry's folder (`<archive>/`)."""
    if directory.entries:
        first = directory.entries[0].name
        if "/" in first:
            return first.split("/", 1)[0] + "/"
    if data_pkl and data_pkl.endswith("data.pkl"):
        return data_pkl[: -len("data.pkl")]
    for entry in directory.entries:
        if entry.name.endswith("/data.pkl"):
            return entry.name[: -len("data.pkl")]
    return ""


def _other_pickles(directory: ZipDirectory, main: ZipEntry) -> list[ZipEntry]:
    """Every other entry named *.pkl (a second data.pkl, constants.pkl, ...): a loader may
    pick a different duplicate than a scanner, so all are scanned."""
    others = [e for e in directory.entries if e is not main and e.name.endswith(".pkl")]
    others.sort(key=lambda e: not e.name.endswith(("/data.pkl", "/constants.pkl")))
    return others


def _read_zip_pickle(
    reader: BudgetedReader, entry: ZipEntry, cap: int, findings: list[dict[str, Any]]
) -> tuple[Unpickled | None, bool]:
    """The entry read as a pickle (at most `cap` bytes of it, within the budget), and True
    when it was cut short or malformed."""
    name = entry.name
    if entry.encrypted:
        findings.append(
            {
                "severity": "warning",
                "message": f"{name} is flagged as encrypted; its bytes were read as stored",
            }
        )
    if entry.method not in (STORED, DEFLATED):
        findings.append(
            {
                "severity": "warning",
                "message": f"{name} uses compression method {entry.method} and was not read",
            }
        )
        return None, True
    room = min(reader.remaining - overhead(entry), cap)
    try:
        data, cut = read_entry(reader, entry, room, max(room, 0) * 4)
    except ZipFormatError as error:
        raise TorchFormatError(str(error)) from None
    if not cut and not crc_matches(entry, data):
        findings.append(
            {
                "severity": "warning",
                "message": f"{name}: CRC does not match its contents (torch loads it anyway)",
            }
        )
    try:
        return read_pickle(data, deadline=reader.deadline), cut
    except PickleError as error:
        return _malformed(name, error, findings), True


def _malformed(name: str, error: PickleError, findings: list[dict[str, Any]]) -> Unpickled:
    """A pickle that fails part-way: the real unpickler would already have imported and
    called what came before the error, so that part is still assessed. With nothing
    imported at all, the file is simply corrupt."""
    partial = error.partial
    if partial is None or not partial.globals:
        raise TorchFormatError(f"{name} is not a readable pickle ({error})") from None
    findings.append(
        {
            "severity": "warning",
            "message": f"{name} is malformed ({error}); what precedes the error was read",
        }
    )
    return partial


def _prefetch_entries(reader: BudgetedReader, items: list[tuple[ZipEntry | None, int]]) -> None:
    """Prefetch the first `cap` bytes of each entry (with its local header), in order."""
    ranges = [
        (entry.header_offset, overhead(entry) + min(entry.compressed_size, cap))
        for entry, cap in items
        if entry is not None and cap > 0 and entry.method in (STORED, DEFLATED)
    ]
    reader.prefetch(ranges)


def _byteorder(reader: BudgetedReader, entry: ZipEntry | None) -> bool | None:
    """True for little-endian storages (torch writes a `byteorder` record since 1.12; files
    without one are little-endian); None when the record cannot be read."""
    if entry is None:
        return True
    try:
        data, _ = read_entry(reader, entry, _TEXT_RECORD)
    except (ZipFormatError, BudgetExceeded):
        return None
    text = data.strip()
    return True if text == b"little" else False if text == b"big" else None


def _plan_zip_storage(
    reader: BudgetedReader,
    entries: dict[str, ZipEntry],
    tensor: TensorInfo,
    limit: int,
    stats: _Stats,
) -> _StorageRead | None:
    storage = tensor.storage
    assert storage is not None
    entry = entries.get(storage.key)
    if entry is None or entry.method != STORED:
        stats.skipped["other"] += 1
        return None
    span = _byte_span(tensor, entry.compressed_size, limit, stats)
    if span is None:
        return None
    read = partial(_zip_storage_bytes, reader, entry, tensor, *span, stats)
    return _StorageRead(entry_ranges(entry, *span), read)


def _zip_storage_bytes(
    reader: BudgetedReader,
    entry: ZipEntry,
    tensor: TensorInfo,
    start: int,
    length: int,
    stats: _Stats,
) -> bytes | None:
    # The local header is read with the bytes, in one range when the tensor starts its storage.
    try:
        offset, head = data_offset(reader, entry, start + length if start < INLINE_START else 0)
    except ZipFormatError:
        stats.skipped["other"] += 1
        tensor.note = "storage record unreadable"
        return None
    if len(head) >= start + length:
        return head[start : start + length]
    return reader.read_range(offset + start, length)


# --- legacy (pre-zip) checkpoints --------------------------------------------------------


def preview_torch_legacy(reader: BudgetedReader, kind: str) -> Section:
    """torch.save(..., _use_new_zipfile_serialization=False): pickles in a row (magic
    number, protocol, sys_info, the object, its storage keys), then the raw storages, each
    an 8-byte element count and its bytes."""
    started = time.monotonic()
    max_bytes = _max_bytes(reader)
    data = reader.read_range(0, min(reader.size, _LEGACY_FIRST_READ))
    pickles: list[Unpickled] = []
    findings: list[dict[str, Any]] = []
    offset = 0
    truncated = False
    while len(pickles) < 5 and offset < reader.size:
        try:
            item = read_pickle(data, offset, deadline=reader.deadline)
        except PickleError as error:
            pickles.append(_malformed(f"pickle {len(pickles) + 1}", error, findings))
            truncated = True
            break
        if not item.complete and len(data) < reader.size:
            room = _remaining(reader, max_bytes) - RESERVE
            if room > 0:
                grow = min(reader.size - len(data), max(len(data), 64 * 1024), room)
                data += reader.read_range(len(data), grow)
                continue
        pickles.append(item)
        if not item.complete:
            truncated = True
            break
        offset = item.end
    if not pickles:
        raise TorchFormatError("empty file")
    safety = assess(pickles, truncated=truncated or len(pickles) < 5)
    header = _legacy_header_problem(pickles)
    if header and safety.verdict == "safe":
        raise TorchFormatError(header)
    findings = list(safety.findings) + findings
    if header:
        findings.append({"severity": "warning", "message": header})
    value = pickles[3].value if len(pickles) > 3 else None
    little = True
    if len(pickles) > 2 and isinstance(pickles[2].value, dict):
        little = pickles[2].value.get("little_endian", True) is not False
    walk = find_tensors(value)
    stats = _Stats()
    layout = _legacy_layout(pickles, walk, offset, reader.size)

    def plan(tensor: TensorInfo, limit: int) -> _StorageRead | None:
        return _plan_legacy_storage(reader, layout, tensor, limit, little, stats)

    _compute_stats(reader, walk, plan, little, max_bytes, stats, started)
    storage_bytes = {k: n for k, (_, n) in layout.items()}
    section = _section(
        "torch-legacy",
        "PyTorch checkpoint (legacy format)",
        value,
        walk,
        stats,
        storage_bytes,
        safety.verdict,
        findings,
    )
    section.truncated |= truncated or len(pickles) < 4
    return section


def _legacy_header_problem(pickles: list[Unpickled]) -> str | None:
    if pickles[0].complete and pickles[0].value != LEGACY_MAGIC:
        return "not a legacy torch checkpoint (wrong magic number)"
    if len(pickles) > 1 and pickles[1].complete and pickles[1].value != LEGACY_PROTOCOL:
        return f"unsupported legacy protocol {str(pickles[1].value)[:40]}"
    return None


def _legacy_layout(
    pickles: list[Unpickled], walk: Walk, end: int, size: int
) -> dict[str, tuple[int, int]]:
    """Storage key -> (offset of its 8-byte count, bytes), walking the raw section in the
    order of the key list; stops at the first key whose element size is unknown."""
    if len(pickles) < 5 or not isinstance(pickles[4].value, list):
        return {}
    sizes: dict[str, int] = {}
    for tensor in walk.tensors:
        if tensor.storage is not None and tensor.storage.itemsize:
            sizes.setdefault(tensor.storage.key, tensor.storage.nbytes)
    layout: dict[str, tuple[int, int]] = {}
    offset = end
    for key in pickles[4].value[:100_000]:
        nbytes = sizes.get(str(key))
        if nbytes is None or offset + 8 + nbytes > size:
            break
        layout[str(key)] = (offset, nbytes)
        offset += 8 + nbytes
    return layout


def _plan_legacy_storage(
    reader: BudgetedReader,
    layout: dict[str, tuple[int, int]],
    tensor: TensorInfo,
    limit: int,
    little: bool,
    stats: _Stats,
) -> _StorageRead | None:
    storage = tensor.storage
    assert storage is not None
    place = layout.get(storage.key)
    if place is None or storage.view is not None:
        stats.skipped["other"] += 1
        return None
    offset, nbytes = place
    span = _byte_span(tensor, nbytes, limit - 8, stats)  # 8: the storage's element count
    if span is None:
        return None
    start, length = span
    # The element count is read with the bytes, in one range when the tensor starts near it.
    ranges = [(offset, 8 + start + length)]
    if start >= INLINE_START:
        ranges = [(offset, 8), (offset + 8 + start, length)]
    read = partial(_legacy_storage_bytes, reader, layout, tensor, ranges, little, stats)
    return _StorageRead(ranges, read)


def _legacy_storage_bytes(
    reader: BudgetedReader,
    layout: dict[str, tuple[int, int]],
    tensor: TensorInfo,
    ranges: list[tuple[int, int]],
    little: bool,
    stats: _Stats,
) -> bytes | None:
    """The tensor's bytes after its storage's 8-byte element count, which must match the key
    list's: else the layout is wrong, and no storage is read after."""
    storage = tensor.storage
    assert storage is not None
    if not layout:
        stats.skipped["other"] += 1
        return None
    pieces = [reader.read_range(offset, length) for offset, length in ranges]
    count = pieces[0][:8]
    body = pieces[-1] if len(pieces) > 1 else pieces[0][8 + tensor.offset * storage.itemsize :]
    if int.from_bytes(count, "little" if little else "big") != storage.numel:
        stats.skipped["other"] += 1
        stats.notes.append("the raw storages do not match the key list; statistics stopped")
        layout.clear()
        return None
    return body


# --- shared ------------------------------------------------------------------------------


def _byte_span(
    tensor: TensorInfo, stored: int, limit: int, stats: _Stats
) -> tuple[int, int] | None:
    """(start, length) in bytes of the tensor's elements in its storage of `stored` bytes;
    None, counted in `stats`, when they lie past its end or cost more than `limit`."""
    storage = tensor.storage
    assert storage is not None
    start = tensor.offset * storage.itemsize
    length = tensor.span * storage.itemsize
    if start + length > stored:
        stats.skipped["other"] += 1
        tensor.note = "extends past its storage record"
        return None
    if length > limit:
        stats.skipped["budget"] += 1
        return None
    return start, length


_View = list[TensorInfo]  # tensors of the table with the same elements of the same storage
_Plan = Callable[[TensorInfo, int], _StorageRead | None]


class _Reads:
    """The ranges statistics read: those STATS_MERGE_GAP apart or less joined (the gap costs
    less than another request), at most `max_reads` of them, at most `limit` bytes in all."""

    def __init__(self, limit: int, max_reads: int) -> None:
        self.limit = limit
        self.max_reads = max_reads
        self.ranges: list[tuple[int, int]] = []

    def add(self, ranges: list[tuple[int, int]]) -> str | None:
        """Take these ranges too; else say why not (a key of _SKIPPED)."""
        joined = merge_ranges(self.ranges + ranges, STATS_MERGE_GAP)
        if len(joined) > self.max_reads:
            return "reads"
        if sum(length for _, length in joined) > self.limit:
            return "budget"
        self.ranges = joined
        return None


def _compute_stats(
    reader: BudgetedReader,
    walk: Walk,
    plan: _Plan,
    little: bool,
    max_bytes: int,
    stats: _Stats,
    started: float,
) -> None:
    """Statistics of the tensors in the table, from their storage bytes: the reads are
    planned first and fetched at once (`_plan_reads`), then made and computed one by one."""
    deadline = started + STATS_SECONDS
    for view, storage_read in _plan_reads(reader, _stat_views(walk, stats), plan, max_bytes, stats):
        if time.monotonic() > deadline:
            stats.skipped["other"] += 1
            continue
        try:
            data = storage_read.read()
        except BudgetExceeded:
            stats.skipped["budget"] += 1
            continue
        if data is None:
            continue
        values = tensor_stats(view[0], data, little)
        for tensor in view:
            tensor.stats = values
        stats.computed += values is not None


def _stat_views(walk: Walk, stats: _Stats) -> list[_View]:
    """The tensors of the table that statistics are computed for, grouped by the elements they
    cover (a tensor saved under several names is read once), in table order."""
    views: dict[tuple[str, int, tuple[int, ...], tuple[int, ...]], _View] = {}
    for tensor in [t for t in walk.tensors if t.kind != "other"][:MAX_ROWS]:
        storage = tensor.storage
        if storage is None or tensor.numel == 0:
            continue
        if tensor.dtype not in _STAT_DTYPES or tensor.kind == "quantized":
            stats.skipped["dtype"] += 1
            continue
        key = (storage.key, tensor.offset, tensor.shape, tensor.stride)
        views.setdefault(key, []).append(tensor)
    return list(views.values())


def _plan_reads(
    reader: BudgetedReader, views: list[_View], plan: _Plan, max_bytes: int, stats: _Stats
) -> list[tuple[_View, _StorageRead]]:
    """The views whose statistics are computed, with their reads, and those reads prefetched
    at once. Taken in table order while their reads fit in `_Reads`: neighbouring storages
    come in one request, scattered ones make a bounded number of round trips, and no more
    bytes are fetched than the budget allows. The plan does not depend on the reader (a local
    file shows the same statistics as its remote copy, a cached one the same as a new one)."""
    limit = _remaining(reader, max_bytes) - RESERVE
    chosen: list[tuple[_View, _StorageRead]] = []
    reads = _Reads(limit, max(1, STATS_READS * max_bytes >> 20))
    for view in views:
        if len(chosen) >= MAX_STATS:
            stats.skipped["other"] += 1
            continue
        storage_read = plan(view[0], limit)
        if storage_read is None:
            continue
        refused = reads.add(storage_read.ranges)
        if refused:
            stats.skipped[refused] += 1
        else:
            chosen.append((view, storage_read))
    reader.prefetch(reads.ranges)
    return chosen


_STAT_DTYPES = frozenset(
    {
        "float32",
        "float64",
        "float16",
        "bfloat16",
        "int64",
        "int32",
        "int16",
        "int8",
        "uint8",
        "uint16",
        "uint32",
        "uint64",
        "bool",
    }
)


def _section(
    kind: str,
    label: str,
    value: Any,
    walk: Walk,
    stats: _Stats,
    storage_bytes: dict[str, int],
    verdict: str,
    findings: list[dict[str, Any]],
) -> Section:
    unique = [t for t in walk.tensors if t.alias_of is None and t.kind != "other"]
    elements = sum(t.numel for t in unique)
    params = sum(t.numel for t in unique if not _optimizer_state(t.name))
    keys = {t.storage.key: t.storage.nbytes for t in unique if t.storage is not None}
    keys.update({k: n for k, n in storage_bytes.items() if k in keys})
    total_bytes = sum(keys.values())
    root = walk.modules[0].cls if walk.modules else None
    parts = [label]
    if root:
        parts.append(short_class(root))
    parts += [f"{len(unique)} tensors", f"{_count(params)} params"]
    summary = " · ".join(parts)
    lines: list[str] = []
    state = f" (+ {_count(elements - params)} optimizer state)" if elements > params else ""
    lines.append(
        f"**{len(unique)}** tensors · **{_count(params)}** parameters{escape(state)} · "
        f"{escape(format_size(total_bytes))} in {len(keys)} storages"
    )
    top = _top_level(value, walk)
    if top:
        lines.append(top)
    if walk.modules:
        lines.append(_module_tree(walk.modules))
    if walk.tensors:
        lines.append(_tensor_table(walk.tensors))
    note = _stats_note(stats)
    if note:
        lines.append(note)
    if walk.cut:
        lines.append("⚠️ the object is too large or deep to walk completely; tensors may be missing")
    fields: dict[str, Any] = {
        "tensors": [t.as_dict() for t in walk.tensors[:MAX_FIELD_TENSORS]],
        "totals": {
            "tensors": len(unique),
            "parameters": params,
            "elements": elements,
            "bytes": total_bytes,
            "storages": len(keys),
        },
        "topLevelKeys": _top_keys(value),
    }
    if len(walk.tensors) > MAX_FIELD_TENSORS:
        fields["tensorsTruncated"] = True
    if walk.modules:
        fields["modules"] = [_module_dict(m) for m in walk.modules[:4]]
    return Section(
        kind,
        summary,
        lines,
        verdict=verdict,
        findings=findings,
        fields=fields,
        truncated=walk.cut,
    )


def _cell_code(text: str, limit: int) -> str:
    """Inline code inside a table cell: a pipe would end the cell, even in code (GFM)."""
    return code_span(text, limit).replace("|", "\\|")


_OPTIMIZER_PARTS = frozenset(
    {
        "optimizer",
        "optimizers",
        "optimizer_states",
        "optimizer_state_dict",
        "optim",
        "optim_state",
        "scheduler",
        "lr_scheduler",
        "lr_schedulers",
    }
)


def _optimizer_state(name: str) -> bool:
    """A tensor of an optimizer's or scheduler's state, not of the model: not a parameter."""
    return any(part.lower() in _OPTIMIZER_PARTS for part in name.split(".")[:3])


def _count(n: int) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return str(n)


def _shape(shape: tuple[int, ...]) -> str:
    return "×".join(str(n) for n in shape) if shape else "scalar"


def _tensor_table(tensors: list[TensorInfo]) -> str:
    with_stats = any(t.stats for t in tensors[:MAX_ROWS])
    with_bad = any(t.stats and (t.stats.get("nan") or t.stats.get("inf")) for t in tensors)
    headers = ["name", "dtype", "shape", "numel"]
    if with_stats:
        headers += ["min", "max", "mean", "std"]
    if with_bad:
        headers += ["nan/inf"]
    rows = []
    for t in tensors[:MAX_ROWS]:
        name = _cell_code(t.name or "(root)", 80)
        if t.alias_of is not None:
            name += f" = {_cell_code(t.alias_of, 60)}"
        if t.note:
            name += f" ({escape(t.note, 60)})"
        row = [name, escape(t.dtype, 30), escape(_shape(t.shape), 60), f"{t.numel:,}"]
        if with_stats:
            s = t.stats or {}
            row += [escape(format_number(s.get(k), 4)) for k in STAT_KEYS]
        if with_bad:
            s = t.stats or {}
            row.append(f"{s.get('nan', 0)}/{s.get('inf', 0)}" if s else "–")
        rows.append(row)
    text = table(headers, rows)
    if len(tensors) > MAX_ROWS:
        text += f"\n\n… {len(tensors) - MAX_ROWS} more tensors"
    return text


def _stats_note(stats: _Stats) -> str:
    parts = [f"{stats.skipped[why]} {text}" for why, text in _SKIPPED.items() if stats.skipped[why]]
    text = ""
    if parts:
        text = f"Statistics for {stats.computed} tensors; skipped: " + ", ".join(parts) + "."
    for note in dict.fromkeys(stats.notes):
        text += f" {escape(note)}"
    return text.strip()


def _module_tree(roots: list[ModuleNode]) -> str:
    lines: list[str] = []

    def add(node: ModuleNode, depth: int) -> None:
        if len(lines) >= MAX_TREE_LINES:
            return
        total = _module_params(node)
        label = f"**{escape(node.name, 60)}**: " if depth else ""
        cls = code_span(node.cls if depth == 0 else short_class(node.cls), 100)
        lines.append("  " * depth + f"- {label}{cls} · {_count(total)} params")
        for child in node.children:
            add(child, depth + 1)

    for root in roots[:4]:
        add(root, 0)
    if sum(_module_count(r) for r in roots) > len(lines):
        lines.append("- …")
    return "\n".join(lines)


def _module_params(node: ModuleNode, depth: int = 0) -> int:
    if depth > 100:
        return node.parameters
    return node.parameters + sum(_module_params(c, depth + 1) for c in node.children)


def _module_count(node: ModuleNode, depth: int = 0) -> int:
    if depth > 100:
        return 1
    return 1 + sum(_module_count(c, depth + 1) for c in node.children)


def _module_dict(node: ModuleNode, depth: int = 0) -> dict[str, Any]:
    out: dict[str, Any] = {"name": node.name, "class": node.cls, "parameters": node.parameters}
    if node.children and depth < 8:
        out["children"] = [_module_dict(c, depth + 1) for c in node.children[:64]]
    return out


def _mapping(value: Any) -> list[tuple[Any, Any]] | None:
    if isinstance(value, dict):
        return list(value.items())
    if isinstance(value, Call) and value.entries:
        return list(value.entries)
    if isinstance(value, Call) and value.qualname == "collections.OrderedDict":
        return []
    return None


def _top_keys(value: Any) -> list[str]:
    items = _mapping(value)
    if items is None:
        return []
    return [k if isinstance(k, str) else repr(k)[:80] for k, _ in items[:MAX_KEYS]]


def _top_level(value: Any, walk: Walk) -> str:
    """The checkpoint's top-level keys with a short description of each value (tensor
    counts come from the walk already made, by name prefix)."""
    items = _mapping(value)
    if not items or _looks_like_state_dict(items):
        return ""
    heads: dict[str, int] = {}
    for tensor in walk.tensors:
        if tensor.kind != "other":
            head = tensor.name.split(".", 1)[0]
            heads[head] = heads.get(head, 0) + 1
    rows = []
    for key, item in items[:20]:
        name = key if isinstance(key, str) else repr(key)
        text = key_text(key)
        if "." in text:
            count = sum(1 for t in walk.tensors if t.name == text or t.name.startswith(text + "."))
        else:
            count = heads.get(text, 0)
        rows.append([_cell_code(name, 60), escape(_describe(item, count), 120)])
    text = table(["key", "value"], rows)
    if len(items) > 20:
        text += f"\n\n… {len(items) - 20} more keys"
    return text


def _looks_like_state_dict(items: list[tuple[Any, Any]]) -> bool:
    """A flat name -> tensor mapping: the tensor table says it all."""
    return all(
        isinstance(v, Call) and isinstance(v.func, Global) and "_rebuild" in v.func.name
        for _, v in items[:50]
    )


def _describe(value: Any, tensors: int) -> str:
    count = f"{tensors} tensors · " if tensors else ""
    if value is None or isinstance(value, (bool, int, float)):
        return repr(value)
    if isinstance(value, str):
        return repr(value[:60])
    if isinstance(value, (bytes, bytearray, memoryview)):
        return f"{len(value)} bytes"
    if isinstance(value, Call):
        if isinstance(value.func, Global) and "_rebuild" in value.func.name:
            found = find_tensors(value, 100).tensors
            if found and found[0].kind != "other":
                return f"tensor {found[0].dtype} {_shape(found[0].shape)}"
        items = _mapping(value)
        if items is not None:
            return f"{value.qualname} · {count}{len(items)} entries"
        return f"{value.qualname} object" + (f" · {tensors} tensors" if tensors else "")
    if isinstance(value, dict):
        return f"dict · {count}{len(value)} keys"
    if isinstance(value, (list, tuple)):
        return f"{type(value).__name__} · {count}{len(value)} items"
    if isinstance(value, PersistentRef):
        return "persistent reference"
    return type(value).__name__


# --- TorchScript ---------------------------------------------------------------------------

_DEF = re.compile(r"^\s*def\s+([A-Za-z_][A-Za-z0-9_]*)\s*\(", re.MULTILINE)
_CLASS = re.compile(r"^class\s+([A-Za-z_][A-Za-z0-9_]*)\s*\(", re.MULTILINE)


@dataclass
class _Script:
    """What code/ says: classes with their methods, and the root module's forward."""

    root: str
    files: int
    classes: dict[str, list[str]] = field(default_factory=dict)
    forward: str = ""
    read: int = 0  # code files read


def _read_torchscript(
    reader: BudgetedReader, records: dict[str, ZipEntry], walk: Walk, max_bytes: int
) -> _Script:
    """Read before any statistics: the code matters more than the numbers."""
    code = sorted(n for n in records if n.startswith("code/") and n.endswith(".py"))
    root = walk.modules[0].cls if walk.modules else ""
    # The root module's class file first: code/__torch__/<module path>.py
    root_module = root.rpartition(".")[0]
    wanted = "code/__torch__.py"
    if root_module:
        wanted = f"code/__torch__/{root_module.replace('.', '/')}.py"
    order = sorted(code, key=lambda n: (n != wanted, n))
    _prefetch_entries(reader, [(records[n], MAX_CODE_READ) for n in order[:MAX_CODE_FILES]])
    script = _Script(root, len(code))
    for name in order[:MAX_CODE_FILES]:
        entry = records[name]
        room = min(_remaining(reader, max_bytes) - RESERVE // 4, MAX_CODE_READ)
        room -= overhead(entry)
        if room <= 0:
            break
        try:
            data, _ = read_entry(reader, entry, room, MAX_CODE_READ)
        except (ZipFormatError, BudgetExceeded):
            continue
        script.read += 1
        text = data.decode("utf-8", "replace")
        module = _code_module(name)
        for cls, methods in _classes(text).items():
            label = f"{module}.{cls}" if cls else f"{module} (functions)"
            script.classes.setdefault(label.lstrip("."), methods)
        if not script.forward and name == wanted:
            script.forward = _method_source(text, short_class(root), "forward")
    return script


def _render_torchscript(section: Section, script: _Script) -> None:
    section.fields["codeFiles"] = script.files
    section.fields["classes"] = dict(list(script.classes.items())[:50])
    if script.classes:
        rows = [
            [_cell_code(cls, 100), ", ".join(_cell_code(m, 40) for m in methods[:12]) or "–"]
            for cls, methods in list(script.classes.items())[:20]
        ]
        text = table(["class", "methods"], rows)
        if script.read < script.files:
            text += f"\n\n{script.read} of {script.files} code files read"
        section.lines.append(text)
    forward = script.forward
    if forward:
        if len(forward) > MAX_CODE_CHARS:
            forward = forward[:MAX_CODE_CHARS] + "\n…"
        section.lines.append(
            f"**{escape(short_class(script.root) or 'root')}.forward**\n\n"
            + code_block(forward, "python")
        )
    setstate = [c for c, m in script.classes.items() if "__setstate__" in m]
    if setstate:
        section.findings.insert(
            0,
            {
                "severity": "warning",
                "message": "__setstate__ runs on torch.jit.load in " + ", ".join(setstate[:4]),
            },
        )


def _code_module(name: str) -> str:
    path = name.removeprefix("code/__torch__").removesuffix(".py").strip("/")
    return unmangle(path.replace("/", "."))


def _classes(text: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    current = ""
    for line in text.splitlines():
        match = _CLASS.match(line)
        if match:
            current = match.group(1)
            found[current] = []
            continue
        method = _DEF.match(line)
        if method:
            if line.startswith((" ", "\t")) and current:
                found[current].append(method.group(1))
            elif not line.startswith((" ", "\t")):
                current = ""
                found.setdefault("", []).append(method.group(1))
    return found


def _method_source(text: str, cls: str, method: str) -> str:
    lines = text.splitlines()
    inside = False
    out: list[str] = []
    for line in lines:
        if line.startswith("class "):
            inside = bool(re.match(rf"class\s+{re.escape(cls)}\b", line))
            if out:
                break
            continue
        if not inside:
            continue
        if out:
            if line.startswith("  def ") or (line and not line.startswith(" ")):
                break
            out.append(line)
        elif re.match(rf"\s+def\s+{re.escape(method)}\s*\(", line):
            out.append(line)
    if not out:
        return ""
    indent = min(len(x) - len(x.lstrip()) for x in out if x.strip())
    return "\n".join(x[indent:] for x in out).rstrip()


# --- budget helpers ----------------------------------------------------------------------


def _max_bytes(reader: BudgetedReader) -> int:
    return reader.budget.max_bytes


def _remaining(reader: BudgetedReader, max_bytes: int) -> int:
    """What may still be read, within `max_bytes` of reading in all."""
    return max(0, min(reader.remaining, max_bytes - reader.bytes_read))
