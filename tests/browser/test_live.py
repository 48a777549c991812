"""LIVE_STREAM from a (fake) camera and VIDEO from a real video file, in the page and the JS API.

The camera is Chromium's fake capture device playing a y4m clip made here from the test
photos (the cat for 2 s, then the espresso for 2 s, looped). A second Chromium is launched for
it, without --use-fake-ui-for-media-stream, so each context's permissions decide: a context
without the camera permission is denied, one granted it gets the fake camera. The session's
own browser has no camera at all.
"""

from __future__ import annotations

import csv
import io
import json
import time

import pytest

from .conftest import _console, new_context
from .media import write_video, write_y4m
from .support import IMAGES, build_site, environment, wait_idle

LITE0 = build_site.DEFAULT_MODEL  # the page's default model
LITE0_INT8 = "efficientnet_lite0_int8.onnx"
CATS = {"Egyptian cat", "tabby", "tiger cat"}
CAMERA_DENIED = "Camera access was denied."
NO_CAMERA = "No camera was found."
CAMERA_GONE = "The camera stopped sending video"


@pytest.fixture(autouse=True)
def _scroll_back(request):
    """Clicks here scroll the shared app page down to the camera and video panels; the other
    page tests draw on the image at the top, so it is scrolled back. The camera page's camera
    is left off."""
    yield
    if "app_page" in request.fixturenames:
        request.getfixturevalue("app_page").evaluate("window.scrollTo(0, 0)")
    if "camera_page" in request.fixturenames:
        # A test that failed midway leaves the camera on; the next one starts it again.
        request.getfixturevalue("camera_page").evaluate(
            "document.body.dataset.camera === 'off' || document.getElementById('camera-stop').click()"
        )


@pytest.fixture(scope="module")
def camera_clip(tmp_path_factory):
    return write_y4m(
        tmp_path_factory.mktemp("camera") / "camera.y4m", [("chelsea.png", 60), ("coffee.png", 60)]
    )


@pytest.fixture(scope="module")
def camera_browser(playwright_instance, camera_clip):
    browser = environment.launch_chromium(
        playwright_instance,
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={camera_clip}",
    )
    yield browser
    browser.close()


@pytest.fixture(scope="module")
def camera_page(camera_browser, server):
    """The app in a context of the camera browser, without the camera permission (yet)."""
    context = new_context(camera_browser, server)
    page = context.new_page()
    page.console_lines = []
    _console(page, page.console_lines)
    page.goto(server + "/")
    page.wait_for_function("() => window.app && window.app.state.classifier", timeout=90_000)
    wait_idle(page)
    yield page
    context.close()


def camera_message(page) -> str:
    return page.evaluate(
        "document.getElementById('camera-message').hidden ? '' : "
        "document.getElementById('camera-message').textContent"
    )


def top_shown(page) -> str:
    return page.evaluate("document.querySelector('#categories li.category .name').textContent")


def still_classifies(page, photo: str = "coffee.png", name: str = "espresso") -> None:
    """The rest of the app keeps working: a photo is classified as before."""
    page.set_input_files("#file", str(IMAGES / photo))
    wait_idle(page)
    assert top_shown(page) == name


def start_camera(page) -> None:
    page.click("#camera-start")
    page.wait_for_function(
        "() => ['on', 'off'].includes(document.body.dataset.camera)", timeout=60_000
    )


def check_stream_invariants(results: list[dict], stats: dict) -> None:
    stamps = [r["timestampMs"] for r in results]
    assert all(a < b for a, b in zip(stamps, stamps[1:])), f"result timestamps strictly increase: {stamps}"
    assert stats["maxWaiting"] <= 1, "at most one frame ever waits"
    assert stats["waiting"] in (0, 1)
    # Every frame handed over was either classified, dropped for a newer one, or still waits
    # (one may also be in the engine right now).
    in_work = stats["received"] - stats["processed"] - stats["dropped"] - stats["waiting"]
    assert in_work in (0, 1), stats


