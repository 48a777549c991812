// The warp's sampling of 4-byte pixels (RGBA bitmaps, BGRA camera frames) for Python in the
// worker: preprocess.py works out the geometry and its sampling plan per axis, and this loop
// does the arithmetic in one pass over Python's memory (preprocess.use_words_kernel;
// installed by engines/browser.py). The same integers as the numpy warp (warpPerspective's):
// numpy in WebAssembly makes a dozen passes over 224x224 temporaries, 2-3 ms a photo; this,
// one (0.6-0.8 ms).

/** For output row i and column j (row after row): the pixel words at word row offset +
 *  column offset from `table` (their byte address), for both row taps and both column taps;
 *  channel c's byte `cc` of each, weighted by the row weight times the column weight, summed
 *  and rounded as `(512 + sum) >> 10`, written at plane `pc` + (i * width + j) * `step`
 *  elements: through `values` (256 float32) into a float32 tensor when `values` is not 0, as
 *  it is into a uint8 one when it is. `rows0, rowWeights0, ...`: int32 arrays, `height` values
 *  each; `columns0, ...`: `width` values each. Every argument but `module` (Pyodide's) is a
 *  number: an address in its memory, a byte of a word, or a count. */
export function warpWords(module, table, c0, c1, c2, rows0, rowWeights0, rows1, rowWeights1, height, columns0, columnWeights0, columns1, columnWeights1, width, values, p0, p1, p2, step) {
  const words = module.HEAPU32;
  const ints = module.HEAP32;
  const [r0, rw0, r1, rw1, k0, kw0, k1, kw1] = [rows0, rowWeights0, rows1, rowWeights1, columns0, columnWeights0, columns1, columnWeights1].map((address) => address >> 2);
  const [s0, s1, s2] = [8 * c0, 8 * c1, 8 * c2];
  const base = table >> 2;
  const floats = values ? module.HEAPF32 : null;
  const valuesAt = values >> 2;
  const [o0, o1, o2] = values ? [p0 >> 2, p1 >> 2, p2 >> 2] : [p0, p1, p2];
  const bytes = module.HEAPU8;
  let at = 0;
  for (let i = 0; i < height; i++) {
    const top = base + ints[r0 + i];
    const bottom = base + ints[r1 + i];
    const topWeight = ints[rw0 + i];
    const bottomWeight = ints[rw1 + i];
    for (let j = 0; j < width; j++, at += step) {
      const left = ints[k0 + j];
      const right = ints[k1 + j];
      const leftWeight = ints[kw0 + j];
      const rightWeight = ints[kw1 + j];
      const a = words[top + left];
      const b = words[top + right];
      const c = words[bottom + left];
      const d = words[bottom + right];
      const wa = topWeight * leftWeight;
      const wb = topWeight * rightWeight;
      const wc = bottomWeight * leftWeight;
      const wd = bottomWeight * rightWeight;
      const red = (512 + wa * ((a >>> s0) & 255) + wb * ((b >>> s0) & 255) + wc * ((c >>> s0) & 255) + wd * ((d >>> s0) & 255)) >> 10;
      const green = (512 + wa * ((a >>> s1) & 255) + wb * ((b >>> s1) & 255) + wc * ((c >>> s1) & 255) + wd * ((d >>> s1) & 255)) >> 10;
      const blue = (512 + wa * ((a >>> s2) & 255) + wb * ((b >>> s2) & 255) + wc * ((c >>> s2) & 255) + wd * ((d >>> s2) & 255)) >> 10;
      if (floats) {
        floats[o0 + at] = floats[valuesAt + red];
        floats[o1 + at] = floats[valuesAt + green];
        floats[o2 + at] = floats[valuesAt + blue];
      } else {
        bytes[o0 + at] = red;
        bytes[o1 + at] = green;
        bytes[o2 + at] = blue;
      }
    }
  }
}
