// The bench page: one classifier (ours or MediaPipe's) behind one interface, timed the same way.
//
//   bench.html?engine=ours|mediapipe&model=/models/efficientnet_lite0_fp32.onnx&threads=2&delegate=CPU&photo=URL
//
// On load it creates the classifier and classifies the photo once; `window.started` resolves
// to {firstResultMs} counted from the navigation's start: the cold start in a fresh profile,
// the warm start after a reload. `window.bench` then times the same classifier on more photos.

const params = new URLSearchParams(location.search);
const ENGINES = { ours: () => import('./ours.mjs'), mediapipe: () => import('./mediapipe.mjs') };
const engine = ENGINES[params.get('engine')];
if (!engine) throw new Error(`Unknown engine ${params.get('engine')}. Should be one of: ${Object.keys(ENGINES)}.`);

/** A photo decoded once, before any timing: every engine gets the same pixels. */
async function bitmapOf(url) {
  const blob = await (await fetch(url)).blob();
  return createImageBitmap(blob, { premultiplyAlpha: 'none', colorSpaceConversion: 'none' });
}

const classifier = (async () =>
  (await engine()).create({
    model: params.get('model'),
    threads: Number(params.get('threads')) || undefined,
    delegate: params.get('delegate') ?? 'CPU',
    maxResults: 5,
  }))();

window.started = (async () => {
  const created = await classifier;
  const createdMs = performance.now();
  const bitmap = await bitmapOf(params.get('photo'));
  const classifyStarted = performance.now();
  await created.classify(bitmap);
  const firstResultMs = performance.now();
  return { firstResultMs, createdMs, firstClassifyMs: firstResultMs - classifyStarted, info: created.info };
})();

window.bench = {
  /** ms of `runs` classify() calls end to end (after `warmup`), cycling through the photos,
   *  each with the engine's own stage timings when it has them. */
  async latency(urls, runs, warmup) {
    const c = await classifier;
    const images = await Promise.all(urls.map(bitmapOf));
    for (let i = 0; i < warmup; i++) await c.classify(images[i % images.length]);
    const out = [];
    for (let i = 0; i < runs; i++) {
      const started = performance.now();
      const { stages } = await c.classify(images[i % images.length]);
      out.push({ ms: performance.now() - started, ...stages });
    }
    return out;
  },
  /** Resolves once this browser's copy of our snapshot is written (web/snapshot-copy.mjs:
   *  a start that fetched the snapshot writes it a second later, 45 MB), so that timing a
   *  steady state does not time that write too; false if none appears within 10 s. */
  async snapshotCopied() {
    const { COPY } = await import('/snapshot-copy.mjs');
    const folder = await navigator.storage.getDirectory();
    for (let i = 0; i < 100; i++) {
      const sizes = [];
      for await (const [name, handle] of folder.entries()) {
        if (COPY.test(name)) sizes.push((await handle.getFile()).size);
      }
      if (sizes.length === 2 && sizes.every((size) => size > 0)) return true;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return false;
  },
  /** All 1000 scores (by category index) per photo, for the accuracy comparison. */
  async scores(urls) {
    const c = await classifier;
    await c.setOptions({ maxResults: -1 });
    const out = [];
    for (const url of urls) {
      const { result } = await c.classify(await bitmapOf(url));
      const scores = new Array(1000).fill(0);
      for (const { index, score } of result.classifications[0].categories) scores[index] = score;
      out.push(scores);
    }
    await c.setOptions({ maxResults: 5 });
    return out;
  },
  async memory() {
    return (await classifier).memory();
  },
  /** Installs the app for offline use as a visitor's first visit does (the site's service
   *  worker, its precache complete, the runtime's code cache primed), and keeps this page's
   *  own files in a cache of their own (the service worker answers from any cache for files
   *  not of the build). */
  async installOffline(files) {
    await (await caches.open('bench-pages')).addAll(files);
    const registration = await navigator.serviceWorker.register('/sw.js', { updateViaCache: 'none' });
    await navigator.serviceWorker.ready;
    for (;;) {
      const status = await new Promise((resolve) => {
        const channel = new MessageChannel();
        channel.port1.onmessage = ({ data }) => resolve(data.status);
        registration.active.postMessage({ type: 'status' }, [channel.port2]);
      });
      if (status?.complete && navigator.serviceWorker.controller) {
        // As the app's page does then (offline.mjs).
        await (await import('/image-classifier.mjs')).primeCodeCache();
        return status;
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  },
};
