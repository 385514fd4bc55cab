"""Image previews: dimensions from the header, a small embedded thumbnail, bomb guard."""

from __future__ import annotations

import base64
import io
import random
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest
from helpers import CountingReader, preview
from PIL import Image

from pyserver.errors import CorruptArtifact
from pyserver.previews.budget import MAX_MARKDOWN_CHARS, Budget
from pyserver.previews.images import THUMBNAIL_BASE64_CHARS
from pyserver.previews.preview import preview_file
from pyserver.uris import file_uri


def noisy(size: tuple[int, int], mode: str = "RGB") -> Image.Image:
    """A photo-like image that compresses badly, so thumbnails must work to stay small."""
    raw = random.Random(0).randbytes(size[0] * size[1] * 4)
    rgba = Image.frombytes("RGBA", size, raw)
    return rgba.convert(mode)


def save(image: Image.Image, path: Path, **options: Any) -> Path:
    image.save(path, **options)
    return path


def thumbnail_of(result: dict[str, Any]) -> Image.Image:
    uri = result["thumbnail"]
    assert uri.startswith("data:image/png;base64,")
    data = base64.b64decode(uri.removeprefix("data:image/png;base64,"))
    return Image.open(io.BytesIO(data))


@pytest.mark.parametrize(
    ("name", "options", "kind", "mode"),
    [
        ("rgba.png", {"format": "PNG"}, "png", "RGBA"),
        ("photo.jpg", {"format": "JPEG", "quality": 90}, "jpeg", "RGB"),
        ("pic.webp", {"format": "WEBP", "quality": 80}, "webp", "RGB"),
        ("pic.bmp", {"format": "BMP"}, "bmp", "RGB"),
        ("pic.tiff", {"format": "TIFF"}, "tiff", "RGB"),
        ("pic.gif", {"format": "GIF"}, "gif", "P"),
    ],
)
def test_dimensions_mode_and_thumbnail(
    tmp_path: Path, name: str, options: dict[str, Any], kind: str, mode: str
) -> None:
    image = noisy((300, 200), "RGBA" if mode == "RGBA" else "RGB")
    if mode == "P":
        image = image.convert("P")
    path = save(image, tmp_path / name, **options)
    result = preview(path)
    assert result["kind"] == kind
    assert result["safety"]["verdict"] == "safe"
    assert (result["width"], result["height"], result["mode"]) == (300, 200, mode)
    assert result["format"] == options["format"]
    assert "300×200" in result["summary"]
    assert "300 × 200 px" in result["markdown"]
    thumb = thumbnail_of(result)
    assert max(thumb.size) <= 128 and thumb.format == "PNG"
    assert thumb.size[0] > thumb.size[1]  # the aspect ratio is kept
    assert len(result["thumbnail"]) <= THUMBNAIL_BASE64_CHARS + len("data:image/png;base64,")
    assert f"![thumbnail]({result['thumbnail']})" in result["markdown"]
    # the whole thumbnail survives the hover's size cap
    assert len(result["markdown"]) <= MAX_MARKDOWN_CHARS
    assert result["truncated"] is False
    assert result["bytesRead"] <= path.stat().st_size + 4200  # detection read the head


def test_rgba_thumbnail_keeps_transparency(tmp_path: Path) -> None:
    image = Image.new("RGBA", (64, 64), (255, 0, 0, 0))
    image.paste((0, 0, 255, 255), (16, 16, 48, 48))
    result = preview(save(image, tmp_path / "a.png"))
    thumb = thumbnail_of(result).convert("RGBA")
    pixels = thumb.tobytes()
    assert pixels[3] == 0  # the corner stays transparent
    assert pixels[(32 * 64 + 32) * 4 : (32 * 64 + 32) * 4 + 4] == bytes((0, 0, 255, 255))


def test_animated_gif_counts_frames(tmp_path: Path) -> None:
    colours = ((255, 0, 0), (0, 255, 0), (0, 0, 255), (9, 9, 9))
    frames = [Image.new("RGB", (40, 30), colour) for colour in colours]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    result = preview(path)
    assert result["kind"] == "gif" and result["frames"] == 4
    assert "4 frames" in result["summary"] and "| Frames | 4 |" in result["markdown"]
    assert thumbnail_of(result).size == (40, 30)


def test_large_photo_thumbnail_fits_the_hover(tmp_path: Path) -> None:
    path = save(noisy((1600, 1200)), tmp_path / "big.jpg", format="JPEG", quality=40)
    assert path.stat().st_size < 1 << 20
    result = preview(path)
    assert (result["width"], result["height"]) == (1600, 1200)
    assert len(result["thumbnail"]) <= THUMBNAIL_BASE64_CHARS + 30
    assert result["markdown"].endswith(")")  # not cut by the markdown cap
    assert len(result["markdown"]) <= MAX_MARKDOWN_CHARS


