// The "Many photos" panel: photos or whole folders classified one after another in the worker
// with the page's model and options; progress, Cancel, a results table to sort, filter and
// export. Memory stays bounded: one photo is read and decoded at a time, and only a small
// thumbnail and the top categories of each are kept.

const $ = (id) => document.getElementById(id);
const THUMB_SIZE = 48;
const IMAGE_EXTENSIONS = /\.(jpe?g|png|webp|gif|bmp|tiff?|avif|ico)$/i;

const batch = {
  rows: [], // {path, categories: [{categoryName, displayName, index, score}], error, thumb}
  running: false,
  cancelled: false,
};

/** Every file under a dropped folder entry (webkitGetAsEntry), with its relative path. */
async function filesOfEntry(entry, prefix = '') {
  if (entry.isFile) {
    const file = await new Promise((resolve, reject) => entry.file(resolve, reject));
    return [{ file, path: prefix + entry.name }];
  }
  const reader = entry.createReader();
  const children = [];
  for (;;) { // readEntries gives at most 100 at a time
    const some = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
    if (!some.length) break;
    children.push(...some);
  }
  const nested = [];
  for (const child of children) nested.push(...(await filesOfEntry(child, `${prefix}${entry.name}/`)));
  return nested;
}

const isHidden = (path) => path.split('/').some((part) => part.startsWith('.'));
const byPath = (a, b) => a.path.localeCompare(b.path);

function fromFileList(files) {
  return [...files].map((file) => ({ file, path: file.webkitRelativePath || file.name }));
}

/** A small JPEG of the photo for its row; null when the browser cannot draw it. */
async function thumbnail(file) {
  try {
    const bitmap = await createImageBitmap(file, { resizeWidth: THUMB_SIZE, resizeQuality: 'medium' });
    const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
    canvas.getContext('2d').drawImage(bitmap, 0, 0);
    bitmap.close();
    return URL.createObjectURL(await canvas.convertToBlob({ type: 'image/jpeg', quality: 0.7 }));
  } catch {
    return null;
  }
}

const topCategories = (result) => result.classifications.flatMap((head) => head.categories.map(
  ({ categoryName, displayName, index, score }) => ({ categoryName, displayName, index, score })));

function showProgress(done, total, started) {
  const seconds = (performance.now() - started) / 1000;
  const rate = done / Math.max(seconds, 1e-3);
  const left = rate > 0 ? (total - done) / rate : NaN;
  $('batch-progress').max = total;
  $('batch-progress').value = done;
  $('batch-status').textContent = `${done} / ${total} · ${rate.toFixed(1)} images/s`
    + (done < total && Number.isFinite(left) ? ` · ${Math.ceil(left)} s left` : '');
}

/** Classifies `items` ({file, path}) one by one with `classify(blob)`. */
async function run(items, classify) {
  if (batch.running) throw new Error('A batch is already running.');
  for (const row of batch.rows) if (row.thumb) URL.revokeObjectURL(row.thumb);
  batch.rows = [];
  batch.running = true;
  batch.cancelled = false;
  document.body.dataset.batch = 'running';
  $('batch-cancel').disabled = false;
  renderTable();
  const queue = items.filter(({ path }) => !isHidden(path)).sort(byPath);
  const started = performance.now();
  $('batch-summary').textContent = '';
  showProgress(0, queue.length, started);
  try {
    for (const { file, path } of queue) {
      if (batch.cancelled) break;
      const row = { path, categories: [], error: null, thumb: null };
      if (!(file.type.startsWith('image/') || IMAGE_EXTENSIONS.test(file.name))) {
        row.error = `Not an image file (${file.type || 'unknown type'}).`;
      } else {
        try {
          row.categories = topCategories(await classify(file));
          row.thumb = await thumbnail(file);
        } catch (error) {
          row.error = error?.message ?? String(error);
        }
      }
      batch.rows.push(row);
      appendRow(row);
      showProgress(batch.rows.length, queue.length, started);
    }
  } finally {
    batch.running = false;
    $('batch-cancel').disabled = true;
    const failed = batch.rows.filter((r) => r.error).length;
    $('batch-summary').textContent = `${batch.rows.length - failed} classified, ${failed} failed`
      + (batch.cancelled ? `, ${queue.length - batch.rows.length} cancelled` : '');
    for (const id of ['batch-export-csv', 'batch-export-json']) $(id).disabled = !batch.rows.length;
    document.body.dataset.batch = batch.cancelled ? 'cancelled' : 'done';
  }
}

