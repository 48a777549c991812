// A model asked for while Python boots, and that the site ships (its sha256 is in
// models/index.json), is loaded into its engine and run once meanwhile, so that creating the
// classifier finds it loaded and warm instead of loading it after the boot. Any other model
// waits for Python, which checks its graph before an engine sees it.

import { sha256 } from '../snapshot.mjs';
import { zeros } from './backend.mjs';
import { runtimeFile } from '../runtime-files.mjs';

const SHIPPED_MODELS = runtimeFile('models/index.json');

async function shippedDigests() {
  const response = await fetch(SHIPPED_MODELS);
  if (!response.ok) return new Set();
  return new Set((await response.json()).map((entry) => entry.sha256));
}

/** One model loaded ahead: start() once, take() when Python loads its model. */
export class EnginePreload {
  #early = null; // Promise<{format, delegate, digest, model} | null>

  /** What became of it: 'none' (no model asked for during the boot), 'not shipped', 'failed',
   *  'used' (Python's first model), 'released' (Python asked for another one). */
  outcome = 'none';

  /** Loads the model `bytes` (a Promise of them) of `format` into `engine` (an adapter) and
   *  runs it once on zeros (an engine's first run allocates and packs its kernels), when the
   *  site ships it; `watch(call)` makes each engine call, watching it for a crash. Only the
   *  first call does anything. */
  start(format, bytes, delegate, engine, watch) {
    this.#early ??= this.#load(format, bytes, delegate, engine, watch);
    this.#early.catch(() => {}); // Python's own load then reports what is wrong
  }

  async #load(format, bytes, delegate, engine, watch) {
    const [data, shipped] = await Promise.all([bytes, shippedDigests()]);
    const digest = await sha256(data);
    if (!shipped.has(digest)) {
      this.outcome = 'not shipped';
      return null;
    }
    const model = await watch(() => engine.load(data.slice(), delegate));
    const feeds = model.inputs.map(({ name, shape, dtype }) => [name, { data: zeros(dtype, shape), shape }]);
    await watch(() => model.run(Object.fromEntries(feeds)));
    return { format, delegate, digest, data, model };
  }

  /** The preloaded model when it is the one Python loads (`bytes` of `format`), else null (and
   *  it is released). */
  async take(format, bytes, delegate) {
    const early = await this.#early?.catch(() => {
      this.outcome = 'failed';
      return null;
    });
    this.#early = null;
    if (!early) return null;
    // Python hands the worker's own bytes back when it has them (engines/browser.py _js_bytes).
    const digest = bytes === early.data ? early.digest : await sha256(bytes);
    if (early.format === format && early.delegate === delegate && early.digest === digest) {
      this.outcome = 'used';
      return early.model;
    }
    this.outcome = 'released';
    early.model.release();
    return null;
  }
}
