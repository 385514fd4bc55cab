"""Blob storage for the download e2e tests: a real Azurite (tests/python/azurite.py) holding
the given files in one container, and a bandwidth-limited TCP proxy in front of it
(tests/python/faultproxy.py), so that a transfer is slow enough to cancel by hand.

    PYTHONPATH=tests/python python tests/e2e/blobstore.py --folder DIR --env-file FILE \\
        --container NAME --rate BYTES_PER_S BLOB=LOCAL_FILE...

uploads each LOCAL_FILE as the blob BLOB, writes `{"connectionString",
"slowConnectionString", "container"}` to FILE (the slow one goes through the proxy), rewrites
FILE.stats (`{"bytesDown", "connections"}`: what the proxy forwarded) every 0.1 s, and serves
until its standard input closes or it is terminated."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from pathlib import Path


def _write_json(path: Path, value: object) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(value))
    os.replace(temporary, path)


def main() -> int:
    parser = argparse.ArgumentParser(prog="blobstore.py")
    parser.add_argument("--folder", required=True)
    parser.add_argument("--env-file", required=True)
    parser.add_argument("--container", required=True)
    parser.add_argument("--rate", type=float, required=True, help="proxy bytes per second")
    parser.add_argument("blobs", nargs="*", metavar="BLOB=LOCAL_FILE")
    args = parser.parse_args()
    from azure.storage.blob import BlobServiceClient
    from azurite import azurite, port_of
    from faultproxy import FaultProxy, Faults

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    folder = Path(args.folder)
    env_file = Path(args.env_file)
    with azurite(folder / "azurite") as connection_string:
        service = BlobServiceClient.from_connection_string(connection_string)
        container = service.get_container_client(args.container)
        container.create_container()
        for spec in args.blobs:
            name, _, local = spec.partition("=")
            with open(local, "rb") as stream:
                container.upload_blob(name, stream, overwrite=True, max_concurrency=4)
        with FaultProxy(port_of(connection_string), Faults(rate=args.rate)) as proxy:
            upstream = f"127.0.0.1:{port_of(connection_string)}/"
            slow = connection_string.replace(upstream, f"127.0.0.1:{proxy.port}/")
            env = {
                "connectionString": connection_string,
                "slowConnectionString": slow,
                "container": args.container,
            }
            _write_json(env_file, env)
            print(f"blobstore: serving, proxy on {proxy.port}", file=sys.stderr, flush=True)

            def wait_for_eof() -> None:
                sys.stdin.read()
                stop.set()

            threading.Thread(target=wait_for_eof, daemon=True).start()
            stats = env_file.with_name(env_file.name + ".stats")
            while not stop.wait(0.1):
                _write_json(
                    stats, {"bytesDown": proxy.bytes_down, "connections": proxy.connections}
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
