"""A scripted stand-in for blob storage's ranged GET, for the error paths Azurite cannot be
made to take (5xx, a body cut short, a 412 on demand): each GET takes the next scripted
answer, or serves `data` by its Range header once the script is empty."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Answer:
    status: int
    code: str = ""  # x-ms-error-code
    cut: bool = False  # announce the range's length, send half of it, close


@dataclass
class FakeBlob:
    data: bytes
    script: list[Answer] = field(default_factory=list)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    port: int = 0

    @property
    def account_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/acct"


@contextmanager
def fake_blob(data: bytes) -> Iterator[FakeBlob]:
    blob = FakeBlob(data)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            with lock:
                blob.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
                answer = blob.script.pop(0) if blob.script else Answer(206)
            first, _, last = self.headers.get("Range", "bytes=0-").partition("=")[2].partition("-")
            body = blob.data[int(first) : int(last or len(blob.data) - 1) + 1]
            if answer.status != 206:
                body = f"<Error><Code>{answer.code}</Code></Error>".encode()
            self.send_response(answer.status)
            if answer.code:
                self.send_header("x-ms-error-code", answer.code)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if answer.cut:
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    blob.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield blob
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
