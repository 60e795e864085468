/**
 * The bad-input corpus: every kind of broken, odd or hostile input a user can hand ftk (image
 * files, dataset folders, CSV manifests, weight files, feature files, saved SVM models), each with
 * the outcome ftk documents for it. Nothing binary is committed: `generateCorpus(dir)` writes the
 * corpus at test time (sharp for real images, byte surgery for broken ones, h5wasm for HDF5).
 *
 * `CORPUS_KINDS` is the single source of the expectations: test/corpus.test.ts computes each
 * kind's outcome through the real code paths and compares, and test/corpus/README.md's table is
 * rendered from it (`renderCorpusTable`, checked by the test).
 *
 * CLI: `npx tsx test/corpus/generate.ts <dir> [--weights file.h5]` writes a corpus;
 * `npx tsx test/corpus/generate.ts --write-readme` regenerates the README table.
 */
import { requireInput } from '../helpers/requires.js';
import { chmod, mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import zlib from 'node:zlib';
import sharp, { type JpegOptions } from 'sharp';
import { SvmClassifier } from '../../src/classify/svm.js';
import { encodeNpy, npyHeader } from '../../src/formats/npy.js';
import {
  badImage,
  canEncodeAvif,
  corruptDataJpeg,
  encodeImage,
  gradientRgb,
  GRADIENT,
  greyValue,
  halvesRgb,
  noiseRgb,
  PNG16_VALUES,
  twoPageImage,
} from '../helpers/images.js';

// ---------------------------------------------------------------------------------------------
// Outcomes

/**
 * What ftk does with a kind of input:
 * - works: used as a good input (and `check` is verified on the pixels or the result);
 * - ignored: `findDataset` lists it in `ignored` with `reason` and never opens it;
 * - skipped: found, then skipped when decoded (or hashed), listed with `reason`; the run goes on;
 * - error: the command stops with an FtkError of `code` whose message names the file and whose
 *   suggestion says how to fix it.
 */
export type Outcome =
  | { status: 'works'; check?: string }
  | { status: 'ignored'; reason: string }
  | { status: 'skipped'; reason: string }
  | { status: 'error'; code: string };

/**
 * Where a kind lives and which code path judges it:
 * - folder: a file or folder of the `images/` dataset (findDataset, decodeImage, extractFeatures, CLI);
 * - manifest: a row of `manifest.csv` (findDataset on the CSV, then decodeImage);
 * - dataset: a dataset of its own whose listing fails (findDataset);
 * - weights: a `--weights` source (extractFeatures on the `tiny/` dataset);
 * - features: a `<prefix>.npy` + `.json` pair (svmFit);
 * - svm-model: a saved SVM model (svmPredict on `svm/features`).
 */
export type Stage = 'folder' | 'manifest' | 'dataset' | 'weights' | 'features' | 'svm-model';

/** What a kind needs from the machine; without it the test skips the kind and says why. */
export type Requirement = 'non-root' | 'shared-weights' | 'avif' | 'newline-names';

export interface WeightsCase {
  model: string;
  alpha?: number;
  /** Weight source, relative to the corpus root ('<shared>' = the shared Keras MobileNet 0.25 file). */
  weights: string;
}

/** Decodes a corpus file (path relative to the corpus root) as `decodeImage` does. */
export type CorpusDecoder = (file: string, size: number | [number, number], crop?: 'squash' | 'center') => Promise<{ pixels: Float32Array; sourceHeight: number; sourceWidth: number }>;

export interface CorpusKind {
  id: string;
  /** The kind, in a few words (the table's first column). */
  title: string;
  stage: Stage;
  /** Paths relative to the corpus root that the outcome is about ('/' at the end: a folder). */
  files: string[];
  /** How the generator makes it. */
  how: string;
  outcome: Outcome;
  requires?: Requirement[];
  /** findDataset option for this kind (folder stage). */
  followSymlinks?: boolean;
  /** Line of `manifest.csv` the kind is about (manifest stage; the header is line 1). */
  row?: number;
  /** classes option when reading the manifest (manifest stage). */
  manifestClasses?: string[];
  /** Weight source (weights stage). */
  weights?: WeightsCase;
  /** Verifies a working kind beyond "it decodes": returns what is wrong, or undefined. */
  verify?: (decode: CorpusDecoder) => Promise<string | undefined>;
}

// ---------------------------------------------------------------------------------------------
// Image builders

const raw = (width: number, height: number, channels: 1 | 2 | 3 | 4 = 3) => ({ raw: { width, height, channels } });

/** The upright test card of the EXIF kinds: 48x32 of 8x8 solid blocks, each a different colour. */
const CARD = { width: 48, height: 32, block: 8 } as const;

function cardRgb(): Buffer {
  const { width, height, block } = CARD;
  const data = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const bx = Math.floor(x / block);
      const by = Math.floor(y / block);
      data.set([20 + bx * 42, 30 + by * 60, (37 * bx + 71 * by) % 200], (y * width + x) * 3);
    }
  }
  return data;
}

interface Raster {
  data: Buffer;
  width: number;
  height: number;
}

/** out(x, y) = img(src(x, y)), out being width x height. */
function remap(img: Raster, width: number, height: number, src: (x: number, y: number) => [number, number]): Raster {
  const data = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const [sx, sy] = src(x, y);
      img.data.copy(data, (y * width + x) * 3, (sy * img.width + sx) * 3, (sy * img.width + sx) * 3 + 3);
    }
  }
  return { data, width, height };
}

const flipX = (i: Raster) => remap(i, i.width, i.height, (x, y) => [i.width - 1 - x, y]);
const flipY = (i: Raster) => remap(i, i.width, i.height, (x, y) => [x, i.height - 1 - y]);
const transpose = (i: Raster) => remap(i, i.height, i.width, (x, y) => [y, x]);
const rotate90 = (i: Raster) => remap(i, i.height, i.width, (x, y) => [y, i.height - 1 - x]); // clockwise
const rotate270 = (i: Raster) => remap(i, i.height, i.width, (x, y) => [i.width - 1 - y, x]);

/**
 * What a camera stores for EXIF orientation n when the scene is `upright`: the inverse of the
 * transform a viewer applies (EXIF 2.32 / TIFF 6: 2 mirror horizontal, 3 rotate 180, 4 mirror
 * vertical, 5 transpose, 6 rotate 90 CW, 7 transverse, 8 rotate 270 CW).
 */
function storedForOrientation(upright: Raster, n: number): Raster {
  switch (n) {
    case 2:
      return flipX(upright);
    case 3:
      return flipX(flipY(upright));
    case 4:
      return flipY(upright);
    case 5:
      return transpose(upright);
    case 6:
      return rotate270(upright);
    case 7:
      return flipX(flipY(transpose(upright)));
    case 8:
      return rotate90(upright);
    default:
      return upright;
  }
}

/** A JPEG of the test card stored for EXIF orientation n (4:4:4, q100: blocks survive almost exactly). */
async function orientedCard(n: number): Promise<Buffer> {
  const stored = storedForOrientation({ data: cardRgb(), width: CARD.width, height: CARD.height }, n);
  return sharp(stored.data, raw(stored.width, stored.height))
    .jpeg({ quality: 100, chromaSubsampling: '4:4:4' })
    .withMetadata({ orientation: n })
    .toBuffer();
}

/** A 24-bit uncompressed Windows BMP (BITMAPINFOHEADER), rows bottom-up, padded to 4 bytes. */
function bmp(width: number, height: number, rgb: Buffer): Buffer {
  const rowBytes = Math.ceil((width * 3) / 4) * 4;
  const out = Buffer.alloc(54 + rowBytes * height);
  out.write('BM', 0, 'latin1');
  out.writeUInt32LE(out.length, 2);
  out.writeUInt32LE(54, 10);
  out.writeUInt32LE(40, 14);
  out.writeInt32LE(width, 18);
  out.writeInt32LE(height, 22);
  out.writeUInt16LE(1, 26);
  out.writeUInt16LE(24, 28);
  out.writeUInt32LE(rowBytes * height, 34);
  for (let y = 0; y < height; y++) {
    const row = 54 + (height - 1 - y) * rowBytes;
    for (let x = 0; x < width; x++) {
      const s = (y * width + x) * 3;
      out[row + x * 3] = rgb[s + 2];
      out[row + x * 3 + 1] = rgb[s + 1];
      out[row + x * 3 + 2] = rgb[s];
    }
  }
  return out;
}

/** A JPEG whose frame header (SOF0/SOF2) claims 60000x60000 pixels; the rest is a small image. */
async function jpegBomb(): Promise<Buffer> {
  const jpeg = Buffer.from(await sharp(gradientRgb(), raw(GRADIENT.width, GRADIENT.height)).jpeg().toBuffer());
  for (let i = 2; i + 9 < jpeg.length; i++) {
    if (jpeg[i] === 0xff && (jpeg[i + 1] === 0xc0 || jpeg[i + 1] === 0xc2)) {
      jpeg.writeUInt16BE(60000, i + 5); // height
      jpeg.writeUInt16BE(60000, i + 7); // width
      return jpeg;
    }
  }
  throw new Error('no SOF marker in the JPEG');
}

