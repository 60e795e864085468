import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmod, mkdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { requireInput } from './helpers/requires.js';
import { after, before, describe, test } from 'node:test';
import sharp from 'sharp';
import { compareCodePoints, findDataset, parseCsv } from '../src/data/dataset.js';
import { decodeImage, DEFAULT_MAX_INPUT_PIXELS, ImageDecodeError } from '../src/data/decode.js';
import { findDuplicates, sha256File } from '../src/data/hash.js';
import { centerCropBox, resizeBilinear } from '../src/data/resize.js';
import { DatasetError, OptionsError } from '../src/errors.js';
import {
  BAD_KINDS,
  BAD_REASONS,
  badImage,
  canEncodeAvif,
  corruptDataJpeg,
  encodeImage,
  GOOD_KINDS,
  gradientPixel,
  gradientRgb,
  GRADIENT,
  greyValue,
  noiseRgb,
  tempDir,
  writeTree,
  twoPageImage,
  type GoodKind,
} from './helpers/images.js';

// Any unhandled rejection (e.g. a sharp promise nobody awaited) fails the run.
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);
process.on('unhandledRejection', onUnhandled);
after(() => {
  process.off('unhandledRejection', onUnhandled);
  assert.deepEqual(unhandled, [], 'no unhandled rejections');
});

let tmp: { dir: string; cleanup: () => Promise<void> };
before(async () => {
  tmp = await tempDir();
});
after(async () => {
  await tmp.cleanup();
});
let counter = 0;
/** A fresh folder under the test's temp dir. */
async function freshDir(name: string): Promise<string> {
  const dir = path.join(tmp.dir, `${++counter}-${name}`);
  await mkdir(dir, { recursive: true });
  return dir;
}

/** Value at (y, x, c) of HWC float pixels of width w. */
function at(pixels: Float32Array, width: number, y: number, x: number): number[] {
  const i = (y * width + x) * 3;
  return [pixels[i], pixels[i + 1], pixels[i + 2]];
}

async function expectDecodeError(promise: Promise<unknown>, reason: string): Promise<ImageDecodeError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof ImageDecodeError, `expected ImageDecodeError, got ${String(err)}`);
    assert.ok(err instanceof DatasetError);
    assert.equal(err.reason, reason);
    assert.equal(err.code, 'IMAGE_DECODE');
    assert.ok(err.suggestion && err.suggestion.length > 10, 'has a suggestion');
    return err;
  }
  assert.fail(`expected ImageDecodeError "${reason}", but decoding succeeded`);
}

