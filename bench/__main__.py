"""Run the benchmarks: `python -m bench` runs them all (startup, preview, remote, then
download); `python -m bench preview`, `startup`, `remote` or `download` runs one."""

from __future__ import annotations

import argparse

from . import download, preview, remote, startup

BENCHMARKS = {
    "startup": startup.main,
    "preview": preview.main,
    "remote": remote.main,
    "remote-listing": lambda: remote.main(["--listing"]),  # also part of "remote"
    "download": download.main,
}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "names", nargs="*", metavar="NAME", help=f"one of {', '.join(BENCHMARKS)}; default: all"
    )
    names = parser.parse_args().names or list(BENCHMARKS)
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    if names == list(BENCHMARKS):
        names.remove("remote-listing")
    for name in names:
        BENCHMARKS[name]()


main()
