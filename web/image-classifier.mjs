// image-classifier.mjs: MediaPipe's ImageClassifier (@mediapipe/tasks-vision) for the web,
// asynchronous, with the work done in a module Web Worker by the Python package.
//
//   import { ImageClassifier } from './image-classifier.mjs';
//   const classifier = await ImageClassifier.createFromOptions({
//     baseOptions: { modelAssetPath: 'models/efficientnet_lite0_int8.tflite', delegate: 'CPU' },
//     maxResults: 5,
//   });
//   const { classifications } = await classifier.classify(imageElement);
//
// Images: HTMLImageElement, SVGImageElement, HTMLVideoElement, HTMLCanvasElement,
// OffscreenCanvas, ImageBitmap, VideoFrame, ImageData, or a Blob/File (encoded bytes).
// Decoding, so that a file gives the pixels Image.create_from_file gives on CPython:
// - a Blob/File goes to the worker as bytes. JPEGs (RGB or gray) are decoded by the browser,
//   whose libjpeg-turbo matches CPython's Pillow bit for bit (Pyodide's Pillow uses another
//   libjpeg), with their EXIF orientation applied, as MediaPipe's Image.create_from_file does.
//   Everything else (PNG, GIF, WebP, BMP, TIFF...) is decoded by Pillow in the worker; what
//   Pillow cannot read (e.g. AVIF) gets the browser's decoders.
// - ImageData is used as it is (its RGBA bytes).
// - An ImageBitmap is read as it stores its pixels (alpha dropped), without a copy: one made
//   with premultiplyAlpha 'none' gives its exact colours; a premultiplied one (createImageBitmap's
//   default) gives its semi-transparent pixels premultiplied (opaque ones exactly).
// - Anything else is copied with createImageBitmap (premultiplyAlpha 'none',
//   colorSpaceConversion 'none') and read back in the worker: opaque pixels
//   arrive exactly as decoded; semi-transparent ones may lose precision to the canvas's
//   premultiplied storage (alpha is dropped anyway, as in MediaPipe). An <img>, a bitmap or a
//   frame of an EXIF-rotated photo is classified upright, as the browser draws it.
// - Nothing beyond 64 megapixels (image-limits.mjs) is copied, decoded by the browser or sent.
// Errors reject with MediaPipe's messages (they come from the Python classifier).
//
// LIVE_STREAM (which MediaPipe's web API lacks):
//   const classifier = await ImageClassifier.createFromOptions({
//     baseOptions: {...}, runningMode: 'LIVE_STREAM',
//     resultCallback: (result, timestampMs) => draw(result),
//   });
//   await classifier.classifyAsync(videoFrame, timestampMs);   // resolves once handed over
//   const stream = classifier.classifyStream(cameraTrack);      // every frame of a camera
//   stream.stop();
// Frames go to the Python classifier's runner, which keeps at most one frame waiting (the
// newest; older ones are dropped and counted in liveStreamStats).

import { imageMessage, liveImageMessage } from './image-messages.mjs';
// What image-messages.mjs imports, imported here too: fetched in the same round, not one more
// before the worker can start.
import './image-limits.mjs';

// The runtime files (worker.mjs, pyodide/, engines/, litert/, ort/) are served from one folder:
// by default this module's own, or the one FilesetResolver.forVisionTasks(url) names. Their
// URLs are made from variables, not from literals beside import.meta.url, so that bundlers leave
// them alone (they would copy a worker without its runtime). A folder on another origin (a CDN)
// must send CORS headers (Access-Control-Allow-Origin; Cross-Origin-Resource-Policy: cross-origin).
const MODULE_URL = import.meta.url;
const WORKER_FILE = 'worker.mjs';
const RELAY_FILE = 'frame-relay.mjs';
const PRIMER_FILE = 'code-cache-primer.mjs';

/** A module worker for a runtime file: a worker's script must be of the page's origin, so one
 *  on another origin is imported by a same-origin blob: module (imports may cross origins). */
