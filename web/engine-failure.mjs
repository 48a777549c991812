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

/** `call()`'s value, or its promise (engines' calls may be either), reporting the engine as
 *  crashed if it traps (the engines give a trap as their error or its `cause`), thrown or
 *  rejected. */
export function watched(engine, call) {
  const failed = (error) => {
    if (isTrap(error)) engineFailed(engine, error);
    throw error;
  };
  let value;
  try {
    value = call();
  } catch (error) {
    failed(error);
  }
  return typeof value?.then === 'function' ? value.catch(failed) : value;
}

// A trap may also surface outside any call (in a callback of the engine's threads).
for (const type of ['error', 'unhandledrejection']) {
  self.addEventListener(type, (event) => {
    const error = event.error ?? event.reason;
    if (isTrap(error)) engineFailed('An engine', error);
  });
}