// ---------------------------------------------------------------------------------------------
describe('resize.ts: TF bilinear, half-pixel centres, no antialias', () => {
  test('2x2 -> 3x3 matches hand-computed values', () => {
    // Grey in every channel: [[0, 100], [200, 255]].
    const data = new Uint8Array([0, 0, 0, 100, 100, 100, 200, 200, 200, 255, 255, 255]);
    const out = resizeBilinear({ data, height: 2, width: 2, channels: 3 }, 3, 3);
    // src = (dst + 0.5) * 2/3 - 0.5 = -1/6, 0.5, 7/6 -> rows/cols: clamp to 0, halfway, clamp to 1.
    const expected = [
      [0, 50, 100],
      [100, 138.75, 177.5],
      [200, 227.5, 255],
    ];
    for (let y = 0; y < 3; y++) {
      for (let x = 0; x < 3; x++) {
        const v = at(out, 3, y, x);
        for (const c of v) assert.ok(Math.abs(c - expected[y][x]) < 1e-4, `(${y},${x}) = ${c}, expected ${expected[y][x]}`);
      }
    }
  });

  test('4x4 -> 2x2 averages each 2x2 block (src = 0.5 and 2.5)', () => {
    const values = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120, 130, 140, 150, 160];
    const data = new Uint8Array(values);
    const out = resizeBilinear({ data, height: 4, width: 4, channels: 1 }, 2, 2);
    assert.deepEqual(Array.from(out), [35, 55, 115, 135]);
  });

  test('3x1 -> 1x5 upscales along x with clamped ends', () => {
    // One row [0, 60, 120]; src = (x + 0.5) * 0.6 - 0.5 = -0.2, 0.4, 1.0, 1.6, 2.2.
    const out = resizeBilinear({ data: new Uint8Array([0, 60, 120]), height: 1, width: 3, channels: 1 }, 1, 5);
    const expected = [0, 24, 60, 96, 120];
    expected.forEach((e, i) => assert.ok(Math.abs(out[i] - e) < 1e-4, `x=${i}: ${out[i]} vs ${e}`));
  });

  test('same size copies the pixels exactly; output is float32, not rounded', () => {
    const src = noiseRgb(5, 7);
    const same = resizeBilinear({ data: src, height: 7, width: 5, channels: 3 }, 7, 5);
    assert.deepEqual(Array.from(same), Array.from(src));
    const up = resizeBilinear({ data: new Uint8Array([0, 1]), height: 1, width: 2, channels: 1 }, 1, 4);
    assert.ok(up instanceof Float32Array);
    assert.ok(Array.from(up).some((v) => !Number.isInteger(v)), `fractional values kept: ${Array.from(up)}`);
  });

  test("centerCropBox is Keras' smart_resize crop", () => {
    // Keras docstring example: (340, 500) to (200, 200) takes a (340, 340) crop centred along the width.
    assert.deepEqual(centerCropBox(340, 500, 200, 200), { top: 0, left: 80, height: 340, width: 340 });
    // Portrait to landscape 224x448: crop_height = int(300*224/448) = 150, top = int((401-150)/2) = 125.
    assert.deepEqual(centerCropBox(401, 300, 224, 448), { top: 125, left: 0, height: 150, width: 300 });
    // Never empty.
    assert.deepEqual(centerCropBox(1, 1000, 1000, 1), { top: 0, left: 499, height: 1, width: 1 });
  });

  test('crop box is resized on its own (box offset honoured)', () => {
    const src = noiseRgb(9, 4);
    const box = { top: 1, left: 3, height: 2, width: 4 };
    const viaBox = resizeBilinear({ data: src, height: 4, width: 9, channels: 3 }, 3, 5, { box });
    const cropped = new Uint8Array(2 * 4 * 3);
    for (let y = 0; y < 2; y++) cropped.set(src.subarray(((y + 1) * 9 + 3) * 3, ((y + 1) * 9 + 7) * 3), y * 12);
    const viaCopy = resizeBilinear({ data: cropped, height: 2, width: 4, channels: 3 }, 3, 5);
    assert.deepEqual(Array.from(viaBox), Array.from(viaCopy));
  });

  test('agrees with tfjs resizeBilinear(halfPixelCenters=true) on odd sizes, up and down', async () => {
    const { selectBackend } = await import('../src/runtime/backend.js');
    await selectBackend({ backend: 'wasm' });
    const tf = await import('@tensorflow/tfjs');
    const src = noiseRgb(17, 13, 7);
    const image = tf.tensor4d(Float32Array.from(src), [1, 13, 17, 3]);
    try {
      for (const [h, w] of [
        [5, 7],
        [29, 31],
        [13, 40],
        [1, 1],
      ]) {
        const expected = (await tf.image.resizeBilinear(image, [h, w], false, true).data()) as Float32Array;
        const ours = resizeBilinear({ data: src, height: 13, width: 17, channels: 3 }, h, w);
        let worst = 0;
        for (let i = 0; i < ours.length; i++) worst = Math.max(worst, Math.abs(ours[i] - expected[i]));
        assert.ok(worst < 1e-3, `13x17 -> ${h}x${w}: max difference ${worst}`);
      }
    } finally {
      image.dispose();
    }
  });

  test('rejects bad sizes and boxes with OptionsError', () => {
    const source = { data: new Uint8Array(12), height: 2, width: 2, channels: 3 };
    assert.throws(() => resizeBilinear(source, 0, 3), OptionsError);
    assert.throws(() => resizeBilinear(source, 2, 2, { box: { top: 1, left: 0, height: 2, width: 2 } }), OptionsError);
  });
});

