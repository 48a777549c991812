// What the worker's runtime holds, for its status (the page, the tests, bench/soak.py): the
// threads the engines start, which are real workers, counted as they are made, and the
// WebAssembly memories. worker.mjs imports this module before the engines, so that its hooks
// see every worker and memory they make.

let started = 0;
const NativeWorker = self.Worker;
if (NativeWorker) {
  self.Worker = class extends NativeWorker {
    constructor(...args) {
      super(...args);
      started += 1;
    }
  };
}

/** The workers started so far: the engines' threads (a test checks they run multi-threaded). */
export function threadWorkers() {
  return started;
}

const memories = [];
WebAssembly.Memory = new Proxy(WebAssembly.Memory, {
  construct(target, args, newTarget) {
    const memory = Reflect.construct(target, args, newTarget);
    memories.push(new WeakRef(memory));
    return memory;
  },
});

/** The WebAssembly memory made here whose buffer is `buffer` (Pyodide's heap: Emscripten
 *  does not give its memory away), or null. */
export function memoryOf(buffer) {
  return memories.map((ref) => ref.deref()).find((memory) => memory?.buffer === buffer) ?? null;
}

// struct mallinfo (ten 32-bit words): uordblks, the bytes malloc has handed out and not had
// back, is word 7.
const MALLINFO = { words: 10, inUse: 7 };

/** The bytes of Pyodide's heap in use (what Python and its libraries hold), as its malloc
 *  counts them: unlike the heap's size, which never shrinks, it falls when memory is freed. */
function pyodideInUse(Module) {
  const info = Module._calloc(MALLINFO.words, 4);
  try {
    Module._mallinfo(info);
    return Module.HEAPU32[(info >>> 2) + MALLINFO.inUse];
  } finally {
    Module._free(info);
  }
}

/** Sizes of the runtime's memories (bytes): Pyodide's wasm heap and what of it is in use, the
 *  engines' wasm heaps (their sum, and every WebAssembly memory alone). `Module` is Pyodide's
 *  Emscripten module (null before Python is ready), `engineHeaps` the buffers the engines
 *  report beside the memories seen being made. */
export function memoryReport(Module, engineHeaps) {
  self.gc?.(); // only with --js-flags=--expose-gc (bench/soak.py): what is kept, not garbage
  const pyodideBuffer = Module?.HEAPU8.buffer;
  const buffers = new Set(memories.map((ref) => ref.deref()?.buffer).filter(Boolean));
  for (const heap of engineHeaps) buffers.add(heap);
  let engines = 0;
  for (const buffer of buffers) if (buffer !== pyodideBuffer) engines += buffer.byteLength;
  const wasm = [...buffers].map((buffer) => buffer.byteLength);
  return { pyodideWasm: pyodideBuffer?.byteLength ?? 0, pyodideInUse: Module ? pyodideInUse(Module) : 0, engineWasm: engines, wasm };
}
