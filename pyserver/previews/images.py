"""Images (PNG, JPEG, GIF, WebP, BMP, TIFF): dimensions from the header bytes, and a small
PNG thumbnail embedded in the hover when the file is small enough to read whole.

Dimensions come from a few header bytes parsed here, so a decompression bomb is measured
without being opened. Pillow (imported lazily, restricted to the detected format) adds the
mode and frame count and draws the thumbnail, only below a pixel limit.
"""

from __future__ import annotations

import base64
import contextlib
import io
import struct
from collections.abc import Callable
from typing import Any

from .budget import BudgetedReader, BudgetExceeded, ReaderFile
from .markdown import escape, format_size, table
from .section import Section
from .text import read_at_most

HEADER_BYTES = 64 * 1024
WHOLE_IMAGE_BYTES = 1 << 20  # a thumbnail only for files up to this size
MAX_PIXELS = 50_000_000  # never decode more (decompression bomb guard)
MAX_THUMBNAIL_PIXELS = 24_000_000  # formats Pillow cannot decode at a reduced scale
THUMBNAIL_SIDES = (128, 96, 64, 48, 32)
THUMBNAIL_BASE64_CHARS = 9 * 1024  # leaves room in the 12 000-char hover for the rest
_PILLOW_FORMATS = {
    "png": "PNG",
    "jpeg": "JPEG",
    "gif": "GIF",
    "webp": "WEBP",
    "bmp": "BMP",
    "tiff": "TIFF",
}
_PNG_MODES = {0: "L", 2: "RGB", 3: "P", 4: "LA", 6: "RGBA"}
_JPEG_MODES = {1: "L", 3: "RGB", 4: "CMYK"}

Get = Callable[[int, int], bytes]


def preview_image(reader: BudgetedReader, kind: str) -> Section:
    size = reader.size
    data, whole = b"", False
    if size <= WHOLE_IMAGE_BYTES:
        with contextlib.suppress(BudgetExceeded):
            data, whole = reader.read_range(0, size), True
    if not whole:
        data = read_at_most(reader, 0, min(size, HEADER_BYTES))
    get = _getter(data, reader)
    info: dict[str, Any] = {"format": _PILLOW_FORMATS.get(kind, kind.upper())}
    # A cut or odd header leaves the fields to Pillow.
    with contextlib.suppress(BudgetExceeded, struct.error, IndexError, ValueError):
        info.update(_header_info(kind, get))
    notes: list[str] = []
    pixels = _pixels(info)
    thumbnail: str | None = None
    if pixels is not None and pixels > MAX_PIXELS:
        notes.append(
            f"Not decoded: {pixels:,} pixels is over the {MAX_PIXELS:,}-pixel limit "
            "(a decompression-bomb guard)."
        )
    else:
        thumbnail = _with_pillow(kind, reader, data, whole, info, notes)
    if "width" not in info:
        raise ValueError(f"no readable {kind.upper()} header: {'; '.join(notes) or 'cut short'}")
    if thumbnail is None and not notes and not whole:
        notes.append(
            f"No thumbnail: the file is {format_size(size)}, over the "
            f"{format_size(WHOLE_IMAGE_BYTES)} read for thumbnails (or the byte budget)."
        )
    return _section(kind, info, thumbnail, notes)


def _getter(data: bytes, reader: BudgetedReader) -> Get:
    def get(offset: int, length: int) -> bytes:
        if offset + length <= len(data):
            return data[offset : offset + length]
        return reader.read_range(offset, length)

    return get


def _pixels(info: dict[str, Any]) -> int | None:
    if "width" not in info:
        return None
    return max(1, int(info["width"])) * max(1, int(info["height"]))


# ---------------------------------------------------------------- headers, by hand


def _header_info(kind: str, get: Get) -> dict[str, Any]:
    parser = {
        "png": _png,
        "gif": _gif,
        "bmp": _bmp,
        "webp": _webp,
        "jpeg": _jpeg,
        "tiff": _tiff,
    }.get(kind)
    return parser(get) if parser else {}


def _png(get: Get) -> dict[str, Any]:
    head = get(0, 26)
    if head[12:16] != b"IHDR":
        raise ValueError("no IHDR chunk")
    width, height = struct.unpack(">II", head[16:24])
    depth, color = head[24], head[25]
    mode = _PNG_MODES.get(color, "")
    if depth == 16 and mode == "L":
        mode = "I;16"
    return {"width": width, "height": height, "mode": mode, "bitDepth": depth}