/** The same JPEG without its APP2 ICC_PROFILE segments. */
function stripIcc(jpeg: Buffer): Buffer {
  const parts: Buffer[] = [jpeg.subarray(0, 2)];
  let i = 2;
  while (i + 4 <= jpeg.length && jpeg[i] === 0xff && jpeg[i + 1] !== 0xda) {
    const length = jpeg.readUInt16BE(i + 2);
    const isIcc = jpeg[i + 1] === 0xe2 && jpeg.toString('latin1', i + 4, i + 15) === 'ICC_PROFILE';
    if (!isIcc) parts.push(jpeg.subarray(i, i + 2 + length));
    i += 2 + length;
  }
  parts.push(jpeg.subarray(i));
  return Buffer.concat(parts);
}

async function gradientJpeg(options: JpegOptions = {}): Promise<Buffer> {
  return sharp(gradientRgb(), raw(GRADIENT.width, GRADIENT.height)).jpeg({ quality: 95, ...options }).toBuffer();
}

/** A P3 JPEG: the gradient converted to Display P3 and tagged with its ICC profile. */
async function p3Jpeg(): Promise<Buffer> {
  return sharp(gradientRgb(), raw(GRADIENT.width, GRADIENT.height)).jpeg({ quality: 95 }).withIccProfile('p3').toBuffer();
}

/** A solid image (any size) in `colour`. */
function solid(width: number, height: number, colour: [number, number, number]): Buffer {
  const data = Buffer.alloc(width * height * 3);
  for (let p = 0; p < width * height; p++) data.set(colour, p * 3);
  return data;
}

const SVG = '<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="16" height="8"><rect width="8" height="8" fill="#c00"/></svg>\n';
const PDF = '%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n';
/** A HEIC file's first box (ftyp, brand heic) and junk: what an iPhone photo starts with. */
const HEIC_HEAD = Buffer.concat([Buffer.from([0, 0, 0, 0x18]), Buffer.from('ftypheic\0\0\0\0mif1heic', 'latin1'), Buffer.alloc(64, 0x11)]);
/** A ZIP local file header (a .zip or .docx named .jpg). */
const ZIP_HEAD = Buffer.concat([Buffer.from([0x50, 0x4b, 0x03, 0x04, 0x14, 0, 0, 0]), Buffer.alloc(60, 0x22)]);

// ---------------------------------------------------------------------------------------------
// Pixel checks of the working kinds

/** Mean absolute difference of two pixel arrays. */
function meanAbs(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i] - b[i]);
  return s / a.length;
}

function pixelAt(pixels: ArrayLike<number>, width: number, x: number, y: number): number[] {
  const i = (y * width + x) * 3;
  return [pixels[i], pixels[i + 1], pixels[i + 2]];
}

const exactGradient = (file: string) => async (decode: CorpusDecoder) => {
  const img = await decode(file, [GRADIENT.height, GRADIENT.width]);
  const diff = meanAbs(img.pixels, gradientRgb());
  return diff === 0 ? undefined : `pixels differ from the gradient by ${diff.toFixed(2)} on average`;
};

const nearGradient = (file: string, tolerance = 12) => async (decode: CorpusDecoder) => {
  const img = await decode(file, [GRADIENT.height, GRADIENT.width]);
  const diff = meanAbs(img.pixels, gradientRgb());
  return diff < tolerance ? undefined : `pixels differ from the gradient by ${diff.toFixed(2)} on average (lossy tolerance ${tolerance})`;
};

const solidColour = (file: string, colour: number[], size: number | [number, number], crop?: 'squash' | 'center') => async (decode: CorpusDecoder) => {
  const img = await decode(file, size, crop);
  for (let p = 0; p < img.pixels.length; p += 3) {
    const got = [img.pixels[p], img.pixels[p + 1], img.pixels[p + 2]];
    if (got.some((v, c) => Math.abs(v - colour[c]) > 1)) return `pixel ${p / 3} is [${got.join(', ')}], expected [${colour.join(', ')}]`;
  }
  return undefined;
};

