// The worker's calls into Python (image_classifier.webapi.WorkerApi.dispatch), and what crosses
// between them besides plain data, without Pyodide's proxies and conversions of typed arrays:
// in Pyodide 0.27 each of those keeps a few bytes of Python's memory for good (a Buffer
// object; fixed upstream in pyodide#6293), which a live stream, a call per frame, adds up to
// megabytes.

import { elementCount, TYPED_ARRAYS } from './engines/backend.mjs';

let pyBytearray = null; // Python's bytearray type, as a PyProxy kept for the worker's life

/** WorkerApi.dispatch(op, args): the arguments converted (toPython) and the reply, {value} |
 *  {error} | {decodeInBrowser}, converted back, every proxy made on the way destroyed. */
export class PythonApi {
  #pyodide;
  #dispatch;

  constructor(pyodide, dispatch) {
    this.#pyodide = pyodide;
    this.#dispatch = dispatch;
  }

  /** Entered with JSPI: Python may wait for an engine's promise (run_sync). */
  async call(op, args) {
    const [pyArgs, release] = toPython(this.#pyodide, args);
    try {
      return replyOf(await this.#dispatch.callPromising(op, pyArgs));
    } finally {
      release();
    }
  }

  /** Entered synchronously (no JSPI): for what never waits for an engine. */
  callNow(op, args) {
    const [pyArgs, release] = toPython(this.#pyodide, args);
    try {
      return replyOf(this.#dispatch(op, pyArgs));
    } finally {
      release();
    }
  }
}

function replyOf(proxy) {
  const reply = proxy.toJs({ dict_converter: Object.fromEntries });
  proxy.destroy();
  return reply;
}

/** `args` as Python gets them (pyodide.toPy), but with every typed array in them (an image's
 *  bytes, a model's) copied into a Python bytearray first, not converted by toPy. Returns the
 *  arguments' PyProxy and a function that destroys what was made. */
function toPython(pyodide, args) {
  if (!pyBytearray) {
    const builtins = pyodide.pyimport('builtins');
    pyBytearray = builtins.bytearray.copy();
    builtins.destroy();
  }
  const made = [];
  const copied = (view) => {
    const array = pyBytearray(view.byteLength);
    made.push(array);
    const buffer = array.getBuffer('u8');
    try {
      buffer.data.set(new Uint8Array(view.buffer, view.byteOffset, view.byteLength));
    } finally {
      buffer.release();
    }
    return array;
  };
  const plain = (value) => {
    if (ArrayBuffer.isView(value)) return copied(value);
    if (value instanceof ArrayBuffer) return copied(new Uint8Array(value));
    if (Array.isArray(value)) return value.map(plain);
    if (value && Object.getPrototypeOf(value) === Object.prototype) {
      return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, plain(item)]));
    }
    return value;
  };
  const pyArgs = pyodide.toPy(plain(args));
  return [pyArgs, () => [pyArgs, ...made].forEach((proxy) => proxy.destroy())];
}

/** Runs an engine's `model` on Python's arrays: `addresses`, those of its inputs then its
 *  outputs in the model's order (C-ordered, of the declared shapes and dtypes), in the memory
 *  `heap()` gives (Pyodide's). The inputs are viewed there right before the run, which reads
 *  them before its first await (the adapter interface); each output is copied there when it
 *  comes, into the memory as it is then (a call into Python meanwhile may have grown it).
 *  Returns nothing, or a promise when the engine gives one. */
export function runOnHeap(model, heap, addresses) {
  const { inputs, outputs } = model;
  const feeds = Object.fromEntries(
    inputs.map(({ name, dtype, shape }, i) => [name, { data: new TYPED_ARRAYS[dtype](heap().buffer, addresses[i], elementCount(shape)), shape }]),
  );
  const store = (results) => {
    outputs.forEach(({ name, shape }, i) => {
      const { data } = results[name];
      if (data.length !== elementCount(shape)) {
        throw new Error(`output tensor ${name} has ${data.length} values, the model declares [${shape.join(', ')}].`);
      }
      heap().set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), addresses[inputs.length + i]);
    });
  };
  const results = model.run(feeds);
  return typeof results?.then === 'function' ? results.then(store) : store(results);
}
