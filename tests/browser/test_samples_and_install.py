"""The page's sample photos (one click to a result) and its Install button."""

from __future__ import annotations

import re
import tempfile

from .support import (
    IMAGES,
    build_site,
    classify_on_page,
    cpython_result,
    environment,
    page_results,
    wait_for_app,
    wait_idle,
)


def test_samples_are_redistributable_test_photos():
    """Every sample is a test photo whose licence (tests/images/SOURCES.md) lets us serve it."""
    sources = (IMAGES / "SOURCES.md").read_text(encoding="utf-8")
    for name in build_site.SAMPLE_PHOTOS:
        row = re.search(rf"^\| {re.escape(name)} \|.*$", sources, re.MULTILINE)
        assert row, f"{name} is not in tests/images/SOURCES.md"
        assert re.search(r"CC0|public domain", row.group(0)), row.group(0)


def test_a_sample_is_one_click_from_a_result(app_page):
    """A click on a sample shows what the same photo chosen as a file shows, and CPython's
    top category (the page's model may be any: the engines' own agreement is tested elsewhere)."""
    assert app_page.locator("[data-sample]").count() == len(build_site.SAMPLE_PHOTOS)
    runs = app_page.evaluate("window.app.state.runs")
    app_page.get_by_role("button", name="Cat").click()
    app_page.wait_for_function("(runs) => window.app.state.runs > runs", arg=runs, timeout=60_000)
    wait_idle(app_page)
    assert app_page.locator("#image-info").inner_text().startswith("chelsea.png")
    clicked = [tuple(shown) for shown in page_results(app_page)]
    assert clicked and clicked == classify_on_page(app_page, "chelsea.png")
    model = app_page.evaluate("document.getElementById('model').value").split("/")[-1]
    want = cpython_result(model, "chelsea.png", {"maxResults": 1})
    assert clicked[0][0] == want["classifications"][0]["categories"][0]["index"]


def test_install_hidden_when_not_offered(app_page):
    """Playwright's contexts are incognito, where Chromium offers no installation."""
    errors = app_page.context.new_cdp_session(app_page).send("Page.getInstallabilityErrors")
    assert "in-incognito" in [e["errorId"] for e in errors["installabilityErrors"]]
    assert app_page.locator("#install").is_hidden()


def test_install_shown_and_wired_when_offered(playwright_instance, server):
    """A profile on disk (not incognito): headless Chromium itself finds the app installable
    and fires a real beforeinstallprompt; the button appears, and a click calls the event's
    prompt(). The browser's install dialog then waits for a person (headless, its promise never
    settles), so a spy on the real prompt() (which it still calls) shows the click reached it."""
    spy = """addEventListener('beforeinstallprompt', (event) => {
        const prompt = event.prompt;
        window.promptCalls = 0;
        event.prompt = function () { window.promptCalls += 1; return prompt.call(this); };
    });"""
    with tempfile.TemporaryDirectory() as profile:
        context = playwright_instance.chromium.launch_persistent_context(
            profile, executable_path=str(environment.CHROMIUM), args=environment.chromium_args()
        )
        try:
            page = context.new_page()
            page.add_init_script(spy)
            page.goto(server + "/")
            wait_for_app(page)
            button = page.locator("#install")
            button.wait_for(state="visible", timeout=30_000)
            button.click()
            page.wait_for_function("() => window.promptCalls === 1", timeout=10_000)
            assert button.is_hidden()  # an offer is shown once
        finally:
            context.close()
