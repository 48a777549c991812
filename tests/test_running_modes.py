"""Running modes: which call each mode allows, timestamps, and LIVE_STREAM delivery."""

from __future__ import annotations

import logging
import threading
import time

import pytest
from conftest import model_file, photo

from image_classifier import (
    BaseOptions,
    ImageClassifier,
    ImageClassifierOptions,
    RunningMode,
)
from image_classifier.live_stream import HostScheduling, ThreadScheduling


def create(mode: RunningMode, callback=None, scheduling=None, **options) -> ImageClassifier:
    return ImageClassifier.create_from_options(
        ImageClassifierOptions(
            base_options=BaseOptions(model_asset_path=str(model_file("lite0_int8"))),
            running_mode=mode,
            result_callback=callback,
            **options,
        ),
        live_stream_scheduling=scheduling,
    )


@pytest.mark.parametrize(
    "mode, call, message",
    [
        (RunningMode.IMAGE, "video", "Task is not initialized with the video mode. Current running mode:image mode"),
        (RunningMode.IMAGE, "live", "Task is not initialized with the live stream mode. Current running mode:image mode"),
        (RunningMode.VIDEO, "image", "Task is not initialized with the image mode. Current running mode:video mode"),
        (RunningMode.VIDEO, "live", "Task is not initialized with the live stream mode. Current running mode:video mode"),
        (RunningMode.LIVE_STREAM, "image", "Task is not initialized with the image mode. Current running mode:live stream mode"),
        (RunningMode.LIVE_STREAM, "video", "Task is not initialized with the video mode. Current running mode:live stream mode"),
    ],
)
def test_calling_another_modes_method_is_an_error(mode, call, message):
    callback = (lambda *_: None) if mode == RunningMode.LIVE_STREAM else None
    image = photo("coffee.png")
    with create(mode, callback) as classifier:
        with pytest.raises(ValueError) as error:
            if call == "image":
                classifier.classify(image)
            elif call == "video":
                classifier.classify_for_video(image, 0)
            else:
                classifier.classify_async(image, 0)
    assert str(error.value) == message


def test_live_stream_needs_a_callback():
    with pytest.raises(ValueError) as error:
        create(RunningMode.LIVE_STREAM)
    assert str(error.value) == (
        "The vision task is in live stream mode, a user-defined result callback must be provided."
    )


@pytest.mark.parametrize("mode", [RunningMode.IMAGE, RunningMode.VIDEO])
def test_callback_only_in_live_stream(mode):
    with pytest.raises(ValueError, match="callback should not be provided"):
        create(mode, lambda *_: None)


def test_video_timestamps_must_strictly_increase():
    image = photo("coffee.png")
    with create(RunningMode.VIDEO, max_results=1) as classifier:
        first = classifier.classify_for_video(image, 33)
        assert first.timestamp_ms == 33
        for stale in (33, 10):
            with pytest.raises(ValueError, match="^Input timestamp must be monotonically increasing.$"):
                classifier.classify_for_video(image, stale)
        later = classifier.classify_for_video(image, 66)
    assert later.timestamp_ms == 66
    assert later.classifications == first.classifications


def test_video_equals_image_mode_on_the_same_frame():
    image = photo("grace_hopper.jpg")
    with create(RunningMode.VIDEO) as video, create(RunningMode.IMAGE) as still:
        assert video.classify_for_video(image, 5).classifications == still.classify(image).classifications


def test_live_stream_slow_callback_fast_producer_drops_instead_of_queueing():
    results: list[tuple[int, str]] = []
    done = threading.Event()
    frames = 40

    def slow_callback(result, image, timestamp_ms):
        assert result.timestamp_ms == timestamp_ms
        results.append((timestamp_ms, result.classifications[0].categories[0].category_name))
        time.sleep(0.05)
        if timestamp_ms == frames - 1:
            done.set()

    image = photo("coffee.png")
    with create(RunningMode.LIVE_STREAM, slow_callback, max_results=1) as classifier:
        started = time.perf_counter()
        for timestamp in range(frames):
            classifier.classify_async(image, timestamp)
        submit_seconds = time.perf_counter() - started
        assert done.wait(10), "the last frame was never delivered"
        stats = classifier.live_stream_stats
    stamps = [t for t, _ in results]
    assert 0 < len(results) < frames
    assert stamps == sorted(set(stamps)), "result timestamps must strictly increase"
    assert stamps[-1] == frames - 1, "the newest frame always wins"
    assert all(name == "espresso" for _, name in results)
    assert stats.received == frames
    assert stats.processed + stats.dropped == frames
    assert stats.processed == len(results)
    # classify_async never waited for inference: 40 hand-overs took less than 2 results' time.
    assert submit_seconds < 0.1


def test_live_stream_rejects_stale_timestamps_at_once():
    with create(RunningMode.LIVE_STREAM, lambda *_: None) as classifier:
        classifier.classify_async(photo("coffee.png"), 100)
        with pytest.raises(ValueError, match="monotonically increasing"):
            classifier.classify_async(photo("coffee.png"), 100)