// ---------------------------------------------------------------------------------------------
describe('decodeImage: formats and pixel layouts', () => {
  const files = new Map<GoodKind, string>();
  let avif = true;
  before(async () => {
    avif = await canEncodeAvif();
    const dir = await freshDir('good');
    for (const kind of GOOD_KINDS) {
      if (kind === 'avif' && !avif) continue;
      const file = path.join(dir, `${kind}.img`); // extension says nothing: decoded by content
      await writeFile(file, await encodeImage(kind));
      files.set(kind, file);
    }
  });

  const exact: GoodKind[] = ['png', 'webp', 'gif', 'tiff', 'avif', 'rgba', 'palette'];
  for (const kind of exact) {
    test(`${kind}: the 8x6 gradient comes back exactly at native size`, async (t) => {
      if (!files.has(kind)) return t.skip(requireInput('AVIF encoding in this sharp build', false) as string);
      const img = await decodeImage(files.get(kind)!, { size: [GRADIENT.height, GRADIENT.width] });
      assert.equal(img.pixels.length, GRADIENT.height * GRADIENT.width * 3);
      assert.deepEqual([img.height, img.width, img.sourceHeight, img.sourceWidth], [6, 8, 6, 8]);
      assert.deepEqual(Array.from(img.pixels), Array.from(gradientRgb()));
    });
  }

  test('jpeg: close to the gradient (lossy)', async () => {
    const img = await decodeImage(files.get('jpeg')!, { size: [6, 8] });
    const ref = gradientRgb();
    let err = 0;
    for (let i = 0; i < ref.length; i++) err += Math.abs(img.pixels[i] - ref[i]);
    assert.ok(err / ref.length < 12, `mean abs error ${err / ref.length}`);
  });

  test('rgba: alpha dropped without compositing (colour under alpha 0 kept, as PIL convert("RGB"))', async () => {
    const meta = await sharp(files.get('rgba')!).metadata();
    assert.equal(meta.channels, 4);
    const img = await decodeImage(files.get('rgba')!, { size: [6, 8] });
    assert.deepEqual(at(img.pixels, 8, 2, 5), gradientPixel(5, 2));
  });

  for (const kind of ['grey', 'greyAlpha'] as const) {
    test(`${kind}: replicated to r = g = b`, async () => {
      const meta = await sharp(files.get(kind)!).metadata();
      assert.equal(meta.channels, kind === 'grey' ? 1 : 2);
      const img = await decodeImage(files.get(kind)!, { size: [6, 8] });
      assert.equal(img.pixels.length, 6 * 8 * 3);
      for (let y = 0; y < 6; y++) {
        for (let x = 0; x < 8; x++) {
          const v = greyValue(x, y);
          assert.deepEqual(at(img.pixels, 8, y, x), [v, v, v]);
        }
      }
    });
  }

  test('cmyk JPEG: plausible sRGB (red stays red, blue stays blue)', async () => {
    const meta = await sharp(files.get('cmyk')!).metadata();
    assert.equal(meta.space, 'cmyk');
    const img = await decodeImage(files.get('cmyk')!, { size: [8, 16] });
    const [r1, g1, b1] = at(img.pixels, 16, 4, 2);
    const [r2, g2, b2] = at(img.pixels, 16, 4, 13);
    // Through the generic CMYK profile saturated colours lose some gamut, but keep their hue.
    assert.ok(r1 > 150 && r1 - Math.max(g1, b1) > 100, `left is red: ${[r1, g1, b1]}`);
    assert.ok(b2 > 100 && b2 - Math.max(r2, g2) > 60, `right is blue: ${[r2, g2, b2]}`);
  });

  test('16-bit PNG: scaled to 8 bits by dropping the low byte (v >> 8, as TF)', async () => {
    const meta = await sharp(files.get('png16')!).metadata();
    assert.equal(meta.depth, 'ushort');
    const img = await decodeImage(files.get('png16')!, { size: [1, 2] });
    assert.deepEqual(Array.from(img.pixels), [1, 128, 255, 1, 127, 0]);
  });

  test('palette PNG and GIF are palette images', async () => {
    assert.equal((await sharp(files.get('palette')!).metadata()).isPalette, true);
    assert.equal((await sharp(files.get('gif')!).metadata()).format, 'gif');
  });

  test('EXIF orientation 6: width and height swap, stored left half ends on top', async () => {
    const meta = await sharp(files.get('exif6')!).metadata();
    assert.deepEqual([meta.width, meta.height, meta.orientation], [16, 8, 6]);
    const img = await decodeImage(files.get('exif6')!, { size: [16, 8] });
    assert.deepEqual([img.sourceHeight, img.sourceWidth], [16, 8]);
    const [rt, , bt] = at(img.pixels, 8, 2, 4);
    const [rb, , bb] = at(img.pixels, 8, 13, 4);
    assert.ok(rt > 180 && bt < 70, `top is red: ${[rt, bt]}`);
    assert.ok(bb > 180 && rb < 70, `bottom is blue: ${[rb, bb]}`);
  });

  for (const format of ['gif', 'tiff'] as const) {
    test(`multi-page ${format}: first page only`, async () => {
      const bytes = await twoPageImage(format);
      assert.equal((await sharp(bytes).metadata()).pages, 2);
      const img = await decodeImage(bytes, { size: 4 });
      assert.deepEqual([img.sourceHeight, img.sourceWidth], [4, 4]);
      for (let p = 0; p < 16; p++) assert.deepEqual(at(img.pixels, 4, Math.floor(p / 4), p % 4), [200, 0, 0]);
    });
  }

  test("JPEG with recoverable corrupt data decodes (libjpeg warning, as PIL/TF), though sharp's 'warning' level rejects it", async () => {
    const bytes = await corruptDataJpeg();
    await assert.rejects(sharp(bytes, { failOn: 'warning' }).raw().toBuffer(), /Corrupt JPEG data/);
    const img = await decodeImage(bytes, { size: 64 });
    assert.equal(img.pixels.length, 64 * 64 * 3);
  });

  test('every format at 5x7: [h, w, 3] float32 within 0..255', async () => {
    for (const [kind, file] of files) {
      const img = await decodeImage(file, { size: [5, 7] });
      assert.equal(img.pixels.length, 5 * 7 * 3, kind);
      assert.deepEqual([img.height, img.width], [5, 7]);
      assert.ok(img.pixels instanceof Float32Array);
      for (const v of img.pixels) assert.ok(v >= 0 && v <= 255 && Number.isFinite(v), `${kind}: ${v}`);
    }
  });

  test('squash resize equals resize.ts on the decoded pixels; a number size is square', async () => {
    const img = await decodeImage(files.get('png')!, { size: 4 });
    assert.deepEqual([img.height, img.width, img.sourceHeight, img.sourceWidth], [4, 4, 6, 8]);
    const expected = resizeBilinear({ data: gradientRgb(), height: 6, width: 8, channels: 3 }, 4, 4);
    assert.deepEqual(Array.from(img.pixels), Array.from(expected));
  });

  test("crop 'center' takes Keras' centred crop first", async () => {
    const img = await decodeImage(files.get('png')!, { size: 3, crop: 'center' });
    // 6x8 to square: 6x6 box starting at x = 1.
    const expected = resizeBilinear({ data: gradientRgb(), height: 6, width: 8, channels: 3 }, 3, 3, {
      box: { top: 0, left: 1, height: 6, width: 6 },
    });
    assert.deepEqual(Array.from(img.pixels), Array.from(expected));
    // Native size after the crop: exact copy of the centred 6x6.
    const crop6 = await decodeImage(files.get('png')!, { size: 6, crop: 'center' });
    assert.deepEqual(at(crop6.pixels, 6, 0, 0), gradientPixel(1, 0));
    assert.deepEqual(at(crop6.pixels, 6, 5, 5), gradientPixel(6, 5));
  });

  test('a PNG named .jpg decodes (by content), and Buffers work like paths', async () => {
    const dir = await freshDir('named');
    const file = path.join(dir, 'photo.jpg');
    const bytes = await encodeImage('png');
    await writeFile(file, bytes);
    const a = await decodeImage(file, { size: [6, 8] });
    const b = await decodeImage(bytes, { size: [6, 8] });
    assert.deepEqual(Array.from(a.pixels), Array.from(gradientRgb()));
    assert.deepEqual(Array.from(b.pixels), Array.from(a.pixels));
  });

  test('bad options are OptionsError, not decode errors', async () => {
    await assert.rejects(decodeImage(files.get('png')!, { size: 0 }), OptionsError);
    await assert.rejects(decodeImage(files.get('png')!, { size: [224] as unknown as [number, number] }), OptionsError);
    await assert.rejects(decodeImage(files.get('png')!, { size: 4, crop: 'fill' as 'center' }), OptionsError);
    await assert.rejects(decodeImage(files.get('png')!, { size: 4, maxInputPixels: -1 }), OptionsError);
  });
});

