// What the engines run on: how many WebAssembly threads (one setting for onnxruntime-web and
// LiteRT.js), and WebGPU or WebAssembly for a delegate; and the typed array of each dtype of
// the adapter interface (ort.mjs).

export const TYPED_ARRAYS = { float32: Float32Array, int32: Int32Array, uint8: Uint8Array, int8: Int8Array };

/** The number of values in a tensor of `shape`. */
export function elementCount(shape) {
  return shape.reduce((a, b) => a * b, 1);
}

/** A typed array of `dtype` holding a tensor of `shape`, zeroed. */
export function zeros(dtype, shape) {
  return new TYPED_ARRAYS[dtype](elementCount(shape));
}

let requested = 0;
let claimed = false;

/** Asks for `count` threads instead of the default; only before the first model loads. */
export function setThreadCount(count) {
  if (claimed) throw new Error('numThreads must be set before the first model loads.');
  requested = Math.max(1, Math.floor(count));
}

/** Threads an engine may use: cores (at most 4) when cross-origin isolated, else 1. */
export function threadCount() {
  if (!self.crossOriginIsolated) return 1;
  if (requested) return requested;
  return Math.max(1, Math.min(4, self.navigator.hardwareConcurrency || 1));
}

/** threadCount() for an engine starting its runtime: the setting is final from now on. */
export function claimThreads() {
  claimed = true;
  return threadCount();
}

let hidden = Promise.resolve(); // settles once no load runs with WebGPU hidden

/** Runs `load` with `navigator.gpu` hidden from it: LiteRT.js's loader would otherwise wait
 *  for a WebGPU device that no model on the CPU needs (litert.mjs). A model asked for on
 *  WebGPU meanwhile waits for the end (backendFor), as its engine looks for `navigator.gpu`. */
export function withoutWebGpu(load) {
  Object.defineProperty(self.navigator, 'gpu', { value: undefined, configurable: true });
  const loading = (async () => {
    try {
      return await load();
    } finally {
      delete self.navigator.gpu;
    }
  })();
  hidden = loading.then(
    () => {},
    () => {},
  );
  return loading;
}

let gpuAdapter;
/** Why WebGPU cannot be used here, or '' when it can. */
async function webgpuUnavailable() {
  if (!self.navigator.gpu) return 'this browser has no WebGPU';
  gpuAdapter ??= self.navigator.gpu.requestAdapter().catch(() => null);
  return (await gpuAdapter) ? '' : 'no WebGPU adapter is available';
}

/** {backend: 'wasm' | 'webgpu', note} for a delegate ('CPU' | 'GPU'): WebGPU when asked for
 *  and available, else WebAssembly, with a note saying why when the GPU was asked for. */
export async function backendFor(delegate) {
  if (delegate !== 'GPU') return { backend: 'wasm', note: '' };
  await hidden;
  const why = await webgpuUnavailable();
  if (!why) return { backend: 'webgpu', note: '' };
  return { backend: 'wasm', note: `WebGPU requested, but ${why}: running on WebAssembly (CPU) instead.` };
}