def test_file_over_a_mebibyte_gets_dimensions_only(tmp_path: Path) -> None:
    path = save(noisy((600, 500), "RGBA"), tmp_path / "big.png", format="PNG")
    assert path.stat().st_size > 1 << 20
    result = preview(path)
    assert (result["width"], result["height"], result["mode"]) == (600, 500, "RGBA")
    assert result["thumbnail"] is None
    assert "No thumbnail" in result["markdown"] and "over the 1\\.0 MiB" in result["markdown"]
    assert result["bytesRead"] <= 128 * 1024


def test_big_jpeg_and_tiff_dimensions_from_ranged_reads(tmp_path: Path) -> None:
    for name, fmt in (("huge.jpg", "JPEG"), ("huge.tiff", "TIFF"), ("huge.bmp", "BMP")):
        path = save(noisy((1100, 1000)), tmp_path / name, format=fmt, quality=100)
        assert path.stat().st_size > 1 << 20
        reader = CountingReader(path.read_bytes())
        result = preview_file(file_uri(path), name, reader, Budget())
        assert (result["width"], result["height"]) == (1100, 1000), name
        assert result["bytesRead"] <= 200 * 1024, name


def test_big_webp_dimensions_without_pillow_reading_it_all(tmp_path: Path) -> None:
    path = save(noisy((600, 600)), tmp_path / "huge.webp", format="WEBP", lossless=True)
    assert path.stat().st_size > 1 << 20
    result = preview(path)
    assert (result["kind"], result["width"], result["height"]) == ("webp", 600, 600)
    assert result["bytesRead"] <= 128 * 1024


def png_header(width: int, height: int) -> bytes:
    """A PNG whose header announces a size; its one IDAT holds a few rows of zeros."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 4096)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@pytest.mark.parametrize(("width", "height"), [(100_000, 100_000), (20_000, 20_000)])
def test_decompression_bomb_gets_dimensions_and_is_never_decoded(
    tmp_path: Path, width: int, height: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "bomb.png"
    path.write_bytes(png_header(width, height))

    def no_open(*args: object, **kwargs: object) -> None:
        raise AssertionError("a bomb must not reach Pillow")

    monkeypatch.setattr(Image, "open", no_open)
    result = preview(path)
    assert (result["width"], result["height"]) == (width, height)
    assert result["thumbnail"] is None
    assert "decompression\\-bomb guard" in result["markdown"]
    assert result["safety"]["verdict"] == "safe"


def test_truncated_png_keeps_its_dimensions_and_says_why_no_thumbnail(tmp_path: Path) -> None:
    source = tmp_path / "full.png"
    save(noisy((200, 150)), source, format="PNG")
    cut = tmp_path / "cut.png"
    cut.write_bytes(source.read_bytes()[:3000])
    result = preview(cut)
    assert (result["width"], result["height"]) == (200, 150)
    assert result["thumbnail"] is None
    assert "truncated or corrupt" in result["markdown"]


@pytest.mark.parametrize(
    "data",
    [
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 5,  # cut inside the header
        b"\x89PNG\r\n\x1a\n" + b"garbage!" * 20,
        b"GIF89a\x01",
        b"\xff\xd8\xff\xe0" + b"\x00" * 10,
        b"RIFF\x10\x00\x00\x00WEBPVP8 " + b"\x00" * 20,
    ],
)
def test_corrupt_headers_are_a_clear_error(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "bad.img"
    path.write_bytes(data)
    with pytest.raises(CorruptArtifact, match="truncated or corrupt"):
        preview(path)


def test_detection_is_by_content(tmp_path: Path) -> None:
    png = tmp_path / "really-a-png.txt"
    save(Image.new("RGB", (5, 7)), png, format="PNG")
    assert preview(png)["kind"] == "png"
    fake = tmp_path / "fake.png"
    fake.write_text("BM is how this line starts, it is text\n")
    assert preview(fake)["kind"] == "text"


def test_sixteen_bit_grayscale_thumbnail_is_scaled_not_clipped(tmp_path: Path) -> None:
    row = struct.pack("<16H", *[60000] * 16) + struct.pack("<16H", *[1000] * 16)
    image = Image.frombytes("I;16", (32, 32), row * 32)
    result = preview(save(image, tmp_path / "depth.png", format="PNG"))
    assert result["mode"] == "I;16"
    thumb = thumbnail_of(result).convert("L")
    pixels = thumb.tobytes()
    assert pixels[0] > 200 and pixels[31] < 50


def test_demo_animal_images(demo_workspace: Path) -> None:
    path = next((demo_workspace / "datasets").rglob("*.png"))
    result = preview(path)
    assert (result["kind"], result["width"], result["height"]) == ("png", 48, 48)
    assert thumbnail_of(result).size == (48, 48)
