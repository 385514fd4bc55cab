"""The format of a file from its first bytes (never from its name alone)."""

from __future__ import annotations

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
    (b"ustar", 257, "tar"),
]
HDF5_SIGNATURE = _MAGIC[0][0]
# A legacy (pre-zip) torch.save file starts with a pickled magic number.
_TORCH_LEGACY_MAGIC = b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19."


def detect_kind(head: bytes, hdf5_at: int | None = None) -> str:
    """`head` is the first few KiB; `hdf5_at` the offset of an HDF5 superblock found past 0
    (HDF5 allows a user block of 512, 1024, ... bytes before it)."""
    if hdf5_at is not None:
        return "hdf5"
    for magic, offset, kind in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return kind
    if head.startswith(_TORCH_LEGACY_MAGIC):
        return "torch-legacy"
    if _looks_like_pickle(head):
        return "pickle"
    if _looks_like_text(head):
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
    # Protocol 2+ starts with PROTO; protocol 0/1 pickles commonly start with these opcodes
    # and end with STOP, which is checked by the pickle preview itself.
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return True
    return (
        head[:1] in (b"(", b"}", b"]", b"c") and b"." in head[-64:] and not _looks_like_text(head)
    )


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
