"""Remote names → safe local names. A remote name is never trusted as a path: each component
is mapped to a name that is a plain file or folder name on every OS, or refused.

The mapping (docs/security.md#downloads), applied to each `/`-separated component:

- refused: `.` and `..`, also percent-encoded (`%2e%2e`, `.%2E`, `%252e%252e`, ...);
- dropped: empty components (a leading `/`, `a//b`): the rest stays relative to the folder;
- `\\` and `/` inside a name, NUL, control characters (U+0000 to U+001F, U+007F) and,
  on Windows, `< > : " | ? *` → `_`;
- a drive prefix `C:` → `C_` (on every OS, so `C:\\x` is `C__x`);
  `\\\\server\\share` → `__server_share`;
- trailing dots and spaces (Windows drops them silently) → `_` each;
- Windows device names (`CON PRN AUX NUL COM0-9 LPT0-9`, also `COM¹²³`/`LPT¹²³`), with or
  without an extension, any case → `_` after the stem: `con` → `con_`, `nul.txt` → `nul_.txt`;
- over 255 bytes (UTF-8): truncated, keeping the extension, with `~<8 hex of SHA-256>`.

The same mapping is used on every OS, so a download has the same layout everywhere (only the
Windows-invalid punctuation differs)."""

from __future__ import annotations

import hashlib
import os
import re
from urllib.parse import unquote

from ..errors import UnsafePath

MAX_NAME_BYTES = 255
_CONTROL = re.compile(r"[\x00-\x1f\x7f\\/]")
_WINDOWS_INVALID = re.compile(r'[<>:"|?*]')
_DRIVE = re.compile(r"^([A-Za-z]):")
_TRAILING = re.compile(r"[. ]+$")
_DEVICE = re.compile(r"^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³])$", re.IGNORECASE)


def local_name(component: str, windows: bool | None = None) -> str:
    """The safe local name of one remote path component (never empty), or UnsafePath."""
    windows = os.name == "nt" if windows is None else windows
    decoded = _fully_unquoted(component)
    if decoded.strip(" ") in (".", "..") or component in (".", ".."):
        raise UnsafePath(f"the name {component!r} names a parent or current folder")
    name = _DRIVE.sub(r"\1_", component)
    name = _CONTROL.sub("_", name)
    if windows:
        name = _WINDOWS_INVALID.sub("_", name)
    trailing = _TRAILING.search(name)
    if trailing:
        name = name[: trailing.start()] + "_" * (trailing.end() - trailing.start())
    stem, dot, extension = name.partition(".")
    if _DEVICE.match(stem.rstrip(" ")):
        name = f"{stem}_{dot}{extension}"
    return _shorten(name)


def local_parts(parts: tuple[str, ...], windows: bool | None = None) -> tuple[str, ...]:
    """Each component mapped; empty components dropped. UnsafePath when nothing is left or a
    component is refused."""
    mapped = tuple(local_name(part, windows) for part in parts if part != "")
    if not mapped:
        raise UnsafePath("the remote name is empty")
    return mapped


def short_name(name: str, max_bytes: int) -> str:
    """`name` cut to at most `max_bytes` of UTF-8 (never inside a character)."""
    data = name.encode("utf-8")
    if len(data) <= max_bytes:
        return name
    return data[:max_bytes].decode("utf-8", "ignore")


def _shorten(name: str) -> str:
    data = name.encode("utf-8")
    if len(data) <= MAX_NAME_BYTES:
        return name
    digest = hashlib.sha256(data).hexdigest()[:8]
    stem, dot, extension = name.rpartition(".")
    if not dot or len(extension.encode("utf-8")) > 16:
        stem, extension = name, ""
    suffix = f"~{digest}" + (f".{extension}" if extension else "")
    return short_name(stem, MAX_NAME_BYTES - len(suffix.encode("utf-8"))) + suffix


def _fully_unquoted(text: str) -> str:
    """Percent-decoding repeated until stable (`%252e` → `%2e` → `.`)."""
    for _ in range(5):
        decoded = unquote(text)
        if decoded == text:
            break
        text = decoded
    return text