def test_camera_denied_then_granted_follows_the_frames(camera_page):
    page = camera_page
    # No permission: MediaPipe-free, clear message; the rest of the app keeps working.
    start_camera(page)
    assert page.evaluate("document.body.dataset.camera") == "off"
    assert camera_message(page).startswith(CAMERA_DENIED), camera_message(page)
    still_classifies(page)

    page.context.grant_permissions(["camera"])
    start_camera(page)
    assert camera_message(page) == ""
    assert page.evaluate("document.body.dataset.camera") == "on"
    assert page.text_content("#live-transport") == "MediaStreamTrackProcessor"
    cameras = page.evaluate("[...document.getElementById('camera-select').options].map(o => o.text)")
    assert cameras[0] == "Default camera" and cameras[1].endswith("camera.y4m")  # its label
    # Cat frames first, then espresso frames: the labels follow the clip.
    page.wait_for_function(
        """() => { const r = window.app.live.camera.results;
                   const cat = r.findIndex((x) => ['Egyptian cat', 'tabby', 'tiger cat'].includes(x.name));
                   return cat >= 0 && r.slice(cat).some((x) => x.name === 'espresso'); }""",
        timeout=60_000,
    )
    camera = page.evaluate(
        "({results: app.live.camera.results, stats: app.live.camera.stats, fps: app.live.camera.fps,"
        " latency: app.live.camera.latencyMs})"
    )
    results, stats = camera["results"], camera["stats"]
    names = [r["name"] for r in results]
    print(f"camera: {len(results)} results, stats {stats}, fps {camera['fps']}, "
          f"latency {camera['latency']} ms, labels {names[:3]} ... {names[-3:]}")
    assert set(names) <= CATS | {"espresso", "cup", "coffee mug"}, set(names)
    check_stream_invariants(results, stats)
    # The overlay and the counters show it.
    assert page.text_content("#camera-overlay li") != ""
    assert page.text_content("#live-latency").endswith(" ms")
    assert int(page.text_content("#live-received")) >= len(results)

    # The camera disappears (its track ends without the user asking): a clear message.
    page.evaluate("document.getElementById('camera-video').srcObject.getVideoTracks()[0].stop()")
    page.wait_for_function("() => document.body.dataset.camera === 'off'", timeout=30_000)
    assert camera_message(page).startswith(CAMERA_GONE), camera_message(page)
    still_classifies(page, "chelsea.png", "Egyptian cat")


def test_camera_start_stop_restart(camera_page):
    page = camera_page
    page.context.grant_permissions(["camera"])
    start_camera(page)
    page.wait_for_function("() => app.live.camera.results.length >= 3", timeout=60_000)
    page.click("#camera-stop")
    page.wait_for_function("() => document.body.dataset.camera === 'off'")
    assert camera_message(page) == ""
    assert page.evaluate("document.getElementById('camera-video').srcObject") is None
    start_camera(page)  # a new classifier; the camera's timestamps keep increasing
    page.wait_for_function("() => app.live.camera.results.length >= 3", timeout=60_000)
    page.click("#camera-stop")
    page.wait_for_function("() => document.body.dataset.camera === 'off'")


def test_js_api_stream_with_posted_image_bitmaps(camera_page):
    """The fallback where MediaStreamTrackProcessor is missing: one ImageBitmap per frame."""
    page = camera_page
    page.context.grant_permissions(["camera"])
    out = page.evaluate(
        """async (model) => {
            const { ImageClassifier } = await import('/image-classifier.mjs');
            const results = [];
            const classifier = await ImageClassifier.createFromOptions({
              baseOptions: {modelAssetPath: '/models/' + model}, runningMode: 'LIVE_STREAM', maxResults: 1,
              resultCallback: (result, timestampMs) => results.push({timestampMs,
                  name: result.classifications[0].categories[0].categoryName}),
            });
            const media = await navigator.mediaDevices.getUserMedia({video: {width: 640, height: 480}});
            const stream = classifier.classifyStream(media.getVideoTracks()[0], {transport: 'ImageBitmap'});
            while (results.length < 5) await new Promise((r) => setTimeout(r, 50));
            stream.stop();
            const reason = await stream.ended;
            media.getTracks().forEach((t) => t.stop());
            await classifier.close();
            return {transport: stream.transport, reason, results, stats: classifier.liveStreamStats};
        }""",
        LITE0_INT8,
    )
    print("ImageBitmap transport:", out["stats"], [r["name"] for r in out["results"]])
    assert out["transport"] == "ImageBitmap" and out["reason"] == "stopped"
    check_stream_invariants(out["results"], out["stats"])
    assert {r["name"] for r in out["results"]} <= CATS | {"espresso", "cup", "coffee mug"}