function startWorker(url, name) {
  const { href, origin } = new URL(url);
  if (origin === globalThis.location.origin) return new Worker(href, { type: 'module', name });
  const shim = new Blob([`import ${JSON.stringify(href)};`], { type: 'text/javascript' });
  return new Worker(URL.createObjectURL(shim), { type: 'module', name });
}

/** Where the runtime files are, as MediaPipe's WasmFileset: FilesetResolver.forVisionTasks
 *  (basePath) makes one ({wasmLoaderPath: basePath/worker.mjs, wasmBinaryPath: Pyodide's wasm}),
 *  and the create* methods and loadRuntime take it first. */
export class FilesetResolver {
  static async forVisionTasks(basePath) {
    const base = basePath === undefined ? new URL('.', MODULE_URL) : new URL(String(basePath).replace(/\/?$/, '/'), absolute('.'));
    return { wasmLoaderPath: new URL(WORKER_FILE, base).href, wasmBinaryPath: new URL('pyodide/pyodide.asm.wasm', base).href };
  }
}

/** Runtime loading progress: 'progress' events with detail {stage, fraction, message}. */
export const runtime = new EventTarget();

class WorkerClient {
  constructor(workerUrl) {
    this.workerUrl = workerUrl;
    this.worker = startWorker(workerUrl, 'image-classifier');
    if (!globalThis.crossOriginIsolated) {
      console.info(
        'image-classifier: this page is not cross-origin isolated, so the engines run on one thread. ' +
          'For threads, serve the page with Cross-Origin-Opener-Policy: same-origin and ' +
          'Cross-Origin-Embedder-Policy: require-corp.',
      );
    }
    this.pending = new Map();
    this.nextId = 1;
    this.liveListeners = new Map(); // classifier handle -> its live-message handler
    this.worker.onmessage = ({ data }) => {
      if (data.type === 'live' || data.type === 'streamEnded') {
        this.liveListeners.get(data.handle)?.(data);
        return;
      }
      if (data.type === 'failed') {
        this.#fail(data.message);
        return;
      }
      if (data.type === 'progress') {
        this.lastProgress = data;
        runtime.dispatchEvent(new CustomEvent('progress', { detail: data }));
        return;
      }
      const request = this.pending.get(data.id);
      if (!request) return;
      this.pending.delete(data.id);
      if (data.ok) request.resolve(data.value);
      else request.reject(Object.assign(new Error(data.error.message), { type: data.error.name }));
    };
    this.worker.onerror = (event) => {
      const why = event.message || `it could not start (are the runtime files served beside ${this.workerUrl}?)`;
      const error = new Error(`The classifier worker failed: ${why}`);
      for (const request of this.pending.values()) request.reject(error);
      this.pending.clear();
    };
  }

  /** An engine of the worker crashed: every call waiting rejects, the worker is ended, and
   *  the next call of any classifier goes to a new worker (ImageClassifier reconnects). */
  #fail(message) {
    this.failed = message;
    this.worker.terminate();
    if (client === this) client = undefined;
    const error = new Error(message);
    for (const request of this.pending.values()) request.reject(error);
    this.pending.clear();
    for (const listener of this.liveListeners.values()) listener({ type: 'failed', message });
  }

  call(op, payload = {}, transfer = []) {
    if (this.failed) return Promise.reject(new Error(this.failed));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, op, ...payload }, transfer);
    });
  }
}

let client;
let runtimeOptions = {};
let runtimeUrl; // the worker's script: the first fileset's (or this module's folder), kept for restarts
/** The page's one worker, started from the fileset's folder (default: this module's); after a
 *  crash (WorkerClient.#fail) a new one from the same place. */