/** Every orientation decodes to the upright card: right size, near the card, far from its mirror images. */
async function uprightCards(decode: CorpusDecoder): Promise<string | undefined> {
  const card = { data: cardRgb(), width: CARD.width, height: CARD.height };
  const wrong = { 'mirrored left-right': flipX(card), 'upside down': flipY(card), 'rotated 180': flipX(flipY(card)) };
  for (let n = 1; n <= 8; n++) {
    const img = await decode(`images/dogs/exif-${n}.jpg`, [CARD.height, CARD.width]);
    if (img.sourceWidth !== CARD.width || img.sourceHeight !== CARD.height) {
      return `orientation ${n}: decoded ${img.sourceWidth}x${img.sourceHeight}, upright is ${CARD.width}x${CARD.height}`;
    }
    const diff = meanAbs(img.pixels, card.data);
    if (diff > 2) return `orientation ${n}: differs from the upright card by ${diff.toFixed(2)} on average`;
    for (const [name, other] of Object.entries(wrong)) {
      if (meanAbs(img.pixels, other.data) < 10 * Math.max(diff, 1)) return `orientation ${n}: as close to the card ${name} as to the upright card`;
    }
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// The kinds

export const SHARED_WEIGHTS = '<shared>';

export const CORPUS_KINDS: readonly CorpusKind[] = Object.freeze([
  // --- image content (folder dataset `images/`, classes cats, dogs, solo) ---------------------
  { id: 'jpeg', title: 'plain JPEG (control)', stage: 'folder', files: ['images/cats/plain.jpg'], how: 'sharp: 8x6 gradient, JPEG q95', outcome: { status: 'works', check: 'close to the gradient' }, verify: nearGradient('images/cats/plain.jpg') },
  { id: 'zero-byte', title: 'zero-byte file', stage: 'folder', files: ['images/cats/empty.jpg'], how: 'empty file', outcome: { status: 'skipped', reason: 'zero-byte file' } },
  { id: 'truncated-jpeg', title: 'truncated JPEG', stage: 'folder', files: ['images/cats/truncated.jpg'], how: '64x64 noise JPEG cut at 60% (headers intact)', outcome: { status: 'skipped', reason: 'truncated or corrupt image data' } },
  { id: 'truncated-png', title: 'truncated PNG', stage: 'folder', files: ['images/cats/truncated.png'], how: '64x64 noise PNG cut at 60%', outcome: { status: 'skipped', reason: 'truncated or corrupt image data' } },
  { id: 'png-crc', title: 'PNG with a corrupt CRC', stage: 'folder', files: ['images/cats/bad-crc.png'], how: 'valid PNG, first IDAT CRC byte flipped', outcome: { status: 'skipped', reason: 'truncated or corrupt image data' } },
  { id: 'corrupt-data-jpeg', title: 'JPEG with recoverable corrupt data', stage: 'folder', files: ['images/cats/glitch.jpg'], how: '40 bytes of 0xFF in the middle of the scan (libjpeg warns, PIL/TF decode)', outcome: { status: 'works', check: 'decodes, as in PIL/TF' } },
  { id: 'text-as-jpg', title: 'text file named .jpg', stage: 'folder', files: ['images/cats/notes.jpg'], how: 'two lines of UTF-8 text', outcome: { status: 'skipped', reason: 'not an image (looks like text)' } },
  { id: 'html-as-jpg', title: 'HTML error page saved as .jpg', stage: 'folder', files: ['images/cats/error-page.jpg'], how: 'a small <!DOCTYPE html> page', outcome: { status: 'skipped', reason: 'not an image (looks like HTML)' } },
  { id: 'pdf-as-jpg', title: 'PDF named .jpg', stage: 'folder', files: ['images/cats/scan.jpg'], how: 'PDF header bytes', outcome: { status: 'skipped', reason: 'not an image (PDF document)' } },
  { id: 'zip-as-jpg', title: 'ZIP archive named .jpg', stage: 'folder', files: ['images/cats/archive.jpg'], how: 'ZIP local-file header', outcome: { status: 'skipped', reason: 'not an image (ZIP archive)' } },
  { id: 'heic-as-jpg', title: 'HEIC photo named .jpg', stage: 'folder', files: ['images/cats/iphone.jpg'], how: "ISO-BMFF 'ftyp' box with brand heic (sharp's prebuilt libvips has no HEVC decoder)", outcome: { status: 'skipped', reason: 'unsupported format (HEIC)' } },
  { id: 'bmp-as-jpg', title: 'BMP named .jpg', stage: 'folder', files: ['images/cats/paint.jpg'], how: '4x2 24-bit BMP written byte by byte (sharp cannot read BMP)', outcome: { status: 'skipped', reason: 'unsupported format (BMP)' } },
  { id: 'svg-as-png', title: 'SVG named .png', stage: 'folder', files: ['images/cats/vector.png'], how: 'a 16x8 SVG document', outcome: { status: 'skipped', reason: 'unsupported format (SVG)' } },
  { id: 'png-as-jpg', title: 'PNG with a .jpg extension', stage: 'folder', files: ['images/cats/really-png.jpg'], how: 'sharp: gradient PNG', outcome: { status: 'works', check: 'exact gradient (read by content)' }, verify: exactGradient('images/cats/really-png.jpg') },
  { id: 'jpeg-as-png', title: 'JPEG with a .png extension', stage: 'folder', files: ['images/cats/really-jpeg.png'], how: 'sharp: gradient JPEG', outcome: { status: 'works', check: 'close to the gradient' }, verify: nearGradient('images/cats/really-jpeg.png') },
  {
    id: 'cmyk-jpeg', title: 'CMYK JPEG', stage: 'folder', files: ['images/cats/cmyk.jpg'], how: "sharp: red|blue halves, toColourspace('cmyk'), JPEG", outcome: { status: 'works', check: 'sRGB, red stays red, blue stays blue' },
    verify: async (decode) => {
      const img = await decode('images/cats/cmyk.jpg', [8, 16]);
      const [r1, g1, b1] = pixelAt(img.pixels, 16, 2, 4);
      const [r2, g2, b2] = pixelAt(img.pixels, 16, 13, 4);
      if (!(r1 > 150 && r1 - Math.max(g1, b1) > 100)) return `left half not red: ${[r1, g1, b1]}`;
      if (!(b2 > 100 && b2 - Math.max(r2, g2) > 60)) return `right half not blue: ${[r2, g2, b2]}`;
      return undefined;
    },
  },
  {
    id: 'png16', title: '16-bit PNG', stage: 'folder', files: ['images/cats/deep.png'], how: "sharp: 2x1 Uint16 raw, toColourspace('rgb16'), PNG", outcome: { status: 'works', check: 'high byte kept (v >> 8, as TF)' },
    verify: async (decode) => {
      const img = await decode('images/cats/deep.png', [1, 2]);
      const want = PNG16_VALUES.map((v) => v >> 8);
      return Array.from(img.pixels).every((v, i) => v === want[i]) ? undefined : `got [${Array.from(img.pixels)}], expected [${want}]`;
    },
  },
  {
    id: 'grey-alpha-png', title: 'grey + alpha PNG', stage: 'folder', files: ['images/cats/grey-alpha.png'], how: "sharp: 2-channel raw, toColourspace('b-w'), PNG", outcome: { status: 'works', check: 'r = g = b = grey, alpha dropped' },
    verify: async (decode) => {
      const img = await decode('images/cats/grey-alpha.png', [GRADIENT.height, GRADIENT.width]);
      for (let y = 0; y < GRADIENT.height; y++) {
        for (let x = 0; x < GRADIENT.width; x++) {
          const v = greyValue(x, y);
          const got = pixelAt(img.pixels, GRADIENT.width, x, y);
          if (got.some((c) => c !== v)) return `(${x}, ${y}) is [${got}], expected grey ${v}`;
        }
      }
      return undefined;
    },
  },
  {
    id: 'grey-jpeg', title: 'greyscale JPEG', stage: 'folder', files: ['images/cats/grey.jpg'], how: "sharp: gradient, toColourspace('b-w'), JPEG", outcome: { status: 'works', check: 'r = g = b' },
    verify: async (decode) => {
      const img = await decode('images/cats/grey.jpg', [GRADIENT.height, GRADIENT.width]);
      for (let p = 0; p < img.pixels.length; p += 3) if (img.pixels[p] !== img.pixels[p + 1] || img.pixels[p] !== img.pixels[p + 2]) return `pixel ${p / 3} is not grey`;
      return undefined;
    },
  },
  { id: 'palette-png', title: 'palette PNG', stage: 'folder', files: ['images/cats/palette.png'], how: 'sharp: gradient, png({ palette: true })', outcome: { status: 'works', check: 'exact gradient' }, verify: exactGradient('images/cats/palette.png') },
  { id: 'rgba-png', title: 'RGBA PNG, fully transparent', stage: 'folder', files: ['images/cats/transparent.png'], how: 'sharp: gradient, ensureAlpha(0)', outcome: { status: 'works', check: 'colour under alpha 0 kept (as PIL convert("RGB"))' }, verify: exactGradient('images/cats/transparent.png') },
  { id: 'animated-gif', title: 'animated GIF', stage: 'folder', files: ['images/cats/anim.gif'], how: 'sharp: 2 frames (red, blue), pageHeight', outcome: { status: 'works', check: 'first frame (red)' }, verify: solidColour('images/cats/anim.gif', [200, 0, 0], 4) },
  { id: 'multipage-tiff', title: 'multi-page TIFF', stage: 'folder', files: ['images/cats/pages.tiff'], how: 'sharp: 2 pages (red, blue), LZW', outcome: { status: 'works', check: 'first page (red)' }, verify: solidColour('images/cats/pages.tiff', [200, 0, 0], 4) },
  { id: 'webp', title: 'WebP (lossless)', stage: 'folder', files: ['images/cats/lossless.webp'], how: 'sharp: gradient, webp({ lossless: true })', outcome: { status: 'works', check: 'exact gradient' }, verify: exactGradient('images/cats/lossless.webp') },
  { id: 'tiff', title: 'TIFF', stage: 'folder', files: ['images/cats/plain.tif'], how: 'sharp: gradient, TIFF LZW', outcome: { status: 'works', check: 'exact gradient' }, verify: exactGradient('images/cats/plain.tif') },
  { id: 'avif', title: 'AVIF (lossless)', stage: 'folder', files: ['images/cats/modern.avif'], how: 'sharp: gradient, avif({ lossless: true })', outcome: { status: 'works', check: 'exact gradient' }, requires: ['avif'], verify: exactGradient('images/cats/modern.avif') },
  { id: 'progressive-jpeg', title: 'progressive JPEG', stage: 'folder', files: ['images/cats/progressive.jpg'], how: 'sharp: gradient, jpeg({ progressive: true })', outcome: { status: 'works', check: 'close to the gradient' }, verify: nearGradient('images/cats/progressive.jpg') },
  {
    id: 'icc-p3-jpeg', title: 'JPEG with a Display P3 ICC profile', stage: 'folder', files: ['images/cats/p3.jpg', 'images/cats/p3-stripped.jpg'], how: "sharp: gradient, withIccProfile('p3'); the same bytes without the APP2 segment next to it", outcome: { status: 'works', check: 'profile ignored: same pixels as without it (as TF/PIL)' },
    verify: async (decode) => {
      const a = await decode('images/cats/p3.jpg', [GRADIENT.height, GRADIENT.width]);
      const b = await decode('images/cats/p3-stripped.jpg', [GRADIENT.height, GRADIENT.width]);
      const diff = meanAbs(a.pixels, b.pixels);
      return diff === 0 ? undefined : `the profile changed the pixels by ${diff.toFixed(2)} on average`;
    },
  },
  {
    id: 'exif-orientation', title: 'EXIF orientations 1-8', stage: 'folder', files: [1, 2, 3, 4, 5, 6, 7, 8].map((n) => `images/dogs/exif-${n}.jpg`), how: 'one 48x32 card of 8x8 colour blocks, stored transformed for each orientation n, JPEG 4:4:4 q100, withMetadata({ orientation: n })', outcome: { status: 'works', check: 'all 8 decode upright (EXIF applied, unlike Keras/TF)' },
    verify: uprightCards,
  },
  { id: 'one-pixel', title: '1x1 image', stage: 'folder', files: ['images/dogs/dot.png'], how: 'sharp: 1x1 PNG (10, 20, 30)', outcome: { status: 'works', check: 'upsampled to a flat image' }, verify: solidColour('images/dogs/dot.png', [10, 20, 30], 5) },
  {
    id: 'huge-aspect', title: '1x5000 image', stage: 'folder', files: ['images/dogs/thin.png'], how: 'sharp: 1 wide, 5000 high, PNG', outcome: { status: 'works', check: 'squash and centre crop both give a flat image' },
    verify: async (decode) => (await solidColour('images/dogs/thin.png', [0, 128, 255], 8)(decode)) ?? solidColour('images/dogs/thin.png', [0, 128, 255], 8, 'center')(decode),
  },
  { id: 'png-bomb', title: 'PNG header claiming 20000x20000', stage: 'folder', files: ['images/dogs/bomb.png'], how: 'gradient PNG whose IHDR says 20000x20000, CRC recomputed', outcome: { status: 'skipped', reason: 'decompression bomb: 400000000 pixels > limit 89478485' } },
  { id: 'jpeg-bomb', title: 'JPEG header claiming 60000x60000', stage: 'folder', files: ['images/dogs/bomb.jpg'], how: 'gradient JPEG whose SOF says 60000x60000', outcome: { status: 'skipped', reason: 'decompression bomb: 3600000000 pixels > limit 89478485' } },
  { id: 'unicode-name', title: 'unicode file name', stage: 'folder', files: ['images/dogs/chien été 犬 🐕.png'], how: 'gradient PNG', outcome: { status: 'works' } },
  { id: 'spaces-name', title: 'file name with spaces and brackets', stage: 'folder', files: ['images/dogs/ my photo (1) copy .png'], how: 'gradient PNG, leading/trailing/inner spaces', outcome: { status: 'works' } },
  { id: 'newline-name', title: 'file name with a newline', stage: 'folder', files: ['images/dogs/line\nbreak.png'], how: 'gradient PNG (where the file system allows)', outcome: { status: 'works' }, requires: ['newline-names'] },
  { id: 'long-name', title: 'file name of 255 bytes', stage: 'folder', files: [`images/dogs/${'l'.repeat(251)}.png`], how: 'gradient PNG, the longest name ext4 allows', outcome: { status: 'works' } },
  { id: 'upper-ext', title: 'upper-case .JPG and .jfif', stage: 'folder', files: ['images/dogs/IMG_0001.JPG', 'images/dogs/saved.jfif'], how: 'gradient JPEG', outcome: { status: 'works' } },
  { id: 'jpeg-as-webp', title: 'JPEG named .webp', stage: 'folder', files: ['images/dogs/not-webp.webp'], how: 'gradient JPEG', outcome: { status: 'works' } },
  { id: 'symlink-file', title: 'symlink to an image', stage: 'folder', files: ['images/dogs/link.png'], how: 'symlink to ../../outside/target.png', outcome: { status: 'works' } },
  { id: 'symlink-file-loop', title: 'symlink loop between two files', stage: 'folder', files: ['images/dogs/loop-a.jpg', 'images/dogs/loop-b.jpg'], how: 'loop-a.jpg -> loop-b.jpg -> loop-a.jpg', outcome: { status: 'ignored', reason: 'symlink loop' } },
  { id: 'symlink-folder-loop', title: 'symlinked folder looping to its class', stage: 'folder', files: ['images/dogs/again/'], how: "dogs/again -> '.'", outcome: { status: 'ignored', reason: 'symlinked folder not followed (followSymlinks is false)' } },
  { id: 'symlink-folder-loop-followed', title: 'the same loop with followSymlinks', stage: 'folder', files: ['images/dogs/again/'], how: 'as above, findDataset(..., { followSymlinks: true })', outcome: { status: 'ignored', reason: 'symlink loop (folder already visited)' }, followSymlinks: true },
  { id: 'dangling-symlink', title: 'dangling symlink', stage: 'folder', files: ['images/dogs/gone.jpg'], how: 'symlink to a file that does not exist', outcome: { status: 'ignored', reason: 'broken symlink' } },
  { id: 'unreadable', title: 'unreadable file (mode 000)', stage: 'folder', files: ['images/dogs/locked.png'], how: 'gradient PNG, chmod 000 (root reads anything: checked only as non-root)', outcome: { status: 'skipped', reason: 'unreadable file (permission denied)' }, requires: ['non-root'] },
  { id: 'ds-store', title: '.DS_Store', stage: 'folder', files: ['images/cats/.DS_Store'], how: 'junk bytes', outcome: { status: 'ignored', reason: 'hidden file' } },
  { id: 'apple-double', title: 'AppleDouble ._ file', stage: 'folder', files: ['images/cats/._plain.jpg'], how: 'junk bytes', outcome: { status: 'ignored', reason: 'hidden file' } },
  { id: 'thumbs-db', title: 'Thumbs.db', stage: 'folder', files: ['images/cats/Thumbs.db'], how: 'junk bytes', outcome: { status: 'ignored', reason: 'system file' } },
  { id: 'desktop-ini', title: 'desktop.ini', stage: 'folder', files: ['images/dogs/desktop.ini'], how: 'text', outcome: { status: 'ignored', reason: 'system file' } },
  { id: 'hidden-folder', title: 'hidden folder (.ipynb_checkpoints)', stage: 'folder', files: ['images/cats/.ipynb_checkpoints/'], how: 'holds a good JPEG', outcome: { status: 'ignored', reason: 'hidden folder' } },
  { id: 'other-extension', title: 'non-image extension', stage: 'folder', files: ['images/cats/readme.txt'], how: 'text', outcome: { status: 'ignored', reason: 'not an image file extension (.txt)' } },
  { id: 'no-extension', title: 'file without extension', stage: 'folder', files: ['images/cats/IMG_0002'], how: 'a good JPEG without extension', outcome: { status: 'ignored', reason: 'no file extension' } },
  { id: 'bmp-ext', title: '.bmp file', stage: 'folder', files: ['images/cats/paint.bmp'], how: 'real 24-bit BMP', outcome: { status: 'ignored', reason: 'unsupported format (BMP): convert to JPEG or PNG' } },
  { id: 'svg-ext', title: '.svg file', stage: 'folder', files: ['images/cats/logo.svg'], how: 'SVG document', outcome: { status: 'ignored', reason: 'unsupported format (SVG): convert to JPEG or PNG' } },
  { id: 'heic-ext', title: '.HEIC file', stage: 'folder', files: ['images/cats/IMG_0003.HEIC'], how: 'HEIC ftyp header', outcome: { status: 'ignored', reason: 'unsupported format (HEIC): convert to JPEG or PNG' } },
  { id: 'nested', title: 'nested subfolders', stage: 'folder', files: ['images/cats/2019/summer/beach.png'], how: 'gradient PNG two levels down', outcome: { status: 'works', check: 'labelled with the top class folder (cats)' } },
  { id: 'folder-named-jpg', title: 'folder named like an image (x.jpg/)', stage: 'folder', files: ['images/cats/album.jpg/inside.png'], how: 'a folder album.jpg/ holding a PNG', outcome: { status: 'works', check: 'walked as a folder; its image is used' } },
  { id: 'loose-image', title: 'image at the dataset root', stage: 'folder', files: ['images/loose.jpg'], how: 'gradient JPEG outside any class folder', outcome: { status: 'ignored', reason: 'not in a class folder' } },
  { id: 'macosx', title: '__MACOSX folder', stage: 'folder', files: ['images/__MACOSX/'], how: 'zip metadata folder with ._ files', outcome: { status: 'ignored', reason: 'macOS archive metadata folder' } },
  { id: 'one-image-class', title: 'class with one image', stage: 'folder', files: ['images/solo/only.png'], how: 'class folder solo/ with one PNG', outcome: { status: 'works', check: 'a class of its own with one image (`svm cv` then refuses fewer samples than folds: svm_errors.test.ts)' } },
  { id: 'duplicates', title: 'identical files in two classes', stage: 'folder', files: ['images/cats/twin.png', 'images/dogs/twin-copy.png'], how: 'the same PNG bytes twice', outcome: { status: 'works', check: 'both used, reported as a duplicate group (they leak between folds)' } },
  // --- datasets that cannot be listed --------------------------------------------------------
  { id: 'empty-class', title: 'empty class folder', stage: 'dataset', files: ['empty-class/dogs/'], how: 'dataset with cats/1.png and a dogs/ folder holding only .DS_Store', outcome: { status: 'error', code: 'DATASET_EMPTY_CLASS' } },
  { id: 'no-class-folders', title: 'images but no class folders', stage: 'dataset', files: ['flat/'], how: 'a folder of 2 PNGs, no subfolders', outcome: { status: 'error', code: 'DATASET_NO_CLASSES' } },
  // --- CSV manifest `manifest.csv` (paths relative to the corpus root) ------------------------
  { id: 'csv-ok', row: 2, title: 'manifest row (control)', stage: 'manifest', files: ['images/cats/plain.jpg'], how: 'row images/cats/plain.jpg,cats', outcome: { status: 'works' } },
  { id: 'csv-quoted', row: 3, title: 'manifest path with a comma, quoted', stage: 'manifest', files: ['images/cats/a, b.png'], how: 'row "images/cats/a, b.png",cats', outcome: { status: 'works' } },
  { id: 'csv-missing-file', row: 4, title: 'manifest row whose file is missing', stage: 'manifest', files: ['images/cats/missing.jpg'], how: 'row 4', outcome: { status: 'ignored', reason: 'row 4: file not found' } },
  { id: 'csv-unknown-label', row: 5, title: 'manifest label not in classes', stage: 'manifest', files: ['images/dogs/dot.png'], how: 'row 5 labelled "dgos", read with classes [cats, dogs]', outcome: { status: 'ignored', reason: 'row 5: unknown label "dgos" (not in classes)' }, manifestClasses: ['cats', 'dogs'] },
  { id: 'csv-typo-label', row: 5, title: 'the same row without a classes list', stage: 'manifest', files: ['images/dogs/dot.png'], how: 'row 5 labelled "dgos", no classes option', outcome: { status: 'works', check: 'becomes a class "dgos" of its own: pass classes to catch typos' } },
  { id: 'csv-duplicate-row', row: 6, title: 'manifest row repeated', stage: 'manifest', files: ['images/cats/plain.jpg'], how: 'row 6 = row 2', outcome: { status: 'ignored', reason: 'row 6: duplicate of row 2' } },
  { id: 'csv-folder-row', row: 7, title: 'manifest row naming a folder', stage: 'manifest', files: ['images/cats/album.jpg'], how: 'row 7', outcome: { status: 'ignored', reason: 'row 7: a folder, not a file' } },
  { id: 'csv-bad-image', row: 8, title: 'manifest row naming a broken file', stage: 'manifest', files: ['images/cats/empty.jpg'], how: 'row 8 (zero-byte file)', outcome: { status: 'skipped', reason: 'zero-byte file' } },
  { id: 'csv-short-row', row: 9, title: 'manifest row with one field', stage: 'manifest', files: ['images/cats/grey.jpg'], how: 'row 9 without a label', outcome: { status: 'ignored', reason: 'row 9: expected 2 fields (path,label), found 1' } },
  // --- weight files (--weights) ---------------------------------------------------------------
  { id: 'h5-truncated', title: 'truncated Keras .h5', stage: 'weights', files: ['models/truncated.h5'], how: 'the shared MobileNet 0.25 .h5 cut at 60%', outcome: { status: 'error', code: 'WEIGHTS_TRUNCATED' }, requires: ['shared-weights'], weights: { model: 'mobilenet', alpha: 0.25, weights: 'models/truncated.h5' } },
  { id: 'h5-truncated-small', title: 'truncated .h5 (new HDF5 superblock)', stage: 'weights', files: ['models/vgg-style-truncated.h5'], how: 'the generated VGG-style .h5 (superblock v2) cut at 60%', outcome: { status: 'error', code: 'WEIGHTS_TRUNCATED' }, weights: { model: 'mobilenet', alpha: 0.25, weights: 'models/vgg-style-truncated.h5' } },
  { id: 'h5-corrupt', title: '.h5 with damaged metadata', stage: 'weights', files: ['models/vgg-style-damaged.h5'], how: 'the generated VGG-style .h5 with bytes 200-999 overwritten (HDF5 metadata checksums fail)', outcome: { status: 'error', code: 'WEIGHTS_CORRUPT' }, weights: { model: 'mobilenet', alpha: 0.25, weights: 'models/vgg-style-damaged.h5' } },
  { id: 'h5-corrupt-v0', title: 'Keras .h5 with a damaged object header', stage: 'weights', files: ['models/damaged.h5'], how: 'the shared MobileNet .h5 with bytes 96-2047 overwritten', outcome: { status: 'error', code: 'WEIGHTS_CORRUPT' }, requires: ['shared-weights'], weights: { model: 'mobilenet', alpha: 0.25, weights: 'models/damaged.h5' } },
  { id: 'h5-other-architecture', title: '.h5 of another architecture', stage: 'weights', files: ['models/vgg-style.h5'], how: 'h5wasm: Keras layout (layer_names, weight_names) of a 2-layer VGG-style net', outcome: { status: 'error', code: 'WEIGHTS_EXTRA_LAYER' }, weights: { model: 'mobilenet', alpha: 0.25, weights: 'models/vgg-style.h5' } },
  { id: 'h5-as-mobilenet-v2', title: 'MobileNet .h5 with --model mobilenet_v2', stage: 'weights', files: [SHARED_WEIGHTS], how: 'the shared file, model mobilenet_v2 alpha 0.35', outcome: { status: 'error', code: 'WEIGHTS_EXTRA_LAYER' }, requires: ['shared-weights'], weights: { model: 'mobilenet_v2', alpha: 0.35, weights: SHARED_WEIGHTS } },
  { id: 'h5-as-resnet50', title: 'MobileNet .h5 with --model resnet50', stage: 'weights', files: [SHARED_WEIGHTS], how: 'the shared file, model resnet50', outcome: { status: 'error', code: 'WEIGHTS_EXTRA_LAYER' }, requires: ['shared-weights'], weights: { model: 'resnet50', weights: SHARED_WEIGHTS } },
  { id: 'h5-wrong-alpha', title: 'MobileNet 0.25 .h5 with --alpha 0.5', stage: 'weights', files: [SHARED_WEIGHTS], how: 'the shared file, alpha 0.5', outcome: { status: 'error', code: 'WEIGHTS_SHAPE' }, requires: ['shared-weights'], weights: { model: 'mobilenet', alpha: 0.5, weights: SHARED_WEIGHTS } },
  { id: 'h5-html', title: 'HTML page saved as .h5', stage: 'weights', files: ['models/download.h5'], how: 'an error page from a failed download', outcome: { status: 'error', code: 'WEIGHTS_NOT_HDF5' }, weights: { model: 'mobilenet', alpha: 0.25, weights: 'models/download.h5' } },
  { id: 'h5-not-keras', title: 'HDF5 that is not a Keras weight file', stage: 'weights', files: ['models/data.h5'], how: 'h5wasm: one dataset, no layer_names', outcome: { status: 'error', code: 'WEIGHTS_NOT_KERAS' }, weights: { model: 'mobilenet', alpha: 0.25, weights: 'models/data.h5' } },
  { id: 'h5-missing', title: 'weight file that does not exist', stage: 'weights', files: ['models/nope.h5'], how: 'nothing written', outcome: { status: 'error', code: 'WEIGHTS_NOT_FOUND' }, weights: { model: 'mobilenet', alpha: 0.25, weights: 'models/nope.h5' } },
  { id: 'tfjs-missing-shard', title: 'model.json with a missing shard', stage: 'weights', files: ['models/tfjs-missing/model.json'], how: 'weightsManifest names group1-shard1of1.bin, not written', outcome: { status: 'error', code: 'WEIGHTS_SHARD_MISSING' }, weights: { model: 'mobilenet', alpha: 0.25, weights: 'models/tfjs-missing/model.json' } },
  { id: 'tfjs-short-shard', title: 'model.json with a short shard', stage: 'weights', files: ['models/tfjs-short/model.json'], how: 'shard of 100 bytes where the manifest needs 864', outcome: { status: 'error', code: 'WEIGHTS_CORRUPT' }, weights: { model: 'mobilenet', alpha: 0.25, weights: 'models/tfjs-short/model.json' } },
  { id: 'tfjs-bad-json', title: 'truncated model.json', stage: 'weights', files: ['models/tfjs-cut/model.json'], how: 'first 20 bytes of a model.json', outcome: { status: 'error', code: 'WEIGHTS_BAD_JSON' }, weights: { model: 'mobilenet', alpha: 0.25, weights: 'models/tfjs-cut/model.json' } },
  { id: 'tfjs-no-manifest', title: 'model.json without weightsManifest', stage: 'weights', files: ['models/tfjs-graph/model.json'], how: '{"format": "graph-model"} only', outcome: { status: 'error', code: 'WEIGHTS_NOT_TFJS' }, weights: { model: 'mobilenet', alpha: 0.25, weights: 'models/tfjs-graph/model.json' } },
  // --- feature files (svm fit) ------------------------------------------------------------------
  { id: 'features-float64', title: 'features saved as float64', stage: 'features', files: ['features/f64.npy'], how: "numpy's default dtype ('<f8'), 20x4", outcome: { status: 'works', check: 'converted to float32' } },
  { id: 'npy-int32', title: 'features of dtype int32', stage: 'features', files: ['features/int32.npy'], how: "'<i4' 20x4", outcome: { status: 'error', code: 'FEATURES_DTYPE' } },
  { id: 'npy-float16', title: 'features of dtype float16', stage: 'features', files: ['features/f16.npy'], how: "header '<f2'", outcome: { status: 'error', code: 'NPY_DTYPE' } },
  { id: 'npy-big-endian', title: 'big-endian float32 features', stage: 'features', files: ['features/big-endian.npy'], how: "header '>f4'", outcome: { status: 'error', code: 'NPY_DTYPE' } },
  { id: 'npy-1d', title: '1-D features', stage: 'features', files: ['features/flat.npy'], how: 'shape (80,)', outcome: { status: 'error', code: 'FEATURES_BAD_SHAPE' } },
  { id: 'npy-4d', title: 'unpooled 4-D features', stage: 'features', files: ['features/unpooled.npy'], how: 'shape (20, 2, 2, 1)', outcome: { status: 'error', code: 'FEATURES_BAD_SHAPE' } },
  { id: 'npy-json-mismatch', title: '.npy and .json of different runs', stage: 'features', files: ['features/mismatch.npy'], how: '.npy 20x4, .json shape [21, 4]', outcome: { status: 'error', code: 'FEATURES_MISMATCH' } },
  { id: 'npy-truncated', title: 'truncated .npy', stage: 'features', files: ['features/cut.npy'], how: 'valid .npy cut in the data', outcome: { status: 'error', code: 'NPY_TRUNCATED' } },
  { id: 'npy-not-npy', title: 'CSV saved as .npy', stage: 'features', files: ['features/csv.npy'], how: 'comma-separated text', outcome: { status: 'error', code: 'NPY_BAD_MAGIC' } },
  { id: 'npy-fortran', title: 'Fortran-order .npy', stage: 'features', files: ['features/fortran.npy'], how: "header 'fortran_order': True", outcome: { status: 'error', code: 'NPY_FORTRAN' } },
  { id: 'npy-bad-shape-text', title: '.npy header with a garbled shape', stage: 'features', files: ['features/garbled.npy'], how: "header 'shape': (20, four)", outcome: { status: 'error', code: 'NPY_BAD_HEADER' } },
  { id: 'npy-nan', title: 'features with NaN rows', stage: 'features', files: ['features/nan.npy'], how: 'rows 3 and 7 hold NaN', outcome: { status: 'error', code: 'FEATURES_NON_FINITE' } },
  { id: 'features-json-missing', title: '.npy without its .json', stage: 'features', files: ['features/alone.json'], how: 'only alone.npy written', outcome: { status: 'error', code: 'FEATURES_MISSING' } },
  // --- saved SVM models (svm predict) ------------------------------------------------------------
  { id: 'svm-valid', title: 'SVM model (control)', stage: 'svm-model', files: ['svm/valid.json'], how: 'SvmClassifier fitted on svm/features, toJSON()', outcome: { status: 'works' } },
  { id: 'svm-wrong-version', title: 'SVM model of a newer format version', stage: 'svm-model', files: ['svm/version.json'], how: 'formatVersion 2', outcome: { status: 'error', code: 'SVM_MODEL_VERSION' } },
  { id: 'svm-missing-field', title: 'SVM model without rho', stage: 'svm-model', files: ['svm/no-rho.json'], how: 'field deleted', outcome: { status: 'error', code: 'SVM_MODEL_INVALID' } },
  { id: 'svm-nan-literal', title: 'SVM model with NaN written by Python', stage: 'svm-model', files: ['svm/nan-literal.json'], how: 'a dual coefficient replaced by NaN (json.dump writes it; JSON does not allow it)', outcome: { status: 'error', code: 'SVM_MODEL_INVALID' } },
  { id: 'svm-null-coef', title: 'SVM model with a null coefficient', stage: 'svm-model', files: ['svm/null-coef.json'], how: 'what JSON.stringify writes for NaN', outcome: { status: 'error', code: 'SVM_MODEL_INVALID' } },
  { id: 'svm-nan-vector', title: 'SVM model with NaN in a support vector', stage: 'svm-model', files: ['svm/nan-vector.json'], how: 'a NaN float32 inside the base64 supportVectors', outcome: { status: 'error', code: 'SVM_MODEL_INVALID' } },
  { id: 'svm-class-names', title: 'SVM model: 3 class names for 2 classes', stage: 'svm-model', files: ['svm/names.json'], how: 'classNames gets a third name', outcome: { status: 'error', code: 'SVM_MODEL_INVALID' } },
  { id: 'svm-class-count', title: 'SVM model: 3 classes, 2-class coefficients', stage: 'svm-model', files: ['svm/classes.json'], how: 'classes [0, 1, 2], nSupport and the rest unchanged', outcome: { status: 'error', code: 'SVM_MODEL_INVALID' } },
  { id: 'svm-zero-scale', title: 'SVM model with a zero scale', stage: 'svm-model', files: ['svm/zero-scale.json'], how: 'scaler.scale[0] = 0 (divides by zero)', outcome: { status: 'error', code: 'SVM_MODEL_INVALID' } },
  { id: 'svm-libsvm-text', title: "libsvm's own text model", stage: 'svm-model', files: ['svm/libsvm.model'], how: 'svm_type c_svc ... SV (svm-train output)', outcome: { status: 'error', code: 'SVM_MODEL_INVALID' } },
]);

// ---------------------------------------------------------------------------------------------
// Writing the corpus

export interface GenerateOptions {
  /** The shared Keras MobileNet 0.25 .h5, for the kinds that need it. */
  sharedWeights?: string;
}

export interface GeneratedCorpus {
  root: string;
  /** Requirements this machine does not meet, with why. */
  unmet: Map<Requirement, string>;
  /** Why this machine cannot check `kind`, or undefined when it can. */
  unavailable(kind: CorpusKind): string | undefined;
  /** Resolves a kind's weight source to a path. */
  weightsPath(source: string): string;
}

/** Whether the process can read files whatever their permissions (root). */
export function permissionsIgnored(): boolean {
  return process.getuid?.() === 0;
}

async function put(root: string, rel: string, content: Buffer | string): Promise<void> {
  const file = path.join(root, ...rel.split('/'));
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, content);
}

async function link(root: string, target: string, rel: string): Promise<void> {
  const file = path.join(root, ...rel.split('/'));
  await mkdir(path.dirname(file), { recursive: true });
  await symlink(target, file);
}

/** A Keras HDF5 weight file (Keras 2 `save_weights` layout) of `layers`. */
async function writeKerasH5(file: string, layers: { name: string; weights: { name: string; shape: number[] }[] }[]): Promise<void> {
  const { default: h5wasm } = await import('h5wasm/node');
  await h5wasm.ready;
  const h5 = new h5wasm.File(file, 'w');
  try {
    h5.create_attribute('layer_names', layers.map((l) => l.name));
    h5.create_attribute('backend', 'tensorflow');
    h5.create_attribute('keras_version', '2.15.0');
    for (const layer of layers) {
      const group = h5.create_group(layer.name);
      group.create_attribute('weight_names', layer.weights.map((w) => `${layer.name}/${w.name}:0`));
      const inner = group.create_group(layer.name);
      for (const w of layer.weights) {
        const count = w.shape.reduce((a, b) => a * b, 1);
        inner.create_dataset({ name: `${w.name}:0`, data: Float32Array.from({ length: count }, (_, i) => Math.sin(i) / 10), shape: w.shape });
      }
    }
  } finally {
    h5.close();
  }
}

async function writeHdf5Data(file: string): Promise<void> {
  const { default: h5wasm } = await import('h5wasm/node');
  await h5wasm.ready;
  const h5 = new h5wasm.File(file, 'w');
  try {
    h5.create_dataset({ name: 'measurements', data: new Float32Array([1, 2, 3, 4]), shape: [2, 2] });
  } finally {
    h5.close();
  }
}

/** Features of 20 samples x 4, two separable classes (label = i % 2). */
function twoClassFeatures(): { X: Float32Array; labels: number[] } {
  const labels = Array.from({ length: 20 }, (_, i) => i % 2);
  const X = new Float32Array(80);
  for (let i = 0; i < 20; i++) for (let j = 0; j < 4; j++) X[i * 4 + j] = Math.sin(i * 4 + j + 1) + (j === 0 ? 3 * labels[i] : 0);
  return { X, labels };
}

function featuresMeta(labels: number[], shape: [number, number]): string {
  return JSON.stringify({ formatVersion: 1, files: labels.map((_, i) => `img${i}.jpg`), labels, classes: ['cat', 'dog'], shape });
}

/** An .npy with a hand-written header dictionary. */
function npyWithHeader(dict: string, body: Buffer): Buffer {
  let text = dict;
  text += ' '.repeat((64 - ((10 + text.length + 1) % 64)) % 64) + '\n';
  const head = Buffer.alloc(10);
  head.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  head.writeUInt16LE(text.length, 8);
  return Buffer.concat([head, Buffer.from(text, 'latin1'), body]);
}

async function writeImages(root: string, unmet: Map<Requirement, string>): Promise<void> {
  const png = await encodeImage('png');
  const jpeg = await gradientJpeg();
  const w = (rel: string, content: Buffer | string) => put(root, rel, content);

  await w('images/cats/plain.jpg', jpeg);
  await w('images/cats/empty.jpg', '');
  await w('images/cats/truncated.jpg', await badImage('truncated-jpeg'));
  await w('images/cats/truncated.png', await badImage('truncated-png'));
  await w('images/cats/bad-crc.png', await badImage('png-crc'));
  await w('images/cats/glitch.jpg', await corruptDataJpeg());
  await w('images/cats/notes.jpg', await badImage('text'));
  await w('images/cats/error-page.jpg', await badImage('html'));
  await w('images/cats/scan.jpg', Buffer.from(PDF, 'latin1'));
  await w('images/cats/archive.jpg', ZIP_HEAD);
  await w('images/cats/iphone.jpg', HEIC_HEAD);
  const bmpBytes = bmp(4, 2, solid(4, 2, [200, 100, 50]));
  await w('images/cats/paint.jpg', bmpBytes);
  await w('images/cats/vector.png', SVG);
  await w('images/cats/really-png.jpg', png);
  await w('images/cats/really-jpeg.png', jpeg);
  await w('images/cats/cmyk.jpg', await encodeImage('cmyk'));
  await w('images/cats/deep.png', await encodeImage('png16'));
  await w('images/cats/grey-alpha.png', await encodeImage('greyAlpha'));
  await w('images/cats/grey.jpg', await sharp(gradientRgb(), raw(GRADIENT.width, GRADIENT.height)).toColourspace('b-w').jpeg().toBuffer());
  await w('images/cats/palette.png', await encodeImage('palette'));
  await w('images/cats/transparent.png', await encodeImage('rgba'));
  await w('images/cats/anim.gif', await twoPageImage('gif'));
  await w('images/cats/pages.tiff', await twoPageImage('tiff'));
  await w('images/cats/lossless.webp', await encodeImage('webp'));
  await w('images/cats/plain.tif', await encodeImage('tiff'));
  if (await canEncodeAvif()) await w('images/cats/modern.avif', await encodeImage('avif'));
  else unmet.set('avif', requireInput('AVIF encoding in this sharp build', false) as string);
  await w('images/cats/progressive.jpg', await gradientJpeg({ progressive: true }));
  const p3 = await p3Jpeg();
  await w('images/cats/p3.jpg', p3);
  await w('images/cats/p3-stripped.jpg', stripIcc(p3));
  for (let n = 1; n <= 8; n++) await w(`images/dogs/exif-${n}.jpg`, await orientedCard(n));
  await w('images/dogs/dot.png', await sharp(solid(1, 1, [10, 20, 30]), raw(1, 1)).png().toBuffer());
  await w('images/dogs/thin.png', await sharp(solid(1, 5000, [0, 128, 255]), raw(1, 5000)).png().toBuffer());
  await w('images/dogs/bomb.png', await badImage('bomb'));
  await w('images/dogs/bomb.jpg', await jpegBomb());
  await w('images/dogs/chien été 犬 🐕.png', png);
  await w('images/dogs/ my photo (1) copy .png', png);
  try {
    await w('images/dogs/line\nbreak.png', png);
  } catch (err) {
    unmet.set('newline-names', `the file system refuses a newline in a name (${(err as NodeJS.ErrnoException).code})`);
  }
  await w(`images/dogs/${'l'.repeat(251)}.png`, png);
  await w('images/dogs/IMG_0001.JPG', jpeg);
  await w('images/dogs/saved.jfif', jpeg);
  await w('images/dogs/not-webp.webp', jpeg);
  await w('outside/target.png', await sharp(noiseRgb(12, 10, 5), raw(12, 10)).png().toBuffer());
  await link(root, '../../outside/target.png', 'images/dogs/link.png');
  await link(root, 'loop-b.jpg', 'images/dogs/loop-a.jpg');
  await link(root, 'loop-a.jpg', 'images/dogs/loop-b.jpg');
  await link(root, '.', 'images/dogs/again');
  await link(root, 'does-not-exist.jpg', 'images/dogs/gone.jpg');
  await w('images/dogs/locked.png', png);
  await chmod(path.join(root, 'images', 'dogs', 'locked.png'), 0o000);
  await w('images/cats/.DS_Store', Buffer.from([0, 0, 0, 1, 0x42, 0x75, 0x64, 0x31]));
  await w('images/cats/._plain.jpg', Buffer.from([0, 5, 0x16, 7, 0, 2, 0, 0]));
  await w('images/cats/Thumbs.db', Buffer.from([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1]));
  await w('images/dogs/desktop.ini', '[.ShellClassInfo]\nIconResource=C:\\Windows\\system32\\imageres.dll,-3\n');
  await w('images/cats/.ipynb_checkpoints/plain-checkpoint.jpg', jpeg);
  await w('images/cats/readme.txt', 'cats from the shelter, 2019\n');
  await w('images/cats/IMG_0002', jpeg);
  await w('images/cats/paint.bmp', bmpBytes);
  await w('images/cats/logo.svg', SVG);
  await w('images/cats/IMG_0003.HEIC', HEIC_HEAD);
  await w('images/cats/2019/summer/beach.png', await sharp(noiseRgb(16, 12, 21), raw(16, 12)).png().toBuffer());
  await w('images/cats/album.jpg/inside.png', await sharp(noiseRgb(16, 12, 22), raw(16, 12)).png().toBuffer());
  await w('images/cats/a, b.png', await sharp(noiseRgb(16, 12, 23), raw(16, 12)).png().toBuffer());
  await w('images/loose.jpg', jpeg);
  await w('images/__MACOSX/cats/._plain.jpg', Buffer.from([0, 5, 0x16, 7]));
  await w('images/solo/only.png', await sharp(noiseRgb(16, 12, 24), raw(16, 12)).png().toBuffer());
  const twin = await sharp(noiseRgb(16, 12, 25), raw(16, 12)).png().toBuffer();
  await w('images/cats/twin.png', twin);
  await w('images/dogs/twin-copy.png', twin);

  await w('empty-class/cats/1.png', png);
  await w('empty-class/dogs/.DS_Store', Buffer.from([0, 0, 0, 1]));
  await w('flat/1.png', png);
  await w('flat/2.png', png);
  await w('tiny/a/1.png', png);
  await w('tiny/b/1.png', await sharp(noiseRgb(8, 6, 3), raw(8, 6)).png().toBuffer());

  // Row numbers are line numbers (header = line 1): the manifest kinds name them.
  const manifest = [
    'path,label',
    'images/cats/plain.jpg,cats',
    '"images/cats/a, b.png",cats',
    'images/cats/missing.jpg,cats',
    'images/dogs/dot.png,dgos',
    'images/cats/plain.jpg,cats',
    'images/cats/album.jpg,cats',
    'images/cats/empty.jpg,cats',
    'images/cats/grey.jpg',
    'images/dogs/exif-1.jpg,dogs',
    'images/dogs/thin.png,dogs',
  ];
  await w('manifest.csv', `${manifest.join('\n')}\n`);
}

async function writeModels(root: string, options: GenerateOptions, unmet: Map<Requirement, string>): Promise<void> {
  const dir = path.join(root, 'models');
  await mkdir(dir, { recursive: true });
  const vgg = path.join(dir, 'vgg-style.h5');
  await writeKerasH5(vgg, [
    { name: 'block1_conv1', weights: [{ name: 'kernel', shape: [3, 3, 3, 8] }, { name: 'bias', shape: [8] }] },
    { name: 'block1_conv2', weights: [{ name: 'kernel', shape: [3, 3, 8, 8] }, { name: 'bias', shape: [8] }] },
  ]);
  const vggBytes = await readFile(vgg);
  await writeFile(path.join(dir, 'vgg-style-truncated.h5'), vggBytes.subarray(0, Math.floor(vggBytes.length * 0.6)));
  await writeFile(path.join(dir, 'vgg-style-damaged.h5'), Buffer.from(vggBytes).fill(0x5a, 200, 1000));
  if (options.sharedWeights) {
    const shared = await readFile(options.sharedWeights);
    await writeFile(path.join(dir, 'truncated.h5'), shared.subarray(0, Math.floor(shared.length * 0.6)));
    await writeFile(path.join(dir, 'damaged.h5'), Buffer.from(shared).fill(0x5a, 96, 2048));
  } else {
    // In CI the shared weights are an input it has: requireInput fails there instead of skipping.
    unmet.set('shared-weights', requireInput('the shared Keras MobileNet 0.25 weights', false) as string);
  }
  await writeFile(path.join(dir, 'download.h5'), '<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head><body>Not Found</body></html>\n');
  await writeHdf5Data(path.join(dir, 'data.h5'));
  const manifest = { modelTopology: {}, weightsManifest: [{ paths: ['group1-shard1of1.bin'], weights: [{ name: 'conv1/kernel', shape: [3, 3, 3, 8], dtype: 'float32' }] }] };
  await put(root, 'models/tfjs-missing/model.json', JSON.stringify(manifest));
  await put(root, 'models/tfjs-short/model.json', JSON.stringify(manifest));
  await put(root, 'models/tfjs-short/group1-shard1of1.bin', Buffer.alloc(100));
  await put(root, 'models/tfjs-cut/model.json', JSON.stringify(manifest).slice(0, 20));
  await put(root, 'models/tfjs-graph/model.json', JSON.stringify({ format: 'graph-model' }));
}

async function writeFeatureFiles(root: string): Promise<void> {
  const { X, labels } = twoClassFeatures();
  const meta = featuresMeta(labels, [20, 4]);
  const pair = async (name: string, npy: Buffer | string, json: string | null = meta) => {
    await put(root, `features/${name}.npy`, npy);
    if (json !== null) await put(root, `features/${name}.json`, json);
  };
  const good = encodeNpy(X, [20, 4]);
  await pair('f64', encodeNpy(Float64Array.from(X), [20, 4]));
  await pair('int32', encodeNpy(Int32Array.from(X, Math.round), [20, 4]));
  await pair('f16', npyWithHeader("{'descr': '<f2', 'fortran_order': False, 'shape': (20, 4), }", Buffer.alloc(160)));
  await pair('big-endian', npyWithHeader("{'descr': '>f4', 'fortran_order': False, 'shape': (20, 4), }", Buffer.alloc(320)));
  await pair('flat', encodeNpy(X, [80]), featuresMeta(labels, [20, 4]).replace('"shape":[20,4]', '"shape":[80]'));
  await pair('unpooled', encodeNpy(X, [20, 2, 2, 1]));
  await pair('mismatch', good, featuresMeta([...labels, 0], [21, 4]));
  await pair('cut', good.subarray(0, good.length - 100));
  await pair('csv', Array.from({ length: 20 }, (_, i) => Array.from(X.subarray(i * 4, i * 4 + 4)).join(',')).join('\n'));
  // 'True ' has the length of 'False': the header keeps its size.
  const fortran = npyHeader('<f4', [20, 4]).toString('latin1').replace("'fortran_order': False", "'fortran_order': True ");
  await pair('fortran', Buffer.concat([Buffer.from(fortran, 'latin1'), good.subarray(fortran.length)]));
  await pair('garbled', npyWithHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (20, four), }", Buffer.alloc(320)));
  const nan = X.slice();
  nan[3 * 4 + 1] = Number.NaN;
  nan[7 * 4] = Number.NaN;
  await pair('nan', encodeNpy(nan, [20, 4]));
  await pair('alone', good, null);
}

async function writeSvmModels(root: string): Promise<void> {
  const { X, labels } = twoClassFeatures();
  await put(root, 'svm/features.npy', encodeNpy(X, [20, 4]));
  await put(root, 'svm/features.json', featuresMeta(labels, [20, 4]));
  const model = await new SvmClassifier({ kernel: 'linear', C: 1 }).fit({ data: X, rows: 20, cols: 4 }, labels);
  model.classNames = ['cat', 'dog'];
  const json = model.toJSON() as unknown as Record<string, any>;
  model.dispose();
  const variant = (edit: (m: Record<string, any>) => void): string => {
    const copy = JSON.parse(JSON.stringify(json));
    edit(copy);
    return JSON.stringify(copy, null, 1);
  };
  await put(root, 'svm/valid.json', JSON.stringify(json));
  await put(root, 'svm/version.json', variant((m) => (m.formatVersion = 2)));
  await put(root, 'svm/no-rho.json', variant((m) => delete m.rho));
  // Python's json.dump writes NaN as a bare NaN token.
  await put(root, 'svm/nan-literal.json', variant((m) => (m.dualCoef[0][0] = '__NAN__')).replace('"__NAN__"', 'NaN'));
  await put(root, 'svm/null-coef.json', variant((m) => (m.dualCoef[0][0] = null)));
  await put(root, 'svm/nan-vector.json', variant((m) => {
    const bytes = Buffer.from(m.supportVectors.data, 'base64');
    bytes.writeFloatLE(Number.NaN, 4);
    m.supportVectors.data = bytes.toString('base64');
  }));
  await put(root, 'svm/names.json', variant((m) => m.classNames.push('bird')));
  await put(root, 'svm/classes.json', variant((m) => (m.classes = [0, 1, 2])));
  await put(root, 'svm/zero-scale.json', variant((m) => (m.scaler.scale[0] = 0)));
  await put(root, 'svm/libsvm.model', 'svm_type c_svc\nkernel_type rbf\ngamma 0.25\nnr_class 2\ntotal_sv 2\nrho 0.1\nlabel 0 1\nnr_sv 1 1\nSV\n1 1:0.5 2:0.1\n-1 1:-0.5 2:0.3\n');
}

/** Writes the whole corpus under `dir` (which should be empty or absent). */
export async function generateCorpus(dir: string, options: GenerateOptions = {}): Promise<GeneratedCorpus> {
  const root = path.resolve(dir);
  await mkdir(root, { recursive: true });
  const unmet = new Map<Requirement, string>();
  await writeImages(root, unmet);
  await writeModels(root, options, unmet);
  await writeFeatureFiles(root);
  await writeSvmModels(root);
  if (permissionsIgnored()) unmet.set('non-root', 'running as root: file permissions are not enforced, so a mode-000 file is readable');
  return {
    root,
    unmet,
    unavailable: (kind) => kind.requires?.map((r) => unmet.get(r)).find((why) => why !== undefined),
    weightsPath: (source) => (source === SHARED_WEIGHTS ? (options.sharedWeights ?? '') : path.join(root, ...source.split('/'))),
  };
}

// ---------------------------------------------------------------------------------------------
// The README table

/** The `describe` block of test/corpus.test.ts that checks each stage's kinds one by one. */
export const STAGE_TESTS: Readonly<Record<Stage, string>> = Object.freeze({
  folder: 'folder kinds',
  manifest: 'manifest kinds',
  dataset: 'dataset kinds',
  weights: 'weights kinds',
  features: 'features kinds',
  'svm-model': 'svm-model kinds',
});

/** Where a kind is tested: its stage's block, plus the end-to-end runs that cover it. */
export function testedIn(kind: CorpusKind): string {
  const where = [`"${STAGE_TESTS[kind.stage]}"`];
  const readable = kind.outcome.status === 'works' || kind.outcome.status === 'skipped';
  if (kind.stage === 'folder' && !kind.followSymlinks) where.push('extractFeatures', 'CLI extract --json');
  if (kind.stage === 'folder' && readable && kind.files[0].split('/').length > 2) where.push('ftk predict');
  if (kind.stage === 'folder' && kind.id === 'duplicates') where.push('duplicate group');
  if (kind.stage === 'folder' && kind.id === 'exif-orientation') where.push('EXIF features');
  if (kind.stage === 'manifest' && !kind.manifestClasses) where.push('extractFeatures (manifest)');
  if (kind.id === 'h5-other-architecture') where.push('CLI bad --weights');
  return where.join(', ');
}

export function describeOutcome(o: Outcome): string {
  switch (o.status) {
    case 'works':
      return o.check ? `works: ${o.check}` : 'works';
    case 'ignored':
      return `ignored (listed): "${o.reason}"`;
    case 'skipped':
      return `skipped (listed): "${o.reason}"`;
    case 'error':
      return `error \`${o.code}\` naming the file, with a fix`;
  }
}

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, '\\n');

