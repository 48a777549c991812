"""The shipped model files: intact, and saying the right things about themselves."""

from __future__ import annotations

import hashlib
import json

import pytest
from conftest import MODEL_NAMES, MODELS, model_file

from image_classifier.metadata import read_model_metadata


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_model_file_matches_manifest(name):
    manifest = json.loads((MODELS / "manifest.json").read_text())
    path = model_file(name)
    entry = manifest[path.name]
    data = path.read_bytes()
    assert len(data) == entry["size"]
    assert hashlib.sha256(data).hexdigest() == entry["sha256"]


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_model_metadata(name):
    metadata = read_model_metadata(model_file(name).read_bytes())
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
