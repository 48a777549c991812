"""Command line: classify photos, folders and lists of them (``image-classifier``).

Results stream as they are made: a ranked table per photo, JSON Lines (``--json``) or a file
(``--output``: .jsonl, .csv or .parquet). A bad photo gets an error line and the others go on;
the exit status is 1 when any photo failed, and a summary line on stderr says how many.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterator

from . import BaseOptions, ImageClassifierOptions, ImageProcessingOptions, RectF
from .batch import classify_paths, expand_paths, read_path_list
from .builtin_models import BUILT_IN_MODELS, DEFAULT_MODEL, model_path
from .records import PhotoRecord, RecordWriter, done_paths, output_format

# Below this many photos one process is quicker than starting workers.
_FEW_PHOTOS = 16
# Options taking one value that may start with '-' (-inf, -0.5,...), which argparse would
# otherwise read as an unknown option.
_SIGNED_VALUE_OPTIONS = ("--score-threshold", "--roi", "--rotation", "--max-results")


def _roi(text: str) -> RectF:
    try:
        left, top, right, bottom = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected left,top,right,bottom, got {text!r}") from None
    return RectF(left=left, top=top, right=right, bottom=bottom)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        """One line, not argparse's usage block: bad options read like bad files."""
        self.exit(2, f"error: {message} (see --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="image-classifier",
        description="Classify photos with an EfficientNet-Lite model: files, folders "
        "(recursively), glob patterns, or a list of paths.",
    )
    parser.add_argument("photos", nargs="*", metavar="PHOTO",
                        help="a photo, a folder or a glob pattern such as 'photos/**/*.jpg'")
    parser.add_argument("--paths-from", metavar="FILE",
                        help="read more paths from FILE, one a line ('-' for standard input)")
    parser.add_argument(
        "--model", default=DEFAULT_MODEL,
        help=f"one of {', '.join(BUILT_IN_MODELS)} (.tflite; add .onnx for the ONNX model) "
        f"or a model file (default: {DEFAULT_MODEL})",
    )
    parser.add_argument("--max-results", type=int, default=5, help="-1 for all (default: 5)")
    parser.add_argument("--score-threshold", type=float)
    parser.add_argument("--allow", nargs="+", metavar="CATEGORY", help="keep only these")
    parser.add_argument("--deny", nargs="+", metavar="CATEGORY", help="drop these")
    parser.add_argument("--locale", help="display names locale, e.g. zh, ja, it (default: en)")
    parser.add_argument("--roi", type=_roi, help="region of interest: left,top,right,bottom in 0..1")
    parser.add_argument("--rotation", type=int, default=0, help="clockwise degrees, multiple of 90")
    parser.add_argument("--output", "-o", metavar="FILE",
                        help="write one record per photo to FILE (.jsonl, .csv or .parquet)")
    parser.add_argument("--resume", action="store_true",
                        help="skip the photos already in --output and append the others")
    parser.add_argument("--json", action="store_true",
                        help="print records as JSON Lines instead of a table")
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1,
        help="processes classifying photos, one core each (default: one per core)",
    )
    parser.add_argument(
        "--ray", nargs="?", const="", metavar="ADDRESS",
        help="classify on a Ray cluster (pip install 'image_classifier[ray]'); without "
        "ADDRESS a local Ray starts on this machine",
    )
    return parser


def _arguments(argv: list[str]) -> list[str]:
    """``--score-threshold -inf`` as ``--score-threshold=-inf``, and so on."""
    joined, pending = [], iter(argv)
    for argument in pending:
        value = next(pending, None) if argument in _SIGNED_VALUE_OPTIONS else None
        joined.append(argument if value is None else f"{argument}={value}")
    return joined


def _table(record: PhotoRecord) -> str:
    lines = [record.path]
    if not record.categories:
        lines.append("  (no category passes the filters)")
    width = max((len(name) for name in record.categories), default=8)
    several_heads = len(set(record.heads)) > 1
    for rank, (name, display, index, score, head) in enumerate(zip(
            record.categories, record.display_names, record.indices, record.scores,
            record.heads), 1):
        shown = f"  {display}" if display and display != name else ""
        where = f"  head {head}" if several_heads else ""
        lines.append(f"  {rank:>3}. {score:7.4f}  {name:<{width}}  #{index}{shown}{where}")
    return "\n".join(lines)


def _paths(args: argparse.Namespace) -> list[str]:
    paths = list(expand_paths(args.photos))
    if args.paths_from == "-":
        paths += expand_paths(read_path_list(sys.stdin))
    elif args.paths_from:
        with open(args.paths_from, encoding="utf-8") as listing:
            paths += expand_paths(read_path_list(listing))
    return paths


def _records(args, paths, options, processing) -> Iterator[PhotoRecord]:
    if args.ray is not None:
        from .ray_batch import classify_with_ray

        return classify_with_ray(paths, options, processing, address=args.ray or None,
                                 workers=args.workers)
    workers = 1 if len(paths) < _FEW_PHOTOS else args.workers
    return classify_paths(paths, options, processing, workers=workers)


def _progress(total: int):
    """A progress bar on stderr when it is a terminal; nothing when piped."""
    from tqdm import tqdm

    return tqdm(total=total, unit="photo", file=sys.stderr, disable=not sys.stderr.isatty(),
                dynamic_ncols=True)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(_arguments(sys.argv[1:] if argv is None else argv))
    started = time.perf_counter()
    try:
        if args.resume and not args.output:
            raise ValueError("--resume needs --output FILE.")
        if args.output:
            output_format(args.output)
        paths = _paths(args)
        if not paths:
            raise ValueError("no photos given (name files, folders or patterns, or --paths-from)")
        skipped = 0
        if args.resume:
            done = done_paths(args.output)
            remaining = [p for p in paths if p not in done]
            skipped, paths = len(paths) - len(remaining), remaining
        options = ImageClassifierOptions(
            base_options=BaseOptions(model_asset_path=model_path(args.model)),
            display_names_locale=args.locale,
            max_results=args.max_results,
            score_threshold=args.score_threshold,
            category_allowlist=args.allow,
            category_denylist=args.deny,
        )
        processing = ImageProcessingOptions(args.roi, args.rotation)
        failed = _run(args, paths, _records(args, paths, options, processing))
    except (OSError, ValueError, NotImplementedError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    elapsed = time.perf_counter() - started
    resumed = f", {skipped} already in {args.output}" if args.resume else ""
    print(f"{len(paths) - failed} of {len(paths)} photos classified, {failed} failed{resumed} "
          f"({elapsed:.1f} s, {len(paths) / elapsed:.1f} photos/s)", file=sys.stderr)
    return 1 if failed else 0


def _run(args, paths: list[str], records: Iterator[PhotoRecord]) -> int:
    """Shows and writes every record as it comes; returns how many failed."""
    writer = RecordWriter(args.output, append=args.resume) if args.output else None
    failed = 0
    with _progress(len(paths)) as bar:
        try:
            for record in records:
                if record.error:
                    failed += 1
                    bar.write(f"error: {record.path}: {record.error}", file=sys.stderr)
                if writer:
                    writer.write(record)
                elif args.json:
                    bar.write(json.dumps(record.to_dict(), ensure_ascii=False), file=sys.stdout)
                elif not record.error:
                    bar.write(_table(record) + "\n", file=sys.stdout)
                bar.update()
        finally:
            if writer:
                writer.close()
    return failed


if __name__ == "__main__":
    sys.exit(main())
