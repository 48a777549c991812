// LiteRT.js (@litertjs/core) as an engine adapter of the worker, for .tflite models.
// The interface is the one documented in ort.mjs.
//
// LiteRT.js expects a classic page or worker: it loads its Emscripten script with
// importScripts() (which throws in a module worker) and finds its .wasm beside the calling
// script. Here the script comes first, as the ES module the site's build made of it (no eval),
// and importScripts() only hands it over; the .wasm is located in its folder. The tensors it
// creates live in its own wasm heap, which never shrinks: every tensor is deleted as soon as it
// is read.
// It reports neither quantization nor the model's output order: Python reads both from the
// file (engines/browser.py).

import { backendFor, claimThreads, threadCount, TYPED_ARRAYS, withoutWebGpu, zeros } from './backend.mjs';
import { Environment, getGlobalLiteRt, loadAndCompile, loadLiteRt, supportsFeature, Tensor } from '../litert/core.mjs';
import { runtimeFile } from '../runtime-files.mjs';

const WASM_DIR = runtimeFile('litert/wasm/');

/** {threads, script}: whether the threaded build runs (cross-origin isolated, relaxed SIMD,
 *  and `wanted` more than one thread), and the Emscripten script LiteRT.js picks for that (as
 *  its loader does). */
async function buildFor(wanted) {
  const relaxedSimd = await supportsFeature('relaxedSimd');
  const threads = wanted > 1 && self.crossOriginIsolated && relaxedSimd;
  return { threads, script: `${WASM_DIR}litert_wasm_${relaxedSimd ? (threads ? 'threaded_' : '') : 'compat_'}internal.js` };
}

/** The ES module the site's build made of an Emscripten script. */
const moduleOf = (script) => script.replace(/\.js$/, '.mjs');

/** The module of the build this worker would load with the default threads. */
export async function runtimeModule() {
  return moduleOf((await buildFor(threadCount())).script);
}

/** What stands in for importScripts() while LiteRT.js loads: `script`'s module factory, already
 *  imported, becomes the global it looks for, and its threads are `pool`'s (startThreads).
 *  Any other script goes to the worker's own importScripts(): Pyodide, booting meanwhile,
 *  tries it first and falls back to import() on the TypeError a module worker throws. */
async function handOver(script, pool) {
  const own = self.importScripts;
  const factory = (await import(moduleOf(script))).default;
  return (url) => {
    if (url !== script) return own.call(self, url);
    self.Module.mainScriptUrlOrBlob = pool.script;
    self.ModuleFactory = factory;
    pool.handOut();
  };
}

/** `count` threads of `script`'s build, started now: Emscripten makes its pool
 *  (hardwareConcurrency classic workers) when its script runs, and LiteRT.js is ready only once
 *  each has loaded the script (270-340 ms on a busy start). Started ahead, they load it while
 *  the wasm compiles; handOut() then has Emscripten's `new Worker()` take them in turn until
 *  restore(). A thread loads the script itself, or a Blob of it when it is served from another
 *  origin (a CDN), as a worker's script must be of the page's origin (`script` of the result:
 *  what Emscripten gives any thread it starts later). */
async function startThreads(script, count) {
  const sameOrigin = new URL(script).origin === self.location.origin;
  const threadScript = sameOrigin ? script : new Blob([await (await fetch(script)).text()], { type: 'text/javascript' });
  const url = sameOrigin ? script : URL.createObjectURL(threadScript);
  const ahead = Array.from({ length: count }, () => new Worker(url, { name: 'em-pthread' }));
  const own = self.Worker;
  return {
    script: threadScript,
    handOut() {
      self.Worker = function Worker(...args) {
        return args[1]?.name === 'em-pthread' && ahead.length ? ahead.shift() : new own(...args);
      };
    },
    restore() {
      self.Worker = own;
      for (const worker of ahead.splice(0)) worker.terminate();
    },
  };
}

