"""Run the benchmarks: `python -m bench` runs them all (startup, preview, then remote);
`python -m bench preview`, `python -m bench startup` or `python -m bench remote` runs one."""

from __future__ import annotations

import argparse

from . import preview, remote, startup

BENCHMARKS = {"startup": startup.main, "preview": preview.main, "remote": remote.main}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "names", nargs="*", metavar="NAME", help=f"one of {', '.join(BENCHMARKS)}; default: all"
    )
    names = parser.parse_args().names or list(BENCHMARKS)
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    for name in names:
        BENCHMARKS[name]()


main()
