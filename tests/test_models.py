"""The shipped model files: intact, saying the right things about themselves, and the .tflite
and .onnx forms of each model giving the same results."""

from __future__ import annotations

import hashlib
import json

import pytest
from conftest import MODEL_NAMES, MODELS, model_file, photo

from image_classifier import BaseOptions, ImageClassifier, ImageClassifierOptions
from image_classifier.model import read_model_metadata

FORMATS = ("onnx", "tflite")


@pytest.mark.parametrize("model_format", FORMATS)
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_model_file_matches_manifest(name, model_format):
    manifest = json.loads((MODELS / "manifest.json").read_text())
    path = model_file(name, model_format)
    entry = manifest[path.name]
    data = path.read_bytes()
    assert len(data) == entry["size"]
    assert hashlib.sha256(data).hexdigest() == entry["sha256"]


@pytest.mark.parametrize("model_format", FORMATS)
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_model_metadata(name, model_format):
    metadata = read_model_metadata(model_file(name, model_format).read_bytes())
    assert metadata.input.layout == "NHWC"
    assert metadata.input.normalization.mean == (127.0,)
    assert metadata.input.normalization.std == (128.0,)
    (head,) = metadata.heads
    assert head.name == "probability"
    assert head.score_threshold is None
    names = head.category_names
    assert len(names) == 1000
    assert (names[0], names[285], names[933]) == ("tench", "Egyptian cat", "cheeseburger")
    assert [f.locale for f in head.labels] == ["en", "zh", "ja", "it"]
    assert all(len(f.names) == 1000 for f in head.labels)
    assert metadata.license


@pytest.mark.parametrize("name", ["lite0_fp32", "lite2_fp32"])
def test_tflite_and_onnx_agree(name):
    """The same float32 network from the same weights, run by LiteRT and by onnxruntime."""
    options = {"max_results": -1}
    photos = [photo(p) for p in ("chelsea.png", "coffee.png", "grace_hopper.jpg", "rocket.jpg")]
    results = {}
    for model_format in FORMATS:
        path = str(model_file(name, model_format))
        with ImageClassifier.create_from_options(ImageClassifierOptions(
            base_options=BaseOptions(model_asset_path=path), **options
        )) as classifier:
            results[model_format] = [
                {c.index: c.score for c in classifier.classify(p).classifications[0].categories}
                for p in photos
            ]
    gap = max(
        abs(onnx[i] - tflite[i])
        for onnx, tflite in zip(results["onnx"], results["tflite"]) for i in onnx
    )
    print(f"{name}: .tflite vs .onnx, 1000 scores x {len(photos)} photos, max |diff| {gap:.1e}")
    assert gap <= 1e-4
