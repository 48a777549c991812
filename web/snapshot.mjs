// Pyodide from a memory snapshot: numpy, Pillow and image_classifier imported already.
//
// The snapshot is made by the site build (web/snapshot_build.py drives snapshot-maker.mjs in
// headless Chromium) from the very files the site serves, and restored here by the worker.
// Pyodide 0.27.7's own snapshot (loadPyodide({_makeSnapshot}), makeMemorySnapshot(),
// loadPyodide({_loadSnapshot})) keeps the wasm heap only; packages with compiled extensions need
// three things more, done here (see ../shared/STARTUP.md and cloudflare/workerd's src/pyodide):
//   1. `loadedPackages` is emptied while the snapshot is taken (its entries would otherwise be
//      JS objects the snapshot cannot name) and put back after a restore;
//   2. the `.so` files of numpy and Pillow are separate wasm instances: their code, table slots
//      and the dynamic linker's JS state are not in the heap. When the snapshot is made, each
//      library's memory and table bases are recorded; before a restore, the same files are
//      instantiated at those bases, in the same order, and the table is checked to be laid out
//      the same way;
//   3. the unpacked wheels live in the JS file system: their files are saved beside the heap
//      and written back.
// The heap is served without its all-zero pages (14 of 43.5 MB) and read straight into
// Pyodide's memory: Pyodide is given only the snapshot's header (which snapshot.json carries),
// so it has nothing to copy.
// The hook is Pyodide's documented pre-import path (loadPyodide uses a global
// _createPyodideModule when pyodide.asm.js was imported already): we wrap it to reach the
// Emscripten Module between its creation and the restore. Nothing of Pyodide's files is patched;
// the build makes a snapshot only for the pyodide.asm.js whose linker it was checked against.

import { SnapshotCopy } from './snapshot-copy.mjs';
// Pyodide's loader: the one of `indexURL` (every caller gives the pyodide/ folder beside this
// module), imported with this module rather than by URL, so that it is part of the worker's one
// file (build_site.bundle_worker) instead of a request of its own.
import { loadPyodide, version } from './pyodide/pyodide.mjs';

export const FORMAT = 2;
// What the snapshot has imported (the worker's boot imports nothing more).
export const IMPORTS = ['numpy', 'PIL.Image', 'image_classifier.webapi', 'image_classifier.engines.browser'];
// The parts of Emscripten's dynamic linker (exported on Pyodide's Module) the replay uses.
const LINKER = ['LDSO', 'newDSO', 'loadWebAssemblyModule', 'mergeLibSymbols', 'wasmTable', '_calloc', '_free'];
// Emscripten's dlopen handle (a `struct dso`): loaded flag, memory base and size, table base
// and size. A handle with the flag set makes loadWebAssemblyModule use the bases it holds.
const HANDLE = { bytes: 64, loaded: 8, memoryBase: 12, memorySize: 16, tableBase: 20, tableSize: 24 };

function checkLinker(Module) {
  for (const name of LINKER) {
    if (Module[name] === undefined) throw new Error(`Pyodide's Module has no ${name}: not the Pyodide build the snapshot supports`);
  }
}

/** Runs `load()` (a loadPyodide call) with `hook(Module)` run after the Emscripten module is
 *  created (with `settings` over Pyodide's) and before loadPyodide goes on (to a restore, or
 *  to Python's main()). */
async function withModuleHook(indexURL, hook, load, settings = {}) {
  if (typeof globalThis._createPyodideModule !== 'function') await import(`${indexURL}pyodide.asm.js`);
  const create = globalThis._createPyodideModule;
  globalThis._createPyodideModule = async (emscriptenSettings) => {
    const Module = await create(Object.assign(emscriptenSettings, settings));
    await hook(Module);
    return Module;
  };
  try {
    return await load();
  } finally {
    globalThis._createPyodideModule = create;
  }
}

// --- making (snapshot-maker.mjs) -------------------------------------------------------------

/** Records, for each `.so` Pyodide's package loader loads, where the linker put it: the load
 *  is given a handle of ours, in which loadWebAssemblyModule writes the bases it chose. The
 *  loader loads every `.so` of a wheel; only the `needed` ones are (the rest stay files, which
 *  an import after the restore loads as CPython does). */
