"""The installable, offline app: sw.js, offline.mjs, the web app manifest.

- After one online visit the app starts and classifies with the network off, with the server
  stopped, and after a browser restart on the same profile, with the same results.
- A new deployment: the page offers to reload, then runs the new version; the old cache is gone,
  kept files stay kept (those an earlier service worker stored too).
- Installable: the manifest's fields, icons that load, a controlling service worker.
- A refused quota: a clear message, and the app keeps working online.
- Stored files are the server's own responses (the sha256 in their key), and once stored
  the next start's worker compiles Pyodide's JavaScript from the browser's code cache.

Each test serves the site on its own server (its own origin, so its own service worker and
caches); start times are printed (pytest -s).
"""

from __future__ import annotations

import base64
import json
import shutil
import threading
import time
from contextlib import contextmanager

import pytest

from .conftest import new_context
from .support import (
    CHROMIUM,
    build_site,
    classify_on_page,
    environment,
    cpython_result,
    wait_for_app,
    wait_idle,
)

LITE0 = build_site.DEFAULT_MODEL  # the page's default model
LITE0_INT8 = "models/efficientnet_lite0_int8.onnx"
LITE2 = "models/efficientnet_lite2_fp32.onnx"


@pytest.fixture(scope="module")
def own_site(server, tmp_path_factory):
    """The site built into a folder of this module's own: a service worker checks every file
    against its build, so a site/ rebuilt meanwhile (another test run) must not be served."""
    return build_site.build(tmp_path_factory.mktemp("offline") / "site")


@contextmanager
def serving(site, isolation: bool):
    """Serves ``site`` on a free port until the block ends or ``stop()`` is called."""
    httpd = build_site.make_server(site, 0, quiet=True, isolation=isolation)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    stopped = []

    def stop():
        if not stopped:
            httpd.shutdown()
            httpd.server_close()
            stopped.append(True)

    httpd.origin = f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.stop = stop
    try:
        yield httpd
    finally:
        stop()


def installability_errors(page) -> list[str]:
    """Chromium's reasons why the page could not be installed (none: installable)."""
    cdp = page.context.new_cdp_session(page)
    try:
        errors = cdp.send("Page.getInstallabilityErrors")["installabilityErrors"]
        return [error["errorId"] for error in errors]
    finally:
        cdp.detach()


def wait_stored(page, timeout: float = 90_000) -> dict:
    """Waits until this version of the app is stored for offline use; its status."""
    page.wait_for_function(
        "() => document.querySelector('#offline').dataset.state === 'complete'", timeout=timeout
    )
    return page.evaluate("window.offline.status()")


def start(page, url: str) -> float:
    """Opens the app; seconds until it is ready to classify (model loaded). The page's console
    is printed (pytest shows it when a test fails)."""
    if not getattr(page, "console_printed", False):
        page.on("console", lambda message: print(f"console {message.type}: {message.text}"))
        page.on("pageerror", lambda error: print(f"pageerror: {error}"))
        page.console_printed = True
    started = time.perf_counter()
    page.goto(url)
    wait_for_app(page)
    return time.perf_counter() - started


def same(got: list, want: list, tolerance: float = 1e-6) -> None:
    assert [i for i, _ in got] == [i for i, _ in want], (got, want)
    assert max(abs(a - b) for (_, a), (_, b) in zip(got, want)) <= tolerance, (got, want)


def keep_offline(page, path: str, keep: bool = True) -> None:
    """Ticks (or unticks) the model's *Keep available offline* box; waits until the panel,
    redrawn from the service worker's status, shows it stored (or not)."""
    page.set_checked(f"#offline-models input[data-path='{path}']", keep)
    page.wait_for_function(
        """([path, keep]) => {
            const box = document.querySelector(`#offline-models input[data-path='${path}']`);
            return box && box.checked === keep && !box.disabled; }""",
        arg=[path, keep],
        timeout=60_000,
    )