def test_no_camera(app_page):
    """The session's browser has no camera device at all."""
    start_camera(app_page)
    assert app_page.evaluate("document.body.dataset.camera") == "off"
    assert camera_message(app_page).startswith(NO_CAMERA), camera_message(app_page)
    still_classifies(app_page)


# --- JS API: classifyAsync, and memory over a long run ----------------------------------------


def test_classify_async_latest_frame_wins_and_equals_image_mode(api_page):
    out = api_page.evaluate(
        """async (model) => {
            const results = [];
            const options = {baseOptions: {modelAssetPath: '/models/' + model}, maxResults: 3};
            const classifier = await ImageClassifier.createFromOptions({...options,
                runningMode: 'LIVE_STREAM', resultCallback: (r, ts) => results.push([ts, r])});
            const still = await ImageClassifier.createFromOptions(options);
            const cat = await imageAs('chelsea.png', 'ImageData');
            const coffee = await imageAs('coffee.png', 'VideoFrame');
            const errors = [];
            // Not awaited: frames pile up while the engine computes; Python keeps the newest.
            const handOvers = [];
            for (let i = 1; i <= 30; i++) handOvers.push(classifier.classifyAsync(i < 30 ? cat : coffee, i * 10));
            await Promise.all(handOvers);
            try { await classifier.classifyAsync(cat, 300); } catch (e) { errors.push(e.message); }
            try { await still.classifyAsync(cat, 1); } catch (e) { errors.push(e.message); }
            await classifier.close();  // the frame still waiting is classified first
            const want = {cat: await still.classify(cat), coffee: await still.classify(coffee)};
            await still.close();
            return {results, stats: classifier.liveStreamStats, errors, want};
        }""",
        LITE0,
    )
    results, stats = out["results"], out["stats"]
    print("classifyAsync:", stats, [ts for ts, _ in results])
    assert out["errors"] == [
        "Input timestamp must be monotonically increasing.",
        "Task is not initialized with the live stream mode. Current running mode:image mode",
    ]
    assert stats["received"] == 30 and stats["maxWaiting"] == 1 and stats["waiting"] == 0
    assert stats["processed"] + stats["dropped"] == 30 and stats["dropped"] > 0
    stamps = [ts for ts, _ in results]
    assert all(a < b for a, b in zip(stamps, stamps[1:])) and stamps[-1] == 300
    for ts, result in results:
        assert result["timestampMs"] == ts
        want = out["want"]["coffee" if ts == 300 else "cat"]
        assert result["classifications"] == want["classifications"]


def worker_heap(page):
    """JS heap of the classifier worker (CDP Runtime.getHeapUsage after a forced GC)."""
    cdp = page.context.new_cdp_session(page)
    sessions, replies = {}, {}
    cdp.on("Target.attachedToTarget", lambda e: sessions.__setitem__(e["targetInfo"]["url"], e["sessionId"]))
    cdp.on("Target.receivedMessageFromTarget", lambda e: replies.update({json.loads(e["message"]).get("id"): json.loads(e["message"])}))
    cdp.send("Target.setAutoAttach", {"autoAttach": True, "waitForDebuggerOnStart": False, "flatten": False})
    deadline = time.monotonic() + 10
    while not any(u.endswith("/worker.mjs") for u in sessions) and time.monotonic() < deadline:
        page.wait_for_timeout(20)
    session = next(s for u, s in sessions.items() if u.endswith("/worker.mjs"))
    counter = [0]

    def send(method):
        counter[0] += 1
        cdp.send("Target.sendMessageToTarget", {"sessionId": session, "message": json.dumps({"id": counter[0], "method": method})})
        deadline = time.monotonic() + 30
        while counter[0] not in replies and time.monotonic() < deadline:
            page.wait_for_timeout(10)
        return replies[counter[0]]["result"]

    def measure() -> int:
        send("HeapProfiler.collectGarbage")
        return send("Runtime.getHeapUsage")["usedSize"]

    return measure, cdp


