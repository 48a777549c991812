// The warp's sampling of 4-byte pixels (RGBA bitmaps, BGRA camera frames) for Python in the
// worker: preprocess.py works out the geometry and its sampling plan per axis, and warp.wasm
// (web/warp.wat, WebAssembly with SIMD, built by the site build) does the arithmetic in one
// pass over Python's own memory, which it imports (preprocess.use_words_kernel; installed by
// engines/browser.py). The same integers as the numpy warp (warpPerspective's): numpy in
// WebAssembly makes a dozen passes over 224x224 temporaries, 2-3 ms a photo; the JavaScript
// loop this replaces made one (0.6-0.8 ms in the worker), warp.wasm takes about a third of
// its time (Node.js, 224x224 out of 960x640: 0.38-0.47 ms against 0.99-1.58).

import { runtimeFile } from './runtime-files.mjs';

// Fetched and compiled while Python boots; its 596 bytes need no streaming (nor the host's
// MIME type for it).
const compiled = fetch(runtimeFile('warp.wasm'))
  .then((response) => (response.ok ? response.arrayBuffer() : Promise.reject(new Error(`HTTP ${response.status}`))))
  .then((bytes) => WebAssembly.compile(bytes))
  .catch((error) => {
    console.warn(`warp.wasm not loaded (${error.message}): Python samples pixels with numpy.`);
    return null;
  });

/** The sampling kernel on `memory` (Pyodide's WebAssembly.Memory): warp.wat's `warp`, a
 *  function of numbers only (addresses in that memory, bytes of a word, counts, as warp.wat
 *  says), or null when warp.wasm could not be loaded (a browser without WebAssembly SIMD):
 *  Python then samples with numpy, more slowly, to the same integers. */
export async function warpKernel(memory) {
  const module = await compiled;
  if (!module) return null;
  const { exports } = await WebAssembly.instantiate(module, { env: { memory } });
  return exports.warp;
}
