/**
 * Image file -> float32 RGB pixels at the model's input size, as Keras'
 * `image_dataset_from_directory` produces them (decode, then `tf.image.resize` bilinear without
 * antialiasing, optionally after Keras' `crop_to_aspect_ratio` centre crop).
 *
 * Decoding runs in sharp (libvips) on libuv's thread pool; only the resize runs on the JS thread
 * (see resize.ts).
 *
 * What every input becomes (8-bit sRGB RGB):
 * - JPEG, PNG, WebP, GIF (first frame), TIFF (first page), AVIF; the format is read from the
 *   content, not the extension (a PNG named .jpg decodes). Markup (SVG, HTML, XML) is refused
 *   before libvips sees it: libvips would render an SVG, which no Keras loader reads and which
 *   ftk does not list as an image format (a .svg file is skipped by `findDataset` too).
 * - Grey is replicated to R=G=B; palette images are expanded; 16-bit images are scaled to 8 bits
 *   by dropping the low byte (`v >> 8`, what TF's `convert_image_dtype` does); CMYK is converted
 *   to sRGB by lcms through libvips' generic CMYK profile (an embedded CMYK profile is ignored,
 *   like every ICC profile, see below). TF and PIL use a profile-less formula instead, so CMYK
 *   pixels differ from Keras' (CMYK photos are rare in datasets).
 * - Alpha is dropped, not composited: the colour under a transparent pixel is kept, as PIL's
 *   `convert('RGB')` and TF's `decode_image(channels=3)` do (`removeAlpha()`).
 *
 * Porting notes (where ftk deliberately differs from Keras):
 * - EXIF orientation is applied (`autoOrient`), so a phone photo is seen upright as in any
 *   viewer; Keras/TF ignore it and feed the sensor orientation.
 * - Embedded ICC profiles are ignored (`ignoreIcc`), as TF's decoders and PIL's `convert('RGB')`
 *   do: stored RGB/grey values are used as they are (a Display P3 photo is not converted to sRGB),
 *   so features match Keras'.
 * - Damaged files are rejected rather than half-decoded (sharp `failOn: 'error'`): truncated
 *   JPEG/PNG data and PNG CRC errors fail; recoverable libjpeg warnings (e.g. extraneous bytes,
 *   which PIL and TF also accept) do not. `'warning'` would also reject those usable photos and
 *   `'truncated'` would accept PNGs with bad CRCs.
 * - No shrink-on-load: libjpeg's DCT-domain downscaling (sharp's JPEG shrink-on-load) gives
 *   different pixels from decoding at full size and resizing, which is what Keras does; so ftk
 *   always decodes at full size.
 */
import { constants } from 'node:fs';
import { access, open, stat } from 'node:fs/promises';
import sharp, { type OutputInfo, type SharpOptions } from 'sharp';
import { DatasetError, OptionsError } from '../errors.js';
import { centerCropBox, resizeBilinear } from './resize.js';

/**
 * Default largest decodable image, in pixels: PIL's `Image.MAX_IMAGE_PIXELS` (89,478,485 =
 * 1024*1024*1024/4/3), the limit above which PIL warns of a decompression bomb.
 */
export const DEFAULT_MAX_INPUT_PIXELS = 89_478_485;

export interface DecodeOptions {
  /** Output size: a square side, or `[height, width]`. Required. */
  size: number | [number, number];
  /**
   * 'squash' resizes the whole image to `size`, distorting its aspect ratio (Keras' default);
   * 'center' first crops the largest centred region with the target aspect ratio (Keras
   * `crop_to_aspect_ratio=True`). Default 'squash'.
   */
  crop?: 'squash' | 'center';
  /**
   * Largest image accepted, in pixels (width * height, read from the header before any pixel is
   * allocated); larger files fail as decompression bombs. `Infinity` removes the limit.
   * Default 89,478,485 (`DEFAULT_MAX_INPUT_PIXELS`, PIL's `MAX_IMAGE_PIXELS`).
   */
  maxInputPixels?: number;
  /** Buffer to write the pixels into (height*width*3 floats). Default: a new Float32Array. */
  out?: Float32Array;
}

