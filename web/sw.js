// Service worker: the app offline and versioned, and cross-origin isolated on any static host.
//
// - BUILD (filled in by build_site.py, see web/pwa.py) lists every file of this deployment with
//   its sha256: `precache` is what the default page needs to start and classify (Pyodide and
//   its snapshot, LiteRT.js, the default model, the page), `lazy` the rest (other models,
//   onnxruntime-web, the wheels). A new deployment changes BUILD, so this file: the browser then
//   installs the new version beside the running one, and the page offers to reload.
// - Caches: `image-classifier-app-<version>` holds `precache` for one version only (filled on
//   install; unchanged files are copied from the previous version instead of downloaded), and is
//   deleted when a newer version takes over. `image-classifier-extra` holds `lazy` files, stored
//   when first used or when the page asks to keep one offline; it outlives versions, minus the
//   files a new version changed or dropped. Every stored file is checked against its sha256, so
//   a cache never mixes two deployments.
// - Cache first for the files of the build (the page runs exactly the version that controls
//   it, online or not); the network for anything else.
// - Static hosts that cannot send COOP/COEP headers: every same-origin response goes through
//   here and gets them (and the MIME types module workers and WebAssembly need), so the page is
//   cross-origin isolated, and onnxruntime multi-threaded, once this worker controls it
//   (offline.mjs reloads the page once for that).
// - A full disk or a refused quota never stops the app: what could not be stored comes from
//   the network, and the page is told why (messages below).
// - A response that already has what the page needs is stored as the server sent it, under
//   its URL with its sha256 as the query: Chromium keeps the compiled code of a script only
//   for such a response, not for one made here (`new Response`), and without it every start
//   parses Pyodide's 1.3 MB of JavaScript again.
//
// Messages from the page (a reply goes to the MessagePort sent along):
//   {type: 'status'}              -> status()
//   {type: 'keep', path, keep}    -> stores (with its engine: BUILD.withModel) or deletes a lazy file; status()
//   {type: 'precache'}            -> stores what is missing of `precache` again; status()
//   {type: 'skip-waiting'}        -> this (waiting) version takes over; the page reloads
// Broadcasts to every window: {type: 'progress' | 'stored' | 'error' | 'activated', version, ...}

const BUILD = { version: 'dev', precache: {}, lazy: {} };

const PREFIX = 'image-classifier';
const APP_CACHE = `${PREFIX}-app-${BUILD.version}`;
const EXTRA_CACHE = `${PREFIX}-extra`;
const HASH_QUERY = 'sha256';
const EARLIER_HASH_HEADER = 'X-Content-SHA256'; // where versions before 744d34c kept it
const SCOPE = new URL(self.registration.scope);
const ISOLATION = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
};
const MIME_TYPES = { mjs: 'text/javascript', js: 'text/javascript', wasm: 'application/wasm', webmanifest: 'application/manifest+json' };
const PARALLEL = 4;

// What the running fill of `precache` has done (memory only: status() recomputes the rest).
const fill = { running: null, done: 0, total: 0, error: null };

/** The build path of a URL ('./' for the scope itself and index.html), or null outside. */
function pathOf(url) {
  if (url.origin !== SCOPE.origin || !url.pathname.startsWith(SCOPE.pathname)) return null;
  const path = decodeURIComponent(url.pathname.slice(SCOPE.pathname.length));
  return path === '' || path === 'index.html' ? './' : path;
}

const urlOf = (path) => new URL(path, SCOPE).href;

// This version's caches, opened once (every request looks in them).
const opened = new Map();
function cacheNamed(name) {
  if (!opened.has(name)) opened.set(name, caches.open(name));
  return opened.get(name);
}

const hex = (buffer) => [...new Uint8Array(buffer)].map((b) => b.toString(16).padStart(2, '0')).join('');

function describe(error) {
  return { name: error?.name ?? 'Error', message: error?.message ?? String(error) };
}

async function broadcast(message) {
  const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
  for (const client of windows) client.postMessage({ version: BUILD.version, ...message });
}

/** `headers` with what every response of the app carries: cross-origin isolation and the MIME
 *  type module workers and WebAssembly need (static hosts may send neither). */
function isolationHeaders(headers, path) {
  const out = new Headers(headers);
  if (out.has('Content-Encoding')) {
    // The browser decoded the body (a gzipped copy the server sent): these described the bytes
    // that came over the network, not the body handed on.
    out.delete('Content-Encoding');
    out.delete('Content-Length');
  }
  for (const [name, value] of Object.entries(ISOLATION)) out.set(name, value);
  const mime = MIME_TYPES[path?.split('.').pop()];
  if (mime) out.set('Content-Type', mime);
  return out;
}

/** Whether `response` carries the isolation headers already (a server that sends them). */
const isolatedAlready = (response) =>
  response.headers.get('Cross-Origin-Embedder-Policy') === ISOLATION['Cross-Origin-Embedder-Policy'];

