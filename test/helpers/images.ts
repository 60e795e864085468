/**
 * Test fixtures built with sharp at test time: tiny images in every format and pixel layout ftk
 * must decode, and the broken files it must reject. Pixel values are known, so tests can check
 * what comes out. Everything is written under a fresh directory in os.tmpdir().
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import sharp from 'sharp';

/** Size of the gradient fixtures. */
export const GRADIENT = { width: 8, height: 6 } as const;

/** The gradient's pixel at (x, y): R grows along x, G along y, B constant. */
export function gradientPixel(x: number, y: number): [number, number, number] {
  return [x * 30, y * 40, 128];
}

/** Raw 8-bit RGB of the gradient, row-major. */
export function gradientRgb(width: number = GRADIENT.width, height: number = GRADIENT.height): Buffer {
  const data = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) data.set(gradientPixel(x, y), (y * width + x) * 3);
  }
  return data;
}

/** Grey value of the grey fixtures at (x, y). */
export function greyValue(x: number, y: number): number {
  return (x + y) * 20;
}

/** 16-bit values of the 16-bit PNG (2x1 RGB): high bytes 1, 128, 255 / 1, 127, 0. */
export const PNG16_VALUES = [0x01ff, 0x80ff, 0xffff, 0x0100, 0x7f80, 0x00ff] as const;

function raw(width: number, height: number, channels: 1 | 2 | 3 | 4) {
  return { raw: { width, height, channels } };
}

/** Deterministic noise (so JPEG/PNG data are long enough to truncate mid-scan). */
export function noiseRgb(width: number, height: number, seed = 1): Buffer {
  const data = Buffer.alloc(width * height * 3);
  let s = seed >>> 0;
  for (let i = 0; i < data.length; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    data[i] = s >>> 24;
  }
  return data;
}

/** Image in two solid halves, left `left` and right `right` (for orientation and CMYK checks). */
export function halvesRgb(width: number, height: number, left: [number, number, number], right: [number, number, number]): Buffer {
  const data = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) data.set(x < width / 2 ? left : right, (y * width + x) * 3);
  }
  return data;
}

export type GoodKind =
  | 'jpeg'
  | 'png'
  | 'webp'
  | 'gif'
  | 'tiff'
  | 'avif'
  | 'grey'
  | 'greyAlpha'
  | 'rgba'
  | 'cmyk'
  | 'png16'
  | 'palette'
  | 'exif6';

export const GOOD_KINDS: readonly GoodKind[] = [
  'jpeg',
  'png',
  'webp',
  'gif',
  'tiff',
  'avif',
  'grey',
  'greyAlpha',
  'rgba',
  'cmyk',
  'png16',
  'palette',
  'exif6',
];

/**
 * Encodes a good fixture:
 * - jpeg, png, webp (lossless), gif, tiff (LZW), avif (lossless), palette (PNG8): the 8x6 gradient;
 * - grey (PNG, 1 channel) and greyAlpha (PNG, 2 channels): `greyValue`, alpha half/full;
 * - rgba (PNG): the gradient with alpha 0 everywhere (the colour must survive);
 * - cmyk (JPEG, CMYK): 16x8, left half red, right half blue;
 * - png16: 2x1 RGB with `PNG16_VALUES`;
 * - exif6: JPEG stored 16x8 (left half red, right half blue) with EXIF orientation 6 (display
 *   rotated 90° clockwise: 8 wide, 16 high, red on top).
 */
