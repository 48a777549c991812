// onnxruntime-web as an engine adapter of the worker.
//
// The adapter interface (every engine implements it: litert.mjs, LiteRT.js for .tflite, is the
// other one; worker.mjs registers each for its format):
//
//   adapter.format                       model format it runs: 'onnx'
//   adapter.prepare?.()                  optional: start loading the runtime ahead of load()
//   adapter.heaps?.()                    optional: its wasm heaps (ArrayBuffers) the worker
//                                           cannot see being made (for the memory report)
//   await adapter.load(bytes, delegate)  -> model; bytes: Uint8Array of its own (the adapter
//                                           may keep it), delegate: 'CPU' | 'GPU'
//   model.inputs, model.outputs          [{name, shape: number[], dtype: 'float32'|'uint8'|'int8'|'int32'}]
//   model.info                           {engine, backend: 'wasm'|'webgpu', threads, note,
//                                           synchronous: whether run() returns its outputs}
//   model.run(feeds)                     feeds: {name: {data: TypedArray, shape}} (views into
//                                           Pyodide's heap: read them before the first await,
//                                           as a call into Python meanwhile may grow the heap
//                                           and detach them) -> {name: {data: TypedArray, shape}},
//                                           or a Promise of it (an engine that cannot run
//                                           synchronously: Python then waits through JSPI)
//   model.release()
//
// A WebAssembly.RuntimeError (a trap, or the module's abort()) thrown by load() (as its
// `cause`) or run() tells the worker the engine's module is broken for good: it is replaced
// (engine-failure.mjs).
//
// Python drives a model through image_classifier/engines/browser.py; no option, pre- or
// post-processing logic lives here.

import { backendFor, claimThreads } from './backend.mjs';
import { runtimeFile } from '../runtime-files.mjs';

const ORT_BASE = runtimeFile('ort/');

// WASM: the small CPU-only bundle. WebGPU: a separate bundle (and a 27 MB wasm), imported
// only when a GPU delegate is asked for and an adapter exists.
const BUNDLES = { wasm: 'ort.wasm.min.mjs', webgpu: 'ort.webgpu.min.mjs' };
const bundles = {};

function bundle(backend) {
  bundles[backend] ??= import(ORT_BASE + BUNDLES[backend]).then((ort) => {
    ort.env.wasm.wasmPaths = ORT_BASE;
    ort.env.wasm.numThreads = claimThreads();
    ort.env.logLevel = 'error';
    return ort;
  });
  return bundles[backend];
}

const DTYPES = new Set(['float32', 'uint8', 'int8']);

function details(metadata) {
  return metadata.map((m) => {
    if (!m.isTensor || !DTYPES.has(m.type)) {
      throw new Error(`Unsupported tensor type ${m.type} for '${m.name}'.`);
    }
    return { name: m.name, shape: m.shape.map((d) => (typeof d === 'number' ? d : 1)), dtype: m.type };
  });
}

export const format = 'onnx';

export async function load(bytes, delegate = 'CPU') {
  const { backend, note } = await backendFor(delegate);
  const ort = await bundle(backend);
  let session;
  try {
    session = await ort.InferenceSession.create(bytes, {
      executionProviders: [backend],
      graphOptimizationLevel: 'all',
    });
  } catch (error) {
    throw new Error(`Unable to load the ONNX model: ${error.message ?? error}`, { cause: error });
  }
  return {
    inputs: details(session.inputMetadata),
    outputs: details(session.outputMetadata),
    info: { engine: 'onnxruntime-web', backend, threads: ort.env.wasm.numThreads, note, synchronous: false },
    async run(feeds) {
      const tensors = {};
      for (const [name, { data, shape }] of Object.entries(feeds)) {
        tensors[name] = new ort.Tensor(data, shape);
      }
      const results = await session.run(tensors);
      const out = {};
      for (const [name, tensor] of Object.entries(results)) {
        out[name] = { data: await tensor.getData(true), shape: tensor.dims };
      }
      return out;
    },
    release() {
      return session.release();
    },
  };
}
