"""The page's "Many photos" panel with a real folder of photos (plus a corrupt JPEG and a text
file): every photo classified in the worker as CPython classifies it, bad files in their own
rows, sort, filter, CSV and JSON export, Cancel."""

from __future__ import annotations

import csv
import io
import json
import sys

import pytest

from .support import MODELS, ROOT, browser_decoded, build_site

sys.path.insert(0, str(ROOT / "tests"))
from photo_folder import CORRUPT, NOT_AN_IMAGE, make_test_folder  # noqa: E402

PHOTOS = 6


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return make_test_folder(tmp_path_factory, "holiday", PHOTOS, longest_side=320)


def cpython_top(path) -> list[tuple[str, float]]:
    from image_classifier import ImageClassifier

    model = str(MODELS / build_site.DEFAULT_MODEL)
    with ImageClassifier.create_from_model_path(model) as classifier:
        result = classifier.classify(browser_decoded(path))  # JPEGs as the browser decodes them
    return [(c.category_name, c.score) for c in result.classifications[0].categories[:5]]


def run_batch(page, selector: str, files) -> list[dict]:
    page.set_input_files(selector, files)
    page.wait_for_function("() => ['done', 'cancelled'].includes(document.body.dataset.batch)",
                           timeout=120_000)
    return page.evaluate("window.app.batch.rows.map(({thumb, ...row}) => "
                         "({...row, hasThumb: Boolean(thumb)}))")


def table_paths(page) -> list[str]:
    return page.eval_on_selector_all("#batch-rows .path", "cells => cells.map(c => c.textContent)")


def test_a_folder_with_bad_files(app_page, folder):
    rows = run_batch(app_page, "#batch-folder", str(folder))
    by_path = {row["path"]: row for row in rows}
    photos = sorted(p for p in folder.rglob("*") if p.is_file())
    assert sorted(by_path) == sorted(f"holiday/{p.relative_to(folder)}" for p in photos)
    for photo in photos:
        row = by_path[f"holiday/{photo.relative_to(folder)}"]
        if photo.name == CORRUPT:
            assert "decod" in row["error"].lower() and row["categories"] == []
        elif photo.name == NOT_AN_IMAGE:
            assert row["error"] == "Not an image file (text/plain)."
        else:
            assert row["error"] is None and row["hasThumb"]
            got = [(c["categoryName"], c["score"]) for c in row["categories"]]
            want = cpython_top(photo)
            assert [name for name, _ in got] == [name for name, _ in want]
            assert all(abs(a - b) < 1e-3 for (_, a), (_, b) in zip(got, want))
    assert app_page.text_content("#batch-summary") == f"{PHOTOS} classified, 2 failed"
    assert app_page.text_content("#batch-status").startswith(f"{PHOTOS + 2} / {PHOTOS + 2} · ")
    assert len(table_paths(app_page)) == PHOTOS + 2
    assert app_page.eval_on_selector_all("#batch-rows tr.failed .error", "cells => cells.length") == 2

    app_page.select_option("#batch-sort", "score")
    scores = [by_path[p]["categories"][0]["score"] for p in table_paths(app_page)[:PHOTOS]]
    assert scores == sorted(scores, reverse=True)
    cat_rows = [p for p, row in by_path.items()
                if any("cat" in c["categoryName"] for c in row["categories"])]
    app_page.fill("#batch-filter", "cat")
    assert sorted(table_paths(app_page)) == sorted(cat_rows) and cat_rows
    app_page.fill("#batch-filter", "")
    app_page.select_option("#batch-sort", "path")

    with app_page.expect_download() as download:
        app_page.click("#batch-export-json")
    exported = json.loads(open(download.value.path(), encoding="utf-8").read())
    assert {r["path"]: r["categories"] for r in exported} == {
        p: [c["categoryName"] for c in row["categories"]] for p, row in by_path.items()}
    with app_page.expect_download() as download:
        app_page.click("#batch-export-csv")
    table = list(csv.DictReader(io.StringIO(open(download.value.path(), encoding="utf-8").read())))
    assert [r["path"] for r in table] == sorted(by_path)
    assert {r["path"]: r["error"] for r in table if r["error"]}.keys() == {
        f"holiday/{CORRUPT}", f"holiday/{NOT_AN_IMAGE}"}


def test_the_panel_is_kept_for_offline_use(app_page):
    precache = app_page.evaluate("fetch('precache.json').then((r) => r.json())")["precache"]
    assert "batch.mjs" in precache


def test_dropped_photos_and_cancel(app_page, folder):
    photos = sorted(str(p) for p in folder.rglob("photo_*"))
    app_page.evaluate(
        """async (names) => {
            const transfer = new DataTransfer();
            for (const name of names) {
              const blob = await (await fetch('/__tests__/images/' + name)).blob();
              transfer.items.add(new File([blob], name, {type: blob.type}));
            }
            document.getElementById('batch-drop').dispatchEvent(
                new DragEvent('drop', {dataTransfer: transfer, bubbles: true, cancelable: true}));
        }""",
        ["chelsea.png", "coffee.png"],
    )
    app_page.wait_for_function("() => document.body.dataset.batch === 'done'", timeout=60_000)
    rows = app_page.evaluate("window.app.batch.rows")
    assert [(r["path"], r["categories"][0]["categoryName"]) for r in rows] == [
        ("chelsea.png", "Egyptian cat"), ("coffee.png", "espresso")]

    app_page.set_input_files("#batch-files", photos * 5)
    app_page.wait_for_function("() => window.app.batch.rows.length >= 2", timeout=60_000)
    app_page.click("#batch-cancel")
    app_page.wait_for_function("() => document.body.dataset.batch === 'cancelled'", timeout=60_000)
    done = app_page.evaluate("window.app.batch.rows.length")
    assert 2 <= done < len(photos) * 5
    assert app_page.text_content("#batch-summary").endswith(f", {len(photos) * 5 - done} cancelled")