// --- the table: sort, filter, export ---------------------------------------------------------

const SORTS = {
  path: byPath,
  score: (a, b) => (b.categories[0]?.score ?? -1) - (a.categories[0]?.score ?? -1),
  category: (a, b) => (a.categories[0]?.categoryName ?? '\uffff').localeCompare(b.categories[0]?.categoryName ?? '\uffff'),
};

function matchesFilter(row) {
  const wanted = $('batch-filter').value.trim().toLowerCase();
  if (!wanted) return true;
  return row.categories.some((c) => [c.categoryName, c.displayName].some((n) => n?.toLowerCase().includes(wanted)));
}

function rowElement(row) {
  const tr = document.createElement('tr');
  tr.className = row.error ? 'failed' : '';
  const cell = (content) => {
    const td = document.createElement('td');
    if (content instanceof Node) td.append(content);
    else td.textContent = content;
    tr.append(td);
    return td;
  };
  if (row.thumb) cell(Object.assign(new Image(THUMB_SIZE), { src: row.thumb, alt: '' }));
  else cell('');
  cell(row.path).className = 'path';
  const what = row.error ?? row.categories.slice(0, 3)
    .map((c) => `${c.displayName || c.categoryName} ${(c.score * 100).toFixed(1)}%`).join(' · ');
  cell(what || 'No category passes the options.').className = row.error ? 'error' : 'categories';
  return tr;
}

function appendRow(row) {
  if (matchesFilter(row)) $('batch-rows').append(rowElement(row));
}

function renderTable() {
  const rows = batch.rows.filter(matchesFilter).sort(SORTS[$('batch-sort').value]);
  $('batch-rows').replaceChildren(...rows.map(rowElement));
}

function download(text, name, type) {
  const link = Object.assign(document.createElement('a'), {
    href: URL.createObjectURL(new Blob([text], { type })), download: name,
  });
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 0);
}

/** The command line's record fields: path, categories, display_names, indices, scores, error. */
function records() {
  return batch.rows.map(({ path, categories, error }) => ({
    path,
    categories: categories.map((c) => c.categoryName),
    display_names: categories.map((c) => c.displayName),
    indices: categories.map((c) => c.index),
    scores: categories.map((c) => c.score),
    error,
  }));
}

function csvText() {
  const quote = (value) => `"${String(value ?? '').replaceAll('"', '""')}"`;
  const fields = ['path', 'categories', 'display_names', 'indices', 'scores', 'error'];
  const lines = records().map((r) => fields.map((f) => quote(Array.isArray(r[f]) ? r[f].join(';') : r[f])).join(','));
  return [fields.join(','), ...lines].join('\r\n') + '\r\n';
}

/** Wires the panel; `classify(blob)` classifies one photo with the page's model and options. */
export function initBatch({ classify, onError }) {
  const start = (items) => run(items, classify).catch(onError);
  for (const id of ['batch-files', 'batch-folder']) {
    $(id).addEventListener('change', (event) => {
      const items = fromFileList(event.target.files);
      event.target.value = '';
      if (items.length) start(items);
    });
  }
  const drop = $('batch-drop');
  drop.addEventListener('dragover', (event) => {
    event.preventDefault();
    drop.classList.add('dragging');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('dragging'));
  drop.addEventListener('drop', async (event) => {
    event.preventDefault();
    drop.classList.remove('dragging');
    // Entries must be taken before the first await: the drop's data is gone afterwards.
    const entries = [...event.dataTransfer.items].map((item) => item.webkitGetAsEntry?.()).filter(Boolean);
    const loose = entries.length ? [] : fromFileList(event.dataTransfer.files);
    const nested = [];
    for (const entry of entries) nested.push(...(await filesOfEntry(entry)));
    start([...nested, ...loose]);
  });
  $('batch-cancel').addEventListener('click', () => { batch.cancelled = true; });
  $('batch-sort').addEventListener('change', renderTable);
  $('batch-filter').addEventListener('input', renderTable);
  $('batch-export-json').addEventListener('click', () => download(`${JSON.stringify(records(), null, 1)}\n`, 'classifications.json', 'application/json'));
  $('batch-export-csv').addEventListener('click', () => download(csvText(), 'classifications.csv', 'text/csv'));
  return batch;
}