function worker(fileset) {
  const url = workerScript(fileset);
  if (runtimeUrl && url !== runtimeUrl) {
    throw new Error(`The runtime is already loaded from ${runtimeUrl}: a page has one runtime.`);
  }
  runtimeUrl = url;
  if (!client) {
    client = new WorkerClient(url);
    if (runtimeOptions.numThreads) client.call('status', runtimeOptions).catch(() => {});
  }
  return client;
}

/** The worker's script: the fileset's, else the one already loaded, else this module's folder's. */
function workerScript(fileset) {
  return fileset ? absolute(fileset.wasmLoaderPath) : (runtimeUrl ?? new URL(WORKER_FILE, MODULE_URL).href);
}

const isFileset = (value) => value && (value.wasmLoaderPath !== undefined || value.wasmBinaryPath !== undefined);

/** Starts loading Python and the packages now (createFromOptions does it too); a fileset may
 *  come first. Resolves to the runtime's status: crossOriginIsolated, threads, JSPI, boot
 *  times, snapshot ({used, local, note}: whether Python started from its memory snapshot
 *  (`local`: this browser's copy of it), else why not), memory (bytes of the WebAssembly
 *  heaps: pyodideWasm, pyodideInUse (what of Pyodide's heap its malloc has handed out),
 *  engineWasm).
 *  Option: numThreads, the WebAssembly threads of the engines (default: the cores, at
 *  most 4); only before the first model loads. */
export async function loadRuntime(filesetOrOptions, maybeOptions) {
  const fileset = isFileset(filesetOrOptions) ? filesetOrOptions : undefined;
  const options = (fileset ? maybeOptions : filesetOrOptions) ?? {};
  const current = worker(fileset);
  if (options.numThreads) runtimeOptions = { numThreads: options.numThreads }; // for a new worker too
  return current.call('status', { numThreads: options.numThreads });
}

/** Has the browser keep the compiled code of the runtime's JavaScript, so that later starts do
 *  not parse it again (~0.1 s of CPU at each start): it imports it twice in throwaway workers
 *  (code-cache-primer.mjs), as Chromium keeps a worker's module code only once it has run
 *  twice (from the third run on, it is read from the cache). Worth it once the runtime's
 *  files stay the same, e.g. once a service worker stores them (the app calls it when its
 *  offline copy is complete); the files come from the cache, not the network. A fileset may
 *  say where the runtime is. */
export async function primeCodeCache(fileset) {
  const url = new URL(PRIMER_FILE, workerScript(fileset)).href;
  for (let run = 0; run < 2; run++) {
    const primer = startWorker(url, 'code-cache-primer');
    try {
      await new Promise((resolve, reject) => {
        primer.onmessage = resolve;
        primer.onerror = (event) => reject(new Error(`Priming the code cache failed: ${event.message ?? 'the worker did not load'}`));
      });
    } finally {
      primer.terminate();
    }
  }
}

function absolute(path) {
  return new URL(path, globalThis.document?.baseURI ?? globalThis.location.href).href;
}

/** Options as the worker takes them: a model path made absolute, a buffer as bytes. */
function forWorker(options) {
  if (!options || typeof options !== 'object') return options;
  const out = { ...options };
  if (options.baseOptions && typeof options.baseOptions === 'object') {
    const base = { ...options.baseOptions };
    if (typeof base.modelAssetPath === 'string' && base.modelAssetPath) base.modelAssetPath = absolute(base.modelAssetPath);
    if (base.modelAssetBuffer instanceof ArrayBuffer) base.modelAssetBuffer = new Uint8Array(base.modelAssetBuffer);
    out.baseOptions = base;
  }
  return out;
}

const epochNow = () => performance.timeOrigin + performance.now();

/** Options as the worker takes them, with the resultCallback function left here. */
function splitCallback(options) {
  if (!options || typeof options !== 'object' || !('resultCallback' in options)) return [options, undefined, false];
  const { resultCallback, ...rest } = options;
  if (resultCallback !== undefined && resultCallback !== null && typeof resultCallback !== 'function') {
    // Let the Python side say it, with the other option errors.
    return [{ ...rest, resultCallback: String(resultCallback) }, undefined, true];
  }
  return [{ ...rest, resultCallback: typeof resultCallback === 'function' ? true : undefined }, resultCallback, true];
}