// ---------------------------------------------------------------------------------------------
describe('decodeImage: bad files give ImageDecodeError with a short reason', () => {
  for (const kind of BAD_KINDS) {
    test(`${kind} -> "${BAD_REASONS[kind]}" (path and buffer)`, async () => {
      const dir = await freshDir(kind);
      const file = path.join(dir, `${kind}.jpg`);
      const bytes = await badImage(kind);
      await writeFile(file, bytes);
      const err = await expectDecodeError(decodeImage(file, { size: 8 }, `cats/${kind}.jpg`), BAD_REASONS[kind]);
      assert.equal(err.file, `cats/${kind}.jpg`);
      assert.ok(err.message.includes(`cats/${kind}.jpg`) && err.message.includes(BAD_REASONS[kind]), err.message);
      await expectDecodeError(decodeImage(bytes, { size: 8 }), BAD_REASONS[kind]);
    });
  }

  test('the truncated JPEG really is a JPEG with intact headers (only the scan is cut)', async () => {
    const meta = await sharp(await badImage('truncated-jpeg')).metadata();
    assert.deepEqual([meta.format, meta.width, meta.height], ['jpeg', 64, 64]);
    // Without failOn the same bytes "decode" (grey fill): the rejection is ftk's choice.
    const lenient = await sharp(await badImage('truncated-jpeg'), { failOn: 'none' }).raw().toBuffer();
    assert.equal(lenient.length, 64 * 64 * 3);
  });

  test('maxInputPixels: header size checked before decoding, limit reported', async () => {
    assert.equal(DEFAULT_MAX_INPUT_PIXELS, 89_478_485);
    const png = await encodeImage('png');
    await expectDecodeError(decodeImage(png, { size: 4, maxInputPixels: 47 }), 'decompression bomb: 48 pixels > limit 47');
    const ok = await decodeImage(png, { size: 4, maxInputPixels: 48 });
    assert.equal(ok.pixels.length, 48);
    const bomb = await badImage('bomb');
    const t0 = performance.now();
    await expectDecodeError(decodeImage(bomb, { size: 4 }), 'decompression bomb: 400000000 pixels > limit 89478485');
    assert.ok(performance.now() - t0 < 2000, 'rejected from the header, without decoding');
  });

  test('missing file and folder', async () => {
    const dir = await freshDir('missing');
    await expectDecodeError(decodeImage(path.join(dir, 'nope.jpg'), { size: 4 }), 'file not found');
    await expectDecodeError(decodeImage(dir, { size: 4 }), 'not an image (a folder)');
  });

  test('other non-images: PDF, BMP, random bytes', async () => {
    await expectDecodeError(decodeImage(Buffer.from('%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj', 'latin1'), { size: 4 }), 'not an image (PDF document)');
    const bmp = Buffer.alloc(70);
    bmp.write('BM', 0, 'latin1');
    await expectDecodeError(decodeImage(bmp, { size: 4 }), 'unsupported format (BMP)');
    const junk = Buffer.from([0x00, 0x01, 0x02, 0xfe, 0x80, 0x00, 0x13, 0x37, 0x00, 0x00]);
    await expectDecodeError(decodeImage(junk, { size: 4 }), 'unsupported format');
  });

  test('a batch mixing good and bad files: all settle, only bad ones reject', async () => {
    const inputs = [await encodeImage('png'), ...(await Promise.all(BAD_KINDS.map(badImage))), await encodeImage('jpeg')];
    const results = await Promise.allSettled(inputs.map((b) => decodeImage(b, { size: 8 })));
    assert.deepEqual(
      results.map((r) => r.status),
      ['fulfilled', ...BAD_KINDS.map(() => 'rejected'), 'fulfilled'],
    );
    for (const r of results) if (r.status === 'rejected') assert.ok(r.reason instanceof ImageDecodeError);
  });
});