// LiteRT logs through stderr, INFO included: only its errors are kept, the last ones to explain
// a failed load (its exceptions only say where in its C++ it failed).
const recentErrors = [];
function logged(text) {
  if (!/^\s*ERROR/.test(text)) return;
  console.error(text);
  recentErrors.push(text.replace(/^\s*ERROR:\s*/, '').trim());
  recentErrors.splice(0, recentErrors.length - 4);
}

// What LiteRT.js says when its load finds no WebGPU: not news here (loadWithoutDevice).
const NO_DEVICE_WARNING = 'Failed to create default WebGPU device';

/** LiteRT.js's loadLiteRt(...args) with `navigator.gpu` hidden (backend.mjs withoutWebGpu).
 *  loadLiteRt asks for a WebGPU device for its default environment, and resolves only once
 *  the GPU process has answered (a device, or none): on a busy start, LiteRT.js was ready
 *  250 ms later than its wasm and threads, after Python. A model on the CPU needs no device;
 *  one on WebGPU gets it when it loads (withWebGpu). */
async function loadWithoutDevice(...args) {
  const { warn } = console;
  console.warn = (...message) => {
    if (!String(message[0]).startsWith(NO_DEVICE_WARNING)) warn.apply(console, message);
  };
  try {
    return await withoutWebGpu(() => loadLiteRt(...args));
  } finally {
    console.warn = warn;
  }
}

let gpuEnvironment;
/** Gives LiteRT.js the default environment loadLiteRt would have made: with a WebGPU device. */
function withWebGpu() {
  gpuEnvironment ??= Environment.create().then((environment) => getGlobalLiteRt().setDefaultEnvironment(environment));
  gpuEnvironment.catch(() => {
    gpuEnvironment = undefined;
  });
  return gpuEnvironment;
}

let runtime;
let hiddenHeap = false;
/** Loads the runtime once (the threaded build starts a pool of hardwareConcurrency threads). */
function liteRt() {
  runtime ??= (async () => {
    const wanted = claimThreads();
    const { threads, script } = await buildFor(wanted);
    // Its wasm compiles (from the browser's code cache after a first start) while its script
    // is imported, rather than once the script runs; Emscripten's instantiateWasm hook takes
    // it (synchronously, so that a failure rejects the load). Without it (a host that serves
    // .wasm with another type), Emscripten fetches and compiles the wasm itself.
    const compiled = WebAssembly.compileStreaming(fetch(script.replace(/\.js$/, '.wasm'))).catch(() => null);
    const pool = await startThreads(script, threads ? navigator.hardwareConcurrency : 0);
    try {
      const [importScripts, module] = await Promise.all([handOver(script, pool), compiled]);
      self.Module = { locateFile: (file) => WASM_DIR + file, print: logged, printErr: logged };
      if (module) self.Module.instantiateWasm = (imports, receive) => receive(new WebAssembly.Instance(module, imports), module);
      self.importScripts = importScripts;
      await loadWithoutDevice(WASM_DIR, { threads });
    } finally {
      pool.restore();
      delete self.importScripts;
      delete self.Module;
    }
    hiddenHeap = !threads;
    return { threads: threads ? wanted : 1 };
  })();
  return runtime;
}

function details(tensors) {
  return tensors.map(({ name, shape, dtype }) => ({ name, shape: Array.from(shape), dtype }));
}

export const format = 'tflite';

/** The single-threaded build's wasm heap: made inside its module, where the worker's count of
 *  WebAssembly.Memory objects does not see it (the threaded build's shared memory it does). */
export function heaps() {
  return hiddenHeap ? [getGlobalLiteRt().liteRtWasm.HEAPU8.buffer] : [];
}

/** Starts loading the runtime ahead of the first model. */
export function prepare() {
  liteRt().catch(() => {}); // a failure is reported by load()
}