/** The Markdown table of every kind (kind | how it is generated | documented outcome | where tested). */
export function renderCorpusTable(kinds: readonly CorpusKind[] = CORPUS_KINDS): string {
  const lines = ['| # | kind | how it is generated | documented outcome | where tested |', '|---|---|---|---|---|'];
  kinds.forEach((k, i) => {
    const short = (f: string) => (f.length > 80 ? `${f.slice(0, 24)}...${f.slice(-8)} (${Buffer.byteLength(path.basename(f))}-byte name)` : f);
    const files = k.files.length > 2 ? `${k.files[0]} ... (${k.files.length} files)` : k.files.map(short).join(', ');
    const needs = k.requires?.length ? ` (needs: ${k.requires.join(', ')})` : '';
    lines.push(`| ${i + 1} | ${cell(k.title)} \`${k.id}\` | ${cell(k.how)}; \`${cell(files)}\` | ${cell(describeOutcome(k.outcome))}${needs} | ${testedIn(k)} |`);
  });
  return lines.join('\n');
}

export const README_START = '<!-- corpus-table:start (generated by `npx tsx test/corpus/generate.ts --write-readme`) -->';
export const README_END = '<!-- corpus-table:end -->';

/** The README text with the table between the markers replaced by `renderCorpusTable()`. */
export function withRenderedTable(readme: string): string {
  const start = readme.indexOf(README_START);
  const end = readme.indexOf(README_END);
  if (start < 0 || end < start) throw new Error('README markers not found');
  return `${readme.slice(0, start + README_START.length)}\n${renderCorpusTable()}\n${readme.slice(end)}`;
}

async function cli(args: string[]): Promise<void> {
  if (args[0] === '--write-readme') {
    const file = new URL('./README.md', import.meta.url);
    await writeFile(file, withRenderedTable(await readFile(file, 'utf8')));
    console.log(`wrote ${file.pathname}`);
    return;
  }
  const dir = args[0];
  if (!dir || dir.startsWith('-')) {
    console.error('usage: npx tsx test/corpus/generate.ts <dir> [--weights mobilenet_2_5_224_tf_no_top.h5] | --write-readme');
    process.exitCode = 2;
    return;
  }
  const w = args.indexOf('--weights');
  const corpus = await generateCorpus(dir, { sharedWeights: w >= 0 ? args[w + 1] : undefined });
  console.log(`wrote ${CORPUS_KINDS.length} kinds under ${corpus.root}`);
  for (const kind of CORPUS_KINDS) {
    const why = corpus.unavailable(kind);
    if (why) console.log(`  cannot be checked here: ${kind.id} (${why})`);
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
  await cli(process.argv.slice(2));
}
