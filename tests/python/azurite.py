"""A real Azurite blob emulator for the tests (and the remote bench), started from the tools
that `make tools` installs in $TOOLS_DIR (default ~/.cache/aml-artifacts-explorer)."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
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


def account_url(port: int, scheme: str = "http") -> str:
    return f"{scheme}://127.0.0.1:{port}/{ACCOUNT}"


def connection_string(port: int, key: str = ACCOUNT_KEY, scheme: str = "http") -> str:
    return (
        f"DefaultEndpointsProtocol={scheme};AccountName={ACCOUNT};AccountKey={key};"
        f"BlobEndpoint={account_url(port, scheme)};"
    )


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """(cert.pem, key.pem) for 127.0.0.1, valid for a day: the CA bundle of the clients too."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


@contextlib.contextmanager
def azurite(location: Path, oauth_tls: tuple[Path, Path] | None = None) -> Iterator[str]:
    """Start Azurite on a free local port with its data in `location`; yield its connection
    string; stop it on exit. With `oauth_tls` (cert, key) it serves HTTPS and also accepts
    Azure AD bearer tokens (`--oauth basic`: claims checked, signature not)."""
    port = free_port()
    location.mkdir(parents=True, exist_ok=True)
    oauth = (
        ["--oauth", "basic", "--cert", str(oauth_tls[0]), "--key", str(oauth_tls[1])]
        if oauth_tls
        else []
    )
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
            *oauth,
        ],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        _wait_for_port(port, process)
        yield connection_string(port, scheme="https" if oauth_tls else "http")
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
