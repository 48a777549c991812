// One memory sample of a page using the classifier: the page's JS heap, the classifier
// worker's JS heap and every WebAssembly memory (Pyodide's, the engines'), in bytes, each
// measured after a garbage collection where the browser allows one (--js-flags=--expose-gc).
import { loadRuntime } from '/image-classifier.mjs';

/** Bytes per scope ('Window', 'DedicatedWorkerGlobalScope: <url>') of
 *  performance.measureUserAgentSpecificMemory (cross-origin isolated pages only). */
async function agentMemory() {
  if (!performance.measureUserAgentSpecificMemory) return {};
  const { breakdown } = await performance.measureUserAgentSpecificMemory();
  const out = {};
  for (const { bytes, attribution } of breakdown) {
    for (const { scope, url } of attribution) {
      const key = scope === 'Window' ? 'Window' : `${scope}: ${new URL(url).pathname}`;
      out[key] = (out[key] ?? 0) + bytes / attribution.length;
    }
  }
  return out;
}

export async function memorySample() {
  globalThis.gc?.();
  const { memory } = await loadRuntime();
  return {
    pageJsHeap: performance.memory?.usedJSHeapSize ?? null,
    pyodideWasm: memory.pyodideWasm,
    pyodideInUse: memory.pyodideInUse,
    engineWasm: memory.engineWasm,
    wasm: memory.wasm,
    agent: await agentMemory(),
  };
}
