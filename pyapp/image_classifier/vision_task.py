"""Running-mode rules shared by vision tasks, as MediaPipe's ``base_vision_task_api``.

Which method each mode allows, strictly increasing timestamps, and the live-stream runner
live here once; a task class only says how one frame becomes a result.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Optional

from .live_stream import LatestFrameRunner, LiveStreamStats, Scheduling
from .options import RunningMode, check_int

IMAGE_MODE_STEP_MS = 1000
"""IMAGE mode: MediaPipe stamps each result with an internal clock that advances 1 s a call."""


class VisionTask:
    """Base of the user-facing task classes."""

    def __init__(
        self,
        running_mode: RunningMode,
        live_stream: Optional[Callable[[Any], None]],
        live_stream_scheduling: Optional[Scheduling] = None,
    ):
        self._running_mode = running_mode
        self._last_timestamp_ms: Optional[int] = None
        self._image_mode_calls = 0
        self._timestamp_lock = threading.Lock()
        self._runner = (
            LatestFrameRunner(live_stream, live_stream_scheduling)
            if live_stream is not None
            else None
        )
        self._closed = False

    @property
    def running_mode(self) -> RunningMode:
        return self._running_mode

    @property
    def live_stream_stats(self) -> Optional[LiveStreamStats]:
        """Frames received, processed and dropped in LIVE_STREAM mode; None otherwise."""
        return self._runner.stats if self._runner else None

    @property
    def live_stream_scheduling(self) -> Optional[Scheduling]:
        """What processes LIVE_STREAM frames (a thread, or the host's loop); None otherwise."""
        return self._runner.scheduling if self._runner else None

    def _check_mode(self, expected: RunningMode) -> None:
        if self._closed:
            raise ValueError("The task is closed.")
        if self._running_mode != expected:
            raise ValueError(
                f"Task is not initialized with the {expected.description}. "
                f"Current running mode:{self._running_mode.description}"
            )

    def _next_image_timestamp(self) -> int:
        """IMAGE mode's timestamps, as MediaPipe's: 0, 1000, 2000... one per call."""
        with self._timestamp_lock:
            calls, self._image_mode_calls = self._image_mode_calls, self._image_mode_calls + 1
        return calls * IMAGE_MODE_STEP_MS

    def _check_timestamp(self, timestamp_ms: int) -> int:
        """Accepts only integer timestamps later than every one before (and so never the same
        twice); returns it as an int. TypeError for floats (NaN and infinities included)."""
        timestamp_ms = check_int("timestamp_ms", timestamp_ms)
        with self._timestamp_lock:
            if self._last_timestamp_ms is not None and timestamp_ms <= self._last_timestamp_ms:
                raise ValueError("Input timestamp must be monotonically increasing.")
            self._last_timestamp_ms = timestamp_ms
        return timestamp_ms

    def _send_live_stream(self, frame: Any) -> None:
        assert self._runner is not None
        self._runner.submit(frame)

    def close(self) -> None:
        """Shuts the task down; LIVE_STREAM frames already handed over are finished first.

        Subclasses free their own resources after calling this.
        """
        self._closed = True
        if self._runner is not None:
            self._runner.close()

    def __enter__(self):
        return self

    def __exit__(self, *_exc_info) -> None:
        self.close()
