// The page: UI only. Everything it shows comes from image-classifier.mjs (the public JS API),
// which runs the Python classifier in a Web Worker; nothing here classifies or filters.

import { ImageClassifier, loadRuntime, runtime } from './image-classifier.mjs';
// The service worker: offline use, updates, and cross-origin isolation on any static host.
import { offlineModels, serviceWorker } from './offline.mjs';
// The camera (LIVE_STREAM) and video file (VIDEO) panels.
import { initLive, live } from './live.mjs';
// The "Many photos" panel.
import { initBatch } from './batch.mjs';
// The region of interest and rotation controls.
import { drawModelView, initRegion, resetRegion } from './region.mjs';

const $ = (id) => document.getElementById(id);
const form = $('options');
const preview = $('preview');

const state = {
  classifier: null,
  image: null, // the Blob being classified (decoded by Pillow in the worker)
  imageName: '',
  roi: null, // {left, top, right, bottom} in [0, 1] of the unrotated image
  rotation: 0,
  lastTimestamp: 0,
  runs: 0,
  opened: new Map(), // model picker value -> {name, bytes} of a model opened from disk
};
// For tests and the console.
window.app = { state, ready: null, idle: Promise.resolve(), live };

// --- status: busy / idle, progress, messages -------------------------------------------------

let pending = 0;
function setBusy(delta) {
  pending += delta;
  document.body.dataset.state = pending > 0 ? 'busy' : 'idle';
}

/** Runs page actions one after another; the page is 'idle' when none is left. */
let chain = Promise.resolve();
function enqueue(action) {
  setBusy(+1);
  chain = chain.then(action).catch(showError).finally(() => setBusy(-1));
  window.app.idle = chain;
  return chain;
}

function showMessage(text, kind = 'error') {
  const box = $('message');
  box.textContent = text;
  box.className = `message ${kind}`;
  box.hidden = !text;
}

function showError(error) {
  console.debug(error);
  showMessage(error?.message ?? String(error));
}

runtime.addEventListener('progress', ({ detail }) => {
  $('loading').hidden = detail.stage === 'done';
  // The model loads while Python starts: the bar only moves forward.
  $('progress').value = Math.max($('progress').value, detail.fraction);
  $('progress-text').textContent = detail.message;
  if (detail.stage === 'failed') showMessage(detail.message);
});

// --- options ---------------------------------------------------------------------------------

const MODEL_NAMES = { lite0: 'Lite0', lite2: 'Lite2' };
const PRECISIONS = { fp32: 'float32', int8: 'int8' };
const FORMATS = { onnx: 'ONNX', tflite: 'TFLite' };
const fileSize = (bytes) => (bytes < 1e5 ? `${(bytes / 1e3).toFixed(1)} kB` : `${(bytes / 1e6).toFixed(1)} MB`);

function modelLabel({ name, format, bytes }) {
  const match = /efficientnet_(lite\d)_(fp32|int8)/.exec(name);
  const what = match ? `${MODEL_NAMES[match[1]]} · ${PRECISIONS[match[2]]}` : name;
  return `${what} · ${FORMATS[format]} · ${fileSize(bytes)}`;
}

/** The served models the runtime has an engine for (.onnx, .tflite). */
async function listModels(formats) {
  const response = await fetch('models/index.json');
  const served = response.ok ? await response.json() : [];
  const models = served.filter((model) => formats.includes(model.format));
  if (!models.length) throw new Error('No models are served under models/ (run `python3 build.py models`).');
  const select = $('model');
  for (const model of models) select.add(new Option(modelLabel(model), `models/${model.name}`), $('opened-models'));
  const preferred = models.find((m) => m.default);
  if (preferred) select.value = `models/${preferred.name}`;
}

const lines = (text) => text.split(/[\n,]/).map((s) => s.trim()).filter(Boolean);
const number = (text) => (text.trim() === '' ? undefined : Number(text));

/** The JS API value of one option control; undefined (the default) when it is empty. */
function optionValue(name) {
  const field = form.elements[name];
  switch (name) {
    case 'maxResults':
    case 'scoreThreshold':
      return number(field.value);
    case 'displayNamesLocale':
      return field.value.trim() || undefined;
    case 'categoryAllowlist':
    case 'categoryDenylist': {
      const list = lines(field.value);
      return list.length ? list : undefined;
    }
    case 'runningMode':
      return field.value;
    default:
      throw new Error(`no option ${name}`);
  }
}

