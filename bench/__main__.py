"""Run the benchmarks: `python -m bench` runs them all (startup, preview, remote, then
download); `python -m bench preview`, `startup`, `remote` or `download` runs one, and
`python -m bench remote|download -- OPTIONS` passes it options (`-- --help` lists them)."""

from __future__ import annotations

import argparse
import sys

from . import download, preview, remote, startup

BENCHMARKS = {
    "startup": startup.main,
    "preview": preview.main,
    "remote": remote.main,
    "remote-listing": lambda: remote.main(["--listing"]),  # also part of "remote"
    "download": download.main,
}

OPTIONS_OF = {"remote": remote.main, "download": download.main}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "names", nargs="*", metavar="NAME", help=f"one of {', '.join(BENCHMARKS)}; default: all"
    )
    argv = sys.argv[1:]
    split = argv.index("--") if "--" in argv else len(argv)
    names = parser.parse_args(argv[:split]).names or list(BENCHMARKS)
    options = argv[split + 1 :]
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    if options:
        if names not in (["remote"], ["download"]):
            parser.error("options go to one benchmark: remote or download")
        OPTIONS_OF[names[0]](options)
        return
    if names == list(BENCHMARKS):
        names.remove("remote-listing")
    for name in names:
        BENCHMARKS[name]()


main()
