"""The command line: a ranked table or JSON Lines per photo as it comes; bad options give one
line and a non-zero exit before any photo is read; bad photos get an error line each."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import IMAGES, ROOT


def cli(*args: str, cwd=ROOT, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "image_classifier", *args],
        cwd=cwd, capture_output=True, text=True, timeout=300, input=stdin,
    )


def test_table_lists_ranked_labels():
    run = cli(str(IMAGES / "chelsea.png"), str(IMAGES / "coffee.png"), "--max-results", "3")
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].endswith("chelsea.png")
    assert "Egyptian cat" in lines[1] and "#285" in lines[1]
    assert len([line for line in lines if line.strip().startswith(("1.", "2.", "3."))]) == 6
    assert any("espresso" in line for line in lines)
    assert run.stderr.splitlines()[-1].startswith("2 of 2 photos classified, 0 failed")


def test_json_lines_with_every_option():
    run = cli(
        str(IMAGES / "coffee.png"), "--json", "--model", "lite0_int8.onnx", "--max-results", "2",
        "--score-threshold", "0.001", "--allow", "espresso", "cup", "tench", "--locale", "it",
        "--roi", "0,0,1,1", "--rotation", "360",
    )
    assert run.returncode == 0, run.stderr
    (line,) = run.stdout.splitlines()
    record = json.loads(line)
    assert record["categories"] == ["espresso", "cup"]
    assert record["display_names"][0] != "espresso"
    assert record["path"] == str(IMAGES / "coffee.png")
    assert record["error"] is None and record["inference_ms"] > 0


def test_negative_values_parse():
    """-inf keeps every category; a negative region edge is refused by MediaPipe's rule, not
    by the argument parser."""
    run = cli(str(IMAGES / "coffee.png"), "--json", "--max-results", "-1",
              "--score-threshold", "-inf")
    assert run.returncode == 0, run.stderr
    assert len(json.loads(run.stdout)["scores"]) == 1000
    run = cli(str(IMAGES / "coffee.png"), "--roi", "-0.5,0,1,1")
    assert run.returncode == 1
    assert run.stderr == "error: Expected RectF values to be in [0,1].\n"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--max-results", "0"], "max_results"),
        (["--allow", "cup", "--deny", "tench"], "mutually exclusive"),
        (["--roi", "0,0,2"], "left,top,right,bottom"),
        (["--roi", "0.5,0,0.2,1"], "left < right"),
        (["--rotation", "45"], "multiple of 90"),
        (["--model", "README.md"], "not a valid"),
        (["--max-results", "many"], "invalid int"),
        (["--output", "results.txt"], "Unknown output format '.txt'"),
        (["--resume"], "--resume needs --output"),
    ],
)
def test_option_errors_are_one_line(args, message):
    run = cli(str(IMAGES / "coffee.png"), *args)
    assert run.returncode != 0
    assert run.stdout == ""
    assert len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert run.stderr.startswith("error:")
    assert message in run.stderr


def test_bad_photos_each_get_a_line_and_the_others_go_on(tmp_path):
    (tmp_path / "notes.txt").write_text("not pixels")
    run = cli("missing.png", "notes.txt", str(IMAGES / "coffee.png"), "nothing/*.jpg",
              cwd=tmp_path)
    assert run.returncode == 1
    assert "espresso" in run.stdout
    errors = [line for line in run.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        "error: missing.png: No such file or directory",
        "error: notes.txt: Image decoding failed: unsupported or unrecognized image data.",
        "error: nothing/*.jpg: no file matches this pattern",
    ]
    assert run.stderr.splitlines()[-1].startswith("1 of 4 photos classified, 3 failed")


def test_built_in_models_say_where_to_get_them():
    from image_classifier.builtin_models import model_path

    assert model_path("lite0_int8").endswith("efficientnet_lite0_int8.tflite")
    assert model_path("lite2_fp32.onnx").endswith("efficientnet_lite2_fp32.onnx")
    assert model_path("my/model.tflite") == "my/model.tflite"