const OPTION_NAMES = ['runningMode', 'maxResults', 'scoreThreshold', 'displayNamesLocale', 'categoryAllowlist', 'categoryDenylist'];

function baseOptions() {
  const opened = state.opened.get($('model').value);
  const model = opened ? { modelAssetBuffer: opened.bytes } : { modelAssetPath: $('model').value };
  return { ...model, delegate: $('backend').value };
}

function allOptions() {
  return { baseOptions: baseOptions(), ...Object.fromEntries(OPTION_NAMES.map((n) => [n, optionValue(n)])) };
}

function markInvalid(name, invalid) {
  const field = form.elements[name];
  if (field) field.setAttribute('aria-invalid', String(invalid));
}

function headText({ index, name, classes, dtype, quantization, scoreThreshold, calibration }) {
  const scale = quantization ? ` (scale ${quantization.scale.toPrecision(4)}, zero point ${quantization.zeroPoint})` : '';
  const threshold = scoreThreshold == null ? '' : ` · score threshold ${scoreThreshold}`;
  return `${index}: ${name || '(no name)'} · ${classes} classes · ${dtype}${scale}${threshold}${calibration ? ` · calibration ${calibration}` : ''}`;
}

function labelsText({ name, labels, locales }, heads) {
  const languages = locales.length ? ` · ${locales.join(', ')}` : '';
  return `${heads > 1 ? `${name}: ` : ''}${labels || 'none'}${languages}`;
}

/** What the model in use says about itself (from Python), and what runs it. */
function showModel() {
  const { model, engine } = state.classifier ?? {};
  if (!engine) return;
  const note = $('backend-note');
  note.textContent = engine.note;
  note.hidden = !engine.note;
  const threads = engine.backend === 'wasm' ? ` · ${engine.threads} thread${engine.threads === 1 ? '' : 's'}` : '';
  const runsOn = `${engine.engine} · ${engine.backend}${threads}`;
  const isolation = state.status?.crossOriginIsolated ? 'cross-origin isolated' : 'not cross-origin isolated (1 thread)';
  const snapshot = state.status?.snapshot;
  const from = snapshot?.used ? ` from its snapshot${snapshot.local ? ' (kept by this browser)' : ''}` : ` · ${snapshot?.note}`;
  const boot = state.status ? ` · Python ready in ${(state.status.bootMs.total / 1000).toFixed(1)} s${from}` : '';
  $('engine').textContent = `${runsOn} · ${isolation}${boot}`;

  const file = state.opened.get($('model').value)?.name ?? $('model').value.split('/').pop();
  const { input, heads } = model;
  const normalization = input.normalization
    ? `(x − ${input.normalization.mean.join(', ')}) / ${input.normalization.std.join(', ')}`
    : 'none (pixels 0–255)';
  const rows = [
    ['File', `${file} · ${fileSize(model.sizeBytes)} · ${FORMATS[model.format]}`],
    ['Name', [model.name, model.version].filter(Boolean).join(' · ') || '(none)'],
    ['Labels', ...heads.map((head) => labelsText(head, heads.length))],
    ['Input', `${input.width}×${input.height} · ${input.channels} channels · ${input.dtype}`],
    ['Normalization', normalization],
    ['Heads', ...heads.map(headText)],
    ['Quantization', model.quantization.join(', ') || 'none (float)'],
    ['Engine', runsOn],
  ];
  const item = (tag, text) => Object.assign(document.createElement(tag), { textContent: text });
  $('model-info').replaceChildren(
    ...rows.flatMap(([term, ...details]) => [item('dt', term), ...details.map((text) => item('dd', text))]),
  );
}

/** Sends every control's value (so the classifier always matches the form once valid); the
 *  worker reloads the model only when the model, backend or running mode changed. */
async function sendOptions(name) {
  try {
    await state.classifier.setOptions(allOptions());
  } catch (error) {
    markInvalid(name, true);
    throw error;
  }
  for (const n of OPTION_NAMES) markInvalid(n, false);
  showMessage('');
  showModel();
}