def _gif(get: Get) -> dict[str, Any]:
    width, height = struct.unpack("<HH", get(6, 4))
    return {"width": width, "height": height, "mode": "P"}


def _bmp(get: Get) -> dict[str, Any]:
    head = get(0, 30)
    (header_size,) = struct.unpack("<I", head[14:18])
    if header_size == 12:
        width, height = struct.unpack("<HH", head[18:22])
        (bits,) = struct.unpack("<H", head[24:26])
    else:
        width, height = struct.unpack("<ii", head[18:26])
        (bits,) = struct.unpack("<H", head[28:30])
    return {"width": abs(width), "height": abs(height), "bitDepth": bits}


def _webp(get: Get) -> dict[str, Any]:
    head = get(0, 30)
    chunk = head[12:16]
    if chunk == b"VP8X":
        flags = head[20]
        width = int.from_bytes(head[24:27], "little") + 1
        height = int.from_bytes(head[27:30], "little") + 1
        return {
            "width": width,
            "height": height,
            "mode": "RGBA" if flags & 0x10 else "RGB",
            "animated": bool(flags & 0x02),
        }
    if chunk == b"VP8L":
        if head[20] != 0x2F:
            raise ValueError("bad VP8L signature")
        (bits,) = struct.unpack("<I", head[21:25])
        return {
            "width": (bits & 0x3FFF) + 1,
            "height": ((bits >> 14) & 0x3FFF) + 1,
            "mode": "RGBA" if bits >> 28 & 1 else "RGB",
        }
    if chunk == b"VP8 ":
        if head[23:26] != b"\x9d\x01\x2a":
            raise ValueError("bad VP8 start code")
        width, height = struct.unpack("<HH", head[26:30])
        return {"width": width & 0x3FFF, "height": height & 0x3FFF, "mode": "RGB"}
    raise ValueError("unknown WebP chunk")


def _jpeg(get: Get) -> dict[str, Any]:
    offset = 2
    for _ in range(500):  # segments before the frame header: APPn, DQT, DHT, COM ...
        marker = get(offset, 4)
        while marker[:1] == b"\xff" and marker[1:2] == b"\xff":  # fill bytes
            offset += 1
            marker = get(offset, 4)
        if marker[:1] != b"\xff":
            raise ValueError("lost JPEG marker sync")
        code = marker[1]
        if code in (0xD8, 0x01) or 0xD0 <= code <= 0xD7:
            offset += 2
            continue
        (length,) = struct.unpack(">H", marker[2:4])
        if 0xC0 <= code <= 0xCF and code not in (0xC4, 0xC8, 0xCC):
            frame = get(offset + 4, 6)
            bits = frame[0]
            height, width = struct.unpack(">HH", frame[1:5])
            components = frame[5]
            return {
                "width": width,
                "height": height,
                "mode": _JPEG_MODES.get(components, ""),
                "bitDepth": bits,
                "progressive": code in (0xC2, 0xC6, 0xCA, 0xCE),
            }
        if code in (0xD9, 0xDA):
            break
        offset += 2 + length
    raise ValueError("no JPEG frame header")


def _tiff(get: Get) -> dict[str, Any]:
    order = "<" if get(0, 2) == b"II" else ">"
    (magic, ifd) = struct.unpack(order + "HI", get(2, 6))
    if magic != 42:
        raise ValueError("BigTIFF: left to Pillow")
    (count,) = struct.unpack(order + "H", get(ifd, 2))
    entries = get(ifd + 2, 12 * min(count, 400))
    found: dict[int, int] = {}
    for index in range(min(count, 400)):
        tag, kind, _n = struct.unpack(order + "HHI", entries[12 * index : 12 * index + 8])
        value = entries[12 * index + 8 : 12 * index + 12]
        if tag in (256, 257):
            fmt, width = ("H", 2) if kind == 3 else ("I", 4)
            (found[tag],) = struct.unpack(order + fmt, value[:width])
    if 256 not in found or 257 not in found:
        raise ValueError("TIFF without width and height")
    return {"width": found[256], "height": found[257]}


# ---------------------------------------------------------------- Pillow


