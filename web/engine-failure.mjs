// Engines that crash: an engine whose WebAssembly module trapped or aborted is broken for
// good, and its next calls may never settle (a LiteRT.js trap once left every later model
// load, of any format, hanging). The worker reports it once ({type: 'failed', message}) and
// image-classifier.mjs replaces the worker; meanwhile every request is refused with it.

let failed = null;

/** The message of the crash, or null while every engine works. */
export function engineFailure() {
  return failed;
}

function engineFailed(engine, error) {
  if (failed) return;
  failed = `${error.message} (${engine} crashed: the classifier worker is restarted)`;
  console.error(failed);
  self.postMessage({ type: 'failed', message: failed });
}

const isTrap = (error) => error instanceof WebAssembly.RuntimeError || error?.cause instanceof WebAssembly.RuntimeError;

/** `promise` of an engine's call, reporting the engine as crashed if it traps (the engines
 *  give a trap as their error or its `cause`). */
export async function watched(engine, promise) {
  try {
    return await promise;
  } catch (error) {
    if (isTrap(error)) engineFailed(engine, error);
    throw error;
  }
}

// A trap may also surface outside any call (in a callback of the engine's threads).
for (const type of ['error', 'unhandledrejection']) {
  self.addEventListener(type, (event) => {
    const error = event.error ?? event.reason;
    if (isTrap(error)) engineFailed('An engine', error);
  });
}