def test_long_run_memory_stays_flat(api_page):
    """2400 frames (320x240) as fast as the JS API takes them (int8 model): after 400 frames
    of warm-up, the worker's memories stay flat. Bounds: each WebAssembly heap (Pyodide's,
    onnxruntime's) grows by at most 8 MB (26 leaked frames), the worker's JS heap (after a
    forced GC) by at most 3 MB."""
    measure_heap, cdp = worker_heap(api_page)
    api_page.evaluate(
        """async (model) => {
            window.longRun = {results: 0};
            window.longRun.classifier = await ImageClassifier.createFromOptions({
                baseOptions: {modelAssetPath: '/models/' + model}, runningMode: 'LIVE_STREAM',
                maxResults: 1, resultCallback: () => { window.longRun.results += 1; }});
            const canvas = new OffscreenCanvas(320, 240);
            const context = canvas.getContext('2d');
            const photos = [await imageAs('chelsea.png', 'ImageBitmap'), await imageAs('coffee.png', 'ImageBitmap')];
            window.longRun.frames = photos.map((p) => { context.drawImage(p, 0, 0, 320, 240); return context.getImageData(0, 0, 320, 240); });
            window.longRun.next = 1;
            window.longRun.feed = async (count) => {
              const run = window.longRun;
              for (let i = 0; i < count; i++, run.next++) {
                const handOver = run.classifier.classifyAsync(run.frames[(run.next >> 6) & 1], run.next);
                if (i % 16 === 15) await handOver;  // frames in flight, as from a fast camera
              }
              await run.classifier.classifyAsync(run.frames[0], run.next++);
              while (run.classifier.liveStreamStats.waiting) await new Promise((r) => setTimeout(r, 20));
              await new Promise((r) => setTimeout(r, 200));
              return {stats: run.classifier.liveStreamStats, results: run.results,
                      memory: (await api.loadRuntime()).memory};
            };
        }""",
        LITE0_INT8,
    )
    started = time.perf_counter()
    warm = api_page.evaluate("longRun.feed(400)")
    heaps = [measure_heap()]
    memories = [warm["memory"]]
    for _ in range(2):
        run = api_page.evaluate("longRun.feed(1000)")
        heaps.append(measure_heap())
        memories.append(run["memory"])
    seconds = time.perf_counter() - started
    api_page.evaluate("longRun.classifier.close()")
    cdp.detach()
    stats = run["stats"]
    print(f"long run: {stats} in {seconds:.1f} s, {run['results']} results; "
          f"wasm (MB) {[(m['pyodideWasm'] / 1e6, m['engineWasm'] / 1e6) for m in memories]}, "
          f"worker JS heap (MB) {[round(h / 1e6, 2) for h in heaps]}")
    assert stats["received"] >= 2400 and stats["maxWaiting"] == 1
    assert stats["processed"] + stats["dropped"] == stats["received"]
    assert stats["processed"] >= 50
    for key in ("pyodideWasm", "engineWasm"):
        growth = max(m[key] for m in memories) - memories[0][key]
        assert growth <= 8e6, f"{key} grew by {growth / 1e6:.1f} MB after warm-up"
    assert max(heaps) - heaps[0] <= 3e6, f"worker JS heap grew: {heaps}"


# --- VIDEO: a real video file ---------------------------------------------------------------

VIDEO_SCENES = [("chelsea.png", 5), ("coffee.png", 5)]  # 10 frames at 10 fps: media times 0..900 ms


@pytest.fixture(scope="module")
def video_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("video")
    return {
        suffix: write_video(folder / f"clip.{suffix}", VIDEO_SCENES, fps=10)
        for suffix in ("webm", "mp4")
    }