function recordDynlibs(Module, needed) {
  const loads = [];
  const load = Module.loadDynamicLibrary;
  Module.loadDynamicLibrary = async (name, flags, localScope, handle) => {
    if (handle !== undefined || !flags?.loadAsync) return load(name, flags, localScope, handle);
    if (!needed.has(name)) return true;
    const scratch = Module._calloc(1, HANDLE.bytes);
    const tableLength = Module.wasmTable.length;
    try {
      const result = await load(name, flags, localScope, scratch);
      if (Module.HEAP8[scratch + HANDLE.loaded]) {
        const u32 = (offset) => Module.HEAPU32[(scratch + offset) >>> 2];
        loads.push({
          name,
          tableLength,
          memoryBase: u32(HANDLE.memoryBase),
          memorySize: u32(HANDLE.memorySize),
          tableBase: u32(HANDLE.tableBase),
          tableSize: u32(HANDLE.tableSize),
        });
      }
      return result;
    } finally {
      delete Module.LDSO.loadedLibsByHandle[scratch];
      Module._free(scratch);
    }
  };
  return loads;
}

/** The linker's JS state once everything is imported: the libraries in load order (with their
 *  other names and scope), the dlopen handles Python holds, the table's length. */
function linkerState(Module, loads) {
  const { LDSO } = Module;
  const loaded = new Map(loads.map((lib) => [LDSO.loadedLibsByName[lib.name], lib]));
  const libs = loads.map((lib) => ({ ...lib, aliases: [], global: Boolean(LDSO.loadedLibsByName[lib.name].global) }));
  const byName = new Map(libs.map((lib) => [lib.name, lib]));
  for (const [name, dso] of Object.entries(LDSO.loadedLibsByName)) {
    if (name === '__main__' || dso === undefined) continue; // (the loader's alias of a skipped .so)
    const lib = loaded.get(dso);
    if (!lib) throw new Error(`${name} was loaded outside Pyodide's package loader: cannot replay it`);
    if (name !== lib.name) byName.get(lib.name).aliases.push(name);
  }
  const handles = [];
  for (const [handle, dso] of Object.entries(LDSO.loadedLibsByHandle)) {
    if (Number(handle) !== 0) handles.push([Number(handle), loaded.get(dso).name]);
  }
  return { libs, handles, tableLength: Module.wasmTable.length };
}

/** Every file under `roots` as one buffer plus its index [[path, bytes], ...]. */
function fileImage(FS, roots) {
  const index = [];
  const chunks = [];
  const walk = (dir) => {
    for (const name of FS.readdir(dir).sort()) {
      if (name === '.' || name === '..') continue;
      const path = `${dir}/${name}`;
      const { mode } = FS.lstat(path);
      if (FS.isDir(mode)) walk(path);
      else if (FS.isFile(mode)) {
        const data = FS.readFile(path);
        index.push([path, data.length]);
        chunks.push(data);
      } else throw new Error(`${path} is neither a file nor a folder: the snapshot cannot keep it`);
    }
  };
  roots.forEach(walk);
  const bytes = new Uint8Array(chunks.reduce((sum, chunk) => sum + chunk.length, 0));
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  return { index, bytes };
}

/** Loads `packages` into `pyodide` and imports IMPORTS. */
async function loadAndImport(pyodide, packages) {
  await pyodide.loadPackage(packages, { messageCallback: () => {} });
  pyodide.runPython(IMPORTS.map((name) => `import ${name}`).join('\n'));
}

/** The `.so` files the imports load: a first interpreter loads the packages (all their `.so`
 *  files, as Pyodide's loader does) and lists the extension modules the imports brought in. */
async function neededLibraries(indexURL, packages) {
  const probe = await loadPyodide({ indexURL });
  await loadAndImport(probe, packages);
  const files = probe.runPython(
    'import sys\nsorted(f for m in list(sys.modules.values()) if (f := getattr(m, "__file__", None) or "").endswith(".so"))',
  );
  try {
    return new Set(files.toJs());
  } finally {
    files.destroy();
  }
}

