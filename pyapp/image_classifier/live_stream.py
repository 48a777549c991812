"""LIVE_STREAM delivery: one frame in work, at most one waiting, the latest one wins.

A camera produces frames faster than a slow model consumes them; queueing them would only
add latency. So, as MediaPipe's flow limiter: a frame that arrives while the runner is idle is
taken at once (it is never dropped, even when more frames follow before the engine starts on
it); a frame that arrives while another one is taken, in work or waiting, waits, and replaces
the one waiting (which is counted as dropped). So frames are processed in the order they came,
and results always describe the newest frame the engine could take.

That policy lives here once, in ``LatestFrameRunner``. *When* the waiting frame gets processed
is a separate, pluggable choice, its ``Scheduling``:

- ``ThreadScheduling`` (CPython): a worker thread takes each frame as soon as it waits.
- ``HostScheduling`` (Pyodide, which has no threads): the host's event loop calls
  ``run_pending()`` whenever it is free; in the browser worker that is web/worker.mjs, after
  it hands a frame over.

``default_scheduling()`` picks one for the platform, once.
"""

from __future__ import annotations

import logging
import sys
import threading
from dataclasses import dataclass
from typing import Any, Callable, Optional, Protocol

_log = logging.getLogger(__name__)


@dataclass
class LiveStreamStats:
    """Counters a UI or a test can read.

    Attributes:
      received: Frames handed over (``classify_async`` calls that were accepted).
      processed: Frames taken by the engine (a result was delivered, or its error logged).
      dropped: Frames replaced by a newer one before the engine could take them.
      waiting: Frames waiting now (0 or 1), besides the one taken.
      max_waiting: The most frames ever waiting at once (never more than 1).

    ``received == processed + dropped + waiting`` once no frame is taken or in work.
    """

    received: int = 0
    processed: int = 0
    dropped: int = 0
    waiting: int = 0
    max_waiting: int = 0


class Scheduling(Protocol):
    """Decides when a waiting frame gets processed (see the module's docstring)."""

    def attach(self, runner: LatestFrameRunner) -> None:
        """Called once, by the runner this scheduling serves."""

    def frame_waiting(self) -> None:
        """A frame was just handed over (it may have replaced the one waiting)."""

    def close(self) -> None:
        """Finishes the frame in work and the one waiting, then stops."""


class LatestFrameRunner:
    """Runs ``process(frame)`` for the latest submitted frame, one frame at a time.

    Errors raised by ``process`` (which includes the user's callback) are logged, never
    raised to the producer, as MediaPipe does for its live-stream graphs.
    """

    def __init__(
        self, process: Callable[[Any], None], scheduling: Optional[Scheduling] = None
    ) -> None:
        self._process = process
        self._lock = threading.Lock()
        self._taken: Optional[Any] = None  # taken while idle: processed next, never dropped
        self._waiting: Optional[Any] = None
        self._in_work = False
        self._closed = False
        self.stats = LiveStreamStats()
        self.scheduling = scheduling if scheduling is not None else default_scheduling()
        self.scheduling.attach(self)

    def submit(self, frame: Any) -> None:
        """Hands a frame over and returns at once; a frame still waiting is dropped."""
        with self._lock:
            if self._closed:
                raise RuntimeError("The task is closed.")
            self.stats.received += 1
            if not self._in_work and not self.has_waiting:
                self._taken = frame
            else:
                if self._waiting is not None:
                    self.stats.dropped += 1
                self._waiting = frame
                self.stats.waiting = 1
                self.stats.max_waiting = 1
        self.scheduling.frame_waiting()

    @property
    def has_waiting(self) -> bool:
        return self._taken is not None or self._waiting is not None

    def process_waiting(self) -> bool:
        """Processes the waiting frame, if there is one and no other frame is in work.

        Called by the scheduling only. Returns True when it processed a frame.
        """
        with self._lock:
            if self._in_work or not self.has_waiting:
                return False
            if self._taken is not None:
                frame, self._taken = self._taken, None
            else:
                frame, self._waiting = self._waiting, None
                self.stats.waiting = 0
            self._in_work = True
        try:
            self._process(frame)
        except Exception:
            _log.exception("Live stream processing failed")
        finally:
            with self._lock:
                self._in_work = False
                self.stats.processed += 1
        return True

    def close(self) -> None:
        """Refuses new frames; finishes the frame in work and the one waiting."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self.scheduling.close()


class ThreadScheduling:
    """A worker thread processes each frame as soon as it waits (CPython)."""

    def __init__(self) -> None:
        self._runner: Optional[LatestFrameRunner] = None
        self._wake = threading.Condition()
        self._thread: Optional[threading.Thread] = None
        self._stopping = False

    def attach(self, runner: LatestFrameRunner) -> None:
        self._runner = runner

    def frame_waiting(self) -> None:
        with self._wake:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="image-classifier-live-stream", daemon=True
                )
                self._thread.start()
            self._wake.notify()

    def _run(self) -> None:
        runner = self._runner
        assert runner is not None
        while True:
            with self._wake:
                while not runner.has_waiting and not self._stopping:
                    self._wake.wait()
                if not runner.has_waiting:
                    return
            runner.process_waiting()

    def close(self) -> None:
        with self._wake:
            self._stopping = True
            self._wake.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()


class HostScheduling:
    """The host's event loop drives processing (Pyodide: no threads).

    ``classify_async`` only hands the frame over; the host calls ``run_pending()`` when it is
    free (in the browser worker: after each hand-over, between other requests). Frames handed
    over meanwhile replace the waiting one, exactly as with a thread.

    Args:
      on_frame_waiting: Called after each hand-over, e.g. to schedule ``run_pending``.
    """

    def __init__(self, on_frame_waiting: Optional[Callable[[], None]] = None) -> None:
        self._runner: Optional[LatestFrameRunner] = None
        self._on_frame_waiting = on_frame_waiting

    def attach(self, runner: LatestFrameRunner) -> None:
        if self._runner is not None:
            raise ValueError("A HostScheduling serves one task only.")
        self._runner = runner

    def frame_waiting(self) -> None:
        if self._on_frame_waiting is not None:
            self._on_frame_waiting()

    @property
    def pending(self) -> bool:
        """True when a frame waits for ``run_pending``."""
        return self._runner is not None and self._runner.has_waiting

    def run_pending(self) -> bool:
        """Processes the waiting frame (its result goes to the task's callback).

        Returns False when no frame was waiting (or one is already in work).
        """
        return self._runner is not None and self._runner.process_waiting()

    def close(self) -> None:
        while self.run_pending():
            pass


def threads_available() -> bool:
    """False in Pyodide (Emscripten without pthreads), where no thread can start."""
    return sys.platform != "emscripten"


def default_scheduling() -> Scheduling:
    """ThreadScheduling where threads exist, else HostScheduling."""
    return ThreadScheduling() if threads_available() else HostScheduling()
