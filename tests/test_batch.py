"""Many photos from the command line and from Python: folders, globs and lists, paths as the
user gave them, records streamed to JSON Lines, CSV or Parquet, --resume, worker processes
giving exactly the single-process results, and an installed wheel that works anywhere."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import zipfile

import pyarrow.parquet as pq
import pytest
from conftest import IMAGES, ROOT
from photo_folder import CORRUPT, NOT_AN_IMAGE, make_test_folder
from test_cli import cli

from image_classifier import BaseOptions, Image, ImageClassifier, ImageClassifierOptions
from image_classifier.batch import classify_paths, expand_paths
from image_classifier.builtin_models import model_path

PHOTOS = 40


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A working directory with photos/ (40 photos in sub-folders, a corrupt JPEG, a text
    file)."""
    return make_test_folder(tmp_path_factory, "photos", PHOTOS).parent


def options() -> ImageClassifierOptions:
    return ImageClassifierOptions(BaseOptions(model_asset_path=model_path("lite0_int8")),
                                  max_results=3)


def read_jsonl(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_folders_globs_and_lists_keep_the_users_paths(workdir, monkeypatch):
    monkeypatch.chdir(workdir)
    in_folder = list(expand_paths(["photos"]))
    assert len(in_folder) == PHOTOS + 1  # the corrupt .jpg is a photo by name; notes.txt is not
    assert in_folder[0] == os.path.join("photos", CORRUPT)  # a folder's files, then sub-folders
    assert in_folder[1].startswith(os.path.join("photos", "astronaut", "photo_"))
    assert list(expand_paths(["photos/**/*.png"])) == [p for p in in_folder if p.endswith(".png")]
    listing = "\n".join(in_folder[:3] + ["", f"photos/{NOT_AN_IMAGE}"]) + "\n"
    run = cli("--paths-from", "-", "--json", cwd=workdir, stdin=listing)
    records = [json.loads(line) for line in run.stdout.splitlines()]
    assert [r["path"] for r in records] == in_folder[:3] + [f"photos/{NOT_AN_IMAGE}"]
    assert records[-1]["error"].startswith("Image decoding failed") and run.returncode == 1


def test_workers_give_the_single_process_results(workdir):
    paths = list(expand_paths([str(workdir / "photos")]))
    alone = list(classify_paths(paths, options(), workers=1))
    together = list(classify_paths(paths, options(), workers=2))
    assert [r.path for r in together] == paths
    for one, other in zip(alone, together):
        assert (one.categories, one.scores, one.error) == (other.categories, other.scores,
                                                           other.error)
    with ImageClassifier.create_from_options(options()) as classifier:
        result = classifier.classify(Image.create_from_file(paths[5]))
    assert [c.score for c in result.classifications[0].categories] == alone[5].scores
    (broken,) = [r for r in together if r.error]
    assert broken.path.endswith(CORRUPT) and broken.categories == []


@pytest.mark.parametrize("extension", ["jsonl", "csv", "parquet"])
def test_output_files_and_resume(workdir, extension, monkeypatch):
    monkeypatch.chdir(workdir)
    output = workdir / f"results.{extension}"
    first = cli("photos/chelsea", "--output", output.name, "--workers", "2", cwd=workdir)
    assert first.returncode == 0, first.stderr
    assert first.stdout == ""
    again = cli("photos", "--output", output.name, "--resume", "--workers", "2", cwd=workdir)
    assert again.returncode == 1  # the corrupt photo
    chelsea = len(list((workdir / "photos" / "chelsea").iterdir()))
    assert f"already in {output.name}" in again.stderr.splitlines()[-1]
    assert again.stderr.splitlines()[-1].startswith(
        f"{PHOTOS - chelsea} of {PHOTOS + 1 - chelsea} photos classified, 1 failed")
    if extension == "jsonl":
        rows = read_jsonl(output)
    elif extension == "csv":
        with open(output, newline="") as file:
            rows = list(csv.DictReader(file))
    else:
        rows = pq.read_table(output).to_pylist()
    assert sorted(r["path"] for r in rows) == sorted(expand_paths(["photos"]))
    errors = [r for r in rows if r["error"]]
    assert [r["path"] for r in errors] == [os.path.join("photos", CORRUPT)]
    good = next(r for r in rows if r["path"].startswith("photos/chelsea"))
    names = good["categories"].split(";") if extension == "csv" else good["categories"]
    assert len(names) == 5 and float(good["decode_ms"]) > 0  # the default max_results
    nothing_left = cli("photos", "--output", output.name, "--resume", cwd=workdir)
    assert nothing_left.stderr.splitlines()[-1].startswith("0 of 0 photos classified")


def test_build_py_classify_takes_paths_from_where_it_runs(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "x.png").write_bytes((IMAGES / "coffee.png").read_bytes())
    run = subprocess.run([sys.executable, str(ROOT / "build.py"), "classify", "in/x.png"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("in/x.png\n") and "espresso" in run.stdout


def test_installed_wheel_carries_the_default_model(tmp_path):
    """`pip install .` elsewhere: the wheel has the default model; the command classifies
    from any directory with it and says where to get the models it does not ship."""
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "-w", str(tmp_path), str(ROOT)],
                   check=True, capture_output=True, timeout=300)
    (wheel,) = tmp_path.glob("image_classifier-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "image_classifier/models/efficientnet_lite0_int8.tflite" in names
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target",
                    str(site), str(wheel)], check=True, capture_output=True, timeout=300)
    env = {**os.environ, "PYTHONPATH": str(site)}
    where = subprocess.run([sys.executable, "-c", "import image_classifier; "
                            "print(image_classifier.__file__)"], cwd=tmp_path, env=env,
                           capture_output=True, text=True, check=True).stdout
    assert where.startswith(str(site))
    run = subprocess.run([sys.executable, "-m", "image_classifier", str(IMAGES / "coffee.png")],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "espresso" in run.stdout
    run = subprocess.run([sys.executable, "-m", "image_classifier", str(IMAGES / "coffee.png"),
                          "--model", "lite2_fp32"], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 1
    assert "lite2_fp32 (efficientnet_lite2_fp32.tflite) is not installed" in run.stderr
    assert "python3 build.py models" in run.stderr


def test_resume_after_a_run_killed_mid_line(tmp_path):
    from image_classifier.records import PhotoRecord, RecordWriter, done_paths

    output = tmp_path / "results.jsonl"
    output.write_text(json.dumps(PhotoRecord("a.png").to_dict()) + "\n" + '{"path": "b.p')
    assert done_paths(output) == {"a.png"}
    with RecordWriter(output, append=True) as writer:
        writer.write(PhotoRecord("b.png", error="x"))
    assert done_paths(output) == {"a.png", "b.png"}
