"""A fault-injecting TCP proxy for the transfer tests: sits between the blob client and
Azurite, counts the bytes it forwards, and on demand drops connections in the middle of a
response (FIN or RST), adds latency, or limits the bandwidth."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
import time
from dataclasses import dataclass

PIECE = 64 << 10


@dataclass
class Faults:
    drop_after: int | None = None  # drop each connection after it sent this many bytes down
    drops_left: int = 0  # ... at most this many times (then connections are left alone)
    reset: bool = False  # drop with a TCP RST instead of a FIN
    latency_s: float = 0.0  # added before each piece sent down
    rate: float | None = None  # bytes per second down, shared by all connections


class FaultProxy:
    """`with FaultProxy(upstream_port) as proxy:` → `proxy.port`; change `proxy.faults` at any
    time; `proxy.bytes_down` counts the bytes sent to clients."""

    def __init__(self, upstream_port: int, faults: Faults | None = None) -> None:
        self.upstream_port = upstream_port
        self.faults = faults or Faults()
        self.bytes_down = 0
        self.drops = 0
        self.connections = 0
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._server: asyncio.Server | None = None
        self._next_slot = 0.0
        self.port = 0
        self._thread = threading.Thread(target=self._run, name="fault-proxy", daemon=True)

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def reset_counters(self) -> None:
        with self._lock:
            self.bytes_down = 0
            self.drops = 0

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", 0)
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()
        self._server.close()
        tasks = asyncio.all_tasks(self._loop)
        for task in tasks:
            task.cancel()
        self._loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        self._loop.close()

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            up_r, up_w = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            client_w.close()
            return
        upload = asyncio.ensure_future(self._pipe_up(client_r, up_w))
        try:
            await self._pipe_down(up_r, client_w)
        finally:
            upload.cancel()
            for writer in (up_w, client_w):
                with contextlib.suppress(Exception):
                    writer.close()

    async def _pipe_up(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            while data := await reader.read(PIECE):
                writer.write(data)
                await writer.drain()
            writer.write_eof()

    async def _pipe_down(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sent = 0
        while True:
            try:
                data = await reader.read(PIECE)
            except (ConnectionError, OSError):
                return
            if not data:
                return
            faults = self.faults
            drop = False
            with self._lock:
                if (
                    faults.drop_after is not None
                    and faults.drops_left > 0
                    and sent + len(data) > faults.drop_after
                ):
                    faults.drops_left -= 1
                    self.drops += 1
                    data = data[: max(0, faults.drop_after - sent)]
                    drop = True
            if faults.latency_s:
                await asyncio.sleep(faults.latency_s)
            if faults.rate:
                now = time.monotonic()
                start = max(now, self._next_slot)
                self._next_slot = start + len(data) / faults.rate
                if start > now:
                    await asyncio.sleep(start - now)
            try:
                writer.write(data)
                await writer.drain()
            except (ConnectionError, OSError):
                return
            with self._lock:
                self.bytes_down += len(data)
            sent += len(data)
            if drop:
                self._drop(writer, faults.reset)
                return

    @staticmethod
    def _drop(writer: asyncio.StreamWriter, reset: bool) -> None:
        sock = writer.get_extra_info("socket")
        if reset and sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort() if reset else writer.close()
