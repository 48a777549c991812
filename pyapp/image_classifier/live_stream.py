"""LIVE_STREAM delivery: one frame in work, at most one waiting, the latest one wins.

A camera produces frames faster than a slow model consumes them; queueing them would only
add latency. So a frame that arrives while another one waits replaces it (and is counted as
dropped), and results always describe the newest frame the engine could take.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any, Callable, Optional

_log = logging.getLogger(__name__)


@dataclass
class LiveStreamStats:
    """Counters a UI or a test can read: frames received, processed and dropped."""

    received: int = 0
    processed: int = 0
    dropped: int = 0


class LatestFrameRunner:
    """Runs ``process(frame)`` on a worker thread for the latest submitted frame.

    Errors raised by ``process`` (which includes the user's callback) are logged, never
    raised to the producer, as MediaPipe does for its live-stream graphs.
    """

    def __init__(self, process: Callable[[Any], None]) -> None:
        self._process = process
        self._condition = threading.Condition()
        self._waiting: Optional[Any] = None
        self._closed = False
        self._thread: Optional[threading.Thread] = None
        self.stats = LiveStreamStats()

    def submit(self, frame: Any) -> None:
        """Hands a frame over and returns at once."""
        with self._condition:
            if self._closed:
                raise RuntimeError("The task is closed.")
            self.stats.received += 1
            if self._waiting is not None:
                self.stats.dropped += 1
            self._waiting = frame
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="image-classifier-live-stream", daemon=True
                )
                self._thread.start()
            self._condition.notify()

    def _run(self) -> None:
        while True:
            with self._condition:
                while self._waiting is None and not self._closed:
                    self._condition.wait()
                if self._waiting is None:
                    return
                frame, self._waiting = self._waiting, None
            try:
                self._process(frame)
            except Exception:
                _log.exception("Live stream processing failed")
            with self._condition:
                self.stats.processed += 1
                self._condition.notify_all()

    def close(self) -> None:
        """Finishes the frame in work and the one waiting, then stops the thread."""
        with self._condition:
            self._closed = True
            self._condition.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()