async function applyOption(name) {
  if (!state.classifier) return;
  await sendOptions(name);
  await classifyNow();
}

/** A model file from disk, sent as a modelAssetBuffer. It joins the model picker once it
 *  loads; a model that fails to load (Python says why) leaves the previous one in use. */
async function openModel(file) {
  const select = $('model');
  const previous = select.value;
  const option = new Option(`${file.name} · ${fileSize(file.size)}`, `opened:${state.opened.size + 1}`);
  state.opened.set(option.value, { name: file.name, bytes: new Uint8Array(await file.arrayBuffer()) });
  $('opened-models').append(option);
  select.value = option.value;
  try {
    await sendOptions('baseOptions');
  } catch (error) {
    option.remove();
    state.opened.delete(option.value);
    select.value = previous;
    throw new Error(`Cannot open the model “${file.name}”: ${error.message}`);
  } finally {
    $('opened-models').hidden = !state.opened.size;
  }
  form.dispatchEvent(new Event('change')); // the camera panel follows the form's model
  await classifyNow();
}

$('model-file').addEventListener('change', (event) => {
  const [file] = event.target.files;
  event.target.value = '';
  if (file) enqueue(() => openModel(file));
});

// --- image in: file picker, drop, paste ------------------------------------------------------

function setImage(blob, name) {
  if (!blob) return;
  state.image = blob;
  state.imageName = name || blob.name || 'pasted image';
  resetRegion();
  if (preview.src) URL.revokeObjectURL(preview.src);
  preview.src = URL.createObjectURL(blob);
  $('frame').hidden = false;
  $('drop-help').hidden = true;
  $('image-info').textContent = state.imageName;
  enqueue(classifyNow);
}

$('file').addEventListener('change', (event) => {
  const [file] = event.target.files;
  setImage(file);
  event.target.value = '';
});

// Sample photos (index.html, copied from tests/images by build_site.py): one click classifies one.
for (const button of document.querySelectorAll('[data-sample]')) {
  button.addEventListener('click', async () => {
    const response = await fetch(button.dataset.sample).catch((error) => ({ ok: false, statusText: error.message }));
    if (!response.ok) showMessage(`Unable to load the sample photo: ${response.status ?? ''} ${response.statusText}`.trim());
    else setImage(await response.blob(), button.dataset.sample.split('/').pop());
  });
}

const drop = $('drop');
drop.addEventListener('keydown', (event) => {
  if (event.key === 'Enter' || event.key === ' ') {
    event.preventDefault();
    $('file').click();
  }
});
drop.addEventListener('dragover', (event) => {
  event.preventDefault();
  drop.classList.add('dragging');
});
drop.addEventListener('dragleave', () => drop.classList.remove('dragging'));
drop.addEventListener('drop', (event) => {
  event.preventDefault();
  drop.classList.remove('dragging');
  const [file] = event.dataTransfer.files;
  if (file) setImage(file);
  else showMessage('Drop an image file (PNG, JPEG, WebP, GIF, BMP, TIFF…).');
});
document.addEventListener('paste', (event) => {
  if (event.target.closest?.('input, textarea')) return;
  const item = [...event.clipboardData.items].find((i) => i.kind === 'file');
  if (item) setImage(item.getAsFile(), 'pasted image');
  else showMessage('The clipboard holds no image.');
});

preview.addEventListener('error', () => {
  // The browser cannot show it; the classifier's own decoding error (if any) says more.
  $('image-info').textContent = `${state.imageName} (no preview)`;
});
preview.addEventListener('load', () => {
  $('image-info').textContent = `${state.imageName} · ${preview.naturalWidth}×${preview.naturalHeight}`;
  drawModelView();
});

// --- classify and show -----------------------------------------------------------------------

/** One image with the page's classifier, in the running mode the form names. */
function classifyInMode(classifier, image, processing) {
  if (optionValue('runningMode') === 'VIDEO') {
    state.lastTimestamp = Math.max(state.lastTimestamp + 1, Math.round(performance.now()));
    return classifier.classifyForVideo(image, state.lastTimestamp, processing);
  }
  return classifier.classify(image, processing);
}