export async function load(bytes, delegate = 'CPU') {
  const { threads } = await liteRt();
  const { backend, note } = await backendFor(delegate);
  let model;
  recentErrors.length = 0;
  try {
    if (backend === 'webgpu') await withWebGpu();
    model = await loadAndCompile(bytes, { accelerator: backend, cpuOptions: { numThreads: threads } });
  } catch (error) {
    const why = recentErrors.filter((line) => !line.startsWith('[')).join(' ') || error.message || String(error);
    throw new Error(`Unable to load the TFLite model: ${why}`, { cause: error });
  }
  const inputs = details(model.getInputDetails());
  const outputs = details(model.getOutputDetails());
  // One tensor per input for the model's life: each run writes its feed into the tensor's
  // buffer (the one copy, Pyodide's heap to LiteRT's) instead of making and deleting one.
  const tensors = Object.fromEntries(
    inputs.map(({ name, shape, dtype }) => [name, new Tensor(zeros(dtype, shape), shape)]),
  );
  const runNow = backend === 'wasm' ? synchronousRun(model) : null;
  return {
    inputs,
    outputs,
    info: { engine: 'LiteRT.js', backend, threads, note, synchronous: Boolean(runNow) },
    run(feeds) {
      for (const { name } of inputs) write(tensors[name], feeds[name].data);
      if (runNow) {
        const buffers = runNow(inputs.map(({ name }) => tensors[name].liteRtTensorBuffer));
        if (Array.isArray(buffers)) return outputsOf(buffers);
        return buffers.then(outputsOf);
      }
      return runPublicly(tensors);
    },
    release() {
      for (const tensor of Object.values(tensors)) tensor.delete();
      model.delete();
    },
  };

  /** LiteRT.js's public run: its output tensors read and deleted. */
  async function runPublicly(tensors) {
    let results = {};
    try {
      results = await model.run(tensors);
      const out = {};
      for (const { name, shape } of outputs) out[name] = { data: await results[name].data(), shape };
      return out;
    } finally {
      for (const tensor of Object.values(results)) tensor.delete();
    }
  }

  /** The outputs of a run from the compiled model's buffers (in the signature's order), each
   *  read and deleted. */
  function outputsOf(buffers) {
    try {
      return Object.fromEntries(outputs.map(({ name, shape, dtype }, i) => [name, { data: read(buffers[i], dtype), shape }]));
    } finally {
      for (const buffer of buffers) buffer.delete();
    }
  }
}

/** The compiled model's own run (its C++ run, on the CPU a synchronous call), or null when
 *  this LiteRT.js does not have the internals it needs. LiteRT.js's public run() wraps it in
 *  promises (with per-run checks of the input buffers, which ours pass by construction), and
 *  waiting for a promise costs Python 0.5-0.8 ms a call (JSPI's suspension and resumption);
 *  called this way, a photo's run returns its buffers at once. */
function synchronousRun(model) {
  const compiled = model.liteRtCompiledModel;
  const signature = model.defaultSignature?.signatureIndex;
  if (typeof compiled?.run !== 'function' || !Number.isInteger(signature)) return null;
  return (buffers) => compiled.run(signature, buffers);
}

/** A copy of a host tensor buffer's data, as a TypedArray of `dtype`. */
function read(buffer, dtype) {
  const wasm = getGlobalLiteRt().liteRtWasm;
  const pointer = buffer.lock(wasm.LiteRtTensorBufferLockMode.READ);
  try {
    return new TYPED_ARRAYS[dtype](wasm.HEAPU8.slice(pointer, pointer + buffer.packedSize()).buffer);
  } finally {
    buffer.unlock();
  }
}

/** Copies `data` (a TypedArray of the tensor's size) into a host tensor's buffer. */
function write(tensor, data) {
  const wasm = getGlobalLiteRt().liteRtWasm;
  const buffer = tensor.liteRtTensorBuffer;
  if (data.byteLength !== buffer.packedSize()) {
    throw new Error(`Expected ${buffer.packedSize()} bytes of input, got ${data.byteLength}.`);
  }
  const pointer = buffer.lock(wasm.LiteRtTensorBufferLockMode.WRITE);
  try {
    wasm.HEAPU8.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), pointer);
  } finally {
    buffer.unlock();
  }
}
