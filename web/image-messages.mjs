// Each image the API takes (image-classifier.mjs's header says what each kind gives), as a
// message for the worker with what to transfer: encoded bytes, RGBA pixels, or a frame or
// bitmap the worker reads, checked against the pixel limit before anything is copied.

import { checkPixels } from './image-limits.mjs';

/** [width, height] of a drawable image as createImageBitmap copies it (upright). */
function shownSize(image) {
  if (typeof HTMLImageElement !== 'undefined' && image instanceof HTMLImageElement) return [image.naturalWidth, image.naturalHeight];
  if (typeof HTMLVideoElement !== 'undefined' && image instanceof HTMLVideoElement) return [image.videoWidth, image.videoHeight];
  if (typeof VideoFrame !== 'undefined' && image instanceof VideoFrame) return [image.displayWidth, image.displayHeight];
  if (typeof SVGImageElement !== 'undefined' && image instanceof SVGImageElement) {
    return [image.width.baseVal.value, image.height.baseVal.value];
  }
  return [image.width, image.height]; // canvases, ImageBitmap
}

/** The image as a message for the worker, with what to transfer. */
export async function imageMessage(image) {
  if (typeof Blob !== 'undefined' && image instanceof Blob) {
    const encoded = await image.arrayBuffer();
    return [{ encoded }, [encoded]];
  }
  if (typeof ImageData !== 'undefined' && image instanceof ImageData) {
    checkPixels(image.width, image.height);
    const rgba = image.data.slice().buffer;
    return [{ rgba, width: image.width, height: image.height }, [rgba]];
  }
  if (typeof HTMLImageElement !== 'undefined' && image instanceof HTMLImageElement) {
    if (!image.complete || !image.naturalWidth) throw new Error('The image element has no decoded image (not loaded yet, or broken).');
  }
  const drawable =
    (typeof ImageBitmap !== 'undefined' && image instanceof ImageBitmap) ||
    (typeof VideoFrame !== 'undefined' && image instanceof VideoFrame) ||
    (typeof HTMLImageElement !== 'undefined' && image instanceof HTMLImageElement) ||
    (typeof SVGImageElement !== 'undefined' && image instanceof SVGImageElement) ||
    (typeof HTMLVideoElement !== 'undefined' && image instanceof HTMLVideoElement) ||
    (typeof HTMLCanvasElement !== 'undefined' && image instanceof HTMLCanvasElement) ||
    (typeof OffscreenCanvas !== 'undefined' && image instanceof OffscreenCanvas);
  if (!drawable) {
    const kind = image === null ? 'null' : image?.constructor?.name ?? typeof image;
    throw new TypeError(
      `Unsupported image type ${kind}. Should be one of: HTMLImageElement, SVGImageElement, HTMLVideoElement, ` +
        'HTMLCanvasElement, OffscreenCanvas, ImageBitmap, VideoFrame, ImageData, Blob.',
    );
  }
  checkPixels(...shownSize(image)); // before the copy below, and any in the worker
  if (typeof VideoFrame !== 'undefined' && image instanceof ImageBitmap) {
    // A frame of the caller's bitmap, its alpha discarded: it shares the bitmap's pixels, where
    // a copy took 6.5 ms at 1920x1280 (the caller keeps its bitmap).
    const frame = new VideoFrame(image, { timestamp: 0, alpha: 'discard' });
    return [{ frame }, [frame]];
  }
  // A copy the worker may own (the caller keeps its own image or frame).
  const bitmap = await createImageBitmap(image, { premultiplyAlpha: 'none', colorSpaceConversion: 'none' });
  return [{ bitmap }, [bitmap]];
}

/** A live frame as a message: a VideoFrame is cloned and transferred as it is (the worker
 *  converts it to RGBA); anything else goes as classify() sends it. */
export async function liveImageMessage(image) {
  if (typeof VideoFrame !== 'undefined' && image instanceof VideoFrame) {
    const frame = image.clone();
    return [{ frame }, [frame]];
  }
  return imageMessage(image);
}