def test_live_stream_callback_errors_are_logged_not_raised(caplog):
    calls = []

    def failing_callback(result, image, timestamp_ms):
        calls.append(timestamp_ms)
        raise RuntimeError("callback exploded")

    with caplog.at_level(logging.ERROR):
        with create(RunningMode.LIVE_STREAM, failing_callback) as classifier:
            classifier.classify_async(photo("coffee.png"), 1)
            deadline = time.monotonic() + 10
            while not calls and time.monotonic() < deadline:
                time.sleep(0.01)
            classifier.classify_async(photo("coffee.png"), 2)
    assert calls[-1] == 2, "the stream keeps running after a callback error"
    assert "callback exploded" in caplog.text


def test_closed_classifier_refuses_work():
    classifier = create(RunningMode.IMAGE)
    classifier.close()
    with pytest.raises(ValueError, match="closed"):
        classifier.classify(photo("coffee.png"))


def test_live_stream_runs_on_a_thread_by_default_on_cpython():
    with create(RunningMode.LIVE_STREAM, lambda *_: None) as classifier:
        assert isinstance(classifier.live_stream_scheduling, ThreadScheduling)
    with create(RunningMode.VIDEO) as classifier:
        assert classifier.live_stream_scheduling is None and classifier.live_stream_stats is None


def test_live_stream_driven_by_the_host_without_threads():
    """HostScheduling (what Pyodide uses): frames wait until the host calls run_pending();
    the same runner drops all but the latest and keeps result timestamps increasing."""
    results = []
    woken = []
    scheduling = HostScheduling(on_frame_waiting=lambda: woken.append(1))
    cat, coffee = photo("chelsea.png"), photo("coffee.png")
    threads_before = threading.active_count()
    with create(
        RunningMode.LIVE_STREAM,
        lambda result, image, ts: results.append((ts, result.classifications[0].categories[0].category_name)),
        scheduling,
        max_results=1,
    ) as classifier:
        assert classifier.live_stream_scheduling is scheduling
        assert not scheduling.pending and scheduling.run_pending() is False
        for timestamp, frame in [(1, cat), (2, cat), (3, coffee)]:
            classifier.classify_async(frame, timestamp)
        # The first frame after idle is taken (never dropped); 3 replaced 2 while waiting.
        assert results == [] and scheduling.pending and len(woken) == 3
        assert scheduling.run_pending() is True
        assert results == [(1, "Egyptian cat")]
        assert scheduling.run_pending() is True
        assert results == [(1, "Egyptian cat"), (3, "espresso")]
        classifier.classify_async(cat, 4)
        classifier.classify_async(cat, 5)
        assert scheduling.run_pending() and scheduling.run_pending()
        assert not scheduling.run_pending()
        classifier.classify_async(coffee, 6)  # still waiting at close: close() processes it
        stats = classifier.live_stream_stats
    assert threading.active_count() == threads_before, "no thread was started"
    assert results[2:] == [(4, "Egyptian cat"), (5, "Egyptian cat"), (6, "espresso")]
    assert (stats.received, stats.processed, stats.dropped, stats.waiting) == (6, 5, 1, 0)
    assert stats.max_waiting == 1


def test_live_stream_frame_after_work_replaces_the_waiting_one():
    """A frame that arrives after the engine finished, while an older frame still waits for
    the host, replaces that one: results never go back in time (the page's camera saw this
    when a frame came in between the end of one run and the host's next run_pending)."""
    results = []
    scheduling = HostScheduling()
    cat = photo("chelsea.png")

    def callback(result, image, timestamp):
        results.append(timestamp)
        if timestamp == 1:
            classifier.classify_async(cat, 2)  # arrives while frame 1 is in work: waits

    with create(RunningMode.LIVE_STREAM, callback, scheduling, max_results=1) as classifier:
        classifier.classify_async(cat, 1)
        assert scheduling.run_pending() is True
        classifier.classify_async(cat, 3)  # the engine is free, but frame 2 still waits
        while scheduling.run_pending():
            pass
        stats = classifier.live_stream_stats
    assert results == [1, 3]
    assert (stats.received, stats.processed, stats.dropped, stats.waiting) == (3, 2, 1, 0)


def test_host_scheduling_serves_one_task():
    scheduling = HostScheduling()
    with create(RunningMode.LIVE_STREAM, lambda *_: None, scheduling):
        with pytest.raises(ValueError, match="one task"):
            create(RunningMode.LIVE_STREAM, lambda *_: None, scheduling)


@pytest.mark.parametrize("warm", [False, True])
def test_warm_up_runs_the_engine_unless_it_has_run_the_model(warm):
    """warm_up classifies once and leaves nothing behind (no timings, no timestamp taken); an
    engine that has run the model already (``warm``: the browser's preloaded model) is not
    run again."""
    with create(RunningMode.VIDEO) as classifier:
        engine = classifier._interpreter
        runs = []
        invoke = engine.invoke
        engine.invoke = lambda: (runs.append(1), invoke())[-1]
        engine.warm = warm
        classifier.warm_up(photo("coffee.png"))
        assert runs == ([] if warm else [1])
        assert classifier.last_timings_ms == {}
        result = classifier.classify_for_video(photo("coffee.png"), 0)
        assert runs == ([1] if warm else [1, 1])
        assert result.timestamp_ms == 0 and result.classifications[0].categories