def _with_pillow(
    kind: str,
    reader: BudgetedReader,
    data: bytes,
    whole: bool,
    info: dict[str, Any],
    notes: list[str],
) -> str | None:
    """Mode, frames and (for a file read whole) a thumbnail data URI; notes say what was not
    done and why."""
    try:
        from PIL import Image
    except ImportError:
        notes.append("Install Pillow for the mode, frame count and a thumbnail.")
        return None
    pillow_format = _PILLOW_FORMATS[kind]
    if whole:
        source: Any = io.BytesIO(data)
    elif kind == "webp":  # Pillow's WebP reader reads the whole file on open
        return None
    else:
        source = io.BufferedReader(ReaderFile(reader), buffer_size=HEADER_BYTES)
    try:
        image = Image.open(source, formats=[pillow_format])
    except BudgetExceeded:
        notes.append("The header runs past the byte budget: shown as far as it was read.")
        return None
    except Exception as error:  # bad bytes; the header fields may still stand
        if "width" not in info:
            raise
        notes.append(f"Pillow could not open it ({type(error).__name__}: {error}).")
        return None
    with image:
        info.update(width=image.width, height=image.height, format=image.format or pillow_format)
        info["mode"] = image.mode
        if not whole:  # counting frames could mean reading them all
            return None
        info["frames"] = int(getattr(image, "n_frames", 1))
        pixels = image.width * image.height
        limit = MAX_PIXELS if kind == "jpeg" else MAX_THUMBNAIL_PIXELS
        if pixels > limit:
            notes.append(
                f"No thumbnail: {pixels:,} pixels is over the {limit:,}-pixel decoding limit."
            )
            return None
        try:
            return _thumbnail(image)
        except Exception as error:
            notes.append(
                f"No thumbnail: the image data is truncated or corrupt "
                f"({type(error).__name__}: {error})."
            )
            return None


def _thumbnail(image: Any) -> str | None:
    """A PNG data URI ≤ 128 px and ≤ THUMBNAIL_BASE64_CHARS, smaller sides and fewer colours
    tried until it fits; None when nothing does."""
    from PIL import Image

    image.seek(0)
    if image.mode in ("1", "P"):  # palette images resize by nearest neighbour: convert first
        image = _displayable(image)
    image.thumbnail((THUMBNAIL_SIDES[0], THUMBNAIL_SIDES[0]))
    image = _displayable(image)
    for side in THUMBNAIL_SIDES:
        candidate = image.copy()
        candidate.thumbnail((side, side))
        for colours in (0, 256, 64, 16):
            shown = candidate
            if colours:
                shown = candidate.quantize(colours, method=Image.Quantize.FASTOCTREE)
            out = io.BytesIO()
            shown.save(out, format="PNG", optimize=True)
            encoded = base64.b64encode(out.getvalue()).decode("ascii")
            if len(encoded) <= THUMBNAIL_BASE64_CHARS:
                return "data:image/png;base64," + encoded
    return None


def _displayable(image: Any) -> Any:
    """RGB or RGBA (8 bits a channel), whatever the source mode."""
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        image = image.convert("F") if image.mode != "F" else image
        low, high = image.getextrema()
        scale = 255.0 / (high - low) if high > low else 1.0
        return image.point(lambda v: (v - low) * scale).convert("L").convert("RGB")
    has_alpha = "A" in image.mode or "transparency" in image.info
    return image.convert("RGBA" if has_alpha else "RGB")


def _section(kind: str, info: dict[str, Any], thumbnail: str | None, notes: list[str]) -> Section:
    width, height = int(info["width"]), int(info["height"])
    mode = str(info.get("mode") or "")
    frames = info.get("frames")
    label = str(info.get("format") or kind.upper())
    summary = f"{label} image · {width}×{height}"
    if mode:
        summary += f" · {mode}"
    if isinstance(frames, int) and frames > 1:
        summary += f" · {frames} frames"
    rows = [["Dimensions", escape(f"{width} × {height} px")]]
    if mode:
        rows.append(["Mode", escape(mode)])
    if frames is not None:
        rows.append(["Frames", str(frames)])
    elif info.get("animated"):
        rows.append(["Frames", "animated"])
    if info.get("bitDepth"):
        rows.append(["Bit depth", str(int(info["bitDepth"]))])
    blocks = [table(["", ""], rows)]
    blocks += [escape(note, 400) for note in notes]
    if thumbnail is not None:
        blocks.append(f"![thumbnail]({thumbnail})")  # fixed alt text; base64 needs no escape
    fields: dict[str, Any] = {
        "width": width,
        "height": height,
        "format": label,
        "mode": mode or None,
        "frames": frames,
        "thumbnail": thumbnail,
    }
    return Section(kind, summary, blocks, fields=fields)
