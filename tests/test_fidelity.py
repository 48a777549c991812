"""Real photos on the real models: expected classes, MediaPipe's own scores, int8 vs float32."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import MODEL_NAMES, model_file, photo

from image_classifier import ImageClassifier

GOLDEN = json.loads((Path(__file__).parent / "golden" / "mediapipe_top5.json").read_text())

# What each photo shows, as ImageNet indices any of which counts.
EXPECTED = {
    "chelsea.png": {281, 282, 285},  # tabby, tiger cat, Egyptian cat
    "coffee.png": {967},  # espresso
    "motorcycle_left.png": {665, 670},  # moped, motor scooter
    "grace_hopper.jpg": {652},  # military uniform
    "rocket.jpg": {657, 744, 812},  # missile, projectile, space shuttle
    "china.jpg": {483, 698, 668, 580},  # castle, palace, mosque, greenhouse...
}


@pytest.fixture(scope="module", params=MODEL_NAMES)
def classifier(request) -> ImageClassifier:
    with ImageClassifier.create_from_model_path(str(model_file(request.param))) as c:
        yield c


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_expected_class_in_top5(classifier, name):
    top5 = classifier.classify(photo(name)).classifications[0].categories[:5]
    assert EXPECTED[name] & {c.index for c in top5}, [(c.category_name, c.score) for c in top5]


@pytest.mark.parametrize("model", ["lite0_fp32", "lite2_fp32"])
def test_scores_match_mediapipe(model):
    golden = GOLDEN["results"][model]
    worst = 0.0
    with ImageClassifier.create_from_model_path(str(model_file(model))) as classifier:
        for name, expected in golden.items():
            scores = {c.index: c.score for c in classifier.classify(photo(name)).classifications[0].categories}
            top1 = max(scores, key=scores.get)
            assert top1 == expected[0]["index"], f"{name}: top-1 {top1}, MediaPipe {expected[0]}"
            for entry in expected:
                difference = abs(scores[entry["index"]] - entry["score"])
                worst = max(worst, difference)
                assert difference <= 2e-2, f"{name} {entry['category_name']}: {difference:.2e}"
    print(f"\n{model}: max |score - MediaPipe| over {len(golden)} photos' top 5 = {worst:.2e}")


@pytest.mark.parametrize("size", ["lite0", "lite2"])
def test_int8_agrees_with_float32_where_float32_is_confident(size):
    names = sorted(set(EXPECTED) | set(GOLDEN["results"]["lite0_fp32"]))
    with ImageClassifier.create_from_model_path(str(model_file(f"{size}_fp32"))) as fp32, \
            ImageClassifier.create_from_model_path(str(model_file(f"{size}_int8"))) as int8:
        confident = 0
        for name in names:
            reference = fp32.classify(photo(name)).classifications[0].categories[0]
            if reference.score < 0.5:
                continue
            confident += 1
            quantized = int8.classify(photo(name)).classifications[0].categories[0]
            assert quantized.index == reference.index, name
    assert confident >= 3