// ---------------------------------------------------------------------------------------------
describe('findDataset: folders', () => {
  let png: Buffer;
  let jpeg: Buffer;
  before(async () => {
    png = await encodeImage('png');
    jpeg = await encodeImage('jpeg');
  });

  test('classes sorted by code point like Python sorted(); entries grouped by class', async () => {
    const root = await freshDir('order');
    const names = ['b', 'B', 'a', '10', '9', 'é', 'Z', '_x', 'a b', '😀', '\uff21'];
    const files: Record<string, Buffer> = {};
    for (const n of names) files[`${n}/1.png`] = png;
    await writeTree(root, files);
    const ds = await findDataset(root);
    // Python: sorted(['b','B','a','10','9','é','Z','_x','a b','😀','Ａ']).
    assert.deepEqual(ds.classes, ['10', '9', 'B', 'Z', '_x', 'a', 'a b', 'b', 'é', '\uff21', '😀']);
    assert.equal(ds.root, root);
    ds.entries.forEach((e, i) => {
      assert.equal(e.label, i);
      assert.equal(e.className, ds.classes[i]);
      assert.equal(e.file, `${ds.classes[i]}/1.png`);
      assert.equal(e.path, path.join(root, ds.classes[i], '1.png'));
    });
    assert.ok(compareCodePoints('\uff21', '😀') < 0 && '\uff21' > '😀', 'JS default order differs; ours matches Python');
  });

  test("nested folders belong to their top class, in Keras' sorted os.walk order", async () => {
    const root = await freshDir('nested');
    await writeTree(root, {
      'cats/b.jpg': jpeg,
      'cats/A.PNG': png,
      'cats/a/x.jpg': jpeg,
      'cats/a/deep/z.jpg': jpeg,
      'cats/a b/y.jpg': jpeg,
      'cats/a/w.jpeg': jpeg,
      'dogs/d/1.webp': png, // content is PNG: kept (decoded by content later)
      'dogs/0.TIF': png,
    });
    const ds = await findDataset(root);
    assert.deepEqual(ds.classes, ['cats', 'dogs']);
    // Roots sorted by path: cats < cats/a < cats/a b < cats/a/deep (' ' < '/'), files sorted inside each.
    assert.deepEqual(
      ds.entries.map((e) => e.file),
      ['cats/A.PNG', 'cats/b.jpg', 'cats/a/w.jpeg', 'cats/a/x.jpg', 'cats/a b/y.jpg', 'cats/a/deep/z.jpg', 'dogs/0.TIF', 'dogs/d/1.webp'],
    );
    assert.deepEqual(
      ds.entries.map((e) => e.label),
      [0, 0, 0, 0, 0, 0, 1, 1],
    );
    assert.deepEqual(ds.ignored, []);
  });

  test('hidden, system and non-image files are ignored but listed with a reason', async () => {
    const root = await freshDir('hidden');
    await writeTree(root, {
      '.DS_Store': 'x',
      'README.txt': 'about',
      'loose.jpg': jpeg,
      '.git/config': 'x',
      '__MACOSX/cats/._1.jpg': 'x',
      'cats/1.jpg': jpeg,
      'cats/.DS_Store': 'x',
      'cats/._1.jpg': 'x',
      'cats/Thumbs.db': 'x',
      'cats/desktop.ini': 'x',
      'cats/notes.txt': 'x',
      'cats/scan.bmp': 'x',
      'cats/IMG_1.HEIC': 'x',
      'cats/noext': 'x',
      'cats/.ipynb_checkpoints/1-checkpoint.jpg': jpeg,
      'dogs/1.png': png,
    });
    const ds = await findDataset(root);
    assert.deepEqual(ds.classes, ['cats', 'dogs']);
    assert.deepEqual(
      ds.entries.map((e) => e.file),
      ['cats/1.jpg', 'dogs/1.png'],
    );
    const reasons = Object.fromEntries(ds.ignored.map((s) => [s.file, s.reason]));
    assert.deepEqual(reasons, {
      '.DS_Store': 'hidden file',
      '.git/': 'hidden folder',
      'README.txt': 'not in a class folder',
      '__MACOSX/': 'macOS archive metadata folder',
      'cats/.DS_Store': 'hidden file',
      'cats/._1.jpg': 'hidden file',
      'cats/.ipynb_checkpoints/': 'hidden folder',
      'cats/IMG_1.HEIC': 'unsupported format (HEIC): convert to JPEG or PNG',
      'cats/Thumbs.db': 'system file',
      'cats/desktop.ini': 'system file',
      'cats/noext': 'no file extension',
      'cats/notes.txt': 'not an image file extension (.txt)',
      'cats/scan.bmp': 'unsupported format (BMP): convert to JPEG or PNG',
      'loose.jpg': 'not in a class folder',
    });
    // Deterministic order (sorted by path).
    const files = ds.ignored.map((s) => s.file);
    assert.deepEqual(files, [...files].sort(compareCodePoints));
  });

  test('an empty class folder is an error naming the folder, with a fix', async () => {
    const root = await freshDir('empty');
    await writeTree(root, { 'cats/1.jpg': jpeg, 'dogs/notes.txt': 'x', 'dogs/.DS_Store': 'x' });
    await assert.rejects(findDataset(root), (err: unknown) => {
      assert.ok(err instanceof DatasetError);
      assert.equal(err.code, 'DATASET_EMPTY_CLASS');
      assert.match(err.message, /Class "dogs" has no images/);
      assert.ok(err.message.includes(path.join(root, 'dogs')), err.message);
      assert.match(err.message, /notes\.txt \(not an image file extension \(\.txt\)\)/);
      assert.match(err.suggestion ?? '', /Add images .* or remove the folder/);
      return true;
    });
  });

  test('minPerClass: names the class, its count and the need', async () => {
    const root = await freshDir('min');
    await writeTree(root, { 'cats/1.jpg': jpeg, 'cats/2.jpg': jpeg, 'cats/3.jpg': jpeg, 'dogs/1.jpg': jpeg, 'dogs/2.jpg': jpeg });
    const ok = await findDataset(root, { minPerClass: 2 });
    assert.equal(ok.entries.length, 5);
    await assert.rejects(findDataset(root, { minPerClass: 3 }), (err: unknown) => {
      assert.ok(err instanceof DatasetError);
      assert.equal(err.code, 'DATASET_SMALL_CLASS');
      assert.match(err.message, /"dogs" has 2 images; need at least 3 per class/);
      assert.doesNotMatch(err.message, /"cats"/);
      assert.match(err.suggestion ?? '', /dogs: 1 more/);
      return true;
    });
    await assert.rejects(findDataset(root, { minPerClass: 0 }), OptionsError);
  });

  test('missing folder, no class subfolders, not a folder', async () => {
    const root = await freshDir('errors');
    await assert.rejects(findDataset(path.join(root, 'nope')), (err: unknown) => {
      assert.ok(err instanceof DatasetError);
      assert.equal(err.code, 'DATASET_NOT_FOUND');
      assert.ok(err.message.includes(path.join(root, 'nope')));
      assert.ok(err.suggestion);
      return true;
    });
    await writeTree(root, { 'flat/1.jpg': jpeg, 'flat/2.jpg': jpeg, 'image.jpg': jpeg });
    await assert.rejects(findDataset(path.join(root, 'flat')), (err: unknown) => {
      assert.ok(err instanceof DatasetError);
      assert.equal(err.code, 'DATASET_NO_CLASSES');
      assert.match(err.message, /holds 2 image\(s\) directly/);
      assert.match(err.suggestion ?? '', /one subfolder per class/);
      return true;
    });
    await assert.rejects(findDataset(path.join(root, 'image.jpg')), (err: unknown) => err instanceof DatasetError && err.code === 'DATASET_BAD_SOURCE');
  });

  test('classes option fixes order and subset; unknown class is an error', async () => {
    const root = await freshDir('fixed');
    await writeTree(root, { 'a/1.jpg': jpeg, 'b/1.jpg': jpeg, 'c/1.jpg': jpeg });
    const ds = await findDataset(root, { classes: ['c', 'a'] });
    assert.deepEqual(ds.classes, ['c', 'a']);
    assert.deepEqual(
      ds.entries.map((e) => [e.file, e.label]),
      [
        ['c/1.jpg', 0],
        ['a/1.jpg', 1],
      ],
    );
    assert.deepEqual(ds.ignored, [{ file: 'b/', reason: 'folder not in the classes option' }]);
    await assert.rejects(findDataset(root, { classes: ['a', 'x'] }), (err: unknown) => {
      assert.ok(err instanceof DatasetError);
      assert.equal(err.code, 'DATASET_UNKNOWN_CLASS');
      assert.match(err.message, /"x"/);
      assert.match(err.message, /\[a, b, c\]/);
      return true;
    });
    await assert.rejects(findDataset(root, { classes: ['a', 'a'] }), OptionsError);
  });

  test('symlinks: loops do not hang, folders followed only on request, files and class links used', { timeout: 10_000 }, async () => {
    const root = await freshDir('links');
    const outside = await freshDir('outside');
    await writeTree(outside, { 'x.jpg': jpeg });
    await writeTree(root, { 'cats/1.jpg': jpeg, 'cats/sub/2.jpg': jpeg });
    await symlink(path.join(root, 'cats'), path.join(root, 'cats', 'sub', 'loop')); // cats/sub/loop -> cats
    await symlink('.', path.join(root, 'cats', 'up')); // cats/up -> cats
    await symlink(outside, path.join(root, 'cats', 'more')); // cats/more -> outside
    await symlink(path.join(outside, 'x.jpg'), path.join(root, 'cats', 'linked.jpg'));
    await symlink(path.join(root, 'missing.jpg'), path.join(root, 'cats', 'broken.jpg'));
    await symlink(outside, path.join(root, 'birds')); // a class folder that is a link

    const plain = await findDataset(root);
    assert.deepEqual(plain.classes, ['birds', 'cats']);
    assert.deepEqual(
      plain.entries.map((e) => e.file),
      ['birds/x.jpg', 'cats/1.jpg', 'cats/linked.jpg', 'cats/sub/2.jpg'],
    );
    const reasons = Object.fromEntries(plain.ignored.map((s) => [s.file, s.reason]));
    assert.equal(reasons['cats/broken.jpg'], 'broken symlink');
    assert.equal(reasons['cats/up/'], 'symlinked folder not followed (followSymlinks is false)');
    assert.equal(reasons['cats/sub/loop/'], 'symlinked folder not followed (followSymlinks is false)');

    const followed = await findDataset(root, { followSymlinks: true });
    assert.deepEqual(
      followed.entries.map((e) => e.file),
      ['birds/x.jpg', 'cats/1.jpg', 'cats/linked.jpg', 'cats/more/x.jpg', 'cats/sub/2.jpg'],
    );
    const loops = followed.ignored.filter((s) => s.reason.startsWith('symlink loop')).map((s) => s.file);
    assert.deepEqual(loops.sort(), ['cats/sub/loop/', 'cats/up/']);
  });

  test('unreadable folder inside a class is listed, not fatal; unreadable file fails to decode', async (t) => {
    if (process.getuid?.() === 0) return t.skip('running as root: permissions are not enforced');
    const root = await freshDir('perm');
    await writeTree(root, { 'cats/1.jpg': jpeg, 'cats/locked/2.jpg': jpeg, 'cats/secret.jpg': jpeg });
    await chmod(path.join(root, 'cats', 'secret.jpg'), 0o000);
    await expectDecodeError(decodeImage(path.join(root, 'cats', 'secret.jpg'), { size: 4 }), 'unreadable file (permission denied)');
    await chmod(path.join(root, 'cats', 'secret.jpg'), 0o644);
    await chmod(path.join(root, 'cats', 'locked'), 0o000);
    try {
      const ds = await findDataset(root);
      assert.deepEqual(
        ds.entries.map((e) => e.file),
        ['cats/1.jpg', 'cats/secret.jpg'],
      );
      assert.deepEqual(ds.ignored, [{ file: 'cats/locked/', reason: 'unreadable folder (permission denied)' }]);
    } finally {
      await chmod(path.join(root, 'cats', 'locked'), 0o755);
    }
  });

  test('a dataset with bad files: found by extension, rejected at decode with reasons', async () => {
    const root = await freshDir('mixed');
    await writeTree(root, {
      'cats/good.jpg': jpeg,
      'cats/page.jpg': await badImage('html'),
      'cats/empty.png': await badImage('zero-byte'),
      'dogs/good.png': png,
      'dogs/cut.jpg': await badImage('truncated-jpeg'),
    });
    const ds = await findDataset(root);
    assert.equal(ds.entries.length, 5);
    const results = await Promise.allSettled(ds.entries.map((e) => decodeImage(e.path, { size: 8 }, e.file)));
    const reasons = Object.fromEntries(
      results.map((r, i) => [ds.entries[i].file, r.status === 'fulfilled' ? 'ok' : (r.reason as ImageDecodeError).reason]),
    );
    assert.deepEqual(reasons, {
      'cats/empty.png': 'zero-byte file',
      'cats/good.jpg': 'ok',
      'cats/page.jpg': 'not an image (looks like HTML)',
      'dogs/cut.jpg': 'truncated or corrupt image data',
      'dogs/good.png': 'ok',
    });
  });
});

