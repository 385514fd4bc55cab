"""HDF5 files, through h5py over the ranged reader.

The tree (groups, datasets, links, attributes) is walked first, with caps on nodes and depth
and cycle protection by object address; links are shown, never followed. Only then, while the
byte budget lasts, a corner of each dataset is read (the cost of every read is estimated from
the chunk index or the layout before it is made) and statistics are computed for small ones.
Datasets whose data lives in other files (external raw storage, virtual datasets) are never
read: that would open files named by the artifact.

h5py reads one piece at a time, which over blob storage is one round trip each. So before
walking, the object headers of the tree are prefetched one level at a time (a link gives the
address of its object without reading it), and before sampling, the bytes of every corner
about to be read, all at once (`BudgetedReader.prefetch`: a hint, nothing for local files).
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field
from typing import Any

from .budget import BudgetedReader, BudgetExceeded, ReaderFile
from .markdown import code_block, code_span, escape, table
from .section import Section
from .stats import array_stats, corner_index, corner_label, format_stats, values_text

MAX_NODES = 400  # groups + datasets + links visited
MAX_DEPTH = 16
MAX_CHILDREN = 200  # links listed per group
TREE_LINES = 60  # lines of the tree shown in markdown
DETAILED = 12  # datasets with a slice / stats block in markdown
SAMPLED = 40  # datasets whose corner is read at most
ATTRS_PER_NODE = 8
ATTR_VALUE_CHARS = 120
ATTR_MAX_BYTES = 16 * 1024  # larger attribute values are described, not read
STATS_MAX_BYTES = 64 * 1024  # datasets at most this big (in memory) get statistics
CHUNKS_PER_SLICE = 16  # a corner touching more chunks than this is skipped
MAX_CHUNK_BYTES = 64 << 20  # never inflate a chunk bigger than this
RESERVE = 16 * 1024  # kept back from the budget for chunk indexes and heaps
SIEVE_BYTES = 4096  # HDF5 reads at least this much around a contiguous read
HEADER_HINT = 512  # bytes prefetched at an object's address: its header's first chunk
MAX_PREFETCH_ROWS = 256  # a planned read of more rows than this is not prefetched


@dataclass
class _Walk:
    """What the walk found so far."""

    groups: int = 0
    datasets: int = 0
    links: int = 0
    values: int = 0
    nodes: int = 0
    truncated: bool = False
    notes: list[str] = field(default_factory=list)
    seen: dict[int, str] = field(default_factory=dict)  # object address -> first path
    lines: list[str] = field(default_factory=list)
    dataset_nodes: list[tuple[Any, dict[str, Any]]] = field(default_factory=list)
    samples: dict[str, str] = field(default_factory=dict)  # dataset path -> markdown


def preview_hdf5(reader: BudgetedReader, kind: str) -> Section:
    try:
        import h5py
    except ImportError:
        return Section("hdf5", "HDF5 file", ["Install h5py to see its groups and datasets."])
    with contextlib.suppress(ImportError):  # registers blosc, lz4, zstd, bitshuffle, ...
        import hdf5plugin  # noqa: F401

    fileobj = ReaderFile(reader)
    fapl = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
    fapl.set_fileobj_driver(h5py.h5fd.fileobj_driver, fileobj)
    fapl.set_sieve_buf_size(SIEVE_BYTES)
    # No raw-data chunk cache: an unfiltered chunk is then read only where selected.
    mdc, slots, _nbytes, w0 = fapl.get_cache()
    fapl.set_cache(mdc, slots, 0, w0)
    fapl.set_fclose_degree(h5py.h5f.CLOSE_STRONG)
    fid = h5py.h5f.open(b"preview", h5py.h5f.ACC_RDONLY, fapl=fapl)
    walk = _Walk()
    with h5py.File(fid) as handle:
        root: dict[str, Any] = {"name": "/", "path": "/", "type": "group"}
        _prefetch_tree(h5py, reader, handle.id)
        try:
            _walk_group(h5py, handle, root, walk, 0, _address(h5py, handle))
        except BudgetExceeded as reason:
            walk.truncated = True
            walk.notes.append(f"tree cut short: {reason}")
        notes = _sample(h5py, reader, walk)
    return _section(root, walk, notes)


# --- the tree ---------------------------------------------------------------------------


def _prefetch_tree(h5py: Any, reader: BudgetedReader, root: Any) -> None:
    """Prefetch the object headers the walk will read, a level of the tree at a time: one
    round of requests per level instead of one request per object. Within the walk's caps
    (nodes, children, depth); hard links only, each object once. A hint: it stops quietly at
    anything unexpected, and the walk reads (and reports) as always."""
    level = [root]
    seen: set[int] = set()
    nodes = 0
    try:
        for _depth in range(MAX_DEPTH):
            found: list[tuple[Any, bytes]] = []
            ranges: list[tuple[int, int]] = []
            for group in level:
                for name in _link_names(group, MAX_CHILDREN):
                    nodes += 1
                    if nodes > MAX_NODES:
                        break
                    info = group.links.get_info(name)
                    if info.type != h5py.h5l.TYPE_HARD or info.u in seen:
                        continue
                    seen.add(info.u)
                    ranges.append((int(info.u), HEADER_HINT))
                    found.append((group, name))
                if nodes > MAX_NODES:  # the walk stops here too: no more links to read
                    break
            if not ranges:
                return
            reader.prefetch(ranges)
            if nodes > MAX_NODES:
                return
            level = []
            for group, name in found:
                item = h5py.h5o.open(group, name)
                if isinstance(item, h5py.h5g.GroupID):
                    level.append(item)
    except Exception:  # BudgetExceeded included: the walk meets it and says so
        return


def _walk_group(
    h5py: Any, group: Any, node: dict[str, Any], walk: _Walk, depth: int, address: int
) -> None:
    walk.seen[address] = node["path"]
    _attributes(h5py, group, node)
    total = group.id.get_num_objs()
    names = _link_names(group.id, MAX_CHILDREN)
    node["members"] = total
    children: list[dict[str, Any]] = []
    node["children"] = children
    if total > len(names):
        walk.truncated = True
        node["more"] = total - len(names)
    for raw in names:
        if walk.nodes >= MAX_NODES:
            walk.truncated = True
            node["more"] = node.get("more", 0) + 1
            continue
        walk.nodes += 1
        name = raw.decode("utf-8", "replace")
        path = node["path"].rstrip("/") + "/" + name
        child: dict[str, Any] = {"name": name, "path": path}
        children.append(child)
        indent = "  " * depth
        try:
            link = group.get(raw, getlink=True)
            if isinstance(link, h5py.SoftLink):
                walk.links += 1
                child.update(type="softlink", target=_text(link.path))
                walk.lines.append(
                    f"{indent}- {code_span(name)} soft link → {code_span(_text(link.path))}"
                )
                continue
            if isinstance(link, h5py.ExternalLink):
                walk.links += 1
                child.update(type="externallink", file=_text(link.filename), target=link.path)
                walk.lines.append(
                    f"{indent}- {code_span(name)} external link → "
                    f"{code_span(_text(link.filename))}:{code_span(_text(link.path))} (not opened)"
                )
                continue
            if not isinstance(link, h5py.HardLink):
                child.update(type="link")
                walk.lines.append(f"{indent}- {code_span(name)} user-defined link (not followed)")
                continue
            item = group[raw]
            # The link holds the object's address: asking the object (H5Oget_info) would also
            # size its chunk index, reading all of it.
            address = int(group.id.links.get_info(raw).u)
            if address in walk.seen:
                first = walk.seen[address]
                child.update(type="hardlink", target=first)
                walk.lines.append(f"{indent}- {code_span(name)} hard link to {code_span(first)}")
                continue
            if isinstance(item, h5py.Group):
                walk.groups += 1
                child["type"] = "group"
                line = f"{indent}- {code_span(name)} group"
                walk.lines.append(line)
                if depth + 1 >= MAX_DEPTH:
                    walk.truncated = True
                    walk.lines[-1] += " (too deep: not expanded)"
                    continue
                position = len(walk.lines) - 1
                _walk_group(h5py, item, child, walk, depth + 1, address)
                walk.lines[position] += _attr_count(child)
            elif isinstance(item, h5py.Dataset):
                walk.seen[address] = path
                walk.datasets += 1
                _describe_dataset(h5py, item, child)
                walk.values += child.get("size", 0)
                walk.lines.append(f"{indent}- {_dataset_line(child)}{_attr_count(child)}")
                walk.dataset_nodes.append((item, child))
            else:
                walk.seen[address] = path
                child["type"] = "datatype"
                walk.lines.append(f"{indent}- {code_span(name)} named datatype")
        except BudgetExceeded:
            raise
        except Exception as error:  # one unreadable member does not hide the others
            child.update(type="error", error=_short(error))
            walk.lines.append(f"{indent}- {code_span(name)} unreadable: {escape(_short(error))}")


def _link_names(group: Any, limit: int) -> list[bytes]:
    """The first `limit` link names of a group (its low-level GroupID)."""
    names: list[bytes] = []

    def collect(name: bytes) -> int | None:
        names.append(name)
        return 1 if len(names) >= limit else None

    group.links.iterate(collect)
    return names


def _address(h5py: Any, item: Any) -> int:
    return int(h5py.h5o.get_info(item.id).addr)


def _describe_dataset(h5py: Any, ds: Any, node: dict[str, Any]) -> None:
    node["type"] = "dataset"
    node["shape"] = list(ds.shape) if ds.shape is not None else None
    node["size"] = int(ds.size) if ds.shape is not None else 0
    node["dtype"] = _dtype_name(h5py, ds.dtype)
    dcpl = ds.id.get_create_plist()
    layout = dcpl.get_layout()
    node["layout"] = {
        h5py.h5d.COMPACT: "compact",
        h5py.h5d.CONTIGUOUS: "contiguous",
        h5py.h5d.CHUNKED: "chunked",
        h5py.h5d.VIRTUAL: "virtual",
    }.get(layout, str(layout))
    if layout == h5py.h5d.CHUNKED:
        node["chunks"] = list(ds.chunks)
    filters = []
    for index in range(dcpl.get_nfilters()):
        code, _flags, values, name = dcpl.get_filter(index)
        label = _FILTER_NAMES.get(code) or _text(name).split(";")[0][:40] or f"filter {code}"
        filters.append({"id": int(code), "name": label, "opts": [int(v) for v in values][:8]})
    node["filters"] = filters
    if filters:
        node["compression"] = [f["name"] for f in filters if f["name"] not in _NOT_COMPRESSION]
    if dcpl.get_external_count() > 0:
        node["external"] = [
            _text(dcpl.get_external(i)[0]) for i in range(min(dcpl.get_external_count(), 4))
        ]
    if layout == h5py.h5d.VIRTUAL:
        node["sources"] = [
            f"{_text(dcpl.get_virtual_filename(i))}:{_text(dcpl.get_virtual_dsetname(i))}"
            for i in range(min(dcpl.get_virtual_count(), 4))
        ]
    if _numeric(ds.dtype):
        fill = ds.fillvalue
        if fill is not None and fill != 0:
            node["fillvalue"] = _jsonable(fill)
    # For a chunked dataset that means visiting its whole chunk index (many scattered reads
    # in a big file): only where sampling needs it, for datasets small enough to read whole.
    if layout != h5py.h5d.CHUNKED or _small(ds, node):
        node["storedBytes"] = int(ds.id.get_storage_size())
    _attributes(h5py, ds, node)


_FILTER_NAMES = {
    1: "gzip",
    2: "shuffle",
    3: "fletcher32",
    4: "szip",
    5: "nbit",
    6: "scaleoffset",
    307: "bzip2",
    32000: "lzf",
    32001: "blosc",
    32004: "lz4",
    32008: "bitshuffle",
    32013: "zfp",
    32015: "zstd",
    32017: "sz",
    32026: "blosc2",
}
_NOT_COMPRESSION = ("shuffle", "fletcher32")


def _dataset_line(node: dict[str, Any]) -> str:
    shape = node.get("shape")
    shape_text = "null" if shape is None else "×".join(str(n) for n in shape) or "scalar"
    parts = [f"{code_span(node['name'])} dataset {shape_text} {escape(node['dtype'])}"]
    if node.get("chunks"):
        parts.append("chunks " + "×".join(str(n) for n in node["chunks"]))
    else:
        parts.append(node["layout"])
    for item in node.get("filters", []):
        opts = item["opts"]
        shown = item["name"] + (f"({','.join(str(v) for v in opts[:3])})" if opts else "")
        parts.append(escape(shown))
    if "fillvalue" in node:
        parts.append(f"fill {escape(str(node['fillvalue']), 40)}")
    if node.get("external"):
        parts.append("raw data in external files (not opened)")
    if node.get("sources"):
        parts.append("virtual: sources in other files (not opened)")
    return " · ".join(parts)


def _attr_count(node: dict[str, Any]) -> str:
    count = node.get("attrCount", 0)
    return f" · {count} attrs" if count else ""


def _attributes(h5py: Any, item: Any, node: dict[str, Any]) -> None:
    attrs = item.attrs
    count = h5py.h5a.get_num_attrs(item.id)
    result: list[dict[str, Any]] = []
    for index in range(min(count, ATTRS_PER_NODE)):
        try:
            attr = h5py.h5a.open(item.id, index=index)
            name = _text(attr.name)
            nbytes = attr.get_storage_size()
            dtype = attr.dtype
            shape = attr.shape
            if nbytes > ATTR_MAX_BYTES:
                value = f"<{_dtype_name(h5py, dtype)} {_shape_text(shape)}, {nbytes} bytes>"
            else:
                value = _value_text(attrs[name])
        except BudgetExceeded:
            raise
        except Exception as error:
            name, value = f"#{index}", f"<unreadable: {_short(error)}>"
        result.append({"name": name, "value": value})
    node["attrCount"] = count
    if result:
        node["attrs"] = result


def _value_text(value: Any, limit: int = ATTR_VALUE_CHARS) -> str:
    import numpy as np

    if isinstance(value, bytes):
        text = repr(value)
    elif isinstance(value, np.ndarray):
        with np.printoptions(threshold=12, edgeitems=3, linewidth=10_000, precision=6):
            text = (
                np.array2string(value, separator=", ")
                if value.dtype.kind != "O"
                else repr(value.tolist()[:12])
            )
    else:
        text = str(value)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


# --- the data ---------------------------------------------------------------------------


def _sample(h5py: Any, reader: BudgetedReader, walk: _Walk) -> list[str]:
    """Corners and statistics, while the byte budget lasts; returns notes on what was not
    sampled. Each sampled dataset's markdown goes to `walk.samples`."""
    import numpy as np

    skipped: list[str] = []
    _prefetch_samples(h5py, reader, walk)
    for position, (ds, node) in enumerate(walk.dataset_nodes):
        if position >= SAMPLED:
            walk.truncated = True
            skipped.append(f"{len(walk.dataset_nodes) - SAMPLED} more datasets not sampled")
            break
        reason = _unreadable(h5py, ds, node)
        if reason:
            node["sample"] = reason
            if reason != "empty":
                walk.samples[node["path"]] = escape(reason, 400)
            continue
        selection = corner_index(node["shape"])
        small = _small(ds, node)
        try:
            cost = _cost(h5py, ds, node, None if small else selection)
            left = reader.remaining - RESERVE
            if small and (cost is None or isinstance(cost, str) or cost > left):
                small = False  # the whole dataset costs too much: the corner only
                cost = _cost(h5py, ds, node, selection)
            if isinstance(cost, str):
                node["sample"] = cost
                skipped.append(f"{node['path']}: {cost}")
                continue
            if cost is None or cost > left:
                walk.truncated = True
                node["sample"] = "skipped: byte budget"
                skipped.append(f"{node['path']}: corner not read, byte budget left {left}")
                continue
            before = reader.bytes_read
            source = ds.asstr(errors="replace") if h5py.check_string_dtype(ds.dtype) else ds
            data = source[()] if small else source[selection]
            node["bytesRead"] = reader.bytes_read - before
        except BudgetExceeded:
            walk.truncated = True
            node["sample"] = "skipped: byte budget"
            skipped.append(f"{node['path']}: byte budget reached")
            break
        except Exception as error:  # a missing filter plugin, a bad chunk
            node["sample"] = f"unreadable: {_short(error)}"
            skipped.append(f"{node['path']}: {_short(error)}")
            continue
        data = np.asarray(data)
        if small:
            node["stats"] = array_stats(data)
            data = data[selection] if data.ndim else data
        node["corner"] = _jsonable(data)
        walk.samples[node["path"]] = _sample_block(node, data)
    if not skipped:
        return []
    shown = [f"- {escape(s, 300)}" for s in skipped[:10]]
    if len(skipped) > 10:
        shown.append(f"- … {len(skipped) - 10} more")
    return ["**not sampled**\n\n" + "\n".join(shown)]