async function classifyNow() {
  const { classifier, image } = state;
  if (!classifier || !image) return;
  const processing = { rotationDegrees: state.rotation };
  if (state.roi) processing.regionOfInterest = { ...state.roi };
  const started = performance.now();
  let result;
  try {
    result = await classifyInMode(classifier, image, processing);
  } catch (error) {
    $('categories').replaceChildren();
    const decoding = /decod|identify image/i.test(error.message);
    throw new Error(decoding ? `Cannot read “${state.imageName}”: it is not an image this app can decode. (${error.message})` : error.message);
  }
  showMessage('');
  renderResult(result, classifier.lastTimingsMs, performance.now() - started);
}

function renderResult(result, timings, totalMs) {
  const list = $('categories');
  const items = [];
  const heads = result.classifications;
  for (const head of heads) {
    if (heads.length > 1) {
      const title = document.createElement('li');
      title.className = 'head';
      title.textContent = head.headName || `head ${head.headIndex}`;
      items.push(title);
    }
    for (const category of head.categories) {
      const item = document.createElement('li');
      item.className = 'category';
      item.dataset.index = category.index;
      item.dataset.score = category.score;
      const name = document.createElement('span');
      name.className = 'name';
      name.textContent = category.displayName || category.categoryName || `#${category.index}`;
      const detail = document.createElement('span');
      detail.className = 'detail';
      detail.textContent = category.displayName && category.displayName !== category.categoryName
        ? `${category.categoryName} · #${category.index}` : `#${category.index}`;
      const bar = document.createElement('span');
      bar.className = 'bar';
      bar.setAttribute('role', 'meter');
      bar.setAttribute('aria-valuemin', '0');
      bar.setAttribute('aria-valuemax', '1');
      bar.setAttribute('aria-valuenow', String(category.score));
      bar.setAttribute('aria-label', 'score');
      bar.style.setProperty('--score', Math.max(0, Math.min(1, category.score)));
      const score = document.createElement('span');
      score.className = 'score';
      score.textContent = `${(category.score * 100).toFixed(2)}%`;
      item.append(name, detail, bar, score);
      items.push(item);
    }
  }
  if (!items.length) {
    const empty = document.createElement('li');
    empty.className = 'empty';
    empty.textContent = 'No category passes the options.';
    items.push(empty);
  }
  list.replaceChildren(...items);
  const ms = (v) => (v === undefined ? '–' : `${v.toFixed(1)} ms`);
  for (const stage of ['decode', 'preprocess', 'inference', 'postprocess']) $(`t-${stage}`).textContent = ms(timings?.[stage]);
  $('t-total').textContent = ms(totalMs);
  state.runs += 1;
  document.body.dataset.runs = String(state.runs);
}

// --- start -----------------------------------------------------------------------------------

form.addEventListener('submit', (event) => event.preventDefault());
form.addEventListener('change', (event) => {
  const name = event.target.name;
  if (name === 'model' || name === 'backend') enqueue(() => applyOption('baseOptions'));
  else if (OPTION_NAMES.includes(name)) enqueue(() => applyOption(name));
});

async function start() {
  document.body.dataset.runs = '0';
  if (!self.crossOriginIsolated) await serviceWorker();
  // Python starts while the model is fetched and its engine started (create asks for both).
  const status = loadRuntime();
  await listModels(Object.keys(FORMATS));
  offlineModels([...$('model').options].map((o) => ({ path: o.value, label: o.text })));
  try {
    state.classifier = await ImageClassifier.createFromOptions(allOptions());
  } catch (error) {
    // An invalid option left in a control (e.g. after a reload): start with the defaults.
    showError(error);
    state.classifier = await ImageClassifier.createFromOptions({ baseOptions: baseOptions() });
  }
  state.status = await status;
  showModel();
  await classifyNow();
  // Isolated already (the server sends the headers): the service worker is for offline use,
  // installed once the app has what it needs.
  if (self.crossOriginIsolated) serviceWorker();
}
initRegion({ state, image: preview, onChange: () => enqueue(classifyNow) });
initLive({ options: allOptions });
window.app.ready = enqueue(start);
window.app.batch = initBatch({
  classify: async (photo) => {
    await window.app.ready;
    return classifyInMode(state.classifier, photo);
  },
  onError: showError,
});
