// The module Web Worker: Pyodide + numpy + Pillow + image_classifier, and the JS engines.
//
// Every option, pre- and post-processing step runs in the Python package (the same code as on
// CPython); only the warp's arithmetic on a frame's pixels is done here, on the plan Python
// gives (warp.mjs: warp.wasm, through preprocess.use_words_kernel). This file only boots the
// runtime (boot.mjs: from Pyodide's memory snapshot when the site has a valid one), starts the
// model asked for meanwhile (engines/preload.mjs), turns images into bytes or pixels, and
// relays requests from image-classifier.mjs to image_classifier.webapi.WorkerApi
// (python-bridge.mjs: the calls, and what crosses besides plain data).
//
// Messages in:  {id, op: 'status' | 'create' | 'setOptions' | 'classify' | 'close', ...}
//               {id, op: 'classifyAsync' | 'stream' | 'stopStream', ...}   (LIVE_STREAM; 'stream'
//               brings a MessagePort on which frame-relay.mjs sends a camera's frames)
// Messages out: {id, ok: true, value} | {id, ok: false, error: {name, message}}
//               {type: 'progress', stage, fraction, message} while loading
//               {type: 'live', handle, results: [{result, timings, sentAt}], stats}
//               {type: 'streamEnded', handle, streamId, reason: 'ended' | 'stopped' | 'error', message}
//
// LIVE_STREAM's frames, their pending run and the cameras' streams: live-stream.mjs.
//
// The site and the npm package serve this file with the modules it imports in it, as one file
// (web/build_site.py bundle_worker): a start then waits for one request, not ~20.

import { memoryOf, memoryReport, threadWorkers } from './resources.mjs'; // first: its hooks see the engines' workers
import { bootPython } from './boot.mjs';
import { PythonApi, runOnHeap } from './python-bridge.mjs';
import * as litert from './engines/litert.mjs';
import * as ort from './engines/ort.mjs';
import { setThreadCount, threadCount } from './engines/backend.mjs';
import { EnginePreload } from './engines/preload.mjs';
import { giveBack, pixelsOf } from './pixels.mjs';
import { warpKernel } from './warp.mjs';
import { checkPixels, encodedSize } from './image-limits.mjs';
import { engineFailure, watched } from './engine-failure.mjs';
import { LiveStreams } from './live-stream.mjs';

// One adapter per model format: the engine follows the model file.
const ENGINES = { onnx: ort, tflite: litert };
const ENGINE_NAMES = { onnx: 'onnxruntime-web', tflite: 'LiteRT.js' };

function progress(stage, fraction, message) {
  self.postMessage({ type: 'progress', stage, fraction, message });
}

const boot = { started: performance.now() };
let lastEngineInfo = null;
let loads = 0;
const engineOf = new Map(); // classifier handle -> what runs its model

let lastRunMs = null; // the last model.run, inside the engine: the `engine` of the timings

/** The model with its run timed: what of a photo's time the engine takes, call by call (the
 *  rest, Python and the bridge included, is ours). A run gives its outputs or their promise,
 *  and so does the timed one. */
function timed(model) {
  return {
    ...model,
    run(feeds) {
      const started = performance.now();
      const stop = () => {
        lastRunMs = performance.now() - started;
      };
      let outputs;
      try {
        outputs = model.run(feeds);
      } catch (error) {
        stop();
        throw error;
      }
      if (typeof outputs?.then === 'function') return outputs.finally(stop);
      stop();
      return outputs;
    },
  };
}

// Adapters wrapped to remember what the last model load ran on (backend, threads, note), to
// run on Python's arrays (runOnHeap), and to watch for crashes (engine-failure.mjs).
const adapters = Object.fromEntries(
  Object.entries(ENGINES).map(([format, engine]) => [
    format,
    {
      format,
      async load(bytes, delegate) {
        progress('session', 0.92, 'Starting the inference session…');
        const preloaded = await preload.take(format, bytes, delegate);
        const model = preloaded ?? (await watched(ENGINE_NAMES[format], () => engine.load(bytes, delegate)));
        lastEngineInfo = model.info;
        loads += 1;
        const timedModel = timed(model);
        const heap = () => python_.pyodide._module.HEAPU8;
        const run = (...addresses) => watched(ENGINE_NAMES[format], () => runOnHeap(timedModel, heap, addresses));
        // `warm`: the preload has run it once (Python's warm-up then leaves the engine out).
        return { ...model, run, warm: Boolean(preloaded) };
      },
    },
  ]),
);