def _small(ds: Any, node: dict[str, Any]) -> bool:
    """Small enough to be read whole, for statistics."""
    return bool(node["size"] * ds.dtype.itemsize <= STATS_MAX_BYTES and _numeric(ds.dtype))


def _prefetch_samples(h5py: Any, reader: BudgetedReader, walk: _Walk) -> None:
    """Prefetch the bytes `_sample` is about to read, all at once: the same datasets, the
    same choices (whole or corner), within the same byte budget (what each planned read
    will read is taken off the budget of the next). A hint, as `_prefetch_tree`."""
    ranges: list[tuple[int, int]] = []
    planned = 0
    with contextlib.suppress(Exception):  # planning failed: prefetch what was planned
        for ds, node in walk.dataset_nodes[:SAMPLED]:
            if _unreadable(h5py, ds, node):
                continue
            selection = corner_index(node["shape"])
            small = _small(ds, node)
            left = reader.remaining - RESERVE - planned
            cost = _cost(h5py, ds, node, None if small else selection)
            if small and (cost is None or isinstance(cost, str) or cost > left):
                small = False
                cost = _cost(h5py, ds, node, selection)
            if cost is None or isinstance(cost, str) or cost > left:
                continue
            wanted = _data_ranges(h5py, ds, node, None if small else selection)
            ranges += wanted
            planned += sum(length for _, length in wanted)
    reader.prefetch(ranges)


