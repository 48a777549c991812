"""Batch throughput on CPython: photos per second over one folder of real photos, ours
(``image_classifier.batch.classify_paths``, the command line's engine, with 1 and with N worker
processes) against MediaPipe's Python ImageClassifier in a plain loop (decode the file, classify),
the same photos and the same model (Lite0 int8 .tflite); checks that every photo gets the same
top category and reports the largest score difference.

A second folder, of as many JPEG photos, is timed the same way: JPEGs are decoded by
MediaPipe's own decoder (stb_image) on both sides, so the pixels, and the scores, are
MediaPipe's there too.

Run with ``python3 build.py bench throughput`` (alone) or as part of ``python3 build.py bench``;
writes bench/throughput.json. The load average is recorded before and after each run: on a
shared machine other processes take cores, and the figures say so. Every run is repeated
(``ROUNDS``, in turn, so that a burst of load hits one round of each rather than all rounds of
one) and its fastest round is kept. CPU milliseconds per photo (this process and its workers)
depend less on that load: they say what each photo costs.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from photo_folder import make_photo_folder  # noqa: E402

from image_classifier import BaseOptions, ImageClassifierOptions  # noqa: E402
from image_classifier.batch import classify_file, classify_paths  # noqa: E402

MODEL = ROOT / "models" / "efficientnet_lite0_int8.tflite"
PHOTOS = 600
LONGEST_SIDE = 640  # pixels: photos as a phone's "share" or a web gallery gives them
ROUNDS = 2
STAGE_PHOTOS = 200  # PNG photos whose stages are timed one by one
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


def stage_costs(paths: list[str]) -> dict[str, float]:
    """CPU milliseconds per photo of each stage, ours (one engine thread, as in a worker) and
    MediaPipe's, over the same photos in turn (ROUNDS times, the lowest kept): where the time
    goes."""
    import mediapipe as mp
    from mediapipe.tasks.python import BaseOptions as MpBaseOptions
    from mediapipe.tasks.python import vision
    from PIL import Image as PILImage

    from image_classifier import Image, ImageClassifier, engines, preprocess

    engines.use_cpu_threads(1)
    ours_ = ImageClassifier.create_from_options(
        ImageClassifierOptions(BaseOptions(model_asset_path=str(MODEL)), max_results=TOP))
    engines.use_cpu_threads(None)
    theirs = vision.ImageClassifier.create_from_options(vision.ImageClassifierOptions(
        base_options=MpBaseOptions(model_asset_path=str(MODEL)), max_results=TOP))
    prepare, engine, index = ours_._preparation(), ours_._interpreter, ours_.input_details["index"]

    def without_opencv(run):
        opencv, preprocess.cv2 = preprocess.cv2, None  # as in Pyodide, where it is absent
        try:
            return run()
        finally:
            preprocess.cv2 = opencv

    def pillow(path):
        with PILImage.open(path) as picture:
            return np.asarray(picture.convert("RGB"))

    images = [Image.create_from_file(p).rgb_view() for p in paths]
    tensors = [prepare(rgb) for rgb in images]
    their_images = [mp.Image.create_from_file(p) for p in paths]
    stages = {
        "ours: decode (libspng)": lambda: [Image.create_from_file(p) for p in paths],
        "Pillow: decode (for comparison)": lambda: [pillow(p) for p in paths],
        "ours: preprocess (OpenCV's warp and LUT)": lambda: [prepare(rgb) for rgb in images],
        "numpy: preprocess (the browser's warp, for comparison)": lambda: without_opencv(
            lambda: [prepare(rgb) for rgb in images]),
        "ours: inference (LiteRT, 1 thread)": lambda: [
            (engine.set_tensor(index, t), engine.invoke()) for t in tensors],
        "ours: whole photo (classify_file)": lambda: [classify_file(ours_, p) for p in paths],
        "MediaPipe: decode (stb_image)": lambda: [mp.Image.create_from_file(p) for p in paths],
        "MediaPipe: classify (preprocess + inference)": lambda: [
            theirs.classify(image) for image in their_images],
    }
    costs: dict[str, float] = {}
    for _ in range(ROUNDS):
        for name, stage in stages.items():
            started = time.process_time()
            stage()
            spent = (time.process_time() - started) / len(paths) * 1e3
            costs[name] = round(min(costs.get(name, spent), spent), 2)
    theirs.close()
    ours_.close()
    return costs


def fastest(rows: list[dict]) -> dict:
    best = max(rows, key=lambda row: row["photos_per_s"])
    return {**best, "rounds": len(rows)}


def compare(kind: str, count: int, runs: list[tuple[str, object]]) -> list[dict]:
    """Every run over one folder of ``count`` photos of ``kind``, ROUNDS times in turn; the
    fastest round of each, with its agreement with MediaPipe's loop (the first run)."""
    with tempfile.TemporaryDirectory() as folder:
        paths = [str(p) for p in make_photo_folder(Path(folder), count, LONGEST_SIDE, (kind,))]
        ours(paths[:20], 1)  # warm the disk cache and the imports for every run alike
        mediapipe_loop(paths[:20])
        rounds: dict[str, list[dict]] = {name: [] for name, _ in runs}
        results = {}
        for _ in range(ROUNDS):
            for name, run in runs:
                row, results[name] = timed(f"{kind} {name}", run, paths)
                rounds[name].append({**row, "run": name})
    rows = [{"photos_kind": kind, **fastest(rounds[name])} for name, _ in runs]
    reference = results[runs[0][0]]
    for row in rows[1:]:
        row["vs_mediapipe"] = round(row["photos_per_s"] / rows[0]["photos_per_s"], 2)
        row["agreement"] = agreement(results[row["run"]], reference)
    return rows


def main() -> None:
    workers = os.cpu_count() or 1
    mediapipe = ("mediapipe-loop", mediapipe_loop)
    in_workers = (f"ours-{workers}-workers", lambda p: ours(p, workers))
    runs = compare("png", PHOTOS, [mediapipe, ("ours-1-process", lambda p: ours(p, 1)),
                                   in_workers])
    runs += compare("jpg", PHOTOS, [mediapipe, in_workers])
    with tempfile.TemporaryDirectory() as folder:
        before = load()
        costs = stage_costs([str(p) for p in make_photo_folder(
            Path(folder), STAGE_PHOTOS, LONGEST_SIDE, ("png",))])
    report = {"model": MODEL.name, "cores": os.cpu_count(), "photos": PHOTOS,
              "longest_side": LONGEST_SIDE, "rounds": ROUNDS,
              "runs": runs, "stage_cpu_ms_per_photo": costs,
              "stage_load": [before, load()]}
    (ROOT / "bench" / "throughput.json").write_text(json.dumps(report, indent=1) + "\n")
    for row in runs:
        print(f"{row['photos_kind']} {row['run']:>18}: {row['photos_per_s']:6.1f} photos/s, "
              f"{row['cpu_ms_per_photo']} CPU ms/photo "
              f"(load {row['load_before']} → {row['load_after']})"
              + (f", {row['vs_mediapipe']}× MediaPipe, same top-1 "
                 f"{row['agreement']['same_top1']}/{row['photos']}, scores within "
                 f"{row['agreement']['max_score_difference']:.1e}" if "agreement" in row else ""))
    for name, cost in costs.items():
        print(f"{name:>45}: {cost} CPU ms/photo")


if __name__ == "__main__":
    main()