/** Fetches a model with progress (0.8..0.9 of the bar); rejects with a readable message. */
async function fetchModel(url) {
  let response;
  try {
    response = await fetch(url);
  } catch (error) {
    throw new Error(`Unable to fetch the model ${url}: ${error.message}`);
  }
  if (!response.ok) {
    // 503 'Offline (not stored for offline use)' comes from sw.js.
    throw new Error(`Unable to fetch the model ${url}: HTTP ${response.status} ${response.statusText}`.trim());
  }
  const total = Number(response.headers.get('Content-Length')) || 0;
  const reader = response.body.getReader();
  const chunks = [];
  let loaded = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    loaded += value.length;
    if (total) progress('model', 0.8 + (0.1 * loaded) / total, `Loading the model… ${Math.round((100 * loaded) / total)}%`);
  }
  const bytes = new Uint8Array(loaded);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  return bytes;
}

// A model asked for while Python boots is fetched meanwhile, and its engine started (one the
// site ships also loaded: engines/preload.mjs): at a cold start they overlap the boot instead
// of following it.
const prefetched = new Map(); // url -> Promise<Uint8Array>
const preload = new EnginePreload();
const FORMAT_OF = { '.tflite': 'tflite', '.onnx': 'onnx' };

function prefetch(options) {
  const url = options?.baseOptions?.modelAssetPath;
  if (python_ || typeof url !== 'string' || prefetched.has(url)) return;
  const bytes = fetchModel(url);
  bytes.catch(() => {}); // reported when Python asks for the model
  prefetched.set(url, bytes);
  const format = FORMAT_OF[/\.[a-z]+$/.exec(new URL(url).pathname)?.[0]];
  const engine = ENGINES[format];
  if (!engine) return;
  engine.prepare?.();
  preload.start(format, bytes, options.baseOptions.delegate ?? 'CPU', engine, (call) => watched(ENGINE_NAMES[format], call));
}

/** The model's bytes for Python: the prefetched ones once, else fetched now. */
function modelBytes(url) {
  const bytes = prefetched.get(url);
  prefetched.delete(url);
  return bytes ?? fetchModel(url);
}

const ready = (async () => {
  const { pyodide, snapshot } = await bootPython(progress, (stage) => {
    boot[stage] = performance.now();
  });
  boot.snapshot = snapshot;
  progress('imports', 0.7, 'Importing the classifier…');
  const browser = pyodide.pyimport('image_classifier.engines.browser');
  const memory = memoryOf(pyodide._module.HEAPU8.buffer);
  const warp = memory && (await warpKernel(memory));
  browser.install(adapters, modelBytes, warp);
  const webapi = pyodide.pyimport('image_classifier.webapi');
  const api = webapi.WorkerApi(browser.load_model);
  boot.imports = performance.now();
  progress('ready', 0.8, 'Python is ready.');
  return { pyodide, api: new PythonApi(pyodide, api.dispatch), wasmWarp: Boolean(warp) };
})();
let python_ = null; // the resolved runtime, for the synchronous hand-over of live frames
ready.then((runtime) => {
  python_ = runtime;
});

/** WorkerApi.dispatch(op, args) entered with JSPI, so that Python may wait for an engine:
 *  its reply, {value} | {error} | {decodeInBrowser}. */
async function dispatch(op, args) {
  return (await ready).api.call(op, args);
}

/** WorkerApi.dispatch(op, args) called synchronously (no JSPI): for what never waits for an
 *  engine, e.g. handing a live frame over while another request is suspended. */
function dispatchNow(op, args) {
  return python_.api.callNow(op, args);
}

/** WorkerApi.dispatch(op, args) for a request that runs the classifier `handle`'s model:
 *  entered without JSPI when its engine runs synchronously (LiteRT.js on the CPU), as Python
 *  then never waits for a promise (entering with JSPI costs about 0.1 ms a call). */
function dispatchFor(handle, op, args) {
  return engineOf.get(handle)?.synchronous ? dispatchNow(op, args) : dispatch(op, args);
}

function unwrap(reply) {
  if (reply.error) {
    throw Object.assign(new Error(reply.error.message), { pythonType: reply.error.name, decode: reply.error.decode });
  }
  return reply.value;
}

async function python(op, args) {
  return unwrap(await dispatch(op, args));
}