def _data_ranges(
    h5py: Any, ds: Any, node: dict[str, Any], selection: tuple[Any, ...] | None
) -> list[tuple[int, int]]:
    """The (offset, length) ranges of the file a read of `selection` (None: all) reads, as
    far as they can be told without reading: contiguous and chunked layouts."""
    itemsize = int(ds.dtype.itemsize)
    shape = [int(n) for n in node["shape"]]
    bounds = _bounds(shape, selection)
    if node["layout"] == "contiguous":
        offset = ds.id.get_offset()
        if offset is None:
            return []
        if selection is None:
            return [(int(offset), int(node["size"]) * itemsize)]
        return _rows(int(offset), shape, bounds, itemsize)
    if node["layout"] != "chunked":
        return []
    chunks = [int(n) for n in node["chunks"]]
    ranges: list[tuple[int, int]] = []
    spans = [
        range(start // c, (stop - 1) // c + 1)
        for (start, stop), c in zip(bounds, chunks, strict=True)
    ]
    for coord in _product(spans):
        origin = [i * c for i, c in zip(coord, chunks, strict=True)]
        info = ds.id.get_chunk_info_by_coord(tuple(origin))
        if info.byte_offset is None:
            continue
        if node["filters"] or selection is None:
            ranges.append((int(info.byte_offset), int(info.size)))
            continue
        inside = [
            (max(start, o) - o, min(stop, o + c) - o)
            for (start, stop), o, c in zip(bounds, origin, chunks, strict=True)
        ]
        ranges += _rows(int(info.byte_offset), chunks, inside, itemsize)
    return ranges


def _bounds(shape: list[int], selection: tuple[Any, ...] | None) -> list[tuple[int, int]]:
    """[start, stop) along each axis of a selection of ints and slices (None: everything)."""
    if selection is None:
        return [(0, n) for n in shape]
    return [
        (int(s.start), int(s.stop)) if isinstance(s, slice) else (int(s), int(s) + 1)
        for s in selection
    ]


def _rows(
    base: int, shape: list[int], bounds: list[tuple[int, int]], itemsize: int
) -> list[tuple[int, int]]:
    """The runs of bytes that hold `bounds` of a C-ordered array of `shape` at `base`."""
    if not shape:
        return [(base, itemsize)]
    strides = [math.prod(shape[axis + 1 :]) for axis in range(len(shape))]
    lead = [range(start, stop) for start, stop in bounds[:-1]]
    if math.prod(len(r) for r in lead) > MAX_PREFETCH_ROWS:
        return []
    start, stop = bounds[-1]
    return [
        (base + itemsize * (sum(i * k for i, k in zip(index, strides, strict=False)) + start),
         itemsize * (stop - start))
        for index in _product(lead)
    ]  # fmt: skip


def _unreadable(h5py: Any, ds: Any, node: dict[str, Any]) -> str | None:
    if node.get("external"):
        return "raw data in external files: " + ", ".join(node["external"]) + " (not opened)"
    if node.get("sources"):
        return "virtual dataset, sources: " + ", ".join(node["sources"]) + " (not opened)"
    if node["shape"] is None or node["size"] == 0:
        return "empty"
    dtype = ds.dtype
    if dtype.hasobject and h5py.check_string_dtype(dtype) is None:
        return f"{node['dtype']}: values not shown"
    if dtype.names and any(dtype[n].hasobject for n in dtype.names):
        return f"{node['dtype']}: values not shown"
    return None


def _cost(
    h5py: Any, ds: Any, node: dict[str, Any], selection: tuple[Any, ...] | None
) -> int | str | None:
    """Bytes a read of `selection` (None: the whole dataset) will fetch, a reason not to read,
    or None when it cannot be told cheaply."""
    layout = node["layout"]
    itemsize = int(ds.dtype.itemsize)
    if layout == "compact":
        return 0
    if layout == "contiguous":
        if ds.id.get_offset() is None:
            return 0  # never written: fill values
        if selection is None:
            return int(node["size"]) * itemsize
        rows = max(1, math.prod(_extent(s) for s in selection[:-1]) if selection else 1)
        run = _extent(selection[-1]) * itemsize if selection else itemsize
        return min(int(node["size"]) * itemsize, rows * (run + SIEVE_BYTES))
    if layout != "chunked":
        return None
    chunks = node["chunks"]
    chunk_bytes = math.prod(chunks) * itemsize
    if chunk_bytes > MAX_CHUNK_BYTES:
        return f"chunks of {chunk_bytes} bytes are too big to inflate for a preview"
    if selection is None:
        stored = node.get("storedBytes")
        return None if stored is None else int(stored)
    ranges = [
        range(s.start // c, (s.stop - 1) // c + 1)
        if isinstance(s, slice)
        else range(s // c, s // c + 1)
        for s, c in zip(selection, chunks, strict=True)
    ]
    touched = math.prod(len(r) for r in ranges)
    if touched > CHUNKS_PER_SLICE:
        return f"corner spans {touched} chunks"
    if not node["filters"]:  # read in place: one run per row of the corner in each chunk
        rows = math.prod(_extent(s) for s in selection[:-1]) if len(selection) > 1 else 1
        return int(touched * rows * min(chunks[-1], _extent(selection[-1])) * itemsize)
    total = 0
    for coord in _product(ranges):
        info = ds.id.get_chunk_info_by_coord(
            tuple(i * c for i, c in zip(coord, chunks, strict=True))
        )
        if info.byte_offset is not None:
            total += int(info.size)
    return total


def _product(ranges: list[range]) -> list[tuple[int, ...]]:
    result: list[tuple[int, ...]] = [()]
    for values in ranges:
        result = [(*head, v) for head in result for v in values]
    return result


def _extent(item: Any) -> int:
    return int(item.stop - item.start) if isinstance(item, slice) else 1


def _sample_block(node: dict[str, Any], data: Any) -> str:
    stats = format_stats(node["stats"]) if node.get("stats") else ""
    parts = [part for part in (stats, corner_label(node["shape"])) if part]
    if data.dtype.kind in "OSUV" or data.dtype.names:
        text = _value_text(data, 600) if data.ndim else repr(data.item())[:ATTR_VALUE_CHARS]
    else:
        text = values_text(data)
    head = escape(" · ".join(parts), 400) + "\n\n" if parts else ""
    return head + code_block(text)


# --- helpers ----------------------------------------------------------------------------


def _numeric(dtype: Any) -> bool:
    return dtype.kind in "biuf" and dtype.names is None


def _dtype_name(h5py: Any, dtype: Any) -> str:
    string = h5py.check_string_dtype(dtype)
    if string is not None:
        width = "variable-length" if string.length is None else f"{string.length}-byte"
        return f"{width} {string.encoding} string"
    if h5py.check_vlen_dtype(dtype) is not None:
        return f"variable-length {h5py.check_vlen_dtype(dtype)}"
    if h5py.check_enum_dtype(dtype) is not None:
        return f"enum {dtype}"
    if h5py.check_ref_dtype(dtype) is not None:
        return (
            "object reference"
            if h5py.check_ref_dtype(dtype) is h5py.Reference
            else "region reference"
        )
    if dtype.names:
        fields = ", ".join(f"{n}: {_dtype_name(h5py, dtype[n])}" for n in dtype.names[:8])
        more = ", …" if len(dtype.names) > 8 else ""
        return f"compound {{{fields}{more}}}"
    if dtype.subdtype is not None:
        base, shape = dtype.subdtype
        return f"{_dtype_name(h5py, base)}[{'×'.join(str(n) for n in shape)}]"
    return str(dtype)


def _shape_text(shape: Any) -> str:
    return "null" if shape is None else "×".join(str(n) for n in shape) or "scalar"


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _short(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}"
    return text if len(text) <= 160 else text[:159] + "…"


def _jsonable(value: Any) -> Any:
    import numpy as np

    if isinstance(value, np.ndarray):
        if value.dtype.names or value.dtype.kind in "OSUV":
            return _value_text(value)
        if value.dtype.kind == "c":
            return [str(v) for v in value.ravel()[:64]]
        return [_jsonable(v) for v in value.tolist()] if value.ndim else _jsonable(value.item())
    if isinstance(value, np.generic):
        return _jsonable(value.item())
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, (int, str, bool)) or value is None:
        return value
    return _value_text(value)


def _count(values: int) -> str:
    for limit, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if values >= limit:
            return f"{values / limit:.1f} {unit} values"
    return f"{values} values"


def _section(root: dict[str, Any], walk: _Walk, notes: list[str]) -> Section:
    summary = f"HDF5 file · {walk.datasets} datasets"
    if walk.groups:
        summary += f" · {walk.groups} group{'s' if walk.groups != 1 else ''}"
    if walk.links:
        summary += f" · {walk.links} link{'s' if walk.links != 1 else ''}"
    summary += f" · {_count(walk.values)}"
    lines: list[str] = []
    if root.get("attrs"):
        lines.append("**attributes of /**\n\n" + _attr_table(root))
    tree = walk.lines[:TREE_LINES]
    if len(walk.lines) > TREE_LINES:
        tree.append(f"- … {len(walk.lines) - TREE_LINES} more")
    if tree:
        lines.append("\n".join(tree))
    shown = 0
    for _ds, node in walk.dataset_nodes:
        sample = walk.samples.get(node["path"])
        if shown >= DETAILED or not (sample or node.get("attrs")):
            continue
        shown += 1
        block = [f"**{code_span(node['path'])}**"]
        if node.get("attrs"):
            block.append(_attr_table(node))
        if sample:
            block.append(sample)
        lines.append("\n\n".join(block))
    lines += notes
    lines += [f"⚠️ {escape(note)}" for note in walk.notes]
    return Section(
        "hdf5",
        summary,
        lines,
        truncated=walk.truncated,
        fields={
            "items": walk.nodes,
            "groups": walk.groups,
            "datasets": walk.datasets,
            "links": walk.links,
            "values": walk.values,
            "tree": root,
        },
    )


def _attr_table(node: dict[str, Any]) -> str:
    rows = [[escape(a["name"], 80), escape(a["value"])] for a in node["attrs"]]
    more = node.get("attrCount", 0) - len(rows)
    if more > 0:
        rows.append(["…", f"{more} more"])
    return table(["name", "value"], rows)
