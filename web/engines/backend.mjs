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

// This worker's WebGPU, as it starts (litert.mjs hides it from LiteRT.js for a while).
const GPU = self.navigator.gpu;
let gpuAdapter;
/** Why WebGPU cannot be used here, or '' when it can. */
async function webgpuUnavailable() {
  if (!GPU) return 'this browser has no WebGPU';
  gpuAdapter ??= GPU.requestAdapter().catch(() => null);
  return (await gpuAdapter) ? '' : 'no WebGPU adapter is available';
}

/** {backend: 'wasm' | 'webgpu', note} for a delegate ('CPU' | 'GPU'): WebGPU when asked for
 *  and available, else WebAssembly, with a note saying why when the GPU was asked for. */
export async function backendFor(delegate) {
  if (delegate !== 'GPU') return { backend: 'wasm', note: '' };
  const why = await webgpuUnavailable();
  if (!why) return { backend: 'webgpu', note: '' };
  return { backend: 'wasm', note: `WebGPU requested, but ${why}: running on WebAssembly (CPU) instead.` };
}