def test_offline_network_off_server_stopped_and_browser_restarted(
    playwright_instance, own_site, tmp_path
):
    """A static host (no COOP/COEP): one visit online, then the app works without a network,
    without the server, and after a browser restart; cross-origin isolated every time."""
    profile = tmp_path / "profile"
    launch = lambda: playwright_instance.chromium.launch_persistent_context(  # noqa: E731
        str(profile),
        executable_path=CHROMIUM,
        args=environment.chromium_args(),
        viewport={"width": 1360, "height": 900},
    )
    want = cpython_result(LITE0, "chelsea.png", {"maxResults": 5})["classifications"][0]
    want = [(c["index"], c["score"]) for c in want["categories"]]
    int8_top = cpython_result(LITE0_INT8.split("/")[1], "chelsea.png")["classifications"][0]
    times = {}
    with serving(own_site, isolation=False) as httpd:
        url = httpd.origin + "/"
        context = launch()
        try:
            page = context.pages[0]
            times["first visit (isolation reload included)"] = start(page, url)
            online = classify_on_page(page, "chelsea.png")
            same(online, want, tolerance=1e-4)
            status = wait_stored(page)
            assert status["complete"] and status["stored"] == status["bytes"]
            assert installability_errors(page) == []
            # Nothing of onnxruntime-web is stored for the default (.tflite) model ...
            assert not any(e["stored"] for p, e in status["lazy"].items() if p.startswith("ort/"))
            # ... it is kept with an .onnx model kept offline on demand.
            keep_offline(page, LITE0_INT8)
            kept = wait_stored(page)["lazy"]
            assert kept["ort/ort-wasm-simd-threaded.wasm"]["stored"] and kept[LITE0_INT8]["stored"]
            # What is stored: each cache's size, and the browser's estimate.
            sizes = {
                f"image-classifier-app-{status['version']}": status["bytes"],
                "image-classifier-extra": sum(e["bytes"] for e in kept.values() if e["stored"]),
            }
            page.wait_for_function(
                """(sizes) => {
                    const shown = JSON.parse(document.querySelector('#offline-storage').dataset.caches || '{}');
                    return Object.keys(shown).length === Object.keys(sizes).length
                        && Object.entries(sizes).every(([name, bytes]) => shown[name] === bytes); }""",
                arg=sizes,
            )
            assert "of the" in page.inner_text("#offline-storage")  # navigator.storage.estimate()

            context.set_offline(True)
            try:
                times["network off"] = start(page, url)
                assert page.evaluate("crossOriginIsolated") is True
                same(classify_on_page(page, "chelsea.png"), online)
                page.select_option("#model", LITE0_INT8)
                wait_idle(page)
                assert page.evaluate("window.app.state.classifier.engine.threads") > 1
                top = page.evaluate("document.querySelector('#categories li.category').dataset")
                assert int(top["index"]) == int8_top["categories"][0]["index"]
                # A model that was never stored says so.
                page.select_option("#model", LITE2)
                wait_idle(page)
                assert "not stored for offline use" in page.inner_text("#message")
            finally:
                context.set_offline(False)

            httpd.stop()
            times["server stopped"] = start(page, url)
            same(classify_on_page(page, "chelsea.png"), online)
        finally:
            context.close()

        context = launch()  # the same profile: a browser restart
        try:
            page = context.pages[0]
            times["browser restarted, server stopped"] = start(page, url)
            assert page.evaluate("crossOriginIsolated") is True
            same(classify_on_page(page, "chelsea.png"), online)
            assert page.get_attribute("#offline", "data-state") == "complete"
        finally:
            context.close()
    print(f"\nprecache {status['bytes'] / 1e6:.1f} MB, version {status['version']}")
    for what, seconds in times.items():
        print(f"start to ready ({what}): {seconds:.2f} s")


