// offline.mjs: the page's side of the installable, offline app (sw.js is the other side).
//
// - serviceWorker() registers sw.js. On a host that sends no COOP/COEP headers it reloads the
//   page once the worker controls it, so that the page is cross-origin isolated (threads).
// - The Offline panel: whether this version is stored for offline use, how much is stored
//   (navigator.storage.estimate() and the size of each cache), a "keep available offline"
//   switch per model, and why storing failed (a full quota): the app keeps working online.
// - The update prompt: a new deployment installs beside the running version; Reload lets it
//   take over (its service worker deletes the old caches) and reloads the page.
// - Once a version is stored and serves the page, the browser is made to keep the runtime's
//   compiled JavaScript (image-classifier.mjs primeCodeCache), once per version
//   (localStorage 'image-classifier-code-cache' holds the version it was done for).
//
// For tests and the console: window.offline = {status(), registration, ready}.

import { primeCodeCache } from './image-classifier.mjs';

const $ = (id) => document.getElementById(id);
const PREFIX = 'image-classifier';
const PRIMED = `${PREFIX}-code-cache`; // localStorage: the version whose code cache was primed
const supported = 'serviceWorker' in navigator;
const mb = (bytes) => (bytes >= 1e9 ? `${(bytes / 1e9).toFixed(1)} GB` : `${(bytes / 1e6).toFixed(1)} MB`);

let registration = null;
let models = []; // [{path, label}] from the page's model picker
let current = null; // the last status of the version that runs this page
let waiting = null; // a newer version, installed and waiting
const api = { registration: null, status, ready: null };
window.offline = api;

// --- talking to the service worker -----------------------------------------------------------

/** The service worker of this page's version (or the one being installed on a first visit). */
function worker() {
  return navigator.serviceWorker?.controller ?? registration?.active ?? registration?.installing ?? null;
}

/** Sends `message` to the service worker; resolves to its reply {ok, status, error}. */
function ask(message, target = worker()) {
  if (!target) return Promise.resolve({ ok: false, status: null, error: null });
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = ({ data }) => resolve(data);
    target.postMessage(message, [channel.port2]);
  });
}

/** The service worker's status: {version, bytes, stored, complete, progress, error, lazy}. */
async function status() {
  const reply = await ask({ type: 'status' });
  return reply.status;
}

// --- messages --------------------------------------------------------------------------------

async function quotaText(needed) {
  const estimate = await navigator.storage?.estimate?.().catch(() => null);
  const free = (estimate?.quota ?? 0) - (estimate?.usage ?? 0);
  return estimate?.quota && free < needed ? `, ${mb(Math.max(0, free))} left for this site` : '';
}

/** A clear sentence for a storing failure; the app itself keeps working online. */
async function storingError(error, what, needed) {
  if (error?.name === 'QuotaExceededError') {
    return (
      `Not enough storage to keep ${what} offline (${mb(needed)} needed${await quotaText(needed)}). ` +
      'The app keeps working online. Free some disk space, or allow this site to store more, then try again.'
    );
  }
  return `Could not keep ${what} offline: ${error?.message ?? error}. The app keeps working online.`;
}

let errorOfApp = false; // the message is about the app's own files (cleared once they are stored)
function showError(text, retry = false) {
  errorOfApp = retry;
  const box = $('offline-error');
  box.textContent = text;
  box.hidden = !text;
  $('offline-retry').hidden = !retry;
}

// --- the panel -------------------------------------------------------------------------------

function setState(state, text) {
  $('offline').dataset.state = state;
  $('offline-status').textContent = text;
}

function renderStatus(s) {
  if (!supported) return setState('unsupported', 'This browser cannot keep the app offline.');
  if (!s) return setState('none', 'Not stored for offline use yet.');
  if (s.progress) {
    return setState('storing', `Storing the app for offline use… ${mb(s.progress.done)} of ${mb(s.progress.total)}`);
  }
  if (s.complete) return setState('complete', `Available offline (${mb(s.bytes)}) · version ${s.version}`);
  return setState('incomplete', `Partly stored for offline use: ${mb(s.stored)} of ${mb(s.bytes)}.`);
}

