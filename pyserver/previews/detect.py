"""The format of a file from its first bytes (never from its name alone)."""

from __future__ import annotations

import re

from .safetensors import looks_like_safetensors

# (magic, offset, kind); first match wins.
_MAGIC: list[tuple[bytes, int, str]] = [
    (b"\x89HDF\r\n\x1a\n", 0, "hdf5"),
    (b"PK\x03\x04", 0, "zip"),
    (b"PK\x05\x06", 0, "zip"),
    (b"\x93NUMPY", 0, "numpy"),
    (b"\x1f\x8b", 0, "gzip"),
    (b"BZh", 0, "bzip2"),
    (b"\xfd7zXZ\x00", 0, "xz"),
    (b"\x28\xb5\x2f\xfd", 0, "zstd"),
    (b"\x89PNG\r\n\x1a\n", 0, "png"),
    (b"\xff\xd8\xff", 0, "jpeg"),
    (b"GIF87a", 0, "gif"),
    (b"GIF89a", 0, "gif"),
    (b"PAR1", 0, "parquet"),
    (b"II*\x00", 0, "tiff"),
    (b"MM\x00*", 0, "tiff"),
    (b"II+\x00", 0, "tiff"),  # BigTIFF
    (b"MM\x00+", 0, "tiff"),
    (b"ustar", 257, "tar"),
]
HDF5_SIGNATURE = _MAGIC[0][0]
_SAMPLE = 4096  # bytes of the head the caller passes (previews.DETECT_BYTES)
# A legacy (pre-zip) torch.save file starts with a pickled magic number.
_TORCH_LEGACY_MAGIC = b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19."


def detect_kind(head: bytes, hdf5_at: int | None = None) -> str:
    """`head` is the first few KiB; `hdf5_at` the offset of an HDF5 superblock found past 0
    (HDF5 allows a user block of 512, 1024, ... bytes before it)."""
    if hdf5_at is not None:
        return "hdf5"
    if looks_like_safetensors(head):  # before the magics: its length prefix may mimic one
        return "safetensors"
    for magic, offset, kind in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return kind
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if _looks_like_bmp(head):
        return "bmp"
    if head.startswith(_TORCH_LEGACY_MAGIC):
        return "torch-legacy"
    if _looks_like_pickle(head):
        return "pickle"
    if _looks_like_text(head) or _looks_like_other_text(head):
        return "text"
    return "binary"


def hdf5_probe_offsets(size: int) -> list[int]:
    """Where an HDF5 superblock may sit: 0, 512, 1024, 2048, ... within the file."""
    offsets: list[int] = []
    offset = 512
    while offset + len(HDF5_SIGNATURE) <= size and len(offsets) < 8:
        offsets.append(offset)
        offset *= 2
    return offsets


def _looks_like_pickle(head: bytes) -> bool:
    # Protocol 2+ starts with PROTO; protocol 0/1 pickles may start with any opcode and
    # protocol 0 ones are plain ASCII text: parse the head at the opcode level (nothing is
    # imported or called). A head shorter than the sample is the whole file.
    from .pickle_vm import looks_like_pickle

    return looks_like_pickle(head, whole=len(head) < _SAMPLE)


def _looks_like_text(head: bytes) -> bool:
    if not head:
        return True
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as error:
        # A multi-byte character cut at the end of the sample is still text.
        if error.start < len(head) - 3:
            return False
    controls = sum(1 for byte in head if byte < 9 or 13 < byte < 32)
    return controls <= len(head) // 100


def _looks_like_bmp(head: bytes) -> bool:
    # "BM" alone is too short a magic: the DIB header size after it must be a known one.
    return (
        head[:2] == b"BM"
        and len(head) >= 18
        and int.from_bytes(head[14:18], "little") in (12, 16, 40, 52, 56, 64, 108, 124)
    )


def _looks_like_other_text(head: bytes) -> bool:
    """Text the plain test misses: UTF-16/32 with a byte-order mark (NUL bytes), logs with
    ANSI colour codes (ESC bytes), and Latin-1 (not UTF-8)."""
    for bom, encoding in (
        (b"\xff\xfe\x00\x00", "utf-32-le"),
        (b"\x00\x00\xfe\xff", "utf-32-be"),
        (b"\xff\xfe", "utf-16-le"),
        (b"\xfe\xff", "utf-16-be"),
    ):
        if head.startswith(bom):
            unit = 4 if "32" in encoding else 2
            body = head[len(bom) :]
            text = body[: len(body) - len(body) % unit].decode(encoding, "replace")
            bad = sum(1 for ch in text if ch == "\ufffd" or (ord(ch) < 32 and ch not in "\t\n\r"))
            return bad <= len(text) // 100
    if b"\x00" in head:
        return False
    plain = re.sub(rb"\x1b\[[0-9;?]*[ -/]*[@-~]", b"", head)
    if plain != head and _looks_like_text(plain):
        return True
    controls = sum(1 for byte in plain if byte < 9 or 13 < byte < 32 or 0x80 <= byte < 0xA0)
    high = sum(1 for byte in plain if byte >= 0xA0)
    return controls <= len(plain) // 100 and high <= len(plain) * 3 // 10
