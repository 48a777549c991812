// Python's start in the worker: from the site's memory snapshot (snapshot.mjs) when there is a
// valid one, else the normal boot (Pyodide's main(), then numpy, Pillow and image_classifier
// installed from their wheels). Either way, the caller gets a Pyodide with the package loaded.

import { loadPyodide } from './pyodide/pyodide.mjs';
import { loadFromSnapshot } from './snapshot.mjs';
import { runtimeFile } from './runtime-files.mjs';

export const INDEX_URL = runtimeFile('pyodide/');
// What the page shows once each step of a restore is done: [fraction, what comes next].
const SNAPSHOT_STEPS = {
  checked: [0.1, 'Loading Python and its snapshot…'],
  module: [0.35, 'Restoring the packages\' files…'],
  files: [0.4, 'Compiling numpy and Pillow…'],
  compiled: [0.5, 'Linking numpy and Pillow…'],
  libraries: [0.6, 'Restoring the interpreter…'],
};

/** {pyodide, snapshot: {used, local, note}} (`local`: read from this browser's copy of the
 *  snapshot); `progress(stage, fraction, message)` reports each step
 *  and `mark(name)` records when it ended (the worker's boot timings). */
export async function bootPython(progress, mark) {
  progress('runtime', 0.02, 'Loading the Python runtime…');
  try {
    const { pyodide, local } = await loadFromSnapshot(INDEX_URL, (stage) => {
      mark(stage);
      if (SNAPSHOT_STEPS[stage]) progress('runtime', ...SNAPSHOT_STEPS[stage]);
    });
    mark('pyodide');
    return { pyodide, snapshot: { used: true, local, note: '' } };
  } catch (error) {
    const note = `Python starts without its snapshot (${error.message}): the first start is slower.`;
    console.warn(note);
    progress('runtime', 0.05, note);
    const pyodide = await loadPyodide({ indexURL: INDEX_URL });
    mark('pyodide');
    progress('packages', 0.45, 'Loading numpy, Pillow and image_classifier…');
    await pyodide.loadPackage(['image_classifier'], { messageCallback: () => {} });
    mark('packages');
    return { pyodide, snapshot: { used: false, local: false, note } };
  }
}
