"""`aml-artifacts`: the same operations as the language server, from a terminal."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from . import __version__
from .backends import Catalog
from .config import CONFIG_ENV, load_cli_settings
from .errors import ArtifactError, Conflict


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except ArtifactError as error:
        print(f"aml-artifacts: {error.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aml-artifacts",
        description=(
            "Browse, preview and download Azure ML artifacts. URIs: see docs/uris.md; plain "
            "local paths work wherever a URI does."
        ),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--config",
        metavar="FILE",
        help=(f"JSON settings (keys of the amlArtifacts.* settings); default: ${CONFIG_ENV}"),
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    ls = commands.add_parser("ls", help="list the roots, or the children of URI")
    ls.add_argument("uri", nargs="?")
    ls.add_argument("--json", action="store_true", help="print the protocol's JSON")
    ls.add_argument("--all", action="store_true", help="follow every page")
    ls.set_defaults(run=_ls)

    preview = commands.add_parser("preview", help="show what a file holds (runs nothing in it)")
    preview.add_argument("uri")
    preview.add_argument("--json", action="store_true", help="print the structured preview")
    preview.add_argument("--max-bytes", type=int, help="read at most this many bytes")
    preview.set_defaults(run=_preview)

    download = commands.add_parser(
        "download",
        help="download a file or folder into DEST",
        description=(
            "Download URI into the folder DEST (a file to DEST/<name>, a folder, run or "
            "version to DEST/<name>/...). With --as-workspace, DEST is a local workspace "
            "folder (docs/local-workspace.md) and URI a run (with its pipeline steps), a "
            "model version or a dataset version: it goes where the local workspace keeps "
            "it, with its metadata, to be browsed offline."
        ),
    )
    download.add_argument("uri")
    download.add_argument("dest")
    download.add_argument(
        "--as-workspace",
        action="store_true",
        help="DEST is a local workspace: write the run / model / dataset version into it",
    )
    conflict = download.add_mutually_exclusive_group()
    conflict.add_argument(
        "--overwrite", action="store_true", help="replace existing files that differ"
    )
    conflict.add_argument(
        "--skip-existing", action="store_true", help="keep existing files that differ"
    )
    download.add_argument(
        "--concurrency", type=int, metavar="N", help="files and chunks in flight (default 8)"
    )
    download.add_argument(
        "--chunk-mb", type=int, metavar="MB", help="chunk size of big files (default 8)"
    )
    download.set_defaults(run=_download)

    demo = commands.add_parser("demo-workspace", help="write the demo local workspace to DIR")
    demo.add_argument("dir")
    demo.set_defaults(run=_demo)

    serve = commands.add_parser("serve", help="run the language server on stdio")
    serve.set_defaults(run=_serve)
    return parser


def _catalog(args: argparse.Namespace) -> Catalog:
    return Catalog(load_cli_settings(args.config))


def _ls(args: argparse.Namespace) -> int:
    from . import service

    catalog = _catalog(args)
    if args.uri is None:
        result = service.roots(catalog)
    else:
        result = service.children(catalog, args.uri)
        while args.all and result.get("nextPageToken"):
            more = service.children(catalog, args.uri, result["nextPageToken"])
            result = {**more, "items": result["items"] + more["items"]}
    if args.json:
        _print_json(result)
        return 0
    for item in result["items"]:
        print(_ls_line(item))
    if result.get("nextPageToken"):
        print(f"… more: aml-artifacts ls --all {args.uri}", file=sys.stderr)
    return 0


def _ls_line(item: dict[str, Any]) -> str:
    from .previews.markdown import format_size

    facts = [item["kind"]]
    if "size" in item:
        facts.append(format_size(item["size"]))
    facts += [item[key] for key in ("status", "description") if key in item]
    if "error" in item:
        facts.append(f"ERROR: {item['error']}")
    return f"{item['name']}\t{' · '.join(facts)}\t{item['uri']}"


def _preview(args: argparse.Namespace) -> int:
    from . import service
    from .previews.budget import Budget

    budget = Budget(max_bytes=args.max_bytes) if args.max_bytes else Budget()
    # In-process: a one-shot command, so a crash ends only this command (the server isolates
    # previews in worker processes, pyserver/workers).
    try:
        result = service.preview(_catalog(args), args.uri, budget)
    except ArtifactError:
        raise
    except Exception as error:
        raise ArtifactError(
            f"The preview of {args.uri} failed ({type(error).__name__}: {error}). This is a "
            "bug in aml-artifacts: please report it with this message."
        ) from error
    if args.json:
        _print_json(result)
    else:
        print(result["markdown"])
    return 0


def _download(args: argparse.Namespace) -> int:
    """Existing files that differ stop the download (listed) unless --overwrite or
    --skip-existing; identical ones are skipped. Exit 1 when a file failed (listed)."""
    from . import service
    from .transfers import Policy
    from .transfers.progress import ProgressPrinter

    settings = load_cli_settings(args.config)
    if args.concurrency is not None or args.chunk_mb is not None:
        settings = replace(
            settings,
            download_concurrency=args.concurrency or settings.download_concurrency,
            download_chunk_mb=args.chunk_mb or settings.download_chunk_mb,
        )
    policy: Policy = "overwrite" if args.overwrite else "skip" if args.skip_existing else "ask"
    printer = ProgressPrinter(sys.stderr)
    try:
        result = service.download_to(
            Catalog(settings),
            args.uri,
            args.dest,
            on_progress=printer.update,
            policy=policy,
            settings=settings,
            as_workspace=args.as_workspace,
        )
    except Conflict as conflict:
        printer.close()
        print(f"aml-artifacts: {conflict.message}", file=sys.stderr)
        for name in conflict.conflicts:
            print(f"  exists: {name}", file=sys.stderr)
        print("Use --overwrite or --skip-existing.", file=sys.stderr)
        return 1
    finally:
        printer.close()
    skipped = f"\t{result['skipped']} skipped" if result.get("skipped") else ""
    print(f"{result['path']}\t{result['files']} files\t{result['bytes']} bytes{skipped}")
    if result.get("workspace"):
        print(
            f"Browse it offline: add {result['workspace']} to amlArtifacts.localWorkspaces "
            f"(or `aml-artifacts ls {result['workspace']}`).",
            file=sys.stderr,
        )
    failures = result.get("failures", [])
    for failure in failures:
        print(f"aml-artifacts: FAILED {failure['path']}: {failure['reason']}", file=sys.stderr)
    if failures:
        print(f"aml-artifacts: {len(failures)} file(s) failed (listed above).", file=sys.stderr)
        return 1
    return 0


def _demo(args: argparse.Namespace) -> int:
    from .demo import create_demo_workspace

    try:
        root = create_demo_workspace(Path(args.dir).absolute())
    except (RuntimeError, ValueError) as error:
        raise ArtifactError(str(error)) from None
    print(root)
    return 0


def _serve(args: argparse.Namespace) -> int:
    from .server import serve

    serve()
    return 0


def _print_json(value: Any) -> None:
    json.dump(value, sys.stdout, indent=2, ensure_ascii=False)
    print()