export async function encodeImage(kind: GoodKind): Promise<Buffer> {
  const { width, height } = GRADIENT;
  const gradient = () => sharp(gradientRgb(), raw(width, height, 3));
  const grey = (alpha: boolean) => {
    const channels = alpha ? 2 : 1;
    const data = Buffer.alloc(width * height * channels);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const i = (y * width + x) * channels;
        data[i] = greyValue(x, y);
        if (alpha) data[i + 1] = x % 2 ? 255 : 128;
      }
    }
    return sharp(data, raw(width, height, channels)).toColourspace('b-w').png().toBuffer();
  };
  switch (kind) {
    case 'jpeg':
      return gradient().jpeg({ quality: 95 }).toBuffer();
    case 'png':
      return gradient().png().toBuffer();
    case 'webp':
      return gradient().webp({ lossless: true }).toBuffer();
    case 'gif':
      return gradient().gif({ dither: 0 }).toBuffer();
    case 'tiff':
      return gradient().tiff({ compression: 'lzw' }).toBuffer();
    case 'avif':
      return gradient().avif({ lossless: true }).toBuffer();
    case 'grey':
      return grey(false);
    case 'greyAlpha':
      return grey(true);
    case 'rgba':
      return gradient().ensureAlpha(0).png().toBuffer();
    case 'cmyk':
      return sharp(halvesRgb(16, 8, [220, 30, 30], [30, 30, 220]), raw(16, 8, 3))
        .toColourspace('cmyk')
        .jpeg({ quality: 95 })
        .toBuffer();
    case 'png16':
      return sharp(new Uint16Array(PNG16_VALUES), raw(2, 1, 3)).toColourspace('rgb16').png().toBuffer();
    case 'palette':
      return gradient().png({ palette: true, colours: 256, dither: 0 }).toBuffer();
    case 'exif6':
      return sharp(halvesRgb(16, 8, [220, 30, 30], [30, 30, 220]), raw(16, 8, 3))
        .jpeg({ quality: 95 })
        .withMetadata({ orientation: 6 })
        .toBuffer();
  }
}

/**
 * A two-page image (animated GIF or multi-page TIFF), 4x4 per page: page 0 red (200, 0, 0),
 * page 1 blue (0, 0, 200). Decoders must return page 0 only.
 */
export async function twoPageImage(format: 'gif' | 'tiff'): Promise<Buffer> {
  const page = (c: number) => {
    const data = Buffer.alloc(4 * 4 * 3);
    for (let i = 0; i < 16; i++) data[i * 3 + c] = 200;
    return data;
  };
  const image = sharp(Buffer.concat([page(0), page(2)]), { raw: { width: 4, height: 8, channels: 3, pageHeight: 4 } });
  return format === 'gif' ? image.gif({ dither: 0 }).toBuffer() : image.tiff({ compression: 'lzw' }).toBuffer();
}

/**
 * A 64x64 JPEG whose entropy-coded data has a run of 0xFF bytes in the middle: libjpeg recovers
 * with a warning ("Corrupt JPEG data: premature end of data segment"), as PIL and TF do.
 */
export async function corruptDataJpeg(): Promise<Buffer> {
  const jpeg = Buffer.from(await sharp(noiseRgb(64, 64), raw(64, 64, 3)).jpeg({ quality: 90 }).toBuffer());
  const from = Math.floor(jpeg.length / 2);
  jpeg.fill(0xff, from, from + 40);
  return jpeg;
}

/** Whether this sharp build can encode AVIF (the prebuilt one can). */
export async function canEncodeAvif(): Promise<boolean> {
  try {
    await sharp(gradientRgb(), raw(GRADIENT.width, GRADIENT.height, 3)).avif().toBuffer();
    return true;
  } catch {
    return false;
  }
}

export type BadKind = 'zero-byte' | 'truncated-jpeg' | 'truncated-png' | 'png-crc' | 'text' | 'html' | 'bomb';

export const BAD_KINDS: readonly BadKind[] = ['zero-byte', 'truncated-jpeg', 'truncated-png', 'png-crc', 'text', 'html', 'bomb'];

/** The reason `decodeImage` must give for each bad kind (default maxInputPixels). */
export const BAD_REASONS: Readonly<Record<BadKind, string>> = {
  'zero-byte': 'zero-byte file',
  'truncated-jpeg': 'truncated or corrupt image data',
  'truncated-png': 'truncated or corrupt image data',
  'png-crc': 'truncated or corrupt image data',
  text: 'not an image (looks like text)',
  html: 'not an image (looks like HTML)',
  bomb: 'decompression bomb: 400000000 pixels > limit 89478485',
};

