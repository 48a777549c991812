// RGBA pixels of what the browser decoded or captured, for the classifier worker and the
// camera's frame relay.

import { checkPixels } from './image-limits.mjs';

/** RGBA pixels through a canvas: no smoothing, no colour-space conversion on the way out;
 *  opaque pixels come back exactly. The canvas draws a source as it is shown (rotated and
 *  flipped as its EXIF orientation or a camera's rotation says). */
function canvasPixels(source, width, height) {
  const canvas = new OffscreenCanvas(width, height);
  const context = canvas.getContext('2d', { willReadFrequently: true, colorSpace: 'srgb' });
  context.imageSmoothingEnabled = false;
  context.drawImage(source, 0, 0, width, height);
  return context.getImageData(0, 0, width, height, { colorSpace: 'srgb' }).data;
}

/** The size of a source as it is shown: a VideoFrame's display size is its visible rect
 *  rotated (a bitmap's own size is oriented already). */
function shownSize(source) {
  if (!(source instanceof VideoFrame)) return { width: source.width, height: source.height };
  const { width, height } = source.visibleRect;
  return source.rotation % 180 ? { width: height, height: width } : { width, height };
}

// Four-byte sRGB formats a frame's pixels are read in as they are, their bytes in this order:
// the byte swap of a conversion to RGBA cost 2 ms more than the copy itself at 1920x1280.
const AS_STORED = { RGBA: 'RGBA', RGBX: 'RGBA', BGRA: 'BGRA', BGRX: 'BGRA' };

/** The order of a frame's bytes when they can be read without conversion, else undefined. */
function storedOrder(frame) {
  const { primaries, transfer, matrix } = frame.colorSpace;
  const srgb = primaries === 'bt709' && transfer === 'iec61966-2-1' && matrix === 'rgb';
  return srgb ? AS_STORED[frame.format] : undefined;
}

/** {rgba, width, height, order?} of an ImageBitmap or a VideoFrame (e.g. a camera's I420
 *  frame, converted by the browser), upright as shown; the source is closed. `order` is
 *  'BGRA' when the four bytes of a pixel are blue, green, red, alpha. With `bufferFor(width,
 *  height)` ({address, rows, heap} or null), pixels read as stored go straight into that
 *  buffer, only the rows it names: {filled: true, width, height, order}. Beyond MAX_PIXELS
 *  nothing is copied. VideoFrame.copyTo gives the canvas's pixels in a fraction of the time
 *  (1.0-2.8 ms against 1.7-4.5 ms for photos of 451x300 to 640x427; 1.4 against 3.8 ms for
 *  640x480 camera frames), but only of unrotated frames: a frame made from an oriented bitmap
 *  (an EXIF-rotated photo) keeps the coded pixels with `rotation`/`flip`, which copyTo ignores,
 *  so those (and any frame copyTo cannot convert) are drawn on a canvas. */
export async function pixelsOf(source, bufferFor) {
  let frame = null;
  try {
    const { width, height } = shownSize(source);
    checkPixels(width, height);
    try {
      // Alpha discarded (never classified): a frame of an unpremultiplied bitmap is then made
      // without converting it (8 ms at 1920x1280), with the same colour bytes.
      frame = source instanceof VideoFrame ? source : new VideoFrame(source, { timestamp: 0, alpha: 'discard' });
      if (!frame.rotation && !frame.flip) {
        const order = storedOrder(frame);
        const buffer = order && bufferFor?.(width, height);
        if (buffer) {
          await copyRows(frame, buffer, width);
          return { filled: true, width, height, order };
        }
        const rgba = lend(width * height * 4);
        if (order) {
          await frame.copyTo(rgba);
          return { rgba, width, height, order };
        }
        await frame.copyTo(rgba, { format: 'RGBA', colorSpace: 'srgb' });
        return { rgba, width, height };
      }
    } catch {
      // drawn below
    }
    return { rgba: canvasPixels(source, width, height), width, height };
  } finally {
    if (frame !== source) frame?.close();
    source.close();
  }
}

/** Copies the runs of rows `rows` ([first, count, ...]) of an unrotated frame, as stored,
 *  straight into the width x height image at `address` of the memory `heap()` gives
 *  (Python's), and again should that memory grow before the copies end (a call into Python
 *  meanwhile, e.g. a live frame handed over, detaches the memory they write to; Chromium
 *  copies a frame in memory at the call, so its copies end before anything else runs). */
async function copyRows(frame, { address, rows: wanted, heap }, width) {
  const rowBytes = width * 4;
  const rows = merged(wanted, rowBytes);
  const { x, y } = frame.visibleRect;
  for (;;) {
    const memory = heap();
    const copies = [];
    for (let i = 0; i < rows.length; i += 2) {
      const at = address + rows[i] * rowBytes;
      const rect = { x, y: y + rows[i], width, height: rows[i + 1] };
      copies.push(frame.copyTo(memory.subarray(at, at + rows[i + 1] * rowBytes), { rect }));
    }
    try {
      await Promise.all(copies);
    } catch (error) {
      if (!memory.buffer.detached) throw error;
    }
    if (!memory.buffer.detached) return;
  }
}

// Runs of rows fewer bytes apart than this are copied as one: a copyTo call costs about what
// copying 50 KB does (4-5 us a call; about 10 GB/s into Python's memory, in the worker). At
// 1920x1280 that is one copy of the rows between the first and the last read (1.0-1.2 ms)
// instead of 224 of two rows each (1.2-1.4 ms).
const MERGE_BYTES = 65536;

/** The runs [first, count, ...] with the gaps narrower than MERGE_BYTES filled. */
function merged(rows, rowBytes) {
  const out = [];
  for (let i = 0; i < rows.length; i += 2) {
    const last = out.length - 2;
    if (last >= 0 && (rows[i] - out[last] - out[last + 1]) * rowBytes < MERGE_BYTES) {
      out[last + 1] = rows[i] + rows[i + 1] - out[last];
    } else {
      out.push(rows[i], rows[i + 1]);
    }
  }
  return out;
}

// One buffer for pixels, lent to one decode at a time and given back once they are copied
// elsewhere (into Python's heap): a new buffer per photo is allocated and zeroed first, which
// took longer than the copy itself (at 1920x1280: 9.8 MB). A decode while it is lent gets a
// new one.
let spare = null;

function lend(size) {
  const buffer = spare?.byteLength >= size ? spare : new ArrayBuffer(size);
  if (buffer === spare) spare = null;
  return new Uint8Array(buffer, 0, size);
}

/** Gives pixels of pixelsOf back for a later decode: nothing may read them afterwards. */
export function giveBack(rgba) {
  if (!rgba.buffer.detached && rgba.buffer.byteLength > (spare?.byteLength ?? 0)) spare = rgba.buffer;
}
