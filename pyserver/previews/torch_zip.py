"""A zip reader for torch archives that reads only what it is asked for, by range.

It trusts the central directory (as torch's own reader, miniz, does), reads an entry from
its local header itself, and ignores CRCs, encryption flags and data descriptors exactly
where torch ignores them: a scanner that gives up where the loader carries on is bypassed.
The CRC and flags are still checked and reported as findings.
"""

from __future__ import annotations

import struct
import zipfile
import zlib
from dataclasses import dataclass, field

from .budget import BudgetedReader

_EOCD = b"PK\x05\x06"
_EOCD64_LOCATOR = b"PK\x06\x07"
_EOCD64 = b"PK\x06\x06"
_CENTRAL = b"PK\x01\x02"
_LOCAL = b"PK\x03\x04"
_EOCD_SIZE = 22
_FIRST_TAIL = _EOCD_SIZE + 20 + 56  # EOCD, zip64 locator and zip64 EOCD (no comment)
_MAX_COMMENT = 0xFFFF
_LOCAL_SIZE = 30
# The local extra field of torch archives pads data to 64 bytes; read this much past the
# name in one go so that most entries take a single ranged read.
_EXTRA_GUESS = 96
# Bytes of an entry that start this close to its data's start are read with its local header.
INLINE_START = 4096
STORED, DEFLATED = 0, 8
FLAG_ENCRYPTED = 0x1
FLAG_STRONG_ENCRYPTION = 0x40


class ZipFormatError(ValueError):
    """The bytes are not a zip archive this reader can follow."""


@dataclass
class ZipEntry:
    name: str
    method: int
    flags: int
    crc: int
    compressed_size: int
    size: int
    header_offset: int

    @property
    def encrypted(self) -> bool:
        return bool(self.flags & (FLAG_ENCRYPTED | FLAG_STRONG_ENCRYPTION))


@dataclass
class ZipDirectory:
    entries: list[ZipEntry]
    total_entries: int  # as announced; more than len(entries) when the listing was cut
    by_name: dict[str, ZipEntry] = field(default_factory=dict)
    truncated: bool = False

    def __post_init__(self) -> None:
        for entry in self.entries:
            self.by_name.setdefault(entry.name, entry)


def read_directory(reader: BudgetedReader, max_bytes: int) -> ZipDirectory:
    """The central directory, reading at most about `max_bytes` of it."""
    size = reader.size
    if size < _EOCD_SIZE:
        raise ZipFormatError("too short for a zip archive")
    tail_start = max(0, size - _FIRST_TAIL)
    tail = reader.read_range(tail_start, size - tail_start)
    at = _find_eocd(tail)
    if at < 0 and tail_start > 0:
        tail_start = max(0, size - _EOCD_SIZE - _MAX_COMMENT)
        more = reader.read_range(tail_start, size - _FIRST_TAIL - tail_start)
        tail = more + tail
        at = _find_eocd(tail)
    if at < 0:
        raise ZipFormatError("no end-of-central-directory record (truncated archive?)")
    eocd_pos = tail_start + at
    (_, disk, _, _, count, cd_size, cd_offset, _) = struct.unpack_from("<4sHHHHIIH", tail, at)
    if disk != 0:
        raise ZipFormatError("multi-disk archives are not supported")
    end_of_cd = eocd_pos
    locator = at - 20
    if locator >= 0 and tail[locator : locator + 4] == _EOCD64_LOCATOR:
        (eocd64_pos,) = struct.unpack_from("<Q", tail, locator + 8)
        record = _slice(reader, tail, tail_start, eocd64_pos, 56)
        if len(record) < 56 or record[:4] != _EOCD64:
            raise ZipFormatError("bad zip64 end-of-central-directory record")
        count, cd_size, cd_offset = struct.unpack_from("<QQQ", record, 32)
        end_of_cd = eocd64_pos
    # An archive with bytes prepended (zipfile allows it) has offsets relative to its start.
    shift = end_of_cd - cd_size - cd_offset
    if shift < 0 or cd_offset + shift < 0:
        raise ZipFormatError("central directory lies outside the file")
    wanted = min(cd_size, max_bytes)
    directory = _slice(reader, tail, tail_start, cd_offset + shift, wanted)
    entries = _parse_directory(directory, count, shift, size)
    return ZipDirectory(entries, count, truncated=wanted < cd_size or len(entries) < count)


def directory_from_infos(infos: list[zipfile.ZipInfo]) -> ZipDirectory:
    """The same directory from a listing zipfile already read (no second read of it)."""
    entries = [
        ZipEntry(
            i.filename,
            i.compress_type,
            i.flag_bits,
            i.CRC,
            i.compress_size,
            i.file_size,
            i.header_offset,
        )
        for i in infos
    ]
    return ZipDirectory(entries, len(entries))


def _find_eocd(tail: bytes) -> int:
    at = tail.rfind(_EOCD)
    while at >= 0:
        if at + _EOCD_SIZE <= len(tail):
            (comment_length,) = struct.unpack_from("<H", tail, at + 20)
            if at + _EOCD_SIZE + comment_length <= len(tail):
                return at
        at = tail.rfind(_EOCD, 0, at)
    return -1


