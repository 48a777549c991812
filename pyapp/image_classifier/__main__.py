"""Command line: classify photos and print ranked labels (``python -m image_classifier``)."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

from . import (
    BaseOptions,
    ClassificationResult,
    Image,
    ImageClassifier,
    ImageClassifierOptions,
    ImageProcessingOptions,
    RectF,
)

MODELS_DIR = Path(__file__).resolve().parents[2] / "models"
BUILT_IN_MODELS = ("lite0_fp32", "lite0_int8", "lite2_fp32", "lite2_int8")


def model_path(name: str) -> Path:
    """A built-in model's short name (lite0_int8, ...) or a path to a model file."""
    if name in BUILT_IN_MODELS:
        return MODELS_DIR / f"efficientnet_{name}.onnx"
    return Path(name)


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
        prog="image_classifier", description="Classify photos with an EfficientNet-Lite model."
    )
    parser.add_argument("photos", nargs="+", metavar="PHOTO")
    parser.add_argument(
        "--model",
        default="lite0_fp32",
        help=f"one of {', '.join(BUILT_IN_MODELS)} or a model file (default: lite0_fp32)",
    )
    parser.add_argument("--max-results", type=int, default=5, help="-1 for all (default: 5)")
    parser.add_argument("--score-threshold", type=float)
    parser.add_argument("--allow", nargs="+", metavar="CATEGORY", help="keep only these")
    parser.add_argument("--deny", nargs="+", metavar="CATEGORY", help="drop these")
    parser.add_argument("--locale", help="display names locale, e.g. zh, ja, it (default: en)")
    parser.add_argument("--roi", type=_roi, help="region of interest: left,top,right,bottom in 0..1")
    parser.add_argument("--rotation", type=int, default=0, help="clockwise degrees, multiple of 90")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return parser


def _table(photo: str, result: ClassificationResult) -> str:
    lines = [photo]
    for head in result.classifications:
        if len(result.classifications) > 1:
            lines.append(f"  head {head.head_index}: {head.head_name}")
        if not head.categories:
            lines.append("  (no category passes the filters)")
        width = max((len(c.category_name) for c in head.categories), default=8)
        for rank, category in enumerate(head.categories, 1):
            display = (
                f"  {category.display_name}"
                if category.display_name and category.display_name != category.category_name
                else ""
            )
            lines.append(
                f"  {rank:>3}. {category.score:7.4f}  {category.category_name:<{width}}"
                f"  #{category.index}{display}"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        options = ImageClassifierOptions(
            base_options=BaseOptions(model_asset_path=str(model_path(args.model))),
            display_names_locale=args.locale,
            max_results=args.max_results,
            score_threshold=args.score_threshold,
            category_allowlist=args.allow,
            category_denylist=args.deny,
        )
        processing = ImageProcessingOptions(args.roi, args.rotation)
        reports = []
        with ImageClassifier.create_from_options(options) as classifier:
            for photo in args.photos:
                try:
                    result = classifier.classify(Image.create_from_file(photo), processing)
                except (OSError, ValueError) as error:
                    raise ValueError(f"{photo}: {error}") from None
                reports.append((photo, result))
    except (OSError, ValueError, NotImplementedError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps([{"photo": p, **asdict(r)} for p, r in reports], ensure_ascii=False,
                         indent=1))
    else:
        print("\n\n".join(_table(photo, result) for photo, result in reports))
    return 0


if __name__ == "__main__":
    sys.exit(main())
