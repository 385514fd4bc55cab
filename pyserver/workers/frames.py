"""The wire format between the server and its preview workers: each message is a 4-byte
big-endian length followed by that many bytes of UTF-8 JSON. JSON only: nothing that crosses
the pipe can make the other side import or run code (no pickle, unlike multiprocessing)."""

from __future__ import annotations

import json
import struct
from typing import IO, Any

HEADER = struct.Struct(">I")
MAX_FRAME_BYTES = 256 << 20


class FrameError(Exception):
    """The other side sent something that is not a frame: treat the peer as broken."""


def write_frame(stream: IO[bytes], message: dict[str, Any]) -> None:
    body = json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    if len(body) > MAX_FRAME_BYTES:
        raise FrameError(f"message of {len(body)} bytes is larger than {MAX_FRAME_BYTES}")
    stream.write(HEADER.pack(len(body)) + body)
    stream.flush()


def read_frame(stream: IO[bytes]) -> dict[str, Any] | None:
    """The next message, or None when the stream ended cleanly between messages."""
    header = _read_exactly(stream, HEADER.size)
    if header is None:
        return None
    (length,) = HEADER.unpack(header)
    if length > MAX_FRAME_BYTES:
        raise FrameError(f"frame of {length} bytes announced, more than {MAX_FRAME_BYTES}")
    body = _read_exactly(stream, length)
    if body is None:
        raise FrameError("stream ended inside a frame")
    try:
        message = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise FrameError(f"frame is not JSON: {error}") from None
    if not isinstance(message, dict):
        raise FrameError("frame is not a JSON object")
    return message


def _read_exactly(stream: IO[bytes], size: int) -> bytes | None:
    chunks = []
    remaining = size
    while remaining:
        chunk = stream.read(remaining)
        if not chunk:
            if remaining == size:
                return None
            raise FrameError("stream ended inside a frame")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)
