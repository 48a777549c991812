"""How often MediaPipe's input tensor differs from ours, per geometry: the real photos of
tests/images, the whole photo and random regions of interest, at every rotation.

The tensors come from ``identity_model`` (tests/tflite_models.py, read by
tests/input_tensors.py), whose scores are its uint8 input: MediaPipe 1.2.3's own
ImageClassifier and ours each classify the photo with it, and the two score lists are the two
input tensors (decoding and the warp, MediaPipe's as it runs, not a port of it). For each
geometry: whether any value differs, how many pixels, and by how many grey levels at most.
tests/test_mediapipe_interop.py asserts the whole photo at every rotation; this measures the
regions, where MediaPipe's OpenCV (5.1, bundled in its wheel) and ours (a port of OpenCV
4.12's arithmetic, pixel for pixel with opencv-python) may round a coordinate apart.

Run alone with ``python3 build.py bench agreement``; writes bench/agreement.json. Not a test.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import mediapipe as mp
import numpy as np
from mediapipe.tasks.python import vision
from mediapipe.tasks.python.components.containers import rect as mp_rect

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from input_tensors import identity_classifiers, input_tensor  # noqa: E402

from image_classifier import Image, ImageProcessingOptions, RectF  # noqa: E402

IMAGES = ROOT / "tests" / "images"
PHOTOS = ("chelsea.png", "coffee.png", "grace_hopper.jpg", "rocket.jpg")
ROTATIONS = (0, 90, 180, 270, -90)
REGIONS = 24  # random regions per photo, each at every rotation
SEED = 7


def regions(rng: np.random.Generator) -> list[tuple[float, float, float, float] | None]:
    """The whole photo, then random regions (left, top, right, bottom): anywhere, at least a
    twentieth of the photo's side, a fifth of them on an edge."""
    found: list = [None]
    for _ in range(REGIONS):
        sides = []
        for _ in range(2):
            start = rng.uniform(0, 0.9)
            end = min(1.0, start + rng.uniform(0.05, 1 - start))
            if rng.random() < 0.2:
                start = 0.0
            sides.append((float(start), float(end)))
        (left, right), (top, bottom) = sides
        found.append((left, top, right, bottom))
    return found


def main() -> None:
    rng = np.random.default_rng(SEED)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        theirs, ours = identity_classifiers(Path(folder))
        with theirs, ours:
            for name in PHOTOS:
                their_image = mp.Image.create_from_file(str(IMAGES / name))
                our_image = Image.create_from_file(str(IMAGES / name))
                for region in regions(rng):
                    for rotation in ROTATIONS:
                        their_rect = our_rect = None
                        if region is not None:
                            left, top, right, bottom = region
                            their_rect = mp_rect.RectF(left=left, top=top, right=right,
                                                       bottom=bottom)
                            our_rect = RectF(left=left, top=top, right=right, bottom=bottom)
                        their_options = vision.ImageProcessingOptions(
                            region_of_interest=their_rect, rotation_degrees=rotation)
                        a = input_tensor(theirs, their_image, their_options)
                        our_options = ImageProcessingOptions(our_rect, rotation)
                        b = input_tensor(ours, our_image, our_options)
                        differ = np.abs(a - b).max(axis=1)
                        rows.append({"photo": name, "region": region, "rotation": rotation,
                                     "pixels_differing": int((differ > 0).sum()),
                                     "max_levels": float(differ.max())})
    whole = [r for r in rows if r["region"] is None]
    partial = [r for r in rows if r["region"] is not None]
    summary = {
        "whole photo": {"geometries": len(whole),
                        "differing": sum(1 for r in whole if r["pixels_differing"])},
        "regions": {"geometries": len(partial),
                    "differing": sum(1 for r in partial if r["pixels_differing"]),
                    "pixels_differing_max": max(r["pixels_differing"] for r in partial),
                    "max_levels": max(r["max_levels"] for r in partial)},
        "pixels_per_tensor": 224 * 224,
    }
    report = {"command": "python3 build.py bench agreement", "mediapipe": mp.__version__,
              "load_average_1min": round(os.getloadavg()[0], 2), "summary": summary,
              "differing": [r for r in rows if r["pixels_differing"]]}
    (ROOT / "bench" / "agreement.json").write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