function renderModels(s) {
  const list = $('offline-models');
  const rows = models.map(({ path, label }) => {
    const item = document.createElement('li');
    const box = document.createElement('input');
    box.type = 'checkbox';
    box.dataset.path = path;
    const lazy = s?.lazy?.[path];
    const text = document.createElement('span');
    if (lazy) {
      box.checked = lazy.stored;
      text.textContent = `${label}`;
      box.addEventListener('change', () => keepModel(box, path, label, lazy.bytes));
    } else {
      // The default model is part of the app; without a service worker nothing is kept.
      box.checked = Boolean(s?.complete);
      box.disabled = true;
      text.textContent = s ? `${label} (part of the app)` : label;
    }
    const name = document.createElement('label');
    name.append(box, ' ', text);
    item.append(name);
    item.dataset.stored = String(box.checked);
    return item;
  });
  list.replaceChildren(...rows);
}

async function cacheSizes() {
  if (!self.caches) return [];
  const sizes = [];
  for (const name of await caches.keys()) {
    if (!name.startsWith(PREFIX)) continue;
    const cache = await caches.open(name);
    let bytes = 0;
    for (const request of await cache.keys()) {
      const response = await cache.match(request);
      // (A gzipped response is stored as it came: its Content-Length counts gzip's bytes.)
      const length = response.headers.has('Content-Encoding') ? 0 : Number(response.headers.get('Content-Length'));
      bytes += length || (await response.blob()).size;
    }
    const version = name.slice(`${PREFIX}-app-`.length);
    const label = name === `${PREFIX}-extra`
      ? 'kept models'
      : name.startsWith(`${PREFIX}-app-`) && version === current?.version ? 'app' : 'older version';
    sizes.push({ name, label, bytes });
  }
  return sizes;
}

async function renderStorage() {
  const sizes = await cacheSizes();
  const total = sizes.reduce((sum, s) => sum + s.bytes, 0);
  const parts = sizes.filter((s) => s.bytes).map((s) => `${s.label} ${mb(s.bytes)}`);
  const estimate = await navigator.storage?.estimate?.().catch(() => null);
  const persisted = await navigator.storage?.persisted?.().catch(() => false);
  let text = `Stored offline: ${mb(total)}${parts.length ? ` (${parts.join(', ')})` : ''}.`;
  if (estimate?.quota) text += ` This site uses ${mb(estimate.usage ?? 0)} of the ${mb(estimate.quota)} the browser allows it`;
  if (estimate?.quota) text += persisted ? ', kept until you remove it.' : '; the browser may clear it when space runs low.';
  const line = $('offline-storage');
  line.textContent = text;
  line.dataset.bytes = String(total);
  line.dataset.caches = JSON.stringify(Object.fromEntries(sizes.map((s) => [s.name, s.bytes])));
}

let persistAsked = false;
let priming = null; // the runtime's code cache being primed (once a page)
/** Redraws the panel from the service worker's status and the storage in use. */
async function redraw() {
  try {
    const s = supported ? await status() : null;
    current = s;
    renderStatus(s);
    renderModels(s);
    if (errorOfApp && (s?.complete || s?.progress)) showError('');
    // Stored: ask the browser not to clear it under storage pressure (granted silently or not).
    if (s?.complete && !persistAsked) {
      persistAsked = true;
      await navigator.storage?.persist?.().catch(() => false);
    }
    // Stored and serving this page: the browser keeps the runtime's compiled JavaScript too,
    // once per version, so that the next starts do not parse it again.
    if (s?.complete && navigator.serviceWorker.controller && !priming && localStorage.getItem(PRIMED) !== s.version) {
      priming = primeCodeCache()
        .then(() => localStorage.setItem(PRIMED, s.version))
        .catch((error) => console.warn('The code cache is not primed:', error));
    }
    await renderStorage();
  } catch (error) {
    console.warn('Offline panel:', error);
  }
}

let refreshing = null;
let queued = null;
/** redraw(), once at a time; asked meanwhile, once more after the running one. */
function refresh() {
  if (!refreshing) {
    refreshing = redraw().finally(() => {
      refreshing = null;
    });
    return refreshing;
  }
  queued ??= refreshing.then(() => {
    queued = null;
    return refresh();
  });
  return queued;
}

async function keepModel(box, path, label, bytes) {
  const keep = box.checked;
  box.disabled = true;
  box.closest('li').dataset.busy = 'true';
  if (keep) navigator.storage?.persist?.().catch(() => {});
  const reply = await ask({ type: 'keep', path, keep });
  if (!reply.ok && reply.error) showError(await storingError(reply.error, label, bytes));
  else showError('');
  await refresh();
}

