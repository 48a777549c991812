"""Any static host: sw.js makes the page cross-origin isolated without server headers, and
keeps the app working offline."""

from __future__ import annotations

import threading
import urllib.request

import pytest

from .conftest import new_context
from .support import IMAGES, build_site, cpython_result, page_results, wait_for_app, wait_idle

LITE0 = build_site.DEFAULT_MODEL  # the page's default model


@pytest.fixture(scope="module")
def plain_server(server):
    """The same site from a server that sends no COOP/COEP/CORP headers."""
    httpd = build_site.make_server(build_site.DEFAULT_SITE, 0, quiet=True, isolation=False)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def first_result(page) -> dict:
    index, score = page_results(page)[0]
    return {"index": index, "score": score}


def test_static_host_isolated_after_one_reload(browser, plain_server):
    """No COOP/COEP from the server: sw.js adds them, the page reloads once and runs
    onnxruntime multi-threaded. (Offline on such a host: test_offline.py.)"""
    with urllib.request.urlopen(plain_server + "/") as response:
        assert response.headers["Cross-Origin-Embedder-Policy"] is None
    context = new_context(browser, plain_server)
    page = context.new_page()
    loads = []
    page.on("framenavigated", lambda frame: frame == page.main_frame and loads.append(frame.url))
    try:
        page.goto(plain_server + "/")
        wait_for_app(page)
        assert page.evaluate("crossOriginIsolated") is True
        assert page.evaluate("navigator.serviceWorker.controller !== null") is True
        assert len(loads) == 2, loads  # the first visit, and the one reload
        engine = page.evaluate("window.app.state.classifier.engine")
        assert engine["backend"] == "wasm" and engine["threads"] > 1
        assert engine["threadWorkers"] >= 1  # onnxruntime's pthreads are real workers
        page.set_input_files("#file", str(IMAGES / "coffee.png"))
        wait_idle(page)
        want = cpython_result(LITE0, "coffee.png", {"maxResults": 5})["classifications"][0][
            "categories"
        ][0]
        got = first_result(page)
        assert got["index"] == want["index"] and abs(got["score"] - want["score"]) <= 1e-4
    finally:
        context.close()