def _slice(reader: BudgetedReader, tail: bytes, tail_start: int, offset: int, length: int) -> bytes:
    if offset >= tail_start and offset + length <= tail_start + len(tail):
        return tail[offset - tail_start : offset - tail_start + length]
    return reader.read_range(offset, length)


def _parse_directory(data: bytes, count: int, shift: int, size: int) -> list[ZipEntry]:
    entries: list[ZipEntry] = []
    at = 0
    while len(entries) < count and at + 46 <= len(data):
        if data[at : at + 4] != _CENTRAL:
            if entries:
                break  # a cut or damaged listing: keep what was read
            raise ZipFormatError("bad central directory entry")
        (
            flags,
            method,
            crc,
            compressed,
            uncompressed,
            name_length,
            extra_length,
            comment_length,
            header_offset,
        ) = struct.unpack_from("<8xHH4xIIIHHH8xI", data, at)
        name_end = at + 46 + name_length
        extra_end = name_end + extra_length
        if extra_end > len(data):
            break
        raw_name = data[at + 46 : name_end]
        name = raw_name.decode("utf-8" if flags & 0x800 else "cp437", "replace")
        compressed, uncompressed, header_offset = _zip64_sizes(
            data[name_end:extra_end], compressed, uncompressed, header_offset
        )
        header_offset += shift
        if header_offset < size:
            entries.append(
                ZipEntry(name, method, flags, crc, compressed, uncompressed, header_offset)
            )
        at = extra_end + comment_length
    return entries


def _zip64_sizes(extra: bytes, compressed: int, size: int, offset: int) -> tuple[int, int, int]:
    at = 0
    while at + 4 <= len(extra):
        tag, length = struct.unpack_from("<HH", extra, at)
        body = extra[at + 4 : at + 4 + length]
        if tag == 1:
            values = [v for (v,) in struct.iter_unpack("<Q", body[: len(body) // 8 * 8])]
            if size == 0xFFFFFFFF and values:
                size = values.pop(0)
            if compressed == 0xFFFFFFFF and values:
                compressed = values.pop(0)
            if offset == 0xFFFFFFFF and values:
                offset = values.pop(0)
        at += 4 + length
    return compressed, size, offset


def overhead(entry: ZipEntry) -> int:
    """Bytes read besides the data when an entry is read (its local header, as guessed)."""
    return _LOCAL_SIZE + len(entry.name.encode("utf-8")) + _EXTRA_GUESS


def entry_ranges(entry: ZipEntry, start: int, length: int) -> list[tuple[int, int]]:
    """What reading bytes [start, start + length) of a stored entry reads, as `data_offset`
    and `read_entry` do, for `BudgetedReader.prefetch`: its local header and the data, placed
    as if the local extra field were no longer than guessed (torch's: 64-byte padding)."""
    head = overhead(entry)
    if start < INLINE_START:
        return [(entry.header_offset, head + start + length)]
    data = entry.header_offset + _LOCAL_SIZE + len(entry.name.encode("utf-8")) + start
    return [(entry.header_offset, head), (data, length + _EXTRA_GUESS)]


def data_offset(reader: BudgetedReader, entry: ZipEntry, prefetch: int = 0) -> tuple[int, bytes]:
    """Where the entry's data starts, and up to `prefetch` bytes of it read on the way."""
    head = reader.read_range(entry.header_offset, overhead(entry) + prefetch)
    if len(head) < _LOCAL_SIZE or head[:4] != _LOCAL:
        raise ZipFormatError(f"bad local header for {entry.name!r}")
    name_length, extra_length = struct.unpack_from("<HH", head, 26)
    start = _LOCAL_SIZE + name_length + extra_length
    offset = entry.header_offset + start
    return offset, head[start : start + prefetch] if start <= len(head) else b""


def read_entry(
    reader: BudgetedReader, entry: ZipEntry, max_data: int, max_output: int | None = None
) -> tuple[bytes, bool]:
    """The entry's bytes, reading at most `max_data` of its (compressed) data and inflating
    at most `max_output` (default 4 x max_data); True when cut short. Stored and deflated
    entries are read whatever their flags and CRC say; other methods are refused."""
    if entry.method not in (STORED, DEFLATED):
        raise ZipFormatError(f"{entry.name!r} uses compression method {entry.method}")
    wanted = max(0, min(entry.compressed_size, max_data))
    offset, raw = data_offset(reader, entry, wanted)
    if len(raw) < wanted:
        raw += reader.read_range(offset + len(raw), wanted - len(raw))
    if len(raw) < wanted:
        raise ZipFormatError(f"{entry.name!r} is cut short")
    partial = wanted < entry.compressed_size
    if entry.method == STORED:
        return raw, partial
    limit = max(1, max_output if max_output is not None else 4 * max_data)
    inflater = zlib.decompressobj(-15)
    try:
        data = inflater.decompress(raw, limit)
    except zlib.error as error:
        raise ZipFormatError(f"{entry.name!r} does not inflate ({error})") from None
    if inflater.eof:
        return data, False
    if not partial and not inflater.unconsumed_tail and len(data) < limit:
        raise ZipFormatError(f"{entry.name!r} does not inflate (its deflate stream is cut)")
    return data, True


def crc_matches(entry: ZipEntry, data: bytes) -> bool:
    return (zlib.crc32(data) & 0xFFFFFFFF) == entry.crc
