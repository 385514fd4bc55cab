"""Progress of a download: files and bytes done, speed over the last few seconds, time left."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

SPEED_WINDOW_S = 3.0


@dataclass(frozen=True)
class Progress:
    files_done: int
    files_total: int
    bytes_done: int
    bytes_total: int
    bytes_per_s: float = 0.0
    eta_s: float | None = None
    files_failed: int = 0
    files_skipped: int = 0

    @property
    def finished(self) -> bool:
        """Every file is accounted for (done, skipped or failed)."""
        return self.files_done + self.files_failed >= self.files_total

    @property
    def percentage(self) -> int:
        if self.bytes_total > 0:
            return min(100, int(100 * self.bytes_done / self.bytes_total))
        return int(100 * self.files_done / self.files_total) if self.files_total else 100

    def message(self) -> str:
        """`3/10 files · 1.2 MB of 4.0 MB · 35.2 MB/s · 4 s left` (+ skipped, failed)."""
        parts = [f"{self.files_done}/{self.files_total} files"]
        if self.bytes_total:
            parts.append(f"{format_bytes(self.bytes_done)} of {format_bytes(self.bytes_total)}")
        if self.bytes_per_s > 0:
            parts.append(f"{format_bytes(int(self.bytes_per_s))}/s")
        if self.eta_s is not None:
            parts.append(f"{format_eta(self.eta_s)} left")
        if self.files_skipped:
            parts.append(f"{self.files_skipped} skipped")
        if self.files_failed:
            parts.append(f"{self.files_failed} failed")
        return " · ".join(parts)


def format_bytes(size: int) -> str:
    if size < 1000:
        return f"{size} B"
    value = float(size)
    for unit in ("kB", "MB", "GB", "TB"):
        value /= 1000
        if value < 1000 or unit == "TB":
            return f"{value:.1f} {unit}"
    raise AssertionError("unreachable")


def format_eta(seconds: float) -> str:
    whole = max(0, round(seconds))
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole // 60 % 60:02d} min"


class Tracker:
    """Thread-safe counters fed by the transfer threads; each change calls `report` (under a
    lock, so reports arrive one at a time and in order)."""

    def __init__(
        self,
        files_total: int,
        bytes_total: int,
        report: Callable[[Progress], None] | None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lock = threading.Lock()
        self._report = report
        self._clock = clock
        self.files_total = files_total
        self.bytes_total = bytes_total
        self.files_done = 0
        self.files_failed = 0
        self.files_skipped = 0
        self.bytes_done = 0
        self.bytes_fetched = 0  # bytes that crossed the network (resumed bytes do not)
        self._samples: deque[tuple[float, int]] = deque([(clock(), 0)])

    def add_total(self, delta: int) -> None:
        """A file's size turned out other than listed (listings without sizes)."""
        with self._lock:
            self.bytes_total += delta

    def resumed(self, count: int) -> None:
        with self._lock:
            self.bytes_done += count
            self._emit()

    def fetched(self, count: int) -> None:
        with self._lock:
            self.bytes_done += count
            self.bytes_fetched += count
            now = self._clock()
            self._samples.append((now, self.bytes_fetched))
            while len(self._samples) > 2 and now - self._samples[1][0] > SPEED_WINDOW_S:
                self._samples.popleft()
            self._emit()

    def file_done(self, skipped: bool = False) -> None:
        with self._lock:
            self.files_done += 1
            self.files_skipped += skipped
            self._emit()

    def file_failed(self, size_left: int) -> None:
        with self._lock:
            self.files_failed += 1
            self.bytes_total -= size_left  # what will not come: keeps the percentage honest
            self._emit()

    def snapshot(self) -> Progress:
        with self._lock:
            return self._progress()

    def _progress(self) -> Progress:
        (first_t, first_b), last_b = self._samples[0], self._samples[-1][1]
        elapsed = self._clock() - first_t
        speed = (last_b - first_b) / elapsed if elapsed > 0.2 else 0.0
        left = max(0, self.bytes_total - self.bytes_done)
        eta = left / speed if speed > 0 else None
        return Progress(
            self.files_done,
            self.files_total,
            self.bytes_done,
            self.bytes_total,
            speed,
            eta,
            self.files_failed,
            self.files_skipped,
        )

    def _emit(self) -> None:
        if self._report is not None:
            self._report(self._progress())


class ProgressPrinter:
    """The CLI's progress on stderr: a bar redrawn in place on a terminal, else a plain line
    every few seconds (logs, CI)."""

    BAR = 24

    def __init__(
        self,
        stream: TextIO,
        tty: bool | None = None,
        interval_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stream = stream
        self._tty = stream.isatty() if tty is None else tty
        self._interval = interval_s if interval_s is not None else 0.1 if self._tty else 2.0
        self._clock = clock
        self._last = float("-inf")
        self._drawn = False
        self._final: Progress | None = None

    def update(self, progress: Progress) -> None:
        now = self._clock()
        finished = progress.finished
        if now - self._last < self._interval and not finished:
            return
        if finished and progress == self._final:
            return
        self._last = now
        self._final = progress if finished else None
        if self._tty:
            filled = self.BAR * progress.percentage // 100
            bar = "#" * filled + "-" * (self.BAR - filled)
            line = f"[{bar}] {progress.percentage:3d}% {progress.message()}"
            self._stream.write(f"\r{line}\x1b[K")
            self._drawn = True
        else:
            self._stream.write(f"{progress.percentage}% {progress.message()}\n")
        self._stream.flush()

    def close(self) -> None:
        if self._drawn:
            self._stream.write("\n")
            self._stream.flush()
            self._drawn = False