// ---------------------------------------------------------------------------------------------
describe('findDataset: CSV manifests', () => {
  let jpeg: Buffer;
  before(async () => {
    jpeg = await encodeImage('jpeg');
  });

  test('header, quoted paths, missing files, duplicates, absolute paths, row order kept', async () => {
    const root = await freshDir('csv');
    const outside = await freshDir('csv-outside');
    await writeTree(root, {
      'img/a.jpg': jpeg,
      'img/b, "c".jpg': jpeg,
      'img/with space.jpg': jpeg,
      'img/d.jpg': jpeg,
    });
    await writeTree(outside, { 'far.jpg': jpeg });
    const csv = [
      'path,label',
      'img/a.jpg,dog',
      '"img/b, ""c"".jpg",cat',
      ' img/with space.jpg , cat ',
      'img/missing.jpg,dog',
      'img/a.jpg,dog',
      'img/a.jpg,cat',
      `${path.join(outside, 'far.jpg')},bird`,
      '',
      '"img/d.jpg",",odd"',
      'just-one-field',
    ].join('\r\n');
    await writeFile(path.join(root, 'labels.csv'), `\ufeff${csv}\r\n`);
    const ds = await findDataset(path.join(root, 'labels.csv'));
    assert.equal(ds.root, root);
    assert.deepEqual(ds.classes, [',odd', 'bird', 'cat', 'dog']);
    assert.deepEqual(
      ds.entries.map((e) => [e.file, e.className, e.label]),
      [
        ['img/a.jpg', 'dog', 3],
        ['img/b, "c".jpg', 'cat', 2],
        ['img/with space.jpg', 'cat', 2],
        [path.join(outside, 'far.jpg'), 'bird', 1],
        ['img/d.jpg', ',odd', 0],
      ],
    );
    assert.equal(ds.entries[1].path, path.join(root, 'img', 'b, "c".jpg'));
    assert.deepEqual(ds.ignored, [
      { file: 'img/missing.jpg', reason: 'row 5: file not found' },
      { file: 'img/a.jpg', reason: 'row 6: duplicate of row 2' },
      { file: 'img/a.jpg', reason: 'row 7: same file as row 2 with another label ("cat" here, "dog" there)' },
      { file: 'just-one-field', reason: 'row 11: expected 2 fields (path,label), found 1' },
    ]);
  });

  test('no header; fixed classes: unknown labels listed with row numbers', async () => {
    const root = await freshDir('csv-fixed');
    await writeTree(root, { '1.jpg': jpeg, '2.jpg': jpeg, '3.jpg': jpeg });
    await writeFile(path.join(root, 'm.csv'), '1.jpg,cat\n2.jpg,dog\n3.jpg,cow\n');
    const all = await findDataset(path.join(root, 'm.csv'));
    assert.deepEqual(all.classes, ['cat', 'cow', 'dog']);
    assert.equal(all.entries.length, 3);
    const fixed = await findDataset(path.join(root, 'm.csv'), { classes: ['dog', 'cat'] });
    assert.deepEqual(fixed.classes, ['dog', 'cat']);
    assert.deepEqual(
      fixed.entries.map((e) => [e.file, e.label]),
      [
        ['1.jpg', 1],
        ['2.jpg', 0],
      ],
    );
    assert.deepEqual(fixed.ignored, [{ file: '3.jpg', reason: 'row 3: unknown label "cow" (not in classes)' }]);
  });

  test('named columns in any order, semicolons, numeric labels sorted as numbers', async () => {
    const root = await freshDir('csv-named');
    const files: Record<string, Buffer> = {};
    for (let i = 0; i < 4; i++) files[`p${i}.jpg`] = jpeg;
    await writeTree(root, files);
    await writeFile(path.join(root, 'm.csv'), 'class;id;filename\n10;a;p0.jpg\n2;b;p1.jpg\n0;c;p2.jpg\n2;d;p3.jpg\n');
    const ds = await findDataset(path.join(root, 'm.csv'));
    assert.deepEqual(ds.classes, ['0', '2', '10']);
    assert.deepEqual(
      ds.entries.map((e) => [e.file, e.label]),
      [
        ['p0.jpg', 2],
        ['p1.jpg', 1],
        ['p2.jpg', 0],
        ['p3.jpg', 1],
      ],
    );
  });

  test('a class whose rows all point to missing files is an error naming it', async () => {
    const root = await freshDir('csv-empty');
    await writeTree(root, { '1.jpg': jpeg });
    await writeFile(path.join(root, 'm.csv'), 'path,label\n1.jpg,cat\ngone.jpg,dog\n');
    await assert.rejects(findDataset(path.join(root, 'm.csv')), (err: unknown) => {
      assert.ok(err instanceof DatasetError);
      assert.equal(err.code, 'DATASET_EMPTY_CLASS');
      assert.match(err.message, /Class "dog" has no images/);
      assert.match(err.message, /row 3: file not found \(gone\.jpg\)/);
      return true;
    });
    await writeFile(path.join(root, 'empty.csv'), 'path,label\n\n');
    await assert.rejects(findDataset(path.join(root, 'empty.csv')), (err: unknown) => err instanceof DatasetError && err.code === 'DATASET_EMPTY_MANIFEST');
  });

  test('parseCsv: RFC 4180 quoting, embedded newlines, line numbers', () => {
    const rows = parseCsv('a,"b\nc",d\n\n"x ""y""", z \n"open');
    assert.deepEqual(rows, [
      { line: 1, cells: ['a', 'b\nc', 'd'], unterminated: false },
      { line: 4, cells: ['x "y"', 'z'], unterminated: false },
      { line: 5, cells: ['open'], unterminated: true },
    ]);
  });
});

