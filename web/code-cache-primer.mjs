// A throwaway module worker that imports, without starting anything, the JavaScript the
// runtime's worker compiles at every start: Pyodide's (1.3 MB) and LiteRT.js's. Chromium keeps
// the compiled code of a module a worker imports once it has been imported twice (a worker has
// no in-memory cache that outlives it), so two of these (image-classifier.mjs primeCodeCache)
// spare later starts parsing it again. Errors go to the caller through the worker's error event.

import { INDEX_URL } from './boot.mjs';
import { runtimeModule } from './engines/litert.mjs';

await Promise.all([import(`${INDEX_URL}pyodide.asm.js`), runtimeModule().then((url) => import(url))]);
self.postMessage('primed');
