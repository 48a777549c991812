"""CPython keeps its memory flat over many calls: no buffer, result or engine state kept per
call (a leak of one preprocessed 224x224 photo per call would be 1.2 GB over 2000 calls)."""

from __future__ import annotations

import gc
import os

from conftest import model_file, photo

from image_classifier import ImageClassifier

CALLS = 2000
WARMUP = 200
LIMIT = 8_000_000  # bytes of resident memory over the calls after the warm-up


def resident_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_memory_is_flat_over_2000_calls():
    """On LiteRT, with the app's default model."""
    classifier = ImageClassifier.create_from_model_path(str(model_file("lite0_int8", "tflite")))
    images = [photo("chelsea.png"), photo("coffee.png")]
    with classifier:
        for call in range(WARMUP):
            classifier.classify(images[call % 2])
        gc.collect()
        before = resident_bytes()
        for call in range(CALLS - WARMUP):
            classifier.classify(images[call % 2])
        gc.collect()
        grown = resident_bytes() - before
    print(f"LiteRT: resident memory {grown / 1e6:+.2f} MB over {CALLS - WARMUP} calls")
    assert grown < LIMIT
