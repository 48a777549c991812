"""The page (index.html + app.mjs): every control, drawn ROI, rotation, keyboard, errors."""

from __future__ import annotations

import pytest

from .support import IMAGES, build_site, cpython_result, wait_idle

LITE0 = build_site.DEFAULT_MODEL  # the page's default model


def shown(page) -> list[dict]:
    """The ranked categories the page shows."""
    return page.evaluate(
        """() => [...document.querySelectorAll('#categories li.category')].map((li) => ({
            index: Number(li.dataset.index), score: Number(li.dataset.score),
            name: li.querySelector('.name').textContent}))"""
    )


def expected(model: str, image: str, options: dict | None = None, processing: dict | None = None):
    result = cpython_result(model, image, {"maxResults": 5, **(options or {})}, processing)
    return [
        {"index": c["index"], "score": c["score"], "name": c["displayName"] or c["categoryName"]}
        for c in result["classifications"][0]["categories"]
    ]


def assert_shows(page, want: list[dict], tolerance: float = 1e-4) -> None:
    got = shown(page)
    assert [(c["index"], c["name"]) for c in got] == [(c["index"], c["name"]) for c in want]
    for a, b in zip(got, want):
        assert abs(a["score"] - b["score"]) <= tolerance


def message(page) -> str:
    return page.evaluate(
        "document.getElementById('message').hidden ? '' : document.getElementById('message').textContent"
    )


def load(page, name: str) -> None:
    page.set_input_files("#file", str(IMAGES / name))
    wait_idle(page)
    # The preview is decoded apart from the classification, and the page may be scrolled
    # (other tests use the camera section below): a test drawing on it needs it loaded, in view.
    page.wait_for_function(
        "() => { const img = document.querySelector('#preview'); return img.complete && img.naturalWidth > 0; }"
    )
    page.locator("#preview").scroll_into_view_if_needed()


def set_field(page, selector: str, value: str) -> None:
    """Types a value and commits it (a change event), as a user tabbing away would."""
    page.fill(selector, value)
    page.dispatch_event(selector, "change")
    wait_idle(page)


def test_page_loads_with_progress_then_classifies_like_cpython(app_page):
    assert app_page.is_hidden("#loading")
    assert "cross-origin isolated" in app_page.text_content("#engine")
    for photo in ["chelsea.png", "coffee.png", "grace_hopper.jpg"]:
        load(app_page, photo)
        assert message(app_page) == ""
        assert_shows(app_page, expected(LITE0, photo))
        assert app_page.text_content("#image-info").startswith(photo)
    for stage in ["decode", "preprocess", "inference", "postprocess", "total"]:
        assert app_page.text_content(f"#t-{stage}").endswith(" ms")
    print(
        "page timings:",
        {
            s: app_page.text_content(f"#t-{s}")
            for s in ["decode", "preprocess", "inference", "postprocess", "total"]
        },
    )


def test_option_controls(app_page):
    load(app_page, "chelsea.png")
    set_field(app_page, "#max-results", "3")
    assert_shows(app_page, expected(LITE0, "chelsea.png", {"maxResults": 3}))
    set_field(app_page, "#score-threshold", "0.05")
    assert_shows(
        app_page, expected(LITE0, "chelsea.png", {"maxResults": 3, "scoreThreshold": 0.05})
    )
    set_field(app_page, "#score-threshold", "")
    set_field(app_page, "#locale", "zh")
    want = expected(LITE0, "chelsea.png", {"maxResults": 3, "displayNamesLocale": "zh"})
    assert_shows(app_page, want)
    assert want[0]["name"] != "Egyptian cat"
    set_field(app_page, "#locale", "en")
    set_field(app_page, "#allowlist", "tabby\nlynx")
    assert_shows(
        app_page,
        expected(LITE0, "chelsea.png", {"maxResults": 3, "categoryAllowlist": ["tabby", "lynx"]}),
    )
    # Both lists: MediaPipe's message, the field marked, the old options kept.
    set_field(app_page, "#denylist", "tabby")
    assert (
        message(app_page)
        == "`category_allowlist` and `category_denylist` are mutually exclusive options."
    )
    assert app_page.get_attribute("#denylist", "aria-invalid") == "true"
    set_field(app_page, "#allowlist", "")
    assert message(app_page) == ""
    assert_shows(
        app_page, expected(LITE0, "chelsea.png", {"maxResults": 3, "categoryDenylist": ["tabby"]})
    )
    set_field(app_page, "#denylist", "")
    set_field(app_page, "#max-results", "0")
    assert message(app_page) == "Invalid `max_results` option: value must be != 0."
    set_field(app_page, "#max-results", "5")
    assert message(app_page) == ""
    assert_shows(app_page, expected(LITE0, "chelsea.png"))


def test_running_mode_and_model_pickers(app_page):
    load(app_page, "coffee.png")
    app_page.select_option("#running-mode", "VIDEO")
    wait_idle(app_page)
    load(app_page, "coffee.png")  # classifyForVideo twice: increasing timestamps
    assert message(app_page) == ""
    assert_shows(app_page, expected(LITE0, "coffee.png"))
    app_page.select_option("#running-mode", "IMAGE")
    wait_idle(app_page)
    app_page.select_option("#model", "models/efficientnet_lite0_int8.onnx")
    wait_idle(app_page)
    assert app_page.is_hidden("#loading")  # the progress bar came and went
    int8 = expected("efficientnet_lite0_int8.onnx", "coffee.png")
    got = shown(app_page)
    assert got[0]["index"] == int8[0]["index"] and abs(got[0]["score"] - int8[0]["score"]) <= 2e-2
    app_page.select_option("#model", f"models/{LITE0}")
    wait_idle(app_page)
    assert_shows(app_page, expected(LITE0, "coffee.png"))