/** Boots Pyodide, loads and imports the package, and returns the snapshot's three parts:
 *  {heap: Pyodide's snapshot, files: the unpacked wheels, meta: what the restore needs}. */
export async function makeSnapshot(indexURL, packages) {
  const needed = await neededLibraries(indexURL, packages);
  let loads;
  const pyodide = await withModuleHook(
    indexURL,
    (Module) => {
      loads = recordDynlibs(Module, needed);
    },
    () => loadPyodide({ indexURL, _makeSnapshot: true }),
  );
  await loadAndImport(pyodide, packages);
  const Module = pyodide._module;
  const linker = linkerState(Module, loads);
  const files = fileImage(pyodide.FS, [pyodide._api.sitePackages]);
  const loadedPackages = { ...pyodide.loadedPackages };
  for (const name of Object.keys(loadedPackages)) delete pyodide.loadedPackages[name];
  const heap = pyodide.makeMemorySnapshot();
  Object.assign(pyodide.loadedPackages, loadedPackages);
  const meta = { format: FORMAT, pyodideVersion: version, imports: IMPORTS, linker, loadedPackages, index: files.index };
  return { heap, files: files.bytes, meta };
}

// --- restoring (worker.mjs) --------------------------------------------------------------------

/** Instantiates the libraries at the recorded bases, in the recorded order, before the heap is
 *  copied in (their data and constructors write into the fresh heap, which is then replaced). */
async function replayDynlibs(Module, linker, compiled) {
  checkLinker(Module);
  const { LDSO, wasmTable } = Module;
  const scratch = Module._calloc(1, HANDLE.bytes);
  for (const lib of linker.libs) {
    if (wasmTable.length !== lib.tableLength) {
      throw new Error(`the table has ${wasmTable.length} slots before ${lib.name}; the snapshot had ${lib.tableLength}`);
    }
    Module.HEAPU8.fill(0, scratch, scratch + HANDLE.bytes);
    Module.HEAP8[scratch + HANDLE.loaded] = 1;
    Module.HEAPU32[(scratch + HANDLE.memoryBase) >>> 2] = lib.memoryBase;
    Module.HEAPU32[(scratch + HANDLE.tableBase) >>> 2] = lib.tableBase;
    const dso = Module.newDSO(lib.name, undefined, 'loading');
    dso.global = lib.global;
    const flags = { loadAsync: true, nodelete: true, allowUndefined: true, global: lib.global };
    const exports = await Module.loadWebAssemblyModule(await compiled.get(lib.name), flags, lib.name, lib.global ? null : {}, scratch);
    if (lib.global) Module.mergeLibSymbols(exports, lib.name);
    dso.exports = exports;
    for (const alias of lib.aliases) LDSO.loadedLibsByName[alias] = dso;
  }
  Module._free(scratch);
  if (wasmTable.length !== linker.tableLength) {
    throw new Error(`the table has ${wasmTable.length} slots after the libraries; the snapshot had ${linker.tableLength}`);
  }
  for (const [handle, name] of linker.handles) LDSO.loadedLibsByHandle[handle] = LDSO.loadedLibsByName[name];
}

// A regular file with FS.writeFile's permissions (rw-rw-rw-).
const FILE_MODE = 0o100666;

/** Writes the snapshot's files back, as FS.writeFile(path, view, {canOwn: true}) would leave
 *  them: a MEMFS node per file, made in its folder, whose contents is a view of `bytes` (no
 *  copy). Each folder is made and looked up once: FS.writeFile's path lookup, stream and
 *  truncation per file took 20-50 ms for the ~490 files of a warm start (now 4-14 ms). */
function writeFiles(FS, index, bytes) {
  const folders = new Map();
  let offset = 0;
  for (const [path, size] of index) {
    const cut = path.lastIndexOf('/');
    const folderPath = path.slice(0, cut);
    let folder = folders.get(folderPath);
    if (folder === undefined) {
      FS.mkdirTree(folderPath);
      folder = FS.lookupPath(folderPath).node;
      folders.set(folderPath, folder);
    }
    const name = path.slice(cut + 1);
    const contents = bytes.subarray(offset, offset + size);
    offset += size;
    if (folder.contents[name]) {
      FS.writeFile(path, contents, { canOwn: true }); // one Pyodide made already: replaced
      continue;
    }
    const node = folder.node_ops.mknod(folder, name, FILE_MODE, 0);
    if (size) {
      node.contents = contents;
      node.usedBytes = size;
    }
  }
}

