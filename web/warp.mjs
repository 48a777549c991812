// The warp's sampling of 4-byte pixels (RGBA bitmaps, BGRA camera frames) for Python in the
// worker: preprocess.py works out the geometry and its sampling plan, and this loop does its
// arithmetic in one pass over Python's memory (preprocess.use_words_kernel; installed by
// engines/browser.py). The same integers as the numpy warp (warpPerspective's): numpy in
// WebAssembly makes a dozen passes over 224x224 temporaries, 2-3 ms a photo; this, one.

/** For each output pixel i (row after row): channel c's value, the four taps' bytes `cc` of
 *  the words at `table` + 4 * index[i], weighted by weight[i], rounded as `(512 + sum) >> 10`,
 *  written at plane `pc` + i * `step` elements: through `values` (256 float32) into a float32
 *  tensor when `values` is not 0, as it is into a uint8 one when it is. `index0, weight0, ...`:
 *  the four taps' int32 arrays. Every argument but `module` (Pyodide's) is a number: an address
 *  in its memory, a byte of a word, or a count. */
export function warpWords(module, table, c0, c1, c2, index0, weight0, index1, weight1, index2, weight2, index3, weight3, count, values, p0, p1, p2, step) {
  const bytes = module.HEAPU8;
  const ints = module.HEAP32;
  const [i0, w0, i1, w1, i2, w2, i3, w3] = [index0, weight0, index1, weight1, index2, weight2, index3, weight3].map((address) => address >> 2);
  const floats = values ? module.HEAPF32 : null;
  const valuesAt = values >> 2;
  const [o0, o1, o2] = values ? [p0 >> 2, p1 >> 2, p2 >> 2] : [p0, p1, p2];
  for (let i = 0; i < count; i++) {
    const a = table + 4 * ints[i0 + i];
    const b = table + 4 * ints[i1 + i];
    const c = table + 4 * ints[i2 + i];
    const d = table + 4 * ints[i3 + i];
    const wa = ints[w0 + i];
    const wb = ints[w1 + i];
    const wc = ints[w2 + i];
    const wd = ints[w3 + i];
    const red = (512 + wa * bytes[a + c0] + wb * bytes[b + c0] + wc * bytes[c + c0] + wd * bytes[d + c0]) >> 10;
    const green = (512 + wa * bytes[a + c1] + wb * bytes[b + c1] + wc * bytes[c + c1] + wd * bytes[d + c1]) >> 10;
    const blue = (512 + wa * bytes[a + c2] + wb * bytes[b + c2] + wc * bytes[c + c2] + wd * bytes[d + c2]) >> 10;
    const at = i * step;
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