def test_webgpu_unavailable_shows_a_note_and_falls_back(app_page):
    """This browser has no WebGPU adapter (test_webgpu.py covers the one that has)."""
    load(app_page, "coffee.png")
    app_page.select_option("#backend", "GPU")
    wait_idle(app_page)
    assert app_page.is_visible("#backend-note")
    assert "running on WebAssembly (CPU) instead" in app_page.text_content("#backend-note")
    assert_shows(app_page, expected(LITE0, "coffee.png"))
    app_page.select_option("#backend", "CPU")
    wait_idle(app_page)
    assert app_page.is_hidden("#backend-note")


def test_drawn_region_of_interest_and_rotation(app_page):
    load(app_page, "grace_hopper.jpg")
    box = app_page.locator("#preview").bounding_box()
    app_page.mouse.move(box["x"] + box["width"] * 0.2, box["y"] + box["height"] * 0.1)
    app_page.mouse.down()
    app_page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.4, steps=5)
    app_page.mouse.move(box["x"] + box["width"] * 0.8, box["y"] + box["height"] * 0.7, steps=5)
    app_page.mouse.up()
    wait_idle(app_page)
    roi = {
        side: float(app_page.input_value(f"#roi-{side}"))
        for side in ("left", "top", "right", "bottom")
    }
    assert roi["left"] == pytest.approx(0.2, abs=0.01) and roi["bottom"] == pytest.approx(
        0.7, abs=0.01
    )
    assert app_page.is_visible("#roi-box")
    assert_shows(
        app_page, expected(LITE0, "grace_hopper.jpg", processing={"regionOfInterest": roi})
    )
    app_page.click("#rotate-right")
    wait_idle(app_page)
    assert app_page.text_content("#rotation") == "90°"
    assert app_page.is_visible("#model-view")
    assert_shows(
        app_page,
        expected(
            LITE0, "grace_hopper.jpg", processing={"regionOfInterest": roi, "rotationDegrees": 90}
        ),
    )
    # Typed ROI: an invalid one shows MediaPipe's message.
    set_field(app_page, "#roi-right", "0.1")
    assert message(app_page) == "Expected RectF with left < right and top < bottom."
    app_page.click("#roi-clear")
    wait_idle(app_page)
    assert message(app_page) == ""
    app_page.click("#rotate-left")
    app_page.click("#rotate-left")
    wait_idle(app_page)
    assert app_page.text_content("#rotation") == "-90°"
    assert_shows(app_page, expected(LITE0, "grace_hopper.jpg", processing={"rotationDegrees": -90}))
    app_page.click("#rotate-right")
    wait_idle(app_page)


def test_keyboard_only(app_page):
    """Choose a file, set an option and rotate with the keyboard alone."""
    app_page.focus("#drop")
    with app_page.expect_file_chooser() as chooser:
        app_page.keyboard.press("Enter")
    chooser.value.set_files(str(IMAGES / "coffee.png"))
    wait_idle(app_page)
    assert_shows(app_page, expected(LITE0, "coffee.png"))
    app_page.focus("#max-results")
    app_page.keyboard.press("ArrowDown")  # 5 -> 4
    app_page.keyboard.press("Tab")  # commits: change event
    wait_idle(app_page)
    assert_shows(app_page, expected(LITE0, "coffee.png", {"maxResults": 4}))
    app_page.focus("#rotate-right")
    app_page.keyboard.press("Enter")
    wait_idle(app_page)
    assert_shows(
        app_page, expected(LITE0, "coffee.png", {"maxResults": 4}, {"rotationDegrees": 90})
    )
    app_page.focus("#rotate-left")
    app_page.keyboard.press("Space")
    set_field(app_page, "#max-results", "5")


def _send_file_event(page, event: str, name: str) -> None:
    page.evaluate(
        """async ([event, name]) => {
            const blob = await (await fetch('/__tests__/images/' + name)).blob();
            const transfer = new DataTransfer();
            transfer.items.add(new File([blob], name, {type: blob.type}));
            if (event === 'paste') {
              document.dispatchEvent(new ClipboardEvent('paste', {clipboardData: transfer, bubbles: true}));
            } else {
              document.getElementById('drop').dispatchEvent(new DragEvent('drop', {dataTransfer: transfer, bubbles: true, cancelable: true}));
            }
        }""",
        [event, name],
    )
    page.wait_for_timeout(50)
    wait_idle(page)


def test_paste_and_drop(app_page):
    _send_file_event(app_page, "paste", "chelsea.png")
    assert_shows(app_page, expected(LITE0, "chelsea.png"))
    _send_file_event(app_page, "drop", "coffee.png")
    assert_shows(app_page, expected(LITE0, "coffee.png"))
    assert app_page.text_content("#image-info").startswith("coffee.png")


def test_unsupported_or_corrupt_files_show_a_message(app_page, tmp_path):
    corrupt = tmp_path / "broken.png"
    corrupt.write_bytes((IMAGES / "chelsea.png").read_bytes()[:2000])
    text = tmp_path / "notes.txt"
    text.write_text("not an image")
    for path in (corrupt, text):
        app_page.set_input_files("#file", str(path))
        wait_idle(app_page)
        shown_message = message(app_page)
        print(path.name, "->", shown_message)
        assert shown_message.startswith(
            f"Cannot read “{path.name}”: it is not an image this app can decode."
        )
        assert shown(app_page) == []
    load(app_page, "chelsea.png")
    assert message(app_page) == ""