/** Offset of a PNG chunk's type field (the length is the 4 bytes before). */
function chunkOffset(png: Buffer, type: string): number {
  const at = png.indexOf(type, 8, 'latin1');
  if (at < 0) throw new Error(`no ${type} chunk`);
  return at;
}

/**
 * A broken file:
 * - truncated-jpeg / truncated-png: a 64x64 noise image cut at 60% (headers intact, data cut);
 * - png-crc: a valid PNG whose IDAT CRC is wrong;
 * - text: a plain-text note; html: a web page (as saved by "Save link as" on a gallery page);
 * - bomb: a PNG whose header claims 20000x20000 (400,000,000 pixels) with a tiny body.
 */
export async function badImage(kind: BadKind): Promise<Buffer> {
  switch (kind) {
    case 'zero-byte':
      return Buffer.alloc(0);
    case 'truncated-jpeg': {
      const jpeg = await sharp(noiseRgb(64, 64), raw(64, 64, 3)).jpeg({ quality: 90 }).toBuffer();
      return jpeg.subarray(0, Math.floor(jpeg.length * 0.6));
    }
    case 'truncated-png': {
      const png = await sharp(noiseRgb(64, 64), raw(64, 64, 3)).png().toBuffer();
      return png.subarray(0, Math.floor(png.length * 0.6));
    }
    case 'png-crc': {
      const png = Buffer.from(await sharp(gradientRgb(), raw(GRADIENT.width, GRADIENT.height, 3)).png().toBuffer());
      const at = chunkOffset(png, 'IDAT');
      const length = png.readUInt32BE(at - 4);
      png[at + 4 + length] ^= 0xff; // first CRC byte
      return png;
    }
    case 'text':
      return Buffer.from('These are my holiday photos, see the other folder.\nThanks!\n', 'utf8');
    case 'html':
      return Buffer.from(
        '\n<!DOCTYPE html>\n<html lang="en"><head><title>cat.jpg - Image Search</title></head>\n<body><img src="cat.jpg"></body></html>\n',
        'utf8',
      );
    case 'bomb': {
      const png = Buffer.from(await sharp(gradientRgb(), raw(GRADIENT.width, GRADIENT.height, 3)).png().toBuffer());
      const at = chunkOffset(png, 'IHDR');
      png.writeUInt32BE(20000, at + 4);
      png.writeUInt32BE(20000, at + 8);
      png.writeUInt32BE(zlib.crc32(png.subarray(at, at + 17)) >>> 0, at + 17);
      return png;
    }
  }
}

/** A fresh directory in os.tmpdir(); `cleanup` removes it. */
export async function tempDir(prefix = 'ftk-data-'): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Writes files ('a/b/c.png' -> bytes or text) under `root`, creating folders. */
export async function writeTree(root: string, files: Record<string, Buffer | string>): Promise<void> {
  for (const [rel, content] of Object.entries(files)) {
    const file = path.join(root, ...rel.split('/'));
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, content);
  }
}

/** Two classes (`red/`, `blue/`) told apart by colour, with deterministic noise: `perClass` PNGs of size x size each. */
export async function colourDataset(root: string, perClass: number, size: number): Promise<void> {
  const files: Record<string, Buffer> = {};
  for (const [cls, rgb] of [['red', [200, 40, 40]], ['blue', [40, 40, 200]]] as const) {
    for (let i = 0; i < perClass; i++) {
      const px = Buffer.alloc(size * size * 3);
      for (let j = 0; j < px.length; j++) px[j] = Math.max(0, Math.min(255, rgb[j % 3] + (((j * 7919 + i * 104729) % 61) - 30)));
      files[`${cls}/${i}.png`] = await sharp(px, { raw: { width: size, height: size, channels: 3 } }).png().toBuffer();
    }
  }
  await writeTree(root, files);
}
