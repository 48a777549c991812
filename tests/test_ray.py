"""Ray Data on a local Ray with 2 workers: a few hundred photos give exactly the single-process
records, a corrupt photo gives an error record, and a rerun with --resume does no work.
One Ray session for the module (Ray takes seconds to start)."""

from __future__ import annotations

import json

import pytest
import ray
from photo_folder import CORRUPT, make_test_folder

from image_classifier import BaseOptions, ImageClassifierOptions
from image_classifier.__main__ import main
from image_classifier.batch import classify_paths, expand_paths
from image_classifier.builtin_models import model_path

PHOTOS = 300


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    return make_test_folder(tmp_path_factory, "photos", PHOTOS, longest_side=256)


def test_ray_gives_the_single_process_records_and_resumes(local_ray, photos, capsys):
    output = photos.parent / "results.jsonl"
    status = main([str(photos), "--ray", "--workers", "2", "--output", str(output)])
    assert status == 1  # the corrupt photo
    rows = {row["path"]: row for row in map(json.loads, output.read_text().splitlines())}
    paths = list(expand_paths([str(photos)]))
    assert sorted(rows) == sorted(paths) and len(paths) == PHOTOS + 1
    options = ImageClassifierOptions(BaseOptions(model_asset_path=model_path("lite0_int8")),
                                     max_results=5)
    for record in classify_paths(paths, options, workers=1):
        row = rows[record.path]
        assert (row["categories"], row["scores"], row["error"]) == (
            record.categories, record.scores, record.error)
    assert rows[str(photos / CORRUPT)]["error"].startswith("Image decoding failed")
    assert capsys.readouterr().err.splitlines()[-1].startswith(
        f"{PHOTOS} of {PHOTOS + 1} photos classified, 1 failed")

    before = output.read_bytes()
    status = main([str(photos), "--ray", "--workers", "2", "--output", str(output), "--resume"])
    assert status == 0 and output.read_bytes() == before
    assert capsys.readouterr().err.splitlines()[-1].startswith(
        f"0 of 0 photos classified, 0 failed, {PHOTOS + 1} already in")