let nextStreamId = 1;
const STREAM_BUFFER = 8; // frames: ~270 ms of a 30 fps camera

export class ImageClassifier {
  #handle;
  #client;
  #closed = false;

  #resultCallback;
  #streams = new Map(); // streamId -> {stop, finish}
  #liveSends = Promise.resolve();
  #history; // the create options and each setOptions since, as sent: to make it again
  #reconnecting = null;

  constructor(client, handle, reply, resultCallback, options) {
    this.#client = client;
    this.#handle = handle;
    this.#resultCallback = resultCallback;
    this.#history = [options];
    this.#update(reply);
    /** Milliseconds of the last classify: decode, preprocess, inference, postprocess. */
    this.lastTimingsMs = null;
    /** LIVE_STREAM counters of the Python runner: {received, processed, dropped, waiting,
     *  maxWaiting} (waiting is 0 or 1: older frames are dropped). */
    this.liveStreamStats = null;
    /** LIVE_STREAM: ms from the last delivered frame's hand-over to its result here. */
    this.lastLatencyMs = null;
    client.liveListeners.set(handle, (message) => this.#onLive(message));
  }

  #onLive(message) {
    if (message.type === 'failed') {
      for (const stream of [...this.#streams.values()]) stream.finish('error', message.message);
      return;
    }
    if (message.type === 'streamEnded') {
      this.#streams.get(message.streamId)?.finish(message.reason, message.message);
      return;
    }
    if (message.stats) this.liveStreamStats = message.stats;
    for (const { result, timings, sentAt } of message.results) {
      this.lastTimingsMs = timings;
      this.lastLatencyMs = sentAt === undefined ? null : epochNow() - sentAt;
      try {
        this.#resultCallback?.(result, result.timestampMs);
      } catch (error) {
        console.error('resultCallback failed:', error); // as MediaPipe: logged, never raised
      }
    }
  }

  #update(reply) {
    /** The options in force (model bytes left out). */
    this.options = reply.options;
    /** What runs the model: {engine, backend: 'wasm' | 'webgpu', threads, note}. */
    this.engine = reply.engine;
    /** What the model says about itself (image_classifier.webapi.model_to_js): {name,
     *  description, version, author, license, format: 'onnx' | 'tflite', sizeBytes, input:
     *  {width, height, channels, layout, dtype, normalization?: {mean, std}}, quantization:
     *  the quantized weight types (['int8'], or [] for a float model), heads: [{index, name,
     *  classes, dtype, quantization?: {scale, zeroPoint}, labels, locales, scoreThreshold?,
     *  calibration?}]}; what the model lacks is undefined. */
    this.model = reply.model;
  }

  /**
   * Creates a classifier. As in MediaPipe, a WasmFileset may come first: where the runtime
   * files are (FilesetResolver.forVisionTasks); without one, beside this module.
   */
  static async createFromOptions(filesetOrOptions, maybeOptions) {
    const fileset = isFileset(filesetOrOptions) ? filesetOrOptions : undefined;
    const options = fileset ? maybeOptions : filesetOrOptions;
    const client = worker(fileset);
    const [sent, resultCallback] = splitCallback(options ?? {});
    const created = forWorker(sent);
    const reply = await client.call('create', { options: created });
    return new ImageClassifier(client, reply.handle, reply, resultCallback, created);
  }

  static createFromModelPath(filesetOrPath, maybePath) {
    if (!isFileset(filesetOrPath)) return ImageClassifier.createFromOptions({ baseOptions: { modelAssetPath: filesetOrPath } });
    return ImageClassifier.createFromOptions(filesetOrPath, { baseOptions: { modelAssetPath: maybePath } });
  }

  static createFromModelBuffer(filesetOrBuffer, maybeBuffer) {
    if (!isFileset(filesetOrBuffer)) return ImageClassifier.createFromOptions({ baseOptions: { modelAssetBuffer: filesetOrBuffer } });
    return ImageClassifier.createFromOptions(filesetOrBuffer, { baseOptions: { modelAssetBuffer: maybeBuffer } });
  }

  /** Changes the named options; an option set to undefined goes back to its default. */
  async setOptions(options) {
    const client = await this.#connected();
    const [sent, resultCallback, hasCallback] = splitCallback(options ?? {});
    const changes = forWorker(sent);
    this.#update(await client.call('setOptions', { handle: this.#handle, options: changes }));
    this.#history.push(changes);
    if (hasCallback) this.#resultCallback = resultCallback;
  }

  /** Classifies one image (IMAGE mode): {classifications, timestampMs}. */
  classify(image, imageProcessingOptions) {
    return this.#classify(image, imageProcessingOptions, undefined);
  }

  /** Classifies one video frame (VIDEO mode); timestamps must increase. */
  classifyForVideo(image, timestampMs, imageProcessingOptions) {
    return this.#classify(image, imageProcessingOptions, timestampMs ?? null);
  }

  /**
   * Hands one frame over (LIVE_STREAM mode) and resolves once the worker has it; the result
   * goes to resultCallback(result, timestampMs). If a frame is still waiting for the engine,
   * this one replaces it. Rejects with MediaPipe's errors (wrong mode, a timestamp that does
   * not increase).
   */
  async classifyAsync(image, timestampMs, imageProcessingOptions) {
    this.#check();
    const sentAt = epochNow();
    // Frames leave in the order of the calls, whatever their types take to convert.
    const posted = this.#liveSends.then(async () => {
      await this.#connected();
      const started = performance.now();
      const [message, transfer] = await liveImageMessage(image);
      const decodeMs = performance.now() - started;
      const reply = this.#client.call(
        'classifyAsync',
        { handle: this.#handle, image: message, processing: imageProcessingOptions ?? null, timestampMs, sentAt, decodeMs },
        transfer,
      );
      return { reply };
    });
    this.#liveSends = posted.catch(() => {});
    const { reply } = await posted;
    this.liveStreamStats = (await reply).stats;
  }

  /**
   * Classifies every frame of a camera (LIVE_STREAM mode): the frames of `track` (a video
   * MediaStreamTrack) go to the worker through a MediaStreamTrackProcessor's stream, without
   * passing through this thread; where that API is missing (or with {transport: 'ImageBitmap'})
   * each frame is posted as an ImageBitmap. Timestamps are the frames' own.
   * Returns {transport, stop(), ended}: `ended` resolves to 'stopped' (stop() or close()),
   * 'ended' (the track ended: camera unplugged or stopped) or rejects on an error.
   */
  classifyStream(track, { imageProcessingOptions, transport } = {}) {
    this.#check();
    if (!track || track.kind !== 'video') throw new TypeError('classifyStream needs a video MediaStreamTrack.');
    const streamId = nextStreamId++;
    let finish;
    const ended = new Promise((resolve, reject) => {
      finish = (reason, message) => {
        this.#streams.delete(streamId);
        if (reason === 'error') reject(new Error(message || 'The stream failed.'));
        else resolve(reason);
      };
    });
    const processing = imageProcessingOptions ?? null;
    const useProcessor = transport !== 'ImageBitmap' && typeof MediaStreamTrackProcessor === 'function';
    let stop;
    if (useProcessor) {
      // The stream goes to frame-relay.mjs, which reads it without pause (a camera discards
      // frames that are not read promptly) and sends the frames to the classifier worker.
      const { readable } = new MediaStreamTrackProcessor({ track, maxBufferSize: STREAM_BUFFER });
      const relay = startWorker(new URL(RELAY_FILE, this.#client.workerUrl), 'frame-relay');
      const { port1, port2 } = new MessageChannel();
      relay.postMessage({ readable, port: port1 }, [readable, port1]);
      this.#client
        .call('stream', { handle: this.#handle, streamId, port: port2, processing }, [port2])
        .catch((error) => finish('error', error.message));
      ended.finally(() => relay.terminate()).catch(() => {});
      stop = () => this.#client.call('stopStream', { streamId }).catch(() => {});
    } else {
      stop = this.#postFrames(track, processing, (reason, message) => finish(reason, message));
    }
    this.#streams.set(streamId, { stop, finish });
    return { transport: useProcessor ? 'MediaStreamTrackProcessor' : 'ImageBitmap', stop, ended };
  }

  /** The fallback of classifyStream: a hidden <video> plays the track, and each new frame
   *  (requestVideoFrameCallback) is handed over as an ImageBitmap. Returns stop(). */
  #postFrames(track, processing, finish) {
    const video = document.createElement('video');
    video.muted = true;
    video.playsInline = true;
    video.srcObject = new MediaStream([track]);
    let running = true;
    const end = (reason, message) => {
      if (!running) return;
      running = false;
      video.srcObject = null;
      finish(reason, message);
    };
    track.addEventListener('ended', () => end('ended'), { once: true });
    const onFrame = async (_now, metadata) => {
      if (!running) return;
      try {
        const bitmap = await createImageBitmap(video);
        const timestampMs = Math.round(metadata.captureTime ?? metadata.expectedDisplayTime);
        await this.classifyAsync(bitmap, timestampMs, processing).catch((error) => {
          if (!/monotonically increasing/.test(error.message)) throw error;
        });
      } catch (error) {
        end('error', error.message);
        return;
      }
      if (running) video.requestVideoFrameCallback(onFrame);
    };
    video.play().then(
      () => video.requestVideoFrameCallback(onFrame),
      (error) => end('error', error.message),
    );
    return () => end('stopped');
  }

  async #classify(image, processing, timestampMs) {
    await this.#connected();
    const started = performance.now();
    const [message, transfer] = await imageMessage(image);
    const decodeMs = performance.now() - started;
    const reply = await this.#client.call(
      'classify',
      { handle: this.#handle, image: message, processing: processing ?? null, timestampMs, decodeMs },
      transfer,
    );
    this.lastTimingsMs = reply.timings;
    this.lastImageSize = reply.image;
    return reply.result;
  }

  /** Frees the model. The worker (and Python) stay for other classifiers of the page. */
  async close() {
    if (this.#closed) return;
    this.#closed = true;
    for (const stream of [...this.#streams.values()]) stream.stop();
    // In LIVE_STREAM, the frame still waiting is processed and its result delivered first.
    if (!this.#client.failed) await this.#client.call('close', { handle: this.#handle });
    for (const stream of [...this.#streams.values()]) stream.finish('stopped');
    this.#client.liveListeners.delete(this.#handle);
  }

  #check() {
    if (this.#closed) throw new Error('The task is closed.');
  }

  /** The worker to call: after an engine crash ended this classifier's worker, a new one
   *  where the classifier is made again (its create options, then each setOptions). */
  async #connected() {
    this.#check();
    if (!this.#client.failed) return this.#client;
    this.#reconnecting ??= (async () => {
      const client = worker();
      const [created, ...changes] = this.#history;
      let reply = await client.call('create', { options: created });
      const { handle } = reply;
      for (const options of changes) reply = { ...reply, ...(await client.call('setOptions', { handle, options })) };
      this.#client.liveListeners.delete(this.#handle);
      this.#client = client;
      this.#handle = handle;
      client.liveListeners.set(handle, (message) => this.#onLive(message));
      this.#update(reply);
    })().finally(() => {
      this.#reconnecting = null;
    });
    await this.#reconnecting;
    return this.#client;
  }
}

export default ImageClassifier;
