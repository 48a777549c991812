"""Every request the app makes is recorded, and none leaves its origin: at start, classifying
photos, the camera, a video, and offline use (the page has no batch mode). The page runs
under the server's Content-Security-Policy and breaks none of it."""

from __future__ import annotations

import pytest

from .conftest import new_context
from .media import write_video
from .support import classify_on_page, wait_for_app, wait_idle
from .test_live import (  # noqa: F401  (camera_browser, camera_clip: the fake camera's fixtures)
    VIDEO_SCENES,
    camera_browser,
    camera_clip,
    classify_video_in_page,
    start_camera,
)
from .test_offline import wait_stored


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return write_video(tmp_path_factory.mktemp("requests-video") / "clip.webm", VIDEO_SCENES, fps=10)


def test_no_request_leaves_the_origin(camera_browser, server, video, foreign_requests):
    context = new_context(camera_browser, server)
    context.grant_permissions(["camera"])
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    try:
        # Start.
        page.goto(server + "/")
        wait_for_app(page)
        # Classify: photos, another model, the GPU asked for (no adapter here: falls back).
        classify_on_page(page, "chelsea.png")
        page.select_option("#model", "models/efficientnet_lite2_int8.onnx")
        wait_idle(page)
        page.select_option("#backend", "GPU")
        wait_idle(page)
        page.select_option("#backend", "CPU")
        wait_idle(page)
        # Camera (LIVE_STREAM).
        start_camera(page)
        assert page.evaluate("document.body.dataset.camera") == "on"
        page.wait_for_function("() => window.app.live.camera.results.length >= 3", timeout=120_000)
        page.click("#camera-stop")
        # Video (VIDEO mode).
        assert classify_video_in_page(page, video, every=5)
        # Offline: stored, then the network is cut and the app reloaded.
        wait_stored(page, timeout=180_000)
        context.set_offline(True)
        page.reload()
        wait_for_app(page)
        classify_on_page(page, "coffee.png")
        context.set_offline(False)
    finally:
        urls = context.request_log.urls
        foreign = context.request_log.foreign
        context.close()
    for expected in [
        "/worker.mjs",
        "/frame-relay.mjs",
        "/pyodide/pyodide.asm.wasm",
        "/pyodide/python_stdlib.zip",
        "/pyodide/snapshot.json",  # Python starts from its snapshot: no wheel is fetched
        "/pyodide/snapshot-heap.bin",
        "/pyodide/snapshot-files.bin",
        "/ort/ort-wasm-simd-threaded.wasm",
        "/models/efficientnet_lite2_int8.onnx",
        "/sw.js",
    ]:
        assert any(url == server + expected for url in urls), expected
    print(f"{len(urls)} requests, none foreign")
    assert foreign == []
    assert foreign_requests() == []  # nor in any browser test so far
    assert all(url.startswith(server + "/") or url.startswith(("data:", "blob:")) for url in urls)
    violations = [line for line in console if "Content Security Policy" in line]
    assert violations == []