/** The body of `url`, which snapshot.json says is `bytes` long, read whole by the browser
 *  (no JavaScript per chunk). */
async function fetchBytes(url, bytes) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  const body = new Uint8Array(await response.arrayBuffer());
  if (body.length !== bytes) throw new Error(`${url} has ${body.length} bytes; snapshot.json says ${bytes}`);
  return body;
}

/** Where the stored heap's bytes go: [[address, length, offset in the file], ...] (the file
 *  holds the header, then the heap without its zero runs). */
function heapStretches({ memoryBytes, zeroRuns }, headerBytes) {
  const stretches = [];
  let at = headerBytes;
  let address = 0;
  for (const [start, length] of [...zeroRuns, [memoryBytes, 0]]) {
    if (start > address) {
      stretches.push([address, start - address, at]);
      at += start - address;
    }
    address = start + length;
  }
  return stretches;
}

/** Writes the snapshot's heap into `memory` (what Pyodide's restore would copy there): its zero
 *  runs zeroed, the rest read by `read(targets)` ([[view, offset in the stored file], ...]),
 *  and the stored header checked against the one Pyodide was given. */
async function restoreHeap(memory, heap, header, read) {
  if (memory.length < heap.memoryBytes) throw new Error(`Pyodide's memory has ${memory.length} bytes; the snapshot's heap ${heap.memoryBytes}`);
  for (const [start, length] of heap.zeroRuns) memory.fill(0, start, start + length);
  const stored = new Uint8Array(header.length);
  const targets = heapStretches(heap, header.length).map(([address, length, at]) => [memory.subarray(address, address + length), at]);
  await read([[stored, 0], ...targets]);
  if (!stored.every((byte, i) => byte === header[i])) throw new Error("the snapshot's heap does not start with the header snapshot.json gives");
}

