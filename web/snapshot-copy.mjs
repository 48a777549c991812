// This browser's own copy of the site's memory snapshot (snapshot.mjs), for the starts after
// the first: the heap and the files as the site serves them, in the origin-private file
// system, named by the sha256 that snapshot.json gives them.
//
// A worker reads each straight into its buffers (the heap into Pyodide's memory) through a
// synchronous access handle. Fetched (from the network or from the service worker's cache),
// the same 45 MB come through a data pipe in small chunks, each handled on the worker's
// thread: reading the copy instead made warm starts 110-160 ms faster (of 0.87-0.92 s;
// interleaved A/B, bench/start.py).

// A part of a copy, by its name (a write in progress is another file).
export const COPY = /^snapshot-[0-9a-f]{64}\.(heap|files)$/;
// The copy is written this long after a restore that fetched the snapshot: not while the
// page's first photos are classified.
const WRITE_DELAY_MS = 1000;
// On a busy start the browser takes 70-140 ms to give the folder, and 100-200 ms more for each
// sync access handle: the folder is asked for as soon as the worker evaluates this module, and
// both parts' handles as soon as their names are known, so that both wait meanwhile.
const FOLDER = navigator.storage?.getDirectory?.() ?? Promise.reject(new Error('no origin-private file system'));
FOLDER.catch(() => {});

export class SnapshotCopy {
  #names;
  #read = new Set(); // the parts read from this copy
  #handles = {}; // the parts' file handles, once opened
  #opening = {}; // each part's sync access handle asked for by open(), until read() takes it

  /** The copy of the snapshot `meta` (snapshot.json) describes. */
  constructor(meta) {
    this.#names = { heap: `snapshot-${meta.heap.sha256}.heap`, files: `snapshot-${meta.files.sha256}.files` };
  }

  /** Asks for both parts' sync access handles now, for the reads to come; this copy. */
  open() {
    this.#opening = { heap: this.#open('heap'), files: this.#open('files') };
    return this;
  }

  /** A promise of `part`'s sync access handle (it locks the file until closed). */
  #open(part) {
    const access = FOLDER.then(async (folder) => {
      // The file handle is held (a field, not a local that the engine may drop) until its
      // access handle arrives: Chromium forgets the request of a handle collected meanwhile,
      // and its promise never settles.
      this.#handles[part] = await folder.getFileHandle(this.#names[part]);
      return this.#handles[part].createSyncAccessHandle();
    });
    access.catch(() => {});
    return access;
  }

  /** Reads `part` ('heap' | 'files') into `targets` ([[view, offset in the copy], ...]); false
   *  when this browser has no copy of it of `bytes` bytes (or none at all). */
  async read(part, bytes, targets) {
    const opening = this.#opening[part] ?? this.#open(part);
    this.#opening[part] = null;
    let access;
    try {
      access = await opening;
    } catch {
      return false;
    }
    try {
      const read = access.getSize() === bytes && targets.every(([view, at]) => access.read(view, { at }) === view.length);
      if (read) this.#read.add(part);
      return read;
    } catch {
      return false;
    } finally {
      access.close();
    }
  }

  /** Closes the access handles opened and not read (a restore that fetched the heap, or
   *  failed): they would keep the files locked. */
  async #release() {
    for (const part of Object.keys(this.#opening)) {
      const opening = this.#opening[part];
      this.#opening[part] = null;
      (await opening?.catch(() => null))?.close();
    }
  }

  /** Whether the restore read both parts from this copy. */
  get used() {
    return this.#read.size === 2;
  }

  /** Keeps `heap` and `files` (after WRITE_DELAY_MS), deleting the copies of other snapshots.
   *  Each file is written whole or not at all (a writable stream commits on close). */
  keepLater(heap, files) {
    setTimeout(() => this.#write(heap, files).catch(() => {}), WRITE_DELAY_MS);
  }

  async #write(heap, files) {
    await this.#release();
    const folder = await FOLDER;
    await this.#remove(folder, (name) => !Object.values(this.#names).includes(name));
    for (const [part, bytes] of [['heap', heap], ['files', files]]) {
      const writable = await (await folder.getFileHandle(this.#names[part], { create: true })).createWritable();
      await writable.write(bytes);
      await writable.close();
    }
  }

  /** Deletes every copy of a snapshot. */
  async forget() {
    await this.#release();
    await this.#remove(await FOLDER, () => true);
  }

  async #remove(folder, which) {
    const names = [];
    for await (const name of folder.keys()) if (COPY.test(name) && which(name)) names.push(name);
    for (const name of names) await folder.removeEntry(name);
  }
}
