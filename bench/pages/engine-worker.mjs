// An engine adapter of the site (web/engines/*.mjs) timed without Python: load(bytes) and
// model.run(feeds), exactly as the classifier worker calls them, in a module worker like it.
//
// Request: {adapter: '/engines/litert.mjs', model: '/models/x.tflite', threads, runs, warmup}
// Reply:   {ok: true, info, loadMs, runMs: [...]} | {ok: false, message}

import { setThreadCount } from '/engines/backend.mjs';

/** An input that looks like a normalized photo: deterministic values in [-1, 1) (every
 *  model here, int8 ones included, takes float32). */
function filled(dtype, shape) {
  if (dtype !== 'float32') throw new Error(`Unsupported input type ${dtype}: the bench feeds float32.`);
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
  let state = 1;
  for (let i = 0; i < data.length; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0; // a 32-bit LCG
    data[i] = state / 2 ** 31 - 1;
  }
  return data;
}

self.onmessage = async ({ data: { adapter, model, threads, runs, warmup } }) => {
  try {
    const engine = await import(adapter);
    setThreadCount(threads);
    const bytes = new Uint8Array(await (await fetch(model)).arrayBuffer());
    const loadStarted = performance.now();
    const loaded = await engine.load(bytes, 'CPU');
    const loadMs = performance.now() - loadStarted;
    const feeds = Object.fromEntries(loaded.inputs.map(({ name, shape, dtype }) => [name, { data: filled(dtype, shape), shape }]));
    for (let i = 0; i < warmup; i++) await loaded.run(feeds);
    const runMs = [];
    for (let i = 0; i < runs; i++) {
      const started = performance.now();
      await loaded.run(feeds);
      runMs.push(performance.now() - started);
    }
    await loaded.release();
    self.postMessage({ ok: true, info: loaded.info, loadMs, runMs });
  } catch (error) {
    self.postMessage({ ok: false, message: error.message ?? String(error) });
  }
};
