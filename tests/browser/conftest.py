"""Browser test fixtures: the built site served once, Debian's Chromium launched once.

Nothing here is skipped: a missing Chromium or a site that does not build fails the tests
(``python3 build.py test`` installs Chromium and the npm packages first).

- ``server``: the site built into site/ (as ``build.py serve`` does) and served on a free port
  with the same handler, so headers and MIME types are the real ones.
- ``browser``: Chromium without WebGPU (``webgpu_browser`` has the software adapter).
- ``api_page``: a page of the site's origin (a test document mounted at /__tests__/ beside the
  site, with the test photos) that imports /image-classifier.mjs, with helpers to turn a test
  photo into every image type.
- ``app_page``: the app (index.html), loaded once; tests put controls back as they found them.
- Every request of every page (and of its workers) is recorded; ``foreign_requests`` are those
  that left the origin. (No request interception: Playwright's routing would turn off the HTTP
  cache and change what is measured.)
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from .support import (
    API_DOCUMENT,
    CHROMIUM,
    IMAGES,
    TEST_DOCUMENT,
    build_site,
    environment,
    wait_idle,
)


class RequestLog:
    """Every request of the pages of a context (and of their workers)."""

    def __init__(self, origin: str) -> None:
        self.origin = origin
        self.urls: list[str] = []
        self.foreign: list[str] = []

    def record(self, request) -> None:
        self.urls.append(request.url)
        if not (
            request.url.startswith(self.origin + "/") or request.url.startswith(("data:", "blob:"))
        ):
            self.foreign.append(request.url)


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    site = build_site.build(build_site.DEFAULT_SITE)
    mounted = tmp_path_factory.mktemp("tests-mount")
    (mounted / "api.html").write_text(API_DOCUMENT, encoding="utf-8")
    (mounted / "images").symlink_to(IMAGES)
    httpd = build_site.make_server(site, 0, quiet=True, mounts={"/__tests__/": mounted})
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="session")
def playwright_instance():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"{CHROMIUM} is missing: run `python3 build.py setup` (installs Debian's chromium)"
        )
    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="session")
def browser(playwright_instance):
    browser = environment.launch_chromium(playwright_instance)
    yield browser
    browser.close()


@pytest.fixture(scope="session")
def webgpu_browser(playwright_instance):
    """Chromium with WebGPU on its software (SwiftShader) adapter: correct and slow."""
    browser = environment.launch_chromium(playwright_instance, webgpu=True)
    yield browser
    browser.close()


_logs: list[RequestLog] = []


def new_context(browser, origin: str):
    """A context whose requests (the pages' and their workers') are all recorded."""
    log = RequestLog(origin)
    _logs.append(log)
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    context.on("request", log.record)
    context.request_log = log
    return context


@pytest.fixture(scope="session")
def foreign_requests():
    """The requests that left the origin, over every context of the session so far."""
    return lambda: [url for log in _logs for url in log.foreign]


@pytest.fixture(scope="session")
def all_requests():
    return lambda: [url for log in _logs for url in log.urls]


def _console(page, sink: list[str]) -> None:
    page.on("console", lambda message: sink.append(f"{message.type}: {message.text}"))
    page.on("pageerror", lambda error: sink.append(f"pageerror: {error}"))


@pytest.fixture(scope="session")
def api_page(browser, server):
    context = new_context(browser, server)
    page = context.new_page()
    page.console_lines = []
    _console(page, page.console_lines)
    page.goto(server + TEST_DOCUMENT)
    page.wait_for_function("() => window.testReady === true")
    page.evaluate("api.loadRuntime()")
    yield page
    context.close()


@pytest.fixture(scope="session")
def app_page(browser, server):
    context = new_context(browser, server)
    page = context.new_page()
    page.console_lines = []
    _console(page, page.console_lines)
    # Playwright turns file chooser interception on when the first listener is added, without
    # waiting: a listener from the start keeps expect_file_chooser() from racing it.
    page.on("filechooser", lambda _chooser: None)
    page.goto(server + "/")
    page.wait_for_function("() => window.app && window.app.state.classifier", timeout=90_000)
    wait_idle(page)
    yield page
    context.close()