/** The message's image as {encoded} bytes (Pillow decodes them in Python), {rgba, width,
 *  height}, or {filled: true, ...} when its pixels went into `bufferFor`'s (see pixelsOf). */
async function imageArgument(image, bufferFor) {
  if (image.encoded) return { encoded: new Uint8Array(image.encoded) };
  if (image.rgba) return { rgba: new Uint8Array(image.rgba), width: image.width, height: image.height };
  return pixelsOf(image.bitmap ?? image.frame, bufferFor);
}

/** A buffer in Python's memory for the pixels of a frame the classifier `handle` classifies
 *  next (WorkerApi.frame_buffer): {address, rows, heap}, or null to copy them as usual. The
 *  buffer stays ours for frames of its size until Python is asked for another one, so the
 *  last reply serves the next frame of the same classifier, size and processing options
 *  without a call into Python (0.3-0.4 ms a photo); any other request forgets it, as a new
 *  model or classifier may read other rows. */
let lastFrameBuffer = null; // {key, buffer}
function frameBuffer(handle, processing) {
  return (width, height) => {
    if (!python_) return null;
    const key = JSON.stringify([handle, width, height, processing ?? null]);
    if (lastFrameBuffer?.key === key) return lastFrameBuffer.buffer;
    lastFrameBuffer = null;
    const reply = dispatchNow('frameBuffer', [handle, width, height, processing ?? null]);
    if (reply.error) return null; // the classify reports it
    const buffer = { ...reply.value, heap: () => python_.pyodide._module.HEAPU8 };
    lastFrameBuffer = { key, buffer };
    return buffer;
  };
}

/** Decodes with the browser: no premultiplication, no colour conversion, EXIF orientation
 *  applied (as MediaPipe's Image.create_from_file does). Null when the browser cannot decode
 *  the bytes, or when their header gives no size to check first: a browser decoder never sees
 *  an image beyond MAX_PIXELS (it throws the size error, which is never retried). */
async function browserDecode(encoded) {
  const size = encodedSize(encoded);
  if (!size) return null;
  checkPixels(size.width, size.height);
  let bitmap;
  try {
    bitmap = await createImageBitmap(new Blob([encoded]), {
      colorSpaceConversion: 'none',
      premultiplyAlpha: 'none',
      imageOrientation: 'from-image',
    });
  } catch {
    return null;
  }
  return pixelsOf(bitmap);
}

/** Python's reply for the image (`call(argument)`), retried with the browser's pixels when
 *  Python sends a JPEG back to be decoded here (the browser's libjpeg-turbo matches CPython's
 *  Pillow) or Pillow cannot read the bytes (AVIF, ...). A refusal (too large) is no decode
 *  failure: it is never retried. */
async function withBrowserDecoding(call, argument) {
  const reply = await callGivingBack(call, argument);
  if (reply.decodeInBrowser) {
    return callGivingBack(call, (await browserDecode(reply.decodeInBrowser)) ?? { encoded: argument.encoded, browserDecoding: false });
  }
  if (reply.error?.decode && argument.encoded) {
    const decoded = await browserDecode(argument.encoded);
    if (decoded) return callGivingBack(call, decoded);
  }
  return reply;
}

/** `call(argument)`, then its pixels given back for the next decode (Python has copied them). */
async function callGivingBack(call, argument) {
  try {
    return await call(argument);
  } finally {
    if (argument.rgba) giveBack(argument.rgba);
  }
}

/** Classifies one image: encoded bytes go to Python, which decodes them with Pillow or asks
 *  for the browser's decoders (withBrowserDecoding). */
async function classify({ handle, image, processing, timestampMs, decodeMs = 0 }) {
  const started = performance.now();
  const call = (argument) =>
    dispatchFor(handle, 'classify', [handle, argument, processing ?? null, timestampMs ?? null, decodeMs + performance.now() - started]);
  const value = unwrap(await withBrowserDecoding(call, await imageArgument(image, frameBuffer(handle, processing))));
  value.timings.engine = lastRunMs;
  return value;
}

// LIVE_STREAM (live-stream.mjs): frames go to Python's runner at once, synchronously, even
// while another request waits for an engine; its pending frame runs as a request of the queue.
const live = new LiveStreams({
  enqueue,
  runPending: (handle) => dispatchFor(handle, 'runPending', [handle]),
  async handOver(handle, argument, processing, timestampMs, decodeMs) {
    await ready;
    const call = (image) => dispatchNow('classifyAsync', [handle, image, processing ?? null, timestampMs ?? null, decodeMs ?? 0]);
    return unwrap(await withBrowserDecoding(call, argument));
  },
  imageArgument: (image) => imageArgument(image),
});

