// RGBA pixels of what the browser decoded or captured, for the classifier worker and the
// camera's frame relay.

/** RGBA pixels through a canvas: no smoothing, no colour-space conversion on the way out;
 *  opaque pixels come back exactly. */
function canvasPixels(source, width, height) {
  const canvas = new OffscreenCanvas(width, height);
  const context = canvas.getContext('2d', { willReadFrequently: true, colorSpace: 'srgb' });
  context.imageSmoothingEnabled = false;
  context.drawImage(source, 0, 0, width, height);
  return context.getImageData(0, 0, width, height, { colorSpace: 'srgb' }).data;
}

/** {rgba, width, height} of an ImageBitmap or a VideoFrame (e.g. a camera's I420 frame,
 *  converted by the browser), which is closed. VideoFrame.copyTo gives the canvas's pixels in
 *  a fraction of the time (1.0-2.8 ms against 1.7-4.5 ms for photos of 451x300 to 640x427;
 *  1.4 against 3.8 ms for 640x480 camera frames); the canvas stays as the fallback. */
export async function pixelsOf(source) {
  const { width, height } = source.visibleRect ?? source;
  let frame = null;
  try {
    frame = source instanceof VideoFrame ? source : new VideoFrame(source, { timestamp: 0 });
    const rgba = lend(width * height * 4);
    await frame.copyTo(rgba, { format: 'RGBA', colorSpace: 'srgb' });
    return { rgba, width, height };
  } catch {
    return { rgba: canvasPixels(source, width, height), width, height };
  } finally {
    if (frame !== source) frame?.close();
    source.close();
  }
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
