// Makes the memory snapshot for web/snapshot_build.py, in a module worker as the app's own
// worker is (the same globals for the JS objects Python refers to): boots Pyodide from the
// served files, imports the package, and uploads the three parts to the build's server.

import { makeSnapshot } from '/snapshot.mjs';

async function upload(name, body) {
  const response = await fetch(`/__snapshot__/upload/${name}`, { method: 'POST', body });
  if (!response.ok) throw new Error(`upload of ${name}: HTTP ${response.status}`);
}

try {
  const { heap, files, meta } = await makeSnapshot(new URL('/pyodide/', self.location.href).href, ['image_classifier']);
  await upload('heap', heap);
  await upload('files', files);
  await upload('meta', JSON.stringify(meta));
  self.postMessage({ ok: true });
} catch (error) {
  self.postMessage({ ok: false, message: `${error.message}\n${error.stack}` });
}
