// LIVE_STREAM in the classifier worker (worker.mjs): frames handed over to Python's runner,
// its pending frame run when the worker is free, and cameras read by frame-relay.mjs.
//
// Frames are handed over to Python at once (WorkerApi.classify_async, a plain synchronous
// call, accepted even while another request is suspended in an engine), and Python's runner
// decides which frame waits and which is dropped. The worker then runs WorkerApi.run_pending
// (one request of its queue) whenever a frame waits: that is HostScheduling, the browser's
// stand-in for the thread CPython uses. No frame waits here.
//
// Messages out: {type: 'live', handle, results: [{result, timings, sentAt}], stats}
//               {type: 'streamEnded', handle, streamId, reason: 'ended' | 'stopped' | 'error', message}

function epochNow() {
  return performance.timeOrigin + performance.now();
}

// The engines compute on the worker's thread (onnxruntime-web's WASM run is synchronous):
// frames that arrive meanwhile wait in the transport (the worker's messages: classifyAsync
// calls, or the frames frame-relay.mjs sends). A run_pending therefore starts only after the
// event loop has had a turn, so those frames are handed over first: Python keeps the newest
// and counts the others as dropped.
const turn = new MessageChannel();
const turnWaiters = [];
turn.port1.onmessage = () => turnWaiters.shift()?.();
function nextTurn() {
  return new Promise((resolve) => {
    turnWaiters.push(resolve);
    turn.port2.postMessage(0);
  });
}

export class LiveStreams {
  #handOverTimes = new Map(); // handle -> Map(timestampMs -> when the frame was handed over)
  #pumpScheduled = new Set(); // handles with a runPending request in the queue
  #handOvers = Promise.resolve(); // hand-overs keep their order (their images convert asynchronously)
  #streams = new Map(); // streamId -> {port, handle, stopping}
  #python;

  /** `python`: {handOver(handle, argument, processing, timestampMs, decodeMs)}, Python's
   *  {stats, pending} for a frame (rejecting with its errors); {runPending(handle)}, the reply
   *  of WorkerApi.run_pending; {enqueue(task)}, the worker's queue of requests; and
   *  {imageArgument(image)}, a message's image as Python takes it. */
  constructor(python) {
    this.#python = python;
  }

  /** Results of run_pending (or close) to the page, each with its frame's hand-over time. */
  post(handle, value) {
    const times = this.#handOverTimes.get(handle);
    const results = (value.results ?? []).map((delivered) => {
      const ts = delivered.result.timestampMs;
      const sentAt = times?.get(ts);
      if (times) for (const key of times.keys()) if (key <= ts) times.delete(key); // dropped frames too
      return { ...delivered, sentAt };
    });
    if (results.length || value.stats) self.postMessage({ type: 'live', handle, results, stats: value.stats });
  }

  /** The classifier `handle` is closed: its hand-over times go. */
  forget(handle) {
    this.#handOverTimes.delete(handle);
  }

  /** Queues one run_pending for the handle, unless one is queued already. */
  #schedulePump(handle) {
    if (this.#pumpScheduled.has(handle)) return;
    this.#pumpScheduled.add(handle);
    this.#python.enqueue(async () => {
      await nextTurn();
      this.#pumpScheduled.delete(handle); // frames handed over from now on need the next run
      const reply = await this.#python.runPending(handle);
      if (reply.error) return; // the classifier was closed or replaced meanwhile
      this.post(handle, reply.value);
      if (reply.value.pending) this.#schedulePump(handle);
    });
  }

  /** Hands one frame over to Python's runner: {stats, pending}; rejects with Python's errors. */
  async #handOver({ handle, argument, processing, timestampMs, sentAt, decodeMs }) {
    const value = await this.#python.handOver(handle, argument, processing, timestampMs, decodeMs);
    if (!this.#handOverTimes.has(handle)) this.#handOverTimes.set(handle, new Map());
    this.#handOverTimes.get(handle).set(timestampMs, sentAt ?? epochNow());
    if (value.pending) this.#schedulePump(handle);
    return value;
  }

  /** The 'classifyAsync' request: one frame of the page's. */
  classifyAsync({ handle, image, processing, timestampMs, sentAt, decodeMs }) {
    const task = this.#handOvers.then(async () => {
      const argument = await this.#python.imageArgument(image);
      return this.#handOver({ handle, argument, processing, timestampMs, sentAt, decodeMs });
    });
    this.#handOvers = task.catch(() => {});
    return task;
  }

  /** Classifies a camera: frame-relay.mjs, a worker of its own, reads the camera's
   *  MediaStreamTrackProcessor stream while the engine computes here, and sends each frame
   *  (RGBA, with its own timestamp in ms) through `port`; each is handed over as it comes. */
  readStream({ handle, streamId, port, processing }) {
    const stream = { port, handle, stopping: false };
    this.#streams.set(streamId, stream);
    const end = (reason, message = '') => {
      if (!this.#streams.has(streamId)) return;
      this.#streams.delete(streamId);
      port.close();
      self.postMessage({ type: 'streamEnded', handle, streamId, reason: stream.stopping ? 'stopped' : reason, message });
    };
    port.onmessage = ({ data }) => {
      if (data.end) {
        end(data.end, data.message);
        return;
      }
      const { frame, timestampMs, sentAt } = data;
      this.#handOver({ handle, argument: frame, processing, timestampMs, sentAt }).catch((error) => {
        // A timestamp that did not increase loses its frame; anything else ends the stream.
        if (!/monotonically increasing/.test(error.message)) {
          stream.port.postMessage({ stop: true });
          end('error', error.message);
        }
      });
    };
  }

  /** Stops the stream `streamId`, or every stream of the classifier `handle`. */
  stopStreams(handle, streamId) {
    for (const [id, stream] of this.#streams) {
      if (id === streamId || (streamId === undefined && stream.handle === handle)) {
        stream.stopping = true;
        stream.port.postMessage({ stop: true });
      }
    }
  }
}