/** `response` as it is stored and served, once its body's sha256 is checked against the
 *  build's: the server's own response when it is isolated already, else a copy with the
 *  isolation headers (so that serving it needs no copy). */
async function checked(path, response, sha256) {
  if (!response.ok || response.status !== 200) throw new Error(`${path}: HTTP ${response.status}`);
  const kept = isolatedAlready(response);
  const body = await (kept ? response.clone() : response).arrayBuffer();
  const actual = hex(await crypto.subtle.digest('SHA-256', body));
  if (actual !== sha256) {
    throw new Error(`${path} on the server is not the file of this version (a newer deployment?)`);
  }
  if (kept) return response;
  const headers = isolationHeaders(response.headers, path);
  headers.set('Content-Length', String(body.byteLength));
  return new Response(body, { status: 200, statusText: 'OK', headers });
}

/** The key a file of the build is stored under: its URL with its sha256 as the query, so
 *  that one lookup finds the bytes of that version only. */
const storedAs = (path, sha256) => `${urlOf(path)}?${HASH_QUERY}=${sha256}`;

/** The sha256 a stored request's key names (null: not a key of storedAs). */
const storedHash = (request) => new URL(request.url).searchParams.get(HASH_QUERY);

/** The stored response of `path` when its bytes are the ones of `sha256`, else null. */
async function storedCopy(cache, path, sha256) {
  return (await cache.match(storedAs(path, sha256), { ignoreVary: true })) ?? null;
}

/** Stores one file of the build in `cache`: from an older cache when one holds the same
 *  bytes, else from the network (revalidated, not from the HTTP cache). */
async function storeFile(cache, path, { sha256 }, olderCaches = []) {
  if (await storedCopy(cache, path, sha256)) return;
  let response = null;
  for (const older of olderCaches) {
    response = await storedCopy(older, path, sha256);
    if (response) break;
  }
  response ??= await checked(path, await fetch(urlOf(path), { cache: 'no-cache' }), sha256);
  await cache.put(storedAs(path, sha256), response);
}

/** Stores every file of `precache` that is not stored yet; rejects with the first failure. */
function fillPrecache() {
  fill.running ??= (async () => {
    fill.error = null;
    fill.done = 0;
    fill.total = BUILD.bytes ?? 0;
    try {
      const names = await caches.keys();
      const cache = await cacheNamed(APP_CACHE);
      const older = await Promise.all(
        names.filter((n) => n.startsWith(`${PREFIX}-app-`) && n !== APP_CACHE).map((n) => caches.open(n)),
      );
      const queue = Object.entries(BUILD.precache);
      let failure = null;
      const worker = async () => {
        while (queue.length && !failure) {
          const [path, entry] = queue.shift();
          try {
            await storeFile(cache, path, entry, older);
          } catch (error) {
            failure ??= error;
            return;
          }
          fill.done += entry.bytes;
          broadcast({ type: 'progress', done: fill.done, total: fill.total });
        }
      };
      await Promise.all(Array.from({ length: PARALLEL }, worker));
      if (failure) throw failure;
    } catch (error) {
      fill.error = describe(error);
      broadcast({ type: 'error', error: fill.error, needed: fill.total });
      throw error;
    } finally {
      fill.running = null;
    }
  })();
  return fill.running;
}

self.addEventListener('install', (event) => {
  event.waitUntil(
    (async () => {
      const updating = Boolean(self.registration.active);
      try {
        await fillPrecache();
      } catch (error) {
        // An update that cannot be stored completely is refused: the running version stays,
        // and the browser tries again at its next update check. A first install goes on (the
        // app works online, cross-origin isolated); the page shows why it is not offline.
        if (updating) throw error;
        console.warn('The offline copy is incomplete:', error);
      }
    })(),
  );
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    (async () => {
      // Older versions' caches (and the unversioned cache of the first sw.js) go.
      for (const name of await caches.keys()) {
        if (name === PREFIX || (name.startsWith(`${PREFIX}-app-`) && name !== APP_CACHE)) {
          await caches.delete(name);
        }
      }
      // Kept files this version changed or no longer serves go too. One that versions before
      // 744d34c stored under its plain URL, with its sha256 in a response header, moves to
      // its key when it is still this version's file.
      const extra = await cacheNamed(EXTRA_CACHE);
      for (const request of await extra.keys()) {
        const path = pathOf(new URL(request.url));
        const entry = BUILD.lazy[path];
        if (entry && storedHash(request) === null) {
          const response = await extra.match(request, { ignoreVary: true });
          if (response?.headers.get(EARLIER_HASH_HEADER) === entry.sha256) await extra.put(storedAs(path, entry.sha256), response);
        }
        if (!entry || storedHash(request) !== entry.sha256) await extra.delete(request);
      }
      await self.clients.claim();
      broadcast({ type: 'activated' });
    })(),
  );
});