export interface DecodedImage {
  /** height*width*3 float32 values, RGB, 0..255, row-major HWC. Not rounded after resizing. */
  pixels: Float32Array;
  height: number;
  width: number;
  /** Size of the decoded image after EXIF orientation, before crop and resize. */
  sourceHeight: number;
  sourceWidth: number;
}

/** A file that cannot be decoded; `reason` is short and human, e.g. 'zero-byte file'. */
export class ImageDecodeError extends DatasetError {
  readonly file: string;
  readonly reason: string;

  constructor(file: string, reason: string, options: { suggestion?: string; cause?: unknown } = {}) {
    super(`Cannot decode ${file}: ${reason}.`, {
      code: 'IMAGE_DECODE',
      suggestion: options.suggestion ?? suggestionFor(reason),
      cause: options.cause,
    });
    this.file = file;
    this.reason = reason;
  }
}

function suggestionFor(reason: string): string {
  if (reason.startsWith('zero-byte')) return 'The file is empty: copy it again or remove it.';
  if (reason.startsWith('truncated')) return 'The file is damaged or was not fully downloaded: download it again or remove it.';
  if (reason.startsWith('decompression bomb')) {
    return 'Downscale the image, or raise maxInputPixels if you trust the file.';
  }
  if (reason.startsWith('not an image')) return 'Replace it with the image itself, or remove it from the dataset.';
  if (reason.startsWith('unsupported format')) return 'Convert it to JPEG or PNG.';
  if (reason.startsWith('file not found')) return 'Check the path; the file may have been moved or deleted.';
  return 'Remove the file from the dataset or convert it to JPEG or PNG.';
}

interface ResolvedDecodeOptions {
  height: number;
  width: number;
  crop: 'squash' | 'center';
  maxInputPixels: number;
}

function resolveDecodeOptions(options: DecodeOptions): ResolvedDecodeOptions {
  const size = options?.size;
  const [height, width] = Array.isArray(size) ? size : [size, size];
  if (!Number.isInteger(height) || !Number.isInteger(width) || height < 1 || width < 1 || (Array.isArray(size) && size.length !== 2)) {
    throw new OptionsError(`size must be a positive integer or [height, width] of positive integers. Received ${JSON.stringify(size)}.`);
  }
  const crop = options.crop ?? 'squash';
  if (crop !== 'squash' && crop !== 'center') {
    throw new OptionsError(`crop must be one of ['squash', 'center']. Received ${JSON.stringify(crop)}.`);
  }
  const maxInputPixels = options.maxInputPixels ?? DEFAULT_MAX_INPUT_PIXELS;
  if (!(maxInputPixels === Infinity || (Number.isInteger(maxInputPixels) && maxInputPixels >= 1))) {
    throw new OptionsError(`maxInputPixels must be a positive integer or Infinity. Received ${maxInputPixels}.`);
  }
  return { height, width, crop, maxInputPixels };
}

function sharpOptions(maxInputPixels: number): SharpOptions {
  return {
    failOn: 'error',
    limitInputPixels: maxInputPixels === Infinity ? false : maxInputPixels,
    ignoreIcc: true,
    pages: 1,
    page: 0,
  };
}

/**
 * Decodes an image file (or its bytes) to `size` RGB float32 pixels, Keras-style (see the module
 * notes). Never rejects with anything but `ImageDecodeError` for a bad file (`OptionsError` for
 * bad options).
 *
 * @param input file path or file bytes
 * @param name what errors call the file (default: the path, or '<buffer>')
 * @example
 * const { pixels } = await decodeImage('cats/1.jpg', { size: 224 });
 */