$('offline-retry').addEventListener('click', async () => {
  showError('');
  const reply = await ask({ type: 'precache' });
  if (!reply.ok && reply.error) showError(await storingError(reply.error, 'the app', reply.status?.bytes ?? 0), true);
  await refresh();
});

/** Called by the page once its model picker is filled: [{path, label}]. */
export function offlineModels(list) {
  models = list;
  refresh();
}

// --- updates ---------------------------------------------------------------------------------

function offerUpdate(newer) {
  if (!navigator.serviceWorker.controller) return; // a first install: nothing to replace
  if (!waiting) {
    // When the new version takes over (Reload here or in another tab), this page reloads
    // into it rather than run on beside it.
    navigator.serviceWorker.addEventListener('controllerchange', () => location.reload(), { once: true });
  }
  waiting = newer;
  $('update').hidden = false;
}

$('update-reload').addEventListener('click', () => {
  if (!waiting) return location.reload();
  $('update-reload').disabled = true;
  waiting.postMessage({ type: 'skip-waiting' });
});

let watching = false;
function watchUpdates() {
  api.registration = registration;
  if (watching) return;
  watching = true;
  if (registration.waiting) offerUpdate(registration.waiting);
  registration.addEventListener('updatefound', () => {
    const newer = registration.installing;
    newer?.addEventListener('statechange', () => {
      if (newer.state === 'installed') offerUpdate(newer);
      if (newer.state === 'activated' || newer.state === 'redundant') refresh();
    });
  });
  const check = () => registration.update().catch(() => {});
  document.addEventListener('visibilitychange', () => document.visibilityState === 'visible' && check());
  setInterval(check, 60 * 60 * 1000);
}

if (supported) {
  navigator.serviceWorker.addEventListener('message', async ({ data }) => {
    if (data?.type === 'progress') {
      const own = !current || data.version === current.version;
      const text = `${own ? 'Storing the app for offline use' : 'Downloading the new version'}… ${mb(data.done)} of ${mb(data.total)}`;
      if (own) setState('storing', text);
      else $('update-progress').textContent = text;
    } else if (data?.type === 'error') {
      if (current && data.version !== current.version) return; // an update failed: this one still runs
      const what = data.path ? models.find((m) => m.path === data.path)?.label ?? data.path : 'the app';
      showError(await storingError(data.error, what, data.needed ?? 0), !data.path);
      refresh();
    } else if (data?.type === 'stored' || data?.type === 'activated') {
      refresh();
    }
  });
  navigator.serviceWorker.startMessages();
}
addEventListener('online', refresh);
addEventListener('offline', refresh);

// --- registration ----------------------------------------------------------------------------

/** Registers sw.js (for offline use; on hosts without COOP/COEP also for cross-origin
 *  isolation: the page then reloads once, when the worker controls it). */
export async function serviceWorker() {
  if (!supported) return refresh();
  try {
    registration = await navigator.serviceWorker.register('sw.js', { updateViaCache: 'none' });
  } catch (error) {
    console.warn('No service worker:', error);
    setState('unsupported', `Offline use is not available: the service worker did not start (${error.message}).`);
    return undefined;
  }
  watchUpdates();
  refresh();
  if (self.crossOriginIsolated) {
    sessionStorage.removeItem('isolation-reload');
    return undefined;
  }
  if (sessionStorage.getItem('isolation-reload')) return undefined; // reloaded once: stay single-threaded
  await navigator.serviceWorker.ready;
  if (!navigator.serviceWorker.controller) {
    await Promise.race([
      new Promise((resolve) => navigator.serviceWorker.addEventListener('controllerchange', resolve, { once: true })),
      new Promise((resolve) => setTimeout(resolve, 5000)),
    ]);
  }
  if (!navigator.serviceWorker.controller) return undefined;
  sessionStorage.setItem('isolation-reload', '1');
  location.reload();
  return new Promise(() => {}); // the page is going away
}

// A returning visitor's page is controlled from the start: show what is stored at once.
api.ready = supported
  ? navigator.serviceWorker.getRegistration().then((found) => {
      if (found && !registration) {
        registration = found;
        watchUpdates();
      }
      return refresh();
    })
  : refresh();
