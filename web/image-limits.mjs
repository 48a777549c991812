// The one pixel limit of every image the classifier takes in the browser, checked before any
// pixel is decoded or copied: the WebAssembly heaps of the tab grow but never shrink, so an
// image that is too large would cost the tab its memory for good (a 16384x16384 canvas: 1 GB).

/** image.MAX_PIXELS of the Python package (tests/browser/test_limits.py keeps them equal). */
export const MAX_PIXELS = 64_000_000;

/** Throws Python's error (image.create_from_bytes) for an image beyond MAX_PIXELS. */
export function checkPixels(width, height) {
  if (width * height > MAX_PIXELS) {
    throw new Error(`Image is too large: ${width}x${height} pixels (the limit is ${MAX_PIXELS / 1_000_000} megapixels).`);
  }
}

const u16be = (b, i) => (b[i] << 8) | b[i + 1];
const u16le = (b, i) => b[i] | (b[i + 1] << 8);
const u24le = (b, i) => b[i] | (b[i + 1] << 8) | (b[i + 2] << 16);
const u32be = (b, i) => ((b[i] << 24) >>> 0) + ((b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3]);
const i32le = (b, i) => b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24);
const ascii = (b, i, n) => String.fromCharCode(...b.subarray(i, i + n));

function jpegSize(b) {
  let pos = 2;
  while (pos + 9 < b.length) {
    if (b[pos] !== 0xff) return null;
    const marker = b[pos + 1];
    if (marker === 0xff) {
      pos += 1;
      continue;
    }
    // Start of frame (SOF0..SOF15 but DHT, JPG, DAC): height, then width.
    if (marker >= 0xc0 && marker <= 0xcf && ![0xc4, 0xc8, 0xcc].includes(marker)) {
      return { width: u16be(b, pos + 7), height: u16be(b, pos + 5) };
    }
    pos += 2 + u16be(b, pos + 2);
  }
  return null;
}

function webpSize(b) {
  const chunk = ascii(b, 12, 4);
  if (chunk === 'VP8X') return { width: u24le(b, 24) + 1, height: u24le(b, 27) + 1 };
  if (chunk === 'VP8L') {
    const bits = b[21] | (b[22] << 8) | (b[23] << 16) | (b[24] << 24);
    return { width: (bits & 0x3fff) + 1, height: ((bits >>> 14) & 0x3fff) + 1 };
  }
  if (chunk === 'VP8 ') return { width: u16le(b, 26) & 0x3fff, height: u16le(b, 28) & 0x3fff };
  return null;
}

/** AVIF/HEIF: the largest of the 'ispe' (image spatial extents) properties. */
function isobmffSize(b) {
  let size = null;
  for (let i = 4; i + 16 <= b.length; i++) {
    if (b[i] === 0x69 && ascii(b, i, 4) === 'ispe') {
      const width = u32be(b, i + 8);
      const height = u32be(b, i + 12);
      if (!size || width * height > size.width * size.height) size = { width, height };
    }
  }
  return size;
}

/** {width, height} from an encoded image's header (PNG, JPEG, GIF, WebP, BMP, AVIF/HEIF,
 *  ICO), without decoding it; null when the format or its header is not recognized. */
export function encodedSize(bytes) {
  const b = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  if (b.length < 30) return null;
  if (b[0] === 0x89 && ascii(b, 1, 3) === 'PNG') return { width: u32be(b, 16), height: u32be(b, 20) };
  if (b[0] === 0xff && b[1] === 0xd8) return jpegSize(b);
  if (ascii(b, 0, 3) === 'GIF') return { width: u16le(b, 6), height: u16le(b, 8) };
  if (ascii(b, 0, 4) === 'RIFF' && ascii(b, 8, 4) === 'WEBP') return webpSize(b);
  if (ascii(b, 0, 2) === 'BM') return { width: Math.abs(i32le(b, 18)), height: Math.abs(i32le(b, 22)) };
  if (ascii(b, 4, 4) === 'ftyp') return isobmffSize(b);
  if (b[0] === 0 && b[1] === 0 && b[2] === 1 && b[3] === 0) return { width: 256, height: 256 }; // ICO: at most
  return null;
}
