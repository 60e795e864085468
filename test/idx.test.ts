/** The IDX reader (src/data/idx.ts): MNIST's format from hand-written bytes, gzip by content, every element type, clear errors. */
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { after, test } from 'node:test';
import { decodeIdx, encodeIdx, readIdx, type IdxArray } from '../src/data/idx.js';
import { tempDir } from './helpers/images.js';

const { dir: tmp, cleanup } = await tempDir('ftk-idx-');
after(cleanup);

test('hand-written IDX bytes: uint8 images [2, 2, 3] and big-endian int16', () => {
  const images = Buffer.from([0, 0, 0x08, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 3, 0, 1, 2, 3, 4, 5, 250, 251, 252, 253, 254, 255]);
  const a = decodeIdx(images);
  assert.equal(a.type, 'uint8');
  assert.deepEqual(a.shape, [2, 2, 3]);
  assert.ok(a.data instanceof Uint8Array);
  assert.deepEqual(Array.from(a.data), [0, 1, 2, 3, 4, 5, 250, 251, 252, 253, 254, 255]);
  const shorts = decodeIdx(Buffer.from([0, 0, 0x0b, 1, 0, 0, 0, 2, 0xff, 0xfe, 0x01, 0x00]));
  assert.deepEqual([shorts.type, Array.from(shorts.data)], ['int16', [-2, 256]]);
});

test('gzipped files are recognised by content; readIdx reads a file (labels, as in train-labels-idx1-ubyte.gz)', async () => {
  const labels: IdxArray = { type: 'uint8', shape: [6], data: Uint8Array.from([9, 0, 0, 3, 0, 2]) };
  const file = path.join(tmp, 'labels-idx1-ubyte.gz');
  await fsp.writeFile(file, gzipSync(encodeIdx(labels)));
  const back = await readIdx(file);
  assert.deepEqual(back.shape, [6]);
  assert.deepEqual(Array.from(back.data), [9, 0, 0, 3, 0, 2]);
  const plain = path.join(tmp, 'labels.idx');
  await fsp.writeFile(plain, encodeIdx(labels));
  assert.deepEqual(Array.from((await readIdx(plain)).data), [9, 0, 0, 3, 0, 2]);
});

test('every element type round-trips through encodeIdx / decodeIdx', () => {
  const cases: IdxArray[] = [
    { type: 'int8', shape: [3], data: Int8Array.from([-128, 0, 127]) },
    { type: 'int32', shape: [2, 1], data: Int32Array.from([-2147483648, 2147483647]) },
    { type: 'float32', shape: [2], data: Float32Array.from([1.5, -0.25]) },
    { type: 'float64', shape: [1, 2], data: Float64Array.from([Math.PI, -1e300]) },
  ];
  for (const c of cases) {
    const back = decodeIdx(encodeIdx(c));
    assert.equal(back.type, c.type);
    assert.deepEqual(back.shape, c.shape);
    assert.deepEqual(Array.from(back.data), Array.from(c.data), c.type);
  }
});

test('bad files: wrong magic, unknown type, truncated data, corrupt gzip, missing file: errors naming the file', async () => {
  assert.throws(() => decodeIdx(Buffer.from([1, 0, 8, 1, 0, 0, 0, 1, 7]), 'x.idx'), /x\.idx is not a valid IDX file: the first two bytes are 1, 0/);
  assert.throws(() => decodeIdx(Buffer.from([0, 0, 0x0a, 1, 0, 0, 0, 1, 7]), 'x.idx'), /unknown element type 0x0a/);
  assert.throws(() => decodeIdx(Buffer.from([0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 2, 1, 2, 3]), 'x.idx'), /shape \[2, 2\] of uint8 needs 16 bytes, the file has 15 \(truncated\?\)/);
  assert.throws(() => decodeIdx(Buffer.from([0, 0, 8, 3, 0, 0]), 'x.idx'), /declares 3 dimensions but the file ends at byte 6/);
  assert.throws(() => decodeIdx(Buffer.from([0x1f, 0x8b, 1, 2, 3]), 'y.gz'), /y\.gz is not a valid IDX file: gzip data is corrupt/);
  await assert.rejects(readIdx(path.join(tmp, 'missing.gz')), (e: Error & { code?: string; suggestion?: string }) => e.code === 'IDX_UNREADABLE' && /missing\.gz/.test(e.message) && /dpkg -L/.test(e.suggestion!));
});