def classify_video_in_page(page, path, every: int) -> list[dict]:
    page.fill("#video-every", str(every))
    runs = page.evaluate("app.live.video.runs")
    page.set_input_files("#video-file", str(path))
    page.wait_for_function(f"() => app.live.video.runs > {runs}", timeout=60_000)
    assert page.evaluate(
        "document.getElementById('video-message').hidden"
    ), page.text_content("#video-message")
    return page.evaluate("app.live.video.results")


def image_mode_on_the_same_frames(page, timestamps: list[int]) -> list[dict]:
    """IMAGE-mode results on the frames at these media times, read from the same file by a
    video element of their own."""
    return page.evaluate(
        """async ([timestamps, model]) => {
            const video = document.createElement('video');
            video.muted = true;
            video.src = URL.createObjectURL(app.live.video.file);
            await new Promise((r) => { video.onloadeddata = r; });
            const classifier = await (await import('/image-classifier.mjs')).ImageClassifier.createFromOptions(
                {baseOptions: {modelAssetPath: '/models/' + model}, maxResults: 5});
            const out = [];
            for (const ms of timestamps) {
              video.currentTime = ms / 1000 + 0.001;
              await new Promise((r) => { video.onseeked = r; });
              // Right after 'seeked' the element may still show the previous frame, or have
              // none to give for a moment (InvalidStateError).
              let frame = null;
              for (let tries = 0; tries < 40; tries++) {
                try {
                  const shown = new VideoFrame(video);
                  frame?.close();
                  frame = shown;
                  if (frame.timestamp / 1000 === ms) break;
                } catch (error) {
                  if (error.name !== 'InvalidStateError') throw error;
                }
                await new Promise((r) => setTimeout(r, 25));
              }
              out.push({frameMs: frame.timestamp / 1000, result: await classifier.classify(frame)});
              frame.close();
            }
            await classifier.close();
            return out;
        }""",
        [timestamps, LITE0],
    )


@pytest.mark.parametrize("suffix", ["webm", "mp4"])
def test_video_file_every_frame_timestamps_and_image_mode(app_page, video_files, suffix):
    results = classify_video_in_page(app_page, video_files[suffix], every=1)
    stamps = [r["timestampMs"] for r in results]
    assert stamps == [i * 100 for i in range(10)], stamps
    same = image_mode_on_the_same_frames(app_page, stamps)
    for result, reference in zip(results, same):
        assert reference["frameMs"] == result["timestampMs"]
        assert result["classifications"] == reference["result"]["classifications"]
    names = [r["classifications"][0]["categories"][0]["categoryName"] for r in results]
    print(f"{suffix}: {names}")
    assert names[0] in CATS and names[-1] == "espresso"
    # The timeline chart plots the top classes; the legend names them.
    assert app_page.locator("#timeline polyline").count() >= 2
    legend = app_page.evaluate("[...document.querySelectorAll('#timeline-legend li')].map(li => li.textContent)")
    assert "espresso" in legend and CATS & set(legend)


def test_video_every_nth_frame_and_exports(app_page, video_files):
    results = classify_video_in_page(app_page, video_files["webm"], every=3)
    stamps = [r["timestampMs"] for r in results]
    assert stamps == [0, 300, 600, 900], stamps
    with app_page.expect_download() as download_info:
        app_page.click("#video-export-json")
    exported = json.loads(download_info.value.path().read_text())
    assert download_info.value.suggested_filename == "clip.classifications.json"
    assert exported["source"] == "clip.webm" and exported["everyNthFrame"] == 3
    assert exported["frames"] == results
    with app_page.expect_download() as download_info:
        app_page.click("#video-export-csv")
    rows = list(csv.DictReader(io.StringIO(download_info.value.path().read_text())))
    assert len(rows) == sum(len(r["classifications"][0]["categories"]) for r in results)
    first = results[0]["classifications"][0]["categories"][0]
    assert rows[0]["timestamp_ms"] == "0" and rows[0]["rank"] == "1"
    assert rows[0]["category_name"] == first["categoryName"]
    assert float(rows[0]["score"]) == pytest.approx(first["score"], abs=1e-12)
    assert {int(r["timestamp_ms"]) for r in rows} == set(stamps)