def test_a_new_deployment_prompts_then_runs_and_drops_the_old_cache(browser, tmp_path):
    web = tmp_path / "web"
    shutil.copytree(
        build_site.WEB, web, ignore=shutil.ignore_patterns("node_modules", "__pycache__")
    )
    site = build_site.build(tmp_path / "site", web=web)
    with serving(site, isolation=True) as httpd:
        context = new_context(browser, httpd.origin)
        try:
            page = context.new_page()
            seconds = start(page, httpd.origin + "/")
            print(f"\nstart to ready (first visit, server with COOP/COEP): {seconds:.2f} s")
            old = wait_stored(page)
            keep_offline(page, LITE0_INT8)
            assert page.evaluate("window.app.deployment") is None
            # A file kept by a version before 744d34c: under its plain URL, its sha256 in a
            # response header. The new version moves it to its key instead of dropping it.
            earlier = "samples/grace_hopper.jpg"
            earlier_sha256 = json.loads((site / "precache.json").read_text())["lazy"][earlier]["sha256"]
            page.evaluate(
                """async ([path, sha256, base64]) => {
                    const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
                    const cache = await caches.open('image-classifier-extra');
                    await cache.put(new URL(path, location.href).href,
                                    new Response(bytes, { headers: { 'X-Content-SHA256': sha256 } })); }""",
                [earlier, earlier_sha256, base64.b64encode((site / earlier).read_bytes()).decode()],
            )

            # Deploy: the same site with one changed file, built into the served folder.
            with (web / "app.mjs").open("a", encoding="utf-8") as file:
                file.write("\nwindow.app.deployment = 'second';\n")
            build_site.build(site, web=web)
            new_version = json.loads((site / "precache.json").read_text())["version"]
            assert new_version != old["version"]

            page.reload()  # the old version still runs; the browser finds the new one
            wait_for_app(page)
            assert page.evaluate("window.app.deployment") is None
            page.wait_for_selector("#update:not([hidden])", timeout=60_000)
            assert "new version" in page.inner_text("#update")
            with page.expect_navigation(timeout=60_000):
                page.click("#update-reload")
            wait_for_app(page)
            assert page.evaluate("window.app.deployment") == "second"
            new = wait_stored(page)
            assert new["version"] == new_version
            names = page.evaluate("caches.keys()")
            assert f"image-classifier-app-{new_version}" in names
            assert f"image-classifier-app-{old['version']}" not in names, names
            # A model kept offline stays kept when the new version did not change it.
            assert new["lazy"][LITE0_INT8]["stored"] is True
            assert new["lazy"][earlier]["stored"] is True  # moved to its key, not dropped
            keys = page.evaluate(
                "caches.open('image-classifier-extra').then((c) => c.keys()).then((r) => r.map((q) => q.url))"
            )
            assert [k for k in keys if earlier in k] == [f"{httpd.origin}/{earlier}?sha256={earlier_sha256}"]
            # Unticked, a kept model's bytes go.
            keep_offline(page, LITE0_INT8, keep=False)
            assert page.evaluate("window.offline.status()")["lazy"][LITE0_INT8]["stored"] is False
            keys = page.evaluate(
                "caches.open('image-classifier-extra').then((c) => c.keys()).then((r) => r.map((q) => q.url))"
            )
            assert not [k for k in keys if LITE0_INT8 in k], keys
            assert page.is_hidden("#update")
            assert classify_on_page(page, "coffee.png")
        finally:
            context.close()


def compiled_modules(page, reload) -> dict[str, dict]:
    """``reload()`` traced: for each module script compiled (the page's and the workers'), what
    V8 reported (``consumedCacheSize`` when it came from the code cache)."""
    cdp = page.context.new_cdp_session(page)
    events, done = [], []
    cdp.on("Tracing.dataCollected", lambda event: events.extend(event["value"]))
    cdp.on("Tracing.tracingComplete", lambda event: done.append(True))
    cdp.send("Tracing.start", {"traceConfig": {"includedCategories": ["v8"]}, "transferMode": "ReportEvents"})
    try:
        reload()
    finally:
        cdp.send("Tracing.end")
        while not done:
            page.wait_for_timeout(100)
        cdp.detach()
    compiled = {}
    for event in events:
        data = event.get("args", {}).get("data", {})
        if event.get("name") == "v8.compileModule" and "url" in data:
            compiled[data["url"].split("/", 3)[3]] = data
    return compiled


def test_stored_as_served_and_the_next_start_uses_the_code_cache(browser, own_site):
    """The service worker stores what the server sent (under its URL and sha256); once the
    app is stored, the page has the runtime's JavaScript compiled for the next starts: the
    worker of the next start takes Pyodide's 1.3 MB from V8's code cache instead of parsing it."""
    with serving(own_site, isolation=True) as httpd:
        context = new_context(browser, httpd.origin)
        try:
            page = context.new_page()
            start(page, httpd.origin + "/")
            status = wait_stored(page)
            page.wait_for_function(
                "(version) => localStorage.getItem('image-classifier-code-cache') === version",
                arg=status["version"],
                timeout=60_000,
            )
            manifest = json.loads((own_site / "precache.json").read_text())["precache"]
            stored = page.evaluate(
                """async (name) => {
                    const cache = await caches.open(name);
                    const out = {};
                    for (const request of await cache.keys()) {
                        const response = await cache.match(request);
                        const key = new URL(request.url);
                        out[key.pathname.slice(1) || './'] = {
                            sha256: key.searchParams.get('sha256'), url: response.url };
                    }
                    return out; }""",
                f"image-classifier-app-{status['version']}",
            )
            assert set(stored) == set(manifest)
            for path, entry in stored.items():
                assert entry["sha256"] == manifest[path]["sha256"], path
                assert entry["url"] == f"{httpd.origin}/{'' if path == './' else path}", path

            compiled = compiled_modules(page, lambda: (page.reload(), wait_for_app(page)))
            pyodide = compiled["pyodide/pyodide.asm.js"]
            assert pyodide.get("consumedCacheSize", 0) > 500_000, pyodide
            assert not pyodide.get("cacheRejected"), pyodide
            assert classify_on_page(page, "chelsea.png")
        finally:
            context.close()


