"""JPEG decoding side by side on CPython: CPU ms per photo, each decoder giving stb_image's
pixels (this script checks that against MediaPipe's before timing).

- ``MediaPipe``: ``mp.Image.create_from_file`` (stb_image in C, the file read included);
- ``before``: jpeg.py at BEFORE_COMMIT (read from git): Huffman decoding in Python, the IDCT as
  slices of (blocks, 8, 8) arrays, upsampling and colour in int32;
- ``ours, numpy``: today's jpeg.py in numpy on ``jpeg_entropy``'s Huffman decoding (what
  Pyodide runs);
- ``ours`` (CPython): today's jpeg.py with stb_image itself (libstb), the file's bytes given.

On the throughput bench's JPEG photos (up to 640 pixels, 4:2:0, quality 90) and on
tests/images/china.jpg (640x427, 4:4:4, 200 kB). Rounds alternate between decoders, so load
from other jobs hits them alike; the best round is kept and the load average recorded.

Run with ``python3 build.py bench jpeg`` (or ``.venv/bin/python bench/jpeg.py``); writes
bench/jpeg.json. Not a test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

import mediapipe as mp
import numpy as np

from image_classifier import jpeg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from photo_folder import make_photo_folder  # noqa: E402

BEFORE_COMMIT = "6268afd"
PHOTOS = 40
ROUNDS = 5


def before() -> types.ModuleType:
    """jpeg.py at BEFORE_COMMIT, as a module (it imports only numpy)."""
    source = subprocess.run(["git", "show", f"{BEFORE_COMMIT}:pyapp/image_classifier/jpeg.py"],
                            cwd=ROOT, capture_output=True, text=True, check=True).stdout
    module = types.ModuleType("jpeg_before")
    exec(compile(source, "jpeg_before.py", "exec"), module.__dict__)
    return module


def mediapipe_decode(path: str) -> np.ndarray:
    image = mp.Image.create_from_file(path)
    return np.array(image.numpy_view())  # a copy, taken while ``image`` is alive


def measure(paths: list[str], decoders: dict) -> dict[str, float]:
    """Best CPU ms per photo of each decoder over ROUNDS alternating rounds."""
    files = [(path, Path(path).read_bytes()) for path in paths]
    for path, data in files:
        theirs = mediapipe_decode(path)
        for name, decode in decoders.items():
            ours = decode(path, data)
            assert np.array_equal(ours, theirs.reshape(ours.shape)), (name, path)
    best = dict.fromkeys(decoders, float("inf"))
    for _ in range(ROUNDS):
        for name, decode in decoders.items():
            started = time.process_time()
            for path, data in files:
                decode(path, data)
            best[name] = min(best[name], (time.process_time() - started) / len(files) * 1e3)
    return {name: round(ms, 2) for name, ms in best.items()}


def main() -> None:
    old = before()
    decoders = {
        "MediaPipe": lambda path, data: mediapipe_decode(path),
        "before": lambda path, data: old.decode(data),
        "ours, numpy": lambda path, data: jpeg._decode(data, jpeg.numpy_pixels),
        "ours": lambda path, data: jpeg._decode(data, jpeg.stb_pixels),
    }
    with tempfile.TemporaryDirectory() as folder:
        photos = [str(p) for p in make_photo_folder(Path(folder), PHOTOS, 640, ("jpg",))]
        load_before = round(os.getloadavg()[0], 2)
        rows = {
            f"{PHOTOS} bench photos (4:2:0)": measure(photos, decoders),
            "china.jpg (640x427, 4:4:4)": measure([str(ROOT / "tests/images/china.jpg")] * 8,
                                                   decoders),
        }
    report = {"cpu_ms_per_photo": rows, "rounds": ROUNDS, "before_commit": BEFORE_COMMIT,
              "load_average": [load_before, round(os.getloadavg()[0], 2)]}
    print(json.dumps(report, indent=1))
    (ROOT / "bench" / "jpeg.json").write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
