"""Running-mode rules shared by vision tasks, as MediaPipe's ``base_vision_task_api``.

Which method each mode allows, strictly increasing timestamps, and the live-stream runner
live here once; a task class only says how one frame becomes a result.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Optional

from .live_stream import LatestFrameRunner, LiveStreamStats, Scheduling
from .options import RunningMode


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
            mode_name = {
                RunningMode.IMAGE: "image",
                RunningMode.VIDEO: "video",
                RunningMode.LIVE_STREAM: "live stream",
            }[expected]
            raise ValueError(
                f"Task is not initialized with the {mode_name} mode. "
                f"Current running mode:{self._running_mode.name}"
            )

    def _check_timestamp(self, timestamp_ms: int) -> None:
        """Accepts only timestamps later than every one before (and so never the same twice)."""
        with self._timestamp_lock:
            if self._last_timestamp_ms is not None and timestamp_ms <= self._last_timestamp_ms:
                raise ValueError("Input timestamp must be monotonically increasing.")
            self._last_timestamp_ms = timestamp_ms

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