def test_installable(app_page):
    """The manifest's required fields, icons that load at their sizes, a controlling service
    worker, and Chromium's own verdict (no installability errors)."""
    page = app_page
    manifest = page.evaluate("fetch('manifest.webmanifest').then((r) => r.json())")
    assert manifest["name"] and manifest["short_name"]
    assert manifest["display"] == "standalone"
    assert manifest["start_url"] == "./" and manifest["scope"] == "./"
    assert manifest["theme_color"].startswith("#") and manifest["background_color"].startswith("#")
    sizes = {(i["sizes"], i["type"], i.get("purpose", "any")) for i in manifest["icons"]}
    for needed in [
        ("192x192", "image/png", "any"),
        ("512x512", "image/png", "any"),
        ("512x512", "image/png", "maskable"),
        ("any", "image/svg+xml", "any"),
    ]:
        assert needed in sizes
    for icon in manifest["icons"]:
        loaded = page.evaluate(
            """async (src) => { const img = new Image(); img.src = new URL(src, location.href);
                await img.decode(); return [img.naturalWidth, img.naturalHeight]; }""",
            icon["src"],
        )
        if icon["sizes"] != "any":
            assert "x".join(map(str, loaded)) == icon["sizes"], icon
        else:
            assert loaded[0] > 0
    page.wait_for_function("() => navigator.serviceWorker.controller !== null", timeout=60_000)
    cdp = page.context.new_cdp_session(page)
    try:
        assert cdp.send("Page.getAppManifest")["errors"] == []
        errors = cdp.send("Page.getInstallabilityErrors")["installabilityErrors"]
        # The test's browser context is incognito-like; a real profile has no error at all
        # (installability_errors() in the offline test).
        assert [e["errorId"] for e in errors if e["errorId"] != "in-incognito"] == []
    finally:
        cdp.detach()


def test_a_refused_quota_is_explained_and_the_app_works_online(browser, own_site):
    with serving(own_site, isolation=True) as httpd:
        context = new_context(browser, httpd.origin)
        page = context.new_page()
        cdp = context.new_cdp_session(page)
        cdp.send(
            "Storage.overrideQuotaForOrigin", {"origin": httpd.origin, "quotaSize": 20_000_000}
        )
        try:
            start(page, httpd.origin + "/")
            assert classify_on_page(page, "chelsea.png")
            page.wait_for_selector("#offline-error:not([hidden])", timeout=60_000)
            message = page.inner_text("#offline-error")
            assert "Not enough storage to keep the app offline" in message, message
            assert "keeps working online" in message
            assert page.is_visible("#offline-retry")
            # The error arrives first; the panel's state follows once the status is re-read.
            page.wait_for_selector('#offline[data-state="incomplete"]', timeout=30_000)
            # Still classifying, and after a reload still starting (what is missing comes from
            # the network).
            want = cpython_result(LITE0, "coffee.png", {"maxResults": 5})["classifications"][0]
            got = classify_on_page(page, "coffee.png")
            same(got, [(c["index"], c["score"]) for c in want["categories"]], tolerance=1e-4)
            start(page, httpd.origin + "/")
            assert classify_on_page(page, "coffee.png") == got
        finally:
            cdp.send("Storage.overrideQuotaForOrigin", {"origin": httpd.origin})
            context.close()


@pytest.mark.parametrize("size", [192, 512])
def test_png_icons_are_drawn_from_the_svg(server, size):
    """The build draws the PNG icons from icon.svg: the background colour at the centre of an
    edge, white inside the tallest bar, transparent in the rounded corner."""
    import io

    from PIL import Image

    site = build_site.DEFAULT_SITE
    image = Image.open(io.BytesIO((site / f"icons/icon-{size}.png").read_bytes()))
    assert image.size == (size, size) and image.mode == "RGBA"
    scale = size / 64
    assert image.getpixel((int(32 * scale), int(2 * scale))) == (0x1F, 0x6F, 0xEB, 255)
    assert image.getpixel((int(47 * scale), int(30 * scale))) == (255, 255, 255, 255)
    assert image.getpixel((0, 0))[3] == 0
    maskable = Image.open(site / "icons/maskable-512.png")
    assert maskable.getpixel((0, 0)) == (0x1F, 0x6F, 0xEB, 255)  # full bleed