export async function decodeImage(input: string | Buffer, options: DecodeOptions, name?: string): Promise<DecodedImage> {
  const resolved = resolveDecodeOptions(options);
  const { data: rgb, height: sourceHeight, width: sourceWidth } = await decodeRgb(input, resolved.maxInputPixels, name);
  const { height, width } = resolved;
  const box = resolved.crop === 'center' ? centerCropBox(sourceHeight, sourceWidth, height, width) : undefined;
  const pixels = resizeBilinear({ data: rgb, height: sourceHeight, width: sourceWidth, channels: 3 }, height, width, { box, out: options.out });
  return { pixels, height, width, sourceHeight, sourceWidth };
}

/** Decoded 8-bit RGB pixels at the image's own size (EXIF orientation applied). */
export interface RgbImage {
  /** height*width*3 bytes, row-major HWC. */
  data: Uint8Array;
  height: number;
  width: number;
}

/**
 * Decodes an image exactly as `decodeImage` does, without the resize: the uint8 RGB pixels an
 * exported ONNX classifier takes (src/export). Same errors as `decodeImage`.
 */
export async function decodeImageRgb(input: string | Buffer, options: { maxInputPixels?: number } = {}, name?: string): Promise<RgbImage> {
  const { maxInputPixels } = resolveDecodeOptions({ size: 1, maxInputPixels: options.maxInputPixels });
  return decodeRgb(input, maxInputPixels, name);
}

async function decodeRgb(input: string | Buffer, maxInputPixels: number, name?: string): Promise<RgbImage> {
  const file = name ?? (typeof input === 'string' ? input : '<buffer>');
  await checkInput(input, file);
  const markup = markupReason(typeof input === 'string' ? await head(input, 256) : input.subarray(0, 256));
  if (markup) throw new ImageDecodeError(file, markup);

  let data: Buffer;
  let info: OutputInfo;
  try {
    ({ data, info } = await sharp(input, sharpOptions(maxInputPixels))
      .autoOrient()
      .removeAlpha()
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true }));
  } catch (err) {
    throw new ImageDecodeError(file, await failureReason(err, input, maxInputPixels), { cause: err });
  }
  return { data: toRgb(data, info.height * info.width, info.channels), height: info.height, width: info.width };
}

/** sharp gives 3 channels for every input tried; this guards the rare other layouts. */
function toRgb(data: Buffer, pixels: number, channels: number): Uint8Array {
  if (channels === 3) return data;
  const out = new Uint8Array(pixels * 3);
  for (let p = 0; p < pixels; p++) {
    const s = p * channels;
    const g = data[s];
    out[p * 3] = g;
    out[p * 3 + 1] = channels >= 3 ? data[s + 1] : g;
    out[p * 3 + 2] = channels >= 3 ? data[s + 2] : g;
  }
  return out;
}

async function checkInput(input: string | Buffer, file: string): Promise<void> {
  if (typeof input !== 'string') {
    if (input.length === 0) throw new ImageDecodeError(file, 'zero-byte file');
    return;
  }
  let size: number;
  try {
    const s = await stat(input);
    if (s.isDirectory()) throw new ImageDecodeError(file, 'not an image (a folder)');
    size = s.size;
  } catch (err) {
    if (err instanceof ImageDecodeError) throw err;
    throw new ImageDecodeError(file, fsReason(err), { cause: err });
  }
  if (size === 0) throw new ImageDecodeError(file, 'zero-byte file');
}

/** Why a file cannot be opened, in the words every skip reason uses (hashing, decoding). */
export function fileErrorReason(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'file not found';
  if (code === 'ELOOP') return 'symlink loop';
  if (code === 'EACCES' || code === 'EPERM') return 'unreadable file (permission denied)';
  return `unreadable file (${code ?? (err as Error).message})`;
}

const fsReason = fileErrorReason;