/** Where this version stands: {version, bytes, stored, complete, progress, error, lazy}. */
async function status() {
  const app = await cacheNamed(APP_CACHE);
  const extra = await cacheNamed(EXTRA_CACHE);
  let stored = 0;
  let complete = true;
  for (const [path, entry] of Object.entries(BUILD.precache)) {
    if (await storedCopy(app, path, entry.sha256)) stored += entry.bytes;
    else complete = false;
  }
  const lazy = {};
  for (const [path, entry] of Object.entries(BUILD.lazy)) {
    lazy[path] = { bytes: entry.bytes, stored: Boolean(await storedCopy(extra, path, entry.sha256)) };
  }
  return {
    version: BUILD.version,
    active: self.registration.active === self.serviceWorker,
    bytes: BUILD.bytes ?? 0,
    stored,
    complete,
    progress: fill.running ? { done: fill.done, total: fill.total } : null,
    error: complete ? null : fill.error,
    lazy,
  };
}

async function keep(path, wanted) {
  const entry = BUILD.lazy[path];
  if (!entry) throw new Error(`${path} is not a file of this version that can be kept offline.`);
  const extra = await cacheNamed(EXTRA_CACHE);
  if (!wanted) {
    await extra.delete(urlOf(path), { ignoreSearch: true }); // whatever its sha256 in the key
    return;
  }
  // The engine a model needs is kept with it (it stays when the model goes: others use it).
  const engine = BUILD.withModel?.[path.slice(path.lastIndexOf('.'))] ?? [];
  for (const file of [...engine, path]) await storeFile(extra, file, BUILD.lazy[file]);
}

self.addEventListener('message', (event) => {
  const { data } = event;
  const [port] = event.ports;
  const reply = (value) => port?.postMessage(value);
  const answer = async (work) => {
    try {
      await work();
      reply({ ok: true, status: await status() });
    } catch (error) {
      reply({ ok: false, error: describe(error), status: await status() });
    }
  };
  if (data?.type === 'skip-waiting') {
    event.waitUntil(self.skipWaiting());
  } else if (data?.type === 'status') {
    event.waitUntil(answer(async () => {}));
  } else if (data?.type === 'keep') {
    event.waitUntil(answer(() => keep(data.path, data.keep)));
  } else if (data?.type === 'precache') {
    event.waitUntil(answer(fillPrecache));
  }
});

// --- serving ----------------------------------------------------------------------------------

/** `response` as the page must get it: stored copies already are (see checked()); others get
 *  the isolation headers, through a copy of the response. */
function isolated(response, path) {
  if (response.type === 'opaque' || response.status === 0) return response;
  if (isolatedAlready(response)) return response;
  const headers = isolationHeaders(response.headers, path);
  return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
}

/** A file of the build that is not stored: from the network, and stored on the way (checked
 *  against its sha256) when it belongs to `cacheName`. */
async function fromNetwork(event, request, path, entry, cacheName) {
  let response;
  try {
    response = await fetch(request);
  } catch (error) {
    const message = `Offline, and ${path} is not stored for offline use.`;
    return new Response(message, { status: 503, statusText: 'Offline (not stored for offline use)' });
  }
  if (response.status === 200) {
    const copy = response.clone();
    event.waitUntil(
      (async () => {
        try {
          await (await cacheNamed(cacheName)).put(storedAs(path, entry.sha256), await checked(path, copy, entry.sha256));
          broadcast({ type: 'stored', path });
        } catch (error) {
          // A file of the app counts as the app (its message offers to try again).
          const lazy = cacheName === EXTRA_CACHE;
          broadcast({ type: 'error', path: lazy ? path : undefined, error: describe(error), needed: lazy ? entry.bytes : BUILD.bytes });
        }
      })(),
    );
  }
  return response;
}

async function respond(event, path) {
  const { request } = event;
  for (const [files, cacheName] of [
    [BUILD.precache, APP_CACHE],
    [BUILD.lazy, EXTRA_CACHE],
  ]) {
    const entry = path !== null && Object.hasOwn(files, path) ? files[path] : null;
    if (!entry) continue;
    const stored = await storedCopy(await cacheNamed(cacheName), path, entry.sha256);
    return stored ?? fromNetwork(event, request, path, entry, cacheName);
  }
  // Not a file of this build (a test page, a query...): the network, else any stored copy.
  try {
    return await fetch(request);
  } catch (error) {
    const stored = await caches.match(request, { ignoreSearch: true });
    if (stored) return stored;
    throw error;
  }
}

self.addEventListener('fetch', (event) => {
  const { request } = event;
  const url = new URL(request.url);
  if (request.method !== 'GET' || url.origin !== self.location.origin) return;
  if (request.headers.has('range')) return;
  const path = pathOf(url);
  event.respondWith(respond(event, path).then((response) => isolated(response, path)));
});
