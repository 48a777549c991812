"""Every request the app makes is recorded, and none leaves its origin."""

from __future__ import annotations

from .conftest import new_context
from .support import IMAGES, wait_idle


def test_no_request_leaves_the_origin(browser, server, foreign_requests, all_requests):
    context = new_context(browser, server)
    page = context.new_page()
    page.goto(server + "/")
    page.wait_for_function("window.app && window.app.state.classifier", timeout=90_000)
    wait_idle(page)
    page.set_input_files("#file", str(IMAGES / "chelsea.png"))
    wait_idle(page)
    page.select_option("#model", "models/efficientnet_lite2_int8.onnx")
    wait_idle(page)
    page.select_option("#backend", "GPU")  # no adapter here: falls back, loads nothing foreign
    wait_idle(page)
    urls = context.request_log.urls
    context.close()
    for expected in [
        "/worker.mjs",
        "/pyodide/pyodide.asm.wasm",
        "/pyodide/python_stdlib.zip",
        "/pyodide/snapshot.json",  # Python starts from its snapshot: no wheel is fetched
        "/pyodide/snapshot-heap.bin",
        "/pyodide/snapshot-files.bin",
        "/ort/ort-wasm-simd-threaded.wasm",
        "/models/efficientnet_lite2_int8.onnx",
    ]:
        assert any(url == server + expected for url in urls), expected
    print(f"{len(urls)} requests by the app; {len(all_requests())} in all browser tests so far")
    assert foreign_requests() == []
    assert all(url.startswith(server + "/") or url.startswith(("data:", "blob:")) for url in urls)
