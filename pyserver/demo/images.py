"""Tiny cat and dog faces drawn with Pillow: the `animals` file dataset."""

from __future__ import annotations

import io

from PIL import Image, ImageDraw

_SIZE = 48
_FURS = ((230, 150, 60), (120, 110, 100), (245, 240, 230))
_BACKGROUNDS = ((200, 225, 245), (225, 245, 205), (250, 225, 225))


def _face(draw: ImageDraw.ImageDraw, fur: tuple[int, int, int]) -> None:
    draw.ellipse((10, 12, 38, 40), fill=fur, outline=(40, 30, 20))
    draw.ellipse((17, 21, 21, 25), fill=(20, 20, 20))
    draw.ellipse((27, 21, 31, 25), fill=(20, 20, 20))


def draw_animal(kind: str, index: int) -> bytes:
    fur, background = _FURS[index % 3], _BACKGROUNDS[index % 3]
    image = Image.new("RGB", (_SIZE, _SIZE), background)
    draw = ImageDraw.Draw(image)
    if kind == "cat":
        draw.polygon([(11, 20), (14, 4), (22, 13)], fill=fur, outline=(40, 30, 20))
        draw.polygon([(37, 20), (34, 4), (26, 13)], fill=fur, outline=(40, 30, 20))
        _face(draw, fur)
        draw.polygon([(22, 29), (26, 29), (24, 31)], fill=(230, 120, 140))
        for dy in (-2, 2):
            draw.line((4, 31 + dy, 18, 31), fill=(60, 60, 60))
            draw.line((30, 31, 44, 31 + dy), fill=(60, 60, 60))
    else:
        _face(draw, fur)
        ear = tuple(max(0, c - 60) for c in fur)
        draw.ellipse((4, 12, 14, 34), fill=ear)
        draw.ellipse((34, 12, 44, 34), fill=ear)
        draw.ellipse((20, 28, 28, 34), fill=(30, 25, 25))
        draw.arc((18, 30, 30, 38), 20, 160, fill=(30, 25, 25))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()
