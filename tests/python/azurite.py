"""A real Azurite blob emulator for the tests (and the remote bench), started from the tools
that `make tools` installs in $TOOLS_DIR (default ~/.cache/aml-artifacts-explorer)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

ACCOUNT = "devstoreaccount1"
# The well-known development key every Azurite accepts (published in Azure's docs).
ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
START_TIMEOUT_S = 30.0


def tools_dir() -> Path:
    return Path(
        os.environ.get("TOOLS_DIR") or Path.home() / ".cache" / "aml-artifacts-explorer"
    ).expanduser()


def azurite_executable() -> Path:
    executable = tools_dir() / "bin" / "azurite-blob"
    if not os.access(executable, os.X_OK):
        raise RuntimeError(
            f"Azurite is not installed ({executable} is missing): run `make tools` first."
        )
    return executable


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def account_url(port: int) -> str:
    return f"http://127.0.0.1:{port}/{ACCOUNT}"


def connection_string(port: int, key: str = ACCOUNT_KEY) -> str:
    return (
        f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={key};"
        f"BlobEndpoint={account_url(port)};"
    )


@contextlib.contextmanager
def azurite(location: Path) -> Iterator[str]:
    """Start Azurite on a free local port with its data in `location`; yield its connection
    string; stop it on exit."""
    port = free_port()
    location.mkdir(parents=True, exist_ok=True)
    log = (location / "azurite.log").open("wb")
    process = subprocess.Popen(
        [
            str(azurite_executable()),
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            str(port),
            "--location",
            str(location),
            "--loose",
            "--skipApiVersionCheck",
            "--disableTelemetry",
            "--silent",
        ],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        _wait_for_port(port, process)
        yield connection_string(port)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, 15)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, 9)
            process.wait()
        log.close()


def _wait_for_port(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"Azurite exited with status {process.returncode} at start")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"Azurite did not listen on 127.0.0.1:{port} within {START_TIMEOUT_S} s")


def port_of(conn_str: str) -> int:
    endpoint = next(p for p in conn_str.split(";") if p.startswith("BlobEndpoint="))
    return int(endpoint.split(":")[2].split("/")[0])
