"""The command line: a ranked table or JSON; bad input gives one line and a non-zero exit."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import IMAGES, ROOT


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "image_classifier", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )


def test_table_lists_ranked_labels():
    run = cli(str(IMAGES / "chelsea.png"), str(IMAGES / "coffee.png"), "--max-results", "3")
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].endswith("chelsea.png")
    assert "Egyptian cat" in lines[1] and "#285" in lines[1]
    assert len([line for line in lines if line.strip().startswith(("1.", "2.", "3."))]) == 6
    assert any("espresso" in line for line in lines)


def test_json_with_every_option():
    run = cli(
        str(IMAGES / "coffee.png"), "--json", "--model", "lite0_int8", "--max-results", "2",
        "--score-threshold", "0.001", "--allow", "espresso", "cup", "tench", "--locale", "it",
        "--roi", "0,0,1,1", "--rotation", "360",
    )
    assert run.returncode == 0, run.stderr
    (report,) = json.loads(run.stdout)
    categories = report["classifications"][0]["categories"]
    assert [c["category_name"] for c in categories] == ["espresso", "cup"]
    assert categories[0]["display_name"] != "espresso"
    assert report["photo"].endswith("coffee.png")


@pytest.mark.parametrize(
    "args, message",
    [
        (["missing.png"], "No such file"),
        ([str(IMAGES / "SOURCES.md")], "decoding failed"),
        ([str(IMAGES / "coffee.png"), "--max-results", "0"], "max_results"),
        ([str(IMAGES / "coffee.png"), "--allow", "cup", "--deny", "tench"], "mutually exclusive"),
        ([str(IMAGES / "coffee.png"), "--roi", "0,0,2"], "left,top,right,bottom"),
        ([str(IMAGES / "coffee.png"), "--roi", "0.5,0,0.2,1"], "left < right"),
        ([str(IMAGES / "coffee.png"), "--rotation", "45"], "multiple of 90"),
        ([str(IMAGES / "coffee.png"), "--model", "README.md"], "not a valid"),
        ([str(IMAGES / "coffee.png"), "--max-results", "many"], "invalid int"),
    ],
)
def test_errors_are_one_line(args, message):
    run = cli(*args)
    assert run.returncode != 0
    assert run.stdout == ""
    assert len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert run.stderr.startswith("error:")
    assert message in run.stderr