/** Maps a sharp/libvips failure to a short reason. */
async function failureReason(err: unknown, input: string | Buffer, maxInputPixels: number): Promise<string> {
  const message = err instanceof Error ? err.message : String(err);
  if (typeof input === 'string') {
    try {
      await access(input, constants.R_OK);
    } catch (accessError) {
      return fsReason(accessError);
    }
  }
  if (/exceeds pixel limit/i.test(message)) {
    try {
      const meta = await sharp(input, { limitInputPixels: false }).metadata();
      const pixels = (meta.width ?? 0) * (meta.height ?? 0);
      return `decompression bomb: ${pixels} pixels > limit ${maxInputPixels}`;
    } catch {
      return `decompression bomb: more than ${maxInputPixels} pixels`;
    }
  }
  if (/unsupported image format/i.test(message)) return sniffUnsupported(await head(input));
  if (/is empty/i.test(message)) return 'zero-byte file';
  if (/input file is missing/i.test(message)) return 'file not found';
  if (/exceeds channel limit/i.test(message)) return 'unsupported format (too many channels)';
  const magic = await head(input);
  if (isHeic(magic)) return 'unsupported format (HEIC)';
  return 'truncated or corrupt image data';
}

async function head(input: string | Buffer, length = 512): Promise<Buffer> {
  if (typeof input !== 'string') return input.subarray(0, length);
  try {
    const handle = await open(input, 'r');
    try {
      const buffer = Buffer.alloc(length);
      const { bytesRead } = await handle.read(buffer, 0, length, 0);
      return buffer.subarray(0, bytesRead);
    } finally {
      await handle.close();
    }
  } catch {
    return Buffer.alloc(0);
  }
}

function isHeic(bytes: Buffer): boolean {
  if (bytes.length < 12 || bytes.toString('latin1', 4, 8) !== 'ftyp') return false;
  return ['heic', 'heix', 'hevc', 'hevx', 'heim', 'heis', 'mif1', 'msf1'].includes(bytes.toString('latin1', 8, 12));
}

/**
 * The reason to refuse markup (no supported image format starts with '<'), or undefined: HTML
 * pages saved under an image name, SVG, other XML, and gzip-compressed data (libvips would
 * decompress and render a gzip-compressed SVG, .svgz; no supported image format starts like gzip).
 */
function markupReason(bytes: Buffer): string | undefined {
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) return 'unsupported format (gzip-compressed, e.g. SVGZ)';
  const text = bytes.toString('latin1').replace(/^\uFEFF|^\xEF\xBB\xBF/, '').trimStart().toLowerCase();
  if (!text.startsWith('<')) return undefined;
  if (text.startsWith('<!doctype html') || text.startsWith('<html') || /<(html|head|body)[\s>]/.test(text)) {
    return 'not an image (looks like HTML)';
  }
  if (/<svg[\s>]/.test(text) || text.startsWith('<!doctype svg')) return 'unsupported format (SVG)';
  return 'not an image (looks like XML or HTML)';
}

/** Names what a file that sharp cannot identify probably is. */
function sniffUnsupported(bytes: Buffer): string {
  if (bytes.length === 0) return 'unsupported format';
  const markup = markupReason(bytes);
  if (markup) return markup;
  const text = bytes.toString('latin1').trimStart().toLowerCase();
  if (/<(html|head|body)[\s>]/.test(text)) return 'not an image (looks like HTML)';
  if (text.startsWith('%pdf')) return 'not an image (PDF document)';
  if (bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04) return 'not an image (ZIP archive)';
  if (bytes[0] === 0x42 && bytes[1] === 0x4d) return 'unsupported format (BMP)';
  if (isHeic(bytes)) return 'unsupported format (HEIC)';
  if (looksLikeText(bytes)) return 'not an image (looks like text)';
  return 'unsupported format';
}

function looksLikeText(bytes: Buffer): boolean {
  for (const b of bytes) {
    if (b < 32 && b !== 9 && b !== 10 && b !== 13 && b !== 12) return false;
  }
  // Valid UTF-8 (the sample may end inside a multi-byte character).
  const decoder = new TextDecoder('utf-8', { fatal: true });
  for (let cut = 0; cut < 4 && cut < bytes.length; cut++) {
    try {
      decoder.decode(bytes.subarray(0, bytes.length - cut));
      return true;
    } catch {
      // try a shorter prefix
    }
  }
  return false;
}