// ---------------------------------------------------------------------------------------------
describe('hash.ts', () => {
  test('sha256File streams the same digest as hashing the bytes', async () => {
    const dir = await freshDir('hash');
    const big = Buffer.concat([noiseRgb(600, 600), Buffer.from('tail')]); // > 1 MiB: several chunks
    await writeFile(path.join(dir, 'big.bin'), big);
    await writeFile(path.join(dir, 'empty.bin'), '');
    assert.equal(await sha256File(path.join(dir, 'big.bin')), createHash('sha256').update(big).digest('hex'));
    assert.equal(await sha256File(path.join(dir, 'empty.bin')), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    await assert.rejects(sha256File(path.join(dir, 'none.bin')), /ENOENT/);
  });

  test('findDuplicates: groups of 2+, sorted, independent of input order', () => {
    const input = [
      { file: 'dogs/3.jpg', hash: 'h1' },
      { file: 'cats/1.jpg', hash: 'h1' },
      { file: 'cats/2.jpg', hash: 'h2' },
      { file: 'birds/9.jpg', hash: 'h3' },
      { file: 'birds/1.jpg', hash: 'h3' },
      { file: 'cats/1 copy.jpg', hash: 'h1' },
    ];
    const expected = [
      ['birds/1.jpg', 'birds/9.jpg'],
      ['cats/1 copy.jpg', 'cats/1.jpg', 'dogs/3.jpg'],
    ];
    assert.deepEqual(findDuplicates(input), expected);
    assert.deepEqual(findDuplicates([...input].reverse()), expected);
    assert.deepEqual(findDuplicates([]), []);
  });

  test('duplicates across classes of a real dataset are found', async () => {
    const root = await freshDir('dups');
    const jpeg = await encodeImage('jpeg');
    await writeTree(root, { 'cats/1.jpg': jpeg, 'dogs/copy.jpg': jpeg, 'dogs/2.png': await encodeImage('png') });
    const ds = await findDataset(root);
    const hashed = await Promise.all(ds.entries.map(async (e) => ({ file: e.file, hash: await sha256File(e.path) })));
    assert.deepEqual(findDuplicates(hashed), [['cats/1.jpg', 'dogs/copy.jpg']]);
  });
});