/** The hex sha256 of `bytes`. */
export async function sha256(bytes) {
  const digest = await crypto.subtle.digest('SHA-256', bytes);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/** Throws when the snapshot described by `meta` was made for another format or Pyodide. */
function checkMaking(meta, version) {
  if (meta.format !== FORMAT) throw new Error(`stale snapshot: made in format ${meta.format}, this worker reads ${FORMAT}`);
  if (meta.pyodideVersion !== version) throw new Error(`stale snapshot: made for Pyodide ${meta.pyodideVersion}, this is ${version}`);
}

/** Throws when the snapshot described by `meta` was made from another package lock than the
 *  site's (the lock carries the sha256 of every wheel, the image_classifier package's
 *  included). */
async function checkPackages(meta, indexURL) {
  const lock = await fetch(`${indexURL}pyodide-lock.json`);
  const digest = await sha256(await lock.arrayBuffer());
  if (digest !== meta.inputs['pyodide-lock.json']) throw new Error('stale snapshot: made from other packages (pyodide-lock.json changed)');
}

/** {pyodide, local}: Pyodide restored from `${indexURL}snapshot.json` and its two files (from
 *  this browser's copy when `local`, which a restore from the site's files leaves behind), with
 *  `packages` imported. Throws (with the reason) when the snapshot is missing, stale or does
 *  not restore: the caller then boots normally. `stage(name)` marks the steps. */
export async function loadFromSnapshot(indexURL, stage = () => {}) {
  // Pyodide's JavaScript (1.3 MB to parse) loads while the snapshot's description is read.
  const runtime = typeof globalThis._createPyodideModule === 'function' ? null : import(`${indexURL}pyodide.asm.js`);
  runtime?.catch(() => {});
  const response = await fetch(`${indexURL}snapshot.json`);
  if (!response.ok) throw new Error(`no snapshot (snapshot.json: HTTP ${response.status})`);
  const meta = await response.json();
  checkMaking(meta, version);
  // Pyodide gets the snapshot's header only (its heap goes straight into Pyodide's memory).
  const header = Uint8Array.from(atob(meta.heap.header), (c) => c.charCodeAt(0));
  // This browser's copy when it has one (its heap is looked for only when its files are
  // there: both are kept together), else the site's, fetched while Pyodide's wasm compiles.
  // A snapshot.json whose body came over the network means a first visit, or a new snapshot
  // that no copy matches: its files are fetched at once, not after learning that this browser
  // has no copy (70-250 ms on a busy start). One from the service worker, a cache or a
  // revalidation (or one whose timing another origin hides) may have a copy.
  const copy = new SnapshotCopy(meta);
  const copied = new Uint8Array(meta.files.bytes);
  const timing = performance.getEntriesByName(response.url)[0];
  const fresh = timing !== undefined && timing.transferSize > timing.encodedBodySize;
  const local = fresh ? Promise.resolve(false) : copy.open().read('files', meta.files.bytes, [[copied, 0]]);
  const files = local.then((read) => (read ? copied : fetchBytes(`${indexURL}${meta.files.file}`, meta.files.bytes)));
  const fetchHeap = () => fetchBytes(`${indexURL}${meta.heap.file}`, meta.heap.bytes);
  const fetched = local.then((read) => (read ? null : fetchHeap()));
  fetched.catch(() => {});
  let storedHeap = null; // the heap as fetched, for this browser's copy
  // The libraries compile (off this thread) while Pyodide's own wasm does.
  const offsets = new Map();
  let offset = 0;
  for (const [path, size] of meta.index) {
    offsets.set(path, [offset, size]);
    offset += size;
  }
  const compiled = new Map(
    meta.linker.libs.map((lib) => {
      const [start, size] = offsets.get(lib.name) ?? [];
      if (start === undefined) throw new Error(`${lib.name} is not among the snapshot's files`);
      const module = files.then((bytes) => WebAssembly.compile(bytes.subarray(start, start + size)));
      module.catch(() => {});
      return [lib.name, module];
    }),
  );
  // Pyodide starts (fetching its wasm, creating its module) as soon as its JavaScript is there,
  // while the packages are checked: a stale snapshot is refused before any of it is used.
  const checked = checkPackages(meta, indexURL).then(() => stage('checked'));
  checked.catch(() => {});
  await runtime;
  let pyodide;
  try {
    pyodide = await withModuleHook(
      indexURL,
      async (Module) => {
        await checked;
        stage('module');
        writeFiles(Module.FS, meta.index, await files);
        stage('files');
        await Promise.all(compiled.values());
        stage('compiled');
        await replayDynlibs(Module, meta.linker, compiled);
        await restoreHeap(Module.HEAPU8, meta.heap, header, async (targets) => {
          if ((await fetched) === null && (await copy.read('heap', meta.heap.bytes, targets))) return;
          storedHeap = (await fetched) ?? (await fetchHeap());
          for (const [view, at] of targets) view.set(storedHeap.subarray(at, at + view.length));
        });
        stage('libraries');
      },
      () => loadPyodide({ indexURL, _loadSnapshot: header }),
      { INITIAL_MEMORY: meta.heap.memoryBytes },
    );
    Object.assign(pyodide.loadedPackages, meta.loadedPackages);
    // Every visitor restores the same interpreter: new seeds for the generators seeded at start
    // (str hashes keep the snapshot's secret: strings hashed in the heap must keep their hash).
    // A restored interpreter that cannot compute is refused here, before anyone relies on it.
    pyodide.runPython(`
import random as _random, sys as _sys
_random.seed()
if "numpy.random" in _sys.modules:
    _sys.modules["numpy.random"].seed()
assert int(_sys.modules["numpy"].arange(4).sum()) == 6, "numpy does not compute after the restore"
del _random, _sys
`);
  } catch (error) {
    copy.forget().catch(() => {}); // a copy that does not restore is not read again
    throw error;
  }
  if (!copy.used) files.then((bytes) => copy.keepLater(storedHeap, bytes));
  return { pyodide, local: copy.used };
}
