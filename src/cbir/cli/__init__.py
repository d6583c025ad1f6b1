"""The `cbir` command line: look into finished runs of the pipeline (results/<run>/).

cbir query RUN IMAGE... [-k 10] [--keys standard] [--distance l2] [--enhancer NAME]
           [--degrade SPEC]... [--replicate 0] [--out neighbours.png | --no-montage]
    Embeds image files the way the run embeds its queries (the classifier's image size,
    channels and normalisation; optionally degraded by SPEC, 'name:param=value,...' with the
    schema's defaults, and restored by the run's enhancer NAME), searches the run's gallery
    (the training split's embeddings) and prints the top k of each image: rank, gallery index,
    class name and distance (cosine: similarity). Writes a montage PNG of each image as decoded,
    as searched, and its neighbours.
cbir export RUN [--keys standard] [--replicate 0] --to FILE.parquet
    Writes the gallery embeddings with labels, class names and the other metadata columns as
    Parquet, the embeddings file's attributes in the file's key-value metadata.
cbir runs [--results results]
    Lists the runs: name, config hash, dataset source, image size and channels, replicates, key
    sets, query sets, whether finished (tables/table1.md) and size on disk.

Bad input (no such run, an unfinished one, an unreadable image, an unknown key set, enhancer,
distance or degradation, k larger than the gallery) is one line on stderr,
"cbir <command>: error: ...", and exit status 2. `main` is the entry point (console script
`cbir = cbir.cli:main`); `python -m cbir.cli` runs it too.
"""

from __future__ import annotations

import argparse
import sys

from cbir.cli.rundir import JUDGE, STANDARD, CliError

__all__ = ["CliError", "build_parser", "main"]

DISTANCES = ("l2", "cosine")  # cbir.search.DISTANCES (kept equal by a test; no numpy import for --help)
DEVICES = ("cpu", "cuda", "auto")


class _Parser(argparse.ArgumentParser):
    """argparse with errors on one line (no usage block): the command's contract for bad input."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _count(minimum: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} is less than {minimum}")
        return value

    return parse


def _run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", metavar="RUN", help="a run: its name under --results, or its folder")
    parser.add_argument(
        "--keys",
        default=STANDARD,
        help=f"key set (default {STANDARD}; a folder under embeddings/, or {JUDGE}: the next replicate's standard keys)",
    )
    parser.add_argument("--replicate", type=_count(0), default=0, help="replicate (default 0)")
    parser.add_argument("--results", default="results", help="the results folder (default results)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="cbir",
        description="Look into finished runs of the degraded-query retrieval pipeline.",
        epilog=__doc__.split("\n\n")[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    query = commands.add_parser(
        "query",
        help="search a run's gallery with image files",
        description="Embed image files as the run embeds its queries (optionally degraded and restored), search the "
        "run's gallery, print the top k of each and write a montage.",
    )
    _run_arguments(query)
    query.add_argument("images", metavar="IMAGE", nargs="+", help="image files (any format Pillow reads)")
    query.add_argument("-k", type=_count(1), default=10, help="neighbours per image (default 10)")
    query.add_argument("--distance", choices=DISTANCES, default="l2", help="l2 (default) or cosine similarity")
    query.add_argument("--enhancer", metavar="NAME", help="restore the images with the run's enhancer NAME first")
    query.add_argument(
        "--degrade",
        action="append",
        metavar="SPEC",
        help="degrade the images first: 'name' or 'name:param=value,...' (e.g. 'motion_blur:sigma=0.15'), missing "
        "parameters at the config schema's defaults; repeated: one drawn per image, like a query set's list",
    )
    query.add_argument("--out", default="neighbours.png", help="the montage PNG (default neighbours.png)")
    query.add_argument("--no-montage", dest="out", action="store_const", const=None, help="write no montage")
    query.add_argument("--device", choices=DEVICES, default="cpu", help="where the networks run (default cpu)")
    export = commands.add_parser(
        "export",
        help="write a run's gallery embeddings as Parquet",
        description="Write the gallery embeddings of a key set with labels, class names and metadata columns as "
        "Parquet; the embeddings file's attributes go into its key-value metadata.",
    )
    _run_arguments(export)
    export.add_argument("--to", required=True, metavar="FILE.parquet", help="the Parquet file to write")
    runs = commands.add_parser(
        "runs",
        help="list the runs under a results folder",
        description="List the runs: config hash, dataset, image size, replicates, key sets, query sets, whether "
        "finished, size on disk.",
    )
    runs.add_argument("--results", default="results", help="the results folder (default results)")
    return parser


def _command(name: str):
    if name == "query":
        from cbir.cli.query import query

        return query
    from cbir.cli import export

    return getattr(export, name)


def main(argv: list[str] | None = None) -> int:
    """Run the command line `argv` (default sys.argv[1:]); the exit status."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help (0) or an argument error (2, already on stderr)
        return exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    prog = f"cbir {args.command}"
    try:
        return _command(args.command)(args, out=sys.stdout, err=sys.stderr)
    except (CliError, ValueError, OSError) as exc:
        # the library's errors (CheckpointError, StoreError, SearchError, DegradationError, ...)
        # are ValueErrors naming the file and the fix: the user's input, not a bug to trace
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(f"{prog}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