/** The runtime's memories (resources.mjs). */
function memory() {
  const heaps = Object.values(ENGINES).flatMap((engine) => engine.heaps?.() ?? []);
  return memoryReport(python_?.pyodide._module ?? null, heaps);
}

const OPS = {
  async status({ numThreads }) {
    if (numThreads) setThreadCount(numThreads); // before a prefetch starts an engine
    const { wasmWarp } = await ready;
    return {
      crossOriginIsolated: self.crossOriginIsolated,
      hardwareConcurrency: self.navigator.hardwareConcurrency,
      threads: threadCount(),
      threadWorkers: threadWorkers(),
      jspi: typeof WebAssembly.Suspending === 'function',
      wasmWarp,
      formats: Object.keys(ENGINES),
      modelPreload: preload.outcome,
      // When each stage of the boot ended (ms after the worker started); `total` is Python ready.
      bootMs: {
        ...Object.fromEntries(
          ['checked', 'module', 'files', 'compiled', 'libraries', 'pyodide', 'packages', 'imports']
            .filter((stage) => boot[stage])
            .map((stage) => [stage, boot[stage] - boot.started]),
        ),
        total: boot.imports - boot.started,
      },
      bootStartedAt: performance.timeOrigin + boot.started, // ms since the epoch
      snapshot: boot.snapshot,
      engine: lastEngineInfo,
      memory: memory(),
    };
  },
  async create({ options }) {
    try {
      const value = await python('create', [options]);
      engineOf.set(value.handle, lastEngineInfo);
      return { ...value, engine: { ...lastEngineInfo, threadWorkers: threadWorkers() } };
    } finally {
      progress('done', 1, 'Ready.');
    }
  },
  async setOptions({ handle, options }) {
    const before = loads;
    try {
      const value = await python('setOptions', [handle, options]);
      if (loads !== before) engineOf.set(handle, lastEngineInfo); // a new model or delegate
      return { ...value, engine: { ...engineOf.get(handle), threadWorkers: threadWorkers() } };
    } finally {
      progress('done', 1, 'Ready.');
    }
  },
  classify,
  async close({ handle }) {
    engineOf.delete(handle);
    live.stopStreams(handle);
    const value = await python('close', [handle]); // a frame still waiting is processed first
    live.post(handle, value);
    live.forget(handle);
    return {};
  },
};

// Handled as they come, outside the queue: they never wait for an engine.
const IMMEDIATE = {
  classifyAsync: (data) => live.classifyAsync(data),
  stream(data) {
    live.readStream(data);
    return { streamId: data.streamId };
  },
  stopStream({ streamId }) {
    live.stopStreams(undefined, streamId);
    return {};
  },
};

function reply(data, run) {
  return Promise.resolve()
    .then(run)
    .then(
      (value) => self.postMessage({ id: data.id, ok: true, value }),
      (error) =>
        self.postMessage({
          id: data.id,
          ok: false,
          error: { name: error.pythonType ?? error.name ?? 'Error', message: error.message ?? String(error) },
        }),
    );
}

// One request at a time: Python is suspended (not blocked) while an engine runs, and must not
// be re-entered by the next request meanwhile (only live hand-overs are: see above).
let queue = Promise.resolve();
function enqueue(task) {
  queue = queue.then(task).catch((error) => console.error(error));
  return queue;
}
self.onmessage = ({ data }) => {
  if (engineFailure()) {
    reply(data, () => {
      throw new Error(engineFailure());
    });
    return;
  }
  if (data.op === 'create') prefetch(data.options);
  if (IMMEDIATE[data.op]) {
    reply(data, () => IMMEDIATE[data.op](data));
    return;
  }
  enqueue(() =>
    reply(data, () => {
      if (data.op !== 'classify') lastFrameBuffer = null;
      const op = OPS[data.op];
      if (!op) throw new Error(`Unknown request ${data.op}.`);
      return op(data);
    }),
  );
};

ready.catch((error) => {
  self.postMessage({ type: 'progress', stage: 'failed', fraction: 0, message: `Loading failed: ${error.message}` });
});
