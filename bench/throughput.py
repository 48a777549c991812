"""Batch throughput on CPython: photos per second over one folder of real photos, ours
(``image_classifier.batch.classify_paths``, the command line's engine, with 1 and with N worker
processes) against MediaPipe's Python ImageClassifier in a plain loop (decode the file, classify),
the same photos and the same model (Lite0 int8 .tflite); checks that every photo gets the same
top category and reports the largest score difference.

Run with ``python3 build.py bench throughput`` (alone) or as part of ``python3 build.py bench``;
writes bench/throughput.json. The load average is recorded before and after each run: on a
shared machine other processes take cores, and the figures say so. CPU milliseconds per photo
(this process and its workers) depend less on that load: they say what each photo costs.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from photo_folder import make_photo_folder  # noqa: E402

from image_classifier import BaseOptions, ImageClassifierOptions  # noqa: E402
from image_classifier.batch import classify_paths  # noqa: E402

MODEL = ROOT / "models" / "efficientnet_lite0_int8.tflite"
PHOTOS = 600
LONGEST_SIDE = 640  # pixels: photos as a phone's "share" or a web gallery gives them
# PNG: both sides decode the same pixels. JPEG decoders differ (MediaPipe's and Pillow's
# libjpeg-turbo round some pixels up to 3 levels apart), which would compare decoders, not
# classifiers.
KINDS = ("png",)
TOP = 5


def load() -> float:
    return round(os.getloadavg()[0], 2)


def cpu_seconds() -> float:
    """CPU time of this process and of its ended children (the worker processes)."""
    return sum(resource.getrusage(who).ru_utime + resource.getrusage(who).ru_stime
               for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))


def mediapipe_loop(paths: list[str]) -> dict[str, list[tuple[str, float]]]:
    import mediapipe as mp
    from mediapipe.tasks.python import BaseOptions as MpBaseOptions
    from mediapipe.tasks.python import vision

    options = vision.ImageClassifierOptions(
        base_options=MpBaseOptions(model_asset_path=str(MODEL)), max_results=TOP)
    results = {}
    with vision.ImageClassifier.create_from_options(options) as classifier:
        for path in paths:
            result = classifier.classify(mp.Image.create_from_file(path))
            results[path] = [(c.category_name, c.score)
                             for c in result.classifications[0].categories]
    return results


def ours(paths: list[str], workers: int) -> dict[str, list[tuple[str, float]]]:
    options = ImageClassifierOptions(BaseOptions(model_asset_path=str(MODEL)), max_results=TOP)
    return {r.path: list(zip(r.categories, r.scores))
            for r in classify_paths(paths, options, workers=workers)}


def timed(name: str, run, paths: list[str]) -> tuple[dict, dict]:
    before, cpu = load(), cpu_seconds()
    started = time.perf_counter()
    results = run(paths)
    seconds = time.perf_counter() - started
    row = {"run": name, "photos": len(paths), "seconds": round(seconds, 2),
           "photos_per_s": round(len(paths) / seconds, 1),
           "cpu_ms_per_photo": round((cpu_seconds() - cpu) / len(paths) * 1e3, 1),
           "load_before": before, "load_after": load()}
    print(json.dumps(row), flush=True)
    return row, results


def agreement(ours_: dict, theirs: dict) -> dict:
    same_top = sum(ours_[p][0][0] == theirs[p][0][0] for p in theirs)
    worst = max(abs(a - b) for p in theirs
                for (_, a), (_, b) in zip(ours_[p], theirs[p]))
    return {"same_top1": same_top, "photos": len(theirs), "max_score_difference": worst}


def main() -> None:
    workers = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as folder:
        paths = [str(p) for p in make_photo_folder(Path(folder), PHOTOS, LONGEST_SIDE, KINDS)]
        ours(paths[:20], 1)  # warm the disk cache and the imports for every run alike
        mediapipe_loop(paths[:20])
        runs, results = [], {}
        for name, run in [
            ("mediapipe-loop", mediapipe_loop),
            ("ours-1-process", lambda p: ours(p, 1)),
            (f"ours-{workers}-workers", lambda p: ours(p, workers)),
        ]:
            row, results[name] = timed(name, run, paths)
            runs.append(row)
    reference = results["mediapipe-loop"]
    for row in runs[1:]:
        row["vs_mediapipe"] = round(row["photos_per_s"] / runs[0]["photos_per_s"], 2)
        row["agreement"] = agreement(results[row["run"]], reference)
    report = {"model": MODEL.name, "cores": os.cpu_count(), "photos": PHOTOS,
              "longest_side": LONGEST_SIDE, "runs": runs}
    (ROOT / "bench" / "throughput.json").write_text(json.dumps(report, indent=1) + "\n")
    for row in runs:
        print(f"{row['run']:>18}: {row['photos_per_s']:6.1f} photos/s, "
              f"{row['cpu_ms_per_photo']} CPU ms/photo "
              f"(load {row['load_before']} → {row['load_after']})"
              + (f", {row['vs_mediapipe']}× MediaPipe, same top-1 "
                 f"{row['agreement']['same_top1']}/{PHOTOS}, scores within "
                 f"{row['agreement']['max_score_difference']:.1e}" if "agreement" in row else ""))


if __name__ == "__main__":
    main()
